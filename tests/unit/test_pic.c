// SPDX-License-Identifier: MIT
/*
 * The 8259A pair and the ELCR (devices/pic.h) through their port access functions, the INTR
 * output recorded through an irq_line. Sections named are the Intel 8259A datasheet's.
 */
#include <string.h>

#include "check.h"
#include "devices/pic.h"

static unsigned intr_changes;
static bool intr_level;

static void rec_intr(void *opaque, unsigned pin, bool level)
{
	(void)opaque;
	(void)pin;
	intr_changes++;
	intr_level = level;
}

static void outb(struct pic *p, u16 port, u8 val)
{
	u64 v = val;

	if (port >= PIC_ELCR_BASE)
		pic_elcr_access(p, port - PIC_ELCR_BASE, &v, 1, true);
	else if (port >= PIC_SLAVE_BASE)
		pic_slave_access(p, port - PIC_SLAVE_BASE, &v, 1, true);
	else
		pic_master_access(p, port - PIC_MASTER_BASE, &v, 1, true);
}

static u8 inb(struct pic *p, u16 port)
{
	u64 v = 0xdead;

	if (port >= PIC_ELCR_BASE)
		pic_elcr_access(p, port - PIC_ELCR_BASE, &v, 1, false);
	else if (port >= PIC_SLAVE_BASE)
		pic_slave_access(p, port - PIC_SLAVE_BASE, &v, 1, false);
	else
		pic_master_access(p, port - PIC_MASTER_BASE, &v, 1, false);
	return (u8)v;
}

/* The PC BIOS / Linux sequence: ICW1 edge+ICW4, ICW2 base, ICW3 cascade, ICW4 8086 (+AEOI). */
static void setup(struct pic *p, bool aeoi)
{
	pic_init(p);
	irq_line_wire(&p->intr, rec_intr, NULL, 0);
	intr_changes = 0;
	intr_level = false;
	outb(p, 0x20, 0x11);
	outb(p, 0x21, 0x20);
	outb(p, 0x21, 0x04);
	outb(p, 0x21, aeoi ? 0x03 : 0x01);
	outb(p, 0xa0, 0x11);
	outb(p, 0xa1, 0x28);
	outb(p, 0xa1, 0x02);
	outb(p, 0xa1, aeoi ? 0x03 : 0x01);
}

static void eoi(struct pic *p, u16 base)
{
	outb(p, base, 0x20);
}

/* Initialization command words; OCW1; OCW3 register reads; INTA (Interrupt sequence). */
static void test_init_and_intack(void)
{
	struct pic p;

	setup(&p, false);
	CHECK_EQ(inb(&p, 0x21), 0); /* ICW1 cleared the IMR */
	outb(&p, 0x21, 0xfa);
	CHECK_EQ(inb(&p, 0x21), 0xfa);
	outb(&p, 0x21, 0x00);
	pic_set_irq(&p, 1, true);
	CHECK(intr_level);
	CHECK_EQ(inb(&p, 0x20), 0x02); /* IRR read by default */
	CHECK_EQ(pic_intack(&p), 0x21);
	CHECK(!intr_level);
	outb(&p, 0x20, 0x0b); /* OCW3: read ISR */
	CHECK_EQ(inb(&p, 0x20), 0x02);
	outb(&p, 0x20, 0x0a); /* read IRR */
	CHECK_EQ(inb(&p, 0x20), 0x00); /* edge: consumed by INTA */
	eoi(&p, 0x20);
	outb(&p, 0x20, 0x0b);
	CHECK_EQ(inb(&p, 0x20), 0x00);
	pic_set_irq(&p, 1, false);
	/* Masked requests wait in the IRR; unmasking raises INTR. */
	outb(&p, 0x21, 0x08);
	pic_set_irq(&p, 3, true);
	CHECK(!intr_level);
	outb(&p, 0x21, 0x00);
	CHECK(intr_level);
	CHECK_EQ(pic_intack(&p), 0x23);
	eoi(&p, 0x20);
	/* IRQ 2 is the cascade: no ISA input. */
	pic_set_irq(&p, 2, true);
	pic_set_irq(&p, 16, true);
	CHECK(!intr_level);
	/* Multi-byte access touches consecutive ports. */
	u64 v = 0;
	pic_master_access(&p, 0, &v, 2, false);
	CHECK_EQ(v, 0x0000);
}

