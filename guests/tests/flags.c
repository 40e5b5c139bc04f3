// SPDX-License-Identifier: MIT
/*
 * flags: CLC STC CMC CLD STD; the fixed bits of RFLAGS (bit 1 reads 1, bits 3 5 15 read 0,
 * SDM 1 3.4.3); POPF writes AC and ID (the CPUID-detection bit, 3.4.3.3) and cannot set VM or
 * RF; PUSHF never shows RF or VM; POPF at CPL 0 changes IOPL and IF.
 */
#include "lib.h"

int main(void)
{
	u64 f;

	asm volatile("stc; pushf; pop %0" : "=r"(f));
	check(f & RFLAGS_CF, "STC");
	asm volatile("stc; cmc; pushf; pop %0" : "=r"(f));
	check(!(f & RFLAGS_CF), "CMC");
	asm volatile("stc; clc; pushf; pop %0" : "=r"(f));
	check(!(f & RFLAGS_CF), "CLC");
	asm volatile("std; pushf; pop %0; cld" : "=r"(f));
	check(f & RFLAGS_DF, "STD");
	asm volatile("pushf; pop %0" : "=r"(f));
	check(!(f & RFLAGS_DF), "CLD");

	write_flags(0);
	f = read_flags();
	check(f == 0x2, "POPF of 0: RFLAGS reads 0x2 (%#llx)", (unsigned long long)f);
	write_flags(~0ull & ~(RFLAGS_TF | RFLAGS_IF | RFLAGS_NT));
	f = read_flags();
	check(!(f & (BIT(3) | BIT(5) | BIT(15))) && (f & BIT(1)), "reserved bits 3 5 15 read 0 (%#llx)",
	      (unsigned long long)f);
	check(!(f & (BIT(16) | BIT(17))), "POPF cannot set RF or VM; PUSHF shows neither");
	check((f & RFLAGS_AC) && (f & RFLAGS_ID), "POPF sets AC and ID");
	check((f & RFLAGS_IOPL(3)) == RFLAGS_IOPL(3), "POPF at CPL 0 sets IOPL");
	check(!(f >> 22), "bits 63:22 read 0");
	write_flags(0x2);
	check(!(read_flags() & RFLAGS_ID), "ID toggles back to 0");
	write_flags(0x2 | RFLAGS_IF);
	check(read_flags() & RFLAGS_IF, "POPF at CPL 0 sets IF");
	write_flags(0x2);

	u16 f16;
	asm volatile("pushq $0x2; popf; stc; pushfw; popw %0" : "=r"(f16));
	check(f16 == 0x3, "PUSHFW pushes 16 bits (%#x)", f16);
	asm volatile("pushw $0x0801; popfw; pushf; pop %0" : "=r"(f));
	check((f & 0xfff) == 0x803, "POPFW loads OF and CF (%#llx)", (unsigned long long)f);
	write_flags(0x2);
	return report();
}
