// SPDX-License-Identifier: MIT
/*
 * Lazy arithmetic flags (contract in internal.h): CF PF AF ZF SF OF computed on demand from the
 * last flag-setting operation's operands and result. Flag definitions per instruction: SDM vol. 1
 * Appendix A (EFLAGS cross-reference) and each instruction's "Flags Affected" in vol. 2.
 */
#include "cpu/internal.h"

static always_inline u64 msb(u64 v, unsigned size)
{
	return (v >> (size * 8 - 1)) & 1;
}

/* PF: set if the low byte of the result has an even number of 1 bits (SDM vol. 1 3.4.3.1). */
static always_inline u64 parity(u64 res)
{
	return __builtin_parity((unsigned)(res & 0xff)) ? 0 : X86_PF;
}

/* The six arithmetic flags of the recorded operation. */
static u64 lazy_arith(const struct cpu *c)
{
	unsigned size = LF_SIZE(c->lf_op);
	u64 a = c->lf_src1, b = c->lf_src2, r = c->lf_res;
	u64 cf = 0, of = 0, af = 0;

	switch (LF_KIND(c->lf_op)) {
	case LF_ADD:
		cf = r < a;
		of = msb((a ^ r) & (b ^ r), size);
		af = (a ^ b ^ r) & X86_AF;
		break;
	case LF_ADC:
		cf = r <= a;
		of = msb((a ^ r) & (b ^ r), size);
		af = (a ^ b ^ r) & X86_AF;
		break;
	case LF_SUB:
		cf = a < b;
		of = msb((a ^ b) & (a ^ r), size);
		af = (a ^ b ^ r) & X86_AF;
		break;
	case LF_SBB:
		cf = a <= b;
		of = msb((a ^ b) & (a ^ r), size);
		af = (a ^ b ^ r) & X86_AF;
		break;
	case LF_LOGIC:
		break;
	case LF_INC: /* CF is preserved: src2 holds it */
		cf = b & 1;
		of = r == 1ull << (size * 8 - 1);
		af = (a ^ r) & X86_AF;
		break;
	case LF_DEC:
		cf = b & 1;
		of = a == 1ull << (size * 8 - 1);
		af = (a ^ r) & X86_AF;
		break;
	case LF_NEG:
		cf = a != 0;
		of = a == 1ull << (size * 8 - 1);
		af = (a ^ r) & X86_AF;
		break;
	case LF_SHL: /* SDM vol. 2B SAL/SAR/SHL/SHR: CF = last bit out; OF = MSB(res) ^ CF */
		cf = b <= size * 8 ? (a >> (size * 8 - b)) & 1 : 0;
		of = msb(r, size) ^ cf;
		break;
	case LF_SHR:
		cf = (a >> (b - 1)) & 1;
		of = msb(a, size);
		break;
	case LF_SAR:
		cf = ((s64)sign_extend(a, size) >> (b - 1)) & 1;
		break;
	case LF_MUL:
		cf = of = b & 1;
		break;
	}
	if (c->lf_op & LF_CFOF) /* a rotate's CF and OF over the record (internal.h) */
		return (c->lf_cfof & (X86_CF | X86_OF)) | af | parity(r) | (r ? 0 : X86_ZF) |
		       (msb(r, size) ? X86_SF : 0);
	return (cf ? X86_CF : 0) | (of ? X86_OF : 0) | af | parity(r) | (r ? 0 : X86_ZF) |
	       (msb(r, size) ? X86_SF : 0);
}

u64 flags_get(struct cpu *c)
{
	if (c->lf_op != LF_NONE) {
		c->rflags = (c->rflags & ~X86_ARITH_FLAGS) | lazy_arith(c);
		c->lf_op = LF_NONE;
	}
	return c->rflags;
}

void flags_set(struct cpu *c, u64 rflags)
{
	u64 changed = c->rflags ^ rflags;

	c->rflags = rflags | X86_FIXED1;
	c->lf_op = LF_NONE;
	if (changed & X86_AC) /* the only flag cpu_refresh_derived() reads */
		cpu_refresh_derived(c);
}

/* Condition codes from materialized flags (SDM vol. 1 Table B-1). */
static bool cond_from_flags(u64 f, unsigned cc)
{
	bool r;

	switch (cc >> 1) {
	case 0: /* O */
		r = f & X86_OF;
		break;
	case 1: /* B/C */
		r = f & X86_CF;
		break;
	case 2: /* E/Z */
		r = f & X86_ZF;
		break;
	case 3: /* BE */
		r = f & (X86_CF | X86_ZF);
		break;
	case 4: /* S */
		r = f & X86_SF;
		break;
	case 5: /* P */
		r = f & X86_PF;
		break;
	case 6: /* L: SF != OF */
		r = !(f & X86_SF) != !(f & X86_OF);
		break;
	default: /* LE: ZF or SF != OF */
		r = (f & X86_ZF) || !(f & X86_SF) != !(f & X86_OF);
		break;
	}
	return r ^ (cc & 1);
}

/* CF straight from the lazy state for the kinds that define it simply; -1 otherwise. */
static always_inline int lazy_cf(const struct cpu *c)
{
	u64 a = c->lf_src1, b = c->lf_src2, r = c->lf_res;

	switch (LF_KIND(c->lf_op)) {
	case LF_ADD:
		return r < a;
	case LF_ADC:
		return r <= a;
	case LF_SUB:
		return a < b;
	case LF_SBB:
		return a <= b;
	case LF_LOGIC:
		return 0;
	case LF_INC:
	case LF_DEC:
		return b & 1;
	case LF_NEG:
		return a != 0;
	case LF_MUL:
		return b & 1;
	default:
		return -1;
	}
}

/*
 * Fast paths straight from the lazy state: Z and S for every kind, B (CF) and BE for the kinds
 * lazy_cf knows, and the signed comparisons after SUB/CMP and logic ops (OF = 0), the common
 * Jcc/SETcc/CMOVcc/ADC/INC cases. Everything else materializes the flags once.
 */
bool flags_cond(struct cpu *c, unsigned cc)
{
	u32 op = c->lf_op;
	unsigned size = LF_SIZE(op);
	int cf;
	bool r;

	if (op == LF_NONE)
		return cond_from_flags(c->rflags, cc);
	if (op & LF_CFOF)
		return cond_from_flags(flags_get(c), cc);
	switch (cc >> 1) {
	case 1: /* B */
		cf = lazy_cf(c);
		if (cf >= 0)
			return cf ^ (cc & 1);
		break;
	case 2: /* Z */
		return (c->lf_res == 0) ^ (cc & 1);
	case 3: /* BE */
		cf = lazy_cf(c);
		if (cf >= 0)
			return (cf || c->lf_res == 0) ^ (cc & 1);
		break;
	case 4: /* S */
		return msb(c->lf_res, size) ^ (cc & 1);
	case 6: /* L */
	case 7: /* LE */
		if (LF_KIND(op) == LF_SUB) {
			s64 sa = (s64)sign_extend(c->lf_src1, size);
			s64 sb = (s64)sign_extend(c->lf_src2, size);

			r = (cc >> 1) == 6 ? sa < sb : sa <= sb;
			return r ^ (cc & 1);
		}
		if (LF_KIND(op) == LF_LOGIC) {
			r = msb(c->lf_res, size) || ((cc >> 1) == 7 && c->lf_res == 0);
			return r ^ (cc & 1);
		}
		break;
	}
	return cond_from_flags(flags_get(c), cc);
}
