// SPDX-License-Identifier: MIT
/*
 * vmexit_pml: with --vmx pml=on (and EPT with accessed/dirty flags), each guest-physical page
 * whose EPT dirty flag goes from 0 to 1 is logged into the 512-entry PML buffer; when the index
 * would go below 0 the write exits with basic reason 62, "page-modification log full"
 * (SDM vol. 3C 29.3.6). Dirtying 2048 fresh pages must cause at least 3 such exits, and the
 * data written must all be there afterwards. Run with mem=64 (the pages are 16-24 MiB).
 */
#include "vmexit.h"

DEFINE_XREC;

#define FIRST 0x1000000ull
#define PAGES 2048

int main(void)
{
	if (vmm_probe() != 1) {
		skip("PML: no tollbooth VMM");
		return report();
	}
	u64 before = exit_count(XR_PML_FULL);
	for (u64 i = 0; i < PAGES; i++)
		*(volatile u64 *)(FIRST + i * 4096 + (i & 511) * 8) = i ^ 0x5a5a;
	last_exit(&xrec);
	u64 n = exit_count(XR_PML_FULL) - before;
	check(n >= PAGES / 512 - 1, "PML full exits after dirtying %d pages: %llu", PAGES,
	      (unsigned long long)n);
	check(n <= PAGES / 512 + 2, "no more PML full exits than 512-entry batches (%llu)",
	      (unsigned long long)n);
	check_eq(xrec.reason, XR_PML_FULL, "the last exit while writing is PML full");
	bool ok = true;
	for (u64 i = 0; i < PAGES; i++)
		ok &= *(volatile u64 *)(FIRST + i * 4096 + (i & 511) * 8) == (i ^ 0x5a5a);
	check(ok, "all %d writes landed", PAGES);
	/* Writing the same pages again dirties nothing new. */
	before = exit_count(XR_PML_FULL);
	for (u64 i = 0; i < PAGES; i++)
		*(volatile u64 *)(FIRST + i * 4096) = i;
	n = exit_count(XR_PML_FULL) - before;
	check(n <= 1, "rewriting dirty pages: at most one more PML full exit (%llu)",
	      (unsigned long long)n);
	return report();
}
