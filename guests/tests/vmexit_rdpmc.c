// SPDX-License-Identifier: MIT
/*
 * vmexit_rdpmc: with --vmx rdpmc-exiting=on, RDPMC exits with basic reason 15, length 2
 * (SDM vol. 3C 26.1.3; at CPL 0 no privilege #GP comes first, 26.1.1). tollbooth has no
 * performance counters, so the VMM answers #GP(0) on the instruction.
 */
#include "vmexit.h"

DEFINE_XREC;

static u32 lo, hi;

int main(void)
{
	vmm_probe();
	int vec = EXPECT_EXIT("rdpmc 0", XR_RDPMC, 0, 2,
			      asm volatile(MARK_IP "rdpmc" : "=a"(lo), "=d"(hi) : "c"(0)));
	if (vmm_present())
		check(vec == GP_VECTOR && last_fault.rip == expected_ip && last_fault.error == 0,
		      "RDPMC: #GP(0) on the instruction (vector %d)", vec);
	else
		printf("RDPMC without tollbooth: vector %d\n", vec);
	vec = EXPECT_EXIT("rdpmc 0x40000000 (fixed counter 0)", XR_RDPMC, 0, 2,
			  asm volatile(MARK_IP "rdpmc" : "=a"(lo), "=d"(hi) : "c"(0x40000000)));
	if (vmm_present())
		check(vec == GP_VECTOR, "RDPMC fixed counter: #GP (vector %d)", vec);
	return report();
}
