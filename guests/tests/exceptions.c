// SPDX-License-Identifier: MIT
/*
 * exceptions: vector, error code, saved RIP (fault: the instruction; trap: the next one) and
 * the 64-bit stack frame (SDM vol. 3A 7.14.2: SS:RSP always pushed, RSP aligned to 16) for
* #DB (TF single-step) #BP #UD #NP #SS #GP (incl. non-canonical and bad selectors),
 * INT n returning through IRETQ, INTO being #UD in 64-bit mode, and an explicit IRETQ.
 */
#include "lib.h"

static volatile u64 hits, handler_rsp, db_rip, db_dr6;

static void count_and_return(struct frame *f)
{
	hits++;
	handler_rsp = (u64)f;
}

static void db_handler(struct frame *f)
{
	hits++;
	db_rip = f->rip;
	asm volatile("mov %%dr6, %0" : "=r"(db_dr6));
	f->rflags &= ~RFLAGS_TF;
}

#define FAULT_AT(name, want_vec, want_err, insn, ...)                                          \
	do {                                                                                   \
		int v = CATCH(asm volatile(MARK_IP insn : : __VA_ARGS__));                     \
		check(v == (want_vec) && last_fault.error == (u64)(want_err) &&                 \
			      last_fault.rip == expected_ip,                                  \
		      "%s: vector %d error %#lx rip %s", name, v, last_fault.error,              \
		      last_fault.rip == expected_ip ? "at the instruction" : "WRONG");           \
	} while (0)

static void test_faults(void)
{
	FAULT_AT("ud2", UD_VECTOR, 0, "ud2");
	FAULT_AT("into is invalid in 64-bit mode", UD_VECTOR, 0, ".byte 0xce");
	FAULT_AT("non-canonical load", GP_VECTOR, 0, "mov (%0), %%al", "r"(0x0000800000000000ull) : "rax");
	FAULT_AT("mov ds, selector beyond the GDT limit", GP_VECTOR, 0x1f8, "mov %0, %%ds", "r"(0x1f8));
	gdt[13] = 0x0020980000000000ull; /* execute-only code */
	FAULT_AT("mov ds, execute-only code segment", GP_VECTOR, 13 * 8, "mov %0, %%ds", "r"(13 * 8));
	gdt[13] = 0;
	FAULT_AT("mov ss, selector with RPL != CPL: error code has RPL bits cleared", GP_VECTOR, 0x10,
		 "mov %0, %%ss", "r"(0x13));
	gdt[12] = 0x00cf12000000ffffull; /* data, not present */
	FAULT_AT("mov ds, not-present segment", NP_VECTOR, 12 * 8, "mov %0, %%ds", "r"(12 * 8));
	FAULT_AT("mov ss, not-present segment", SS_VECTOR, 12 * 8, "mov %0, %%ss", "r"(12 * 8));
	gdt[12] = 0;
	asm volatile("lldt %w0" : : "r"(0));
	FAULT_AT("mov ds, LDT selector with a null LDTR", GP_VECTOR, 0x14, "mov %0, %%ds", "r"(0x14));
}

