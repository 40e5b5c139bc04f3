// SPDX-License-Identifier: MIT
/*
 * HPET, register by register from the IA-PC HPET Specification 1.0a: 2.3.4 General Capabilities
 * and ID, 2.3.5 General Configuration, 2.3.6 General Interrupt Status, 2.3.7 Main Counter Value,
 * 2.3.8 Timer N Configuration and Capabilities, 2.3.9 Timer N Comparator Value (2.3.9.2.1
 * non-periodic, 2.3.9.2.2 periodic mode), 2.3.10 Timer N FSB Interrupt Route.
 */
#include <string.h>

#include "devices/hpet.h"

#define TICK_NS	   (HPET_PERIOD_FS / 1000000)
#define TICK_NEVER UINT64_MAX

#define REG_CAP	     0x000
#define REG_CONFIG   0x010
#define REG_ISR	     0x020
#define REG_COUNTER  0x0f0
#define REG_TIMER0   0x100
#define TIMER_STRIDE 0x20
#define TIMER_CONF   0x00
#define TIMER_CMP    0x08

/* 2.3.4: REV_ID 1, NUM_TIM_CAP = timers - 1, COUNT_SIZE_CAP, LEG_RT_CAP, vendor (Intel, as
   QEMU), COUNTER_CLK_PERIOD in femtoseconds. */
#define CAP_VALUE                                                                                  \
	(0x01 | (HPET_NR_TIMERS - 1) << 8 | BIT(13) | BIT(15) | 0x8086ull << 16 |                  \
	 HPET_PERIOD_FS << 32)

#define CONF_ENABLE BIT(0)
#define CONF_LEG_RT BIT(1)

#define TN_INT_TYPE    BIT(1) /* 1: level */
#define TN_INT_ENB     BIT(2)
#define TN_TYPE	       BIT(3) /* 1: periodic */
#define TN_PER_INT_CAP BIT(4)
#define TN_SIZE_CAP    BIT(5)
#define TN_VAL_SET     BIT(6)
#define TN_32MODE      BIT(8)
#define TN_ROUTE_SHIFT 9
#define TN_ROUTE       (0x1full << TN_ROUTE_SHIFT)
#define TN_FSB_EN      BIT(14)
#define TN_CAPS	       (TN_PER_INT_CAP | TN_SIZE_CAP | (u64)HPET_ROUTE_CAP << 32)
/* Read/write bits; FSB_EN is read-only 0 without Tn_FSB_INT_DEL_CAP (2.3.8). */
#define TN_WRITABLE (TN_INT_TYPE | TN_INT_ENB | TN_TYPE | TN_VAL_SET | TN_32MODE | TN_ROUTE)

static bool hpet_enabled(const struct hpet *h)
{
	return h->config & CONF_ENABLE;
}

/* The LegacyReplacement route is in force when ENABLE_CNF and LEG_RT_CNF are both set (2.3.5). */
static bool hpet_legacy(const struct hpet *h)
{
	return (h->config & (CONF_ENABLE | CONF_LEG_RT)) == (CONF_ENABLE | CONF_LEG_RT);
}

/* Counter ticks since start_ns. */
static u64 hpet_ticks(const struct hpet *h, u64 now)
{
	return now > h->start_ns ? (now - h->start_ns) / TICK_NS : 0;
}

static u64 hpet_counter(const struct hpet *h, u64 now)
{
	return hpet_enabled(h) ? h->counter + hpet_ticks(h, now) : h->counter;
}

static bool tn_32bit(const struct hpet_timer *t)
{
	return t->config & TN_32MODE;
}

/*
 * Ticks from the counter value `x` to the timer's next match (0: at x). The comparator is
 * compared for equality with the counter, on its low 32 bits in 32-bit mode (2.3.8
 * Tn_32MODE_CNF); a non-periodic 32-bit timer also interrupts when the counter wraps to 0
 * (2.3.9.2.1). A 64-bit timer passed by the counter waits for its wrap: practically never.
 */
