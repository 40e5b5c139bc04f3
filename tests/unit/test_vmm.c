// SPDX-License-Identifier: MIT
/*
 * VMM policies and tables (CPUID, MSRs and their bitmap, exit names, statistics), and the run
 * loop with its handlers, driven by a scripted backend: each run() returns the next exit.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "arch/x86.h"
#include "stats/stats.h"
#include "vmm/cpuid.h"
#include "vmm/hypercall.h"
#include "vmm/msr.h"
#include "vmm/vm.h"
#include "vmx/exit.h"

static void test_cpuid(void)
{
	u32 r[4], leaf7[4], leafd[4];
	char s[49] = { 0 };

	cpuid_lookup(0, 0, r);
	CHECK_EQ(r[CPUID_EAX], 0xd);
	memcpy(s, &r[CPUID_EBX], 4);
	memcpy(s + 4, &r[CPUID_EDX], 4);
	memcpy(s + 8, &r[CPUID_ECX], 4);
	CHECK(!strcmp(s, "GenuineIntel"));

	cpuid_lookup(1, 0, r);
	CHECK_EQ((r[CPUID_EAX] >> 8) & 0xf, 6);
	CHECK_EQ((r[CPUID_EBX] >> 8) & 0xff, 8);
	CHECK(r[CPUID_EDX] & BIT(0));	     /* x87 FPU */
	CHECK(r[CPUID_EDX] & BIT(15));	     /* CMOV: with FPU, FCMOVcc and FCOMI */
	CHECK(r[CPUID_EDX] & BIT(23));	     /* MMX */
	CHECK(r[CPUID_EDX] & BIT(24));	     /* FXSAVE/FXRSTOR */
	CHECK(r[CPUID_EDX] & BIT(25));	     /* SSE */
	CHECK(r[CPUID_EDX] & BIT(26));	     /* SSE2 */
	CHECK_EQ(r[CPUID_ECX] & (BIT(0) | BIT(1) | BIT(9) | BIT(19) | BIT(20) | BIT(25)),
		 BIT(0) | BIT(1) | BIT(9) | BIT(19) | BIT(20) | BIT(25)); /* SSE3 PCLMULQDQ SSSE3
									  SSE4.1 SSE4.2 AES */
	CHECK(r[CPUID_EDX] & BIT(4));	     /* TSC */
	CHECK(r[CPUID_ECX] & BIT(23));	     /* POPCNT */
	CHECK_EQ(r[CPUID_ECX] & BIT(5), 0);  /* no VMX for the guest */

	/* OSXSAVE follows CR4.OSXSAVE (cpuid_adjust), XSAVE and RDRAND are static. */
	CHECK_EQ(r[CPUID_ECX] & (BIT(26) | BIT(27) | BIT(30)), BIT(26) | BIT(30));
	cpuid_adjust(1, CR4_OSXSAVE, r);
	CHECK(r[CPUID_ECX] & BIT(27));

	/* FSGSBASE BMI1 SMEP INVPCID RDSEED SMAP CLFLUSHOPT CLWB; RDPID in ECX. */
	cpuid_lookup(7, 0, leaf7);
	CHECK_EQ(leaf7[CPUID_EBX], BIT(0) | BIT(3) | BIT(7) | BIT(10) | BIT(18) | BIT(20) | BIT(23) |
					   BIT(24));
	CHECK_EQ(leaf7[CPUID_ECX], BIT(22));
	cpuid_lookup(7, 1, r);
	CHECK_EQ(r[CPUID_EBX], 0);

	/* XSAVE (SDM vol. 1 13.2): x87 and SSE in XCR0, 576-byte areas, XSAVEOPT XSAVEC
	   XGETBV1 XSAVES, no IA32_XSS bits, no extended components. */
	cpuid_lookup(0xd, 0, leafd);
	CHECK_EQ(leafd[CPUID_EAX], 3);
	CHECK_EQ(leafd[CPUID_EBX], 576);
	CHECK_EQ(leafd[CPUID_ECX], 576);
	CHECK_EQ(leafd[CPUID_EDX], 0);
	cpuid_lookup(0xd, 1, r);
	CHECK_EQ(r[CPUID_EAX], 0xf);
	CHECK_EQ(r[CPUID_EBX], 576);
	CHECK_EQ(r[CPUID_ECX] | r[CPUID_EDX], 0);
	for (u32 sub = 2; sub < 64; sub++) {
		cpuid_lookup(0xd, sub, r);
		CHECK_EQ(r[0] | r[1] | r[2] | r[3], 0);
	}
	/* Above the maximum basic leaf: the highest basic leaf's data (SDM vol. 2A CPUID). */
	cpuid_lookup(0xe, 0, r);
	CHECK(!memcmp(r, leafd, sizeof(r)));
	cpuid_lookup(0x40000000, 0, r);
	CHECK(!memcmp(r, leafd, sizeof(r)));
	cpuid_lookup(0x80000009, 0, r);
	CHECK(!memcmp(r, leafd, sizeof(r)));
	/* In range but not modelled: zeros. */
	cpuid_lookup(0x2, 0, r);
	CHECK_EQ(r[0] | r[1] | r[2] | r[3], 0);

	cpuid_lookup(0x80000000, 0, r);
	CHECK_EQ(r[CPUID_EAX], 0x80000008);
	cpuid_lookup(0x80000001, 0, r);
	CHECK(r[CPUID_EDX] & BIT(29)); /* LM */
	CHECK(r[CPUID_EDX] & BIT(20)); /* NX */
	cpuid_lookup(0x80000008, 0, r);
	CHECK_EQ(r[CPUID_EAX], 0x3028);
	for (u32 i = 0; i < 3; i++) {
		cpuid_lookup(0x80000002 + i, 0, r);
		memcpy(s + 16 * i, r, 16);
	}
	CHECK(!strcmp(s, "tollbooth soft CPU"));
}

