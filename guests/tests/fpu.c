// SPDX-License-Identifier: MIT
/*
 * fpu: the x87 FPU and MMX as an operating system meets them. CPUID (FPU, MMX, FXSR); Linux's
 * probe (FNINIT, then FNSTSW and FNSTCW read back 0 and 037FH); a little arithmetic; #NM from
 * CR0.TS (x87, MMX, FXSAVE; WAIT only with CR0.MP) and CR0.EM (x87 #NM, MMX #UD, WAIT runs);
 * #MF with CR0.NE = 1 at the next waiting instruction, RIP on it, the no-wait forms running;
 * (EMMS taking #MF and FNSTENV clearing ES are left to the unit tests: QEMU TCG has neither);
 * FNSAVE/FRSTOR round trips in the 32- and 16-bit formats; FXSAVE/FXRSTOR round trip and #GP
 * for a misaligned area; MMX aliasing and EMMS. SDM vol. 1 chapters 8 and 9, vol. 3A 2.5 and
 * 6.15 (interrupts 7 and 16). Messages show no values the hardware may differ in.
 */
#include "lib.h"

static u8 save1[108], save2[108], save16[94];
static u8 fx1[512] __attribute__((aligned(16))), fx2[512] __attribute__((aligned(16)));
static u8 fxm[528] __attribute__((aligned(16)));
/* doubles as bit patterns: the guest is built without floating point of its own */
#define D_ONE	0x3ff0000000000000ull
#define D_TWO	0x4000000000000000ull
#define D_THREE 0x4008000000000000ull
static const u64 three = D_THREE, two = D_TWO, zero = 0;
static u64 out[4];
static u64 mm_in = 0x0102030405060708ull, mm_out;

static u16 fnstsw(void)
{
	u16 sw;

	asm volatile("fnstsw %0" : "=m"(sw));
	return sw;
}

static u16 fnstcw(void)
{
	u16 cw;

	asm volatile("fnstcw %0" : "=m"(cw));
	return cw;
}

static void fldcw(u16 cw)
{
	asm volatile("fldcw %0" : : "m"(cw));
}

static void test_probe(void)
{
	struct cpuid r = cpuid(1, 0);

	check(r.d & BIT(0), "CPUID.1:EDX.FPU");
	check(r.d & BIT(23), "CPUID.1:EDX.MMX");
	check(r.d & BIT(24), "CPUID.1:EDX.FXSR");
	/* arch/x86/kernel/fpu/init.c fpu__init_check_features: FNINIT, FNSTSW, FNSTCW */
	asm volatile("fninit");
	check(fnstsw() == 0, "FNINIT: status word 0");
	check(fnstcw() == 0x37f, "FNINIT: control word 037FH");
}

static void test_arith(void)
{
	u16 sw;

	/* 1 / 3 * 3 == 1 in extended precision, sqrt(2)^2 == 2 after rounding to double */
	asm volatile("fninit\n\t"
		     "fld1\n\t"
		     "fdivl %1\n\t"
		     "fmull %1\n\t"
		     "fstpl %0"
		     : "=m"(out[0])
		     : "m"(three));
	check(out[0] == D_ONE, "1 / 3 * 3 = 1");
	asm volatile("fldl %1\n\t"
		     "fsqrt\n\t"
		     "fmul %%st(0), %%st(0)\n\t"
		     "fstpl %0"
		     : "=m"(out[1])
		     : "m"(two));
	check(out[1] == D_TWO, "sqrt(2) squared = 2 (rounded to double)");
	/* FCOMI: 2 > 1 clears ZF PF CF; FCMOVNBE takes it */
	asm volatile("fld1\n\t"
		     "fldl %1\n\t"
		     "fcomi %%st(1), %%st\n\t"
		     "fcmovnbe %%st(1), %%st\n\t"
		     "fstpl %0\n\t"
		     "fstp %%st(0)"
		     : "=m"(out[2])
		     : "m"(two)
		     : "cc");
	check(out[2] == D_ONE, "FCOMI and FCMOVNBE");
	asm volatile("fninit; fld1; fdivl %1; fnstsw %0; fstp %%st(0)" : "=m"(sw) : "m"(zero));
	check((sw & 0x3f) == 0x04, "1 / 0 masked: only ZE");
}

static void test_nm(void)
{
	ulong cr0 = read_cr0();
	int v;

	write_cr0(cr0 | CR0_TS);
	v = CATCH(asm volatile(MARK_IP "fld1"));
	check(v == NM_VECTOR && last_fault.rip == expected_ip,
	      "CR0.TS: FLD1 raises #NM (vector %d)", v);
	v = CATCH(asm volatile("fninit"));
	check(v == NM_VECTOR, "CR0.TS: FNINIT raises #NM too (vector %d)", v);
	v = CATCH(asm volatile("paddb %mm1, %mm0"));
	check(v == NM_VECTOR, "CR0.TS: MMX raises #NM (vector %d)", v);
	v = CATCH(asm volatile("fxsave %0" : "=m"(fx1)));
	check(v == NM_VECTOR, "CR0.TS: FXSAVE raises #NM (vector %d)", v);
	write_cr0((cr0 | CR0_TS) & ~CR0_MP);
	v = CATCH(asm volatile("fwait"));
	check(v == -1, "CR0.TS without MP: WAIT runs (vector %d)", v);
	write_cr0(cr0 | CR0_TS | CR0_MP);
	v = CATCH(asm volatile("fwait"));
	check(v == NM_VECTOR, "CR0.TS with MP: WAIT raises #NM (vector %d)", v);
	asm volatile("clts");
	check(!(read_cr0() & CR0_TS), "CLTS clears CR0.TS");

	write_cr0(cr0 | CR0_EM);
	v = CATCH(asm volatile("fld1"));
	check(v == NM_VECTOR, "CR0.EM: FLD1 raises #NM (vector %d)", v);
	v = CATCH(asm volatile("paddb %mm1, %mm0"));
	check(v == UD_VECTOR, "CR0.EM: MMX raises #UD (vector %d)", v);
	v = CATCH(asm volatile("fwait"));
	check(v == -1, "CR0.EM: WAIT runs (vector %d)", v);
	write_cr0(cr0);
}

