/* SPDX-License-Identifier: MIT */
/*
 * The chipset's CPU-reset and fast-A20 registers (Intel ICH datasheets, LPC interface: "PORT92
 * - Init Register" and "RST_CNT - Reset Control Register"; the PIIX3/PIIX4 RC register is the
 * same at 0xcf9):
 * - port 0x92, System Control Port A: bit 1 ALT_A20_GATE, bit 0 INIT_NOW (a 0->1 transition
 *   asserts INIT#, the PS/2 "fast reset");
 * - port 0xcf9, Reset Control: bit 2 RST_CPU (a 0->1 transition resets), bit 1 SYS_RST (1: a
 *   hard reset, PLTRST#; 0: a soft reset, INIT#), bit 3 FULL_RST (a power cycle, also hard).
 * They live apart from the i8042, whose output port has its own reset and A20 lines, and from the
 * ACPI PM block, whose FADT RESET_REG merely points at 0xcf9: both are registers of the LPC bridge,
 * and the board ORs the A20 sources (a PC's A20M# follows port 0x92 bit 1 OR the 8042's).
 *
 * Wiring (board): reset_port92_access at port 0x92 and reset_cf9_access at port 0xcf9, one byte
 * each (0xcf8 as a dword is PCI CONFIG_ADDRESS; only byte accesses to 0xcf9 belong here).
 */
#pragma once
#include "common.h"

#define RESET_PORT92 0x92
#define RESET_CF9    0xcf9

enum reset_kind {
	RESET_INIT, /* INIT#: the CPUs restart, memory and devices keep their state */
	RESET_HARD, /* PLTRST#: the whole platform resets */
};

struct reset_host {
	void (*reset)(void *opaque, enum reset_kind kind);
	void (*a20)(void *opaque, bool enabled); /* port 0x92 bit 1 changed */
	void *opaque;
};

struct reset_ctl {
	struct reset_host host;
	u8 port92, rst_cnt;
};

void reset_ctl_init(struct reset_ctl *r, const struct reset_host *host);
/* Both registers 00h (ICH defaults): ALT_A20_GATE off. */
void reset_ctl_reset(struct reset_ctl *r);
void reset_port92_access(void *opaque, u64 offset, u64 *data, unsigned len, bool is_write);
void reset_cf9_access(void *opaque, u64 offset, u64 *data, unsigned len, bool is_write);
/* Port 0x92 bit 1. */
bool reset_ctl_a20(const struct reset_ctl *r);
