// SPDX-License-Identifier: MIT
/*
 * msr: RDMSR/WRMSR of EFER (LME, LMA, SCE as the runtime set them), STAR, LSTAR, CSTAR, FMASK,
 * SYSENTER_CS/ESP/EIP, KERNEL_GS_BASE with SWAPGS (SDM 2B SWAPGS), TSC_AUX; EFER.LMA is
 * read-only (SDM 4 table 2-2, 3A 2.2.1).  #GP for unknown MSRs is in sdmstrict.
 */
#include "lib.h"

int main(void)
{
	u64 efer = rdmsr(0xc0000080);
	check((efer & (EFER_LME | EFER_LMA | EFER_SCE)) == (EFER_LME | EFER_LMA | EFER_SCE),
	      "EFER has LME, LMA, SCE (%#llx)", (unsigned long long)efer);
	wrmsr(0xc0000080, efer & ~EFER_LMA);
	check(rdmsr(0xc0000080) & EFER_LMA, "EFER.LMA is not writable");

	static const struct { u32 msr; u64 v; const char *name; } rt[] = {
		{ MSR_STAR, 0x0023001000000000ull, "STAR" },
		{ MSR_LSTAR, 0xffffffff81000000ull, "LSTAR" },
		{ MSR_CSTAR, 0x0000123456789000ull, "CSTAR" },
		{ MSR_FMASK, 0x47700, "FMASK" },
		{ MSR_IA32_SYSENTER_CS, 0x10, "SYSENTER_CS" },
		{ MSR_IA32_SYSENTER_ESP, 0xffff880000001000ull, "SYSENTER_ESP" },
		{ MSR_IA32_SYSENTER_EIP, 0xffffffff81234567ull, "SYSENTER_EIP" },
		{ MSR_KERNEL_GS_BASE, 0xffff888000000000ull, "KERNEL_GS_BASE" },
	};
	for (unsigned i = 0; i < ARRAY_SIZE(rt); i++) {
		u64 old = rdmsr(rt[i].msr);
		wrmsr(rt[i].msr, rt[i].v);
		u64 got = rdmsr(rt[i].msr);
		wrmsr(rt[i].msr, old);
		check(got == rt[i].v, "%s round trip (%#llx)", rt[i].name, (unsigned long long)got);
	}

	static u64 kgs_area[2] = { 0xabcdef, 0 };
	wrmsr(MSR_GS_BASE, 0x1000);
	wrmsr(MSR_KERNEL_GS_BASE, (u64)kgs_area);
	asm volatile("swapgs");
	u64 v;
	asm volatile("mov %%gs:0, %0" : "=r"(v));
	check(v == 0xabcdef && rdmsr(MSR_GS_BASE) == (u64)kgs_area && rdmsr(MSR_KERNEL_GS_BASE) == 0x1000,
	      "SWAPGS exchanges GS_BASE and KERNEL_GS_BASE");
	asm volatile("swapgs");
	check(rdmsr(MSR_GS_BASE) == 0x1000, "second SWAPGS swaps back");
	wrmsr(MSR_GS_BASE, 0);

	if (HAS_RDTSCP()) {
		wrmsr(MSR_TSC_AUX, 0x42);
		u32 aux;
		asm volatile("rdtscp" : "=c"(aux) : : "rax", "rdx");
		check(aux == 0x42 && rdmsr(MSR_TSC_AUX) == 0x42, "TSC_AUX read back and by RDTSCP");
	} else {
		skip("RDTSCP not advertised");
	}

	/* IA32_ARCH_CAPABILITIES (10AH), enumerated by CPUID.(7,0):EDX[29]: a CPU that runs
	   nothing speculatively says so (RDCL_NO bit 0: no page-table isolation needed; MDS_NO
	   bit 5); the MSR is read-only. */
	if (has_feature(7, REG_EDX, 29)) {
		u64 cap = rdmsr(0x10a);

		check((cap & BIT(0)) && (cap & BIT(5)) && !(cap & BIT(1)),
		      "ARCH_CAPABILITIES: RDCL_NO and MDS_NO, no IBRS_ALL (%#llx)",
		      (unsigned long long)cap);
		int v = CATCH(wrmsr(0x10a, cap));
		check(v == GP_VECTOR, "ARCH_CAPABILITIES is read-only: WRMSR #GP (vector %d)", v);
	} else {
		/* QEMU TCG; tests/linux's boot checks that soft advertises it (meltdown) */
		skip("CPUID.(7,0):EDX[29] (ARCH_CAPABILITIES) not advertised");
	}

	return report();
}
