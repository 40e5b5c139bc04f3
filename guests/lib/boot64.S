/* SPDX-License-Identifier: MIT */
/*
 * 64-bit guest runtime entry: multiboot v1 header, 32-bit entry with paging off (multiboot
 * spec 3.2: EAX = 0x2BADB002, EBX = info), GDT, identity map of 0-4 GiB with 2 MiB pages,
 * PAE + EFER.LME + CR0.PG (SDM vol. 3A 10.8.5 "Initializing IA-32e Mode"), IDT stubs for all
 * 256 vectors, the fault-catching helper and the ring-3 trampolines.  AT&T syntax.
 */
#include "asm.h"

	.section .multiboot, "a"
	.align 4
mb_header:
	.long MB_MAGIC
#ifdef AOUT_KLUDGE
	/* Bit 16: the loader must use the address fields below, not the ELF headers (3.1.3). */
	.long MB_FLAGS_AOUT
	.long -(MB_MAGIC + MB_FLAGS_AOUT)
	.long mb_header		/* header_addr */
	.long __image_start	/* load_addr */
	.long __data_end	/* load_end_addr */
	.long __bss_end		/* bss_end_addr */
	.long entry32		/* entry_addr */
#else
	.long MB_FLAGS
	.long -(MB_MAGIC + MB_FLAGS)
#endif

	.section .text.boot, "ax"
	.code32
	.globl entry32
entry32:
	cli
	movl %eax, mb_magic
	movl %ebx, mb_info
	lgdt gdt_desc32
	ljmp $SEL_KCODE32, $1f
1:	movw $SEL_KDATA, %ax
	movw %ax, %ds
	movw %ax, %es
	movw %ax, %ss
	movw %ax, %fs
	movw %ax, %gs
	movl $boot_stack_top, %esp

	/* PD entries: 2048 x 2 MiB, P|RW|US|PS; the four PDs are contiguous. */
	movl $pd, %edi
	xorl %ecx, %ecx
2:	movl %ecx, %eax
	shll $21, %eax
	orl $0x87, %eax
	movl %eax, (%edi,%ecx,8)
	movl %ecx, %eax
	shrl $11, %eax
	movl %eax, 4(%edi,%ecx,8)
	incl %ecx
	cmpl $2048, %ecx
	jne 2b
	/* PDPT[0..3] -> pd + i * 4 KiB, P|RW|US */
	xorl %ecx, %ecx
3:	movl %ecx, %eax
	shll $12, %eax
	addl $pd + 7, %eax
	movl %eax, pdpt(,%ecx,8)
	incl %ecx
	cmpl $4, %ecx
	jne 3b
	movl $pdpt + 7, pml4

	movl %cr4, %eax
	orl $CR4_PAE, %eax
	movl %eax, %cr4
	movl $pml4, %eax
	movl %eax, %cr3
	movl $MSR_EFER, %ecx
	rdmsr
	orl $EFER_LME, %eax
	wrmsr
	movl %cr0, %eax
	orl $(CR0_PG | CR0_PE), %eax
	movl %eax, %cr0
	ljmp $SEL_KCODE, $entry64

	.code64
entry64:
	movw $SEL_KDATA, %ax
	movw %ax, %ds
	movw %ax, %es
	movw %ax, %ss
	xorl %eax, %eax
	movw %ax, %fs
	movw %ax, %gs
	movabsq $boot_stack_top, %rsp
	call rt_init64
	call main
	movl %eax, %edi
	call exit
4:	cli
	hlt
	jmp 4b

/* IDT stubs: 16 bytes each; vectors without a CPU error code push a zero (SDM 3A 7.13). */
	.align 16
	.globl isr_stubs
isr_stubs:
	.set vec, 0
	.rept 256
	.align 16
	.if (vec == 8) || (vec == 10) || (vec == 11) || (vec == 12) || (vec == 13) || (vec == 14) || (vec == 17) || (vec == 21) || (vec == 29) || (vec == 30)
	.else
	pushq $0
	.endif
	pushq $vec
	jmp isr_common
	.set vec, vec + 1
	.endr

isr_common:
	pushq %rax
	pushq %rcx
	pushq %rdx
	pushq %rbx
	pushq %rbp
	pushq %rsi
	pushq %rdi
	pushq %r8
	pushq %r9
	pushq %r10
	pushq %r11
	pushq %r12
	pushq %r13
	pushq %r14
	pushq %r15
	cld
	movq %rsp, %rdi
	movq %rsp, %rbx
	andq $-16, %rsp
	call trap_dispatch
	movq %rbx, %rsp
	popq %r15
	popq %r14
	popq %r13
	popq %r12
	popq %r11
	popq %r10
	popq %r9
	popq %r8
	popq %rdi
	popq %rsi
	popq %rbp
	popq %rbx
	popq %rdx
	popq %rcx
	popq %rax
	addq $16, %rsp
	iretq

