// SPDX-License-Identifier: MIT
/*
 * The MC146818A RTC and CMOS (src/devices/rtc.c) under the device harness (device.h): ports
 * 0x70-0x71 with guest time passing in between (event: its bytes are the nanoseconds that pass,
 * and the timers due fire), from a fixed wall-clock time. Beyond the harness's checks, asserted:
 * the index stays inside the 128-byte bank.
 */
#include "devices/rtc.h"
#include "device.h"

#define RTC_FUZZ_UNIX_TIME 1767225599 /* 2025-12-31 23:59:59 UTC: a year rolls over soon */

struct rtc_fuzz {
	struct rtc rtc;
	struct fuzz_clock clock;
};

static void *rtc_fuzz_create(void)
{
	struct rtc_fuzz *f = calloc(1, sizeof(*f));

	if (!f)
		abort();
	fuzz_clock_init(&f->clock);
	rtc_init(&f->rtc, &f->clock.q, RTC_FUZZ_UNIX_TIME, 3ull << 30, 1ull << 30);
	return f;
}

static void rtc_fuzz_destroy(void *dev)
{
	struct rtc_fuzz *f = dev;

	fuzz_clock_free(&f->clock);
	free(f);
}

static void rtc_fuzz_time(void *dev, const u8 *arg, size_t n)
{
	fuzz_clock_advance(&((struct rtc_fuzz *)dev)->clock, arg, n);
}

static void rtc_fuzz_check(void *dev)
{
	const struct rtc *r = dev;

	FUZZ_ASSERT(r->index < RTC_CMOS_SIZE, "index %#x", r->index);
}

static const struct fuzz_device rtc_device = {
	.ranges = { { RTC_NR_PORTS, rtc_access } },
	.create = rtc_fuzz_create,
	.destroy = rtc_fuzz_destroy,
	.event = rtc_fuzz_time,
	.check = rtc_fuzz_check,
};

FUZZ_DEVICE_TARGET(rtc_device)
