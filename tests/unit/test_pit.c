// SPDX-License-Identifier: MIT
/*
 * The 8254 PIT (devices/pit.h) against the Intel 82C54 datasheet (order 231244), driven through
 * its ports with a fake guest clock; IRQ0 is recorded with the guest time of every level change.
 * Linux's PIT-based TSC calibrations (arch/x86/kernel/tsc.c: pit_calibrate_tsc as
 * pit_hpet_ptimer_calibrate_cpu runs it, and quick_pit_calibrate) run here as Linux runs them.
 */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "devices/pit.h"

#define NS_PER_S 1000000000ull

static u64 now_ns;
static u64 fake_clock(void *opaque)
{
	(void)opaque;
	return now_ns;
}

static struct timer_queue q;
static struct pit pit;

struct edge {
	u64 t;
	bool level;
};
static struct edge edges[4096];
static unsigned n_edges;
static bool edges_alternate = true; /* the line never repeats a level */

static void record_irq(void *opaque, unsigned pin, bool level)
{
	if (n_edges && edges[n_edges - 1].level == level)
		edges_alternate = false;
	if (n_edges < ARRAY_SIZE(edges))
		edges[n_edges++] = (struct edge){ now_ns, level };
}

/* The first guest ns of CLK pulse k (the device's own rule, pit.h). */
static u64 clk_ns(u64 k)
{
	return (u64)(((u128)k * NS_PER_S + PIT_HZ - 1) / PIT_HZ);
}

/* Run every timer at its own deadline up to `t`, as the vCPU loop would. */
static void advance_to(u64 t)
{
	while (timer_next_deadline(&q) <= t) {
		now_ns = timer_next_deadline(&q);
		timer_run_expired(&q, now_ns);
	}
	now_ns = t;
}

static void at_clk(u64 k)
{
	advance_to(clk_ns(k));
}

static void outb(u16 port, u8 v)
{
	u64 d = v;

	if (port == PIT_PORT61)
		pit_port61_access(&pit, 0, &d, 1, true);
	else
		pit_access(&pit, port - PIT_BASE, &d, 1, true);
}

static u8 inb(u16 port)
{
	u64 d = 0;

	if (port == PIT_PORT61)
		pit_port61_access(&pit, 0, &d, 1, false);
	else
		pit_access(&pit, port - PIT_BASE, &d, 1, false);
	return (u8)d;
}

static void setup(void)
{
	now_ns = 0;
	timer_queue_init(&q, fake_clock, NULL);
	irq_line_wire(&pit.irq, record_irq, NULL, 0);
	pit_init(&pit, &q);
	n_edges = 0;
}

static void teardown(void)
{
	timer_queue_free(&q);
}

/* Counter latch command, then LSB and MSB (the channel is in LSB-then-MSB mode). */
static u16 latch_read(unsigned ch)
{
	u16 v;

	outb(0x43, (u8)(ch << 6));
	v = inb(0x40 + ch);
	return (u16)(v | inb(0x40 + ch) << 8);
}

/* Read-back command latching only the status of counter `ch`. */
static u8 status(unsigned ch)
{
	outb(0x43, (u8)(0xe0 | 2 << ch));
	return inb(0x40 + ch);
}

static void program(unsigned ch, u8 mode_bits, u16 count)
{
	outb(0x43, (u8)(ch << 6 | 0x30 | mode_bits));
	outb(0x40 + ch, count & 0xff);
	outb(0x40 + ch, count >> 8);
}

/* The guest times of IRQ0's rising edges since the last reset of the record. */
static unsigned rises(u64 *t, unsigned max)
{
	unsigned n = 0;

	for (unsigned i = 0; i < n_edges; i++)
		if (edges[i].level && n < max)
			t[n++] = edges[i].t;
	return n;
}

