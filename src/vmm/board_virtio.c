// SPDX-License-Identifier: MIT
/*
 * The board's virtio devices: virtio-mmio transports (virtio 1.2 §4.2) in the platform MMIO range
 * below the IOAPIC, one 4 KiB page each from BOARD_VIRTIO_BASE, each on its own IOAPIC input
 * from BOARD_VIRTIO_GSI (16-23: above the ISA IRQs, so nothing else drives them but an HPET route
 * a guest points there), level-triggered and active high. The guest finds them in the DSDT as
 * "LNRO0005" devices (board_install_firmware -> firmware/acpi.c), as on QEMU's microvm: Debian's
 * kernel has virtio_mmio as a module and no virtio-mmio command-line devices, and its ACPI
 * binding is the one way it can find them. docs/virtio.md says why mmio and not PCI.
 *
 * The host side of each device: virtio-blk a file opened here (O_RDWR, or O_RDONLY with
 * readonly=on), virtio-rng getrandom(2), virtio-console the terminal (it takes stdin over from
 * the UART: input goes to one console), virtio-net a TAP device or the loopback network.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "devices/console.h"
#include "firmware/acpi.h"
#include "virtio/blk.h"
#include "virtio/console.h"
#include "virtio/mmio.h"
#include "virtio/net.h"
#include "virtio/net_backend.h"
#include "virtio/rng.h"
#include "vmm/vm.h"

struct board_virtio {
	struct virtio_mmio t;
	int fd; /* the disk image or TAP device, -1 */
	union {
		struct virtio_blk blk;
		struct virtio_rng rng;
		struct virtio_console con;
		struct virtio_net net;
	};
	struct net_loop loop;
	struct net_tap tap;
	/* async=on: doorbells rung since the queues last ran, and the timer that runs them */
	u32 pending;
	struct timer run_queues;
};

static const char *const kind_names[] = {
	[BOARD_VIRTIO_BLK] = "virtio-blk",
	[BOARD_VIRTIO_RNG] = "virtio-rng",
	[BOARD_VIRTIO_CONSOLE] = "virtio-console",
	[BOARD_VIRTIO_NET] = "virtio-net",
};

/* Device n's register page. */
static u64 board_virtio_base(unsigned n)
{
	return BOARD_VIRTIO_BASE + (u64)n * BOARD_VIRTIO_STRIDE;
}

static void board_virtio_gsi(void *opaque, unsigned pin, bool level)
{
	board_gsi_set(opaque, pin, GSI_SRC_VIRTIO, level);
}

static void board_virtio_reset(void *opaque)
{
	virtio_mmio_reset(opaque);
}

static void board_virtio_console_tx(void *opaque, const u8 *buf, size_t len)
{
	for (size_t i = 0; i < len; i++)
		console_write_byte(opaque, buf[i]);
	console_flush(); /* a whole buffer at a time: a prompt shows without waiting for input */
}

static bool board_virtio_console_input(void *opaque)
{
	virtio_console_rx_ready(opaque);
	return !console_input_ended();
}

static bool board_virtio_net_input(void *opaque)
{
	virtio_net_rx_ready(opaque);
	return true;
}

/* async=on: the run loop's next look at its timers (the host tick while the guest runs, at
   once when it idles) runs the queues, as an I/O thread that polls would. Requests the guest
   queues meanwhile are taken together, and the driver's notifications are suppressed while the
   device has work it has not looked at (event index or flags, virtio 1.2 §2.7.10). */
static void board_virtio_defer(void *opaque, unsigned queue)
{
	struct board_virtio *v = opaque;

	if (queue < VIRTIO_MAX_QUEUES)
		v->pending |= BIT(queue);
	if (!timer_armed(&v->run_queues))
		timer_arm(&v->run_queues, timer_now(v->run_queues.q));
}

static void board_virtio_run_queues(void *opaque, u64 now)
{
	struct board_virtio *v = opaque;
	u32 pending = v->pending;

	v->pending = 0;
	for (unsigned q = 0; q < VIRTIO_MAX_QUEUES; q++)
		if (pending & BIT(q))
			virtio_dev_queue_notify(&v->blk.vdev, q);
}

/* One clear line into err; the VM is left for vm_destroy (board_destroy frees what was made). */
static int fail(char *err, size_t len, int code, const char *fmt, const char *arg, int e)
{
	char what[256];

	snprintf(what, sizeof(what), fmt, arg);
	if (e)
		snprintf(err, len, "%s: %s", what, strerror(e));
	else
		snprintf(err, len, "%s", what);
	return code;
}

/* The image opened into v->fd; *size its bytes (a block device's from its end). */
static int open_disk(struct board_virtio *v, const struct board_virtio_spec *s, u64 *size,
		     char *err, size_t len)
{
	struct stat st;
	int fd = open(s->file, (s->read_only ? O_RDONLY : O_RDWR) | O_CLOEXEC);

	if (fd < 0)
		return fail(err, len, -errno, "--drive file=%s: cannot open", s->file, errno);
	v->fd = fd;
	if (fstat(fd, &st) || (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode)))
		return fail(err, len, -EINVAL,
			    "--drive file=%s: not a regular file or block device", s->file, 0);
	if (S_ISREG(st.st_mode) && st.st_size % 512)
		return fail(err, len, -EINVAL,
			    "--drive file=%s: its size is not a multiple of 512 bytes (a disk "
			    "has whole sectors): truncate -s or pad it",
			    s->file, 0);
	*size = (u64)st.st_size;
	if (S_ISBLK(st.st_mode)) {
		off_t end = lseek(fd, 0, SEEK_END);
		*size = end > 0 ? (u64)end : 0;
	}
	return 0;
}

