// SPDX-License-Identifier: MIT
/*
 * vmexit_io: I/O instruction exits (basic reason 30) with unconditional I/O exiting or the I/O
 * bitmaps (SDM vol. 3C 26.1.3). Qualification (Table 28-5): bits 2:0 size - 1, bit 3 IN,
 * bit 4 string, bit 5 REP, bit 6 immediate operand, bits 31:16 port. INS/OUTS also report the
 * guest-linear address of the memory operand (28.2.1). Each check also verifies the data.
 * INS/OUTS whose memory operand is on a not-present page: the exit comes first (26.1.1) and the
 * VMM's access to the operand gives the guest the #PF, with RIP on the instruction.
 */
#include "vmexit.h"

DEFINE_XREC;

#define SCR 0x3ff	/* 16550 scratch register: reads back the last byte written */
#define UNCLAIMED 0x2e0 /* nothing there: reads all ones */
#define NOT_PRESENT 0x140000000ull /* not mapped by the runtime's page tables */
#define QUAL(size, in, str, rep, imm, port)                                                      \
	((u64)((size) - 1) | (in) << 3 | (str) << 4 | (rep) << 5 | (imm) << 6 | (u64)(port) << 16)

static u8 buf[16];
static u64 rax, si, di, c;

int main(void)
{
	rax = 0x3c;
	vmm_probe();
	EXPECT_EXIT("outb %al, $0x80", XR_IO_INSTRUCTION, QUAL(1, 0, 0, 0, 1, 0x80), 2,
		    asm volatile(MARK_IP "outb %%al, $0x80" : : "a"(rax)));
	EXPECT_EXIT("outb %al, (%dx) to the scratch register", XR_IO_INSTRUCTION, QUAL(1, 0, 0, 0, 0, SCR), 1,
		    asm volatile(MARK_IP "outb %%al, %%dx" : : "a"(0x5a), "d"(SCR)));
	rax = 0;
	EXPECT_EXIT("inb (%dx), %al", XR_IO_INSTRUCTION, QUAL(1, 1, 0, 0, 0, SCR), 1,
		    asm volatile(MARK_IP "inb %%dx, %%al" : "+a"(rax) : "d"(SCR)));
	check(rax == 0x5a, "inb read back the scratch register (%#llx)", (unsigned long long)rax);
	EXPECT_EXIT("outw %ax, (%dx)", XR_IO_INSTRUCTION, QUAL(2, 0, 0, 0, 0, UNCLAIMED), 2,
		    asm volatile(MARK_IP "outw %%ax, %%dx" : : "a"(0x1234), "d"(UNCLAIMED)));
	rax = 0x1111222233334444ull;
	EXPECT_EXIT("inw (%dx), %ax", XR_IO_INSTRUCTION, QUAL(2, 1, 0, 0, 0, UNCLAIMED), 2,
		    asm volatile(MARK_IP "inw %%dx, %%ax" : "+a"(rax) : "d"(UNCLAIMED)));
	check(rax == 0x111122223333ffffull, "inw merged 0xffff into AX (%#llx)",
	      (unsigned long long)rax);
	EXPECT_EXIT("outl %eax, (%dx)", XR_IO_INSTRUCTION, QUAL(4, 0, 0, 0, 0, UNCLAIMED), 1,
		    asm volatile(MARK_IP "outl %%eax, %%dx" : : "a"(0x12345678), "d"(UNCLAIMED)));
	rax = 0x1111222233334444ull;
	EXPECT_EXIT("inl $0xe0, %eax", XR_IO_INSTRUCTION, QUAL(4, 1, 0, 0, 1, 0xe0), 2,
		    asm volatile(MARK_IP "inl $0xe0, %%eax" : "+a"(rax)));
	check(rax >> 32 == 0, "inl zero-extends RAX (%#llx)", (unsigned long long)rax);

	buf[0] = 0xc3;
	si = (u64)buf;
	c = 1;
	EXPECT_EXIT("rep outsb, RCX = 1", XR_IO_INSTRUCTION, QUAL(1, 0, 1, 1, 0, SCR), 2,
		    asm volatile(MARK_IP "rep outsb" : "+S"(si), "+c"(c) : "d"(SCR) : "memory"));
	CHECK_REC_EQ(xrec.linear, (u64)buf, "rep outsb: guest-linear address = RSI");
	check(si == (u64)buf + 1 && c == 0 && inb(SCR) == 0xc3, "rep outsb moved one byte");

	buf[1] = 0x3c;
	si = (u64)&buf[1];
	EXPECT_EXIT("outsb", XR_IO_INSTRUCTION, QUAL(1, 0, 1, 0, 0, SCR), 1,
		    asm volatile(MARK_IP "outsb" : "+S"(si) : "d"(SCR) : "memory"));
	CHECK_REC_EQ(xrec.linear, (u64)&buf[1], "outsb: guest-linear address = RSI");
	check(inb(SCR) == 0x3c, "outsb wrote the byte");

	outb(SCR, 0x77);
	di = (u64)&buf[4];
	c = 1;
	EXPECT_EXIT("rep insb, RCX = 1", XR_IO_INSTRUCTION, QUAL(1, 1, 1, 1, 0, SCR), 2,
		    asm volatile(MARK_IP "rep insb" : "+D"(di), "+c"(c) : "d"(SCR) : "memory"));
	CHECK_REC_EQ(xrec.linear, (u64)&buf[4], "rep insb: guest-linear address = RDI");
	check(buf[4] == 0x77 && di == (u64)&buf[5], "rep insb stored the byte");

	di = (u64)&buf[8];
	EXPECT_EXIT("insl", XR_IO_INSTRUCTION, QUAL(4, 1, 1, 0, 0, UNCLAIMED), 1,
		    asm volatile(MARK_IP "insl" : "+D"(di) : "d"(UNCLAIMED) : "memory"));
	check(*(u32 *)&buf[8] == 0xffffffff && di == (u64)&buf[12], "insl stored all ones");

	/* A memory operand on a not-present page (above the 4 GiB the runtime maps): #PF with the
	   address in CR2, RIP on the instruction; read for OUTS, write for INS. */
	si = NOT_PRESENT + 0x10;
	c = 2;
	int vec = CATCH(asm volatile(MARK_IP "rep outsb" : "+S"(si), "+c"(c) : "d"(SCR) : "memory"));
	check(vec == PF_VECTOR && last_fault.cr2 == NOT_PRESENT + 0x10 &&
	      last_fault.error == 0 && last_fault.rip == expected_ip,
	      "rep outsb from a not-present page: #PF(%#lx) CR2 %#lx (vector %d)",
	      last_fault.error, last_fault.cr2, vec);
	di = NOT_PRESENT + 0x20;
	c = 2;
	vec = CATCH(asm volatile(MARK_IP "rep insb" : "+D"(di), "+c"(c) : "d"(SCR) : "memory"));
	check(vec == PF_VECTOR && last_fault.cr2 == NOT_PRESENT + 0x20 &&
	      last_fault.error == PFEC_W && last_fault.rip == expected_ip,
	      "rep insb to a not-present page: #PF(%#lx) CR2 %#lx (vector %d)",
	      last_fault.error, last_fault.cr2, vec);

	/* REP with more than one element: the data and registers end right; the count is >= 1. */
	static const u8 out[3] = { 1, 2, 3 };
	u64 before = vmm_present() ? exit_count(XR_IO_INSTRUCTION) : 0;
	si = (u64)out;
	c = 3;
	asm volatile("rep outsb" : "+S"(si), "+c"(c) : "d"(SCR) : "memory");
	u64 n = vmm_present() ? exit_count(XR_IO_INSTRUCTION) - before : 1;
	check(si == (u64)out + 3 && c == 0, "rep outsb x3: RSI, RCX");
	check(n >= 1 && n <= 3, "rep outsb x3: 1 to 3 exits (%llu)", (unsigned long long)n);
	check(inb(SCR) == 3, "rep outsb x3: last byte in the scratch register");
	return report();
}
