// SPDX-License-Identifier: MIT
/*
 * bench alu: a register-only integer loop.  The timed asm block retires exactly
 *	1 + 10 * ITER instructions  (ITER = 100,000,000 -> 1,000,000,001)
 * (MOV to set the counter, then per iteration 8 ALU ops + DEC + JNZ).  Boot, printing and exit
 * add < 100,000 more.  Exits with code 0 (port 0xf4: process status 1).
 */
#include "lib.h"

#define ITER 100000000ull

int main(void)
{
	u64 a = 1, b = 2, d = 3, s = 4;
	printf("bench-alu: loop instructions = 1 + 10 * %llu = %llu\n", ITER, 1 + 10 * ITER);
	u64 t0 = rdtsc();
	asm volatile("mov %[n], %%rcx\n"
		     "1:\n\t"
		     "add %%rbx, %%rax\n\t"
		     "xor %%rax, %%rdx\n\t"
		     "sub %%rdx, %%rsi\n\t"
		     "and %%rsi, %%rbx\n\t"
		     "or %%rax, %%rsi\n\t"
		     "shl $1, %%rdx\n\t"
		     "lea 3(%%rax,%%rbx,2), %%rbx\n\t"
		     "imul %%rsi, %%rax\n\t"
		     "dec %%rcx\n\t"
		     "jnz 1b"
		     : "+a"(a), "+b"(b), "+d"(d), "+S"(s) : [n] "i"(ITER) : "rcx", "cc");
	u64 t1 = rdtsc();
	printf("bench-alu: done, checksum %#llx, %llu TSC ticks\n", (unsigned long long)(a ^ b ^ d ^ s),
	       (unsigned long long)(t1 - t0));
	return 0;
}
