// SPDX-License-Identifier: MIT
/*
 * Host glue for the soft CPU's SIMD floating point, AES-NI, PCLMULQDQ and CRC32.
 *
 * Why run on the host: tollbooth runs only on x86-64 hosts, whose SSE unit implements exactly
 * the IEEE 754 arithmetic, NaN rules, DAZ/FTZ and exception flags the SDM specifies for the
 * guest's SSE instructions (SDM vol. 1 4.8, 11.5). Each guest floating-point instruction runs as
 * the same host instruction under the guest's MXCSR, so results and flags are the hardware's by
 * construction, where a C model would re-derive every corner (tininess, denormal flags with DAZ,
 * the integer indefinite of conversions, the flags left by an unmasked overflow). This file is
 * the only place that knows the host's MXCSR, its signals and its CPUID.
 *
 * Unmasked exceptions: when the guest unmasks any SIMD exception, the instruction runs with the
 * guest's masks, so an exception the guest would take traps on the host (#XM, delivered by Linux
 * as SIGFPE to this thread). The handler records the MXCSR of the trap from the signal frame and
 * jumps back; the flags are then exactly those the hardware sets for an unmasked pre- or
 * post-computation exception (SDM vol. 1 11.5.3), with the destination untouched.
 *
 * The approximations RCPPS/RCPSS/RSQRTPS/RSQRTSS return are implementation-specific (the SDM
 * bounds only their error, |relative error| <= 1.5 * 2^-12): the guest sees the host's.
 *
 * AES-NI, PCLMULQDQ and CRC32 use the host instruction when the host has it; sse_crypto.c has
 * the C versions for hosts without, so CPUID advertises them whatever the host. PCMPxSTRx and
 * AESKEYGENASSIST take an immediate that would need 256 host stubs each: they are C only
 * (sse_int.c, sse_crypto.c), checked against the host by tests/unit/test_sse_host.c.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <ucontext.h>
#include <wmmintrin.h>
#include <nmmintrin.h>

#include "cpu/sse.h"

bool sse_host_has_aes, sse_host_has_pclmul, sse_host_has_crc32;

int sse_host_init(void)
{
	__builtin_cpu_init();
	sse_host_has_aes = __builtin_cpu_supports("aes");
	sse_host_has_pclmul = __builtin_cpu_supports("pclmul");
	sse_host_has_crc32 = __builtin_cpu_supports("sse4.2");
	/* ADDSUBPS..HSUBPD (SSE3) and ROUNDxx, DPPS, DPPD (SSE4.1) run as host instructions. */
	return __builtin_cpu_supports("sse4.1") ? 0 : -ENOTSUP;
}

/* --- Stubs: one host instruction between the guest's MXCSR and the host's --- */

/* XMM0 = *a, XMM1 = *b; `insn`; *a = XMM0; then `after` (EMMS for the MMX forms, below). */
#define STUB_AFTER(cls, name, insn, after)                                                         \
	cls u32 sse_host_##name(xmm_t *a, const xmm_t *b, u32 m)                                   \
	{                                                                                          \
		u32 save, out;                                                                     \
		asm volatile("stmxcsr %[save]\n\t"                                                 \
			     "ldmxcsr %[m]\n\t"                                                    \
			     "movdqu %[a], %%xmm0\n\t"                                             \
			     "movdqu %[b], %%xmm1\n\t" insn "\n\t"                                 \
			     "movdqu %%xmm0, %[a]\n\t" after                                       \
			     "stmxcsr %[out]\n\t"                                                  \
			     "ldmxcsr %[save]"                                                     \
			     : [a] "+m"(*a), [save] "=m"(save), [out] "=m"(out)                    \
			     : [b] "m"(*b), [m] "m"(m)                                             \
			     : "xmm0", "xmm1", "mm0");                                             \
		return out;                                                                        \
	}

#define STUB_(cls, name, insn) STUB_AFTER(cls, name, insn, "")
#define STUB(name, insn) STUB_(, name, insn)

/* Result in a general register: a->q[0] (32-bit forms zero-extended). */
#define STUB_GPR(name, insn)                                                                       \
	u32 sse_host_##name(xmm_t *a, const xmm_t *b, u32 m)                                       \
	{                                                                                          \
		u32 save, out;                                                                     \
		u64 r = 0;                                                                         \
		asm volatile("stmxcsr %[save]\n\t"                                                 \
			     "ldmxcsr %[m]\n\t"                                                    \
			     "movdqu %[b], %%xmm1\n\t" insn "\n\t"                                 \
			     "stmxcsr %[out]\n\t"                                                  \
			     "ldmxcsr %[save]"                                                     \
			     : "+a"(r), [save] "=m"(save), [out] "=m"(out)                         \
			     : [b] "m"(*b), [m] "m"(m)                                             \
			     : "xmm1");                                                            \
		a->q[0] = r;                                                                       \
		return out;                                                                        \
	}

