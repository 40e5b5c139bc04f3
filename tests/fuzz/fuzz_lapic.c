// SPDX-License-Identifier: MIT
/*
 * Local APICs (src/devices/lapic.c) on the APIC bus (src/devices/apic_bus.c) under the device
 * harness (device.h): two LAPICs, the BSP (ID 0) and an AP (ID 1), x2APIC-capable, with a 1 GHz
 * timer clock and a 2 GHz TSC; the script drives the BSP's xAPIC page, and events (argument byte 0
 * bits 2:0 choose, byte 1 `b` picks the LAPIC with bit 0 where one is named) do the rest:
 *   0  guest time passes (bytes 1-8 are nanoseconds) and the timers due fire
 *   1  WRMSR to the BSP: MSR b = 0xfe IA32_APIC_BASE, 0xff IA32_TSC_DEADLINE, else 0x800 + b,
 *      value bytes 2-9;  2  RDMSR of the same
 *   3  an MSI: address 0xfee00000 (0xfec00000 with byte 0 bit 7) | bytes 1-3 masked to 20 bits,
 *      data bytes 4-5, decoded (apic_msi_decode) and delivered on the bus
 *   4  LINT pin (b bit 1) of LAPIC b goes to level b bit 2
 *   5  LAPIC b's vCPU acknowledges an interrupt;  6  it takes the events of mask byte 2
 *   7  b bit 7: INIT of LAPIC b (lapic_init_reset); else the CPU raises LVT b bits 2:1 (CMCI,
 *      timer, thermal, PMC: only CMCI, thermal and PMC are the CPU's to raise) at the BSP
 * ICR writes put messages on the same bus. Beyond the harness's checks, asserted (SDM vol. 3A):
 * no IRR or ISR bit for vectors 0-15 is ever set ("the local APIC will never set an IRR bit in
 * the range 0 to 15", 11.5.3); a pending vector is 16-255 or none; an acknowledged vector is
 * 16-255 or the spurious vector (11.9); an EOI broadcast names a vector of 16 or more.
 */
#include "devices/apic_bus.h"
#include "devices/lapic.h"
#include "device.h"

struct lapic_fuzz {
	struct lapic lapic[2]; /* first: the harness's device pointer is the BSP's */
	struct lapic *lapics[2];
	struct apic_bus bus;
	struct fuzz_clock clock;
};

static void lapic_fuzz_send(void *opaque, struct lapic *from, const struct apic_msg *msg)
{
	struct lapic_fuzz *f = opaque;

	apic_bus_deliver(&f->bus, msg, from);
}

static void lapic_fuzz_eoi(void *opaque, u8 vector)
{
	FUZZ_ASSERT(vector >= 16, "EOI broadcast for vector %u", vector);
}

static u64 lapic_fuzz_tsc(void *opaque)
{
	return 2 * ((struct lapic_fuzz *)opaque)->clock.now;
}

static void *lapic_fuzz_create(void)
{
	/* struct lapic holds a page-aligned register page (the virtual-APIC page, lapic.h). */
	struct lapic_fuzz *f = aligned_alloc(_Alignof(struct lapic_fuzz), sizeof(*f));
	const struct lapic_host host = {
		.send = lapic_fuzz_send,
		.eoi = lapic_fuzz_eoi,
		.guest_tsc = lapic_fuzz_tsc,
		.opaque = f,
	};

	if (!f)
		abort();
	memset(f, 0, sizeof(*f));
	fuzz_clock_init(&f->clock);
	for (unsigned i = 0; i < 2; i++) {
		const struct lapic_config cfg = {
			.apic_id = i,
			.bsp = !i,
			.x2apic = true,
			.maxphyaddr = 39,
			.bus_hz = 1000000000,
			.tsc_hz = 2000000000,
		};

		if (lapic_init(&f->lapic[i], &cfg, &host, &f->clock.q))
			abort();
		f->lapics[i] = &f->lapic[i];
	}
	apic_bus_init(&f->bus, f->lapics, 2);
	return f;
}

static void lapic_fuzz_destroy(void *dev)
{
	struct lapic_fuzz *f = dev;

	fuzz_clock_free(&f->clock);
	free(f);
}

static u32 lapic_fuzz_msr(u8 b)
{
	return b == 0xfe ? 0x1b : b == 0xff ? 0x6e0 : 0x800u + b;
}

static void lapic_fuzz_event(void *dev, const u8 *arg, size_t n)
{
	struct lapic_fuzz *f = dev;
	u8 a[16] = { 0 }, sipi;
	struct lapic *l;
	struct apic_msg msg;
	u64 v = 0;
	int vector;

	memcpy(a, arg, n);
	l = &f->lapic[a[1] & 1];
	for (unsigned i = 0; i < 8; i++)
		v |= (u64)a[2 + i] << (8 * i);
	switch (a[0] & 7) {
	case 0:
		fuzz_clock_advance(&f->clock, arg + (n > 0), n ? n - 1 : 0);
		break;
	case 1:
		lapic_wrmsr(&f->lapic[0], lapic_fuzz_msr(a[1]), v);
		break;
	case 2:
		lapic_rdmsr(&f->lapic[0], lapic_fuzz_msr(a[1]), &v);
		break;
	case 3:
		if (!apic_msi_decode((a[0] & 0x80 ? 0xfec00000u : MSI_ADDR_BASE) |
					     ((a[1] | a[2] << 8 | (u32)a[3] << 16) & 0xfffff),
				     a[4] | (u32)a[5] << 8, &msg))
			apic_bus_deliver(&f->bus, &msg, NULL);
		break;
	case 4:
		lapic_set_lint(l, (a[1] >> 1) & 1, a[1] & 4);
		break;
	case 5:
		vector = lapic_intack(l);
		FUZZ_ASSERT((vector >= 16 && vector <= 255) || vector == (l->regs[APIC_SVR] & 0xff),
			    "INTA gave vector %d", vector);
		break;
	case 6:
		lapic_take_events(l, a[2], &sipi);
		break;
	case 7:
		if (a[1] & 0x80)
			lapic_init_reset(l);
		else
			lapic_raise_lvt(&f->lapic[0], (enum lapic_lvt)((a[1] >> 1) & 3));
		break;
	}
}

static void lapic_fuzz_check(void *dev)
{
	const struct lapic_fuzz *f = dev;

	for (unsigned i = 0; i < 2; i++) {
		const struct lapic *l = &f->lapic[i];
		int pending = lapic_pending_vector(l);
		u32 irr, isr;

		memcpy(&irr, &l->regs[APIC_IRR], 4);
		memcpy(&isr, &l->regs[APIC_ISR], 4);
		FUZZ_ASSERT(!(irr & 0xffff) && !(isr & 0xffff),
			    "LAPIC %u: IRR bits 31:0 %#x, ISR bits 31:0 %#x", i, irr, isr);
		FUZZ_ASSERT(pending == -1 || (pending >= 16 && pending <= 255),
			    "LAPIC %u: pending vector %d", i, pending);
	}
}

static const struct fuzz_device lapic_device = {
	.ranges = { { LAPIC_MMIO_SIZE, lapic_mmio_access } },
	.create = lapic_fuzz_create,
	.destroy = lapic_fuzz_destroy,
	.event = lapic_fuzz_event,
	.check = lapic_fuzz_check,
};

FUZZ_DEVICE_TARGET(lapic_device)
