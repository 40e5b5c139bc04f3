/* SPDX-License-Identifier: MIT */
/*
 * A minimal virtio driver for the virtio unit tests: it drives a device through its virtio-mmio
 * registers and builds split rings in a fake guest RAM exactly as a driver must (virtio 1.2
 * §3.1.1 initialization, §4.2.3.1-4.2.3.4 MMIO specifics, §2.7.13 supplying buffers, §2.7.14
 * receiving used buffers), and records the interrupt line. Header-only (static functions), shared
 * by tests/unit/test_virtio_*.c.
 */
#pragma once
#include <string.h>

#include "check.h"
#include "virtio/mmio.h"

#define VD_RAM_SIZE 0x200000 /* 2 MiB of fake guest RAM */

static unused u8 vd_ram[VD_RAM_SIZE] __attribute__((aligned(4096)));
static unused u64 vd_written_bytes;

static unused void vd_ram_written(void *opaque, u64 gpa, u64 len)
{
	(void)opaque;
	(void)gpa;
	vd_written_bytes += len;
}

static unused const struct guest_mem vd_mem = { .ram = vd_ram, .size = VD_RAM_SIZE,
					 .written = vd_ram_written };

/* The recording interrupt controller input */
static unused bool vd_irq_level;
static unused unsigned vd_irq_raises; /* low-to-high transitions */

static unused void vd_irq_set(void *opaque, unsigned pin, bool level)
{
	(void)opaque;
	(void)pin;
	if (level && !vd_irq_level)
		vd_irq_raises++;
	vd_irq_level = level;
}

struct vd_queue {
	u16 num;
	u64 desc, avail, used;
	u16 next_desc;	/* descriptors are handed out round-robin */
	u16 avail_idx;	/* the driver's shadow of avail->idx (entries added) */
	u16 last_used;	/* used entries consumed */
};

struct vd {
	struct virtio_mmio *t;
	struct vd_queue q[VIRTIO_MAX_QUEUES];
	u64 brk; /* bump allocator for rings and buffers in vd_ram */
	u64 features;
};

static unused u32 vd_rd(struct vd *v, u64 off)
{
	u64 x = 0;

	virtio_mmio_access(v->t, off, &x, 4, false);
	return (u32)x;
}

static unused void vd_wr(struct vd *v, u64 off, u32 val)
{
	u64 x = val;

	virtio_mmio_access(v->t, off, &x, 4, true);
}

static unused u64 vd_cfg(struct vd *v, u32 off, unsigned len)
{
	u64 x = 0;

	virtio_mmio_access(v->t, VIRTIO_MMIO_CONFIG + off, &x, len, false);
	return x;
}

/* Zeroed guest memory, aligned */
static unused u64 vd_alloc(struct vd *v, u64 len, u64 align)
{
	u64 at = (v->brk + align - 1) & ~(align - 1);

	v->brk = at + len;
	if (v->brk > VD_RAM_SIZE) {
		fprintf(stderr, "vd_alloc: fake RAM exhausted\n");
		v->brk = 0x1000;
		at = 0x1000;
	}
	memset(vd_ram + at, 0, len);
	return at;
}

static unused u16 vd_get16(u64 gpa)
{
	u16 x;

	memcpy(&x, vd_ram + gpa, 2);
	return x;
}

static unused void vd_put16(u64 gpa, u16 x)
{
	memcpy(vd_ram + gpa, &x, 2);
}

static unused u32 vd_get32(u64 gpa)
{
	u32 x;

	memcpy(&x, vd_ram + gpa, 4);
	return x;
}

