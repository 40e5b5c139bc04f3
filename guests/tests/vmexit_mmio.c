// SPDX-License-Identifier: MIT
/*
 * vmexit_mmio: EPT violations (basic reason 48) on the MMIO test device (src/devices/testdev.h,
 * 4 KiB at 0xfeb00000, not backed by RAM so not mapped by EPT). The device is reached through a
 * 4 KiB page at linear MMIO_VA, so guest-linear and guest-physical addresses differ.
 * Qualification (SDM vol. 3C Table 28-7): bit 0 read, bit 1 write, bit 2 fetch; bits 5:3 the
 * EPT permissions of the address (0: not mapped); bit 7 guest-linear address valid; bit 8 the
 * access was to the translated address, not a paging-structure entry. The instruction length
 * is undefined for EPT violations (28.2.5), so it is not checked.
 */
#include "vmexit.h"

DEFINE_XREC;

/* src/devices/testdev.h (not includable here: it needs the host's common.h). */
#define TESTDEV_MMIO_BASE 0xfeb00000ull
#define TESTDEV_MAGIC 0x54425444u
#define TESTDEV_VERSION 1
#define TESTDEV_REG_MAGIC 0x00
#define TESTDEV_REG_VERSION 0x04
#define TESTDEV_REG_SCRATCH 0x08
#define TESTDEV_REG_COUNT 0x10

#define MMIO_VA 0x8000200000ull /* PML4 slot 1 */
#define QUAL_MASK 0x1bfull	/* bits 0-5, 7, 8 */

static u64 l_pdpt[512] __attribute__((aligned(4096)));
static u64 l_pd[512] __attribute__((aligned(4096)));
static u64 l_pt[512] __attribute__((aligned(4096)));
static u64 val, addr;

int main(void)
{
	pml4[1] = (u64)l_pdpt | PTE_P | PTE_W;
	l_pdpt[0] = (u64)l_pd | PTE_P | PTE_W;
	l_pd[1] = (u64)l_pt | PTE_P | PTE_W;
	l_pt[0] = TESTDEV_MMIO_BASE | PTE_P | PTE_W | BIT(4) /* PCD */;
	flush_tlb();
	vmm_probe();

	addr = MMIO_VA + TESTDEV_REG_MAGIC;
	EXPECT_EXIT("MMIO load of MAGIC", XR_EPT_VIOLATION, XANY, XANY,
		    asm volatile(MARK_IP "movl (%1), %k0" : "=a"(val) : "b"(addr) : "memory"));
	if (!vmm_present() && val != TESTDEV_MAGIC) {
		skip("no tollbooth testdev at %#llx", TESTDEV_MMIO_BASE);
		return report();
	}
	check_eq(val, TESTDEV_MAGIC, "MAGIC reads back");
	if (vmm_present() && !expect_none) {
		check_eq(xrec.qual & QUAL_MASK, 0x181, "load: qualification read, not mapped, "
			 "linear valid, final translation");
		check_eq(xrec.phys, TESTDEV_MMIO_BASE + TESTDEV_REG_MAGIC, "load: guest-physical");
		check_eq(xrec.linear, addr, "load: guest-linear");
	}
	check_eq(*(volatile u32 *)(MMIO_VA + TESTDEV_REG_VERSION), TESTDEV_VERSION, "VERSION");

	addr = MMIO_VA + TESTDEV_REG_SCRATCH;
	val = 0x1122334455667788ull;
	EXPECT_EXIT("MMIO store to SCRATCH", XR_EPT_VIOLATION, XANY, XANY,
		    asm volatile(MARK_IP "movq %0, (%1)" : : "a"(val), "b"(addr) : "memory"));
	if (vmm_present() && !expect_none) {
		check_eq(xrec.qual & QUAL_MASK, 0x182, "store: qualification write, not mapped, "
			 "linear valid, final translation");
		check_eq(xrec.phys, TESTDEV_MMIO_BASE + TESTDEV_REG_SCRATCH, "store: guest-physical");
		check_eq(xrec.linear, addr, "store: guest-linear");
	}
	val = 0;
	EXPECT_EXIT("MMIO load of SCRATCH", XR_EPT_VIOLATION, XANY, XANY,
		    asm volatile(MARK_IP "movq (%1), %0" : "=a"(val) : "b"(addr) : "memory"));
	check_eq(val, 0x1122334455667788ull, "SCRATCH round trip, 8 bytes");
	*(volatile u16 *)(MMIO_VA + TESTDEV_REG_SCRATCH + 2) = 0xbeef;
	check_eq(*(volatile u64 *)(MMIO_VA + TESTDEV_REG_SCRATCH), 0x11223344beef7788ull,
		 "SCRATCH: a 2-byte store inside it");
	check_eq(*(volatile u8 *)(MMIO_VA + TESTDEV_REG_SCRATCH + 7), 0x11, "SCRATCH: 1-byte load");

	*(volatile u64 *)(MMIO_VA + TESTDEV_REG_COUNT) = 0;
	(void)*(volatile u32 *)(MMIO_VA + TESTDEV_REG_MAGIC);
	(void)*(volatile u32 *)(MMIO_VA + TESTDEV_REG_MAGIC);
	check_eq(*(volatile u64 *)(MMIO_VA + TESTDEV_REG_COUNT), 2, "COUNT: two accesses since reset");

	/* A load through the identity map: same device, linear = physical. */
	addr = TESTDEV_MMIO_BASE + TESTDEV_REG_VERSION;
	EXPECT_EXIT("MMIO load through the identity map", XR_EPT_VIOLATION, XANY, XANY,
		    asm volatile(MARK_IP "movl (%1), %k0" : "=a"(val) : "b"(addr) : "memory"));
	check_eq(val, TESTDEV_VERSION, "VERSION through the identity map");
	if (vmm_present())
		check(xrec.phys == addr && xrec.linear == addr, "identity map: linear = physical");
	return report();
}
