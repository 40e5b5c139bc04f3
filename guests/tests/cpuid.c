// SPDX-License-Identifier: MIT
/*
 * cpuid: vendor string (leaf 0: EBX EDX ECX), maximum basic and extended leaves, leaf 1
 * signature and the features a 64-bit guest needs (TSC MSR PAE CX8 PGE CMOV; FPU SSE SSE2 APIC
 * are printed only), LM
 * and NX/SYSCALL in 80000001H), the brand string, leaf 7 subleaf 0 (SDM 2A CPUID), and that the
 * upper 32 bits of RAX..RDX are cleared. Prints the advertised features the suite looks at.
 */
#include "lib.h"

int main(void)
{
	struct cpuid r = cpuid(0, 0);
	char vendor[13];
	memcpy(vendor, &r.b, 4);
	memcpy(vendor + 4, &r.d, 4);
	memcpy(vendor + 8, &r.c, 4);
	vendor[12] = 0;
	bool printable = true;
	for (int i = 0; i < 12; i++)
		printable &= vendor[i] >= 0x20 && vendor[i] < 0x7f;
	printf("vendor \"%s\", max basic leaf %#x\n", vendor, r.a);
	check(printable, "vendor string is 12 printable characters");
	check(r.a >= 1, "max basic leaf >= 1");
	u32 max_basic = r.a;

	r = cpuid(1, 0);
	printf("leaf 1: eax %#x ebx %#x ecx %#x edx %#x (family %u model %u)\n", r.a, r.b, r.c, r.d,
	       (r.a >> 8 & 0xf) + (r.a >> 20 & 0xff), (r.a >> 4 & 0xf) | (r.a >> 12 & 0xf0));
	u32 need = BIT(4) | BIT(5) | BIT(6) | BIT(8) | BIT(13) | BIT(15); /* TSC MSR PAE CX8 PGE CMOV */
	check((r.d & need) == need, "leaf 1 EDX has TSC MSR PAE CX8 PGE CMOV (%#x)", r.d & need);
	/* Not required here (the soft CPU has no x87/SSE yet), but every x86-64 OS expects them. */
	printf("leaf 1: FPU %u SSE %u SSE2 %u APIC %u\n", r.d & 1, r.d >> 25 & 1, r.d >> 26 & 1, r.d >> 9 & 1);

	u32 max_ext = cpuid(0x80000000, 0).a;
	printf("max extended leaf %#x\n", max_ext);
	check(max_ext >= 0x80000001, "max extended leaf >= 0x80000001");
	r = cpuid(0x80000001, 0);
	check(r.d & BIT(29), "80000001H EDX.LM (long mode)");
	check(r.d & BIT(11), "80000001H EDX.SYSCALL");
	if (max_ext >= 0x80000004) {
		char brand[49];
		for (u32 l = 0; l < 3; l++) {
			r = cpuid(0x80000002 + l, 0);
			memcpy(brand + 16 * l, &r, 16);
		}
		brand[48] = 0;
		printf("brand \"%s\"\n", brand);
		check(strlen(brand) > 0, "brand string present");
	}
	if (max_basic >= 7) {
		r = cpuid(7, 0);
		printf("leaf 7.0: ebx %#x ecx %#x edx %#x\n", r.b, r.c, r.d);
	}
	printf("features: PSE %d PAE %d SEP %d CX8 %d CX16 %d MOVBE %d POPCNT %d MONITOR %d BMI1 %d SMEP %d "
	       "SMAP %d LZCNT %d NX %d 1G %d RDTSCP %d\n",
	       HAS_PSE(), HAS_PAE(), HAS_SEP(), HAS_CX8(), HAS_CX16(), HAS_MOVBE(), HAS_POPCNT(),
	       HAS_MONITOR(), HAS_BMI1(), HAS_SMEP(), HAS_SMAP(), HAS_LZCNT(), HAS_NX(), HAS_1G(),
	       HAS_RDTSCP());

	u64 a = ~0ull, b = ~0ull, c = 0, d = ~0ull;
	asm volatile("cpuid" : "+a"(a), "+b"(b), "+c"(c), "+d"(d));
	check(a >> 32 == 0 && b >> 32 == 0 && c >> 32 == 0 && d >> 32 == 0,
	      "CPUID writes 32-bit registers, upper halves cleared");
	a = 0;
	c = 0;
	asm volatile("cpuid" : "+a"(a), "=b"(b), "+c"(c), "=d"(d));
	check(a == max_basic, "leaf 0 is stable across calls");
	return report();
}
