// SPDX-License-Identifier: MIT
/*
 * The 8254 PIT (src/devices/pit.c) under the device harness (device.h): ports 0x40-0x43 and port
 * 0x61, with guest time passing in between (event: its bytes are the nanoseconds that pass, and
 * the timers due fire). Beyond the harness's checks, asserted: each counter's control and latch
 * state stays in range (a status byte has 6 mode bits, at most 2 latched bytes wait).
 */
#include "devices/pit.h"
#include "device.h"

struct pit_fuzz {
	struct pit pit;
	struct fuzz_clock clock;
};

static void *pit_fuzz_create(void)
{
	struct pit_fuzz *f = calloc(1, sizeof(*f));

	if (!f)
		abort();
	fuzz_clock_init(&f->clock);
	pit_init(&f->pit, &f->clock.q);
	return f;
}

static void pit_fuzz_destroy(void *dev)
{
	struct pit_fuzz *f = dev;

	fuzz_clock_free(&f->clock);
	free(f);
}

static void pit_fuzz_time(void *dev, const u8 *arg, size_t n)
{
	fuzz_clock_advance(&((struct pit_fuzz *)dev)->clock, arg, n);
}

static void pit_fuzz_check(void *dev)
{
	const struct pit *p = dev;

	for (unsigned i = 0; i < 3; i++)
		FUZZ_ASSERT(p->ch[i].ctrl <= 0x3f && p->ch[i].ol_bytes <= 2,
			    "counter %u: control %#x, %u latched bytes", i, p->ch[i].ctrl,
			    p->ch[i].ol_bytes);
}

static const struct fuzz_device pit_device = {
	.ranges = { { PIT_NR_PORTS, pit_access }, { 1, pit_port61_access } },
	.create = pit_fuzz_create,
	.destroy = pit_fuzz_destroy,
	.event = pit_fuzz_time,
	.check = pit_fuzz_check,
};

FUZZ_DEVICE_TARGET(pit_device)
