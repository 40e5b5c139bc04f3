// SPDX-License-Identifier: MIT
/*
 * xsave: the XSAVE feature set as an operating system meets it (SDM vol. 1 chapter 13, vol. 2
 * XGETBV/XSETBV/XSAVE/XRSTOR). CPUID.1:ECX.XSAVE; with CR4.OSXSAVE = 0 XGETBV, XSETBV and XSAVE
 * are #UD and CPUID.1:ECX.OSXSAVE is 0. Then, as Linux's fpu__init_cpu_xstate does: CR4.OSFXSR,
 * OSXMMEXCPT and OSXSAVE, XSETBV XCR0 = x87 | SSE (CPUID.1:ECX.OSXSAVE now 1, CPUID.(0DH,0):EBX
 * the 576 bytes of that XCR0), XSETBV's #GP(0) for a bad XCR0 (bit 0 clear, AVX without SSE, a
 * bit CPUID.(0DH,0) does not offer, ECX not 0) and at CPL 3 (XGETBV runs there). Two "tasks"
 * with their own XMM registers, MXCSR and x87 stack, switched with XSAVE/XRSTOR (a new task's
 * first XRSTOR from a zeroed header gives it the initial state), each one's values checked after
 * switching back; XSAVEOPT and XSAVEC (compacted header) round trips where CPUID offers them;
 * #GP for a misaligned area and for reserved header bits; XSAVES only where CPUID.(0DH,1):EAX[3]
 * says so, else #UD. Messages show no values the hardware may differ in.
 */
#include "lib.h"

#define CR4_OSFXSR     BIT(9)
#define CR4_OSXMMEXCPT BIT(10)
#define CR4_OSXSAVE    BIT(18)
#define XCR0_X87       BIT(0)
#define XCR0_SSE       BIT(1)
#define XCR0_AVX       BIT(2)
#define MSR_IA32_XSS   0xda0

struct xarea {
	u8 legacy[512];
	u64 xstate_bv, xcomp_bv, rsvd[6];
	u8 ext[4096 - 576]; /* whatever else the CPU may save for XCR0 = 3: nothing */
} __attribute__((aligned(64)));

static struct xarea task_a, task_b, scratch;
static u8 raw[4096 + 128] __attribute__((aligned(64)));
static u8 xmm_a[8][16], xmm_b[8][16], xmm_out[8][16];
static u64 st_out[2];
/* doubles as bit patterns: the guest is built without floating point of its own */
#define D_ONE 0x3ff0000000000000ull
#define D_TWO 0x4000000000000000ull
static const u64 d_two = D_TWO;

static u64 xgetbv(u32 idx)
{
	u32 lo, hi;

	asm volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(idx));
	return lo | (u64)hi << 32;
}

static void xsetbv(u32 idx, u64 v)
{
	asm volatile("xsetbv" : : "c"(idx), "a"((u32)v), "d"((u32)(v >> 32)) : "memory");
}

#define XOP(insn, area, mask)                                                                      \
	asm volatile(insn " %0" : "+m"(*(area)) : "a"((u32)(mask)), "d"((u32)((u64)(mask) >> 32)) \
		     : "memory")

static void load_xmm(u8 (*v)[16])
{
	asm volatile("movdqu 0(%0), %%xmm0\n\tmovdqu 16(%0), %%xmm1\n\t"
		     "movdqu 32(%0), %%xmm2\n\tmovdqu 48(%0), %%xmm3\n\t"
		     "movdqu 64(%0), %%xmm4\n\tmovdqu 80(%0), %%xmm5\n\t"
		     "movdqu 96(%0), %%xmm6\n\tmovdqu 112(%0), %%xmm7"
		     :
		     : "r"(v)
		     : "memory");
}

static void store_xmm(u8 (*v)[16])
{
	asm volatile("movdqu %%xmm0, 0(%0)\n\tmovdqu %%xmm1, 16(%0)\n\t"
		     "movdqu %%xmm2, 32(%0)\n\tmovdqu %%xmm3, 48(%0)\n\t"
		     "movdqu %%xmm4, 64(%0)\n\tmovdqu %%xmm5, 80(%0)\n\t"
		     "movdqu %%xmm6, 96(%0)\n\tmovdqu %%xmm7, 112(%0)"
		     :
		     : "r"(v)
		     : "memory");
}

