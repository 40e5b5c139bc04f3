/* SPDX-License-Identifier: MIT */
/*
 * ACPI tables for the VM (ACPI 6.3): RSDP, XSDT, FADT, FACS, MADT, HPET and a DSDT, generated from
 * a description of the machine (struct acpi_config) and laid out for a guest-physical address, so
 * the VMM copies the bytes into guest RAM and an OS finds the RSDP there: Linux scans
 * 0xe0000-0xfffff on 16-byte boundaries (ACPI 6.3 5.2.5.1) or takes boot_params.acpi_rsdp_addr.
 *
 * Layout (offsets from the base; the base must be 16-byte aligned):
 *   RSDP 36 bytes at 0; FACS 64 bytes at the next 64-byte boundary (5.2.10; only with the PM
 *   block); then XSDT, FADT (276 bytes), MADT, HPET (56 bytes, only with the HPET) and the DSDT,
 *   each 8-byte aligned. A PC with 255 vCPUs and 32 virtio-mmio devices needs 13 KiB, well
 *   inside ACPI_TABLES_SIZE.
 *
 * What the board must make true, since the tables promise it:
 *   - the PM block: PM1a_EVT at ACPI_PM1A_EVT_BLK (4 bytes: PM1_STS, PM1_EN), PM1a_CNT at
 *     ACPI_PM1A_CNT_BLK (2 bytes), PM_TMR at ACPI_PM_TMR_BLK (4 bytes); SMI_CMD is 0, so the
 *     machine is always in ACPI mode and PM1_CNT.SCI_EN must read 1 (5.2.9 SMI_CMD);
 *     PM1_CNT.SLP_TYP = ACPI_SLP_TYP_S5 with SLP_EN set is soft-off (the \_S5 object);
 *   - the SCI on ISA IRQ / GSI ACPI_SCI_IRQ, level, active high (the MADT's override says so);
 *   - writing ACPI_RESET_VALUE to port ACPI_RESET_PORT resets the machine (FADT RESET_REG);
 *   - the HPET's GCAP_ID bits 31:0 equal hpet_block_id (the HPET table repeats them).
 */
#pragma once
#include "common.h"

/* Where the board puts the tables: the BIOS area's 0xe0000 segment (e820.h reserves it). */
#define ACPI_TABLES_BASE 0xe0000ull
#define ACPI_TABLES_SIZE 0x10000ull

/* The PM block (QEMU's ICH9 layout at 0x600) and its interrupt. */
#define ACPI_PM1A_EVT_BLK 0x600
#define ACPI_PM1_EVT_LEN  4
#define ACPI_PM1A_CNT_BLK 0x604
#define ACPI_PM1_CNT_LEN  2
#define ACPI_PM_TMR_BLK	  0x608
#define ACPI_PM_TMR_LEN	  4
#define ACPI_SCI_IRQ	  9
/*
 * SLP_TYP for S5 (soft off) in PM1_CNT bits 12:10, the value \_S5 hands the OS (ACPI 6.3 7.4.2.6,
 * 4.8.3.2.1). The value is the platform's choice; chipsets differ (PIIX4 uses 0, ICH9 7); 5 is the
 * number tollbooth's PM block and these tables agree on.
 */
#define ACPI_SLP_TYP_S5 5

/* The reset register: the PIIX3/ICH reset control register, a full reset (FADT RESET_REG). */
#define ACPI_RESET_PORT	 0xcf9
#define ACPI_RESET_VALUE 0x06

#define ACPI_LAPIC_ADDR 0xfee00000u
#define ACPI_HPET_ADDR	0xfed00000u
#define ACPI_HPET_SIZE	0x400u
/* CMOS RAM index of the century byte (IBM PC AT), FADT CENTURY. */
#define ACPI_RTC_CENTURY 0x32

/* vCPU i has ACPI Processor UID i: up to 254 it fits the Local APIC structure's byte and stays
   clear of 0xff, "all processors" in the Local APIC NMI structure (5.2.12.2, 5.2.12.7). */
#define ACPI_MAX_CPUS	     255
#define ACPI_MAX_ISOS	     16
#define ACPI_MAX_VIRTIO_MMIO 32
#define ACPI_VIRTIO_MMIO_SIZE 0x200 /* the virtio-mmio register block (virtio 1.2 4.2.2) */

/* MPS INTI flags of an interrupt source override (ACPI 6.3 5.2.12.5): polarity bits 1:0,
   trigger mode bits 3:2; 0 in a field means "conforms to the bus" (ISA: edge, active high). */
