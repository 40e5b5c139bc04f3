// SPDX-License-Identifier: MIT
/*
 * The 8042 and its PS/2 keyboard (devices/i8042.h), driven through ports 0x60/0x64 as Linux's
 * drivers/input/serio/i8042.c probes it (i8042_controller_check, _selftest, _init,
 * i8042_check_aux with the AUX loop and AUX IRQ tests, the port enables) and as atkbd and
 * libps2 then talk to the keyboard; the output port, A20 and the reset pulses; hostile bytes.
 */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "devices/i8042.h"

/* Linux's include/linux/i8042.h */
#define I8042_STR_PARITY      0x80
#define I8042_STR_TIMEOUT     0x40
#define I8042_STR_AUXDATA     0x20
#define I8042_STR_KEYLOCK     0x10
#define I8042_STR_CMDDAT      0x08
#define I8042_STR_SYSFLAG     0x04
#define I8042_STR_IBF	      0x02
#define I8042_STR_OBF	      0x01
#define I8042_CTR_KBDINT      0x01
#define I8042_CTR_AUXINT      0x02
#define I8042_CTR_IGNKEYLOCK  0x08
#define I8042_CTR_KBDDIS      0x10
#define I8042_CTR_AUXDIS      0x20
#define I8042_CTR_XLATE	      0x40
#define I8042_CMD_CTL_RCTR    0x0120
#define I8042_CMD_CTL_WCTR    0x1060
#define I8042_CMD_CTL_TEST    0x01aa
#define I8042_CMD_KBD_DISABLE 0x00ad
#define I8042_CMD_KBD_ENABLE  0x00ae
#define I8042_CMD_AUX_DISABLE 0x00a7
#define I8042_CMD_AUX_ENABLE  0x00a8
#define I8042_CMD_AUX_SEND    0x10d4
#define I8042_CMD_AUX_TEST    0x01a9
#define I8042_CMD_AUX_LOOP    0x11d3
#define I8042_CMD_KBD_LOOP    0x11d2
#define I8042_RET_CTL_TEST    0x55

static struct i8042 kbc;
static unsigned n_reset, n_a20, irq1_rises, irq12_rises;
static bool a20_state;

static void host_reset(void *opaque)
{
	n_reset++;
}

static void host_a20(void *opaque, bool on)
{
	n_a20++;
	a20_state = on;
}

static void record(void *opaque, unsigned pin, bool level)
{
	if (level && pin == I8042_IRQ_KBD)
		irq1_rises++;
	if (level && pin == I8042_IRQ_AUX)
		irq12_rises++;
}

static u8 inb(u16 port)
{
	u64 d = 0;

	if (port == I8042_DATA_PORT)
		i8042_data_access(&kbc, 0, &d, 1, false);
	else
		i8042_cmd_access(&kbc, 0, &d, 1, false);
	return (u8)d;
}

static void outb(u8 v, u16 port)
{
	u64 d = v;

	if (port == I8042_DATA_PORT)
		i8042_data_access(&kbc, 0, &d, 1, true);
	else
		i8042_cmd_access(&kbc, 0, &d, 1, true);
}

static void setup(void)
{
	const struct i8042_host host = { .reset = host_reset, .a20 = host_a20 };

	n_reset = n_a20 = irq1_rises = irq12_rises = 0;
	irq_line_wire(&kbc.irq_kbd, record, NULL, I8042_IRQ_KBD);
	irq_line_wire(&kbc.irq_aux, record, NULL, I8042_IRQ_AUX);
	i8042_init(&kbc, &host);
}

/* i8042_wait_read / i8042_wait_write, bounded like Linux's I8042_CTL_TIMEOUT loops. */
static int wait_read(void)
{
	for (int i = 0; i < 10000; i++)
		if (inb(0x64) & I8042_STR_OBF)
			return 0;
	return -1;
}

static int wait_write(void)
{
	for (int i = 0; i < 10000; i++)
		if (!(inb(0x64) & I8042_STR_IBF))
			return 0;
	return -1;
}

