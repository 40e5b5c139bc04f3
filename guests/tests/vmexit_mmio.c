// SPDX-License-Identifier: MIT
/*
 * vmexit_mmio: EPT violations (basic reason 48) on the MMIO test device (src/devices/testdev.h,
 * 4 KiB at 0xfeb00000, not backed by RAM so not mapped by EPT). The device is reached through a
 * 4 KiB page at linear MMIO_VA, so guest-linear and guest-physical addresses differ.
 * Qualification (SDM vol. 3C Table 28-7): bit 0 read, bit 1 write, bit 2 fetch; bits 5:3 the
 * EPT permissions of the address (0: not mapped); bit 7 guest-linear address valid; bit 8 the
 * access was to the translated address, not a paging-structure entry. The instruction length
 * is undefined for EPT violations (28.2.5), so it is not checked.
 *
 * With "shadow" on the command line (run with --vmx ept=off) there is no EPT: the VMM's shadow
 * tables leave MMIO pages unmapped, so each access is a #PF exit (basic reason 0, SDM 26.2)
 * whose qualification is the linear address and whose error code says read or write (28.2.1,
 * 28.2.2); the VMM emulates the access as it would an EPT violation.
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
static bool shadow;
static u32 mmio_exit;

/* What an MMIO access left in the exit record, beyond its reason. */
static void check_rec(const char *what, bool write, u64 phys)
{
	if (!vmm_present() || expect_none)
		return;
	if (shadow) {
		check(xrec.qual == addr, "%s: #PF qualification = linear address (got %#llx)", what,
		      (unsigned long long)xrec.qual);
		check((xrec.intr_info & 0x80000fff) == 0x80000b0e,
		      "%s: interruption info #PF, hardware exception, error code (got %#llx)", what,
		      (unsigned long long)xrec.intr_info);
		check(xrec.intr_error == (write ? 2u : 0u), "%s: error code not present, %s (got %#llx)",
		      what, write ? "write" : "read", (unsigned long long)xrec.intr_error);
		return;
	}
	check((xrec.qual & QUAL_MASK) == (write ? 0x182u : 0x181u),
	      "%s: qualification %s, not mapped, linear valid, final translation (got %#llx)", what,
	      write ? "write" : "read", (unsigned long long)xrec.qual);
	check(xrec.phys == phys, "%s: guest-physical (got %#llx)", what,
	      (unsigned long long)xrec.phys);
	check(xrec.linear == addr, "%s: guest-linear (got %#llx)", what,
	      (unsigned long long)xrec.linear);
}

int main(void)
{
	shadow = cmdline_has("shadow");
	mmio_exit = shadow ? XR_EXCEPTION_NMI : XR_EPT_VIOLATION;
	pml4[1] = (u64)l_pdpt | PTE_P | PTE_W;
	l_pdpt[0] = (u64)l_pd | PTE_P | PTE_W;
	l_pd[1] = (u64)l_pt | PTE_P | PTE_W;
	l_pt[0] = TESTDEV_MMIO_BASE | PTE_P | PTE_W | BIT(4) /* PCD */;
	flush_tlb();
	vmm_probe();

	addr = MMIO_VA + TESTDEV_REG_MAGIC;
	EXPECT_EXIT("MMIO load of MAGIC", mmio_exit, XANY, XANY,
		    asm volatile(MARK_IP "movl (%1), %k0" : "=a"(val) : "b"(addr) : "memory"));
	if (!vmm_present() && val != TESTDEV_MAGIC) {
		skip("no tollbooth testdev at %#llx", TESTDEV_MMIO_BASE);
		return report();
	}
	check_eq(val, TESTDEV_MAGIC, "MAGIC reads back");
	check_rec("load", false, TESTDEV_MMIO_BASE + TESTDEV_REG_MAGIC);
	check_eq(*(volatile u32 *)(MMIO_VA + TESTDEV_REG_VERSION), TESTDEV_VERSION, "VERSION");

	addr = MMIO_VA + TESTDEV_REG_SCRATCH;
	val = 0x1122334455667788ull;
	EXPECT_EXIT("MMIO store to SCRATCH", mmio_exit, XANY, XANY,
		    asm volatile(MARK_IP "movq %0, (%1)" : : "a"(val), "b"(addr) : "memory"));
	check_rec("store", true, TESTDEV_MMIO_BASE + TESTDEV_REG_SCRATCH);
	val = 0;
	EXPECT_EXIT("MMIO load of SCRATCH", mmio_exit, XANY, XANY,
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
	EXPECT_EXIT("MMIO load through the identity map", mmio_exit, XANY, XANY,
		    asm volatile(MARK_IP "movl (%1), %k0" : "=a"(val) : "b"(addr) : "memory"));
	check_eq(val, TESTDEV_VERSION, "VERSION through the identity map");
	check_rec("identity map", false, addr);
	return report();
}
