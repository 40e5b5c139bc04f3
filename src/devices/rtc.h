/* SPDX-License-Identifier: MIT */
/*
 * Motorola MC146818A real-time clock and CMOS RAM as a PC has it (MC146818A datasheet; Intel ICH
 * datasheets for the PC's 128-byte bank): port 0x70 selects a byte (bits 6:0) and holds the NMI
 * mask (bit 7, write-only), port 0x71 reads and writes it. Bytes 0x00-0x09 are time, alarm and
 * calendar, 0x0a-0x0d registers A-D, 0x0e-0x7f battery-backed RAM; IRQ8 is the chip's IRQ# pin.
 *
 * The clock runs on guest time from a wall-clock value given at init (deterministic tests, and
 * a --tsc virtual run sees the same dates every time). A 32.768 kHz time base drives the divider
 * chain: once the divider leaves reset (at init, or when register A's DV bits return to 010) the
 * first update cycle starts 500 ms later and one starts every second after; periodic interrupts
 * are taps of the same chain. Everything is computed from guest time when looked at; a timer is
 * armed only for an enabled interrupt.
 *
 * Wiring (board): rtc_access for ports 0x70-0x71 (RTC_BASE, RTC_NR_PORTS); wire `irq` to ISA
 * IRQ8 before rtc_init (init keeps it). The NMI mask is rtc_nmi_masked().
 */
#pragma once
#include "common.h"
#include "devices/irq.h"
#include "devices/timer.h"

#define RTC_BASE      0x70
#define RTC_NR_PORTS  2
#define RTC_IRQ	      8
#define RTC_CMOS_SIZE 128
/* The century byte (IBM PC convention; ACPI FADT CENTURY points here), BCD or binary per DM. */
#define RTC_CENTURY 0x32

struct rtc {
	struct timer_queue *q;
	struct timer timer;	/* the next update, alarm or periodic interrupt that is enabled */
	struct irq_line irq;	/* IRQ8: high while register C's IRQF is set */
	u8 cmos[RTC_CMOS_SIZE]; /* as the chip holds them; A's UIP and C are computed */
	u8 index;
	bool nmi_masked;
	u8 flags;	/* register C's PF, AF, UF since it was last read */
	u64 div_origin; /* guest ns at which the divider chain last left reset */
	u64 synced;	/* 32.768 kHz ticks since div_origin already applied to time and flags */
	u64 skip_end;	/* the end tick of an update cycle SET cancelled (0: none) */
};

/*
 * Power-on: time and date from `unix_time` (seconds since 1970-01-01 00:00 UTC), 24-hour BCD
 * (register B = 02h), register A = 26h (32.768 kHz, 1024 Hz periodic rate, as a PC BIOS leaves
 * it), register D's VRT set; the RAM is zero except the century and what a BIOS stores about
 * memory (as QEMU's pc_cmos_init): 0x15/0x16 base memory in KiB (640), 0x17/0x18 and 0x30/0x31
 * KiB above 1 MiB (at most 65535), 0x34/0x35 64 KiB units between 16 MiB and 4 GiB, 0x5b-0x5d
 * 64 KiB units above 4 GiB. `ram_below_4g` and `ram_above_4g` are the RAM the board maps there.
 */
void rtc_init(struct rtc *r, struct timer_queue *q, s64 unix_time, u64 ram_below_4g,
	      u64 ram_above_4g);
/* The RESET pin (datasheet "RESET"): PIE, AIE, UIE, SQWE and register C clear, IRQ8 drops; time,
   calendar, RAM and register A are battery-backed and unaffected. */
void rtc_reset(struct rtc *r);
/* Ports 0x70 (index, write-only: reads float) and 0x71 (data); a wider access touches
   consecutive ports (outw 0x70 writes the index, then the byte). */
void rtc_access(void *opaque, u64 offset, u64 *data, unsigned len, bool is_write);
/* Port 0x70 bit 7 as last written: NMIs are masked while it is set. */
bool rtc_nmi_masked(const struct rtc *r);
