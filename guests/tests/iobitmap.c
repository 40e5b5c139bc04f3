// SPDX-License-Identifier: MIT
/*
 * iobitmap: the TSS I/O permission bit map (SDM 1 19.5.2): at CPL 3 with IOPL 0, IN/OUT to a
 * port whose bit is 0 are allowed, 1 faults with #GP(0), a multi-byte access needs every bit
 * clear, and a bitmap that ends before the port (TSS limit) faults.  Uses a second TSS with a
 * bitmap for ports 0-0x3ff, loaded with LTR.
 */
#include "lib.h"

#define SEL_TSS2 0x60

static struct __attribute__((packed)) {
	struct tss64 t;
	u8 bitmap[0x400 / 8 + 1];
} tss2 __attribute__((aligned(16)));

static u64 u_inb(u64 port)
{
	u8 v;
	asm volatile("inb %%dx, %%al" : "=a"(v) : "d"(port));
	return v;
}
static u64 u_inw(u64 port)
{
	u16 v;
	asm volatile("inw %%dx, %%ax" : "=a"(v) : "d"(port));
	return v;
}
static u64 u_outb(u64 port)
{
	asm volatile("outb %%al, %%dx" : : "a"(0x6c), "d"(port));
	return 0;
}

static void load_tss2(u32 limit)
{
	u64 t = (u64)&tss2;
	gdt[SEL_TSS2 / 8] = (limit & 0xffff) | (t & 0xffffff) << 16 | 0x89ull << 40 |
			    (u64)(limit >> 16 & 0xf) << 48 | ((t >> 24) & 0xff) << 56;
	gdt[SEL_TSS2 / 8 + 1] = t >> 32;
	asm volatile("ltr %w0" : : "r"(SEL_TSS2));
}

int main(void)
{
	tss2.t = tss;
	tss2.t.iomap_base = sizeof(struct tss64);
	memset(tss2.bitmap, 0xff, sizeof(tss2.bitmap));
	tss2.bitmap[0x3ff / 8] &= ~(1 << (0x3ff % 8)); /* allow the UART scratch register */
	tss2.bitmap[0x3fd / 8] &= ~(1 << (0x3fd % 8)); /* and LSR */
	load_tss2(sizeof(tss2) - 1);

	outb(0x3ff, 0x99);
	int v = CATCH(user_call(u_inb, 0x3ff));
	check(v == -1 && user_call(u_inb, 0x3ff) == 0x99, "CPL 3 IN from a permitted port (vector %d)", v);
	v = CATCH(user_call(u_outb, 0x3ff));
	check(v == -1 && inb(0x3ff) == 0x6c, "CPL 3 OUT to a permitted port");
	v = CATCH(user_call(u_inb, 0x3fe));
	check(v == GP_VECTOR && last_fault.error == 0, "CPL 3 IN from a denied port: #GP(0) (vector %d)", v);
	v = CATCH(user_call(u_inw, 0x3fe));
	check(v == GP_VECTOR, "16-bit IN covering a denied and a permitted port: #GP (vector %d)", v);
	v = CATCH(user_call(u_inb, 0x3fd));
	check(v == -1, "second permitted port");
	load_tss2(sizeof(struct tss64) + 0x3f0 / 8 - 1); /* bitmap cut short before port 0x3f0 */
	v = CATCH(user_call(u_inb, 0x3ff));
	check(v == GP_VECTOR, "port beyond the TSS limit: #GP (vector %d)", v);
	gdt[SEL_TSS / 8] &= ~(2ull << 40); /* original TSS: busy -> available, reload it */
	asm volatile("ltr %w0" : : "r"(SEL_TSS));
	gdt[SEL_TSS2 / 8] = gdt[SEL_TSS2 / 8 + 1] = 0;
	return report();
}
