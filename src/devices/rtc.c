// SPDX-License-Identifier: MIT
/*
 * MC146818A RTC; register and bit names follow the Motorola datasheet: "Address Map" (Figure 3),
 * "Time, Calendar and Alarm Data Modes" (Table 3), "Register A"-"Register D", "Update Cycle",
 * "Interrupts", "Periodic Interrupt Rate" (Table 5, 32.768 kHz time base).
 *
 * The time and calendar bytes are held as the chip holds them; an update cycle reads them as a
 * count of seconds in the chip's own calendar (a two-digit year, leap when divisible by 4, which
 * is the Gregorian rule for 1901-2099), adds the seconds elapsed and writes them back. Values
 * outside the ranges of Table 3 are undefined on the chip; here an update carries them over like
 * a calendar would (61 seconds is a minute and a second), so a guest that writes garbage reads
 * back a normalized date after the next update.
 */
#include <string.h>

#include "devices/rtc.h"

#define NS_PER_S   1000000000ull
#define TICK_HZ	   32768
#define TICK_NEVER UINT64_MAX

enum {
	REG_SEC,
	REG_SEC_ALARM,
	REG_MIN,
	REG_MIN_ALARM,
	REG_HOUR,
	REG_HOUR_ALARM,
	REG_DOW,
	REG_DAY,
	REG_MON,
	REG_YEAR,
	REG_A,
	REG_B,
	REG_C,
	REG_D,
};

#define A_UIP	BIT(7)
#define A_DV(v) (((v) >> 4) & 7)
#define A_RS(v) ((v)&0xf)
#define DV_32K	2 /* 010: the 32.768 kHz time base, divider running */

#define B_SET  BIT(7)
#define B_PIE  BIT(6)
#define B_AIE  BIT(5)
#define B_UIE  BIT(4)
#define B_SQWE BIT(3)
#define B_DM   BIT(2) /* 1: binary, 0: BCD */
#define B_24H  BIT(1)

#define C_IRQF BIT(7)
#define C_PF   BIT(6)
#define C_AF   BIT(5)
#define C_UF   BIT(4)

#define D_VRT BIT(7)

#define HOUR_PM		BIT(7) /* 12-hour mode */
#define ALARM_DONT_CARE 0xc0

/*
 * "Update Cycle": UIP rises 244 us (8 ticks) before the cycle, which takes 1984 us (65 ticks)
 * with a 32.768 kHz base; the new time, UF and AF appear at its end. The first cycle begins
 * 500 ms after the divider leaves reset ("Divider stages"), then every second.
 */
#define UPDATE_START 16384
#define UIP_LEAD     8
#define UPDATE_TICKS 65
#define UPDATE_END   (UPDATE_START + UPDATE_TICKS)

#define DAY_S	   86400ull
#define CYCLE_DAYS 36525ull /* 100 chip years: 75 of 365 days, 25 of 366 */

static const u16 days_before_month[13] = {
	0, 0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334
};

static bool rtc_running(const struct rtc *r)
{
	return A_DV(r->cmos[REG_A]) == DV_32K;
}

static u64 rtc_ticks(const struct rtc *r, u64 now)
{
	return now <= r->div_origin ? 0 : (u64)((u128)(now - r->div_origin) * TICK_HZ / NS_PER_S);
}

static u64 rtc_tick_ns(const struct rtc *r, u64 tick)
{
	return r->div_origin + (u64)(((u128)tick * NS_PER_S + TICK_HZ - 1) / TICK_HZ);
}

/* Update cycles that have ended by tick `t`. */
static u64 rtc_updates(u64 t)
{
	return t < UPDATE_END ? 0 : (t - UPDATE_END) / TICK_HZ + 1;
}

/* Table 5 with a 32.768 kHz base: rates 1 and 2 are 256 and 128 Hz, 3-15 are 2^(16-RS) Hz. */
static u64 rtc_period_ticks(unsigned rs)
{
	return rs <= 2 ? 1ull << (rs + 6) : 1ull << (rs - 1);
}

