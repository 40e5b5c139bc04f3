/* SPDX-License-Identifier: MIT */
/*
 * I/O APIC (Intel 82093AA datasheet; the version-0x20 EOI register of the ICH's I/O APIC): 24
 * interrupt pins, each with a 64-bit redirection entry that turns its input into an APIC bus
 * message (devices/apic.h) the board routes (devices/apic_bus.h).
 *
 * MMIO at IOAPIC_DEFAULT_BASE: IOREGSEL at +0x00 selects an indirect register, IOWIN at +0x10
 * reads or writes it, EOI at +0x40 clears remote IRR by vector. Indirect registers: 0x00 ID,
 * 0x01 version, 0x02 arbitration ID, 0x10 + 2n / 0x11 + 2n the low / high half of entry n.
 *
 * Version 0x20, as QEMU's IOAPIC: its EOI register is what a guest needs once it turns on the
 * LAPIC's EOI-broadcast suppression (which lapic.h advertises): Linux then ends level-triggered
 * interrupts at the IOAPIC by vector, and does so only on versions >= 0x20 (KVM's in-kernel IOAPIC
 * says 0x11 but accepts the EOI register write anyway).
 */
#pragma once
#include "common.h"
#include "devices/apic.h"

#define IOAPIC_DEFAULT_BASE 0xfec00000ull
#define IOAPIC_MMIO_SIZE    0x1000
#define IOAPIC_NR_PINS      24
#define IOAPIC_VERSION      0x20

/* MMIO offsets */
#define IOAPIC_IOREGSEL 0x00
#define IOAPIC_IOWIN    0x10
#define IOAPIC_EOI      0x40

/* Indirect registers (82093AA 3.1, 3.2) */
#define IOAPIC_REG_ID    0x00
#define IOAPIC_REG_VER   0x01
#define IOAPIC_REG_ARB   0x02
#define IOAPIC_REG_REDTBL 0x10

/* Redirection entry (82093AA 3.2.4) */
#define IOAPIC_RTE_VECTOR      0xffull
#define IOAPIC_RTE_DM_SHIFT    8
#define IOAPIC_RTE_DEST_LOGICAL BIT(11)
#define IOAPIC_RTE_DELIVS      BIT(12)
#define IOAPIC_RTE_POLARITY    BIT(13) /* 1: active low */
#define IOAPIC_RTE_REMOTE_IRR  BIT(14)
#define IOAPIC_RTE_LEVEL       BIT(15)
#define IOAPIC_RTE_MASKED      BIT(16)
#define IOAPIC_RTE_DEST_SHIFT  56

struct ioapic_host {
	/* Put a message on the APIC bus; returns how many LAPICs accepted it (apic_bus_deliver()). */
	unsigned (*deliver)(void *opaque, const struct apic_msg *msg);
	void *opaque;
};

struct ioapic {
	u64 redir[IOAPIC_NR_PINS];
	u32 pins;    /* input levels as driven (before polarity), one bit per pin */
	u8 ioregsel;
	u8 id;       /* bits 27:24 of the ID register */
	u8 reset_id; /* the ID the board gave (the MADT's), loaded at reset */
	struct ioapic_host host;
};

/* 0, or -EINVAL for an ID above 15 (the register has 4 bits). Then ioapic_reset(). */
int ioapic_init(struct ioapic *io, u8 id, const struct ioapic_host *host);
/* Every entry masked, the rest 0 (82093AA 3.2.4: mask set by reset); ID as at init. */
void ioapic_reset(struct ioapic *io);
/* The MMIO access function (devices/bus.h), offset from the base. */
void ioapic_access(void *opaque, u64 offset, u64 *data, unsigned len, bool is_write);
/* An input pin (irq_set_fn shape): `level` is the pin's electrical level; an entry programmed
   active-low sees it inverted. Pins >= 24 are ignored. */
void ioapic_set_irq(void *opaque, unsigned pin, bool level);
/* The EOI message of a level-triggered vector from a LAPIC (lapic_host.eoi), or an EOI register
   write: every level entry with that vector and remote IRR set clears it, and a pin still
   asserted is delivered again. */
void ioapic_eoi(struct ioapic *io, u8 vector);
