// SPDX-License-Identifier: MIT
/*
 * bench locked: one vCPU's loop of locked read-modify-writes on memory, what a kernel's atomics,
 * reference counts and spinlocks execute. The timed asm block retires exactly
 *	1 + 8 * ITER instructions  (ITER = 20,000,000 -> 160,000,001)
 * (MOV to set the counter, then per iteration LOCK ADD, LOCK XADD, LOCK CMPXCHG, XCHG with
 * memory, LOCK INC, LOCK BTS, DEC, JNZ). Exits with code 0 (port 0xf4: process status 1).
 */
#include "lib.h"

#define ITER 20000000ull

static u64 mem[4];

int main(void)
{
	u64 a = 1, b = 2;

	printf("bench-locked: loop instructions = 1 + 8 * %llu = %llu\n", ITER, 1 + 8 * ITER);
	u64 t0 = rdtsc();
	asm volatile("mov %[n], %%rcx\n"
		     "1:\n\t"
		     "lock addq %%rbx, %[m0]\n\t"
		     "lock xaddq %%rbx, %[m1]\n\t"
		     "lock cmpxchgq %%rbx, %[m2]\n\t"
		     "xchgq %%rbx, %[m3]\n\t"
		     "lock incq %[m0]\n\t"
		     "lock btsq $5, %[m1]\n\t"
		     "dec %%rcx\n\t"
		     "jnz 1b"
		     : "+a"(a), "+b"(b), [m0] "+m"(mem[0]), [m1] "+m"(mem[1]), [m2] "+m"(mem[2]),
		       [m3] "+m"(mem[3])
		     : [n] "i"(ITER)
		     : "rcx", "cc");
	u64 t1 = rdtsc();
	printf("bench-locked: done, checksum %#llx, %llu TSC ticks\n",
	       (unsigned long long)(a ^ b ^ mem[0] ^ mem[1] ^ mem[2] ^ mem[3]),
	       (unsigned long long)(t1 - t0));
	return 0;
}
