// SPDX-License-Identifier: MIT
/*
 * vmexit_misc: the one-byte-qualification instruction exits (SDM vol. 3C 26.1.2-26.1.3):
 * PAUSE 40 (pause-exiting=on, length 2), WBINVD 54 (wbinvd-exiting=on, length 2), XSETBV 55
 * (unconditional, length 3; #UD first when CR4.OSXSAVE = 0), MONITOR 39 / MWAIT 36
 * (monitor-exiting=on, mwait-exiting=on, length 3; both #UD, before any exit, when
 * CPUID.1:ECX.MONITOR = 0, 26.1.1).
 */
#include "vmexit.h"

DEFINE_XREC;

#define CR4_OSXSAVE BIT(18)
static u32 lo, hi;

int main(void)
{
	vmm_probe();
	EXPECT_EXIT("pause", XR_PAUSE_INSTRUCTION, 0, 2, asm volatile(MARK_IP "pause"));
	EXPECT_EXIT("wbinvd", XR_WBINVD, 0, 2, asm volatile(MARK_IP "wbinvd" : : : "memory"));

	if (HAS_MONITOR()) {
		static volatile u64 line;
		EXPECT_EXIT("monitor", XR_MONITOR_INSTRUCTION, 0, 3,
			    asm volatile(MARK_IP "monitor %%rax, %%ecx, %%edx"
					 : : "a"(&line), "c"(0), "d"(0)));
		if (vmm_present()) {
			EXPECT_EXIT("mwait", XR_MWAIT_INSTRUCTION, XANY, 3,
				    asm volatile(MARK_IP "mwait %%eax, %%ecx" : : "a"(0), "c"(0)));
			check(xrec.qual <= 1, "MWAIT qualification is 0 or 1 (monitor armed)");
		} else {
			skip("mwait: would wait for an interrupt without a VMM that exits on it");
		}
	} else {
		int vec = EXPECT_NO_EXIT("monitor, not advertised", XR_MONITOR_INSTRUCTION,
					 asm volatile("monitor %%rax, %%ecx, %%edx"
						      : : "a"(0), "c"(0), "d"(0)));
		check(vec == UD_VECTOR, "MONITOR not advertised: #UD (vector %d)", vec);
		vec = EXPECT_NO_EXIT("mwait, not advertised", XR_MWAIT_INSTRUCTION,
				     asm volatile("mwait %%eax, %%ecx" : : "a"(0), "c"(0)));
		check(vec == UD_VECTOR, "MWAIT not advertised: #UD (vector %d)", vec);
	}

	if (!has_feature(1, REG_ECX, 26)) {
		int vec = EXPECT_NO_EXIT("xsetbv, XSAVE not advertised", XR_XSETBV,
					 asm volatile("xsetbv" : : "a"(1), "d"(0), "c"(0)));
		check(vec == UD_VECTOR, "XSETBV without XSAVE: #UD (vector %d)", vec);
		return report();
	}
	int vec = EXPECT_NO_EXIT("xsetbv, CR4.OSXSAVE = 0", XR_XSETBV,
				 asm volatile("xsetbv" : : "a"(1), "d"(0), "c"(0)));
	check(vec == UD_VECTOR, "XSETBV with CR4.OSXSAVE = 0: #UD (vector %d)", vec);
	write_cr4(read_cr4() | CR4_OSXSAVE);
	vec = EXPECT_EXIT("xsetbv XCR0 = 1", XR_XSETBV, 0, 3,
			  asm volatile(MARK_IP "xsetbv" : : "a"(1), "d"(0), "c"(0)));
	check(vec == -1, "XSETBV XCR0 = x87 completes (vector %d)", vec);
	asm volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
	check(lo == 1 && hi == 0, "XGETBV reads XCR0 = 1 (%#x)", lo);
	vec = EXPECT_EXIT("xsetbv XCR0 = 0 (invalid)", XR_XSETBV, 0, 3,
			  asm volatile(MARK_IP "xsetbv" : : "a"(0), "d"(0), "c"(0)));
	check(vec == GP_VECTOR, "XSETBV XCR0 = 0: #GP (vector %d)", vec);
	return report();
}