static u64 tn_distance(const struct hpet_timer *t, u64 x)
{
	u64 d, wrap;

	if (!tn_32bit(t))
		return t->cmp - x;
	d = (u32)(t->cmp - x);
	if (t->config & TN_TYPE)
		return d;
	wrap = (u32)(0 - x);
	return wrap < d ? wrap : d;
}

/* The tick of the timer's first match at or after tick `from`, or TICK_NEVER. */
static u64 tn_next_match(const struct hpet *h, const struct hpet_timer *t)
{
	u64 d = tn_distance(t, h->counter + t->from);

	return d > TICK_NEVER - t->from ? TICK_NEVER : t->from + d;
}

static struct irq_line *tn_line(struct hpet *h, unsigned n)
{
	if (hpet_legacy(h) && n == 0)
		return &h->isa_irq0;
	if (hpet_legacy(h) && n == 1)
		return &h->isa_irq8;
	return &h->irq[(h->t[n].config & TN_ROUTE) >> TN_ROUTE_SHIFT];
}

/* A level-triggered timer holds its line while its status bit is set (2.3.6). */
static bool tn_asserts(const struct hpet *h, unsigned n)
{
	u64 c = h->t[n].config;

	return hpet_enabled(h) && (c & TN_INT_ENB) && (c & TN_INT_TYPE) && (h->isr & BIT(n));
}

/* Every output at the level its sources give it: the level-triggered timers routed to it, or
   on the ISA lines outside legacy mode the PIT's and RTC's own levels. */
static void hpet_update_lines(struct hpet *h)
{
	bool level[HPET_NR_ROUTES] = { 0 }, isa0, isa8;

	isa0 = hpet_legacy(h) ? false : h->pit_in;
	isa8 = hpet_legacy(h) ? false : h->rtc_in;
	for (unsigned n = 0; n < HPET_NR_TIMERS; n++) {
		struct irq_line *l = tn_line(h, n);

		if (!tn_asserts(h, n))
			continue;
		if (l == &h->isa_irq0)
			isa0 = true;
		else if (l == &h->isa_irq8)
			isa8 = true;
		else
			level[l - h->irq] = true;
	}
	for (unsigned r = 0; r < HPET_NR_ROUTES; r++)
		if (h->irq[r].level != level[r])
			irq_set_level(&h->irq[r], level[r]);
	if (h->isa_irq0.level != isa0)
		irq_set_level(&h->isa_irq0, isa0);
	if (h->isa_irq8.level != isa8)
		irq_set_level(&h->isa_irq8, isa8);
}

/* A match (2.3.8 Tn_INT_TYPE_CNF): edge mode sends an edge if enabled; level mode sets the
   status bit, enabled or not ("will still operate and generate appropriate status bits"). An
   edge on a line a level source holds high is lost in the wired OR. */
static void tn_interrupt(struct hpet *h, unsigned n)
{
	struct hpet_timer *t = &h->t[n];
	struct irq_line *l;

	if (t->config & TN_INT_TYPE) {
		h->isr |= BIT(n);
		return;
	}
	l = tn_line(h, n);
	if ((t->config & TN_INT_ENB) && !l->level)
		irq_pulse(l);
}

/* Compare the counter's ticks [from, tick] with timer n. In periodic mode each match adds the
   period to the comparator (2.3.9.2.2); several matches at once make one interrupt. */
static void tn_sync(struct hpet *h, unsigned n, u64 tick)
{
	struct hpet_timer *t = &h->t[n];
	u64 m, k;

	while (t->from <= tick) {
		m = tn_next_match(h, t);
		if (m > tick)
			break;
		if ((t->config & TN_TYPE) && t->period) {
			k = (tick - m) / t->period + 1;
			t->cmp += k * t->period;
			if (tn_32bit(t))
				t->cmp = (u32)t->cmp;
			t->from = m + (k - 1) * t->period + 1;
		} else {
			t->from = m + 1;
		}
		tn_interrupt(h, n);
	}
	t->from = tick + 1;
}

