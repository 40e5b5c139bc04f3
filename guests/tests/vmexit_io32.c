// SPDX-License-Identifier: MIT
/*
 * vmexit_io32: the exit record outside 64-bit mode (32-bit protected mode, paging off). I/O
 * qualification as in 64-bit mode (SDM vol. 3C Table 28-5); the guest-linear address of INS/OUTS
 * is segment base + (E)SI/(E)DI by the address size, with bits 63:32 cleared when the guest was
 * not in 64-bit mode (28.2.1): a 0x67 prefix makes OUTSB use SI. CPUID, RDMSR and MOV to/from
 * CR3 (cr3-exiting=on) keep their lengths; the CR access GPR field names EAX..EDI.
 */
#include "vmexit.h"

DEFINE_XREC;

#define SCR 0x3ff
#define QUAL(size, in, str, rep, imm, port)                                                      \
	((u64)((size) - 1) | (in) << 3 | (str) << 4 | (rep) << 5 | (imm) << 6 | (u64)(port) << 16)
#define LOW_BYTE 0x7000 /* below 64 KiB, so SI can address it; only read */

static u8 buf[8];
static u32 a, b, c, d, si, v;

int main(void)
{
	vmm_probe();
	EXPECT_EXIT("cpuid", XR_CPUID, 0, 2,
		    asm volatile(MARK_IP "cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d) : "a"(0), "c"(0)));
	check(a >= 1, "CPUID leaf 0 in 32-bit mode");
	EXPECT_EXIT("outb %al, $0x80", XR_IO_INSTRUCTION, QUAL(1, 0, 0, 0, 1, 0x80), 2,
		    asm volatile(MARK_IP "outb %%al, $0x80" : : "a"(0)));
	EXPECT_EXIT("outw %ax, (%dx)", XR_IO_INSTRUCTION, QUAL(2, 0, 0, 0, 0, 0x2e0), 2,
		    asm volatile(MARK_IP "outw %%ax, %%dx" : : "a"(0x1234), "d"(0x2e0)));
	buf[0] = 0x9c;
	si = (u32)buf;
	EXPECT_EXIT("outsb (32-bit address)", XR_IO_INSTRUCTION, QUAL(1, 0, 1, 0, 0, SCR), 1,
		    asm volatile(MARK_IP "outsb" : "+S"(si) : "d"(SCR) : "memory"));
	CHECK_REC_EQ(xrec.linear, (u32)buf, "outsb: guest-linear = ESI");
	check(si == (u32)buf + 1 && inb(SCR) == 0x9c, "outsb wrote the byte, ESI advanced");
	si = 0xabcd0000 | LOW_BYTE;
	EXPECT_EXIT("addr16 outsb (SI)", XR_IO_INSTRUCTION, QUAL(1, 0, 1, 0, 0, SCR), 2,
		    asm volatile(MARK_IP "addr16 outsb" : "+S"(si) : "d"(SCR) : "memory"));
	CHECK_REC_EQ(xrec.linear, LOW_BYTE, "addr16 outsb: guest-linear = SI, not ESI");
	check(si == (0xabcd0000 | (LOW_BYTE + 1)) && inb(SCR) == *(volatile u8 *)LOW_BYTE,
	      "addr16 outsb: SI advanced, upper ESI kept, byte written");

	EXPECT_EXIT("rdmsr IA32_FEATURE_CONTROL", XR_MSR_READ, 0, 2,
		    asm volatile(MARK_IP "rdmsr" : "=a"(a), "=d"(d) : "c"(0x3a)));
	EXPECT_EXIT("mov %cr3, %esi", XR_CR_ACCESS, 3 | 1 << 4 | 6 << 8, 3,
		    asm volatile(MARK_IP "mov %%cr3, %%esi" : "=S"(v)));
	EXPECT_EXIT("mov %edi, %cr3", XR_CR_ACCESS, 3 | 7 << 8, 3,
		    asm volatile(MARK_IP "mov %%edi, %%cr3" : : "D"(v) : "memory"));
	check_eq(read_cr3(), v, "CR3 reads back");
	return report();
}