/* "Mode 0": OUT low after the control word, high N + 1 pulses after the count is written. */
static void test_mode0(void)
{
	u64 r[4];

	setup();
	at_clk(1000);
	n_edges = 0;
	outb(0x43, 0x30);
	CHECK_EQ(n_edges, 1);
	CHECK_EQ(edges[0].level, 0);
	CHECK_EQ(status(0), 0x40 | 0x30); /* OUT low, null count, RW=3 mode 0 binary */
	outb(0x40, 100);
	outb(0x40, 0);
	CHECK_EQ(status(0) & 0xc0, 0x40); /* Figure 12: null until CR -> CE */
	at_clk(1001);
	CHECK_EQ(status(0) & 0xc0, 0x00);
	CHECK_EQ(latch_read(0), 100); /* the load pulse does not decrement */
	at_clk(1100);
	CHECK_EQ(latch_read(0), 1);
	CHECK_EQ(status(0) & 0x80, 0);
	at_clk(1101);
	CHECK_EQ(latch_read(0), 0);
	CHECK_EQ(status(0) & 0x80, 0x80);
	CHECK_EQ(rises(r, 4), 1);
	CHECK_EQ(r[0], clk_ns(1101)); /* the timer raised IRQ0 at that pulse exactly */
	/* The counter wraps to FFFFh and counts on; OUT stays high ("Operation Common"). */
	at_clk(1102);
	CHECK_EQ(latch_read(0), 0xffff);
	at_clk(1101 + 0x10000 + 5);
	CHECK_EQ(status(0) & 0x80, 0x80);
	CHECK_EQ(rises(r, 4), 1);

	/* Two-byte count: the first byte stops counting and drives OUT low at once. */
	at_clk(200000);
	{
		u16 before = latch_read(0);

		n_edges = 0;
		outb(0x40, 50);
		CHECK_EQ(n_edges, 1);
		CHECK_EQ(edges[0].level, 0);
		at_clk(200010);
		CHECK_EQ(latch_read(0), before);
	}
	outb(0x40, 0);
	at_clk(200011);
	CHECK_EQ(latch_read(0), 50);
	at_clk(200061);
	CHECK_EQ(rises(r, 4), 1);
	CHECK_EQ(r[0], clk_ns(200061));
	teardown();
}

/* "Mode 2": OUT low for one pulse every N; reads N..1; a new count waits for the reload. */
static void test_mode2(void)
{
	u64 r[8];
	const u64 w = 5000;
	bool in_range = true;

	setup();
	at_clk(w);
	program(0, 0x04, 10);
	n_edges = 0;
	for (u64 k = w + 1; k <= w + 30; k++) {
		u16 v;

		at_clk(k);
		v = latch_read(0);
		in_range &= v >= 1 && v <= 10;
		CHECK_EQ(!!(status(0) & 0x80), (k - w) % 10 != 0);
	}
	CHECK(in_range);
	CHECK_EQ(rises(r, 8), 2);
	CHECK_EQ(r[0], clk_ns(w + 11));
	CHECK_EQ(r[1], clk_ns(w + 21));
	teardown();

	/* Reprogramming mid-period: the count of 5 takes over at the end of the period. */
	setup();
	at_clk(w);
	program(0, 0x04, 10);
	at_clk(w + 13);
	outb(0x40, 5);
	outb(0x40, 0);
	at_clk(w + 15);
	CHECK_EQ(status(0) & 0x40, 0x40);
	CHECK_EQ(latch_read(0), 10 - 4); /* the present cycle goes on */
	at_clk(w + 20);
	CHECK_EQ(latch_read(0), 1);
	n_edges = 0;
	at_clk(w + 21);
	CHECK_EQ(status(0) & 0x40, 0);
	CHECK_EQ(latch_read(0), 5);
	at_clk(w + 40);
	CHECK_EQ(rises(r, 8), 4);
	CHECK_EQ(r[0], clk_ns(w + 21));
	CHECK_EQ(r[1], clk_ns(w + 26));
	CHECK_EQ(r[2], clk_ns(w + 31));
	CHECK_EQ(r[3], clk_ns(w + 36));
	teardown();
}

