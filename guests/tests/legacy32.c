// SPDX-License-Identifier: MIT
/*
 * legacy32: instructions that exist only outside 64-bit mode, run in 32-bit protected mode:
 * DAA DAS AAA AAM AAD (AAM 0 is #DE), BOUND (#BR, a fault) and INTO (#OF, a trap), PUSHA/
 * POPA, PUSH/POP of ES/DS, LES, ARPL, direct far CALL/JMP (9A/EA), and a 32-bit call gate from
 * CPL 3 to CPL 0 copying one parameter onto the TSS.ESP0 stack (SDM 3A 5.8.5, 5.8.6).
 */
#include "lib.h"

static u32 bounds[2] = { 10, 20 };

static void test_bcd(void)
{
	u32 a, f;

	asm("add %%bl, %%al; daa; pushf; pop %1" : "=a"(a), "=r"(f) : "a"(0x79), "b"(0x35));
	check((a & 0xff) == 0x14 && (f & RFLAGS_CF), "DAA 79+35 = 114");
	asm("sub %%bl, %%al; das; pushf; pop %1" : "=a"(a), "=r"(f) : "a"(0x35), "b"(0x47));
	check((a & 0xff) == 0x88 && (f & RFLAGS_CF), "DAS 35-47 = 88 borrow (%#x)", a & 0xff);
	asm("add %%bl, %%al; aaa; pushf; pop %1" : "=a"(a), "=r"(f) : "a"(0x08), "b"(0x06));
	check((a & 0xffff) == 0x0104 && (f & RFLAGS_CF) && (f & RFLAGS_AF), "AAA 8+6 = AX 0104 (%#x)", a & 0xffff);
	asm("aam" : "=a"(a) : "a"(0x3f));
	check((a & 0xffff) == 0x0603, "AAM 63 = AX 0603");
	asm("aam $16" : "=a"(a) : "a"(0x3f));
	check((a & 0xffff) == 0x030f, "AAM 16 splits nibbles");
	asm("aad" : "=a"(a) : "a"(0x0603));
	check((a & 0xffff) == 0x003f, "AAD 0603 = 63");
	int v = CATCH(asm volatile(MARK_IP "aam $0" : : "a"(5)));
	check(v == DE_VECTOR && last_fault.rip == expected_ip, "AAM 0: #DE at the instruction (vector %d)", v);
}

static void test_bound_into(void)
{
	int v = CATCH(asm volatile("bound %0, %1" : : "r"(15), "m"(bounds)));
	check(v == -1, "BOUND inside the bounds");
	v = CATCH(asm volatile(MARK_IP "bound %0, %1" : : "r"(21), "m"(bounds)));
	check(v == BR_VECTOR && last_fault.rip == expected_ip, "BOUND above: #BR, a fault at BOUND (vector %d)", v);
	v = CATCH(asm volatile("bound %0, %1" : : "r"(9), "m"(bounds)));
	check(v == BR_VECTOR, "BOUND below: #BR");
	v = CATCH(asm volatile("into" : : : "cc"));
	check(v == -1, "INTO with OF=0 does nothing");
	v = CATCH(asm volatile("mov $0x7f, %%al; add $1, %%al; " MARK_IP "into" : : : "eax", "cc"));
	check(v == OF_VECTOR && last_fault.rip == expected_ip + 1, "INTO with OF=1: #OF, a trap after INTO (vector %d)", v);
}

static void test_push_pop(void)
{
	u32 regs[8], sp;

	asm volatile("mov %%esp, %[sp]\n\t"
		     "pushal\n\t"
		     "mov %%esp, %%esi\n\t"
		     "mov $8, %%ecx\n\t"
		     "1: mov (%%esi), %%eax; mov %%eax, (%%edi); add $4, %%esi; add $4, %%edi; loop 1b\n\t"
		     "popal"
		     : [sp] "=m"(sp) : "D"(regs), "b"(0xb0b0), "d"(0xd0d0) : "memory", "eax", "ecx", "esi");
	check(regs[3] == sp && regs[4] == 0xb0b0 && regs[5] == 0xd0d0, "PUSHA order EDI ESI EBP ESP EBX EDX ECX EAX, ESP before the push");
	u32 es, got;
	asm volatile("push %%es; pop %0" : "=r"(es));
	check((es & 0xffff) == SEL_KDATA, "PUSH ES/POP");
	struct __attribute__((packed)) { u32 off; u16 sel; } p = { 0x12345678, SEL_UDATA };
	asm volatile("les %2, %0; mov %%es, %1; push %%ds; pop %%es" : "=r"(got), "=r"(es) : "m"(p));
	check(got == 0x12345678 && (es & 0xffff) == SEL_UDATA, "LES loads ES:r32 (es %#x)", es & 0xffff);
	u32 sel = 0x10, f;
	asm("arpl %w2, %w0; pushf; pop %1" : "+r"(sel), "=r"(f) : "r"(0x1b));
	check(sel == 0x13 && (f & RFLAGS_ZF), "ARPL raises RPL to 3, ZF=1");
	asm("arpl %w2, %w0; pushf; pop %1" : "+r"(sel), "=r"(f) : "r"(0x08));
	check(sel == 0x13 && !(f & RFLAGS_ZF), "ARPL leaves a higher RPL, ZF=0");
}

void far_target(void);
void gate_target(void);
volatile u32 gate_cs, gate_param, gate_ss, gate_user_ss;
asm(".text\n"
    "far_target: mov %cs, %eax; lret\n"
    /* call gate: [esp] EIP, 4 CS, 8 param, 12 ESP, 16 SS */
    "gate_target: mov %cs, %eax; mov %eax, gate_cs; mov 8(%esp), %eax; mov %eax, gate_param;\n"
    "  mov %ss, %eax; mov %eax, gate_ss; mov 16(%esp), %eax; mov %eax, gate_user_ss; lret $4\n");

static u32 u_gate(u32 arg)
{
	u32 r;
	asm volatile("pushl %1; lcall $0x33, $0; mov %%cs, %0" : "=r"(r) : "r"(arg) : "eax", "memory");
	return r;
}

static void test_far(void)
{
	u32 cs;
	asm volatile("lcall $0x08, $far_target" : "=a"(cs) : : "memory");
	check(cs == SEL_KCODE, "direct far CALL ptr16:32 / LRET");
	asm volatile("mov $1, %0; ljmp $0x08, $1f; mov $2, %0\n1:" : "=r"(cs));
	check(cs == 1, "direct far JMP ptr16:32");

	/* GDT[6] (0x30): 32-bit call gate, DPL 3, 1 parameter, to 0x08:gate_target */
	u32 t = (u32)gate_target;
	gdt[6] = (t & 0xffff) | (u64)SEL_KCODE << 16 | (u64)1 << 32 | 0xecull << 40 | (u64)(t >> 16) << 48;
	u32 r = user_call(u_gate, 0x5150);
	check(gate_cs == SEL_KCODE && gate_ss == SEL_KDATA, "call gate from CPL 3 runs at CPL 0 on SS0 (cs %#x ss %#x)",
	      gate_cs, gate_ss);
	check(gate_param == 0x5150 && gate_user_ss == SEL_UDATA, "one parameter copied, caller SS:ESP pushed");
	check(r == 0x1b, "LRET back to CPL 3 (cs %#x)", r);
	gdt[6] = 0;
}

int main(void)
{
	test_bcd();
	test_bound_into();
	test_push_pop();
	test_far();
	return report();
}
