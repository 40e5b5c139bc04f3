// SPDX-License-Identifier: MIT
/*
 * bench haltwake: how late a halted vCPU's timer interrupt arrives, the seeds' case for halt
 * polling. N times: arm the LAPIC timer one-shot for T microseconds (SDM vol. 3A 11.5.4), STI;
 * HLT until its interrupt, and measure the TSC from the arm to the wake. With nothing else to
 * run, the VMM waits for that deadline: asleep in ppoll (late by the host's wake-up latency) or
 * spinning to it (--halt-poll). The TSC rate is measured first against the LAPIC timer's
 * 1 GHz bus clock (tollbooth's, vmm/board.c), so the lateness comes out in nanoseconds.
 *
 * Command line (--append): "n=N" waits (default 1000), "us=T" microseconds each (default 50).
 * Output: haltwake: N waits of T us: mean M ns late (min A, max B); TSC D MHz
 */
#include "apic.h"

#define TIMER_VECTOR 0x40

static volatile u64 ticks;

static void timer_handler(struct frame *f)
{
	ticks++;
	apic_write(APIC_EOI, 0);
}

int main(void)
{
	u64 n = cmdline_u64("n", 1000), us = cmdline_u64("us", 50);
	u64 sum = 0, min = ~0ull, max = 0;

	if (!n || !us || us > 1000000) {
		printf("haltwake: bad n=%llu or us=%llu\n", (unsigned long long)n,
		       (unsigned long long)us);
		return 1;
	}
	set_handler(TIMER_VECTOR, timer_handler);
	apic_write(APIC_SVR, 0x1ff);
	u64 tsc_per_ms = apic_tsc_per_ms(); /* divide by 1: one count per bus-clock ns */
	apic_write(APIC_LVT_TIMER, TIMER_VECTOR);
	ticks = 0;
	for (u64 i = 0; i < n; i++) {
		u64 t0 = rdtsc();
		apic_write(APIC_TIMER_INIT, (u32)(us * 1000));
		while (ticks == i)
			asm volatile("sti; hlt; cli");
		u64 ns = (rdtsc() - t0) * 1000000 / tsc_per_ms;
		u64 late = ns > us * 1000 ? ns - us * 1000 : 0;
		sum += late;
		min = late < min ? late : min;
		max = late > max ? late : max;
	}
	printf("haltwake: %llu waits of %llu us: mean %llu ns late (min %llu, max %llu); TSC %llu MHz\n",
	       (unsigned long long)n, (unsigned long long)us, (unsigned long long)(sum / n),
	       (unsigned long long)min, (unsigned long long)max,
	       (unsigned long long)(tsc_per_ms / 1000));
	return 0;
}
