// SPDX-License-Identifier: MIT
/*
 * atomic: XCHG (register and memory, implicit lock), XADD, CMPXCHG at 8..64 bits (ZF and the
 * accumulator load on failure), CMPXCHG8B, CMPXCHG16B (needs CPUID.01H:ECX.CX16; #GP(0) on a
 * misaligned operand, SDM 2A CMPXCHG8B/CMPXCHG16B), LOCK-prefixed ALU ops, and #UD for LOCK
 * on a register destination (SDM 2A LOCK).
 */
#include "lib.h"

static u64 m64;
static u64 m128[4] __attribute__((aligned(16)));

int main(void)
{
	u64 a, b, fl;

	a = 1, b = 2;
	asm("xchg %0, %1" : "+r"(a), "+r"(b));
	check(a == 2 && b == 1, "xchg r64, r64");
	m64 = 0x1122334455667788ull;
	a = 0xaa;
	asm volatile("xchgb %b0, %1" : "+q"(a), "+m"(m64));
	check(a == 0x88 && m64 == 0x11223344556677aaull, "xchg m8");
	a = 0xffffffff00000005ull;
	asm volatile("xchg %k0, %k0" : "+r"(a));
	check(a == 5, "xchg r32, r32 zero-extends (not a NOP unlike 90h)");
	a = 0xffffffff00000005ull;
	asm volatile(".byte 0x90" : "+a"(a));
	check(a == 0xffffffff00000005ull, "90h is NOP, not xchg eax, eax");

	m64 = 10;
	a = 5;
	asm volatile("lock xaddq %0, %1; pushf; pop %2" : "+r"(a), "+m"(m64), "=r"(fl));
	check(a == 10 && m64 == 15 && !(fl & RFLAGS_ZF), "lock xadd m64");
	a = 0xff;
	u8 m8 = 1;
	asm volatile("xaddb %b0, %1; pushf; pop %2" : "+q"(a), "+m"(m8), "=r"(fl));
	check(m8 == 0 && (a & 0xff) == 1 && (fl & RFLAGS_ZF) && (fl & RFLAGS_CF), "xadd m8 carries, ZF=CF=1");

	m64 = 7;
	a = 7;
	asm volatile("lock cmpxchgq %[n], %[m]; pushf; pop %[fl]" : [m] "+m"(m64), "+a"(a), [fl] "=r"(fl)
		     : [n] "r"(99ull));
	check(m64 == 99 && (fl & RFLAGS_ZF), "cmpxchg m64 equal: stores, ZF=1");
	a = 7;
	asm volatile("lock cmpxchgq %[n], %[m]; pushf; pop %[fl]" : [m] "+m"(m64), "+a"(a), [fl] "=r"(fl)
		     : [n] "r"(5ull));
	check(m64 == 99 && a == 99 && !(fl & RFLAGS_ZF), "cmpxchg m64 differ: RAX = m, ZF=0");
	a = 0xffffffff00000063ull;
	asm volatile("cmpxchgl %k[n], %k[m]; pushf; pop %[fl]" : [m] "+r"(m64), "+a"(a), [fl] "=r"(fl)
		     : [n] "r"(5ull));
	check(m64 == 5 && (fl & RFLAGS_ZF), "cmpxchg r32 equal (compares EAX)");
	u16 m16 = 0x1234;
	a = 0xffff;
	asm volatile("cmpxchgw %w[n], %[m]; pushf; pop %[fl]" : [m] "+m"(m16), "+a"(a), [fl] "=r"(fl) : [n] "r"(0ull));
	check(m16 == 0x1234 && (a & 0xffff) == 0x1234 && !(fl & RFLAGS_ZF) && !(fl & RFLAGS_CF),
	      "cmpxchg m16 differ: AX loaded, flags of CMP");
	m8 = 0x40;
	a = 0x40;
	asm volatile("cmpxchgb %b[n], %[m]" : [m] "+m"(m8), "+a"(a) : [n] "q"(0x41ull));
	check(m8 == 0x41, "cmpxchg m8 equal");

	u64 lo, hi;
	m64 = 0x1111111122222222ull;
	asm volatile("lock cmpxchg8b %[m]; pushf; pop %[fl]" : [m] "+m"(m64), "=a"(lo), "=d"(hi), [fl] "=r"(fl)
		     : "a"(0x22222222), "d"(0x11111111), "b"(0x44444444), "c"(0x33333333));
	check(m64 == 0x3333333344444444ull && (fl & RFLAGS_ZF), "cmpxchg8b equal: ECX:EBX stored");
	asm volatile("cmpxchg8b %[m]; pushf; pop %[fl]" : [m] "+m"(m64), "=a"(lo), "=d"(hi), [fl] "=r"(fl)
		     : "a"(0), "d"(0), "b"(0), "c"(0));
	check(lo == 0x44444444 && hi == 0x33333333 && !(fl & RFLAGS_ZF), "cmpxchg8b differ: EDX:EAX loaded");

	if (HAS_CX16()) {
		m128[0] = 1, m128[1] = 2;
		asm volatile("lock cmpxchg16b %[m]; pushf; pop %[fl]" : [m] "+m"(m128[0]), "=a"(lo), "=d"(hi), [fl] "=r"(fl)
			     : "a"(1ull), "d"(2ull), "b"(3ull), "c"(4ull) : "memory");
		check(m128[0] == 3 && m128[1] == 4 && (fl & RFLAGS_ZF), "cmpxchg16b equal: RCX:RBX stored");
		asm volatile("cmpxchg16b %[m]; pushf; pop %[fl]" : [m] "+m"(m128[0]), "=a"(lo), "=d"(hi), [fl] "=r"(fl)
			     : "a"(0ull), "d"(0ull), "b"(0ull), "c"(0ull) : "memory");
		check(lo == 3 && hi == 4 && !(fl & RFLAGS_ZF), "cmpxchg16b differ: RDX:RAX loaded");
		int v = CATCH(asm volatile("cmpxchg16b %[m]" : [m] "+m"(*(u64 *)((u8 *)m128 + 8)) : "a"(0), "d"(0), "b"(0), "c"(0) : "memory"));
		check(v == GP_VECTOR && last_fault.error == 0, "cmpxchg16b misaligned: #GP(0) (vector %d)", v);
	} else {
		skip("CMPXCHG16B not advertised");
	}

	m64 = 1;
	asm volatile("lock addq $2, %0; lock incq %0; lock orq $0x100, %0; lock btsq $12, %0; lock negq %0" : "+m"(m64));
	check(m64 == -(0x1104ull), "lock add/inc/or/bts/neg on memory (%#llx)", (unsigned long long)m64);
	int v = CATCH(asm volatile(".byte 0xf0; addq %%rax, %%rbx" : : : "rbx"));
	check(v == UD_VECTOR, "lock add with a register destination: #UD (vector %d)", v);
	return report();
}
