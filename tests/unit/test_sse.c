// SPDX-License-Identifier: MIT
/*
 * The soft CPU's SSE against the SDM's own words (test_sse_host.c compares against the host):
 * availability (#UD with CR0.EM or CR4.OSFXSR = 0, #NM with CR0.TS, LOCK #UD), alignment (#GP(0)
 * for the aligned forms, none for MOVUPS/MOVDQU/LDDQU and scalar operands, page-crossing
 * accesses), the mandatory-prefix rules of the decoder, MXCSR (LDMXCSR #GP on reserved bits,
 * STMXCSR), rounding control, DAZ and FTZ, NaN propagation (the first source's NaN wins, SNaNs
 * come out quiet, MIN/MAX return the second operand), the integer indefinite of conversions,
 * masked and unmasked exceptions (#XM, #UD with CR4.OSXMMEXCPT = 0; flags set, destination
 * unchanged; pre-computation exceptions stop the post-computation ones), a few integer and
 * string results worked by hand, and the forms with MMX operands (sse_mmx.c): conversions,
 * MOVQ2DQ/MOVDQ2Q and SSSE3 on MMX registers, with the x87 state transition (TOP, tags, bits
 * 79:64), its absence for CVTPI2Px from memory, and the order #UD, #NM, #MF, memory, #XM.
 *
 * Guest code is written as assembly in this file (GUEST below): the host assembler encodes it,
 * the box (cpu_box.h) runs it.
 */
#include "check.h"
#include "cpu_box.h"
#include "cpu/fpu.h"
#include "cpu/sse.h"

