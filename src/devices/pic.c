// SPDX-License-Identifier: MIT
/* 8259A pair and ELCR; see devices/pic.h. Section names are the 8259A datasheet's. */
#include <string.h>

#include "devices/pic.h"

/* The priority rank of IR `irq` (0 highest) under the current rotation. */
static unsigned rank(const struct pic_chip *c, unsigned irq)
{
	return (irq - c->priority_add) & 7;
}

/* The highest-priority IR set in `mask`, or -1. */
static int highest(const struct pic_chip *c, u8 mask)
{
	for (unsigned r = 0; r < 8; r++) {
		unsigned irq = (r + c->priority_add) & 7;

		if (mask & (1u << irq))
			return (int)irq;
	}
	return -1;
}

/* The IR this chip would interrupt for now, or -1 ("Priority resolver"): the highest unmasked
   request whose priority is above every level in service ("Fully nested mode"). In special mask
   mode a level in service only inhibits itself: any unmasked request not in service goes ("Special
   mask mode"). In special fully nested mode the master lets the cascade through while it is in
   service, so that a slave's higher-priority request can nest ("Special fully nested mode"). */
static int chip_pending(const struct pic_chip *c, bool master)
{
	u8 req = c->irr & ~c->imr, isr = c->isr;
	int irq, cur;

	if (c->special_mask)
		return highest(c, req & ~isr);
	irq = highest(c, req);
	if (irq < 0)
		return -1;
	if (master && c->sfnm)
		isr &= ~(1u << PIC_CASCADE_IRQ);
	cur = highest(c, isr);
	if (cur >= 0 && rank(c, (unsigned)irq) >= rank(c, (unsigned)cur))
		return -1;
	return irq;
}

static bool chip_level(const struct pic_chip *c, unsigned irq)
{
	return c->ltim || (c->elcr & (1u << irq));
}

/* Set IR `irq`'s input ("Edge and level triggered modes"): edge-triggered IRs latch a request in
   the IRR on the rising edge, and the request stays until acknowledged (a device pulsing the
   line, irq_pulse(), has its request kept as one held high until INTA would); level-triggered
   IRs request while the input is high. */
static void chip_set_line(struct pic_chip *c, unsigned irq, bool level)
{
	u8 bit = 1u << irq;

	if (chip_level(c, irq)) {
		c->irr = level ? c->irr | bit : c->irr & ~bit;
	} else if (level && !(c->lines & bit)) {
		c->irr |= bit;
	}
	c->lines = level ? c->lines | bit : c->lines & ~bit;
}

/* Propagate: the slave's INT drives the master's IR2 (a level: the cascade input is internal to
   the board and the request follows the slave's INT, as QEMU's and KVM's cascades do); the
   master's INT drives `intr`. */
static void pic_update(struct pic *p)
{
	struct pic_chip *m = &p->chip[0];
	bool slave_int = chip_pending(&p->chip[1], false) >= 0, intr;

	if (!m->single) {
		m->irr = slave_int ? m->irr | (1u << PIC_CASCADE_IRQ)
				   : m->irr & ~(1u << PIC_CASCADE_IRQ);
		m->lines = slave_int ? m->lines | (1u << PIC_CASCADE_IRQ)
				     : m->lines & ~(1u << PIC_CASCADE_IRQ);
	}
	intr = chip_pending(m, true) >= 0;
	if (intr != p->intr.level)
		irq_set_level(&p->intr, intr);
}

void pic_set_irq(void *opaque, unsigned irq, bool level)
{
	struct pic *p = opaque;

	if (irq > 15 || irq == PIC_CASCADE_IRQ)
		return;
	chip_set_line(&p->chip[irq >> 3], irq & 7, level);
	pic_update(p);
}

/* One chip's acknowledge of IR `irq`: it goes in service (or, in AEOI mode, ends at once and
   rotates if asked: "Automatic end of interrupt mode", "Automatic rotation"); an edge request is
   consumed. */
static void chip_ack(struct pic_chip *c, unsigned irq)
{
	if (c->auto_eoi) {
		if (c->rotate_on_auto_eoi)
			c->priority_add = (irq + 1) & 7;
	} else {
		c->isr |= 1u << irq;
	}
	if (!chip_level(c, irq))
		c->irr &= ~(1u << irq);
}

