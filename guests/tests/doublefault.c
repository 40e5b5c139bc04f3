// SPDX-License-Identifier: MIT
/*
 * doublefault: #DF (SDM 3A 7.15 interrupt 8, table 7-5) delivered through its IST1 stack with
 * error code 0: (1) a #GP whose IDT gate is not present (#NP while delivering a contributory
 * exception); (2) a #PF while delivering a #PF because RSP points into an unmapped page (the
 * kernel stack overflow case: only the IST switch lets #DF run); (3) #DE through a
 * not-present gate (#NP, contributory after contributory).  The vector-8 gate uses IST1.
 * The runtime's catch point recovers after each abort.
 */
#include "lib.h"

static bool on_ist1(u64 p) { return p < (u64)ist1_stack_top && p > (u64)ist1_stack_top - 8192; }

static void set_idt_present(int vec, bool p)
{
	struct __attribute__((packed)) { u16 limit; u64 base; } idtr;
	asm volatile("sidt %0" : "=m"(idtr));
	u8 *b = (u8 *)idtr.base + vec * 16 + 5;
	*b = p ? *b | 0x80 : *b & 0x7f;
}

int main(void)
{
	/* (1) #GP -> gate not present -> #NP -> #DF */
	set_idt_present(GP_VECTOR, false);
	int v = CATCH(asm volatile("mov (%0), %%al" : : "r"(0x8000000000000000ull) : "rax"));
	set_idt_present(GP_VECTOR, true);
	check(v == DF_VECTOR && last_fault.error == 0, "#GP with a not-present #GP gate: #DF(0) (vector %d error %#lx)",
	      v, last_fault.error);

	/* (2) #UD with RSP in an unmapped page: pushing the #UD frame faults (#PF), pushing the
	   #PF frame faults again -> #DF on IST1. */
	static u64 t_pdpt[512] __attribute__((aligned(4096)));
	pml4[1] = (u64)t_pdpt | 7; /* PDPT with no present entries */
	flush_tlb();
	v = CATCH(asm volatile("mov %%rsp, %%rbx; mov %0, %%rsp; ud2" : : "r"(0x8000001000ull) : "rbx", "memory"));
	check(v == DF_VECTOR && last_fault.error == 0 && last_fault.rsp == 0x8000001000ull,
	      "#UD then #PF pushing to an unmapped stack: #DF, frame holds the bad RSP (vector %d rsp %#lx)",
	      v, last_fault.rsp);
	check(on_ist1(last_fault.frame), "the #DF frame is on the IST1 stack (%#lx)", last_fault.frame);
	pml4[1] = 0;
	flush_tlb();

	/* (3) #DE whose handler's gate is beyond the IDT limit: #GP during delivery -> #DF. */
	set_idt_present(DE_VECTOR, false);
	v = CATCH(asm volatile("div %0" : : "r"(0ull), "a"(1), "d"(0)));
	set_idt_present(DE_VECTOR, true);
	check(v == DF_VECTOR, "#DE with a not-present gate: #NP during delivery, contributory: #DF (vector %d)", v);


	v = CATCH(asm volatile("mov (%0), %%al" : : "r"(0x8000000000000000ull) : "rax"));
	check(v == GP_VECTOR, "a plain #GP is still a #GP afterwards");
	return report();
}
