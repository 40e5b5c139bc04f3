// SPDX-License-Identifier: MIT
/*
 * SSE availability and memory operands, MXCSR, and the data-movement instructions of SSE, SSE2,
 * SSE3 and SSE4.1: loads, stores, scalar and half moves, shuffles, unpacks, inserts, extracts,
 * blends, sign/zero extension, masks, non-temporal stores (SDM vol. 2, each instruction's page;
 * vol. 1 chapters 10-12). Non-temporal hints are ordinary stores: the soft CPU keeps memory
 * coherent and orders every access, so the weakly-ordered write combining they allow is never
 * observable here.
 */
#include "cpu/sse.h"
#include "cpu/sse_ops.h"

noreturn void sse_unavailable(struct cpu *c)
{
	if ((c->cr0 & CR0_EM) || !(c->cr4 & CR4_OSFXSR))
		cpu_ud(c);
	cpu_fault(c, X86_NM, 0);
}

noreturn void sse_simd_exception(struct cpu *c)
{
	cpu_fault(c, c->cr4 & CR4_OSXMMEXCPT ? X86_XM : X86_UD, 0);
}

/* --- Memory operands --- */

static always_inline int sse_acc(const struct insn *d, int acc)
{
	return d->seg == SEG_SS ? acc | (int)ACC_SS : acc;
}

void sse_read_mem(struct cpu *c, const struct insn *d, void *buf, unsigned size, bool aligned)
{
	u64 ea = insn_ea(c, d), lin;
	struct tlb_entry *e;

	if (size <= 8) {
		u64 v = mem_read(c, d->seg, ea, size);

		memcpy(buf, &v, size);
		return;
	}
	lin = seg_lin(c, d->seg, ea, size, ACC_READ);
	if (aligned && (lin & 15))
		cpu_gp(c, 0);
	e = &c->tlb[(lin >> 12) & (TLB_SIZE - 1)];
	if (likely(e->tag_r == (lin & PAGE_MASK) && (lin & 0xfff) <= PAGE_SIZE - size)) {
		memcpy(buf, (const u8 *)(e->host + lin), size);
		return;
	}
	mmu_read_bytes(c, lin, buf, size, sse_acc(d, ACC_READ));
}

void sse_write_mem(struct cpu *c, const struct insn *d, const void *buf, unsigned size,
		   bool aligned)
{
	u64 ea = insn_ea(c, d), lin;
	struct tlb_entry *e;

	if (size <= 8) {
		u64 v = 0;

		memcpy(&v, buf, size);
		mem_write(c, d->seg, ea, v, size);
		return;
	}
	lin = seg_lin(c, d->seg, ea, size, ACC_WRITE);
	if (aligned && (lin & 15))
		cpu_gp(c, 0);
	e = &c->tlb[(lin >> 12) & (TLB_SIZE - 1)];
	if (likely(tlb_tag_w(e) == (lin & PAGE_MASK) && (lin & 0xfff) <= PAGE_SIZE - size)) {
		memcpy((u8 *)(e->host + lin), buf, size);
		return;
	}
	mmu_write_bytes(c, lin, buf, size, sse_acc(d, ACC_WRITE));
}

/* --- MXCSR (SDM vol. 2 LDMXCSR, STMXCSR; vol. 1 10.2.3) --- */

/* LDMXCSR m32: reserved bits (those clear in MXCSR_MASK) set is #GP(0). Setting a flag together
   with its cleared mask raises nothing now (vol. 1 10.2.3.1). */
void sse_ldmxcsr(struct cpu *c, const struct insn *d)
{
	u32 v;

	sse_check(c);
	v = (u32)mem_read(c, d->seg, insn_ea(c, d), 4);
	if (v & ~X86_MXCSR_MASK)
		cpu_gp(c, 0);
	c->fpu.mxcsr = v;
}

void sse_stmxcsr(struct cpu *c, const struct insn *d)
{
	sse_check(c);
	mem_write(c, d->seg, insn_ea(c, d), c->fpu.mxcsr, 4);
}

