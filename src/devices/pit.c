// SPDX-License-Identifier: MIT
/*
 * The 8254 PIT, rule by rule from the Intel 82C54 datasheet (order 231244): "Control Word
 * Register" (Figure 7), "Counter Latch Command", "Read-Back Command" (Figures 10-12), "Mode
 * Definitions", "Operation Common to All Modes" (Figure 16, GATE pin operations; Figure 17,
 * minimum and maximum initial counts). Port 0x61 follows the Intel ICH datasheets' NMI_SC register.
 */
#include <string.h>

#include "devices/pit.h"

#define NS_PER_S  1000000000ull
#define CLK_NEVER UINT64_MAX

/* Control word (Figure 7): SC1 SC0 RW1 RW0 M2 M1 M0 BCD. */
#define CW_SC(v)    ((unsigned)(v) >> 6)
#define CW_RW(v)    (((unsigned)(v) >> 4) & 3)
#define CW_MODE(v)  (((unsigned)(v) >> 1) & 7)
#define CW_BCD	    BIT(0)
#define CW_READBACK 3
/* Read-back command (Figure 10): COUNT and STATUS are active low; bits 3:1 select counters. */
#define RB_NO_COUNT  BIT(5)
#define RB_NO_STATUS BIT(4)
/* Status byte (Figure 11): OUTPUT, NULL COUNT, then the control word's bits 5:0. */
#define ST_OUT	BIT(7)
#define ST_NULL BIT(6)

enum { RW_LATCH, RW_LSB, RW_MSB, RW_WORD };

/* Port 0x61 (ICH NMI_SC): bits 3:0 read/write, 7:4 read-only. */
#define P61_GATE2      BIT(0) /* TIM_CNT2_EN */
#define P61_WRITABLE   0x0f   /* + SPKR_DAT_EN, PCI_SERR_EN, IOCHK_NMI_EN */
#define P61_REF_TOGGLE BIT(4)
#define P61_OUT2       BIT(5)
/*
 * REF_TOGGLE flips at each DRAM refresh request, every 15.085 us: the rate of a PC/AT's counter 1
 * in mode 2 with count 18, and the fixed rate an ICH keeps. We flip it every 18 CLK pulses of
 * guest time whatever counter 1 does, as the ICH does. SERR#/IOCHK# NMI status (bits 7, 6)
 * read 0: no device here raises either.
 */
#define REFRESH_CLKS 18

static u64 pit_clk(u64 ns)
{
	return (u64)((u128)ns * PIT_HZ / NS_PER_S);
}

/* The guest ns at which CLK pulse `clk` falls: the first t with pit_clk(t) >= clk. */
static u64 pit_clk_ns(u64 clk)
{
	return (u64)(((u128)clk * NS_PER_S + PIT_HZ - 1) / PIT_HZ);
}

/* Modes 6 and 7 are modes 2 and 3: M2 is a don't-care for them (Figure 7). */
static unsigned pit_mode(const struct pit_channel *ch)
{
	unsigned m = CW_MODE(ch->ctrl);

	return m >= 6 ? m - 4 : m;
}

static bool pit_bcd(const struct pit_channel *ch)
{
	return ch->ctrl & CW_BCD;
}

/*
 * CLK pulses from a load of `v` to terminal count: the count, with 0 the largest (2^16 binary,
 * 10^4 BCD, "Operation Common to All Modes"). A BCD digit above 9, which the datasheet does not
 * define, counts down through its binary value before borrowing like any other (pit_sub).
 */
static u64 pit_period(const struct pit_channel *ch, u16 v)
{
	u64 n;

	if (!pit_bcd(ch))
		return v ? v : 0x10000;
	n = (u64)(v >> 12) * 1000 + ((v >> 8) & 0xf) * 100 + ((v >> 4) & 0xf) * 10 + (v & 0xf);
	return n ? n : 10000;
}

/* The counting element `n` decrements after holding `v`; it wraps from 0 to the highest count
   (FFFFh or 9999) and goes on counting ("Operation Common to All Modes"). */
static u16 pit_sub(const struct pit_channel *ch, u16 v, u64 n)
{
	u16 out = 0;

	if (!pit_bcd(ch))
		return (u16)(v - n);
	for (unsigned i = 0; i < 16; i += 4) {
		u64 d = (v >> i) & 0xf, borrows = 0;

		if (n <= d) {
			d -= n;
		} else {
			n -= d; /* decrements past 0: each 10 of them borrow once */
			borrows = (n + 9) / 10;
			d = (10 - n % 10) % 10;
		}
		out |= (u16)(d << i);
		n = borrows;
	}
	return out;
}

