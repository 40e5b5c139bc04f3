// SPDX-License-Identifier: MIT
/*
 * 64-bit runtime: IDT of 16-byte interrupt gates (SDM vol. 3A 7.14.1), 64-bit TSS with RSP0 and
 * IST1/IST2 (8.7), SYSCALL MSRs, and trap_dispatch(): record the exception, then either a
 * registered handler, the armed catch point, or a FAIL line and exit.
 */
#include "lib.h"

struct idt_entry {
	u16 off0, sel;
	u8 ist, type;
	u16 off1;
	u32 off2, reserved;
} __attribute__((packed));

static struct idt_entry idt[256] __attribute__((aligned(16)));
struct tss64 tss __attribute__((aligned(16)));
volatile struct fault_info last_fault;
static trap_handler_t handlers[256];
extern u64 catch_jb[8], user_jb[8];
extern volatile u64 catch_armed;
u64 (*syscall_fn)(u64 nr, u64 a, u64 b);

void set_idt_entry(int vector, void *handler, int dpl, int ist)
{
	u64 a = (u64)handler;
	idt[vector] = (struct idt_entry){
		.off0 = a, .sel = SEL_KCODE, .ist = ist,
		.type = 0x8e | dpl << 5, /* P, interrupt gate */
		.off1 = a >> 16, .off2 = a >> 32,
	};
}

void set_idt_ist(int vector, int ist) { idt[vector].ist = ist; }

void reset_idt_entry(int vector)
{
	set_idt_entry(vector, isr_stubs + 16 * vector, vector == VEC_USER_RETURN ? 3 : 0,
		      vector == DF_VECTOR ? 1 : 0);
}

void set_handler(int vector, trap_handler_t fn) { handlers[vector] = fn; }

void catch_end(void) { catch_armed = 0; }

void flush_tlb(void) { write_cr3(read_cr3()); }

/* Return to the context saved in jb (callee-saved GPRs, RSP, RIP) at CPL 0 with rax = ret. */
static void frame_longjmp(struct frame *f, const u64 *jb, u64 ret)
{
	f->rip = jb[0];
	f->rsp = jb[1];
	f->rbx = jb[2];
	f->rbp = jb[3];
	f->r12 = jb[4];
	f->r13 = jb[5];
	f->r14 = jb[6];
	f->r15 = jb[7];
	f->rax = ret;
	f->cs = SEL_KCODE;
	f->ss = SEL_KDATA;
	f->rflags = 0x2;
}

static void user_return(struct frame *f) { frame_longjmp(f, user_jb, f->rdi); }

void trap_dispatch(struct frame *f);
void trap_dispatch(struct frame *f)
{
	last_fault.vector = f->vector;
	last_fault.error = f->error;
	last_fault.rip = f->rip;
	last_fault.cs = f->cs;
	last_fault.rflags = f->rflags;
	last_fault.rsp = f->rsp;
	last_fault.ss = f->ss;
	last_fault.cr2 = f->vector == PF_VECTOR ? read_cr2() : 0;
	last_fault.frame = (ulong)f;
	last_fault.count++;
	if (handlers[f->vector]) {
		handlers[f->vector](f);
		return;
	}
	if (catch_armed) {
		catch_armed = 0;
		frame_longjmp(f, catch_jb, f->vector + 1);
		return;
	}
	printf("FAIL unexpected exception %lu error %#lx at rip %#lx cs %#lx rsp %#lx cr2 %#lx\n",
	       f->vector, f->error, f->rip, f->cs, f->rsp, last_fault.cr2);
	exit(1);
}

static u64 default_syscall(u64 nr, u64 a, u64 b) { return nr + a + b; }

void rt_init64(void);
void rt_init64(void)
{
	static struct {
		u16 limit;
		u64 base;
	} __attribute__((packed)) idtr = { sizeof(idt) - 1, (u64)idt };
	u64 t = (u64)&tss;

	/* Mask both 8259s: a BIOS-programmed PIC would deliver IRQ0 at vector 8 (#DF). */
	outb(0x21, 0xff);
	outb(0xa1, 0xff);
	for (int v = 0; v < 256; v++)
		reset_idt_entry(v);
	asm volatile("lidt %0" : : "m"(idtr));
	handlers[VEC_USER_RETURN] = user_return;

	tss.rsp[0] = (u64)rsp0_stack_top;
	tss.ist[1] = (u64)ist1_stack_top;
	tss.ist[2] = (u64)ist2_stack_top;
	tss.iomap_base = sizeof(tss);
	/* 64-bit TSS descriptor, type 9 (available), SDM vol. 3A 8.2.3. */
	gdt[SEL_TSS / 8] = (sizeof(tss) - 1) | (t & 0xffffff) << 16 | 0x89ULL << 40 |
			   ((t >> 24) & 0xff) << 56;
	gdt[SEL_TSS / 8 + 1] = t >> 32;
	asm volatile("ltr %w0" : : "r"(SEL_TSS));

	/* SYSCALL to CS 0x08/SS 0x10; SYSRET to SS 0x23, CS 0x2b (SDM 2B SYSRET). */
	wrmsr(MSR_STAR, (u64)(SEL_UCODE32 & ~3) << 48 | (u64)SEL_KCODE << 32);
	wrmsr(MSR_LSTAR, (u64)syscall_entry);
	wrmsr(MSR_FMASK, RFLAGS_IF | RFLAGS_TF | RFLAGS_DF | RFLAGS_AC);
	wrmsr(MSR_EFER, rdmsr(MSR_EFER) | EFER_SCE);
	syscall_fn = default_syscall;
}
