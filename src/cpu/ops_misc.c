/* SPDX-License-Identifier: MIT */
/*
 * Legacy and loop instructions: DAA DAS AAA AAS AAM AAD, BOUND, ARPL, XLAT, LOOP/LOOPE/LOOPNE,
 * JrCXZ, ENTER, LEAVE. SDM vol. 2A "AAA", "AAD", "AAM", "AAS", "ARPL", "BOUND", "DAA", "DAS",
 * "ENTER", "Jcc" (JCXZ/JECXZ/JRCXZ), "LEAVE", "LOOP/LOOPcc", vol. 2B "XLAT/XLATB".
 * The BCD instructions, BOUND and ARPL do not exist in 64-bit mode; the decoder gives #UD there.
 */
#include "cpu/ops.h"

/* SF ZF PF from the byte `al`; CF and AF as given; OF = 0. */
static void flags_al(struct cpu *c, u8 al, bool cf, bool af)
{
	u64 f;

	c->lf_res = al;
	c->lf_src1 = al;
	c->lf_src2 = 0;
	c->lf_op = LF(LF_LOGIC, 1);
	f = flags_get(c) & ~(X86_CF | X86_AF);
	flags_set(c, f | (cf ? X86_CF : 0) | (af ? X86_AF : 0));
}

/*
 * --- BCD adjust, on AL (and AH) ---
 * Undefined flags (OF for DAA DAS; OF SF ZF PF for AAA AAS; OF AF CF for AAM): OF AF CF = 0 and
 * SF ZF PF from the final AL, which is what the hardware we measured does (AAD: see there).
 */
void op_daa(struct cpu *c, const struct insn *d)
{
	u64 f = flags_get(c);
	u8 al = (u8)c->gpr[R_RAX], old_al = al;
	bool cf = old_al > 0x99 || (f & X86_CF), af = false;

	/* The carry of the first step is overwritten by the second's CF in the SDM pseudo-code. */
	if ((al & 0xf) > 9 || (f & X86_AF)) {
		al += 6;
		af = true;
	}
	if (cf)
		al += 0x60;
	reg_write(c, R_RAX, al, 1);
	flags_al(c, al, cf, af);
}

void op_das(struct cpu *c, const struct insn *d)
{
	u64 f = flags_get(c);
	u8 al = (u8)c->gpr[R_RAX], old_al = al;
	bool old_cf = f & X86_CF, cf = false, af = false;

	if ((al & 0xf) > 9 || (f & X86_AF)) {
		cf = old_cf || al < 6;
		al -= 6;
		af = true;
	}
	if (old_al > 0x99 || old_cf) {
		al -= 0x60;
		cf = true;
	}
	reg_write(c, R_RAX, al, 1);
	flags_al(c, al, cf, af);
}

void op_aaa(struct cpu *c, const struct insn *d)
{
	u64 f = flags_get(c);
	u16 ax = (u16)c->gpr[R_RAX];
	bool adj = (ax & 0xf) > 9 || (f & X86_AF);

	if (adj)
		ax += 0x106;
	ax &= 0xff0f;
	reg_write(c, R_RAX, ax, 2);
	flags_al(c, (u8)ax, adj, adj);
}

void op_aas(struct cpu *c, const struct insn *d)
{
	u64 f = flags_get(c);
	u16 ax = (u16)c->gpr[R_RAX];
	bool adj = (ax & 0xf) > 9 || (f & X86_AF);

	if (adj) {
		ax -= 6;
		ax -= 0x100;
	}
	ax &= 0xff0f;
	reg_write(c, R_RAX, ax, 2);
	flags_al(c, (u8)ax, adj, adj);
}

/* AAM imm8: AH = AL / imm, AL = AL MOD imm; imm 0 is #DE. */
void op_aam(struct cpu *c, const struct insn *d)
{
	u8 base = (u8)d->imm, al = (u8)c->gpr[R_RAX];

	if (!base)
		cpu_fault(c, X86_DE, 0);
	reg_write(c, R_RAX, (u16)((al / base) << 8 | (al % base)), 2);
	flags_al(c, al % base, false, false);
}

