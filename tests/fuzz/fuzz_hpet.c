// SPDX-License-Identifier: MIT
/*
 * The HPET (src/devices/hpet.c) under the device harness (device.h): its 4 KiB of registers with,
 * in between, events: argument byte 0 even: guest time passes (the following bytes are the
 * nanoseconds) and the timers due fire; odd: the PIT's OUT0 (bit 1 clear) or the RTC's IRQ8
 * (bit 1 set) input goes to level bit 2, as the LegacyReplacement route sees them.
 */
#include "devices/hpet.h"
#include "device.h"

struct hpet_fuzz {
	struct hpet hpet;
	struct fuzz_clock clock;
};

static void *hpet_fuzz_create(void)
{
	struct hpet_fuzz *f = calloc(1, sizeof(*f));

	if (!f)
		abort();
	fuzz_clock_init(&f->clock);
	hpet_init(&f->hpet, &f->clock.q);
	return f;
}

static void hpet_fuzz_destroy(void *dev)
{
	struct hpet_fuzz *f = dev;

	fuzz_clock_free(&f->clock);
	free(f);
}

static void hpet_fuzz_event(void *dev, const u8 *arg, size_t n)
{
	struct hpet_fuzz *f = dev;

	if (!n)
		return;
	if (arg[0] & 1)
		hpet_set_legacy_input(&f->hpet, arg[0] & 2 ? HPET_IN_RTC : HPET_IN_PIT, arg[0] & 4);
	else
		fuzz_clock_advance(&f->clock, arg + 1, n - 1);
}

static const struct fuzz_device hpet_device = {
	.ranges = { { HPET_SIZE, hpet_access } },
	.create = hpet_fuzz_create,
	.destroy = hpet_fuzz_destroy,
	.event = hpet_fuzz_event,
};

FUZZ_DEVICE_TARGET(hpet_device)
