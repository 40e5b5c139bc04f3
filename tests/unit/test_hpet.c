// SPDX-License-Identifier: MIT
/*
 * The HPET (devices/hpet.h) against the IA-PC HPET Specification 1.0a, through its MMIO block
 * with a fake guest clock; every output line is recorded. Linux's own sequences
 * (arch/x86/kernel/hpet.c: the legacy periodic clockevent, the one-shot set_next_event, and the
 * counter read tsc_read_refs uses) run as Linux runs them.
 */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "devices/hpet.h"

#define NS_PER_S  1000000000ull
#define NS_PER_MS 1000000ull

enum { CAP = 0x000, PERIOD = 0x004, CFG = 0x010, STATUS = 0x020, COUNTER = 0x0f0 };
#define TN_CFG(n) (0x100 + 0x20 * (n))
#define TN_CMP(n) (0x108 + 0x20 * (n))

#define TN_LEVEL    BIT(1)
#define TN_ENABLE   BIT(2)
#define TN_PERIODIC BIT(3)
#define TN_SETVAL   BIT(6)
#define TN_32BIT    BIT(8)
#define CFG_ENABLE  BIT(0)
#define CFG_LEGACY  BIT(1)

static u64 now_ns;
static u64 fake_clock(void *opaque)
{
	(void)opaque;
	return now_ns;
}

static struct timer_queue q;
static struct hpet hpet;

/* Lines: 0-31 routes, 32 ISA IRQ0, 33 ISA IRQ8. */
#define LINE_ISA0 32
#define LINE_ISA8 33
static unsigned n_rise[34];
static u64 last_rise[34];
static bool level[34];

static void record(void *opaque, unsigned pin, bool lv)
{
	if (lv && !level[pin]) {
		n_rise[pin]++;
		last_rise[pin] = now_ns;
	}
	level[pin] = lv;
}

static void advance_to(u64 t)
{
	while (timer_next_deadline(&q) <= t) {
		now_ns = timer_next_deadline(&q);
		timer_run_expired(&q, now_ns);
	}
	now_ns = t;
}

static u32 readl(u64 off)
{
	u64 d = 0;

	hpet_access(&hpet, off, &d, 4, false);
	return (u32)d;
}

static u64 readq(u64 off)
{
	u64 d = 0;

	hpet_access(&hpet, off, &d, 8, false);
	return d;
}

static void writel(u32 v, u64 off)
{
	u64 d = v;

	hpet_access(&hpet, off, &d, 4, true);
}

static void writeq(u64 v, u64 off)
{
	hpet_access(&hpet, off, &v, 8, true);
}

static void setup(void)
{
	now_ns = 1000;
	memset(n_rise, 0, sizeof(n_rise));
	memset(level, 0, sizeof(level));
	timer_queue_init(&q, fake_clock, NULL);
	for (unsigned i = 0; i < HPET_NR_ROUTES; i++)
		irq_line_wire(&hpet.irq[i], record, NULL, i);
	irq_line_wire(&hpet.isa_irq0, record, NULL, LINE_ISA0);
	irq_line_wire(&hpet.isa_irq8, record, NULL, LINE_ISA8);
	hpet_init(&hpet, &q);
}

static void teardown(void)
{
	timer_queue_free(&q);
}

/* 2.3.4, 2.3.8: what a driver reads first. */
static void test_capabilities(void)
{
	setup();
	CHECK_EQ(readq(CAP), 0x009896808086a201ull);
	CHECK_EQ(readl(CAP), 0x8086a201);
	CHECK_EQ(readl(PERIOD), 10000000); /* fs: 10 ns */
	writeq(0, CAP);
	CHECK_EQ(readl(CAP), 0x8086a201);
	for (unsigned n = 0; n < 3; n++) {
		CHECK_EQ(readq(TN_CFG(n)), 0x00ff010400000030ull); /* periodic + 64-bit capable */
		CHECK_EQ(readq(TN_CMP(n)), ~0ull);
	}
	CHECK_EQ(readq(CFG), 0);
	CHECK_EQ(readq(STATUS), 0);
	teardown();
}

