// SPDX-License-Identifier: MIT
/* Port and MMIO buses: range registration and dispatch. */
#include <errno.h>

#include "common/ranges.h"
#include "devices/bus.h"

int bus_register_range(struct bus *bus, u64 base, u64 len, bus_access_fn access, void *opaque,
		       const char *name)
{
	int err;

	if (!len || base + len < base)
		return -EINVAL;
	err = ranges_check_insert(RANGE_ARRAY(bus->ranges, bus->nr_ranges, base, len),
				  BUS_MAX_RANGES, base, len);
	if (err)
		return err;
	unsigned i = bus->nr_ranges;

	bus->ranges[i] = (struct bus_range){
		.base = base,
		.len = len,
		.access = access,
		.opaque = opaque,
		.name = name,
	};
	for (; i && bus->ranges[bus->by_base[i - 1]].base > base; i--)
		bus->by_base[i] = bus->by_base[i - 1];
	bus->by_base[i] = (u8)bus->nr_ranges++;
	return 0;
}

/* Every port and MMIO exit looks here: a binary search over the ranges by base (they never
   overlap) rather than a scan of all of them, which an access no device claims went through
   whole. */
bool bus_dispatch(struct bus *bus, u64 addr, u64 *data, unsigned len, bool is_write)
{
	const struct bus_range *last = bus->last;
	unsigned lo = 0, hi = bus->nr_ranges;

	if (last && addr - last->base < last->len) {
		last->access(last->opaque, addr - last->base, data, len, is_write);
		return true;
	}
	/* The last range whose base is <= addr is the only one that can hold it. */
	while (lo < hi) {
		unsigned mid = (lo + hi) / 2;

		if (bus->ranges[bus->by_base[mid]].base <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo) {
		const struct bus_range *r = &bus->ranges[bus->by_base[lo - 1]];

		if (addr - r->base < r->len) {
			bus->last = r;
			r->access(r->opaque, addr - r->base, data, len, is_write);
			return true;
		}
	}
	if (is_write) {
		bus->unclaimed_writes++;
	} else {
		bus->unclaimed_reads++;
		*data = len >= 8 ? ~0ull : (1ull << (len * 8)) - 1;
	}
	return false;
}
