// SPDX-License-Identifier: MIT
/*
 * muldiv: MUL, IMUL (one, two and three operands), DIV, IDIV at all sizes with their CF/OF
 * results, and #DE for a zero divisor and for quotients that do not fit, with RIP pointing at
 * the faulting DIV (SDM vol. 2A DIV/IDIV/MUL/IMUL; vol. 3A 7.15 interrupt 0 is a fault).
 */
#include "lib.h"

static void test_mul(void)
{
	u64 lo, hi, fl;

	asm("mulq %[b]; pushf; pop %[fl]" : "=a"(lo), "=d"(hi), [fl] "=r"(fl) : "a"(~0ull), [b] "r"(~0ull));
	check(lo == 1 && hi == 0xfffffffffffffffeull && (fl & (RFLAGS_CF | RFLAGS_OF)) == (RFLAGS_CF | RFLAGS_OF),
	      "mulq max*max = %#llx:%#llx, CF=OF=1", (unsigned long long)hi, (unsigned long long)lo);
	asm("mulq %[b]; pushf; pop %[fl]" : "=a"(lo), "=d"(hi), [fl] "=r"(fl) : "a"(6ull), [b] "r"(7ull));
	check(lo == 42 && hi == 0 && !(fl & (RFLAGS_CF | RFLAGS_OF)), "mulq 6*7 = 42, CF=OF=0");
	asm("mull %k[b]; pushf; pop %[fl]" : "=a"(lo), "=d"(hi), [fl] "=r"(fl) : "a"(0xdeadbeef12345678ull), [b] "r"(0x10ull));
	check(lo == 0x23456780 && hi == 1 && (fl & RFLAGS_CF), "mull: EAX %#llx EDX %#llx (upper halves cleared)",
	      (unsigned long long)lo, (unsigned long long)hi);
	asm("mulw %w[b]; pushf; pop %[fl]" : "=a"(lo), "=d"(hi), [fl] "=r"(fl) : "a"(0xffffull), "d"(0x5555ull), [b] "r"(0x100ull));
	check((lo & 0xffff) == 0xff00 && (hi & 0xffff) == 0xff && (fl & RFLAGS_OF), "mulw: DX:AX = %#llx:%#llx",
	      (unsigned long long)(hi & 0xffff), (unsigned long long)(lo & 0xffff));
	asm("mulb %b[b]; pushf; pop %[fl]" : "=a"(lo), [fl] "=r"(fl) : "a"(0x1280ull), [b] "q"(2));
	check((lo & 0xffff) == 0x0100 && (fl & RFLAGS_CF), "mulb: AX = %#llx", (unsigned long long)(lo & 0xffff));

	asm("imulq %[b]; pushf; pop %[fl]" : "=a"(lo), "=d"(hi), [fl] "=r"(fl) : "a"(-1ull), [b] "r"(-1ull));
	check(lo == 1 && hi == 0 && !(fl & (RFLAGS_CF | RFLAGS_OF)), "imulq -1*-1 = 1, CF=OF=0");
	asm("imulq %[b]; pushf; pop %[fl]" : "=a"(lo), "=d"(hi), [fl] "=r"(fl) : "a"(0x4000000000000000ull), [b] "r"(2ull));
	check(lo == 0x8000000000000000ull && hi == 0 && (fl & RFLAGS_OF), "imulq 2^62*2 overflows the sign, OF=1");
	asm("imulq %[b]; pushf; pop %[fl]" : "=a"(lo), "=d"(hi), [fl] "=r"(fl) : "a"(-3ull), [b] "r"(5ull));
	check(lo == -15ull && hi == -1ull && !(fl & RFLAGS_CF), "imulq -3*5: RDX sign extension");
	asm("imulb %b[b]" : "=a"(lo) : "a"(0x7f), [b] "q"(-2));
	check((lo & 0xffff) == 0xff02, "imulb 127*-2 = %#llx", (unsigned long long)(lo & 0xffff));

	s64 r = 0x1234;
	asm("imulq $-3, %[r], %[r]; pushf; pop %[fl]" : [r] "+r"(r), [fl] "=r"(fl));
	check(r == -0x369c && !(fl & RFLAGS_OF), "imul r64, r/m64, imm8 (sign-extended) = %lld", (long long)r);
	u32 r32 = 0x10000;
	asm("imull $0x10000, %[r], %[r]; pushf; pop %[fl]" : [r] "+r"(r32), [fl] "=r"(fl));
	check(r32 == 0 && (fl & RFLAGS_OF) && (fl & RFLAGS_CF), "imul r32 imm32 truncation sets CF=OF");
	u16 r16 = 300, m16 = 300;
	asm("imulw %[m], %[r]; pushf; pop %[fl]" : [r] "+r"(r16), [fl] "=r"(fl) : [m] "m"(m16));
	check(r16 == (u16)90000 && (fl & RFLAGS_OF), "imul r16, m16 = %u", r16);
}

