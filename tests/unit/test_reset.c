// SPDX-License-Identifier: MIT
/*
 * Port 0x92 and the 0xcf9 reset control register (devices/reset.h) against the ICH datasheet's
 * PORT92 and RST_CNT, with Linux's reboot=pci sequence (arch/x86/kernel/reboot.c, BOOT_CF9_FORCE)
 * and the ACPI FADT RESET_REG write.
 */
#include <stdlib.h>

#include "check.h"
#include "devices/reset.h"

static struct reset_ctl rc;
static unsigned n_init, n_hard, n_a20;
static bool a20;

static void host_reset(void *opaque, enum reset_kind kind)
{
	if (kind == RESET_INIT)
		n_init++;
	else
		n_hard++;
}

static void host_a20(void *opaque, bool on)
{
	n_a20++;
	a20 = on;
}

static u8 inb(u16 port)
{
	u64 d = 0;

	if (port == RESET_PORT92)
		reset_port92_access(&rc, 0, &d, 1, false);
	else
		reset_cf9_access(&rc, 0, &d, 1, false);
	return (u8)d;
}

static void outb(u8 v, u16 port)
{
	u64 d = v;

	if (port == RESET_PORT92)
		reset_port92_access(&rc, 0, &d, 1, true);
	else
		reset_cf9_access(&rc, 0, &d, 1, true);
}

static void setup(void)
{
	const struct reset_host host = { .reset = host_reset, .a20 = host_a20 };

	n_init = n_hard = n_a20 = 0;
	reset_ctl_init(&rc, &host);
}

/* PORT92: ALT_A20_GATE and INIT_NOW on its 0->1 transition; reserved bits read 0. */
static void test_port92(void)
{
	setup();
	CHECK_EQ(inb(0x92), 0);
	CHECK(!reset_ctl_a20(&rc));
	outb(0x02, 0x92); /* the "fast A20" of Linux's boot code and every BIOS */
	CHECK(reset_ctl_a20(&rc));
	CHECK_EQ(n_a20, 1);
	CHECK(a20);
	outb(0xfe, 0x92);
	CHECK_EQ(inb(0x92), 0x02);
	CHECK_EQ(n_a20, 1);
	CHECK_EQ(n_init, 0);
	outb(0x03, 0x92);
	CHECK_EQ(n_init, 1);
	outb(0x03, 0x92); /* no transition */
	CHECK_EQ(n_init, 1);
	outb(0x00, 0x92);
	CHECK_EQ(n_a20, 2);
	CHECK(!a20);
	outb(0x01, 0x92);
	CHECK_EQ(n_init, 2);
	CHECK_EQ(n_hard, 0);
	u64 d = 0;
	reset_port92_access(&rc, 0, &d, 2, false);
	CHECK_EQ(d, 0xff01);
}

/* RST_CNT: Linux's reboot=pci writes SYS_RST, then SYS_RST|RST_CPU: one hard reset. */
static void test_cf9(void)
{
	u8 cf9;

	setup();
	cf9 = inb(0xcf9) & ~6;
	outb(cf9 | 2, 0xcf9);
	CHECK_EQ(n_hard + n_init, 0);
	outb(cf9 | 6, 0xcf9);
	CHECK_EQ(n_hard, 1);
	CHECK_EQ(n_init, 0);
	CHECK_EQ(inb(0xcf9), 0x06);
	reset_ctl_reset(&rc); /* what the board's reset does */
	CHECK_EQ(inb(0xcf9), 0);
	/* The FADT's RESET_REG with RESET_VALUE 06h from the reset state. */
	outb(0x06, 0xcf9);
	CHECK_EQ(n_hard, 2);
	reset_ctl_reset(&rc);
	/* Soft reset: RST_CPU without SYS_RST is INIT#; FULL_RST is a hard reset. */
	outb(0x04, 0xcf9);
	CHECK_EQ(n_init, 1);
	outb(0x00, 0xcf9);
	outb(0x0c, 0xcf9);
	CHECK_EQ(n_hard, 3);
	/* Reserved bits read 0; hostile bytes never reset without a transition. */
	reset_ctl_reset(&rc);
	outb(0xf1, 0xcf9);
	CHECK_EQ(inb(0xcf9), 0);
	unsigned seed = 1, transitions = 0, prev = 0;
	for (unsigned i = 0; i < 10000; i++) {
		u8 v = (u8)rand_r(&seed);

		transitions += (v & 4) && !(prev & 4);
		prev = v;
		outb(v, 0xcf9);
	}
	CHECK_EQ(n_hard + n_init, 4 + transitions);
}

int main(void)
{
	test_port92();
	test_cf9();
	return check_done("test_reset");
}
