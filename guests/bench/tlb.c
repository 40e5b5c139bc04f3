// SPDX-License-Identifier: MIT
/*
 * bench tlb: the worst case for any TLB, a loop over a 64 MiB working set mapped with 4 KiB pages
 * (16384 PTEs at virtual 512 GiB, backed by physical 16-80 MiB: run with -m 128 or more).  Each
 * inner iteration does one read-modify-write to a new page, so every access misses the TLB and
 * the host's data caches alike: it measures page walks and memory latency, not instruction
 * throughput (see bench/mem.c for that).  The timed asm block retires exactly
 *	1 + PASSES * (2 + 4 * PAGES + 2)  (PAGES = 16384, PASSES = 4000 -> 262,160,001)
 * Page-table setup (C, before the timed block), boot, printing and exit add < 2,000,000.
 * Exits with code 0 (process status 1); with too little memory it exits with code 2.
 */
#include "pages.h"

#define PASSES 4000ull

int main(void)
{
	u64 count = 1 + PASSES * (2 + 4 * PAGES + 2);

	printf("bench-tlb: loop instructions = 1 + %llu * (2 + 4 * %llu + 2) = %llu\n", PASSES, PAGES,
	       (unsigned long long)count);
	if (!bench_map_pages("bench-tlb"))
		return 2;

	u64 t0 = rdtsc();
	asm volatile("mov %[passes], %%r8\n"
		     "1:\n\t"
		     "movabs %[base], %%rsi\n\t"
		     "mov %[pages], %%ecx\n"
		     "2:\n\t"
		     "add %%rdx, (%%rsi)\n\t"
		     "add $4096, %%rsi\n\t"
		     "dec %%rcx\n\t"
		     "jnz 2b\n\t"
		     "dec %%r8\n\t"
		     "jnz 1b"
		     : : [passes] "i"(PASSES), [base] "i"(VA_BASE), [pages] "i"(PAGES), "d"(1)
		     : "rcx", "rsi", "r8", "memory", "cc");
	u64 t1 = rdtsc();
	u64 v = *(volatile u64 *)(VA_BASE + 4096 * 77);
	printf("bench-tlb: done, page 77 counter %llu (want >= %llu), %llu TSC ticks\n", (unsigned long long)v,
	       PASSES, (unsigned long long)(t1 - t0));
	return 0;
}
