// SPDX-License-Identifier: MIT
/* Buses, the 16550 UART and the debug-exit port, driven as a guest would drive them. */
#include <errno.h>
#include <string.h>

#include "check.h"
#include "devices/bus.h"
#include "devices/debug_exit.h"
#include "devices/uart.h"

enum { RBR, IER, IIR, LCR, MCR, LSR, MSR, SCR };
enum { FCR = IIR }; /* write side of IIR */

static u8 tx_buf[64];
static size_t tx_len;
static const char *rx_pending;

static void host_tx(void *opaque, u8 byte)
{
	if (tx_len < sizeof(tx_buf))
		tx_buf[tx_len++] = byte;
}

static size_t host_rx(void *opaque, u8 *buf, size_t max)
{
	size_t n = strlen(rx_pending);

	n = n < max ? n : max;
	memcpy(buf, rx_pending, n);
	rx_pending += n;
	return n;
}

static struct bus pio;
static struct uart uart;

static u64 in(u16 port, unsigned len)
{
	u64 v = 0;

	bus_dispatch(&pio, port, &v, len, false);
	return v;
}

static void out(u16 port, u64 v, unsigned len)
{
	bus_dispatch(&pio, port, &v, len, true);
}

static u8 uart_in(unsigned reg)
{
	return (u8)in(UART_COM1_BASE + reg, 1);
}

static void uart_out(unsigned reg, u8 v)
{
	out(UART_COM1_BASE + reg, v, 1);
}

static void setup(void)
{
	static const struct uart_host host = { .tx = host_tx, .rx = host_rx };

	memset(&pio, 0, sizeof(pio));
	uart_init(&uart, &host);
	tx_len = 0;
	rx_pending = "";
	CHECK_EQ(bus_register_range(&pio, UART_COM1_BASE, UART_NR_REGS, uart_access, &uart, "uart"),
		 0);
}

static u64 last_offset, last_data;
static unsigned last_len;
static bool last_write;

static void probe_access(void *opaque, u64 offset, u64 *data, unsigned len, bool is_write)
{
	last_offset = offset, last_len = len, last_write = is_write;
	if (is_write)
		last_data = *data;
	else
		*data = 0x1234;
}

static void test_bus(void)
{
	struct bus b = { 0 };
	u64 v;

	CHECK_EQ(bus_register_range(&b, 0x100, 0x10, probe_access, NULL, "a"), 0);
	CHECK_EQ(bus_register_range(&b, 0x10f, 1, probe_access, NULL, "b"), -EEXIST);
	CHECK_EQ(bus_register_range(&b, 0xf0, 0x11, probe_access, NULL, "c"), -EEXIST);
	CHECK_EQ(bus_register_range(&b, 0x110, 0, probe_access, NULL, "d"), -EINVAL);
	CHECK_EQ(bus_register_range(&b, 0x110, 4, probe_access, NULL, "e"), 0);

	v = 0xab;
	CHECK(bus_dispatch(&b, 0x104, &v, 2, true));
	CHECK_EQ(last_offset, 4);
	CHECK_EQ(last_len, 2);
	CHECK(last_write);
	CHECK_EQ(last_data, 0xab);
	CHECK(bus_dispatch(&b, 0x10f, &v, 1, false));
	CHECK_EQ(v, 0x1234);
	CHECK_EQ(last_offset, 0xf);

	/* Nothing there: reads float to all ones, writes vanish, both counted. */
	CHECK(!bus_dispatch(&b, 0x80, &v, 1, false));
	CHECK_EQ(v, 0xff);
	CHECK(!bus_dispatch(&b, 0x80, &v, 2, false));
	CHECK_EQ(v, 0xffff);
	CHECK(!bus_dispatch(&b, 0x80, &v, 4, false));
	CHECK_EQ(v, 0xffffffff);
	CHECK(!bus_dispatch(&b, 0xfee00000, &v, 8, false));
	CHECK_EQ(v, ~0ull);
	CHECK(!bus_dispatch(&b, 0x80, &v, 1, true));
	CHECK_EQ(b.unclaimed_reads, 4);
	CHECK_EQ(b.unclaimed_writes, 1);
}

/* Which range bus_dispatch picks (a binary search by base) against a scan of every range, for
   ranges registered in no particular order, at every address around each of them. */
