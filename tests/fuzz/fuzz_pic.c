// SPDX-License-Identifier: MIT
/*
 * The two 8259A PICs and the ELCR (src/devices/pic.c) under the device harness (device.h): the
 * master's, the slave's and the ELCR's ports, with events in between: argument byte 0 bit 7
 * clear: ISA IRQ (bits 3:0) goes to level bit 4; set: the CPU acknowledges (two INTA cycles).
 * Beyond the harness's checks, asserted: an acknowledged vector is one of a chip's eight (ICW2
 * bits 7:3 and the IR number, 8259A datasheet), and each chip's initialization sequence and
 * rotation state stay in range.
 */
#include "devices/pic.h"
#include "device.h"

static void *pic_fuzz_create(void)
{
	struct pic *p = calloc(1, sizeof(*p));

	if (!p)
		abort();
	pic_init(p);
	return p;
}

static void pic_fuzz_event(void *dev, const u8 *arg, size_t n)
{
	struct pic *p = dev;
	int vector;

	if (!n)
		return;
	if (!(arg[0] & 0x80)) {
		pic_set_irq(p, arg[0] & 15, arg[0] & 0x10);
		return;
	}
	vector = pic_intack(p);
	FUZZ_ASSERT(vector >= 0 && vector <= 0xff &&
			    ((vector & 0xf8) == (p->chip[0].vector_base & 0xf8) ||
			     (vector & 0xf8) == (p->chip[1].vector_base & 0xf8)),
		    "INTA gave vector %d; vector bases %#x and %#x", vector, p->chip[0].vector_base,
		    p->chip[1].vector_base);
}

static void pic_fuzz_check(void *dev)
{
	const struct pic *p = dev;

	for (unsigned i = 0; i < 2; i++)
		FUZZ_ASSERT(p->chip[i].init_state <= 3 && p->chip[i].priority_add <= 7,
			    "chip %u: init state %u, priority %u", i, p->chip[i].init_state,
			    p->chip[i].priority_add);
}

static const struct fuzz_device pic_device = {
	.ranges = { { 2, pic_master_access }, { 2, pic_slave_access }, { 2, pic_elcr_access } },
	.create = pic_fuzz_create,
	.destroy = free,
	.event = pic_fuzz_event,
	.check = pic_fuzz_check,
};

FUZZ_DEVICE_TARGET(pic_device)