/* Fully nested mode, priorities, non-specific and specific EOI (OCW2). */
static void test_priority(void)
{
	struct pic p;

	setup(&p, false);
	pic_set_irq(&p, 5, true);
	pic_set_irq(&p, 3, true);
	CHECK_EQ(pic_intack(&p), 0x23);
	/* IR5 is lower than IR3 in service: no INTR. */
	CHECK(!intr_level);
	pic_set_irq(&p, 0, true);
	CHECK(intr_level); /* higher: nests */
	CHECK_EQ(pic_intack(&p), 0x20);
	eoi(&p, 0x20); /* clears IR0, the highest in service */
	outb(&p, 0x20, 0x0b);
	CHECK_EQ(inb(&p, 0x20), 0x08);
	CHECK(!intr_level);
	outb(&p, 0x20, 0x63); /* specific EOI IR3 */
	CHECK_EQ(inb(&p, 0x20), 0x00);
	CHECK(intr_level);
	CHECK_EQ(pic_intack(&p), 0x25);
	outb(&p, 0x20, 0x65);
	CHECK(!intr_level);
}

/* Rotation: rotate on non-specific EOI, set priority, rotate on specific EOI, AEOI rotate. */
static void test_rotation(void)
{
	struct pic p;

	setup(&p, false);
	pic_set_irq(&p, 4, true);
	CHECK_EQ(pic_intack(&p), 0x24);
	outb(&p, 0x20, 0xa0); /* rotate on non-specific EOI: IR4 lowest, IR5 highest */
	pic_set_irq(&p, 1, true);
	pic_set_irq(&p, 6, true);
	CHECK_EQ(pic_intack(&p), 0x26);
	eoi(&p, 0x20);
	CHECK_EQ(pic_intack(&p), 0x21);
	eoi(&p, 0x20);
	/* Set priority: IR6 lowest, so IR7 highest. */
	outb(&p, 0x20, 0xc6);
	pic_set_irq(&p, 0, false);
	pic_set_irq(&p, 0, true);
	pic_set_irq(&p, 7, true);
	CHECK_EQ(pic_intack(&p), 0x27);
	outb(&p, 0x20, 0xe7); /* rotate on specific EOI IR7: IR0 highest */
	CHECK_EQ(pic_intack(&p), 0x20);
	eoi(&p, 0x20);
	/* Rotate in AEOI mode. */
	setup(&p, true);
	outb(&p, 0x20, 0x80);
	pic_set_irq(&p, 3, true);
	pic_set_irq(&p, 5, true);
	CHECK_EQ(pic_intack(&p), 0x23);
	outb(&p, 0x20, 0x0b);
	CHECK_EQ(inb(&p, 0x20), 0x00); /* AEOI: nothing in service */
	pic_set_irq(&p, 1, true);
	CHECK_EQ(pic_intack(&p), 0x25); /* IR4 highest after rotation: 5 before 1 */
	CHECK_EQ(pic_intack(&p), 0x21);
	outb(&p, 0x20, 0x00); /* clear rotate in AEOI */
	pic_set_irq(&p, 3, false);
	pic_set_irq(&p, 3, true);
	pic_set_irq(&p, 7, true);
	CHECK_EQ(pic_intack(&p), 0x23); /* IR1 ended last: IR2 highest, 3 before 7 */
	CHECK_EQ(pic_intack(&p), 0x27);
	CHECK_EQ(pic_intack(&p), 0x27); /* nothing pending: spurious IR7 */
	CHECK_EQ(p.chip[0].priority_add, 2); /* rotation off: the spurious IR7 rotated nothing */
}