/* Table 3: BCD or binary per DM. A BCD digit above 9 counts at its face value. */
static unsigned rtc_from_reg(const struct rtc *r, u8 v)
{
	return r->cmos[REG_B] & B_DM ? v : (v >> 4) * 10u + (v & 0xf);
}

static u8 rtc_to_reg(const struct rtc *r, unsigned v)
{
	return (u8)(r->cmos[REG_B] & B_DM ? v : (v / 10) << 4 | v % 10);
}

/* Hours 0-23 from the hour byte; in 12-hour mode 1-12 with bit 7 for PM. */
static unsigned rtc_hour_from_reg(const struct rtc *r, u8 v)
{
	if (r->cmos[REG_B] & B_24H)
		return rtc_from_reg(r, v);
	return rtc_from_reg(r, v & 0x7f) % 12 + (v & HOUR_PM ? 12 : 0);
}

static u8 rtc_hour_to_reg(const struct rtc *r, unsigned h)
{
	if (r->cmos[REG_B] & B_24H)
		return rtc_to_reg(r, h);
	return rtc_to_reg(r, h % 12 ? h % 12 : 12) | (h >= 12 ? HOUR_PM : 0);
}

static bool rtc_leap(unsigned y)
{
	return y % 4 == 0;
}

/* The time and calendar bytes as seconds since 00-01-01 00:00:00 of the chip's century. */
static u64 rtc_get_seconds(const struct rtc *r)
{
	const u8 *c = r->cmos;
	unsigned year = rtc_from_reg(r, c[REG_YEAR]) % 100, mon = rtc_from_reg(r, c[REG_MON]);
	s64 days, s;

	mon = (mon + 11) % 12 + 1; /* 0 is December, 13 January, and so on */
	days = (s64)year * 365 + (year + 3) / 4 + days_before_month[mon] +
	       (rtc_leap(year) && mon > 2) + (s64)rtc_from_reg(r, c[REG_DAY]) - 1;
	s = days * (s64)DAY_S + rtc_hour_from_reg(r, c[REG_HOUR]) * 3600 +
	    rtc_from_reg(r, c[REG_MIN]) * 60 + rtc_from_reg(r, c[REG_SEC]);
	s %= (s64)(CYCLE_DAYS * DAY_S);
	return (u64)(s < 0 ? s + (s64)(CYCLE_DAYS * DAY_S) : s);
}

static void rtc_set_seconds(struct rtc *r, u64 s)
{
	u64 days = s / DAY_S % CYCLE_DAYS, tod = s % DAY_S;
	unsigned year = 0, mon = 1;

	while (days >= 365u + rtc_leap(year))
		days -= 365u + rtc_leap(year++);
	while (mon < 12 &&
	       days >= (u64)days_before_month[mon + 1] + (rtc_leap(year) && mon + 1 > 2))
		mon++;
	days -= days_before_month[mon] + (rtc_leap(year) && mon > 2);
	r->cmos[REG_SEC] = rtc_to_reg(r, (unsigned)(tod % 60));
	r->cmos[REG_MIN] = rtc_to_reg(r, (unsigned)(tod / 60 % 60));
	r->cmos[REG_HOUR] = rtc_hour_to_reg(r, (unsigned)(tod / 3600));
	r->cmos[REG_DAY] = rtc_to_reg(r, (unsigned)days + 1);
	r->cmos[REG_MON] = rtc_to_reg(r, mon);
	r->cmos[REG_YEAR] = rtc_to_reg(r, year);
}

static bool rtc_alarm_match(u8 alarm, u8 v)
{
	return alarm >= ALARM_DONT_CARE || alarm == v;
}

/*
 * The first second after `s` whose hour, minute and second bytes match the alarm bytes
 * ("Interrupts": a don't-care code, 11xxxxxx, matches any value), or TICK_NEVER. The bytes are
 * compared as the chip compares them, in the present data mode.
 */