/* 2.3.7: halted at reset; writable while halted; 100 MHz from guest time while enabled. */
static void test_counter(void)
{
	setup();
	advance_to(NS_PER_S);
	CHECK_EQ(readq(COUNTER), 0);
	writeq(0x123456789ull, COUNTER);
	writel(0xabcd, COUNTER + 4);
	CHECK_EQ(readq(COUNTER), 0x0000abcd23456789ull);
	writeq(0, COUNTER);
	writel(CFG_ENABLE, CFG);
	advance_to(now_ns + 12345);
	CHECK_EQ(readq(COUNTER), 1234);
	writeq(0, COUNTER); /* dropped: the counter runs */
	CHECK_EQ(readl(COUNTER), 1234);
	writel(0, CFG);
	advance_to(now_ns + NS_PER_S);
	CHECK_EQ(readq(COUNTER), 1234);
	writel(CFG_ENABLE, CFG);
	advance_to(now_ns + 100);
	CHECK_EQ(readq(COUNTER), 1244);
	/* Reserved bits of GEN_CONF read 0. */
	writel(0xfffffffc | CFG_ENABLE, CFG);
	CHECK_EQ(readq(CFG), CFG_ENABLE);
	advance_to(now_ns + 100); /* a write that leaves ENABLE_CNF set leaves the count alone */
	CHECK_EQ(readq(COUNTER), 1254);
	teardown();
}

/*
 * Linux's legacy clockevent in periodic mode (hpet_enable_legacy_int,
 * hpet_clkevt_set_state_periodic with HZ = 1000): timer 0 on IRQ0 every millisecond; the 8254
 * is cut off meanwhile (2.3.5 LegacyReplacement Route) and comes back after.
 */
static void test_linux_legacy_periodic(void)
{
	u32 cfg, cmp, now, delta = 100000; /* 1 ms */

	setup();
	hpet_set_legacy_input(&hpet, HPET_IN_PIT, true);
	CHECK(level[LINE_ISA0]);
	hpet_set_legacy_input(&hpet, HPET_IN_PIT, false);
	hpet_set_legacy_input(&hpet, HPET_IN_RTC, true);
	CHECK(level[LINE_ISA8]);
	hpet_set_legacy_input(&hpet, HPET_IN_RTC, false);
	memset(n_rise, 0, sizeof(n_rise));
	/* hpet_restart_counter + hpet_enable_legacy_int */
	writel(readl(CFG) & ~CFG_ENABLE, CFG);
	writel(0, COUNTER);
	writel(0, COUNTER + 4);
	writel(readl(CFG) | CFG_ENABLE, CFG);
	writel(readl(CFG) | CFG_LEGACY, CFG);
	/* hpet_clkevt_set_state_periodic */
	writel(readl(CFG) & ~CFG_ENABLE, CFG);
	now = readl(COUNTER);
	cmp = now + delta;
	cfg = readl(TN_CFG(0));
	cfg |= TN_ENABLE | TN_PERIODIC | TN_SETVAL | TN_32BIT;
	writel(cfg, TN_CFG(0));
	writel(cmp, TN_CMP(0));
	advance_to(now_ns + 1000); /* udelay(1): the counter is stopped */
	writel(delta, TN_CMP(0));
	writel(readl(CFG) | CFG_ENABLE, CFG);
	u64 t0 = now_ns;
	CHECK_EQ(readl(TN_CFG(0)) & TN_SETVAL, 0);

	advance_to(t0 + 10 * NS_PER_MS + 1);
	CHECK_EQ(n_rise[LINE_ISA0], 10);
	CHECK_EQ(last_rise[LINE_ISA0], t0 + 10 * NS_PER_MS);
	CHECK_EQ(readl(TN_CMP(0)), cmp + 10 * delta); /* the accumulator (2.3.9.2.2) */
	CHECK_EQ(n_rise[0], 0);			      /* timer 0's route is unused in legacy mode */
	/* The PIT is cut off in legacy mode. */
	hpet_set_legacy_input(&hpet, HPET_IN_PIT, true);
	CHECK(!level[LINE_ISA0]);
	/* Away for 5 ms: one edge, the accumulator catches up. */
	now_ns = t0 + 15 * NS_PER_MS + 500;
	readl(COUNTER);
	CHECK_EQ(n_rise[LINE_ISA0], 11);
	CHECK_EQ(readl(TN_CMP(0)), cmp + 15 * delta);
	/* Legacy off: the PIT's level returns on IRQ0; timer 0 goes to its route (0). */
	writel(readl(CFG) & ~CFG_LEGACY, CFG);
	CHECK(level[LINE_ISA0]);
	advance_to(t0 + 30 * NS_PER_MS);
	CHECK_EQ(n_rise[LINE_ISA0], 12);
	CHECK_EQ(n_rise[0], 15);
	teardown();
}

