// SPDX-License-Identifier: MIT
/* The command line: `tollbooth run [options] [IMAGE]`. Errors are reported here, once. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "devices/console.h"
#include "vmm/vm.h"

#define TOLLBOOTH_VERSION "0.1.0"

/* The built-in guest (build/guests/demo.elf), linked in by src/loader/demo_guest.S. */
extern const u8 demo_guest_start[], demo_guest_end[];

struct run_options {
	const char *image; /* NULL: the built-in guest */
	const char *append;
	u64 mem_size;
	bool stats;
};

static const char usage_main[] =
	"usage: tollbooth run [options] [IMAGE]\n"
	"       tollbooth --help | --version\n"
	"\n"
	"tollbooth is a hypervisor built around the VM exit. It runs multiboot v1 guests on a\n"
	"software x86-64 CPU (--accel soft); see `tollbooth run --help`.\n";

static const char usage_run[] =
	"usage: tollbooth run [options] [IMAGE]\n"
	"\n"
	"Boot IMAGE, a multiboot v1 kernel (ELF32, or any format with the header's address\n"
	"fields; the files `qemu-system-x86_64 -kernel` takes), or the built-in demo guest when no\n"
	"IMAGE is given. The guest's serial port (COM1, 0x3f8) is the terminal: Ctrl-A x quits.\n"
	"\n"
	"options:\n"
	"  -m, --mem SIZE        guest RAM, with a K, M or G suffix; a plain number is MiB as in\n"
	"                        QEMU (default 128M, from 2M to 64G, a multiple of 4K)\n"
	"  -a, --append CMDLINE  the kernel command line; the guest gets \"IMAGE CMDLINE\" in the\n"
	"                        multiboot information, as from QEMU and GRUB\n"
	"      --accel ACCEL     soft (the software CPU, default) or kvm (not built yet)\n"
	"      --stats           at exit, print VM exits by reason and I/O by port on stderr,\n"
	"                        as `perf kvm stat report` does\n"
	"  -h, --help            this text\n"
	"\n"
	"exit status:\n"
	"  (V << 1) | 1  the guest wrote V to port 0xf4 (QEMU's isa-debug-exit); always odd\n"
	"  0             the user quit with Ctrl-A x\n"
	"  2             bad command line or image\n"
	"  4             tollbooth ended the run: the guest triple-faulted, halted for good or\n"
	"                made an exit tollbooth cannot handle, or tollbooth itself failed (no\n"
	"                memory for guest RAM); one line on stderr says which\n";

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

/* QEMU's -m syntax: NUMBER[K|M|G], a plain number meaning MiB. */
static int parse_mem_size(const char *arg, u64 *size)
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
	if (n > (VM_MEM_MAX >> shift) || (n << shift) < VM_MEM_MIN)
		return -ERANGE;
	*size = (u64)n << shift;
	return *size % 4096 ? -EINVAL : 0;
}

/* 0, or an exit status after printing the one line that says what is wrong. */
static int parse_run_options(int argc, char **argv, struct run_options *o)
{
	enum { OPT_ACCEL = 256, OPT_STATS };
	static const struct option longopts[] = {
		{ "mem", required_argument, NULL, 'm' },
		{ "append", required_argument, NULL, 'a' },
		{ "accel", required_argument, NULL, OPT_ACCEL },
		{ "stats", no_argument, NULL, OPT_STATS },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	int c;

	*o = (struct run_options){ .append = "", .mem_size = VM_MEM_DEFAULT };
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":m:a:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'm':
			if (parse_mem_size(optarg, &o->mem_size))
				return usage_error("--mem '%s': use a size from 2M to 64G, a "
						   "multiple of 4K, such as 256M or 1G",
						   optarg);
			break;
		case 'a':
			if (strlen(optarg) > MBI_CMDLINE_MAX)
				return usage_error("--append: longer than %d bytes",
						   MBI_CMDLINE_MAX);
			o->append = optarg;
			break;
		case OPT_ACCEL:
			if (!strcmp(optarg, "kvm"))
				return usage_error("--accel kvm: the kvm backend is not built "
						   "yet; use --accel soft");
			if (strcmp(optarg, "soft"))
				return usage_error("--accel '%s': unknown accelerator; use soft",
						   optarg);
			break;
		case OPT_STATS:
			o->stats = true;
			break;
		case 'h':
			fputs(usage_run, stdout);
			exit(0);
		case ':':
			return usage_error("%s needs a value; see tollbooth run --help",
					   argv[optind - 1]);
		default:
			return usage_error("unknown option '%s'; see tollbooth run --help",
					   argv[optind - 1]);
		}
	}
	if (argc - optind > 1)
		return usage_error("more than one IMAGE given ('%s' is extra); see tollbooth run "
				   "--help",
				   argv[optind + 1]);
	o->image = argv[optind];
	return 0;
}

