/* SPDX-License-Identifier: MIT */
/*
 * ALU and shift operations as inline asm, shared by the host generators (which run them on the
 * build machine's CPU to produce the expected results) and the guests (which run them on the
 * CPU under test).  Each call sets RFLAGS to `fin`, executes one instruction, and returns the
 * result and RFLAGS.  Only flags the SDM defines for the instruction are compared
 * (alu_defined, shift_defined: SDM vol. 2 "Flags Affected" of each instruction).
 */
#pragma once
#include <stdint.h>

enum alu_op { ALU_ADD, ALU_ADC, ALU_SUB, ALU_SBB, ALU_AND, ALU_OR, ALU_XOR, ALU_CMP, ALU_TEST,
	      ALU_INC, ALU_DEC, ALU_NEG, ALU_NOT, ALU_NOPS };
static const char *const alu_names[] = { "add", "adc", "sub", "sbb", "and", "or", "xor", "cmp",
					 "test", "inc", "dec", "neg", "not" };
enum shift_op { SH_ROL, SH_ROR, SH_RCL, SH_RCR, SH_SHL, SH_SHR, SH_SAR, SH_SHLD, SH_SHRD,
		SH_NOPS };
static const char *const shift_names[] = { "rol", "ror", "rcl", "rcr", "shl", "shr", "sar",
					   "shld", "shrd" };

#define FL_CF 0x001
#define FL_PF 0x004
#define FL_AF 0x010
#define FL_ZF 0x040
#define FL_SF 0x080
#define FL_OF 0x800
#define FL_ARITH 0x8d5

static const uint64_t alu_values[] = {
	0, 1, 2, 0x7f, 0x80, 0xff, 0x7fff, 0x8000, 0xffff, 0x7fffffff, 0x80000000, 0xffffffff,
	0x7fffffffffffffffull, 0x8000000000000000ull, 0xffffffffffffffffull, 0x123456789abcdef0ull,
	0xfedcba9876543210ull, 0x00000000deadbeefull,
};
#define N_ALU_VALUES (sizeof(alu_values) / sizeof(alu_values[0]))
static const uint64_t flags_in[] = { 0x002, 0x002 | FL_ARITH };
static const int sizes[] = { 8, 16, 32, 64 };
static const uint8_t shift_counts[] = { 0, 1, 2, 3, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 64, 255 };
#define N_SHIFT_COUNTS (sizeof(shift_counts) / sizeof(shift_counts[0]))

struct alu_expect {
	uint64_t res;
	uint16_t flags;
};

/* Flags with an architecturally defined value after op (others: "undefined"). */
static inline uint64_t alu_defined(int op)
{
	switch (op) {
	case ALU_AND: case ALU_OR: case ALU_XOR: case ALU_TEST:
		return FL_ARITH & ~FL_AF;
	default:
		return FL_ARITH; /* INC/DEC leave CF alone: it is defined (= input) */
	}
}

#define ALU2(insn, mod, cons)                                                                \
	asm volatile("push %[fin]; popf; " insn " %" mod "[b], %" mod "[a]; pushf; pop %[fo]"   \
		     : [a] "+" cons(a), [fo] "=&r"(fo) : [b] cons(b), [fin] "r"(fin) : "cc")
#define ALU1(insn, mod, cons)                                                                \
	asm volatile("push %[fin]; popf; " insn " %" mod "[a]; pushf; pop %[fo]"                \
		     : [a] "+" cons(a), [fo] "=&r"(fo) : [fin] "r"(fin) : "cc")
#define ALU_SIZES(K, insn)                                                                   \
	switch (size) {                                                                      \
	case 8: K(insn "b", "b", "q"); break;                                                \
	case 16: K(insn "w", "w", "r"); break;                                               \
	case 32: K(insn "l", "k", "r"); break;                                               \
	default: K(insn "q", "q", "r"); break;                                               \
	}

static inline uint64_t alu_exec(int op, int size, uint64_t a, uint64_t b, uint64_t fin,
				uint64_t *flags)
{
	uint64_t fo;
	uint64_t mask = size == 64 ? ~0ull : (1ull << size) - 1;

	switch (op) {
	case ALU_ADD: ALU_SIZES(ALU2, "add"); break;
	case ALU_ADC: ALU_SIZES(ALU2, "adc"); break;
	case ALU_SUB: ALU_SIZES(ALU2, "sub"); break;
	case ALU_SBB: ALU_SIZES(ALU2, "sbb"); break;
	case ALU_AND: ALU_SIZES(ALU2, "and"); break;
	case ALU_OR: ALU_SIZES(ALU2, "or"); break;
	case ALU_XOR: ALU_SIZES(ALU2, "xor"); break;
	case ALU_CMP: ALU_SIZES(ALU2, "cmp"); break;
	case ALU_TEST: ALU_SIZES(ALU2, "test"); break;
	case ALU_INC: ALU_SIZES(ALU1, "inc"); break;
	case ALU_DEC: ALU_SIZES(ALU1, "dec"); break;
	case ALU_NEG: ALU_SIZES(ALU1, "neg"); break;
	case ALU_NOT: ALU_SIZES(ALU1, "not"); break;
	}
	*flags = fo;
	return a & mask;
}

