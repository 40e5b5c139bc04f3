/* SPDX-License-Identifier: MIT */
/*
 * The BIOS memory map (ACPI 6.5 ch. 15, "System Address Map Interfaces"; the INT 15h E820h
 * layout that Linux's boot_params.e820_table and hvm_start_info's memory map both carry). The
 * VMM builds it once from its memory map (firmware/e820.c); loaders and fw_cfg copy it.
 */
#pragma once
#include "common.h"

enum e820_type {
	E820_RAM = 1,
	E820_RESERVED = 2,
	E820_ACPI = 3, /* ACPI reclaimable: the tables */
	E820_NVS = 4,
	E820_UNUSABLE = 5,
};

/* Packed as the boot protocol's struct boot_e820_entry (20 bytes). */
struct e820_entry {
	u64 addr;
	u64 size;
	u32 type;
} __attribute__((packed));

#define E820_MAX_ENTRIES 128 /* E820_MAX_ENTRIES_ZEROPAGE in Linux's bootparam.h */

/*
 * The guest-physical layout of a PC (QEMU's "pc" machine is the model), one set of numbers for the
 * VM's memory map, the e820 table and the ACPI tables:
 *   [0, below_4g)                 RAM, below_4g = min(RAM size, PC_LOW_RAM_MAX) (QEMU's
 *                                 below_4g_mem_size; QEMU moves the split to 3.5 GiB for guests
 *                                 below 3.5 GiB, we keep one rule)
 *   [PC_EBDA_BASE, 0xa0000)       the extended BIOS data area: reserved
 *   [0xa0000, 0x100000)           VGA window, option ROMs, BIOS: reserved (the ACPI tables may sit
 *                                 in the 0xe0000 segment, where Linux also scans for the RSDP)
 *   [PC_PCI_MMIO_BASE, PC_PCI_MMIO_END)  the 32-bit PCI window the host bridge forwards (not in
 *                                 the e820 table: the OS allocates BARs there)
 *   [PC_PCI_MMIO_END, PC_MMIO_HOLE_BASE) platform MMIO devices outside PCI (testdev, virtio-mmio)
 *   [PC_MMIO_HOLE_BASE, 4 GiB)    IOAPIC, HPET, LAPIC, BIOS flash: reserved
 *   [4 GiB, 4 GiB + RAM size - below_4g)  the rest of RAM
 */
#define PC_LOW_RAM_MAX	    0xc0000000ull /* 3 GiB */
#define PC_HIGH_RAM_BASE    0x100000000ull
#define PC_EBDA_BASE	    0x9fc00ull
#define PC_LEGACY_HOLE_BASE 0xa0000ull
#define PC_LEGACY_HOLE_END  0x100000ull
#define PC_PCI_MMIO_BASE    PC_LOW_RAM_MAX
#define PC_PCI_MMIO_END	    0xfe000000ull
#define PC_MMIO_HOLE_BASE   0xfec00000ull
#define PC_MMIO_HOLE_END    0x100000000ull

static inline u64 pc_ram_below_4g(u64 ram_size)
{
	return ram_size < PC_LOW_RAM_MAX ? ram_size : PC_LOW_RAM_MAX;
}

static inline u64 pc_ram_above_4g(u64 ram_size)
{
	return ram_size - pc_ram_below_4g(ram_size);
}

/* What the e820 table is built from: the RAM size and where the ACPI tables lie. */
struct e820_layout {
	u64 ram_size;
	u64 acpi_base, acpi_size; /* E820_ACPI; acpi_size 0: no ACPI tables */
};

/*
 * The layout above as an e820 table in `out` (at most `max` entries): sorted by address, no two
 * entries overlapping, neighbours of one type merged. Where areas overlap the more specific one
 * wins: the ACPI area over the reserved areas, both over RAM. Returns the number of entries,
 * -EINVAL when RAM is empty, RAM or the ACPI area wraps 64 bits, or the ACPI area reaches into
 * the MMIO hole; -ENOSPC when `max` is too small.
 */
int e820_build(const struct e820_layout *l, struct e820_entry *out, unsigned max);