#define GUEST(name, insns)                                                                         \
	extern const u8 name[], name##_end[];                                                      \
	asm(".pushsection .rodata\n" #name ":\n\t" insns "\n" #name "_end:\n\t.popsection");
#define RUN(b, name) box_run((b), name, (size_t)(name##_end - name))

static struct box box;
static struct cpu *c;

static void xset(unsigned r, u64 lo, u64 hi)
{
	memcpy(c->fpu.xmm[r], &lo, 8);
	memcpy(c->fpu.xmm[r] + 8, &hi, 8);
}

static u64 xlo(unsigned r)
{
	u64 v;
	memcpy(&v, c->fpu.xmm[r], 8);
	return v;
}

static u64 xhi(unsigned r)
{
	u64 v;
	memcpy(&v, c->fpu.xmm[r] + 8, 8);
	return v;
}

static void xset_ps(unsigned r, u32 a, u32 b, u32 c2, u32 d)
{
	xset(r, a | (u64)b << 32, c2 | (u64)d << 32);
}

static u32 xd(unsigned r, unsigned i)
{
	u32 v;
	memcpy(&v, c->fpu.xmm[r] + 4 * i, 4);
	return v;
}

static void cr0(u64 set, u64 clear)
{
	c->cr0 = (c->cr0 | set) & ~clear;
}

static void cr4(u64 set, u64 clear)
{
	c->cr4 = (c->cr4 | set) & ~clear;
}

/* --- Availability and decoding --- */

GUEST(g_addps, "addps %xmm1, %xmm0")
GUEST(g_paddb, "paddb %xmm1, %xmm0")
GUEST(g_crc32, "crc32l %ecx, %eax")
GUEST(g_lock_movups, ".byte 0xf0; movups (%rdi), %xmm0")
GUEST(g_movnti, "movnti %eax, (%rdi)")
GUEST(g_fences, "lfence; mfence; sfence")

static void test_availability(void)
{
	xset(0, 1, 2);
	xset(1, 3, 4);
	CHECK_EQ(RUN(&box, g_paddb), -1);
	CHECK_EQ(xlo(0), 4);
	cr0(CR0_EM, 0);
	CHECK_EQ(RUN(&box, g_paddb), X86_UD); /* CR0.EM: #UD (SDM vol. 3A 13.1) */
	cr0(CR0_TS, 0);
	CHECK_EQ(RUN(&box, g_addps), X86_UD); /* #UD wins over #NM */
	cr0(0, CR0_EM);
	CHECK_EQ(RUN(&box, g_addps), X86_NM); /* CR0.TS: #NM */
	CHECK_EQ(xlo(0), 4);		      /* nothing written */
	/* CRC32, MOVNTI and the fences are not SSE instructions: no CR0/CR4 checks. */
	c->gpr[R_RAX] = 0;
	c->gpr[R_RCX] = 0;
	c->gpr[R_RDI] = BOX_DATA;
	CHECK_EQ(RUN(&box, g_crc32), -1);
	CHECK_EQ(RUN(&box, g_movnti), -1);
	CHECK_EQ(RUN(&box, g_fences), -1);
	cr0(0, CR0_TS);
	cr4(0, CR4_OSFXSR);
	CHECK_EQ(RUN(&box, g_paddb), X86_UD); /* CR4.OSFXSR = 0: #UD */
	cr4(CR4_OSFXSR, 0);
	c->gpr[R_RDI] = BOX_DATA;
	CHECK_EQ(RUN(&box, g_lock_movups), X86_UD); /* LOCK: #UD */
}

/* Mandatory prefixes: the last F2/F3 wins over 66 (SDM vol. 2A 2.1.2); 66 0F 52 does not
   exist; an MMX form without prefix is not SSE's. */
GUEST(g_66f3_movss, ".byte 0x66, 0xf3, 0x0f, 0x10, 0xc1")  /* movss %xmm1, %xmm0 */
GUEST(g_f3f2_movsd, ".byte 0xf3, 0xf2, 0x0f, 0x10, 0xc1")  /* movsd %xmm1, %xmm0 */
GUEST(g_66_rsqrt, ".byte 0x66, 0x0f, 0x52, 0xc1")          /* no RSQRTPD */
GUEST(g_f2_movdqa, ".byte 0xf2, 0x0f, 0x6f, 0xc1")         /* no F2 0F 6F */
GUEST(g_movhlps, "movhlps %xmm1, %xmm0")
GUEST(g_66_movhlps, ".byte 0x66, 0x0f, 0x12, 0xc1")        /* MOVLPD has no register form */
GUEST(g_psrldq_bad, ".byte 0x66, 0x0f, 0x73, 0xe1, 0x01")  /* 66 0F 73 /4: undefined */

static void test_decoding(void)
{
	xset(0, 0x1111111111111111ull, 0x2222222222222222ull);
	xset(1, 0x3333333333333333ull, 0x4444444444444444ull);
	CHECK_EQ(RUN(&box, g_66f3_movss), -1);
	CHECK_EQ(xlo(0), 0x1111111133333333ull);
	CHECK_EQ(RUN(&box, g_f3f2_movsd), -1);
	CHECK_EQ(xlo(0), 0x3333333333333333ull);
	CHECK_EQ(xhi(0), 0x2222222222222222ull);
	CHECK_EQ(RUN(&box, g_66_rsqrt), X86_UD);
	CHECK_EQ(RUN(&box, g_f2_movdqa), X86_UD);
	CHECK_EQ(RUN(&box, g_66_movhlps), X86_UD);
	CHECK_EQ(RUN(&box, g_psrldq_bad), X86_UD);
	CHECK_EQ(RUN(&box, g_movhlps), -1);
	CHECK_EQ(xlo(0), 0x4444444444444444ull);
}

/* --- Alignment and memory --- */

GUEST(g_movaps_ld, "movaps (%rdi), %xmm0")
GUEST(g_movaps_st, "movaps %xmm0, (%rdi)")
GUEST(g_movups_ld, "movups (%rdi), %xmm0")
GUEST(g_movdqu_st, "movdqu %xmm0, (%rdi)")
GUEST(g_lddqu, "lddqu (%rdi), %xmm0")
GUEST(g_paddd_m, "paddd (%rdi), %xmm0")
GUEST(g_addss_m, "addss (%rdi), %xmm0")
GUEST(g_pcmpistri_m, "pcmpistri $0, (%rdi), %xmm0")

static void test_alignment(void)
{
	for (unsigned i = 0; i < 64; i++)
		box.ram[BOX_DATA + i] = (u8)i;
	c->gpr[R_RDI] = BOX_DATA + 8;
	xset(0, 0, 0);
	CHECK_EQ(RUN(&box, g_movaps_ld), X86_GP);
	CHECK_EQ(box.ex.intr_error, 0);
	CHECK_EQ(RUN(&box, g_movaps_st), X86_GP);
	CHECK_EQ(RUN(&box, g_paddd_m), X86_GP);
	CHECK_EQ(RUN(&box, g_movups_ld), -1);
	CHECK_EQ(xlo(0), 0x0f0e0d0c0b0a0908ull);
	CHECK_EQ(RUN(&box, g_lddqu), -1);
	c->gpr[R_RDI] = BOX_DATA + 3;
	CHECK_EQ(RUN(&box, g_addss_m), -1);
	CHECK_EQ(RUN(&box, g_pcmpistri_m), -1); /* PCMPxSTRx: no alignment rule */
	c->gpr[R_RDI] = BOX_DATA + 16;
	CHECK_EQ(RUN(&box, g_movaps_ld), -1);
	CHECK_EQ(xhi(0), 0x1f1e1d1c1b1a1918ull);

	/* A store crossing into a page that is not mapped: #PF, nothing written to the first. */
	box_w64(box.ram, BOX_PML4 + 0x2000, 0); /* unmap the 2 MiB page ... */
	{
		/* ... and map 0..2 MiB with 4 KiB pages instead, all but BOX_DATA + 0x1000. */
		u64 pt = 0x60000;

		box_w64(box.ram, BOX_PML4 + 0x2000, pt | 3);
		for (u64 p = 0; p < 512; p++)
			box_w64(box.ram, pt + p * 8, p * 4096 | 3);
		box_w64(box.ram, pt + ((BOX_DATA + 0x1000) >> 12) * 8, 0);
		tlb_flush_all(c);
	}
	memset(box.ram + BOX_DATA + 0xff0, 0xaa, 16);
	c->gpr[R_RDI] = BOX_DATA + 0xff8;
	xset(0, 1, 2);
	CHECK_EQ(RUN(&box, g_movdqu_st), X86_PF_VEC);
	CHECK_EQ(box.ex.qual, BOX_DATA + 0x1000); /* the #PF exit's qualification (SDM 28.2.1) */
	CHECK_EQ(box.ram[BOX_DATA + 0xff8], 0xaa);
	CHECK_EQ(RUN(&box, g_movups_ld), X86_PF_VEC);
	box_w64(box.ram, BOX_PML4 + 0x2000, 0x83);
	tlb_flush_all(c);
	CHECK_EQ(RUN(&box, g_movdqu_st), -1);
	CHECK_EQ(box.ram[BOX_DATA + 0xff8], 1);
	CHECK_EQ(box.ram[BOX_DATA + 0x1000], 2);
}

/* --- MXCSR --- */

GUEST(g_ldmxcsr, "ldmxcsr (%rdi)")
GUEST(g_stmxcsr, "stmxcsr (%rdi)")

static void test_mxcsr(void)
{
	u32 v;

	CHECK_EQ(c->fpu.mxcsr, 0x1f80); /* power-up (SDM vol. 1 10.2.3) */
	c->gpr[R_RDI] = BOX_DATA;
	v = 0x10000;
	memcpy(box.ram + BOX_DATA, &v, 4);
	CHECK_EQ(RUN(&box, g_ldmxcsr), X86_GP); /* a reserved bit: #GP(0) */
	CHECK_EQ(c->fpu.mxcsr, 0x1f80);
	v = 0xffff;
	memcpy(box.ram + BOX_DATA, &v, 4);
	CHECK_EQ(RUN(&box, g_ldmxcsr), -1); /* flags set with masks clear: no exception now */
	CHECK_EQ(c->fpu.mxcsr, 0xffff);
	c->gpr[R_RDI] = BOX_DATA + 8;
	CHECK_EQ(RUN(&box, g_stmxcsr), -1);
	memcpy(&v, box.ram + BOX_DATA + 8, 4);
	CHECK_EQ(v, 0xffff);
	c->fpu.mxcsr = 0x1f80;
}

/* --- Rounding, DAZ, FTZ, NaNs --- */

GUEST(g_cvtsd2si, "cvtsd2si %xmm0, %eax")
GUEST(g_cvttsd2si, "cvttsd2si %xmm0, %eax")
GUEST(g_cvtss2si64, "cvtss2si %xmm0, %rax")
GUEST(g_mulss, "mulss %xmm1, %xmm0")
GUEST(g_addsd, "addsd %xmm1, %xmm0")
GUEST(g_minps, "minps %xmm1, %xmm0")
GUEST(g_maxsd, "maxsd %xmm1, %xmm0")
GUEST(g_divss, "divss %xmm1, %xmm0")
GUEST(g_sqrtss, "sqrtss %xmm1, %xmm0")
GUEST(g_cvtsd2ss, "cvtsd2ss %xmm1, %xmm0")
GUEST(g_roundsd_imm, "roundsd $0x9, %xmm1, %xmm0") /* toward -inf, inexact suppressed */
GUEST(g_roundsd_mx, "roundsd $0x4, %xmm1, %xmm0")  /* MXCSR.RC */
GUEST(g_ucomiss, "ucomiss %xmm1, %xmm0")
GUEST(g_comiss, "comiss %xmm1, %xmm0")

#define F32_SNAN 0x7f800001u
#define F32_QNAN 0x7fc00002u
#define F64_ONE 0x3ff0000000000000ull

static void test_rounding(void)
{
	static const u32 rc_expect[4] = { 2, 2, 3, 2 }; /* 2.5: nearest even, down, up, zero */

	for (unsigned rc = 0; rc < 4; rc++) {
		c->fpu.mxcsr = 0x1f80 | rc << 13;
		xset(0, 0x4004000000000000ull, 0); /* 2.5 */
		CHECK_EQ(RUN(&box, g_cvtsd2si), -1);
		CHECK_EQ(c->gpr[R_RAX], rc_expect[rc]);
		CHECK_EQ(c->fpu.mxcsr & 0x3f, 0x20); /* PE */
	}
	c->fpu.mxcsr = 0x1f80 | 2 << 13;
	CHECK_EQ(RUN(&box, g_cvttsd2si), -1); /* truncation ignores RC */
	CHECK_EQ(c->gpr[R_RAX], 2);
	/* Out of range: the integer indefinite and IE (SDM vol. 1 4.8.3.7). */
	c->fpu.mxcsr = 0x1f80;
	xset(0, 0x41f0000000000000ull, 0); /* 2^32 */
	CHECK_EQ(RUN(&box, g_cvtsd2si), -1);
	CHECK_EQ(c->gpr[R_RAX], 0x80000000u);
	CHECK_EQ(c->fpu.mxcsr & 0x3f, MXCSR_IE);
	c->fpu.mxcsr = 0x1f80;
	xset(0, F32_QNAN, 0);
	CHECK_EQ(RUN(&box, g_cvtss2si64), -1);
	CHECK_EQ(c->gpr[R_RAX], 0x8000000000000000ull);
	/* ROUNDSD: immediate rounding, precision exception suppressed; or MXCSR.RC. */
	c->fpu.mxcsr = 0x1f80;
	xset(1, 0xbff8000000000000ull, 0); /* -1.5 */
	CHECK_EQ(RUN(&box, g_roundsd_imm), -1);
	CHECK_EQ(xlo(0), 0xc000000000000000ull); /* -2.0 */
	CHECK_EQ(c->fpu.mxcsr & 0x3f, 0);
	c->fpu.mxcsr = 0x1f80 | 3 << 13;
	CHECK_EQ(RUN(&box, g_roundsd_mx), -1);
	CHECK_EQ(xlo(0), 0xbff0000000000000ull); /* toward zero: -1.0 */
	CHECK_EQ(c->fpu.mxcsr & 0x3f, 0x20);
}

static void test_daz_ftz(void)
{
	/* A denormal operand: DE without DAZ; with DAZ it counts as zero and DE stays clear. */
	c->fpu.mxcsr = 0x1f80;
	xset(0, 0x00000001, 0); /* smallest single denormal */
	xset(1, 0x3f800000, 0); /* 1.0 */
	CHECK_EQ(RUN(&box, g_mulss), -1);
	CHECK_EQ(xd(0, 0), 1);
	CHECK_EQ(c->fpu.mxcsr & 0x3f, MXCSR_DE);
	c->fpu.mxcsr = 0x1f80 | 0x40;
	xset(0, 0x80000001, 0);
	CHECK_EQ(RUN(&box, g_mulss), -1);
	CHECK_EQ(xd(0, 0), 0x80000000u); /* -0 */
	CHECK_EQ(c->fpu.mxcsr & 0x3f, 0);
	/* A tiny result: denormal, UE and PE without FTZ; with FTZ (UM set) a signed zero. */
	c->fpu.mxcsr = 0x1f80;
	xset(0, 0x00c00001, 0); /* 1.5 * 2^-125 (and a bit) */
	xset(1, 0x3e800000, 0); /* 0.25 */
	CHECK_EQ(RUN(&box, g_mulss), -1);
	CHECK(xd(0, 0) != 0 && xd(0, 0) < 0x00800000);
	CHECK_EQ(c->fpu.mxcsr & 0x3f, MXCSR_UE | MXCSR_PE);
	c->fpu.mxcsr = 0x1f80 | 0x8000;
	xset(0, 0x80c00001, 0);
	CHECK_EQ(RUN(&box, g_mulss), -1);
	CHECK_EQ(xd(0, 0), 0x80000000u);
	CHECK_EQ(c->fpu.mxcsr & 0x3f, MXCSR_UE | MXCSR_PE);
	c->fpu.mxcsr = 0x1f80;
}

static void test_nans(void)
{
	/* The first source's NaN wins, an SNaN comes out quiet with IE (SDM vol. 1 Table 4-7). */
	c->fpu.mxcsr = 0x1f80;
	xset(0, F32_SNAN, 0);
	xset(1, F32_QNAN, 0);
	CHECK_EQ(RUN(&box, g_mulss), -1);
	CHECK_EQ(xd(0, 0), F32_SNAN | 0x400000);
	CHECK_EQ(c->fpu.mxcsr & 0x3f, MXCSR_IE);
	c->fpu.mxcsr = 0x1f80;
	xset(0, 0x3f800000, 0);
	xset(1, F32_SNAN, 0);
	CHECK_EQ(RUN(&box, g_mulss), -1);
	CHECK_EQ(xd(0, 0), F32_SNAN | 0x400000);
	/* A QNaN alone: no flag. 0 * inf: the default NaN (real indefinite) and IE. */
	c->fpu.mxcsr = 0x1f80;
	xset(0, 0x3f800000, 0);
	xset(1, F32_QNAN, 0);
	CHECK_EQ(RUN(&box, g_mulss), -1);
	CHECK_EQ(xd(0, 0), F32_QNAN);
	CHECK_EQ(c->fpu.mxcsr & 0x3f, 0);
	xset(0, 0, 0);
	xset(1, 0x7f800000, 0);
	CHECK_EQ(RUN(&box, g_mulss), -1);
	CHECK_EQ(xd(0, 0), 0xffc00000u);
	CHECK_EQ(c->fpu.mxcsr & 0x3f, MXCSR_IE);
	/* MINPS/MAXSD: either operand a NaN, or both zeros: the second operand (SDM MINPS). */
	c->fpu.mxcsr = 0x1f80;
	xset_ps(0, F32_QNAN, 0x3f800000, 0x80000000, 0x00000000);
	xset_ps(1, 0x40000000, F32_QNAN, 0x00000000, 0x80000000);
	CHECK_EQ(RUN(&box, g_minps), -1);
	CHECK_EQ(xd(0, 0), 0x40000000);
	CHECK_EQ(xd(0, 1), F32_QNAN);
	CHECK_EQ(xd(0, 2), 0);
	CHECK_EQ(xd(0, 3), 0x80000000u);
	CHECK_EQ(c->fpu.mxcsr & 0x3f, MXCSR_IE); /* MINPS signals on QNaN operands too */
	c->fpu.mxcsr = 0x1f80;
	xset(0, F64_ONE, 0);
	xset(1, 0x7ff8000000000000ull, 0);
	CHECK_EQ(RUN(&box, g_maxsd), -1);
	CHECK_EQ(xlo(0), 0x7ff8000000000000ull);
	/* UCOMISS: unordered sets ZF PF CF, IE only for SNaN; COMISS signals on QNaN too. */
	c->fpu.mxcsr = 0x1f80;
	xset(0, F32_QNAN, 0);
	xset(1, 0x3f800000, 0);
	c->rflags = X86_FIXED1 | X86_OF | X86_SF | X86_AF;
	c->lf_op = LF_NONE;
	CHECK_EQ(RUN(&box, g_ucomiss), -1);
	CHECK_EQ(flags_get(c) & X86_ARITH_FLAGS, X86_ZF | X86_PF | X86_CF);
	CHECK_EQ(c->fpu.mxcsr & 0x3f, 0);
	CHECK_EQ(RUN(&box, g_comiss), -1);
	CHECK_EQ(c->fpu.mxcsr & 0x3f, MXCSR_IE);
	xset(0, 0x3f800000, 0);
	xset(1, 0x40000000, 0);
	CHECK_EQ(RUN(&box, g_comiss), -1);
	CHECK_EQ(flags_get(c) & X86_ARITH_FLAGS, X86_CF); /* less than */
	c->fpu.mxcsr = 0x1f80;
}

/* --- Unmasked exceptions (SDM vol. 1 11.5.3, vol. 3A 6.15 interrupt 19) --- */

static void test_unmasked(void)
{
	/* Division by zero with ZM clear: #XM, ZE set, destination unchanged. */
	c->fpu.mxcsr = 0x1f80 & ~(1u << 9);
	xset(0, 0x3f800000, 0x1234);
	xset(1, 0, 0);
	CHECK_EQ(RUN(&box, g_divss), X86_XM);
	CHECK_EQ(c->rip, BOX_CODE);
	CHECK_EQ(xlo(0), 0x3f800000);
	CHECK_EQ(c->fpu.mxcsr & 0x3f, MXCSR_ZE);
	/* The same with CR4.OSXMMEXCPT = 0: #UD. */
	cr4(0, CR4_OSXMMEXCPT);
	c->fpu.mxcsr = 0x1f80 & ~(1u << 9);
	CHECK_EQ(RUN(&box, g_divss), X86_UD);
	CHECK_EQ(c->fpu.mxcsr & 0x3f, MXCSR_ZE);
	cr4(CR4_OSXMMEXCPT, 0);
	/* Flags already set with the mask clear do not fault by themselves (10.2.3.1). */
	c->fpu.mxcsr = (0x1f80 & ~(1u << 9)) | MXCSR_ZE;
	xset(1, 0x3f800000, 0);
	CHECK_EQ(RUN(&box, g_divss), -1);
	/* A masked exception needs no handler: only the unmasked one traps. Invalid (sqrt of -1)
	   with IM set and PM clear: the inexact check never happens for a NaN result. */
	c->fpu.mxcsr = 0x1f80 & ~(1u << 12);
	xset(1, 0xbf800000, 0);
	CHECK_EQ(RUN(&box, g_sqrtss), -1);
	CHECK_EQ(xd(0, 0), 0xffc00000u);
	CHECK_EQ(c->fpu.mxcsr & 0x3f, MXCSR_IE);
	/* Pre-computation exception unmasked (DE): the post-computation ones are not looked for. */
	c->fpu.mxcsr = 0x1f80 & ~(1u << 8);
	xset(0, 0x00000003, 0);
	xset(1, 0x3eaaaaab, 0); /* 1/3: would be inexact and tiny */
	CHECK_EQ(RUN(&box, g_mulss), X86_XM);
	CHECK_EQ(c->fpu.mxcsr & 0x3f, MXCSR_DE);
	CHECK_EQ(xd(0, 0), 3);
	/* Overflow unmasked: OE (and PE, the result being inexact); nothing written. */
	c->fpu.mxcsr = 0x1f80 & ~(1u << 10);
	xset(0, 0x7f7fffff, 0);
	xset(1, 0x40000000, 0);
	CHECK_EQ(RUN(&box, g_mulss), X86_XM);
	CHECK_EQ(c->fpu.mxcsr & MXCSR_OE, MXCSR_OE);
	CHECK_EQ(xd(0, 0), 0x7f7fffff);
	/* Overflow masked, inexact unmasked: #XM with OE and PE. */
	c->fpu.mxcsr = 0x1f80 & ~(1u << 12);
	CHECK_EQ(RUN(&box, g_mulss), X86_XM);
	CHECK_EQ(c->fpu.mxcsr & 0x3f, MXCSR_OE | MXCSR_PE);
	/* Underflow unmasked: a tiny exact result still raises it (SDM vol. 1 4.9.1.5). */
	c->fpu.mxcsr = 0x1f80 & ~(1u << 11);
	xset(0, 0x00800000, 0); /* 2^-126 */
	xset(1, 0x3f000000, 0); /* 0.5: exactly 2^-127, a denormal */
	CHECK_EQ(RUN(&box, g_mulss), X86_XM);
	CHECK_EQ(c->fpu.mxcsr & 0x3f, MXCSR_UE);
	CHECK_EQ(xd(0, 0), 0x00800000);
	/* The same masked: exact, so no flag at all. */
	c->fpu.mxcsr = 0x1f80;
	CHECK_EQ(RUN(&box, g_mulss), -1);
	CHECK_EQ(xd(0, 0), 0x00400000);
	CHECK_EQ(c->fpu.mxcsr & 0x3f, 0);
	/* CVTSD2SS: overflow to single with OM clear. */
	c->fpu.mxcsr = 0x1f80 & ~(1u << 10);
	xset(0, 0x1111, 0);
	xset(1, 0x47f0000000000000ull, 0); /* 2^128 */
	CHECK_EQ(RUN(&box, g_cvtsd2ss), X86_XM);
	CHECK_EQ(xlo(0), 0x1111);
	/* Conversions to integer report invalid as IE: unmasked, the register is unchanged. */
	c->fpu.mxcsr = 0x1f80 & ~(1u << 7);
	c->gpr[R_RAX] = 0x5555;
	xset(0, 0x41f0000000000000ull, 0);
	CHECK_EQ(RUN(&box, g_cvtsd2si), X86_XM);
	CHECK_EQ(c->gpr[R_RAX], 0x5555);
	CHECK_EQ(c->fpu.mxcsr & 0x3f, MXCSR_IE);
	c->fpu.mxcsr = 0x1f80;
}

/* --- Integer and string instructions, by hand --- */

GUEST(g_movd, "movd %eax, %xmm0")
GUEST(g_movq_rx, "movq %rax, %xmm1")
GUEST(g_movd_st, "movd %xmm1, %ecx")
GUEST(g_pmovmskb, "pmovmskb %xmm0, %rdx")
GUEST(g_packsswb, "packsswb %xmm1, %xmm0")
GUEST(g_pshufb, "pshufb %xmm1, %xmm0")
GUEST(g_psraw, "psraw $20, %xmm0")
GUEST(g_pcmpistri, "pcmpistri $0x0c, %xmm1, %xmm0") /* equal ordered, unsigned bytes */
GUEST(g_pcmpestrm_ranges, "pcmpestrm $0x44, %xmm1, %xmm0") /* ranges, byte mask */
GUEST(g_ptest, "ptest %xmm1, %xmm0")
GUEST(g_crc32q, "crc32q %rcx, %rax")
GUEST(g_crc32b, "crc32b %ch, %eax")
GUEST(g_maskmov, "maskmovdqu %xmm1, %xmm0")

static void strset(unsigned r, const char *s)
{
	u8 v[16] = { 0 };

	memcpy(v, s, strlen(s) < 16 ? strlen(s) : 16);
	memcpy(c->fpu.xmm[r], v, 16);
}

static void test_integer(void)
{
	c->gpr[R_RAX] = 0xffffffff80000001ull;
	xset(0, ~0ull, ~0ull);
	CHECK_EQ(RUN(&box, g_movd), -1);
	CHECK_EQ(xlo(0), 0x80000001ull); /* zero-extended to 128 bits */
	CHECK_EQ(xhi(0), 0);
	CHECK_EQ(RUN(&box, g_movq_rx), -1);
	CHECK_EQ(xlo(1), 0xffffffff80000001ull);
	c->gpr[R_RCX] = ~0ull;
	CHECK_EQ(RUN(&box, g_movd_st), -1);
	CHECK_EQ(c->gpr[R_RCX], 0x80000001ull);
	xset(0, 0x8000000000000080ull, 0x8000000000000000ull);
	CHECK_EQ(RUN(&box, g_pmovmskb), -1);
	CHECK_EQ(c->gpr[R_RDX], 0x8081);
	/* PACKSSWB saturates: 0x7fff -> 0x7f, 0x8000 -> 0x80, 0x0100 -> 0x7f, 0xff00 -> 0x80. */
	xset(0, 0xff0001007fff8000ull, 0x0000000000000005ull);
	xset(1, 0, 0);
	CHECK_EQ(RUN(&box, g_packsswb), -1);
	CHECK_EQ(xlo(0), 0x00000005807f7f80ull);
	CHECK_EQ(xhi(0), 0);
	/* PSHUFB: index bit 7 zeroes, else the low four bits pick. */
	xset(0, 0x0706050403020100ull, 0x0f0e0d0c0b0a0908ull);
	xset(1, 0x80000000000000ffull | 0x0f00, 0);
	CHECK_EQ(RUN(&box, g_pshufb), -1);
	CHECK_EQ(xlo(0) & 0xffff, 0x0f00);
	CHECK_EQ(xlo(0) >> 56, 0);
	/* PSRAW by more than 15: the sign in every bit. */
	xset(0, 0x00017fff8000ffffull, 0);
	CHECK_EQ(RUN(&box, g_psraw), -1);
	CHECK_EQ(xlo(0), 0x00000000ffffffffull);
	/* PCMPISTRI equal ordered: "lo" in "hello world" at index 3; CF, ZF (b has a NUL). */
	strset(0, "lo");
	strset(1, "hello world");
	CHECK_EQ(RUN(&box, g_pcmpistri), -1);
	CHECK_EQ(c->gpr[R_RCX], 3);
	CHECK_EQ(flags_get(c) & X86_ARITH_FLAGS, X86_CF | X86_ZF | X86_SF);
	/* PCMPESTRM ranges 'a'..'z' over "aB-z", byte mask of the lower-case letters. */
	strset(0, "az");
	strset(1, "aB-z");
	c->gpr[R_RAX] = 2;
	c->gpr[R_RDX] = 4;
	CHECK_EQ(RUN(&box, g_pcmpestrm_ranges), -1);
	CHECK_EQ(xlo(0), 0xff0000ffull);
	CHECK_EQ(xhi(0), 0);
	/* PTEST: ZF when the AND is zero, CF when the ANDN is. */
	xset(0, 0xf0, 0);
	xset(1, 0x0f, 0);
	CHECK_EQ(RUN(&box, g_ptest), -1);
	CHECK_EQ(flags_get(c) & X86_ARITH_FLAGS, X86_ZF);
	xset(1, 0x30, 0);
	CHECK_EQ(RUN(&box, g_ptest), -1);
	CHECK_EQ(flags_get(c) & X86_ARITH_FLAGS, X86_CF);
	/* CRC32: CRC-32C of "123456789" is E3069283 with the usual pre- and post-inversion. */
	{
		u64 v = 0x3837363534333231ull;

		c->gpr[R_RAX] = 0xffffffffull;
		c->gpr[R_RCX] = v;
		CHECK_EQ(RUN(&box, g_crc32q), -1);
		c->gpr[R_RCX] = (u64)'9' << 8;
		CHECK_EQ(RUN(&box, g_crc32b), -1); /* CH without REX */
		CHECK_EQ(~(u32)c->gpr[R_RAX], 0xe3069283u);
	}
	/* MASKMOVDQU stores only the bytes whose mask has bit 7 set, at DS:RDI. */
	memset(box.ram + BOX_DATA, 0x11, 16);
	c->gpr[R_RDI] = BOX_DATA;
	xset(0, 0x8877665544332211ull, 0);
	xset(1, 0x0000000000008000ull, 0x80);
	CHECK_EQ(RUN(&box, g_maskmov), -1);
	CHECK_EQ(box.ram[BOX_DATA + 1], 0x22);
	CHECK_EQ(box.ram[BOX_DATA + 0], 0x11);
	CHECK_EQ(box.ram[BOX_DATA + 8], 0x00);
	CHECK_EQ(box.ram[BOX_DATA + 9], 0x11);
}

/* --- SSE forms with MMX-register operands (sse_mmx.c) --- */

GUEST(g_cvtpi2ps, "cvtpi2ps %mm1, %xmm0")
GUEST(g_cvtpi2ps_m, "cvtpi2ps (%rdi), %xmm0")
GUEST(g_cvtpi2pd, "cvtpi2pd %mm1, %xmm0")
GUEST(g_cvtpi2pd_m, "cvtpi2pd (%rdi), %xmm0")
GUEST(g_cvtps2pi, "cvtps2pi %xmm1, %mm2")
GUEST(g_cvtps2pi_m, "cvtps2pi (%rdi), %mm2")
GUEST(g_cvttps2pi, "cvttps2pi %xmm1, %mm2")
GUEST(g_cvtpd2pi, "cvtpd2pi %xmm1, %mm2")
GUEST(g_cvttpd2pi_m, "cvttpd2pi (%rdi), %mm2")
GUEST(g_movq2dq, "movq2dq %mm1, %xmm8")
GUEST(g_movdq2q, "movdq2q %xmm9, %mm2")
GUEST(g_pshufb_mm, "pshufb %mm1, %mm2")
GUEST(g_phaddw_mm, "phaddw %mm1, %mm2")
GUEST(g_pabsb_mm_m, "pabsb (%rdi), %mm2")
GUEST(g_palignr_mm, "palignr $3, %mm1, %mm2")
GUEST(g_palignr_mm_big, "palignr $17, %mm1, %mm2")

/* The x87 state before an MMX instruction: TOP = 3, physical registers R3-R7 valid; R_i holds
   mantissa 0x1111111111111111 * i with exponent 3FFFH. */
static void x87_prime(void)
{
	c->fpu.fcw = X86_FPU_FCW_INIT;
	c->fpu.fsw = 3 << 11;
	c->fpu.ftw = 0xf8;
	for (unsigned i = 0; i < 8; i++) {
		u64 m = 0x1111111111111111ull * i;
		u16 e = 0x3fff;

		memcpy(c->fpu.st[(i - 3) & 7], &m, 8);
		memcpy(c->fpu.st[(i - 3) & 7] + 8, &e, 2);
	}
}

static unsigned top(void)
{
	return (c->fpu.fsw >> 11) & 7;
}

/* Physical register R_i: mantissa (MMi) and exponent field. */
static u64 mm(unsigned i)
{
	u64 v;

	memcpy(&v, c->fpu.st[(i - top()) & 7], 8);
	return v;
}

static u16 mm_exp(unsigned i)
{
	u16 v;

	memcpy(&v, c->fpu.st[(i - top()) & 7] + 8, 2);
	return v;
}

static void mm_set(unsigned i, u64 v)
{
	memcpy(c->fpu.st[(i - top()) & 7], &v, 8);
}

/* Unchanged from x87_prime(): TOP, tags, every register. */
static bool x87_primed(void)
{
	for (unsigned i = 0; i < 8; i++)
		if (mm(i) != 0x1111111111111111ull * i || mm_exp(i) != 0x3fff)
			return false;
	return top() == 3 && c->fpu.ftw == 0xf8;
}

/* An x87 exception pending: IE unmasked and set, so ES and B (SDM vol. 1 8.1.3). */
static void x87_pend(void)
{
	c->fpu.fcw = X86_FPU_FCW_INIT & ~FSW_IE;
	c->fpu.fsw |= FSW_IE | FSW_ES | FSW_B;
}

static void test_mmx_conversions(void)
{
	c->fpu.mxcsr = 0x1f80;
	/* CVTPI2PS xmm, mm: two singles in the low quadword, the high one kept; the MMX transition
	   (TOP 0, every tag valid), the source register's exponent left alone (it is only read). */
	x87_prime();
	mm_set(1, 0xfffffffd00000001ull); /* -3, 1 */
	xset(0, 0x1111111111111111ull, 0x2222222222222222ull);
	CHECK_EQ(RUN(&box, g_cvtpi2ps), -1);
	CHECK_EQ(xlo(0), 0xc04000003f800000ull);
	CHECK_EQ(xhi(0), 0x2222222222222222ull);
	CHECK_EQ(top(), 0);
	CHECK_EQ(c->fpu.ftw, 0xff);
	CHECK_EQ(mm_exp(1), 0x3fff);
	CHECK_EQ(mm(1), 0xfffffffd00000001ull);
	CHECK_EQ(c->fpu.mxcsr & 0x3f, 0);
	/* 2^24 + 1 is not a single: rounded by MXCSR.RC, PE. */
	x87_prime();
	mm_set(1, 0x0100000101000001ull);
	c->fpu.mxcsr = 0x1f80 | 1 << 13; /* down */
	CHECK_EQ(RUN(&box, g_cvtpi2ps), -1);
	CHECK_EQ(xlo(0), 0x4b8000004b800000ull);
	CHECK_EQ(c->fpu.mxcsr & 0x3f, MXCSR_PE);
	c->fpu.mxcsr = 0x1f80 | 2 << 13; /* up */
	CHECK_EQ(RUN(&box, g_cvtpi2ps), -1);
	CHECK_EQ(xlo(0), 0x4b8000014b800001ull);
	/* With a memory source no MMX register is touched: no transition (SDM CVTPI2PS). */
	c->fpu.mxcsr = 0x1f80;
	x87_prime();
	box_w64(box.ram, BOX_DATA, 0x0000000200000004ull);
	c->gpr[R_RDI] = BOX_DATA + 0; /* m64: any alignment; this one is aligned */
	CHECK_EQ(RUN(&box, g_cvtpi2ps_m), -1);
	CHECK_EQ(xlo(0), 0x4000000040800000ull);
	CHECK(x87_primed());
	/* CVTPI2PD: exact, the whole register; memory form again without the transition. */
	x87_prime();
	mm_set(1, 0x80000000ffffffffull); /* -2^31, -1 */
	CHECK_EQ(RUN(&box, g_cvtpi2pd), -1);
	CHECK_EQ(xlo(0), 0xbff0000000000000ull);
	CHECK_EQ(xhi(0), 0xc1e0000000000000ull);
	CHECK_EQ(top(), 0);
	CHECK_EQ(c->fpu.ftw, 0xff);
	x87_prime();
	c->gpr[R_RDI] = BOX_DATA + 3;
	box_w64(box.ram, BOX_DATA + 3, 0x7fffffff00000000ull);
	CHECK_EQ(RUN(&box, g_cvtpi2pd_m), -1);
	CHECK_EQ(xlo(0), 0);
	CHECK_EQ(xhi(0), 0x41dfffffffc00000ull);
	CHECK(x87_primed());

	/* CVTPS2PI mm, xmm: rounded by MXCSR.RC (1.5, -2.5); the destination's bits 79:64 all ones. */
	x87_prime();
	xset(1, 0xc02000003fc00000ull, 0x7f8000017f800001ull); /* high lanes (NaNs) are not read */
	CHECK_EQ(RUN(&box, g_cvtps2pi), -1);
	CHECK_EQ(mm(2), 0xfffffffe00000002ull);
	CHECK_EQ(mm_exp(2), 0xffff);
	CHECK_EQ(mm_exp(3), 0x3fff);
	CHECK_EQ(top(), 0);
	CHECK_EQ(c->fpu.ftw, 0xff);
	CHECK_EQ(c->fpu.mxcsr & 0x3f, MXCSR_PE);
	c->fpu.mxcsr = 0x1f80 | 1 << 13;
	CHECK_EQ(RUN(&box, g_cvtps2pi), -1);
	CHECK_EQ(mm(2), 0xfffffffd00000001ull);
	CHECK_EQ(RUN(&box, g_cvttps2pi), -1); /* truncation ignores RC */
	CHECK_EQ(mm(2), 0xfffffffe00000001ull);
	/* NaN and out of range: the integer indefinite 80000000H, IE (SDM vol. 1 4.8.3.7). */
	c->fpu.mxcsr = 0x1f80;
	xset(1, 0x4f0000007fc00000ull, 0); /* 2^31, QNaN */
	CHECK_EQ(RUN(&box, g_cvtps2pi), -1);
	CHECK_EQ(mm(2), 0x8000000080000000ull);
	CHECK_EQ(c->fpu.mxcsr & 0x3f, MXCSR_IE);
	c->fpu.mxcsr = 0x1f80;
	c->gpr[R_RDI] = BOX_DATA + 5; /* m64: no alignment */
	box_w64(box.ram, BOX_DATA + 5, 0xcf000000c0400000ull); /* -2^31 (fits), -3 */
	CHECK_EQ(RUN(&box, g_cvtps2pi_m), -1);
	CHECK_EQ(mm(2), 0x80000000fffffffdull);
	CHECK_EQ(c->fpu.mxcsr & 0x3f, 0);
	/* CVTPD2PI / CVTTPD2PI: two doubles; m128 must be 16-byte aligned. */
	xset(1, 0x41e0000000000000ull, 0xc004000000000000ull); /* 2^31, -2.5 */
	CHECK_EQ(RUN(&box, g_cvtpd2pi), -1);
	CHECK_EQ(mm(2), 0xfffffffe80000000ull);
	CHECK_EQ(c->fpu.mxcsr & 0x3f, MXCSR_IE | MXCSR_PE);
	c->fpu.mxcsr = 0x1f80;
	box_w64(box.ram, BOX_DATA + 16, 0x3ff8000000000000ull); /* 1.5 */
	box_w64(box.ram, BOX_DATA + 24, 0xfff8000000000000ull); /* -QNaN */
	c->gpr[R_RDI] = BOX_DATA + 16;
	CHECK_EQ(RUN(&box, g_cvttpd2pi_m), -1);
	CHECK_EQ(mm(2), 0x8000000000000001ull);
	x87_prime();
	c->gpr[R_RDI] = BOX_DATA + 8;
	CHECK_EQ(RUN(&box, g_cvttpd2pi_m), X86_GP);
	CHECK(x87_primed()); /* a fault before the transition leaves the x87 state */

	/* Unmasked: #XM, the destination unchanged, the flags set; the transition has happened
	   (measured: TOP 0 and the tags valid at the #XM). */
	x87_prime();
	c->fpu.mxcsr = 0x1f80 & ~(1u << 7);
	xset(1, 0x7fc00000u, 0);
	CHECK_EQ(RUN(&box, g_cvtps2pi), X86_XM);
	CHECK_EQ(c->fpu.mxcsr & 0x3f, MXCSR_IE);
	CHECK_EQ(mm(2), 0x2222222222222222ull);
	CHECK_EQ(mm_exp(2), 0x3fff);
	CHECK_EQ(top(), 0);
	CHECK_EQ(c->fpu.ftw, 0xff);
	x87_prime();
	mm_set(1, 0x0100000101000001ull);
	xset(0, 0x1234, 0x5678);
	c->fpu.mxcsr = 0x1f80 & ~(1u << 12);
	CHECK_EQ(RUN(&box, g_cvtpi2ps), X86_XM);
	CHECK_EQ(c->fpu.mxcsr & 0x3f, MXCSR_PE);
	CHECK_EQ(xlo(0), 0x1234);
	CHECK_EQ(top(), 0);
	cr4(0, CR4_OSXMMEXCPT); /* the same with CR4.OSXMMEXCPT = 0: #UD */
	c->fpu.mxcsr = 0x1f80 & ~(1u << 12);
	CHECK_EQ(RUN(&box, g_cvtpi2ps), X86_UD);
	cr4(CR4_OSXMMEXCPT, 0);
	c->fpu.mxcsr = 0x1f80;
}

static void test_mmx_moves_ssse3(void)
{
	/* MOVQ2DQ: zero-extended into the XMM register (REX.R reaches XMM8); MOVDQ2Q: the low
	   quadword of XMM9 (REX.B) into MM2, bits 79:64 all ones. */
	x87_prime();
	xset(8, ~0ull, ~0ull);
	CHECK_EQ(RUN(&box, g_movq2dq), -1);
	CHECK_EQ(xlo(8), 0x1111111111111111ull);
	CHECK_EQ(xhi(8), 0);
	CHECK_EQ(top(), 0);
	CHECK_EQ(c->fpu.ftw, 0xff);
	x87_prime();
	xset(9, 0x0123456789abcdefull, 0xfedcba9876543210ull);
	CHECK_EQ(RUN(&box, g_movdq2q), -1);
	CHECK_EQ(mm(2), 0x0123456789abcdefull);
	CHECK_EQ(mm_exp(2), 0xffff);
	CHECK_EQ(c->fpu.ftw, 0xff);

	/* PSHUFB mm: the index's low 3 bits pick, bit 7 zeroes. */
	x87_prime();
	mm_set(2, 0x0706050403020100ull);
	mm_set(1, 0x800f0e0d0c0b0a09ull);
	CHECK_EQ(RUN(&box, g_pshufb_mm), -1);
	CHECK_EQ(mm(2), 0x0007060504030201ull);
	CHECK_EQ(mm_exp(2), 0xffff);
	CHECK_EQ(top(), 0);
	CHECK_EQ(c->fpu.ftw, 0xff);
	/* PHADDW mm: the destination's pairs low, the source's high, wrapping. */
	mm_set(2, 0x0004000300020001ull);
	mm_set(1, 0x7fff000180000001ull);
	CHECK_EQ(RUN(&box, g_phaddw_mm), -1);
	CHECK_EQ(mm(2), 0x8000800100070003ull);
	/* PABSB mm, m64 (unaligned): 80H stays 80H. */
	box_w64(box.ram, BOX_DATA + 1, 0x80ff7f0102fe0081ull);
	c->gpr[R_RDI] = BOX_DATA + 1;
	CHECK_EQ(RUN(&box, g_pabsb_mm_m), -1);
	CHECK_EQ(mm(2), 0x80017f010202007full);
	/* PALIGNR mm: (mm2:mm1) >> 3 bytes, the low 8; 17 bytes or more shift everything out. */
	mm_set(2, 0x1716151413121110ull);
	mm_set(1, 0x0706050403020100ull);
	CHECK_EQ(RUN(&box, g_palignr_mm), -1);
	CHECK_EQ(mm(2), 0x1211100706050403ull);
	mm_set(2, 0x1716151413121110ull);
	CHECK_EQ(RUN(&box, g_palignr_mm_big), -1);
	CHECK_EQ(mm(2), 0);
}

/* #UD (CR0.EM; CR4.OSFXSR = 0 for the SSE and SSE2 forms only), #NM (CR0.TS), then a pending x87
   exception (#MF, CR0.NE = 1), then the memory operand: SDM vol. 3A 22.25.3; the order of #MF
   and #PF/#GP measured. */
static void test_mmx_faults(void)
{
	c->fpu.mxcsr = 0x1f80;
	x87_prime();
	cr0(CR0_EM, 0);
	CHECK_EQ(RUN(&box, g_cvtpi2ps), X86_UD);
	CHECK_EQ(RUN(&box, g_cvtpi2ps_m), X86_UD);
	CHECK_EQ(RUN(&box, g_pshufb_mm), X86_UD);
	cr0(CR0_TS, 0);
	CHECK_EQ(RUN(&box, g_movdq2q), X86_UD); /* #UD wins over #NM */
	CHECK_EQ(RUN(&box, g_palignr_mm), X86_UD);
	cr0(0, CR0_EM);
	CHECK_EQ(RUN(&box, g_cvtps2pi), X86_NM);
	CHECK_EQ(RUN(&box, g_cvtpi2pd_m), X86_NM);
	CHECK_EQ(RUN(&box, g_phaddw_mm), X86_NM);
	x87_pend();
	CHECK_EQ(RUN(&box, g_movq2dq), X86_NM); /* #NM wins over #MF */
	cr0(0, CR0_TS);
	/* CR4.OSFXSR = 0: #UD for the SSE and SSE2 forms; the SSSE3 ones are MMX instructions for
	   it, and run into the pending x87 exception. */
	cr4(0, CR4_OSFXSR);
	CHECK_EQ(RUN(&box, g_cvtpi2ps), X86_UD);
	CHECK_EQ(RUN(&box, g_cvttps2pi), X86_UD);
	CHECK_EQ(RUN(&box, g_movq2dq), X86_UD);
	CHECK_EQ(RUN(&box, g_movdq2q), X86_UD);
	CHECK_EQ(RUN(&box, g_pshufb_mm), X86_MF);
	cr4(CR4_OSFXSR, 0);
	/* A pending x87 exception: #MF for every form touching an MMX register, before its memory
	   operand; CVTPI2Px with a memory source do not wait. Nothing changes. */
	c->gpr[R_RDI] = BOX_DATA;
	CHECK_EQ(RUN(&box, g_cvtpi2ps), X86_MF);
	CHECK_EQ(RUN(&box, g_cvtpi2pd), X86_MF);
	CHECK_EQ(RUN(&box, g_cvtps2pi), X86_MF);
	CHECK_EQ(RUN(&box, g_cvtpd2pi), X86_MF);
	CHECK_EQ(RUN(&box, g_movq2dq), X86_MF);
	CHECK_EQ(RUN(&box, g_movdq2q), X86_MF);
	CHECK_EQ(RUN(&box, g_palignr_mm), X86_MF);
	c->gpr[R_RDI] = BOX_DATA + 8; /* misaligned m128: #MF first */
	CHECK_EQ(RUN(&box, g_cvttpd2pi_m), X86_MF);
	c->gpr[R_RDI] = 0x400000; /* not mapped: #MF first */
	CHECK_EQ(RUN(&box, g_cvtps2pi_m), X86_MF);
	CHECK_EQ(RUN(&box, g_pabsb_mm_m), X86_MF);
	CHECK_EQ(c->fpu.fsw & 0x3800, 3u << 11);
	CHECK_EQ(c->fpu.ftw, 0xf8);
	CHECK_EQ(RUN(&box, g_cvtpi2ps_m), X86_PF_VEC); /* no wait: the memory operand's fault */
	c->gpr[R_RDI] = BOX_DATA;
	box_w64(box.ram, BOX_DATA, 0x0000000100000001ull);
	CHECK_EQ(RUN(&box, g_cvtpi2pd_m), -1);
	CHECK_EQ(xhi(0), 0x3ff0000000000000ull);
	CHECK_EQ(c->fpu.fsw & 0x3800, 3u << 11); /* and no transition */
	CHECK_EQ(c->fpu.ftw, 0xf8);
	/* Without the pending exception: the #PF, and no transition either. */
	x87_prime();
	c->gpr[R_RDI] = 0x400000;
	CHECK_EQ(RUN(&box, g_cvtps2pi_m), X86_PF_VEC);
	CHECK(x87_primed());
	c->fpu.mxcsr = 0x1f80;
}

int main(void)
{
	box_init(&box);
	c = box.c;
	test_availability();
	test_decoding();
	test_mxcsr();
	test_rounding();
	test_daz_ftz();
	test_nans();
	test_unmasked();
	test_integer();
	test_mmx_conversions();
	test_mmx_moves_ssse3();
	test_mmx_faults();
	test_alignment();
	box_free(&box);
	return check_done("test_sse");
}