/* "Mode 3": even N high N/2, low N/2; odd N high (N+1)/2, low (N-1)/2; decrements by two. */
static void test_mode3(void)
{
	static const u16 even[8] = { 8, 6, 4, 2, 8, 6, 4, 2 };
	static const u16 odd[7] = { 6, 4, 2, 0, 6, 4, 2 };
	static const bool odd_out[7] = { 1, 1, 1, 1, 0, 0, 0 };
	const u64 w = 700;
	u64 r[4];

	setup();
	at_clk(w);
	program(0, 0x06, 8);
	for (unsigned i = 0; i < 8; i++) {
		at_clk(w + 1 + i);
		CHECK_EQ(latch_read(0), even[i]);
		CHECK_EQ(!!(status(0) & 0x80), i < 4);
	}
	at_clk(w + 9);
	CHECK_EQ(status(0) & 0x80, 0x80);

	program(0, 0x06, 7);
	const u64 w2 = w + 9;
	for (unsigned i = 0; i < 7; i++) {
		at_clk(w2 + 1 + i);
		CHECK_EQ(latch_read(0), odd[i]);
		CHECK_EQ(!!(status(0) & 0x80), odd_out[i]);
	}
	at_clk(w2 + 8);
	CHECK_EQ(status(0) & 0x80, 0x80);
	CHECK_EQ(latch_read(0), 6);
	teardown();

	/* A new count in the high half loads at its end and starts with its low half. */
	setup();
	at_clk(w);
	program(0, 0x06, 8);
	at_clk(w + 2);
	outb(0x40, 4);
	outb(0x40, 0);
	n_edges = 0;
	at_clk(w + 4);
	CHECK_EQ(status(0) & 0x80, 0x80);
	at_clk(w + 5);
	CHECK_EQ(status(0) & 0xc0, 0x00); /* low, loaded */
	CHECK_EQ(latch_read(0), 4);
	at_clk(w + 12);
	CHECK_EQ(rises(r, 4), 2);
	CHECK_EQ(r[0], clk_ns(w + 7));
	CHECK_EQ(r[1], clk_ns(w + 11));
	teardown();
}

/* "Mode 4": one low pulse N + 1 pulses after the count; then nothing more. */
static void test_mode4(void)
{
	const u64 w = 300;

	setup();
	at_clk(w);
	program(0, 0x08, 5);
	CHECK_EQ(status(0) & 0x80, 0x80);
	n_edges = 0;
	at_clk(w + 0x30000);
	CHECK_EQ(n_edges, 2);
	CHECK_EQ(edges[0].t, clk_ns(w + 6));
	CHECK_EQ(edges[0].level, 0);
	CHECK_EQ(edges[1].t, clk_ns(w + 7));
	CHECK_EQ(edges[1].level, 1);
	/* A new count retriggers the strobe. */
	n_edges = 0;
	program(0, 0x08, 3);
	at_clk(w + 0x30000 + 10);
	CHECK_EQ(n_edges, 2);
	CHECK_EQ(edges[0].t, clk_ns(w + 0x30000 + 4));
	teardown();
}

/* Modes 1 and 5 count only after a trigger (GATE rising, Figure 16): counter 2 through port
   0x61 bit 0, OUT2 on bit 5. Counter 0's gate is tied high, so it never triggers. */
