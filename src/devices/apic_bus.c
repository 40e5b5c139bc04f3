// SPDX-License-Identifier: MIT
/* The APIC bus and MSI decoding (devices/apic_bus.h, devices/apic.h). */
#include <errno.h>

#include "devices/apic_bus.h"

int apic_msi_decode(u64 addr, u32 data, struct apic_msg *msg)
{
	unsigned dm = (data >> MSI_DATA_DM_SHIFT) & 7;

	/* SDM 11.11.1: the address's bits 31:20 are 0xfee (and above them nothing: the range is
	   below 4 GiB). */
	if ((addr & ~(u64)~MSI_ADDR_BASE_MASK) != MSI_ADDR_BASE)
		return -EINVAL;
	/* SDM 11.11.2: delivery modes 011 and 110 are reserved. */
	if (dm == APIC_DM_RESERVED || dm == APIC_DM_STARTUP)
		return -EINVAL;
	*msg = (struct apic_msg){
		.dest = (addr >> MSI_ADDR_DEST_SHIFT) & 0xff,
		.vector = data & 0xff,
		.delivery_mode = (u8)dm,
		.shorthand = APIC_SH_NONE,
		.dest_logical = addr & MSI_ADDR_DM,
		.trigger_level = data & MSI_DATA_TRIGGER,
		.redir_hint = addr & MSI_ADDR_RH,
	};
	/* SDM 11.11.2: the level bit matters only for level-triggered messages. */
	msg->level = msg->trigger_level ? (data & MSI_DATA_LEVEL) : true;
	return 0;
}

void apic_bus_init(struct apic_bus *b, struct lapic **lapics, unsigned n)
{
	*b = (struct apic_bus){ .lapics = lapics, .n = n };
}

static bool selected(const struct lapic *l, const struct apic_msg *m, const struct lapic *from)
{
	if (!lapic_hw_enabled(l))
		return false;
	switch (m->shorthand) {
	case APIC_SH_SELF:
		return l == from;
	case APIC_SH_ALL_INCL_SELF:
		return true;
	case APIC_SH_ALL_EXCL_SELF:
		return l != from;
	default:
		return lapic_match_dest(l, m);
	}
}

/*
 * Lowest priority (SDM 11.6.2.4): among the selected LAPICs that can take a fixed interrupt
 * (software-enabled), the focus processor for the vector if there is one, else the one with the
 * lowest arbitration priority (APR). The SDM leaves ties to the bus arbitration (the rotating
 * arbitration ID of SDM 11.7 on the P6 bus, the chipset since); here a tie goes to the LAPIC that
 * won longest ago, which rotates among equals as the P6 arbitration does.
 */
static struct lapic *lowest_priority(struct apic_bus *b, const struct apic_msg *m,
				     const struct lapic *from)
{
	struct lapic *best = NULL;
	u8 best_apr = 0;

	for (unsigned i = 0; i < b->n; i++) {
		struct lapic *l = b->lapics[i];
		u8 apr;

		if (!selected(l, m, from) || !lapic_sw_enabled(l))
			continue;
		if (lapic_is_focus(l, m->vector))
			return l;
		apr = lapic_apr(l);
		if (!best || apr < best_apr || (apr == best_apr && l->lp_last < best->lp_last)) {
			best = l;
			best_apr = apr;
		}
	}
	return best;
}

unsigned apic_bus_deliver(struct apic_bus *b, const struct apic_msg *m, const struct lapic *from)
{
	unsigned accepted = 0;

	if (m->delivery_mode == APIC_DM_LOWEST ||
	    (m->redir_hint && m->delivery_mode == APIC_DM_FIXED)) {
		struct lapic *l = lowest_priority(b, m, from);

		if (!l)
			return 0;
		l->lp_last = ++b->lp_seq;
		return lapic_accept(l, m);
	}
	for (unsigned i = 0; i < b->n; i++)
		if (selected(b->lapics[i], m, from))
			accepted += lapic_accept(b->lapics[i], m);
	return accepted;
}
