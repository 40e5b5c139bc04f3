// SPDX-License-Identifier: MIT
/*
 * Segmentation (SDM vol. 3A chapters 3 and 5): the processor mode derived from CR0/EFER/CS/SS,
 * segment limit and type checks on accesses, descriptor fetch and decoding, and MOV/POP Sreg.
 *
 * Segment caches use the VMCS guest-state format (x86.h): a null or otherwise unusable segment
 * has AR_UNUSABLE set (SDM vol. 3C 24.4.1). CPL is SS.DPL, which every path here keeps in sync.
 */
#include "cpu/internal.h"
#include "cpu/ops.h"

#define SEL_RPL(sel)	 ((sel) & 3u)
#define SEL_TI		 4u
#define SEL_ERR(sel)	 ((u32)(sel) & 0xfffcu)
#define SEL_IS_NULL(sel) (((sel) & 0xfffcu) == 0)

/* Descriptor type bits as they appear in AR_TYPE() of a code/data segment (SDM 3.4.5.1). */
#define TYPE_ACCESSED 1u
#define TYPE_WRITABLE 2u /* data */
#define TYPE_READABLE 2u /* code */
#define TYPE_EXPDOWN  4u /* data */
#define TYPE_CONFORM  4u /* code */
#define TYPE_CODE     8u

static const u8 seg_fault_vec[6] = { X86_GP, X86_GP, X86_SS, X86_GP, X86_GP, X86_GP };

u64 sys_read(struct cpu *c, u64 lin, unsigned size)
{
	return mmu_read_slow(c, lin & c->lin_mask, size, ACC_READ | ACC_SYS);
}

void sys_write(struct cpu *c, u64 lin, u64 v, unsigned size)
{
	mmu_write_slow(c, lin & c->lin_mask, v, size, ACC_WRITE | ACC_SYS);
}

/* Segment limit check, expand-down included (SDM vol. 3A 5.3): offsets limit+1 .. 0xffff or
   0xffffffff (by the B flag) are valid in an expand-down data segment. */
bool seg_limit_ok(const struct x86_segment *s, u64 off, unsigned size)
{
	u64 last = off + size - 1;

	if ((s->ar & AR_S) && (AR_TYPE(s->ar) & (TYPE_CODE | TYPE_EXPDOWN)) == TYPE_EXPDOWN) {
		u64 upper = (s->ar & AR_DB) ? 0xffffffffull : 0xffffull;
		return off > s->limit && last <= upper && last >= off;
	}
	return last <= s->limit && last >= off;
}

/*
 * Accesses through segments that are not flat, outside 64-bit mode (SDM vol. 3A 5.3, 5.4.1):
 * unusable (null) selector, type (write to code or read-only data, read of execute-only code),
 * then limit. Violations raise #GP(0), or #SS(0) for SS.
 */
void seg_check(struct cpu *c, unsigned seg, u64 off, unsigned size, int acc)
{
	const struct x86_segment *s = &c->seg[seg];
	u8 vec = seg < 6 ? seg_fault_vec[seg] : X86_GP;
	unsigned type = AR_TYPE(s->ar);

	if (c->mode == MODE_REAL) {
		if (!seg_limit_ok(s, off, size))
			cpu_fault(c, vec, 0);
		return;
	}
	if (s->ar & AR_UNUSABLE)
		cpu_fault(c, vec, 0);
	switch (acc & 3) {
	case ACC_WRITE:
		if ((type & TYPE_CODE) || !(type & TYPE_WRITABLE))
			cpu_fault(c, vec, 0);
		break;
	case ACC_READ:
		if ((type & TYPE_CODE) && !(type & TYPE_READABLE))
			cpu_fault(c, vec, 0);
		break;
	}
	if (!seg_limit_ok(s, off, size))
		cpu_fault(c, vec, 0);
}

/* Flat: base 0, 4 GiB expand-up limit, present and usable; data writable, code readable. Writes
   through a flat CS are therefore not checked (a known gap, docs/cpu.md). */
static bool seg_is_flat(const struct x86_segment *s)
{
	unsigned type = AR_TYPE(s->ar);

	if ((s->ar & (AR_UNUSABLE | AR_P)) != AR_P || s->base || s->limit != 0xffffffffu)
		return false;
	if (type & TYPE_CODE)
		return type & TYPE_READABLE;
	return (type & (TYPE_WRITABLE | TYPE_EXPDOWN)) == TYPE_WRITABLE;
}

static void seg_refresh(struct cpu *c, unsigned seg)
{
	u32 bit = 1u << seg;

	if (c->mode == MODE_LONG) {
		c->seg_base[seg] = seg >= SEG_FS ? c->seg[seg].base : 0;
		c->seg_check &= ~bit;
		return;
	}
	c->seg_base[seg] = (u32)c->seg[seg].base;
	if (seg_is_flat(&c->seg[seg]))
		c->seg_check &= ~bit;
	else
		c->seg_check |= bit;
}

/*
 * Mode from CR0.PE, EFER.LMA and CS.L/CS.D (SDM vol. 3A 9.8.5, 5.2.1): IA-32e mode splits into
 * 64-bit (CS.L = 1) and compatibility mode. Stack address size is SS.B outside 64-bit mode.
 * Real mode (CR0.PE = 0) is recorded as MODE_REAL; the CPU does not execute it yet.
 */
