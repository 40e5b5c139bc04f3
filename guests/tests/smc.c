// SPDX-License-Identifier: MIT
/*
 * smc: self-modifying code (SDM 3A 11.6): patch an immediate in code that already ran and run
 * it again; patch the very next instruction from the instruction before it (same block);
 * write code through a second linear alias of the same physical page and execute it through
 * the first after a serializing CPUID; a loop that rewrites its own increment each iteration.
 */
#include "lib.h"

static u8 code[4096] __attribute__((aligned(4096)));

typedef u32 (*fn_t)(void);

int main(void)
{
	/* mov $imm32, %eax; ret */
	static const u8 f[] = { 0xb8, 1, 0, 0, 0, 0xc3 };
	memcpy(code, f, sizeof(f));
	u32 r1 = ((fn_t)code)();
	code[1] = 2;
	u32 r2 = ((fn_t)code)();
	check(r1 == 1 && r2 == 2, "rewrite an immediate of code that already ran (%u then %u)", r1, r2);
	memcpy(code, f, sizeof(f));

	/* The store modifies the instruction right after it, in the same basic block. */
	u32 r;
	for (int i = 0; i < 3; i++) {
		asm volatile("movb %b1, 1f+1(%%rip)\n\t"
			     "1: mov $0, %%eax" : "=a"(r) : "q"(i + 10) : "memory");
		check(r == (u32)i + 10, "store into the next instruction takes effect immediately (iteration %d: %u)", i, r);
	}

	/* Alias: the 1 GiB region at 512 GiB maps physical 0 with 2 MiB pages. */
	static u64 a_pdpt[512] __attribute__((aligned(4096)));
	static u64 a_pd[512] __attribute__((aligned(4096)));
	for (int i = 0; i < 512; i++)
		a_pd[i] = (u64)i << 21 | 0x83;
	a_pdpt[0] = (u64)a_pd | 3;
	pml4[1] = (u64)a_pdpt | 3;
	flush_tlb();
	u8 *alias = (u8 *)(0x8000000000ull + (u64)code);
	check(((fn_t)code)() == 1, "original code returns 1");
	alias[1] = 3;
	cpuid(0, 0);
	check(((fn_t)code)() == 3, "write through an alias, CPUID, execute the original address");
	alias[1] = 4;
	check(((fn_t)alias)() == 4 && ((fn_t)code)() == 4, "execute through the alias too");
	pml4[1] = 0;
	flush_tlb();

	/* A loop rewriting its own add immediate: sum 1 + 2 + ... + 10. */
	u64 sum = 0, n = 10;
	asm volatile("movb $1, 2f+3(%%rip)\n"
		     "1:\n\t"
		     "2: add $0x7f, %[s]\n\t"   /* 48 83 c0+r imm8 -> imm8 at offset 3 */
		     "incb 2b+3(%%rip)\n\t"
		     "dec %[n]\n\t"
		     "jnz 1b"
		     : [s] "+r"(sum), [n] "+r"(n) : : "memory", "cc");
	check(sum == 55, "loop that rewrites its own ADD immediate: sum %llu (want 55)", (unsigned long long)sum);
	return report();
}
