// SPDX-License-Identifier: MIT
/*
 * The virtio devices (src/virtio) behind their virtio-mmio transport, under the device harness
 * (device.h): the guest's register accesses, and a guest RAM holding whatever the guest wrote
 * there (descriptor tables, available and used rings, request headers, indirect tables, data).
 *
 * Input: byte 0 chooses the device (modulo 5): 0 virtio-blk, 1 virtio-blk read-only, 2 virtio-rng,
 * 3 virtio-console, 4 virtio-net on the built-in network (net_loop: the gateway that answers
 * ARP and ping parses every frame the guest sends). Bytes 1-2 (little-endian) are the length n of the RAM image (cut to the
 * input's rest and to the RAM size): the next n bytes are the guest RAM's first n bytes at
 * power-on (the rest of its VIRTIO_FUZZ_RAM bytes are 0). The rest of the input is the access
 * script (device.h) over the 0x200-byte register window (2-byte offsets). Events (argument byte
 * 0 modulo 3 chooses):
 *   0  the guest writes RAM: bytes 1-2 its offset (modulo the RAM size), bytes 3.. the data (cut
 *      at the end of RAM), as another vCPU rewriting a ring between two notifications;
 *   1  the host: blk: bit 0 of byte 1 makes the host's syncs fail (-EIO) from now on or not;
 *      rng: bytes 1.. join the host's entropy pool (empty: the source has nothing, -EAGAIN);
 *      console: bytes 1.. are typed on the host's terminal, then the event loop's
 *      virtio_console_rx_ready(); net: bit 0 of byte 1 is the link state (set with a
 *      configuration change), then the event loop's virtio_net_rx_ready() delivers what the
 *      gateway answered;
 *   2  a machine reset (virtio_mmio_reset).
 * virtio-blk's disk is a memfd (no file anywhere) of VIRTIO_FUZZ_DISK bytes, advertised as
 * VIRTIO_FUZZ_DISK + 256 (its last sector ends past the file's end: a host I/O error).
 *
 * Beyond the harness's checks (and ASan's on the RAM buffer, allocated to its exact size),
 * asserted after every step:
 *   - the device writes guest memory only inside RAM and always through gmem_written();
 *   - the interrupt line is high exactly while InterruptStatus is not 0 (§4.2.3.4);
 *   - DEVICE_NEEDS_RESET is set exactly when the device recorded why (§2.1.2); FEATURES_OK only
 *     with an acceptable feature set (§2.2.2);
 *   - every ready queue has a size that is a power of two up to QueueNumMax and aligned parts
 *     inside RAM (§2.7); its used index never passes its available index and, unless the device
 *     needs a reset, every chain taken was returned (the device completes each request within
 *     the access, or fails); every batch of used buffers was considered for an interrupt;
 *   - bounded work: no queue uses more than 65536 chains in one step (its whole index space);
 *   - blk: the disk never grows past the advertised size; nothing is written to a read-only one;
 *     rng: no more random bytes given than the host had; console: no more input than typed;
 *     net: no more frames received than the gateway answered.
 */
#define _GNU_SOURCE
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "virtio/blk.h"
#include "virtio/console.h"
#include "virtio/mmio.h"
#include "virtio/net.h"
#include "virtio/net_backend.h"
#include "virtio/rng.h"
#include "device.h"

#define VIRTIO_FUZZ_RAM	     0x4000 /* four pages */
#define VIRTIO_FUZZ_DISK     0x3f00 /* bytes in the memfd */
#define VIRTIO_FUZZ_HOST_MAX 4096   /* bytes of entropy or typed input the host holds */
#define VIRTIO_FUZZ_MAX_WORK 0x10000

enum { FUZZ_BLK, FUZZ_BLK_RO, FUZZ_RNG, FUZZ_CONSOLE, FUZZ_NET, FUZZ_NR_KINDS };