void cpu_update_mode(struct cpu *c)
{
	const struct x86_segment *cs = &c->seg[SEG_CS];

	if (!(c->cr0 & CR0_PE))
		c->mode = MODE_REAL;
	else if (c->efer & EFER_LMA)
		c->mode = (cs->ar & AR_L) ? MODE_LONG : MODE_COMPAT;
	else
		c->mode = MODE_PROT;
	if (c->mode == MODE_LONG) {
		c->code_bits = 64;
		c->stack_bytes = 8;
		c->lin_mask = ~0ull;
	} else {
		c->code_bits = (cs->ar & AR_DB) ? 32 : 16;
		c->stack_bytes = (c->seg[SEG_SS].ar & AR_DB) ? 4 : 2;
		c->lin_mask = 0xffffffffull;
	}
	for (unsigned i = 0; i < 6; i++)
		seg_refresh(c, i);
	cpu_refresh_derived(c); /* CR0.AM may have changed */
	c->break_block = 1;
}

/* CPL selects the TLB: user-mode accesses must not hit translations made for supervisor ones. */
void cpu_set_cpl(struct cpu *c, u8 cpl)
{
	c->cpl = cpl;
	cpu_refresh_derived(c);
}

void seg_commit(struct cpu *c, unsigned seg, const struct x86_segment *s)
{
	c->seg[seg] = *s;
	if (seg == SEG_CS || seg == SEG_SS)
		cpu_update_mode(c);
	else if (seg < 6) {
		u32 key = c->block_key;

		seg_refresh(c, seg);
		cpu_refresh_derived(c);
		/* Compiled 32-bit code assumes flat DS and ES (jit.c): it must not go on. */
		if (c->block_key != key)
			c->break_block = 1;
	}
}

/*
 * The 8 bytes at byte `off` of the descriptor table a selector's TI names, GDT or LDT (SDM vol. 3A
 * 3.4.2); false if they lie beyond its limit or, for TI = 1, the LDTR is unusable.
 */
static bool desc_table_read(struct cpu *c, u16 sel, u64 off, u64 *raw)
{
	u64 base = c->gdt.base, limit = c->gdt.limit;

	if (sel & SEL_TI) {
		if (c->seg[SEG_LDTR].ar & AR_UNUSABLE)
			return false;
		base = c->seg[SEG_LDTR].base;
		limit = c->seg[SEG_LDTR].limit;
	}
	if (off + 7 > limit)
		return false;
	*raw = sys_read(c, base + off, 8);
	return true;
}

bool desc_fetch(struct cpu *c, u16 sel, u64 *raw)
{
	return desc_table_read(c, sel, sel & ~7u, raw);
}

u64 desc_fetch_high(struct cpu *c, u16 sel)
{
	u64 raw;

	if (!desc_table_read(c, sel, (sel & ~7u) + 8, &raw))
		cpu_gp(c, SEL_ERR(sel));
	return raw;
}

/*
 * Segment descriptor layout (SDM vol. 3A 3.4.5, Figure 3-8): limit 15:0 and 51:48, base 39:16 and
 * 63:56, type/S/DPL/P in 47:40, AVL/L/D/G in 55:52. The access-rights field of the VMCS is bits
 * 55:40 with the limit nibble removed (SDM vol. 3C 24.4.1).
 */
void desc_decode(u64 raw, u16 sel, struct x86_segment *s)
{
	u32 limit = (u32)(raw & 0xffff) | (u32)((raw >> 32) & 0xf0000);

	s->sel = sel;
	s->base = ((raw >> 16) & 0xffffff) | ((raw >> 32) & 0xff000000);
	s->ar = (u32)(raw >> 40) & 0xf0ff;
	s->limit = (s->ar & AR_G) ? (limit << 12) | 0xfff : limit;
}

/* Loading a segment sets the descriptor's accessed bit (SDM vol. 3A 3.4.5.1). */
void desc_set_accessed(struct cpu *c, u16 sel, u64 raw)
{
	u64 base = (sel & SEL_TI) ? c->seg[SEG_LDTR].base : c->gdt.base;

	if (raw & BIT(40))
		return;
	sys_write(c, base + (sel & ~7u) + 5, (u8)(raw >> 40) | TYPE_ACCESSED, 1);
}

void seg_make_null(struct x86_segment *s, u16 sel, u8 dpl)
{
	s->sel = sel;
	s->base = 0;
	s->limit = 0;
	s->ar = AR_UNUSABLE | ((u32)dpl << 5);
}

/* A segment register of virtual-8086 mode (internal.h cpu_v86): base = sel << 4, limit FFFFH,
   access rights F3H (SDM vol. 3B 20.2.1). */
static void seg_make_v86(struct x86_segment *s, u16 sel)
{
	s->sel = sel;
	s->base = (u64)sel << 4;
	s->limit = 0xffff;
	s->ar = V86_SEG_AR;
}

/*
 * MOV Sreg / POP Sreg / LDS... (SDM vol. 2B MOV "Protected Mode Exceptions", vol. 3A 5.5-5.7):
 *   SS: null only in 64-bit mode at CPL < 3 with RPL = CPL, else #GP(0); RPL = CPL, writable data
 *       with DPL = CPL, else #GP(sel); not present #SS(sel).
 *   DS/ES/FS/GS: null loads an unusable segment; data or readable code, and for data and
 *       non-conforming code RPL <= DPL and CPL <= DPL, else #GP(sel); not present #NP(sel).
 * Real mode: base = selector * 16 (SDM vol. 3A 20.1.1); virtual-8086 mode the same, with the
 * limit FFFFH and a DPL-3 read/write data segment (vol. 3B 20.2.1, internal.h cpu_v86).
 */
