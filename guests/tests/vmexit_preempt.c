// SPDX-License-Identifier: MIT
/*
 * vmexit_preempt: with --vmx preemption-timer=on, the VMX-preemption timer counts down while
 * the guest runs and exits with basic reason 52 when it reaches 0 (SDM vol. 3C 26.5.1); the
 * VMM re-arms it, so a guest spinning without any other exit sees the count of 52 grow. The
 * timer's exits are the host's: HC_LAST_EXIT still reports the last exit the guest caused (a
 * CPUID before the spin), so the other vmexit_* tests can run with the timer on.
 */
#include "vmexit.h"

DEFINE_XREC;

int main(void)
{
	if (vmm_probe() != 1) {
		skip("preemption timer: no tollbooth VMM");
		return report();
	}
	u32 eax = 0, ebx, ecx = 0, edx;

	asm volatile("cpuid" : "+a"(eax), "=b"(ebx), "+c"(ecx), "=d"(edx));
	u64 before = exit_count(XR_PREEMPTION_TIMER);
	u64 spins = 0;
	u64 now = before;
	/* Up to ~2^28 iterations: far beyond any timer value the policy programs. */
	for (u64 round = 0; round < 256 && now - before < 3; round++) {
		for (volatile u32 i = 0; i < (1u << 20); i++)
			spins++;
		now = exit_count(XR_PREEMPTION_TIMER);
	}
	last_exit(&xrec);
	check(now - before >= 3, "preemption timer fired %llu times while spinning (%llu spins)",
	      (unsigned long long)(now - before), (unsigned long long)spins);
	check_eq(xrec.reason, XR_CPUID, "the timer's exits leave the record: still the CPUID's");

	/* The run continues normally between timer exits: the spin's sum is exact. */
	u64 sum = 0;
	for (volatile u32 i = 0; i < 100000; i++)
		sum += i;
	check_eq(sum, 100000ull * 99999 / 2, "arithmetic exact across timer exits");
	return report();
}