struct virtio_fuzz {
	struct virtio_mmio mmio; /* first: the access function gets this pointer */
	unsigned kind;
	union {
		struct virtio_blk blk;
		struct virtio_rng rng;
		struct virtio_console console;
		struct virtio_net net;
	};
	struct net_loop loop; /* net: the backend */
	struct virtio_dev *dev;
	struct guest_mem mem;
	u8 *ram;
	u8 *shadow; /* RAM as the guest and the device's reported writes left it */
	bool irq_level;
	int disk_fd;
	int sync_result;
	u64 chains[VIRTIO_MAX_QUEUES]; /* stats.chains after the last step */
	u8 host[VIRTIO_FUZZ_HOST_MAX]; /* rng: entropy; console: typed input */
	size_t host_head, host_count;
	u64 host_total; /* bytes the host ever held */
};

/* The RAM image for the next create(): set by LLVMFuzzerTestOneInput for this input only. */
static const u8 *virtio_fuzz_image;
static size_t virtio_fuzz_image_len;

static void virtio_fuzz_written(void *opaque, u64 gpa, u64 len)
{
	struct virtio_fuzz *f = opaque;

	FUZZ_ASSERT(gpa <= VIRTIO_FUZZ_RAM && len <= VIRTIO_FUZZ_RAM - gpa,
		    "reported a write of %#llx bytes at %#llx, outside RAM",
		    (unsigned long long)len, (unsigned long long)gpa);
	memcpy(f->shadow + gpa, f->ram + gpa, len);
}

static void virtio_fuzz_irq(void *opaque, unsigned pin, bool level)
{
	((struct virtio_fuzz *)opaque)->irq_level = level;
}

/*
 * The host's bytes (entropy or typed input), in order, into buf (guest RAM): like read(2) and
 * getrandom(2), only the bytes returned are written, but all `max` are touched first so that
 * ASan sees a buffer that is shorter than the device said.
 */
static size_t virtio_fuzz_host_take(struct virtio_fuzz *f, u8 *buf, size_t max)
{
	volatile u8 sink = 0;
	size_t n = 0;

	for (size_t i = 0; i < max; i++)
		sink ^= buf[i];
	(void)sink;
	while (n < max && f->host_count) {
		buf[n++] = f->host[f->host_head];
		f->host_head = (f->host_head + 1) % VIRTIO_FUZZ_HOST_MAX;
		f->host_count--;
	}
	return n;
}

static void virtio_fuzz_host_give(struct virtio_fuzz *f, const u8 *buf, size_t n)
{
	for (size_t i = 0; i < n && f->host_count < VIRTIO_FUZZ_HOST_MAX; i++, f->host_total++)
		f->host[(f->host_head + f->host_count++) % VIRTIO_FUZZ_HOST_MAX] = buf[i];
}

static int virtio_fuzz_sync(void *opaque, int fd)
{
	return ((struct virtio_fuzz *)opaque)->sync_result;
}

static ssize_t virtio_fuzz_rng_fill(void *opaque, void *buf, size_t len)
{
	size_t n = virtio_fuzz_host_take(opaque, buf, len);

	return n ? (ssize_t)n : -EAGAIN; /* getrandom(GRND_NONBLOCK) before the pool is ready */
}

static void virtio_fuzz_console_tx(void *opaque, const u8 *buf, size_t len)
{
	volatile u8 sink = 0;

	for (size_t i = 0; i < len; i++) /* ASan checks each byte the device hands out */
		sink ^= buf[i];
	(void)sink;
}

static size_t virtio_fuzz_console_rx(void *opaque, u8 *buf, size_t max)
{
	return virtio_fuzz_host_take(opaque, buf, max);
}