static void test_modes1_5(void)
{
	u64 g;

	setup();
	outb(0x61, 0);
	at_clk(100);
	program(2, 0x02, 5);
	at_clk(200);
	CHECK_EQ(inb(0x61) & 0x20, 0x20);
	CHECK_EQ(status(2) & 0xc0, 0xc0); /* OUT high, count not loaded */
	g = 300;
	at_clk(g);
	outb(0x61, 1);
	CHECK_EQ(inb(0x61) & 0x20, 0x20);
	at_clk(g + 1);
	CHECK_EQ(inb(0x61) & 0x20, 0);
	CHECK_EQ(status(2) & 0x40, 0);
	at_clk(g + 5);
	CHECK_EQ(inb(0x61) & 0x20, 0);
	at_clk(g + 6);
	CHECK_EQ(inb(0x61) & 0x20, 0x20);
	/* Retriggerable: a trigger during the pulse restarts it from N. */
	outb(0x61, 0);
	at_clk(g + 10);
	outb(0x61, 1);
	at_clk(g + 13);
	outb(0x61, 0);
	outb(0x61, 1);
	at_clk(g + 18);
	CHECK_EQ(inb(0x61) & 0x20, 0);
	at_clk(g + 19);
	CHECK_EQ(inb(0x61) & 0x20, 0x20);

	/* Mode 5: a strobe N + 1 pulses after the trigger. */
	outb(0x61, 0);
	program(2, 0x0a, 4);
	at_clk(g + 100);
	outb(0x61, 1);
	at_clk(g + 105);
	CHECK_EQ(inb(0x61) & 0x20, 0);
	at_clk(g + 106);
	CHECK_EQ(inb(0x61) & 0x20, 0x20);
	teardown();

	setup();
	program(0, 0x02, 5);
	n_edges = 0;
	at_clk(1000000);
	CHECK_EQ(n_edges, 0);
	CHECK_EQ(status(0) & 0xc0, 0xc0);
	teardown();
}

/* GATE low stops counting in mode 0; in mode 2 it forces OUT high and its rising edge
   reloads the count (Figure 16, "Mode 2"). */
static void test_gate(void)
{
	setup();
	outb(0x61, 0);
	at_clk(50);
	program(2, 0x00, 100);
	at_clk(80);
	CHECK_EQ(latch_read(2), 100); /* loaded, not counting */
	outb(0x61, 1);
	at_clk(90);
	CHECK_EQ(latch_read(2), 90);
	outb(0x61, 0);
	at_clk(150);
	CHECK_EQ(latch_read(2), 90);
	outb(0x61, 1);
	at_clk(239);
	CHECK_EQ(inb(0x61) & 0x20, 0);
	at_clk(240); /* 10 + 90 pulses counted */
	CHECK_EQ(inb(0x61) & 0x20, 0x20);

	program(2, 0x04, 10); /* loads at 241 */
	at_clk(299);
	CHECK_EQ(latch_read(2), 2);
	at_clk(300); /* count 1: OUT low */
	CHECK_EQ(latch_read(2), 1);
	CHECK_EQ(inb(0x61) & 0x20, 0);
	outb(0x61, 0);
	CHECK_EQ(inb(0x61) & 0x20, 0x20); /* "OUT is set high immediately" */
	at_clk(400);
	CHECK_EQ(latch_read(2), 1);
	outb(0x61, 1);
	at_clk(401);
	CHECK_EQ(latch_read(2), 10); /* the trigger reloaded it */
	at_clk(410);
	CHECK_EQ(inb(0x61) & 0x20, 0); /* "OUT goes low N CLK pulses after the trigger" */
	teardown();
}

/* Modes 6 and 7 are modes 2 and 3; the status byte returns the bits as written (Figure 11). */
static void test_modes6_7(void)
{
	u64 r[4];

	setup();
	at_clk(10);
	program(0, 0x0c, 10);
	CHECK_EQ(status(0) & 0x3f, 0x3c);
	n_edges = 0;
	at_clk(31);
	CHECK_EQ(rises(r, 4), 2);
	CHECK_EQ(r[0], clk_ns(21));
	program(0, 0x0e, 4);
	CHECK_EQ(status(0) & 0x3f, 0x3e);
	at_clk(33);
	CHECK_EQ(latch_read(0), 2);
	at_clk(34);
	CHECK_EQ(status(0) & 0x80, 0);
	teardown();
}

