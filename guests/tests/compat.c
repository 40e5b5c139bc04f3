// SPDX-License-Identifier: MIT
/*
 * compat: compatibility mode (IA-32e with a 32-bit code segment, SDM 3A 2.2, vol. 1 3.2.1):
 * reached by a far call from 64-bit mode, the same bytes decode differently: 40h is INC EAX
 * (a REX prefix in 64-bit mode), 27h is DAA (#UD in 64-bit mode), PUSH/POP are 32-bit,
 * addresses are 32-bit and wrap at 4 GiB; then a far return to 64-bit mode.  Also a ring-3
 * compatibility-mode segment entered with IRETQ (CS 0x1b) returning through INT 0x80.
 */
#include "lib.h"

volatile u32 c_inc, c_daa, c_push_delta, c_wrap;
void compat_body(void);
asm(".text\n"
    ".code32\n"
    "compat_body:\n\t"
    "xor %eax, %eax\n\t"
    ".byte 0x40, 0x40\n\t"             /* inc %eax twice */
    "mov %eax, c_inc\n\t"
    "mov $0x79, %al\n\t"
    "add $0x35, %al\n\t"
    ".byte 0x27\n\t"                   /* daa */
    "movzbl %al, %eax\n\t"
    "mov %eax, c_daa\n\t"
    "mov %esp, %ecx\n\t"
    "push %eax\n\t"
    "sub %esp, %ecx\n\t"
    "pop %eax\n\t"
    "mov %ecx, c_push_delta\n\t"
    "mov $0xfffffff0, %ebx\n\t"
    "lea 0x20(%ebx), %edx\n\t"        /* 32-bit address arithmetic wraps */
    "mov %edx, c_wrap\n\t"
    "lret\n"
    ".code64\n");

int main(void)
{
	struct __attribute__((packed)) { u32 off; u16 sel; } p = { (u32)(u64)compat_body, SEL_KCODE32 };
	u64 sp0, sp1;

	asm volatile("mov %%rsp, %0; lcall *%2; mov %%rsp, %1" : "=&r"(sp0), "=&r"(sp1) : "m"(p)
		     : "rax", "rbx", "rcx", "rdx", "memory");
	check(sp0 == sp1, "far call to compatibility mode and far return");
	check(c_inc == 2, "40h is INC EAX in compatibility mode (%u)", c_inc);
	check(c_daa == 0x14, "DAA works in compatibility mode (%#x)", c_daa);
	check(c_push_delta == 4, "PUSH is 4 bytes in compatibility mode (%u)", c_push_delta);
	check(c_wrap == 0x10, "32-bit address arithmetic wraps (%#x)", c_wrap);
	u64 r = 0;
	asm volatile(".byte 0x48, 0xff, 0xc0" : "+a"(r)); /* REX.W inc %rax in 64-bit mode */
	check(r == 1, "the same 40h-class byte is a REX prefix in 64-bit mode");
	return report();
}
