// SPDX-License-Identifier: MIT
/* The command line: `tollbooth run [options] [IMAGE]`. Errors are reported here, once. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cpu/cpu.h"
#include "firmware/acpi.h"
#include "devices/console.h"
#include "soft/soft.h"
#include "vmm/exits.h"
#include "vmm/policy.h"
#include "vmm/sandbox.h"
#include "kvm/kvm.h"
#include "vmm/vm.h"

#define TOLLBOOTH_VERSION "0.1.0"

/* The built-in guest (build/guests/demo.elf), linked in by src/loader/demo_guest.S. */
extern const u8 demo_guest_start[], demo_guest_end[];

struct run_options {
	const char *image; /* NULL: the built-in guest; --kernel or the IMAGE word */
	const char *initrd; /* --initrd, or NULL */
	const char *append;
	const struct backend_ops *backend; /* --accel */
	struct vm_kvm_levers kvm;	    /* --kvm-* */
	u64 mem_size;
	unsigned cpus; /* --cpus, -smp */
	int vcpu_threads; /* --vcpu-threads: 1 on, 0 off, -1 not given (run_guest decides) */
	bool full_exits;  /* --exit-path full */
	u64 halt_poll_ns; /* --halt-poll */
	bool stats;
	const char *stats_json, *trace; /* output files, or NULL */
	u64 trace_limit;		/* --trace-limit, bytes */
	unsigned stats_sample;		/* --stats-sample: one exit in N timed */
	bool tsc_virtual;
	u32 tsc_cpi;
	unsigned jit; /* compile threshold, 0 = interpret only (cpu_set_jit) */
	const char *vmx[16]; /* --vmx NAME=on|off[,...], applied in order */
	unsigned nr_vmx;
	bool debug_dump; /* --debug-dump */
	bool no_sandbox; /* --sandbox off */
	struct board_virtio_spec virtio[BOARD_MAX_VIRTIO]; /* --drive, --device, in order */
	unsigned nr_virtio;
	u32 machine;		  /* --machine: BOARD_MACHINE_MICRO or _PC */
	u32 devs_add, devs_remove; /* --device NAME, --no-device NAME: BIT(enum board_dev) */
	bool list_devices;	  /* --devices: print the inventory, run nothing */
	struct vm_watch watch;	  /* --watch ranges, --watch-method */
	bool watch_kernel;	  /* --watch kernel: the loaded image's text, once loaded */
};

static const char usage_main[] =
	"usage: tollbooth run [options] [IMAGE]\n"
	"       tollbooth kvm-ok\n"
	"       tollbooth --help | --version\n"
	"\n"
	"tollbooth is a hypervisor built around the VM exit. It runs multiboot v1 guests and Linux\n"
	"(bzImage or PVH) on a software x86-64 CPU (--accel soft); see `tollbooth run --help`.\n"
	"`tollbooth kvm-ok` says whether --accel kvm can run here (exit 0) or why not (exit 1).\n";

