// SPDX-License-Identifier: MIT
/*
 * bench vmexit: the cost of one VM exit per kind, in the spirit of kvm-unit-tests' x86/vmexit.c.
 * Each test runs N iterations of the same four-instruction loop
 *	1: mov $imm, reg	(the exiting instruction's operand, so every loop has it)
 *	   EXITING INSTRUCTION
 *	   dec %rsi
 *	   jnz 1b
 * and "null" is the same loop without the exiting instruction: the baseline that bench.py
 * subtracts (on this host's kvm_pvm ring-0 code is emulated, so the loop itself is not free).
 *
 * Tests and why each exits in VMX non-root operation:
 *   cpuid      CPUID exits unconditionally (SDM vol. 3C 26.1.2); KVM answers it in the kernel
 *   out, in    OUT/IN to port 0x80 (no device: the POST-code port) with "unconditional I/O
 *              exiting" or the I/O bitmaps (26.1.3); on KVM a KVM_EXIT_IO to user space
 *   out-dev,   OUT/IN to a device: the COM1 UART's scratch register (port 0x3ff, a byte that
 *   in-dev     reads back what was written, on every PC since the 16450), the same exit
 *              delivered to the VMM's UART model
 *   rdmsr,     RDMSR/WRMSR of IA32_MISC_ENABLE (0x1a0), which the MSR bitmap sends to the VMM's
 *   wrmsr      MSR policy (26.1.3, 25.6.9; src/vmm/msr.h); on KVM the MSR filter's user-space
 *              exit. WRMSR writes back the value read, which the policy accepts.
 *   mmio-read, a 4-byte load from / store to the test device at 0xfeb00000 (src/devices/testdev.h),
 *   mmio-write guest-physical memory EPT does not map: an EPT violation (29.3.3.2); on KVM a
 *              KVM_EXIT_MMIO. Skipped when the device is absent (QEMU).
 *
 * Command line (multiboot, --append): "n=N" iterations per test (default 10000: about 3 s on
 * the nested kvm_pvm here, where ring-0 code is emulated and an exit to user space costs tens of
 * microseconds); "only=NAME" runs null and NAME. Output, one line per test, stable for
 * bench/bench.py:
 *	vmexit: n=N tsc=T0
 *	vmexit cpuid: N iterations, C cycles, C/N cycles/iteration, tsc=T
 *	vmexit mmio-read: skipped (no testdev at 0xfeb00000)
 *	vmexit: done tsc=T
 * "cycles" are TSC ticks; T is the absolute TSC after the test, so the host can calibrate the
 * TSC against the arrival times of these lines. Exits with code 0 (process status 1).
 */
#include "lib.h"

#define DEFAULT_ITERS 10000ull
#define MAX_ITERS 1000000000ull
#define POST_PORT 0x80
#define MSR_MISC_ENABLE 0x1a0
/* src/devices/testdev.h (not includable here: it needs the host's common.h). */
#define TESTDEV_MMIO_BASE 0xfeb00000ull
#define TESTDEV_MAGIC 0x54425444u
#define TESTDEV_REG_SCRATCH 0x08

static u64 misc_enable;

/* The loop skeleton; INSN is the exiting instruction, or nothing for the baseline. */
#define LOOP(setup, insn, ...)                                                              \
	asm volatile(".p2align 4\n1:\n\t" setup "\n\t" insn "\n\t"                         \
		     "dec %%rsi\n\t"                                                       \
		     "jnz 1b"                                                              \
		     : "+S"(n) : __VA_ARGS__)

static void t_null(u64 n)
{
	LOOP("mov $0, %%eax", "", "b"(0) : "rax", "cc");
}

static void t_cpuid(u64 n)
{
	LOOP("mov $0, %%eax", "cpuid", "b"(0) : "rax", "rcx", "rdx", "cc");
}

static void t_out(u64 n)
{
	LOOP("mov $0, %%eax", "outb %%al, $0x80", "b"(0) : "rax", "cc");
}

static void t_in(u64 n)
{
	LOOP("mov $0, %%eax", "inb $0x80, %%al", "b"(0) : "rax", "cc");
}

static void t_out_dev(u64 n)
{
	LOOP("mov $0x3ff, %%edx", "outb %%al, %%dx", "b"(0) : "rax", "rdx", "cc");
}

static void t_in_dev(u64 n)
{
	LOOP("mov $0x3ff, %%edx", "inb %%dx, %%al", "b"(0) : "rax", "rdx", "cc");
}

static void t_rdmsr(u64 n)
{
	LOOP("mov $0x1a0, %%ecx", "rdmsr", "b"(0) : "rax", "rcx", "rdx", "cc");
}