int pic_intack(struct pic *p)
{
	struct pic_chip *m = &p->chip[0], *s = &p->chip[1];
	int irq = chip_pending(m, true), vector;

	if (irq < 0) {
		vector = (m->vector_base & 0xf8) | 7; /* spurious IR7: no ISR bit */
	} else {
		chip_ack(m, (unsigned)irq);
		if (irq == PIC_CASCADE_IRQ && !m->single) {
			int sirq = chip_pending(s, false);

			if (sirq >= 0) {
				chip_ack(s, (unsigned)sirq);
				vector = (s->vector_base & 0xf8) | sirq;
			} else {
				vector = (s->vector_base & 0xf8) | 7; /* spurious IRQ 15 */
			}
		} else {
			vector = (m->vector_base & 0xf8) | irq;
		}
	}
	pic_update(p);
	return vector;
}

/* Poll command ("Poll command"): the read acknowledges the highest request; the byte has bit 7
   set and the level in bits 2:0, or is 0 with no request. */
static u8 chip_poll(struct pic *p, unsigned idx)
{
	struct pic_chip *c = &p->chip[idx];
	int irq = chip_pending(c, idx == 0);

	c->poll = false;
	if (irq < 0)
		return 0;
	chip_ack(c, (unsigned)irq);
	pic_update(p);
	return 0x80 | (u8)irq;
}

static void chip_eoi(struct pic_chip *c, unsigned irq, bool rotate)
{
	c->isr &= ~(1u << irq);
	if (rotate)
		c->priority_add = (irq + 1) & 7; /* the IR just ended gets the lowest priority */
}

/* ICW1 ("Initialization command words"): the edge sense is reset (an IR must go low-to-high to
   request: the lines held high count as old), the IMR cleared, IR7 lowest, special mask mode off,
   status read set to IRR, and without IC4 all ICW4 functions 0. The datasheet does not list IRR
   and ISR; they are cleared, as QEMU and KVM do, so that a reinitialised PIC starts clean (level
   IRs keep requesting while their line is high). */
static void chip_icw1(struct pic_chip *c, u8 val)
{
	c->imr = 0;
	c->isr = 0;
	c->irr = 0;
	c->priority_add = 0;
	c->special_mask = false;
	c->read_isr = false;
	c->poll = false;
	c->auto_eoi = false;
	c->rotate_on_auto_eoi = false;
	c->sfnm = false;
	c->icw4_needed = val & 1;
	c->single = val & 2;
	c->ltim = val & 8;
	c->init_state = 1;
	for (unsigned irq = 0; irq < 8; irq++)
		if (chip_level(c, irq) && (c->lines & (1u << irq)))
			c->irr |= 1u << irq;
}

static void chip_ocw2(struct pic_chip *c, u8 val)
{
	unsigned cmd = val >> 5, level = val & 7;
	int irq;

	/* R SL EOI ("Operation command words", OCW2). */
	switch (cmd) {
	case 0: /* rotate in AEOI mode: clear */
		c->rotate_on_auto_eoi = false;
		break;
	case 4: /* rotate in AEOI mode: set */
		c->rotate_on_auto_eoi = true;
		break;
	case 1: /* non-specific EOI: the highest level in service */
	case 5: /* rotate on non-specific EOI */
		irq = highest(c, c->isr);
		if (irq >= 0)
			chip_eoi(c, (unsigned)irq, cmd == 5);
		break;
	case 3: /* specific EOI */
	case 7: /* rotate on specific EOI */
		chip_eoi(c, level, cmd == 7);
		break;
	case 6: /* set priority: L2-L0 becomes the lowest */
		c->priority_add = (level + 1) & 7;
		break;
	default: /* 2: no operation */
		break;
	}
}

static void chip_ocw3(struct pic_chip *c, u8 val)
{
	/* ESMM SMM x 1 P RR RIS ("Operation command words", OCW3). */
	if (val & 0x40)
		c->special_mask = val & 0x20;
	if (val & 0x04)
		c->poll = true;
	if (val & 0x02)
		c->read_isr = val & 0x01;
}

