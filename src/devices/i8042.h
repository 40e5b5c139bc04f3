/* SPDX-License-Identifier: MIT */
/*
 * The PC's 8042 keyboard controller with a PS/2 keyboard attached and no mouse (IBM PC AT
 * Technical Reference, "Keyboard Controller"; IBM PS/2 Hardware Interface Technical Reference,
 * "Keyboard/Auxiliary Device Controller" and "Keyboard"), behaving as QEMU's pckbd and ps2
 * models do where the references leave room: data port 0x60, status (read) and command (write)
 * port 0x64. The controller answers the commands an OS uses (command byte, self-test, interface
 * tests, port enables, output port with A20 and reset, AUX loopback, output-port pulses); the
 * keyboard answers reset, identify, LEDs, scan-code set, typematic, enable/disable, echo and
 * resend. Keystrokes from the host are not modelled. The auxiliary (mouse) port exists for the
 * loopback and its IRQ test, but no device is on it: bytes sent to it time out (0xfe with the
 * timeout bit), as on a PC with no mouse plugged in.
 *
 * Wiring (board): i8042_data_access at port 0x60 and i8042_cmd_access at port 0x64 (one byte
 * each: 0x61 is the PIT's); `irq_kbd` to ISA IRQ1 and `irq_aux` to ISA IRQ12 before i8042_init
 * (init keeps them). IRQ1 is high while the output buffer holds a byte not from the AUX port
 * and the command byte enables it; IRQ12 likewise for AUX bytes. The host callbacks report the
 * output port's reset line (bit 0, RCIN#/CPU reset) and A20 gate (bit 1).
 */
#pragma once
#include "common.h"
#include "devices/irq.h"

#define I8042_DATA_PORT 0x60
#define I8042_CMD_PORT	0x64
#define I8042_IRQ_KBD	1
#define I8042_IRQ_AUX	12
#define I8042_QUEUE	16

/* Called once the output port holds its new value: inside a20(), i8042_a20() is `enabled`
   already, so a board that ORs the A20 sources can read them all there. */
struct i8042_host {
	void (*reset)(void *opaque);		 /* output port bit 0 driven or pulsed low */
	void (*a20)(void *opaque, bool enabled); /* output port bit 1 changed */
	void *opaque;
};

/* Bytes waiting for the output buffer, each with the status bits it brings (AUXDATA, TIMEOUT). */
struct i8042_queue {
	u8 data[I8042_QUEUE], flags[I8042_QUEUE];
	unsigned head, count;
};

struct i8042 {
	struct irq_line irq_kbd, irq_aux;
	struct i8042_host host;
	u8 ram[32]; /* the controller's RAM; byte 0 is the command byte */
	u8 status;  /* SYS, CMD/DATA and KEYLOCK; the buffer bits come from `ob_flags` */
	u8 outport; /* output port P2 (bits 4 and 5 read as the buffer state) */
	u8 pending; /* controller command waiting for its data byte (0: none) */
	bool obf;   /* output buffer full */
	u8 ob, ob_flags;
	struct i8042_queue ctrl; /* the controller's own answers */
	struct i8042_queue kbd;	 /* bytes from the keyboard */
	/* The keyboard. */
	u8 kbd_arg_cmd; /* command waiting for its argument byte (0: none) */
	u8 kbd_leds, kbd_scanset, kbd_last;
};

/* Power-on: controller reset (i8042_reset), keyboard defaults, and the keyboard's BAT
   completion code 0xaa waiting in the output buffer, as after a PC's power-on self test. */
void i8042_init(struct i8042 *k, const struct i8042_host *host);
/* Controller reset, as QEMU's pckbd: command byte 03h (both interrupts on, ports enabled, no
   translation), status 18h, output port CFh (A20 on, reset line high), buffers empty. The
   keyboard, powered on its own, keeps its settings. */
void i8042_reset(struct i8042 *k);
void i8042_data_access(void *opaque, u64 offset, u64 *data, unsigned len, bool is_write);
void i8042_cmd_access(void *opaque, u64 offset, u64 *data, unsigned len, bool is_write);
/* Output port bit 1: the A20 gate as the controller drives it. */
bool i8042_a20(const struct i8042 *k);
/* The keyboard LEDs as last set (bit 0 Scroll, 1 Num, 2 Caps Lock). */
u8 i8042_kbd_leds(const struct i8042 *k);
