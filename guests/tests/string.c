// SPDX-License-Identifier: MIT
/*
 * string: MOVS STOS LODS CMPS SCAS at 1/2/4/8 bytes, REP/REPE/REPNE, both directions (DF),
 * final RSI/RDI/RCX, RCX = 0 does nothing, 32-bit address size (67h: ESI/EDI/ECX), and the
 * flags of CMPS/SCAS (SDM vol. 2B MOVS, STOS, LODS, CMPS, SCAS, REP/REPE/REPNE).
 */
#include "lib.h"

static u8 src[256], dst[256];

int main(void)
{
	u64 s, d, c, a, fl;

	for (int i = 0; i < 256; i++)
		src[i] = i * 7 + 1;

	memset(dst, 0, sizeof(dst));
	asm volatile("rep movsb" : "=S"(s), "=D"(d), "=c"(c) : "S"(src), "D"(dst), "c"(100ull) : "memory");
	check(!memcmp(dst, src, 100) && dst[100] == 0 && s == (u64)src + 100 && d == (u64)dst + 100 && c == 0,
	      "rep movsb forward: 100 bytes, RSI/RDI advanced, RCX = 0");

	memset(dst, 0, sizeof(dst));
	asm volatile("std; rep movsq; cld" : "=S"(s), "=D"(d), "=c"(c)
		     : "S"(src + 24), "D"(dst + 24), "c"(4ull) : "memory");
	check(!memcmp(dst, src, 32) && dst[32] == 0 && s == (u64)src - 8 && d == (u64)dst - 8,
	      "std; rep movsq backward: 4 qwords, RSI/RDI decremented by 8 each");

	/* Overlapping move up by 1 done backward, as memmove does. */
	memcpy(dst, src, 64);
	asm volatile("std; rep movsb; cld" : "=S"(s), "=D"(d), "=c"(c)
		     : "S"(dst + 62), "D"(dst + 63), "c"(63ull) : "memory");
	check(dst[1] == src[0] && dst[63] == src[62] && dst[0] == src[0], "overlapping backward movsb");

	asm volatile("rep stosw" : "=D"(d), "=c"(c) : "D"(dst), "c"(10ull), "a"(0xbeefull) : "memory");
	check(((u16 *)dst)[0] == 0xbeef && ((u16 *)dst)[9] == 0xbeef && d == (u64)dst + 20,
	      "rep stosw: 10 words");
	asm volatile("rep stosl" : "=D"(d), "=c"(c) : "D"(dst), "c"(3ull), "a"(0x12345678ull) : "memory");
	check(((u32 *)dst)[2] == 0x12345678 && ((u16 *)dst)[6] == 0xbeef, "rep stosl: 3 dwords, no more");
	asm volatile("rep stosq" : "=D"(d), "=c"(c) : "D"(dst), "c"(0ull), "a"(0ull) : "memory");
	check(d == (u64)dst && ((u32 *)dst)[0] == 0x12345678, "rep stosq with RCX = 0 does nothing");

	asm volatile("lodsb; lodsw" : "=S"(s), "=a"(a) : "S"(src), "a"(0xffffffffffffffffull));
	check(a == (0xffffffffffff0000ull | src[1] | src[2] << 8) && s == (u64)src + 3,
	      "lodsb then lodsw: AX = %#llx, upper RAX kept", (unsigned long long)a);
	asm volatile("lodsl" : "=S"(s), "=a"(a) : "S"(src), "a"(~0ull));
	check(a == *(u32 *)src, "lodsl zero-extends into RAX");

	memcpy(dst, src, 64);
	dst[40] ^= 0xff;
	asm volatile("repe cmpsb; pushf; pop %[fl]" : "=S"(s), "=D"(d), "=c"(c), [fl] "=r"(fl)
		     : "S"(src), "D"(dst), "c"(64ull) : "memory");
	check(c == 64 - 41 && s == (u64)src + 41 && !(fl & RFLAGS_ZF), "repe cmpsb stops after the mismatch at 40 (RCX %llu)",
	      (unsigned long long)c);
	check(!!(fl & RFLAGS_CF) == (src[40] < dst[40]), "cmpsb CF = src < dst");
	asm volatile("repe cmpsq; pushf; pop %[fl]" : "=S"(s), "=D"(d), "=c"(c), [fl] "=r"(fl)
		     : "S"(src), "D"(src), "c"(8ull) : "memory");
	check(c == 0 && (fl & RFLAGS_ZF), "repe cmpsq of equal buffers runs to RCX = 0, ZF=1");

	static const char str[] = "tollbooth guest";
	asm volatile("repne scasb; pushf; pop %[fl]" : "=D"(d), "=c"(c), [fl] "=r"(fl)
		     : "D"(str), "c"(~0ull), "a"(0) : "memory");
	check(~c - 1 == strlen(str) && (fl & RFLAGS_ZF), "repne scasb strlen = %llu", (unsigned long long)(~c - 1));
	asm volatile("repne scasb; pushf; pop %[fl]" : "=D"(d), "=c"(c), [fl] "=r"(fl)
		     : "D"(str), "c"(5ull), "a"('z') : "memory");
	check(c == 0 && !(fl & RFLAGS_ZF) && d == (u64)str + 5, "repne scasb not found: RCX = 0, ZF=0");
	asm volatile("std; repne scasb; cld" : "=D"(d), "=c"(c) : "D"(str + 14), "c"(15ull), "a"(' ') : "memory");
	check(d == (u64)str + 8 && c == 9, "std; repne scasb finds the space backward");
	asm volatile("scasw; pushf; pop %[fl]" : "=D"(d), [fl] "=r"(fl) : "D"(src), "a"(*(u16 *)src) : "memory");
	check((fl & RFLAGS_ZF) && d == (u64)src + 2, "scasw equal");

	/* 67h: ECX/ESI/EDI; the upper halves of RCX/RSI/RDI are not used (SDM 2B 3.3.7). */
	memset(dst, 0, sizeof(dst));
	asm volatile(".byte 0x67; rep movsb" : "=S"(s), "=D"(d), "=c"(c)
		     : "S"((u64)src | 0xabcd00000000ull), "D"((u64)dst | 0x123400000000ull), "c"(0x500000008ull) : "memory");
	check(!memcmp(dst, src, 8) && dst[8] == 0 && (u32)c == 0 && (u32)s == (u32)(u64)src + 8,
	      "a32 rep movsb uses ECX/ESI/EDI (ECX %#llx RSI %#llx)", (unsigned long long)c, (unsigned long long)s);

	asm volatile("movsw; movsl" : "=S"(s), "=D"(d) : "S"(src), "D"(dst) : "memory");
	check(s == (u64)src + 6 && d == (u64)dst + 6 && !memcmp(src, dst, 6), "movsw then movsl without REP");
	return report();
}
