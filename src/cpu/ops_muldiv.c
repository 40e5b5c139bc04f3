/* SPDX-License-Identifier: MIT */
/*
 * Multiply and divide: MUL, IMUL (one, two and three operands), DIV, IDIV. SDM vol. 2A "DIV",
 * "IDIV", "IMUL", vol. 2B "MUL".
 *
 * Flags. MUL/IMUL define only CF and OF (CF = OF = the result did not fit the destination size);
 * SF ZF AF PF are undefined: we set SF ZF PF from the low half of the product (the destination
 * operand for two/three-operand IMUL) and clear AF. DIV/IDIV leave all six flags undefined: we
 * leave them unchanged.
 */
#include "cpu/ops.h"

static u64 rm_read(struct cpu *c, const struct insn *d)
{
	if (d->mem)
		return mem_read(c, d->seg, insn_ea(c, d), d->osz);
	return reg_read(c, d->rm, d->osz);
}

/* The flags choice above, kept lazy (LF_MUL, internal.h). */
static always_inline void flags_mul(struct cpu *c, u64 low, unsigned size, bool overflow)
{
	c->lf_res = low;
	c->lf_src2 = overflow;
	c->lf_op = LF(LF_MUL, size);
}

/* Writes the double-width product: AX for bytes, else rDX:rAX. */
static void write_wide(struct cpu *c, unsigned size, u64 lo, u64 hi)
{
	if (size == 1) {
		reg_write(c, R_RAX, (hi << 8) | lo, 2);
	} else {
		reg_write(c, R_RAX, lo, size);
		reg_write(c, R_RDX, hi, size);
	}
}

void op_mul(struct cpu *c, const struct insn *d)
{
	unsigned size = d->osz, bits = size * 8;
	u64 mask = size_mask(size);
	u128 p = (u128)rm_read(c, d) * reg_read(c, R_RAX, size);
	u64 lo = (u64)p & mask, hi = (u64)(p >> bits) & mask;

	write_wide(c, size, lo, hi);
	flags_mul(c, lo, size, hi != 0);
}

void op_imul1(struct cpu *c, const struct insn *d)
{
	unsigned size = d->osz, bits = size * 8;
	u64 mask = size_mask(size);
	s128 p = (s128)(s64)sign_extend(rm_read(c, d), size) *
		 (s64)sign_extend(reg_read(c, R_RAX, size), size);
	u64 lo = (u64)p & mask, hi = (u64)((u128)p >> bits) & mask;

	write_wide(c, size, lo, hi);
	flags_mul(c, lo, size, (s128)(s64)sign_extend(lo, size) != p);
}

static void imul_2op(struct cpu *c, const struct insn *d, u64 a, u64 b)
{
	unsigned size = d->osz;
	s128 p = (s128)(s64)sign_extend(a, size) * (s64)sign_extend(b, size);
	u64 lo = (u64)p & size_mask(size);

	reg_write(c, d->reg, lo, size);
	flags_mul(c, lo, size, (s128)(s64)sign_extend(lo, size) != p);
}

/*
 * Two- and three-operand IMUL with 32- and 64-bit operands, the forms compilers emit; the
 * decoder selects them (ops_specialize). Same results and flags as imul_2op.
 */
#define IMUL_SIZED(size, stype)                                                                    \
	static always_inline void imul_##size(struct cpu *c, const struct insn *d, u64 a, u64 b)   \
	{                                                                                          \
		stype r;                                                                           \
		bool ovf = __builtin_mul_overflow((stype)a, (stype)b, &r);                         \
                                                                                                   \
		reg_write(c, d->reg, (u64)r, size);                                                \
		flags_mul(c, (u64)r & size_mask(size), size, ovf);                                 \
	}                                                                                          \
	void op_imul_r_rm_##size(struct cpu *c, const struct insn *d)                              \
	{                                                                                          \
		u64 b = d->mem ? mem_read(c, d->seg, insn_ea(c, d), size) : c->gpr[d->rm];         \
		imul_##size(c, d, c->gpr[d->reg], b);                                              \
	}                                                                                          \
	void op_imul_r_rm_imm_##size(struct cpu *c, const struct insn *d)                          \
	{                                                                                          \
		u64 a = d->mem ? mem_read(c, d->seg, insn_ea(c, d), size) : c->gpr[d->rm];         \
		imul_##size(c, d, a, d->imm);                                                      \
	}
IMUL_SIZED(4, s32)
IMUL_SIZED(8, s64)

void op_imul_r_rm(struct cpu *c, const struct insn *d)
{
	imul_2op(c, d, reg_read(c, d->reg, d->osz), rm_read(c, d));
}

void op_imul_r_rm_imm(struct cpu *c, const struct insn *d)
{
	imul_2op(c, d, rm_read(c, d), d->imm);
}

/* The dividend: AX for bytes, else rDX:rAX. */
static u128 read_wide(struct cpu *c, unsigned size)
{
	if (size == 1)
		return reg_read(c, R_RAX, 2);
	return (u128)reg_read(c, R_RDX, size) << (size * 8) | reg_read(c, R_RAX, size);
}

/* Quotient in AL/AX/EAX/RAX, remainder in AH/DX/EDX/RDX. */
static void write_quot_rem(struct cpu *c, unsigned size, u64 q, u64 r)
{
	if (size == 1) {
		reg_write(c, R_RAX, (r << 8) | (q & 0xff), 2);
	} else {
		reg_write(c, R_RAX, q, size);
		reg_write(c, R_RDX, r, size);
	}
}

/* #DE on a zero divisor or a quotient too large for the destination, before any write. */
void op_div(struct cpu *c, const struct insn *d)
{
	unsigned size = d->osz;
	u64 divisor = rm_read(c, d);
	u128 dividend = read_wide(c, size), q;

	if (!divisor)
		cpu_fault(c, X86_DE, 0);
	q = dividend / divisor;
	if (q > size_mask(size))
		cpu_fault(c, X86_DE, 0);
	write_quot_rem(c, size, (u64)q, (u64)(dividend % divisor));
}

/*
 * Signed: the quotient truncates toward zero and the remainder takes the dividend's sign. Done on
 * magnitudes so that no C signed overflow can occur; #DE if the quotient is outside the signed
 * range of the destination (SDM "IDIV": e.g. -128..127 for bytes).
 */
void op_idiv(struct cpu *c, const struct insn *d)
{
	unsigned size = d->osz, bits = size * 8;
	u64 divisor = rm_read(c, d);
	u128 dividend = read_wide(c, size);
	bool nd, ns;
	u128 ad, as, aq, ar;
	u64 q, r;

	if (!divisor)
		cpu_fault(c, X86_DE, 0);
	/* Sign-extend the 2*bits-wide dividend to 128 bits. */
	if (bits < 64)
		dividend = (u128)((s128)(dividend << (128 - 2 * bits)) >> (128 - 2 * bits));
	nd = (s128)dividend < 0;
	ns = (s64)sign_extend(divisor, size) < 0;
	ad = nd ? -dividend : dividend;
	as = ns ? -(u64)sign_extend(divisor, size) : divisor;
	aq = ad / as;
	ar = ad % as;
	/* Allowed magnitudes: 2^(bits-1) - 1 for a positive quotient, 2^(bits-1) for a negative. */
	if (aq > ((u128)1 << (bits - 1)) - (nd == ns))
		cpu_fault(c, X86_DE, 0);
	q = (u64)(nd != ns ? -aq : aq);
	r = (u64)(nd ? -ar : ar);
	write_quot_rem(c, size, q & size_mask(size), r & size_mask(size));
}
