// SPDX-License-Identifier: MIT
/*
 * vmexit_msr: RDMSR/WRMSR exits, basic reasons 31/32, instruction length 2 (SDM vol. 3C
 * 26.1.3): an MSR whose MSR-bitmap bit is set, or outside 0-0x1fff and
 * 0xc0000000-0xc0001fff, exits; one whose bit is clear (an MSR the CPU holds, LSTAR) does not.
 * The VMM's policy (src/vmm/msr.h) answers IA32_FEATURE_CONTROL (read-only), IA32_BIOS_SIGN_ID
 * (writes ignored) and IA32_MTRR_DEF_TYPE (read-write); an unknown MSR gets #GP(0) with RIP on
 * the RDMSR/WRMSR (SDM vol. 2B RDMSR). Those answers are tollbooth's policy, so they are only
 * checked under tollbooth (QEMU TCG reads unknown MSRs as 0).
 */
#include "vmexit.h"

DEFINE_XREC;

static u32 lo, hi;
static u64 v;

int main(void)
{
	vmm_probe();
	EXPECT_EXIT("rdmsr IA32_FEATURE_CONTROL", XR_MSR_READ, 0, 2,
		    asm volatile(MARK_IP "rdmsr" : "=a"(lo), "=d"(hi) : "c"(0x3a)));
	CHECK_REC(lo & 1, "IA32_FEATURE_CONTROL is locked (%#x)", lo);
	EXPECT_EXIT("wrmsr IA32_BIOS_SIGN_ID", XR_MSR_WRITE, 0, 2,
		    asm volatile(MARK_IP "wrmsr" : : "a"(0), "d"(0), "c"(0x8b)));
	v = rdmsr(0x2ff);
	EXPECT_EXIT("wrmsr IA32_MTRR_DEF_TYPE", XR_MSR_WRITE, 0, 2,
		    asm volatile(MARK_IP "wrmsr" : : "a"(0xc06), "d"(0), "c"(0x2ff)));
	CHECK_REC_EQ(rdmsr(0x2ff), 0xc06, "IA32_MTRR_DEF_TYPE reads back");
	wrmsr(0x2ff, v);

	int vec = EXPECT_EXIT("rdmsr 0x12345 (unknown)", XR_MSR_READ, 0, 2,
			      asm volatile(MARK_IP "rdmsr" : "=a"(lo), "=d"(hi) : "c"(0x12345)));
	CHECK_REC(vec == GP_VECTOR && last_fault.error == 0 && last_fault.rip == expected_ip,
	      "unknown MSR read: #GP(0) on the RDMSR (vector %d)", vec);
	vec = EXPECT_EXIT("wrmsr 0x40000123 (outside the bitmap ranges)", XR_MSR_WRITE, 0, 2,
			  asm volatile(MARK_IP "wrmsr" : : "a"(1), "d"(0), "c"(0x40000123)));
	CHECK_REC(vec == GP_VECTOR && last_fault.rip == expected_ip,
	      "unknown MSR write: #GP(0) on the WRMSR (vector %d)", vec);
	vec = EXPECT_EXIT("wrmsr IA32_FEATURE_CONTROL (read-only)", XR_MSR_WRITE, 0, 2,
			  asm volatile(MARK_IP "wrmsr" : : "a"(5), "d"(0), "c"(0x3a)));
	CHECK_REC(vec == GP_VECTOR, "read-only MSR write: #GP (vector %d)", vec);

	EXPECT_NO_EXIT("rdmsr LSTAR (bitmap bit clear)", XR_MSR_READ, v = rdmsr(MSR_LSTAR));
	EXPECT_NO_EXIT("wrmsr LSTAR (bitmap bit clear)", XR_MSR_WRITE, wrmsr(MSR_LSTAR, v));
	return report();
}
