// SPDX-License-Identifier: MIT
/*
 * The sandbox: a seccomp-bpf filter built with libseccomp (see sandbox.h, docs/security.md).
 *
 * The allow-list below is what a run makes after setup, found with `strace -f` on the guest
 * suite, Linux boots with every virtio device (--drive async=on and off, virtio-net, -console,
 * -rng), --stats, --stats-json, --trace, SIGINT/SIGTERM/SIGHUP and Ctrl-A x; the kvm entries
 * are read from src/kvm (no /dev/kvm on the machine that wrote this to strace it with). Every
 * other call takes the default action, SCMP_ACT_TRAP: the kernel sends SIGSYS instead of running
 * it, and sandbox_on_sigsys writes one line naming the call and ends the process with status 4.
 * A call of another architecture's ABI (int 0x80) kills the thread outright (libseccomp's
 * default for a foreign architecture).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <seccomp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>

#include "vmm/sandbox.h"
#include "vmm/vm.h"

_Static_assert(SANDBOX_STOP_STATUS == EXIT_STATUS_STOPPED, "the stop is tollbooth ending the run");

/* KVM's ioctl type (include/uapi/linux/kvm.h, KVMIO): every KVM_* request has it in bits 8-15. */
#define SANDBOX_KVMIO 0xAE

/*
 * A sanitizer build (make MODE=san) allows LeakSanitizer's check at exit too: it stops the world
 * from a clone()d task that ptrace()s every thread, with every signal blocked, so a call the
 * filter refused there would kill the task silently and leave the process waiting for it
 * forever. A report's symbolizer (readlink, then a helper process) is not allowed: under the
 * sandbox a report stops after its first lines, on the sandbox's line or the test's timeout;
 * --sandbox off gives it whole. Release builds never have these calls (docs/security.md).
 */
#if defined(__SANITIZE_ADDRESS__)
#define SANDBOX_SANITIZER 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SANDBOX_SANITIZER 1
#endif
#endif

/*
 * The calls allowed whatever their arguments, each beside who makes it after setup. ioctl, mmap,
 * mprotect and tgkill are allowed with their arguments checked, in sandbox_add_rules.
 */
