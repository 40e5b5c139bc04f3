/* SPDX-License-Identifier: MIT */
/*
 * Ring-3 entry and exit of one generated block (docs/difftest.md).
 *
 * u64 diff_run_block(void): called at CPL 3.  Loads RFLAGS (POPFQ: at CPL 3 IF and IOPL are
 * left unchanged, SDM vol. 2B POPF) and the 16 GPRs from diff_in, jumps to diff_code.  The
 * block ends with a JMP to diff_block_exit, which stores the 16 GPRs and RFLAGS in diff_out and
 * returns 0.  A fault inside the block reaches the ring-0 handler in difftest.c, which records
 * the frame and IRETs to diff_fault_resume (still CPL 3), which returns 1.
 * Every access here is RIP-relative: no register is needed to find the save areas.
 */
#include "asm.h"

	.text
	.globl diff_run_block, diff_block_exit, diff_fault_resume
diff_run_block:
	movq %rbx, diff_jb + 0(%rip)
	movq %rbp, diff_jb + 8(%rip)
	movq %r12, diff_jb + 16(%rip)
	movq %r13, diff_jb + 24(%rip)
	movq %r14, diff_jb + 32(%rip)
	movq %r15, diff_jb + 40(%rip)
	movq %rsp, diff_jb + 48(%rip)
	pushq diff_in + 128(%rip)
	popfq
	movq diff_in + 0(%rip), %rax
	movq diff_in + 8(%rip), %rcx
	movq diff_in + 16(%rip), %rdx
	movq diff_in + 24(%rip), %rbx
	movq diff_in + 32(%rip), %rsp
	movq diff_in + 40(%rip), %rbp
	movq diff_in + 48(%rip), %rsi
	movq diff_in + 56(%rip), %rdi
	movq diff_in + 64(%rip), %r8
	movq diff_in + 72(%rip), %r9
	movq diff_in + 80(%rip), %r10
	movq diff_in + 88(%rip), %r11
	movq diff_in + 96(%rip), %r12
	movq diff_in + 104(%rip), %r13
	movq diff_in + 112(%rip), %r14
	movq diff_in + 120(%rip), %r15
	jmp *diff_code_ptr(%rip)

diff_block_exit:
	movq %rax, diff_out + 0(%rip)
	movq %rcx, diff_out + 8(%rip)
	movq %rdx, diff_out + 16(%rip)
	movq %rbx, diff_out + 24(%rip)
	movq %rsp, diff_out + 32(%rip)
	movq %rbp, diff_out + 40(%rip)
	movq %rsi, diff_out + 48(%rip)
	movq %rdi, diff_out + 56(%rip)
	movq %r8, diff_out + 64(%rip)
	movq %r9, diff_out + 72(%rip)
	movq %r10, diff_out + 80(%rip)
	movq %r11, diff_out + 88(%rip)
	movq %r12, diff_out + 96(%rip)
	movq %r13, diff_out + 104(%rip)
	movq %r14, diff_out + 112(%rip)
	movq %r15, diff_out + 120(%rip)
	movq diff_jb + 48(%rip), %rsp
	pushfq
	popq diff_out + 128(%rip)
	pushq $2		/* the harness runs with AC and DF clear */
	popfq
	xorl %eax, %eax
	jmp 1f
diff_fault_resume:
	movq diff_jb + 48(%rip), %rsp
	movl $1, %eax
1:
	movq diff_jb + 0(%rip), %rbx
	movq diff_jb + 8(%rip), %rbp
	movq diff_jb + 16(%rip), %r12
	movq diff_jb + 24(%rip), %r13
	movq diff_jb + 32(%rip), %r14
	movq diff_jb + 40(%rip), %r15
	ret

/*
 * u64 diff_user_call(u64 (*fn)(u64)): run fn(0) at CPL 3 on the runtime's user stack (IRETQ,
 * SDM vol. 3A 7.14.4) and return its result at CPL 0.  The way back is a UD2 at diff_user_ret,
 * which the ring-0 #UD handler in difftest.c turns into a return from here: the KVM here
 * (kvm_pvm) raises #UD for INT n at CPL 3, so user_call()'s INT 0x80 cannot be used.
 */
	.globl diff_user_call, diff_user_ret, diff_ujb
diff_user_call:
	movq (%rsp), %rax
	movq %rax, diff_ujb + 0(%rip)
	leaq 8(%rsp), %rax
	movq %rax, diff_ujb + 8(%rip)
	movq %rbx, diff_ujb + 16(%rip)
	movq %rbp, diff_ujb + 24(%rip)
	movq %r12, diff_ujb + 32(%rip)
	movq %r13, diff_ujb + 40(%rip)
	movq %r14, diff_ujb + 48(%rip)
	movq %r15, diff_ujb + 56(%rip)
	movq %rdi, %rax
	xorl %edi, %edi
	pushq $SEL_UDATA
	pushq user_rsp(%rip)
	pushq $2
	pushq $SEL_UCODE
	leaq 1f(%rip), %rcx
	pushq %rcx
	iretq
1:	call *%rax
diff_user_ret:
	ud2

	.bss
	.align 8
diff_jb:
	.skip 56
diff_ujb:
	.skip 64

	.section .note.GNU-stack, "", @progbits