static const char usage_run[] =
	"usage: tollbooth run [options] [IMAGE]\n"
	"\n"
	"Boot IMAGE: a multiboot v1 kernel (ELF32, or any format with the header's address\n"
	"fields; the files `qemu-system-x86_64 -kernel` takes), a Linux bzImage (the x86 boot\n"
	"protocol, 64-bit entry) or an ELF kernel with a PVH entry note; the built-in demo guest\n"
	"when no IMAGE is given. Linux gets ACPI tables and an e820 map describing this PC. The\n"
	"guest's serial port (COM1, 0x3f8, Linux's ttyS0) is the terminal: Ctrl-A x quits.\n"
	"\n"
	"options:\n"
	"      --kernel FILE     the kernel, as the IMAGE word (QEMU's spelling)\n"
	"      --initrd FILE     Linux: the initial ramdisk (an initramfs cpio archive)\n"
	"  -m, --mem SIZE        guest RAM, with a K, M or G suffix; a plain number is MiB as in\n"
	"                        QEMU (default 128M, from 2M to 64G, a multiple of 4K)\n"
	"      --cpus N          vCPUs, 1 to 255 (default 1); QEMU's -smp N and -smp cpus=N\n"
	"                        are taken too. vCPU 0 boots; the others wait for INIT-SIPI\n"
	"                        from it (ACPI MADT lists them)\n"
	"      --vcpu-threads on|off\n"
	"                        soft: on, each vCPU on a host thread of its own, guest code in\n"
	"                        parallel (QEMU's -accel tcg,thread=multi; needs the host TSC\n"
	"                        and EPT); off, all in turn on one thread, deterministic. The\n"
	"                        default is on with more than one vCPU where it can be: off with\n"
	"                        --tsc virtual, --vmx ept=off or --watch. kvm: always on with\n"
	"                        more than one vCPU (each KVM_RUN holds its thread)\n"
	"      --exit-path fast|full\n"
	"                        soft: fast (default), CPUID, RDMSR/WRMSR and port I/O exits are\n"
	"                        handled inside the CPU's loop when nothing else waits; full,\n"
	"                        every exit returns to the run loop (the reference path)\n"
	"      --halt-poll NS    when every vCPU halts and a timer is due within NS nanoseconds,\n"
	"                        spin until it instead of sleeping: its interrupt comes on time\n"
	"                        (default 200000, KVM's halt_poll_ns; 0 = always sleep)\n"
	"  -a, --append CMDLINE  the kernel command line; a multiboot guest gets \"IMAGE CMDLINE\"\n"
	"                        in the multiboot information, as from QEMU and GRUB\n"
	"      --drive file=F[,readonly=on][,event-idx=off][,async=on]\n"
	"                        a virtio-blk disk backed by file F (Linux: vda, vdb, ...); a\n"
	"                        flush the guest asks for is an fdatasync; event-idx=off\n"
	"                        withholds VIRTIO_F_EVENT_IDX;\n"
	"                        async=on runs the queue from the run loop (at the host tick or\n"
	"                        when the guest idles), not inside the doorbell's exit\n"
	"  -M, --machine TYPE    micro (default: LAPICs, IOAPIC, COM1, fw_cfg, ACPI with its PM\n"
	"                        timer, reset and power-off, virtio; Firecracker's and QEMU\n"
	"                        microvm's set) or pc (adds the 8259A PICs, 8254 PIT, RTC/CMOS,\n"
	"                        i8042, HPET, PCI host bridge and port 0x92, for guests that\n"
	"                        need them); absent devices read as all ones (docs/security.md)\n"
	"      --device NAME     add one of the machine's optional devices: pic, pit, rtc, i8042,\n"
	"                        hpet, pci, port92, testdev (an MMIO test device at 0xfeb00000)\n"
	"                        or irqgen (interrupts from a host thread, at 0xfeb01000)\n"
	"      --no-device NAME  remove one of them\n"
	"      --watch RANGE[,RANGE...]  report every write to guest-physical RANGE (START-END,\n"
	"                        END inclusive, or START+SIZE; whole 4 KiB pages) or to the\n"
	"                        kernel's text (the word kernel; multiboot images) on stderr,\n"
	"                        with guest time and RIP: a kernel-integrity monitor over PML\n"
	"      --watch-method M  pml (default: EPT dirty flags and the page-modification log,\n"
	"                        no exit per write) or wp (EPT write protection, an exit per\n"
	"                        write: the older method, to compare; docs/security.md)\n"
	"      --devices         list the devices of the machine the other options describe:\n"
	"                        ports, MMIO ranges, interrupt lines and lines of device code a\n"
	"                        guest can reach; then exit without running a guest\n"
	"      --device KIND     add a virtio device: virtio-rng (from getrandom), virtio-console\n"
	"                        (Linux's hvc0; the terminal's input then goes to it, not COM1),\n"
	"                        virtio-net[,tap=IFNAME] (a TAP device; without one a network\n"
	"                        of the guest and a gateway at 10.0.2.2 that answers ARP and\n"
	"                        ping). Virtio devices are virtio-mmio, described in the ACPI\n"
	"                        DSDT; at most 8 in all (docs/virtio.md)\n"
	"      --accel ACCEL     soft (the software CPU, default) or kvm (/dev/kvm; its exits go\n"
	"                        through the same handlers and devices, docs/kvm.md)\n"
	"      --kvm-ioeventfd   kvm: writes to port 0x4f0 are a doorbell KVM completes in the\n"
	"                        kernel without an exit (counted by --stats)\n"
	"      --kvm-disable-exits LIST  kvm: let the guest run hlt,pause[,mwait,cstate]\n"
	"                        natively (KVM_CAP_X86_DISABLE_EXITS)\n"
	"      --kvm-irqchip WHERE  kvm: user (default: the VMM's PIC, IOAPIC and LAPICs) or\n"
	"                        kernel (KVM's, with GSI routing and irqfd)\n"
	"      --stats           at exit, print on stderr VM exits by reason, I/O by port, MMIO\n"
	"                        by address, MSRs and CPUID leaves, as `perf kvm stat report`\n"
	"                        does, with host time and modeled cycles (docs/telemetry.md);\n"
	"                        soft: also page walks and the block compiler's view (docs/cpu.md)\n"
	"      --stats-json FILE at exit, write the same statistics to FILE as JSON\n"
	"      --stats-sample N  time one exit in N, picked at random, after each reason's first\n"
	"                        16 (a power of two from 1, every exit, to 65536; default 16): the\n"
	"                        counts take every exit, each row's time is scaled from its timed\n"
	"                        ones; --trace times all\n"
	"      --trace FILE      write every VM exit to FILE as a Chrome trace (JSON; open it in\n"
	"                        Perfetto or chrome://tracing), with the instruction at RIP\n"
	"      --trace-limit SIZE  the trace file's largest size (default 256M, from 4K to 1T;\n"
	"                        a plain number is MiB): past it tracing stops with one note and\n"
	"                        the file stays valid JSON\n"
	"      --jit MODE        soft: compile hot blocks of 64-bit code to host code: on\n"
	"                        (default), off (interpret only) or eager (compile every block\n"
	"                        at its first run; for testing the compiler, docs/cpu.md)\n"
	"      --tsc MODE        the guest's TSC: host (default; follows the host TSC) or\n"
	"                        virtual[:CPI] (deterministic: CPI cycles per instruction, 1 by\n"
	"                        default, plus the modeled cost of each exit)\n"
	"      --vmx NAME=on|off[,NAME=on|off...]  switch one VT-x control of the VMM's policy\n"
	"                        (soft backend; docs/vmm.md); --vmx help lists them with\n"
	"                        their defaults and why\n"
	"      --debug-dump      when tollbooth stops the run on an exit it cannot handle, dump\n"
	"                        the exit record, the registers and the VMCS to stderr first\n"
	"                        (for a developer; the stop itself is always one line)\n"
	"      --sandbox on|off  on (default): once the guest is set up, a seccomp filter allows\n"
	"                        the VMM only the system calls a run needs; any other stops it\n"
	"                        (status 4, one line naming the call). off: no filter, for\n"
	"                        gdb, perf or valgrind (docs/security.md)\n"
	"  -h, --help            this text\n"
	"\n"
	"exit status:\n"
	"  (V << 1) | 1  the guest wrote V to port 0xf4 (QEMU's isa-debug-exit); always odd\n"
	"  0             the user quit with Ctrl-A x, the guest powered off (ACPI S5) or asked\n"
	"                for a reset (there is no firmware to restart: the run ends)\n"
	"  2             bad command line or image\n"
	"  4             tollbooth ended the run: the guest triple-faulted, halted for good or\n"
	"                made an exit tollbooth cannot handle, or tollbooth itself failed (no\n"
	"                memory for guest RAM) or the sandbox stopped a system call; one line\n"
	"                on stderr says which\n"
	"  128 + N       signal N (SIGINT, SIGTERM, SIGHUP) stopped the run; the statistics\n"
	"                and the trace are written first\n";

