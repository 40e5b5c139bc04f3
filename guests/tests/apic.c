// SPDX-License-Identifier: MIT
/*
 * apic: external interrupts from the local APIC timer (SDM 3A 12.5.4) at 0xfee00000: the
 * APIC is enabled by IA32_APIC_BASE and SVR, the one-shot timer fires vector 0x40 only once
 * IF=1 (pending while IF=0), STI's one-instruction shadow, HLT wakes on it, EOI; and the same
 * interrupt arriving while the CPU runs at CPL 3 is delivered on the TSS.RSP0 stack with the
 * user SS:RSP in the frame (SDM 3A 7.14.4); MONITOR/MWAIT woken by it (if advertised); TSC-
 * deadline mode (if advertised).
 */
#include "apic.h"

#define TIMER_VECTOR 0x40

static volatile u64 ticks, tick_cs, tick_frame;
/* The periodic timer's run ends at this TSC (0: none running). */
static volatile u64 periodic_end;

static void timer_handler(struct frame *f)
{
	ticks++;
	tick_cs = f->cs;
	tick_frame = (u64)f;
	/* A host slower per interrupt than the period (a nested KVM under a software CPU)
	   delivers the next tick right after each IRET, and the computing loop never reads the
	   TSC again: the handler stops the timer once the run is over. */
	if (periodic_end && rdtsc() >= periodic_end) {
		periodic_end = 0;
		apic_write(APIC_TIMER_INIT, 0);
	}
	apic_write(APIC_EOI, 0);
}

static u64 u_spin(u64 arg)
{
	while (!*(volatile u64 *)arg)
		asm volatile("pause");
	return 1;
}