/* Cascade through IR2; slave vectors; spurious IRQ 7 and 15. */
static void test_cascade_spurious(void)
{
	struct pic p;

	setup(&p, false);
	/* Spurious: INTA with nothing pending is IR7, nothing in service. */
	CHECK_EQ(pic_intack(&p), 0x27);
	outb(&p, 0x20, 0x0b);
	CHECK_EQ(inb(&p, 0x20), 0x00);
	pic_set_irq(&p, 12, true);
	CHECK(intr_level);
	CHECK_EQ(pic_intack(&p), 0x2c);
	outb(&p, 0xa0, 0x0b);
	CHECK_EQ(inb(&p, 0xa0), 0x10);
	CHECK_EQ(inb(&p, 0x20), 0x04); /* master ISR: the cascade */
	eoi(&p, 0xa0);
	eoi(&p, 0x20);
	CHECK_EQ(inb(&p, 0x20), 0x00);
	/* A slave IRQ masked on the slave does not reach the master. */
	outb(&p, 0xa1, 0x10);
	pic_set_irq(&p, 12, false);
	pic_set_irq(&p, 12, true);
	CHECK(!intr_level);
	/* Slave priorities: IRQ 9 (level-triggered through the ELCR) before IRQ 12. */
	outb(&p, 0xa1, 0x00);
	CHECK(intr_level);
	outb(&p, 0x4d1, 0x02);
	pic_set_irq(&p, 9, true);
	CHECK_EQ(pic_intack(&p), 0x29);
	pic_set_irq(&p, 9, false);
	eoi(&p, 0xa0);
	eoi(&p, 0x20);
	CHECK_EQ(pic_intack(&p), 0x2c);
	eoi(&p, 0xa0);
	eoi(&p, 0x20);
	CHECK(!intr_level);
	/* The same INTA with the slave request gone: spurious IRQ 15 with the master's IR2 in
	   service (the master did acknowledge the cascade). */
	p.chip[0].irr |= 1u << 2; /* the slave's INT seen by the master, then gone at INTA */
	CHECK_EQ(pic_intack(&p), 0x2f);
	CHECK_EQ(inb(&p, 0x20), 0x04);
	outb(&p, 0xa0, 0x0b);
	CHECK_EQ(inb(&p, 0xa0), 0x00);
	eoi(&p, 0x20);
}

/* ELCR (PIIX/ICH): level-triggered IRs follow the line; IRQ 0, 1, 2, 8, 13 are edge only. */
static void test_elcr(void)
{
	struct pic p;

	setup(&p, false);
	outb(&p, 0x4d0, 0xff);
	outb(&p, 0x4d1, 0xff);
	CHECK_EQ(inb(&p, 0x4d0), 0xf8);
	CHECK_EQ(inb(&p, 0x4d1), 0xde);
	u64 v = 0;
	pic_elcr_access(&p, 0, &v, 2, false);
	CHECK_EQ(v, 0xdef8);
	/* Level: the request goes when the line drops, and is taken again while it stays. */
	pic_set_irq(&p, 10, true);
	CHECK(intr_level);
	pic_set_irq(&p, 10, false);
	CHECK(!intr_level);
	pic_set_irq(&p, 10, true);
	CHECK_EQ(pic_intack(&p), 0x2a);
	eoi(&p, 0xa0);
	eoi(&p, 0x20);
	CHECK(intr_level);
	CHECK_EQ(pic_intack(&p), 0x2a);
	pic_set_irq(&p, 10, false);
	eoi(&p, 0xa0);
	eoi(&p, 0x20);
	CHECK(!intr_level);
	/* Edge (IRQ 0, ELCR bit fixed 0): a pulse is kept until INTA. */
	pic_set_irq(&p, 0, true);
	pic_set_irq(&p, 0, false);
	CHECK(intr_level);
	CHECK_EQ(pic_intack(&p), 0x20);
	eoi(&p, 0x20);
	CHECK(!intr_level);
	/* ICW1 LTIM: every IR level-triggered. */
	outb(&p, 0x4d0, 0x00);
	outb(&p, 0x20, 0x19);
	outb(&p, 0x21, 0x20);
	outb(&p, 0x21, 0x04);
	outb(&p, 0x21, 0x01);
	pic_set_irq(&p, 0, true);
	CHECK_EQ(pic_intack(&p), 0x20);
	eoi(&p, 0x20);
	CHECK(intr_level);
	pic_set_irq(&p, 0, false);
	CHECK(!intr_level);
}

