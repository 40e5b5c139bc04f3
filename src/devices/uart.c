// SPDX-License-Identifier: MIT
/* 16550A UART; register and bit names follow the PC16550D datasheet. */
#include <string.h>

#include "devices/uart.h"

enum uart_reg {
	UART_RBR_THR,
	UART_IER,
	UART_IIR_FCR,
	UART_LCR,
	UART_MCR,
	UART_LSR,
	UART_MSR,
	UART_SCR
};

#define IER_ERBFI BIT(0) /* received data available */
#define IER_ETBEI BIT(1) /* transmitter holding register empty */
#define IER_ELSI  BIT(2)
#define IER_MASK  0x0f

#define IIR_NO_INT	 0x01
#define IIR_THRI	 0x02
#define IIR_RDI		 0x04
#define IIR_RLS		 0x06
#define IIR_FIFO_ENABLED 0xc0

#define FCR_ENABLE   BIT(0)
#define FCR_CLEAR_RX BIT(1)

#define LCR_DLAB BIT(7)

#define MCR_DTR	 BIT(0)
#define MCR_RTS	 BIT(1)
#define MCR_OUT1 BIT(2)
#define MCR_OUT2 BIT(3)
#define MCR_LOOP BIT(4)
#define MCR_MASK 0x1f

#define LSR_DR	 BIT(0)
#define LSR_OE	 BIT(1)
#define LSR_THRE BIT(5)
#define LSR_TEMT BIT(6)

#define MSR_CTS BIT(4)
#define MSR_DSR BIT(5)
#define MSR_RI	BIT(6)
#define MSR_DCD BIT(7)

/* Host input is polled once per this many guest looks at an empty receiver: cheap when the
 * guest spins on LSR to transmit, prompt enough when it waits for a key. */
#define UART_RX_POLL_INTERVAL 64

void uart_init(struct uart *u, const struct uart_host *host)
{
	memset(u, 0, sizeof(*u));
	u->host = *host;
	u->divisor = 12; /* 9600 baud from the 1.8432 MHz clock, as a PC BIOS leaves it */
}

/* The receiver holds 16 characters in FIFO mode, 1 (RBR) in character mode (datasheet, FCR). */
static unsigned uart_rx_capacity(const struct uart *u)
{
	return u->fifo_enabled ? UART_FIFO_LEN : 1;
}

/* A character arrives. Full, it is lost and LSR's Overrun Error bit is set (datasheet, LSR bit 1:
   the character in the shift register is overwritten, not transferred to the FIFO); only the
   loopback path can overrun, since host input is taken only as far as there is room. */
static void uart_push_rx(struct uart *u, u8 byte)
{
	if (u->rx_count >= uart_rx_capacity(u)) {
		u->overrun = true;
		return;
	}
	u->rx[(u->rx_head + u->rx_count++) % sizeof(u->rx)] = byte;
}

static void uart_poll_rx(struct uart *u)
{
	u8 buf[sizeof(u->rx)];
	size_t n;

	if (u->rx_count || (u->mcr & MCR_LOOP) || !u->host.rx)
		return;
	if (u->rx_poll_countdown) {
		u->rx_poll_countdown--;
		return;
	}
	u->rx_poll_countdown = UART_RX_POLL_INTERVAL;
	n = u->host.rx(u->host.opaque, buf, uart_rx_capacity(u) - u->rx_count);
	for (size_t i = 0; i < n; i++)
		uart_push_rx(u, buf[i]);
	if (n)
		u->rx_poll_countdown = 0;
}

static u8 uart_pop_rx(struct uart *u)
{
	u8 byte;

	if (!u->rx_count)
		return 0;
	byte = u->rx[u->rx_head];
	u->rx_head = (u->rx_head + 1) % sizeof(u->rx);
	u->rx_count--;
	return byte;
}

/* IIR: the highest-priority pending interrupt (datasheet Table 4); reading it clears THRI. */
static u8 uart_read_iir(struct uart *u)
{
	u8 fifo = u->fifo_enabled ? IIR_FIFO_ENABLED : 0;

	if ((u->ier & IER_ELSI) && u->overrun) /* priority 1, cleared by reading LSR */
		return fifo | IIR_RLS;
	if ((u->ier & IER_ERBFI) && u->rx_count)
		return fifo | IIR_RDI;
	if ((u->ier & IER_ETBEI) && u->thri_pending) {
		u->thri_pending = false;
		return fifo | IIR_THRI;
	}
	return fifo | IIR_NO_INT;
}