/* GATE is level sensitive in modes 0, 2, 3 and 4 (low stops counting) and only a trigger in
   modes 1 and 5 (Figure 16). */
static bool pit_counting(const struct pit_channel *ch)
{
	unsigned m = pit_mode(ch);

	return ch->gate || m == 1 || m == 5;
}

static u64 pit_counted(const struct pit_channel *ch, const struct pit_seg *s, u64 c)
{
	if (!pit_counting(ch) || c < s->resume)
		return s->base;
	return s->base + (c - s->resume);
}

static u16 pit_seg_value(const struct pit_channel *ch, const struct pit_seg *s, u64 c)
{
	u64 n, p, hi;

	if (s->idle)
		return s->init;
	n = pit_counted(ch, s, c);
	p = pit_period(ch, s->init);
	switch (pit_mode(ch)) {
	case 2: /* reloads when it would reach 0: reads N .. 1 */
		return pit_sub(ch, s->init, n % p);
	case 3:
		/* Each half-cycle loads N (an odd N: N - 1) and decrements by two ("Mode 3"). */
		hi = (p + 1) / 2;
		n = (n + s->off) % p;
		if (n >= hi)
			n -= hi;
		return pit_sub(ch, s->init, 2 * n + (p & 1));
	default:
		return pit_sub(ch, s->init, n);
	}
}

/*
 * OUT per "Mode Definitions". A count of 1 is illegal in modes 2 and 3 (Figure 17); we keep OUT
 * high then, with no edges, as the datasheet gives no waveform for it.
 */
static bool pit_seg_out(const struct pit_channel *ch, const struct pit_seg *s, u64 c)
{
	u64 n, p;

	if (s->idle)
		return s->idle_out;
	n = pit_counted(ch, s, c);
	p = pit_period(ch, s->init);
	switch (pit_mode(ch)) {
	case 0: /* low until terminal count, then high until reprogrammed */
	case 1: /* low from the load after a trigger until terminal count */
		return n >= p;
	case 2: /* low for the one CLK pulse at count 1; GATE low forces it high */
		return !ch->gate || p < 2 || n % p != p - 1;
	case 3: /* high for ceil(N/2), low for floor(N/2); GATE low forces it high */
		return !ch->gate || (n + s->off) % p < (p + 1) / 2;
	default: /* 4, 5: low for the one CLK pulse at terminal count */
		return n != p;
	}
}

/* The CLK pulse of the next OUT transition after `c` within segment `s`, or CLK_NEVER. */
static u64 pit_seg_next(const struct pit_channel *ch, const struct pit_seg *s, u64 c)
{
	u64 n, p, x, hi;

	if (s->idle || !pit_counting(ch))
		return CLK_NEVER;
	n = pit_counted(ch, s, c);
	p = pit_period(ch, s->init);
	switch (pit_mode(ch)) {
	case 0:
	case 1:
		if (n >= p)
			return CLK_NEVER;
		x = p;
		break;
	case 2:
		if (p < 2)
			return CLK_NEVER;
		x = n % p == p - 1 ? n + 1 : n - n % p + p - 1;
		break;
	case 3:
		if (p < 2)
			return CLK_NEVER;
		hi = (p + 1) / 2;
		x = (n + s->off) % p;
		x = n + (x < hi ? hi - x : p - x);
		break;
	default:
		if (n > p)
			return CLK_NEVER;
		x = n < p ? p : p + 1;
		break;
	}
	return s->resume + (x - s->base);
}

static const struct pit_seg *pit_seg_at(const struct pit_channel *ch, u64 c)
{
	return ch->has_next && c >= ch->next.start ? &ch->next : &ch->cur;
}

static bool pit_out(const struct pit_channel *ch, u64 c)
{
	return pit_seg_out(ch, pit_seg_at(ch, c), c);
}

static u16 pit_value(const struct pit_channel *ch, u64 c)
{
	return pit_seg_value(ch, pit_seg_at(ch, c), c);
}

