// SPDX-License-Identifier: MIT
/*
 * 32-bit runtime: IDT of 8-byte interrupt gates (SDM vol. 3A 7.11), a 32-bit TSS with
 * SS0:ESP0 for ring-3 interrupts (8.2.1) and trap_dispatch() as in the 64-bit runtime.
 */
#include "lib.h"

#define SEL_TSS32 0x28

struct tss32 {
	u32 link, esp0, ss0, esp1, ss1, esp2, ss2, cr3, eip, eflags;
	u32 eax, ecx, edx, ebx, esp, ebp, esi, edi, es, cs, ss, ds, fs, gs, ldt;
	u16 trap, iomap_base;
} __attribute__((packed));

static u64 idt[256] __attribute__((aligned(16)));
static struct tss32 tss __attribute__((aligned(16)));
volatile struct fault_info last_fault;
static trap_handler_t handlers[256];
extern u32 catch_jb[8], user_jb[8];
extern volatile u32 catch_armed;
extern u8 isr_stubs[];
void jb_longjmp(u32 *jb, u32 ret) __attribute__((noreturn));

void set_idt_entry(int vector, void *handler, int dpl)
{
	u32 a = (u32)handler;
	idt[vector] = (a & 0xffff) | (u64)SEL_KCODE << 16 | (u64)(0x8e | dpl << 5) << 40 |
		      (u64)(a >> 16) << 48;
}

void set_handler(int vector, trap_handler_t fn) { handlers[vector] = fn; }

void catch_end(void) { catch_armed = 0; }

void trap_dispatch(struct frame *f);
void trap_dispatch(struct frame *f)
{
	bool ring3 = f->cs & 3;

	last_fault.vector = f->vector;
	last_fault.error = f->error;
	last_fault.rip = f->rip;
	last_fault.cs = f->cs;
	last_fault.rflags = f->rflags;
	last_fault.rsp = ring3 ? f->rsp : 0;
	last_fault.ss = ring3 ? f->ss : 0;
	last_fault.cr2 = f->vector == PF_VECTOR ? read_cr2() : 0;
	last_fault.frame = (ulong)f;
	last_fault.count++;
	if (f->vector == VEC_USER_RETURN)
		jb_longjmp(user_jb, f->edi);
	if (handlers[f->vector]) {
		handlers[f->vector](f);
		return;
	}
	if (catch_armed) {
		catch_armed = 0;
		jb_longjmp(catch_jb, f->vector + 1);
	}
	printf("FAIL unexpected exception %lu error %#lx at eip %#lx cs %#lx cr2 %#lx\n",
	       (ulong)f->vector, (ulong)f->error, (ulong)f->rip, (ulong)f->cs, last_fault.cr2);
	exit(1);
}

void rt_init32(void);
void rt_init32(void)
{
	static struct {
		u16 limit;
		u32 base;
	} __attribute__((packed)) idtr = { sizeof(idt) - 1, (u32)idt };
	u32 t = (u32)&tss;

	/* Mask both 8259s: a BIOS-programmed PIC would deliver IRQ0 at vector 8 (#DF). */
	outb(0x21, 0xff);
	outb(0xa1, 0xff);
	for (int v = 0; v < 256; v++)
		set_idt_entry(v, isr_stubs + 16 * v, v == VEC_USER_RETURN ? 3 : 0);
	asm volatile("lidt %0" : : "m"(idtr));
	tss.esp0 = (u32)rsp0_stack_top;
	tss.ss0 = SEL_KDATA;
	tss.iomap_base = sizeof(tss);
	/* 32-bit available TSS descriptor, type 9 (SDM vol. 3A 8.2.2). */
	gdt[SEL_TSS32 / 8] = (sizeof(tss) - 1) | (u64)(t & 0xffffff) << 16 | 0x89ULL << 40 |
			     (u64)(t >> 24) << 56;
	asm volatile("ltr %w0" : : "r"(SEL_TSS32));
}
