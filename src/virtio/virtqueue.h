/* SPDX-License-Identifier: MIT */
/*
 * Split virtqueues, the device side (virtio 1.2 §2.7). Section numbers in src/virtio are those
 * of "Virtual I/O Device (VIRTIO) Version 1.2".
 *
 * A queue lives in guest RAM as three parts the driver places (§2.7, table "Virtqueue Part"):
 * the descriptor table (16 * num bytes, 16-aligned), the available ring (6 + 2 * num, 2-aligned;
 * flags, idx, ring[num], used_event) and the used ring (6 + 8 * num, 4-aligned; flags, idx,
 * ring[num] of {id, len}, avail_event). The device reaches them only through struct guest_mem.
 *
 * Hostile drivers. virtq_enable() refuses a queue whose size is not a power of two or above the
 * maximum, or whose parts are misaligned or not all RAM. virtq_pop() refuses (-EINVAL) a ring it
 * cannot trust: an available idx more than num ahead of the device, a head or next index out of
 * the table, a chain with more than num descriptors (which is also how a loop ends), an
 * indirect descriptor when VIRTIO_F_INDIRECT_DESC was not negotiated, inside an indirect table or
 * with VIRTQ_DESC_F_NEXT, an indirect table that is empty, not a multiple of 16 bytes or not all
 * RAM. The caller (virtio_dev_pop) then sets DEVICE_NEEDS_RESET (§2.1.2) and stops using the
 * queue. A chain that can be walked but breaks a framing rule (a device-readable descriptor
 * after a device-writable one, §2.7.4.2; more than 2^32 bytes, §2.7.5.2) comes back with
 * `malformed` set for the device to refuse with its own error; a buffer outside RAM is found
 * when the device maps it (-EFAULT from the virtq_chain_* helpers).
 *
 * Descriptors and ring entries are read once into host variables and checked there: the guest
 * may rewrite them at any time (another vCPU thread), so nothing is fetched twice.
 *
 * Memory ordering (§2.7.13, §2.7.7, §2.7.10): avail->idx is read with acquire semantics before
 * the ring entry and descriptors it publishes; used->idx is written with release semantics after
 * the used element; a full fence separates the used->idx update from the read of used_event or
 * avail->flags, and the avail_event / flags update from the re-read of avail->idx.
 *
 * The host is little-endian (x86-64), as are all virtio 1.x structures, so fields are loaded as
 * they are. Guest RAM (guest_mem.ram) is at least 8-byte aligned (it is mmap'd), so the checked
 * alignment of the ring parts makes the atomic accesses aligned.
 */
#pragma once
#include <sys/uio.h>

#include "common.h"
#include "devices/guest_mem.h"

_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "virtio structures are little-endian");

#define VIRTQ_DESC_F_NEXT     1 /* §2.7.5 */
#define VIRTQ_DESC_F_WRITE    2
#define VIRTQ_DESC_F_INDIRECT 4
#define VIRTQ_AVAIL_F_NO_INTERRUPT 1 /* §2.7.6 */
#define VIRTQ_USED_F_NO_NOTIFY	   1 /* §2.7.8 */

#define VIRTQ_DESC_SIZE 16
#define VIRTQ_NUM_MAX	256 /* the largest QueueNumMax a tollbooth device offers */

struct virtq_desc {
	u64 addr;
	u32 len;
	u16 flags;
	u16 next;
};
_Static_assert(sizeof(struct virtq_desc) == VIRTQ_DESC_SIZE, "virtq_desc");

/* Counters for the I/O figures (exits per request with and without EVENT_IDX). */
struct virtq_stats {
	u64 notifies;		   /* available buffer notifications (QueueNotify writes: exits) */
	u64 chains;		   /* descriptor chains used (requests) */
	u64 interrupts;		   /* used buffer notifications sent */
	u64 interrupts_suppressed; /* batches of used buffers the driver did not want signalled */
};