static void virtio_fuzz_init_blk(struct virtio_fuzz *f, bool read_only)
{
	struct virtio_blk_backend be = {
		.size = VIRTIO_FUZZ_DISK + 256,
		.read_only = read_only,
		.serial = "fuzz-disk-0123456789abcdef", /* longer than the 20 bytes GET_ID gives */
		.sync = virtio_fuzz_sync,
		.opaque = f,
	};

	f->disk_fd = memfd_create("virtio-fuzz-disk", MFD_CLOEXEC);
	if (f->disk_fd < 0 || ftruncate(f->disk_fd, VIRTIO_FUZZ_DISK))
		abort();
	be.fd = f->disk_fd;
	if (virtio_blk_init(&f->blk, &f->mem, &be))
		abort();
	f->dev = &f->blk.vdev;
}

static void *virtio_fuzz_create_kind(unsigned kind)
{
	struct virtio_fuzz *f = calloc(1, sizeof(*f));
	const struct virtio_rng_host rng = { .fill = virtio_fuzz_rng_fill, .opaque = f };
	const struct virtio_console_host con = { .tx = virtio_fuzz_console_tx,
						 .rx = virtio_fuzz_console_rx,
						 .opaque = f };

	if (!f)
		abort();
	f->ram = calloc(1, VIRTIO_FUZZ_RAM);
	f->shadow = calloc(1, VIRTIO_FUZZ_RAM);
	if (!f->ram || !f->shadow)
		abort();
	if (virtio_fuzz_image_len)
		memcpy(f->ram, virtio_fuzz_image, virtio_fuzz_image_len);
	memcpy(f->shadow, f->ram, VIRTIO_FUZZ_RAM);
	f->mem = (struct guest_mem){
		.ram = f->ram, .size = VIRTIO_FUZZ_RAM, .written = virtio_fuzz_written, .opaque = f
	};
	f->kind = kind;
	f->disk_fd = -1;
	switch (kind) {
	case FUZZ_BLK:
	case FUZZ_BLK_RO:
		virtio_fuzz_init_blk(f, kind == FUZZ_BLK_RO);
		break;
	case FUZZ_RNG:
		if (virtio_rng_init(&f->rng, &f->mem, &rng))
			abort();
		f->dev = &f->rng.vdev;
		break;
	case FUZZ_NET: {
		static const u8 mac[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };
		struct virtio_net_backend be;

		net_loop_init(&f->loop);
		be = net_loop_backend(&f->loop);
		if (virtio_net_init(&f->net, &f->mem, mac, &be))
			abort();
		f->dev = &f->net.vdev;
		break;
	}
	default:
		if (virtio_console_init(&f->console, &f->mem, &con))
			abort();
		f->dev = &f->console.vdev;
		break;
	}
	virtio_mmio_init(&f->mmio, f->dev);
	irq_line_wire(&f->mmio.irq, virtio_fuzz_irq, f, 0);
	virtio_mmio_reset(&f->mmio);
	return f;
}

static void virtio_fuzz_destroy(void *dev)
{
	struct virtio_fuzz *f = dev;

	if (f->disk_fd >= 0) {
		struct stat st;

		if (fstat(f->disk_fd, &st))
			abort();
		FUZZ_ASSERT((u64)st.st_size <= f->blk.be.size,
			    "the disk grew to %lld bytes, past its advertised %llu",
			    (long long)st.st_size, (unsigned long long)f->blk.be.size);
		FUZZ_ASSERT(f->kind != FUZZ_BLK_RO || !f->blk.stats.writes,
			    "%llu writes to a read-only disk", (unsigned long long)f->blk.stats.writes);
		close(f->disk_fd);
	}
	free(f->ram);
	free(f->shadow);
	free(f);
}

