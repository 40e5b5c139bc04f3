// SPDX-License-Identifier: MIT
/*
 * The e820 table of the PC layout (e820.h). ACPI 6.3 15.1: entries describe disjoint ranges; an
 * OS sorts and sanitizes what it gets, but we hand it a table that needs neither.
 *
 * Method: every area is an interval with a type and a rank; the boundaries of all areas cut the
 * address space into pieces, each piece takes the type of the highest-ranked area covering it
 * (pieces no area covers are holes, absent from the table), and neighbouring pieces of one type
 * merge.
 */
#include <errno.h>

#include "firmware/e820.h"

struct e820_area {
	u64 start, end; /* [start, end) */
	u32 type;
	unsigned rank;
};

/* RAM < reserved < ACPI: the more specific description wins where areas overlap. */
enum { RANK_RAM, RANK_RESERVED, RANK_ACPI };

#define E820_MAX_AREAS 6

static unsigned e820_areas(const struct e820_layout *l, struct e820_area *a)
{
	u64 low = pc_ram_below_4g(l->ram_size), high = pc_ram_above_4g(l->ram_size);
	unsigned n = 0;

	a[n++] = (struct e820_area){ 0, low, E820_RAM, RANK_RAM };
	if (high)
		a[n++] = (struct e820_area){ PC_HIGH_RAM_BASE, PC_HIGH_RAM_BASE + high, E820_RAM,
					     RANK_RAM };
	/* The EBDA and the legacy hole are reserved whatever the RAM size (a BIOS owns them). */
	a[n++] = (struct e820_area){ PC_EBDA_BASE, PC_LEGACY_HOLE_BASE, E820_RESERVED,
				     RANK_RESERVED };
	a[n++] = (struct e820_area){ PC_LEGACY_HOLE_BASE, PC_LEGACY_HOLE_END, E820_RESERVED,
				     RANK_RESERVED };
	a[n++] = (struct e820_area){ PC_MMIO_HOLE_BASE, PC_MMIO_HOLE_END, E820_RESERVED,
				     RANK_RESERVED };
	if (l->acpi_size)
		a[n++] = (struct e820_area){ l->acpi_base, l->acpi_base + l->acpi_size, E820_ACPI,
					     RANK_ACPI };
	return n;
}

static void e820_sort_u64(u64 *v, unsigned n)
{
	for (unsigned i = 1; i < n; i++) {
		u64 x = v[i];
		unsigned j = i;

		for (; j && v[j - 1] > x; j--)
			v[j] = v[j - 1];
		v[j] = x;
	}
}

int e820_build(const struct e820_layout *l, struct e820_entry *out, unsigned max)
{
	struct e820_area areas[E820_MAX_AREAS];
	u64 cuts[2 * E820_MAX_AREAS];
	unsigned nr_areas, nr_cuts = 0, n = 0;

	if (!l->ram_size || pc_ram_above_4g(l->ram_size) > ~0ull - PC_HIGH_RAM_BASE)
		return -EINVAL;
	if (l->acpi_size && (l->acpi_base + l->acpi_size < l->acpi_base ||
			     l->acpi_base + l->acpi_size > pc_ram_below_4g(l->ram_size)))
		return -EINVAL;
	nr_areas = e820_areas(l, areas);
	for (unsigned i = 0; i < nr_areas; i++) {
		cuts[nr_cuts++] = areas[i].start;
		cuts[nr_cuts++] = areas[i].end;
	}
	e820_sort_u64(cuts, nr_cuts);
	for (unsigned c = 0; c + 1 < nr_cuts; c++) {
		u64 start = cuts[c], end = cuts[c + 1];
		const struct e820_area *best = NULL;

		if (start == end)
			continue;
		for (unsigned i = 0; i < nr_areas; i++)
			if (areas[i].start <= start && end <= areas[i].end &&
			    (!best || areas[i].rank > best->rank))
				best = &areas[i];
		if (!best)
			continue;
		if (n && out[n - 1].type == best->type && out[n - 1].addr + out[n - 1].size == start) {
			out[n - 1].size += end - start;
			continue;
		}
		if (n == max)
			return -ENOSPC;
		out[n++] = (struct e820_entry){ .addr = start, .size = end - start, .type = best->type };
	}
	return (int)n;
}