static void bus_note(void *opaque, u64 offset, u64 *data, unsigned len, bool is_write)
{
	(void)offset, (void)data, (void)len, (void)is_write;
	last_data = (u64)(uintptr_t)opaque;
}

static void test_bus_many(void)
{
	struct bus b = { 0 };
	u64 seed = 12345, v;
	unsigned n = 0;

	while (n < BUS_MAX_RANGES) {
		seed = seed * 6364136223846793005ull + 1442695040888963407ull;
		u64 base = (seed >> 33) % 0x10000, len = 1 + (seed >> 20) % 16;

		if (!bus_register_range(&b, base, len, bus_note, (void *)(uintptr_t)(n + 1), "r"))
			n++;
	}
	CHECK_EQ(bus_register_range(&b, 0xffff0, 1, bus_note, NULL, "full"), -ENOSPC);
	for (unsigned i = 0; i < b.nr_ranges; i++) {
		for (u64 a = b.ranges[i].base - 2; a < b.ranges[i].base + b.ranges[i].len + 2; a++) {
			u64 want = 0;

			for (unsigned k = 0; k < b.nr_ranges; k++)
				if (a - b.ranges[k].base < b.ranges[k].len)
					want = k + 1;
			last_data = 0;
			CHECK_EQ(bus_dispatch(&b, a, &v, 1, false), want != 0);
			CHECK_EQ(last_data, want);
		}
	}
}

static void test_uart_transmit(void)
{
	setup();
	CHECK_EQ(uart_in(LSR), 0x60); /* THRE | TEMT, no data */
	uart_out(RBR, 'h');
	uart_out(RBR, 'i');
	CHECK_EQ(tx_len, 2);
	CHECK(!memcmp(tx_buf, "hi", 2));
	CHECK_EQ(uart_in(LSR), 0x60);
	/* A 16-bit OUT to 0x3f8 writes THR and then IER, as on the ISA bus. */
	out(UART_COM1_BASE, 'x' | (0x01 << 8), 2);
	CHECK_EQ(tx_len, 3);
	CHECK_EQ(uart_in(IER), 0x01);
}

static void test_uart_receive(void)
{
	setup();
	rx_pending = "ab";
	CHECK_EQ(uart_in(LSR) & 1, 1);
	CHECK_EQ(uart_in(RBR), 'a');
	CHECK_EQ(uart_in(LSR) & 1, 1);
	CHECK_EQ(uart_in(RBR), 'b');
	CHECK_EQ(uart_in(LSR) & 1, 0);
	CHECK_EQ(uart_in(RBR), 0);
	/* Input that arrives later is seen within a bounded number of looks. */
	rx_pending = "c";
	for (int i = 0; i < 200 && !(uart_in(LSR) & 1); i++)
		;
	CHECK_EQ(uart_in(RBR), 'c');
	/* FCR bit 1 clears the receive FIFO. */
	uart_out(MCR, 0x10);
	uart_out(RBR, 'z');
	CHECK_EQ(uart_in(LSR) & 1, 1);
	uart_out(IIR, 0x03);
	CHECK_EQ(uart_in(LSR) & 1, 0);
}

static void test_uart_divisor(void)
{
	setup();
	uart_out(LCR, 0x83); /* DLAB, 8N1 */
	uart_out(RBR, 0x01); /* DLL: 115200 baud */
	uart_out(IER, 0x00); /* DLM */
	CHECK_EQ(uart_in(RBR), 0x01);
	CHECK_EQ(uart_in(IER), 0x00);
	CHECK_EQ(tx_len, 0); /* divisor writes are not data */
	uart_out(LCR, 0x03);
	CHECK_EQ(uart_in(LCR), 0x03);
	uart_out(IER, 0x05);
	CHECK_EQ(uart_in(IER), 0x05);
	uart_out(LCR, 0x83);
	CHECK_EQ(uart_in(RBR), 0x01);
	uart_out(LCR, 0x03);
	uart_out(SCR, 0x5a);
	CHECK_EQ(uart_in(SCR), 0x5a);
}

