// SPDX-License-Identifier: MIT
/*
 * The local APIC (devices/lapic.h), the APIC bus (devices/apic_bus.h) and MSI decoding, driven
 * through their access functions with a fake guest clock and recording host callbacks. Each test
 * names the Intel SDM vol. 3A section it checks.
 */
#include <errno.h>
#include <string.h>

#include "check.h"
#include "devices/apic_bus.h"
#include "devices/lapic.h"

#define BUS_HZ 100000000ull /* 10 ns per timer tick at divide-by-1 */
#define TSC_HZ 2000000000ull /* 2 TSC cycles per ns */

static u64 fake_now;
static u64 fake_clock(void *opaque)
{
	(void)opaque;
	return fake_now;
}

/* What a LAPIC told its host. */
struct rec {
	struct apic_msg sent[16];
	unsigned n_sent, n_eoi, kicks;
	u8 eoi[16];
	u64 tsc_offset; /* the guest TSC is fake_now * 2 + offset */
	struct apic_bus *bus; /* when set, sends go on this bus */
};

static void rec_send(void *opaque, struct lapic *from, const struct apic_msg *m)
{
	struct rec *r = opaque;

	if (r->n_sent < ARRAY_SIZE(r->sent))
		r->sent[r->n_sent++] = *m;
	if (r->bus)
		apic_bus_deliver(r->bus, m, from);
}

static void rec_eoi(void *opaque, u8 vector)
{
	struct rec *r = opaque;

	if (r->n_eoi < ARRAY_SIZE(r->eoi))
		r->eoi[r->n_eoi++] = vector;
}

static void rec_kick(void *opaque)
{
	((struct rec *)opaque)->kicks++;
}

static u64 rec_tsc(void *opaque)
{
	return fake_now * (TSC_HZ / 1000000000ull) + ((struct rec *)opaque)->tsc_offset;
}

static struct timer_queue q;

static void setup(struct lapic *l, struct rec *r, u32 id, bool x2apic)
{
	struct lapic_config cfg = { .apic_id = id, .bsp = id == 0, .x2apic = x2apic,
				    .maxphyaddr = 39, .bus_hz = BUS_HZ, .tsc_hz = TSC_HZ };
	struct lapic_host host = { .send = rec_send, .eoi = rec_eoi, .kick = rec_kick,
				   .guest_tsc = rec_tsc, .opaque = r };

	memset(r, 0, sizeof(*r));
	CHECK_EQ(lapic_init(l, &cfg, &host, &q), 0);
}

static u32 rd(struct lapic *l, unsigned off)
{
	u64 v = 0xdeadbeef;

	lapic_mmio_access(l, off, &v, 4, false);
	return (u32)v;
}

static void wr(struct lapic *l, unsigned off, u32 val)
{
	u64 v = val;

	lapic_mmio_access(l, off, &v, 4, true);
}

static u64 rdmsr(struct lapic *l, u32 msr, int *err)
{
	u64 v = 0;

	*err = lapic_rdmsr(l, msr, &v);
	return v;
}

static bool bit_set(struct lapic *l, unsigned base, u8 v)
{
	return rd(l, base + (v / 32) * 16) & (1u << (v % 32));
}

/* An enabled LAPIC: SVR software enable, spurious vector 0xff. */
static void sw_enable(struct lapic *l)
{
	wr(l, APIC_SVR, 0x1ff);
}

static struct apic_msg fixed(u8 vector, bool level)
{
	return (struct apic_msg){ .vector = vector, .delivery_mode = APIC_DM_FIXED, .level = true,
				  .trigger_level = level };
}

static u32 esr(struct lapic *l)
{
	wr(l, APIC_ESR, 0);
	return rd(l, APIC_ESR);
}

/* SDM 11.4.7.1: the state after power-up or RESET. */
static void test_reset_state(void)
{
	struct lapic l;
	struct rec r;
	u64 base;
	int err;

	setup(&l, &r, 0, true);
	base = rdmsr(&l, MSR_IA32_APICBASE, &err);
	CHECK_EQ(base, 0xfee00000ull | APICBASE_EN | APICBASE_BSP);
	CHECK(lapic_mmio_decodes(&l, 0xfee00000));
	CHECK(lapic_mmio_decodes(&l, 0xfee00ff0));
	CHECK(!lapic_mmio_decodes(&l, 0xfee01000));
	CHECK_EQ(rd(&l, APIC_ID), 0);
	/* SDM 11.4.8: version 0x14, max LVT entry 6, EOI-broadcast suppression. */
	CHECK_EQ(rd(&l, APIC_LVR), 0x01060014);
	CHECK_EQ(rd(&l, APIC_SVR), 0xff);
	CHECK_EQ(rd(&l, APIC_DFR), 0xffffffffu);
	CHECK_EQ(rd(&l, APIC_TPR), 0);
	CHECK_EQ(rd(&l, APIC_PPR), 0);
	CHECK_EQ(rd(&l, APIC_LDR), 0);
	for (unsigned off = APIC_LVTT; off <= APIC_LVTERR; off += 16)
		CHECK_EQ(rd(&l, off), APIC_LVT_MASKED);
	CHECK_EQ(rd(&l, APIC_LVT_CMCI), APIC_LVT_MASKED);
	CHECK_EQ(rd(&l, APIC_TMICT), 0);
	CHECK_EQ(rd(&l, APIC_TMCCT), 0);

	setup(&l, &r, 5, false);
	CHECK_EQ(rdmsr(&l, MSR_IA32_APICBASE, &err), 0xfee00000ull | APICBASE_EN); /* not the BSP */
	CHECK_EQ(rd(&l, APIC_ID), 5u << 24);
}

/* SDM 11.4.4 and 11.12.5: IA32_APIC_BASE reserved bits and the legal mode transitions. */
static void test_apic_base(void)
{
	struct lapic l;
	struct rec r;
	const u64 xapic = 0xfee00000ull | APICBASE_EN | APICBASE_BSP;
	int err;

	setup(&l, &r, 3, false);
	CHECK_EQ(lapic_wrmsr(&l, MSR_IA32_APICBASE, xapic | APICBASE_EXTD), -EINVAL); /* no x2APIC */
	setup(&l, &r, 3, true);
	CHECK_EQ(lapic_wrmsr(&l, MSR_IA32_APICBASE, xapic | BIT(9)), -EINVAL);
	CHECK_EQ(lapic_wrmsr(&l, MSR_IA32_APICBASE, xapic | 1), -EINVAL);
	CHECK_EQ(lapic_wrmsr(&l, MSR_IA32_APICBASE, xapic | BIT(39)), -EINVAL); /* MAXPHYADDR 39 */
	CHECK_EQ(lapic_wrmsr(&l, MSR_IA32_APICBASE, 0xfee00000ull | APICBASE_EXTD), -EINVAL);
	CHECK_EQ(rdmsr(&l, MSR_IA32_APICBASE, &err), 0xfee00000ull | APICBASE_EN);

	/* Relocation: the page follows the base. */
	CHECK_EQ(lapic_wrmsr(&l, MSR_IA32_APICBASE, 0x7fff0000ull | APICBASE_EN), 0);
	CHECK(lapic_mmio_decodes(&l, 0x7fff0020));
	CHECK(!lapic_mmio_decodes(&l, 0xfee00020));
	CHECK_EQ(lapic_wrmsr(&l, MSR_IA32_APICBASE, 0xfee00000ull | APICBASE_EN), 0);

	/* xAPIC -> x2APIC: the x2APIC ID is the initial one, whatever was written to the xAPIC ID
	   register; the ICR's high half is not kept (SDM 11.12.5.1). */
	sw_enable(&l);
	wr(&l, APIC_ID, 0x09000000);
	wr(&l, APIC_ICR2, 0x07000000);
	CHECK_EQ(rd(&l, APIC_ID), 0x09000000);
	CHECK_EQ(lapic_wrmsr(&l, MSR_IA32_APICBASE, 0xfee00000ull | APICBASE_EN | APICBASE_EXTD), 0);
	CHECK(lapic_x2apic_mode(&l));
	CHECK(!lapic_mmio_decodes(&l, 0xfee00020)); /* SDM 11.12.1.2: no MMIO in x2APIC mode */
	CHECK_EQ(rdmsr(&l, 0x802, &err), 3);
	CHECK_EQ(err, 0);
	CHECK_EQ(rdmsr(&l, 0x830, &err) >> 32, 0);
	CHECK_EQ(rdmsr(&l, 0x80f, &err), 0x1ff); /* the rest of the state is kept */
	/* x2APIC -> xAPIC is illegal, x2APIC -> disabled legal (SDM 11.12.5). */
	CHECK_EQ(lapic_wrmsr(&l, MSR_IA32_APICBASE, 0xfee00000ull | APICBASE_EN), -EINVAL);
	CHECK(lapic_x2apic_mode(&l));
	CHECK_EQ(lapic_wrmsr(&l, MSR_IA32_APICBASE, 0xfee00000ull), 0);
	CHECK(!lapic_hw_enabled(&l));
	CHECK(!lapic_mmio_decodes(&l, 0xfee00020));
	/* disabled -> x2APIC is illegal; disabled -> xAPIC legal, in the reset state. */
	CHECK_EQ(lapic_wrmsr(&l, MSR_IA32_APICBASE, 0xfee00000ull | APICBASE_EN | APICBASE_EXTD),
		 -EINVAL);
	CHECK_EQ(lapic_wrmsr(&l, MSR_IA32_APICBASE, 0xfee00000ull | APICBASE_EN), 0);
	CHECK_EQ(rd(&l, APIC_SVR), 0xff);
	CHECK_EQ(rd(&l, APIC_ID), 3u << 24);

	/* A disabled LAPIC decodes no MMIO: reads are the bus's all ones (SDM 11.4.3). */
	CHECK_EQ(lapic_wrmsr(&l, MSR_IA32_APICBASE, 0xfee00000ull), 0);
	u64 v = 0;
	lapic_mmio_access(&l, APIC_LVR, &v, 4, false);
	CHECK_EQ(v, 0xffffffffu);
	/* ... and accepts nothing (SDM 11.4.3). */
	struct apic_msg nmi = { .delivery_mode = APIC_DM_NMI, .level = true };
	CHECK(!lapic_accept(&l, &nmi));
}

