// SPDX-License-Identifier: MIT
/* The MMIO test device (src/devices/testdev.c) under the device harness (device.h). */
#include "devices/testdev.h"
#include "device.h"

static void *testdev_fuzz_create(void)
{
	struct testdev *t = calloc(1, sizeof(*t));

	if (!t)
		abort();
	return t;
}

static const struct fuzz_device testdev_device = {
	.range_len = TESTDEV_MMIO_SIZE,
	.create = testdev_fuzz_create,
	.destroy = free,
	.access = testdev_access,
};

FUZZ_DEVICE_TARGET(testdev_device)