void seg_load(struct cpu *c, unsigned seg, u16 sel)
{
	struct x86_segment s;
	u64 raw;
	unsigned type, dpl;

	if (seg_real(c)) {
		s = c->seg[seg];
		if (cpu_v86(c)) {
			seg_make_v86(&s, sel);
		} else {
			s.sel = sel;
			s.base = (u64)sel << 4;
			s.ar &= ~AR_UNUSABLE;
		}
		seg_commit(c, seg, &s);
		return;
	}
	if (SEL_IS_NULL(sel)) {
		if (seg == SEG_SS &&
		    (c->mode != MODE_LONG || c->cpl == 3 || SEL_RPL(sel) != c->cpl))
			cpu_gp(c, 0);
		seg_make_null(&s, sel, seg == SEG_SS ? c->cpl : 0);
		seg_commit(c, seg, &s);
		return;
	}
	if (!desc_fetch(c, sel, &raw))
		cpu_gp(c, SEL_ERR(sel));
	desc_decode(raw, sel, &s);
	type = AR_TYPE(s.ar);
	dpl = AR_DPL(s.ar);
	if (!(s.ar & AR_S))
		cpu_gp(c, SEL_ERR(sel));
	if (seg == SEG_SS) {
		if (SEL_RPL(sel) != c->cpl || (type & TYPE_CODE) || !(type & TYPE_WRITABLE) ||
		    dpl != c->cpl)
			cpu_gp(c, SEL_ERR(sel));
		if (!(s.ar & AR_P))
			cpu_fault(c, X86_SS, SEL_ERR(sel));
	} else {
		if ((type & (TYPE_CODE | TYPE_READABLE)) == TYPE_CODE)
			cpu_gp(c, SEL_ERR(sel));
		if ((type & (TYPE_CODE | TYPE_CONFORM)) != (TYPE_CODE | TYPE_CONFORM) &&
		    (SEL_RPL(sel) > dpl || c->cpl > dpl))
			cpu_gp(c, SEL_ERR(sel));
		if (!(s.ar & AR_P))
			cpu_fault(c, X86_NP, SEL_ERR(sel));
	}
	desc_set_accessed(c, sel, raw);
	s.ar |= TYPE_ACCESSED;
	seg_commit(c, seg, &s);
}

/*
 * RET far / IRET to an outer level (SDM vol. 2 RET "RETURN-TO-OUTER-PRIVILEGE-LEVEL"): ES, DS, FS
 * and GS holding data or non-conforming code with DPL < the new CPL become null.
 */
void seg_null_outer(struct cpu *c)
{
	static const u8 segs[] = { SEG_ES, SEG_DS, SEG_FS, SEG_GS };

	for (unsigned i = 0; i < ARRAY_SIZE(segs); i++) {
		struct x86_segment *s = &c->seg[segs[i]];
		unsigned type = AR_TYPE(s->ar);

		if (s->ar & AR_UNUSABLE)
			continue;
		if ((type & (TYPE_CODE | TYPE_CONFORM)) == (TYPE_CODE | TYPE_CONFORM))
			continue;
		if (AR_DPL(s->ar) < c->cpl) {
			struct x86_segment n;

			seg_make_null(&n, 0, 0);
			if (c->mode == MODE_LONG && segs[i] >= SEG_FS)
				n.base = s->base;
			seg_commit(c, segs[i], &n);
		}
	}
}

u64 tss_read(struct cpu *c, u32 off, unsigned size, u32 ext)
{
	const struct x86_segment *tr = &c->seg[SEG_TR];

	if ((tr->ar & AR_UNUSABLE) || (u64)off + size - 1 > tr->limit)
		cpu_fault(c, X86_TS, SEL_ERR(tr->sel) | ext);
	return sys_read(c, tr->base + off, size);
}

/* --- Segment register instructions (SDM vol. 2 MOV, POP, PUSH, LDS/LES/LFS/LGS/LSS) --- */

/* MOV/POP SS block interrupts and debug exceptions until after the next instruction
   (SDM vol. 3A 6.8.3); the run loop executes exactly one instruction while intr_shadow is set. */
static void ss_shadow(struct cpu *c, unsigned seg)
{
	if (seg == SEG_SS) {
		c->intr_shadow = 1;
		c->shadow_kind = GUEST_INTR_STATE_MOV_SS;
		c->break_block = 1;
	}
}

/* The segment register of PUSH/POP Sreg and LDS/LES/LSS/LFS/LGS follows from the opcode:
   06/07 ES, 0E CS, 16/17 SS, 1E/1F DS, 0F A0/A1 FS, 0F A8/A9 GS; C4 LES, C5 LDS, 0F B2 LSS,
   0F B4 LFS, 0F B5 LGS (SDM vol. 2 opcode map, Table ). */
static unsigned sreg_of(const struct insn *d)
{
	switch (d->opcode) {
	case 0x0c4:
		return SEG_ES;
	case 0x0c5:
		return SEG_DS;
	case 0x1b2:
		return SEG_SS;
	case 0x1b4:
		return SEG_FS;
	case 0x1b5:
		return SEG_GS;
	}
	if (d->opcode >> 8)
		return (d->opcode & 8) ? SEG_GS : SEG_FS;
	return (d->opcode >> 3) & 3;
}

void op_mov_sreg_rm(struct cpu *c, const struct insn *d)
{
	u16 sel;

	if (d->sub == SEG_CS || d->sub > SEG_GS)
		cpu_ud(c);
	sel = d->mem ? (u16)mem_read(c, d->seg, insn_ea(c, d), 2) : (u16)reg_read(c, d->rm, 2);
	seg_load(c, d->sub, sel);
	ss_shadow(c, d->sub);
}

