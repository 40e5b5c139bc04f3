/* SPDX-License-Identifier: MIT */
/*
 * The interrupt message of the APIC bus (Intel SDM vol. 3A 11.6, 11.11): what a local APIC's ICR,
 * an IOAPIC redirection entry and an MSI address/data pair all put on the wire, and what a local
 * APIC accepts (lapic_accept()). Every sender builds one; the board routes it (devices/apic_bus.h)
 * to the local APICs its destination selects.
 *
 * A destination comes in one of two formats: the 8-bit one of an xAPIC ICR, an IOAPIC entry or an
 * MSI address (xAPIC ID, or logical MDA for flat/cluster models; 0xff broadcasts, SDM 11.6.2.1 and
 * 11.6.2.2), or the 32-bit one of an x2APIC ICR (0xffffffff broadcasts, SDM 11.12.9). Receivers
 * interpret both (lapic_match_dest()).
 */
#pragma once
#include "common.h"

/* Delivery modes (SDM 11.6.1, ICR bits 10:8; the same encoding in LVT entries, IOAPIC redirection
   entries and MSI data). 3 is reserved everywhere; 6 (StartUp) exists only in the ICR; 7 (ExtINT)
   only in LVTs, IOAPIC entries and MSI data. */
enum apic_delivery_mode {
	APIC_DM_FIXED = 0,
	APIC_DM_LOWEST = 1,
	APIC_DM_SMI = 2,
	APIC_DM_RESERVED = 3,
	APIC_DM_NMI = 4,
	APIC_DM_INIT = 5,
	APIC_DM_STARTUP = 6,
	APIC_DM_EXTINT = 7,
};

/* Destination shorthands (SDM 11.6.1, ICR bits 19:18); messages from IOAPICs and MSIs have none. */
enum apic_shorthand {
	APIC_SH_NONE = 0,
	APIC_SH_SELF = 1,
	APIC_SH_ALL_INCL_SELF = 2,
	APIC_SH_ALL_EXCL_SELF = 3,
};

#define APIC_BROADCAST_XAPIC  0xffu
#define APIC_BROADCAST_X2APIC 0xffffffffu

struct apic_msg {
	u32 dest;          /* 8-bit (xAPIC format) or 32-bit (x2apic_dest) destination */
	u8 vector;
	u8 delivery_mode;  /* enum apic_delivery_mode */
	u8 shorthand;      /* enum apic_shorthand */
	bool dest_logical; /* destination mode: 0 physical, 1 logical */
	bool level;        /* level: 1 assert, 0 de-assert (only INIT level de-assert sends 0) */
	bool trigger_level; /* trigger mode: 0 edge, 1 level */
	bool redir_hint;   /* MSI address RH (SDM 11.11.1): deliver to the lowest-priority target */
	bool x2apic_dest;  /* `dest` is in the 32-bit x2APIC format (an x2APIC ICR) */
};

/* MSI address (SDM 11.11.1): bits 31:20 0xfee, 19:12 destination ID, 3 RH, 2 DM. */
#define MSI_ADDR_BASE_MASK  0xfff00000u
#define MSI_ADDR_BASE       0xfee00000u
#define MSI_ADDR_DEST_SHIFT 12
#define MSI_ADDR_RH         BIT(3)
#define MSI_ADDR_DM         BIT(2)
/* MSI data (SDM 11.11.2): bits 7:0 vector, 10:8 delivery mode, 14 level, 15 trigger mode. */
#define MSI_DATA_DM_SHIFT 8
#define MSI_DATA_LEVEL    BIT(14)
#define MSI_DATA_TRIGGER  BIT(15)

/*
 * Decode an MSI write (address, data) into a message (SDM 11.11). Returns 0, or -EINVAL when the
 * pair is no interrupt message the SDM defines: an address outside 0xfee00000-0xfeefffff, or a
 * delivery mode SDM 11.11.2 lists as reserved (011, and 110: no StartUp by MSI). The caller drops
 * such a write (the platform's answer: nobody accepts it).
 * Address bits 11:4 and 1:0 and data bits 13:11 and 31:16 are reserved and ignored; in edge mode
 * the level bit is ignored (SDM 11.11.2), so an edge message is always an assertion.
 */
int apic_msi_decode(u64 addr, u32 data, struct apic_msg *msg);
