/* SPDX-License-Identifier: MIT */
/*
 * Loaders are pure functions from image bytes (plus command line and RAM size, or for Linux a
 * boot_config) to a boot plan: what to copy where in guest-physical memory and the initial
 * register state. They know nothing of backends or devices; the VMM applies the plan.
 */
#pragma once
#include "common.h"
#include "arch/x86.h"
#include "firmware/e820.h"

#define BOOT_MAX_SEGMENTS 16

/*
 * Multiboot information area: the info structure, memory map, boot loader name and command line,
 * placed in low RAM below the EBDA/VGA hole, where no segment may go.
 */
#define MBI_ADDR	0x8000
#define MBI_AREA_SIZE	0x2000
#define MBI_CMDLINE_MAX 4095 /* bytes, without the NUL */

/*
 * Linux boot data (linux.c, pvh.c), one segment at LINUX_DATA_ADDR in low RAM, below the EBDA
 * and away from the multiboot area: the zero page (bzImage) or the PVH start_info with its module
 * list and memory map, the boot GDT, the page tables of the 64-bit entry's identity map (PML4,
 * PDPT and four page directories: 2 MiB pages over the first 4 GiB) and the command line.
 */
#define LINUX_DATA_ADDR	  0x10000
#define LINUX_DATA_SIZE	  0x9000
#define LINUX_ZERO_PAGE	  (LINUX_DATA_ADDR + 0x0000) /* or hvm_start_info */
#define LINUX_PVH_MODLIST (LINUX_DATA_ADDR + 0x0040) /* one hvm_modlist_entry: the initrd */
#define LINUX_PVH_MEMMAP  (LINUX_DATA_ADDR + 0x0100) /* E820_MAX_ENTRIES of 24 bytes */
#define LINUX_GDT	  (LINUX_DATA_ADDR + 0x1000)
#define LINUX_PML4	  (LINUX_DATA_ADDR + 0x2000) /* then the PDPT and the 4 PDs */
#define LINUX_CMDLINE	  (LINUX_DATA_ADDR + 0x8000)
#define LINUX_CMDLINE_MAX 4095 /* bytes, without the NUL */
#define LINUX_BOOT_CS	  0x10 /* __BOOT_CS and __BOOT_DS (boot.rst, 32/64-bit boot protocol) */
#define LINUX_BOOT_DS	  0x18

struct boot_segment {
	u64 gpa;
	const u8 *data; /* filesz bytes to copy; the rest up to memsz is zeroed */
	u64 filesz, memsz;
};

struct boot_plan {
	struct boot_segment seg[BOOT_MAX_SEGMENTS];
	unsigned nr_segments;
	struct x86_regs regs;
	struct x86_sregs sregs;
	/* The kernel's code as loaded, [text_start, text_end) guest-physical, for --watch kernel;
	   both 0 when the loader cannot tell (a Linux kernel decompresses itself elsewhere). */
	u64 text_start, text_end;
	u8 mbi[MBI_AREA_SIZE]; /* the last segment points here: do not copy a plan */
	/* Linux loaders: the first segment points here (LINUX_DATA_ADDR) */
	u8 linux_data[LINUX_DATA_SIZE] __attribute__((aligned(8)));
	char error[256]; /* on failure: what is wrong and how to fix it, without the file name */
};

/*
 * What the VMM gives the Linux loaders besides the image: the third argument of their
 * (bytes, size, config) signature, which a fuzz target can call as is.
 */
struct boot_config {
	const char *cmdline; /* NUL-terminated; NULL for none */
	u64 mem_size;	     /* guest RAM backs [0, mem_size) */
	/* The guest's memory map (1 to E820_MAX_ENTRIES entries): loaders place boot data, kernel
	   and initrd only where it says RAM, and pass it on to the kernel. */
	const struct e820_entry *e820;
	unsigned nr_e820;
	u64 rsdp_addr;	  /* the ACPI RSDP's guest-physical address; 0: no ACPI tables */
	const u8 *initrd; /* must outlive the plan, like the image */
	u64 initrd_size;  /* 0: no initrd */
};

/*
 * Multiboot v1 (spec 0.6.96): ELF32 images and the a.out-kludge address fields. Segments point
 * into `image`, which must outlive the plan. 0, or -ENOEXEC (not a multiboot image), -EINVAL
 * (malformed or unsupported), -E2BIG (does not fit in mem_size) with plan->error set.
 */
int multiboot_load(const u8 *image, size_t size, const char *cmdline, u64 mem_size,
		   struct boot_plan *plan);

/*
 * Linux bzImage through the x86 boot protocol (Documentation/arch/x86/boot.rst), entered at its
 * 64-bit entry point: protocol 2.12 or later with XLF_KERNEL_64. Segments, in order: the boot
 * data (zero page, GDT, page tables, command line) at LINUX_DATA_ADDR, the protected-mode kernel
 * at its load address, the initrd if any (the image and the initrd must outlive the plan). 0, or
 * -ENOEXEC (not a bzImage), -EINVAL (malformed or unsupported image or input), -E2BIG (does not
 * fit in the memory map's RAM) with plan->error set.
 */
int linux_load(const u8 *image, size_t size, const struct boot_config *cfg, struct boot_plan *plan);

/*
 * An ELF kernel with a Xen PVH entry (XEN_ELFNOTE_PHYS32_ENTRY), as Linux's vmlinux with
 * CONFIG_PVH, entered in 32-bit protected mode with hvm_start_info version 1. Segments: the boot
 * data (start_info, module list, memory map, GDT, command line), the PT_LOAD segments at their
 * physical addresses, the initrd if any. Return values as linux_load (-ENOEXEC: not an ELF file
 * or no PVH note).
 */
int pvh_load(const u8 *image, size_t size, const struct boot_config *cfg, struct boot_plan *plan);
