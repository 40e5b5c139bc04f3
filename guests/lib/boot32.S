/* SPDX-License-Identifier: MIT */
/*
 * 32-bit protected-mode guest runtime entry: multiboot v1 header, flat GDT with ring-3
 * segments and a TSS, IDT stubs for all 256 vectors, paging left off (tests enable 32-bit or
 * PAE paging themselves).  AT&T syntax.
 */
#include "asm.h"

	.section .multiboot, "a"
	.align 4
	.long MB_MAGIC
	.long MB_FLAGS
	.long -(MB_MAGIC + MB_FLAGS)

	.section .text.boot, "ax"
	.code32
	.globl entry32
entry32:
	cli
	movl %eax, mb_magic
	movl %ebx, mb_info
	lgdt gdt_desc
	ljmp $SEL_KCODE, $1f
1:	movw $SEL_KDATA, %ax
	movw %ax, %ds
	movw %ax, %es
	movw %ax, %ss
	movw %ax, %fs
	movw %ax, %gs
	movl $boot_stack_top, %esp
	call rt_init32
	call main
	pushl %eax
	call exit
2:	cli
	hlt
	jmp 2b

	.align 16
	.globl isr_stubs
isr_stubs:
	.set vec, 0
	.rept 256
	.align 16
	.if (vec == 8) || (vec == 10) || (vec == 11) || (vec == 12) || (vec == 13) || (vec == 14) || (vec == 17) || (vec == 21) || (vec == 29) || (vec == 30)
	.else
	pushl $0
	.endif
	pushl $vec
	jmp isr_common
	.set vec, vec + 1
	.endr

isr_common:
	pushal
	pushl %ds
	pushl %es
	movw $SEL_KDATA, %ax
	movw %ax, %ds
	movw %ax, %es
	cld
	leal 8(%esp), %eax
	pushl %eax
	call trap_dispatch
	addl $4, %esp
	popl %es
	popl %ds
	popal
	addl $8, %esp
	iretl

/* int catch_begin(void): see lib.h. jb: eip, esp, ebx, esi, edi, ebp. */
	.globl catch_begin
catch_begin:
	movl $catch_jb, %eax
	jmp save_jb
save_jb:
	movl (%esp), %ecx
	movl %ecx, 0(%eax)
	leal 4(%esp), %ecx
	movl %ecx, 4(%eax)
	movl %ebx, 8(%eax)
	movl %esi, 12(%eax)
	movl %edi, 16(%eax)
	movl %ebp, 20(%eax)
	cmpl $catch_jb, %eax
	jne 1f
	movl $1, catch_armed
1:	xorl %eax, %eax
	ret

/* void jb_longjmp(u32 *jb, u32 ret) */
	.globl jb_longjmp
jb_longjmp:
	movl 4(%esp), %edx
	movl 8(%esp), %eax
	movw $SEL_KDATA, %cx
	movw %cx, %ds
	movw %cx, %es
	movw %cx, %ss
	movl 4(%edx), %esp
	movl 8(%edx), %ebx
	movl 12(%edx), %esi
	movl 16(%edx), %edi
	movl 20(%edx), %ebp
	pushl $2
	popfl
	jmp *0(%edx)

/* u32 user_call(u32 (*fn)(u32), u32 arg): fn(arg) at CPL 3 through IRET; back via INT 0x80. */
	.globl user_call
user_call:
	movl $user_jb, %eax
	call save_jb_here
	movl 4(%esp), %eax
	movl 8(%esp), %ecx
	pushl $SEL_UDATA
	pushl user_rsp
	pushl user_rflags
	pushl $SEL_UCODE32
	pushl $user_tramp
	movw $SEL_UDATA, %dx
	movw %dx, %ds
	movw %dx, %es
	iretl
/* save the caller of user_call (one frame up) into *eax */
save_jb_here:
	movl 4(%esp), %ecx
	movl %ecx, 0(%eax)
	leal 8(%esp), %ecx
	movl %ecx, 4(%eax)
	movl %ebx, 8(%eax)
	movl %esi, 12(%eax)
	movl %edi, 16(%eax)
	movl %ebp, 20(%eax)
	ret
	.globl user_tramp
user_tramp:
	pushl %ecx
	call *%eax
	movl %eax, %edi
	int $VEC_USER_RETURN
	ud2

	.data
	.align 16
	.globl gdt
gdt:
	.quad 0				/* 0x00 */
	.quad 0x00cf9a000000ffff	/* 0x08 kernel code 32 */
	.quad 0x00cf92000000ffff	/* 0x10 kernel data */
	.quad 0x00cffa000000ffff	/* 0x18 user code 32 */
	.quad 0x00cff2000000ffff	/* 0x20 user data */
	.quad 0				/* 0x28 TSS (rt_init32) */
	.fill 10, 8, 0			/* 0x30..0x78 free for tests */
gdt_end:
gdt_desc:
	.word gdt_end - gdt - 1
	.long gdt
	.globl user_rflags, user_rsp
user_rflags:	.long 0x2
user_rsp:	.long user_stack_top

	.bss
	.align 16
	.skip 16384
boot_stack_top:
	.globl user_stack_top, rsp0_stack_top
	.skip 8192
user_stack_top:
	.skip 8192
rsp0_stack_top:
	.globl mb_magic, mb_info, catch_jb, user_jb, catch_armed
	.align 8
mb_magic:	.skip 4
mb_info:	.skip 4
catch_jb:	.skip 32
user_jb:	.skip 32
catch_armed:	.skip 4

	.section .note.GNU-stack, "", @progbits
