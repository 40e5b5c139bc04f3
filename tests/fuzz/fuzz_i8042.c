// SPDX-License-Identifier: MIT
/*
 * The 8042 keyboard controller and its PS/2 keyboard (src/devices/i8042.c) under the device
 * harness (device.h): the data port (0x60) and the status/command port (0x64). Beyond the
 * harness's checks, asserted: both byte queues stay inside their buffers, and the host hears of
 * A20 only when the output port's bit 1 changes (IBM PC AT Technical Reference, output port).
 */
#include "devices/i8042.h"
#include "device.h"

#define OUTPORT_A20 BIT(1)

struct i8042_fuzz {
	struct i8042 kbc;
	bool a20; /* as the host last heard it */
};

static void i8042_fuzz_reset(void *opaque)
{
}

static void i8042_fuzz_a20(void *opaque, bool enabled)
{
	struct i8042_fuzz *f = opaque;

	FUZZ_ASSERT(enabled != f->a20 && enabled == !!(f->kbc.outport & OUTPORT_A20),
		    "A20 %d reported; it was %d, the output port is %#x", enabled, f->a20,
		    f->kbc.outport);
	f->a20 = enabled;
}

static void *i8042_fuzz_create(void)
{
	struct i8042_fuzz *f = calloc(1, sizeof(*f));
	const struct i8042_host host = {
		.reset = i8042_fuzz_reset,
		.a20 = i8042_fuzz_a20,
		.opaque = f,
	};

	if (!f)
		abort();
	i8042_init(&f->kbc, &host);
	f->a20 = f->kbc.outport & OUTPORT_A20;
	return f;
}

static void i8042_fuzz_check(void *dev)
{
	const struct i8042 *k = dev;

	FUZZ_ASSERT(k->ctrl.head < I8042_QUEUE && k->ctrl.count <= I8042_QUEUE &&
			    k->kbd.head < I8042_QUEUE && k->kbd.count <= I8042_QUEUE,
		    "queues: controller %u+%u, keyboard %u+%u", k->ctrl.head, k->ctrl.count,
		    k->kbd.head, k->kbd.count);
}

static const struct fuzz_device i8042_device = {
	.ranges = { { 1, i8042_data_access }, { 1, i8042_cmd_access } },
	.create = i8042_fuzz_create,
	.destroy = free,
	.check = i8042_fuzz_check,
};

FUZZ_DEVICE_TARGET(i8042_device)