/* Poll command; special mask mode; special fully nested mode. */
static void test_poll_smm_sfnm(void)
{
	struct pic p;

	setup(&p, false);
	outb(&p, 0x20, 0x0c); /* poll */
	CHECK_EQ(inb(&p, 0x20), 0x00);
	pic_set_irq(&p, 6, true);
	outb(&p, 0x20, 0x0c);
	CHECK_EQ(inb(&p, 0x21), 0x86); /* any port: the poll byte, and an acknowledge */
	CHECK(!intr_level);
	CHECK_EQ(inb(&p, 0x21), 0x00); /* the next read is the IMR again */
	outb(&p, 0x20, 0x0b);
	CHECK_EQ(inb(&p, 0x20), 0x40);
	/* Special mask mode: with IR6 in service and masked, a lower IR7 goes. */
	outb(&p, 0x20, 0x68); /* ESMM + SMM */
	outb(&p, 0x21, 0x40);
	pic_set_irq(&p, 7, true);
	CHECK(intr_level);
	CHECK_EQ(pic_intack(&p), 0x27);
	outb(&p, 0x20, 0x67);
	outb(&p, 0x20, 0x48); /* SMM off */
	outb(&p, 0x21, 0x00);
	/* Without SMM, IR7 would wait behind IR6. */
	pic_set_irq(&p, 7, false);
	pic_set_irq(&p, 7, true);
	CHECK(!intr_level);
	outb(&p, 0x20, 0x66);
	CHECK(intr_level);
	CHECK_EQ(pic_intack(&p), 0x27);
	eoi(&p, 0x20);

	/* Special fully nested mode (master ICW4 SFNM): a higher slave IRQ nests while a lower
	   slave IRQ is in service through IR2. */
	setup(&p, false);
	outb(&p, 0x20, 0x11);
	outb(&p, 0x21, 0x20);
	outb(&p, 0x21, 0x04);
	outb(&p, 0x21, 0x11);
	pic_set_irq(&p, 12, true);
	CHECK_EQ(pic_intack(&p), 0x2c);
	pic_set_irq(&p, 9, true);
	CHECK(intr_level);
	CHECK_EQ(pic_intack(&p), 0x29);
	/* Without SFNM it would have waited. */
	setup(&p, false);
	pic_set_irq(&p, 12, true);
	CHECK_EQ(pic_intack(&p), 0x2c);
	pic_set_irq(&p, 9, true);
	CHECK(!intr_level);
}

/* ICWs out of order: ICW1 restarts; OCWs on A0=0 act at any time; A0=1 goes to the expected
   ICW; single mode skips ICW3; without IC4 ICW4 functions are 0. */
static void test_icw_order(void)
{
	struct pic p;

	setup(&p, true);
	outb(&p, 0x20, 0x11);
	outb(&p, 0x21, 0x40); /* ICW2 */
	outb(&p, 0x20, 0x11); /* ICW1 again: restart */
	outb(&p, 0x21, 0x30); /* ICW2 */
	outb(&p, 0x20, 0x0b); /* OCW3 in the middle */
	outb(&p, 0x21, 0x04); /* ICW3 */
	outb(&p, 0x21, 0x01); /* ICW4 */
	outb(&p, 0x21, 0xfe); /* OCW1 */
	CHECK_EQ(inb(&p, 0x21), 0xfe);
	pic_set_irq(&p, 0, true);
	CHECK_EQ(pic_intack(&p), 0x30);
	CHECK_EQ(inb(&p, 0x20), 0x01); /* ISR read (OCW3), not AEOI */
	eoi(&p, 0x20);
	/* Single, no ICW4: ICW1, ICW2, then OCW1; no AEOI; IR2 an ordinary input. */
	outb(&p, 0x20, 0x12);
	outb(&p, 0x21, 0x48);
	outb(&p, 0x21, 0x00);
	CHECK_EQ(inb(&p, 0x21), 0x00);
	pic_set_irq(&p, 0, false);
	pic_set_irq(&p, 0, true);
	CHECK_EQ(pic_intack(&p), 0x48);
	outb(&p, 0x20, 0x0b);
	CHECK_EQ(inb(&p, 0x20), 0x01);
	/* An ICW1 with a line held high: the edge sense is reset, no request until it rises. */
	pic_set_irq(&p, 4, true);
	outb(&p, 0x20, 0x11);
	outb(&p, 0x21, 0x20);
	outb(&p, 0x21, 0x04);
	outb(&p, 0x21, 0x01);
	CHECK(!intr_level);
	CHECK_EQ(inb(&p, 0x20), 0x00);
	pic_set_irq(&p, 4, false);
	pic_set_irq(&p, 4, true);
	CHECK(intr_level);
	/* Reset: IMR clear, nothing pending, INTR low. */
	pic_reset(&p);
	CHECK(!intr_level);
	CHECK_EQ(inb(&p, 0x21), 0x00);
	CHECK_EQ(inb(&p, 0x4d0), 0x00);
}

int main(void)
{
	test_init_and_intack();
	test_priority();
	test_rotation();
	test_cascade_spurious();
	test_elcr();
	test_poll_smm_sfnm();
	test_icw_order();
	return check_done("test_pic");
}