/*
 * A0 = 0: ICW1 (D4 = 1), OCW3 (D4 = 0, D3 = 1) or OCW2 (D4 = 0, D3 = 0), at any time: an ICW1
 * restarts the initialization. A0 = 1: the next ICW the sequence expects (ICW2, ICW3 unless
 * single, ICW4 if IC4), else OCW1 (the IMR). A write out of order is taken for what the
 * sequence expects, as the 8259A's state machine does.
 */
static void chip_write(struct pic *p, unsigned idx, unsigned a0, u8 val)
{
	struct pic_chip *c = &p->chip[idx];

	if (!a0) {
		if (val & 0x10)
			chip_icw1(c, val);
		else if (val & 0x08)
			chip_ocw3(c, val);
		else
			chip_ocw2(c, val);
	} else {
		switch (c->init_state) {
		case 1: /* ICW2: T7-T3 (8086 mode; the 8080 mode's address bits are not used) */
			c->vector_base = val & 0xf8;
			c->init_state = c->single ? (c->icw4_needed ? 3 : 0) : 2;
			break;
		case 2: /* ICW3: the master's slave bitmap or the slave's ID; the board's cascade
			   is fixed (slave on IR2) whatever it says. */
			c->icw3 = val;
			c->init_state = c->icw4_needed ? 3 : 0;
			break;
		case 3: /* ICW4: uPM (8086 mode assumed), AEOI, M/S and BUF (no effect here), SFNM */
			c->auto_eoi = val & 0x02;
			c->sfnm = val & 0x10;
			c->init_state = 0;
			break;
		default: /* OCW1 */
			c->imr = val;
			break;
		}
	}
	pic_update(p);
}

static u8 chip_read(struct pic *p, unsigned idx, unsigned a0)
{
	struct pic_chip *c = &p->chip[idx];

	/* With a poll command issued, the next read is the poll ("Poll command"). */
	if (c->poll)
		return chip_poll(p, idx);
	if (a0)
		return c->imr;
	return c->read_isr ? c->isr : c->irr;
}

static void chip_access(struct pic *p, unsigned idx, u64 offset, u64 *data, unsigned len,
			bool is_write)
{
	u64 v = 0;

	for (unsigned i = 0; i < len; i++) {
		unsigned a0 = (unsigned)(offset + i) & 1;

		if (is_write)
			chip_write(p, idx, a0, (u8)(*data >> (i * 8)));
		else
			v |= (u64)chip_read(p, idx, a0) << (i * 8);
	}
	if (!is_write)
		*data = v;
}

void pic_master_access(void *opaque, u64 offset, u64 *data, unsigned len, bool is_write)
{
	chip_access(opaque, 0, offset, data, len, is_write);
}

void pic_slave_access(void *opaque, u64 offset, u64 *data, unsigned len, bool is_write)
{
	chip_access(opaque, 1, offset, data, len, is_write);
}

/* ELCR (PIIX4 / ICH datasheets, "ELCR1/ELCR2"): one bit per IRQ, 1 = level-triggered; IRQ 0, 1,
   2, 8 and 13 are always edge (their bits read 0 and ignore writes). Changing a bit re-reads
   the line under the new mode. */
void pic_elcr_access(void *opaque, u64 offset, u64 *data, unsigned len, bool is_write)
{
	struct pic *p = opaque;
	u64 v = 0;

	for (unsigned i = 0; i < len; i++) {
		unsigned idx = (unsigned)(offset + i) & 1;
		struct pic_chip *c = &p->chip[idx];

		if (!is_write) {
			v |= (u64)c->elcr << (i * 8);
			continue;
		}
		c->elcr = (u8)(*data >> (i * 8)) & c->elcr_mask;
		for (unsigned irq = 0; irq < 8; irq++)
			if (chip_level(c, irq))
				c->irr = (c->lines & (1u << irq)) ? c->irr | (1u << irq)
								  : c->irr & ~(1u << irq);
	}
	if (is_write)
		pic_update(p);
	else
		*data = v;
}

void pic_reset(struct pic *p)
{
	for (unsigned i = 0; i < 2; i++) {
		struct pic_chip *c = &p->chip[i];
		u8 lines = c->lines;

		memset(c, 0, sizeof(*c));
		c->lines = lines;
		c->elcr_mask = i ? 0xde : 0xf8;
	}
	pic_update(p);
}

void pic_init(struct pic *p)
{
	memset(p, 0, sizeof(*p));
	pic_reset(p);
}
