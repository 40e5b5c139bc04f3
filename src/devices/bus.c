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
	bus->ranges[bus->nr_ranges++] = (struct bus_range){
		.base = base,
		.len = len,
		.access = access,
		.opaque = opaque,
		.name = name,
	};
	return 0;
}

bool bus_dispatch(struct bus *bus, u64 addr, u64 *data, unsigned len, bool is_write)
{
	for (unsigned i = 0; i < bus->nr_ranges; i++) {
		const struct bus_range *r = &bus->ranges[i];

		if (addr - r->base < r->len) {
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
