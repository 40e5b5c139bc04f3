// SPDX-License-Identifier: MIT
/*
 * bitops: BT BTS BTR BTC with register and immediate offsets on registers and on memory
 * (register offsets address a bit string beyond the operand, also backward: SDM 2A BT
 * "bit base / bit offset"), BSF/BSR (ZF), and, when CPUID advertises them, TZCNT, LZCNT
 * (ABM), POPCNT and BMI1 ANDN/BEXTR/BLSI/BLSMSK/BLSR (SDM 2A/2B, CPUID 01h, 07h, 80000001h).
 */
#include "lib.h"

static u64 bits[4];

static u64 flags_after_bt(u64 v, u64 n)
{
	u64 fl;
	asm("btq %[n], %[v]; pushf; pop %[fl]" : [fl] "=r"(fl) : [v] "r"(v), [n] "r"(n));
	return fl;
}

int main(void)
{
	u64 v, fl;

	check(flags_after_bt(0x8000000000000000ull, 63) & RFLAGS_CF, "bt r64, r64: bit 63 -> CF=1");
	check(!(flags_after_bt(0x8000000000000000ull, 62) & RFLAGS_CF), "bt r64, r64: bit 62 -> CF=0");
	check(flags_after_bt(1, 64) & RFLAGS_CF, "bt register offset taken modulo 64");
	v = 0;
	asm("btsq $5, %[v]; pushf; pop %[fl]" : [v] "+r"(v), [fl] "=r"(fl));
	check(v == 0x20 && !(fl & RFLAGS_CF), "bts imm sets the bit, CF = old bit");
	asm("btrq $5, %[v]; pushf; pop %[fl]" : [v] "+r"(v), [fl] "=r"(fl));
	check(v == 0 && (fl & RFLAGS_CF), "btr imm clears the bit, CF = old bit");
	asm("btcl $31, %k[v]; btcl $31, %k[v]; btcl $0, %k[v]" : [v] "+r"(v));
	check(v == 1, "btc toggles");
	u16 w = 0;
	asm("btsw $17, %[w]" : [w] "+r"(w));
	check(w == 2, "bts r16, imm: offset modulo 16");

	memset(bits, 0, sizeof(bits));
	asm volatile("btsq %[n], %[m]" : [m] "+m"(bits[0]) : [n] "r"(130ull) : "memory");
	check(bits[2] == 4 && !bits[0], "bts m64, r64 with offset 130 writes the third qword");
	asm volatile("btsl %k[n], %[m]" : [m] "+m"(bits[2]) : [n] "r"(-63) : "memory");
	check(bits[1] == 2, "bts m32, r32 with offset -63 writes dword -2, bit 1 (%#llx)",
	      (unsigned long long)bits[1]);
	asm volatile("btq %[n], %[m]; pushf; pop %[fl]" : [fl] "=r"(fl) : [m] "m"(bits[0]), [n] "r"(130ull));
	check(fl & RFLAGS_CF, "bt m64 reads the far bit");
	asm volatile("btrq %[n], %[m]" : [m] "+m"(bits[0]) : [n] "r"(130ull) : "memory");
	check(bits[2] == 0, "btr m64 far bit");
	bits[0] = 0;
	asm volatile("btsl $40, %[m]" : [m] "+m"(bits[0]) : : "memory");
	check(bits[0] == 0x100, "bts m32, imm8 is modulo 32, never far (%#llx)", (unsigned long long)bits[0]);

	u64 r = 0x1234;
	asm("bsfq %[v], %[r]; pushf; pop %[fl]" : [r] "+r"(r), [fl] "=r"(fl) : [v] "r"(0x8000000000001000ull));
	check(r == 12 && !(fl & RFLAGS_ZF), "bsf = 12");
	asm("bsrq %[v], %[r]; pushf; pop %[fl]" : [r] "+r"(r), [fl] "=r"(fl) : [v] "r"(0x8000000000001000ull));
	check(r == 63 && !(fl & RFLAGS_ZF), "bsr = 63");
	asm("bsrw %w[v], %w[r]" : [r] "+r"(r) : [v] "r"(0x00f0));
	check((r & 0xffff) == 7, "bsr r16 = 7");
	asm("bsfq %[v], %[r]; pushf; pop %[fl]" : [r] "+r"(r), [fl] "=r"(fl) : [v] "r"(0ull));
	check(fl & RFLAGS_ZF, "bsf of 0 sets ZF");

	if (HAS_BMI1()) {
		asm("tzcntq %[v], %[r]; pushf; pop %[fl]" : [r] "=r"(r), [fl] "=r"(fl) : [v] "r"(0ull));
		check(r == 64 && (fl & RFLAGS_CF), "tzcnt 0 = 64, CF=1");
		asm("tzcntl %k[v], %k[r]; pushf; pop %[fl]" : [r] "=r"(r), [fl] "=r"(fl) : [v] "r"(1ull));
		check(r == 0 && (fl & RFLAGS_ZF) && !(fl & RFLAGS_CF), "tzcnt 1 = 0, ZF=1");
		asm("tzcntw %w[v], %w[r]" : [r] "=r"(r) : [v] "r"(0x8000));
		check((r & 0xffff) == 15, "tzcnt r16");
		asm("andnq %[b], %[a], %[r]" : [r] "=r"(r) : [a] "r"(0xff00ull), [b] "r"(0x0ff0ull));
		check(r == 0x00f0, "andn = ~a & b");
		asm("blsrq %[a], %[r]" : [r] "=r"(r) : [a] "r"(0x1010ull));
		check(r == 0x1000, "blsr clears the lowest set bit");
		asm("blsiq %[a], %[r]" : [r] "=r"(r) : [a] "r"(0x1010ull));
		check(r == 0x10, "blsi isolates it");
		asm("blsmskq %[a], %[r]" : [r] "=r"(r) : [a] "r"(0x1010ull));
		check(r == 0x1f, "blsmsk masks up to it");
		asm("bextrq %[c], %[a], %[r]" : [r] "=r"(r) : [a] "r"(0xabcdef12ull), [c] "r"(0x0804ull));
		check(r == 0xf1, "bextr start 4 len 8 = %#llx", (unsigned long long)r);
		asm("bextrl %k[c], %k[a], %k[r]; pushf; pop %[fl]" : [r] "=r"(r), [fl] "=r"(fl) : [a] "r"(0xffffffffull), [c] "r"(0x0040ull));
		check(r == 0 && (fl & RFLAGS_ZF), "bextr start 64: zero, ZF=1");
	} else {
		skip("BMI1 not advertised");
	}
	if (HAS_LZCNT()) {
		asm("lzcntq %[v], %[r]; pushf; pop %[fl]" : [r] "=r"(r), [fl] "=r"(fl) : [v] "r"(1ull));
		check(r == 63 && !(fl & RFLAGS_CF), "lzcnt 1 = 63");
		asm("lzcntl %k[v], %k[r]; pushf; pop %[fl]" : [r] "=r"(r), [fl] "=r"(fl) : [v] "r"(0ull));
		check(r == 32 && (fl & RFLAGS_CF), "lzcnt32 0 = 32, CF=1");
	} else {
		skip("LZCNT not advertised");
	}
	if (HAS_POPCNT()) {
		asm("popcntq %[v], %[r]; pushf; pop %[fl]" : [r] "=r"(r), [fl] "=r"(fl) : [v] "r"(0xf0f0f0f0f0f0f0f1ull));
		check(r == 33 && !(fl & (RFLAGS_ZF | RFLAGS_CF | RFLAGS_OF)), "popcnt = 33");
		asm("popcntw %w[v], %w[r]; pushf; pop %[fl]" : [r] "=r"(r), [fl] "=r"(fl) : [v] "r"(0));
		check((r & 0xffff) == 0 && (fl & RFLAGS_ZF), "popcnt 0 sets ZF");
	} else {
		skip("POPCNT not advertised");
	}
	return report();
}