/* The next OUT transition after `c`, across a pending load. */
static u64 pit_next(const struct pit_channel *ch, u64 c)
{
	u64 t;

	if (!ch->has_next || c >= ch->next.start)
		return pit_seg_next(ch, pit_seg_at(ch, c), c);
	t = pit_seg_next(ch, &ch->cur, c);
	if (t < ch->next.start)
		return t;
	if (pit_seg_out(ch, &ch->next, ch->next.start) != pit_seg_out(ch, &ch->cur, c))
		return ch->next.start;
	return pit_seg_next(ch, &ch->next, ch->next.start);
}

/* Make a load that is due by CLK `c` the present segment; the CR -> CE transfer clears NULL
   COUNT (Figure 12). */
static void pit_sync(struct pit_channel *ch, u64 c)
{
	if (ch->has_next && c >= ch->next.start) {
		ch->cur = ch->next;
		ch->has_next = false;
		ch->null_count = false;
	}
}

/* CE loads CR at CLK pulse `at`. */
static void pit_load_at(struct pit_channel *ch, u64 at, u16 off)
{
	ch->next = (struct pit_seg){ .start = at, .resume = at, .init = ch->cr, .off = off };
	ch->has_next = true;
}

/* CE stops, holding `v`, with OUT at `out`; a pending load is dropped. */
static void pit_hold(struct pit_channel *ch, u64 c, u16 v, bool out)
{
	ch->cur = (struct pit_seg){
		.start = c, .resume = c, .init = v, .idle = true, .idle_out = out
	};
	ch->has_next = false;
}

/*
 * Modes 2 and 3, counting: a new count waits for the end of the present cycle (mode 2) or
 * half-cycle (mode 3) ("Writing a new count while counting does not affect the current counting
 * sequence"). In mode 3 a count that comes in at the end of the high half starts low.
 */
static void pit_load_at_cycle_end(struct pit_channel *ch, u64 c)
{
	const struct pit_seg *s = &ch->cur;
	u64 n = pit_counted(ch, s, c), p = pit_period(ch, s->init), x, ph;
	u16 off = 0;

	if (pit_mode(ch) == 2) {
		x = n - n % p + p;
	} else {
		ph = (n + s->off) % p;
		if (ph < (p + 1) / 2) {
			x = n + (p + 1) / 2 - ph;
			off = (u16)((pit_period(ch, ch->cr) + 1) / 2);
		} else {
			x = n + p - ph;
		}
	}
	pit_load_at(ch, s->resume + (x - s->base), off);
}

/* A trigger (GATE rising, modes 1, 2, 3, 5) loads CR on the next CLK pulse, once a count was
   written after the control word. */
static void pit_trigger(struct pit_channel *ch, u64 c)
{
	if (ch->cr_valid)
		pit_load_at(ch, c + 1, 0);
}

/* A complete count is in CR (Figure 12: NULL COUNT set; "Mode Definitions": when it loads). */
static void pit_count_written(struct pit_channel *ch, u64 c)
{
	ch->null_count = true;
	ch->cr_valid = true;
	switch (pit_mode(ch)) {
	case 0: /* OUT low at once, the count loads on the next CLK pulse */
		pit_hold(ch, c, pit_value(ch, c), false);
		pit_load_at(ch, c + 1, 0);
		break;
	case 4: /* loads on the next CLK pulse and counts on from it */
		pit_load_at(ch, c + 1, 0);
		break;
	case 2:
	case 3:
		/* A load due at the next pulse (a trigger's) takes the new count. */
		if (ch->has_next && ch->next.start == c + 1 && !ch->next.off)
			ch->next.init = ch->cr;
		else if (ch->cur.idle)
			pit_load_at(ch, c + 1, 0);
		else if (ch->gate)
			pit_load_at_cycle_end(ch, c);
		/* GATE low: the trigger that ends it loads the count. */
		break;
	default: /* 1, 5: the next trigger loads it */
		break;
	}
}

static void pit_write_counter(struct pit_channel *ch, u64 c, u8 v)
{
	switch (CW_RW(ch->ctrl)) {
	case RW_LSB:
		ch->cr = v;
		break;
	case RW_MSB:
		ch->cr = (u16)(v << 8);
		break;
	default:
		if (!ch->write_msb) {
			ch->cr_lsb = v;
			ch->write_msb = true;
			/* Mode 0: "Writing the first byte disables counting. OUT is set low
			   immediately"; mode 4: "Writing the first byte has no effect". */
			if (pit_mode(ch) == 0)
				pit_hold(ch, c, pit_value(ch, c), false);
			return;
		}
		ch->write_msb = false;
		ch->cr = (u16)(ch->cr_lsb | v << 8);
		break;
	}
	pit_count_written(ch, c);
}