/* A register destination gets the selector zero-extended for 32/64-bit operand size; memory
   always takes 16 bits. */
void op_mov_rm_sreg(struct cpu *c, const struct insn *d)
{
	u16 sel;

	if (d->sub > SEG_GS)
		cpu_ud(c);
	sel = c->seg[d->sub].sel;
	if (d->mem)
		mem_write(c, d->seg, insn_ea(c, d), sel, 2);
	else
		reg_write(c, d->rm, sel, d->osz);
}

void op_push_sreg(struct cpu *c, const struct insn *d)
{
	cpu_push(c, c->seg[sreg_of(d)].sel, d->osz);
}

void op_pop_sreg(struct cpu *c, const struct insn *d)
{
	unsigned seg = sreg_of(d);
	u16 sel = (u16)cpu_peek(c, d->osz, 0);

	seg_load(c, seg, sel);
	cpu_pop_commit(c, d->osz);
	ss_shadow(c, seg);
}

/* LDS/LES/LSS/LFS/LGS: offset (operand size) then selector from memory; the register is written
   only after the segment load succeeded. */
void op_lxs(struct cpu *c, const struct insn *d)
{
	u64 ea, off;
	u16 sel;

	if (!d->mem)
		cpu_ud(c);
	ea = insn_ea(c, d);
	off = mem_read(c, d->seg, ea, d->osz);
	sel = (u16)mem_read(c, d->seg, (ea + d->osz) & size_mask(d->asz), 2);
	seg_load(c, sreg_of(d), sel);
	reg_write(c, d->reg, off, d->osz);
}

/* --- Far control transfers (SDM vol. 2 JMP, CALL, RET, IRET; vol. 3A 5.8) --- */

static bool long_code(const struct cpu *c, const struct x86_segment *cs)
{
	return (c->efer & EFER_LMA) && (cs->ar & AR_L);
}

/* Target RIP check: canonical for 64-bit code, else within the CS limit; #GP(0). */
static u64 far_rip(struct cpu *c, const struct x86_segment *cs, u64 rip)
{
	if (long_code(c, cs)) {
		if (!is_canonical(rip))
			cpu_gp(c, 0);
		return rip;
	}
	rip = (u32)rip;
	if (rip > cs->limit)
		cpu_gp(c, 0);
	return rip;
}

/* A code segment descriptor in IA-32e mode must not have both L and D (SDM vol. 3A 5.2.1). */
static void code_desc(struct cpu *c, u16 sel, u64 raw, struct x86_segment *cs)
{
	desc_decode(raw, sel, cs);
	if (!(cs->ar & AR_S) || !(AR_TYPE(cs->ar) & TYPE_CODE))
		cpu_gp(c, SEL_ERR(sel));
	if ((c->efer & EFER_LMA) && (cs->ar & AR_L) && (cs->ar & AR_DB))
		cpu_gp(c, SEL_ERR(sel));
}

/* Writes values (first at the highest address) below `sp` on the stack `ss` and returns the new
   stack pointer; nothing is committed, so a fault leaves the old stack in place. */
static u64 stack_write(struct cpu *c, const struct x86_segment *ss, bool sp64, u64 sp, const u64 *v,
		       unsigned n, unsigned sz)
{
	u64 mask = sp64 ? ~0ull : (ss->ar & AR_DB) ? 0xffffffffull : 0xffffull;

	for (unsigned i = 0; i < n; i++) {
		sp = (sp - sz) & mask;
		if (!sp64 && c->mode != MODE_REAL && !seg_limit_ok(ss, sp, sz))
			cpu_fault(c, X86_SS, 0);
		lin_write(c, sp64 ? sp : (u32)(ss->base + sp), v[i], sz);
	}
	return sp;
}

static void set_rsp(struct cpu *c, u64 old, u64 sp, const struct x86_segment *ss, bool sp64)
{
	if (sp64 || (ss->ar & AR_DB))
		c->gpr[R_RSP] = sp64 ? sp : (u32)sp;
	else
		c->gpr[R_RSP] = (old & ~0xffffull) | (sp & 0xffff);
}

static void commit_cs(struct cpu *c, struct x86_segment *cs, u64 rip, u8 cpl)
{
	cs->sel = (u16)((cs->sel & ~3u) | cpl);
	cs->ar |= TYPE_ACCESSED;
	c->seg[SEG_CS] = *cs;
	c->rip = rip;
	cpu_set_cpl(c, cpl);
	cpu_update_mode(c);
}

/*
 * The end of a far JMP, CALL, RET or IRET in real-address mode (SDM vol. 2, each instruction's
 * real-address-mode operation; vol. 3A 20.1.1): CS.selector = sel (all 16 bits: there is no RPL),
 * CS.base = sel << 4, the limit and attributes kept; RIP = the offset at the operand size, CPL 0.
 * Virtual-8086 mode the same at CPL 3 with its fixed limit and attributes (vol. 3B 20.2.1). The
 * caller has done the stack and RFLAGS work before, and v86_ip_check.
 */
static void commit_cs_real(struct cpu *c, u16 sel, u64 rip, unsigned osz)
{
	struct x86_segment cs = c->seg[SEG_CS];
	bool v86 = cpu_v86(c);

	if (v86) {
		seg_make_v86(&cs, sel);
	} else {
		cs.sel = sel;
		cs.base = (u64)sel << 4;
		cs.ar |= TYPE_ACCESSED;
	}
	c->seg[SEG_CS] = cs;
	c->rip = rip & size_mask(osz);
	cpu_set_cpl(c, v86 ? 3 : 0);
	cpu_update_mode(c);
	c->iret_nmi_unblocked = 0;
}