/* __i8042_command, line for line. */
static int i8042_command(u8 *param, int command)
{
	int i;

	if (wait_write())
		return -1;
	outb(command & 0xff, 0x64);
	for (i = 0; i < ((command >> 12) & 0xf); i++) {
		if (wait_write())
			return -1;
		outb(param[i], 0x60);
	}
	for (i = 0; i < ((command >> 8) & 0xf); i++) {
		if (wait_read())
			return -1;
		if (command == I8042_CMD_AUX_LOOP && !(inb(0x64) & I8042_STR_AUXDATA))
			return -1;
		param[i] = inb(0x60);
	}
	return 0;
}

/* i8042_flush: up to I8042_BUFFER_SIZE bytes; -EIO when the buffer never empties. */
static int i8042_flush(unsigned *flushed)
{
	int count = 0;

	while (inb(0x64) & I8042_STR_OBF) {
		if (count++ < 16)
			inb(0x60);
		else
			return -1;
	}
	if (flushed)
		*flushed = (unsigned)count;
	return 0;
}

static int i8042_toggle_aux(bool on)
{
	u8 param;

	if (i8042_command(&param, on ? I8042_CMD_AUX_ENABLE : I8042_CMD_AUX_DISABLE))
		return -1;
	for (int i = 0; i < 100; i++) {
		if (i8042_command(&param, I8042_CMD_CTL_RCTR))
			return -1;
		if (!(param & I8042_CTR_AUXDIS) == on)
			return 0;
	}
	return -1;
}

/* The whole probe as i8042_probe runs it; returns the CTR it settled on. */
static void test_linux_probe(void)
{
	u8 param, ctr[2], ctl;
	unsigned flushed = 0;
	int n = 0;

	setup();
	CHECK(kbc.irq_kbd.level); /* the keyboard's power-on BAT code waits */
	/* i8042_controller_check */
	CHECK_EQ(i8042_flush(&flushed), 0);
	CHECK_EQ(flushed, 1);
	CHECK(!kbc.irq_kbd.level);
	/* i8042_controller_selftest */
	CHECK_EQ(inb(0x64) & I8042_STR_SYSFLAG, 0); /* power-on */
	param = 0;
	CHECK_EQ(i8042_command(&param, I8042_CMD_CTL_TEST), 0);
	CHECK_EQ(param, I8042_RET_CTL_TEST);
	CHECK_EQ(inb(0x64) & I8042_STR_SYSFLAG, I8042_STR_SYSFLAG);
	/* i8042_controller_init: a stable CTR, keyboard off, keylock, translation, write back */
	do {
		CHECK_EQ(i8042_command(&ctr[n++ % 2], I8042_CMD_CTL_RCTR), 0);
	} while (n < 2 || ctr[0] != ctr[1]);
	CHECK_EQ(n, 2);
	CHECK_EQ(ctr[0], I8042_CTR_KBDINT | I8042_CTR_AUXINT);
	ctl = ctr[0];
	ctl |= I8042_CTR_KBDDIS;
	ctl &= ~I8042_CTR_KBDINT;
	CHECK(inb(0x64) & I8042_STR_KEYLOCK); /* not locked */
	CHECK(!(ctl & I8042_CTR_XLATE));      /* i8042_direct */
	CHECK_EQ(i8042_command(&ctl, I8042_CMD_CTL_WCTR), 0);
	CHECK_EQ(i8042_flush(NULL), 0);
	/* i8042_check_aux: loop test, bit assignment test */
	param = 0x5a;
	CHECK_EQ(i8042_command(&param, I8042_CMD_AUX_LOOP), 0);
	CHECK_EQ(param, 0x5a);
	CHECK_EQ(i8042_toggle_aux(false), 0);
	CHECK_EQ(i8042_toggle_aux(true), 0);
	/* The AUX IRQ test: i8042_enable_aux_port, then a loop byte without reading it back. */
	ctl &= ~I8042_CTR_AUXDIS;
	ctl |= I8042_CTR_AUXINT;
	CHECK_EQ(i8042_command(&ctl, I8042_CMD_CTL_WCTR), 0);
	param = 0xa5;
	irq12_rises = 0;
	CHECK_EQ(i8042_command(&param, I8042_CMD_AUX_LOOP & 0xf0ff), 0);
	CHECK_EQ(irq12_rises, 1);
	CHECK(kbc.irq_aux.level);
	CHECK_EQ(inb(0x64) & (I8042_STR_AUXDATA | I8042_STR_OBF),
		 I8042_STR_AUXDATA | I8042_STR_OBF);
	CHECK_EQ(inb(0x60), 0xa5); /* i8042_interrupt */
	CHECK(!kbc.irq_aux.level);
	/* Keyboard port: i8042_enable_kbd_port */
	ctl &= ~I8042_CTR_KBDDIS;
	ctl |= I8042_CTR_KBDINT;
	CHECK_EQ(i8042_command(&ctl, I8042_CMD_CTL_WCTR), 0);
	CHECK_EQ(i8042_command(&param, I8042_CMD_CTL_RCTR), 0);
	CHECK_EQ(param, ctl);

	/* atkbd_probe: GETID, then SETLEDS; each byte arrives with IRQ1. */
	static const u8 id[3] = { 0xfa, 0xab, 0x83 };
	unsigned before = irq1_rises;
	outb(0xf2, 0x60);
	for (unsigned i = 0; i < 3; i++) {
		CHECK_EQ(inb(0x64) & (I8042_STR_OBF | I8042_STR_AUXDATA), I8042_STR_OBF);
		CHECK_EQ(inb(0x60), id[i]);
	}
	CHECK_EQ(irq1_rises - before, 3);
	CHECK_EQ(inb(0x64) & I8042_STR_OBF, 0);
	outb(0xed, 0x60);
	CHECK_EQ(inb(0x60), 0xfa);
	outb(0x05, 0x60);
	CHECK_EQ(inb(0x60), 0xfa);
	CHECK_EQ(i8042_kbd_leds(&kbc), 5);
	/* ATKBD_CMD_RESET_BAT */
	outb(0xff, 0x60);
	CHECK_EQ(inb(0x60), 0xfa);
	CHECK_EQ(inb(0x60), 0xaa);
	CHECK_EQ(i8042_kbd_leds(&kbc), 0);
	/* psmouse: a byte for the (absent) mouse times out on the AUX port. */
	param = 0xff;
	CHECK_EQ(i8042_command(&param, I8042_CMD_AUX_SEND), 0);
	CHECK_EQ(inb(0x64) & (I8042_STR_TIMEOUT | I8042_STR_AUXDATA | I8042_STR_OBF),
		 I8042_STR_TIMEOUT | I8042_STR_AUXDATA | I8042_STR_OBF);
	CHECK(kbc.irq_aux.level);
	CHECK_EQ(inb(0x60), 0xfe);
	CHECK_EQ(inb(0x64) & I8042_STR_TIMEOUT, 0);
}

