// SPDX-License-Identifier: MIT
/*
 * pic: ISA interrupts through the two 8259A PICs, as an OS meets them on a PC: program the pair
 * (ICW1-ICW4, 8259A datasheet "Initialization command words"), unmask IRQ 0, run the 8254's
 * counter 0 in mode 2 (rate generator, 8254 datasheet), and take IRQ 0 at vector 0x20: pending
 * in the IRR while IF = 0, delivered by STI, waking HLT (SDM vol. 2A HLT), acknowledged by a
 * non-specific EOI. Then the 16550's THRE interrupt on IRQ 4 (PC16550D Table 4, MCR.OUT2 gates
 * it). The whole path: timer queue, PIT, interrupt line, PIC, the vCPU's INTR, injection.
 */
#include "lib.h"

#define PIC1 0x20
#define PIC2 0xa0
#define VEC_BASE 0x20
#define COM1 0x3f8

static volatile u64 ticks, uart_irqs;
static volatile u8 uart_iir;

static void pic_init_pair(void)
{
	outb(PIC1, 0x11); /* ICW1: edge, cascade, ICW4 needed */
	outb(PIC1 + 1, VEC_BASE);
	outb(PIC1 + 1, 0x04); /* ICW3: slave on IR2 */
	outb(PIC1 + 1, 0x01); /* ICW4: 8086 mode */
	outb(PIC2, 0x11);
	outb(PIC2 + 1, VEC_BASE + 8);
	outb(PIC2 + 1, 0x02);
	outb(PIC2 + 1, 0x01);
	outb(PIC1 + 1, 0xff);
	outb(PIC2 + 1, 0xff);
}

static u8 pic_irr(void)
{
	outb(PIC1, 0x0a); /* OCW3: read IRR */
	return inb(PIC1);
}

static void timer_handler(struct frame *f)
{
	ticks++;
	outb(PIC1, 0x20); /* OCW2: non-specific EOI */
}

static void uart_handler(struct frame *f)
{
	uart_irqs++;
	uart_iir = inb(COM1 + 2); /* reading IIR clears the THRE interrupt */
	outb(PIC1, 0x20);
}

int main(void)
{
	pic_init_pair();
	check(inb(PIC1 + 1) == 0xff, "IMR reads back as written");
	set_handler(VEC_BASE + 0, timer_handler);
	set_handler(VEC_BASE + 4, uart_handler);

	/* PIT counter 0, mode 2, 1193 counts: 1 kHz. */
	outb(0x43, 0x34);
	outb(0x40, 1193 & 0xff);
	outb(0x40, 1193 >> 8);
	outb(PIC1 + 1, 0xfe); /* unmask IRQ 0 */

	for (u64 t0 = rdtsc(); !(pic_irr() & 1) && rdtsc() - t0 < 20000000000ull;)
		asm volatile("pause");
	check(pic_irr() & 1, "IRQ 0 is requested in the IRR while IF = 0");
	check(ticks == 0, "with IF = 0 nothing is delivered");
	asm volatile("sti; nop; cli");
	/* At least the pending one: guest time is the host's clock, so on a loaded host another
	   1 kHz edge may arrive while the handler runs and be taken before CLI. */
	check(ticks >= 1, "STI delivers the pending IRQ 0 at vector 0x20 (ticks %llu)",
	      (unsigned long long)ticks);

	ticks = 0;
	for (int i = 0; i < 5; i++)
		asm volatile("sti; hlt; cli");
	check(ticks >= 5, "five STI; HLT wake on the timer (ticks %llu)", (unsigned long long)ticks);

	outb(PIC1 + 1, 0xff); /* mask IRQ 0 again */
	ticks = 0;
	asm volatile("sti; nop; nop; cli");

	/* COM1's THRE interrupt: IER bit 1 with THR empty, gated by MCR.OUT2, on IRQ 4. */
	outb(PIC1 + 1, 0xef);
	outb(COM1 + 4, 0x08); /* MCR: OUT2 */
	asm volatile("sti");
	outb(COM1 + 1, 0x02); /* IER: ETBEI */
	asm volatile("nop; cli");
	check(uart_irqs == 1, "IRQ 4 from COM1's THRE interrupt (%llu)", (unsigned long long)uart_irqs);
	check((uart_iir & 0x0f) == 0x02, "IIR said THRE (%#x)", uart_iir);
	outb(COM1 + 1, 0x00);
	outb(COM1 + 4, 0x00);
	outb(PIC1 + 1, 0xff);
	return report();
}