/* SDM 11.12.1.2, 11.12.1.3, Table 11-6: the x2APIC MSR interface. */
static void test_x2apic_msrs(void)
{
	struct lapic l;
	struct rec r;
	int err;

	setup(&l, &r, 0x23, true);
	/* Not in x2APIC mode: #GP. */
	CHECK_EQ(lapic_rdmsr(&l, 0x802, &(u64){ 0 }), -EINVAL);
	CHECK_EQ(lapic_wrmsr(&l, 0x808, 0), -EINVAL);
	CHECK_EQ(lapic_wrmsr(&l, MSR_IA32_APICBASE, 0xfee00000ull | APICBASE_EN | APICBASE_EXTD), 0);
	CHECK_EQ(rdmsr(&l, 0x802, &err), 0x23);
	/* SDM 11.12.10.2: LDR = cluster (ID[19:4]) << 16 | 1 << ID[3:0]. */
	CHECK_EQ(rdmsr(&l, 0x80d, &err), 0x00020008);
	CHECK_EQ(rdmsr(&l, 0x803, &err), 0x01060014);
	/* Read-only: WRMSR #GP; write-only: RDMSR #GP; absent: both. */
	CHECK_EQ(lapic_wrmsr(&l, 0x802, 0), -EINVAL);
	CHECK_EQ(lapic_wrmsr(&l, 0x80d, 0), -EINVAL);
	CHECK_EQ(lapic_wrmsr(&l, 0x80a, 0), -EINVAL);
	CHECK_EQ(lapic_wrmsr(&l, 0x839, 0), -EINVAL);
	CHECK_EQ(lapic_wrmsr(&l, 0x810, 0), -EINVAL);
	rdmsr(&l, 0x80b, &err);
	CHECK_EQ(err, -EINVAL);
	rdmsr(&l, 0x83f, &err);
	CHECK_EQ(err, -EINVAL);
	const u32 absent[] = { 0x800, 0x801, 0x809, 0x80c, 0x80e, 0x829, 0x831, 0x83a, 0x840, 0x8ff };
	for (unsigned i = 0; i < ARRAY_SIZE(absent); i++) {
		rdmsr(&l, absent[i], &err);
		CHECK_EQ(err, -EINVAL);
		CHECK_EQ(lapic_wrmsr(&l, absent[i], 0), -EINVAL);
	}
	/* Reserved bits: #GP, the register unchanged. */
	CHECK_EQ(lapic_wrmsr(&l, 0x808, 0x100), -EINVAL);
	CHECK_EQ(lapic_wrmsr(&l, 0x808, 0x1ull << 32), -EINVAL);
	CHECK_EQ(lapic_wrmsr(&l, 0x808, 0x35), 0);
	CHECK_EQ(rdmsr(&l, 0x808, &err), 0x35);
	CHECK_EQ(lapic_wrmsr(&l, 0x80f, 0x1ff | BIT(10)), -EINVAL);
	CHECK_EQ(lapic_wrmsr(&l, 0x80f, 0x1ff | APIC_SVR_DIRECTED_EOI), 0);
	CHECK_EQ(lapic_wrmsr(&l, 0x80b, 1), -EINVAL);  /* EOI: non-zero */
	CHECK_EQ(lapic_wrmsr(&l, 0x828, 1), -EINVAL);  /* ESR: non-zero */
	CHECK_EQ(lapic_wrmsr(&l, 0x83e, 0x4), -EINVAL); /* divide: bit 2 */
	CHECK_EQ(lapic_wrmsr(&l, 0x832, 0x40 | BIT(20)), -EINVAL); /* LVT timer reserved bit */
	CHECK_EQ(lapic_wrmsr(&l, 0x835, 0x40 | BIT(12)), 0); /* delivery status: read-only, not reserved */
	CHECK_EQ(rdmsr(&l, 0x835, &err), 0x40);
	CHECK_EQ(lapic_wrmsr(&l, 0x83f, 0x140), -EINVAL); /* SELF IPI: 31:8 */
	CHECK_EQ(lapic_wrmsr(&l, 0x830, 0x40 | BIT(13)), -EINVAL); /* ICR reserved bit 13 */
	CHECK_EQ(lapic_wrmsr(&l, 0x830, 0x40 | BIT(16)), -EINVAL);
	CHECK_EQ(lapic_wrmsr(&l, 0x830, 0x40 | BIT(20)), -EINVAL);
	CHECK_EQ(r.n_sent, 0);
	/* ICR: one 64-bit MSR; bit 12 ignored (SDM 11.12.9). */
	CHECK_EQ(lapic_wrmsr(&l, 0x830, (0x12345ull << 32) | APIC_ICR_BUSY | 0x41), 0);
	CHECK_EQ(r.n_sent, 1);
	CHECK_EQ(r.sent[0].dest, 0x12345);
	CHECK(r.sent[0].x2apic_dest);
	CHECK_EQ(r.sent[0].vector, 0x41);
	CHECK_EQ(rdmsr(&l, 0x830, &err), (0x12345ull << 32) | 0x41);
	/* SELF IPI (SDM 11.12.11): fixed, edge, to self without the bus. */
	CHECK_EQ(lapic_wrmsr(&l, 0x808, 0), 0);
	CHECK_EQ(lapic_wrmsr(&l, 0x83f, 0x61), 0);
	CHECK_EQ(r.n_sent, 1);
	CHECK(rdmsr(&l, 0x820 + 3, &err) & 2); /* IRR bit 0x61 */
	CHECK_EQ(lapic_pending_vector(&l), 0x61);
	CHECK_EQ(lapic_wrmsr(&l, 0x83f, 0x0f), 0); /* illegal vector: send illegal (SDM 11.5.3) */
	CHECK_EQ(lapic_wrmsr(&l, 0x828, 0), 0);
	CHECK_EQ(rdmsr(&l, 0x828, &err), APIC_ESR_SEND_ILLEGAL);
	/* The x2APIC ID is read-only to software; INIT keeps it (SDM 11.12.5.1). */
	lapic_init_reset(&l);
	CHECK(lapic_x2apic_mode(&l));
	CHECK_EQ(rdmsr(&l, 0x802, &err), 0x23);
	CHECK_EQ(rdmsr(&l, 0x80d, &err), 0x00020008);
	CHECK_EQ(rdmsr(&l, 0x80f, &err), 0xff);
}

