// SPDX-License-Identifier: MIT
/*
 * Serial output on the 16550 at 0x3f8 (poll LSR.THRE, bit 5, before each byte), a small
 * vsnprintf (%d %i %u %x %X %p %s %c %%, flags "-0#", width, l/ll/z), exit through the
 * isa-debug-exit port 0xf4 and the string functions the compiler may call.
 * No 64-bit division helpers: the 32-bit build has no libgcc.
 */
#include "lib.h"

#define COM1 0x3f8
#define UART_LCR 3
#define UART_LSR 5
#define UART_LSR_THRE 0x20
#define UART_LCR_DLAB 0x80
#define UART_LCR_8N1 0x03

/* The line format is not set at reset on every machine (Bochs starts with 5 data bits): 115200
   baud (divisor 1 through the DLAB latch), 8 data bits, no parity, 1 stop bit, once. */
static void serial_init(void)
{
	static bool done;

	if (done)
		return;
	done = true;
	outb(COM1 + UART_LCR, UART_LCR_DLAB);
	outb(COM1 + 0, 1); /* DLL */
	outb(COM1 + 1, 0); /* DLM */
	outb(COM1 + UART_LCR, UART_LCR_8N1);
}

void putchar(int c)
{
	serial_init();
	if (c == '\n')
		putchar('\r');
	while (!(inb(COM1 + UART_LSR) & UART_LSR_THRE))
		;
	outb(COM1, c);
}

void puts(const char *s)
{
	while (*s)
		putchar(*s++);
}

void exit(int code)
{
	outl(0xf4, code);
	/* Not under QEMU or tollbooth: stop here with interrupts off. */
	for (;;)
		asm volatile("cli; hlt");
}

/* n / base by shift-and-subtract, so the 32-bit build needs no __udivdi3. */
static u64 divmod(u64 n, unsigned base, unsigned *rem)
{
	u64 q = 0, r = 0;

	for (int i = 63; i >= 0; i--) {
		r = r << 1 | (n >> i & 1);
		if (r >= base) {
			r -= base;
			q |= 1ULL << i;
		}
	}
	*rem = r;
	return q;
}

struct out {
	char *buf;
	size_t size, len;
};

static void out_c(struct out *o, char c)
{
	if (o->len + 1 < o->size)
		o->buf[o->len] = c;
	o->len++;
}

int vsnprintf(char *buf, size_t size, const char *fmt, va_list ap)
{
	struct out o = { buf, size, 0 };

	for (; *fmt; fmt++) {
		if (*fmt != '%') {
			out_c(&o, *fmt);
			continue;
		}
		bool left = false, zero = false, alt = false;
		int width = 0, lng = 0;
		for (;; fmt++) {
			if (fmt[1] == '-')
				left = true;
			else if (fmt[1] == '0')
				zero = true;
			else if (fmt[1] == '#')
				alt = true;
			else
				break;
		}
		fmt++;
		while (*fmt >= '0' && *fmt <= '9')
			width = width * 10 + *fmt++ - '0';
		while (*fmt == 'l' || *fmt == 'z') {
			lng += *fmt == 'z' ? (sizeof(size_t) == 8 ? 2 : 0) : 1;
			fmt++;
		}
		char tmp[24], *s = tmp;
		int n = 0;
		u64 v;
		bool neg = false;
		unsigned base = 10;
		const char *digits = "0123456789abcdef";
		switch (*fmt) {
		case 'c':
			tmp[n++] = va_arg(ap, int);
			break;
		case 's':
			s = va_arg(ap, char *);
			if (!s)
				s = "(null)";
			n = strlen(s);
			break;
		case 'd':
		case 'i':
			if (lng >= 2)
				v = va_arg(ap, long long);
			else if (lng == 1)
				v = va_arg(ap, long);
			else
				v = va_arg(ap, int);
			if ((s64)v < 0) {
				neg = true;
				v = -v;
			}
			goto number;
		case 'p':
			v = (ulong)va_arg(ap, void *);
			base = 16;
			alt = true;
			goto number;
		case 'X':
			digits = "0123456789ABCDEF";
			/* fall through */
		case 'x':
			base = 16;
			/* fall through */
		case 'u':
			if (lng >= 2)
				v = va_arg(ap, unsigned long long);
			else if (lng == 1)
				v = va_arg(ap, unsigned long);
			else
				v = va_arg(ap, unsigned int);
number: {
			char rev[24];
			int k = 0;
			do {
				unsigned r;
				v = divmod(v, base, &r);
				rev[k++] = digits[r];
			} while (v);
			if (neg)
				tmp[n++] = '-';
			if (alt && base == 16) {
				tmp[n++] = '0';
				tmp[n++] = 'x';
			}
			int pad = zero && !left ? width - n - k : 0;
			while (pad-- > 0)
				tmp[n++] = '0';
			while (k)
				tmp[n++] = rev[--k];
			break;
		}
		default:
			tmp[n++] = '%';
			tmp[n++] = *fmt;
			if (!*fmt)
				fmt--;
			break;
		}
		int pad = width - n;
		while (!left && pad-- > 0)
			out_c(&o, ' ');
		for (int i = 0; i < n; i++)
			out_c(&o, s[i]);
		while (left && pad-- > 0)
			out_c(&o, ' ');
	}
	if (o.size)
		o.buf[o.len < o.size ? o.len : o.size - 1] = 0;
	return o.len;
}

int snprintf(char *buf, size_t size, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(buf, size, fmt, ap);
	va_end(ap);
	return n;
}

int printf(const char *fmt, ...)
{
	char buf[512];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	puts(buf);
	return n;
}

void *memset(void *d, int c, size_t n)
{
	u8 *p = d;
	while (n--)
		*p++ = c;
	return d;
}

void *memcpy(void *d, const void *s, size_t n)
{
	u8 *p = d;
	const u8 *q = s;
	while (n--)
		*p++ = *q++;
	return d;
}

int memcmp(const void *a, const void *b, size_t n)
{
	const u8 *p = a, *q = b;
	for (; n; n--, p++, q++)
		if (*p != *q)
			return *p - *q;
	return 0;
}

size_t strlen(const char *s)
{
	size_t n = 0;
	while (s[n])
		n++;
	return n;
}

int strcmp(const char *a, const char *b)
{
	while (*a && *a == *b)
		a++, b++;
	return (u8)*a - (u8)*b;
}