/* kvmclock (vmm/kvmclock.c): the pvclock scale turns a second of ticks into 1e9 ns within 1 ns
   (mul has 32 bits and the shifted rate is above 1e9), and the CPUID leaves as KVM's. */
static u64 pvclock_scale(u64 ticks, u32 mul, s8 shift)
{
	ticks = shift >= 0 ? ticks << shift : ticks >> -shift;
	return (u64)(((unsigned __int128)ticks * mul) >> 32);
}

static void test_kvmclock(void)
{
	static const u64 rates[] = { 1000000, 33333333, 999999999, 1000000000, 1000000001,
				     2096014000, 3000000000, 5000000000ull, 100000000000ull };
	static struct vm vm;
	u32 r[4], mul;
	s8 shift;

	for (size_t i = 0; i < ARRAY_SIZE(rates); i++) {
		kvmclock_scale(rates[i], &mul, &shift);
		u64 ns = pvclock_scale(rates[i], mul, shift);
		CHECK(ns <= 1000000000 && ns >= 1000000000 - 1);
		CHECK(mul >= 1u << 31);
	}
	memset(r, 0xff, sizeof(r));
	kvmclock_cpuid(&vm, 0x40000000, r);
	CHECK_EQ(r[0], 0x40000001);
	CHECK(!memcmp(&r[1], "KVMKVMKVM\0\0\0", 12));
	kvmclock_cpuid(&vm, 0x40000001, r);
	CHECK_EQ(r[0], BIT(3) | BIT(24)); /* CLOCKSOURCE2, CLOCKSOURCE_STABLE_BIT */
	CHECK_EQ(r[1] | r[2] | r[3], 0);
	kvmclock_cpuid(&vm, 0x400000ff, r);
	CHECK_EQ(r[0] | r[1] | r[2] | r[3], 0);
	r[2] = 0;
	kvmclock_cpuid(&vm, 1, r);
	CHECK_EQ(r[2], BIT(31)); /* hypervisor present */
	CHECK(kvmclock_owns_msr(&vm, MSR_KVM_SYSTEM_TIME_NEW));
	CHECK(!kvmclock_owns_msr(&vm, 0x12)); /* the old MSRs are not offered (bit 0 clear) */
	/* --tsc virtual counts instructions, not time: no kvmclock at all. */
	vm.tsc_virtual = true;
	r[2] = 0;
	kvmclock_cpuid(&vm, 1, r);
	CHECK_EQ(r[2], 0);
	memset(r, 0x5a, sizeof(r));
	kvmclock_cpuid(&vm, 0x40000000, r);
	CHECK_EQ(r[0], 0x5a5a5a5a);
	CHECK(!kvmclock_owns_msr(&vm, MSR_KVM_SYSTEM_TIME_NEW));
}

