// SPDX-License-Identifier: MIT
/* I/O APIC (Intel 82093AA datasheet); see devices/ioapic.h for the contract. */
#include <errno.h>
#include <string.h>

#include "devices/ioapic.h"

/* Bits software may set in an entry (82093AA 3.2.4): vector, delivery mode, destination mode,
   polarity, trigger mode, mask, destination. Delivery status and remote IRR are read-only; bits
   55:17 are reserved. */
#define RTE_WRITABLE (IOAPIC_RTE_VECTOR | (7ull << IOAPIC_RTE_DM_SHIFT) | IOAPIC_RTE_DEST_LOGICAL | \
		      IOAPIC_RTE_POLARITY | IOAPIC_RTE_LEVEL | IOAPIC_RTE_MASKED |                \
		      (0xffull << IOAPIC_RTE_DEST_SHIFT))

static unsigned rte_dm(u64 e)
{
	return (e >> IOAPIC_RTE_DM_SHIFT) & 7;
}

/* The pin as the entry sees it: the input, inverted for an active-low entry (82093AA 3.2.4,
   "Interrupt Input Pin Polarity"). */
static bool pin_asserted(const struct ioapic *io, unsigned pin)
{
	return !!(io->pins & (1u << pin)) ^ !!(io->redir[pin] & IOAPIC_RTE_POLARITY);
}

/* Level semantics (remote IRR) apply to fixed and lowest-priority entries: the datasheet has SMI,
   NMI, INIT and ExtINT programmed edge-triggered (82093AA 3.2.4, "Delivery Mode"), and this model
   treats them as edge whatever the trigger bit says. */
static bool rte_level(u64 e)
{
	return (e & IOAPIC_RTE_LEVEL) &&
	       (rte_dm(e) == APIC_DM_FIXED || rte_dm(e) == APIC_DM_LOWEST);
}

/* Send the pin's message if the entry lets it: unmasked, asserted, and for level entries no
   interrupt still in service (remote IRR clear). The remote IRR is set when a LAPIC accepted the
   message ("when the local APIC(s) accept the level interrupt", 82093AA 3.2.4). */
static void ioapic_service(struct ioapic *io, unsigned pin)
{
	u64 e = io->redir[pin];
	unsigned dm = rte_dm(e);
	struct apic_msg m = {
		.dest = (u32)(e >> IOAPIC_RTE_DEST_SHIFT),
		.vector = e & IOAPIC_RTE_VECTOR,
		.delivery_mode = (u8)dm,
		.shorthand = APIC_SH_NONE,
		.dest_logical = e & IOAPIC_RTE_DEST_LOGICAL,
		.level = true,
		.trigger_level = rte_level(e),
	};

	if ((e & IOAPIC_RTE_MASKED) || !pin_asserted(io, pin))
		return;
	/* Delivery modes 011 and 110 are reserved (82093AA 3.2.4): nothing is sent. */
	if (dm == APIC_DM_RESERVED || dm == APIC_DM_STARTUP)
		return;
	if (m.trigger_level && (e & IOAPIC_RTE_REMOTE_IRR))
		return;
	if (io->host.deliver && io->host.deliver(io->host.opaque, &m) && m.trigger_level)
		io->redir[pin] |= IOAPIC_RTE_REMOTE_IRR;
}

void ioapic_set_irq(void *opaque, unsigned pin, bool level)
{
	struct ioapic *io = opaque;
	bool was;

	if (pin >= IOAPIC_NR_PINS)
		return;
	was = pin_asserted(io, pin);
	io->pins = level ? io->pins | (1u << pin) : io->pins & ~(1u << pin);
	/* Edge entries send on the assertion edge; one masked then is lost (82093AA 3.2.4, "Interrupt
	   Mask"). Level entries send while asserted, each time the input is driven, once the
	   previous one's EOI cleared remote IRR. */
	if (rte_level(io->redir[pin]) || !was)
		ioapic_service(io, pin);
}

void ioapic_eoi(struct ioapic *io, u8 vector)
{
	for (unsigned pin = 0; pin < IOAPIC_NR_PINS; pin++) {
		u64 e = io->redir[pin];

		if ((e & IOAPIC_RTE_VECTOR) != vector || !(e & IOAPIC_RTE_REMOTE_IRR))
			continue;
		io->redir[pin] = e & ~IOAPIC_RTE_REMOTE_IRR;
		if (rte_level(e))
			ioapic_service(io, pin);
	}
}

