// SPDX-License-Identifier: MIT
/*
 * bench alu32: an integer loop in 32-bit protected mode (flat segments, as Linux i386 runs), for
 * the block compiler's 32-bit code.  The timed asm block retires exactly
 *	1 + 17 * ITER instructions  (ITER = 20,000,000 -> 340,000,001)
 * (MOV to set the counter, then per iteration 8 register ALU ops, a store and an ALU load,
 * PUSH/POP, CALL/RET/JMP, DEC + JNZ).  Boot, printing and exit add < 100,000 more.  Exits with
 * code 0 (port 0xf4: process status 1).
 */
#include "lib.h"

#define ITER 20000000u

static u32 cell;

int main(void)
{
	u32 a = 1, b = 2, d = 3, s = 4;
	printf("bench-alu32: loop instructions = 1 + 17 * %u = %llu\n", ITER, 1 + 17ull * ITER);
	u64 t0 = rdtsc();
	asm volatile("mov %[n], %%ecx\n"
		     "1:\n\t"
		     "add %%ebx, %%eax\n\t"
		     "xor %%eax, %%edx\n\t"
		     "sub %%edx, %%esi\n\t"
		     "and %%esi, %%ebx\n\t"
		     "or %%eax, %%esi\n\t"
		     "shl $1, %%edx\n\t"
		     "lea 3(%%eax,%%ebx,2), %%ebx\n\t"
		     "imul %%esi, %%eax\n\t"
		     "mov %%eax, (%%edi)\n\t"
		     "add (%%edi), %%edx\n\t"
		     "push %%esi\n\t"
		     "pop %%esi\n\t"
		     "call 2f\n\t"
		     "jmp 3f\n"
		     "2:\n\t"
		     "ret\n"
		     "3:\n\t"
		     "dec %%ecx\n\t"
		     "jnz 1b"
		     : "+a"(a), "+b"(b), "+d"(d), "+S"(s)
		     : [n] "i"(ITER), "D"(&cell)
		     : "ecx", "cc", "memory");
	u64 t1 = rdtsc();
	printf("bench-alu32: done, checksum %#x, %llu TSC ticks\n", a ^ b ^ d ^ s,
	       (unsigned long long)(t1 - t0));
	return 0;
}