/* SDM 11.4.1, Table 11-1, 11.5.3: the xAPIC page's register semantics and reserved offsets. */
static void test_xapic_registers(void)
{
	struct lapic l;
	struct rec r;
	u64 v;

	setup(&l, &r, 0, false);
	sw_enable(&l);
	wr(&l, APIC_TPR, 0x1234);
	CHECK_EQ(rd(&l, APIC_TPR), 0x34);
	wr(&l, APIC_LDR, 0x12345678);
	CHECK_EQ(rd(&l, APIC_LDR), 0x12000000);
	wr(&l, APIC_DFR, 0x0);
	CHECK_EQ(rd(&l, APIC_DFR), 0x0fffffff);
	wr(&l, APIC_ID, 0x0a0000ff);
	CHECK_EQ(rd(&l, APIC_ID), 0x0a000000);
	wr(&l, APIC_LVR, 0);
	CHECK_EQ(rd(&l, APIC_LVR), 0x01060014); /* read-only: ignored */
	wr(&l, APIC_PPR, 0xff);
	CHECK_EQ(rd(&l, APIC_PPR), 0x34); /* read-only; the TPR (SDM 11.8.3.1) */
	CHECK_EQ(rd(&l, APIC_EOI), 0); /* write-only */
	wr(&l, APIC_TDCR, 0xff);
	CHECK_EQ(rd(&l, APIC_TDCR), 0xb);
	wr(&l, APIC_ICR, 0xffffffff & ~(7u << 8)); /* reserved bits dropped; delivery status 0 */
	CHECK_EQ(rd(&l, APIC_ICR) & ~0xcd8ffu, 0);
	/* LVT reserved bits are dropped (SDM Figure 11-8). */
	wr(&l, APIC_LVTERR, 0xffffffff);
	CHECK_EQ(rd(&l, APIC_LVTERR), 0x100ff);
	wr(&l, APIC_LVT0, 0xffffffff);
	CHECK_EQ(rd(&l, APIC_LVT0), 0x1a7ff & ~APIC_LVT_REMOTE_IRR);
	wr(&l, APIC_LVTT, 0xffffffff);
	CHECK_EQ(rd(&l, APIC_LVTT), 0x700ff);
	wr(&l, APIC_LVTT, APIC_LVT_MASKED);

	/* Reserved offsets: "Illegal Register Address" (SDM 11.5.3), read 0. */
	CHECK_EQ(esr(&l), 0);
	CHECK_EQ(rd(&l, 0x40), 0);
	CHECK_EQ(esr(&l), APIC_ESR_ILLEGAL_REGISTER);
	CHECK_EQ(esr(&l), 0);
	wr(&l, 0x3f0, 0x40); /* SELF IPI: x2APIC only */
	CHECK_EQ(esr(&l), APIC_ESR_ILLEGAL_REGISTER);
	CHECK_EQ(lapic_pending_vector(&l), -1);
	wr(&l, 0x800 - 0x10, 1);
	CHECK_EQ(esr(&l), APIC_ESR_ILLEGAL_REGISTER);

	/* Sub-dword reads return the bytes; writes other than aligned dwords are ignored. */
	v = 0;
	lapic_mmio_access(&l, APIC_LVR + 2, &v, 1, false);
	CHECK_EQ(v, 0x06);
	v = 0;
	lapic_mmio_access(&l, APIC_LVR, &v, 8, false);
	CHECK_EQ(v, 0x01060014);
	v = 0x20;
	lapic_mmio_access(&l, APIC_TPR, &v, 1, true);
	CHECK_EQ(rd(&l, APIC_TPR), 0x34);
	v = 0x20;
	lapic_mmio_access(&l, APIC_TPR + 4, &v, 4, true);
	CHECK_EQ(rd(&l, APIC_TPR), 0x34);
	CHECK_EQ(esr(&l), 0);
}

/* SDM 11.8.3.1, 11.8.4: acceptance, PPR, the deliverable vector, INTA, EOI (11.8.5). */
static void test_priority(void)
{
	struct lapic l;
	struct rec r;
	struct apic_msg m;

	setup(&l, &r, 0, false);
	sw_enable(&l);
	m = fixed(0x50, false);
	CHECK(lapic_accept(&l, &m));
	CHECK_EQ(r.kicks, 1);
	m = fixed(0x60, false);
	CHECK(lapic_accept(&l, &m));
	CHECK(bit_set(&l, APIC_IRR, 0x50) && bit_set(&l, APIC_IRR, 0x60));
	CHECK_EQ(lapic_pending_vector(&l), 0x60);
	CHECK_EQ(lapic_intack(&l), 0x60);
	CHECK(bit_set(&l, APIC_ISR, 0x60) && !bit_set(&l, APIC_IRR, 0x60));
	CHECK_EQ(rd(&l, APIC_PPR), 0x60);
	/* A lower class waits behind the one in service; a higher one nests. */
	CHECK_EQ(lapic_pending_vector(&l), -1);
	m = fixed(0x6f, false); /* same class: waits */
	lapic_accept(&l, &m);
	CHECK_EQ(lapic_pending_vector(&l), -1);
	m = fixed(0x71, false);
	lapic_accept(&l, &m);
	CHECK_EQ(lapic_intack(&l), 0x71);
	CHECK_EQ(rd(&l, APIC_PPR), 0x70);
	/* EOI clears the highest in service. */
	wr(&l, APIC_EOI, 0);
	CHECK(!bit_set(&l, APIC_ISR, 0x71) && bit_set(&l, APIC_ISR, 0x60));
	wr(&l, APIC_EOI, 0);
	CHECK_EQ(rd(&l, APIC_PPR), 0);
	CHECK_EQ(lapic_pending_vector(&l), 0x6f);
	CHECK_EQ(lapic_intack(&l), 0x6f);
	wr(&l, APIC_EOI, 0);
	wr(&l, APIC_EOI, 0); /* nothing in service: no effect */
	CHECK_EQ(r.n_eoi, 0); /* edge-triggered: no EOI message */
	/* TPR: PPR is TPR when its class is at least the ISR's; delivery needs class > PPR's. */
	wr(&l, APIC_TPR, 0x50);
	CHECK_EQ(rd(&l, APIC_PPR), 0x50);
	CHECK_EQ(lapic_pending_vector(&l), -1); /* 0x50 is class 5, not above 5 */
	wr(&l, APIC_TPR, 0x4f);
	CHECK_EQ(lapic_pending_vector(&l), 0x50);
	CHECK_EQ(lapic_intack(&l), 0x50);
	CHECK_EQ(rd(&l, APIC_PPR), 0x50);
	wr(&l, APIC_TPR, 0x75);
	CHECK_EQ(rd(&l, APIC_PPR), 0x75);
	wr(&l, APIC_TPR, 0x35);
	CHECK_EQ(rd(&l, APIC_PPR), 0x50);
	wr(&l, APIC_EOI, 0);
	CHECK_EQ(rd(&l, APIC_PPR), 0x35);
	/* Repeated acceptance of a pending vector merges into one IRR bit. */
	m = fixed(0x80, false);
	lapic_accept(&l, &m);
	lapic_accept(&l, &m);
	CHECK_EQ(lapic_intack(&l), 0x80);
	CHECK_EQ(lapic_pending_vector(&l), -1);
	/* SDM 11.9: INTA with nothing deliverable gets the spurious vector, no ISR bit. */
	wr(&l, APIC_EOI, 0);
	wr(&l, APIC_SVR, 0x1e7);
	CHECK_EQ(lapic_intack(&l), 0xe7);
	CHECK(!bit_set(&l, APIC_ISR, 0xe7));
	CHECK_EQ(rd(&l, APIC_PPR), 0x35);
}

/* SDM 11.8.4, 11.8.5: TMR at acceptance, the EOI message, EOI-broadcast suppression. */
static void test_level_eoi(void)
{
	struct lapic l;
	struct rec r;
	struct apic_msg m;

	setup(&l, &r, 0, false);
	sw_enable(&l);
	m = fixed(0x90, true);
	lapic_accept(&l, &m);
	CHECK(bit_set(&l, APIC_TMR, 0x90));
	m = fixed(0x91, false);
	lapic_accept(&l, &m);
	CHECK(!bit_set(&l, APIC_TMR, 0x91));
	CHECK_EQ(lapic_intack(&l), 0x91);
	wr(&l, APIC_EOI, 0);
	CHECK_EQ(r.n_eoi, 0);
	CHECK_EQ(lapic_intack(&l), 0x90);
	wr(&l, APIC_EOI, 0);
	CHECK_EQ(r.n_eoi, 1);
	CHECK_EQ(r.eoi[0], 0x90);
	/* Edge acceptance of the same vector clears its TMR bit. */
	m = fixed(0x90, false);
	lapic_accept(&l, &m);
	CHECK(!bit_set(&l, APIC_TMR, 0x90));
	lapic_intack(&l);
	wr(&l, APIC_EOI, 0);
	CHECK_EQ(r.n_eoi, 1);
	/* SVR bit 12: no EOI message. */
	wr(&l, APIC_SVR, 0x1ff | APIC_SVR_DIRECTED_EOI);
	CHECK_EQ(rd(&l, APIC_SVR), 0x11ff);
	m = fixed(0x90, true);
	lapic_accept(&l, &m);
	lapic_intack(&l);
	wr(&l, APIC_EOI, 0);
	CHECK_EQ(r.n_eoi, 1);
	CHECK(!bit_set(&l, APIC_ISR, 0x90));
}