/* The one line for a mistake on the command line; returns the usage exit status. */
static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int usage_error(const char *fmt, ...)
{
	va_list ap;

	fputs("tollbooth: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs("\n", stderr);
	return EXIT_STATUS_USAGE;
}

/* KEY is "NAME=on" or "NAME=off": *value = on (or off, when `inverted`), true; else false. */
static bool parse_switch(const char *key, const char *name, bool inverted, bool *value)
{
	size_t n = strlen(name);

	if (strncmp(key, name, n) || key[n] != '=' ||
	    (strcmp(key + n + 1, "on") && strcmp(key + n + 1, "off")))
		return false;
	*value = !strcmp(key + n + 1, "on") != inverted;
	return true;
}

/* --drive file=F[,readonly=on|off][,event-idx=on|off][,async=on|off]: QEMU's -drive spelling. */
static int parse_drive(char *arg, struct board_virtio_spec *s)
{
	*s = (struct board_virtio_spec){ .kind = BOARD_VIRTIO_BLK };
	for (char *key = strtok(arg, ","); key; key = strtok(NULL, ",")) {
		if (!strncmp(key, "file=", 5) && key[5])
			s->file = key + 5;
		else if (!parse_switch(key, "readonly", false, &s->read_only) &&
			 !parse_switch(key, "event-idx", true, &s->no_event_idx) &&
			 !parse_switch(key, "async", false, &s->async))
			return usage_error("--drive: '%s' is not file=PATH, readonly=on|off, "
					   "event-idx=on|off or async=on|off",
					   key);
	}
	if (!s->file)
		return usage_error("--drive needs file=PATH (a disk image)");
	return 0;
}

/* --device virtio-rng | virtio-console | virtio-net[,tap=IFNAME] */
static int parse_device(char *arg, struct board_virtio_spec *s)
{
	char *kind = strtok(arg, ","), *key;

	if (!kind)
		kind = "";
	if (!strcmp(kind, "virtio-rng"))
		*s = (struct board_virtio_spec){ .kind = BOARD_VIRTIO_RNG };
	else if (!strcmp(kind, "virtio-console"))
		*s = (struct board_virtio_spec){ .kind = BOARD_VIRTIO_CONSOLE };
	else if (!strcmp(kind, "virtio-net"))
		*s = (struct board_virtio_spec){ .kind = BOARD_VIRTIO_NET };
	else
		return usage_error("--device '%s': give virtio-rng, virtio-console or "
				   "virtio-net[,tap=IFNAME] (disks: --drive)",
				   kind);
	while ((key = strtok(NULL, ","))) {
		if (s->kind == BOARD_VIRTIO_NET && !strncmp(key, "tap=", 4) && key[4])
			s->tap = key + 4;
		else
			return usage_error("--device %s: unknown option '%s'", kind, key);
	}
	return 0;
}

/* --watch START-END | START+SIZE | kernel [,...]: numbers in C syntax (0x... hex). */
static int parse_watch(char *arg, struct run_options *o)
{
	for (char *item = strtok(arg, ","); item; item = strtok(NULL, ",")) {
		unsigned long long a, b;
		char *end, why[160];
		bool plus;

		if (!strcmp(item, "kernel")) {
			o->watch_kernel = true;
			continue;
		}
		errno = 0;
		a = strtoull(item, &end, 0);
		plus = *end == '+';
		if (end == item || (*end != '-' && !plus) || errno)
			return usage_error("--watch '%s': give START-END, START+SIZE (guest-physical, "
					   "e.g. 0x100000-0x1fffff) or kernel",
					   item);
		b = strtoull(end + 1, &end, 0);
		if (*end || errno || (plus && (!b || a + b - 1 < a)))
			return usage_error("--watch '%s': give START-END, START+SIZE (guest-physical, "
					   "e.g. 0x100000-0x1fffff) or kernel",
					   item);
		if (watch_add(&o->watch, a, plus ? a + b - 1 : b, why, sizeof(why)))
			return usage_error("--watch '%s': %s", item, why);
	}
	return 0;
}

/* --device NAME / --no-device NAME for one of the board's optional devices: its bit into *set;
   otherwise one line naming what is wrong. */
static int parse_board_device(const char *option, const char *name, u32 *set)
{
	int d = board_dev_by_name(name);

	if (d == -ENOENT)
		return usage_error("%s %s: every machine has the %s; only these can be added or "
				   "removed: %s",
				   option, name, name, board_dev_names());
	if (d < 0)
		return usage_error("%s '%s': no such device; give one of %s%s", option, name,
				   board_dev_names(),
				   strcmp(option, "--device") ? "" : ", or a virtio device");
	*set |= BIT(d);
	return 0;
}

/* QEMU's -m syntax: NUMBER[K|M|G], a plain number meaning MiB; from `min` to `max` bytes. */
static int parse_size(const char *arg, u64 min, u64 max, u64 *size)
{
	unsigned long long n;
	char *end;
	int shift = 20;

	errno = 0;
	if (arg[0] < '0' || arg[0] > '9')
		return -EINVAL;
	n = strtoull(arg, &end, 10);
	if (errno)
		return -ERANGE;
	switch (*end) {
	case 'k':
	case 'K':
		shift = 10, end++;
		break;
	case 'm':
	case 'M':
		end++;
		break;
	case 'g':
	case 'G':
		shift = 30, end++;
		break;
	}
	if (*end)
		return -EINVAL;
	if (n > (max >> shift) || (n << shift) < min)
		return -ERANGE;
	*size = (u64)n << shift;
	return 0;
}

/* --cpus N, or QEMU's -smp N / -smp cpus=N[,maxcpus=N]: 0, or -EINVAL. Topology keys (sockets,
   cores, threads) are refused: every vCPU is its own package here. */
static int parse_cpus(const char *arg, unsigned *cpus)
{
	char buf[64], *save = NULL, *tok;
	unsigned long n = 0, max = 0;

	if (strlen(arg) >= sizeof(buf))
		return -EINVAL;
	strcpy(buf, arg);
	for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		unsigned long *to = &n;
		char *end;

		if (!strncmp(tok, "cpus=", 5))
			tok += 5;
		else if (!strncmp(tok, "maxcpus=", 8))
			tok += 8, to = &max;
		else if (tok != buf)
			return -EINVAL;
		if (*tok < '0' || *tok > '9')
			return -EINVAL;
		errno = 0;
		*to = strtoul(tok, &end, 10);
		if (errno || *end)
			return -EINVAL;
	}
	if (n < 1 || n > VM_MAX_VCPUS || (max && max != n))
		return -EINVAL;
	*cpus = (unsigned)n;
	return 0;
}

static int parse_mem_size(const char *arg, u64 *size)
{
	int err = parse_size(arg, VM_MEM_MIN, VM_MEM_MAX, size);

	return err ? err : *size % 4096 ? -EINVAL : 0;
}

/* --trace-limit: the trace file's largest size; 1T is far more than any viewer opens. */
#define TRACE_LIMIT_MAX (1ull << 40)

/* --tsc host | virtual[:CPI], CPI a whole number of cycles per instruction. */
#define TSC_CPI_MAX 1000

static int parse_tsc(const char *arg, struct run_options *o)
{
	unsigned long cpi = 1;
	char *end;

	if (!strcmp(arg, "host")) {
		o->tsc_virtual = false;
		return 0;
	}
	if (strncmp(arg, "virtual", 7) || (arg[7] && arg[7] != ':'))
		return -EINVAL;
	if (arg[7] == ':') {
		if (arg[8] < '0' || arg[8] > '9')
			return -EINVAL;
		errno = 0;
		cpi = strtoul(arg + 8, &end, 10);
		if (errno || *end || cpi < 1 || cpi > TSC_CPI_MAX)
			return -EINVAL;
	}
	o->tsc_virtual = true;
	o->tsc_cpi = (u32)cpi;
	return 0;
}

