/* SPDX-License-Identifier: MIT */
/*
 * Port and MMIO buses. A device registers address ranges and sees only (offset, data, len,
 * is_write): offset from the start of its range, `len` bytes (1, 2, 4 or 8) of `*data` in
 * little-endian order. It never learns which backend runs or which vCPU asked.
 */
#pragma once
#include "common.h"

typedef void (*bus_access_fn)(void *opaque, u64 offset, u64 *data, unsigned len, bool is_write);

struct bus_range {
	u64 base, len;
	bus_access_fn access;
	void *opaque;
	const char *name;
};

#define BUS_MAX_RANGES 32

struct bus {
	const char *name; /* "pio" or "mmio" */
	struct bus_range ranges[BUS_MAX_RANGES]; /* in registration order (the inventory's) */
	unsigned nr_ranges;
	u8 by_base[BUS_MAX_RANGES]; /* indexes into ranges[], by base: dispatch's binary search */
	/* The range the last claimed access went to, looked at first (a guest driving one device
	   hits it again and again); NULL before any. Ranges are never removed or moved. */
	const struct bus_range *last;
	/* Accesses no device claimed: reads return all ones, writes are dropped (ISA float). */
	u64 unclaimed_reads, unclaimed_writes;
};

/* 0, -EEXIST when [base, base+len) overlaps a registered range, -ENOSPC, -EINVAL for len 0. */
int bus_register_range(struct bus *bus, u64 base, u64 len, bus_access_fn access, void *opaque,
		       const char *name);

/*
 * Dispatch an access to the device whose range holds `addr`. Returns true when a device
 * claimed it; otherwise a read yields all ones in `len` bytes and the access is counted.
 */
bool bus_dispatch(struct bus *bus, u64 addr, u64 *data, unsigned len, bool is_write);