static u64 rtc_alarm_after(const struct rtc *r, u64 s)
{
	u64 hours = 0, mins = 0, secs = 0, tod, day;
	unsigned h0, m0, s0;

	for (unsigned i = 0; i < 60; i++) {
		if (i < 24 && rtc_alarm_match(r->cmos[REG_HOUR_ALARM], rtc_hour_to_reg(r, i)))
			hours |= BIT(i);
		if (rtc_alarm_match(r->cmos[REG_MIN_ALARM], rtc_to_reg(r, i)))
			mins |= BIT(i);
		if (rtc_alarm_match(r->cmos[REG_SEC_ALARM], rtc_to_reg(r, i)))
			secs |= BIT(i);
	}
	if (!hours || !mins || !secs)
		return TICK_NEVER;
	s++;
	tod = s % DAY_S;
	day = s - tod;
	h0 = (unsigned)(tod / 3600);
	m0 = (unsigned)(tod / 60 % 60);
	s0 = (unsigned)(tod % 60);
	for (unsigned d = 0; d < 2; d++, day += DAY_S) {
		for (unsigned h = d ? 0 : h0; h < 24; h++) {
			if (!(hours & BIT(h)))
				continue;
			for (unsigned m = !d && h == h0 ? m0 : 0; m < 60; m++) {
				if (!(mins & BIT(m)))
					continue;
				for (unsigned x = !d && h == h0 && m == m0 ? s0 : 0; x < 60; x++)
					if (secs & BIT(x))
						return day + h * 3600 + m * 60 + x;
			}
		}
	}
	return TICK_NEVER;
}

/* `n` update cycles: the time advances, UF sets, AF sets if a new time matched the alarm; the
   day of week steps 1-7 on its own as the chip's does. */
static void rtc_update(struct rtc *r, u64 n)
{
	u64 s = rtc_get_seconds(r), days = (s + n) / DAY_S - s / DAY_S;
	unsigned dow = rtc_from_reg(r, r->cmos[REG_DOW]);

	if (rtc_alarm_after(r, s) <= s + n)
		r->flags |= C_AF;
	r->flags |= C_UF;
	rtc_set_seconds(r, s + n);
	if (days)
		r->cmos[REG_DOW] = rtc_to_reg(r, (unsigned)((dow + 6 + days % 7) % 7 + 1));
}

/* Apply what the divider chain did up to `now`: periodic ticks and ended update cycles. SET
   inhibits updates; the seconds they would have counted are lost ("Register B", SET). */
static void rtc_sync(struct rtc *r, u64 now)
{
	u64 t, n, p;

	if (!rtc_running(r))
		return;
	t = rtc_ticks(r, now);
	if (t <= r->synced)
		return;
	if (A_RS(r->cmos[REG_A])) {
		p = rtc_period_ticks(A_RS(r->cmos[REG_A]));
		if (t / p > r->synced / p)
			r->flags |= C_PF;
	}
	n = rtc_updates(t) - rtc_updates(r->synced);
	if (n && r->skip_end > r->synced && r->skip_end <= t)
		n--;
	if (n && !(r->cmos[REG_B] & B_SET))
		rtc_update(r, n);
	r->synced = t;
}

static bool rtc_irqf(const struct rtc *r)
{
	u8 b = r->cmos[REG_B];

	return ((r->flags & C_PF) && (b & B_PIE)) || ((r->flags & C_AF) && (b & B_AIE)) ||
	       ((r->flags & C_UF) && (b & B_UIE));
}

/* The tick of the first update cycle to end after `t`. */
static u64 rtc_next_update(u64 t)
{
	return t < UPDATE_END ? UPDATE_END : t + TICK_HZ - (t - UPDATE_END) % TICK_HZ;
}

/* IRQ# follows IRQF ("Register C"); the timer waits for the next flag an enable would turn into
   an interrupt. A flag already set needs no timer: IRQF stays until register C is read. */
