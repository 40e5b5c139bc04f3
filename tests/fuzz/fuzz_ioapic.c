// SPDX-License-Identifier: MIT
/*
 * The I/O APIC (src/devices/ioapic.c) under the device harness (device.h): IOREGSEL, IOWIN and
 * EOI in its 4 KiB page, with events in between: argument byte 0 bit 7 clear: pin (bits 4:0,
 * modulo 24) goes to level bit 5; set: an EOI for vector byte 1 arrives from a LAPIC. The LAPICs
 * accept every message. Beyond the harness's checks, asserted: a message the IOAPIC sends has a
 * delivery mode that is not reserved (82093AA 3.2.4: 011 and 110 send nothing), no shorthand,
 * an 8-bit destination, and level-trigger semantics only for fixed and lowest-priority delivery.
 */
#include "devices/ioapic.h"
#include "device.h"

static unsigned ioapic_fuzz_deliver(void *opaque, const struct apic_msg *msg)
{
	FUZZ_ASSERT(msg->delivery_mode != APIC_DM_RESERVED &&
			    msg->delivery_mode != APIC_DM_STARTUP && msg->delivery_mode <= 7 &&
			    msg->shorthand == APIC_SH_NONE && msg->dest <= 0xff &&
			    !msg->x2apic_dest &&
			    (!msg->trigger_level || msg->delivery_mode == APIC_DM_FIXED ||
			     msg->delivery_mode == APIC_DM_LOWEST),
		    "message with delivery mode %u, shorthand %u, destination %#x, level %d",
		    msg->delivery_mode, msg->shorthand, msg->dest, msg->trigger_level);
	return 1;
}

static void *ioapic_fuzz_create(void)
{
	struct ioapic *io = calloc(1, sizeof(*io));
	const struct ioapic_host host = { .deliver = ioapic_fuzz_deliver };

	if (!io || ioapic_init(io, 0, &host))
		abort();
	return io;
}

static void ioapic_fuzz_event(void *dev, const u8 *arg, size_t n)
{
	struct ioapic *io = dev;

	if (!n)
		return;
	if (arg[0] & 0x80)
		ioapic_eoi(io, n > 1 ? arg[1] : 0);
	else
		ioapic_set_irq(io, (arg[0] & 0x1f) % IOAPIC_NR_PINS, arg[0] & 0x20);
}

static const struct fuzz_device ioapic_device = {
	.ranges = { { IOAPIC_MMIO_SIZE, ioapic_access } },
	.create = ioapic_fuzz_create,
	.destroy = free,
	.event = ioapic_fuzz_event,
};

FUZZ_DEVICE_TARGET(ioapic_device)
