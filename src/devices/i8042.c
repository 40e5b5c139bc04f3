// SPDX-License-Identifier: MIT
/*
 * 8042 keyboard controller and PS/2 keyboard. Command, status and command-byte bit names follow
 * the IBM PS/2 Hardware Interface Technical Reference (and Linux's i8042.h, which uses them);
 * keyboard commands and replies follow its "Keyboard" chapter.
 */
#include <string.h>

#include "devices/i8042.h"

/* Status register. */
#define STR_OBF	    BIT(0)
#define STR_SYS	    BIT(2) /* system flag: 0 after power-on, 1 after a self-test passed */
#define STR_CMDDAT  BIT(3) /* the last write was to port 0x64 */
#define STR_KEYLOCK BIT(4) /* 1: the keyboard is not inhibited */
#define STR_AUXDATA BIT(5)
#define STR_TIMEOUT BIT(6)

/* Command byte (controller RAM byte 0). */
#define CTR_KBDINT BIT(0)
#define CTR_AUXINT BIT(1)
#define CTR_SYS	   BIT(2)
#define CTR_KBDDIS BIT(4)
#define CTR_AUXDIS BIT(5)
#define CTR_XLATE  BIT(6)

/* Output port P2. */
#define OUT_RESET   BIT(0) /* 0: CPU reset */
#define OUT_A20	    BIT(1)
#define OUT_OBF	    BIT(4) /* the IRQ1 pin */
#define OUT_AUX_OBF BIT(5) /* the IRQ12 pin */
#define OUT_POWERON 0xcf   /* QEMU's: reset high, A20 on, bits 2-3 and 6-7 high */

#define KBD_ACK	   0xfa
#define KBD_BAT_OK 0xaa
#define KBD_ECHO   0xee
#define KBD_RESEND 0xfe

static void q_push(struct i8042_queue *q, u8 b, u8 flags)
{
	unsigned i;

	if (q->count == I8042_QUEUE)
		return; /* overrun: the byte is lost */
	i = (q->head + q->count++) % I8042_QUEUE;
	q->data[i] = b;
	q->flags[i] = flags;
}

static u8 q_pop(struct i8042_queue *q, u8 *flags)
{
	u8 b = q->data[q->head];

	*flags = q->flags[q->head];
	q->head = (q->head + 1) % I8042_QUEUE;
	q->count--;
	return b;
}

/*
 * With XLATE the controller turns the keyboard's scan code set 2 into set 1 (PS/2 reference,
 * command byte bit 6). Of the bytes this keyboard sends, the set numbers it reports and the
 * second ID byte change; codes from 84h up (ACK, BAT, echo, resend, ID 0xab) pass unchanged.
 */
static u8 i8042_translate(u8 b)
{
	switch (b) {
	case 0x01:
		return 0x43;
	case 0x02:
	case 0x83:
		return 0x41;
	case 0x03:
		return 0x3f;
	default:
		return b;
	}
}

/* IRQ1/IRQ12 follow the output buffer and the command byte's enables. */
static void i8042_update_irq(struct i8042 *k)
{
	u8 ctr = k->ram[0];
	bool aux = k->obf && (k->ob_flags & STR_AUXDATA);
	bool kbd = k->obf && !aux && (ctr & CTR_KBDINT);

	aux = aux && (ctr & CTR_AUXINT);
	if (kbd != k->irq_kbd.level)
		irq_set_level(&k->irq_kbd, kbd);
	if (aux != k->irq_aux.level)
		irq_set_level(&k->irq_aux, aux);
}

/* Fill an empty output buffer: the controller's answers first, then the keyboard's bytes if its
   interface is enabled. */
static void i8042_settle(struct i8042 *k)
{
	u8 ctr = k->ram[0];

	if (!k->obf && k->ctrl.count) {
		k->ob = q_pop(&k->ctrl, &k->ob_flags);
		k->obf = true;
	} else if (!k->obf && k->kbd.count && !(ctr & CTR_KBDDIS)) {
		k->ob = q_pop(&k->kbd, &k->ob_flags);
		if (ctr & CTR_XLATE)
			k->ob = i8042_translate(k->ob);
		k->obf = true;
	}
	i8042_update_irq(k);
}

static void kbd_send(struct i8042 *k, u8 b)
{
	k->kbd_last = b;
	q_push(&k->kbd, b, 0);
}

/* Keyboard power-on defaults ("Set Default"): scan code set 2, LEDs off. */
static void kbd_defaults(struct i8042 *k)
{
	k->kbd_scanset = 2;
	k->kbd_leds = 0;
	k->kbd_arg_cmd = 0;
}