static void rtc_settle(struct rtc *r)
{
	u8 b = r->cmos[REG_B];
	u64 next = TICK_NEVER, t = r->synced, u, s, a;
	bool irqf = rtc_irqf(r);

	if (irqf != r->irq.level)
		irq_set_level(&r->irq, irqf);
	if (rtc_running(r)) {
		if ((b & B_PIE) && !(r->flags & C_PF) && A_RS(r->cmos[REG_A])) {
			u64 p = rtc_period_ticks(A_RS(r->cmos[REG_A]));

			next = (t / p + 1) * p;
		}
		u = rtc_next_update(t);
		if ((b & B_UIE) && !(r->flags & C_UF) && !(b & B_SET) && u < next)
			next = u;
		if ((b & B_AIE) && !(r->flags & C_AF) && !(b & B_SET)) {
			s = rtc_get_seconds(r);
			a = rtc_alarm_after(r, s);
			if (a != TICK_NEVER && u + (a - s - 1) * TICK_HZ < next)
				next = u + (a - s - 1) * TICK_HZ;
		}
	}
	if (next == TICK_NEVER)
		timer_cancel(&r->timer);
	else
		timer_arm(&r->timer, rtc_tick_ns(r, next)); /* failure: disarmed (timer.h) */
}

static void rtc_fire(void *opaque, u64 now)
{
	struct rtc *r = opaque;

	rtc_sync(r, now);
	rtc_settle(r);
}

/* UIP ("Register A"): from 244 us before an update cycle to its end; SET clears it. */
static bool rtc_uip(const struct rtc *r, u64 now)
{
	if (!rtc_running(r) || (r->cmos[REG_B] & B_SET))
		return false;
	return (rtc_ticks(r, now) + TICK_HZ - (UPDATE_START - UIP_LEAD)) % TICK_HZ <
	       UIP_LEAD + UPDATE_TICKS;
}

static u8 rtc_read(struct rtc *r, u64 now)
{
	u8 v;

	switch (r->index) {
	case REG_A:
		return r->cmos[REG_A] | (rtc_uip(r, now) ? A_UIP : 0);
	case REG_C: /* read-only; a read clears every flag and IRQF */
		v = r->flags | (rtc_irqf(r) ? C_IRQF : 0);
		r->flags = 0;
		return v;
	case REG_D: /* VRT, read-only; bits 6:0 read 0 */
		return D_VRT;
	default:
		return r->cmos[r->index];
	}
}

static void rtc_write(struct rtc *r, u64 now, u8 v)
{
	bool was_running = rtc_running(r);

	switch (r->index) {
	case REG_A: /* UIP is read-only */
		r->cmos[REG_A] = v & ~A_UIP;
		if (!was_running && rtc_running(r)) {
			r->div_origin = now;
			r->synced = r->skip_end = 0;
		}
		break;
	case REG_B:
		/* A cycle that began with SET set, or was aborted by it, does not complete when
		   SET clears before its end ("Register B", SET). */
		if ((r->cmos[REG_B] & B_SET) && !(v & B_SET) && rtc_running(r)) {
			u64 t = rtc_ticks(r, now), ph = (t + TICK_HZ - UPDATE_START) % TICK_HZ;

			if (t >= UPDATE_START && ph < UPDATE_TICKS)
				r->skip_end = t - ph + UPDATE_TICKS;
		}
		/* Setting SET clears UIE ("Register B", UIE). */
		r->cmos[REG_B] = v & B_SET ? v & ~B_UIE : v;
		break;
	case REG_C:
	case REG_D:
		break; /* read-only */
	default:
		/* Time, alarm and calendar bytes take the value as written (with SET clear the
		   next update cycle carries on from it), RAM likewise. */
		r->cmos[r->index] = v;
		break;
	}
}

void rtc_access(void *opaque, u64 offset, u64 *data, unsigned len, bool is_write)
{
	struct rtc *r = opaque;
	u64 now = timer_now(r->q), v = 0;

	rtc_sync(r, now);
	for (unsigned i = 0; i < len; i++) {
		u64 port = offset + i;
		u8 b = (u8)(*data >> (8 * i));

		if (is_write && port == 0) {
			r->index = b & 0x7f;
			r->nmi_masked = b & 0x80;
		} else if (is_write && port == 1) {
			rtc_write(r, now, b);
		} else if (!is_write) {
			/* Port 0x70 is write-only (ICH RTC_INDEX / NMI_EN): the bus floats. */
			v |= (u64)(port == 1 ? rtc_read(r, now) : 0xff) << (8 * i);
		}
	}
	if (!is_write)
		*data = v;
	rtc_settle(r);
}