/* §4.2.3.2 Virtqueue Configuration, steps 1-7 */
static unused bool vd_setup_queue(struct vd *v, unsigned q, u16 num)
{
	struct vd_queue *vq = &v->q[q];

	vd_wr(v, VIRTIO_MMIO_QUEUE_SEL, q);
	if (vd_rd(v, VIRTIO_MMIO_QUEUE_READY))
		return false;
	if (vd_rd(v, VIRTIO_MMIO_QUEUE_NUM_MAX) < num)
		return false;
	*vq = (struct vd_queue){ .num = num };
	vq->desc = vd_alloc(v, 16 * (u64)num, 16);
	vq->avail = vd_alloc(v, 6 + 2 * (u64)num, 2);
	vq->used = vd_alloc(v, 6 + 8 * (u64)num, 4);
	vd_wr(v, VIRTIO_MMIO_QUEUE_NUM, num);
	vd_wr(v, VIRTIO_MMIO_QUEUE_DESC_LOW, (u32)vq->desc);
	vd_wr(v, VIRTIO_MMIO_QUEUE_DESC_HIGH, (u32)(vq->desc >> 32));
	vd_wr(v, VIRTIO_MMIO_QUEUE_DRIVER_LOW, (u32)vq->avail);
	vd_wr(v, VIRTIO_MMIO_QUEUE_DRIVER_HIGH, (u32)(vq->avail >> 32));
	vd_wr(v, VIRTIO_MMIO_QUEUE_DEVICE_LOW, (u32)vq->used);
	vd_wr(v, VIRTIO_MMIO_QUEUE_DEVICE_HIGH, (u32)(vq->used >> 32));
	vd_wr(v, VIRTIO_MMIO_QUEUE_READY, 1);
	return vd_rd(v, VIRTIO_MMIO_QUEUE_READY) == 1;
}

/*
 * §3.1.1 Device Initialization (with §4.2.3.1's MagicValue/Version check first): reset,
 * ACKNOWLEDGE, DRIVER, read the device features, write `want` & offered, FEATURES_OK and check
 * it stuck, set up `nr_queues` queues of `num` entries, DRIVER_OK. Returns whether it worked.
 */
