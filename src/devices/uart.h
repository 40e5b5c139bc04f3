/* SPDX-License-Identifier: MIT */
/*
 * 16550A UART (the PC's COM1 at 0x3f8, IRQ 4). Registers per the TI/National PC16550D datasheet:
 * RBR/THR/DLL at 0, IER/DLM at 1, IIR/FCR at 2, LCR at 3, MCR at 4, LSR at 5, MSR at 6, SCR at 7.
 * Transmission is instantaneous (THRE and TEMT always set); received bytes come from the host
 * through `rx` when the guest looks (LSR or RBR read), never by blocking, as far as the receiver
 * has room (16 bytes in FIFO mode, 1 without). In loopback a full receiver overruns: the
 * character is lost, LSR.OE is set until LSR is read (a line-status interrupt with IER bit 2).
 */
#pragma once
#include "common.h"
#include "devices/bus.h"
#include "devices/irq.h"

#define UART_COM1_BASE 0x3f8
#define UART_COM1_IRQ  4
#define UART_NR_REGS   8
#define UART_FIFO_LEN  16 /* the 16550A's receiver FIFO */

struct uart_host {
	void (*tx)(void *opaque, u8 byte);
	size_t (*rx)(void *opaque, u8 *buf, size_t max); /* non-blocking; 0 when nothing pending */
	void *opaque;
};

struct uart {
	struct uart_host host;
	u8 ier, lcr, mcr, scr;
	bool fifo_enabled;
	bool thri_pending; /* THR-empty interrupt: set when THR empties, cleared by IIR read */
	bool overrun;	   /* LSR's Overrun Error, until LSR is read */
	u16 divisor;
	u8 rx[64];
	unsigned rx_head, rx_count;
	unsigned rx_poll_countdown;
	struct irq_line irq; /* INTRPT, gated by MCR.OUT2: COM1 is IRQ 4 (the board wires it) */
};

void uart_init(struct uart *u, const struct uart_host *host);
/* The bus access function: byte registers; wider accesses touch consecutive registers. */
void uart_access(void *opaque, u64 offset, u64 *data, unsigned len, bool is_write);
/* Level of the interrupt output as the PIC would see it (MCR.OUT2 gates it on PCs). */
bool uart_irq_line(const struct uart *u);
/* Host input may be waiting (the VM's event loop saw the console readable): take it into the
   receiver now, and raise the interrupt if the guest enabled it. */
void uart_host_input(struct uart *u);