bool rtc_nmi_masked(const struct rtc *r)
{
	return r->nmi_masked;
}

void rtc_reset(struct rtc *r)
{
	rtc_sync(r, timer_now(r->q));
	r->cmos[REG_B] &= ~(B_PIE | B_AIE | B_UIE | B_SQWE);
	r->flags = 0;
	rtc_settle(r);
}

/* Howard Hinnant's civil_from_days: the Gregorian date of day `z` after 1970-01-01. */
static void rtc_civil(s64 z, s64 *y, unsigned *m, unsigned *d)
{
	s64 era, yoe, doy, mp;

	z += 719468;
	era = (z >= 0 ? z : z - 146096) / 146097;
	yoe = z - era * 146097;
	yoe = (yoe - yoe / 1460 + yoe / 36524 - yoe / 146096) / 365;
	doy = z - era * 146097 - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	*d = (unsigned)(doy - (153 * mp + 2) / 5 + 1);
	*m = (unsigned)(mp < 10 ? mp + 3 : mp - 9);
	*y = yoe + era * 400 + (*m <= 2);
}

static void rtc_set_word(struct rtc *r, unsigned lo, u64 v)
{
	r->cmos[lo] = (u8)v;
	r->cmos[lo + 1] = (u8)(v >> 8);
}

void rtc_init(struct rtc *r, struct timer_queue *q, s64 unix_time, u64 ram_below_4g,
	      u64 ram_above_4g)
{
	struct irq_line irq = r->irq;
	s64 days = unix_time / (s64)DAY_S, tod = unix_time % (s64)DAY_S, year;
	unsigned mon, day;
	u64 v;

	memset(r, 0, sizeof(*r));
	r->irq = irq;
	r->q = q;
	timer_init(&r->timer, q, rtc_fire, r, "rtc");
	if (tod < 0) {
		tod += DAY_S;
		days--;
	}
	r->cmos[REG_A] = DV_32K << 4 | 6;
	r->cmos[REG_B] = B_24H;
	rtc_civil(days, &year, &mon, &day);
	r->cmos[REG_SEC] = rtc_to_reg(r, (unsigned)(tod % 60));
	r->cmos[REG_MIN] = rtc_to_reg(r, (unsigned)(tod / 60 % 60));
	r->cmos[REG_HOUR] = rtc_hour_to_reg(r, (unsigned)(tod / 3600));
	r->cmos[REG_DOW] = rtc_to_reg(r, (unsigned)(((days % 7 + 11) % 7) + 1)); /* 1970-01-01: Thu
										  */
	r->cmos[REG_DAY] = rtc_to_reg(r, day);
	r->cmos[REG_MON] = rtc_to_reg(r, mon);
	r->cmos[REG_YEAR] = rtc_to_reg(r, (unsigned)(((year % 100) + 100) % 100));
	r->cmos[RTC_CENTURY] = rtc_to_reg(r, (unsigned)(((year / 100) % 100 + 100) % 100));

	rtc_set_word(r, 0x15, ram_below_4g / 1024 < 640 ? ram_below_4g / 1024 : 640);
	v = ram_below_4g > (1 << 20) ? (ram_below_4g - (1 << 20)) / 1024 : 0;
	rtc_set_word(r, 0x17, v < 0xffff ? v : 0xffff);
	rtc_set_word(r, 0x30, v < 0xffff ? v : 0xffff);
	v = ram_below_4g > (16 << 20) ? (ram_below_4g - (16 << 20)) / 65536 : 0;
	rtc_set_word(r, 0x34, v < 0xffff ? v : 0xffff);
	v = ram_above_4g / 65536;
	rtc_set_word(r, 0x5b, v);
	r->cmos[0x5d] = (u8)(v >> 16);

	r->div_origin = timer_now(q);
	rtc_reset(r);
}