/* --- Whole-register moves --- */

/* MOVAPS, MOVAPD, MOVDQA, MOVNTDQA: xmm <- xmm/m128, aligned. */
void sse_load_a(struct cpu *c, const struct insn *d)
{
	xmm_t v;

	sse_check(c);
	sse_src128(c, d, &v);
	xmm_put(c, d->reg, &v);
}

/* MOVUPS, MOVUPD, MOVDQU, LDDQU: any alignment. */
void sse_load_u(struct cpu *c, const struct insn *d)
{
	xmm_t v;

	sse_check(c);
	sse_src(c, d, &v, 16, false);
	xmm_put(c, d->reg, &v);
}

static always_inline void store128(struct cpu *c, const struct insn *d, bool aligned)
{
	xmm_t v;

	sse_check(c);
	xmm_get(c, d->reg, &v);
	if (d->mem)
		sse_write_mem(c, d, &v, 16, aligned);
	else
		xmm_put(c, d->rm, &v);
}

/* MOVAPS, MOVAPD, MOVDQA, MOVNTPS, MOVNTPD, MOVNTDQ: xmm/m128 <- xmm, aligned. */
void sse_store_a(struct cpu *c, const struct insn *d)
{
	store128(c, d, true);
}

/* MOVUPS, MOVUPD, MOVDQU stores. */
void sse_store_u(struct cpu *c, const struct insn *d)
{
	store128(c, d, false);
}

/* --- Scalar and half moves --- */

/* MOVSS xmm, xmm/m32 (F3 0F 10), MOVSD xmm, xmm/m64 (F2 0F 10): a register source replaces the
   low element only; a memory source zeroes the rest. */
void sse_movss_load(struct cpu *c, const struct insn *d)
{
	unsigned n = d->pfx & PFX_F2 ? 8 : 4;
	xmm_t a, b;

	sse_check(c);
	if (d->mem) {
		memset(&a, 0, sizeof(a));
		sse_read_mem(c, d, &a, n, false);
	} else {
		xmm_get(c, d->reg, &a);
		xmm_get(c, d->rm, &b);
		memcpy(&a, &b, n);
	}
	xmm_put(c, d->reg, &a);
}

/* MOVSS xmm/m32, xmm (F3 0F 11), MOVSD xmm/m64, xmm (F2 0F 11). */
void sse_movss_store(struct cpu *c, const struct insn *d)
{
	unsigned n = d->pfx & PFX_F2 ? 8 : 4;
	xmm_t a, b;

	sse_check(c);
	xmm_get(c, d->reg, &b);
	if (d->mem) {
		sse_write_mem(c, d, &b, n, false);
		return;
	}
	xmm_get(c, d->rm, &a);
	memcpy(&a, &b, n);
	xmm_put(c, d->rm, &a);
}

/* MOVLPS/MOVLPD xmm, m64 (0F 12, 66 0F 12 memory); MOVHLPS xmm, xmm (0F 12 register). */
void sse_movlps_load(struct cpu *c, const struct insn *d)
{
	xmm_t a, b;

	sse_check(c);
	xmm_get(c, d->reg, &a);
	if (d->mem) {
		sse_read_mem(c, d, &a.q[0], 8, false);
	} else {
		xmm_get(c, d->rm, &b);
		a.q[0] = b.q[1];
	}
	xmm_put(c, d->reg, &a);
}

/* MOVHPS/MOVHPD xmm, m64 (0F 16, 66 0F 16 memory); MOVLHPS xmm, xmm (0F 16 register). */
void sse_movhps_load(struct cpu *c, const struct insn *d)
{
	xmm_t a, b;

	sse_check(c);
	xmm_get(c, d->reg, &a);
	if (d->mem) {
		sse_read_mem(c, d, &a.q[1], 8, false);
	} else {
		xmm_get(c, d->rm, &b);
		a.q[1] = b.q[0];
	}
	xmm_put(c, d->reg, &a);
}

