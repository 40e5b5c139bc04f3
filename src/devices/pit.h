/* SPDX-License-Identifier: MIT */
/*
 * Intel 8254 programmable interval timer as a PC wires it (Intel 82C54 datasheet, order 231244):
 * counters 0-2 at ports 0x40-0x42, the control word register at 0x43, 1.193182 MHz on every CLK
 * input (the 14.31818 MHz crystal divided by 12). GATE0 and GATE1 are tied high; GATE2 is
 * port 0x61 bit 0. OUT0 drives IRQ0; OUT2 is readable at port 0x61 bit 5 (and, ANDed with bit 1,
 * drives the speaker). Port 0x61, the PC's System Control Port B (NMI_SC in the Intel ICH
 * datasheets), lives here because its timer bits are the 8254's.
 *
 * Counting is computed from guest time, never ticked: each counter holds the CLK pulse at which
 * its counting element (CE) was last loaded and derives the count and OUT at any later CLK from
 * the mode. A timer is armed at each OUT0 transition so that IRQ0 sees the edges the mode makes.
 * CLK pulses are numbered from guest time 0: pulse k falls at the first guest ns t with
 * t * 1193182 / 10^9 >= k.
 *
 * Wiring (board): register pit_access for ports 0x40-0x43 (PIT_BASE, PIT_NR_PORTS) and
 * pit_port61_access for port 0x61; wire `irq` (OUT0) to ISA IRQ0 before pit_init, which keeps the
 * wiring and drives the line to OUT0's reset level (or call pit_reset after wiring).
 */
#pragma once
#include "common.h"
#include "devices/irq.h"
#include "devices/timer.h"

#define PIT_BASE     0x40
#define PIT_NR_PORTS 4
#define PIT_PORT61   0x61
#define PIT_IRQ	     0
#define PIT_HZ	     1193182

/*
 * What the counting element does from CLK `start` on: loaded with `init` at that pulse, then
 * counting per the mode. `base` clocks had been counted when counting last resumed at `resume`
 * (GATE low stops counting in modes 0, 2, 3 and 4). An idle element is not counting at all: it
 * holds `init` and OUT sits at `idle_out` (after a control word, before the count or trigger).
 */
struct pit_seg {
	u64 start, base, resume;
	u16 init;
	u16 off; /* mode 3: clocks of the period already behind at `start` (0, or the high half) */
	bool idle, idle_out;
};

struct pit_channel {
	u8 ctrl;	 /* bits 5:0 of the last control word, as the status byte returns them */
	u16 cr;		 /* count register (CRm:CRl), complete counts only */
	u8 cr_lsb;	 /* LSB of a two-byte count whose MSB has not come yet */
	bool cr_valid;	 /* a count was written since the control word */
	bool write_msb;	 /* two-byte access: the next write is the MSB */
	bool read_msb;	 /* two-byte access, unlatched: the next read is the MSB */
	bool null_count; /* CR written but not yet loaded into CE (datasheet Figure 12) */
	bool gate;
	u16 ol;	     /* output latch */
	u8 ol_bytes; /* latched bytes still to read (0: not latched) */
	u8 status;
	bool status_latched;
	struct pit_seg cur, next; /* `next` takes over at next.start when has_next */
	bool has_next;
};

struct pit {
	struct timer_queue *q;
	struct timer timer;  /* the next OUT0 transition */
	struct irq_line irq; /* OUT0 -> IRQ0 */
	u64 irq_clk;	     /* OUT0 edges are on `irq` up to this CLK pulse */
	u8 port61;	     /* port 0x61 bits 3:0 as written */
	struct pit_channel ch[3];
};

/* Init leaves the 8254 in its reset state (pit_reset); `irq` keeps the wiring it has. */
void pit_init(struct pit *p, struct timer_queue *q);
/*
 * The datasheet leaves mode, count and OUT undefined at power-on; we start as QEMU's i8254 and a
 * PC after its BIOS do: every counter in mode 3, binary, LSB-then-MSB, count 0 (65536) loaded
 * now, so OUT0 is an 18.2 Hz square wave; GATE2 low (port 0x61 reads 0 but its status bits).
 */
void pit_reset(struct pit *p);
/* Ports 0x40-0x43, one byte each; a wider access touches consecutive ports. */
void pit_access(void *opaque, u64 offset, u64 *data, unsigned len, bool is_write);
/* Port 0x61: System Control Port B. */
void pit_port61_access(void *opaque, u64 offset, u64 *data, unsigned len, bool is_write);