static u32 stmxcsr(void)
{
	u32 v;

	asm volatile("stmxcsr %0" : "=m"(v));
	return v;
}

static void ldmxcsr(u32 v)
{
	asm volatile("ldmxcsr %0" : : "m"(v));
}

static u64 u_xgetbv(u64 arg)
{
	return xgetbv((u32)arg);
}

static u64 u_xsetbv(u64 arg)
{
	xsetbv(0, arg);
	return 0;
}

static void test_disabled(void)
{
	int v;

	check(has_feature(1, 2, 26), "CPUID.1:ECX.XSAVE");
	write_cr4(read_cr4() & ~(ulong)CR4_OSXSAVE);
	check(!has_feature(1, 2, 27), "CR4.OSXSAVE = 0: CPUID.1:ECX.OSXSAVE is 0");
	v = CATCH(xgetbv(0));
	check(v == UD_VECTOR, "CR4.OSXSAVE = 0: XGETBV raises #UD (vector %d)", v);
	v = CATCH(xsetbv(0, XCR0_X87));
	check(v == UD_VECTOR, "CR4.OSXSAVE = 0: XSETBV raises #UD (vector %d)", v);
	v = CATCH(XOP("xsave", &task_a, 3));
	check(v == UD_VECTOR, "CR4.OSXSAVE = 0: XSAVE raises #UD (vector %d)", v);
	v = CATCH(XOP("xrstor", &task_a, 3));
	check(v == UD_VECTOR, "CR4.OSXSAVE = 0: XRSTOR raises #UD (vector %d)", v);
}

static void test_enable(void)
{
	struct cpuid r;
	int v;

	write_cr4(read_cr4() | CR4_OSFXSR | CR4_OSXMMEXCPT | CR4_OSXSAVE);
	check(has_feature(1, 2, 27), "CR4.OSXSAVE = 1: CPUID.1:ECX.OSXSAVE is 1");
	r = cpuid(0xd, 0);
	check((r.a & 3) == 3, "CPUID.(0DH,0):EAX offers x87 and SSE state");
	check(xgetbv(0) & XCR0_X87, "XCR0 holds x87 state");
	xsetbv(0, XCR0_X87 | XCR0_SSE);
	check(xgetbv(0) == (XCR0_X87 | XCR0_SSE), "XSETBV: XCR0 = x87 | SSE");
	r = cpuid(0xd, 0);
	check(r.b == 576 && r.c >= 576, "CPUID.(0DH,0): 576 bytes for XCR0 = 3 (EBX %u, ECX %u)",
	      r.b, r.c);

	v = CATCH(xsetbv(0, XCR0_SSE));
	check(v == GP_VECTOR && last_fault.error == 0, "XSETBV XCR0[0] = 0: #GP(0) (vector %d)", v);
	v = CATCH(xsetbv(0, 0));
	check(v == GP_VECTOR, "XSETBV XCR0 = 0: #GP(0) (vector %d)", v);
	v = CATCH(xsetbv(0, XCR0_X87 | XCR0_AVX));
	check(v == GP_VECTOR, "XSETBV AVX without SSE: #GP(0) (vector %d)", v);
	v = CATCH(xsetbv(0, XCR0_X87 | XCR0_SSE | BIT(62)));
	check(v == GP_VECTOR, "XSETBV of a bit CPUID does not offer: #GP(0) (vector %d)", v);
	v = CATCH(xsetbv(1, XCR0_X87));
	check(v == GP_VECTOR, "XSETBV ECX = 1: #GP(0) (vector %d)", v);
	v = CATCH(user_call(u_xsetbv, XCR0_X87 | XCR0_SSE));
	check(v == GP_VECTOR && last_fault.error == 0, "XSETBV at CPL 3: #GP(0) (vector %d)", v);
	check(xgetbv(0) == (XCR0_X87 | XCR0_SSE), "XCR0 unchanged by the refused XSETBVs");
	v = CATCH(user_call(u_xgetbv, 0));
	check(v == -1 && user_call(u_xgetbv, 0) == (XCR0_X87 | XCR0_SSE), "XGETBV runs at CPL 3");
	v = CATCH(xgetbv(2));
	check(v == GP_VECTOR, "XGETBV ECX = 2: #GP(0) (vector %d)", v);
}