static void test_frame(void)
{
	u64 sp, fl;
	asm volatile("mov %%rsp, %0; pushf; pop %1" : "=r"(sp), "=r"(fl));
	int v = CATCH(asm volatile("ud2"));
	check(v == UD_VECTOR && last_fault.cs == SEL_KCODE && last_fault.ss == SEL_KDATA,
	      "frame CS %#lx SS %#lx", last_fault.cs, last_fault.ss);
	/* RF is ignored here: faults push RF=1 (SDM 3A 7.x, checked in sdmstrict), QEMU TCG pushes 0. */
	check((last_fault.rflags & ~(RFLAGS_ARITH | RFLAGS_RF)) == (fl & ~RFLAGS_ARITH), "frame RFLAGS %#lx",
	      last_fault.rflags);
	check(last_fault.rsp <= sp && sp - last_fault.rsp < 256, "frame RSP is the interrupted RSP (%#lx vs %#llx)",
	      last_fault.rsp, (unsigned long long)sp);

	set_handler(0x41, count_and_return);
	hits = 0;
	asm volatile("int $0x41" : : : "memory");
	check(hits == 1 && last_fault.rip > 0 && last_fault.vector == 0x41, "int $0x41 returns through IRETQ");
	check((handler_rsp + sizeof(struct frame)) % 16 == 0, "64-bit delivery aligns RSP to 16 before pushing (%#llx)",
	      (unsigned long long)handler_rsp);
	set_handler(0x41, NULL);

	set_handler(BP_VECTOR, count_and_return);
	hits = 0;
	asm volatile(MARK_IP "int3" : : : "memory");
	check(hits == 1 && last_fault.rip == expected_ip + 1, "int3 is a trap: RIP after the CC byte");
	asm volatile(MARK_IP ".byte 0xcd, 0x03" : : : "memory");
	check(hits == 2 && last_fault.rip == expected_ip + 2, "int $3 (CD 03) saved RIP after 2 bytes");
	set_handler(BP_VECTOR, NULL);

	/* An 8-byte frame misalignment before the exception must not matter. */
	v = CATCH(asm volatile("push %%rax; ud2" : : : "memory"));
	check(v == UD_VECTOR, "exception with RSP not 16-aligned");
}

static void test_debug(void)
{
	set_handler(DB_VECTOR, db_handler);
	hits = 0;
	asm volatile("pushf; orq $0x100, (%%rsp); popf\n\t"
		     MARK_IP "nop\n\t"
		     "nop" : : : "memory");
	/* POPF setting TF traps only after the next instruction (SDM 3A 19.2.2.3 / 19.3.1.4). */
	check(hits == 1 && db_rip == expected_ip && (db_dr6 & BIT(14)),
	      "TF set by POPF: #DB after the following instruction, DR6.BS (dr6 %#llx rip %#llx)",
	      (unsigned long long)db_dr6, (unsigned long long)db_rip);
	set_handler(DB_VECTOR, NULL);
}

static void test_iretq(void)
{
	u64 r, sp0, sp1;

	/* IRETQ to the same privilege level pops SS:RSP too (SDM 2A IRET, 64-bit mode). */
	asm volatile("mov %%rsp, %[s0]\n\t"
		     "mov %%rsp, %%rax\n\t"
		     "pushq $0x10\n\t"
		     "pushq %%rax\n\t"
		     "pushq $0x8c3\n\t"    /* OF SF CF PF + bit 1 */
		     "pushq $0x08\n\t"
		     "lea 1f(%%rip), %%rax\n\t"
		     "pushq %%rax\n\t"
		     "iretq\n"
		     "1: pushf; pop %[r]; mov %%rsp, %[s1]"
		     : [r] "=r"(r), [s0] "=&r"(sp0), [s1] "=&r"(sp1) : : "rax", "memory", "cc");
	check((r & 0xfff) == 0x8c3 && sp0 == sp1, "iretq loads RFLAGS (%#llx) and RSP", (unsigned long long)r);
	int v = CATCH(asm volatile("pushq $0x10; pushq %%rsp; pushq $2; pushq $0x1b; pushq $0; iretq" : : : "memory"));
	check(v == GP_VECTOR && last_fault.error == 0x10, "iretq to CPL 3 with SS.RPL 0: #GP(SS selector) (vector %d error %#lx)",
	      v, last_fault.error);
	v = CATCH(asm volatile("pushq $0x23; pushq %%rsp; pushq $2; pushq $0x0b; pushq $0; iretq" : : : "memory"));
	check(v == GP_VECTOR && last_fault.error == 0x08, "iretq to a DPL 0 code segment with RPL 3: #GP(CS selector) (vector %d error %#lx)",
	      v, last_fault.error);
}

int main(void)
{
	test_faults();
	test_frame();
	test_debug();
	test_iretq();
	return report();
}
