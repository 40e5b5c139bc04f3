// SPDX-License-Identifier: MIT
/*
 * io: IN/OUT with immediate and DX ports at 8/16/32 bits, INS/OUTS with and without REP in
 * both directions (SDM 2A IN/INS, 2B OUT/OUTS), against the 16550 scratch register (port
 * 0x3ff reads back the last byte written), the line status register and an unclaimed port
 * (reads all ones).
 */
#include "lib.h"

#define SCR 0x3ff
#define LSR 0x3fd
#define UNCLAIMED 0x2e0

static u8 buf[16];

int main(void)
{
	outb(SCR, 0xa5);
	check(inb(SCR) == 0xa5, "out dx / in dx on the UART scratch register");
	u8 v;
	asm volatile("movb $0x3c, %%al; outb %%al, $0x80" : "=a"(v)); /* imm8 port form, POST port */
	outb(SCR, 0x5a);
	asm volatile("inb $0xff, %%al" : "=a"(v)); /* imm8 port 0xff is not 0x3ff: unclaimed */
	check(v == 0xff, "in al, imm8 uses the 8-bit port number (%#x)", v);
	check(inb(LSR) & 0x20, "LSR.THRE is set (%#x)", inb(LSR));

	check(inb(UNCLAIMED) == 0xff, "inb unclaimed port = 0xff");
	check(inw(UNCLAIMED) == 0xffff, "inw unclaimed port = 0xffff");
	check(inl(UNCLAIMED) == 0xffffffff, "inl unclaimed port = 0xffffffff");
	u64 rax = 0x1122334455667788ull;
	asm volatile("inl %%dx, %%eax" : "+a"(rax) : "d"(UNCLAIMED));
	check(rax == 0xffffffffull, "inl zero-extends into RAX (%#llx)", (unsigned long long)rax);
	rax = 0x1122334455667788ull;
	asm volatile("inb %%dx, %%al" : "+a"(rax) : "d"(UNCLAIMED));
	check(rax == 0x11223344556677ffull, "inb merges AL");
	outl(UNCLAIMED, 0x12345678); /* ignored */
	check(inb(UNCLAIMED) == 0xff, "write to an unclaimed port is ignored");

	static const u8 out[4] = { 1, 2, 3, 4 };
	u64 si = (u64)out, c = 4;
	asm volatile("rep outsb" : "+S"(si), "+c"(c) : "d"(SCR) : "memory");
	check(si == (u64)out + 4 && c == 0 && inb(SCR) == 4, "rep outsb: last byte written stays in SCR");
	si = (u64)&out[2];
	asm volatile("std; outsb; cld" : "+S"(si) : "d"(SCR) : "memory");
	check(si == (u64)&out[1] && inb(SCR) == 3, "std; outsb decrements RSI");
	outb(SCR, 0x77);
	u64 di = (u64)buf;
	c = 5;
	memset(buf, 0, sizeof(buf));
	asm volatile("rep insb" : "+D"(di), "+c"(c) : "d"(SCR) : "memory");
	check(di == (u64)buf + 5 && c == 0 && buf[0] == 0x77 && buf[4] == 0x77 && buf[5] == 0, "rep insb: 5 bytes");
	di = (u64)&buf[10];
	c = 2;
	asm volatile("std; rep insw; cld" : "+D"(di), "+c"(c) : "d"(UNCLAIMED) : "memory");
	check(di == (u64)&buf[6] && buf[10] == 0xff && buf[8] == 0xff && buf[7] == 0, "std; rep insw from an unclaimed port");
	di = (u64)buf;
	asm volatile("insl" : "+D"(di) : "d"(UNCLAIMED) : "memory");
	check(di == (u64)buf + 4 && *(u32 *)buf == 0xffffffff, "insl");
	c = 0;
	di = (u64)buf;
	asm volatile("rep insb" : "+D"(di), "+c"(c) : "d"(SCR) : "memory");
	check(di == (u64)buf, "rep insb with RCX = 0 does nothing");
	return report();
}
