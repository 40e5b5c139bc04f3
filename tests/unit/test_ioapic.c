// SPDX-License-Identifier: MIT
/*
 * The I/O APIC (devices/ioapic.h) through its MMIO access function, with a recording delivery
 * callback. Each test names the Intel 82093AA datasheet section it checks.
 */
#include <errno.h>
#include <string.h>

#include "check.h"
#include "devices/ioapic.h"

struct rec {
	struct apic_msg msg[32];
	unsigned n;
	unsigned accept; /* what deliver returns: how many LAPICs accepted */
};

static unsigned rec_deliver(void *opaque, const struct apic_msg *m)
{
	struct rec *r = opaque;

	if (r->n < ARRAY_SIZE(r->msg))
		r->msg[r->n++] = *m;
	return r->accept;
}

static void setup(struct ioapic *io, struct rec *r)
{
	struct ioapic_host host = { rec_deliver, r };

	memset(r, 0, sizeof(*r));
	r->accept = 1;
	CHECK_EQ(ioapic_init(io, 2, &host), 0);
}

static void mmio_write(struct ioapic *io, u64 off, u32 val, unsigned len)
{
	u64 v = val;

	ioapic_access(io, off, &v, len, true);
}

static u32 mmio_read(struct ioapic *io, u64 off, unsigned len)
{
	u64 v = 0xdeadbeef;

	ioapic_access(io, off, &v, len, false);
	return (u32)v;
}

static u32 reg_read(struct ioapic *io, u8 index)
{
	mmio_write(io, IOAPIC_IOREGSEL, index, 4);
	return mmio_read(io, IOAPIC_IOWIN, 4);
}

static void reg_write(struct ioapic *io, u8 index, u32 val)
{
	mmio_write(io, IOAPIC_IOREGSEL, index, 4);
	mmio_write(io, IOAPIC_IOWIN, val, 4);
}

static void rte_write(struct ioapic *io, unsigned pin, u64 e)
{
	reg_write(io, IOAPIC_REG_REDTBL + 2 * pin + 1, (u32)(e >> 32));
	reg_write(io, IOAPIC_REG_REDTBL + 2 * pin, (u32)e);
}

static u64 rte_read(struct ioapic *io, unsigned pin)
{
	return reg_read(io, IOAPIC_REG_REDTBL + 2 * pin) |
	       (u64)reg_read(io, IOAPIC_REG_REDTBL + 2 * pin + 1) << 32;
}

/* 82093AA 3.1, 3.2.1-3.2.3: IOREGSEL/IOWIN, ID, version, arbitration, reset state. */
static void test_registers(void)
{
	struct ioapic io;
	struct rec r;
	struct ioapic_host host = { rec_deliver, &r };

	CHECK_EQ(ioapic_init(&io, 16, &host), -EINVAL);
	setup(&io, &r);
	CHECK_EQ(reg_read(&io, IOAPIC_REG_ID), 2u << 24);
	CHECK_EQ(reg_read(&io, IOAPIC_REG_VER), 0x00170020); /* 24 entries, version 0x20 */
	CHECK_EQ(reg_read(&io, IOAPIC_REG_ARB), 2u << 24);
	reg_write(&io, IOAPIC_REG_ID, 0xffffffff);
	CHECK_EQ(reg_read(&io, IOAPIC_REG_ID), 0x0f000000); /* bits 27:24 */
	CHECK_EQ(reg_read(&io, IOAPIC_REG_ARB), 0x0f000000);
	reg_write(&io, IOAPIC_REG_VER, 0);
	reg_write(&io, IOAPIC_REG_ARB, 0);
	CHECK_EQ(reg_read(&io, IOAPIC_REG_VER), 0x00170020);
	/* IOREGSEL reads back its 8 bits. */
	mmio_write(&io, IOAPIC_IOREGSEL, 0x12345613, 4);
	CHECK_EQ(mmio_read(&io, IOAPIC_IOREGSEL, 4), 0x13);
	/* Every entry masked at reset (3.2.4). */
	for (unsigned pin = 0; pin < IOAPIC_NR_PINS; pin++)
		CHECK_EQ(rte_read(&io, pin), IOAPIC_RTE_MASKED);
	/* Entry bits: 55:17 reserved, delivery status and remote IRR read-only. */
	rte_write(&io, 5, ~0ull);
	CHECK_EQ(rte_read(&io, 5), 0xff0000000001afffull);
	/* Indices out of range: read 0, writes ignored. */
	CHECK_EQ(reg_read(&io, 0x03), 0);
	CHECK_EQ(reg_read(&io, 0x0f), 0);
	CHECK_EQ(reg_read(&io, 0x40), 0);
	CHECK_EQ(reg_read(&io, 0xff), 0);
	reg_write(&io, 0x40, 0x12);
	reg_write(&io, 0xff, 0x12);
	for (unsigned pin = 0; pin < IOAPIC_NR_PINS; pin++)
		CHECK(pin == 5 || rte_read(&io, pin) == IOAPIC_RTE_MASKED);
	/* IOWIN is dword-only; other offsets read 0. */
	mmio_write(&io, IOAPIC_IOREGSEL, IOAPIC_REG_ID, 4);
	CHECK_EQ(mmio_read(&io, IOAPIC_IOWIN, 1), 0);
	mmio_write(&io, IOAPIC_IOWIN, 0, 2);
	CHECK_EQ(reg_read(&io, IOAPIC_REG_ID), 0x0f000000);
	CHECK_EQ(mmio_read(&io, 0x20, 4), 0);
	CHECK_EQ(mmio_read(&io, IOAPIC_EOI, 4), 0);
	/* Reset: ID back to the board's, entries masked. */
	ioapic_reset(&io);
	CHECK_EQ(reg_read(&io, IOAPIC_REG_ID), 2u << 24);
	CHECK_EQ(rte_read(&io, 5), IOAPIC_RTE_MASKED);
}

