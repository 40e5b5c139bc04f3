// SPDX-License-Identifier: MIT
/*
 * The working set of the memory benchmarks (mem.c, tlb.c): 64 MiB of 4 KiB pages (16384 PTEs) at
 * virtual 512 GiB, backed by physical 16-80 MiB, so tollbooth's default 128 MiB is enough.
 */
#include "lib.h"

#define PAGES 16384ull
#define PHYS_BASE 0x1000000ull
#define VA_BASE 0x8000000000ull

static u64 pdpt_b[512] __attribute__((aligned(4096)));
static u64 pd_b[512] __attribute__((aligned(4096)));
static u64 pts[PAGES / 512][512] __attribute__((aligned(4096)));

/* Maps the working set; false (after saying why) if RAM is too small. */
static bool bench_map_pages(const char *name)
{
	const struct mb_info *mb = (const struct mb_info *)mb_info;

	if ((mb->flags & 1) && ((u64)mb->mem_upper << 10) + 0x100000 < PHYS_BASE + PAGES * 4096) {
		printf("%s: needs %llu MiB of RAM, have %u KiB above 1 MiB\n", name,
		       (PHYS_BASE + PAGES * 4096) >> 20, mb->mem_upper);
		return false;
	}
	for (u64 i = 0; i < PAGES; i++)
		pts[i / 512][i % 512] = (PHYS_BASE + i * 4096) | 3;
	for (u64 i = 0; i < PAGES / 512; i++)
		pd_b[i] = (u64)pts[i] | 3;
	pdpt_b[0] = (u64)pd_b | 3;
	pml4[1] = (u64)pdpt_b | 3;
	flush_tlb();
	return true;
}