/* SDM 11.5.3: illegal vectors, ESR latching on write, the error interrupt. */
static void test_esr(void)
{
	struct lapic l;
	struct rec r;
	struct apic_msg m;

	setup(&l, &r, 0, false);
	sw_enable(&l);
	m = fixed(0x0f, false);
	CHECK(!lapic_accept(&l, &m));
	CHECK_EQ(lapic_pending_vector(&l), -1);
	/* Errors show in the ESR only after a write. */
	CHECK_EQ(rd(&l, APIC_ESR), 0);
	wr(&l, APIC_ESR, 0);
	CHECK_EQ(rd(&l, APIC_ESR), APIC_ESR_RECV_ILLEGAL);
	wr(&l, APIC_ESR, 0);
	CHECK_EQ(rd(&l, APIC_ESR), 0);
	/* Sending vector 0-15 fixed or lowest priority: "Send Illegal Vector", nothing sent. */
	wr(&l, APIC_ICR2, 0x01000000);
	wr(&l, APIC_ICR, 0x05);
	wr(&l, APIC_ICR, 0x105);
	CHECK_EQ(r.n_sent, 0);
	CHECK_EQ(esr(&l), APIC_ESR_SEND_ILLEGAL);
	/* NMI ignores the vector. */
	wr(&l, APIC_ICR, 0x405);
	CHECK_EQ(r.n_sent, 1);
	CHECK_EQ(esr(&l), 0);
	/* A local LVT interrupt with an illegal vector: receive illegal. */
	wr(&l, APIC_LVT_CMCI, 0x03);
	lapic_raise_lvt(&l, LAPIC_LVT_CMCI);
	CHECK_EQ(esr(&l), APIC_ESR_RECV_ILLEGAL);
	/* The error interrupt: once per ESR write (the write rearms it). */
	wr(&l, APIC_LVTERR, 0xfe);
	m = fixed(0x01, false);
	lapic_accept(&l, &m);
	CHECK_EQ(lapic_pending_vector(&l), 0xfe);
	CHECK_EQ(lapic_intack(&l), 0xfe);
	wr(&l, APIC_EOI, 0);
	lapic_accept(&l, &m);
	CHECK_EQ(lapic_pending_vector(&l), -1);
	CHECK_EQ(esr(&l), APIC_ESR_RECV_ILLEGAL);
	lapic_accept(&l, &m);
	CHECK_EQ(lapic_pending_vector(&l), 0xfe);
	lapic_intack(&l);
	wr(&l, APIC_EOI, 0);
	/* An illegal vector in the LVT error entry itself: recorded, no recursion. */
	wr(&l, APIC_ESR, 0);
	wr(&l, APIC_LVTERR, 0x02);
	lapic_accept(&l, &m);
	CHECK_EQ(lapic_pending_vector(&l), -1);
	CHECK_EQ(esr(&l), APIC_ESR_RECV_ILLEGAL);
}

/* SDM 11.4.7.2: the software-disabled state. */
static void test_software_disable(void)
{
	struct lapic l;
	struct rec r;
	struct apic_msg m = fixed(0x40, false), nmi = { .delivery_mode = APIC_DM_NMI, .level = true };

	setup(&l, &r, 0, false);
	/* At reset the APIC is software-disabled: LVTs stay masked, fixed interrupts dropped. */
	wr(&l, APIC_LVTT, 0x40);
	CHECK_EQ(rd(&l, APIC_LVTT), 0x10040);
	CHECK(!lapic_accept(&l, &m));
	CHECK(lapic_accept(&l, &nmi));
	CHECK(lapic_pending_events(&l) & LAPIC_EV_NMI);
	sw_enable(&l);
	wr(&l, APIC_LVTT, 0x40);
	wr(&l, APIC_LVT0, 0x700);
	CHECK_EQ(rd(&l, APIC_LVTT), 0x40);
	CHECK(lapic_accept(&l, &m));
	/* Clearing the enable sets every mask; IRR and ISR are kept. */
	wr(&l, APIC_SVR, 0xff);
	CHECK_EQ(rd(&l, APIC_LVTT), 0x10040);
	CHECK_EQ(rd(&l, APIC_LVT0), 0x10700);
	CHECK_EQ(rd(&l, APIC_LVTERR), 0x10000);
	CHECK_EQ(lapic_pending_vector(&l), 0x40);
	/* It can still send IPIs. */
	wr(&l, APIC_ICR, 0x000c0041);
	CHECK_EQ(r.n_sent, 1);
}

/* SDM 11.6.1, Table 11-3: the ICR, shorthands, trigger override, invalid combinations. */
static void test_icr(void)
{
	struct lapic l;
	struct rec r;

	setup(&l, &r, 0, false);
	sw_enable(&l);
	wr(&l, APIC_ICR2, 0x02ffffff);
	CHECK_EQ(rd(&l, APIC_ICR2), 0x02000000);
	wr(&l, APIC_ICR, 0x4841); /* fixed, logical, assert, vector 0x41 */
	CHECK_EQ(r.n_sent, 1);
	CHECK_EQ(r.sent[0].dest, 2);
	CHECK(!r.sent[0].x2apic_dest);
	CHECK(r.sent[0].dest_logical);
	CHECK_EQ(r.sent[0].vector, 0x41);
	CHECK_EQ(r.sent[0].delivery_mode, APIC_DM_FIXED);
	CHECK_EQ(r.sent[0].shorthand, APIC_SH_NONE);
	CHECK_EQ(rd(&l, APIC_ICR) & APIC_ICR_BUSY, 0); /* delivered: idle */
	/* Level trigger is overridden to edge (Table 11-3 note 2). */
	wr(&l, APIC_ICR, 0xc041);
	CHECK(!r.sent[1].trigger_level);
	/* INIT assert (level) goes as an edge INIT; INIT level de-assert stays what it is. */
	wr(&l, APIC_ICR, 0xc500);
	CHECK_EQ(r.sent[2].delivery_mode, APIC_DM_INIT);
	CHECK(!r.sent[2].trigger_level && r.sent[2].level);
	wr(&l, APIC_ICR, 0x8500);
	CHECK(r.sent[3].trigger_level && !r.sent[3].level);
	/* SIPI, NMI, SMI, lowest priority. */
	wr(&l, APIC_ICR, 0x0698);
	CHECK_EQ(r.sent[4].delivery_mode, APIC_DM_STARTUP);
	CHECK_EQ(r.sent[4].vector, 0x98);
	wr(&l, APIC_ICR, 0x0400);
	wr(&l, APIC_ICR, 0x0200);
	wr(&l, APIC_ICR, 0x0151);
	CHECK_EQ(r.sent[5].delivery_mode, APIC_DM_NMI);
	CHECK_EQ(r.sent[6].delivery_mode, APIC_DM_SMI);
	CHECK_EQ(r.sent[7].delivery_mode, APIC_DM_LOWEST);
	CHECK_EQ(r.n_sent, 8);
	/* Reserved delivery modes 011 and 111 send nothing. */
	wr(&l, APIC_ICR, 0x0341);
	wr(&l, APIC_ICR, 0x0741);
	CHECK_EQ(r.n_sent, 8);
	/* Shorthands: self stays local; all including / excluding self go to the bus. */
	wr(&l, APIC_ICR, 0x00040042);
	CHECK_EQ(r.n_sent, 8);
	CHECK_EQ(lapic_pending_vector(&l), 0x42);
	wr(&l, APIC_ICR, 0x00080043);
	wr(&l, APIC_ICR, 0x000c0400);
	CHECK_EQ(r.n_sent, 10);
	CHECK_EQ(r.sent[8].shorthand, APIC_SH_ALL_INCL_SELF);
	CHECK_EQ(r.sent[9].shorthand, APIC_SH_ALL_EXCL_SELF);
	CHECK_EQ(r.sent[9].delivery_mode, APIC_DM_NMI);
	/* Invalid (Table 11-3): self or all-including-self with a mode other than fixed. */
	wr(&l, APIC_ICR, 0x00040400);
	wr(&l, APIC_ICR, 0x00080500);
	wr(&l, APIC_ICR, 0x00080151);
	CHECK_EQ(r.n_sent, 10);
	CHECK_EQ(lapic_pending_events(&l), 0);
}

