// SPDX-License-Identifier: MIT
/*
 * ring3: entering CPL 3 with IRETQ and coming back through a DPL-3 gate; privileged
 * instructions at CPL 3 raise #GP(0) (SDM 3A 5.9); IOPL rules for CLI/STI/IN/OUT/POPF
 * (SDM 1 18.3, 2B POPF); interrupts from CPL 3 switch to TSS.RSP0 and to an IST stack when the
 * gate asks for one (SDM 3A 7.14.4-5); the frame of a fault at CPL 3;
 * SYSCALL/SYSRET round trip (RCX, R11, FMASK); CR4.TSD makes RDTSC #GP at CPL 3.
 */
#include "lib.h"

static volatile u64 handler_frame;

static void record_frame(struct frame *f) { handler_frame = (u64)f; }

static u64 u_read_cs(u64 arg)
{
	u64 cs;
	asm volatile("mov %%cs, %0" : "=r"(cs));
	return cs + arg;
}

#define USER_INSN(name, body)                                                                   \
	static u64 u_##name(u64 arg)                                                           \
	{                                                                                      \
		asm volatile(body ::: "memory", "rax", "rcx", "rdx");                          \
		return 0;                                                                      \
	}
USER_INSN(hlt, "hlt")
USER_INSN(cli, "cli")
USER_INSN(sti, "sti")
USER_INSN(mov_cr0, "mov %%cr0, %%rax")
USER_INSN(mov_cr3, "mov %%rax, %%cr3")
USER_INSN(rdmsr, "mov $0xc0000080, %%ecx; rdmsr")
USER_INSN(wrmsr, "mov $0xc0000081, %%ecx; xor %%eax, %%eax; xor %%edx, %%edx; wrmsr")
USER_INSN(lgdt, "lgdt (%%rsp)")
USER_INSN(lidt, "lidt (%%rsp)")
USER_INSN(invlpg, "invlpg (%%rsp)")
USER_INSN(in, "inb $0x80, %%al")
USER_INSN(out, "outb %%al, $0x80")
USER_INSN(clts, "clts")
USER_INSN(wbinvd, "wbinvd")
USER_INSN(swapgs, "swapgs")
USER_INSN(mov_dr7, "mov %%dr7, %%rax")
USER_INSN(ltr, "mov $0x30, %%eax; ltr %%ax")
USER_INSN(sysret, "sysretq")
USER_INSN(rdtsc, "rdtsc")

static u64 u_iopl_ops(u64 arg)
{
	u8 scr;
	asm volatile("cli; sti; cli; movb $0x5a, %%al; outb %%al, %%dx; inb %%dx, %%al"
		     : "=a"(scr) : "d"(0x3ff) : "memory");
	return scr;
}

static u64 u_popf(u64 arg)
{
	u64 f;
	asm volatile("pushq %1; popf; pushf; pop %0" : "=r"(f) : "r"(arg) : "memory", "cc");
	return f;
}

static u64 u_syscall(u64 arg)
{
	u64 rax = 7, rcx, ip;
	register u64 r11 asm("r11");
	asm volatile("lea 1f(%%rip), %[ip]; pushq $0x40cd7; popf; syscall\n1:"
		     : "+a"(rax), "=c"(rcx), "=r"(r11), [ip] "=&r"(ip)
		     : "D"(100ull), "S"(arg) : "memory", "rdx", "r8", "r9", "r10");
	return rax == 107 + arg && rcx == ip && (r11 & 0x40cd7) == 0x40cd7 ? 1 : rax;
}

static u64 u_int43(u64 arg)
{
	asm volatile("int $0x43" ::: "memory");
	return 0;
}

static u64 my_syscall(u64 nr, u64 a, u64 b) { return nr + a + b; }

static bool in_stack(u64 p, const char *top)
{
	return p < (u64)top && p > (u64)top - 8192;
}