/*
 * Through the host's MM0: CVTPI2Px from b->q[0] (MOVDQ2Q puts it in MM0), the conversions to MMX
 * into a->q[0] (MOVQ2DQ takes it out). EMMS leaves the host's x87 as the ABI wants it, every
 * register empty; a trap skips it, but the signal handler starts from, and leaves, the initial
 * FPU state (run_trapped). The host's x87 has no exception pending (fpu_host.c), so these MMX
 * instructions never take #MF.
 */
#define STUB_MMX(name, insn) STUB_AFTER(, name, insn, "emms\n\t")

/* RFLAGS result of (U)COMISS/SD: a->b[0] = CF, a->b[1] = ZF, a->b[2] = PF. */
#define STUB_FLAGS(name, insn)                                                                     \
	u32 sse_host_##name(xmm_t *a, const xmm_t *b, u32 m)                                       \
	{                                                                                          \
		u32 save, out;                                                                     \
		u8 cf, zf, pf;                                                                     \
		asm volatile("stmxcsr %[save]\n\t"                                                 \
			     "ldmxcsr %[m]\n\t"                                                    \
			     "movdqu %[a], %%xmm0\n\t"                                             \
			     "movdqu %[b], %%xmm1\n\t" insn " %%xmm1, %%xmm0\n\t"                  \
			     "setc %[cf]\n\t"                                                      \
			     "setz %[zf]\n\t"                                                      \
			     "setp %[pf]\n\t"                                                      \
			     "stmxcsr %[out]\n\t"                                                  \
			     "ldmxcsr %[save]"                                                     \
			     : [save] "=m"(save), [out] "=m"(out), [cf] "=qm"(cf), [zf] "=qm"(zf), \
			       [pf] "=qm"(pf)                                                      \
			     : [a] "m"(*a), [b] "m"(*b), [m] "m"(m)                                \
			     : "xmm0", "xmm1", "cc");                                              \
		a->b[0] = cf;                                                                      \
		a->b[1] = zf;                                                                      \
		a->b[2] = pf;                                                                      \
		return out;                                                                        \
	}

#define OP2(name) STUB(name, #name " %%xmm1, %%xmm0")
OP2(addps) OP2(addss) OP2(addpd) OP2(addsd) OP2(subps) OP2(subss) OP2(subpd) OP2(subsd)
OP2(mulps) OP2(mulss) OP2(mulpd) OP2(mulsd) OP2(divps) OP2(divss) OP2(divpd) OP2(divsd)
OP2(minps) OP2(minss) OP2(minpd) OP2(minsd) OP2(maxps) OP2(maxss) OP2(maxpd) OP2(maxsd)
OP2(sqrtps) OP2(sqrtss) OP2(sqrtpd) OP2(sqrtsd) OP2(rcpps) OP2(rcpss) OP2(rsqrtps)
OP2(rsqrtss) OP2(cvtps2pd) OP2(cvtpd2ps) OP2(cvtss2sd) OP2(cvtsd2ss) OP2(cvtdq2ps)
OP2(cvtps2dq) OP2(cvttps2dq) OP2(cvtdq2pd) OP2(cvtpd2dq) OP2(cvttpd2dq)
OP2(addsubps) OP2(addsubpd) OP2(haddps) OP2(haddpd) OP2(hsubps) OP2(hsubpd)
STUB_MMX(cvtpi2ps, "movdq2q %%xmm1, %%mm0\n\tcvtpi2ps %%mm0, %%xmm0")
STUB_MMX(cvtpi2pd, "movdq2q %%xmm1, %%mm0\n\tcvtpi2pd %%mm0, %%xmm0")
STUB_MMX(cvtps2pi, "cvtps2pi %%xmm1, %%mm0\n\tmovq2dq %%mm0, %%xmm0")
STUB_MMX(cvttps2pi, "cvttps2pi %%xmm1, %%mm0\n\tmovq2dq %%mm0, %%xmm0")
STUB_MMX(cvtpd2pi, "cvtpd2pi %%xmm1, %%mm0\n\tmovq2dq %%mm0, %%xmm0")
STUB_MMX(cvttpd2pi, "cvttpd2pi %%xmm1, %%mm0\n\tmovq2dq %%mm0, %%xmm0")
STUB(cvtsi2ss_l, "cvtsi2ssl %[b], %%xmm0")
STUB(cvtsi2ss_q, "cvtsi2ssq %[b], %%xmm0")
STUB(cvtsi2sd_l, "cvtsi2sdl %[b], %%xmm0")
STUB(cvtsi2sd_q, "cvtsi2sdq %[b], %%xmm0")
STUB_GPR(cvtss2si_l, "cvtss2si %%xmm1, %%eax")
STUB_GPR(cvtss2si_q, "cvtss2si %%xmm1, %%rax")
STUB_GPR(cvttss2si_l, "cvttss2si %%xmm1, %%eax")
STUB_GPR(cvttss2si_q, "cvttss2si %%xmm1, %%rax")
STUB_GPR(cvtsd2si_l, "cvtsd2si %%xmm1, %%eax")
STUB_GPR(cvtsd2si_q, "cvtsd2si %%xmm1, %%rax")
STUB_GPR(cvttsd2si_l, "cvttsd2si %%xmm1, %%eax")
STUB_GPR(cvttsd2si_q, "cvttsd2si %%xmm1, %%rax")
STUB_FLAGS(comiss, "comiss")
STUB_FLAGS(ucomiss, "ucomiss")
STUB_FLAGS(comisd, "comisd")
STUB_FLAGS(ucomisd, "ucomisd")