/*
 * Latched bytes first (status before count, Read-Back Command), then the live count. A latched
 * count is held until read in full; unlatched two-byte reads keep their own byte pointer, so
 * reads and writes interleave as the datasheet allows ("Read Operations").
 */
static u8 pit_read_counter(struct pit_channel *ch, u64 c)
{
	unsigned rw = CW_RW(ch->ctrl);
	bool msb;
	u16 v;

	if (ch->status_latched) {
		ch->status_latched = false;
		return ch->status;
	}
	if (ch->ol_bytes) {
		msb = rw == RW_MSB || (rw == RW_WORD && ch->ol_bytes == 1);
		ch->ol_bytes--;
		return msb ? ch->ol >> 8 : ch->ol & 0xff;
	}
	v = pit_value(ch, c);
	if (rw == RW_WORD) {
		msb = ch->read_msb;
		ch->read_msb = !msb;
	} else {
		msb = rw == RW_MSB;
	}
	return msb ? v >> 8 : v & 0xff;
}

/* Counter latch command: OL freezes until read; a second latch before that is ignored. */
static void pit_latch_count(struct pit_channel *ch, u64 c)
{
	if (ch->ol_bytes)
		return;
	ch->ol = pit_value(ch, c);
	ch->ol_bytes = CW_RW(ch->ctrl) == RW_WORD ? 2 : 1;
}

static void pit_latch_status(struct pit_channel *ch, u64 c)
{
	if (ch->status_latched)
		return; /* "all but the first are ignored" */
	ch->status = (pit_out(ch, c) ? ST_OUT : 0) | (ch->null_count ? ST_NULL : 0) | ch->ctrl;
	ch->status_latched = true;
}

/*
 * A control word resets the counter's control logic at once: OUT low in mode 0, high in the
 * others; CE stops until the count (or, in modes 1 and 5, a trigger) comes; latches and byte
 * pointers clear ("Operation Common to All Modes"; "held until it is read (or the counter is
 * reprogrammed)"). CE's content is undefined then; it keeps the value it had.
 */
static void pit_control(struct pit_channel *ch, u64 c, u8 v)
{
	u16 held = pit_value(ch, c);

	ch->ctrl = v & 0x3f;
	ch->write_msb = ch->read_msb = false;
	ch->ol_bytes = 0;
	ch->status_latched = false;
	ch->null_count = true;
	ch->cr_valid = false;
	pit_hold(ch, c, held, pit_mode(ch) != 0);
}

static void pit_write_control(struct pit *p, u64 c, u8 v)
{
	struct pit_channel *ch;

	if (CW_SC(v) == CW_READBACK) {
		/* Bit 0 is reserved ("must be 0"); we ignore it. */
		for (unsigned i = 0; i < 3; i++) {
			ch = &p->ch[i];
			if (!(v & BIT(i + 1)))
				continue;
			if (!(v & RB_NO_COUNT))
				pit_latch_count(ch, c);
			if (!(v & RB_NO_STATUS))
				pit_latch_status(ch, c);
		}
		return;
	}
	ch = &p->ch[CW_SC(v)];
	if (CW_RW(v) == RW_LATCH)
		pit_latch_count(ch, c);
	else
		pit_control(ch, c, v);
}

/* GATE2 from port 0x61 (Figure 16). */
static void pit_set_gate(struct pit_channel *ch, u64 c, bool gate)
{
	unsigned m = pit_mode(ch);

	if (gate == ch->gate)
		return;
	if (m == 1 || m == 5) {
		ch->gate = gate;
		if (gate)
			pit_trigger(ch, c);
		return;
	}
	if (!gate) {
		ch->cur.base = pit_counted(ch, &ch->cur, c);
		ch->gate = false;
		/* Modes 2, 3: counting stops, OUT goes high; the rising edge reloads CR. */
		if (m == 2 || m == 3)
			ch->has_next = false;
		return;
	}
	ch->gate = true;
	ch->cur.resume = c > ch->cur.start ? c : ch->cur.start;
	if (m == 2 || m == 3)
		pit_trigger(ch, c);
}

/* The timer: armed at the next OUT0 transition after the edges already on IRQ0. A failure to
   grow the queue leaves it disarmed (timer.h); IRQ0 then waits for the next access. */