/* Command byte bit 6: set-2 to set-1 translation of the keyboard's bytes. */
static void test_translation(void)
{
	u8 ctl = I8042_CTR_KBDINT | I8042_CTR_XLATE;

	setup();
	i8042_flush(NULL);
	CHECK_EQ(i8042_command(&ctl, I8042_CMD_CTL_WCTR), 0);
	outb(0xf2, 0x60);
	CHECK_EQ(inb(0x60), 0xfa);
	CHECK_EQ(inb(0x60), 0xab);
	CHECK_EQ(inb(0x60), 0x41);
	outb(0xf0, 0x60);
	CHECK_EQ(inb(0x60), 0xfa);
	outb(0x00, 0x60);
	CHECK_EQ(inb(0x60), 0xfa);
	CHECK_EQ(inb(0x60), 0x41); /* set 2, translated */
	outb(0xf0, 0x60);
	inb(0x60);
	outb(0x03, 0x60);
	inb(0x60);
	ctl = I8042_CTR_KBDINT;
	CHECK_EQ(i8042_command(&ctl, I8042_CMD_CTL_WCTR), 0);
	outb(0xf0, 0x60);
	inb(0x60);
	outb(0x00, 0x60);
	CHECK_EQ(inb(0x60), 0xfa);
	CHECK_EQ(inb(0x60), 0x03);
	/* 0xd2 bytes are not translated. */
	ctl = I8042_CTR_KBDINT | I8042_CTR_XLATE;
	i8042_command(&ctl, I8042_CMD_CTL_WCTR);
	u8 p = 0x83;
	CHECK_EQ(i8042_command(&p, I8042_CMD_KBD_LOOP), 0);
	CHECK_EQ(p, 0x83);
}

