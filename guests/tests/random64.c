// SPDX-License-Identifier: MIT
/*
 * random64: the 64-bit hostile-code guest (tests/hostile/random_code.py). 16 KiB of
 * pseudo-random bytes from the command line's seed ("seed=N", xorshift64) are written to a
 * page-aligned buffer and run at ring 0 in long mode, with every general register random too.
 * An exception resumes the bytes at another random offset, on a fresh stack, up to "faults=N"
 * times (default 2000), so one run goes through thousands of random instruction streams.
 * Whatever the bytes do (fault, rewrite the page tables or the IDT, touch devices, loop), the
 * VMM must end the run as a guest's run may end (tests/hostile/random_code.py says which);
 * nothing here checks the guest itself. Not in tests/guests.list: it has no expected status.
 */
#include "asm.h"
#include "lib.h"

#define CODE_BYTES (16u << 10)

static u8 code[CODE_BYTES] __attribute__((aligned(4096)));
static u64 regs[15]; /* RAX..R14 as loaded below, then the code's address */

static u64 state;
static u64 faults, max_faults;
static u8 stack[16384] __attribute__((aligned(16)));

static u64 next(void)
{
	state ^= state << 13;
	state ^= state >> 7;
	state ^= state << 17;
	return state;
}

/* Any exception: on at another random offset with a fresh stack, until max_faults. */
static void resume(struct frame *f)
{
	if (++faults >= max_faults)
		exit(0);
	f->rip = (u64)(ulong)code + next() % CODE_BYTES;
	f->rsp = (u64)(ulong)&stack[sizeof(stack) - 64];
	f->cs = SEL_KCODE;
	f->ss = SEL_KDATA;
	f->rflags = 0x2;
}

int main(void)
{
	u64 seed = cmdline_u64("seed", 1);

	max_faults = cmdline_u64("faults", 2000);
	for (int v = 0; v < 32; v++)
		if (v != 2 && v != 18)
			set_handler(v, resume);

	state = seed * 0x9e3779b97f4a7c15ull | 1;
	for (unsigned i = 0; i < CODE_BYTES; i += 8) {
		u64 v = next();

		__builtin_memcpy(&code[i], &v, 8);
	}
	for (unsigned i = 0; i < 14; i++)
		regs[i] = next();
	regs[14] = (u64)(ulong)code;
	printf("random64: seed %llu, %u bytes at %p\n", (unsigned long long)seed, CODE_BYTES,
	       (void *)code);
	/* Every GPR but RSP and R15 random (R15 points at regs); RSP keeps this stack (the code
	   may move it anyway). */
	asm volatile("mov %0, %%r15\n\t"
		     "mov 0(%%r15), %%rax\n\t"
		     "mov 8(%%r15), %%rbx\n\t"
		     "mov 16(%%r15), %%rcx\n\t"
		     "mov 24(%%r15), %%rdx\n\t"
		     "mov 32(%%r15), %%rsi\n\t"
		     "mov 40(%%r15), %%rdi\n\t"
		     "mov 48(%%r15), %%rbp\n\t"
		     "mov 56(%%r15), %%r8\n\t"
		     "mov 64(%%r15), %%r9\n\t"
		     "mov 72(%%r15), %%r10\n\t"
		     "mov 80(%%r15), %%r11\n\t"
		     "mov 88(%%r15), %%r12\n\t"
		     "mov 96(%%r15), %%r13\n\t"
		     "mov 104(%%r15), %%r14\n\t"
		     "jmp *112(%%r15)"
		     :
		     : "r"(regs)
		     : "memory");
	__builtin_unreachable();
}