/* MOVLPS/MOVLPD m64, xmm (0F 13, 66 0F 13), MOVHPS/MOVHPD m64, xmm (0F 17, 66 0F 17). */
void sse_movlps_store(struct cpu *c, const struct insn *d)
{
	xmm_t a;

	sse_check(c);
	xmm_get(c, d->reg, &a);
	sse_write_mem(c, d, &a.q[(d->opcode & 0xff) == 0x17], 8, false);
}

/* MOVQ xmm, xmm/m64 (F3 0F 7E): the upper half is zeroed. */
void sse_movq_load(struct cpu *c, const struct insn *d)
{
	xmm_t a;

	sse_check(c);
	sse_src(c, d, &a, 8, false);
	a.q[1] = 0;
	xmm_put(c, d->reg, &a);
}

/* MOVQ xmm/m64, xmm (66 0F D6): a register destination gets its upper half zeroed. */
void sse_movq_store(struct cpu *c, const struct insn *d)
{
	xmm_t a;

	sse_check(c);
	xmm_get(c, d->reg, &a);
	a.q[1] = 0;
	if (d->mem)
		sse_write_mem(c, d, &a, 8, false);
	else
		xmm_put(c, d->rm, &a);
}

/* MOVD/MOVQ xmm, r/m32/64 (66 0F 6E, REX.W: 64): zero-extended into the register. */
void sse_movd_load(struct cpu *c, const struct insn *d)
{
	unsigned n = sse_gpr_size(d);
	xmm_t a;

	sse_check(c);
	memset(&a, 0, sizeof(a));
	a.q[0] = d->mem ? mem_read(c, d->seg, insn_ea(c, d), n) : reg_read(c, d->rm, n);
	xmm_put(c, d->reg, &a);
}

/* MOVD/MOVQ r/m32/64, xmm (66 0F 7E). */
void sse_movd_store(struct cpu *c, const struct insn *d)
{
	unsigned n = sse_gpr_size(d);
	xmm_t a;

	sse_check(c);
	xmm_get(c, d->reg, &a);
	if (d->mem)
		mem_write(c, d->seg, insn_ea(c, d), a.q[0], n);
	else
		reg_write(c, d->rm, a.q[0], n);
}

/* MOVSLDUP (F3 0F 12), MOVSHDUP (F3 0F 16): duplicate the even or odd single-precision elements. */
void sse_movsldup(struct cpu *c, const struct insn *d)
{
	unsigned odd = (d->opcode & 0xff) == 0x16;
	xmm_t a, b;

	sse_check(c);
	sse_src128(c, d, &b);
	for (unsigned i = 0; i < 4; i++)
		a.d[i] = b.d[(i & ~1u) + odd];
	xmm_put(c, d->reg, &a);
}

/* MOVDDUP xmm, xmm/m64 (F2 0F 12): the 8-byte memory operand has no alignment rule. */
void sse_movddup(struct cpu *c, const struct insn *d)
{
	xmm_t a;

	sse_check(c);
	sse_src(c, d, &a, 8, false);
	a.q[1] = a.q[0];
	xmm_put(c, d->reg, &a);
}

/* --- Masks --- */

/* MOVMSKPS r32/64, xmm (0F 50), MOVMSKPD (66 0F 50): the sign bits, zero-extended. */
void sse_movmskps(struct cpu *c, const struct insn *d)
{
	u64 m = 0;
	xmm_t b;

	sse_check(c);
	xmm_get(c, d->rm, &b);
	if (d->pfx & PFX_66)
		m = (b.q[0] >> 63) | (b.q[1] >> 63) << 1;
	else
		for (unsigned i = 0; i < 4; i++)
			m |= (u64)(b.d[i] >> 31) << i;
	reg_write(c, d->reg, m, 8);
}

/* PMOVMSKB r32/64, xmm (66 0F D7). */
void sse_pmovmskb(struct cpu *c, const struct insn *d)
{
	u64 m = 0;
	xmm_t b;

	sse_check(c);
	xmm_get(c, d->rm, &b);
	for (unsigned i = 0; i < 16; i++)
		m |= (u64)(b.b[i] >> 7) << i;
	reg_write(c, d->reg, m, 8);
}