/* Output port: A20 and reset; 0xdd/0xdf; pulse commands 0xf0-0xff. */
static void test_outport(void)
{
	u8 p;

	setup();
	i8042_flush(NULL);
	CHECK(i8042_a20(&kbc));
	CHECK_EQ(i8042_command(&p, 0x01d0), 0);
	CHECK_EQ(p, 0xcf);
	p = 0xcd;
	CHECK_EQ(i8042_command(&p, 0x10d1), 0);
	CHECK(!i8042_a20(&kbc));
	CHECK_EQ(n_a20, 1);
	CHECK(!a20_state);
	CHECK_EQ(n_reset, 0);
	outb(0xdf, 0x64);
	CHECK(i8042_a20(&kbc));
	CHECK(a20_state);
	outb(0xdf, 0x64);
	CHECK_EQ(n_a20, 2); /* no change, no call */
	outb(0xdd, 0x64);
	CHECK(!a20_state);
	/* The output port reads the buffer state in bits 4 and 5. */
	outb(0xd2, 0x64);
	outb(0x11, 0x60);
	outb(0xd0, 0x64); /* its answer queues behind 0x11 */
	CHECK_EQ(inb(0x60), 0x11);
	CHECK_EQ(inb(0x60), 0xcd | 0x10);
	p = 0xcc; /* bit 0 low: CPU reset */
	CHECK_EQ(i8042_command(&p, 0x10d1), 0);
	CHECK_EQ(n_reset, 1);
	outb(0xfe, 0x64);
	CHECK_EQ(n_reset, 2);
	outb(0xff, 0x64);
	outb(0xf1, 0x64);
	outb(0xf3, 0x64);
	CHECK_EQ(n_reset, 2);
	outb(0xf0, 0x64);
	outb(0xfa, 0x64);
	CHECK_EQ(n_reset, 4);
	i8042_reset(&kbc);
	CHECK(i8042_a20(&kbc));
	CHECK_EQ(inb(0x64), I8042_STR_CMDDAT | I8042_STR_KEYLOCK);
}

/* Controller RAM, the SYS bit, interface tests, KBDDIS holding keyboard bytes back. */
static void test_controller(void)
{
	u8 p;

	setup();
	i8042_flush(NULL);
	for (u8 i = 1; i < 32; i++) {
		p = (u8)(i * 7);
		outb(0x60 + i, 0x64);
		outb(p, 0x60);
	}
	for (u8 i = 1; i < 32; i++) {
		CHECK_EQ(i8042_command(&p, 0x0120 + i), 0);
		CHECK_EQ(p, (u8)(i * 7));
	}
	p = I8042_CTR_KBDINT | 0x04;
	i8042_command(&p, I8042_CMD_CTL_WCTR);
	CHECK_EQ(inb(0x64) & I8042_STR_SYSFLAG, I8042_STR_SYSFLAG);
	CHECK_EQ(i8042_command(&p, I8042_CMD_AUX_TEST), 0);
	CHECK_EQ(p, 0);
	CHECK_EQ(i8042_command(&p, 0x01ab), 0);
	CHECK_EQ(p, 0);
	CHECK_EQ(i8042_command(&p, 0x01c0), 0);
	CHECK_EQ(p, 0x80);
	CHECK_EQ(i8042_command(&p, 0x01e0), 0);
	CHECK_EQ(p, 0);
	/* Keyboard interface disabled: its bytes wait; the controller's answers do not. */
	outb(0xf2, 0x60);
	outb(0xad, 0x64);
	CHECK_EQ(inb(0x60), 0xfa); /* already in the output buffer */
	CHECK_EQ(inb(0x64) & I8042_STR_OBF, 0);
	outb(0xaa, 0x64);
	CHECK_EQ(inb(0x60), 0x55);
	CHECK_EQ(inb(0x64) & I8042_STR_OBF, 0);
	outb(0xae, 0x64);
	CHECK_EQ(inb(0x60), 0xab);
	CHECK_EQ(inb(0x60), 0x83);
	CHECK_EQ(inb(0x64) & I8042_STR_OBF, 0);
	outb(0xaa, 0x64);
	CHECK_EQ(inb(0x60), 0x55);
	/* Unknown controller commands do nothing. */
	outb(0x05, 0x64);
	outb(0xc1, 0x64);
	CHECK_EQ(inb(0x64) & I8042_STR_OBF, 0);
	/* An empty buffer reads its stale byte. */
	CHECK_EQ(inb(0x60), 0x55);
	/* Command/data bit. */
	outb(0xae, 0x64);
	CHECK(inb(0x64) & I8042_STR_CMDDAT);
	outb(0xf4, 0x60);
	CHECK(!(inb(0x64) & I8042_STR_CMDDAT));
	CHECK_EQ(inb(0x60), 0xfa);
}