/* Virtual-8086 mode: a far JMP, CALL, RET or IRET to an offset beyond CS's limit (FFFFH, reached
   with a 32-bit operand size) is #GP(0), before anything is committed (SDM vol. 2, each
   instruction's "IF tempEIP is beyond code segment limit"). */
static void v86_ip_check(struct cpu *c, u64 rip, unsigned osz)
{
	if (cpu_v86(c) && (rip & size_mask(osz)) > 0xffff)
		cpu_gp(c, 0);
}

/*
 * Resolves the target of a far JMP/CALL (SDM vol. 3A 5.8.1, 5.8.4-5.8.6). A code segment keeps
 * the CPL: conforming needs DPL <= CPL, non-conforming RPL <= CPL and DPL = CPL. A call gate
 * (16/32-bit outside IA-32e mode, 64-bit inside) needs DPL >= CPL and DPL >= RPL and names a
 * code segment with DPL <= CPL; JMP through a gate to a non-conforming segment needs DPL = CPL.
 * Task gates and TSS descriptors (task switches) are not supported: #GP(selector).
 * Returns the gate's parameter count and size (0 for a direct transfer); *rip is replaced by
 * the gate's offset.
 */
static unsigned far_target(struct cpu *c, u16 sel, u64 *rip, struct x86_segment *cs,
			   unsigned *gate_sz, bool call)
{
	u64 raw, hi = 0;
	unsigned type, dpl, nparam;
	u16 tsel;

	*gate_sz = 0;
	if (SEL_IS_NULL(sel))
		cpu_gp(c, 0);
	if (!desc_fetch(c, sel, &raw))
		cpu_gp(c, SEL_ERR(sel));
	if (raw & BIT(44)) {
		code_desc(c, sel, raw, cs);
		type = AR_TYPE(cs->ar);
		dpl = AR_DPL(cs->ar);
		if ((type & TYPE_CONFORM) ? dpl > c->cpl : (SEL_RPL(sel) > c->cpl || dpl != c->cpl))
			cpu_gp(c, SEL_ERR(sel));
		if (!(cs->ar & AR_P))
			cpu_fault(c, X86_NP, SEL_ERR(sel));
		desc_set_accessed(c, sel, raw);
		return 0;
	}
	type = (raw >> 40) & 0xf;
	dpl = (raw >> 45) & 3;
	if (type != 0xc && (type != 0x4 || (c->efer & EFER_LMA)))
		cpu_gp(c, SEL_ERR(sel));
	if (dpl < c->cpl || dpl < SEL_RPL(sel))
		cpu_gp(c, SEL_ERR(sel));
	if (!(raw & BIT(47)))
		cpu_fault(c, X86_NP, SEL_ERR(sel));
	if (c->efer & EFER_LMA) {
		hi = desc_fetch_high(c, sel);
		if ((hi >> 40) & 0x1f)
			cpu_gp(c, SEL_ERR(sel));
	}
	tsel = (u16)(raw >> 16);
	/* Parameter count: gate bits 36:32, 32-bit gates outside IA-32e mode (SDM 5.8.3). */
	nparam = (c->efer & EFER_LMA) ? 0 : (raw >> 32) & 0x1f;
	*rip = (raw & 0xffff) | ((type == 0x4) ? 0 : (raw >> 32) & 0xffff0000) | (hi << 32);
	*gate_sz = (c->efer & EFER_LMA) ? 8 : (type == 0xc) ? 4 : 2;
	if (SEL_IS_NULL(tsel))
		cpu_gp(c, 0);
	if (!desc_fetch(c, tsel, &raw))
		cpu_gp(c, SEL_ERR(tsel));
	code_desc(c, tsel, raw, cs);
	dpl = AR_DPL(cs->ar);
	if (dpl > c->cpl || (!call && !(AR_TYPE(cs->ar) & TYPE_CONFORM) && dpl != c->cpl))
		cpu_gp(c, SEL_ERR(tsel));
	if (!(cs->ar & AR_P))
		cpu_fault(c, X86_NP, SEL_ERR(tsel));
	if ((c->efer & EFER_LMA) && !((cs->ar & AR_L) && !(cs->ar & AR_DB)))
		cpu_gp(c, SEL_ERR(tsel));
	desc_set_accessed(c, tsel, raw);
	return nparam;
}

static void far_jmp(struct cpu *c, u16 sel, u64 rip, unsigned osz)
{
	struct x86_segment cs = c->seg[SEG_CS];
	unsigned gate_sz;

	if (seg_real(c)) {
		v86_ip_check(c, rip, osz);
		commit_cs_real(c, sel, rip, osz);
		return;
	}
	if (osz == 2)
		rip &= 0xffff;
	far_target(c, sel, &rip, &cs, &gate_sz, false);
	if (gate_sz == 2)
		rip &= 0xffff;
	commit_cs(c, &cs, far_rip(c, &cs, rip), c->cpl);
}

/*
 * Stack of an inner privilege level from the TSS (SDM vol. 3A 5.8.5, 7.7): IA-32e mode: RSPn and
 * a null SS with RPL n; else SS:ESP for level n from a 32- or 16-bit TSS, SS checked (#TS(sel),
 * not present #SS(sel)). Returns true for a 64-bit stack pointer.
 */
