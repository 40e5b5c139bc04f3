// SPDX-License-Identifier: MIT
/*
 * Lazy flags (flags.c) and the ALU handlers (ops_core.c) against the host CPU, the oracle: for
 * every flag-setting kind and operand size, operands from a fixed-seed generator (plus edge values)
 * are run through the real instruction (inline asm, then PUSHF) and through our code, and every
 * flag the SDM defines is compared exactly. Each case also checks all 16 condition codes of
 * flags_cond() (its fast paths read the lazy state directly) against the host flags.
 */
#include <stdlib.h>

#include "check.h"
#include "cpu/ops_core.h"

#define CASES 3000
#define ARITH X86_ARITH_FLAGS

static u64 rng_state = 0x243f6a8885a308d3ull;

static u64 rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

/* Operands: mostly random, often edge values (0, 1, -1, sign bit, sign bit - 1) per size. */
static u64 operand(unsigned size)
{
	u64 sign = 1ull << (size * 8 - 1), m = size_mask(size);
	static const u64 small[] = { 0, 1, 2, 0xf, 0x10 };

	switch (rnd() % 8) {
	case 0:
		return small[rnd() % ARRAY_SIZE(small)];
	case 1:
		return m;
	case 2:
		return sign;
	case 3:
		return sign - 1 + (rnd() % 3);
	case 4:
		return rnd() & 0xff;
	default:
		return rnd() & m;
	}
}

/* --- Host operations: result and RFLAGS after the instruction. CF in is loaded by BT. --- */

enum kind {
	K_ADD,
	K_OR,
	K_ADC,
	K_SBB,
	K_AND,
	K_SUB,
	K_XOR,
	K_CMP,
	K_INC,
	K_DEC,
	K_NEG,
	K_SHL,
	K_SHR,
	K_SAR,
	K_NKINDS
};
static const char *const kind_name[] = { "add", "or",  "adc", "sbb", "and", "sub", "xor",
					 "cmp", "inc", "dec", "neg", "shl", "shr", "sar" };

#define HOST_BIN(T, insn)                                                                          \
	asm volatile("bt $0, %[cf]\n\t" insn " %[y], %[x]\n\tpushfq\n\tpopq %[f]"                  \
		     : [x] "+r"(x), [f] "=r"(f)                                                    \
		     : [y] "r"((T)b), [cf] "r"(cf)                                                 \
		     : "cc")
#define HOST_UN(insn)                                                                              \
	asm volatile("bt $0, %[cf]\n\t" insn " %[x]\n\tpushfq\n\tpopq %[f]"                        \
		     : [x] "+r"(x), [f] "=r"(f)                                                    \
		     : [cf] "r"(cf)                                                                \
		     : "cc")
#define HOST_SH(insn)                                                                              \
	asm volatile("bt $0, %[cf]\n\t" insn " %%cl, %[x]\n\tpushfq\n\tpopq %[f]"                  \
		     : [x] "+r"(x), [f] "=r"(f)                                                    \
		     : "c"((u8)b), [cf] "r"(cf)                                                    \
		     : "cc")

#define HOST_FN(T, name)                                                                           \
	static u64 name(enum kind k, u64 a, u64 b, u64 cf, u64 *flags)                             \
	{                                                                                          \
		T x = (T)a;                                                                        \
		u64 f = 0;                                                                         \
		switch (k) {                                                                       \
		case K_ADD:                                                                        \
			HOST_BIN(T, "add");                                                        \
			break;                                                                     \
		case K_OR:                                                                         \
			HOST_BIN(T, "or");                                                         \
			break;                                                                     \
		case K_ADC:                                                                        \
			HOST_BIN(T, "adc");                                                        \
			break;                                                                     \
		case K_SBB:                                                                        \
			HOST_BIN(T, "sbb");                                                        \
			break;                                                                     \
		case K_AND:                                                                        \
			HOST_BIN(T, "and");                                                        \
			break;                                                                     \
		case K_SUB:                                                                        \
			HOST_BIN(T, "sub");                                                        \
			break;                                                                     \
		case K_XOR:                                                                        \
			HOST_BIN(T, "xor");                                                        \
			break;                                                                     \
		case K_CMP:                                                                        \
			HOST_BIN(T, "cmp");                                                        \
			break;                                                                     \
		case K_INC:                                                                        \
			HOST_UN("inc");                                                            \
			break;                                                                     \
		case K_DEC:                                                                        \
			HOST_UN("dec");                                                            \
			break;                                                                     \
		case K_NEG:                                                                        \
			HOST_UN("neg");                                                            \
			break;                                                                     \
		case K_SHL:                                                                        \
			HOST_SH("shl");                                                            \
			break;                                                                     \
		case K_SHR:                                                                        \
			HOST_SH("shr");                                                            \
			break;                                                                     \
		default:                                                                           \
			HOST_SH("sar");                                                            \
			break;                                                                     \
		}                                                                                  \
		*flags = f;                                                                        \
		return (u64)x;                                                                     \
	}