/* By immediate. */
#define IMM8(X, p) X(p, 0) X(p, 1) X(p, 2) X(p, 3) X(p, 4) X(p, 5) X(p, 6) X(p, 7)
#define IMM16(X, p)                                                                                \
	IMM8(X, p) X(p, 8) X(p, 9) X(p, 10) X(p, 11) X(p, 12) X(p, 13) X(p, 14) X(p, 15)
#define IMM4(X, p) X(p, 0) X(p, 1) X(p, 2) X(p, 3)

#define CMP_STUB(op, i) STUB_(static, op##_##i, #op " $" #i ", %%xmm1, %%xmm0")
#define CMP_REF(op, i) sse_host_##op##_##i,
IMM8(CMP_STUB, cmpps) IMM8(CMP_STUB, cmppd) IMM8(CMP_STUB, cmpss) IMM8(CMP_STUB, cmpsd)
IMM16(CMP_STUB, roundps) IMM16(CMP_STUB, roundpd) IMM16(CMP_STUB, roundss)
IMM16(CMP_STUB, roundsd)
const sse_fp_fn sse_host_cmpps[8] = { IMM8(CMP_REF, cmpps) };
const sse_fp_fn sse_host_cmppd[8] = { IMM8(CMP_REF, cmppd) };
const sse_fp_fn sse_host_cmpss[8] = { IMM8(CMP_REF, cmpss) };
const sse_fp_fn sse_host_cmpsd[8] = { IMM8(CMP_REF, cmpsd) };
const sse_fp_fn sse_host_roundps[16] = { IMM16(CMP_REF, roundps) };
const sse_fp_fn sse_host_roundpd[16] = { IMM16(CMP_REF, roundpd) };
const sse_fp_fn sse_host_roundss[16] = { IMM16(CMP_REF, roundss) };
const sse_fp_fn sse_host_roundsd[16] = { IMM16(CMP_REF, roundsd) };

/* DPPS with imm8[7:4] = i and every destination element; DPPD likewise with imm8[5:4]. */
#define DPPS_STUB(op, i) STUB_(static, dpps_##i, "dpps $(" #i " * 16 + 15), %%xmm1, %%xmm0")
#define DPPD_STUB(op, i) STUB_(static, dppd_##i, "dppd $(" #i " * 16 + 3), %%xmm1, %%xmm0")
#define DP_REF(op, i) sse_host_##op##_##i,
IMM16(DPPS_STUB, dpps) IMM4(DPPD_STUB, dppd)
const sse_fp_fn sse_host_dpps[16] = { IMM16(DP_REF, dpps) };
const sse_fp_fn sse_host_dppd[4] = { IMM4(DP_REF, dppd) };

/* --- Unmasked exceptions: the host's #XM, caught as SIGFPE --- */

static __thread sigjmp_buf *trap_env;
static __thread u32 trap_mxcsr;
static struct sigaction trap_prev;

/*
 * Ours only while trap_env is set on this thread (inside run_trapped's stub); any other SIGFPE
 * goes to the handler that was there before, or gets the default action.
 */