int main(void)
{
	static const struct { const char *name; u64 (*fn)(u64); } gp[] = {
		{ "hlt", u_hlt }, { "cli (IOPL 0)", u_cli }, { "sti (IOPL 0)", u_sti },
		{ "mov from cr0", u_mov_cr0 }, { "mov to cr3", u_mov_cr3 }, { "rdmsr", u_rdmsr },
		{ "wrmsr", u_wrmsr }, { "lgdt", u_lgdt }, { "lidt", u_lidt }, { "invlpg", u_invlpg },
		{ "in (IOPL 0, no I/O bitmap)", u_in }, { "out", u_out }, { "clts", u_clts },
		{ "wbinvd", u_wbinvd }, { "swapgs", u_swapgs }, { "mov from dr7", u_mov_dr7 },
		{ "ltr", u_ltr }, { "sysret", u_sysret },
	};

	check(user_call(u_read_cs, 1000) == SEL_UCODE + 1000, "user_call runs at CPL 3 (CS %#llx)",
	      (unsigned long long)user_call(u_read_cs, 0));
	for (unsigned i = 0; i < ARRAY_SIZE(gp); i++) {
		int v = CATCH(user_call(gp[i].fn, 0));
		check(v == GP_VECTOR && last_fault.error == 0 && last_fault.cs == SEL_UCODE,
		      "%s at CPL 3: #GP(0) (vector %d error %#lx cs %#lx)", gp[i].name, v,
		      last_fault.error, last_fault.cs);
	}
	int v = CATCH(user_call(u_hlt, 0));
	check(last_fault.ss == SEL_UDATA && in_stack(last_fault.rsp, user_stack_top),
	      "fault frame from CPL 3 holds the user SS:RSP (%#lx:%#lx)", last_fault.ss, last_fault.rsp);

	/* Interrupt from CPL 3: new stack from TSS.RSP0; with IST 2, from TSS.IST2. */
	set_idt_entry(0x43, isr_stubs + 16 * 0x43, 3, 0);
	set_handler(0x43, record_frame);
	handler_frame = 0;
	user_call(u_int43, 0);
	check(in_stack(handler_frame, rsp0_stack_top) && last_fault.cs == SEL_UCODE,
	      "int from CPL 3 runs on TSS.RSP0 (frame %#llx)", (unsigned long long)handler_frame);
	set_idt_ist(0x43, 2);
	user_call(u_int43, 0);
	check(in_stack(handler_frame, ist2_stack_top), "gate with IST=2 from CPL 3 runs on TSS.IST2");
	asm volatile("int $0x43" ::: "memory");
	check(in_stack(handler_frame, ist2_stack_top) && last_fault.cs == SEL_KCODE,
	      "gate with IST=2 from CPL 0 also switches to TSS.IST2");
	reset_idt_entry(0x43);
	set_handler(0x43, NULL);

	/* IOPL 3: CLI/STI/IN/OUT allowed (UART scratch register 0x3ff reads back). */
	user_rflags = 0x2 | RFLAGS_IOPL(3);
	check(user_call(u_iopl_ops, 0) == 0x5a, "IOPL 3: cli/sti/out/in at CPL 3");
	user_rflags = 0x2;
	u64 f = user_call(u_popf, 0x2 | RFLAGS_IF | RFLAGS_IOPL(3) | RFLAGS_CF | RFLAGS_AC);
	check((f & (RFLAGS_IF | RFLAGS_IOPL(3))) == 0 && (f & RFLAGS_CF) && (f & RFLAGS_AC),
	      "popf at CPL 3, IOPL 0: IF and IOPL unchanged, CF and AC written (%#llx)", (unsigned long long)f);

	syscall_fn = my_syscall;
	u64 r = user_call(u_syscall, 5);
	check(r == 1, "syscall/sysret: RAX result, RCX = next RIP, R11 = RFLAGS (%#llx)", (unsigned long long)r);
	check(!(syscall_entry_rflags & (RFLAGS_AC | RFLAGS_DF)),
	      "syscall clears the IA32_FMASK bits AC and DF (%#llx)", (unsigned long long)syscall_entry_rflags);


	write_cr4(read_cr4() | BIT(2));
	v = CATCH(user_call(u_rdtsc, 0));
	check(v == GP_VECTOR, "rdtsc at CPL 3 with CR4.TSD: #GP (vector %d)", v);
	write_cr4(read_cr4() & ~BIT(2));
	v = CATCH(user_call(u_rdtsc, 0));
	check(v == -1, "rdtsc at CPL 3 without CR4.TSD");
	return report();
}