HOST_FN(u8, host8)
HOST_FN(u16, host16)
HOST_FN(u32, host32)
HOST_FN(u64, host64)

static u64 host(unsigned size, enum kind k, u64 a, u64 b, u64 cf, u64 *flags)
{
	switch (size) {
	case 1:
		return host8(k, a, b, cf, flags);
	case 2:
		return host16(k, a, b, cf, flags);
	case 4:
		return host32(k, a, b, cf, flags);
	default:
		return host64(k, a, b, cf, flags);
	}
}

/* Flags the SDM leaves undefined for this case. */
static u64 undefined_flags(enum kind k, unsigned size, u64 count)
{
	switch (k) {
	case K_OR:
	case K_AND:
	case K_XOR:
		return X86_AF;
	case K_SHL:
	case K_SHR:
		return X86_AF | (count != 1 ? X86_OF : 0) | (count >= size * 8 ? X86_CF : 0);
	case K_SAR:
		return X86_AF | (count != 1 ? X86_OF : 0);
	default:
		return 0;
	}
}

static bool host_cond(u64 f, unsigned cc)
{
	bool of = f & X86_OF, cf = f & X86_CF, zf = f & X86_ZF, sf = f & X86_SF, pf = f & X86_PF;
	bool r[8] = { of, cf, zf, cf || zf, sf, pf, sf != of, zf || sf != of };

	return r[cc >> 1] ^ (cc & 1);
}

static struct cpu *c;

/* Lazy record of the operation as a handler would leave it (contract in internal.h). */
static void record(enum kind k, unsigned size, u64 a, u64 b, u64 cf, u64 res)
{
	static const u32 lf[] = {
		[K_ADD] = LF_ADD,   [K_OR] = LF_LOGIC, [K_AND] = LF_LOGIC, [K_SUB] = LF_SUB,
		[K_XOR] = LF_LOGIC, [K_CMP] = LF_SUB,  [K_INC] = LF_INC,   [K_DEC] = LF_DEC,
		[K_NEG] = LF_NEG,   [K_SHL] = LF_SHL,  [K_SHR] = LF_SHR,   [K_SAR] = LF_SAR
	};
	u32 kind = lf[k];

	if (k == K_ADC)
		kind = cf ? LF_ADC : LF_ADD;
	if (k == K_SBB)
		kind = cf ? LF_SBB : LF_SUB;
	c->rflags = X86_FIXED1 | X86_IF | (~cf & 1 ? ARITH : 0); /* stale arithmetic bits */
	c->lf_src1 = a;
	c->lf_src2 = (k == K_INC || k == K_DEC) ? cf : b;
	c->lf_res = res;
	c->lf_op = LF(kind, size);
}

static unsigned fails_printed;

static void fail(const char *what, enum kind k, unsigned size, u64 a, u64 b, u64 cf, u64 want,
		 u64 got)
{
	check_failed++;
	if (fails_printed++ < 30)
		fprintf(stderr,
			"FAIL %s %s%u a=%#" PRIx64 " b=%#" PRIx64 " cf=%" PRIu64 " want %#" PRIx64
			" got %#" PRIx64 "\n",
			what, kind_name[k], size * 8, a, b, cf, want, got);
}