static void trap_handler(int sig, siginfo_t *si, void *ctx)
{
	ucontext_t *uc = ctx;

	if (trap_env) {
		trap_mxcsr = uc->uc_mcontext.fpregs->mxcsr;
		siglongjmp(*trap_env, 1);
	}
	if (trap_prev.sa_flags & SA_SIGINFO) {
		trap_prev.sa_sigaction(sig, si, ctx);
	} else if (trap_prev.sa_handler != SIG_DFL && trap_prev.sa_handler != SIG_IGN) {
		trap_prev.sa_handler(sig);
	} else {
		/* Returning re-runs the faulting instruction, which now gets the default action. */
		signal(SIGFPE, SIG_DFL);
	}
}

static void trap_install(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = trap_handler;
	/* SA_NODEFER: leaving the handler by siglongjmp keeps SIGFPE unblocked without saving and
	   restoring the signal mask around every stub. */
	sa.sa_flags = SA_SIGINFO | SA_NODEFER;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGFPE, &sa, &trap_prev);
}

/* The stub with exceptions unmasked as the guest has them: true and the MXCSR of the trap when
   one was taken. */
static bool run_trapped(sse_fp_fn fn, xmm_t *a, const xmm_t *b, u32 m, u32 *out)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	sigjmp_buf env;
	u32 host;

	pthread_once(&once, trap_install);
	asm volatile("stmxcsr %0" : "=m"(host));
	if (sigsetjmp(env, 0)) {
		trap_env = NULL;
		/* Linux starts a signal handler with the initial FPU state; the stub's own restore
		   of the host's MXCSR never ran. */
		asm volatile("ldmxcsr %0" : : "m"(host));
		*out = trap_mxcsr;
		return true;
	}
	trap_env = &env;
	*out = fn(a, b, m);
	trap_env = NULL;
	return false;
}

void sse_fp_run(struct cpu *c, sse_fp_fn fn, xmm_t *a, const xmm_t *b)
{
	u32 m = c->fpu.mxcsr, out;

	if (likely((m & MXCSR_MASKS) == MXCSR_MASKS)) {
		out = fn(a, b, m & ~MXCSR_FLAGS);
	} else if (run_trapped(fn, a, b, m & ~MXCSR_FLAGS, &out)) {
		c->fpu.mxcsr = m | (out & MXCSR_FLAGS);
		sse_simd_exception(c);
	}
	c->fpu.mxcsr = m | (out & MXCSR_FLAGS);
}

/* --- AES-NI, PCLMULQDQ, CRC32 --- */

/* op: 0 AESENC, 1 AESENCLAST, 2 AESDEC, 3 AESDECLAST, 4 AESIMC (of *b). */
__attribute__((target("aes,sse2"))) void sse_host_aes_op(unsigned op, xmm_t *a, const xmm_t *b)
{
	__m128i x = _mm_loadu_si128((const __m128i *)a), k = _mm_loadu_si128((const __m128i *)b);

	switch (op) {
	case 0:
		x = _mm_aesenc_si128(x, k);
		break;
	case 1:
		x = _mm_aesenclast_si128(x, k);
		break;
	case 2:
		x = _mm_aesdec_si128(x, k);
		break;
	case 3:
		x = _mm_aesdeclast_si128(x, k);
		break;
	default:
		x = _mm_aesimc_si128(k);
		break;
	}
	_mm_storeu_si128((__m128i *)a, x);
}

__attribute__((target("pclmul,sse2"))) void sse_host_pclmul(xmm_t *a, const xmm_t *b, u8 imm)
{
	__m128i x = _mm_loadu_si128((const __m128i *)a), y = _mm_loadu_si128((const __m128i *)b);

	switch (imm & 0x11) {
	case 0x00:
		x = _mm_clmulepi64_si128(x, y, 0x00);
		break;
	case 0x01:
		x = _mm_clmulepi64_si128(x, y, 0x01);
		break;
	case 0x10:
		x = _mm_clmulepi64_si128(x, y, 0x10);
		break;
	default:
		x = _mm_clmulepi64_si128(x, y, 0x11);
		break;
	}
	_mm_storeu_si128((__m128i *)a, x);
}

__attribute__((target("sse4.2"))) u32 sse_host_crc32(u32 crc, u64 v, unsigned size)
{
	switch (size) {
	case 1:
		return _mm_crc32_u8(crc, (u8)v);
	case 2:
		return _mm_crc32_u16(crc, (u16)v);
	case 4:
		return _mm_crc32_u32(crc, (u32)v);
	default:
		return (u32)_mm_crc32_u64(crc, v);
	}
}
