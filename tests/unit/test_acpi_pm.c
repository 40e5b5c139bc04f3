// SPDX-License-Identifier: MIT
/*
 * The ACPI PM1a blocks and PM timer (devices/acpi_pm.h) against ACPI 6.4 4.8, through the
 * ports with a fake guest clock, a recorded SCI and a recorded poweroff callback; and the PM
 * timer as Linux reads it (acpi_pm_read_early with ACPI_PM_MASK, calc_pmtimer_ref).
 */
#include <stdlib.h>

#include "check.h"
#include "devices/acpi_pm.h"

#define NS_PER_S 1000000000ull

#define TMR_STS	   BIT(0)
#define PWRBTN_STS BIT(8)
#define TMR_EN	   BIT(0)
#define PWRBTN_EN  BIT(8)
#define SCI_EN	   BIT(0)
#define SLP_EN	   BIT(13)

static u64 now_ns;
static u64 fake_clock(void *opaque)
{
	(void)opaque;
	return now_ns;
}

static struct timer_queue q;
static struct acpi_pm pm;
static unsigned n_poweroff, n_sci_rise;
static u64 last_sci_rise;

static void on_poweroff(void *opaque)
{
	n_poweroff++;
}

static void record_sci(void *opaque, unsigned pin, bool level)
{
	CHECK_EQ(pin, ACPI_PM_SCI_GSI);
	if (level) {
		n_sci_rise++;
		last_sci_rise = now_ns;
	}
}

static void advance_to(u64 t)
{
	while (timer_next_deadline(&q) <= t) {
		now_ns = timer_next_deadline(&q);
		timer_run_expired(&q, now_ns);
	}
	now_ns = t;
}

static u64 in(u16 off, unsigned len)
{
	u64 d = 0;

	acpi_pm_access(&pm, off, &d, len, false);
	return d;
}

static void out(u16 off, u64 v, unsigned len)
{
	acpi_pm_access(&pm, off, &v, len, true);
}

static u64 ticks_at(u64 ns)
{
	return (u64)((u128)ns * ACPI_PM_TMR_HZ / NS_PER_S);
}

static u64 tick_ns(u64 tick)
{
	return (u64)(((u128)tick * NS_PER_S + ACPI_PM_TMR_HZ - 1) / ACPI_PM_TMR_HZ);
}

static void setup(u64 t0)
{
	const struct acpi_pm_host host = { .poweroff = on_poweroff };

	now_ns = t0;
	n_poweroff = n_sci_rise = 0;
	timer_queue_init(&q, fake_clock, NULL);
	irq_line_wire(&pm.sci, record_sci, NULL, ACPI_PM_SCI_GSI);
	acpi_pm_init(&pm, &q, &host);
}

static void teardown(void)
{
	timer_queue_free(&q);
}

/* 4.8.3.3: a 24-bit count at 3.579545 MHz from guest time; bits 31:24 read 0. */
static void test_timer(void)
{
	setup(0);
	CHECK_EQ(in(ACPI_PM_TMR, 4), 0);
	advance_to(NS_PER_S);
	CHECK_EQ(in(ACPI_PM_TMR, 4), ACPI_PM_TMR_HZ);
	advance_to(10 * NS_PER_S);
	CHECK_EQ(in(ACPI_PM_TMR, 4), (10ull * ACPI_PM_TMR_HZ) & 0xffffff);
	CHECK_EQ(in(ACPI_PM_TMR + 3, 1), 0);
	CHECK_EQ(in(ACPI_PM_TMR, 2), (10ull * ACPI_PM_TMR_HZ) & 0xffff);
	out(ACPI_PM_TMR, 0, 4); /* read-only */
	CHECK_EQ(in(ACPI_PM_TMR, 4), (10ull * ACPI_PM_TMR_HZ) & 0xffffff);
	/* Monotonic between wraps at every read, as acpi_pm_read_verified wants. */
	bool mono = true;
	u64 prev = in(ACPI_PM_TMR, 4);
	for (unsigned i = 0; i < 10000; i++) {
		u64 v;

		advance_to(now_ns + 1234);
		v = in(ACPI_PM_TMR, 4);
		mono &= v > prev || (v < 0x1000 && prev > 0xfff000) || v == prev;
		prev = v;
	}
	CHECK(mono);
	teardown();
}

/* 4.8.2.1, 4.8.3.1: TMR_STS on each change of bit 23; with TMR_EN it is an SCI; W1C. */
static void test_tmr_sts(void)
{
	setup(0);
	advance_to(tick_ns(1u << 23) - 1);
	CHECK_EQ(in(ACPI_PM1_STS, 2) & TMR_STS, 0);
	advance_to(tick_ns(1u << 23));
	CHECK_EQ(in(ACPI_PM1_STS, 2) & TMR_STS, TMR_STS);
	CHECK_EQ(n_sci_rise, 0);      /* not enabled */
	out(ACPI_PM1_STS, 0xfffe, 2); /* writing 0 to TMR_STS keeps it */
	CHECK_EQ(in(ACPI_PM1_STS, 2), TMR_STS);
	out(ACPI_PM1_EN, TMR_EN, 2);
	CHECK(pm.sci.level);
	out(ACPI_PM1_STS, TMR_STS, 2);
	CHECK(!pm.sci.level);
	CHECK_EQ(in(ACPI_PM1_STS, 2), 0);
	advance_to(tick_ns(3u << 23) + 5);
	CHECK_EQ(n_sci_rise, 2);
	CHECK_EQ(last_sci_rise, tick_ns(2u << 23)); /* bit 23 falls as the timer wraps */
	/* Enables: reserved bits read 0. */
	out(ACPI_PM1_EN, 0xffff, 2);
	CHECK_EQ(in(ACPI_PM1_EN, 2), 0x4721);
	teardown();
}

