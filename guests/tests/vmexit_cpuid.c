// SPDX-License-Identifier: MIT
/*
 * vmexit_cpuid: CPUID exits unconditionally in VMX non-root operation (SDM vol. 3C 26.1.2), basic
 * reason 10, instruction length 2, no qualification (exit.h: undefined fields are zeroed); every
 * CPUID is one exit, and the VMM's answer matches a second query.
 */
#include "vmexit.h"

DEFINE_XREC;
static u32 a, b, c, d;

int main(void)
{
	vmm_probe();
	EXPECT_EXIT("cpuid leaf 0", XR_CPUID, 0, 2,
		    asm volatile(MARK_IP "cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d) : "a"(0), "c"(0)));
	struct cpuid r = cpuid(0, 0);
	check(a == r.a && b == r.b && c == r.c && d == r.d, "leaf 0 answers the same twice");
	EXPECT_EXIT("cpuid leaf 0x80000001", XR_CPUID, 0, 2,
		    asm volatile(MARK_IP "cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d)
				 : "a"(0x80000001), "c"(0)));
	check(d & BIT(29), "80000001H EDX.LM through the exit");

	if (vmm_present()) {
		u64 before = exit_count(XR_CPUID);
		for (int i = 0; i < 10; i++)
			cpuid(1, 0);
		u64 n = exit_count(XR_CPUID) - before;
		check(n == 10, "10 CPUIDs are 10 exits (%llu)", (unsigned long long)n);
	} else {
		skip("CPUID exit count: no VMM");
	}
	return report();
}
