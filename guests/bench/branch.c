// SPDX-License-Identifier: MIT
/*
 * bench branch: branchy code, shaped like a small interpreter's dispatch loop. A 16-bit Galois
 * LFSR (taps 0xB400, maximal: its state runs through all 65,535 nonzero values once per period)
 * supplies the "bytecode": each step dispatches through a 4-entry jump table on the state's low
 * two bits, runs a 2-instruction handler, then advances the LFSR with a branch on the bit shifted
 * out. Neither branch is predictable from its own history.
 *
 * Per step: MOV, AND, JMP* (3) + handler (2) + SHR, JNC (2) + XOR only when the bit shifted out
 * is 1 + DEC, JNZ (2) = 9, or 10 for odd states. Over a period 32,768 of the 65,535 states are
 * odd, so PERIODS periods retire exactly
 *	3 + PERIODS * (9 * 65535 + 32768)  (PERIODS = 600 -> 373,549,803)
 * (the 3: MOV count, MOV state, LEA table). Boot, printing and exit add < 100,000 more.
 * Exits with code 0 (process status 1).
 */
#include "lib.h"

#define PERIODS 600ull
#define STEPS (PERIODS * 65535ull)

int main(void)
{
	u64 count = 3 + PERIODS * (9 * 65535ull + 32768);
	u64 a = 0, b = 0, x = 0, r = 0;
	u32 state;

	printf("bench-branch: loop instructions = 3 + %llu * (9 * 65535 + 32768) = %llu\n", PERIODS,
	       (unsigned long long)count);
	u64 t0 = rdtsc();
	asm volatile("mov %[n], %%rcx\n\t"
		     "mov $1, %%eax\n\t"
		     "lea 9f(%%rip), %%r9\n"
		     "1:\n\t"
		     "mov %%eax, %%edx\n\t"
		     "and $3, %%edx\n\t"
		     "jmp *(%%r9,%%rdx,8)\n"
		     "10:\n\t"
		     "add $1, %[a]\n\t"
		     "jmp 2f\n"
		     "11:\n\t"
		     "sub $1, %[b]\n\t"
		     "jmp 2f\n"
		     "12:\n\t"
		     "xor %%rax, %[x]\n\t"
		     "jmp 2f\n"
		     "13:\n\t"
		     "rol $1, %[r]\n\t"
		     "jmp 2f\n"
		     "2:\n\t"
		     "shr $1, %%eax\n\t"
		     "jnc 3f\n\t"
		     "xor $0xb400, %%eax\n"
		     "3:\n\t"
		     "dec %%rcx\n\t"
		     "jnz 1b\n\t"
		     ".pushsection .rodata\n\t"
		     ".balign 8\n"
		     "9:\n\t"
		     ".quad 10b, 11b, 12b, 13b\n\t"
		     ".popsection"
		     : [a] "+r"(a), [b] "+r"(b), [x] "+r"(x), [r] "+r"(r), "=&a"(state)
		     : [n] "i"(STEPS)
		     : "rcx", "rdx", "r9", "memory", "cc");
	u64 t1 = rdtsc();
	printf("bench-branch: done, state %#x (want 0x1 after whole periods), checksum %#llx, "
	       "%llu TSC ticks\n",
	       state, (unsigned long long)(a ^ b ^ x ^ r), (unsigned long long)(t1 - t0));
	return state == 1 ? 0 : 1;
}
