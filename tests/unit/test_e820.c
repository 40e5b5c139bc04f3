// SPDX-License-Identifier: MIT
/*
 * The e820 builder (firmware/e820.c) against the PC layout of e820.h: ACPI 6.3 ch. 15 (the
 * entries a BIOS reports through INT 15h E820h) with QEMU's "pc" split of RAM around the 32-bit
 * hole.
 */
#include <errno.h>

#include "check.h"
#include "firmware/e820.h"

#define MiB (1ull << 20)
#define GiB (1ull << 30)

static struct e820_entry map[E820_MAX_ENTRIES];

static int build(u64 ram, u64 acpi_base, u64 acpi_size)
{
	struct e820_layout l = { .ram_size = ram, .acpi_base = acpi_base, .acpi_size = acpi_size };

	return e820_build(&l, map, E820_MAX_ENTRIES);
}

static void check_entry(int i, u64 addr, u64 size, u32 type)
{
	CHECK_EQ(map[i].addr, addr);
	CHECK_EQ(map[i].size, size);
	CHECK_EQ(map[i].type, type);
}

/* 15.1: the table is sorted, entries are disjoint and none is empty; we also merge neighbours
   of one type, so no two adjacent entries touch with the same type. */
static void check_well_formed(int n)
{
	for (int i = 0; i < n; i++) {
		CHECK(map[i].size != 0);
		if (i) {
			CHECK(map[i - 1].addr + map[i - 1].size <= map[i].addr);
			CHECK(!(map[i - 1].addr + map[i - 1].size == map[i].addr &&
				map[i - 1].type == map[i].type));
		}
	}
}

static u64 ram_total(int n)
{
	u64 t = 0;

	for (int i = 0; i < n; i++)
		if (map[i].type == E820_RAM)
			t += map[i].size;
	return t;
}

static void test_small_guest(void)
{
	int n = build(128 * MiB, 0, 0);

	CHECK_EQ(n, 4);
	check_entry(0, 0, PC_EBDA_BASE, E820_RAM);
	/* the EBDA and the legacy hole, both reserved, merge */
	check_entry(1, PC_EBDA_BASE, PC_LEGACY_HOLE_END - PC_EBDA_BASE, E820_RESERVED);
	check_entry(2, PC_LEGACY_HOLE_END, 128 * MiB - PC_LEGACY_HOLE_END, E820_RAM);
	check_entry(3, PC_MMIO_HOLE_BASE, PC_MMIO_HOLE_END - PC_MMIO_HOLE_BASE, E820_RESERVED);
	check_well_formed(n);
}

/* The ACPI tables in the 0xe0000 segment split the reserved legacy hole. */
static void test_acpi_in_bios_area(void)
{
	int n = build(256 * MiB, 0xe0000, 0x10000);

	CHECK_EQ(n, 6);
	check_entry(1, PC_EBDA_BASE, 0xe0000 - PC_EBDA_BASE, E820_RESERVED);
	check_entry(2, 0xe0000, 0x10000, E820_ACPI);
	check_entry(3, 0xf0000, 0x10000, E820_RESERVED);
	check_entry(4, PC_LEGACY_HOLE_END, 256 * MiB - PC_LEGACY_HOLE_END, E820_RAM);
	check_well_formed(n);
}

/* ... or carve them out of RAM (where SeaBIOS puts them, at the top of low RAM). */
static void test_acpi_in_ram(void)
{
	int n = build(256 * MiB, 256 * MiB - 0x20000, 0x20000);

	CHECK_EQ(n, 5);
	check_entry(2, PC_LEGACY_HOLE_END, 256 * MiB - 0x20000 - PC_LEGACY_HOLE_END, E820_RAM);
	check_entry(3, 256 * MiB - 0x20000, 0x20000, E820_ACPI);
	check_well_formed(n);
}