static void test_msr_policy(void)
{
	u64 v[MSR_POLICY_COUNT], x;

	msr_policy_reset(v);
	CHECK_EQ(msr_policy_read(v, MSR_IA32_FEATURE_CONTROL, &x), 0);
	CHECK_EQ(x, 1); /* locked, VMX off */
	CHECK_EQ(msr_policy_write(v, MSR_IA32_FEATURE_CONTROL, 5), -EPERM);
	CHECK_EQ(msr_policy_write(v, MSR_IA32_FEATURE_CONTROL, 1), -EPERM);
	CHECK_EQ(msr_policy_read(v, 0x12345678, &x), -ENOENT);
	CHECK_EQ(msr_policy_write(v, 0x12345678, 0), -ENOENT);
	CHECK_EQ(msr_policy_read(v, MSR_IA32_EFER, &x), -ENOENT); /* the CPU's, never here */

	CHECK_EQ(msr_policy_read(v, MSR_IA32_MISC_ENABLE, &x), 0);
	CHECK(x & BIT(0));
	CHECK_EQ(msr_policy_write(v, MSR_IA32_MISC_ENABLE, x & ~BIT(0)), 0);
	CHECK_EQ(msr_policy_read(v, MSR_IA32_MISC_ENABLE, &x), 0);
	CHECK_EQ(x & BIT(0), 0);
	CHECK_EQ(msr_policy_write(v, MSR_IA32_MISC_ENABLE, x | BIT(22)), -EPERM);
	CHECK_EQ(msr_policy_write(v, MSR_IA32_MISC_ENABLE, x & ~BIT(11)), -EPERM);

	CHECK_EQ(msr_policy_write(v, 0x8b, 0), 0);  /* BIOS_SIGN_ID: accepted, ignored */
	CHECK_EQ(msr_policy_write(v, 0x17a, 0), 0); /* MCG_STATUS: only 0 */
	CHECK_EQ(msr_policy_write(v, 0x17a, 1), -EPERM);
}

static bool bitmap_exits(const u8 *bm, u32 msr, bool write)
{
	u32 base = (write ? 2048 : 0) + (msr >= 0xc0000000 ? 1024 : 0), bit = msr & 0x1fff;

	return bm[base + bit / 8] & (1u << (bit % 8));
}

static void test_msr_bitmap(void)
{
	static u8 bm[4096];

	msr_build_bitmap(bm);
	CHECK(!bitmap_exits(bm, MSR_IA32_EFER, false));
	CHECK(!bitmap_exits(bm, MSR_IA32_EFER, true));
	CHECK(!bitmap_exits(bm, MSR_IA32_TSC_AUX, true));
	CHECK(!bitmap_exits(bm, MSR_IA32_SYSENTER_EIP, false));
	CHECK(!bitmap_exits(bm, MSR_IA32_PAT, true));
	CHECK(!bitmap_exits(bm, MSR_IA32_TSC, false));
	CHECK(bitmap_exits(bm, MSR_IA32_FEATURE_CONTROL, false));
	CHECK(bitmap_exits(bm, MSR_IA32_APIC_BASE, true));
	CHECK(bitmap_exits(bm, 0xc0000104, false));
}

static void test_exit_names(void)
{
	CHECK(!strcmp(exit_reason_name(EXIT_REASON_IO_INSTRUCTION), "IO_INSTRUCTION"));
	CHECK(!strcmp(exit_reason_name(EXIT_REASON_EPT_VIOLATION), "EPT_VIOLATION"));
	CHECK(!strcmp(exit_reason_name(0), "EXCEPTION_NMI"));
	CHECK(!strcmp(exit_reason_name(5), "UNKNOWN"));
	CHECK(!strcmp(exit_reason_name(1000), "UNKNOWN"));
	CHECK(!strcmp(exit_reason_name(EXIT_REASON_FAILED_VMENTRY | 33), "INVALID_STATE"));
}