/* 82093AA 3.2.4: edge-triggered entries. */
static void test_edge(void)
{
	struct ioapic io;
	struct rec r;

	setup(&io, &r);
	rte_write(&io, 4, (3ull << 56) | IOAPIC_RTE_DEST_LOGICAL | (1 << 8) | 0x34);
	ioapic_set_irq(&io, 4, true);
	CHECK_EQ(r.n, 1);
	CHECK_EQ(r.msg[0].dest, 3);
	CHECK(r.msg[0].dest_logical);
	CHECK_EQ(r.msg[0].delivery_mode, APIC_DM_LOWEST);
	CHECK_EQ(r.msg[0].vector, 0x34);
	CHECK(!r.msg[0].trigger_level && r.msg[0].level);
	CHECK_EQ(r.msg[0].shorthand, APIC_SH_NONE);
	/* No new edge while held; one per rising edge. */
	ioapic_set_irq(&io, 4, true);
	CHECK_EQ(r.n, 1);
	ioapic_set_irq(&io, 4, false);
	ioapic_set_irq(&io, 4, true);
	CHECK_EQ(r.n, 2);
	CHECK_EQ(rte_read(&io, 4) & (IOAPIC_RTE_REMOTE_IRR | IOAPIC_RTE_DELIVS), 0);
	/* Masked: the edge is lost, not held (Interrupt Mask). */
	ioapic_set_irq(&io, 4, false);
	rte_write(&io, 4, IOAPIC_RTE_MASKED | 0x34);
	ioapic_set_irq(&io, 4, true);
	rte_write(&io, 4, 0x34);
	CHECK_EQ(r.n, 2);
	/* Active low: the falling edge of the input is the assertion. */
	rte_write(&io, 4, IOAPIC_RTE_POLARITY | 0x35);
	ioapic_set_irq(&io, 4, false);
	CHECK_EQ(r.n, 3);
	CHECK_EQ(r.msg[2].vector, 0x35);
	ioapic_set_irq(&io, 4, true);
	CHECK_EQ(r.n, 3);
	/* Pins beyond 23 are ignored. */
	ioapic_set_irq(&io, 24, true);
	ioapic_set_irq(&io, 1000, true);
	CHECK_EQ(r.n, 3);
	/* NMI, INIT, SMI, ExtINT are edge whatever the trigger bit; reserved modes send nothing. */
	rte_write(&io, 6, IOAPIC_RTE_LEVEL | (4 << 8));
	ioapic_set_irq(&io, 6, true);
	CHECK_EQ(r.n, 4);
	CHECK_EQ(r.msg[3].delivery_mode, APIC_DM_NMI);
	CHECK(!r.msg[3].trigger_level);
	CHECK_EQ(rte_read(&io, 6) & IOAPIC_RTE_REMOTE_IRR, 0);
	ioapic_set_irq(&io, 6, true);
	CHECK_EQ(r.n, 4);
	rte_write(&io, 7, 3 << 8);
	ioapic_set_irq(&io, 7, true);
	rte_write(&io, 8, 6 << 8);
	ioapic_set_irq(&io, 8, true);
	CHECK_EQ(r.n, 4);
	rte_write(&io, 9, 7 << 8);
	ioapic_set_irq(&io, 9, true);
	CHECK_EQ(r.msg[4].delivery_mode, APIC_DM_EXTINT);
}

