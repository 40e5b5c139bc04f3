/* SPDX-License-Identifier: MIT */
/*
 * What the Linux loaders (linux.c: bzImage, pvh.c: PVH ELF) share (boot_data.c): refusals,
 * segments, the guest's RAM as the boot_config's memory map describes it, the initrd's
 * placement, the boot data area and the boot GDT.
 */
#pragma once
#include "loader/loader.h"

#define SZ_1M 0x100000ull
#define SZ_4G 0x100000000ull

/* Offset of guest-physical address `gpa` (inside the boot data area) in plan->linux_data. */
#define LINUX_DATA(plan, gpa) ((plan)->linux_data + ((gpa)-LINUX_DATA_ADDR))

/* plan->error = the message; returns err. */
int loader_fail(struct boot_plan *plan, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

int loader_add_segment(struct boot_plan *plan, u64 gpa, const u8 *data, u64 filesz, u64 memsz);

/* Whether the memory map's RAM (clipped to mem_size) covers all of [start, end). */
bool loader_ram_covers(const struct boot_config *cfg, u64 start, u64 end);

/*
 * The lowest address >= from, a multiple of align (a power of two), with [addr, addr + len) in
 * RAM and below limit. False if there is none.
 */
bool loader_ram_find_low(const struct boot_config *cfg, u64 from, u64 align, u64 len, u64 limit,
			 u64 *addr);

/*
 * Check the configuration (memory map size, command line length against `cmdline_max`) and start
 * the plan: boot data zeroed, the command line at LINUX_CMDLINE, the boot data as segment 0.
 */
int loader_begin(const struct boot_config *cfg, size_t cmdline_max, const char *cmdline_what,
		 struct boot_plan *plan);

/*
 * Put the initrd (if cfg has one) as high as possible in RAM between 1 MiB and `limit`
 * (`limit_what` names that bound in a refusal), page aligned, clear of every segment so far and
 * of [rsv_start, rsv_end); add it as a segment. *addr = its address (0 without an initrd).
 */
int loader_place_initrd(const struct boot_config *cfg, struct boot_plan *plan, u64 limit,
			const char *limit_what, u64 rsv_start, u64 rsv_end, u64 *addr);

/* A flat (base 0, limit 4 GiB) segment cache with access rights `ar` (VMCS format). */
struct x86_segment loader_flat_segment(u16 sel, u32 ar);

/*
 * Load the boot GDT at LINUX_GDT with the code and data descriptors of `code` and `data` (their
 * selectors index it), and point GDTR at it. Also sets the other segment registers, LDTR, TR,
 * IDTR and the APIC base of a freshly reset vCPU as the Linux loaders want them.
 */
void loader_set_segments(struct boot_plan *plan, struct x86_segment code, struct x86_segment data);

static inline void put16(u8 *p, u16 v)
{
	__builtin_memcpy(p, &v, sizeof(v));
}

static inline void put32(u8 *p, u32 v)
{
	__builtin_memcpy(p, &v, sizeof(v));
}

static inline void put64(u8 *p, u64 v)
{
	__builtin_memcpy(p, &v, sizeof(v));
}

static inline u16 get16(const u8 *p)
{
	u16 v;

	__builtin_memcpy(&v, p, sizeof(v));
	return v;
}

static inline u32 get32(const u8 *p)
{
	u32 v;

	__builtin_memcpy(&v, p, sizeof(v));
	return v;
}

static inline u64 get64(const u8 *p)
{
	u64 v;

	__builtin_memcpy(&v, p, sizeof(v));
	return v;
}