/* 4.8.3.2.1: SLP_TYP/SLP_EN; S5 powers off; SLP_EN and GBL_RLS read 0; SCI_EN stays set. */
static void test_sleep(void)
{
	setup(0);
	CHECK_EQ(in(ACPI_PM1_CNT, 2), SCI_EN);
	out(ACPI_PM1_CNT, 0x0006, 2); /* BM_RLD, GBL_RLS; SCI_EN cleared: kept */
	CHECK_EQ(in(ACPI_PM1_CNT, 2), SCI_EN | 2);
	out(ACPI_PM1_CNT, 3 << 10, 2);
	CHECK_EQ(in(ACPI_PM1_CNT, 2), 3 << 10 | SCI_EN); /* that write cleared BM_RLD */
	out(ACPI_PM1_CNT, 3 << 10 | SLP_EN, 2);		 /* S3: absent here */
	CHECK_EQ(n_poweroff, 0);
	out(ACPI_PM1_CNT, ACPI_SLP_TYP_S5 << 10 | SCI_EN, 2);
	CHECK_EQ(n_poweroff, 0); /* SLP_TYP alone */
	out(ACPI_PM1_CNT, ACPI_SLP_TYP_S5 << 10 | SLP_EN | SCI_EN, 2);
	CHECK_EQ(n_poweroff, 1);
	CHECK_EQ(in(ACPI_PM1_CNT, 2), ACPI_SLP_TYP_S5 << 10 | SCI_EN);
	/* A byte write to the high half, as acpi_hw_write with a byte-wide register would. */
	out(ACPI_PM1_CNT + 1, (ACPI_SLP_TYP_S5 << 2) | 0x20, 1);
	CHECK_EQ(n_poweroff, 2);
	teardown();
}

/* The power button: PWRBTN_STS, an SCI once enabled. */
static void test_power_button(void)
{
	setup(5 * NS_PER_S);
	acpi_pm_press_power_button(&pm);
	CHECK_EQ(in(ACPI_PM1_STS, 2), PWRBTN_STS);
	CHECK(!pm.sci.level);
	out(ACPI_PM1_EN + 1, PWRBTN_EN >> 8, 1);
	CHECK(pm.sci.level);
	out(ACPI_PM1_STS + 1, PWRBTN_STS >> 8, 1);
	CHECK(!pm.sci.level);
	acpi_pm_reset(&pm);
	CHECK_EQ(in(ACPI_PM1_EN, 2), 0);
	CHECK_EQ(in(ACPI_PM1_CNT, 2), SCI_EN);
	teardown();
}

/* Widths and reserved bytes; random traffic. */
static void test_hostile(void)
{
	setup(0);
	CHECK_EQ(in(6, 2), 0xffff);
	CHECK_EQ(in(ACPI_PM1_CNT, 4), 0xffff0000ull | SCI_EN);
	CHECK_EQ(in(ACPI_PM_TMR, 8), 0xffffffff00000000ull);
	unsigned seed = 5;
	for (unsigned i = 0; i < 100000; i++) {
		u16 off = (u16)(rand_r(&seed) % ACPI_PM_SIZE);
		u64 v = (u64)rand_r(&seed);

		v &= ~0x2020202020202020ull; /* SLP_EN stays clear in any byte lane */
		if (rand_r(&seed) % 2)
			out(off, v, 1u << (rand_r(&seed) % 3));
		else
			in(off, 1u << (rand_r(&seed) % 3));
		advance_to(now_ns + (u64)(rand_r(&seed) % 1000000));
	}
	CHECK_EQ(n_poweroff, 0);
	u16 sts = (u16)in(ACPI_PM1_STS, 2), en = (u16)in(ACPI_PM1_EN, 2);
	CHECK_EQ(pm.sci.level, !!(sts & en & 0x0721));
	teardown();
}

/* Linux's tsc_read_refs/calc_pmtimer_ref: 24-bit reads 50 ms apart, across a wrap. */
static void test_linux_reference(void)
{
	u64 pm1, pm2, ns;

	setup(tick_ns(0xffffff) - 20 * 1000000); /* 20 ms before a wrap */
	pm1 = in(ACPI_PM_TMR, 4) & 0xffffff;
	advance_to(now_ns + 50 * 1000000);
	pm2 = in(ACPI_PM_TMR, 4) & 0xffffff;
	CHECK(pm2 < pm1);
	if (pm2 < pm1)
		pm2 += 1u << 24;
	ns = (pm2 - pm1) * NS_PER_S / ACPI_PM_TMR_HZ;
	CHECK(ns > 50 * 1000000 - 300 && ns <= 50 * 1000000);
	CHECK_EQ(pm2 - pm1, ticks_at(now_ns) - ticks_at(now_ns - 50 * 1000000));
	teardown();
}

int main(void)
{
	test_timer();
	test_tmr_sts();
	test_sleep();
	test_power_button();
	test_hostile();
	test_linux_reference();
	return check_done("test_acpi_pm");
}