static void test_stats(void)
{
	struct stats s;
	struct vm_exit e = { .reason = EXIT_REASON_IO_INSTRUCTION, .io = { .port = 0x3f8 } };

	CHECK_EQ(stats_init(&s), 0);
	stats_record(&s, &e, 0, NULL, 0);
	stats_record(&s, &e, 0, NULL, 0);
	e.io.in = 1;
	stats_record(&s, &e, 0, NULL, 0);
	e.reason = EXIT_REASON_FAILED_VMENTRY | EXIT_REASON_INVALID_STATE;
	stats_record(&s, &e, 0, NULL, 0);
	CHECK_EQ(s.total, 4);
	CHECK_EQ(s.exits[EXIT_REASON_IO_INSTRUCTION], 3);
	CHECK_EQ(s.exits[EXIT_REASON_MAX], 1);
	CHECK_EQ(s.io[0x3f8][0], 2);
	CHECK_EQ(s.io[0x3f8][1], 1);
	stats_free(&s);
}

/* The scripted backend: exits and the register values the guest "has" when it makes them;
   `halted`: no exit, the vCPU halted at exit.rip with nothing to wake it (BACKEND_RUN_HALTED). */
struct step {
	struct vm_exit exit;
	u64 rax, rcx, rdx, rflags;
	bool halted;
};

static const struct step *script;
static unsigned script_len, script_pos;
static struct x86_regs regs;
static struct x86_sregs sregs;
static u32 seen_in_data; /* io.data the loop handed back after the last IN */
static int injected_vector = -1;

static int script_vcpu_create(struct vcpu *vcpu)
{
	return 0;
}

static enum backend_run_result script_run(struct vcpu *vcpu, struct vm_exit *exit)
{
	const struct step *s;

	if (exit->reason == EXIT_REASON_IO_INSTRUCTION && exit->io.in)
		seen_in_data = exit->io.data;
	if (script_pos == script_len) {
		*exit = (struct vm_exit){ .reason = EXIT_REASON_TRIPLE_FAULT };
		return BACKEND_RUN_EXIT;
	}
	s = &script[script_pos++];
	*exit = s->exit;
	regs.rip = s->exit.rip;
	regs.gpr[R_RAX] = s->rax;
	regs.gpr[R_RCX] = s->rcx;
	regs.gpr[R_RDX] = s->rdx;
	regs.rflags = s->rflags | X86_FIXED1;
	if (s->halted) {
		memset(exit, 0, sizeof(*exit));
		return BACKEND_RUN_HALTED;
	}
	return BACKEND_RUN_EXIT;
}

static void script_get_regs(struct vcpu *vcpu, struct x86_regs *r)
{
	*r = regs;
}

static void script_set_regs(struct vcpu *vcpu, const struct x86_regs *r)
{
	regs = *r;
}

static void script_get_sregs(struct vcpu *vcpu, struct x86_sregs *s)
{
	*s = sregs;
}

static void script_set_sregs(struct vcpu *vcpu, const struct x86_sregs *s)
{
	sregs = *s;
}

static void script_inject_exception(struct vcpu *vcpu, u8 vector, bool has_error, u32 error)
{
	injected_vector = vector;
}

static void script_destroy(struct vcpu *vcpu)
{
}

static const struct backend_ops backend_script = {
	.name = "script",
	.vcpu_create = script_vcpu_create,
	.run = script_run,
	.get_regs = script_get_regs,
	.set_regs = script_set_regs,
	.get_sregs = script_get_sregs,
	.set_sregs = script_set_sregs,
	.inject_exception = script_inject_exception,
	.destroy = script_destroy,
};

static u8 tx[64];
static size_t tx_len;

static void capture_tx(void *opaque, u8 byte)
{
	if (tx_len < sizeof(tx))
		tx[tx_len++] = byte;
}