static bool inner_stack(struct cpu *c, u8 ncpl, struct x86_segment *ss, u64 *rsp)
{
	bool tss32 = AR_TYPE(c->seg[SEG_TR].ar) & 8;
	u16 ss_sel;
	u64 raw;

	if (c->efer & EFER_LMA) {
		*rsp = tss_read(c, 4 + 8u * ncpl, 8, 0);
		seg_make_null(ss, ncpl, ncpl);
		return true;
	}
	ss_sel = (u16)tss_read(c, tss32 ? 8 + 8u * ncpl : 4 + 4u * ncpl, 2, 0);
	*rsp = tss_read(c, tss32 ? 4 + 8u * ncpl : 2 + 4u * ncpl, tss32 ? 4 : 2, 0);
	if (SEL_IS_NULL(ss_sel) || !desc_fetch(c, ss_sel, &raw))
		cpu_fault(c, X86_TS, SEL_ERR(ss_sel));
	desc_decode(raw, ss_sel, ss);
	if (SEL_RPL(ss_sel) != ncpl || AR_DPL(ss->ar) != ncpl || !(ss->ar & AR_S) ||
	    (AR_TYPE(ss->ar) & (TYPE_CODE | TYPE_WRITABLE)) != TYPE_WRITABLE)
		cpu_fault(c, X86_TS, SEL_ERR(ss_sel));
	if (!(ss->ar & AR_P))
		cpu_fault(c, X86_SS, SEL_ERR(ss_sel));
	desc_set_accessed(c, ss_sel, raw);
	ss->ar |= TYPE_ACCESSED;
	return false;
}

/*
 * Far CALL. Direct or through a gate to the same level: push CS and the return RIP (operand size,
 * or the gate size). Through a call gate to a more privileged non-conforming segment
 * (SDM vol. 3A 5.8.5, Figure 5-13): new stack from the TSS for the target DPL (IA-32e: RSPn with
 * a null SS), then push old SS, old RSP, the gate's parameter count of parameters copied from the
 * old stack (not in IA-32e mode), CS and the return RIP.
 */
static void far_call(struct cpu *c, u16 sel, u64 rip, unsigned osz)
{
	struct x86_segment cs = c->seg[SEG_CS], ss = c->seg[SEG_SS];
	unsigned gate_sz, nparam, n = 0, sz = osz;
	u64 v[36], sp, rsp = c->gpr[R_RSP];
	bool sp64 = c->mode == MODE_LONG;
	u8 cpl = c->cpl;

	if (seg_real(c)) {
		v86_ip_check(c, rip, osz);
		v[0] = cs.sel;
		v[1] = c->rip;
		sp = stack_write(c, &ss, false, rsp, v, 2, osz);
		set_rsp(c, rsp, sp, &ss, false);
		commit_cs_real(c, sel, rip, osz);
		return;
	}
	if (osz == 2)
		rip &= 0xffff;
	nparam = far_target(c, sel, &rip, &cs, &gate_sz, true);
	if (gate_sz) {
		sz = gate_sz;
		if (gate_sz == 2)
			rip &= 0xffff;
		if (!(AR_TYPE(cs.ar) & TYPE_CONFORM) && AR_DPL(cs.ar) < c->cpl) {
			u8 ncpl = (u8)AR_DPL(cs.ar);

			sp64 = inner_stack(c, ncpl, &ss, &rsp);
			v[n++] = c->seg[SEG_SS].sel;
			v[n++] = c->gpr[R_RSP];
			for (unsigned i = nparam; i > 0; i--)
				v[n++] = cpu_peek(c, sz, (u64)(i - 1) * sz);
			v[n++] = c->seg[SEG_CS].sel;
			v[n++] = c->rip;
			rip = far_rip(c, &cs, rip);
			cpu_set_cpl(c, ncpl);
			sp = stack_write(c, &ss, sp64, rsp, v, n, sz);
			c->seg[SEG_SS] = ss;
			set_rsp(c, rsp, sp, &ss, sp64);
			commit_cs(c, &cs, rip, ncpl);
			return;
		}
	}
	rip = far_rip(c, &cs, rip);
	v[0] = c->seg[SEG_CS].sel;
	v[1] = c->rip;
	sp = stack_write(c, &ss, sp64, rsp, v, 2, sz);
	set_rsp(c, rsp, sp, &ss, sp64);
	commit_cs(c, &cs, rip, cpl);
}

/* EA/9A ptr16:16/32 (not in 64-bit mode): imm = offset, imm2 = selector. */
void op_jmp_far_ptr(struct cpu *c, const struct insn *d)
{
	far_jmp(c, d->imm2, d->imm, d->osz);
}

void op_call_far_ptr(struct cpu *c, const struct insn *d)
{
	far_call(c, d->imm2, d->imm, d->osz);
}

/* FF /5, FF /3 m16:16/32/64: offset of the operand size, then the selector. */
static void far_mem(struct cpu *c, const struct insn *d, u16 *sel, u64 *off)
{
	u64 ea;

	if (!d->mem)
		cpu_ud(c);
	ea = insn_ea(c, d);
	*off = mem_read(c, d->seg, ea, d->osz);
	*sel = (u16)mem_read(c, d->seg, (ea + d->osz) & size_mask(d->asz), 2);
}

void op_jmp_far_mem(struct cpu *c, const struct insn *d)
{
	u16 sel;
	u64 off;

	far_mem(c, d, &sel, &off);
	far_jmp(c, sel, off, d->osz);
}

