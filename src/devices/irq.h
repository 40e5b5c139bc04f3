/* SPDX-License-Identifier: MIT */
/*
 * An interrupt line: the wire between a device's interrupt output and an interrupt controller's
 * input (TinyEMU's IRQSignal, kvmtool's kvm__irq_line). A device holds one and drives its level;
 * the board (vmm/board.c) wired it, at VM creation, to whatever listens: a PIC pin, an IOAPIC pin,
 * both (ISA IRQs reach the 8259A and the IOAPIC, as on a PC), or nothing. Devices never learn who
 * listens, and a line nobody wired is silently ignored.
 *
 * Level-triggered devices (the 16550's INTRPT, an IOAPIC level pin) hold the line at the level of
 * their condition; edge-triggered sources (the 8254's OUT0 into IRQ0) raise it and lower it again,
 * and the controller sees the rising edge (8259A datasheet, "Edge triggered mode"; 82093AA 3.2.4).
 *
 * Threading: a line is driven with the VM's device lock held (vmm/vm.h); `set` runs under it.
 */
#pragma once
#include "common.h"

/* The listener's input: `pin` is the number the board gave this line at wiring. */
typedef void (*irq_set_fn)(void *opaque, unsigned pin, bool level);

struct irq_line {
	irq_set_fn set; /* NULL: not wired */
	void *opaque;
	unsigned pin;
	bool level; /* the level last driven */
};

static inline void irq_line_wire(struct irq_line *l, irq_set_fn set, void *opaque, unsigned pin)
{
	*l = (struct irq_line){ .set = set, .opaque = opaque, .pin = pin };
}

/* Drive the line; the listener hears every call, also one that repeats the level (a level
   re-assertion matters to an IOAPIC pin whose remote IRR was just cleared, 82093AA 3.2.4). */
static inline void irq_set_level(struct irq_line *l, bool level)
{
	l->level = level;
	if (l->set)
		l->set(l->opaque, l->pin, level);
}

static inline void irq_raise(struct irq_line *l)
{
	irq_set_level(l, true);
}

static inline void irq_lower(struct irq_line *l)
{
	irq_set_level(l, false);
}

/* An edge: raise, then lower. */
static inline void irq_pulse(struct irq_line *l)
{
	irq_set_level(l, true);
	irq_set_level(l, false);
}
