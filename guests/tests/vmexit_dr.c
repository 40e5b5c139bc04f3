// SPDX-License-Identifier: MIT
/*
 * vmexit_dr: MOV DR exits (basic reason 29) with --vmx mov-dr-exiting=on (SDM vol. 3C 26.1.3).
 * Qualification (Table 28-4): bits 2:0 debug register, bit 4 direction (0 MOV to DR, 1 MOV
 * from DR), bits 11:8 the GPR. Like KVM, tollbooth hands the debug registers to the guest at
 * the first MOV DR (MOV-DR exiting goes off), so only the first access is sure to exit: the
 * command line word `dr-first=N` picks which of the accesses below comes first (default 0);
 * tests/guests.list runs the guest once per shape. All values must read back.
 */
#include "vmexit.h"

DEFINE_XREC;

#define QUAL(dr, from, gpr) ((u64)(dr) | (u64)(from) << 4 | (u64)(gpr) << 8)

static u64 v;

static void to_dr0(void) { asm volatile(MARK_IP "mov %%rax, %%dr0" : : "a"(0x1000ull)); }
static void from_dr7_r10(void)
{
	asm volatile(MARK_IP "mov %%dr7, %%r10\n\tmov %%r10, %0" : "=r"(v) : : "r10");
}
static void to_dr3_r10(void)
{
	asm volatile("mov %0, %%r10\n\t" MARK_IP "mov %%r10, %%dr3" : : "r"(0x2000ull) : "r10");
}
static void from_dr6_rsi(void) { asm volatile(MARK_IP "mov %%dr6, %%rsi" : "=S"(v)); }

static const struct {
	const char *name;
	void (*fn)(void);
	u64 qual, len;
} accesses[] = {
	{ "mov %rax, %dr0", to_dr0, QUAL(0, 0, 0), 3 },
	{ "mov %dr7, %r10 (REX.R)", from_dr7_r10, QUAL(7, 1, 10), 4 },
	{ "mov %r10, %dr3 (REX.B)", to_dr3_r10, QUAL(3, 0, 10), 4 },
	{ "mov %dr6, %rsi", from_dr6_rsi, QUAL(6, 1, 6), 3 },
};

static unsigned first_from_cmdline(void)
{
	const struct mb_info *mb = (const struct mb_info *)mb_info;
	const char *s = mb->flags & BIT(2) ? (const char *)(ulong)mb->cmdline : "";

	for (; *s; s++)
		if (!memcmp(s, "dr-first=", 9) && s[9] >= '0' && s[9] < '0' + (int)ARRAY_SIZE(accesses))
			return s[9] - '0';
	return 0;
}

int main(void)
{
	unsigned first = first_from_cmdline();

	vmm_probe();
	EXPECT_EXIT(accesses[first].name, XR_DR_ACCESS, accesses[first].qual, accesses[first].len,
		    accesses[first].fn());
	for (unsigned i = 0; i < ARRAY_SIZE(accesses); i++)
		if (i != first)
			accesses[i].fn();

	asm volatile("mov %%dr0, %0" : "=r"(v));
	check_eq(v, 0x1000, "DR0 reads back");
	asm volatile("mov %%dr3, %0" : "=r"(v));
	check_eq(v, 0x2000, "DR3 reads back");
	asm volatile("mov %0, %%dr7" : : "r"(0x401ull));
	asm volatile("mov %%dr7, %0" : "=r"(v));
	check_eq(v & 0xffffffff, 0x401, "DR7 reads back");
	asm volatile("mov %0, %%dr7" : : "r"(0x400ull));
	asm volatile("mov %%dr6, %0" : "=r"(v));
	check((v & 0xffff0ff0) == 0xffff0ff0, "DR6 fixed-1 bits (%#llx)", (unsigned long long)v);
	asm volatile("mov %0, %%dr0; mov %0, %%dr3" : : "r"(0ull));
	return report();
}