/* SDM 11.6.1, 11.4.7.2, 9.4.4: what a received message does. */
static void test_accept_modes(void)
{
	struct lapic l;
	struct rec r;
	struct apic_msg m = { .level = true };
	u8 sipi = 0;

	setup(&l, &r, 1, false);
	m.delivery_mode = APIC_DM_INIT;
	CHECK(lapic_accept(&l, &m));
	m.delivery_mode = APIC_DM_STARTUP;
	m.vector = 0x9a;
	CHECK(lapic_accept(&l, &m));
	m.delivery_mode = APIC_DM_SMI;
	CHECK(lapic_accept(&l, &m));
	CHECK_EQ(lapic_pending_events(&l), LAPIC_EV_INIT | LAPIC_EV_SIPI | LAPIC_EV_SMI);
	CHECK_EQ(r.kicks, 3);
	CHECK_EQ(lapic_take_events(&l, LAPIC_EV_SIPI | LAPIC_EV_NMI, &sipi), LAPIC_EV_SIPI);
	CHECK_EQ(sipi, 0x9a);
	CHECK_EQ(lapic_take_events(&l, ~0u, NULL), LAPIC_EV_INIT | LAPIC_EV_SMI);
	CHECK_EQ(lapic_pending_events(&l), 0);
	/* INIT level de-assert: no effect on this architecture (SDM 11.6.1). */
	m = (struct apic_msg){ .delivery_mode = APIC_DM_INIT, .trigger_level = true };
	CHECK(lapic_accept(&l, &m));
	CHECK_EQ(lapic_pending_events(&l), 0);
	/* ExtINT by message (an IOAPIC entry): ask the 8259A. */
	m = (struct apic_msg){ .delivery_mode = APIC_DM_EXTINT, .level = true };
	CHECK(lapic_accept(&l, &m));
	CHECK_EQ(lapic_take_events(&l, LAPIC_EV_EXTINT, NULL), LAPIC_EV_EXTINT);
	m.delivery_mode = APIC_DM_RESERVED;
	CHECK(!lapic_accept(&l, &m));
	/* INIT resets the LAPIC but not its ID or base (SDM 11.4.7.3). */
	sw_enable(&l);
	wr(&l, APIC_ID, 0x07000000);
	wr(&l, APIC_TPR, 0x20);
	m = fixed(0x40, false);
	lapic_accept(&l, &m);
	lapic_init_reset(&l);
	CHECK_EQ(rd(&l, APIC_ID), 0x07000000);
	CHECK_EQ(rd(&l, APIC_TPR), 0);
	CHECK_EQ(rd(&l, APIC_SVR), 0xff);
	CHECK_EQ(lapic_pending_vector(&l), -1);
	CHECK(lapic_mmio_decodes(&l, 0xfee00000));
}

/* SDM 11.6.2.1, 11.6.2.2, 11.12.10: destination matching. */
static void test_match_dest(void)
{
	struct lapic l;
	struct rec r;
	struct apic_msg m = { .delivery_mode = APIC_DM_FIXED };

	setup(&l, &r, 3, true);
	sw_enable(&l);
	m.dest = 3;
	CHECK(lapic_match_dest(&l, &m));
	m.dest = 4;
	CHECK(!lapic_match_dest(&l, &m));
	m.dest = 0xff;
	CHECK(lapic_match_dest(&l, &m)); /* broadcast */
	m.dest = 0x103; /* an 8-bit field: the upper bits are not the destination */
	CHECK(lapic_match_dest(&l, &m));
	/* Logical, flat model: a common bit with LDR[31:24]. */
	m.dest_logical = true;
	wr(&l, APIC_LDR, 0x24000000);
	m.dest = 0x04;
	CHECK(lapic_match_dest(&l, &m));
	m.dest = 0x21;
	CHECK(lapic_match_dest(&l, &m));
	m.dest = 0x42;
	CHECK(!lapic_match_dest(&l, &m));
	/* Cluster model: cluster nibble equal, a common bit in the low nibble. */
	wr(&l, APIC_DFR, 0x0fffffff);
	wr(&l, APIC_LDR, 0x32000000);
	m.dest = 0x36;
	CHECK(lapic_match_dest(&l, &m));
	m.dest = 0x26;
	CHECK(!lapic_match_dest(&l, &m));
	m.dest = 0x31;
	CHECK(!lapic_match_dest(&l, &m));
	m.dest = 0xff;
	CHECK(lapic_match_dest(&l, &m));
	/* A reserved DFR model selects nobody. */
	wr(&l, APIC_DFR, 0x5fffffff);
	m.dest = 0x32;
	CHECK(!lapic_match_dest(&l, &m));
	/* x2APIC (ID 3, cluster 0, LDR 0x00000008): 32-bit destinations. */
	CHECK_EQ(lapic_wrmsr(&l, MSR_IA32_APICBASE, 0xfee00000ull | APICBASE_EN | APICBASE_EXTD), 0);
	m = (struct apic_msg){ .delivery_mode = APIC_DM_FIXED, .x2apic_dest = true, .dest = 3 };
	CHECK(lapic_match_dest(&l, &m));
	m.dest = 0x103;
	CHECK(!lapic_match_dest(&l, &m));
	m.dest = 0xff; /* not a broadcast in the 32-bit format */
	CHECK(!lapic_match_dest(&l, &m));
	m.dest = 0xffffffff;
	CHECK(lapic_match_dest(&l, &m));
	m.dest_logical = true;
	m.dest = 0x0000000c;
	CHECK(lapic_match_dest(&l, &m));
	m.dest = 0x00010008;
	CHECK(!lapic_match_dest(&l, &m));
	m.dest = 0x00000004;
	CHECK(!lapic_match_dest(&l, &m));
	/* An 8-bit destination (IOAPIC, MSI) into x2APIC mode: 0xff broadcasts. */
	m = (struct apic_msg){ .delivery_mode = APIC_DM_FIXED, .dest = 0xff };
	CHECK(lapic_match_dest(&l, &m));
	m.dest = 3;
	CHECK(lapic_match_dest(&l, &m));
}

/* SDM 11.6.2.4: the APR and the focus processor. */
static void test_apr_focus(void)
{
	struct lapic l;
	struct rec r;
	struct apic_msg m;

	setup(&l, &r, 0, false);
	sw_enable(&l);
	wr(&l, APIC_TPR, 0x45);
	CHECK_EQ(lapic_apr(&l), 0x45); /* TPR class >= IRRV's and > ISRV's */
	CHECK_EQ(rd(&l, APIC_APR), 0x45);
	m = fixed(0x61, false);
	lapic_accept(&l, &m);
	CHECK_EQ(lapic_apr(&l), 0x60); /* max(TPR AND ISRV, IRRV) classes */
	CHECK(lapic_is_focus(&l, 0x61));
	CHECK(!lapic_is_focus(&l, 0x62));
	lapic_intack(&l);
	CHECK(lapic_is_focus(&l, 0x61)); /* in service */
	CHECK_EQ(lapic_apr(&l), 0x40);    /* 4 AND 6 = 4 */
	wr(&l, APIC_SVR, 0x1ff | APIC_SVR_FOCUS_DISABLE);
	CHECK(!lapic_is_focus(&l, 0x61));
}

/* SDM 11.5.4: one-shot timer, current count from guest time, masking. */
static void test_timer_oneshot(void)
{
	struct lapic l;
	struct rec r;

	fake_now = 1000;
	setup(&l, &r, 0, false);
	sw_enable(&l);
	wr(&l, APIC_TDCR, 0xb); /* divide by 1: 10 ns per count */
	wr(&l, APIC_LVTT, 0x40);
	wr(&l, APIC_TMICT, 1000);
	CHECK_EQ(rd(&l, APIC_TMCCT), 1000);
	CHECK_EQ(timer_next_deadline(&q), 1000 + 10000);
	fake_now += 15;
	CHECK_EQ(rd(&l, APIC_TMCCT), 999); /* a decrement per whole 10 ns */
	fake_now = 1000 + 9999;
	CHECK_EQ(rd(&l, APIC_TMCCT), 1);
	CHECK_EQ(timer_run_expired(&q, fake_now), 0);
	fake_now = 1000 + 10000;
	CHECK_EQ(rd(&l, APIC_TMCCT), 0);
	CHECK_EQ(timer_run_expired(&q, fake_now), 1);
	CHECK_EQ(lapic_pending_vector(&l), 0x40);
	CHECK_EQ(timer_next_deadline(&q), TIMER_NEVER); /* one-shot: stopped */
	fake_now += 100000;
	CHECK_EQ(rd(&l, APIC_TMCCT), 0);
	/* Masked: counts down, no interrupt (SDM 11.5.4). */
	lapic_intack(&l);
	wr(&l, APIC_EOI, 0);
	wr(&l, APIC_LVTT, 0x10040);
	wr(&l, APIC_TMICT, 10);
	fake_now += 50;
	CHECK_EQ(rd(&l, APIC_TMCCT), 5);
	fake_now += 50;
	timer_run_expired(&q, fake_now);
	CHECK_EQ(lapic_pending_vector(&l), -1);
	CHECK_EQ(rd(&l, APIC_TMCCT), 0);
	/* A new initial count restarts; 0 stops. */
	wr(&l, APIC_LVTT, 0x40);
	wr(&l, APIC_TMICT, 100);
	fake_now += 500;
	wr(&l, APIC_TMICT, 100);
	CHECK_EQ(rd(&l, APIC_TMCCT), 100);
	wr(&l, APIC_TMICT, 0);
	CHECK_EQ(rd(&l, APIC_TMCCT), 0);
	CHECK_EQ(timer_next_deadline(&q), TIMER_NEVER);
	fake_now += 10000;
	timer_run_expired(&q, fake_now);
	CHECK_EQ(lapic_pending_vector(&l), -1);
}

