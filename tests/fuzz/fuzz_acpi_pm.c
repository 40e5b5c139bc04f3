// SPDX-License-Identifier: MIT
/*
 * The ACPI PM1a event and control blocks and PM timer (src/devices/acpi_pm.c) under the device
 * harness (device.h), with events in between: argument byte 0 even: guest time passes (the
 * following bytes are the nanoseconds) and the timers due fire; odd: the power button is
 * pressed. Beyond the harness's checks, asserted: the host hears of S5 only through a PM1a_CNT
 * write with SLP_EN (ACPI 6.4, 4.8.3.2.1), and SCI_EN stays set (no SMM: always ACPI mode).
 */
#include "devices/acpi_pm.h"
#include "device.h"

#define PM1_CNT_SCI_EN BIT(0)

struct acpi_pm_fuzz {
	struct acpi_pm pm;
	struct fuzz_clock clock;
	bool in_write; /* inside a PM1a_CNT write */
};

static void acpi_pm_fuzz_poweroff(void *opaque)
{
	const struct acpi_pm_fuzz *f = opaque;

	FUZZ_ASSERT(f->in_write, "powered off outside a PM1a_CNT write");
}

static void acpi_pm_fuzz_access(void *opaque, u64 offset, u64 *data, unsigned len, bool is_write)
{
	struct acpi_pm_fuzz *f = opaque;

	/* PM1a_CNT is bytes 4-5: a write touching them may enter S5. */
	f->in_write = is_write && offset < 6 && offset + len > 4;
	acpi_pm_access(&f->pm, offset, data, len, is_write);
	f->in_write = false;
}

static void *acpi_pm_fuzz_create(void)
{
	struct acpi_pm_fuzz *f = calloc(1, sizeof(*f));
	const struct acpi_pm_host host = { .poweroff = acpi_pm_fuzz_poweroff, .opaque = f };

	if (!f)
		abort();
	fuzz_clock_init(&f->clock);
	acpi_pm_init(&f->pm, &f->clock.q, &host);
	return f;
}

static void acpi_pm_fuzz_destroy(void *dev)
{
	struct acpi_pm_fuzz *f = dev;

	fuzz_clock_free(&f->clock);
	free(f);
}

static void acpi_pm_fuzz_event(void *dev, const u8 *arg, size_t n)
{
	struct acpi_pm_fuzz *f = dev;

	if (!n)
		return;
	if (arg[0] & 1)
		acpi_pm_press_power_button(&f->pm);
	else
		fuzz_clock_advance(&f->clock, arg + 1, n - 1);
}

static void acpi_pm_fuzz_check(void *dev)
{
	struct acpi_pm_fuzz *f = dev;
	u64 cnt = 0;

	acpi_pm_access(&f->pm, 4, &cnt, 2, false); /* PM1a_CNT reads have no side effect */
	FUZZ_ASSERT(cnt & PM1_CNT_SCI_EN, "PM1a_CNT %#llx: SCI_EN clear", (unsigned long long)cnt);
}

static const struct fuzz_device acpi_pm_device = {
	.ranges = { { ACPI_PM_SIZE, acpi_pm_fuzz_access } },
	.create = acpi_pm_fuzz_create,
	.destroy = acpi_pm_fuzz_destroy,
	.event = acpi_pm_fuzz_event,
	.check = acpi_pm_fuzz_check,
};

FUZZ_DEVICE_TARGET(acpi_pm_device)
