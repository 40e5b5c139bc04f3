// SPDX-License-Identifier: MIT
/*
 * sdmstrict: architectural rules QEMU's TCG gets wrong, so this guest is validated on KVM/
 * hardware semantics and FAILS on QEMU TCG by design (see tests/guests.list).  Each check
 * cites the SDM; the two that would wreck the machine if ignored come last.
 */
#include "lib.h"

static u64 u_int41(u64 arg)
{
	asm volatile("int $0x41" ::: "memory");
	return 0;
}

static u64 u_misaligned(u64 arg) { return *(volatile u32 *)(arg + 1); }

static u64 u_syscall_flags(u64 arg)
{
	asm volatile("pushq $0x8d7; popf; syscall" ::: "rax", "rcx", "r11", "memory", "cc");
	return 0;
}

#define FAULT(name, want_vec, want_err, ...)                                                  \
	do {                                                                                  \
		int __v = CATCH(__VA_ARGS__);                                                 \
		check(__v == (want_vec) && last_fault.error == (u64)(want_err),               \
		      "%s: vector %d error %#lx (want %d, %#x)", name, __v, last_fault.error,     \
		      want_vec, (unsigned)(want_err));                                        \
	} while (0)

static u64 t_pdpt[512] __attribute__((aligned(4096)));
static u64 t_pd[512] __attribute__((aligned(4096)));

int main(void)
{
	/* SDM 3A 19.3.1.1: a fault-class exception saves RFLAGS with RF=1. */
	int v = CATCH(asm volatile("ud2"));
	check(v == UD_VECTOR && (last_fault.rflags & RFLAGS_RF), "#UD (a fault) pushes RFLAGS.RF=1 (%#lx)",
	      last_fault.rflags);
	v = CATCH(asm volatile("int $3"));
	check(v == BP_VECTOR && !(last_fault.rflags & RFLAGS_RF), "#BP (a trap) pushes RF=0 (%#lx)", last_fault.rflags);
	/* SDM 2A LOCK: #UD unless the destination is memory and the instruction is lockable. */
	FAULT("lock mov r, r", UD_VECTOR, 0, asm volatile(".byte 0xf0; movq %%rax, %%rbx" ::: "rbx"));
	/* SDM 3A 7.15 interrupt 12: non-canonical address in a stack (SS) reference. */
	FAULT("non-canonical RSP-based access: #SS(0)", SS_VECTOR, 0,
	      asm volatile("mov (%%rsp,%0), %%al" : : "r"(0x7fff000000000000ull) : "rax"));
	/* SDM 3A 7.13: error code index = vector, IDT flag = bit 1. */
	set_idt_entry(0x42, isr_stubs + 16 * 0x42, 0, 0);
	{
		struct __attribute__((packed)) { u16 limit; u64 base; } idtr;
		asm volatile("sidt %0" : "=m"(idtr));
		((u8 *)idtr.base)[0x42 * 16 + 5] &= 0x7f;
	}
	FAULT("int to a not-present gate: #NP(vector*8+2)", NP_VECTOR, 0x42 * 8 + 2, asm volatile("int $0x42"));
	reset_idt_entry(0x42);
	FAULT("int $0x41 through a DPL-0 gate at CPL 3: #GP(vector*8+2)", GP_VECTOR, 0x41 * 8 + 2, user_call(u_int41, 0));
	/* SDM 3B 19.2.x / 2A INT1: F1 raises #DB. */
	FAULT("INT1 (F1)", DB_VECTOR, 0, asm volatile(".byte 0xf1"));
	/* SDM 3A 7.15 interrupt 17. */
	static u64 buf[2];
	write_cr0(read_cr0() | CR0_AM);
	user_rflags = 0x2 | RFLAGS_AC;
	FAULT("misaligned load at CPL 3 with CR0.AM and AC: #AC(0)", AC_VECTOR, 0, user_call(u_misaligned, (u64)buf));
	user_rflags = 0x2;
	write_cr0(read_cr0() & ~CR0_AM);
	/* SDM 2B SYSCALL: RFLAGS <- RFLAGS AND NOT FMASK; arithmetic flags survive. */
	user_call(u_syscall_flags, 0);
	check((syscall_entry_rflags & 0x8d5) == 0x8d5, "SYSCALL keeps the arithmetic flags (%#llx)",
	      (unsigned long long)syscall_entry_rflags);
	/* SDM 3A 4.7: a reserved-bit fault has P=1 and RSVD=1. */
	unsigned maxphy = cpuid(0x80000008, 0).a & 0xff;
	pml4[1] = (u64)t_pdpt | 7;
	t_pdpt[0] = (u64)t_pd | 7;
	t_pd[0] = 0x800000 | 0x83 | (maxphy < 52 ? 1ull << maxphy : 0);
	flush_tlb();
	if (maxphy < 52)
		FAULT("reserved address bit in a 2 MiB PDE: #PF(P|RSVD)", PF_VECTOR, PFEC_P | PFEC_RSVD,
		      (void)*(volatile u8 *)0x8000000000ull);
	t_pd[0] = 0x800000 | 0x83 | PTE_NX;
	flush_tlb();
	FAULT("NX bit with EFER.NXE=0 is reserved: #PF(P|RSVD)", PF_VECTOR, PFEC_P | PFEC_RSVD,
	      (void)*(volatile u8 *)0x8000000000ull);
	pml4[1] = 0;
	flush_tlb();
	/* SDM 2B RDMSR/WRMSR: #GP(0) for reserved or unimplemented MSRs, non-canonical bases. */
	FAULT("RDMSR of an unknown MSR", GP_VECTOR, 0, rdmsr(0x5b564dff));
	FAULT("WRMSR of an unknown MSR", GP_VECTOR, 0, wrmsr(0x12345, 0));
	FAULT("WRMSR LSTAR non-canonical", GP_VECTOR, 0, wrmsr(MSR_LSTAR, 0x0000800000000000ull));
	FAULT("WRMSR FS_BASE non-canonical", GP_VECTOR, 0, wrmsr(MSR_FS_BASE, 0x8000000000000000ull));
	FAULT("WRMSR EFER reserved bit 63", GP_VECTOR, 0, wrmsr(0xc0000080, rdmsr(0xc0000080) | BIT(63)));
	/* SDM 3B 18.17: a write to IA32_TSC sets the counter. */
	wrmsr(MSR_IA32_TSC, 0x100000000000ull);
	u64 t = rdtsc();
	check(t >= 0x100000000000ull && t < 0x110000000000ull, "WRMSR IA32_TSC moves RDTSC (%#llx)", (unsigned long long)t);
	/* SDM 2B MOV CR: reserved CR4 bit, PAE off in long mode, PE off with PG on: #GP(0). */
	FAULT("MOV CR4 with reserved bit 40", GP_VECTOR, 0, write_cr4(read_cr4() | BIT(40)));
	FAULT("MOV CR0 clearing PE with PG set", GP_VECTOR, 0, write_cr0(read_cr0() & ~1ull));
	FAULT("MOV CR4 clearing PAE in long mode", GP_VECTOR, 0, write_cr4(read_cr4() & ~0x20ull));
	return report();
}
