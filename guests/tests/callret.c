// SPDX-License-Identifier: MIT
/*
 * callret: near CALL/RET (direct, register, memory, RET imm16), far CALL/JMP/RET through the
 * 64-bit code segment (m16:64), a far call into a 32-bit compatibility-mode segment and back,
 * a 64-bit call gate (SDM vol. 3A 6.8.3, 6.8.4.1 (call gates in IA-32e mode)), ENTER/LEAVE
 * with nesting levels 0, 1, 3 (SDM 2A ENTER), PUSH/POP forms (imm8 sign-extended, imm32,
 * memory, PUSH RSP, POP RSP, 16-bit operand size, FS/GS).
 */
#include "lib.h"

u64 near_target(u64 x);
u64 ret_imm_target(void);
void far64_target(void);
void compat_target(void);
void gate_target(void);
asm(".text\n"
    "near_target: lea 1(%rdi), %rax; ret\n"
    "ret_imm_target: mov $0x55, %eax; ret $16\n"
    /* far return to the caller: pops RIP and CS as quadwords */
    "far64_target: mov %cs, %eax; shl $16, %eax; or $0x64, %eax; lretq\n"
    "gate_target: mov %cs, %eax; shl $16, %eax; or $0x6a, %eax; mov 8(%rsp), %rdx; lretq\n"
    ".code32\n"
    /* compatibility mode: EAX = 0xc0 | CS << 16, ESP-relative stack works, LRET (32-bit) back */
    "compat_target: mov %cs, %eax; shl $16, %eax; or $0xc0, %eax; lret\n"
    ".code64\n");

static void test_near(void)
{
	u64 r, sp0, sp1;
	u64 (*volatile fp)(u64) = near_target;

	asm volatile("mov %%rsp, %[s0]; mov $41, %%edi; call near_target; mov %%rsp, %[s1]"
		     : "=a"(r), [s0] "=&r"(sp0), [s1] "=&r"(sp1) : : "rdi", "memory");
	check(r == 42 && sp0 == sp1, "call rel32 / ret");
	check(fp(9) == 10, "call *reg");
	asm volatile("mov $1, %%edi; call *%[m]" : "=a"(r) : [m] "m"(fp) : "rdi", "memory");
	check(r == 2, "call *m64");
	asm volatile("mov %%rsp, %[s0]; sub $16, %%rsp; call ret_imm_target; mov %%rsp, %[s1]"
		     : "=a"(r), [s0] "=&r"(sp0), [s1] "=&r"(sp1) : : "memory");
	check(r == 0x55 && sp0 == sp1, "ret imm16 releases 16 bytes");
	u64 ip;
	asm volatile("call 1f\n1: pop %0" : "=r"(ip));
	asm volatile("lea 1f(%%rip), %%rax\n1: sub %%rax, %0" : "+r"(ip) : : "rax");
	check((s64)ip < 0 && (s64)ip > -32, "call pushes the address of the next instruction");
}