static void one_case(enum kind k, unsigned size)
{
	u64 a = operand(size), b = operand(size), cf = rnd() & 1, hf, res, mask, got;

	if (k >= K_SHL) {
		b = 1 + rnd() % (size == 8 ? 63 : 31);
		if (rnd() % 4 == 0)
			b = 1;
	}
	res = host(size, k, a, b, cf, &hf) & size_mask(size);
	if (k == K_CMP) /* CMP keeps the destination; its lazy record holds the difference */
		res = (a - b) & size_mask(size);
	mask = ARITH & ~undefined_flags(k, size, b);

	record(k, size, a, b, cf, res);
	for (unsigned cc = 0; cc < 16; cc++) {
		u64 ccmask = mask;
		/* A condition counts only if all flags it reads are defined. */
		static const u64 reads[8] = { X86_OF,	       X86_CF,
					      X86_ZF,	       X86_CF | X86_ZF,
					      X86_SF,	       X86_PF,
					      X86_SF | X86_OF, X86_ZF | X86_SF | X86_OF };

		if ((reads[cc >> 1] & ccmask) != reads[cc >> 1])
			continue;
		record(k, size, a, b, cf, res);
		if (flags_cond(c, cc) != host_cond(hf, cc))
			fail("cond", k, size, a, b, cf, cc, host_cond(hf, cc));
		else
			check_passed++;
	}
	record(k, size, a, b, cf, res);
	got = flags_get(c);
	if ((got & mask) != (hf & mask))
		fail("flags", k, size, a, b, cf, hf & mask, got & mask);
	else if (c->lf_op != LF_NONE || !(got & X86_IF) || !(got & X86_FIXED1))
		fail("state", k, size, a, b, cf, 0, got);
	else
		check_passed++;
}

/* The ALU handlers (register forms) against the host: result and flags. */
static void alu_case(enum kind k, unsigned size)
{
	static insn_fn const fns[] = { op_add_rm_r, op_or_rm_r,	 op_adc_rm_r, op_sbb_rm_r,
				       op_and_rm_r, op_sub_rm_r, op_xor_rm_r, op_cmp_rm_r };
	u64 a = operand(size), b = operand(size), cf = rnd() & 1, hf, res, mask, f;
	struct insn d = { .osz = size, .rm = R_RBX, .reg = R_RSI };

	res = host(size, k, a, b, cf, &hf) & size_mask(size);
	mask = ARITH & ~undefined_flags(k, size, 0);
	c->gpr[R_RBX] = a | (size < 4 ? 0xdead000000000000ull : 0);
	c->gpr[R_RSI] = b;
	flags_set(c, X86_IF | (cf ? X86_CF : 0));
	fns[k](c, &d);
	f = flags_get(c);
	if ((f & mask) != (hf & mask))
		fail("alu flags", k, size, a, b, cf, hf & mask, f & mask);
	else if (k == K_CMP ? c->gpr[R_RBX] != (a | (size < 4 ? 0xdead000000000000ull : 0))
			    : reg_read(c, R_RBX, size) != res)
		fail("alu result", k, size, a, b, cf, res, c->gpr[R_RBX]);
	else if (size < 4 && c->gpr[R_RBX] >> 48 != 0xdead)
		fail("alu merge", k, size, a, b, cf, 0xdead, c->gpr[R_RBX] >> 48);
	else if (size == 4 && c->gpr[R_RBX] >> 32)
		fail("alu zero-extend", k, size, a, b, cf, 0, c->gpr[R_RBX]);
	else
		check_passed++;
}

int main(void)
{
	static const unsigned sizes[] = { 1, 2, 4, 8 };

	c = calloc(1, sizeof(*c));
	if (!c)
		return 1;
	for (unsigned k = 0; k < K_NKINDS; k++)
		for (unsigned s = 0; s < ARRAY_SIZE(sizes); s++)
			for (unsigned i = 0; i < CASES; i++) {
				one_case(k, sizes[s]);
				if (k <= K_CMP)
					alu_case(k, sizes[s]);
			}
	/* flags_set keeps every bit given and forces the fixed bit 1. */
	flags_set(c, X86_DF | X86_CF | X86_OF);
	CHECK_EQ(flags_get(c), X86_DF | X86_CF | X86_OF | X86_FIXED1);
	CHECK(flags_cond(c, 0) && flags_cond(c, 2) && !flags_cond(c, 4));
	free(c);
	return check_done("flags");
}