/*
 * MASKMOVDQU xmm1, xmm2 (66 0F F7): the bytes of xmm1 whose mask byte in xmm2 has bit 7 set go to
 * DS:rDI (segment override allowed). The whole 16 bytes are checked as a write first, whatever
 * the mask (the SDM allows faults even with a zero mask), so no byte is stored before a fault.
 */
void sse_maskmovdqu(struct cpu *c, const struct insn *d)
{
	u64 ea = reg_read(c, R_RDI, d->asz);
	xmm_t a, m;

	sse_check(c);
	xmm_get(c, d->reg, &a);
	xmm_get(c, d->rm, &m);
	mem_probe_write(c, d->seg, ea, 16);
	for (unsigned i = 0; i < 16; i++)
		if (m.b[i] & 0x80)
			mem_write(c, d->seg, (ea + i) & size_mask(d->asz), a.b[i], 1);
}

/* MOVNTI m32/64, r32/64 (0F C3): an SSE2 instruction on general registers, so none of the
   CR0/CR4 checks of SSE apply (SDM vol. 2 MOVNTI exceptions). */
void sse_movnti(struct cpu *c, const struct insn *d)
{
	unsigned n = sse_gpr_size(d);

	mem_write(c, d->seg, insn_ea(c, d), reg_read(c, d->reg, n), n);
}

/* --- Shuffles and unpacks of floating-point data --- */

/* SHUFPS xmm, xmm/m128, imm8 (0F C6): two elements from the destination, two from the source. */
void sse_shufps(struct cpu *c, const struct insn *d)
{
	u8 imm = (u8)d->imm;
	xmm_t a, b, r;

	sse_check(c);
	sse_src128(c, d, &b);
	xmm_get(c, d->reg, &a);
	r.d[0] = a.d[imm & 3];
	r.d[1] = a.d[(imm >> 2) & 3];
	r.d[2] = b.d[(imm >> 4) & 3];
	r.d[3] = b.d[(imm >> 6) & 3];
	xmm_put(c, d->reg, &r);
}

/* SHUFPD (66 0F C6). */
void sse_shufpd(struct cpu *c, const struct insn *d)
{
	u8 imm = (u8)d->imm;
	xmm_t a, b, r;

	sse_check(c);
	sse_src128(c, d, &b);
	xmm_get(c, d->reg, &a);
	r.q[0] = a.q[imm & 1];
	r.q[1] = b.q[(imm >> 1) & 1];
	xmm_put(c, d->reg, &r);
}

/* UNPCKLPS (0F 14), UNPCKHPS (0F 15): interleave the low or high halves. */
void sse_unpcklps(struct cpu *c, const struct insn *d)
{
	unsigned h = (d->opcode & 0xff) == 0x15 ? 2 : 0;
	xmm_t a, b, r;

	sse_check(c);
	sse_src128(c, d, &b);
	xmm_get(c, d->reg, &a);
	r.d[0] = a.d[h];
	r.d[1] = b.d[h];
	r.d[2] = a.d[h + 1];
	r.d[3] = b.d[h + 1];
	xmm_put(c, d->reg, &r);
}

/* UNPCKLPD (66 0F 14), UNPCKHPD (66 0F 15); PUNPCKLQDQ (66 0F 6C), PUNPCKHQDQ (66 0F 6D). */
void sse_unpcklpd(struct cpu *c, const struct insn *d)
{
	u8 op = d->opcode & 0xff;
	unsigned h = op == 0x15 || op == 0x6d;
	xmm_t a, b, r;

	sse_check(c);
	sse_src128(c, d, &b);
	xmm_get(c, d->reg, &a);
	r.q[0] = a.q[h];
	r.q[1] = b.q[h];
	xmm_put(c, d->reg, &r);
}

/* --- Integer shuffles (SSE2) --- */