int board_add_virtio(struct vm *vm, const struct board_virtio_spec *s, char *err, size_t len)
{
	struct board_virtio *v;
	unsigned i = vm->nr_virtio;
	u64 base = board_virtio_base(i), size = 0;
	int e;

	if (i == BOARD_MAX_VIRTIO)
		return fail(err, len, -ENOSPC, "more than %s virtio devices", "8", 0);
	v = calloc(1, sizeof(*v));
	if (!v)
		return fail(err, len, -ENOMEM, "%s: out of memory", kind_names[s->kind], 0);
	v->fd = -1;
	vm->virtio[vm->nr_virtio++] = v; /* board_destroy frees it from here on */

	switch (s->kind) {
	case BOARD_VIRTIO_BLK:
		e = open_disk(v, s, &size, err, len);
		if (e)
			return e;
		e = virtio_blk_init(&v->blk, &vm->guest_mem,
				    &(struct virtio_blk_backend){
					    .fd = v->fd,
					    .size = size,
					    .read_only = s->read_only,
					    .serial = "tollbooth",
				    });
		break;
	case BOARD_VIRTIO_RNG:
		e = virtio_rng_init(&v->rng, &vm->guest_mem, NULL);
		break;
	case BOARD_VIRTIO_CONSOLE:
		e = virtio_console_init(&v->con, &vm->guest_mem,
					&(struct virtio_console_host){
						.tx = board_virtio_console_tx,
						.rx = console_read_bytes,
					});
		/* The terminal's input moves from the UART to this console: the UART no longer
		   reads it (it pulls input when the guest reads its LSR) nor is woken for it. */
		if (!e)
			vm->uart.host.rx = NULL;
		for (unsigned k = 0; !e && k < vm->nr_events; k++)
			if (vm->events[k].fd == 0)
				vm->events[k] = (struct vm_event_source){
					0, board_virtio_console_input, &v->con
				};
		break;
	case BOARD_VIRTIO_NET: {
		static const u8 mac[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };
		struct virtio_net_backend be;
		if (s->tap) {
			e = net_tap_open(s->tap, &v->fd);
			if (e)
				return fail(err, len, e, "virtio-net: TAP device '%s'", s->tap, -e);
			be = net_tap_backend(&v->tap, v->fd);
		} else {
			net_loop_init(&v->loop);
			be = net_loop_backend(&v->loop);
		}
		e = virtio_net_init(&v->net, &vm->guest_mem, mac, &be);
		if (!e && v->fd >= 0)
			e = vm_add_event_source(vm, v->fd, board_virtio_net_input, &v->net);
		break;
	}
	default:
		e = -EINVAL;
	}
	if (e)
		return fail(err, len, e, "%s: cannot create the device", kind_names[s->kind], -e);

	/* vdev is first in every member of the union */
	if (s->no_event_idx) /* virtio 1.2 §2.7.10: then the flags alone suppress notifications */
		v->blk.vdev.device_features &= ~BIT(VIRTIO_F_EVENT_IDX);
	virtio_mmio_init(&v->t, &v->blk.vdev);
	if (s->async) {
		timer_init(&v->run_queues, &vm->timers, board_virtio_run_queues, v,
			   kind_names[s->kind]);
		v->t.defer = board_virtio_defer;
		v->t.defer_opaque = v;
	}
	irq_line_wire(&v->t.irq, board_virtio_gsi, vm, BOARD_VIRTIO_GSI + i);
	e = vm_add_region(vm, base, BOARD_VIRTIO_STRIDE, MEM_MMIO, kind_names[s->kind]);
	if (!e)
		e = bus_register_range(&vm->mmio, base, VIRTIO_MMIO_SIZE, virtio_mmio_access, &v->t,
				       kind_names[s->kind]);
	if (!e)
		e = vm_register_device(vm, &(struct vm_device){
						   .name = kind_names[s->kind],
						   .opaque = &v->t,
						   .reset = board_virtio_reset,
					   });
	if (e)
		return fail(err, len, e, "%s: cannot place the device", kind_names[s->kind], -e);
	virtio_mmio_reset(&v->t);
	return 0;
}

void board_virtio_acpi(const struct vm *vm, struct acpi_virtio_mmio *out, unsigned *n)
{
	for (unsigned i = 0; i < vm->nr_virtio; i++)
		out[i] = (struct acpi_virtio_mmio){
			.base = (u32)board_virtio_base(i),
			.gsi = BOARD_VIRTIO_GSI + i,
		};
	*n = vm->nr_virtio;
}

void board_virtio_print_stats(const struct vm *vm, FILE *out)
{
	for (unsigned i = 0; i < vm->nr_virtio; i++)
		virtio_dev_print_stats(&vm->virtio[i]->blk.vdev, out);
}

void board_destroy(struct vm *vm)
{
	if (vm->irqgen.started) {
		irqgen_destroy(&vm->irqgen);
		close(vm->irqgen_fd);
	}
	for (unsigned i = 0; i < vm->nr_virtio; i++) {
		if (vm->virtio[i]->t.defer)
			timer_cancel(&vm->virtio[i]->run_queues);
		if (vm->virtio[i]->fd >= 0)
			close(vm->virtio[i]->fd);
		free(vm->virtio[i]);
		vm->virtio[i] = NULL;
	}
	vm->nr_virtio = 0;
}
