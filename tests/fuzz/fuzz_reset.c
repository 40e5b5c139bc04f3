// SPDX-License-Identifier: MIT
/*
 * Port 0x92 and the reset control register at 0xcf9 (src/devices/reset.c) under the device
 * harness (device.h). Beyond the harness's checks, asserted: a reset happens only on a write,
 * and the host hears of A20 only when port 0x92 bit 1 changes (ICH datasheet, PORT92).
 */
#include "devices/reset.h"
#include "device.h"

#define PORT92_A20 BIT(1)

struct reset_fuzz {
	struct reset_ctl ctl;
	bool in_write;
	bool a20; /* as the host last heard it */
};

static void reset_fuzz_reset(void *opaque, enum reset_kind kind)
{
	const struct reset_fuzz *f = opaque;

	FUZZ_ASSERT(f->in_write && (kind == RESET_INIT || kind == RESET_HARD),
		    "reset of kind %d outside a write", kind);
}

static void reset_fuzz_a20(void *opaque, bool enabled)
{
	struct reset_fuzz *f = opaque;

	FUZZ_ASSERT(f->in_write && enabled != f->a20 && enabled == !!(f->ctl.port92 & PORT92_A20),
		    "A20 %d reported; it was %d, port 0x92 is %#x", enabled, f->a20, f->ctl.port92);
	f->a20 = enabled;
}

static void reset_fuzz_access(bus_access_fn access, void *opaque, u64 offset, u64 *data,
			      unsigned len, bool is_write)
{
	struct reset_fuzz *f = opaque;

	f->in_write = is_write;
	access(&f->ctl, offset, data, len, is_write);
	f->in_write = false;
}

static void reset_fuzz_port92(void *opaque, u64 offset, u64 *data, unsigned len, bool is_write)
{
	reset_fuzz_access(reset_port92_access, opaque, offset, data, len, is_write);
}

static void reset_fuzz_cf9(void *opaque, u64 offset, u64 *data, unsigned len, bool is_write)
{
	reset_fuzz_access(reset_cf9_access, opaque, offset, data, len, is_write);
}

static void *reset_fuzz_create(void)
{
	struct reset_fuzz *f = calloc(1, sizeof(*f));
	const struct reset_host host = {
		.reset = reset_fuzz_reset,
		.a20 = reset_fuzz_a20,
		.opaque = f,
	};

	if (!f)
		abort();
	reset_ctl_init(&f->ctl, &host);
	f->a20 = f->ctl.port92 & PORT92_A20;
	return f;
}

static const struct fuzz_device reset_device = {
	.ranges = { { 1, reset_fuzz_port92 }, { 1, reset_fuzz_cf9 } },
	.create = reset_fuzz_create,
	.destroy = free,
};

FUZZ_DEVICE_TARGET(reset_device)