static unused bool vd_init(struct vd *v, struct virtio_mmio *t, u64 want, unsigned nr_queues,
			   u16 num)
{
	u64 offered;

	memset(v, 0, sizeof(*v));
	v->t = t;
	v->brk = 0x1000;
	if (vd_rd(v, VIRTIO_MMIO_MAGIC_VALUE) != VIRTIO_MMIO_MAGIC ||
	    vd_rd(v, VIRTIO_MMIO_VERSION) != 2 || !vd_rd(v, VIRTIO_MMIO_DEVICE_ID))
		return false;
	vd_wr(v, VIRTIO_MMIO_STATUS, 0);
	vd_wr(v, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE);
	vd_wr(v, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	vd_wr(v, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 0);
	offered = vd_rd(v, VIRTIO_MMIO_DEVICE_FEATURES);
	vd_wr(v, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 1);
	offered |= (u64)vd_rd(v, VIRTIO_MMIO_DEVICE_FEATURES) << 32;
	v->features = want & offered;
	vd_wr(v, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0);
	vd_wr(v, VIRTIO_MMIO_DRIVER_FEATURES, (u32)v->features);
	vd_wr(v, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
	vd_wr(v, VIRTIO_MMIO_DRIVER_FEATURES, (u32)(v->features >> 32));
	vd_wr(v, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
					     VIRTIO_STATUS_FEATURES_OK);
	if (!(vd_rd(v, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_FEATURES_OK))
		return false;
	for (unsigned q = 0; q < nr_queues; q++)
		if (!vd_setup_queue(v, q, num))
			return false;
	vd_wr(v, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
					     VIRTIO_STATUS_FEATURES_OK | VIRTIO_STATUS_DRIVER_OK);
	return vd_rd(v, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_DRIVER_OK;
}

/* One buffer element of a request (§2.7.13.1) */
struct vd_buf {
	u64 gpa;
	u32 len;
	bool writable;
};

static unused void vd_put_desc(u64 at, u64 addr, u32 len, u16 flags, u16 next)
{
	struct virtq_desc d = { .addr = addr, .len = len, .flags = flags, .next = next };

	memcpy(vd_ram + at, &d, sizeof(d));
}

/* §2.7.13.1-2: chain the elements in free descriptors and place the head in the next ring entry
   (not yet visible: vd_publish). Returns the head. */
static unused u16 vd_add(struct vd *v, unsigned q, const struct vd_buf *b, unsigned n)
{
	struct vd_queue *vq = &v->q[q];
	u16 head = vq->next_desc;

	for (unsigned i = 0; i < n; i++) {
		u16 d = vq->next_desc;

		vq->next_desc = (u16)((vq->next_desc + 1) % vq->num);
		vd_put_desc(vq->desc + 16 * (u64)d, b[i].gpa, b[i].len,
			    (u16)((b[i].writable ? VIRTQ_DESC_F_WRITE : 0) |
				  (i + 1 < n ? VIRTQ_DESC_F_NEXT : 0)),
			    vq->next_desc);
	}
	vd_put16(vq->avail + 4 + 2 * (u64)(vq->avail_idx % vq->num), head);
	vq->avail_idx++;
	return head;
}

/* The same request through one indirect descriptor (§2.7.5.3). */
static unused u16 vd_add_indirect(struct vd *v, unsigned q, const struct vd_buf *b, unsigned n)
{
	struct vd_queue *vq = &v->q[q];
	u64 table = vd_alloc(v, 16 * (u64)n, 16);
	u16 head = vq->next_desc;

	for (unsigned i = 0; i < n; i++)
		vd_put_desc(table + 16 * (u64)i, b[i].gpa, b[i].len,
			    (u16)((b[i].writable ? VIRTQ_DESC_F_WRITE : 0) |
				  (i + 1 < n ? VIRTQ_DESC_F_NEXT : 0)),
			    (u16)(i + 1));
	vq->next_desc = (u16)((vq->next_desc + 1) % vq->num);
	vd_put_desc(vq->desc + 16 * (u64)head, table, 16 * n, VIRTQ_DESC_F_INDIRECT, 0);
	vd_put16(vq->avail + 4 + 2 * (u64)(vq->avail_idx % vq->num), head);
	vq->avail_idx++;
	return head;
}

/* §2.7.13.3: barrier, then avail->idx */
static unused void vd_publish(struct vd *v, unsigned q)
{
	__atomic_store_n((u16 *)(vd_ram + v->q[q].avail + 2), v->q[q].avail_idx, __ATOMIC_RELEASE);
}

static unused void vd_kick(struct vd *v, unsigned q)
{
	vd_wr(v, VIRTIO_MMIO_QUEUE_NOTIFY, q);
}

/* §2.7.13.4 / §2.7.10.1: notify unless suppressed (avail_event with EVENT_IDX, else flags).
   `old` is avail->idx before this batch. Returns whether it kicked. */
static unused bool vd_kick_if_needed(struct vd *v, unsigned q, u16 old)
{
	struct vd_queue *vq = &v->q[q];
	bool need;

	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (v->features & BIT(VIRTIO_F_EVENT_IDX)) {
		u16 ev = vd_get16(vq->used + 4 + 8 * (u64)vq->num);

		need = (u16)(vq->avail_idx - ev - 1) < (u16)(vq->avail_idx - old);
	} else {
		need = !(vd_get16(vq->used) & VIRTQ_USED_F_NO_NOTIFY);
	}
	if (need)
		vd_kick(v, q);
	return need;
}

/* §2.7.14: the next used element, if any. With EVENT_IDX the driver then asks for an interrupt
   at the next entry (used_event = entries consumed), as Linux's virtqueue_get_buf does. */
static unused bool vd_get_used(struct vd *v, unsigned q, u32 *id, u32 *len)
{
	struct vd_queue *vq = &v->q[q];
	u16 idx = __atomic_load_n((u16 *)(vd_ram + vq->used + 2), __ATOMIC_ACQUIRE);
	u64 e;

	if (idx == vq->last_used)
		return false;
	e = vq->used + 4 + 8 * (u64)(vq->last_used % vq->num);
	*id = vd_get32(e);
	*len = vd_get32(e + 4);
	vq->last_used++;
	if (v->features & BIT(VIRTIO_F_EVENT_IDX))
		vd_put16(vq->avail + 4 + 2 * (u64)vq->num, vq->last_used);
	return true;
}

/* The interrupt handler's first half (§4.2.3.4.1): read InterruptStatus, acknowledge it. */
static unused u32 vd_ack(struct vd *v)
{
	u32 isr = vd_rd(v, VIRTIO_MMIO_INTERRUPT_STATUS);

	vd_wr(v, VIRTIO_MMIO_INTERRUPT_ACK, isr);
	return isr;
}

static unused void vd_wire(struct virtio_mmio *t)
{
	vd_irq_level = false;
	vd_irq_raises = 0;
	irq_line_wire(&t->irq, vd_irq_set, NULL, 5);
}