static const struct uart_host capture = { .tx = capture_tx };

static struct vm vm;

static int run_script(const struct step *steps, unsigned n)
{
	int status;

	script = steps;
	script_len = n;
	script_pos = 0;
	tx_len = 0;
	injected_vector = -1;
	memset(&regs, 0, sizeof(regs));
	CHECK_EQ(vm_create(&vm, 4 << 20, &backend_script, &capture), 0);
	status = vm_run(&vm);
	return status;
}

#define IO_OUT(port_, val, rip_)                                                                   \
	{                                                                                          \
		.exit = {                                                                          \
			.reason = EXIT_REASON_IO_INSTRUCTION,                                      \
			.insn_len = 1,                                                             \
			.rip = rip_,                                                               \
			.io = { .port = port_, .size = 1, .data = val }                            \
		}                                                                                  \
	}
#define IO_IN(port_, rip_)                                                                         \
	{                                                                                          \
		.exit = {                                                                          \
			.reason = EXIT_REASON_IO_INSTRUCTION,                                      \
			.insn_len = 1,                                                             \
			.rip = rip_,                                                               \
			.io = { .port = port_, .size = 1, .in = 1 }                                \
		}                                                                                  \
	}
#define INSN(reason_, len, rip_) .exit = { .reason = reason_, .insn_len = len, .rip = rip_ }

static void test_run_serial_and_debug_exit(void)
{
	static const struct step steps[] = {
		IO_OUT(0x3f8, 'o', 0x1000),
		IO_OUT(0x3f8, 'k', 0x1001),
		IO_IN(0x3fd, 0x1002),
		IO_OUT(0xf4, 0x10, 0x1003),
	};

	CHECK_EQ(run_script(steps, ARRAY_SIZE(steps)), 0x21);
	CHECK_EQ(script_pos, 4);
	CHECK_EQ(tx_len, 2);
	CHECK(!memcmp(tx, "ok", 2));
	CHECK_EQ(seen_in_data, 0x60); /* LSR: THRE | TEMT, handed back in the same record */
	CHECK_EQ(vm.stop_msg[0], 0);
	CHECK_EQ(vm.stats.exits[EXIT_REASON_IO_INSTRUCTION], 4);
	CHECK_EQ(vm.stats.io[0x3f8][0], 2);
	vm_destroy(&vm);
}

static void test_run_instructions(void)
{
	static const struct step steps[] = {
		{ INSN(EXIT_REASON_CPUID, 2, 0x2000), .rax = 0, .rcx = 0 },
		{ INSN(EXIT_REASON_MSR_READ, 2, 0x2002), .rcx = MSR_IA32_FEATURE_CONTROL },
		{ INSN(EXIT_REASON_VMCALL, 3, 0x2004), .rax = HC_GET_VERSION },
		IO_IN(0x80, 0x2007),
		{ INSN(EXIT_REASON_HLT, 1, 0x2008) },
	};

	CHECK_EQ(run_script(steps, 1), EXIT_STATUS_STOPPED); /* CPUID, then a triple fault */
	CHECK_EQ(regs.rip, 0x2002);
	CHECK_EQ(regs.gpr[R_RAX], 0xd);
	CHECK_EQ(regs.gpr[R_RBX], 0x756e6547);
	CHECK(strstr(vm.stop_msg, "triple fault"));
	vm_destroy(&vm);

	CHECK_EQ(run_script(steps, 2), EXIT_STATUS_STOPPED);
	CHECK_EQ(regs.rip, 0x2004);
	CHECK_EQ(regs.gpr[R_RAX], 1);
	CHECK_EQ(regs.gpr[R_RDX], 0);
	vm_destroy(&vm);

	CHECK_EQ(run_script(steps, 3), EXIT_STATUS_STOPPED);
	CHECK_EQ(regs.rip, 0x2007);
	CHECK_EQ(regs.gpr[R_RAX], HC_ABI_VERSION);
	vm_destroy(&vm);

	CHECK_EQ(run_script(steps, 5), EXIT_STATUS_STOPPED);
	CHECK_EQ(seen_in_data, 0xff); /* nobody at port 0x80 */
	CHECK_EQ(vm.pio.unclaimed_reads, 1);
	CHECK(!strcmp(vm.stop_msg, "guest halted with interrupts disabled at RIP 0x2008"));
	vm_destroy(&vm);

	/* A HLT that did not exit: the backend says halted (no exit record); RIP is past it. */
	static const struct step halted[] = {
		{ INSN(EXIT_REASON_CPUID, 2, 0x2000) },
		{ .exit = { .rip = 0x2003 }, .halted = true },
	};
	CHECK_EQ(run_script(halted, 2), EXIT_STATUS_STOPPED);
	CHECK(!strcmp(vm.stop_msg, "guest halted with interrupts disabled at RIP 0x2002"));
	CHECK_EQ(vm.stats.total, 1); /* the CPUID; halting is not an exit */
	CHECK_EQ(vm.stats.exits[EXIT_REASON_HLT], 0);
	vm_destroy(&vm);
}