int main(void)
{
	if (!has_feature(1, REG_EDX, 9)) {
		skip("no local APIC (CPUID.01H:EDX.APIC = 0)");
		return report();
	}
	u64 base = rdmsr(0x1b);
	check((base & ~0xfffull) == APIC_BASE_ADDR && (base & BIT(11)), "IA32_APIC_BASE = 0xfee00000, enabled (%#llx)",
	      (unsigned long long)base);
	printf("APIC id %#x version %#x\n", apic_read(APIC_ID) >> 24, apic_read(APIC_VER));
	apic_write(APIC_SVR, 0x1ff);
	set_handler(TIMER_VECTOR, timer_handler);
	apic_write(APIC_TIMER_DIV, 0xb); /* divide by 1 */
	apic_write(APIC_LVT_TIMER, TIMER_VECTOR);
	apic_write(APIC_TIMER_INIT, 100000);
	u32 c1 = apic_read(APIC_TIMER_CUR);
	for (volatile int i = 0; i < 1000; i++)
		;
	u32 c2 = apic_read(APIC_TIMER_CUR);
	check(c2 < c1 || c2 == 0, "timer current count decreases (%u -> %u)", c1, c2);
	/* Wait with IF=0 until the interrupt is requested (IRR, SDM 3A 12.8.4). */
	u32 irr_reg = 0x200 + 0x10 * (TIMER_VECTOR / 32), irr_bit = 1u << (TIMER_VECTOR % 32);
	for (u64 t0 = rdtsc(); !(apic_read(irr_reg) & irr_bit) && rdtsc() - t0 < 10000000000ull;)
		asm volatile("pause");
	check(apic_read(irr_reg) & irr_bit, "timer expiry sets the vector's IRR bit");
	check(ticks == 0, "with IF=0 the requested interrupt stays pending");
	asm volatile("sti; nop; cli");
	check(ticks == 1, "STI delivers the pending interrupt (ticks %llu)", (unsigned long long)ticks);

	ticks = 0;
	apic_write(APIC_TIMER_INIT, 200000);
	asm volatile("sti; hlt; cli");
	check(ticks == 1 && tick_cs == SEL_KCODE, "STI; HLT wakes on the timer interrupt");

	/* MWAIT (SDM 2B MWAIT): with IF=1 an interrupt is a break event; it must not hang or fault
	   whether the implementation waits or treats it as a NOP. */
	if (HAS_MONITOR()) {
		static u64 line[8] __attribute__((aligned(64)));
		ticks = 0;
		apic_write(APIC_TIMER_INIT, 200000);
		asm volatile("sti; monitor; mwait" : : "a"(line), "c"(0), "d"(0) : "memory");
		for (u64 t0 = rdtsc(); !ticks && rdtsc() - t0 < 10000000000ull;)
			asm volatile("pause");
		asm volatile("cli");
		check(ticks == 1, "MONITOR; MWAIT with IF=1 returns and the timer interrupt arrives");
	} else {
		skip("MONITOR/MWAIT not advertised");
	}

	/* CR8 is TPR[7:4] (SDM 11.8.6.1): each shows what the other wrote, and a task priority at
	   or above the timer vector's class holds its interrupt in IRR until CR8 drops. */
	u64 cr8;
	asm volatile("mov %0, %%cr8" : : "r"(5ull));
	check((apic_read(APIC_TPR) & 0xff) == 0x50, "MOV to CR8 5 sets TPR to 0x50 (%#x)",
	      apic_read(APIC_TPR));
	apic_write(APIC_TPR, 0x3c);
	asm volatile("mov %%cr8, %0" : "=r"(cr8));
	check(cr8 == 3, "TPR 0x3c reads as CR8 3 (%llu)", (unsigned long long)cr8);
	asm volatile("mov %0, %%cr8" : : "r"((u64)(TIMER_VECTOR >> 4)));
	ticks = 0;
	apic_write(APIC_TIMER_INIT, 100000);
	for (u64 t0 = rdtsc(); !(apic_read(irr_reg) & irr_bit) && rdtsc() - t0 < 10000000000ull;)
		asm volatile("pause");
	asm volatile("sti; nop; nop; cli");
	check(ticks == 0 && (apic_read(irr_reg) & irr_bit),
	      "with CR8 = the vector's class the timer interrupt waits in IRR");
	asm volatile("mov %0, %%cr8; sti; nop; cli" : : "r"(0ull));
	check(ticks == 1, "CR8 0 lets it in (ticks %llu)", (unsigned long long)ticks);

	/* Interrupt while at CPL 3: the frame is on the RSP0 stack. */
	ticks = 0;
	user_rflags = 0x202;
	apic_write(APIC_TIMER_INIT, 300000);
	user_call(u_spin, (u64)&ticks);
	user_rflags = 0x2;
	check(ticks == 1 && tick_cs == SEL_UCODE, "timer interrupt taken at CPL 3 (cs %#llx)", (unsigned long long)tick_cs);
	check(tick_frame < (u64)rsp0_stack_top && tick_frame > (u64)rsp0_stack_top - 8192,
	      "delivered on the TSS.RSP0 stack (frame %#llx)", (unsigned long long)tick_frame);
	check(last_fault.ss == SEL_UDATA, "frame holds the user SS");

	/* TSC-deadline mode (SDM 11.5.4.1), if CPUID.01H:ECX[24] offers it: the interrupt comes
	   once the TSC reaches IA32_TSC_DEADLINE, never before; the MSR then reads 0 (disarmed).
	   Writing 0 disarms. */
	if (has_feature(1, REG_ECX, 24)) {
		apic_write(APIC_LVT_TIMER, TIMER_VECTOR | 2u << 17);
		ticks = 0;
		u64 target = rdtsc() + 2000000;
		wrmsr(0x6e0, target);
		asm volatile("sti");
		for (u64 t0 = rdtsc(); !ticks && rdtsc() - t0 < 10000000000ull;)
			asm volatile("hlt");
		asm volatile("cli");
		u64 at = rdtsc();
		check(ticks == 1 && at >= target, "TSC-deadline interrupt once the TSC passed the target");
		check(rdmsr(0x6e0) == 0, "IA32_TSC_DEADLINE reads 0 after it fired");
		ticks = 0;
		wrmsr(0x6e0, rdtsc() + 1000000);
		wrmsr(0x6e0, 0);
		for (u64 t0 = rdtsc(); rdtsc() - t0 < 5000000;)
			asm volatile("sti; nop; cli");
		check(ticks == 0, "writing 0 to IA32_TSC_DEADLINE disarms the timer");
	} else {
		skip("TSC-deadline mode not advertised");
	}
	/* A periodic timer while the CPU computes (SDM 11.5.4): the interrupts come at its rate,
	   not when something else happens to stop the guest. 10 kHz for about 50 ms is 500 ticks;
	   at least 10% must arrive, which a VMM that looks at its timers only at a host tick of
	   milliseconds misses (ticks are counted loosely: a host that descheduled the guest
	   coalesces some). */
	u64 tsc_per_ms = apic_tsc_per_ms();
	apic_write(APIC_LVT_TIMER, TIMER_VECTOR | 1u << 17); /* periodic */
	ticks = 0;
	apic_write(APIC_TIMER_INIT, 100000);                 /* 100 us at 1 GHz, divide by 1 */
	{
		u64 x = 1, t0 = rdtsc();

		periodic_end = t0 + 50 * tsc_per_ms;
		asm volatile("sti");
		while (rdtsc() - t0 < 50 * tsc_per_ms)
			for (int k = 0; k < 64; k++)
				x = x * 3 + 1;
		asm volatile("cli");
		periodic_end = 0;
		apic_write(APIC_TIMER_INIT, 0);
		check(ticks >= 50, "a 10 kHz periodic timer while computing 50 ms: %llu ticks (%llu)",
		      (unsigned long long)ticks, (unsigned long long)(x & 1));
	}
	apic_write(APIC_LVT_TIMER, BIT(16)); /* masked */
	return report();
}