static void hpet_sync(struct hpet *h, u64 now)
{
	if (!hpet_enabled(h))
		return;
	for (unsigned n = 0; n < HPET_NR_TIMERS; n++)
		tn_sync(h, n, hpet_ticks(h, now));
}

/* Lines, then each timer's guest timer at its next match, when that match would show: an
   enabled edge interrupt or a clear level status bit. A failure to grow the queue leaves the
   timer disarmed (timer.h); the match then shows at the next access. */
static void hpet_settle(struct hpet *h)
{
	hpet_update_lines(h);
	for (unsigned n = 0; n < HPET_NR_TIMERS; n++) {
		const struct hpet_timer *t = &h->t[n];
		bool shows = t->config & TN_INT_TYPE ? !(h->isr & BIT(n)) : t->config & TN_INT_ENB;
		u64 m = tn_next_match(h, t);

		if (hpet_enabled(h) && shows && m <= (TICK_NEVER - h->start_ns) / TICK_NS)
			timer_arm(&h->timer[n], h->start_ns + m * TICK_NS);
		else
			timer_cancel(&h->timer[n]);
	}
}

static void hpet_fire(void *opaque, u64 now)
{
	struct hpet *h = opaque;

	hpet_sync(h, now);
	hpet_settle(h);
}

static u64 hpet_read_reg(struct hpet *h, u64 reg, u64 now)
{
	unsigned n;

	switch (reg) {
	case REG_CAP:
		return CAP_VALUE;
	case REG_CONFIG:
		return h->config;
	case REG_ISR:
		return h->isr;
	case REG_COUNTER:
		return hpet_counter(h, now);
	}
	if (reg < REG_TIMER0 || reg >= REG_TIMER0 + HPET_NR_TIMERS * TIMER_STRIDE)
		return 0;
	n = (unsigned)((reg - REG_TIMER0) / TIMER_STRIDE);
	switch ((reg - REG_TIMER0) % TIMER_STRIDE) {
	case TIMER_CONF:
		return h->t[n].config;
	case TIMER_CMP:
		return h->t[n].cmp;
	default: /* FSB route (no FSB delivery) and the reserved quadword */
		return 0;
	}
}

/* General configuration: the counter halts and resumes where it was (2.3.5, 2.3.7). */
static void hpet_write_config(struct hpet *h, u64 v, u64 now)
{
	bool was = hpet_enabled(h);
	u64 counter = hpet_counter(h, now);

	h->config = v & (CONF_ENABLE | CONF_LEG_RT);
	if (was && !hpet_enabled(h)) {
		h->counter = counter;
	} else if (!was && hpet_enabled(h)) {
		h->start_ns = now;
		for (unsigned n = 0; n < HPET_NR_TIMERS; n++)
			h->t[n].from = 0;
	}
}

static void tn_write_config(struct hpet *h, unsigned n, u64 v)
{
	struct hpet_timer *t = &h->t[n];
	u64 route = (v & TN_ROUTE) >> TN_ROUTE_SHIFT;

	/* A route the capability lacks is not taken: it reads back unlike what was written, as
	   2.3.8 Tn_INT_ROUTE_CNF says. */
	if (!(HPET_ROUTE_CAP & BIT(route)))
		v = (v & ~TN_ROUTE) | (t->config & TN_ROUTE);
	if ((v & TN_32MODE) && !tn_32bit(t)) {
		t->cmp = (u32)t->cmp;
		t->period = (u32)t->period;
	}
	/* Edge mode: the status bit has no meaning (2.3.6); it clears. */
	if (!(v & TN_INT_TYPE))
		h->isr &= ~BIT(n);
	t->config = TN_CAPS | (v & TN_WRITABLE);
}

/*
 * The comparator (2.3.9): non-periodic, a write sets it. Periodic, a write sets the period and,
 * with Tn_VAL_SET_CNF, the accumulator too (as QEMU, Bochs and most chipsets: Linux's
 * hpet_set_periodic writes once with VAL_SET, then the period alone). Tn_VAL_SET_CNF clears
 * after each comparator write. A 32-bit timer keeps 32 bits.
 */
