// SPDX-License-Identifier: MIT
/*
 * ioapic: ISA interrupts through the I/O APIC to the local APIC, as an OS in APIC mode takes
 * them (the 8259As stay masked): the IOAPIC's version register (82093AA 3.2.2), the PIT's IRQ 0
 * on input 2 (the ISA override, ACPI MADT) as an edge-triggered fixed interrupt: pending in the
 * LAPIC's IRR while IF = 0 (SDM vol. 3A 11.8.4), delivered by STI, waking HLT; the RTC's IRQ 8
 * on input 8 level-triggered: TMR set (SDM 11.8.4), remote IRR set until the LAPIC's EOI is
 * broadcast back to the IOAPIC (SDM 11.8.5, 82093AA 3.2.4); an HPET one-shot (IA-PC HPET 1.0a
 * 2.3.9) routed to input 20; a masked entry delivers nothing.
 */
#include "lib.h"

#define LAPIC 0xfee00000ul
#define LAPIC_ID 0x20
#define LAPIC_EOI 0xb0
#define LAPIC_SVR 0xf0
#define LAPIC_ISR 0x100
#define LAPIC_TMR 0x180
#define LAPIC_IRR 0x200
#define IOAPIC 0xfec00000ul
#define HPET 0xfed00000ul
#define RTC 0x70

#define VEC_PIT 0x30
#define VEC_RTC 0x38
#define VEC_HPET 0x48
#define RTE_LEVEL BIT(15)
#define RTE_REMOTE_IRR BIT(14)
#define RTE_MASKED BIT(16)

static volatile u64 pit_ticks, rtc_ticks, hpet_ticks;
static volatile u32 rtc_rte_in_handler, rtc_tmr_in_handler;

static u32 lapic_read(u32 reg) { return *(volatile u32 *)(LAPIC + reg); }
static void lapic_write(u32 reg, u32 v) { *(volatile u32 *)(LAPIC + reg) = v; }

static u32 ioapic_read(u32 reg)
{
	*(volatile u32 *)IOAPIC = reg;
	return *(volatile u32 *)(IOAPIC + 0x10);
}

static void ioapic_write(u32 reg, u32 v)
{
	*(volatile u32 *)IOAPIC = reg;
	*(volatile u32 *)(IOAPIC + 0x10) = v;
}

static void ioapic_route(unsigned pin, u32 low, u8 dest)
{
	ioapic_write(0x11 + 2 * pin, (u32)dest << 24);
	ioapic_write(0x10 + 2 * pin, low);
}

static bool vec_set(u32 base, u8 v)
{
	return lapic_read(base + 0x10 * (v / 32)) & (1u << (v % 32));
}

static u8 rtc_read(u8 reg)
{
	outb(RTC, reg);
	return inb(RTC + 1);
}

static void rtc_write(u8 reg, u8 v)
{
	outb(RTC, reg);
	outb(RTC + 1, v);
}

static u64 hpet_read(u32 reg) { return *(volatile u64 *)(HPET + reg); }
static void hpet_write(u32 reg, u64 v) { *(volatile u64 *)(HPET + reg) = v; }

static void pit_handler(struct frame *f)
{
	pit_ticks++;
	lapic_write(LAPIC_EOI, 0);
}

static void rtc_handler(struct frame *f)
{
	rtc_ticks++;
	rtc_rte_in_handler = ioapic_read(0x10 + 2 * 8);
	rtc_tmr_in_handler = vec_set(LAPIC_TMR, VEC_RTC);
	rtc_read(0x0c); /* reading register C drops IRQ 8 (MC146818A "Register C") */
	lapic_write(LAPIC_EOI, 0);
}

static void hpet_handler(struct frame *f)
{
	hpet_ticks++;
	lapic_write(LAPIC_EOI, 0);
}