/* A command's argument byte. */
static void kbd_argument(struct i8042 *k, u8 cmd, u8 b)
{
	switch (cmd) {
	case 0xed: /* Set/Reset Mode Indicators */
		k->kbd_leds = b & 7;
		kbd_send(k, KBD_ACK);
		break;
	case 0xf0: /* Select Alternate Scan Codes: 0 reports the set in use */
		if (b > 3) {
			kbd_send(k, KBD_RESEND);
			return;
		}
		kbd_send(k, KBD_ACK);
		if (b)
			k->kbd_scanset = b;
		else
			kbd_send(k, k->kbd_scanset);
		break;
	default: /* 0xf3 Set Typematic Rate/Delay: no keys, nothing repeats */
		kbd_send(k, KBD_ACK);
		break;
	}
}

/* A byte the system sends to the keyboard. A command byte in place of an expected argument
   abandons the command it follows ("Keyboard Commands from the System"). */
static void kbd_write(struct i8042 *k, u8 b)
{
	if (k->kbd_arg_cmd && !(b & 0x80)) {
		u8 cmd = k->kbd_arg_cmd;

		k->kbd_arg_cmd = 0;
		kbd_argument(k, cmd, b);
		return;
	}
	k->kbd_arg_cmd = 0;
	switch (b) {
	case 0xed:
	case 0xf0:
	case 0xf3:
		k->kbd_arg_cmd = b;
		kbd_send(k, KBD_ACK);
		break;
	case 0xee: /* Echo */
		kbd_send(k, KBD_ECHO);
		break;
	case 0xf2: /* Read ID: an MF2 keyboard */
		kbd_send(k, KBD_ACK);
		kbd_send(k, 0xab);
		kbd_send(k, 0x83);
		break;
	case 0xf4: /* Enable */
	case 0xf7: /* Set All Keys (scan code set 3): there are no keys to set */
	case 0xf8:
	case 0xf9:
	case 0xfa:
	case 0xfb:
	case 0xfc:
	case 0xfd:
		kbd_send(k, KBD_ACK);
		break;
	case 0xf5: /* Default Disable */
	case 0xf6: /* Set Default */
		kbd_defaults(k);
		kbd_send(k, KBD_ACK);
		break;
	case 0xfe: /* Resend: the last byte sent */
		q_push(&k->kbd, k->kbd_last, 0);
		break;
	case 0xff: /* Reset: ACK, then the basic assurance test passes */
		kbd_defaults(k);
		kbd_send(k, KBD_ACK);
		kbd_send(k, KBD_BAT_OK);
		break;
	default: /* not a command: "Resend" */
		kbd_send(k, KBD_RESEND);
		break;
	}
}

/* Output port P2: bit 1 gates A20, bit 0 low resets the CPU. The port holds its new value
   before the host hears of it (i8042.h). */
static void i8042_write_outport(struct i8042 *k, u8 v)
{
	bool a20_changed = (k->outport ^ v) & OUT_A20;

	k->outport = v;
	if (a20_changed && k->host.a20)
		k->host.a20(k->host.opaque, v & OUT_A20);
	if (!(v & OUT_RESET) && k->host.reset)
		k->host.reset(k->host.opaque);
}

static void i8042_answer(struct i8042 *k, u8 b, u8 flags)
{
	q_push(&k->ctrl, b, flags);
}

static u8 i8042_read_outport(const struct i8042 *k)
{
	u8 v = k->outport & ~(OUT_OBF | OUT_AUX_OBF);

	if (k->obf)
		v |= k->ob_flags & STR_AUXDATA ? OUT_AUX_OBF : OUT_OBF;
	return v;
}

/* Controller commands at port 0x64 (PS/2 reference, "Keyboard Controller Commands"). */
static void i8042_command(struct i8042 *k, u8 cmd)
{
	k->pending = 0;
	if (cmd >= 0x20 && cmd <= 0x3f) { /* Read controller RAM; 20h is the command byte */
		i8042_answer(k, k->ram[cmd & 0x1f], 0);
		return;
	}
	if ((cmd >= 0x60 && cmd <= 0x7f) || cmd == 0xd1 || cmd == 0xd2 || cmd == 0xd3 ||
	    cmd == 0xd4) {
		k->pending = cmd; /* the data byte follows at port 0x60 */
		return;
	}
	if (cmd >= 0xf0) { /* Pulse output port bits 3:0 low where the command's bit is 0 */
		if (!(cmd & 1) && k->host.reset)
			k->host.reset(k->host.opaque);
		return;
	}
	switch (cmd) {
	case 0xa7: /* Disable Auxiliary Device */
		k->ram[0] |= CTR_AUXDIS;
		break;
	case 0xa8: /* Enable Auxiliary Device */
		k->ram[0] &= ~CTR_AUXDIS;
		break;
	case 0xa9: /* Auxiliary Device Interface Test: 00 no error */
	case 0xab: /* Keyboard Interface Test */
		i8042_answer(k, 0x00, 0);
		break;
	case 0xaa: /* Self-Test: 55h passed; the system flag sets */
		k->status |= STR_SYS;
		i8042_answer(k, 0x55, 0);
		break;
	case 0xad: /* Disable Keyboard Interface */
		k->ram[0] |= CTR_KBDDIS;
		break;
	case 0xae: /* Enable Keyboard Interface */
		k->ram[0] &= ~CTR_KBDDIS;
		break;
	case 0xc0: /* Read Input Port: bit 7, keyboard not inhibited (QEMU's 80h) */
		i8042_answer(k, 0x80, 0);
		break;
	case 0xd0: /* Read Output Port */
		i8042_answer(k, i8042_read_outport(k), 0);
		break;
	case 0xdd: /* Disable/Enable A20 (HP Vectra and most later controllers, as QEMU) */
		i8042_write_outport(k, k->outport & ~OUT_A20);
		break;
	case 0xdf:
		i8042_write_outport(k, k->outport | OUT_A20);
		break;
	case 0xe0: /* Read Test Inputs: keyboard clock and data low */
		i8042_answer(k, 0x00, 0);
		break;
	default:
		break; /* not a command this controller knows: ignored, no answer */
	}
}