/* SDM 11.5.4: periodic mode reloads; periods the vCPU did not see merge in the IRR. */
static void test_timer_periodic(void)
{
	struct lapic l;
	struct rec r;

	fake_now = 0;
	setup(&l, &r, 0, false);
	sw_enable(&l);
	wr(&l, APIC_TDCR, 0x0); /* divide by 2: 20 ns per count */
	wr(&l, APIC_LVTT, 0x20050);
	wr(&l, APIC_TMICT, 50); /* 1000 ns period */
	fake_now = 999;
	CHECK_EQ(timer_run_expired(&q, fake_now), 0);
	fake_now = 1000;
	CHECK_EQ(rd(&l, APIC_TMCCT), 50); /* just reloaded */
	CHECK_EQ(timer_run_expired(&q, fake_now), 1);
	CHECK_EQ(timer_next_deadline(&q), 2000);
	fake_now = 1300;
	CHECK_EQ(rd(&l, APIC_TMCCT), 35);
	CHECK_EQ(lapic_intack(&l), 0x50);
	wr(&l, APIC_EOI, 0);
	/* Three periods pass unseen: one interrupt, the next deadline on the period grid. */
	fake_now = 4500;
	CHECK_EQ(timer_run_expired(&q, fake_now), 1);
	CHECK_EQ(timer_next_deadline(&q), 5000);
	CHECK_EQ(lapic_intack(&l), 0x50);
	CHECK_EQ(lapic_pending_vector(&l), -1);
	wr(&l, APIC_EOI, 0);
	/* Periodic -> one-shot: the count goes on to 0 and stops. */
	wr(&l, APIC_LVTT, 0x50);
	CHECK_EQ(rd(&l, APIC_TMCCT), 25);
	fake_now = 5000;
	CHECK_EQ(timer_run_expired(&q, fake_now), 1);
	CHECK_EQ(timer_next_deadline(&q), TIMER_NEVER);
	CHECK_EQ(rd(&l, APIC_TMCCT), 0);
}

/* SDM 11.5.4, Figure 11-10: all eight divide encodings; a change goes on from the count. */
static void test_timer_divide(void)
{
	static const struct { u32 tdcr, div; } enc[] = {
		{ 0x0, 2 }, { 0x1, 4 }, { 0x2, 8 }, { 0x3, 16 },
		{ 0x8, 32 }, { 0x9, 64 }, { 0xa, 128 }, { 0xb, 1 },
	};
	struct lapic l;
	struct rec r;

	for (unsigned i = 0; i < ARRAY_SIZE(enc); i++) {
		fake_now = 0;
		setup(&l, &r, 0, false);
		sw_enable(&l);
		wr(&l, APIC_TDCR, enc[i].tdcr);
		CHECK_EQ(rd(&l, APIC_TDCR), enc[i].tdcr);
		wr(&l, APIC_LVTT, 0x40);
		wr(&l, APIC_TMICT, 1000);
		fake_now = 10 * enc[i].div * 100; /* 100 counts */
		CHECK_EQ(rd(&l, APIC_TMCCT), 900);
		CHECK_EQ(timer_next_deadline(&q), 10ull * enc[i].div * 1000);
		timer_cancel(&l.timer);
	}
	/* Divide 1 -> 4 mid-count: 900 counts left, now 40 ns each. */
	fake_now = 0;
	setup(&l, &r, 0, false);
	sw_enable(&l);
	wr(&l, APIC_TDCR, 0xb);
	wr(&l, APIC_LVTT, 0x40);
	wr(&l, APIC_TMICT, 1000);
	fake_now = 1000;
	wr(&l, APIC_TDCR, 0x1);
	CHECK_EQ(rd(&l, APIC_TMCCT), 900);
	CHECK_EQ(timer_next_deadline(&q), 1000 + 900 * 40);
	timer_cancel(&l.timer);
}

/* SDM 11.5.4.1: TSC-deadline mode. */
static void test_timer_tscdeadline(void)
{
	struct lapic l;
	struct rec r;
	int err;

	fake_now = 100;
	setup(&l, &r, 0, false);
	sw_enable(&l);
	/* Outside TSC-deadline mode the MSR reads 0 and ignores writes. */
	CHECK_EQ(lapic_wrmsr(&l, MSR_IA32_TSCDEADLINE, 5000), 0);
	CHECK_EQ(rdmsr(&l, MSR_IA32_TSCDEADLINE, &err), 0);
	CHECK_EQ(timer_next_deadline(&q), TIMER_NEVER);
	/* Switching into TSC-deadline mode disarms the count; TMICT writes are ignored and
	   TMCCT reads 0. */
	wr(&l, APIC_TMICT, 1000);
	wr(&l, APIC_LVTT, 0x40040);
	CHECK_EQ(rd(&l, APIC_TMICT), 0);
	CHECK_EQ(timer_next_deadline(&q), TIMER_NEVER);
	wr(&l, APIC_TMICT, 1000);
	CHECK_EQ(rd(&l, APIC_TMICT), 0);
	CHECK_EQ(rd(&l, APIC_TMCCT), 0);
	/* Arm: TSC is 2 per ns; deadline 2200 is at 1100 ns. */
	CHECK_EQ(lapic_wrmsr(&l, MSR_IA32_TSCDEADLINE, 2200), 0);
	CHECK_EQ(rdmsr(&l, MSR_IA32_TSCDEADLINE, &err), 2200);
	CHECK_EQ(timer_next_deadline(&q), 1100);
	/* Never early: a guest TSC behind guest time waits for it. */
	r.tsc_offset = (u64)-2; /* TSC 2 cycles behind */
	fake_now = 1100;
	CHECK_EQ(timer_run_expired(&q, fake_now), 1);
	CHECK_EQ(lapic_pending_vector(&l), -1);
	CHECK_EQ(timer_next_deadline(&q), 1102);
	fake_now = 1102;
	CHECK_EQ(timer_run_expired(&q, fake_now), 1);
	CHECK_EQ(lapic_pending_vector(&l), 0x40);
	r.tsc_offset = 0;
	/* Fired: the MSR is 0 again. */
	CHECK_EQ(rdmsr(&l, MSR_IA32_TSCDEADLINE, &err), 0);
	lapic_intack(&l);
	wr(&l, APIC_EOI, 0);
	/* Writing 0 disarms. */
	lapic_wrmsr(&l, MSR_IA32_TSCDEADLINE, 100000);
	CHECK(timer_next_deadline(&q) != TIMER_NEVER);
	lapic_wrmsr(&l, MSR_IA32_TSCDEADLINE, 0);
	CHECK_EQ(timer_next_deadline(&q), TIMER_NEVER);
	/* A deadline already passed fires at once. */
	lapic_wrmsr(&l, MSR_IA32_TSCDEADLINE, 1);
	CHECK_EQ(timer_next_deadline(&q), fake_now);
	timer_run_expired(&q, fake_now);
	CHECK_EQ(lapic_pending_vector(&l), 0x40);
	lapic_intack(&l);
	wr(&l, APIC_EOI, 0);
	/* Leaving TSC-deadline mode disarms and clears the MSR. */
	lapic_wrmsr(&l, MSR_IA32_TSCDEADLINE, 100000);
	wr(&l, APIC_LVTT, 0x40);
	CHECK_EQ(timer_next_deadline(&q), TIMER_NEVER);
	wr(&l, APIC_LVTT, 0x40040);
	CHECK_EQ(rdmsr(&l, MSR_IA32_TSCDEADLINE, &err), 0);
	/* Masked: disarms at the deadline without an interrupt. */
	wr(&l, APIC_LVTT, 0x50040);
	lapic_wrmsr(&l, MSR_IA32_TSCDEADLINE, rec_tsc(&r) + 10);
	fake_now += 5;
	timer_run_expired(&q, fake_now);
	CHECK_EQ(lapic_pending_vector(&l), -1);
	CHECK_EQ(rdmsr(&l, MSR_IA32_TSCDEADLINE, &err), 0);
	/* The reserved timer mode 3 does not count. */
	wr(&l, APIC_LVTT, 0x60040);
	wr(&l, APIC_TMICT, 10);
	CHECK_EQ(rd(&l, APIC_TMCCT), 0);
	CHECK_EQ(timer_next_deadline(&q), TIMER_NEVER);
}

static u64 rate_4ghz(void *opaque)
{
	return 4000000000ull;
}

static u64 rate_unknown(void *opaque)
{
	return 0;
}