static void test_run_refusals(void)
{
	static const struct step gp[] = {
		{ INSN(EXIT_REASON_MSR_WRITE, 2, 0x3000), .rcx = 0x12345 },
	};
	static const struct step hc[] = {
		{ INSN(EXIT_REASON_VMCALL, 3, 0x3000), .rax = 99 },
	};
	static const struct step sti_hlt[] = {
		{ INSN(EXIT_REASON_HLT, 1, 0x3000), .rflags = X86_IF },
	};
	static const struct step odd[] = {
		{ INSN(EXIT_REASON_GETSEC, 2, 0x3000) },
	};
	int saved_stderr, devnull;

	CHECK_EQ(run_script(gp, 1), EXIT_STATUS_STOPPED);
	CHECK_EQ(injected_vector, X86_GP);
	CHECK_EQ(regs.rip, 0x3000); /* a fault: RIP stays on WRMSR */
	vm_destroy(&vm);

	CHECK_EQ(run_script(hc, 1), EXIT_STATUS_STOPPED);
	CHECK_EQ(regs.gpr[R_RAX], (u64)(s64)HC_ENOSYS);
	vm_destroy(&vm);

	sregs.seg[SEG_SS].ar = 3 << 5; /* CPL 3 */
	CHECK_EQ(run_script(hc, 1), EXIT_STATUS_STOPPED);
	CHECK_EQ(regs.gpr[R_RAX], (u64)(s64)HC_EPERM);
	sregs.seg[SEG_SS].ar = 0;
	vm_destroy(&vm);

	CHECK_EQ(run_script(sti_hlt, 1), EXIT_STATUS_STOPPED);
	CHECK(strstr(vm.stop_msg, "waiting for an interrupt"));
	vm_destroy(&vm);

	/* One line; the state dump only with --debug-dump, which goes to stderr: keep the
	   suite's output to one line per program. */
	CHECK_EQ(run_script(odd, 1), EXIT_STATUS_STOPPED);
	CHECK(!strcmp(vm.stop_msg, "unexpected VM exit 0xb (GETSEC) at RIP 0x3000 (--debug-dump "
				   "prints the vCPU state)"));
	CHECK_EQ(script_pos, 1);
	vm_destroy(&vm);
	saved_stderr = dup(STDERR_FILENO);
	devnull = open("/dev/null", O_WRONLY);
	dup2(devnull, STDERR_FILENO);
	vm.debug_dump = true;
	CHECK_EQ(run_script(odd, 1), EXIT_STATUS_STOPPED);
	dup2(saved_stderr, STDERR_FILENO);
	close(devnull);
	close(saved_stderr);
	CHECK(!strcmp(vm.stop_msg, "unexpected VM exit 0xb (GETSEC) at RIP 0x3000"));
	vm_destroy(&vm);
}

int main(void)
{
	test_run_serial_and_debug_exit();
	test_run_instructions();
	test_run_refusals();
	test_cpuid();
	test_kvmclock();
	test_msr_policy();
	test_msr_bitmap();
	test_exit_names();
	test_stats();
	return check_done("vmm");
}