static void test_far(void)
{
	struct __attribute__((packed)) { u64 off; u16 sel; } p64 = { (u64)far64_target, SEL_KCODE };
	struct __attribute__((packed)) { u32 off; u16 sel; } p32 = { (u32)(u64)compat_target, SEL_KCODE32 };
	u64 r, sp0, sp1;

	asm volatile("mov %%rsp, %[s0]; rex64 lcall *%[p]; mov %%rsp, %[s1]"
		     : "=a"(r), [s0] "=&r"(sp0), [s1] "=&r"(sp1) : [p] "m"(p64) : "memory");
	check(r == (SEL_KCODE << 16 | 0x64) && sp0 == sp1, "lcall m16:64 / lretq in the 64-bit segment (%#llx)",
	      (unsigned long long)r);
	asm volatile("lcall *%[p]" : "=a"(r) : [p] "m"(p32) : "memory");
	check(r == (SEL_KCODE32 << 16 | 0xc0), "lcall m16:32 to a 32-bit segment runs compat mode, lret back (%#llx)",
	      (unsigned long long)r);

	/* far JMP m16:64 and far RET used as a jump */
	struct __attribute__((packed)) { u64 off; u16 sel; } j = { 0, SEL_KCODE };
	asm volatile("lea 1f(%%rip), %%rax; mov %%rax, %[j]; mov $1, %%ecx; rex64 ljmp *%[j]; mov $2, %%ecx\n1:"
		     : [j] "+m"(j), "=c"(r) : : "rax", "memory");
	check(r == 1, "ljmp m16:64 skips to the target");
	asm volatile("lea 1f(%%rip), %%rax; pushq $0x08; push %%rax; mov $1, %%ecx; lretq; mov $2, %%ecx\n1:"
		     : "=c"(r) : : "rax", "memory");
	check(r == 1, "lretq to a pushed CS:RIP");

	/* 64-bit call gate, DPL 0, to gate_target (SDM 3A figure 6-9) */
	u64 t = (u64)gate_target;
	gdt[10] = (t & 0xffff) | (u64)SEL_KCODE << 16 | 0x8cULL << 40 | (t >> 16 & 0xffff) << 48;
	gdt[11] = t >> 32;
	struct __attribute__((packed)) { u64 off; u16 sel; } g = { 0xdeadbeef, 10 * 8 };
	u64 pushed_cs;
	asm volatile("rex64 lcall *%[g]" : "=a"(r), "=d"(pushed_cs) : [g] "m"(g) : "memory");
	check(r == (SEL_KCODE << 16 | 0x6a) && pushed_cs == SEL_KCODE,
	      "lcall through a 64-bit call gate (offset ignored), CS pushed as a quadword");
	gdt[10] &= ~(1ULL << 47);
	int v = CATCH(asm volatile("rex64 lcall *%[g]" : : [g] "m"(g) : "rax", "rdx", "memory"));
	check(v == NP_VECTOR && last_fault.error == 10 * 8, "call gate not present: #NP(selector) (vector %d error %#lx)",
	      v, last_fault.error);
	gdt[10] = gdt[11] = 0;
}

static void test_enter_leave(void)
{
	u64 rbp_in, rbp_out, rsp_in, rsp_out;
	static u64 frame[4];

	asm volatile("mov %%rbp, %%r8; mov %%rsp, %%r9; mov %%rsp, %[si]; mov %%rbp, %[bi]\n\t"
		     "enter $32, $0\n\t"
		     "mov %%rbp, %[bo]; mov %%rsp, %[so]\n\t"
		     "leave\n\t"
		     "cmp %%rsp, %%r9; jne 9f; cmp %%rbp, %%r8; jne 9f; jmp 8f\n9: ud2\n8:"
		     : [si] "=&r"(rsp_in), [bi] "=&r"(rbp_in), [bo] "=&r"(rbp_out), [so] "=&r"(rsp_out)
		     : : "r8", "r9", "memory");
	check(rbp_out == rsp_in - 8 && rsp_out == rsp_in - 8 - 32, "enter $32, $0 / leave");

	/* nesting level 3: pushes RBP, two frame pointers copied from the old frame, the new one */
	asm volatile("mov %%rbp, %%r8; mov %%rsp, %%r9\n\t"
		     "lea -64(%%rsp), %%rsp\n\t"
		     "mov %%rsp, %%rbp\n\t"           /* old frame at rsp: words at rbp-8, rbp-16 */
		     "movq $0x1111, -8(%%rbp)\n\tmovq $0x2222, -16(%%rbp)\n\t"
		     "lea -32(%%rsp), %%rsp\n\t"
		     "mov %%rsp, %[si]\n\t"
		     "enter $8, $3\n\t"
		     "mov 0(%%rbp), %%rax; mov %%rax, 0(%[f])\n\t"
		     "mov -8(%%rbp), %%rax; mov %%rax, 8(%[f])\n\t"
		     "mov -16(%%rbp), %%rax; mov %%rax, 16(%[f])\n\t"
		     "mov -24(%%rbp), %%rax; mov %%rax, 24(%[f])\n\t"
		     "mov %%rbp, %[bo]; mov %%rsp, %[so]\n\t"
		     "leave\n\t"
		     "mov %%r9, %%rsp; mov %%r8, %%rbp"
		     : [si] "=&r"(rsp_in), [bo] "=&r"(rbp_out), [so] "=&r"(rsp_out)
		     : [f] "r"(frame) : "rax", "r8", "r9", "memory");
	check(rbp_out == rsp_in - 8 && rsp_out == rsp_in - 8 - 3 * 8 - 8, "enter $8, $3 frame layout (rsp %#llx)",
	      (unsigned long long)(rsp_in - rsp_out));
	check(frame[0] == rsp_in + 32 && frame[1] == 0x1111 && frame[2] == 0x2222 && frame[3] == rbp_out,
	      "enter $8, $3 copies 2 display entries and pushes the new frame pointer");
}