void op_call_far_mem(struct cpu *c, const struct insn *d)
{
	u16 sel;
	u64 off;

	far_mem(c, d, &sel, &off);
	far_call(c, sel, off, d->osz);
}

/* Return CS (SDM vol. 2 RET/IRET): RPL >= CPL; conforming DPL <= RPL, else DPL = RPL. */
static void ret_cs(struct cpu *c, u16 sel, struct x86_segment *cs)
{
	u64 raw;
	unsigned dpl;

	if (SEL_IS_NULL(sel))
		cpu_gp(c, 0);
	if (!desc_fetch(c, sel, &raw))
		cpu_gp(c, SEL_ERR(sel));
	code_desc(c, sel, raw, cs);
	dpl = AR_DPL(cs->ar);
	if (SEL_RPL(sel) < c->cpl ||
	    ((AR_TYPE(cs->ar) & TYPE_CONFORM) ? dpl > SEL_RPL(sel) : dpl != SEL_RPL(sel)))
		cpu_gp(c, SEL_ERR(sel));
	if (!(cs->ar & AR_P))
		cpu_fault(c, X86_NP, SEL_ERR(sel));
	desc_set_accessed(c, sel, raw);
}

/* Return SS: RPL = DPL = new CPL, writable data, present (#SS); null only when returning to
   64-bit mode at CPL < 3. */
static void ret_ss(struct cpu *c, u16 sel, u8 cpl, bool to64, struct x86_segment *ss)
{
	u64 raw;

	if (SEL_IS_NULL(sel)) {
		if (!to64 || cpl == 3 || SEL_RPL(sel) != cpl)
			cpu_gp(c, 0);
		seg_make_null(ss, sel, cpl);
		return;
	}
	if (!desc_fetch(c, sel, &raw))
		cpu_gp(c, SEL_ERR(sel));
	desc_decode(raw, sel, ss);
	if (SEL_RPL(sel) != cpl || AR_DPL(ss->ar) != cpl || !(ss->ar & AR_S) ||
	    (AR_TYPE(ss->ar) & (TYPE_CODE | TYPE_WRITABLE)) != TYPE_WRITABLE)
		cpu_gp(c, SEL_ERR(sel));
	if (!(ss->ar & AR_P))
		cpu_fault(c, X86_SS, SEL_ERR(sel));
	desc_set_accessed(c, sel, raw);
	ss->ar |= TYPE_ACCESSED;
}

/* Loads the outer stack, CS and RIP of a return; RSP from the popped value. */
static void ret_outer(struct cpu *c, struct x86_segment *cs, u64 rip, struct x86_segment *ss,
		      u64 rsp)
{
	u8 cpl = SEL_RPL(cs->sel);

	c->seg[SEG_SS] = *ss;
	commit_cs(c, cs, rip, cpl);
	c->gpr[R_RSP] = c->stack_bytes == 8 ? rsp
			: (ss->ar & AR_DB)  ? (u32)rsp
					    : (c->gpr[R_RSP] & ~0xffffull) | (u16)rsp;
	seg_null_outer(c);
}

/* RET far (CB, CA imm16): same level, or to an outer level popping SS:RSP after releasing imm
   bytes of parameters on each stack (SDM vol. 2 RET). */
void op_ret_far(struct cpu *c, const struct insn *d)
{
	unsigned osz = d->osz;
	u64 rip = cpu_peek(c, osz, 0), imm = d->imm & 0xffff;
	u16 sel = (u16)cpu_peek(c, osz, osz);
	struct x86_segment cs = c->seg[SEG_CS], ss;

	if (seg_real(c)) {
		v86_ip_check(c, rip, osz);
		cpu_pop_commit(c, 2 * osz + imm);
		commit_cs_real(c, sel, rip, osz);
		return;
	}
	ret_cs(c, sel, &cs);
	if (SEL_RPL(sel) == c->cpl) {
		rip = far_rip(c, &cs, rip);
		cpu_pop_commit(c, 2 * osz + imm);
		commit_cs(c, &cs, rip, c->cpl);
		return;
	}
	u64 rsp = cpu_peek(c, osz, 2 * osz + imm);
	u16 ss_sel = (u16)cpu_peek(c, osz, 3 * osz + imm);

	ret_ss(c, ss_sel, SEL_RPL(sel), long_code(c, &cs), &ss);
	rip = far_rip(c, &cs, rip);
	ret_outer(c, &cs, rip, &ss, rsp + imm);
}

/*
 * IRETD at CPL 0 outside IA-32e mode with VM = 1 in the popped EFLAGS (SDM vol. 2A IRET,
 * "RETURN-TO-VIRTUAL-8086-MODE"; vol. 3B 20.2.5): EIP, CS, EFLAGS, then ESP, SS, ES, DS, FS, GS
 * from the stack (each a doubleword, the selectors its low word), every segment loaded as in
 * real-address mode, CPL 3. EFLAGS is loaded whole. EIP beyond FFFFH is #GP(0); all reads come
 * before any state changes.
 */
