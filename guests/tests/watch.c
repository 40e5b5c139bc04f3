// SPDX-License-Identifier: MIT
/*
 * watch: a guest that patches its own "kernel text", for tollbooth's write monitor (--watch,
 * src/vmm/watch.c; tests/cli/run.sh reads the reports on stderr). Command-line keys:
 *   writes=N   write N times to the first page of its text (the byte at entry32, the 32-bit
 *              entry that never runs again, rewritten with its own value), default 0;
 *   gap_ms=M   between two writes, wait M ms of the ACPI PM timer (default 0);
 *   dma=1      have fw_cfg's DMA write the "QEMU" signature over that byte: a device's write;
 *   work=K     before the writes, K million iterations of arithmetic on the stack (a steady
 *              load for docs/security.md's overhead figures), default 0.
 * It prints what it did and exits 0; whether the monitor saw it is the VMM's to say.
 */
#include "lib.h"

extern char entry32[];

#define PM_TMR 0x608
#define PM_HZ 3579545u

/* Mostly arithmetic between the timer reads: a guest that exits at every instruction or two
   would see the VMM's timers (the monitor's drain among them) only at the host tick. */
static void wait_ms(u64 ms)
{
	u64 left = ms * PM_HZ / 1000;
	u32 last = inl(PM_TMR) & 0xffffff;

	while (left) {
		for (volatile int k = 0; k < 20000; k++)
			;
		u32 now = inl(PM_TMR) & 0xffffff, d = (now - last) & 0xffffff;

		last = now;
		left = d >= left ? 0 : left - d;
	}
}

struct fw_cfg_dma {
	u32 control, length; /* big-endian */
	u64 address;
};

static void dma_signature(void *to)
{
	static volatile struct fw_cfg_dma d __attribute__((aligned(16)));
	u64 a = (u64)&d;

	d.control = __builtin_bswap32(0x0000000a); /* SELECT | READ, selector 0 */
	d.length = __builtin_bswap32(4);
	d.address = __builtin_bswap64((u64)to);
	asm volatile("" ::: "memory");
	outl(0x514, __builtin_bswap32((u32)(a >> 32)));
	outl(0x518, __builtin_bswap32((u32)a));
	asm volatile("" ::: "memory");
}

int main(void)
{
	u64 writes = cmdline_u64("writes", 0), gap = cmdline_u64("gap_ms", 0);
	u64 work = cmdline_u64("work", 0);
	volatile u8 *text = (volatile u8 *)entry32;
	volatile u64 acc = 1;
	u8 orig = *text;

	for (u64 i = 0; i < work * 1000000; i++)
		acc = acc * 6364136223846793005ull + i;
	for (u64 i = 0; i < writes; i++) {
		if (i && gap)
			wait_ms(gap);
		*text = *text;
	}
	if (cmdline_u64("dma", 0)) {
		u8 keep[4];

		memcpy(keep, (const void *)text, 4);
		dma_signature((void *)text);
		check(!memcmp((const void *)text, "QEMU", 4), "fw_cfg DMA wrote the signature");
		memcpy((void *)text, keep, 4);
	}
	check(*text == orig, "the text byte reads as before (%#x)", orig);
	printf("watch: %llu writes to text page %#lx%s\n", (unsigned long long)writes,
	       (ulong)text & ~0xffful, cmdline_u64("dma", 0) ? ", one DMA" : "");
	return report();
}