static void pit_arm(struct pit *p)
{
	u64 t = pit_next(&p->ch[0], p->irq_clk);

	if (t == CLK_NEVER)
		timer_cancel(&p->timer);
	else
		timer_arm(&p->timer, pit_clk_ns(t));
}

/*
 * Put OUT0's transitions in (irq_clk, c] on IRQ0. The line follows OUT0; when more than one
 * transition is due at once (the vCPU was away), the controller sees one rising edge, as an
 * edge-triggered 8259A input latches only one request (8259A datasheet, "Edge triggered mode").
 */
static void pit_deliver(struct pit *p, u64 c)
{
	struct pit_channel *ch = &p->ch[0];
	u64 t;

	if (c <= p->irq_clk)
		return;
	t = pit_next(ch, p->irq_clk);
	if (t <= c) {
		if (pit_out(ch, t) || pit_next(ch, t) <= c) {
			if (p->irq.level)
				irq_lower(&p->irq);
			irq_raise(&p->irq);
		}
		if (!pit_out(ch, c) && p->irq.level)
			irq_lower(&p->irq);
	}
	p->irq_clk = c;
}

/* After an access at CLK `c`: OUT0 as the new state has it, and the timer for what follows. */
static void pit_settle(struct pit *p, u64 c)
{
	bool out = pit_out(&p->ch[0], c);

	if (out != p->irq.level)
		irq_set_level(&p->irq, out);
	p->irq_clk = c;
	pit_arm(p);
}

static void pit_fire(void *opaque, u64 now)
{
	struct pit *p = opaque;

	pit_deliver(p, pit_clk(now));
	pit_arm(p);
}

/* Before an access: the edges so far on IRQ0, then every load that is due. */
static u64 pit_begin(struct pit *p)
{
	u64 c = pit_clk(timer_now(p->q));

	pit_deliver(p, c);
	for (unsigned i = 0; i < 3; i++)
		pit_sync(&p->ch[i], c);
	return c;
}

void pit_access(void *opaque, u64 offset, u64 *data, unsigned len, bool is_write)
{
	struct pit *p = opaque;
	u64 c = pit_begin(p), v = 0;

	for (unsigned i = 0; i < len; i++) {
		u64 port = offset + i;
		u8 b = (u8)(*data >> (8 * i));

		if (port >= PIT_NR_PORTS) {
			v |= (u64)0xff << (8 * i);
		} else if (is_write) {
			if (port == 3)
				pit_write_control(p, c, b);
			else
				pit_write_counter(&p->ch[port], c, b);
		} else {
			/* The control word register cannot be read: 3-state (Figure 14), the
			   ISA bus floats high. */
			b = port == 3 ? 0xff : pit_read_counter(&p->ch[port], c);
			v |= (u64)b << (8 * i);
		}
	}
	if (!is_write)
		*data = v;
	pit_settle(p, c);
}

void pit_port61_access(void *opaque, u64 offset, u64 *data, unsigned len, bool is_write)
{
	struct pit *p = opaque;
	u64 c = pit_begin(p), v;

	if (is_write) {
		p->port61 = *data & P61_WRITABLE;
		pit_set_gate(&p->ch[2], c, *data & P61_GATE2);
	} else {
		/* One register: the bytes of a wider read above it float. */
		v = p->port61 | ((c / REFRESH_CLKS) & 1 ? P61_REF_TOGGLE : 0) |
		    (pit_out(&p->ch[2], c) ? P61_OUT2 : 0);
		for (unsigned i = 1; i < len; i++)
			v |= (u64)0xff << (8 * i);
		*data = v;
	}
	pit_settle(p, c);
}

void pit_reset(struct pit *p)
{
	u64 c = pit_clk(timer_now(p->q));

	p->port61 = 0;
	for (unsigned i = 0; i < 3; i++) {
		struct pit_channel *ch = &p->ch[i];

		*ch = (struct pit_channel){
			.ctrl = RW_WORD << 4 | 3 << 1,
			.cr_valid = true,
			.gate = i != 2,
			.cur = { .start = c, .resume = c },
		};
	}
	pit_settle(p, c);
}

void pit_init(struct pit *p, struct timer_queue *q)
{
	struct irq_line irq = p->irq;

	memset(p, 0, sizeof(*p));
	p->irq = irq;
	p->q = q;
	timer_init(&p->timer, q, pit_fire, p, "pit");
	pit_reset(p);
}