/* The data byte of a pending command, or a byte for the keyboard. */
static void i8042_data(struct i8042 *k, u8 b)
{
	u8 cmd = k->pending;

	k->pending = 0;
	if (cmd >= 0x60 && cmd <= 0x7f) {
		k->ram[cmd & 0x1f] = b;
		/* The command byte's SYS bit is the status register's (PS/2 reference). */
		if (cmd == 0x60)
			k->status = (u8)((k->status & ~STR_SYS) | (b & CTR_SYS));
		return;
	}
	switch (cmd) {
	case 0xd1: /* Write Output Port */
		i8042_write_outport(k, b);
		break;
	case 0xd2: /* Write Keyboard Output Buffer: as if the keyboard sent it, untranslated */
		i8042_answer(k, b, 0);
		break;
	case 0xd3: /* Write Auxiliary Device Output Buffer: the loopback */
		i8042_answer(k, b, STR_AUXDATA);
		break;
	case 0xd4: /* Write to Auxiliary Device: nothing answers; the transfer times out */
		i8042_answer(k, KBD_RESEND, STR_AUXDATA | STR_TIMEOUT);
		break;
	default:
		/* Sending to the keyboard enables its interface (as QEMU's pckbd). */
		k->ram[0] &= ~CTR_KBDDIS;
		kbd_write(k, b);
		break;
	}
}

void i8042_data_access(void *opaque, u64 offset, u64 *data, unsigned len, bool is_write)
{
	struct i8042 *k = opaque;

	/* Bytes beyond the first belong to port 0x61 on the ISA bus: they float here. */
	if (is_write) {
		k->status &= ~STR_CMDDAT;
		i8042_data(k, (u8)*data);
	} else {
		/* An empty buffer reads its stale content. */
		*data = (len >= 8 ? ~0ull : (1ull << (8 * len)) - 1) & ~0xffull;
		*data |= k->ob;
		/* The read empties the buffer and drops the IRQ pin; the next byte raises it
		   again, a new edge for the interrupt controller. */
		k->obf = false;
		i8042_update_irq(k);
	}
	i8042_settle(k);
}

void i8042_cmd_access(void *opaque, u64 offset, u64 *data, unsigned len, bool is_write)
{
	struct i8042 *k = opaque;

	if (is_write) {
		k->status |= STR_CMDDAT;
		i8042_command(k, (u8)*data);
		i8042_settle(k);
		return;
	}
	*data = (len >= 8 ? ~0ull : (1ull << (8 * len)) - 1) & ~0xffull;
	*data |= k->status | (k->obf ? STR_OBF | (k->ob_flags & (STR_AUXDATA | STR_TIMEOUT)) : 0);
}

bool i8042_a20(const struct i8042 *k)
{
	return k->outport & OUT_A20;
}

u8 i8042_kbd_leds(const struct i8042 *k)
{
	return k->kbd_leds;
}

void i8042_reset(struct i8042 *k)
{
	memset(k->ram, 0, sizeof(k->ram));
	k->ram[0] = CTR_KBDINT | CTR_AUXINT;
	k->status = STR_CMDDAT | STR_KEYLOCK;
	k->outport = OUT_POWERON;
	k->pending = 0;
	k->obf = false;
	k->ob = k->ob_flags = 0;
	k->ctrl = (struct i8042_queue){ 0 };
	k->kbd = (struct i8042_queue){ 0 };
	i8042_settle(k);
}

void i8042_init(struct i8042 *k, const struct i8042_host *host)
{
	struct irq_line irq_kbd = k->irq_kbd, irq_aux = k->irq_aux;

	memset(k, 0, sizeof(*k));
	k->irq_kbd = irq_kbd;
	k->irq_aux = irq_aux;
	k->host = *host;
	kbd_defaults(k);
	i8042_reset(k);
	kbd_send(k, KBD_BAT_OK);
	i8042_settle(k);
}
