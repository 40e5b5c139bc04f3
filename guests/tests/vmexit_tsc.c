// SPDX-License-Identifier: MIT
/*
 * vmexit_tsc: with --vmx rdtsc-exiting=on, RDTSC exits with basic reason 16 (length 2) and
 * RDTSCP with 51 (length 3) (SDM vol. 3C 26.1.3; RDTSCP needs "enable RDTSCP", else #UD).
 * The VMM's answers keep the TSC monotonic and RDTSCP returns IA32_TSC_AUX in ECX.
 */
#include "vmexit.h"

DEFINE_XREC;

static u32 lo, hi, aux;
static u64 t[4];

int main(void)
{
	vmm_probe();
	t[0] = rdtsc();
	EXPECT_EXIT("rdtsc", XR_RDTSC, 0, 2, asm volatile(MARK_IP "rdtsc" : "=a"(lo), "=d"(hi)));
	t[1] = lo | (u64)hi << 32;
	t[2] = rdtsc();
	check(t[0] < t[1] && t[1] < t[2], "RDTSC monotonic through exits (%llu %llu %llu)",
	      (unsigned long long)t[0], (unsigned long long)t[1], (unsigned long long)t[2]);
	if (!HAS_RDTSCP()) {
		skip("RDTSCP not advertised");
		return report();
	}
	wrmsr(MSR_TSC_AUX, 0x42);
	EXPECT_EXIT("rdtscp", XR_RDTSCP, 0, 3,
		    asm volatile(MARK_IP "rdtscp" : "=a"(lo), "=d"(hi), "=c"(aux)));
	t[3] = lo | (u64)hi << 32;
	check(t[3] > t[2], "RDTSCP after RDTSC is larger");
	check_eq(aux, 0x42, "RDTSCP ECX = IA32_TSC_AUX");
	return report();
}
