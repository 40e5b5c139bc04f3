/* SPDX-License-Identifier: MIT */
/*
 * The APIC bus: a message (devices/apic.h) from an ICR, an IOAPIC or an MSI to the local APICs
 * its shorthand or destination selects (SDM 11.6.2), over the board's array of LAPICs. Lowest
 * priority delivery (and an MSI's redirection hint) picks one of them (SDM 11.6.2.4).
 *
 * The board calls apic_bus_deliver() from its lapic_host.send (with the sender), from the IOAPIC's
 * delivery callback and for MSI writes (apic_msi_decode() first), with the device lock held.
 */
#pragma once
#include "common.h"
#include "devices/apic.h"
#include "devices/lapic.h"

struct apic_bus {
	struct lapic **lapics; /* the board's, one per vCPU */
	unsigned n;
	u64 lp_seq; /* lowest-priority arbitrations so far (the tie-break's clock) */
};

void apic_bus_init(struct apic_bus *b, struct lapic **lapics, unsigned n);
/* Deliver `msg` (`from`: the sending LAPIC, NULL for an IOAPIC or MSI). Returns how many LAPICs
   accepted it: 0 when nobody is selected or accepts (the message is lost, as on hardware; SDM
   11.5.3 defines no send-accept error since the xAPIC). */
unsigned apic_bus_deliver(struct apic_bus *b, const struct apic_msg *msg, const struct lapic *from);