/* A task's x87 part: 2.0 and 1.0 on the stack. */
static void x87_push(void)
{
	asm volatile("fninit; fldl %0; fld1" : : "m"(d_two));
}

static void x87_pop(void)
{
	asm volatile("fstpl %0; fstpl %1" : "=m"(st_out[0]), "=m"(st_out[1]));
}

static bool xmm_is(u8 (*want)[16])
{
	store_xmm(xmm_out);
	return !memcmp(xmm_out, want, sizeof(xmm_out));
}

static bool xmm_zero(void)
{
	static const u8 zero[8][16];

	store_xmm(xmm_out);
	return !memcmp(xmm_out, zero, sizeof(xmm_out));
}

static void test_switch(void)
{
	for (int i = 0; i < 8; i++)
		for (int j = 0; j < 16; j++) {
			xmm_a[i][j] = (u8)(0x10 * i + j + 1);
			xmm_b[i][j] = (u8)(0xf0 - 0x10 * i + j);
		}

	/* Task A runs: its registers, MXCSR (round down, all masked), x87 stack; then it is
	   switched out. */
	load_xmm(xmm_a);
	ldmxcsr(0x3f80);
	x87_push();
	XOP("xsave", &task_a, XCR0_X87 | XCR0_SSE);
	check((task_a.xstate_bv & 3) == 3, "XSAVE: XSTATE_BV has x87 and SSE state");
	check(*(u32 *)(task_a.legacy + 24) == 0x3f80, "XSAVE: MXCSR at byte 24");
	check(!memcmp(task_a.legacy + 160, xmm_a, sizeof(xmm_a)), "XSAVE: XMM0-7 at byte 160");
	check(*(u16 *)task_a.legacy == 0x37f, "XSAVE: FCW at byte 0");

	/* Task B is new: a zeroed header (XSTATE_BV = 0) gives it the initial state; standard-form
	   XRSTOR loads MXCSR from the area still (SDM 13.8.1). */
	memset(&task_b, 0, sizeof(task_b));
	*(u32 *)(task_b.legacy + 24) = 0x1f80;
	XOP("xrstor", &task_b, XCR0_X87 | XCR0_SSE);
	check(xmm_zero(), "XRSTOR with XSTATE_BV = 0: XMM registers initialized");
	check(stmxcsr() == 0x1f80, "XRSTOR: MXCSR from the area");
	{
		u16 sw, cw;

		asm volatile("fnstsw %0; fnstcw %1" : "=m"(sw), "=m"(cw));
		check(sw == 0 && cw == 0x37f, "XRSTOR with XSTATE_BV = 0: x87 initialized");
	}
	load_xmm(xmm_b);
	ldmxcsr(0x5f80);
	asm volatile("fninit; fld1");
	XOP("xsave", &task_b, XCR0_X87 | XCR0_SSE);

	/* Back to A: everything as it left it. */
	XOP("xrstor", &task_a, XCR0_X87 | XCR0_SSE);
	check(xmm_is(xmm_a), "switch back to A: XMM0-7 restored");
	check(stmxcsr() == 0x3f80, "switch back to A: MXCSR restored");
	x87_pop();
	check(st_out[0] == D_ONE && st_out[1] == D_TWO, "switch back to A: x87 stack restored");
	/* Then B again. */
	XOP("xrstor", &task_b, XCR0_X87 | XCR0_SSE);
	check(xmm_is(xmm_b), "switch to B: XMM0-7 restored");
	check(stmxcsr() == 0x5f80, "switch to B: MXCSR restored");
	asm volatile("fstpl %0" : "=m"(st_out[0]));
	check(st_out[0] == D_ONE, "switch to B: x87 stack restored");

	/* RFBM = SSE only: x87 state is neither saved nor touched. */
	memset(&scratch, 0xcc, sizeof(scratch));
	memset(&scratch.xstate_bv, 0, 64);
	XOP("xsave", &scratch, XCR0_SSE);
	check(scratch.xstate_bv == XCR0_SSE && scratch.legacy[0] == 0xcc,
	      "XSAVE with EDX:EAX = 2: SSE state only");
	asm volatile("fninit");
	ldmxcsr(0x1f80);
}