static void t_wrmsr(u64 n)
{
	LOOP("mov $0x1a0, %%ecx", "wrmsr", "a"((u32)misc_enable), "d"((u32)(misc_enable >> 32))
	     : "rcx", "cc");
}

static void t_mmio_read(u64 n)
{
	LOOP("mov $0, %%eax", "movl (%%rbx), %%eax", "b"(TESTDEV_MMIO_BASE)
	     : "rax", "cc", "memory");
}

static void t_mmio_write(u64 n)
{
	LOOP("mov $0, %%eax", "movl %%eax, (%%rbx)", "b"(TESTDEV_MMIO_BASE + TESTDEV_REG_SCRATCH)
	     : "rax", "cc", "memory");
}

struct test {
	const char *name;
	void (*run)(u64 n);
	const char *(*absent)(void); /* why the test cannot run here, or NULL */
};

static bool has_testdev;
static bool has_misc_enable;

static const char *no_testdev(void)
{
	return has_testdev ? NULL : "no testdev at 0xfeb00000";
}

static const char *no_msr(void)
{
	return has_misc_enable ? NULL : "RDMSR 0x1a0 faults";
}

/* Apart from main: CATCH returns twice, so main's locals would be clobbered. */
static __attribute__((noinline)) void probe(void)
{
	has_misc_enable = CATCH(misc_enable = rdmsr(MSR_MISC_ENABLE)) < 0;
	has_testdev = *(volatile u32 *)TESTDEV_MMIO_BASE == TESTDEV_MAGIC;
}

static const struct test tests[] = {
	{ "null", t_null, NULL },
	{ "cpuid", t_cpuid, NULL },
	{ "out", t_out, NULL },
	{ "in", t_in, NULL },
	{ "out-dev", t_out_dev, NULL },
	{ "in-dev", t_in_dev, NULL },
	{ "rdmsr", t_rdmsr, no_msr },
	{ "wrmsr", t_wrmsr, no_msr },
	{ "mmio-read", t_mmio_read, no_testdev },
	{ "mmio-write", t_mmio_write, no_testdev },
};

/* The value of "key=" in the multiboot command line (copied into buf), or NULL. */
static const char *cmdline_arg(const char *key, char *buf, size_t size)
{
	const struct mb_info *mb = (const struct mb_info *)mb_info;
	size_t klen = strlen(key);

	if (!(mb->flags & BIT(2)) || !mb->cmdline)
		return NULL;
	for (const char *s = (const char *)(ulong)mb->cmdline; *s; s++) {
		size_t i = 0;

		if ((s != (const char *)(ulong)mb->cmdline && s[-1] != ' ') || memcmp(s, key, klen))
			continue;
		for (s += klen; s[i] && s[i] != ' ' && i + 1 < size; i++)
			buf[i] = s[i];
		buf[i] = 0;
		return buf;
	}
	return NULL;
}

/* A decimal count from 1 to MAX_ITERS, or 0 if s is not one. */
static u64 parse_count(const char *s)
{
	u64 v = 0;

	if (!*s)
		return 0;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return 0;
		v = v * 10 + (u64)(*s - '0');
		if (v > MAX_ITERS)
			return 0;
	}
	return v;
}

int main(void)
{
	char nbuf[24], only[24];
	u64 n = DEFAULT_ITERS;
	const char *arg = cmdline_arg("n=", nbuf, sizeof(nbuf));
	bool have_only = cmdline_arg("only=", only, sizeof(only)) != NULL;

	if (arg) {
		n = parse_count(arg);
		if (!n) {
			printf("vmexit: bad n=%s (want 1 to %llu)\n", arg, MAX_ITERS);
			return 1;
		}
	}
	probe();
	printf("vmexit: n=%llu tsc=%llu\n", (unsigned long long)n, (unsigned long long)rdtsc());
	for (size_t i = 0; i < ARRAY_SIZE(tests); i++) {
		const struct test *t = &tests[i];
		const char *why = t->absent ? t->absent() : NULL;

		if (have_only && i && strcmp(only, t->name))
			continue;
		if (why) {
			printf("vmexit %s: skipped (%s)\n", t->name, why);
			continue;
		}
		t->run(n / 16 + 1); /* warm-up: code in the caches, first-exit paths taken */
		u64 t0 = rdtsc();
		t->run(n);
		u64 t1 = rdtsc();
		printf("vmexit %s: %llu iterations, %llu cycles, %llu cycles/iteration, tsc=%llu\n",
		       t->name, (unsigned long long)n, (unsigned long long)(t1 - t0),
		       (unsigned long long)((t1 - t0) / n), (unsigned long long)t1);
	}
	printf("vmexit: done tsc=%llu\n", (unsigned long long)rdtsc());
	return 0;
}
