// SPDX-License-Identifier: MIT
/*
 * bench remap: a page-table-heavy loop, what an OS does when it maps and unmaps memory. For each
 * of 512 pages in turn: write its PTE (map), write to the page through it, clear the PTE
 * (unmap) and INVLPG it (SDM vol. 3A 4.10.4.1: the unmap is not seen before the invalidation).
 * Under EPT all of it runs in the guest; under shadow paging (--vmx ept=off) each touch is a
 * #PF exit that builds the shadow entry and each INVLPG an exit that drops it (docs/
 * performance.md, "EPT or shadow paging"). The timed asm block retires exactly
 *	1 + PASSES * (6 + 9 * PAGES)  (PAGES = 512, PASSES = 500 -> 2,307,001)
 * with PASSES * PAGES = 256,000 map/touch/unmap/INVLPG rounds. Exits with code 0.
 */
#include "lib.h"

#define PAGES 512ull
#define PASSES 500ull
#define PHYS_BASE 0x1000000ull
#define VA_BASE 0x8000000000ull

static u64 pdpt_r[512] __attribute__((aligned(4096)));
static u64 pd_r[512] __attribute__((aligned(4096)));
static u64 pt_r[512] __attribute__((aligned(4096)));

int main(void)
{
	u64 count = 1 + PASSES * (6 + 9 * PAGES);

	printf("bench-remap: loop instructions = 1 + %llu * (6 + 9 * %llu) = %llu\n", PASSES,
	       PAGES, (unsigned long long)count);
	pd_r[0] = (u64)pt_r | 3;
	pdpt_r[0] = (u64)pd_r | 3;
	pml4[1] = (u64)pdpt_r | 3;
	flush_tlb();

	u64 t0 = rdtsc();
	asm volatile("mov %[passes], %%r8\n"
		     "1:\n\t"
		     "mov %[pt], %%rdi\n\t"
		     "movabs %[va], %%rsi\n\t"
		     "mov %[pages], %%ecx\n"
		     "2:\n\t"
		     "mov %%rax, (%%rdi)\n\t"
		     "incq (%%rsi)\n\t"
		     "movq $0, (%%rdi)\n\t"
		     "invlpg (%%rsi)\n\t"
		     "add $8, %%rdi\n\t"
		     "add $4096, %%rsi\n\t"
		     "add $4096, %%rax\n\t"
		     "dec %%ecx\n\t"
		     "jnz 2b\n\t"
		     "mov %[phys], %%rax\n\t"
		     "dec %%r8\n\t"
		     "jnz 1b"
		     : : [passes] "i"(PASSES), [pt] "r"(pt_r), [va] "i"(VA_BASE),
		       [pages] "i"(PAGES), [phys] "i"(PHYS_BASE | 3), "a"(PHYS_BASE | 3)
		     : "rcx", "rsi", "rdi", "r8", "memory", "cc");
	u64 t1 = rdtsc();
	u64 v = *(volatile u64 *)(PHYS_BASE + 4096 * 77);
	printf("bench-remap: done, page 77 counter %llu (want %llu), %llu TSC ticks\n",
	       (unsigned long long)v, PASSES, (unsigned long long)(t1 - t0));
	return v == PASSES ? 0 : 1;
}
