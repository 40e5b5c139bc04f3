/* SPDX-License-Identifier: MIT */
/*
 * High Precision Event Timer block (IA-PC HPET Specification 1.0a) at 0xfed00000, 4 KiB: a
 * 64-bit main counter at 100 MHz (period 10 ns) and three timers, each 64-bit capable,
 * periodic capable, routable to I/O APIC inputs 2, 8 and 16-23 (QEMU's q35 capability) and able
 * to take the LegacyReplacement route; no FSB (MSI) delivery.
 *
 * The main counter is computed from guest time while ENABLE_CNF is set; each timer arms a guest
 * timer at its next comparator match that an interrupt or status bit would show.
 *
 * Interrupts. `irq[n]` is I/O APIC input n (route n; the board wires those in HPET_ROUTE_CAP).
 * The LegacyReplacement route (ENABLE_CNF and LEG_RT_CNF set) sends timer 0 to IRQ0 (8259 IRQ0,
 * I/O APIC pin 2) and timer 1 to IRQ8 and cuts the 8254 and the RTC off (spec 2.3.5; ICH
 * "Legacy Replacement Routing"). So the PIT's and the RTC's interrupts pass through here as on
 * a PC: the board wires the PIT's OUT0 line and the RTC's IRQ8 line to hpet_set_legacy_input
 * (pins HPET_IN_PIT and HPET_IN_RTC) and `isa_irq0`/`isa_irq8` to ISA IRQ0 and IRQ8; outside
 * legacy mode they carry the PIT's and RTC's levels unchanged.
 *
 * Wire every line before hpet_init (init keeps the wiring).
 */
#pragma once
#include "common.h"
#include "devices/irq.h"
#include "devices/timer.h"

#define HPET_BASE      0xfed00000
#define HPET_SIZE      0x1000
#define HPET_NR_TIMERS 3
#define HPET_NR_ROUTES 32
#define HPET_PERIOD_FS 10000000ull /* 10 ns */
#define HPET_ROUTE_CAP 0x00ff0104u /* I/O APIC inputs 2, 8, 16-23 */
#define HPET_IN_PIT    0	   /* hpet_set_legacy_input pins: ISA IRQ numbers */
#define HPET_IN_RTC    8

struct hpet_timer {
	u64 config; /* Tn_CONF_CAP as it reads */
	u64 cmp;    /* comparator: in periodic mode the accumulator */
	u64 period; /* periodic mode: the last value written, added at each match */
	u64 from;   /* the first counter tick (since hpet.start_ns) not yet compared */
};

struct hpet {
	struct timer_queue *q;
	struct timer timer[HPET_NR_TIMERS];
	struct irq_line irq[HPET_NR_ROUTES];
	struct irq_line isa_irq0, isa_irq8;
	u64 config;   /* GEN_CONF: ENABLE_CNF, LEG_RT_CNF */
	u64 isr;      /* GINTR_STA */
	u64 counter;  /* main counter at start_ns (while halted: its value) */
	u64 start_ns; /* guest ns at which the counter last started */
	bool pit_in, rtc_in;
	struct hpet_timer t[HPET_NR_TIMERS];
};

void hpet_init(struct hpet *h, struct timer_queue *q);
/* Power-on / PLTRST#: counter halted at 0, no legacy route, status clear; each timer one-shot,
   edge, disabled, 64-bit, route 0, comparator all ones (ICH TIMn_COMP default). */
void hpet_reset(struct hpet *h);
/* The 4 KiB MMIO block. Registers take 32-bit accesses at 4-aligned offsets and 64-bit ones at
   8-aligned offsets (spec 2.3); any other access is a master abort: reads all ones, writes lost.
   Reserved registers read 0 and ignore writes. */
void hpet_access(void *opaque, u64 offset, u64 *data, unsigned len, bool is_write);
/* irq_set_fn: the PIT's OUT0 (pin HPET_IN_PIT) and the RTC's IRQ8 (pin HPET_IN_RTC). */
void hpet_set_legacy_input(void *opaque, unsigned pin, bool level);