/*
 * AAD imm8: AL = (AL + AH * imm) AND FFH, AH = 0; SF ZF PF from AL. OF AF CF are undefined: we set
 * them as the byte addition AL + (AH * imm AND FFH) does, which is what the hardware we measured
 * does.
 */
void op_aad(struct cpu *c, const struct insn *d)
{
	u16 ax = (u16)c->gpr[R_RAX];
	u8 al = (u8)ax, prod = (u8)((ax >> 8) * (u8)d->imm);

	reg_write(c, R_RAX, (u8)(al + prod), 2);
	c->lf_src1 = al;
	c->lf_src2 = prod;
	c->lf_res = (u8)(al + prod);
	c->lf_op = LF(LF_ADD, 1);
}

/* --- BOUND, ARPL, XLAT --- */

/* BOUND reg, m16&16 / m32&32: signed index check against [m] and [m + osz]; #BR if outside.
   A register operand is #UD. */
void op_bound(struct cpu *c, const struct insn *d)
{
	unsigned size = d->osz;
	s64 idx = (s64)sign_extend(reg_read(c, d->reg, size), size);
	s64 lo, hi;
	u64 ea;

	if (!d->mem)
		cpu_ud(c);
	ea = insn_ea(c, d);
	lo = (s64)sign_extend(mem_read(c, d->seg, ea, size), size);
	hi = (s64)sign_extend(mem_read(c, d->seg, (ea + size) & size_mask(d->asz), size), size);
	if (idx < lo || idx > hi)
		cpu_fault(c, X86_BR, 0);
}

/* ARPL r/m16, r16: raise the destination selector's RPL to the source's; ZF = 1 if it changed.
   Protected mode only: #UD in real-address and virtual-8086 mode. */
void op_arpl(struct cpu *c, const struct insn *d)
{
	u64 ea = 0, dst;
	u16 src = (u16)reg_read(c, d->reg, 2);

	if (c->mode == MODE_REAL || (c->rflags & X86_VM))
		cpu_ud(c);
	if (d->mem) {
		ea = insn_ea(c, d);
		dst = mem_read(c, d->seg, ea, 2);
	} else {
		dst = reg_read(c, d->rm, 2);
	}
	if ((dst & 3) < (src & 3u)) {
		dst = (dst & ~3ull) | (src & 3u);
		if (d->mem)
			mem_write(c, d->seg, ea, dst, 2);
		else
			reg_write(c, d->rm, dst, 2);
		flags_set(c, flags_get(c) | X86_ZF);
	} else {
		flags_set(c, flags_get(c) & ~X86_ZF);
	}
}

/* XLAT: AL = [seg: rBX + AL], rBX by the address size; seg = DS or the override. */
void op_xlat(struct cpu *c, const struct insn *d)
{
	u64 off = (reg_read(c, R_RBX, d->asz) + (u8)c->gpr[R_RAX]) & size_mask(d->asz);

	reg_write(c, R_RAX, mem_read(c, d->seg, off, 1), 1);
}

/* --- LOOP, LOOPE, LOOPNE, JrCXZ --- */

/*
 * Relative branch target of a rel8 instruction: outside 64-bit mode it is truncated to the operand
 * size and must lie within the CS limit; in 64-bit mode it must be canonical. #GP(0) otherwise
 * (SDM "LOOP/LOOPcc", "Jcc" Operation).
 */
static u64 rel_target(struct cpu *c, const struct insn *d)
{
	u64 t = c->rip + d->imm;

	if (c->code_bits == 64) {
		if (!is_canonical(t))
			cpu_gp(c, 0);
		return t;
	}
	t &= size_mask(d->osz);
	if (t > c->seg[SEG_CS].limit)
		cpu_gp(c, 0);
	return t;
}

