/* SPDX-License-Identifier: MIT */
/*
 * SSE through SSE4.2, AES-NI, PCLMULQDQ and CRC32 (docs/cpu.md, "SSE"): the register and memory
 * helpers every SSE handler uses, the host glue that floating-point handlers run on
 * (sse_host.c), and the handlers the SSE decoder (sse_decode.c) names.
 *
 * State: XMM0-15 and MXCSR live in c->fpu (x86.h struct x86_fpu, the FXSAVE/XSAVE layout).
 * Handlers follow the CPU's contract (internal.h): check and read everything, then write the
 * destination; a fault leaves every register as it was (SIMD floating-point exceptions also set
 * their MXCSR flags first, as the SDM says, vol. 1 11.5.3).
 */
#pragma once
#include "cpu/internal.h"

/* One XMM register; lanes are little-endian like the guest's memory image. */
typedef union xmm {
	u8 b[16];
	s8 sb[16];
	u16 w[8];
	s16 sw[8];
	u32 d[4];
	s32 sd[4];
	u64 q[2];
	s64 sq[2];
	float f[4];
	double fd[2];
} xmm_t;

/* MXCSR (SDM vol. 1 10.2.3): flags 5:0, DAZ 6, masks 12:7, RC 14:13, FTZ 15; 31:16 reserved. */
#define MXCSR_IE BIT(0)
#define MXCSR_DE BIT(1)
#define MXCSR_ZE BIT(2)
#define MXCSR_OE BIT(3)
#define MXCSR_UE BIT(4)
#define MXCSR_PE BIT(5)
#define MXCSR_FLAGS 0x3fu
#define MXCSR_DAZ BIT(6)
#define MXCSR_MASKS (0x3fu << 7)
#define MXCSR_RC_SHIFT 13
#define MXCSR_FTZ BIT(15)

/* --- Availability (SDM vol. 3A 2.5, 13.1; vol. 2 exception classes, 2.4) --- */

/* #UD with CR0.EM = 1 or CR4.OSFXSR = 0, else #NM (CR0.TS = 1). Never returns. */
noreturn void sse_unavailable(struct cpu *c);

/* Every SSE instruction checks CR0.EM, CR4.OSFXSR and CR0.TS before anything else. */
static always_inline void sse_check(struct cpu *c)
{
	if (unlikely((c->cr0 & (CR0_EM | CR0_TS)) || !(c->cr4 & CR4_OSFXSR)))
		sse_unavailable(c);
}

/* An unmasked SIMD floating-point exception: #XM with CR4.OSXMMEXCPT = 1, else #UD (SDM vol. 3A
   6.15 interrupt 19). The MXCSR flags are already set. */
noreturn void sse_simd_exception(struct cpu *c);

/* --- Registers --- */

static always_inline void xmm_get(const struct cpu *c, unsigned r, xmm_t *v)
{
	memcpy(v, c->fpu.xmm[r], 16);
}

static always_inline void xmm_put(struct cpu *c, unsigned r, const xmm_t *v)
{
	memcpy(c->fpu.xmm[r], v, 16);
}

/* A general register operand of SSE instructions: 64 bits with REX.W, else 32 (the 66 of the
   mandatory prefix is not an operand-size override here). */
static always_inline unsigned sse_gpr_size(const struct insn *d)
{
	return d->pfx & PFX_REXW ? 8 : 4;
}

/* --- Memory operands (sse.c) --- */

/*
 * `size` bytes (1, 2, 4, 8 or 16) at the ModRM memory operand. Operands of up to 8 bytes are
 * ordinary data accesses (alignment checking included). 16-byte operands: with `aligned` (the
 * MOVAPS rule of legacy SSE, SDM vol. 2 2.4 exception types 1 and 2) a linear address that is
 * not 16-byte aligned is #GP(0); otherwise any alignment, and never #AC (vol. 3A 6.15 interrupt
 * 17: alignment checking does not apply to these 128-bit accesses). A 16-byte access that
 * crosses a page translates both pages before touching either.
 */
void sse_read_mem(struct cpu *c, const struct insn *d, void *buf, unsigned size, bool aligned);
void sse_write_mem(struct cpu *c, const struct insn *d, const void *buf, unsigned size,
		   bool aligned);

/* The source operand: XMM[rm], or `size` bytes of memory in the low lanes with the rest 0. */
static always_inline void sse_src(struct cpu *c, const struct insn *d, xmm_t *v, unsigned size,
				  bool aligned)
{
	if (!d->mem) {
		xmm_get(c, d->rm, v);
		return;
	}
	if (size < 16)
		memset(v, 0, sizeof(*v));
	sse_read_mem(c, d, v, size, aligned);
}

/* 16-byte source operands of packed instructions: aligned (types 1 and 4 of legacy SSE). */
static always_inline void sse_src128(struct cpu *c, const struct insn *d, xmm_t *v)
{
	sse_src(c, d, v, 16, true);
}

/* --- Decoding (sse_decode.c) --- */

/*
 * The SSE decoder's part of maps 1 (0F), 2 (0F 38) and 3 (0F 3A), called by x86_decode() once
 * ModRM and the immediate are parsed. `mand` is the mandatory prefix (0 none, 1 66, 2 F3, 3 F2:
 * the last F2/F3 wins over 66, SDM vol. 2A 2.1.2). Returns true when the encoding is SSE's,
 * with *fn its handler or NULL for #UD; false leaves the instruction to the rest of the decoder
 * (integer opcodes, and the MMX forms without a prefix, which the x87/MMX decoder owns).
 */
bool sse_decode(struct insn *d, unsigned mand, unsigned code_bits, insn_fn *fn);
