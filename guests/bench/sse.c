// SPDX-License-Identifier: MIT
/*
 * bench sse: an SSE2 loop over a 4 KiB buffer, the kind of code glibc's string functions and
 * Linux's checksums are made of (issue 13 asks for the MIPS of an SSE-heavy guest beside QEMU
 * TCG). Per iteration: an aligned 16-byte load, PADDD, PXOR, PSHUFD, an aligned store, ADDPS
 * and MULPS on values that stay normal (x = (x + 1) * 0.5 tends to 1), and the loop's own
 * ADD, AND, DEC and JNZ. The timed asm block retires exactly
 *	2 + 11 * ITER instructions  (ITER = 20,000,000 -> 220,000,002)
 * Boot, printing and exit add < 100,000 more. Exits with code 0 (port 0xf4: process status 1).
 */
#include "lib.h"

#define ITER 20000000ull
#define CR4_OSFXSR BIT(9)
#define CR4_OSXMMEXCPT BIT(10)

static u8 buf[4096] __attribute__((aligned(4096)));
static const float ones[4] __attribute__((aligned(16))) = { 1.0f, 1.0f, 1.0f, 1.0f };
static const float halves[4] __attribute__((aligned(16))) = { 0.5f, 0.5f, 0.5f, 0.5f };

int main(void)
{
	u64 sum[2];
	u32 lanes[4];

	/* SSE on (SDM vol. 3A 13.1.3): CR0.EM clear and CR0.MP set by the boot code, OSFXSR and
	   OSXMMEXCPT here. */
	write_cr4(read_cr4() | CR4_OSFXSR | CR4_OSXMMEXCPT);
	for (unsigned i = 0; i < sizeof(buf); i++)
		buf[i] = (u8)(i * 7);
	printf("bench-sse: loop instructions = 2 + 11 * %llu = %llu\n", ITER, 2 + 11 * ITER);
	/* The guest's C is built with -mgeneral-regs-only: nothing touches the XMM registers
	   between the asm blocks, which therefore name no XMM clobbers (it could not). */
	asm volatile("movaps (%0), %%xmm6\n\t"
		     "movaps (%1), %%xmm7\n\t"
		     "xorps %%xmm5, %%xmm5\n\t"
		     "pxor %%xmm1, %%xmm1\n\t"
		     "pxor %%xmm2, %%xmm2"
		     :
		     : "r"(ones), "r"(halves));
	u64 t0 = rdtsc();
	asm volatile("mov %[n], %%rcx\n\t"
		     "xor %%edx, %%edx\n"
		     "1:\n\t"
		     "movdqa (%[b],%%rdx), %%xmm0\n\t"
		     "paddd %%xmm1, %%xmm0\n\t"
		     "pxor %%xmm0, %%xmm2\n\t"
		     "pshufd $0x1b, %%xmm2, %%xmm1\n\t"
		     "movdqa %%xmm1, (%[b],%%rdx)\n\t"
		     "addps %%xmm6, %%xmm5\n\t"
		     "mulps %%xmm7, %%xmm5\n\t"
		     "add $16, %%edx\n\t"
		     "and $0xff0, %%edx\n\t"
		     "dec %%rcx\n\t"
		     "jnz 1b\n\t"
		     "movdqu %%xmm2, (%[s])\n\t"
		     "cvttps2dq %%xmm5, %%xmm5\n\t"
		     "movdqu %%xmm5, (%[l])"
		     :
		     : [n] "i"(ITER), [b] "r"(buf), [s] "r"(sum), [l] "r"(lanes)
		     : "rcx", "rdx", "memory", "cc");
	u64 t1 = rdtsc();
	printf("bench-sse: done, checksum %#llx, lanes %u %u %u %u (want 1), %llu TSC ticks\n",
	       (unsigned long long)(sum[0] ^ sum[1]), lanes[0], lanes[1], lanes[2], lanes[3],
	       (unsigned long long)(t1 - t0));
	return lanes[0] == 1 && lanes[1] == 1 && lanes[2] == 1 && lanes[3] == 1 ? 0 : 1;
}
