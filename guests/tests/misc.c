// SPDX-License-Identifier: MIT
/*
 * misc: CLI/STI set and clear RFLAGS.IF, WBINVD, CLFLUSH, PAUSE, LFENCE/MFENCE/SFENCE (no SSE
 * state needed), MONITOR at CPL 0 and its faults at CPL 3 and with ECX != 0 (SDM 2B MONITOR,
 * if advertised), UD2/UD1/UD0, and opcodes invalid in 64-bit mode (PUSH ES, AAA) raising #UD.
 */
#include "lib.h"

static u64 u_monitor(u64 arg)
{
	asm volatile("monitor" : : "a"(arg), "c"(0), "d"(0));
	return 0;
}

int main(void)
{
	asm volatile("sti");
	check(read_flags() & RFLAGS_IF, "STI sets IF");
	asm volatile("cli");
	check(!(read_flags() & RFLAGS_IF), "CLI clears IF");
	asm volatile("sti; cli");
	check(!(read_flags() & RFLAGS_IF), "STI; CLI");

	static u64 line[8] __attribute__((aligned(64)));
	line[0] = 0x1234;
	asm volatile("wbinvd; clflush %0; lfence; mfence; sfence; pause" : "+m"(line[0]) : : "memory");
	check(line[0] == 0x1234, "WBINVD, CLFLUSH, fences keep memory intact");

	if (HAS_MONITOR()) {
		int v = CATCH(asm volatile("monitor" : : "a"(line), "c"(0), "d"(0)));
		check(v == -1, "MONITOR at CPL 0 executes without a fault (vector %d)", v);
		v = CATCH(user_call(u_monitor, (u64)line));
		check(v == UD_VECTOR || v == GP_VECTOR, "MONITOR at CPL 3 faults (vector %d)", v);
		v = CATCH(asm volatile("monitor" : : "a"(line), "c"(1), "d"(0)));
		check(v == GP_VECTOR, "MONITOR with a reserved ECX extension: #GP (vector %d)", v);
	} else {
		skip("MONITOR/MWAIT not advertised");
	}
	int v = CATCH(asm volatile("ud2"));
	check(v == UD_VECTOR, "UD2");
	v = CATCH(asm volatile(".byte 0x0f, 0xb9, 0xc0")); /* UD1 eax, eax */
	check(v == UD_VECTOR, "UD1");
	v = CATCH(asm volatile(".byte 0x0f, 0xff, 0xc0")); /* UD0 eax, eax */
	check(v == UD_VECTOR, "UD0");
	v = CATCH(asm volatile(".byte 0x0f, 0x0b, 0x90" ::: "memory"));
	check(v == UD_VECTOR && last_fault.rip, "UD2 followed by a NOP still faults at the UD2");
	v = CATCH(asm volatile(".byte 0x06")); /* PUSH ES is invalid in 64-bit mode */
	check(v == UD_VECTOR, "PUSH ES in 64-bit mode: #UD");
	v = CATCH(asm volatile(".byte 0x37")); /* AAA */
	check(v == UD_VECTOR, "AAA in 64-bit mode: #UD");
	return report();
}
