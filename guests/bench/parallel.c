// SPDX-License-Identifier: MIT
/*
 * bench parallel: every vCPU runs the same integer loop at once (a 2-vCPU parallel workload,
 * issue 13's figure beside QEMU TCG -smp N). Each iteration is 12 instructions:
 *	mov rax->rdx; shl 13; xor; mov; shr 7; xor; mov; shl 17; xor (xorshift64); add rax->rbx;
 *	dec rcx; jnz
 * The BSP starts the APs (guests/lib/smp.c), all start together on a flag and the time is from
 * the start to the last vCPU's end, on the TSC, whose rate is measured against the LAPIC timer's
 * 1 GHz bus clock (tollbooth's and QEMU's).
 *
 * Command line (--append): "k=K" iterations per vCPU in millions (default 20).
 * Output: parallel: V vCPUs x K M iterations: T ms, M MIPS (12 instructions per iteration)
 */
#include "smp.h"


static volatile u32 up, go, done;
static u64 iters;
static volatile u64 sink[SMP_MAX_CPUS];

static u64 work(u64 n, u64 seed)
{
	u64 x = seed | 1, acc = 0;

	asm volatile("1:\n\t"
		     "mov %0, %%rdx\n\tshl $13, %%rdx\n\txor %%rdx, %0\n\t"
		     "mov %0, %%rdx\n\tshr $7, %%rdx\n\txor %%rdx, %0\n\t"
		     "mov %0, %%rdx\n\tshl $17, %%rdx\n\txor %%rdx, %0\n\t"
		     "add %0, %1\n\tdec %2\n\tjnz 1b"
		     : "+r"(x), "+r"(acc), "+r"(n)
		     :
		     : "rdx", "cc");
	return acc;
}

static void ap_main(u32 id)
{
	__atomic_add_fetch(&up, 1, __ATOMIC_SEQ_CST);
	while (!go)
		asm volatile("pause");
	sink[id % SMP_MAX_CPUS] = work(iters, id);
	__atomic_add_fetch(&done, 1, __ATOMIC_SEQ_CST);
}

int main(void)
{
	unsigned n = smp_nr_cpus();
	u64 k = cmdline_u64("k", 20);

	if (n > SMP_MAX_CPUS)
		n = SMP_MAX_CPUS;
	if (!k || k > 100000) {
		printf("parallel: bad k=%llu\n", (unsigned long long)k);
		return 1;
	}
	iters = k * 1000000;
	apic_write(APIC_SVR, 0x1ff);
	u64 tsc_per_ms = apic_tsc_per_ms();

	smp_init(ap_main);
	for (u32 id = 1; id < n; id++)
		smp_start_ap(id);
	if (!smp_wait_for(&up, n - 1)) {
		printf("parallel: only %u of %u APs started\n", up, n - 1);
		return 1;
	}
	u64 t0 = rdtsc();
	go = 1;
	sink[0] = work(iters, 0);
	while (done < n - 1)
		asm volatile("pause");
	u64 ms = (rdtsc() - t0) / (tsc_per_ms ? tsc_per_ms : 1);
	printf("parallel: %u vCPUs x %llu M iterations: %llu ms, %llu MIPS (12 instructions per "
	       "iteration)\n",
	       n, (unsigned long long)k, (unsigned long long)ms,
	       (unsigned long long)(ms ? 12 * k * n * 1000 / ms : 0));
	/* the count bench/bench.py divides by the wall time (every vCPU's loops) */
	printf("parallel: loop instructions = %llu\n", (unsigned long long)(12 * iters * n));
	return 0;
}