/*
 * int catch_begin(void): like setjmp; returns 0, then returns again with the vector + 1
 * when an exception arrives while armed (trap_dispatch rewrites the frame from catch_jb).
 */
	.globl catch_begin
catch_begin:
	movq (%rsp), %rax
	movq %rax, catch_jb + 0
	leaq 8(%rsp), %rax
	movq %rax, catch_jb + 8
	movq %rbx, catch_jb + 16
	movq %rbp, catch_jb + 24
	movq %r12, catch_jb + 32
	movq %r13, catch_jb + 40
	movq %r14, catch_jb + 48
	movq %r15, catch_jb + 56
	movl $1, catch_armed
	xorl %eax, %eax
	ret

/*
 * u64 user_call(u64 (*fn)(u64), u64 arg): run fn(arg) at CPL 3 (IRETQ, SDM 3A 7.14.4 / IRET
 * pseudocode) and return its result; the ring-3 side returns through INT 0x80 (DPL 3 gate).
 */
	.globl user_call
user_call:
	movq (%rsp), %rax
	movq %rax, user_jb + 0
	leaq 8(%rsp), %rax
	movq %rax, user_jb + 8
	movq %rbx, user_jb + 16
	movq %rbp, user_jb + 24
	movq %r12, user_jb + 32
	movq %r13, user_jb + 40
	movq %r14, user_jb + 48
	movq %r15, user_jb + 56
	movq %rdi, %rax
	movq %rsi, %rdi
	pushq $SEL_UDATA
	pushq user_rsp
	pushq user_rflags
	pushq $SEL_UCODE
	leaq user_tramp(%rip), %rcx
	pushq %rcx
	iretq
	.globl user_tramp
user_tramp:
	call *%rax
	movq %rax, %rdi
	int $VEC_USER_RETURN
	ud2

/*
 * SYSCALL entry (LSTAR): switch to the syscall stack, call syscall_fn(rax, rdi, rsi), SYSRETQ;
 * only RAX (result), RCX and R11 change
 * (SDM 2B SYSCALL/SYSRET).  RCX = user RIP, R11 = user RFLAGS.
 */
	.globl syscall_entry
syscall_entry:
	movq %rsp, syscall_user_rsp
	movabsq $syscall_stack_top, %rsp
	pushfq
	popq syscall_entry_rflags
	pushq %rcx
	pushq %r11
	pushq %rdi
	pushq %rsi
	pushq %rdx
	pushq %r8
	pushq %r9
	pushq %r10
	movq %rsi, %rdx
	movq %rdi, %rsi
	movq %rax, %rdi
	call *syscall_fn
	popq %r10
	popq %r9
	popq %r8
	popq %rdx
	popq %rsi
	popq %rdi
	popq %r11
	popq %rcx
	movq syscall_user_rsp, %rsp
	sysretq

	.data
	.align 16
	.globl gdt
gdt:
	.quad 0				/* 0x00 */
	.quad 0x00209a0000000000	/* 0x08 kernel code 64 */
	.quad 0x00cf92000000ffff	/* 0x10 kernel data */
	.quad 0x00cffa000000ffff	/* 0x18 user code 32 (compat) */
	.quad 0x00cff2000000ffff	/* 0x20 user data */
	.quad 0x0020fa0000000000	/* 0x28 user code 64 */
	.quad 0, 0			/* 0x30 TSS (filled by rt_init64) */
	.quad 0x00cf9a000000ffff	/* 0x40 kernel code 32 */
	.fill 7, 8, 0			/* 0x48..0x78 free for tests */
gdt_end:
	.globl gdt_desc
gdt_desc:
	.word gdt_end - gdt - 1
	.quad gdt
gdt_desc32:
	.word gdt_end - gdt - 1
	.long gdt

	.globl user_rflags
user_rflags:
	.quad 0x2
	.globl user_rsp
user_rsp:
	.quad user_stack_top

	.bss
	.align 4096
	.globl pml4, pdpt, pd
pml4:	.skip 4096
pdpt:	.skip 4096
pd:	.skip 4096 * 4
	.align 16
	.skip 16384
boot_stack_top:
	.globl syscall_stack_top, user_stack_top, rsp0_stack_top, ist1_stack_top, ist2_stack_top
	.skip 8192
syscall_stack_top:
	.skip 8192
user_stack_top:
	.skip 8192
rsp0_stack_top:
	.skip 8192
ist1_stack_top:
	.skip 8192
ist2_stack_top:
	.globl mb_magic, mb_info, catch_jb, user_jb, catch_armed, syscall_user_rsp
	.align 8
mb_magic:	.skip 8
mb_info:	.skip 8
catch_jb:	.skip 64
user_jb:	.skip 64
catch_armed:	.skip 8
syscall_user_rsp: .skip 8
	.globl syscall_entry_rflags
syscall_entry_rflags: .skip 8

	.section .note.GNU-stack, "", @progbits
