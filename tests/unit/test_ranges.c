// SPDX-License-Identifier: MIT
/* Unit tests for the range-table overlap checks (src/common/ranges.c). */
#include <errno.h>

#include "check.h"
#include "common/ranges.h"

/* A table whose base and length sit behind other members, as mem_region's and boot_segment's do. */
struct entry {
	const char *name;
	u64 size;
	u32 pad;
	u64 start;
};

static void test_overlaps(void)
{
	CHECK(range_overlaps(0x100, 0x10, 0x10f, 1));	 /* last byte */
	CHECK(range_overlaps(0x100, 0x10, 0xf0, 0x11));	 /* first byte */
	CHECK(range_overlaps(0x100, 0x10, 0x104, 4));	 /* inside */
	CHECK(range_overlaps(0x104, 4, 0x100, 0x10));	 /* around */
	CHECK(!range_overlaps(0x100, 0x10, 0x110, 1));	 /* abuts above */
	CHECK(!range_overlaps(0x100, 0x10, 0xf0, 0x10)); /* abuts below */
	CHECK(!range_overlaps(0x100, 0, 0x100, 0x10));	 /* empty */
}

static void test_find(void)
{
	struct entry t[] = {
		{ "a", 0x1000, 0, 0x0 },
		{ "b", 0x1000, 0, 0x3000 },
		{ "c", 0x4000, 0, 0x2000 },
	};

	CHECK_EQ(ranges_find_overlap(RANGE_ARRAY(t, 3, start, size), 0x1000, 0x1000), -1);
	CHECK_EQ(ranges_find_overlap(RANGE_ARRAY(t, 3, start, size), 0xfff, 1), 0);
	/* the first match in array order: c holds 0x3000 too, b comes first */
	CHECK_EQ(ranges_find_overlap(RANGE_ARRAY(t, 3, start, size), 0x3800, 1), 1);
	CHECK_EQ(ranges_find_overlap(RANGE_ARRAY(t, 3, start, size), 0x5fff, 1), 2);
	/* only the first n elements count */
	CHECK_EQ(ranges_find_overlap(RANGE_ARRAY(t, 2, start, size), 0x5fff, 1), -1);
	CHECK_EQ(ranges_find_overlap(RANGE_ARRAY(t, 0, start, size), 0, ~0ull), -1);
}

static void test_check_insert(void)
{
	struct entry t[2] = { { "a", 0x1000, 0, 0x1000 } };

	CHECK_EQ(ranges_check_insert(RANGE_ARRAY(t, 1, start, size), 2, 0x2000, 0x1000), 0);
	CHECK_EQ(ranges_check_insert(RANGE_ARRAY(t, 1, start, size), 2, 0x1fff, 2), -EEXIST);
	t[1] = (struct entry){ "b", 0x1000, 0, 0x2000 };
	CHECK_EQ(ranges_check_insert(RANGE_ARRAY(t, 2, start, size), 2, 0x3000, 1), -ENOSPC);
	/* an overlap is reported before a full table */
	CHECK_EQ(ranges_check_insert(RANGE_ARRAY(t, 2, start, size), 2, 0x2fff, 1), -EEXIST);
}

int main(void)
{
	test_overlaps();
	test_find();
	test_check_insert();
	return check_done("ranges");
}