static void test_push_pop(void)
{
	u64 a, b, sp0, sp1;
	u64 mem = 0x0123456789abcdefull, dst = 0;

	asm volatile("pushq $-2; pop %0" : "=r"(a));
	check(a == -2ull, "push imm8 sign-extends to 64 bits");
	asm volatile("pushq $-0x80000000; pop %0" : "=r"(a));
	check(a == 0xffffffff80000000ull, "push imm32 sign-extends");
	asm volatile("pushq %[m]; popq %[d]" : [d] "=m"(dst) : [m] "m"(mem) : "memory");
	check(dst == mem, "push m64 / pop m64");
	asm volatile("mov %%rsp, %[s]; push %%rsp; pop %[a]" : [a] "=r"(a), [s] "=&r"(sp0));
	check(a == sp0, "push rsp pushes the value before the push");
	asm volatile("mov %%rsp, %[s0]; push %%rsp; pop %%rsp; mov %%rsp, %[s1]" : [s0] "=&r"(sp0), [s1] "=&r"(sp1));
	check(sp0 == sp1, "pop rsp loads the popped value");
	asm volatile("mov %%rsp, %[s0]; pushw $0x1234; mov %%rsp, %[s1]; popw %w[a]"
		     : [s0] "=&r"(sp0), [s1] "=&r"(sp1), [a] "=r"(a));
	check(sp0 - sp1 == 2 && (a & 0xffff) == 0x1234, "66h push imm16 moves RSP by 2");
	asm volatile("mov %%rsp, %[s0]; push %%fs; mov %%rsp, %[s1]; pop %[b]"
		     : [s0] "=&r"(sp0), [s1] "=&r"(sp1), [b] "=r"(b));
	check(sp0 - sp1 == 8, "push fs takes 8 bytes");
	asm volatile("pushq %[m]; pop %%fs; mov %%fs, %[a]; push %[z]; pop %%fs"
		     : [a] "=r"(a) : [m] "r"((u64)SEL_KDATA), [z] "r"(0ull));
	check(a == SEL_KDATA, "pop fs loads a selector");
	asm volatile("mov %%rsp, %[s0]; pushf; mov %%rsp, %[s1]; popf" : [s0] "=&r"(sp0), [s1] "=&r"(sp1));
	check(sp0 - sp1 == 8, "pushfq takes 8 bytes");
	asm volatile("mov %%rsp, %[s0]; push %%rsp; pushq (%%rsp); pop %[a]; pop %[b]"
		     : [s0] "=&r"(sp0), [a] "=r"(a), [b] "=r"(b));
	check(a == sp0 && b == sp0, "push (%%rsp) reads before decrementing");
asm volatile("pushq $0x11; pushq $0x22; popq (%%rsp); pop %[a]" : [a] "=r"(a) : : "memory");
	check(a == 0x22, "pop (%%rsp) addresses memory after incrementing RSP");
}

int main(void)
{
	test_near();
	test_far();
	test_enter_leave();
	test_push_pop();
	return report();
}
