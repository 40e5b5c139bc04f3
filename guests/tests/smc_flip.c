// SPDX-License-Identifier: MIT
/*
 * smc_flip: an instruction rewritten between HLT and NOP by the instruction before it, many
 * times over (SDM vol. 3A 11.6: a store to code takes effect for the next instruction). Each
 * round decodes and, with --jit eager, compiles the rewritten block anew, so the block and
 * code arenas fill and are flushed while a block runs; the stored NOP must still be what runs.
 * A stale HLT stops the guest (interrupts are off).
 */
#include "lib.h"

#define ROUNDS 100000u

int main(void)
{
	u32 n = ROUNDS, done = 0;

	asm volatile("1:\n\t"
		     "movb $0x90, 2f(%%rip)\n\t" /* the next instruction becomes NOP ... */
		     "2: hlt\n\t"
		     "incl %[done]\n\t"
		     "movb $0xf4, 2b(%%rip)\n\t" /* ... and HLT again */
		     "decl %[n]\n\t"
		     "jnz 1b"
		     : [n] "+r"(n), [done] "+r"(done)
		     :
		     : "memory", "cc");
	check(done == ROUNDS, "%u rounds of rewriting the next instruction to NOP ran it as NOP",
	      done);
	return report();
}
