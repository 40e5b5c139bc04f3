/* SPDX-License-Identifier: MIT */
/*
 * The local APIC as a 64-bit guest reaches it (SDM vol. 3A chapter 11): the xAPIC page at its
 * reset base, the registers the guests use (Table 11-1), the ICR's fields (11.6.1), and the TSC's
 * rate measured against the LAPIC timer, whose bus clock is 1 GHz in tollbooth and QEMU.
 */
#pragma once
#include "lib.h"

#define APIC_BASE_ADDR 0xfee00000ul
#define APIC_ID 0x20
#define APIC_VER 0x30
#define APIC_TPR 0x80
#define APIC_EOI 0xb0
#define APIC_SVR 0xf0
#define APIC_ICR 0x300
#define APIC_ICR2 0x310
#define APIC_LVT_TIMER 0x320
#define APIC_TIMER_INIT 0x380
#define APIC_TIMER_CUR 0x390
#define APIC_TIMER_DIV 0x3e0

#define ICR_BUSY BIT(12)
#define ICR_FIXED 0u
#define ICR_NMI (4u << 8)
#define ICR_INIT (5u << 8)
#define ICR_STARTUP (6u << 8)
#define ICR_ASSERT BIT(14)
#define ICR_LEVEL BIT(15)
#define ICR_ALL_BUT_SELF (3u << 18)

static inline u32 apic_read(u32 reg) { return *(volatile u32 *)(APIC_BASE_ADDR + reg); }
static inline void apic_write(u32 reg, u32 v) { *(volatile u32 *)(APIC_BASE_ADDR + reg) = v; }

/* TSC ticks per millisecond: 10 ms of the LAPIC timer (divide by 1, one-shot; the LVT entry is
   left masked, so no interrupt), polled. Leaves the timer's divider at 1 and the LVT masked. */
static inline u64 apic_tsc_per_ms(void)
{
	apic_write(APIC_TIMER_DIV, 0xb);
	apic_write(APIC_LVT_TIMER, BIT(16));
	apic_write(APIC_TIMER_INIT, 10000000);
	u64 c0 = rdtsc();
	while (apic_read(APIC_TIMER_CUR))
		asm volatile("pause");
	return (rdtsc() - c0) / 10;
}