/* Linux's one-shot clockevent: 32-bit mode, comparator = counter + delta; a 32-bit timer also
   interrupts when the counter wraps (2.3.9.2.1). */
static void test_linux_oneshot(void)
{
	u32 cfg, cnt;
	s32 res;

	setup();
	writeq(0xfffff000ull, COUNTER);
	writel(CFG_ENABLE | CFG_LEGACY, CFG);
	cfg = readl(TN_CFG(0));
	cfg &= ~TN_PERIODIC;
	cfg |= TN_ENABLE | TN_32BIT;
	writel(cfg, TN_CFG(0));
	CHECK_EQ(readq(TN_CMP(0)), 0xffffffffull); /* truncated to 32 bits */
	/* hpet_clkevt_set_next_event(delta = 10000) */
	u64 t0 = now_ns;
	cnt = readl(COUNTER);
	cnt += 10000u;
	writel(cnt, TN_CMP(0));
	res = (s32)(cnt - readl(COUNTER));
	CHECK(res >= 128); /* HPET_MIN_CYCLES */
	advance_to(t0 + 50000);
	CHECK_EQ(n_rise[LINE_ISA0], 1);
	CHECK_EQ(last_rise[LINE_ISA0], t0 + 0x1000 * 10); /* the wrap to 0 */
	advance_to(t0 + 100000);
	CHECK_EQ(n_rise[LINE_ISA0], 2);
	CHECK_EQ(last_rise[LINE_ISA0], t0 + 100000); /* the match at 0x1710 */
	CHECK_EQ(readl(COUNTER), 0x1710);
	teardown();
}

/* Level mode (2.3.6, 2.3.8): the status bit sets on a match even with the interrupt disabled,
   holds the line while enabled, clears by writing 1. */
static void test_level_and_routes(void)
{
	setup();
	writel(CFG_ENABLE, CFG);
	writel(TN_LEVEL | 20 << 9, TN_CFG(2));
	CHECK_EQ((readl(TN_CFG(2)) >> 9) & 0x1f, 20);
	writeq(1000, TN_CMP(2));
	advance_to(now_ns + 20000);
	CHECK_EQ(readl(STATUS), 4);
	CHECK(!level[20]);
	writel(TN_LEVEL | TN_ENABLE | 20 << 9, TN_CFG(2));
	CHECK(level[20]);
	writel(0, STATUS);
	CHECK_EQ(readl(STATUS), 4);
	writel(3, STATUS);
	CHECK(level[20]);
	writel(4, STATUS);
	CHECK_EQ(readl(STATUS), 0);
	CHECK(!level[20]);
	/* A route outside the capability (5) is not taken; FSB enable reads 0. */
	writel(TN_LEVEL | TN_ENABLE | 5 << 9 | BIT(14), TN_CFG(2));
	CHECK_EQ((readl(TN_CFG(2)) >> 9) & 0x3f, 20);
	/* Two level timers share route 20 (wired OR): the line drops when both are clear. */
	writel(TN_LEVEL | TN_ENABLE | 20 << 9, TN_CFG(1));
	writeq(readq(COUNTER) + 100, TN_CMP(1));
	writeq(readq(COUNTER) + 200, TN_CMP(2));
	advance_to(now_ns + 5000);
	CHECK_EQ(readl(STATUS), 6);
	CHECK_EQ(n_rise[20], 2);
	writel(2, STATUS);
	CHECK(level[20]);
	writel(4, STATUS);
	CHECK(!level[20]);
	/* Edge mode: the status bit clears and stays clear. */
	writel(TN_ENABLE | 20 << 9, TN_CFG(1));
	writeq(readq(COUNTER) + 100, TN_CMP(1));
	advance_to(now_ns + 5000);
	CHECK_EQ(readl(STATUS), 0);
	CHECK_EQ(n_rise[20], 3);
	/* Disabling the block drops every line. */
	writel(TN_LEVEL | TN_ENABLE | 20 << 9, TN_CFG(1));
	writeq(readq(COUNTER) + 100, TN_CMP(1));
	advance_to(now_ns + 5000);
	CHECK(level[20]);
	writel(0, CFG);
	CHECK(!level[20]);
	teardown();
}