static void test_mf(void)
{
	int v;
	u16 sw;

	asm volatile("fninit");
	fldcw(0x37b); /* zero divide unmasked */
	asm volatile("fld1; fdivl %0" : : "m"(zero) : "memory");
	sw = fnstsw();
	check((sw & 0x8084) == 0x8084, "unmasked #Z: ZE, ES and B set, nothing raised yet");
	v = CATCH(asm volatile("fnstcw %0; fnstsw %%ax" : "=m"(sw) : : "rax"));
	check(v == -1, "FNSTCW and FNSTSW do not wait (vector %d)", v);
	v = CATCH(asm volatile(MARK_IP "fwait"));
	check(v == MF_VECTOR && last_fault.rip == expected_ip,
	      "WAIT: #MF, RIP on the WAIT (vector %d)", v);
	v = CATCH(asm volatile(MARK_IP "fld1"));
	check(v == MF_VECTOR && last_fault.rip == expected_ip,
	      "FLD1: #MF before it runs (vector %d)", v);
	asm volatile("fnclex");
	v = CATCH(asm volatile("fld1; fstp %st(0); fwait"));
	check(v == -1, "FNCLEX: nothing pending (vector %d)", v);
	asm volatile("fninit");
}

static void test_save(void)
{
	u16 sw;

	asm volatile("fninit\n\t"
		     "fldpi\n\t"
		     "fld1\n\t"
		     "fldl %2\n\t"
		     "fnsave %0\n\t"
		     "fnstsw %1"
		     : "=m"(save1), "=m"(sw)
		     : "m"(three));
	check(sw == 0, "FNSAVE initializes the FPU");
	asm volatile("frstor %1; fnsave %0" : "=m"(save2) : "m"(save1));
	check(!memcmp(save1, save2, sizeof(save1)), "FRSTOR then FNSAVE: the same 108 bytes");
	asm volatile("frstor %1; fstpl %0" : "=m"(out[3]) : "m"(save1));
	check(out[3] == D_THREE, "FRSTOR: ST(0) back");
	asm volatile("frstor %1; data16 fnsave %0" : "=m"(save16) : "m"(save1));
	asm volatile("data16 frstor %1; fnsave %0" : "=m"(save2) : "m"(save16));
	check(!memcmp(save1 + 28, save2 + 28, 80) && !memcmp(save1, save2, 8),
	      "16-bit FNSAVE/FRSTOR: registers, control and status words back");

	memset(fx1, 0, sizeof(fx1));
	asm volatile("frstor %2; fxsave %0; fninit; fxrstor %0; fxsave %1"
		     : "+m"(fx1), "=m"(fx2)
		     : "m"(save1));
	check(!memcmp(fx1, fx2, 416), "FXSAVE, FXRSTOR, FXSAVE: the same image");
	check(fx1[4] == 0xe0 && (fx1[3] & 0x38) == 0x28, "FXSAVE: abridged tag word and TOP");
	int v = CATCH(asm volatile("fxsave %0" : "=m"(fxm[8])));
	check(v == GP_VECTOR, "FXSAVE to an area not 16-byte aligned: #GP (vector %d)", v);
	asm volatile("fninit");
}

static void test_mmx(void)
{
	u16 sw;

	asm volatile("fninit\n\t"
		     "fld1\n\t"
		     "movq %2, %%mm3\n\t"
		     "paddb %%mm3, %%mm3\n\t"
		     "movq %%mm3, %0\n\t"
		     "fnstsw %1"
		     : "=m"(mm_out), "=m"(sw)
		     : "m"(mm_in));
	check(mm_out == 0x020406080a0c0e10ull, "PADDB");
	check((sw & 0x3800) == 0, "an MMX instruction sets TOP to 0");
	asm volatile("fnsave %0" : "=m"(save1));
	u16 tw = *(u16 *)(save1 + 8);
	bool none_empty = true;
	for (int i = 0; i < 8; i++)
		none_empty = none_empty && ((tw >> (2 * i)) & 3) != 3;
	check(none_empty && ((tw >> 6) & 3) == 2 && (tw >> 14) == 0,
	      "MMX: no register empty, MM3 special (exponent all ones), R7 still 1.0");
	asm volatile("emms; fnstenv %0" : "=m"(save2));
	check(*(u16 *)(save2 + 8) == 0xffff, "EMMS: every register empty");
	asm volatile("fninit");
}

int main(void)
{
	/* Native x87 error reporting, as every current OS sets it (SDM vol. 3A 2.5) */
	write_cr0(read_cr0() | CR0_NE | CR0_MP);
	test_probe();
	test_arith();
	test_nm();
	test_mf();
	test_save();
	test_mmx();
	return report();
}