#define ACPI_MPS_ACTIVE_HIGH 0x1
#define ACPI_MPS_ACTIVE_LOW  0x3
#define ACPI_MPS_EDGE	     (0x1 << 2)
#define ACPI_MPS_LEVEL	     (0x3 << 2)

struct acpi_iso {
	u8 irq;	  /* ISA IRQ (bus 0) */
	u32 gsi;
	u16 flags; /* ACPI_MPS_* */
};

/* A virtio-mmio device, described as "LNRO0005" with its registers and a level, active-high
   interrupt (the device holds its line while InterruptStatus is not 0). */
struct acpi_virtio_mmio {
	u32 base; /* below 4 GiB */
	u32 gsi;
};

struct acpi_config {
	unsigned nr_cpus;		 /* 1..ACPI_MAX_CPUS */
	u32 apic_ids[ACPI_MAX_CPUS];	 /* per vCPU, the BSP first; >= 255: an x2APIC entry */
	struct {
		u8 id;
		u32 addr;
		u32 gsi_base;
	} ioapic;
	struct acpi_iso isos[ACPI_MAX_ISOS];
	unsigned nr_isos;

	bool pic;	/* the 8259A pair: PCAT_COMPAT, PNP0000 */
	bool pit;	/* the 8254 at 0x40, IRQ 0: PNP0100 */
	bool rtc;	/* the MC146818 at 0x70, IRQ 8: PNP0B00, the century byte */
	bool i8042;	/* 0x60/0x64, IRQ 1 and 12: PNP0303, PNP0F13 */
	bool com1;	/* 16550 at 0x3f8, IRQ 4: PNP0501 */
	bool fw_cfg;	/* QEMU0002 at 0x510 */
	bool hpet;	/* at ACPI_HPET_ADDR: the HPET table, PNP0103 */
	u32 hpet_block_id; /* the HPET's GCAP_ID bits 31:0 */
	bool pm;	/* the PM block and the SCI; without it the FADT is hardware-reduced */
	bool pm_timer;	/* PM_TMR (needs pm) */
	bool pm_timer_32bit; /* TMR_VAL_EXT: a 32-bit PM timer, else 24-bit as PIIX4 and ICH9 */
	bool reset_reg;	/* ACPI_RESET_VALUE to ACPI_RESET_PORT resets */
	bool msi;	/* MSI works; when false the FADT tells the OS not to use it */
	bool pci;	/* the host bridge at 0xcf8: PNP0A03 */
	u32 pci_mmio_base, pci_mmio_end; /* its 32-bit memory window [base, end) */
	struct acpi_virtio_mmio virtio[ACPI_MAX_VIRTIO_MMIO];
	unsigned nr_virtio;
};

/*
 * A PC per the platform contract: nr_cpus vCPUs with APIC IDs 0..n-1, the IOAPIC (ID 0) at
 * 0xfec00000 with GSIs from 0, overrides ISA IRQ 0 -> GSI 2 (edge, as the bus) and the SCI
 * (IRQ 9 -> GSI 9, level, active high), every legacy device, the HPET as QEMU's (GCAP_ID low half
 * 0x8086a201: 3 comparators, 64-bit, legacy-replacement capable), the PM block with a 24-bit
 * timer, the reset register, no MSI, the PCI host bridge with the window of e820.h, no virtio.
 */
void acpi_config_pc(struct acpi_config *c, unsigned nr_cpus);

/* Where the tables landed (guest-physical; 0 for a table not built) and the bytes used. */
struct acpi_tables {
	u64 rsdp, facs, xsdt, fadt, madt, hpet, dsdt;
	size_t size;
};

/*
 * Lay the tables out into buf[0, cap) for the guest-physical address `gpa` (every pointer in them
 * is absolute), so buf[0, out->size) is copied to guest RAM at gpa; out->rsdp == gpa. The buffer
 * is fully written up to out->size (padding zeroed). Returns 0; -EINVAL for a configuration the
 * tables cannot describe (no vCPU or too many, a bad count, gpa not 16-byte aligned or tables
 * not below 4 GiB, pm_timer without pm, a window or device that does not fit 32 bits);
 * -ENOSPC when cap is too small.
 */
int acpi_build_tables(const struct acpi_config *cfg, u64 gpa, u8 *buf, size_t cap,
		      struct acpi_tables *out);
