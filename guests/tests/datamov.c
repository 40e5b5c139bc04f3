// SPDX-License-Identifier: MIT
/*
 * datamov: MOVZX, MOVSX, MOVSXD, 32-bit writes zero-extend, 8/16-bit writes merge, MOV with
 * 64-bit immediate and moffs, BSWAP, MOVBE (CPUID.01H:ECX.MOVBE), CBW CWDE CDQE CWD CDQ CQO,
 * LAHF/SAHF (CPUID.80000001H:ECX.LAHF-SAHF), XLAT, LEA address-size forms, multi-byte NOPs
 * (0F 1F /0) and PAUSE (SDM vol. 2).
 */
#include "lib.h"

static const u8 xlat_table[256] = { [0x42] = 0x99, [0xff] = 0x7 };
extern u64 moffs_var;
u64 moffs_var = 0x1122334455667788ull;

int main(void)
{
	u64 r, fl;

	asm("movzbq %b1, %0" : "=r"(r) : "q"(0xff80));
	check(r == 0x80, "movzx r64, r8");
	asm("movsbq %b1, %0" : "=r"(r) : "q"(0x80));
	check(r == 0xffffffffffffff80ull, "movsx r64, r8");
	asm("movswl %w1, %k0" : "=r"(r) : "r"(0x8000));
	check(r == 0xffff8000ull, "movsx r32, r16 (upper half zero)");
	asm("movslq %k1, %0" : "=r"(r) : "r"(0x80000000ull));
	check(r == 0xffffffff80000000ull, "movsxd r64, r32");
	asm("movzwq %w1, %0" : "=r"(r) : "r"(0xabcdef));
	check(r == 0xcdef, "movzx r64, r16");
	r = ~0ull;
	asm("movl $5, %k0" : "+r"(r));
	check(r == 5, "32-bit mov zero-extends");
	r = ~0ull;
	asm("movw $5, %w0" : "+r"(r));
	check(r == 0xffffffffffff0005ull, "16-bit mov merges");
	r = ~0ull;
	asm("movb $5, %h0" : "+Q"(r));
	check(r == 0xffffffffffff05ffull, "AH-class write merges bits 15:8");
	asm("movabsq $0x123456789abcdef0, %0" : "=r"(r));
	check(r == 0x123456789abcdef0ull, "mov r64, imm64");
	asm volatile("movabsq moffs_var, %%rax" : "=a"(r));
	check(r == moffs_var, "mov rax, moffs64");

	r = 0x0102030405060708ull;
	asm("bswapq %0" : "+r"(r));
	check(r == 0x0807060504030201ull, "bswap r64");
	asm("bswapl %k0" : "+r"(r));
	check(r == 0x01020304, "bswap r32 (zero-extends)");
	if (HAS_MOVBE()) {
		u32 m = 0x11223344;
		asm("movbe %1, %k0" : "=r"(r) : "m"(m));
		check(r == 0x44332211, "movbe r32, m32");
		asm("movbe %w1, %0" : "=m"(m) : "r"(0xaabbull));
		check(m == 0x1122bbaa, "movbe m16, r16 (%#x)", m);
		u64 q;
		asm("movbe %1, %0" : "=m"(q) : "r"(0x0102030405060708ull));
		check(q == 0x0807060504030201ull, "movbe m64, r64");
	} else {
		skip("MOVBE not advertised");
	}

	asm("cbw" : "=a"(r) : "a"(0xffff0080ull));
	check(r == 0xffffff80ull, "cbw");
	asm("cwde" : "=a"(r) : "a"(0xffffffff00008000ull));
	check(r == 0xffff8000ull, "cwde");
	asm("cdqe" : "=a"(r) : "a"(0x80000000ull));
	check(r == 0xffffffff80000000ull, "cdqe");
	u64 d;
	asm("cwd" : "=d"(d) : "a"(0x8000ull), "d"(0x12340000ull));
	check(d == 0x1234ffff, "cwd");
	asm("cdq" : "=d"(d) : "a"(0x80000000ull), "d"(~0ull));
	check(d == 0xffffffff, "cdq");
	asm("cqo" : "=d"(d) : "a"(0x8000000000000000ull));
	check(d == ~0ull, "cqo");

	if (has_feature(0x80000001, REG_ECX, 0)) {
		asm("push %[f]; popf; lahf" : "=a"(r) : [f] "r"(0x8d7ull), "a"(0));
		check((r >> 8 & 0xff) == 0xd7, "lahf: AH = SF ZF 0 AF 0 PF 1 CF (%#llx)", (unsigned long long)(r >> 8 & 0xff));
		asm("push %[f]; popf; sahf; pushf; pop %[fl]" : [fl] "=r"(fl) : [f] "r"(0x802ull), "a"(0xc500ull));
		check((fl & 0xfff) == 0x8c7, "sahf loads SF ZF AF PF CF, keeps OF (%#llx)", (unsigned long long)(fl & 0xfff));
	} else {
		skip("LAHF/SAHF not advertised in 64-bit mode");
	}

	asm("xlat" : "=a"(r) : "a"(0x1242ull), "b"(xlat_table));
	check(r == 0x1299, "xlat");
	asm("lea (%1,%2,8), %0" : "=r"(r) : "r"(0x100ull), "r"(-1ull));
	check(r == 0xf8, "lea with scaled negative index");
	asm("lea (%k1,%k2), %k0" : "=r"(r) : "r"(0xfffffff0ull), "r"(0x20ull));
	check(r == 0x10, "lea with 32-bit address size wraps at 4 GiB");
	asm("lea 1(%1), %w0" : "=r"(r) : "r"(0xffffull), "0"(0xabcd0000ull));
	check(r == 0xabcd0000ull, "lea r16 keeps the upper bits");

	r = 0x77;
	asm volatile("nop; .byte 0x66, 0x90; nopl (%%rax); nopw 0(%%rax,%%rax,1); nopl 0x12345678(%%rax,%%rax,1);"
		     ".byte 0x66, 0x2e, 0x0f, 0x1f, 0x84, 0, 0, 0, 0, 0; pause; .byte 0x0f, 0x1f, 0xc0" : "+a"(r));
	check(r == 0x77, "NOP forms (90, 66 90, 0F 1F /0 with long encodings, PAUSE)");
	return report();
}
