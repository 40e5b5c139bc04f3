// SPDX-License-Identifier: MIT
/*
 * tsc: RDTSC is monotonic over many reads and advances, RDTSCP (if advertised) returns the TSC
 * and IA32_TSC_AUX, IA32_TSC (MSR 10h) reads the same counter (SDM 3B 18.17).  WRMSR to
 * IA32_TSC is in sdmstrict (QEMU TCG ignores it).
 */
#include "lib.h"

int main(void)
{
	u64 prev = rdtsc(), first = prev;
	int backwards = 0;

	for (int i = 0; i < 10000; i++) {
		u64 t = rdtsc();
		if (t < prev)
			backwards++;
		prev = t;
	}
	check(!backwards, "10000 RDTSC reads never go backward");
	check(prev > first, "TSC advances (%llu ticks)", (unsigned long long)(prev - first));

	u64 m = rdmsr(MSR_IA32_TSC), t = rdtsc();
	check(t >= m, "RDMSR IA32_TSC <= a later RDTSC");

	if (HAS_RDTSCP()) {
		wrmsr(MSR_TSC_AUX, 7);
		u32 lo, hi, aux;
		u64 before = rdtsc();
		asm volatile("rdtscp" : "=a"(lo), "=d"(hi), "=c"(aux));
		u64 tp = lo | (u64)hi << 32;
		check(aux == 7 && tp >= before, "RDTSCP: ECX = TSC_AUX, time >= previous RDTSC");
		u64 rcx = ~0ull;
		asm volatile("rdtscp" : "=a"(lo), "=d"(hi), "+c"(rcx));
		check(rcx == 7, "RDTSCP zero-extends RCX");
	} else {
		skip("RDTSCP not advertised");
	}
	return report();
}