/* The whole image in memory; 0 or an exit status after one line naming the file. */
static int read_image(const char *path, u8 **image, size_t *size)
{
	struct stat st;
	ssize_t n;
	int fd;

	fd = open(path, O_RDONLY);
	if (fd < 0) {
		fprintf(stderr, "tollbooth: %s: cannot open: %s\n", path, strerror(errno));
		return EXIT_STATUS_USAGE;
	}
	if (fstat(fd, &st) || !S_ISREG(st.st_mode)) {
		fprintf(stderr,
			"tollbooth: %s: not a regular file; give a multiboot kernel image\n", path);
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

static int run_guest(const struct run_options *o, const u8 *image, size_t size)
{
	const char *name = o->image ? o->image : "built-in demo guest";
	static const struct uart_host console = {
		.tx = console_write_byte,
		.rx = console_read_bytes,
	};
	static char cmdline[MBI_CMDLINE_MAX + 2];
	static struct boot_plan plan;
	static struct vm vm;
	int err, status;

	/* As QEMU and GRUB do, the image's name is the first word (kvm-unit-tests' argv[0]). */
	snprintf(cmdline, sizeof(cmdline), "%s %s", o->image ? o->image : "demo", o->append);
	err = multiboot_load(image, size, cmdline, o->mem_size, &plan);
	if (err) {
		fprintf(stderr, "tollbooth: %s: %s\n", name, plan.error);
		return EXIT_STATUS_USAGE;
	}
	err = vm_create(&vm, o->mem_size, &backend_soft, &console);
	if (!err)
		err = vm_load_boot_plan(&vm, &plan);
	if (err) {
		fprintf(stderr, "tollbooth: cannot create the VM (%lluM of RAM, %s backend): %s\n",
			(unsigned long long)(o->mem_size >> 20), backend_soft.name, strerror(-err));
		vm_destroy(&vm);
		return EXIT_STATUS_STOPPED;
	}
	console_open(quit_by_user, &vm);
	status = vm_run(&vm);
	console_close();
	if (vm.stop_msg[0])
		fprintf(stderr, "tollbooth: %s\n", vm.stop_msg);
	if (o->stats)
		stats_print(&vm.stats, stderr, vm.pio.unclaimed_reads, vm.pio.unclaimed_writes);
	vm_destroy(&vm);
	return status;
}

static int cmd_run(int argc, char **argv)
{
	struct run_options o;
	u8 *image = NULL;
	size_t size;
	int status;

	status = parse_run_options(argc, argv, &o);
	if (status)
		return status;
	if (!o.image)
		return run_guest(&o, demo_guest_start, (size_t)(demo_guest_end - demo_guest_start));
	status = read_image(o.image, &image, &size);
	if (!status)
		status = run_guest(&o, image, size);
	free(image);
	return status;
}

int main(int argc, char **argv)
{
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
	if (!strcmp(argv[1], "--version")) {
		printf("tollbooth %s\n", TOLLBOOTH_VERSION);
		return 0;
	}
	return usage_error("unknown command '%s'; see tollbooth --help", argv[1]);
}
