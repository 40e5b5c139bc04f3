// SPDX-License-Identifier: MIT
/* Overlap checks over tables of address ranges. */
#include <errno.h>
#include <string.h>

#include "common/ranges.h"

static u64 range_member(const struct range_array *a, unsigned i, size_t off)
{
	u64 v;

	memcpy(&v, (const u8 *)a->elems + i * a->stride + off, sizeof(v));
	return v;
}

int ranges_find_overlap(struct range_array a, u64 base, u64 len)
{
	for (unsigned i = 0; i < a.nr; i++)
		if (range_overlaps(base, len, range_member(&a, i, a.base_off),
				   range_member(&a, i, a.len_off)))
			return (int)i;
	return -1;
}

int ranges_check_insert(struct range_array a, unsigned max, u64 base, u64 len)
{
	if (ranges_find_overlap(a, base, len) >= 0)
		return -EEXIST;
	if (a.nr >= max)
		return -ENOSPC;
	return 0;
}