/* PSHUFD (66 0F 70), PSHUFHW (F3 0F 70), PSHUFLW (F2 0F 70), each with imm8. */
void sse_pshufd(struct cpu *c, const struct insn *d)
{
	u8 imm = (u8)d->imm;
	xmm_t b, r;

	sse_check(c);
	sse_src128(c, d, &b);
	r = b;
	if (d->pfx & PFX_F3)
		for (unsigned i = 0; i < 4; i++)
			r.w[4 + i] = b.w[4 + ((imm >> (2 * i)) & 3)];
	else if (d->pfx & PFX_F2)
		for (unsigned i = 0; i < 4; i++)
			r.w[i] = b.w[(imm >> (2 * i)) & 3];
	else
		for (unsigned i = 0; i < 4; i++)
			r.d[i] = b.d[(imm >> (2 * i)) & 3];
	xmm_put(c, d->reg, &r);
}

/* --- Inserts and extracts (SSE2, SSE4.1) --- */

/* PINSRW xmm, r32/m16, imm8 (66 0F C4). */
void sse_pinsrw(struct cpu *c, const struct insn *d)
{
	u16 v;
	xmm_t a;

	sse_check(c);
	v = (u16)(d->mem ? mem_read(c, d->seg, insn_ea(c, d), 2) : reg_read(c, d->rm, 4));
	xmm_get(c, d->reg, &a);
	a.w[d->imm & 7] = v;
	xmm_put(c, d->reg, &a);
}

/* PEXTRW r32/64, xmm, imm8 (66 0F C5, register form only): zero-extended. */
void sse_pextrw_reg(struct cpu *c, const struct insn *d)
{
	xmm_t b;

	sse_check(c);
	xmm_get(c, d->rm, &b);
	reg_write(c, d->reg, b.w[d->imm & 7], 8);
}

/*
 * SSE4.1 extracts to r/m (66 0F 3A 14-17): PEXTRB r/m8, PEXTRW r/m16, PEXTRD/PEXTRQ r/m32/64
 * (REX.W), EXTRACTPS r/m32. A register destination is written zero-extended: 32 bits, or 64 in
 * 64-bit mode for PEXTRB/PEXTRW (SDM vol. 2 PEXTRB/PEXTRW: "r64 ... upper bits zeroed").
 */
void sse_pextr(struct cpu *c, const struct insn *d)
{
	u8 op = d->opcode & 0xff, imm = (u8)d->imm;
	unsigned n;
	u64 v;
	xmm_t a;

	sse_check(c);
	xmm_get(c, d->reg, &a);
	switch (op) {
	case 0x14:
		n = 1, v = a.b[imm & 15];
		break;
	case 0x15:
		n = 2, v = a.w[imm & 7];
		break;
	case 0x16:
		n = sse_gpr_size(d);
		v = n == 8 ? a.q[imm & 1] : a.d[imm & 3];
		break;
	default:
		n = 4, v = a.d[imm & 3];
		break;
	}
	if (d->mem)
		mem_write(c, d->seg, insn_ea(c, d), v, n);
	else
		reg_write(c, d->rm, v, 8);
}

/* PINSRB xmm, r32/m8 (66 0F 3A 20), PINSRD/PINSRQ xmm, r/m32/64 (66 0F 3A 22, REX.W). */
void sse_pinsr(struct cpu *c, const struct insn *d)
{
	u8 imm = (u8)d->imm;
	unsigned n = (d->opcode & 0xff) == 0x20 ? 1 : sse_gpr_size(d);
	u64 v;
	xmm_t a;

	sse_check(c);
	v = d->mem ? mem_read(c, d->seg, insn_ea(c, d), n) : reg_read(c, d->rm, n == 1 ? 4 : n);
	xmm_get(c, d->reg, &a);
	if (n == 1)
		a.b[imm & 15] = (u8)v;
	else if (n == 4)
		a.d[imm & 3] = (u32)v;
	else
		a.q[imm & 1] = v;
	xmm_put(c, d->reg, &a);
}

/* INSERTPS xmm, xmm/m32, imm8 (66 0F 3A 21): source element imm[7:6] (a memory operand is the
   element itself), destination element imm[5:4], then the elements of imm[3:0] zeroed. */