static void virtio_fuzz_event(void *dev, const u8 *arg, size_t n)
{
	struct virtio_fuzz *f = dev;
	u64 gpa;

	if (!n)
		return;
	switch (arg[0] % 3) {
	case 0:
		if (n < 3)
			return;
		gpa = (arg[1] | (u64)arg[2] << 8) % VIRTIO_FUZZ_RAM;
		n -= 3;
		if (n > VIRTIO_FUZZ_RAM - gpa)
			n = VIRTIO_FUZZ_RAM - gpa;
		memcpy(f->ram + gpa, arg + 3, n);
		memcpy(f->shadow + gpa, arg + 3, n);
		break;
	case 1:
		if (f->kind == FUZZ_BLK || f->kind == FUZZ_BLK_RO) {
			f->sync_result = n > 1 && (arg[1] & 1) ? -EIO : 0;
		} else if (f->kind == FUZZ_NET) {
			if (n > 1)
				virtio_net_set_link(&f->net, arg[1] & 1);
			virtio_net_rx_ready(&f->net);
		} else {
			virtio_fuzz_host_give(f, arg + 1, n - 1);
			if (f->kind == FUZZ_CONSOLE)
				virtio_console_rx_ready(&f->console);
		}
		break;
	default:
		virtio_mmio_reset(&f->mmio);
		break;
	}
}

static void virtio_fuzz_check_queue(struct virtio_fuzz *f, unsigned q)
{
	const struct virtio_dev *d = f->dev;
	const struct virtq *vq = &d->vq[q];
	u64 used = vq->stats.chains - f->chains[q];
	u16 n = vq->num;

	f->chains[q] = vq->stats.chains;
	FUZZ_ASSERT(used <= VIRTIO_FUZZ_MAX_WORK, "queue %u used %llu chains in one step", q,
		    (unsigned long long)used);
	if (!vq->ready)
		return;
	/* §2.7: a power of two, at most QueueNumMax; §2.7.1 alignment; all of it RAM */
	FUZZ_ASSERT(n && !(n & (n - 1)) && n <= vq->num_max, "queue %u ready with size %u", q, n);
	FUZZ_ASSERT(!(vq->desc % 16) && !(vq->avail % 2) && !(vq->used % 4),
		    "queue %u ready with parts misaligned", q);
	FUZZ_ASSERT(gmem_in_ram(&f->mem, vq->desc, 16 * (u64)n) &&
			    gmem_in_ram(&f->mem, vq->avail, 6 + 2 * (u64)n) &&
			    gmem_in_ram(&f->mem, vq->used, 6 + 8 * (u64)n),
		    "queue %u ready with parts outside RAM", q);
	/* A chain is taken (last_avail) before it is used (used_idx); the devices answer each
	   within the notification, so only a failure in the middle of a pop leaves one taken. */
	if (d->status & VIRTIO_STATUS_DEVICE_NEEDS_RESET)
		FUZZ_ASSERT((u16)(vq->last_avail - vq->used_idx) <= 1,
			    "queue %u: %u chains taken, %u used", q, vq->last_avail, vq->used_idx);
	else
		FUZZ_ASSERT(vq->last_avail == vq->used_idx,
			    "queue %u: %u chains taken, only %u used, and the device carries on",
			    q, vq->last_avail, vq->used_idx);
	/* §2.7.7.2: after a batch the device decides about a used buffer notification; one left
	   undecided could leave the driver waiting for an interrupt that never comes */
	FUZZ_ASSERT(vq->signalled_used == vq->used_idx,
		    "queue %u: used entries %u..%u never considered for an interrupt", q,
		    vq->signalled_used, vq->used_idx);
}

