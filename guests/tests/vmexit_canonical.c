// SPDX-License-Identifier: MIT
/*
 * vmexit_canonical: a VMCALL whose last byte is the last byte of the lower canonical half
 * (0x7fffffffffff). The VMM completes it and advances RIP to 0x800000000000, which is not
 * canonical. VM entry checks only that bits 63:48 of RIP are identical (SDM vol. 3C 27.3.1.4),
 * so the guest resumes there and its instruction fetch raises #GP(0) with that RIP (SDM vol. 1
 * 3.3.7.1): the guest handles it and the run goes on.
 */
#include "vmexit.h"

static u8 page[4096] __attribute__((aligned(4096)));
static u64 top_pdpt[512] __attribute__((aligned(4096)));
static u64 top_pd[512] __attribute__((aligned(4096)));
static u64 top_pt[512] __attribute__((aligned(4096)));

#define TOP_PAGE 0x00007ffffffff000ull /* the last 4 KiB page of the lower half */

int main(void)
{
	if (vmm_probe() != 1) {
		skip("VMCALL at the end of canonical space: no tollbooth VMM");
		return report();
	}
	top_pt[511] = (u64)page | PTE_P | PTE_W;
	top_pd[511] = (u64)top_pt | PTE_P | PTE_W;
	top_pdpt[511] = (u64)top_pd | PTE_P | PTE_W;
	pml4[255] = (u64)top_pdpt | PTE_P | PTE_W;
	flush_tlb();
	page[0xffd] = 0x0f; /* vmcall: 0F 01 C1, ending at 0x7fffffffffff */
	page[0xffe] = 0x01;
	page[0xfff] = 0xc1;

	u64 before = exit_count(XR_VMCALL);
	int vec = CATCH(asm volatile("call *%0"
				     :
				     : "r"(TOP_PAGE + 0xffd), "a"((u64)HC_GET_VERSION), "b"(0ull)
				     : "memory", "cc"));
	u64 vmcalls = exit_count(XR_VMCALL) - before;
	check(vec == GP_VECTOR, "fetch at RIP 0x800000000000 after the VMCALL: #GP (vector %d)",
	      vec);
	check(last_fault.rip == 0x0000800000000000ull && last_fault.error == 0,
	      "#GP(%lu) reports RIP %#lx", last_fault.error, last_fault.rip);
	check_eq(vmcalls, 2, "the VMCALL at 0x7ffffffffffd exited once (plus the count query)");
	pml4[255] = 0;
	flush_tlb();
	return report();
}