/* Keyboard replies to odd input ("Keyboard Commands from the System"). */
static void test_keyboard(void)
{
	setup();
	i8042_flush(NULL);
	outb(0xee, 0x60);
	CHECK_EQ(inb(0x60), 0xee);
	outb(0xfe, 0x60); /* resend the last byte */
	CHECK_EQ(inb(0x60), 0xee);
	outb(0x42, 0x60); /* not a command */
	CHECK_EQ(inb(0x60), 0xfe);
	outb(0xf0, 0x60);
	CHECK_EQ(inb(0x60), 0xfa);
	outb(0x07, 0x60); /* no such set */
	CHECK_EQ(inb(0x60), 0xfe);
	outb(0xed, 0x60);
	CHECK_EQ(inb(0x60), 0xfa);
	outb(0xf2, 0x60); /* a command instead of the LED byte */
	CHECK_EQ(inb(0x60), 0xfa);
	CHECK_EQ(inb(0x60), 0xab);
	CHECK_EQ(inb(0x60), 0x83);
	outb(0xf3, 0x60);
	outb(0x20, 0x60);
	CHECK_EQ(inb(0x60), 0xfa);
	CHECK_EQ(inb(0x60), 0xfa);
	outb(0xed, 0x60);
	outb(0xff, 0x60);
	CHECK_EQ(inb(0x60), 0xfa);
	CHECK_EQ(inb(0x60), 0xfa);
	CHECK_EQ(inb(0x60), 0xaa);
	/* A flood: the keyboard's buffer keeps 16 bytes. */
	for (unsigned i = 0; i < 40; i++)
		outb(0xee, 0x60);
	unsigned got = 0;
	while (inb(0x64) & I8042_STR_OBF) {
		inb(0x60);
		got++;
	}
	CHECK_EQ(got, 1 + 16); /* the output buffer and the keyboard's 16-byte FIFO */
}

/* Random bytes at both ports: no crash; IRQ lines always as the buffer and CTR give. */
static void test_hostile(void)
{
	unsigned seed = 11, bad = 0;

	setup();
	for (unsigned i = 0; i < 200000; i++) {
		u8 v = (u8)rand_r(&seed);
		unsigned op = (unsigned)rand_r(&seed) % 4;
		u64 d = v;

		if (op == 0)
			i8042_cmd_access(&kbc, 0, &d, 1 + (unsigned)rand_r(&seed) % 2, true);
		else if (op == 1)
			i8042_data_access(&kbc, 0, &d, 1 + (unsigned)rand_r(&seed) % 2, true);
		else if (op == 2)
			i8042_data_access(&kbc, 0, &d, 1, false);
		else
			i8042_cmd_access(&kbc, 0, &d, 4, false);
		u8 st = inb(0x64), ctr = kbc.ram[0];
		bool obf = st & I8042_STR_OBF, aux = st & I8042_STR_AUXDATA;

		bad += kbc.irq_kbd.level != (obf && !aux && (ctr & I8042_CTR_KBDINT));
		bad += kbc.irq_aux.level != (obf && aux && (ctr & I8042_CTR_AUXINT));
		bad += !!(st & I8042_STR_IBF) + !!(st & I8042_STR_PARITY);
	}
	CHECK_EQ(bad, 0);
}

int main(void)
{
	test_linux_probe();
	test_translation();
	test_outport();
	test_controller();
	test_keyboard();
	test_hostile();
	return check_done("test_i8042");
}
