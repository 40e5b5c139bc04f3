// SPDX-License-Identifier: MIT
/*
 * bench call: a call/return-heavy loop, two nested near calls per iteration.  The timed asm
 * block retires exactly
 *	1 + 6 * ITER instructions  (ITER = 100,000,000 -> 600,000,001)
 * (MOV; per iteration CALL f, CALL g, RET, RET, DEC, JNZ).  Boot, printing and exit add
 * < 100,000 more.  Exits with code 0 (process status 1).
 */
#include "lib.h"

#define ITER 100000000ull

void bench_f(void);
asm(".text\n"
    "bench_f: call bench_g\n\t"
    "ret\n"
    "bench_g: ret\n");

int main(void)
{
	printf("bench-call: loop instructions = 1 + 6 * %llu = %llu\n", ITER, 1 + 6 * ITER);
	u64 t0 = rdtsc();
	asm volatile("mov %[n], %%rcx\n"
		     "1:\n\t"
		     "call bench_f\n\t"
		     "dec %%rcx\n\t"
		     "jnz 1b"
		     : : [n] "i"(ITER) : "rcx", "memory", "cc");
	u64 t1 = rdtsc();
	printf("bench-call: done, %llu TSC ticks\n", (unsigned long long)(t1 - t0));
	return 0;
}