static void tn_write_cmp(struct hpet *h, unsigned n, u64 mask, u64 v)
{
	struct hpet_timer *t = &h->t[n];

	if (tn_32bit(t))
		mask &= 0xffffffff;
	if (!(t->config & TN_TYPE) || (t->config & TN_VAL_SET))
		t->cmp = (t->cmp & ~mask) | (v & mask);
	if (t->config & TN_TYPE)
		t->period = (t->period & ~mask) | (v & mask);
	t->config &= ~TN_VAL_SET;
}

/* Write the bits `mask` of register `reg` with `v` (already in place). */
static void hpet_write_reg(struct hpet *h, u64 reg, u64 mask, u64 v, u64 now)
{
	unsigned n;
	u64 old;

	switch (reg) {
	case REG_CONFIG:
		hpet_write_config(h, (h->config & ~mask) | (v & mask), now);
		return;
	case REG_ISR: /* write 1 to clear (2.3.6) */
		h->isr &= ~(v & mask);
		return;
	case REG_COUNTER:
		/* Writable while halted (2.3.7); writes to a running counter are dropped, the
		   spec leaving them undefined. */
		if (!hpet_enabled(h))
			h->counter = (h->counter & ~mask) | (v & mask);
		return;
	}
	if (reg < REG_TIMER0 || reg >= REG_TIMER0 + HPET_NR_TIMERS * TIMER_STRIDE)
		return; /* capabilities are read-only; reserved registers ignore writes */
	n = (unsigned)((reg - REG_TIMER0) / TIMER_STRIDE);
	switch ((reg - REG_TIMER0) % TIMER_STRIDE) {
	case TIMER_CONF:
		old = h->t[n].config;
		tn_write_config(h, n, (old & ~mask) | (v & mask));
		break;
	case TIMER_CMP:
		tn_write_cmp(h, n, mask, v);
		break;
	default:
		break; /* FSB route: no FSB delivery */
	}
}

void hpet_access(void *opaque, u64 offset, u64 *data, unsigned len, bool is_write)
{
	struct hpet *h = opaque;
	u64 now = timer_now(h->q), reg = offset & ~7ull, shift = (offset & 7) * 8, mask;

	if ((len != 4 && len != 8) || (offset & (len - 1)) || offset >= HPET_SIZE) {
		if (!is_write)
			*data = len >= 8 ? ~0ull : (1ull << (len * 8)) - 1;
		return;
	}
	mask = len == 8 ? ~0ull : 0xffffffffull << shift;
	hpet_sync(h, now);
	if (is_write)
		hpet_write_reg(h, reg, mask, *data << shift, now);
	else
		*data = (hpet_read_reg(h, reg, now) & mask) >> shift;
	hpet_settle(h);
}

void hpet_set_legacy_input(void *opaque, unsigned pin, bool level)
{
	struct hpet *h = opaque;

	if (pin == HPET_IN_PIT)
		h->pit_in = level;
	else if (pin == HPET_IN_RTC)
		h->rtc_in = level;
	else
		return;
	hpet_update_lines(h);
}

void hpet_reset(struct hpet *h)
{
	h->config = 0;
	h->isr = 0;
	h->counter = 0;
	h->start_ns = timer_now(h->q);
	for (unsigned n = 0; n < HPET_NR_TIMERS; n++)
		h->t[n] = (struct hpet_timer){ .config = TN_CAPS, .cmp = ~0ull };
	hpet_settle(h);
}

void hpet_init(struct hpet *h, struct timer_queue *q)
{
	struct irq_line irq[HPET_NR_ROUTES], isa0 = h->isa_irq0, isa8 = h->isa_irq8;

	memcpy(irq, h->irq, sizeof(irq));
	memset(h, 0, sizeof(*h));
	memcpy(h->irq, irq, sizeof(irq));
	h->isa_irq0 = isa0;
	h->isa_irq8 = isa8;
	h->q = q;
	for (unsigned n = 0; n < HPET_NR_TIMERS; n++)
		timer_init(&h->timer[n], q, hpet_fire, h, "hpet");
	hpet_reset(h);
}