static const int sandbox_calls[] = {
	/* The run loop sleeps in ppoll until the next timer or terminal/TAP input (vmm/run.c);
	   the console polls stdin before each read (devices/console.c). */
	SCMP_SYS(ppoll),
	SCMP_SYS(poll),
	/* Host time for stats_now_ns, the guest clocks and kvmclock: the vDSO answers it, the
	   call is the fallback where the host's clock source has no vDSO path. */
	SCMP_SYS(clock_gettime),
	/* The soft CPU's VMX-preemption timer on host time waits for it (cpu/events.c). */
	SCMP_SYS(sched_yield),
	/* The console: stdin (read) and stdout (write); stderr's lines (the stop, --stats);
	   --trace and --stats-json through stdio (write); virtio-net's TAP frames (readv,
	   writev); the kvm doorbell eventfd and KVM's binary stats (read, pread64). */
	SCMP_SYS(read),
	SCMP_SYS(write),
	SCMP_SYS(readv),
	SCMP_SYS(writev),
	SCMP_SYS(pread64),
	/* virtio-blk: requests (preadv, pwritev; async=on too) and the guest's flush. */
	SCMP_SYS(preadv),
	SCMP_SYS(pwritev),
	SCMP_SYS(fdatasync),
	/* virtio-rng and the soft CPU's RDRAND/RDSEED: the host's random bytes. */
	SCMP_SYS(getrandom),
	/* The end of the run: fclose of the --trace and --stats-json files, vm_destroy's
	   disk, TAP and KVM fds. */
	SCMP_SYS(close),
	/* malloc and free (stats, stdio buffers, the vCPUs' exit records, the trace's
	   disassembly) and vm_destroy's munmap of guest RAM and the CPU arenas. */
	SCMP_SYS(brk),
	SCMP_SYS(munmap),
	SCMP_SYS(mremap),
	SCMP_SYS(madvise),
	/* glibc's qsort (the --stats and --stats-json tables, stats/report.c) asks for the
	   host's physical memory before it allocates its merge buffer. */
	SCMP_SYS(sysinfo),
	/* Signals: a handler returning (the stop for SIGINT/SIGTERM/SIGHUP, the kvm kick);
	   console_die_of_signal's signal(SIG_DFL) and raise(), which blocks signals around
	   tgkill(getpid(), gettid()); pthread_kill (the kvm kick) the same. */
	SCMP_SYS(rt_sigreturn),
	SCMP_SYS(rt_sigaction),
	SCMP_SYS(rt_sigprocmask),
	SCMP_SYS(getpid),
	SCMP_SYS(gettid),
	/* A call that a signal interrupted, restarted by the kernel (poll's timeout). */
	SCMP_SYS(restart_syscall),
	/* glibc's locks when contended: the kvm vCPU thread's mutex and condition variable,
	   pthread_join at the end, stdio's locks once there is a second thread. */
	SCMP_SYS(futex),
	/* A thread's first calls, its own in glibc (2.35 on): the rseq area and the robust-futex
	   list. The kvm vCPU thread and irqgen's are created before the sandbox but may run them
	   after it went on (seen on a machine with /dev/kvm: SIGSYS at the kvm thread's start). */
	SCMP_SYS(rseq),
	SCMP_SYS(set_robust_list),
	/* The end: exit() and _exit(), the kvm vCPU thread returning. */
	SCMP_SYS(exit_group),
	SCMP_SYS(exit),
#ifdef SANDBOX_SANITIZER
	/* The sanitizer runtime, see SANDBOX_SANITIZER: LeakSanitizer's check at exit clones a
	   tracer (clone) that lists the threads (open, getdents, lseek of /proc/PID/task), attaches to
	   them (ptrace, wait4) on its own signal stack (sigaltstack); prctl and getppid guard it.
	   The parent waits for it (wait4). */
	SCMP_SYS(clone),
	/* The sanitizer runtime counts the host's CPUs lazily, at its first need (seen as a
	   rare stop in test_sandbox's child on a loaded machine). */
	SCMP_SYS(sched_getaffinity),
	SCMP_SYS(ptrace),
	SCMP_SYS(wait4),
	SCMP_SYS(prctl),
	SCMP_SYS(getppid),
	SCMP_SYS(sigaltstack),
	SCMP_SYS(open),
	SCMP_SYS(getdents),
	SCMP_SYS(lseek),
#endif
};

/* The terminal's ioctls: console_close (and a signal's death) restores its mode (tcsetattr);
   isatty and tcgetattr read it. */
static const unsigned long sandbox_tty_ioctls[] = { TCGETS, TCSETS, TCSETSW, TCSETSF };

/* ---- the stop ---- */

/* The names of the calls, resolved while loading: the handler may not allocate. */
#define SANDBOX_NR_MAX 512
static char sandbox_names[SANDBOX_NR_MAX][28];
static void (*sandbox_on_stop)(void);

static char *sandbox_put(char *p, char *end, const char *s)
{
	while (*s && p < end)
		*p++ = *s++;
	return p;
}

static char *sandbox_put_num(char *p, char *end, unsigned long long v, unsigned base)
{
	char digits[24];
	int n = 0;

	do
		digits[n++] = "0123456789abcdef"[v % base];
	while ((v /= base) && n < (int)sizeof(digits));
	while (n && p < end)
		*p++ = digits[--n];
	return p;
}

/*
 * SIGSYS from the filter's SCMP_ACT_TRAP: si_syscall is the call, the registers its arguments
 * (an ioctl's request is in RSI). Async-signal-safe: no allocation, no stdio; write and
 * exit_group are allowed by the filter itself.
 */