/* 64-bit periodic mode through 64-bit accesses: VAL_SET sets the accumulator, a plain write
   only the period (2.3.9.2.2). */
static void test_periodic64(void)
{
	setup();
	writel(CFG_ENABLE, CFG);
	writeq(TN_ENABLE | TN_PERIODIC | TN_SETVAL | 22 << 9, TN_CFG(1));
	writeq(0x100000000ull, TN_CMP(1)); /* accumulator and period: past 32 bits */
	writeq(500, TN_CMP(1));		   /* the period alone */
	CHECK_EQ(readq(TN_CMP(1)), 0x100000000ull);
	advance_to(1000 + 0x100000000ull * 10 + 1);
	CHECK_EQ(n_rise[22], 1);
	CHECK_EQ(readq(TN_CMP(1)), 0x100000000ull + 500);
	advance_to(now_ns + 5000);
	CHECK_EQ(n_rise[22], 2);
	CHECK_EQ(last_rise[22], 1000 + (0x100000000ull + 500) * 10);
	/* A comparator the counter has passed never matches in 64-bit mode. */
	writeq(TN_ENABLE | 22 << 9, TN_CFG(1));
	writeq(5, TN_CMP(1));
	advance_to(now_ns + NS_PER_S * 100);
	CHECK_EQ(n_rise[22], 2);
	teardown();
}

/* Widths, alignment, reserved space and random traffic. */
static void test_hostile(void)
{
	u64 d;

	setup();
	d = 0;
	hpet_access(&hpet, CAP, &d, 1, false);
	CHECK_EQ(d, 0xff);
	d = 0;
	hpet_access(&hpet, CAP, &d, 2, false);
	CHECK_EQ(d, 0xffff);
	d = 0;
	hpet_access(&hpet, CAP + 2, &d, 4, false);
	CHECK_EQ(d, 0xffffffff);
	d = 0;
	hpet_access(&hpet, CAP + 4, &d, 8, false);
	CHECK_EQ(d, ~0ull);
	d = CFG_ENABLE;
	hpet_access(&hpet, CFG, &d, 2, true);
	CHECK_EQ(readl(CFG), 0);
	CHECK_EQ(readq(0x008), 0);
	writeq(~0ull, 0x008);
	CHECK_EQ(readq(0x008), 0);
	CHECK_EQ(readq(0x160), 0); /* timer 3: absent */
	CHECK_EQ(readq(0x110), 0); /* FSB route: no FSB */
	CHECK_EQ(readq(0xff8), 0);
	unsigned seed = 3;
	for (unsigned i = 0; i < 200000; i++) {
		static const unsigned lens[4] = { 1, 2, 4, 8 };
		u64 off = (u64)(rand_r(&seed) % 0x180),
		    v = (u64)rand_r(&seed) << 32 | rand_r(&seed);
		unsigned len = lens[rand_r(&seed) % 4];

		if (rand_r(&seed) % 8 == 0)
			off = CFG;
		hpet_access(&hpet, off, &v, len, rand_r(&seed) % 2);
		advance_to(now_ns + (u64)(rand_r(&seed) % 100000));
	}
	/* Every output still at the level its sources give. */
	for (unsigned r = 0; r < HPET_NR_ROUTES; r++)
		CHECK_EQ(level[r], hpet.irq[r].level);
	teardown();
}

/* tsc_read_refs: the low 32 bits of the counter against HPET_PERIOD (calc_hpet_ref). */
static void test_linux_reference(void)
{
	u64 h1, h2, ns;

	setup();
	writel(CFG_ENABLE, CFG);
	advance_to(now_ns + 123456789);
	h1 = readl(COUNTER);
	advance_to(now_ns + 50 * NS_PER_MS);
	h2 = readl(COUNTER);
	if (h2 < h1)
		h2 += 0x100000000ull;
	ns = (h2 - h1) * readl(PERIOD) / 1000000;
	CHECK_EQ(ns, 50 * NS_PER_MS);
	teardown();
}

int main(void)
{
	test_capabilities();
	test_counter();
	test_linux_legacy_periodic();
	test_linux_oneshot();
	test_level_and_routes();
	test_periodic64();
	test_hostile();
	test_linux_reference();
	return check_done("test_hpet");
}