/* BCD counting: four decades, 0 is 10^4, wrap to 9999 ("Operation Common to All Modes"). */
static void test_bcd(void)
{
	setup();
	at_clk(10);
	program(0, 0x01, 0x1000);
	at_clk(12);
	CHECK_EQ(latch_read(0), 0x0999);
	at_clk(11 + 999);
	CHECK_EQ(latch_read(0), 0x0001);
	CHECK_EQ(status(0) & 0x80, 0);
	at_clk(11 + 1000);
	CHECK_EQ(latch_read(0), 0x0000);
	CHECK_EQ(status(0) & 0x80, 0x80);
	at_clk(11 + 1001);
	CHECK_EQ(latch_read(0), 0x9999);

	/* Mode 2, count 0: a period of 10000. */
	u64 r[4];

	program(0, 0x05, 0); /* at 1012, loads at 1013 */
	at_clk(20000);
	n_edges = 0;
	at_clk(45000);
	CHECK_EQ(rises(r, 4), 3);
	CHECK_EQ(r[0], clk_ns(21013));
	CHECK_EQ(r[1], clk_ns(31013));
	/* Digits above 9 (undefined): they count through their binary value. */
	program(0, 0x01, 0x00ff);
	at_clk(45002);
	CHECK_EQ(latch_read(0), 0x00fe);
	at_clk(45001 + 16);
	CHECK_EQ(latch_read(0), 0x00e9);
	at_clk(45001 + 164);
	CHECK_EQ(status(0) & 0x80, 0);
	at_clk(45001 + 165);
	CHECK_EQ(status(0) & 0x80, 0x80);
	teardown();
}

/* Counter latch and read-back (Figures 10-12), byte access modes. */
static void test_latch_readback(void)
{
	setup();
	at_clk(10);
	program(0, 0x00, 1000);
	at_clk(20);
	outb(0x43, 0x00);
	at_clk(30);
	outb(0x43, 0x00); /* ignored: the first latch holds */
	CHECK_EQ(inb(0x40), (1000 - 9) & 0xff);
	at_clk(40);
	CHECK_EQ(inb(0x40), (1000 - 9) >> 8);
	CHECK_EQ(latch_read(0), 1000 - 29); /* unlatched again */

	/* Count and status of counter 0: status first, then the count. */
	outb(0x43, 0xc2);
	CHECK_EQ(inb(0x40), 0x30);
	CHECK_EQ(inb(0x40), (1000 - 29) & 0xff);
	CHECK_EQ(inb(0x40), (1000 - 29) >> 8);
	/* Status of counters 1 and 2 in one command; a second status latch is ignored. */
	outb(0x43, 0xec);
	at_clk(50);
	outb(0x43, 0xe8);
	CHECK_EQ(inb(0x41) & 0x3f, 0x36); /* reset state: mode 3, LSB/MSB */
	CHECK_EQ(inb(0x42) & 0x3f, 0x36);

	/* LSB-only and MSB-only counts. */
	outb(0x43, 0x10); /* counter 0, LSB only, mode 0 */
	outb(0x40, 0x20);
	at_clk(51);
	CHECK_EQ(inb(0x40), 0x20);
	CHECK_EQ(inb(0x40), 0x20);
	outb(0x43, 0x20); /* MSB only */
	outb(0x40, 0x02);
	at_clk(52);
	CHECK_EQ(inb(0x40), 0x02);
	at_clk(53);
	CHECK_EQ(inb(0x40), 0x01); /* 0x0200 - 1 = 0x01ff */
	outb(0x43, 0x00);
	CHECK_EQ(inb(0x40), 0x01);
	CHECK_EQ(inb(0x40), 0x01); /* the latch held one byte; this read is live */

	/* Interleaved reads and writes keep their own byte pointers ("Read Operations"). */
	program(0, 0x00, 0x1234);
	at_clk(60);
	CHECK_EQ(inb(0x40), (0x1234 - 6) & 0xff);
	outb(0x40, 0x78);
	CHECK_EQ(inb(0x40), 0x12);
	outb(0x40, 0x56);
	at_clk(61);
	CHECK_EQ(latch_read(0), 0x5678);
	teardown();
}

