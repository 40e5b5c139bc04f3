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
	.ranges = { { TESTDEV_MMIO_SIZE, testdev_access } },
	.create = testdev_fuzz_create,
	.destroy = free,
};

FUZZ_DEVICE_TARGET(testdev_device)