static void test_variants(void)
{
	struct cpuid r = cpuid(0xd, 1);
	int v;

	load_xmm(xmm_a);
	ldmxcsr(0x3f80);
	if (r.a & BIT(0)) {
		memset(&scratch, 0, sizeof(scratch));
		XOP("xsaveopt", &scratch, XCR0_X87 | XCR0_SSE);
		check(!memcmp(scratch.legacy + 160, xmm_a, sizeof(xmm_a)) &&
			      (scratch.xstate_bv & XCR0_SSE),
		      "XSAVEOPT saves the XMM registers");
	} else {
		skip("XSAVEOPT not offered");
	}
	if (r.a & BIT(1)) {
		memset(&scratch, 0, sizeof(scratch));
		XOP("xsavec", &scratch, XCR0_X87 | XCR0_SSE);
		check(scratch.xcomp_bv == (BIT(63) | XCR0_X87 | XCR0_SSE),
		      "XSAVEC: XCOMP_BV = 2^63 | RFBM");
		load_xmm(xmm_b);
		XOP("xrstor", &scratch, XCR0_X87 | XCR0_SSE);
		check(xmm_is(xmm_a) && stmxcsr() == 0x3f80, "XRSTOR of the compacted form");
		scratch.xstate_bv |= BIT(63);
		v = CATCH(XOP("xrstor", &scratch, XCR0_X87 | XCR0_SSE));
		check(v == GP_VECTOR, "compacted XRSTOR with XSTATE_BV[63]: #GP(0) (vector %d)", v);
	} else {
		skip("XSAVEC not offered");
	}
	if (r.a & BIT(3)) {
		check(rdmsr(MSR_IA32_XSS) == 0, "IA32_XSS is 0");
		memset(&scratch, 0, sizeof(scratch));
		v = CATCH(XOP("xsaves", &scratch, XCR0_X87 | XCR0_SSE));
		check(v == -1 && (scratch.xcomp_bv & BIT(63)), "XSAVES at CPL 0 (vector %d)", v);
		v = CATCH(XOP("xrstors", &scratch, XCR0_X87 | XCR0_SSE));
		check(v == -1, "XRSTORS of its area (vector %d)", v);
	} else {
		v = CATCH(XOP("xsaves", &scratch, XCR0_X87 | XCR0_SSE));
		check(v == UD_VECTOR, "XSAVES not offered: #UD (vector %d)", v);
	}

	/* #GP(0): an area not 64-byte aligned; reserved header bytes in the standard form. */
	v = CATCH(XOP("xsave", (struct xarea *)(raw + 16), XCR0_X87 | XCR0_SSE));
	check(v == GP_VECTOR, "XSAVE to an area not 64-byte aligned: #GP (vector %d)", v);
	XOP("xsave", &scratch, XCR0_X87 | XCR0_SSE);
	scratch.xcomp_bv = 0;
	scratch.rsvd[0] = 1;
	v = CATCH(XOP("xrstor", &scratch, XCR0_X87 | XCR0_SSE));
	check(v == GP_VECTOR, "XRSTOR with header bytes 23:16 not 0: #GP (vector %d)", v);
	scratch.rsvd[0] = 0;
	*(u32 *)(scratch.legacy + 24) = 0x1f80 | BIT(31);
	v = CATCH(XOP("xrstor", &scratch, XCR0_X87 | XCR0_SSE));
	check(v == GP_VECTOR, "XRSTOR of a reserved MXCSR bit: #GP (vector %d)", v);

	/* CR4.OSXSAVE cleared again: XSAVE is #UD, SSE itself still runs (CR4.OSFXSR). */
	write_cr4(read_cr4() & ~(ulong)CR4_OSXSAVE);
	v = CATCH(XOP("xsave", &scratch, XCR0_X87 | XCR0_SSE));
	check(v == UD_VECTOR, "CR4.OSXSAVE cleared: XSAVE raises #UD (vector %d)", v);
	v = CATCH(load_xmm(xmm_b));
	check(v == -1 && xmm_is(xmm_b), "CR4.OSXSAVE cleared: SSE still runs");
	write_cr4(read_cr4() | CR4_OSXSAVE);
	check(xgetbv(0) == (XCR0_X87 | XCR0_SSE), "XCR0 kept across CR4.OSXSAVE");
	ldmxcsr(0x1f80);
}

int main(void)
{
	write_cr0((read_cr0() & ~(ulong)(CR0_EM | CR0_TS)) | CR0_MP | CR0_NE);
	test_disabled();
	test_enable();
	test_switch();
	test_variants();
	return report();
}
