// SPDX-License-Identifier: MIT
/*
 * The MC146818A RTC (devices/rtc.h) against the Motorola datasheet, driven through ports
 * 0x70/0x71 with a fake guest clock and a recorded IRQ8: the update cycle and UIP, data modes,
 * SET, periodic, alarm and update-ended interrupts, register C and D, the CMOS memory bytes, and
 * Linux's UIP-avoiding read (drivers/rtc/rtc-mc146818-lib.c mc146818_avoid_UIP).
 */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "devices/rtc.h"

#define NS_PER_S 1000000000ull
#define MiB	 (1ull << 20)
#define GiB	 (1ull << 30)

static u64 now_ns;
static u64 fake_clock(void *opaque)
{
	(void)opaque;
	return now_ns;
}

static struct timer_queue q;
static struct rtc rtc;
static unsigned n_raise, n_lower;
static u64 last_raise;

static void record_irq(void *opaque, unsigned pin, bool level)
{
	CHECK_EQ(pin, RTC_IRQ);
	if (level) {
		n_raise++;
		last_raise = now_ns;
	} else {
		n_lower++;
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

/* Guest ns of 32.768 kHz tick k after init (the divider leaves reset at guest time 0). */
static u64 tick_ns(u64 k)
{
	return (u64)(((u128)k * NS_PER_S + 32767) / 32768);
}

/* The end of update cycle n (n = 0: 500 ms + 1984 us after the divider left reset). */
static u64 update_end_ns(u64 n)
{
	return tick_ns(16384 + 65 + n * 32768);
}

static void outb(u16 port, u8 v)
{
	u64 d = v;

	rtc_access(&rtc, port - RTC_BASE, &d, 1, true);
}

static u8 inb(u16 port)
{
	u64 d = 0;

	rtc_access(&rtc, port - RTC_BASE, &d, 1, false);
	return (u8)d;
}

static u8 cmos(u8 index)
{
	outb(0x70, index);
	return inb(0x71);
}

static void cmos_set(u8 index, u8 v)
{
	outb(0x70, index);
	outb(0x71, v);
}

static void setup(s64 unix_time, u64 below, u64 above)
{
	now_ns = 0;
	n_raise = n_lower = 0;
	timer_queue_init(&q, fake_clock, NULL);
	irq_line_wire(&rtc.irq, record_irq, NULL, RTC_IRQ);
	rtc_init(&rtc, &q, unix_time, below, above);
}

static void teardown(void)
{
	timer_queue_free(&q);
}

static void check_time(u8 h, u8 m, u8 s, u8 dow, u8 day, u8 mon, u8 year)
{
	CHECK_EQ(cmos(0x04), h);
	CHECK_EQ(cmos(0x02), m);
	CHECK_EQ(cmos(0x00), s);
	CHECK_EQ(cmos(0x06), dow);
	CHECK_EQ(cmos(0x07), day);
	CHECK_EQ(cmos(0x08), mon);
	CHECK_EQ(cmos(0x09), year);
}

/* Power-on state: the wall clock in BCD 24-hour mode, registers A-D, the memory bytes. */
static void test_init(void)
{
	setup(1709164798, 3 * GiB, 5 * GiB); /* 2024-02-28 23:59:58, a Wednesday */
	check_time(0x23, 0x59, 0x58, 4, 0x28, 0x02, 0x24);
	CHECK_EQ(cmos(RTC_CENTURY), 0x20);
	CHECK_EQ(cmos(0x0a), 0x26);
	CHECK_EQ(cmos(0x0b), 0x02);
	CHECK_EQ(cmos(0x0c), 0x00);
	CHECK_EQ(cmos(0x0d), 0x80);
	/* QEMU's pc_cmos_init layout. */
	CHECK_EQ(cmos(0x15) | cmos(0x16) << 8, 640);
	CHECK_EQ(cmos(0x17) | cmos(0x18) << 8, 0xffff);
	CHECK_EQ(cmos(0x30) | cmos(0x31) << 8, 0xffff);
	CHECK_EQ(cmos(0x34) | cmos(0x35) << 8, (3 * GiB - 16 * MiB) / 65536);
	CHECK_EQ(cmos(0x5b) | cmos(0x5c) << 8 | cmos(0x5d) << 16, 5 * GiB / 65536);
	teardown();

	setup(0, 15 * MiB, 0);
	check_time(0x00, 0x00, 0x00, 5, 0x01, 0x01, 0x70); /* 1970-01-01 was a Thursday */
	CHECK_EQ(cmos(RTC_CENTURY), 0x19);
	CHECK_EQ(cmos(0x17) | cmos(0x18) << 8, 14 * 1024);
	CHECK_EQ(cmos(0x34) | cmos(0x35) << 8, 0);
	CHECK_EQ(cmos(0x5b), 0);
	teardown();
}

/* "Update Cycle": UIP 244 us before the cycle and through its 1984 us; the new time at its end,
   the first one 500 ms after the divider leaves reset; leap day and day of week carry. */
static void test_update_cycle(void)
{
	setup(1709164798, 256 * MiB, 0);
	advance_to(tick_ns(16384 - 8) - 1);
	CHECK_EQ(cmos(0x0a) & 0x80, 0);
	advance_to(tick_ns(16384 - 8));
	CHECK_EQ(cmos(0x0a) & 0x80, 0x80);
	CHECK_EQ(cmos(0x00), 0x58);
	advance_to(update_end_ns(0) - 1);
	CHECK_EQ(cmos(0x0a) & 0x80, 0x80);
	CHECK_EQ(cmos(0x00), 0x58);
	advance_to(update_end_ns(0));
	CHECK_EQ(cmos(0x0a) & 0x80, 0);
	CHECK_EQ(cmos(0x00), 0x59);
	CHECK_EQ(cmos(0x0c) & 0x10, 0x10); /* UF without UIE: a flag, no interrupt */
	CHECK_EQ(n_raise, 0);
	advance_to(update_end_ns(1));
	check_time(0x00, 0x00, 0x00, 5, 0x29, 0x02, 0x24); /* 2024 is a leap year */
	/* UIP at every second, for 73 ticks. */
	unsigned uip = 0;
	for (u64 k = 40000; k < 40000 + 32768; k++) {
		advance_to(tick_ns(k));
		uip += cmos(0x0a) >> 7;
	}
	CHECK_EQ(uip, 73);
	/* 400 days at once (one read after a long time away). */
	advance_to(update_end_ns(1 + 400 * 86400ull));
	check_time(0x00, 0x00, 0x00, (5 - 1 + 400) % 7 + 1, 0x04, 0x04, 0x25);
	teardown();

	/* 2099-12-31 23:59:59 -> year 00; the century byte is the BIOS's RAM, left alone. */
	setup(4102444799, 256 * MiB, 0);
	advance_to(update_end_ns(0));
	check_time(0x00, 0x00, 0x00, 6, 0x01, 0x01, 0x00);
	CHECK_EQ(cmos(RTC_CENTURY), 0x20);
	teardown();
}

/* Table 3: binary and 12-hour modes, set under SET; SET stops updates and clears UIE and UIP. */
static void test_modes_and_set(void)
{
	setup(1709164798, 256 * MiB, 0);
	cmos_set(0x0b, 0x12);		    /* UIE */
	cmos_set(0x0b, 0x80 | 0x04 | 0x10); /* SET, binary, 12-hour, UIE */
	CHECK_EQ(cmos(0x0b), 0x84);	    /* UIE cleared by SET */
	cmos_set(0x04, 0x80 | 11);	    /* 11 PM */
	cmos_set(0x02, 59);
	cmos_set(0x00, 59);
	cmos_set(0x07, 31);
	cmos_set(0x08, 12);
	cmos_set(0x09, 99);
	cmos_set(0x06, 6);
	advance_to(update_end_ns(3));
	CHECK_EQ(cmos(0x0a) & 0x80, 0);
	CHECK_EQ(cmos(0x00), 59); /* no update while SET */
	cmos_set(0x0b, 0x04);
	advance_to(update_end_ns(4));
	check_time(12, 0, 0, 7, 1, 1, 0); /* 12 AM, 00-01-01 */
	advance_to(update_end_ns(4 + 12 * 3600));
	CHECK_EQ(cmos(0x04), 0x80 | 12); /* 12 PM */
	advance_to(update_end_ns(4 + 13 * 3600));
	CHECK_EQ(cmos(0x04), 0x80 | 1);
	teardown();

	/* SET cleared in the middle of an update cycle: that cycle does not complete. */
	setup(1709164798, 256 * MiB, 0);
	cmos_set(0x0b, 0x82);
	advance_to(tick_ns(16384 + 10));
	cmos_set(0x0b, 0x02);
	advance_to(update_end_ns(0));
	CHECK_EQ(cmos(0x00), 0x58);
	advance_to(update_end_ns(1));
	CHECK_EQ(cmos(0x00), 0x59);
	teardown();
}

/* Table 5 periodic rates; PF, IRQF and IRQ8 ("Register C", "Interrupts"). */
static void test_periodic(void)
{
	setup(1709164798, 256 * MiB, 0);
	advance_to(tick_ns(100));
	CHECK_EQ(cmos(0x0c), 0x40); /* PF without PIE: flag only */
	CHECK_EQ(cmos(0x0c), 0x00);
	cmos_set(0x0b, 0x42); /* PIE, rate 6: 1024 Hz = 32 ticks */
	advance_to(tick_ns(127) + 100);
	CHECK_EQ(n_raise, 0);
	advance_to(tick_ns(129));
	CHECK_EQ(n_raise, 1);
	CHECK_EQ(last_raise, tick_ns(128));
	CHECK_EQ(cmos(0x0c), 0xc0);
	CHECK_EQ(n_lower, 1);
	advance_to(tick_ns(160));
	CHECK_EQ(n_raise, 2);
	CHECK_EQ(last_raise, tick_ns(160));
	/* IRQ8 stays high until C is read: no timer runs meanwhile. */
	advance_to(tick_ns(10000));
	CHECK_EQ(n_raise, 2);
	CHECK_EQ(cmos(0x0c), 0xc0);
	/* Rates 1 and 2 are 256 and 128 Hz; rate 15 is 2 Hz; rate 0 stops it. */
	static const struct {
		u8 rs;
		u64 ticks;
	} rate[3] = { { 1, 128 }, { 2, 256 }, { 15, 16384 } };
	for (unsigned i = 0; i < 3; i++) {
		u64 t0 = 10000 * (i + 2) * 4;

		advance_to(tick_ns(t0));
		cmos_set(0x0a, 0x20 | rate[i].rs);
		cmos(0x0c);
		advance_to(tick_ns(t0 + 2 * rate[i].ticks + 1));
		CHECK_EQ(last_raise, tick_ns((t0 / rate[i].ticks + 1) * rate[i].ticks));
	}
	cmos_set(0x0a, 0x20);
	cmos(0x0c);
	u64 before = n_raise;
	advance_to(now_ns + NS_PER_S);
	CHECK_EQ(n_raise, before);
	teardown();
}

/* Alarm (don't-care codes 11xxxxxx) and update-ended interrupts. */
static void test_alarm_update(void)
{
	setup(1709164798, 256 * MiB, 0); /* 23:59:58 */
	cmos_set(0x05, 0x00);
	cmos_set(0x03, 0x00);
	cmos_set(0x01, 0x05);
	cmos_set(0x0b, 0x22); /* AIE */
	advance_to(update_end_ns(6));
	CHECK_EQ(n_raise, 1);
	CHECK_EQ(last_raise, update_end_ns(6)); /* 00:00:05 */
	CHECK_EQ(cmos(0x0c), 0xa0 | 0x10 | 0x40);
	/* Seconds don't-care, minute 1: every second of minute 00:01. */
	cmos_set(0x01, 0xc0);
	cmos_set(0x03, 0x01);
	advance_to(update_end_ns(6 + 60));
	CHECK_EQ(n_raise, 2);
	CHECK_EQ(last_raise, update_end_ns(61)); /* 00:01:00 */
	cmos(0x0c);
	advance_to(update_end_ns(67));
	CHECK_EQ(n_raise, 3);
	/* All don't-care: every second. */
	cmos_set(0x05, 0xff);
	cmos_set(0x03, 0xc3);
	cmos(0x0c);
	advance_to(update_end_ns(200));
	CHECK_EQ(n_raise, 4);
	CHECK_EQ(last_raise, update_end_ns(68));
	/* An alarm byte no time can match never fires. */
	cmos_set(0x01, 0x61);
	cmos(0x0c);
	advance_to(update_end_ns(200 + 86400 * 2));
	CHECK_EQ(n_raise, 4);
	CHECK_EQ(timer_next_deadline(&q), UINT64_MAX);

	/* UIE: every update cycle; C read lowers IRQ8. */
	cmos_set(0x0b, 0x12);
	cmos(0x0c);
	u64 base = update_end_ns(200 + 86400 * 2 + 1);
	advance_to(base);
	CHECK_EQ(last_raise, base);
	CHECK_EQ(cmos(0x0c) & 0xb0, 0x90);
	CHECK(!rtc.irq.level);
	teardown();
}

/* 12-hour alarm: bit 7 of the hour byte is PM, not a don't-care (only 11xxxxxx is). */
static void test_alarm_12h(void)
{
	setup(1709164798 + 3600, 256 * MiB, 0); /* 2024-02-29 00:59:58 */
	cmos_set(0x0b, 0x80);			/* SET, 12-hour BCD */
	cmos_set(0x04, 0x12);			/* 12 AM */
	cmos_set(0x05, 0x81);			/* 1 PM */
	cmos_set(0x03, 0x00);
	cmos_set(0x01, 0x00);
	cmos_set(0x0b, 0x20); /* AIE */
	advance_to(update_end_ns(3 * 3600));
	CHECK_EQ(cmos(0x04), 0x03);
	CHECK_EQ(n_raise, 0);
	advance_to(update_end_ns(13 * 3600));
	CHECK_EQ(n_raise, 1);
	CHECK_EQ(last_raise, update_end_ns(1 + 12 * 3600)); /* 01:00:00 PM */
	teardown();
}

/* Divider reset (DV = 11x) stops the clock; releasing it starts a cycle 500 ms later. */
static void test_divider(void)
{
	setup(1709164798, 256 * MiB, 0);
	advance_to(NS_PER_S / 10);
	cmos_set(0x0a, 0x76);
	advance_to(10 * NS_PER_S);
	CHECK_EQ(cmos(0x00), 0x58);
	CHECK_EQ(cmos(0x0a), 0x76); /* no UIP in reset */
	cmos_set(0x0a, 0x26);
	u64 t0 = now_ns;
	advance_to(t0 + tick_ns(16449) - 1);
	CHECK_EQ(cmos(0x00), 0x58);
	advance_to(t0 + tick_ns(16449) + 1);
	CHECK_EQ(cmos(0x00), 0x59);
	teardown();
}

/* Index and NMI mask, read-only registers, hostile values. */
static void test_ports(void)
{
	u64 d;

	setup(1709164798, 256 * MiB, 0);
	outb(0x70, 0x80 | 0x0e);
	CHECK(rtc_nmi_masked(&rtc));
	outb(0x71, 0x5a);
	outb(0x70, 0x0e);
	CHECK(!rtc_nmi_masked(&rtc));
	CHECK_EQ(inb(0x71), 0x5a);
	CHECK_EQ(inb(0x70), 0xff);
	outb(0x70, 0xff); /* index 0x7f, the last RAM byte */
	outb(0x71, 0x11);
	CHECK_EQ(cmos(0x7f), 0x11);
	cmos_set(0x0d, 0x00);
	CHECK_EQ(cmos(0x0d), 0x80);
	cmos_set(0x0c, 0xff);
	CHECK_EQ(cmos(0x0c), 0x00);
	cmos_set(0x0a, 0xa6);
	CHECK_EQ(cmos(0x0a) & 0x7f, 0x26); /* UIP is read-only */
	/* outw 0x70: index in the low byte, data in the high byte. */
	d = 0x3320;
	rtc_access(&rtc, 0, &d, 2, true);
	CHECK_EQ(cmos(0x20), 0x33);
	/* Garbage time bytes: kept as written, carried over like a calendar at the update. */
	cmos_set(0x00, 0x7a); /* BCD 7 tens and 10 units: 80 seconds */
	CHECK_EQ(cmos(0x00), 0x7a);
	advance_to(update_end_ns(0));
	CHECK_EQ(cmos(0x00), 0x21); /* 23:59:80 + 1 = 00:00:21 the next day */
	CHECK_EQ(cmos(0x04), 0x00);
	/* Everything at every index: no crash; IRQ8 follows IRQF. */
	unsigned seed = 7;
	for (unsigned i = 0; i < 100000; i++) {
		u8 port = (u8)(0x70 + rand_r(&seed) % 2), v = (u8)rand_r(&seed);

		if (rand_r(&seed) % 3)
			inb(port);
		else
			outb(port, v);
		advance_to(now_ns + (u64)(rand_r(&seed) % 2000000));
	}
	outb(0x70, 0x0b);
	u8 b = inb(0x71);
	u8 c = cmos(0x0c);
	CHECK_EQ(!!(c & 0x80), !!(c & b & 0x70));
	teardown();
}

/* RESET: enables and flags clear, time and RAM stay. */
static void test_reset(void)
{
	setup(1709164798, 256 * MiB, 0);
	cmos_set(0x0b, 0x7a);
	cmos_set(0x40, 0x99);
	advance_to(update_end_ns(0));
	CHECK(rtc.irq.level);
	rtc_reset(&rtc);
	CHECK(!rtc.irq.level);
	CHECK_EQ(cmos(0x0b), 0x02);
	CHECK_EQ(cmos(0x0c), 0x00);
	CHECK_EQ(cmos(0x40), 0x99);
	CHECK_EQ(cmos(0x00), 0x59);
	teardown();
}

/*
 * Linux's mc146818_avoid_UIP: read seconds, check UIP, read the time, check UIP and seconds
 * again. Here at every 0.1 ms over two seconds, each port access taking 1 us: every accepted
 * read is the true time.
 */
static void test_linux_read(void)
{
	unsigned accepted = 0, wrong = 0;

	setup(1709164798, 256 * MiB, 0);
	for (u64 t = 0; t < 2 * NS_PER_S; t += 100000) {
		u8 sec, v[3];

		advance_to(t);
		for (;;) {
			sec = cmos(0x00);
			advance_to(now_ns + 2000);
			if (cmos(0x0a) & 0x80) {
				advance_to(now_ns + 100000);
				continue;
			}
			advance_to(now_ns + 2000);
			if (sec != cmos(0x00))
				continue;
			v[0] = cmos(0x00);
			v[1] = cmos(0x02);
			v[2] = cmos(0x04);
			advance_to(now_ns + 6000);
			if (cmos(0x0a) & 0x80) {
				advance_to(now_ns + 100000);
				continue;
			}
			if (sec != cmos(0x00))
				continue;
			break;
		}
		accepted++;
		/* The true time at now: 23:59:58 plus the update cycles ended. */
		u64 n = 0;
		while (update_end_ns(n) <= now_ns)
			n++;
		u8 want_s = n == 0 ? 0x58 : n == 1 ? 0x59 : (u8)(n - 2);
		wrong += v[0] != want_s || v[2] != (n >= 2 ? 0x00 : 0x23);
	}
	CHECK_EQ(accepted, 20000);
	CHECK_EQ(wrong, 0);
	teardown();
}

int main(void)
{
	test_init();
	test_update_cycle();
	test_modes_and_set();
	test_periodic();
	test_alarm_update();
	test_alarm_12h();
	test_divider();
	test_ports();
	test_reset();
	test_linux_read();
	return check_done("test_rtc");
}