/* The host's measured TSC rate (lapic_host.tsc_hz) wins over lapic_config.tsc_hz; 0 falls back. */
static void test_timer_tscdeadline_rate(void)
{
	struct lapic l;
	struct rec r;

	fake_now = 100;
	setup(&l, &r, 0, false);
	sw_enable(&l);
	wr(&l, APIC_LVTT, 0x40040);
	l.host.tsc_hz = rate_4ghz;
	/* TSC 200 now; deadline 2400 is 2200 cycles away: 550 ns at 4 GHz (1100 at the 2 GHz of
	   the config). */
	CHECK_EQ(lapic_wrmsr(&l, MSR_IA32_TSCDEADLINE, 2400), 0);
	CHECK_EQ(timer_next_deadline(&q), 100 + 550);
	l.host.tsc_hz = rate_unknown;
	CHECK_EQ(lapic_wrmsr(&l, MSR_IA32_TSCDEADLINE, 2400), 0);
	CHECK_EQ(timer_next_deadline(&q), 100 + 1100);
	timer_cancel(&l.timer);
}

/* SDM 11.5.1, 11.4.3: LINT0/LINT1 in each delivery mode, polarity, remote IRR. */
static void test_lint(void)
{
	struct lapic l;
	struct rec r;

	setup(&l, &r, 0, false);
	/* Reset: hardware-enabled, LINT0 masked: the 8259A's INTR does not pass. */
	lapic_set_lint(&l, 0, true);
	CHECK_EQ(lapic_pending_events(&l), 0);
	sw_enable(&l);
	/* Virtual wire: LINT0 ExtINT, level-sensitive. */
	wr(&l, APIC_LVT0, 0x700);
	CHECK_EQ(lapic_pending_events(&l), LAPIC_EV_EXTINT);
	CHECK(r.kicks >= 1);
	lapic_set_lint(&l, 0, false);
	CHECK_EQ(lapic_pending_events(&l), 0);
	/* Polarity active low: asserted while the input is low. */
	wr(&l, APIC_LVT0, 0x2700);
	CHECK_EQ(lapic_pending_events(&l), LAPIC_EV_EXTINT);
	/* Taking EXTINT does not clear the level. */
	lapic_take_events(&l, LAPIC_EV_EXTINT, NULL);
	CHECK_EQ(lapic_pending_events(&l), LAPIC_EV_EXTINT);
	wr(&l, APIC_LVT0, 0x10700);
	CHECK_EQ(lapic_pending_events(&l), 0);
	/* LINT1 NMI, edge: one per rising edge. */
	wr(&l, APIC_LVT1, 0x400);
	lapic_set_lint(&l, 1, true);
	lapic_set_lint(&l, 1, true);
	CHECK_EQ(lapic_take_events(&l, ~0u, NULL), LAPIC_EV_NMI);
	CHECK_EQ(lapic_pending_events(&l), 0);
	lapic_set_lint(&l, 1, false);
	lapic_set_lint(&l, 1, true);
	CHECK_EQ(lapic_take_events(&l, ~0u, NULL), LAPIC_EV_NMI);
	/* LINT0 fixed edge. */
	lapic_set_lint(&l, 0, false);
	wr(&l, APIC_LVT0, 0x51);
	lapic_set_lint(&l, 0, true);
	CHECK_EQ(lapic_intack(&l), 0x51);
	CHECK(!bit_set(&l, APIC_TMR, 0x51));
	wr(&l, APIC_EOI, 0);
	CHECK_EQ(lapic_pending_vector(&l), -1);
	/* LINT0 fixed level: remote IRR until EOI; still asserted at EOI: taken again. */
	lapic_set_lint(&l, 0, false);
	wr(&l, APIC_LVT0, 0x8052);
	lapic_set_lint(&l, 0, true);
	CHECK(rd(&l, APIC_LVT0) & APIC_LVT_REMOTE_IRR);
	CHECK_EQ(lapic_intack(&l), 0x52);
	CHECK(bit_set(&l, APIC_TMR, 0x52));
	lapic_set_lint(&l, 0, true);
	CHECK_EQ(lapic_pending_vector(&l), -1);
	wr(&l, APIC_EOI, 0);
	CHECK_EQ(r.n_eoi, 1); /* the EOI message goes out as for any level vector */
	CHECK(rd(&l, APIC_LVT0) & APIC_LVT_REMOTE_IRR);
	CHECK_EQ(lapic_intack(&l), 0x52);
	lapic_set_lint(&l, 0, false);
	wr(&l, APIC_EOI, 0);
	CHECK(!(rd(&l, APIC_LVT0) & APIC_LVT_REMOTE_IRR));
	CHECK_EQ(lapic_pending_vector(&l), -1);
	/* Globally disabled: LINT0 is INTR, LINT1 NMI (SDM 11.4.3). */
	lapic_wrmsr(&l, MSR_IA32_APICBASE, 0xfee00000ull | APICBASE_BSP);
	lapic_set_lint(&l, 0, true);
	CHECK_EQ(lapic_pending_events(&l), LAPIC_EV_EXTINT);
	lapic_set_lint(&l, 1, false);
	lapic_set_lint(&l, 1, true);
	CHECK_EQ(lapic_take_events(&l, LAPIC_EV_NMI, NULL), LAPIC_EV_NMI);
}

/* SDM 11.5.1: CMCI, thermal and PMC entries; PMI masks its entry. */
static void test_local_lvt(void)
{
	struct lapic l;
	struct rec r;

	setup(&l, &r, 0, false);
	sw_enable(&l);
	wr(&l, APIC_LVTPC, 0xe0);
	lapic_raise_lvt(&l, LAPIC_LVT_PMC);
	CHECK_EQ(lapic_pending_vector(&l), 0xe0);
	CHECK_EQ(rd(&l, APIC_LVTPC), 0x100e0);
	lapic_raise_lvt(&l, LAPIC_LVT_PMC); /* masked now */
	lapic_intack(&l);
	CHECK_EQ(lapic_pending_vector(&l), -1);
	wr(&l, APIC_LVTTHMR, 0x400);
	lapic_raise_lvt(&l, LAPIC_LVT_THERMAL);
	CHECK_EQ(lapic_take_events(&l, ~0u, NULL), LAPIC_EV_NMI);
	/* INIT and ExtINT are not supported for CMCI, thermal, PMC: nothing. */
	wr(&l, APIC_LVT_CMCI, 0x500);
	lapic_raise_lvt(&l, LAPIC_LVT_CMCI);
	wr(&l, APIC_LVT_CMCI, 0x7e1);
	lapic_raise_lvt(&l, LAPIC_LVT_CMCI);
	CHECK_EQ(lapic_pending_events(&l), 0);
	CHECK_EQ(lapic_pending_vector(&l), -1);
	wr(&l, APIC_LVT_CMCI, 0x2e1);
	lapic_raise_lvt(&l, LAPIC_LVT_CMCI);
	CHECK_EQ(lapic_take_events(&l, ~0u, NULL), LAPIC_EV_SMI);
	lapic_raise_lvt(&l, LAPIC_LVT_TIMER); /* not raisable from outside */
	CHECK_EQ(lapic_pending_vector(&l), -1);
}

/* SDM 11.11: MSI address/data decoding. */
static void test_msi_decode(void)
{
	struct apic_msg m;

	CHECK_EQ(apic_msi_decode(0xfee03000, 0x4041, &m), 0);
	CHECK_EQ(m.dest, 3);
	CHECK(!m.dest_logical && !m.redir_hint && !m.trigger_level && m.level);
	CHECK_EQ(m.vector, 0x41);
	CHECK_EQ(m.delivery_mode, APIC_DM_FIXED);
	CHECK_EQ(apic_msi_decode(0xfeeff00c, 0xc151, &m), 0);
	CHECK_EQ(m.dest, 0xff);
	CHECK(m.dest_logical && m.redir_hint && m.trigger_level && m.level);
	CHECK_EQ(m.delivery_mode, APIC_DM_LOWEST);
	CHECK_EQ(apic_msi_decode(0xfee00000, 0x8051, &m), 0); /* level de-assert */
	CHECK(m.trigger_level && !m.level);
	CHECK_EQ(apic_msi_decode(0xfee00000, 0x0051, &m), 0); /* edge: the level bit is ignored */
	CHECK(m.level);
	CHECK_EQ(apic_msi_decode(0xfee00000, 0x0400, &m), 0);
	CHECK_EQ(m.delivery_mode, APIC_DM_NMI);
	CHECK_EQ(apic_msi_decode(0xfee00000, 0x0700, &m), 0);
	CHECK_EQ(m.delivery_mode, APIC_DM_EXTINT);
	CHECK_EQ(apic_msi_decode(0xfee00000, 0x0300, &m), -EINVAL);
	CHECK_EQ(apic_msi_decode(0xfee00000, 0x0600, &m), -EINVAL);
	CHECK_EQ(apic_msi_decode(0xfed00000, 0x0041, &m), -EINVAL);
	CHECK_EQ(apic_msi_decode(0x1fee00000ull, 0x0041, &m), -EINVAL);
}

