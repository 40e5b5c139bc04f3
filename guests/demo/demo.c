// SPDX-License-Identifier: MIT
/*
 * demo: the guest tollbooth runs when given no image.  A short tour that makes a few VM exits
 * of each common kind: CPUID (vendor string), port I/O (serial output, the UART scratch
 * register), a ring-3 round trip (IRETQ down, SYSCALL up, SYSRET back, INT 0x80 home), and a
 * page fault handled by mapping the page on demand.  Exits with code 0 (process status 1).
 */
#include "lib.h"

#define LAZY_VA 0x8000000000ull

static u64 l_pdpt[512] __attribute__((aligned(4096)));
static u64 l_pd[512] __attribute__((aligned(4096)));
static u64 l_pt[512] __attribute__((aligned(4096)));
static u8 lazy_page[4096] __attribute__((aligned(4096)));
static volatile int faults;

/* #PF handler: map the faulting page and retry the access (SDM 3A 7.15: #PF is a fault). */
static void pf_map_on_demand(struct frame *f)
{
	u64 va = read_cr2();
	faults++;
	printf("  #PF at %#llx (error %#llx): mapping it on demand\n", (unsigned long long)va,
	       (unsigned long long)f->error);
	l_pt[(va >> 12) & 511] = (u64)lazy_page | 3;
	invlpg((void *)va);
}

static u64 user_main(u64 arg)
{
	u64 r;
	asm volatile("syscall" : "=a"(r) : "a"(arg), "D"(2), "S"(3) : "rcx", "r11", "memory");
	return r;
}

int main(void)
{
	struct cpuid c = cpuid(0, 0);
	char vendor[13];
	memcpy(vendor, &c.b, 4);
	memcpy(vendor + 4, &c.d, 4);
	memcpy(vendor + 8, &c.c, 4);
	vendor[12] = 0;

	printf("tollbooth demo guest\n");
	printf("1. CPUID: vendor \"%s\", max leaf %#x\n", vendor, c.a);

	outb(0x3ff, 0x42);
	printf("2. port I/O: wrote 0x42 to the UART scratch register, read back %#x\n", inb(0x3ff));

	u64 r = user_call(user_main, 37);
	printf("3. ring 3 round trip: CPL 3 code made SYSCALL(37, 2, 3) -> %llu\n", (unsigned long long)r);

	pml4[1] = (u64)l_pdpt | 3;
	l_pdpt[0] = (u64)l_pd | 3;
	l_pd[0] = (u64)l_pt | 3;
	flush_tlb();
	set_handler(PF_VECTOR, pf_map_on_demand);
	*(volatile u64 *)(LAZY_VA + 0x10) = 0x7011b007;
	set_handler(PF_VECTOR, NULL);
	printf("4. page fault: %d fault(s), the store landed: %#llx\n", faults,
	       (unsigned long long)*(u64 *)(lazy_page + 0x10));

	bool ok = r == 42 && faults == 1 && *(u64 *)(lazy_page + 0x10) == 0x7011b007;
	printf("demo %s, exiting with code 0\n", ok ? "complete" : "FAILED");
	return ok ? 0 : 1;
}