/* Port 0x61 (NMI_SC), the control port's read, and hostile widths and values. */
static void test_ports(void)
{
	u64 d;
	bool toggles = true;

	setup();
	CHECK_EQ(inb(0x43), 0xff);
	outb(0x61, 0xff);
	CHECK_EQ(inb(0x61) & 0xcf, 0x0f); /* bits 7:4 read-only, NMI status 0 */
	outb(0x61, 0x02);
	CHECK_EQ(inb(0x61) & 0x0f, 0x02);
	for (u64 k = 1000; k < 1200; k++) {
		at_clk(k);
		toggles &= !!(inb(0x61) & 0x10) == ((k / 18) & 1);
	}
	CHECK(toggles);
	d = 0;
	pit_port61_access(&pit, 0, &d, 2, false);
	CHECK_EQ(d >> 8, 0xff);
	/* A 16-bit write to 0x40 writes counters 0 and 1, as an 8-bit ISA device sees it. */
	outb(0x43, 0x10);
	outb(0x43, 0x50);
	d = 0x0807;
	pit_access(&pit, 0, &d, 2, true);
	at_clk(1300);
	CHECK_EQ(inb(0x40), (u8)(7 - 100)); /* written at 1199, loaded at 1200 */
	CHECK_EQ(inb(0x41), (u8)(8 - 100));
	d = 0;
	pit_access(&pit, 3, &d, 2, false);
	CHECK_EQ(d, 0xffff);

	/* Every byte at every port, time moving: no crash, and IRQ0 never repeats a level. */
	unsigned seed = 99;
	edges_alternate = true;
	for (unsigned i = 0; i < 200000; i++) {
		u16 port = (u16)(0x40 + rand_r(&seed) % 5);
		u8 v = (u8)rand_r(&seed);

		if (port == 0x44)
			port = 0x61;
		if (rand_r(&seed) % 2)
			outb(port, v);
		else
			inb(port);
		advance_to(now_ns + (u64)(rand_r(&seed) % 3000));
		if (!(i % 64)) {
			/* Drain latched status and count, then read OUT0's status. */
			for (unsigned k = 0; k < 3; k++)
				inb(0x40);
			CHECK_EQ(pit.irq.level, !!(status(0) & 0x80));
		}
	}
	CHECK(edges_alternate);
	teardown();
}

/* Reset: counter 0 in mode 3 with count 65536 (pit.h): IRQ0 at 18.2 Hz. */
static void test_reset_state(void)
{
	u64 r[4];

	setup();
	CHECK_EQ(status(0), 0x36 | 0x80);
	at_clk(4 * 0x10000 + 1);
	CHECK_EQ(rises(r, 4), 4);
	CHECK_EQ(r[0], clk_ns(0x10000));
	CHECK_EQ(r[3], clk_ns(4 * 0x10000));
	/* A vCPU away for a long time: the edges coalesce into one rising edge. */
	n_edges = 0;
	now_ns = clk_ns(40 * 0x10000 + 5);
	inb(0x61);
	CHECK_EQ(rises(r, 4), 1);
	teardown();
}

/* Linux's TSC calibration runs at a TSC of 3 GHz; each port access takes 1 us, as on an ISA bus. */
#define TSC_HZ 3000000000ull
#define IO_NS  1000

static u64 get_cycles(void)
{
	return (u64)((u128)now_ns * TSC_HZ / NS_PER_S);
}

static u8 linux_inb(u16 port)
{
	u8 v = inb(port);

	advance_to(now_ns + IO_NS);
	return v;
}

static void linux_outb(u8 v, u16 port)
{
	outb(port, v);
	advance_to(now_ns + IO_NS);
}

/* arch/x86/kernel/tsc.c pit_calibrate_tsc(), line for line. */
static u64 pit_calibrate_tsc(u32 latch, u64 ms, int loopmin)
{
	u64 tsc, t1, t2, delta, tscmin, tscmax;
	int pitcnt;

	linux_outb((linux_inb(0x61) & ~0x02) | 0x01, 0x61);
	linux_outb(0xb0, 0x43);
	linux_outb(latch & 0xff, 0x42);
	linux_outb(latch >> 8, 0x42);
	tsc = t1 = t2 = get_cycles();
	pitcnt = 0;
	tscmax = 0;
	tscmin = UINT64_MAX;
	while ((linux_inb(0x61) & 0x20) == 0) {
		t2 = get_cycles();
		delta = t2 - tsc;
		tsc = t2;
		if (delta < tscmin)
			tscmin = delta;
		if (delta > tscmax)
			tscmax = delta;
		pitcnt++;
	}
	if (pitcnt < loopmin || tscmax > 10 * tscmin)
		return UINT64_MAX;
	delta = t2 - t1;
	return delta / ms;
}

