// SPDX-License-Identifier: MIT
/*
 * The seeds' clock figure, guest side (bench/linux_clock.py): time N clock_gettime() calls in a
 * loop (the vDSO: kvm-clock reads the pvclock page and the TSC, clocksource=tsc the TSC alone;
 * with RDTSC exiting each read is a VM exit) and print "tb-result: clock <clocksource> N calls
 * <ns per call>". Built static by scripts/mkinitramfs.sh.
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static long long ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1000000000ll + t.tv_nsec;
}

int main(int argc, char **argv)
{
	long n = argc > 1 ? atol(argv[1]) : 100000;
	char cs[64] = "?";
	FILE *f = fopen("/sys/devices/system/clocksource/clocksource0/current_clocksource", "r");
	long long t0, t1, last = 0, backwards = 0;

	if (f) {
		if (fscanf(f, "%63s", cs) != 1)
			cs[0] = '?';
		fclose(f);
	}
	t0 = ns();
	for (long i = 0; i < n; i++) {
		long long t = ns();
		backwards += t < last;
		last = t;
	}
	t1 = ns();
	printf("tb-result: clock %s %ld calls %.1f ns/call %.3f s backwards %lld\n", cs, n,
	       (double)(t1 - t0) / (double)n, (double)(t1 - t0) / 1e9, backwards);
	return 0;
}
