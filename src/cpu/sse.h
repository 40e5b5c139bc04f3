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

/* --- SSSE3 (sse_int.c) --- */

/* The SSSE3 operations on the low n bytes (16 XMM, 8 MMX) of a and b into a; `opcode` as in
   struct insn: 0x200 | 00-0B, 1C-1E, or 0x30F (PALIGNR by `imm`). */
void sse_ssse3_op(unsigned opcode, xmm_t *a, const xmm_t *b, u8 imm, unsigned n);

/* --- Host floating point (sse_host.c) --- */

/*
 * A host stub runs one SIMD floating-point instruction on the host's own SSE unit with `mxcsr`
 * loaded (the guest's rounding, DAZ, FTZ and masks, flags clear): XMM0 = *a, XMM1 = *b, then
 * the instruction, then *a = XMM0 (or, for results in a general register or RFLAGS, the stub's
 * own convention). It returns the MXCSR the instruction left and restores the host's.
 */
typedef u32 (*sse_fp_fn)(xmm_t *a, const xmm_t *b, u32 mxcsr);

/*
 * Run stub `fn` for the guest: with every exception masked in the guest's MXCSR (the common
 * case) straight on the host; otherwise with the guest's masks, where an unmasked exception
 * traps on the host (SIGFPE) and is reported with the MXCSR the host left at the trap. The
 * guest's flags get the new ones; an unmasked exception then raises #XM or #UD with *a
 * unspecified (the caller does not commit it).
 */
void sse_fp_run(struct cpu *c, sse_fp_fn fn, xmm_t *a, const xmm_t *b);

/* Host instructions the guest's CPUID may advertise without the host having them; C fallbacks
   are used when these are false (sse_host_init() at CPU creation; tests may clear them). */
extern bool sse_host_has_aes, sse_host_has_pclmul, sse_host_has_crc32;
/* 0 when the host can run the soft CPU's SIMD floating point (it needs SSE4.1), else -ENOTSUP. */
int sse_host_init(void);

/* The host's AES round primitives (AES-NI) and carry-less multiply: only when sse_host_has_aes /
   sse_host_has_pclmul. */
void sse_host_aes_op(unsigned op, xmm_t *a, const xmm_t *b);
void sse_host_pclmul(xmm_t *a, const xmm_t *b, u8 imm);
u32 sse_host_crc32(u32 crc, u64 v, unsigned size);

/* The stubs, by instruction (sse_host.c). */
#define SSE_FP_STUBS(X)                                                                            \
	X(addps) X(addss) X(addpd) X(addsd) X(subps) X(subss) X(subpd) X(subsd)                    \
	X(mulps) X(mulss) X(mulpd) X(mulsd) X(divps) X(divss) X(divpd) X(divsd)                    \
	X(minps) X(minss) X(minpd) X(minsd) X(maxps) X(maxss) X(maxpd) X(maxsd)                    \
	X(sqrtps) X(sqrtss) X(sqrtpd) X(sqrtsd) X(rcpps) X(rcpss) X(rsqrtps) X(rsqrtss)            \
	X(cvtps2pd) X(cvtpd2ps) X(cvtss2sd) X(cvtsd2ss) X(cvtdq2ps) X(cvtps2dq) X(cvttps2dq)       \
	X(cvtdq2pd) X(cvtpd2dq) X(cvttpd2dq)                                                       \
	X(addsubps) X(addsubpd) X(haddps) X(haddpd) X(hsubps) X(hsubpd)                            \
	/* MMX source in b->q[0] (CVTPI2Px) or result in a->q[0], through the host's MM0 */        \
	X(cvtpi2ps) X(cvtpi2pd) X(cvtps2pi) X(cvttps2pi) X(cvtpd2pi) X(cvttpd2pi)                  \
	/* general-register source in b->q[0] */                                                   \
	X(cvtsi2ss_l) X(cvtsi2ss_q) X(cvtsi2sd_l) X(cvtsi2sd_q)                                    \
	/* general-register result in a->q[0] */                                                   \
	X(cvtss2si_l) X(cvtss2si_q) X(cvttss2si_l) X(cvttss2si_q)                                  \
	X(cvtsd2si_l) X(cvtsd2si_q) X(cvttsd2si_l) X(cvttsd2si_q)                                  \
	/* RFLAGS result: a->b[0] = CF, a->b[1] = ZF, a->b[2] = PF */                              \
	X(comiss) X(ucomiss) X(comisd) X(ucomisd)

#define X(name) u32 sse_host_##name(xmm_t *a, const xmm_t *b, u32 mxcsr);
SSE_FP_STUBS(X)
#undef X
/* By immediate: CMPccPS/PD/SS/SD imm8[2:0], ROUNDxx imm8[3:0], DPPS imm8[7:4] with imm8[3:0] = 0xf,
   DPPD imm8[5:4] with imm8[1:0] = 3. */
extern const sse_fp_fn sse_host_cmpps[8], sse_host_cmppd[8], sse_host_cmpss[8], sse_host_cmpsd[8];
extern const sse_fp_fn sse_host_roundps[16], sse_host_roundpd[16], sse_host_roundss[16],
	sse_host_roundsd[16];
extern const sse_fp_fn sse_host_dpps[16], sse_host_dppd[4];

/* --- Decoding (sse_decode.c) --- */

/*
 * The SSE decoder's part of maps 1 (0F), 2 (0F 38) and 3 (0F 3A), called by x86_decode() once
 * ModRM and the immediate are parsed. `mand` is the mandatory prefix (0 none, 1 66, 2 F3, 3 F2:
 * the last F2/F3 wins over 66, SDM vol. 2A 2.1.2). Returns true when the encoding is SSE's,
 * with *fn its handler or NULL for #UD; false leaves the instruction to the rest of the decoder
 * (integer opcodes, and the MMX forms without a prefix, which the x87/MMX decoder owns).
 */
bool sse_decode(struct insn *d, unsigned mand, unsigned code_bits, insn_fn *fn);