void sse_insertps(struct cpu *c, const struct insn *d)
{
	u8 imm = (u8)d->imm;
	u32 v;
	xmm_t a, b;

	sse_check(c);
	if (d->mem) {
		v = (u32)mem_read(c, d->seg, insn_ea(c, d), 4);
	} else {
		xmm_get(c, d->rm, &b);
		v = b.d[imm >> 6];
	}
	xmm_get(c, d->reg, &a);
	a.d[(imm >> 4) & 3] = v;
	for (unsigned i = 0; i < 4; i++)
		if (imm & (1u << i))
			a.d[i] = 0;
	xmm_put(c, d->reg, &a);
}

/* --- Blends (SSE4.1) --- */

/* BLENDPS (66 0F 3A 0C), BLENDPD (0D), PBLENDW (0E): elements of the source where imm8 says. */
void sse_blend_imm(struct cpu *c, const struct insn *d)
{
	u8 op = d->opcode & 0xff, imm = (u8)d->imm;
	xmm_t a, b;

	sse_check(c);
	sse_src128(c, d, &b);
	xmm_get(c, d->reg, &a);
	if (op == 0x0c) {
		for (unsigned i = 0; i < 4; i++)
			if (imm & (1u << i))
				a.d[i] = b.d[i];
	} else if (op == 0x0d) {
		for (unsigned i = 0; i < 2; i++)
			if (imm & (1u << i))
				a.q[i] = b.q[i];
	} else {
		for (unsigned i = 0; i < 8; i++)
			if (imm & (1u << i))
				a.w[i] = b.w[i];
	}
	xmm_put(c, d->reg, &a);
}

/* PBLENDVB (66 0F 38 10), BLENDVPS (14), BLENDVPD (15): by the sign bits of the implicit XMM0. */
void sse_blendv(struct cpu *c, const struct insn *d)
{
	u8 op = d->opcode & 0xff;
	xmm_t a, b, m;

	sse_check(c);
	sse_src128(c, d, &b);
	xmm_get(c, d->reg, &a);
	xmm_get(c, 0, &m);
	if (op == 0x10) {
		for (unsigned i = 0; i < 16; i++)
			if (m.b[i] & 0x80)
				a.b[i] = b.b[i];
	} else if (op == 0x14) {
		for (unsigned i = 0; i < 4; i++)
			if (m.d[i] >> 31)
				a.d[i] = b.d[i];
	} else {
		for (unsigned i = 0; i < 2; i++)
			if (m.q[i] >> 63)
				a.q[i] = b.q[i];
	}
	xmm_put(c, d->reg, &a);
}

/* --- Sign and zero extension (SSE4.1, 66 0F 38 20-25 and 30-35) --- */

/*
 * PMOVSX/PMOVZX: opcode[2:0] = BW, BD, BQ, WD, WQ, DQ; opcode bit 4 = zero-extend. The memory
 * operand is only as wide as the elements it supplies (8, 4 or 2 bytes) and has no alignment
 * rule (SDM vol. 2 PMOVSX: exception type 5).
 */
void sse_pmovx(struct cpu *c, const struct insn *d)
{
	static const u8 from[6] = { 1, 1, 1, 2, 2, 4 }, to[6] = { 2, 4, 8, 4, 8, 8 };
	u8 op = d->opcode & 0xff;
	unsigned k = op & 7, zx = op & 0x10, n = 16 / to[k];
	xmm_t a, b;

	sse_check(c);
	sse_src(c, d, &b, n * from[k], false);
	for (unsigned i = 0; i < n; i++) {
		u64 v = from[k] == 1 ? b.b[i] : from[k] == 2 ? b.w[i] : b.d[i];

		if (!zx)
			v = sign_extend(v, from[k]);
		if (to[k] == 2)
			a.w[i] = (u16)v;
		else if (to[k] == 4)
			a.d[i] = (u32)v;
		else
			a.q[i] = v;
	}
	xmm_put(c, d->reg, &a);
}