static void virtio_fuzz_check(void *dev)
{
	struct virtio_fuzz *f = dev;
	const struct virtio_dev *d = f->dev;

	FUZZ_ASSERT(!memcmp(f->ram, f->shadow, VIRTIO_FUZZ_RAM),
		    "guest RAM changed without gmem_written()");
	FUZZ_ASSERT(f->irq_level == (f->mmio.interrupt_status != 0) &&
			    f->mmio.irq.level == f->irq_level,
		    "interrupt line %d with InterruptStatus %#x", f->irq_level,
		    f->mmio.interrupt_status);
	FUZZ_ASSERT(!(f->mmio.interrupt_status & ~(VIRTIO_INT_USED | VIRTIO_INT_CONFIG)),
		    "InterruptStatus %#x", f->mmio.interrupt_status);
	FUZZ_ASSERT(!(d->status & VIRTIO_STATUS_DEVICE_NEEDS_RESET) == !d->error,
		    "status %#x with error %s", d->status, d->error ? d->error : "(none)");
	if (d->status & VIRTIO_STATUS_FEATURES_OK)
		FUZZ_ASSERT(!(d->driver_features & ~d->device_features) &&
				    (d->driver_features & BIT(VIRTIO_F_VERSION_1)),
			    "FEATURES_OK with driver features %#llx of %#llx",
			    (unsigned long long)d->driver_features,
			    (unsigned long long)d->device_features);
	for (unsigned q = 0; q < d->nr_queues; q++)
		virtio_fuzz_check_queue(f, q);
	if (f->kind == FUZZ_RNG)
		FUZZ_ASSERT(f->rng.bytes <= f->host_total, "%llu random bytes given, %llu had",
			    (unsigned long long)f->rng.bytes, (unsigned long long)f->host_total);
	if (f->kind == FUZZ_CONSOLE)
		FUZZ_ASSERT(f->console.rx_bytes <= f->host_total, "%llu bytes received, %llu typed",
			    (unsigned long long)f->console.rx_bytes,
			    (unsigned long long)f->host_total);
	if (f->kind == FUZZ_NET)
		FUZZ_ASSERT(f->net.stats.rx_frames <= f->loop.answered,
			    "%llu frames received, the gateway answered %llu",
			    (unsigned long long)f->net.stats.rx_frames,
			    (unsigned long long)f->loop.answered);
}

static void *virtio_fuzz_create_blk(void)
{
	return virtio_fuzz_create_kind(FUZZ_BLK);
}

static void *virtio_fuzz_create_blk_ro(void)
{
	return virtio_fuzz_create_kind(FUZZ_BLK_RO);
}

static void *virtio_fuzz_create_rng(void)
{
	return virtio_fuzz_create_kind(FUZZ_RNG);
}

static void *virtio_fuzz_create_console(void)
{
	return virtio_fuzz_create_kind(FUZZ_CONSOLE);
}

static void *virtio_fuzz_create_net(void)
{
	return virtio_fuzz_create_kind(FUZZ_NET);
}

#define VIRTIO_FUZZ_DEVICE(create_fn)                                                              \
	{                                                                                          \
		.ranges = { { VIRTIO_MMIO_SIZE, virtio_mmio_access } }, .create = (create_fn),     \
		.destroy = virtio_fuzz_destroy, .event = virtio_fuzz_event,                        \
		.check = virtio_fuzz_check,                                                        \
	}

static const struct fuzz_device virtio_fuzz_devices[FUZZ_NR_KINDS] = {
	[FUZZ_BLK] = VIRTIO_FUZZ_DEVICE(virtio_fuzz_create_blk),
	[FUZZ_BLK_RO] = VIRTIO_FUZZ_DEVICE(virtio_fuzz_create_blk_ro),
	[FUZZ_RNG] = VIRTIO_FUZZ_DEVICE(virtio_fuzz_create_rng),
	[FUZZ_CONSOLE] = VIRTIO_FUZZ_DEVICE(virtio_fuzz_create_console),
	[FUZZ_NET] = VIRTIO_FUZZ_DEVICE(virtio_fuzz_create_net),
};

int LLVMFuzzerTestOneInput(const u8 *data, size_t size)
{
	struct fuzz_input in = { data, size };
	unsigned kind = fuzz_u8(&in) % FUZZ_NR_KINDS;
	size_t n = fuzz_uint(&in, 2);

	if (n > in.n)
		n = in.n;
	virtio_fuzz_image = in.p;
	virtio_fuzz_image_len = n < VIRTIO_FUZZ_RAM ? n : VIRTIO_FUZZ_RAM;
	fuzz_device_run(&virtio_fuzz_devices[kind], in.p + n, in.n - n);
	virtio_fuzz_image = NULL;
	virtio_fuzz_image_len = 0;
	return 0;
}