/* SDM 11.6.2: routing over several LAPICs; shorthands; 11.6.2.4 lowest priority. */
static void test_bus(void)
{
	struct lapic l[3];
	struct rec r[3];
	struct lapic *arr[3] = { &l[0], &l[1], &l[2] };
	struct apic_bus bus;
	struct apic_msg m;

	apic_bus_init(&bus, arr, 3);
	for (unsigned i = 0; i < 3; i++) {
		setup(&l[i], &r[i], i, false);
		r[i].bus = &bus;
		sw_enable(&l[i]);
		wr(&l[i], APIC_LDR, (1u << i) << 24); /* flat logical: bit i */
	}
	/* Physical, from CPU 0 to CPU 2 through the ICR. */
	wr(&l[0], APIC_ICR2, 0x02000000);
	wr(&l[0], APIC_ICR, 0x41);
	CHECK_EQ(lapic_pending_vector(&l[2]), 0x41);
	CHECK_EQ(lapic_pending_vector(&l[1]), -1);
	lapic_intack(&l[2]);
	wr(&l[2], APIC_EOI, 0);
	/* Nobody at the destination: lost, no error bit (SDM 11.5.3). */
	wr(&l[0], APIC_ICR2, 0x09000000);
	wr(&l[0], APIC_ICR, 0x42);
	for (unsigned i = 0; i < 3; i++)
		CHECK_EQ(lapic_pending_vector(&l[i]), -1);
	CHECK_EQ(esr(&l[0]), 0);
	/* Logical flat: bits 0 and 2. */
	wr(&l[0], APIC_ICR2, 0x05000000);
	wr(&l[0], APIC_ICR, 0x843);
	CHECK_EQ(lapic_pending_vector(&l[0]), 0x43);
	CHECK_EQ(lapic_pending_vector(&l[1]), -1);
	CHECK_EQ(lapic_pending_vector(&l[2]), 0x43);
	lapic_intack(&l[0]);
	wr(&l[0], APIC_EOI, 0);
	lapic_intack(&l[2]);
	wr(&l[2], APIC_EOI, 0);
	/* All excluding self: NMI to 1 and 2. */
	wr(&l[1], APIC_ICR, 0x000c0400);
	CHECK_EQ(lapic_pending_events(&l[0]), LAPIC_EV_NMI);
	CHECK_EQ(lapic_pending_events(&l[1]), 0);
	CHECK_EQ(lapic_pending_events(&l[2]), LAPIC_EV_NMI);
	/* All including self: fixed to everyone. */
	wr(&l[1], APIC_ICR, 0x00080044);
	for (unsigned i = 0; i < 3; i++) {
		CHECK_EQ(lapic_intack(&l[i]), 0x44);
		wr(&l[i], APIC_EOI, 0);
	}
	/* Lowest priority: the lowest APR among the targets... */
	wr(&l[0], APIC_TPR, 0x30);
	wr(&l[1], APIC_TPR, 0x10);
	wr(&l[2], APIC_TPR, 0x20);
	m = (struct apic_msg){ .dest = 0x07, .dest_logical = true, .vector = 0x45,
			       .delivery_mode = APIC_DM_LOWEST, .level = true };
	CHECK_EQ(apic_bus_deliver(&bus, &m, NULL), 1);
	CHECK_EQ(lapic_pending_vector(&l[1]), 0x45);
	CHECK_EQ(lapic_pending_vector(&l[0]), -1);
	CHECK_EQ(lapic_pending_vector(&l[2]), -1);
	/* ... unless one is the focus (the vector pending there). */
	wr(&l[2], APIC_TPR, 0x00);
	CHECK_EQ(apic_bus_deliver(&bus, &m, NULL), 1);
	CHECK_EQ(lapic_pending_vector(&l[2]), -1);
	lapic_intack(&l[1]);
	wr(&l[1], APIC_EOI, 0);
	/* Ties rotate. */
	for (unsigned i = 0; i < 3; i++)
		wr(&l[i], APIC_TPR, 0);
	unsigned got[3] = { 0 };
	for (unsigned k = 0; k < 6; k++) {
		CHECK_EQ(apic_bus_deliver(&bus, &m, NULL), 1);
		for (unsigned i = 0; i < 3; i++)
			if (lapic_pending_vector(&l[i]) == 0x45) {
				got[i]++;
				lapic_intack(&l[i]);
				wr(&l[i], APIC_EOI, 0);
			}
	}
	CHECK(got[0] == 2 && got[1] == 2 && got[2] == 2);
	/* A software-disabled target is skipped; an MSI with RH picks one of the set. */
	wr(&l[0], APIC_SVR, 0xff);
	wr(&l[2], APIC_TPR, 0x80);
	CHECK_EQ(apic_msi_decode(0xfee0500c, 0x0046, &m), 0); /* logical 0b101, RH */
	CHECK_EQ(apic_bus_deliver(&bus, &m, NULL), 1);
	CHECK(bit_set(&l[2], APIC_IRR, 0x46));
	/* Broadcast physical 0xff reaches the enabled ones that accept. */
	m = fixed(0x47, false);
	m.dest = 0xff;
	CHECK_EQ(apic_bus_deliver(&bus, &m, NULL), 2);
	/* A globally disabled LAPIC is never selected. */
	lapic_wrmsr(&l[1], MSR_IA32_APICBASE, 0xfee00000ull);
	m.delivery_mode = APIC_DM_NMI;
	CHECK_EQ(apic_bus_deliver(&bus, &m, NULL), 2);
}

/*
 * APIC-write completion (lapic_apic_write, SDM vol. 3C 30.4.3.3): the CPU puts the guest's value
 * on the page, the LAPIC then does the write. It must end exactly as the same MMIO write on a
 * twin LAPIC, for writes that depend on the old value: divide configuration mid-count, the LVT
 * timer's mode, TMICT, SVR disabling (masks every LVT), ESR latching.
 */
static void test_apic_write(void)
{
	static const struct { unsigned off; u32 val; } w[] = {
		{ APIC_TDCR, 0x1 }, { APIC_LVTT, 0x40 | 1u << 17 }, { APIC_TMICT, 500 },
		{ APIC_LDR, 0x03000000 }, { APIC_DFR, 0x0fffffff }, { APIC_ESR, 0 },
		{ APIC_LVT0, 0x8700 }, { APIC_ICR, 0x000c4041 }, { APIC_SVR, 0x0ff },
	};
	struct lapic a, b;
	struct rec ra, rb;

	fake_now = 0;
	setup(&a, &ra, 0, false);
	setup(&b, &rb, 0, false);
	sw_enable(&a);
	sw_enable(&b);
	wr(&a, APIC_TDCR, 0xb);
	wr(&b, APIC_TDCR, 0xb);
	wr(&a, APIC_LVTT, 0x40);
	wr(&b, APIC_LVTT, 0x40);
	wr(&a, APIC_TMICT, 1000);
	wr(&b, APIC_TMICT, 1000);
	for (unsigned i = 0; i < ARRAY_SIZE(w); i++) {
		fake_now += 1000;
		wr(&a, w[i].off, w[i].val);
		memcpy(b.regs + w[i].off, &w[i].val, 4); /* what the CPU does */
		lapic_apic_write(&b, w[i].off);
		CHECK(!memcmp(a.regs, b.regs, sizeof(a.regs)));
		CHECK(!memcmp(a.applied, b.applied, sizeof(a.applied)));
		CHECK_EQ(rd(&a, APIC_TMCCT), rd(&b, APIC_TMCCT));
		CHECK_EQ(a.timer.deadline, b.timer.deadline);
		CHECK_EQ(ra.n_sent, rb.n_sent);
		if (ra.n_sent && rb.n_sent)
			CHECK(!memcmp(&ra.sent[ra.n_sent - 1], &rb.sent[rb.n_sent - 1],
				      sizeof(ra.sent[0])));
	}
	timer_cancel(&a.timer);
	timer_cancel(&b.timer);
}

int main(void)
{
	CHECK_EQ(timer_queue_init(&q, fake_clock, NULL), 0);
	test_reset_state();
	test_apic_base();
	test_x2apic_msrs();
	test_xapic_registers();
	test_priority();
	test_level_eoi();
	test_esr();
	test_software_disable();
	test_icr();
	test_accept_modes();
	test_match_dest();
	test_apr_focus();
	test_timer_oneshot();
	test_timer_periodic();
	test_timer_divide();
	test_timer_tscdeadline();
	test_timer_tscdeadline_rate();
	test_lint();
	test_local_lvt();
	test_msi_decode();
	test_bus();
	test_apic_write();
	timer_queue_free(&q);
	return check_done("test_lapic");
}
