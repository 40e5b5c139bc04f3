/* SPDX-License-Identifier: MIT */
/*
 * Half-open address ranges [base, base + len), and the overlap checks of the tables that hold
 * them (the port and MMIO buses, the VM's memory map, a boot plan's segments). A table is an
 * array of its own structs; RANGE_ARRAY() describes it by the names of the two u64 members that
 * hold each element's base and length, so every table keeps its own layout.
 */
#pragma once
#include "common.h"

/* Whether [a, a + a_len) and [b, b + b_len) share a byte. */
static inline bool range_overlaps(u64 a, u64 a_len, u64 b, u64 b_len)
{
	return a < b + b_len && b < a + a_len;
}

struct range_array {
	const void *elems;
	unsigned nr;
	size_t stride, base_off, len_off;
};

/* The offset of member `m` of `type`, which must be a u64 (a compile error otherwise). */
#define RANGE_MEMBER_OFFSET(type, m)                                                               \
	(offsetof(type, m) +                                                                       \
	 0 * sizeof(char[__builtin_types_compatible_p(__typeof__(((type *)0)->m), u64) ? 1 : -1]))

/* The first `n` elements of array `arr`, whose ranges are [arr[i].base_m, + arr[i].len_m). */
#define RANGE_ARRAY(arr, n, base_m, len_m)                                                         \
	((struct range_array){                                                                     \
		.elems = (arr),                                                                    \
		.nr = (n),                                                                         \
		.stride = sizeof((arr)[0]),                                                        \
		.base_off = RANGE_MEMBER_OFFSET(__typeof__((arr)[0]), base_m),                     \
		.len_off = RANGE_MEMBER_OFFSET(__typeof__((arr)[0]), len_m),                       \
	})

/* The index of the first range of `a` that overlaps [base, base + len), or -1 when none does. */
int ranges_find_overlap(struct range_array a, u64 base, u64 len);

/*
 * Whether [base, base + len) may be appended to `a`, which holds at most `max` ranges: 0, or
 * -EEXIST when it overlaps one of them (checked first), -ENOSPC when `a` is full.
 */
int ranges_check_insert(struct range_array a, unsigned max, u64 base, u64 len);