static void test_pit(u8 id)
{
	set_handler(VEC_PIT, pit_handler);
	/* PIT counter 0, mode 2, 1193 counts: 1 kHz on IRQ 0, which reaches IOAPIC input 2. */
	outb(0x43, 0x34);
	outb(0x40, 1193 & 0xff);
	outb(0x40, 1193 >> 8);
	ioapic_route(2, VEC_PIT, id); /* fixed, physical, edge, active high */

	for (u64 t0 = rdtsc(); !vec_set(LAPIC_IRR, VEC_PIT) && rdtsc() - t0 < 20000000000ull;)
		asm volatile("pause");
	check(vec_set(LAPIC_IRR, VEC_PIT), "IRQ 0 reaches the LAPIC's IRR through IOAPIC input 2");
	check(pit_ticks == 0, "with IF = 0 nothing is delivered");
	check(!vec_set(LAPIC_TMR, VEC_PIT), "an edge-triggered entry leaves TMR clear");
	/* A later 1 kHz edge may be taken too before CLI when the handler ran long on the host. */
	asm volatile("sti; nop; cli");
	check(pit_ticks >= 1, "STI delivers vector %#x (ticks %llu)", VEC_PIT,
	      (unsigned long long)pit_ticks);
	check(!vec_set(LAPIC_ISR, VEC_PIT), "the EOI took it out of service");

	pit_ticks = 0;
	for (int i = 0; i < 5; i++)
		asm volatile("sti; hlt; cli");
	check(pit_ticks >= 5, "five STI; HLT wake on IRQ 0 (ticks %llu)",
	      (unsigned long long)pit_ticks);

	/* Masked: the entry sends nothing (82093AA 3.2.4). Take what was already requested, then
	   let some 1 kHz PIT edges pass with the entry masked. */
	ioapic_route(2, RTE_MASKED | VEC_PIT, id);
	asm volatile("sti; nop; cli");
	pit_ticks = 0;
	for (u64 t0 = rdtsc(); rdtsc() - t0 < 50000000ull;)
		asm volatile("pause");
	check(!vec_set(LAPIC_IRR, VEC_PIT) && pit_ticks == 0, "a masked entry delivers nothing");
	outb(0x43, 0x30); /* counter 0 to mode 0, no count: OUT0 stays low */
}

static void test_rtc(u8 id)
{
	set_handler(VEC_RTC, rtc_handler);
	rtc_read(0x0c);
	ioapic_route(8, RTE_LEVEL | VEC_RTC, id); /* fixed, level, active high */
	rtc_write(0x0a, 0x26);			   /* 32.768 kHz, 1024 Hz periodic rate */
	rtc_write(0x0b, rtc_read(0x0b) | 0x40);	   /* PIE */
	for (int i = 0; i < 3; i++)
		asm volatile("sti; hlt; cli");
	check(rtc_ticks >= 3, "the RTC's periodic interrupt arrives through IOAPIC input 8 (%llu)",
	      (unsigned long long)rtc_ticks);
	check(rtc_tmr_in_handler, "a level-triggered entry sets the vector's TMR bit");
	check(rtc_rte_in_handler & RTE_REMOTE_IRR, "remote IRR is set while in service (%#x)",
	      rtc_rte_in_handler);
	rtc_write(0x0b, rtc_read(0x0b) & ~0x40);
	rtc_read(0x0c);
	asm volatile("sti; nop; cli"); /* one requested meanwhile is taken and ended */
	check(!(ioapic_read(0x10 + 2 * 8) & RTE_REMOTE_IRR),
	      "the LAPIC's EOI cleared remote IRR (EOI broadcast)");
	ioapic_route(8, RTE_MASKED | RTE_LEVEL | VEC_RTC, id);
}

static void test_hpet(u8 id)
{
	u64 cap = hpet_read(0x0);
	u32 period_fs = cap >> 32;

	check(period_fs && period_fs <= 100000000, "HPET counter period %u fs", period_fs);
	check(hpet_read(0x100) & BIT(20 + 32), "timer 0 may be routed to IOAPIC input 20");
	set_handler(VEC_HPET, hpet_handler);
	ioapic_route(20, VEC_HPET, id);
	hpet_write(0x10, 1); /* ENABLE_CNF, no legacy replacement */
	/* Timer 0 one-shot, edge, routed to input 20, comparator 10 ms ahead (spec 2.3.8, 2.3.9).
	   A comparator the counter has passed fires only after the counter wraps: 1 ms ahead was
	   once too little on a loaded host (the run ended: nothing could wake the HLT). */
	u64 ticks_10ms = 10000000000000ull / period_fs;
	hpet_write(0x100, (20u << 9) | BIT(2));
	hpet_write(0x108, hpet_read(0xf0) + ticks_10ms);
	for (int i = 0; i < 1000 && !hpet_ticks; i++)
		asm volatile("sti; hlt; cli");
	check(hpet_ticks == 1, "the HPET one-shot fires once through IOAPIC input 20 (%llu)",
	      (unsigned long long)hpet_ticks);
	hpet_write(0x100, 0);
	hpet_write(0x10, 0);
}

int main(void)
{
	u32 ver = ioapic_read(0x01);
	u8 id;

	/* 0x20: an I/O APIC with the EOI register (the VMM's, as QEMU's); 0x11: the 82093AA's
	   (KVM's in-kernel IOAPIC, --kvm-irqchip kernel). */
	check((ver & 0xff) == 0x20 || (ver & 0xff) == 0x11, "IOAPIC version %#x", ver & 0xff);
	check(((ver >> 16) & 0xff) == 23, "24 redirection entries (max %u)", (ver >> 16) & 0xff);
	check(ioapic_read(0x10) & RTE_MASKED, "entries are masked at reset");
	lapic_write(LAPIC_SVR, 0x1ff); /* software-enable the LAPIC, spurious vector 0xff */
	id = lapic_read(LAPIC_ID) >> 24;
	test_pit(id);
	test_rtc(id);
	test_hpet(id);
	return report();
}
