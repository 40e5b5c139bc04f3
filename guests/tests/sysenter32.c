// SPDX-License-Identifier: MIT
/*
 * sysenter32: SYSENTER/SYSEXIT in 32-bit protected mode (SDM 2B SYSENTER, SYSEXIT; 3A 5.8.7):
 * CS/SS from IA32_SYSENTER_CS (+8), ESP/EIP from the MSRs, IF cleared; SYSEXIT returns to
 * CPL 3 with CS = SYSENTER_CS+16 | 3, SS = +24 | 3, EIP = EDX, ESP = ECX.  #GP(0) for
 * SYSENTER with SYSENTER_CS = 0 and for SYSEXIT at CPL 3.
 */
#include "lib.h"

static u8 sysenter_stack[4096] __attribute__((aligned(16)));
volatile u32 entry_cs, entry_ss, entry_esp, entry_flags, entry_eax;
void sysenter_entry(void);
asm(".text\n"
    "sysenter_entry:\n\t"
    "mov %cs, entry_cs\n\t"
    "mov %ss, entry_ss\n\t"
    "mov %esp, entry_esp\n\t"
    "mov %eax, entry_eax\n\t"
    "pushf\n\t"
    "popl entry_flags\n\t"
    "addl $1, %eax\n\t"          /* result: eax + 1 */
    "sysexit\n");

static u32 u_sysenter(u32 arg)
{
	u32 eax = arg, cs, ss;
	asm volatile("push %%ebp\n\t"
		     "mov %%esp, %%ecx\n\t"
		     "lea 1f, %%edx\n\t"
		     "sysenter\n"
		     "1: pop %%ebp\n\t"
		     "mov %%cs, %1\n\t"
		     "mov %%ss, %2"
		     : "+a"(eax), "=r"(cs), "=r"(ss) : : "ecx", "edx", "memory");
	return cs == 0x1b && ss == 0x23 ? eax : 0xdead0000 | cs;
}

static u32 u_sysexit(u32 arg)
{
	asm volatile("sysexit" ::: "memory");
	return 0;
}

int main(void)
{
	if (!HAS_SEP()) {
		skip("SEP not advertised");
		return report();
	}
	wrmsr(MSR_IA32_SYSENTER_CS, SEL_KCODE);
	wrmsr(MSR_IA32_SYSENTER_ESP, (u32)sysenter_stack + sizeof(sysenter_stack));
	wrmsr(MSR_IA32_SYSENTER_EIP, (u32)sysenter_entry);
	user_rflags = 0x202;
	u32 r = user_call(u_sysenter, 41);
	user_rflags = 0x2;
	check(r == 42, "sysenter from CPL 3, sysexit back to CS 0x1b SS 0x23 (%#x)", r);
	check(entry_cs == SEL_KCODE && entry_ss == SEL_KDATA, "SYSENTER: CS %#x SS %#x", entry_cs, entry_ss);
	check(entry_esp == (u32)sysenter_stack + sizeof(sysenter_stack), "SYSENTER: ESP from IA32_SYSENTER_ESP");
	check(!(entry_flags & RFLAGS_IF), "SYSENTER clears IF (%#x)", entry_flags);
	check(entry_eax == 41, "general registers pass through");

	int v = CATCH(user_call(u_sysexit, 0));
	check(v == GP_VECTOR && last_fault.error == 0, "SYSEXIT at CPL 3: #GP(0) (vector %d)", v);
	wrmsr(MSR_IA32_SYSENTER_CS, 0);
	v = CATCH(user_call(u_sysenter, 1));
	check(v == GP_VECTOR && last_fault.error == 0, "SYSENTER with IA32_SYSENTER_CS = 0: #GP(0) (vector %d)", v);
	return report();
}