/* MSR: in loopback the modem inputs are wired to the MCR outputs; otherwise a terminal with
 * carrier, DSR and CTS asserted is attached. Delta bits never set. */
static u8 uart_read_msr(const struct uart *u)
{
	if (!(u->mcr & MCR_LOOP))
		return MSR_DCD | MSR_DSR | MSR_CTS;
	return (u->mcr & MCR_RTS ? MSR_CTS : 0) | (u->mcr & MCR_DTR ? MSR_DSR : 0) |
	       (u->mcr & MCR_OUT1 ? MSR_RI : 0) | (u->mcr & MCR_OUT2 ? MSR_DCD : 0);
}

static u8 uart_read_reg(struct uart *u, unsigned reg)
{
	bool dlab = u->lcr & LCR_DLAB;

	switch (reg) {
	case UART_RBR_THR:
		if (dlab)
			return u->divisor & 0xff;
		uart_poll_rx(u);
		return uart_pop_rx(u);
	case UART_IER:
		return dlab ? u->divisor >> 8 : u->ier;
	case UART_IIR_FCR:
		return uart_read_iir(u);
	case UART_LCR:
		return u->lcr;
	case UART_MCR:
		return u->mcr;
	case UART_LSR: {
		bool oe = u->overrun;

		uart_poll_rx(u);
		u->overrun = false; /* the error bits clear when LSR is read */
		return LSR_THRE | LSR_TEMT | (u->rx_count ? LSR_DR : 0) | (oe ? LSR_OE : 0);
	}
	case UART_MSR:
		return uart_read_msr(u);
	default:
		return u->scr;
	}
}

static void uart_write_reg(struct uart *u, unsigned reg, u8 v)
{
	bool dlab = u->lcr & LCR_DLAB;

	switch (reg) {
	case UART_RBR_THR:
		if (dlab) {
			u->divisor = (u->divisor & 0xff00) | v;
		} else {
			if (u->mcr & MCR_LOOP)
				uart_push_rx(u, v);
			else
				u->host.tx(u->host.opaque, v);
			u->thri_pending = true; /* sent at once: THR is empty again */
		}
		break;
	case UART_IER:
		if (dlab) {
			u->divisor = (u->divisor & 0x00ff) | (u16)(v << 8);
		} else {
			/* Enabling ETBEI with THR empty raises THRI at once (datasheet, IER). */
			if ((v & IER_ETBEI) && !(u->ier & IER_ETBEI))
				u->thri_pending = true;
			u->ier = v & IER_MASK;
		}
		break;
	case UART_IIR_FCR:
		/* Changing the FIFO mode clears the FIFOs (datasheet, FCR bit 0). */
		if ((v & FCR_ENABLE) != u->fifo_enabled || (v & FCR_CLEAR_RX))
			u->rx_count = 0;
		u->fifo_enabled = v & FCR_ENABLE;
		break;
	case UART_LCR:
		u->lcr = v;
		break;
	case UART_MCR:
		u->mcr = v & MCR_MASK;
		break;
	case UART_LSR:
	case UART_MSR:
		break; /* read-only in practice (factory test only) */
	default:
		u->scr = v;
		break;
	}
}

/* Drive `irq` at the output's level when it changes (datasheet Table 4: the interrupt sources;
   the level follows IER, the receiver and THRE, and OUT2 gates it on a PC). */
static void uart_update_irq(struct uart *u)
{
	bool level = uart_irq_line(u);

	if (level != u->irq.level)
		irq_set_level(&u->irq, level);
}

void uart_host_input(struct uart *u)
{
	u->rx_poll_countdown = 0;
	uart_poll_rx(u);
	uart_update_irq(u);
}

void uart_access(void *opaque, u64 offset, u64 *data, unsigned len, bool is_write)
{
	struct uart *u = opaque;
	u64 v = 0;

	for (unsigned i = 0; i < len; i++) {
		unsigned reg = (unsigned)(offset + i);

		if (reg >= UART_NR_REGS)
			v |= (u64)0xff << (8 * i);
		else if (is_write)
			uart_write_reg(u, reg, (u8)(*data >> (8 * i)));
		else
			v |= (u64)uart_read_reg(u, reg) << (8 * i);
	}
	if (!is_write)
		*data = v;
	uart_update_irq(u);
}

bool uart_irq_line(const struct uart *u)
{
	bool pending = ((u->ier & IER_ELSI) && u->overrun) ||
		       ((u->ier & IER_ERBFI) && u->rx_count) ||
		       ((u->ier & IER_ETBEI) && u->thri_pending);

	return pending && (u->mcr & MCR_OUT2);
}