/* 0, or an exit status after printing the one line that says what is wrong. */
static int parse_run_options(int argc, char **argv, struct run_options *o)
{
	enum { OPT_ACCEL = 256, OPT_STATS, OPT_STATS_JSON, OPT_TRACE, OPT_TSC, OPT_JIT,
	       OPT_TRACE_LIMIT, OPT_STATS_SAMPLE };
	enum { OPT_KVM_IOEVENTFD = 512, OPT_KVM_DISABLE_EXITS, OPT_KVM_IRQCHIP };
	enum { OPT_VMX = 768, OPT_DEBUG_DUMP, OPT_KERNEL, OPT_INITRD, OPT_DRIVE, OPT_DEVICE,
	       OPT_CPUS, OPT_HALT_POLL, OPT_NO_DEVICE, OPT_DEVICES, OPT_WATCH, OPT_WATCH_METHOD,
	       OPT_SANDBOX, OPT_VCPU_THREADS, OPT_EXIT_PATH };
	static const struct option longopts[] = {
		{ "mem", required_argument, NULL, 'm' },
		{ "cpus", required_argument, NULL, OPT_CPUS },
		{ "halt-poll", required_argument, NULL, OPT_HALT_POLL },
		{ "vcpu-threads", required_argument, NULL, OPT_VCPU_THREADS },
		{ "exit-path", required_argument, NULL, OPT_EXIT_PATH },
		{ "smp", required_argument, NULL, OPT_CPUS }, /* QEMU's -smp, rewritten below */
		{ "append", required_argument, NULL, 'a' },
		{ "accel", required_argument, NULL, OPT_ACCEL },
		{ "kvm-ioeventfd", no_argument, NULL, OPT_KVM_IOEVENTFD },
		{ "kvm-disable-exits", required_argument, NULL, OPT_KVM_DISABLE_EXITS },
		{ "kvm-irqchip", required_argument, NULL, OPT_KVM_IRQCHIP },
		{ "stats", no_argument, NULL, OPT_STATS },
		{ "stats-json", required_argument, NULL, OPT_STATS_JSON },
		{ "stats-sample", required_argument, NULL, OPT_STATS_SAMPLE },
		{ "trace", required_argument, NULL, OPT_TRACE },
		{ "trace-limit", required_argument, NULL, OPT_TRACE_LIMIT },
		{ "tsc", required_argument, NULL, OPT_TSC },
		{ "jit", required_argument, NULL, OPT_JIT },
		{ "vmx", required_argument, NULL, OPT_VMX },
		{ "debug-dump", no_argument, NULL, OPT_DEBUG_DUMP },
		{ "sandbox", required_argument, NULL, OPT_SANDBOX },
		{ "kernel", required_argument, NULL, OPT_KERNEL },
		{ "initrd", required_argument, NULL, OPT_INITRD },
		{ "drive", required_argument, NULL, OPT_DRIVE },
		{ "device", required_argument, NULL, OPT_DEVICE },
		{ "no-device", required_argument, NULL, OPT_NO_DEVICE },
		{ "devices", no_argument, NULL, OPT_DEVICES },
		{ "watch", required_argument, NULL, OPT_WATCH },
		{ "watch-method", required_argument, NULL, OPT_WATCH_METHOD },
		{ "machine", required_argument, NULL, 'M' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	bool trace_limit_given = false;
	const char *word;
	int c, at;

	*o = (struct run_options){ .append = "", .mem_size = VM_MEM_DEFAULT, .cpus = 1,
				    .vcpu_threads = -1,
				    .halt_poll_ns = VM_HALT_POLL_DEFAULT_NS, .tsc_cpi = 1,
				    .jit = CPU_JIT_THRESHOLD,
				    .trace_limit = STATS_TRACE_LIMIT_DEFAULT,
				    .stats_sample = STATS_SAMPLE_DEFAULT };
	opterr = 0;
	/* QEMU spells it -smp; getopt would read '-s' '-m' 'p'. */
	for (int i = 1; i < argc && strcmp(argv[i], "--"); i++)
		if (!strcmp(argv[i], "-smp"))
			argv[i] = (char *)"--smp";
	/*
	 * "-" first: words that are not options come back in order as c == 1 (IMAGE), so getopt
	 * never permutes argv and the word it is working on is always argv[at], the optind before
	 * the call, even inside a cluster of short options ("-smp" is '-s' of argv[at]).
	 */
	for (at = optind; (c = getopt_long(argc, argv, "-:m:a:hM:", longopts, NULL)) != -1;
	     at = optind) {
		word = argv[at];
		switch (c) {
		case OPT_KERNEL:
		case 1:
			if (o->image)
				return usage_error("more than one IMAGE given ('%s' is extra); see "
						   "tollbooth run --help",
						   optarg);
			o->image = optarg;
			break;
		case 'm':
			if (parse_mem_size(optarg, &o->mem_size))
				return usage_error("--mem '%s': use a size from 2M to 64G, a "
						   "multiple of 4K, such as 256M or 1G",
						   optarg);
			break;
		case OPT_CPUS:
			if (parse_cpus(optarg, &o->cpus))
				return usage_error("%s '%s': use a number of vCPUs from 1 to %d (QEMU's "
						   "-smp N or cpus=N also works)",
						   strcmp(word, "--smp") ? word : "-smp", optarg,
						   VM_MAX_VCPUS);
			break;
		case OPT_HALT_POLL: {
			char *end;
			errno = 0;
			o->halt_poll_ns = strtoull(optarg, &end, 10);
			if (errno || end == optarg || *end || *optarg == '-' ||
			    o->halt_poll_ns > 1000000000ull)
				return usage_error("--halt-poll '%s': use nanoseconds from 0 (off) to "
						   "1000000000, such as 200000 (the default)",
						   optarg);
			break;
		}
		case 'a':
			if (strlen(optarg) > MBI_CMDLINE_MAX)
				return usage_error("--append: longer than %d bytes",
						   MBI_CMDLINE_MAX);
			o->append = optarg;
			break;
		case OPT_ACCEL:
			if (strcmp(optarg, "soft") && strcmp(optarg, "kvm"))
				return usage_error("--accel '%s': unknown accelerator; use soft or "
						   "kvm",
						   optarg);
			o->backend = strcmp(optarg, "kvm") ? &backend_soft : &backend_kvm;
			break;
		case OPT_KVM_IOEVENTFD:
			o->kvm.ioeventfd = true;
			break;
		case OPT_KVM_DISABLE_EXITS:
			if (kvm_parse_disable_exits(optarg, &o->kvm.disable_exits))
				return usage_error("--kvm-disable-exits '%s': use a comma-"
						   "separated list of hlt, pause, mwait, "
						   "cstate",
						   optarg);
			break;
		case OPT_KVM_IRQCHIP:
			if (strcmp(optarg, "kernel") && strcmp(optarg, "user"))
				return usage_error("--kvm-irqchip '%s': use kernel or user",
						   optarg);
			o->kvm.irqchip = !strcmp(optarg, "kernel");
			break;
		case OPT_STATS:
			o->stats = true;
			break;
		case OPT_STATS_JSON:
		case OPT_TRACE:
			if (!*optarg)
				return usage_error("%s needs a file name",
						   c == OPT_TRACE ? "--trace" : "--stats-json");
			*(c == OPT_TRACE ? &o->trace : &o->stats_json) = optarg;
			break;
		case OPT_STATS_SAMPLE: {
			char *end;
			unsigned long n;

			errno = 0;
			n = strtoul(optarg, &end, 10);
			if (errno || end == optarg || *end || *optarg == '-' || n > UINT32_MAX ||
			    !stats_sample_valid((u32)n))
				return usage_error("--stats-sample '%s': use a power of two from 1 (time "
						   "every exit) to %d, such as %d (the default)",
						   optarg, STATS_SAMPLE_MAX, STATS_SAMPLE_DEFAULT);
			o->stats_sample = (unsigned)n;
			break;
		}
		case OPT_TRACE_LIMIT:
			if (parse_size(optarg, STATS_TRACE_LIMIT_MIN, TRACE_LIMIT_MAX,
				       &o->trace_limit))
				return usage_error("--trace-limit '%s': use a size from 4K to 1T, "
						   "such as 64M or 2G (a plain number is MiB)",
						   optarg);
			trace_limit_given = true;
			break;
		case OPT_TSC:
			if (parse_tsc(optarg, o))
				return usage_error("--tsc '%s': use host, virtual or virtual:CPI with "
						   "CPI from 1 to %d",
						   optarg, TSC_CPI_MAX);
			break;
		case OPT_JIT:
			if (!strcmp(optarg, "on"))
				o->jit = CPU_JIT_THRESHOLD;
			else if (!strcmp(optarg, "off"))
				o->jit = 0;
			else if (!strcmp(optarg, "eager"))
				o->jit = 1;
			else
				return usage_error("--jit '%s': use on, off or eager", optarg);
			break;
		case OPT_VMX:
			if (!strcmp(optarg, "help")) {
				vmm_policy_help(stdout);
				exit(0);
			}
			if (o->nr_vmx == ARRAY_SIZE(o->vmx))
				return usage_error("--vmx: at most %zu options; join the switches "
						   "with commas",
						   ARRAY_SIZE(o->vmx));
			o->vmx[o->nr_vmx++] = optarg;
			break;
		case OPT_DEBUG_DUMP:
			o->debug_dump = true;
			break;
		case OPT_SANDBOX:
			if (strcmp(optarg, "on") && strcmp(optarg, "off"))
				return usage_error("--sandbox '%s': use on or off", optarg);
			o->no_sandbox = !strcmp(optarg, "off");
			break;
		case OPT_VCPU_THREADS:
			if (strcmp(optarg, "on") && strcmp(optarg, "off"))
				return usage_error("--vcpu-threads '%s': use on or off", optarg);
			o->vcpu_threads = !strcmp(optarg, "on") ? 1 : 0;
			break;
		case OPT_EXIT_PATH:
			if (strcmp(optarg, "fast") && strcmp(optarg, "full"))
				return usage_error("--exit-path '%s': use fast or full", optarg);
			o->full_exits = !strcmp(optarg, "full");
			break;
		case OPT_INITRD:
			if (!*optarg)
				return usage_error("--initrd needs a file name");
			o->initrd = optarg;
			break;
		case OPT_WATCH:
			if (parse_watch(optarg, o))
				return EXIT_STATUS_USAGE;
			break;
		case OPT_WATCH_METHOD:
			if (strcmp(optarg, "pml") && strcmp(optarg, "wp"))
				return usage_error("--watch-method '%s': use pml or wp", optarg);
			o->watch.wp = !strcmp(optarg, "wp");
			break;
		case 'M':
			if (!strcmp(optarg, "micro") || !strcmp(optarg, "microvm"))
				o->machine = BOARD_MACHINE_MICRO;
			else if (!strcmp(optarg, "pc"))
				o->machine = BOARD_MACHINE_PC;
			else
				return usage_error("--machine '%s': use micro or pc", optarg);
			break;
		case OPT_NO_DEVICE:
			if (parse_board_device("--no-device", optarg, &o->devs_remove))
				return EXIT_STATUS_USAGE;
			break;
		case OPT_DEVICES:
			o->list_devices = true;
			break;
		case OPT_DRIVE:
		case OPT_DEVICE: {
			int err;
			if (c == OPT_DEVICE && strncmp(optarg, "virtio-", 7)) {
				if (parse_board_device("--device", optarg, &o->devs_add))
					return EXIT_STATUS_USAGE;
				break;
			}
			if (o->nr_virtio == BOARD_MAX_VIRTIO)
				return usage_error("%s: at most %d virtio devices (--drive and --device "
						   "together)",
						   word, BOARD_MAX_VIRTIO);
			err = c == OPT_DRIVE ? parse_drive(optarg, &o->virtio[o->nr_virtio])
					     : parse_device(optarg, &o->virtio[o->nr_virtio]);
			if (err)
				return err;
			o->nr_virtio++;
			break;
		}
		case 'h':
			fputs(usage_run, stdout);
			exit(0);
		case ':':
			return usage_error("%s needs a value; see tollbooth run --help", word);
		default:
			return usage_error("unknown option '%s'; see tollbooth run --help", word);
		}
	}
	if (o->initrd && !o->image)
		return usage_error("--initrd needs a Linux kernel: give --kernel FILE");
	if (o->devs_add & o->devs_remove)
		return usage_error("--device %s and --no-device %s: give one of them",
				   board_dev_name(__builtin_ctz(o->devs_add & o->devs_remove)),
				   board_dev_name(__builtin_ctz(o->devs_add & o->devs_remove)));
	if (trace_limit_given && !o->trace)
		return usage_error("--trace-limit needs --trace FILE");
	if (!o->backend)
		o->backend = &backend_soft;
	/* A vCPU inside KVM_RUN keeps its thread until it exits: a guest spinning on a peer
	   would never let the one-thread loop run that peer. */
	if (o->vcpu_threads == 0 && o->backend == &backend_kvm && o->cpus > 1)
		return usage_error("--accel kvm with --cpus %u needs --vcpu-threads on (a vCPU in "
				   "KVM_RUN holds the one thread until it exits)",
				   o->cpus);
	if (o->vcpu_threads == 1 && o->tsc_virtual)
		return usage_error("--vcpu-threads on needs --tsc host: a virtual TSC counts one "
				   "thread's instructions (the deterministic mode is --vcpu-threads off)");
	if (o->backend != &backend_kvm &&
	    (o->kvm.ioeventfd || o->kvm.disable_exits || o->kvm.irqchip))
		return usage_error("the --kvm-* options need --accel kvm");
	if (o->backend == &backend_kvm) {
		char msg[256];

		/* No KVM, or no permission: one line, the usage status (docs/kvm.md). */
		if (kvm_probe(msg, sizeof(msg)))
			return usage_error("%s", msg);
	}
	/* Words after "--" are not options: IMAGE, if not given before. */
	if (optind < argc && !o->image)
		o->image = argv[optind++];
	if (optind < argc)
		return usage_error("more than one IMAGE given ('%s' is extra); see tollbooth run "
				   "--help",
				   argv[optind]);
	return 0;
}

/* The whole image in memory; 0 or an exit status after one line naming the file. */
static int read_image(const char *path, u8 **image, size_t *size)
{
	struct stat st;
	ssize_t n;
	int fd;

	/*
	 * O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer, before fstat()
	 * could refuse it (POSIX open(), O_NONBLOCK). Reads of a regular file never block anyway.
	 */
	fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	if (fd < 0) {
		fprintf(stderr, "tollbooth: %s: cannot open: %s\n", path, strerror(errno));
		return EXIT_STATUS_USAGE;
	}
	if (fstat(fd, &st) || !S_ISREG(st.st_mode)) {
		fprintf(stderr,
			"tollbooth: %s: not a regular file; give a kernel image (or an initrd)\n", path);
		close(fd);
		return EXIT_STATUS_USAGE;
	}
	if ((u64)st.st_size > VM_MEM_MAX) {
		fprintf(stderr, "tollbooth: %s: %lld bytes is larger than any guest RAM\n", path,
			(long long)st.st_size);
		close(fd);
		return EXIT_STATUS_USAGE;
	}
	*size = (size_t)st.st_size;
	*image = malloc(*size ? *size : 1);
	if (!*image) {
		close(fd);
		fprintf(stderr, "tollbooth: %s: no memory to read it\n", path);
		return EXIT_STATUS_STOPPED;
	}
	for (size_t done = 0; done < *size; done += (size_t)n) {
		n = read(fd, *image + done, *size - done);
		if (n <= 0) {
			fprintf(stderr, "tollbooth: %s: read failed: %s\n", path,
				n ? strerror(errno) : "file shrank while reading");
			close(fd);
			return EXIT_STATUS_USAGE;
		}
	}
	close(fd);
	return 0;
}

static void quit_by_user(void *opaque)
{
	vm_request_stop(opaque, 0, "terminated by Ctrl-A x");
}

/* The run that SIGINT, SIGTERM and SIGHUP end cleanly; NULL when there is none. */
static struct vm *volatile signal_vm;

/*
 * Ctrl-C, `kill`, `timeout`, a closed terminal: the run stops at the vCPU's next exit, which the
 * backend's kick brings about at once, and the statistics and the trace are written as at any
 * other end (vm_signal_stop). A second signal while that stop is pending, or one outside a run,
 * kills as the default action would, the terminal restored first.
 */
static void stop_on_signal(int sig)
{
	struct vm *vm = signal_vm;

	if (vm && !vm->stop_signal) {
		vm_signal_stop(vm, sig);
		return;
	}
	console_die_of_signal(sig);
}

static void stop_signals_install(struct vm *vm)
{
	static const int sigs[] = { SIGINT, SIGTERM, SIGHUP };
	struct sigaction sa = { .sa_handler = stop_on_signal, .sa_flags = SA_RESTART };

	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < ARRAY_SIZE(sigs); i++)
		sigaddset(&sa.sa_mask, sigs[i]);
	signal_vm = vm;
	for (size_t i = 0; i < ARRAY_SIZE(sigs); i++)
		sigaction(sigs[i], &sa, NULL);
}

/* An output file of an option, created (or truncated) before the run: 0 or the usage status. */
static int open_output(const char *option, const char *path, FILE **f)
{
	*f = NULL;
	if (!path)
		return 0;
	*f = fopen(path, "w");
	/* Its buffer now: stdio would fstat the file for one at its first write, which comes
	   under the sandbox (--stats-json writes only at the end). */
	if (*f && !setvbuf(*f, NULL, _IOFBF, 0))
		return 0;
	if (*f) {
		fclose(*f);
		*f = NULL;
		errno = ENOMEM;
	}
	fprintf(stderr, "tollbooth: %s '%s': cannot write: %s\n", option, path, strerror(errno));
	return EXIT_STATUS_USAGE;
}

/* The statistics files at the end of the run; a failure is reported, the status stays. */
static void finish_outputs(const struct run_options *o, struct vm *vm, FILE *json)
{
	int err = stats_trace_finish(&vm->stats);
	bool in_mib = !(o->trace_limit % (1 << 20));

	if (err)
		fprintf(stderr, "tollbooth: --trace '%s': write failed: %s; the trace is incomplete\n",
			o->trace, strerror(-err));
	else if (vm->stats.trace_full)
		fprintf(stderr,
			"tollbooth: --trace '%s': stopped at --trace-limit %llu%s after %llu exits; "
			"the statistics count all %llu (a larger --trace-limit keeps more)\n",
			o->trace, (unsigned long long)(o->trace_limit >> (in_mib ? 20 : 10)),
			in_mib ? "M" : "K",
			(unsigned long long)vm->stats.trace_events,
			(unsigned long long)vm->stats.total);
	if (!json)
		return;
	err = stats_write_json(&vm->stats, json, vm->pio.unclaimed_reads,
			       vm->pio.unclaimed_writes);
	if (fclose(json) && !err)
		err = -errno;
	if (err)
		fprintf(stderr, "tollbooth: --stats-json '%s': write failed: %s\n", o->stats_json,
			strerror(-err));
}

/* One NAME=on|off of --vmx: 0 or the usage status after one line. */
static int apply_vmx_switch(struct vm *vm, char *item)
{
	char *eq = strchr(item, '=');
	bool on = eq && !strcmp(eq + 1, "on");
	int err;

	if (!eq || (!on && strcmp(eq + 1, "off")))
		return usage_error("--vmx '%s': use NAME=on or NAME=off; --vmx help lists them",
				   item);
	*eq = 0;
	err = vmm_policy_set(vm, item, on);
	if (err == -ENOENT)
		return usage_error("--vmx: unknown control '%s'; --vmx help lists them", item);
	if (err)
		return usage_error("--vmx %s=%s: the VT-x model cannot do this (its capability "
				   "MSRs do not allow it)",
				   item, on ? "on" : "off");
	return 0;
}

/* --vmx NAME=on|off,...: set the VM's policy switches before vm_create(); 0 or exit status. */
static int apply_vmx_switches(struct vm *vm, const struct run_options *o)
{
	char msg[160];

	for (unsigned i = 0; i < o->nr_vmx; i++) {
		char *list = strdup(o->vmx[i]), *save = NULL, *item;
		int status = 0;

		if (!list) {
			fputs("tollbooth: no memory for the --vmx list\n", stderr);
			return EXIT_STATUS_STOPPED;
		}
		for (item = strtok_r(list, ",", &save); item && !status;
		     item = strtok_r(NULL, ",", &save))
			status = apply_vmx_switch(vm, item);
		free(list);
		if (status)
			return status;
	}
	/* The policy's RAM rule, before vm_create() sets the size it checks. */
	vm->ram_size = o->mem_size;
	if (vmm_policy_check(vm, msg, sizeof(msg)))
		return usage_error("%s", msg);
	vm->ram_size = 0;
	return 0;
}

/*
 * The boot plan for IMAGE: a multiboot v1 kernel, else a Linux bzImage (the x86 boot protocol),
 * else an ELF kernel with a PVH entry, tried in that order (each says -ENOEXEC when the image is
 * not its kind). Linux kernels get the board's e820 table and ACPI tables (board_install_firmware
 * puts them in RAM) and the initrd. 0, or negative errno with plan->error set.
 */
static int load_guest(const struct run_options *o, const u8 *image, size_t size, const u8 *initrd,
		      size_t initrd_size, struct boot_plan *plan)
{
	static char cmdline[MBI_CMDLINE_MAX + 2];
	static struct e820_entry e820[E820_MAX_ENTRIES];
	struct boot_config cfg;
	int err, n;

	/* As QEMU and GRUB do, the image's name is the first word (kvm-unit-tests' argv[0]). */
	snprintf(cmdline, sizeof(cmdline), "%s %s", o->image ? o->image : "demo", o->append);
	err = multiboot_load(image, size, cmdline, o->mem_size, plan);
	if (err != -ENOEXEC) {
		if (!err && o->initrd) {
			snprintf(plan->error, sizeof(plan->error),
				 "a multiboot kernel, which takes no --initrd (that is for Linux)");
			return -EINVAL;
		}
		return err;
	}
	n = board_e820(o->mem_size, e820, E820_MAX_ENTRIES);
	if (n < 0) {
		snprintf(plan->error, sizeof(plan->error), "no memory map for --mem: %s",
			 strerror(-n));
		return n;
	}
	cfg = (struct boot_config){
		.cmdline = o->append,
		.mem_size = o->mem_size,
		.e820 = e820,
		.nr_e820 = (unsigned)n,
		.rsdp_addr = ACPI_TABLES_BASE,
		.initrd = initrd,
		.initrd_size = initrd_size,
	};
	err = linux_load(image, size, &cfg, plan);
	if (err == -ENOEXEC)
		err = pvh_load(image, size, &cfg, plan);
	if (err == -ENOEXEC)
		snprintf(plan->error, sizeof(plan->error),
			 "not a kernel tollbooth can boot: give a multiboot v1 image (magic "
			 "0x1badb002, as for qemu -kernel), a Linux bzImage or an ELF kernel with a "
			 "PVH entry note");
	return err;
}

/* A run that ends before the guest starts: the output files closed, the VM freed; `status`. */
static int run_abandon(struct vm *vm, FILE *json, FILE *trace, int status)
{
	if (json)
		fclose(json);
	if (trace)
		fclose(trace);
	vm_destroy(vm);
	return status;
}

static int run_guest(const struct run_options *o, const u8 *image, size_t size, const u8 *initrd,
		     size_t initrd_size)
{
	FILE *json, *trace;
	const char *name = o->image ? o->image : "built-in demo guest";
	static const struct uart_host console = {
		.tx = console_write_byte,
		.rx = console_read_bytes,
	};
	static struct boot_plan plan;
	static struct vm vm;
	int err, status;

	err = load_guest(o, image, size, initrd, initrd_size, &plan);
	if (err) {
		fprintf(stderr, "tollbooth: %s: %s\n", name, plan.error);
		return EXIT_STATUS_USAGE;
	}
	status = apply_vmx_switches(&vm, o);
	if (status)
		return status;
	/* Like the policy, set before vm_create(): the soft backend reads them in vcpu_create. */
	vm.tsc_virtual = o->tsc_virtual;
	vm.tsc_cpi = o->tsc_cpi;
	vm.jit = o->jit ? (int)o->jit : -1;
	vm.jit_stats = o->stats;
	vm.debug_dump = o->debug_dump;
	vm.nr_vcpus = o->cpus;
	vm.threaded = o->vcpu_threads == 1;
	vm.fast_exits = !o->full_exits;
	vm.halt_poll_ns = o->halt_poll_ns;
	vm.devs = (o->machine | o->devs_add) & ~o->devs_remove;
	vm.watch = o->watch;
	if (o->watch_kernel) {
		char why[160];

		if (plan.text_end <= plan.text_start) {
			fprintf(stderr, "tollbooth: --watch kernel: %s: the loader cannot tell where its "
					"text is (a Linux kernel decompresses itself); give the range, "
					"e.g. System.map's _text-_etext as physical addresses\n",
				name);
			return EXIT_STATUS_USAGE;
		}
		if (watch_add(&vm.watch, plan.text_start, plan.text_end - 1, why, sizeof(why))) {
			fprintf(stderr, "tollbooth: --watch kernel (%#llx-%#llx): %s\n",
				(unsigned long long)plan.text_start,
				(unsigned long long)plan.text_end - 1, why);
			return EXIT_STATUS_USAGE;
		}
	}
	/* PML only for the pml method; both need EPT's A/D flags and 4 KiB leaves (policy.c). */
	if (vm.watch.nr && !vmm_policy_on(&vm, VMM_EPT)) {
		fprintf(stderr, "tollbooth: --watch needs EPT (its dirty flags and PML, or its write "
				"protection): drop --vmx ept=off\n");
		return EXIT_STATUS_USAGE;
	}
	if (vm.watch.nr && !vm.watch.wp && vmm_policy_set(&vm, "pml", true))
		return EXIT_STATUS_USAGE;
	/* Shadow paging write-protects a guest page table and flushes the other vCPUs' TLBs
	   before their next entry, and the watch drains every vCPU's PML log: both assume the
	   other vCPUs are not running (KVM waits for them with a flush IPI; not done yet). */
	if (vm.threaded && !vmm_policy_on(&vm, VMM_EPT)) {
		fprintf(stderr, "tollbooth: --vcpu-threads on needs EPT: shadow paging (--vmx "
				"ept=off) runs its vCPUs on one thread\n");
		return EXIT_STATUS_USAGE;
	}
	if (vm.threaded && vm.watch.nr) {
		fprintf(stderr, "tollbooth: --vcpu-threads on and --watch: the watch drains every "
				"vCPU's log, which needs them on one thread; drop one of them\n");
		return EXIT_STATUS_USAGE;
	}
	/* --vcpu-threads not given: a host thread per vCPU wherever it works (issue 13), else the
	   one-thread loop, deterministic: one vCPU, --tsc virtual, shadow paging, --watch. kvm
	   with more than one vCPU: always threads (checked above). */
	if (o->vcpu_threads < 0)
		vm.threaded = o->cpus > 1 &&
			      (o->backend == &backend_kvm ||
			       (!o->tsc_virtual && vmm_policy_on(&vm, VMM_EPT) && !vm.watch.nr));
	status = open_output("--stats-json", o->stats_json, &json);
	if (!status)
		status = open_output("--trace", o->trace, &trace);
	if (status) {
		if (json)
			fclose(json);
		return status;
	}
	vm.kvm = o->kvm;
	err = vm_create(&vm, o->mem_size, o->backend, &console);
	if (!err)
		err = vm_load_boot_plan(&vm, &plan);
	for (unsigned i = 0; !err && i < o->nr_virtio; i++) {
		char why[512];
		err = board_add_virtio(&vm, &o->virtio[i], why, sizeof(why));
		if (err) {
			/* The user's device (a file that cannot be opened, a TAP that does not
			   exist): one line naming it, status 2 as for any bad argument. */
			fprintf(stderr, "tollbooth: %s\n", why);
			return run_abandon(&vm, json, trace, EXIT_STATUS_USAGE);
		}
	}
	if (!err)
		err = board_install_firmware(&vm);
	if (err && vm.stop_msg[0]) {
		/* What the backend found missing (a --kvm-* lever this KVM lacks): its line. */
		fprintf(stderr, "tollbooth: %s\n", vm.stop_msg);
		return run_abandon(&vm, json, trace, vm.exit_status);
	}
	if (err) {
		fprintf(stderr, "tollbooth: cannot create the VM (%lluM of RAM, %s backend): %s\n",
			(unsigned long long)(o->mem_size >> 20), o->backend->name, strerror(-err));
		return run_abandon(&vm, json, trace, EXIT_STATUS_STOPPED);
	}
	if (o->list_devices) {
		board_print_inventory(&vm, stdout);
		return run_abandon(&vm, json, trace, 0);
	}
	{
		char why[256];

		/* After the guest and the firmware tables are in RAM: their writes are not
		   the guest's. */
		if (watch_start(&vm, why, sizeof(why))) {
			fprintf(stderr, "tollbooth: %s\n", why);
			return run_abandon(&vm, json, trace, EXIT_STATUS_USAGE);
		}
	}
	stats_set_sample(&vm.stats, o->stats_sample); /* checked when parsed */
	if (trace)
		stats_trace_start(&vm.stats, trace, o->trace_limit);
	stop_signals_install(&vm);
	console_open(quit_by_user, &vm);
	{
		char why[256];

		/* Before the sandbox, which refuses clone. */
		if (vm_threads_prepare(&vm, why, sizeof(why)))
			vm_request_stop(&vm, EXIT_STATUS_STOPPED, "%s", why);
	}
	if (!o->no_sandbox) {
		struct sandbox_config sc = { .kvm = o->backend == &backend_kvm,
					     .on_stop = console_restore_terminal };
		char why[256];

		/* Setup is over: every file, TAP and output is open, the vCPUs exist. The guest
		   does not run outside the sandbox it was asked to run in. */
		if (sandbox_enter(&sc, why, sizeof(why)))
			vm_request_stop(&vm, EXIT_STATUS_STOPPED, "%s", why);
	}
	status = vm.stop ? vm.exit_status : vm_run(&vm);
	watch_drain(&vm); /* writes logged since the last drain */
	console_close();
	if (vm.stop_msg[0])
		fprintf(stderr, "tollbooth: %s\n", vm.stop_msg);
	if (o->stats) {
		board_print_devices_line(&vm, stderr);
		stats_print(&vm.stats, stderr, vm.pio.unclaimed_reads, vm.pio.unclaimed_writes);
		fprintf(stderr, "Unclaimed MMIO reads: %llu, writes: %llu\n",
			(unsigned long long)vm.mmio.unclaimed_reads,
			(unsigned long long)vm.mmio.unclaimed_writes);
		kvm_print_kernel_stats(&vm.vcpus[0], stderr);
		board_virtio_print_stats(&vm, stderr);
		vm_print_vcpu_stats(&vm, stderr);
		if (vm.backend->print_stats)
			vm.backend->print_stats(&vm, stderr);
		watch_print_stats(&vm, stderr);
	}
	finish_outputs(o, &vm, json);
	signal_vm = NULL; /* from here a signal kills, as it would by default */
	vm_destroy(&vm);
	return status;
}

static int cmd_run(int argc, char **argv)
{
	struct run_options o;
	u8 *image = NULL, *initrd = NULL;
	size_t size, initrd_size = 0;
	int status;

	/* The host clock's TSC calibration runs its 20 ms beside the set-up and the guest: nothing
	   waits for it (stats.c). */
	stats_clock_start();
	status = parse_run_options(argc, argv, &o);
	if (status)
		return status;
	if (!o.image)
		return run_guest(&o, demo_guest_start, (size_t)(demo_guest_end - demo_guest_start),
				 NULL, 0);
	status = read_image(o.image, &image, &size);
	if (!status && o.initrd)
		status = read_image(o.initrd, &initrd, &initrd_size);
	if (!status)
		status = run_guest(&o, image, size, initrd, initrd_size);
	free(initrd);
	free(image);
	return status;
}

/*
 * `tollbooth kvm-ok`: whether --accel kvm can run here (the device named by TOLLBOOTH_KVM_DEV, or
 * /dev/kvm, is a character device that opens read-write and speaks KVM API 12). Exit 0 and one
 * line on stdout, or 1 and the reason on stderr. Scripts and tests probe with it, never by
 * opening the path themselves (a shell's `<>` creates a missing file).
 */
static int cmd_kvm_ok(void)
{
	char msg[256];

	if (kvm_probe(msg, sizeof(msg))) {
		fprintf(stderr, "tollbooth: %s\n", msg);
		return 1;
	}
	puts("kvm-ok: --accel kvm can run here");
	return 0;
}

int main(int argc, char **argv)
{
	/*
	 * A reader of stdout that goes away (`tollbooth run | head -c 10`) must not kill the VMM:
	 * writes then fail with EPIPE, the console drops the guest's output and the run goes on
	 * to its end and its statistics.
	 */
	signal(SIGPIPE, SIG_IGN);
	if (argc < 2)
		return usage_error("no command given; usage: tollbooth run [options] [IMAGE]");
	if (!strcmp(argv[1], "run"))
		return cmd_run(argc - 1, argv + 1);
	if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help")) {
		fputs(usage_main, stdout);
		fputs("\n", stdout);
		fputs(usage_run, stdout);
		return 0;
	}
	if (!strcmp(argv[1], "kvm-ok"))
		return cmd_kvm_ok();
	if (!strcmp(argv[1], "--version")) {
		printf("tollbooth %s\n", TOLLBOOTH_VERSION);
		return 0;
	}
	return usage_error("unknown command '%s'; see tollbooth --help", argv[1]);
}