/* QEMU's below_4g_mem_size: RAM beyond 3 GiB continues at 4 GiB. */
static void test_split_above_4g(void)
{
	int n = build(4 * GiB, 0, 0);

	CHECK_EQ(n, 5);
	check_entry(2, PC_LEGACY_HOLE_END, PC_LOW_RAM_MAX - PC_LEGACY_HOLE_END, E820_RAM);
	check_entry(3, PC_MMIO_HOLE_BASE, PC_MMIO_HOLE_END - PC_MMIO_HOLE_BASE, E820_RESERVED);
	check_entry(4, PC_HIGH_RAM_BASE, 1 * GiB, E820_RAM);
	CHECK_EQ(pc_ram_below_4g(4 * GiB), 3 * GiB);
	CHECK_EQ(pc_ram_above_4g(4 * GiB), 1 * GiB);

	n = build(3 * GiB, 0, 0); /* exactly 3 GiB: nothing above 4 GiB */
	CHECK_EQ(n, 4);
	CHECK_EQ(map[2].addr + map[2].size, PC_LOW_RAM_MAX);
	CHECK_EQ(pc_ram_above_4g(3 * GiB), 0);
}

/* Less RAM than the EBDA: the reserved areas are there anyway (a BIOS owns them). */
static void test_tiny_guest(void)
{
	int n = build(512 * 1024, 0, 0);

	CHECK_EQ(n, 3);
	check_entry(0, 0, 512 * 1024, E820_RAM);
	check_entry(1, PC_EBDA_BASE, PC_LEGACY_HOLE_END - PC_EBDA_BASE, E820_RESERVED);
	check_well_formed(n);
}

/* Every RAM byte is reported except the EBDA and the legacy hole (and the ACPI area). */
static void test_ram_accounting(void)
{
	static const u64 sizes[] = { 1 * MiB, 2 * MiB + 4096, 1 * GiB, 3 * GiB - 4096, 3 * GiB,
				     3 * GiB + 1, 6 * GiB + 12345 * 4096ull, 1ull << 40 };

	for (unsigned i = 0; i < ARRAY_SIZE(sizes); i++) {
		int n = build(sizes[i], 0, 0);

		CHECK(n > 0);
		check_well_formed(n);
		CHECK_EQ(ram_total(n), sizes[i] - (PC_LEGACY_HOLE_END - PC_EBDA_BASE));
		n = build(sizes[i], 0xe0000, 0x10000);
		CHECK_EQ(ram_total(n), sizes[i] - (PC_LEGACY_HOLE_END - PC_EBDA_BASE));
	}
}

static void test_refusals(void)
{
	struct e820_layout l = { .ram_size = 128 * MiB };

	CHECK_EQ(build(0, 0, 0), -EINVAL);
	CHECK_EQ(build(~0ull, 0, 0), -EINVAL);			 /* RAM above 4 GiB wraps */
	CHECK_EQ(build(128 * MiB, 128 * MiB - 4096, 8192), -EINVAL); /* past the end of RAM */
	CHECK_EQ(build(4 * GiB, PC_MMIO_HOLE_BASE, 4096), -EINVAL); /* not RAM */
	CHECK_EQ(build(4 * GiB, PC_HIGH_RAM_BASE, 4096), -EINVAL);  /* not below 4 GiB */
	CHECK_EQ(build(128 * MiB, ~0ull - 10, 100), -EINVAL);	     /* wraps */
	/* Too small a table: -ENOSPC for every size short of the 4 entries, never a write past. */
	for (unsigned max = 0; max < 4; max++) {
		map[max] = (struct e820_entry){ .addr = 0x5a5a, .size = 0x5a5a, .type = 0x5a };
		CHECK_EQ(e820_build(&l, map, max), -ENOSPC);
		CHECK_EQ(map[max].addr, 0x5a5a);
		CHECK_EQ(map[max].type, 0x5a);
	}
}

int main(void)
{
	test_small_guest();
	test_acpi_in_bios_area();
	test_acpi_in_ram();
	test_split_above_4g();
	test_tiny_guest();
	test_ram_accounting();
	test_refusals();
	return check_done("test_e820");
}
