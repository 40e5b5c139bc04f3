/* SPDX-License-Identifier: MIT */
/*
 * The differential tester's block generator (docs/difftest.md), freestanding: it is compiled into
 * the difftest guest (guests/diff/difftest.c, soft against KVM) and into the host oracle program
 * (tests/diff/hostdiff.c, soft against the CPU that runs tollbooth). Same seed, block index and
 * configuration: same bytes, same input state, on every build.
 *
 * A block is random ring-3 integer code: 8-32 instructions from the classes in gen.c plus the
 * set-up instructions they need, all counted, then a JMP to cfg->exit_addr (not counted). The
 * generator records where each instruction starts and which arithmetic flags the SDM leaves
 * undefined before it, so a comparison can mask exactly those.
 */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The project's names (identical to guests/lib/lib.h and src/common.h; C11 allows repeating). */
typedef uint8_t u8;
typedef uint16_t u16;
typedef uint32_t u32;
typedef uint64_t u64;
typedef int8_t s8;
typedef int16_t s16;
typedef int32_t s32;
typedef int64_t s64;

/* Arithmetic flags as RFLAGS bits (SDM vol. 1 3.4.3.1). */
#define GEN_CF 0x001
#define GEN_PF 0x004
#define GEN_AF 0x010
#define GEN_ZF 0x040
#define GEN_SF 0x080
#define GEN_OF 0x800
#define GEN_ARITH (GEN_CF | GEN_PF | GEN_AF | GEN_ZF | GEN_SF | GEN_OF)

/*
 * What the generator may use beyond the base integer set. Optional instructions follow CPUID
 * (both sides must have them); the rest depend on the environment that runs the block.
 */
#define BIT32(n) (1u << (n))
#define GEN_POPCNT BIT32(0)   /* POPCNT (CPUID.1:ECX.POPCNT) */
#define GEN_LZCNT BIT32(1)    /* LZCNT (CPUID.80000001H:ECX.ABM) */
#define GEN_BMI1 BIT32(2)     /* TZCNT ANDN BEXTR BLSI BLSMSK BLSR (CPUID.7:EBX.BMI1) */
#define GEN_LAHF BIT32(3)     /* LAHF/SAHF in 64-bit mode (CPUID.80000001H:ECX.LAHF_LM) */
#define GEN_MOVBE BIT32(4)    /* MOVBE (CPUID.1:ECX.MOVBE) */
#define GEN_CX16 BIT32(5)     /* CMPXCHG16B (CPUID.1:ECX.CX16) */
#define GEN_NONCANON BIT32(6) /* non-canonical addresses: #GP(0), #SS(0) */
#define GEN_AC BIT32(7)       /* RFLAGS.AC set at times (CR0.AM = 1: #AC on misaligned data) */
#define GEN_TF BIT32(8)       /* POPF/IRET set RFLAGS.TF at times (single-step #DB) */
#define GEN_FAULTS BIT32(9)   /* what faults at CPL 3: privileged (#GP), INT n, INT3, INT1, #UD */
#define GEN_SEG BIT32(10)     /* MOV to/from Sreg, PUSH FS/GS, LAR LSL VERR VERW (cfg->sels) */
#define GEN_GS BIT32(11)      /* GS-override memory operands (GS base = cfg->gs_base) */
#define GEN_FAR BIT32(12)     /* IRETQ, far RET, far JMP/CALL through memory (cfg->sel_code) */
#define GEN_SYSREAD BIT32(13) /* SMSW, STR, SLDT: CPL 3 may read them (CR4.UMIP = 0) */
#define GEN_AMD BIT32(14)     /* the oracle is AMD: leave out what AMD defines otherwise */

struct gen_config {
	u64 code_addr; /* linear address the block runs at (the buffer holds its bytes) */
	u64 data_addr; /* the 4 KiB data page every memory operand lands in; below 2 GiB */
	u64 exit_addr; /* the closing JMP's target, within 2 GiB of code_addr */
	/* Addresses where nothing is mapped: wild_base + (random & wild_mask), canonical. */
	u64 wild_base, wild_mask;
	u64 gs_base;	/* GEN_GS: GS.base; data_addr - gs_base < 2 GiB */
	u16 sel_code;	/* GEN_FAR, GEN_SEG: the CPL-3 64-bit code selector */
	u16 sel_stack;	/* the CPL-3 stack selector (SS) */
	const u16 *sels; /* GEN_SEG: selectors worth trying (with random RPLs), nsels of them */
	unsigned nsels;
	u16 lsl_avoid; /* GEN_SEG: a selector index whose limit differs run to run (0: none) */
	u32 int_ok[8]; /* GEN_FAULTS: bit n set if INT n may be generated (never 0x80) */
	u32 features;  /* GEN_* */
};

#define GEN_MAX_INSNS 400
#define GEN_CODE_SIZE 4096 /* the buffer and the page the block runs in */

/* Registers in the ModRM numbering: RAX RCX RDX RBX RSP RBP RSI RDI R8-R15. */
struct gen_state {
	u64 r[16];
	u64 rflags;
};

struct gen {
	const struct gen_config *cfg;
	u64 rng;
	u8 *buf, *p;
	int n;			  /* instructions emitted */
	u16 off[GEN_MAX_INSNS + 1];   /* start offset of each instruction; off[n] = end */
	u16 undef[GEN_MAX_INSNS + 1]; /* arithmetic flags undefined before instruction i */
	u16 cur_undef;
	int depth;    /* bytes pushed so far (negative: popped) */
	bool hi8;     /* this instruction uses AH..BH: no REX at all */
	bool nested;  /* inside a branch's skipped part: no control flow, no stack depth change */
	u16 keep;     /* registers the current instruction must not write (besides RSP) */
};

/* Block `index` of `seed` into buf (GEN_CODE_SIZE bytes): the same bytes for the same inputs. */
void gen_block(struct gen *g, const struct gen_config *cfg, u8 *buf, u64 seed, u32 index);
/* The block's input, after gen_block(): registers, RFLAGS and the data page's 4096 bytes. */
void gen_input(struct gen *g, struct gen_state *in, u8 *data);
/* Arithmetic flags undefined at an exit at buffer offset `off` (all of them if `off` is no
   instruction boundary; the state at the end if it is past the block). */
u16 gen_undef_at(const struct gen *g, u64 off);
