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