static void test_div(void)
{
	u64 q, r;

	asm("divq %[d]" : "=a"(q), "=d"(r) : "a"(0ull), "d"(1ull), [d] "r"(2ull));
	check(q == 0x8000000000000000ull && r == 0, "divq 2^64/2");
	asm("divq %[d]" : "=a"(q), "=d"(r) : "a"(1000000007ull), "d"(0ull), [d] "r"(1000ull));
	check(q == 1000000 && r == 7, "divq 1000000007/1000 = %llu r %llu", (unsigned long long)q, (unsigned long long)r);
	asm("divl %k[d]" : "=a"(q), "=d"(r) : "a"(0xffffffffull), "d"(0x7ull), [d] "r"(0x10ull));
	check(q == 0x7fffffff && r == 0xf, "divl EDX:EAX/16");
	asm("divw %w[d]" : "=a"(q), "=d"(r) : "a"(0xabcd0007ull), "d"(0x1234ull), [d] "r"(0x1235ull));
	check((q & 0xffff) == 0xfff1 && (r & 0xffff) == 0x1122, "divw DX:AX/r16 (q %#llx r %#llx)",
	      (unsigned long long)(q & 0xffff), (unsigned long long)(r & 0xffff));
	asm("divb %b[d]" : "=a"(q) : "a"(0x1234ull), [d] "q"(0x40));
	check((q & 0xffff) == ((0x1234 % 0x40) << 8 | 0x1234 / 0x40), "divb AX/r8: AH=rem AL=quot");
	asm("idivq %[d]" : "=a"(q), "=d"(r) : "a"(-7ull), "d"(-1ull), [d] "r"(2ull));
	check((s64)q == -3 && (s64)r == -1, "idivq -7/2 = -3 r -1 (truncates toward zero)");
	asm("idivl %k[d]" : "=a"(q), "=d"(r) : "a"(7ull), "d"(0ull), [d] "r"(-2));
	check((s32)q == -3 && (s32)r == 1, "idivl 7/-2 = -3 r 1");
	asm("idivb %b[d]" : "=a"(q) : "a"(0xff81ull), [d] "q"(2));
	check((q & 0xffff) == 0xffc1, "idivb -127/2: AL=-63 AH=-1 (%#llx)", (unsigned long long)(q & 0xffff));
}

/* Execute a division that must raise #DE; returns RIP of the DIV and checks it faulted there. */
#define DE_CASE(name, insn, ...)                                                             \
	do {                                                                                 \
		int v = CATCH(asm volatile(MARK_IP insn : : __VA_ARGS__));                  \
		check(v == DE_VECTOR && last_fault.rip == expected_ip && last_fault.error == 0,        \
		      "%s: #DE (vector %d) at the DIV (rip %#lx want %#llx)", name, v,          \
		      last_fault.rip, (unsigned long long)expected_ip);                                 \
	} while (0)

static void test_de(void)
{
	DE_CASE("divq by zero", "divq %0", "r"(0ull), "a"(1), "d"(0));
	DE_CASE("divq quotient overflow", "divq %0", "r"(1ull), "a"(0), "d"(1));
	DE_CASE("divb by zero", "divb %b0", "q"(0), "a"(1));
	DE_CASE("divb quotient 256", "divb %b0", "q"(1), "a"(0x100));
	DE_CASE("idivq INT64_MIN/-1", "idivq %0", "r"(-1ll), "a"(0x8000000000000000ull), "d"(-1ll));
	DE_CASE("idivb -128/-1", "idivb %b0", "q"(-1), "a"(0xff80));
	DE_CASE("idivl 2^31/1", "idivl %k0", "r"(1), "a"(0x80000000u), "d"(0));
	DE_CASE("divw mem zero", "divw %0", "m"(*(volatile u16 *)&(u16){ 0 }), "a"(5), "d"(0));
}

int main(void)
{
	test_mul();
	test_div();
	test_de();
	return report();
}