/* cc: 0 LOOP, 1 LOOPE (also ZF = 1), 2 LOOPNE (also ZF = 0). The counter (CX/ECX/RCX by the
   address size) is decremented first; it is committed only after the target is checked. */
static void loop(struct cpu *c, const struct insn *d, int cc)
{
	u64 count = (reg_read(c, R_RCX, d->asz) - 1) & size_mask(d->asz);
	bool take = count != 0;
	u64 target = 0;

	if (take && cc)
		take = !(flags_get(c) & X86_ZF) == (cc == 2);
	if (take)
		target = rel_target(c, d);
	reg_write(c, R_RCX, count, d->asz);
	if (take)
		c->rip = target;
}

void op_loop(struct cpu *c, const struct insn *d)
{
	loop(c, d, 0);
}

void op_loope(struct cpu *c, const struct insn *d)
{
	loop(c, d, 1);
}

void op_loopne(struct cpu *c, const struct insn *d)
{
	loop(c, d, 2);
}

void op_jrcxz(struct cpu *c, const struct insn *d)
{
	if (!reg_read(c, R_RCX, d->asz))
		c->rip = rel_target(c, d);
}

/* --- ENTER, LEAVE --- */

/*
 * ENTER imm16, imm8 (SDM "ENTER" Operation): push rBP; FrameTemp = rSP; for nesting level L > 0
 * push L - 1 frame pointers read from [SS: rBP - i * osz] and then FrameTemp; rBP = FrameTemp;
 * rSP -= imm16. Pushes are osz wide, the stack pointer and the copied frame pointers wrap by the
 * stack-address size. All writes happen, and the final stack pointer is checked for a write
 * (SDM: "#PF if ... a write using the final value of the stack pointer would cause a page fault"),
 * before RSP and RBP are committed. rBP is written with the operand size: with a 16-bit operand
 * in 64-bit mode only BP changes, as on hardware (measured), where the SDM pseudo-code writes RBP.
 */
void op_enter(struct cpu *c, const struct insn *d)
{
	unsigned size = d->osz, sb = c->stack_bytes;
	unsigned level = d->imm2 & 31;
	u64 rsp = c->gpr[R_RSP], bp = c->gpr[R_RBP];
	u64 frame;

	rsp -= size;
	mem_write(c, SEG_SS, stack_off(c, rsp), bp, size);
	frame = stack_off(c, rsp);
	if (level) {
		for (unsigned i = 1; i < level; i++) {
			bp -= size;
			rsp -= size;
			mem_write(c, SEG_SS, stack_off(c, rsp),
				  mem_read(c, SEG_SS, stack_off(c, bp), size), size);
		}
		rsp -= size;
		mem_write(c, SEG_SS, stack_off(c, rsp), frame, size);
	}
	rsp -= d->imm & 0xffff;
	/*
	 * The final stack top is probed as a write of the operand size, which faults as that write
	 * would: #SS, #AC when it is misaligned (hardware does, for an odd size: docs/difftest.md),
	 * #PF.
	 */
	u64 top = (c->seg_base[SEG_SS] + stack_off(c, rsp)) & c->lin_mask;
	if (cpu_align_checking(c) && (top & (size - 1)) && is_canonical(top))
		cpu_fault(c, X86_AC_VEC, 0);
	mem_probe_write(c, SEG_SS, stack_off(c, rsp), size);
	reg_write(c, R_RSP, rsp, sb);
	reg_write(c, R_RBP, frame, size);
}

/* LEAVE: rSP = rBP (stack-address size), then pop rBP (operand size); committed after the read. */
void op_leave(struct cpu *c, const struct insn *d)
{
	u64 base = stack_off(c, c->gpr[R_RBP]);
	u64 v = mem_read(c, SEG_SS, base, d->osz);

	reg_write(c, R_RSP, base + d->osz, c->stack_bytes);
	reg_write(c, R_RBP, v, d->osz);
}
