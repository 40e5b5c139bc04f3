// SPDX-License-Identifier: MIT
/*
 * bench mem: a memory loop over many pages: sequential 8-byte read-modify-writes sweeping a
 * 64 MiB buffer mapped with 4 KiB pages (16384 PTEs at virtual 512 GiB, backed by physical
 * 16-80 MiB: run with -m 128 or more).  Each pass enters every page once, so a TLB smaller than
 * 16384 entries refills once per page per pass, while the accesses within a page stream through
 * the data caches as compiled code's do.  The timed asm block retires exactly
 *	1 + PASSES * (2 + 4 * WORDS + 2)  (WORDS = 512 * PAGES = 8388608, PASSES = 8
 *	-> 268,435,489)
 * Page-table setup (C, before the timed block), boot, printing and exit add < 2,000,000.
 * Exits with code 0 (process status 1); with too little memory it exits with code 2.
 */
#include "pages.h"

#define PASSES 8ull
#define WORDS (PAGES * 512)

int main(void)
{
	u64 count = 1 + PASSES * (2 + 4 * WORDS + 2);

	printf("bench-mem: loop instructions = 1 + %llu * (2 + 4 * %llu + 2) = %llu\n", PASSES, WORDS,
	       (unsigned long long)count);
	if (!bench_map_pages("bench-mem"))
		return 2;

	u64 t0 = rdtsc();
	asm volatile("mov %[passes], %%r8\n"
		     "1:\n\t"
		     "movabs %[base], %%rsi\n\t"
		     "mov %[words], %%ecx\n"
		     "2:\n\t"
		     "add %%rdx, (%%rsi)\n\t"
		     "add $8, %%rsi\n\t"
		     "dec %%rcx\n\t"
		     "jnz 2b\n\t"
		     "dec %%r8\n\t"
		     "jnz 1b"
		     : : [passes] "i"(PASSES), [base] "i"(VA_BASE), [words] "i"(WORDS), "d"(1)
		     : "rcx", "rsi", "r8", "memory", "cc");
	u64 t1 = rdtsc();
	u64 v = *(volatile u64 *)(VA_BASE + 4096 * 77);
	printf("bench-mem: done, page 77 counter %llu (want >= %llu), %llu TSC ticks\n", (unsigned long long)v,
	       PASSES, (unsigned long long)(t1 - t0));
	return 0;
}
