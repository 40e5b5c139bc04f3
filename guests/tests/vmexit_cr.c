// SPDX-License-Identifier: MIT
/*
 * vmexit_cr: control-register access exits, basic reason 28. Run with --vmx cr3-exiting=on,
 * cr8-exiting=on, tpr-shadow=off. Qualification (SDM vol. 3C Table 28-3): bits 3:0 CR number,
 * bits 5:4 type (0 MOV to CR, 1 MOV from CR, 2 CLTS, 3 LMSW), bit 6 LMSW operand (0 register,
 * 1 memory), bits 11:8 GPR of MOV CR, bits 31:16 LMSW source data. When exits happen
 * (26.1.3): MOV to/from CR3 with CR3-load/-store exiting (CR3-target list empty), MOV to/from CR8
 * with CR8-load/-store exiting, CLTS when CR0.TS is set in both the CR0 guest/host mask and the
 * read shadow, LMSW when a host-owned bit among PE MP EM TS would change from the read shadow.
 */
#include "vmexit.h"

DEFINE_XREC;

#define QUAL(cr, type, gpr) ((u64)(cr) | (u64)(type) << 4 | (u64)(gpr) << 8)
#define LMSW_QUAL(mem, data) (3ull << 4 | (u64)(mem) << 6 | (u64)(data) << 16)

static u64 v, w, cr3;
static u16 msw;

int main(void)
{
	vmm_probe();
	cr3 = read_cr3();
	EXPECT_EXIT("mov %cr3, %rax", XR_CR_ACCESS, QUAL(3, 1, 0), 3,
		    asm volatile(MARK_IP "mov %%cr3, %%rax" : "=a"(v)));
	check_eq(v, cr3, "mov from CR3 reads the guest's CR3");
	EXPECT_EXIT("mov %rax, %cr3", XR_CR_ACCESS, QUAL(3, 0, 0), 3,
		    asm volatile(MARK_IP "mov %%rax, %%cr3" : : "a"(cr3) : "memory"));
	EXPECT_EXIT("mov %rbx, %cr3", XR_CR_ACCESS, QUAL(3, 0, 3), 3,
		    asm volatile(MARK_IP "mov %%rbx, %%cr3" : : "b"(cr3) : "memory"));
	EXPECT_EXIT("mov %r9, %cr3 (REX.B)", XR_CR_ACCESS, QUAL(3, 0, 9), 4,
		    asm volatile("mov %0, %%r9\n\t" MARK_IP "mov %%r9, %%cr3" : : "r"(cr3)
				 : "r9", "memory"));
	EXPECT_EXIT("mov %cr3, %r12", XR_CR_ACCESS, QUAL(3, 1, 12), 4,
		    asm volatile(MARK_IP "mov %%cr3, %%r12\n\tmov %%r12, %0" : "=r"(v) : : "r12"));
	check_eq(v, cr3, "CR3 unchanged after the writes");

	/* CR8 (64-bit mode only), TPR shadow off: exits both ways; 44 0F 22/20 (REX.R). */
	EXPECT_EXIT("mov %rax, %cr8", XR_CR_ACCESS, QUAL(8, 0, 0), 4,
		    asm volatile(MARK_IP "mov %%rax, %%cr8" : : "a"(5ull)));
	EXPECT_EXIT("mov %cr8, %rcx", XR_CR_ACCESS, QUAL(8, 1, 1), 4,
		    asm volatile(MARK_IP "mov %%cr8, %%rcx" : "=c"(v)));
	check_eq(v, 5, "CR8 reads back 5");
	asm volatile("mov %0, %%cr8" : : "r"(0ull));

	/* CLTS / LMSW exit only if the policy keeps CR0.TS host-owned. */
	write_cr0(read_cr0() | CR0_TS);
	check(read_cr0() & CR0_TS, "CR0.TS set");
	EXPECT_EXIT_OPT("clts", "CR0.TS is guest-owned", XR_CR_ACCESS, QUAL(0, 2, 0), 2,
			asm volatile(MARK_IP "clts" : : : "memory"));
	check(!(read_cr0() & CR0_TS), "clts cleared CR0.TS");
	msw = (u16)(read_cr0() | CR0_TS);
	EXPECT_EXIT_OPT("lmsw %ax", "CR0.TS is guest-owned", XR_CR_ACCESS, LMSW_QUAL(0, msw), 3,
			asm volatile(MARK_IP "lmsw %%ax" : : "a"(msw) : "memory"));
	check(read_cr0() & CR0_TS, "lmsw set CR0.TS");
	asm volatile("clts");
	EXPECT_EXIT_OPT("lmsw (%rbx)", "CR0.TS is guest-owned", XR_CR_ACCESS, LMSW_QUAL(1, msw), 3,
			asm volatile(MARK_IP "lmsw (%%rbx)" : : "b"(&msw) : "memory"));
	if (xrec.reason == XR_CR_ACCESS && (xrec.qual & 0x30) == 0x30)
		CHECK_REC_EQ(xrec.linear, (u64)&msw, "lmsw (mem): guest-linear address of the operand");
	check(read_cr0() & CR0_TS, "lmsw from memory set CR0.TS");
	asm volatile("clts");

	/* CR0 / CR4 writes that change nothing the host owns do not exit (26.1.3). */
	w = read_cr4();
	EXPECT_NO_EXIT("mov to CR4 of the same value", XR_CR_ACCESS, write_cr4(w));
	return report();
}