static void test_uart_interrupts(void)
{
	setup();
	CHECK_EQ(uart_in(IIR), 0x01);
	uart_out(IIR, 0x01); /* FIFOs on */
	CHECK_EQ(uart_in(IIR), 0xc1);
	uart_out(IER, 0x02); /* ETBEI with THR empty: THRI at once */
	uart_out(MCR, 0x08); /* OUT2: the line reaches the PIC */
	CHECK(uart_irq_line(&uart));
	CHECK_EQ(uart_in(IIR), 0xc2);
	CHECK_EQ(uart_in(IIR), 0xc1); /* reading IIR cleared THRI */
	CHECK(!uart_irq_line(&uart));
	uart_out(RBR, 'x');
	CHECK(uart_irq_line(&uart));
	CHECK_EQ(uart_in(IIR), 0xc2);

	uart_out(IER, 0x01);
	rx_pending = "k";
	CHECK_EQ(uart_in(LSR) & 1, 1);
	CHECK_EQ(uart_in(IIR), 0xc4); /* received data available */
	CHECK(uart_irq_line(&uart));
	uart_out(MCR, 0x00);
	CHECK(!uart_irq_line(&uart)); /* OUT2 low: masked on a PC */
	CHECK_EQ(uart_in(RBR), 'k');
	CHECK_EQ(uart_in(IIR), 0xc1);
}

static void test_uart_loopback(void)
{
	setup();
	CHECK_EQ(uart_in(MSR), 0xb0); /* DCD, DSR, CTS from an attached terminal */
	uart_out(MCR, 0x1f);	      /* loopback, all outputs high */
	CHECK_EQ(uart_in(MSR), 0xf0);
	uart_out(MCR, 0x10 | 0x02); /* RTS only: CTS */
	CHECK_EQ(uart_in(MSR), 0x10);
	uart_out(RBR, 0x55);
	CHECK_EQ(tx_len, 0);
	CHECK_EQ(uart_in(LSR), 0x61);
	CHECK_EQ(uart_in(RBR), 0x55);
	CHECK_EQ(uart_in(MCR), 0x12);
}

/* Loopback past the receiver's room: 16 characters in FIFO mode (1 without), then LSR.OE, a
   line-status interrupt ahead of the data one (IIR 0x06), cleared by reading LSR. */
static void test_uart_overrun(void)
{
	setup();
	uart_out(MCR, 0x10 | 0x08); /* loopback, OUT2 */
	uart_out(FCR, 0x01);	    /* FIFO mode */
	uart_out(IER, 0x05);	    /* received data, line status */
	for (int i = 0; i < 20; i++)
		uart_out(RBR, (u8)('A' + i));
	CHECK_EQ(uart_in(IIR), 0xc6);
	CHECK(uart_irq_line(&uart));
	CHECK_EQ(uart_in(LSR), 0x63); /* THRE, TEMT, OE, DR */
	CHECK_EQ(uart_in(LSR), 0x61); /* OE read once */
	CHECK_EQ(uart_in(IIR), 0xc4);
	for (int i = 0; i < 16; i++)
		CHECK_EQ(uart_in(RBR), 'A' + i);
	CHECK_EQ(uart_in(LSR), 0x60);
	uart_out(FCR, 0x00); /* character mode: RBR alone, and the FIFO cleared */
	uart_out(RBR, 'x');
	uart_out(RBR, 'y');
	CHECK_EQ(uart_in(LSR), 0x63);
	CHECK_EQ(uart_in(RBR), 'x');
	CHECK(!uart_irq_line(&uart));
}

static int exit_status = -1;

static void record_exit(void *opaque, int status)
{
	exit_status = status;
}

static void test_debug_exit(void)
{
	struct debug_exit d = { .on_exit = record_exit };

	setup();
	CHECK_EQ(bus_register_range(&pio, DEBUG_EXIT_PORT, DEBUG_EXIT_SIZE, debug_exit_access, &d,
				    "debug-exit"),
		 0);
	CHECK_EQ(in(DEBUG_EXIT_PORT, 1), 0xff);
	CHECK_EQ(exit_status, -1);
	out(DEBUG_EXIT_PORT, 0x10, 1);
	CHECK_EQ(exit_status, 0x21);
	out(DEBUG_EXIT_PORT, 0, 4);
	CHECK_EQ(exit_status, 1);
	/* Unclaimed neighbours stay unclaimed. */
	CHECK_EQ(in(0xf8, 1), 0xff);
	CHECK_EQ(pio.unclaimed_reads, 1);
}

int main(void)
{
	test_bus();
	test_bus_many();
	test_uart_transmit();
	test_uart_receive();
	test_uart_divisor();
	test_uart_interrupts();
	test_uart_loopback();
	test_uart_overrun();
	test_debug_exit();
	return check_done("devices");
}