static void iret_to_v86(struct cpu *c, u64 rip, u16 cs_sel, u64 nf)
{
	static const u8 order[] = { SEG_SS, SEG_ES, SEG_DS, SEG_FS, SEG_GS };
	u64 flags_defined = X86_ARITH_FLAGS | X86_TF | X86_IF | X86_DF | X86_IOPL | X86_NT |
			    X86_RF | X86_VM | X86_AC | X86_VIF | X86_VIP | X86_ID;
	u32 esp = (u32)cpu_peek(c, 4, 12);
	u16 sel[ARRAY_SIZE(order)];

	for (unsigned i = 0; i < ARRAY_SIZE(order); i++)
		sel[i] = (u16)cpu_peek(c, 4, 16 + 4 * i);
	if ((u32)rip > 0xffff)
		cpu_gp(c, 0);
	flags_set(c, (nf & flags_defined) | X86_FIXED1);
	seg_make_v86(&c->seg[SEG_CS], cs_sel);
	for (unsigned i = 0; i < ARRAY_SIZE(order); i++)
		seg_make_v86(&c->seg[order[i]], sel[i]);
	c->gpr[R_RSP] = esp;
	c->rip = (u32)rip;
	cpu_set_cpl(c, 3);
	cpu_update_mode(c);
	c->iret_nmi_unblocked = 0;
	c->rf_step = 0;
	if (nf & (X86_TF | X86_RF))
		cpu_event_pending(c);
}

/*
 * IRET/IRETD/IRETQ (SDM vol. 2 IRET). Real-address mode, and virtual-8086 mode with IOPL = 3
 * (IOPL < 3 is #GP(0): no VME), which keeps VM, IOPL, VIP and VIF. Protected and IA-32e mode:
 * NT = 1 (task return) is not supported outside IA-32e mode and is #GP(0) inside it; IRETD at
 * CPL 0 may return to virtual-8086 mode (iret_to_v86). IA-32e mode pops SS:RSP when returning to
 * an outer level and always in 64-bit mode. RFLAGS: IOPL (and VIF/VIP) change only at CPL 0, IF
 * only if CPL <= IOPL; VM only through iret_to_v86.
 */
void op_iret(struct cpu *c, const struct insn *d)
{
	unsigned osz = d->osz;
	u64 old, rip, nf, mask = X86_ARITH_FLAGS | X86_TF | X86_DF | X86_NT | X86_RF | X86_AC | X86_ID;
	u16 sel;
	struct x86_segment cs = c->seg[SEG_CS], ss;
	u8 cpl = c->cpl;

	/*
	 * NMI blocking (SDM vol. 3C 26.3): with "virtual NMIs" IRET removes virtual-NMI blocking;
	 * else with "NMI exiting" it leaves blocking by NMI alone; else it unblocks NMIs as usual.
	 * The unblocking happens even if the IRET faults, its first stack read included (vol. 3A
	 * 6.7.1); an exit for that fault reports it (SDM 28.2.1, 28.2.3).
	 */
	if (c->nmi_blocked &&
	    ((c->ctl.pin & PIN_VIRTUAL_NMIS) || !(c->ctl.pin & PIN_NMI_EXITING))) {
		c->nmi_blocked = 0;
		c->iret_nmi_unblocked = 1;
		cpu_event_pending(c);
	}
	old = flags_get(c);
	rip = cpu_peek(c, osz, 0);
	nf = cpu_peek(c, osz, 2 * osz);
	sel = (u16)cpu_peek(c, osz, osz);
	if (seg_real(c)) {
		if (cpu_v86(c) && iopl(c) < 3)
			cpu_gp(c, 0);
		v86_ip_check(c, rip, osz);
		mask |= X86_IF | (cpu_v86(c) ? 0 : X86_IOPL);
		if (osz == 2)
			mask &= 0xffff;
		cpu_pop_commit(c, 3 * osz);
		flags_set(c, (old & ~mask) | (nf & mask) | X86_FIXED1);
		commit_cs_real(c, sel, rip, osz);
		/* hostdiff: RF is cleared when the instruction after IRET completes. */
		c->rf_step = 0;
		if (nf & (X86_TF | X86_RF))
			cpu_event_pending(c);
		return;
	}
	if (old & X86_NT)
		cpu_gp(c, 0);
	if (!(c->efer & EFER_LMA) && (nf & X86_VM) && cpl == 0 && osz == 4) {
		iret_to_v86(c, rip, sel, nf);
		return;
	}
	ret_cs(c, sel, &cs);
	if (cpl == 0)
		mask |= X86_IOPL | X86_VIF | X86_VIP;
	if (cpl <= ((old & X86_IOPL) >> X86_IOPL_SHIFT))
		mask |= X86_IF;
	if (osz == 2)
		mask &= 0xffff;
	nf = (old & ~mask) | (nf & mask) | X86_FIXED1;
	if (SEL_RPL(sel) > cpl || c->mode == MODE_LONG) {
		u64 rsp = cpu_peek(c, osz, 3 * osz);
		u16 ss_sel = (u16)cpu_peek(c, osz, 4 * osz);

		ret_ss(c, ss_sel, SEL_RPL(sel), long_code(c, &cs), &ss);
		rip = far_rip(c, &cs, rip);
		flags_set(c, nf);
		if (SEL_RPL(sel) > cpl) {
			ret_outer(c, &cs, rip, &ss, rsp);
		} else {
			c->seg[SEG_SS] = ss;
			commit_cs(c, &cs, rip, cpl);
			c->gpr[R_RSP] = c->stack_bytes == 8 ? rsp : (u32)rsp;
		}
	} else {
		rip = far_rip(c, &cs, rip);
		cpu_pop_commit(c, 3 * osz);
		flags_set(c, nf);
		commit_cs(c, &cs, rip, cpl);
	}
	c->iret_nmi_unblocked = 0;
	/* RF as loaded lasts until the next instruction completes (events_check) */
	c->rf_step = 0;
	if (nf & (X86_TF | X86_RF))
		cpu_event_pending(c);
}