static void redir_write(struct ioapic *io, unsigned pin, bool high, u32 val)
{
	u64 e = io->redir[pin], w;

	w = high ? (e & 0xffffffffull) | ((u64)val << 32) : (e & ~0xffffffffull) | val;
	e = (w & RTE_WRITABLE) | (e & (IOAPIC_RTE_DELIVS | IOAPIC_RTE_REMOTE_IRR));
	/* Remote IRR "is undefined for edge-triggered interrupts" (82093AA 3.2.4): cleared. */
	if (!rte_level(e))
		e &= ~IOAPIC_RTE_REMOTE_IRR;
	io->redir[pin] = e;
	/* A level interrupt asserted while the entry was masked is sent once unmasked. */
	if (rte_level(e))
		ioapic_service(io, pin);
}

static u32 iowin_read(const struct ioapic *io)
{
	unsigned sel = io->ioregsel, pin = (sel - IOAPIC_REG_REDTBL) / 2;

	switch (sel) {
	case IOAPIC_REG_ID:
		return (u32)io->id << 24;
	case IOAPIC_REG_VER:
		/* 82093AA 3.2.2: version 7:0, maximum redirection entry 23:16 (pins - 1). */
		return IOAPIC_VERSION | ((IOAPIC_NR_PINS - 1) << 16);
	case IOAPIC_REG_ARB:
		/* 82093AA 3.2.3: the arbitration ID, loaded from the ID register (as QEMU). */
		return (u32)io->id << 24;
	default:
		/* Indices the datasheet does not define read 0, as QEMU's IOAPIC. */
		if (sel < IOAPIC_REG_REDTBL || pin >= IOAPIC_NR_PINS)
			return 0;
		return (u32)(io->redir[pin] >> ((sel & 1) * 32));
	}
}

static void iowin_write(struct ioapic *io, u32 val)
{
	unsigned sel = io->ioregsel, pin = (sel - IOAPIC_REG_REDTBL) / 2;

	if (sel == IOAPIC_REG_ID) {
		io->id = (val >> 24) & 0xf; /* 82093AA 3.2.1: bits 27:24 */
		return;
	}
	/* Version and arbitration are read-only; undefined indices ignore writes. */
	if (sel < IOAPIC_REG_REDTBL || pin >= IOAPIC_NR_PINS)
		return;
	redir_write(io, pin, sel & 1, val);
}

/*
 * IOREGSEL (bits 7:0 the index, 31:8 reserved) takes any access within its dword; IOWIN only
 * aligned 32-bit accesses (82093AA 3.0: the registers are accessed as dwords; other sizes read 0
 * and are ignored, as QEMU); the EOI register is write-only. Other offsets of the page read 0.
 */
void ioapic_access(void *opaque, u64 offset, u64 *data, unsigned len, bool is_write)
{
	struct ioapic *io = opaque;

	if (offset < IOAPIC_IOREGSEL + 4) {
		if (is_write) {
			if (offset == IOAPIC_IOREGSEL)
				io->ioregsel = (u8)*data;
		} else {
			*data = offset == IOAPIC_IOREGSEL ? io->ioregsel : 0;
		}
		return;
	}
	if (offset == IOAPIC_IOWIN && len == 4) {
		if (is_write)
			iowin_write(io, (u32)*data);
		else
			*data = iowin_read(io);
		return;
	}
	if (offset == IOAPIC_EOI && is_write && len == 4) {
		ioapic_eoi(io, (u8)*data);
		return;
	}
	if (!is_write)
		*data = 0;
}

void ioapic_reset(struct ioapic *io)
{
	for (unsigned i = 0; i < IOAPIC_NR_PINS; i++)
		io->redir[i] = IOAPIC_RTE_MASKED;
	io->ioregsel = 0;
	io->id = io->reset_id;
}

int ioapic_init(struct ioapic *io, u8 id, const struct ioapic_host *host)
{
	if (id > 0xf)
		return -EINVAL;
	memset(io, 0, sizeof(*io));
	io->reset_id = id;
	io->host = *host;
	ioapic_reset(io);
	return 0;
}
