// SPDX-License-Identifier: MIT
/*
 * bench spinlock: two vCPUs hand a test-and-set spinlock back and forth, the seeds' case for
 * PAUSE-loop exiting (SDM vol. 3C 26.1.3, 25.6.13): a vCPU spinning for a lock whose holder is
 * not running burns its whole time slice unless the VMM sees the PAUSE loop and runs another
 * vCPU. Each of N rounds: the BSP takes the lock, flips `turn` to the AP and releases; the AP,
 * spinning with PAUSE until it is its turn, takes the lock and flips it back. Every round needs
 * both vCPUs to run, so on one host thread (tollbooth soft) every round is two switches: at a
 * PAUSE-loop exit with PLE, at the host tick's exit (CPU_HOST_TICK instructions) without.
 *
 * Command line (--append): "n=N" rounds (default 200). Run with --cpus 2. Output:
 *	spinlock: N rounds, C cycles, C/N cycles/round
 * and the exit status 1 (passed) when every round completed.
 */
#include "smp.h"

static volatile u32 lock, turn, ap_up, done;
static u64 rounds = 200;

static void take(void)
{
	while (__atomic_exchange_n(&lock, 1, __ATOMIC_ACQUIRE))
		while (lock)
			asm volatile("pause");
}

static void release(void)
{
	__atomic_store_n(&lock, 0, __ATOMIC_RELEASE);
}

static void play(u32 me)
{
	for (u64 i = 0; i < rounds; i++) {
		while (turn != me)
			asm volatile("pause");
		take();
		turn = !me;
		release();
	}
}

static void ap_main(u32 id)
{
	__atomic_add_fetch(&ap_up, 1, __ATOMIC_SEQ_CST);
	play(1);
	done = 1;
}

int main(void)
{
	if (smp_nr_cpus() < 2) {
		printf("spinlock: needs --cpus 2\n");
		return 1;
	}
	rounds = cmdline_u64("n", rounds);
	smp_init(ap_main);
	smp_start_ap(1);
	if (!smp_wait_for(&ap_up, 1)) {
		printf("spinlock: the AP did not start\n");
		return 1;
	}
	u64 t0 = rdtsc();
	play(0);
	while (!done)
		asm volatile("pause");
	u64 c = rdtsc() - t0;
	printf("spinlock: %llu rounds, %llu cycles, %llu cycles/round\n", (unsigned long long)rounds,
	       (unsigned long long)c, (unsigned long long)(c / (rounds ? rounds : 1)));
	return 0;
}