/* Shift/rotate defined flags and whether the result is defined (SDM 2B SAL/SAR/SHL/SHR,
   RCL/RCR/ROL/ROR, SHLD, SHRD). count is CL as given; the CPU masks it. */
static inline uint64_t shift_defined(int op, int size, unsigned count, int *res_defined)
{
	unsigned c = count & (size == 64 ? 63 : 31);

	*res_defined = 1;
	if (c == 0)
		return FL_ARITH;
	switch (op) {
	case SH_ROL: case SH_ROR: case SH_RCL: case SH_RCR:
		return (FL_ARITH & ~FL_OF) | (c == 1 ? FL_OF : 0);
	case SH_SHL: case SH_SHR: case SH_SAR:
		return FL_SF | FL_ZF | FL_PF | (c < (unsigned)size ? FL_CF : 0) | (c == 1 ? FL_OF : 0);
	default: /* SHLD, SHRD */
		if (c > (unsigned)size) {
			*res_defined = 0;
			return 0;
		}
		return FL_SF | FL_ZF | FL_PF | FL_CF | (c == 1 ? FL_OF : 0);
	}
}

#define SH1(insn, mod, cons)                                                                 \
	asm volatile("push %[fin]; popf; " insn " %%cl, %" mod "[a]; pushf; pop %[fo]"          \
		     : [a] "+" cons(a), [fo] "=&r"(fo) : "c"(cl), [fin] "r"(fin) : "cc")
#define SH2(insn, mod, cons)                                                                 \
	asm volatile("push %[fin]; popf; " insn " %%cl, %" mod "[b], %" mod "[a]; pushf; pop %[fo]" \
		     : [a] "+" cons(a), [fo] "=&r"(fo) : [b] cons(b), "c"(cl), [fin] "r"(fin) : "cc")

static inline uint64_t shift_exec(int op, int size, uint64_t a, uint64_t b, uint8_t cl,
				  uint64_t fin, uint64_t *flags)
{
	uint64_t fo = 0;
	uint64_t mask = size == 64 ? ~0ull : (1ull << size) - 1;

	switch (op) {
	case SH_ROL: ALU_SIZES(SH1, "rol"); break;
	case SH_ROR: ALU_SIZES(SH1, "ror"); break;
	case SH_RCL: ALU_SIZES(SH1, "rcl"); break;
	case SH_RCR: ALU_SIZES(SH1, "rcr"); break;
	case SH_SHL: ALU_SIZES(SH1, "shl"); break;
	case SH_SHR: ALU_SIZES(SH1, "shr"); break;
	case SH_SAR: ALU_SIZES(SH1, "sar"); break;
	case SH_SHLD:
		switch (size) {
		case 16: SH2("shldw", "w", "r"); break;
		case 32: SH2("shldl", "k", "r"); break;
		default: SH2("shldq", "q", "r"); break;
		}
		break;
	case SH_SHRD:
		switch (size) {
		case 16: SH2("shrdw", "w", "r"); break;
		case 32: SH2("shrdl", "k", "r"); break;
		default: SH2("shrdq", "q", "r"); break;
		}
		break;
	}
	*flags = fo;
	return a & mask;
}

/* Enumeration shared by generator and guest: the table is indexed in this order. */
#define FOR_EACH_ALU_CASE(op, si, fi, ai, bi)                                            \
	for (op = 0; op < ALU_NOPS; op++)                                                   \
		for (si = 0; si < 4; si++)                                                  \
			for (fi = 0; fi < 2; fi++)                                          \
				for (ai = 0; ai < (int)N_ALU_VALUES; ai++)                  \
					for (bi = 0; bi < (op >= ALU_INC ? 1 : (int)N_ALU_VALUES); bi++)
#define SHIFT_B 0xa5c3f00f0ff01234ull
#define FOR_EACH_SHIFT_CASE(op, si, fi, ai, ci)                                          \
	for (op = 0; op < SH_NOPS; op++)                                                    \
		for (si = (op >= SH_SHLD ? 1 : 0); si < 4; si++)                            \
			for (fi = 0; fi < 2; fi++)                                          \
				for (ai = 0; ai < (int)N_ALU_VALUES; ai++)                  \
					for (ci = 0; ci < (int)N_SHIFT_COUNTS; ci++)
