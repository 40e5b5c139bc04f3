/* SPDX-License-Identifier: MIT */
/*
 * Loaders are pure functions from image bytes (plus command line and RAM size) to a boot plan:
 * what to copy where in guest-physical memory and the initial register state. They know nothing
 * of backends or devices; the VMM applies the plan.
 */
#pragma once
#include "common.h"
#include "cpu/x86.h"

#define BOOT_MAX_SEGMENTS 16

/*
 * Multiboot information area: the info structure, memory map, boot loader name and command line,
 * placed in low RAM below the EBDA/VGA hole, where no segment may go.
 */
#define MBI_ADDR	0x8000
#define MBI_AREA_SIZE	0x2000
#define MBI_CMDLINE_MAX 4095 /* bytes, without the NUL */

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
	u8 mbi[MBI_AREA_SIZE]; /* the last segment points here: do not copy a plan */
	char error[256]; /* on failure: what is wrong and how to fix it, without the file name */
};

/*
 * Multiboot v1 (spec 0.6.96): ELF32 images and the a.out-kludge address fields. Segments point
 * into `image`, which must outlive the plan. 0, or -ENOEXEC (not a multiboot image), -EINVAL
 * (malformed or unsupported), -E2BIG (does not fit in mem_size) with plan->error set.
 */
int multiboot_load(const u8 *image, size_t size, const char *cmdline, u64 mem_size,
		   struct boot_plan *plan);