/* 82093AA 3.2.4: level-triggered entries, remote IRR, EOI, re-assertion, unmasking. */
static void test_level(void)
{
	struct ioapic io;
	struct rec r;

	setup(&io, &r);
	rte_write(&io, 10, IOAPIC_RTE_LEVEL | 0x50);
	ioapic_set_irq(&io, 10, true);
	CHECK_EQ(r.n, 1);
	CHECK(r.msg[0].trigger_level);
	CHECK(rte_read(&io, 10) & IOAPIC_RTE_REMOTE_IRR);
	/* In service: re-driving the line sends nothing. */
	ioapic_set_irq(&io, 10, true);
	CHECK_EQ(r.n, 1);
	/* Remote IRR is read-only. */
	rte_write(&io, 10, IOAPIC_RTE_LEVEL | 0x50);
	CHECK(rte_read(&io, 10) & IOAPIC_RTE_REMOTE_IRR);
	/* EOI of another vector: nothing. EOI of this one with the line still high: again. */
	ioapic_eoi(&io, 0x51);
	CHECK_EQ(r.n, 1);
	ioapic_eoi(&io, 0x50);
	CHECK_EQ(r.n, 2);
	CHECK(rte_read(&io, 10) & IOAPIC_RTE_REMOTE_IRR);
	/* Line low at EOI: remote IRR clears, nothing sent. */
	ioapic_set_irq(&io, 10, false);
	ioapic_eoi(&io, 0x50);
	CHECK_EQ(r.n, 2);
	CHECK_EQ(rte_read(&io, 10) & IOAPIC_RTE_REMOTE_IRR, 0);
	/* The EOI register (version 0x20) does the same by vector. */
	ioapic_set_irq(&io, 10, true);
	CHECK_EQ(r.n, 3);
	mmio_write(&io, IOAPIC_EOI, 0x50, 4);
	CHECK_EQ(r.n, 4);
	ioapic_set_irq(&io, 10, false);
	mmio_write(&io, IOAPIC_EOI, 0x50, 4);
	CHECK_EQ(rte_read(&io, 10) & IOAPIC_RTE_REMOTE_IRR, 0);
	/* Masked while asserted: sent on unmask. */
	rte_write(&io, 10, IOAPIC_RTE_MASKED | IOAPIC_RTE_LEVEL | 0x50);
	ioapic_set_irq(&io, 10, true);
	CHECK_EQ(r.n, 4);
	rte_write(&io, 10, IOAPIC_RTE_LEVEL | 0x50);
	CHECK_EQ(r.n, 5);
	/* Switching to edge clears remote IRR. */
	rte_write(&io, 10, 0x50);
	CHECK_EQ(rte_read(&io, 10) & IOAPIC_RTE_REMOTE_IRR, 0);
	/* Nobody accepted: remote IRR stays clear, the next drive tries again. */
	r.accept = 0;
	rte_write(&io, 11, IOAPIC_RTE_LEVEL | 0x60);
	ioapic_set_irq(&io, 11, true);
	CHECK_EQ(rte_read(&io, 11) & IOAPIC_RTE_REMOTE_IRR, 0);
	unsigned n = r.n;
	ioapic_set_irq(&io, 11, true);
	CHECK_EQ(r.n, n + 1);
	r.accept = 1;
	/* Two entries sharing a vector both clear at its EOI. */
	rte_write(&io, 12, IOAPIC_RTE_LEVEL | 0x70);
	rte_write(&io, 13, IOAPIC_RTE_LEVEL | 0x70);
	ioapic_set_irq(&io, 12, true);
	ioapic_set_irq(&io, 13, true);
	ioapic_set_irq(&io, 12, false);
	ioapic_set_irq(&io, 13, false);
	ioapic_eoi(&io, 0x70);
	CHECK_EQ(rte_read(&io, 12) & IOAPIC_RTE_REMOTE_IRR, 0);
	CHECK_EQ(rte_read(&io, 13) & IOAPIC_RTE_REMOTE_IRR, 0);
	/* Active-low level: asserted while the input is low. */
	n = r.n;
	rte_write(&io, 14, IOAPIC_RTE_POLARITY | IOAPIC_RTE_LEVEL | 0x80);
	CHECK_EQ(r.n, n + 1); /* the idle (low) input is asserted for an active-low entry */
	ioapic_set_irq(&io, 14, true);
	ioapic_eoi(&io, 0x80);
	CHECK_EQ(r.n, n + 1);
	CHECK_EQ(rte_read(&io, 14) & IOAPIC_RTE_REMOTE_IRR, 0);
}

int main(void)
{
	test_registers();
	test_edge();
	test_level();
	return check_done("test_ioapic");
}