struct virtq {
	/* Driver-written configuration (the transport's queue registers) */
	u16 num_max; /* 0: the queue does not exist */
	u16 num;
	u64 desc, avail, used; /* guest-physical addresses of the three parts */
	bool ready;
	/* Negotiated behaviour, fixed when the queue is enabled */
	bool event_idx, indirect;
	/* Device state (§2.6.1.1.1: all of it returns to 0 at a queue reset) */
	u16 last_avail;	   /* the next available ring entry to consume */
	u16 used_idx;	   /* the device's used->idx */
	u16 signalled_used; /* used_idx when the device last decided about an interrupt */
	/* Chains the device may still take in the notification it is serving (virtio.c
	   virtio_dev_pop); 0 outside one: not counted. */
	u32 budget;
	struct virtq_stats stats;
};

/* One buffer of a chain: guest-physical, not yet checked against RAM. */
struct virtq_buf {
	u64 gpa;
	u32 len;
	bool writable;
};

/*
 * A descriptor chain as the device sees it: bufs[0, nr_readable) device-readable, then
 * bufs[nr_readable, nr) device-writable (unless `malformed`). Large (4 KiB): devices keep one in
 * their struct rather than on the stack.
 */
struct virtq_chain {
	u16 head;
	unsigned nr, nr_readable;
	u64 readable_len, writable_len;
	bool malformed; /* walkable, but breaks §2.7.4.2 or §2.7.5.2; refuse the request */
	struct virtq_buf bufs[VIRTQ_NUM_MAX];
};

/* Back to the state of a reset queue (§2.6.1.1.1), keeping num_max and the statistics. */
void virtq_reset(struct virtq *vq);
/* QueueReady 1: check the configuration and start at index 0. 0, or -EINVAL (not enabled). */
int virtq_enable(struct virtq *vq, const struct guest_mem *m, bool event_idx, bool indirect);

/* The next available chain: 1 (in *c), 0 when the ring is empty, -EINVAL when it is unusable. */
int virtq_pop(struct virtq *vq, const struct guest_mem *m, struct virtq_chain *c);
/* Give the last popped chain back (it will be popped again). */
void virtq_unpop(struct virtq *vq);
/* Return chain `head` with `len` bytes written (§2.7.8.2: after writing them). 0 or -EFAULT. */
int virtq_push(struct virtq *vq, const struct guest_mem *m, u16 head, u32 len);
/*
 * After a batch of virtq_push(): whether the driver wants a used buffer notification for it
 * (§2.7.7.2: used_event crossed with EVENT_IDX, else avail->flags without NO_INTERRUPT).
 * Counts the decision in the statistics.
 */
bool virtq_should_interrupt(struct virtq *vq, const struct guest_mem *m);
/* Whether buffers are available (the ring is not empty). */
bool virtq_has_avail(const struct virtq *vq, const struct guest_mem *m);

/*
 * Available buffer notification suppression (§2.7.10.2): disable before draining a queue;
 * enable after, which returns true when buffers arrived meanwhile (drain again). With EVENT_IDX
 * enabling writes avail_event = last_avail; without, it clears VIRTQ_USED_F_NO_NOTIFY.
 */
void virtq_notify_disable(struct virtq *vq, const struct guest_mem *m);
bool virtq_notify_enable(struct virtq *vq, const struct guest_mem *m);

/*
 * Copy bytes [off, off + len) of the chain's device-readable part out, or into its
 * device-writable part (which calls gmem_written). 0; -EINVAL when the range is not inside the
 * part or the chain is malformed; -EFAULT when a byte of it is not RAM (nothing is copied).
 */
int virtq_chain_read(const struct virtq_chain *c, const struct guest_mem *m, u64 off, void *buf,
		     u64 len);
int virtq_chain_write(const struct virtq_chain *c, const struct guest_mem *m, u64 off,
		      const void *buf, u64 len);
/*
 * Host iovecs over bytes [off, off + len) of the readable or writable part, for preadv/pwritev
 * or a backend's readv/writev straight into guest RAM. The number used (at most max_iov; 0 for
 * len 0), -EINVAL or -EFAULT as above, -E2BIG when more than max_iov are needed. After writing
 * through writable iovecs the caller calls virtq_iov_written().
 */
int virtq_chain_iov(const struct virtq_chain *c, const struct guest_mem *m, bool writable, u64 off,
		    u64 len, struct iovec *iov, unsigned max_iov);
/* gmem_written() for the first `len` bytes of iovecs that virtq_chain_iov() made. */
void virtq_iov_written(const struct guest_mem *m, const struct iovec *iov, unsigned nr, u64 len);