/* pit_hpet_ptimer_calibrate_cpu: three 10 ms loops (CAL_*), then 50 ms (CAL2_*). */
static void test_linux_pit_calibrate_tsc(void)
{
	static const struct {
		u32 latch;
		u64 ms;
		int loopmin;
	} cal[2] = { { PIT_HZ / (1000 / 10), 10, 1000 }, { PIT_HZ / (1000 / 50), 50, 5000 } };

	setup();
	at_clk(12345);
	for (unsigned k = 0; k < 2; k++) {
		for (unsigned i = 0; i < 3; i++) {
			u64 khz = pit_calibrate_tsc(cal[k].latch, cal[k].ms, cal[k].loopmin);
			u64 want = TSC_HZ / 1000;

			CHECK(khz != UINT64_MAX);
			/* (latch + 1) CLK pulses of 1/1193182 s, read at 1 us resolution */
			CHECK(khz > want - want / 2000 && khz < want + want / 2000);
		}
	}
	teardown();
}

/* quick_pit_calibrate's helpers: unlatched LSB/MSB reads of counter 2 in mode 0. */
static int pit_verify_msb(u8 val)
{
	linux_inb(0x42);
	return linux_inb(0x42) == val;
}

static int pit_expect_msb(u8 val, u64 *tscp, u64 *deltap)
{
	int count;
	u64 tsc = 0, prev_tsc = 0;

	for (count = 0; count < 50000; count++) {
		if (!pit_verify_msb(val))
			break;
		prev_tsc = tsc;
		tsc = get_cycles();
	}
	*deltap = get_cycles() - prev_tsc;
	*tscp = tsc;
	return count > 5;
}

#define MAX_QUICK_PIT_ITERATIONS (50 * PIT_HZ / 1000 / 256)

static u64 quick_pit_calibrate(void)
{
	int i;
	u64 tsc, delta, d1, d2;

	linux_outb((linux_inb(0x61) & ~0x02) | 0x01, 0x61);
	linux_outb(0xb0, 0x43);
	linux_outb(0xff, 0x42);
	linux_outb(0xff, 0x42);
	pit_verify_msb(0);
	if (pit_expect_msb(0xff, &tsc, &d1)) {
		for (i = 1; i <= MAX_QUICK_PIT_ITERATIONS; i++) {
			if (!pit_expect_msb((u8)(0xff - i), &delta, &d2))
				break;
			delta -= tsc;
			if (i == 1 && d1 + d2 >= (delta * MAX_QUICK_PIT_ITERATIONS) >> 11)
				return 0;
			if (d1 + d2 >= delta >> 11)
				continue;
			if (!pit_verify_msb((u8)(0xfe - i)))
				break;
			return delta * PIT_HZ / ((u64)i * 256 * 1000);
		}
	}
	return 0;
}

static void test_linux_quick_pit_calibrate(void)
{
	u64 khz, want = TSC_HZ / 1000;

	setup();
	at_clk(777);
	khz = quick_pit_calibrate();
	CHECK(khz != 0);
	/* The algorithm's own bound: an error below 1/2048 (500 ppm). */
	CHECK(khz > want - want / 2048 && khz < want + want / 2048);
	teardown();
}

int main(void)
{
	test_mode0();
	test_mode2();
	test_mode3();
	test_mode4();
	test_modes1_5();
	test_gate();
	test_modes6_7();
	test_bcd();
	test_latch_readback();
	test_ports();
	test_reset_state();
	test_linux_pit_calibrate_tsc();
	test_linux_quick_pit_calibrate();
	return check_done("test_pit");
}