static void sandbox_on_sigsys(int sig, siginfo_t *si, void *ctx)
{
	const ucontext_t *uc = ctx;
	int nr = si->si_syscall;
	char line[256], *p = line, *end = line + sizeof(line);

	(void)sig;
	if (sandbox_on_stop)
		sandbox_on_stop();
	p = sandbox_put(p, end, SANDBOX_STOP_LINE);
	if (nr >= 0 && nr < SANDBOX_NR_MAX && sandbox_names[nr][0])
		p = sandbox_put(p, end, sandbox_names[nr]);
	else
		p = sandbox_put(p, end, "number");
	p = sandbox_put(p, end, " (");
	p = sandbox_put_num(p, end, (unsigned)nr, 10);
	p = sandbox_put(p, end, ")");
	if (nr == SYS_ioctl) {
		p = sandbox_put(p, end, " with request 0x");
		p = sandbox_put_num(p, end, (unsigned long long)uc->uc_mcontext.gregs[REG_RSI], 16);
	}
	p = sandbox_put(p, end, ", which it never needs while a guest runs; stopped (--sandbox "
				"off lifts the filter)\n");
	/* A failed write leaves the status alone to say it. */
	(void)!write(STDERR_FILENO, line, (size_t)(p - line));
	_exit(SANDBOX_STOP_STATUS);
}

static void sandbox_resolve_names(void)
{
	for (int nr = 0; nr < SANDBOX_NR_MAX; nr++) {
		char *name = seccomp_syscall_resolve_num_arch(SCMP_ARCH_NATIVE, nr);

		if (name)
			snprintf(sandbox_names[nr], sizeof(sandbox_names[nr]), "%s", name);
		free(name);
	}
}

/* ---- the filter ---- */

static int sandbox_add_rules(scmp_filter_ctx ctx, const struct sandbox_config *c, char *why,
			     size_t len)
{
	int err = 0;

	for (size_t i = 0; i < ARRAY_SIZE(sandbox_calls) && !err; i++)
		err = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, sandbox_calls[i], 0);
	for (size_t i = 0; i < ARRAY_SIZE(sandbox_tty_ioctls) && !err; i++)
		err = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(ioctl), 1,
				       SCMP_A1(SCMP_CMP_EQ, sandbox_tty_ioctls[i]));
	/* kvm: KVM_RUN and the register, event, MSR and interrupt ioctls of the vCPU and VM fds
	   (kvm/backend_kvm.c), by their type alone: the fds were KVM's when the filter went on. */
	if (!err && c->kvm)
		err = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(ioctl), 1,
				       SCMP_A1(SCMP_CMP_MASKED_EQ, 0xff00, SANDBOX_KVMIO << 8));
	/* malloc's memory, never executable: the JIT's arena was mapped before (cpu/jit.c). */
	if (!err)
		err = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(mmap), 1,
				       SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0));
	if (!err)
		err = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(mprotect), 1,
				       SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0));
	/* raise() and pthread_kill(): signals to this process's own threads only. */
	if (!err)
		err = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(tgkill), 1,
				       SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)getpid()));
	if (err)
		snprintf(why, len, "sandbox: libseccomp cannot add a rule: %s", strerror(-err));
	return err;
}

int sandbox_enter(const struct sandbox_config *c, char *why, size_t len)
{
	struct sigaction sa = { .sa_sigaction = sandbox_on_sigsys, .sa_flags = SA_SIGINFO };
	scmp_filter_ctx ctx;
	int err;

	sandbox_resolve_names();
	sandbox_on_stop = c->on_stop;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGSYS, &sa, NULL)) {
		err = -errno;
		snprintf(why, len, "sandbox: cannot handle SIGSYS: %s", strerror(errno));
		return err;
	}
	ctx = seccomp_init(SCMP_ACT_TRAP);
	if (!ctx) {
		snprintf(why, len, "sandbox: libseccomp cannot start a filter (out of memory)");
		return -ENOMEM;
	}
	/* Every thread: the kvm vCPU threads exist already. */
	err = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_TSYNC, 1);
	if (err)
		snprintf(why, len, "sandbox: libseccomp cannot set the filter's attributes: %s",
			 strerror(-err));
	else
		err = sandbox_add_rules(ctx, c, why, len);
	if (!err) {
		err = seccomp_load(ctx);
		if (err)
			snprintf(why, len,
				 "sandbox: the kernel refused the seccomp filter: %s (a kernel "
				 "without CONFIG_SECCOMP_FILTER? --sandbox off runs without it)",
				 strerror(-err));
	}
	seccomp_release(ctx);
	return err;
}
