// SPDX-License-Identifier: MIT
/*
 * The 16550A UART's registers (src/devices/uart.c) under the device harness (device.h): any
 * sequence of reads and writes of 1-8 bytes at offsets 0-7, with the DLAB, loopback, FIFO
 * control and overruns, and host input arriving in between (event: its argument bytes are typed
 * on the host's terminal). Beyond the harness's checks, asserted:
 *   - the receive FIFO's head and count stay inside it; IER and MCR keep only their defined bits;
 *   - nothing reaches the host in loopback, and the host is not polled then (PC16550D datasheet,
 *     MCR bit 4: the transmitter output is held marking and the receiver is fed internally);
 *     nothing is sent while LCR.DLAB makes offset 0 the divisor latch;
 *   - the UART asks the host for no more bytes than its FIFO has room for, so none is lost;
 *   - the interrupt line is low while MCR.OUT2 is clear.
 */
#include "devices/uart.h"
#include "device.h"

#define LCR_DLAB   BIT(7) /* PC16550D LCR bit 7: offsets 0 and 1 are the divisor latch */
#define MCR_OUT2   BIT(3) /* PC16550D MCR bit 3: gates the interrupt output on PCs */
#define MCR_LOOP   BIT(4) /* PC16550D MCR bit 4 */
#define HOST_QUEUE 4096

struct uart_fuzz {
	struct uart uart;
	u8 typed[HOST_QUEUE]; /* typed on the host, not yet read by the UART */
	size_t head, count;
};

static void host_tx(void *opaque, u8 byte)
{
	struct uart_fuzz *f = opaque;

	FUZZ_ASSERT(!(f->uart.mcr & MCR_LOOP), "byte %#x sent to the host in loopback mode", byte);
	FUZZ_ASSERT(!(f->uart.lcr & LCR_DLAB), "byte %#x sent with LCR.DLAB set (a DLL write)",
		    byte);
}

static size_t host_rx(void *opaque, u8 *buf, size_t max)
{
	struct uart_fuzz *f = opaque;
	size_t n = 0;

	FUZZ_ASSERT(!(f->uart.mcr & MCR_LOOP), "host input polled in loopback mode");
	FUZZ_ASSERT(max + f->uart.rx_count <= sizeof(f->uart.rx),
		    "asked for %zu bytes with %u of %zu FIFO bytes in use", max, f->uart.rx_count,
		    sizeof(f->uart.rx));
	memset(buf, 0xa5, max); /* a read() may write all of buf: ASan sees a short one */
	while (n < max && f->count) {
		buf[n++] = f->typed[f->head];
		f->head = (f->head + 1) % HOST_QUEUE;
		f->count--;
	}
	return n;
}

static void *uart_fuzz_create(void)
{
	struct uart_fuzz *f = calloc(1, sizeof(*f));
	const struct uart_host host = { .tx = host_tx, .rx = host_rx, .opaque = f };

	if (!f)
		abort();
	uart_init(&f->uart, &host);
	return &f->uart;
}

static void uart_fuzz_destroy(void *dev)
{
	free(dev); /* the uart is the first member */
}

static void uart_fuzz_type(void *dev, const u8 *arg, size_t n)
{
	struct uart_fuzz *f = dev;

	for (size_t i = 0; i < n && f->count < HOST_QUEUE; i++)
		f->typed[(f->head + f->count++) % HOST_QUEUE] = arg[i];
}

static void uart_fuzz_check(void *dev)
{
	struct uart *u = dev;

	FUZZ_ASSERT(u->rx_head < sizeof(u->rx) && u->rx_count <= sizeof(u->rx),
		    "receive FIFO head %u, count %u", u->rx_head, u->rx_count);
	FUZZ_ASSERT(!(u->ier & ~0x0f) && !(u->mcr & ~0x1f), "IER %#x, MCR %#x", u->ier, u->mcr);
	FUZZ_ASSERT(!uart_irq_line(u) || (u->mcr & MCR_OUT2),
		    "interrupt raised with MCR.OUT2 clear");
}

static const struct fuzz_device uart_device = {
	.ranges = { { UART_NR_REGS, uart_access } },
	.create = uart_fuzz_create,
	.destroy = uart_fuzz_destroy,
	.event = uart_fuzz_type,
	.check = uart_fuzz_check,
};

FUZZ_DEVICE_TARGET(uart_device)
