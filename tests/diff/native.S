/* SPDX-License-Identifier: MIT */
/*
 * The host oracle's way into and out of a generated block (tests/diff/hostdiff.c,
 * docs/difftest.md): the same contract as guests/diff/enter.S, in a Linux process at ring 3.
 *
 * u64 native_run(void): loads DS and ES from native_sel, RFLAGS and the 16 GPRs from native_in
 * (struct gen_state), jumps to native_code. The block ends with a JMP to the exit page, whose stub
 * jumps to native_exit: native_active is cleared, the 16 GPRs, RFLAGS and DS ES SS go to
 * native_out and native_sel_out, and native_run returns 0. A fault in the block raises a signal; hostdiff.c's handler records
 * the state from the signal frame and returns to native_resume, and native_run returns 1.
 * Every access is RIP-relative, 8-byte aligned (RFLAGS.AC may be set), and nothing is pushed
 * while RSP is the block's: the block's stack is its data page, which is compared.
 */
	.text
	.globl native_run, native_exit, native_resume, native_sigentry
native_run:
	pushq %rbx
	pushq %rbp
	pushq %r12
	pushq %r13
	pushq %r14
	pushq %r15
	pushfq
	movq %rsp, native_saved_rsp(%rip)
	movq native_sel + 0(%rip), %rax
	movw %ax, %ds
	movq native_sel + 8(%rip), %rax
	movw %ax, %es
	pushq native_in + 128(%rip)
	popfq
	movq native_in + 0(%rip), %rax
	movq native_in + 8(%rip), %rcx
	movq native_in + 16(%rip), %rdx
	movq native_in + 24(%rip), %rbx
	movq native_in + 32(%rip), %rsp
	movq native_in + 40(%rip), %rbp
	movq native_in + 48(%rip), %rsi
	movq native_in + 56(%rip), %rdi
	movq native_in + 64(%rip), %r8
	movq native_in + 72(%rip), %r9
	movq native_in + 80(%rip), %r10
	movq native_in + 88(%rip), %r11
	movq native_in + 96(%rip), %r12
	movq native_in + 104(%rip), %r13
	movq native_in + 112(%rip), %r14
	movq native_in + 120(%rip), %r15
	jmp *native_code(%rip)

native_exit:
	movl $0, native_active(%rip)
	movq %rax, native_out + 0(%rip)
	movq %rcx, native_out + 8(%rip)
	movq %rdx, native_out + 16(%rip)
	movq %rbx, native_out + 24(%rip)
	movq %rsp, native_out + 32(%rip)
	movq %rbp, native_out + 40(%rip)
	movq %rsi, native_out + 48(%rip)
	movq %rdi, native_out + 56(%rip)
	movq %r8, native_out + 64(%rip)
	movq %r9, native_out + 72(%rip)
	movq %r10, native_out + 80(%rip)
	movq %r11, native_out + 88(%rip)
	movq %r12, native_out + 96(%rip)
	movq %r13, native_out + 104(%rip)
	movq %r14, native_out + 112(%rip)
	movq %r15, native_out + 120(%rip)
	movq native_saved_rsp(%rip), %rsp
	pushfq
	popq native_out + 128(%rip)
	movl %es, %eax
	movq %rax, native_sel_out + 0(%rip)
	movl %ss, %eax
	movq %rax, native_sel_out + 16(%rip)
	movl %ds, %eax
	movq %rax, native_sel_out + 24(%rip)
	xorl %eax, %eax
	jmp 1f
native_resume:
	movq native_saved_rsp(%rip), %rsp
	movl $1, %eax
1:
	movq native_sel_host + 0(%rip), %rcx
	movw %cx, %ds
	movw %cx, %es
	popfq
	popq %r15
	popq %r14
	popq %r13
	popq %r12
	popq %rbp
	popq %rbx
	ret

/*
 * The signal handler's entry: the block may have left RFLAGS.AC set (the kernel keeps it for the
 * handler) and Linux runs CPL 3 with CR0.AM = 1, so clear AC before any C code runs.
 */
native_sigentry:
	pushfq
	andl $~0x40000, (%rsp)
	popfq
	jmp native_on_signal

	.data
	.align 64
	.globl native_in, native_out, native_sel, native_sel_out, native_sel_host, native_code
native_in:
	.skip 136
	.align 8
native_out:
	.skip 136
native_sel: /* ES, CS, SS, DS as the block starts (only ES and DS are loaded) */
	.skip 32
native_sel_out: /* ES, CS, SS, DS at the block's exit */
	.skip 32
native_sel_host: /* the process's own DS and ES, restored afterwards */
	.skip 8
native_code:
	.skip 8
native_saved_rsp:
	.skip 8

	.section .note.GNU-stack, "", @progbits
