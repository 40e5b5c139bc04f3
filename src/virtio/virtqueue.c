// SPDX-License-Identifier: MIT
/* Split virtqueues, device side: see virtqueue.h. Sections are virtio 1.2's. */
#include <errno.h>
#include <string.h>

#include "virtio/virtqueue.h"

/* Offsets inside the parts (§2.7.6, §2.7.8) */
#define AVAIL_FLAGS	 0
#define AVAIL_IDX	 2
#define AVAIL_RING(i)	 (4 + 2 * (u64)(i))
#define USED_FLAGS	 0
#define USED_IDX	 2
#define USED_RING(i)	 (4 + 8 * (u64)(i))
#define DESC_TABLE_SIZE(n) (16 * (u64)(n))
#define AVAIL_SIZE(n)	 (6 + 2 * (u64)(n)) /* with used_event */
#define USED_SIZE(n)	 (6 + 8 * (u64)(n)) /* with avail_event */

void virtq_reset(struct virtq *vq)
{
	u16 num_max = vq->num_max;
	struct virtq_stats stats = vq->stats;

	*vq = (struct virtq){ .num_max = num_max, .num = num_max, .stats = stats };
}

/*
 * §2.7: "Queue Size value is always a power of 2. The maximum Queue Size value is 32768"; the
 * driver MUST write a QueueNum no larger than QueueNumMax (§4.2.2.2) and MUST align each part
 * (§2.7.1). The device checks, once, that every part is RAM, so a ring access never leaves RAM.
 */
int virtq_enable(struct virtq *vq, const struct guest_mem *m, bool event_idx, bool indirect)
{
	u16 n = vq->num;

	if (!n || (n & (n - 1)) || n > vq->num_max)
		return -EINVAL;
	if (vq->desc % 16 || vq->avail % 2 || vq->used % 4)
		return -EINVAL;
	if (!gmem_in_ram(m, vq->desc, DESC_TABLE_SIZE(n)) ||
	    !gmem_in_ram(m, vq->avail, AVAIL_SIZE(n)) || !gmem_in_ram(m, vq->used, USED_SIZE(n)))
		return -EINVAL;
	vq->event_idx = event_idx;
	vq->indirect = indirect;
	vq->last_avail = vq->used_idx = vq->signalled_used = 0;
	vq->ready = true;
	return 0;
}

/* The ring parts were checked by virtq_enable(); these never fail for an enabled queue. */
static u16 *virtq_avail_u16(const struct virtq *vq, const struct guest_mem *m, u64 off)
{
	return gmem_ptr_rw(m, vq->avail + off, 2);
}

static u16 *virtq_used_u16(const struct virtq *vq, const struct guest_mem *m, u64 off)
{
	return gmem_ptr_rw(m, vq->used + off, 2);
}

/* §2.7.13.3: the driver publishes ring entries, then idx; acquire pairs with its barrier. */
static u16 virtq_avail_idx(const struct virtq *vq, const struct guest_mem *m)
{
	return __atomic_load_n(virtq_avail_u16(vq, m, AVAIL_IDX), __ATOMIC_ACQUIRE);
}

static void virtq_used_store(const struct virtq *vq, const struct guest_mem *m, u64 off, u16 v,
			     int order)
{
	__atomic_store_n(virtq_used_u16(vq, m, off), v, order);
	gmem_written(m, vq->used + off, 2);
}

bool virtq_has_avail(const struct virtq *vq, const struct guest_mem *m)
{
	return vq->ready && virtq_avail_idx(vq, m) != vq->last_avail;
}

/*
 * Walk the chain from `head` (§2.7.5): direct descriptors, at most one indirect descriptor that
 * ends the direct part (§2.7.5.3.2: "zero or more normal chained descriptors followed by a
 * single descriptor with flags&VIRTQ_DESC_F_INDIRECT", whose WRITE flag is ignored), then the
 * indirect table's chain from its entry 0. Every descriptor is copied once before use.
 */
static int virtq_walk(const struct virtq *vq, const struct guest_mem *m, u16 head,
		      struct virtq_chain *c)
{
	u64 table = vq->desc, table_len = vq->num;
	bool in_indirect = false;
	u32 i = head;

	c->head = head;
	c->nr = c->nr_readable = 0;
	c->readable_len = c->writable_len = 0;
	c->malformed = false;
	for (;;) {
		struct virtq_desc d;
		bool writable;

		if (i >= table_len)
			return -EINVAL;
		if (gmem_read(m, table + VIRTQ_DESC_SIZE * (u64)i, &d, sizeof(d)))
			return -EINVAL;
		if (d.flags & VIRTQ_DESC_F_INDIRECT) {
			/* §2.7.5.3.1: only with the feature, not inside a table, not with NEXT */
			if (!vq->indirect || in_indirect || (d.flags & VIRTQ_DESC_F_NEXT))
				return -EINVAL;
			if (!d.len || d.len % VIRTQ_DESC_SIZE || !gmem_in_ram(m, d.addr, d.len))
				return -EINVAL;
			table = d.addr;
			table_len = d.len / VIRTQ_DESC_SIZE;
			in_indirect = true;
			i = 0;
			continue;
		}
		/* §2.7.5.3.1 "A driver MUST NOT create a descriptor chain longer than the Queue
		   Size of the device"; a loop runs into this limit too (§2.7.5.2). */
		if (c->nr == vq->num)
			return -EINVAL;
		writable = d.flags & VIRTQ_DESC_F_WRITE;
		if (writable) {
			c->writable_len += d.len;
		} else {
			/* §2.7.4.2: device-writable elements come after the readable ones */
			if (c->nr != c->nr_readable)
				c->malformed = true;
			else
				c->nr_readable++;
			c->readable_len += d.len;
		}
		c->bufs[c->nr++] = (struct virtq_buf){ .gpa = d.addr, .len = d.len,
						       .writable = writable };
		if (!(d.flags & VIRTQ_DESC_F_NEXT))
			break;
		i = d.next;
	}
	/* §2.7.5.2: "Drivers MUST NOT add a descriptor chain longer than 2^32 bytes in total" */
	if (c->readable_len + c->writable_len > BIT(32))
		c->malformed = true;
	return 1;
}

int virtq_pop(struct virtq *vq, const struct guest_mem *m, struct virtq_chain *c)
{
	u16 idx, pending, head;

	if (!vq->ready)
		return 0;
	idx = virtq_avail_idx(vq, m);
	pending = (u16)(idx - vq->last_avail);
	if (!pending)
		return 0;
	/* At most num chains are outstanding (§2.7.13: the ring is as large as the table); more
	   means the driver moved idx backwards (§2.7.6.1) or wildly forwards. */
	if (pending > vq->num)
		return -EINVAL;
	head = *virtq_avail_u16(vq, m, AVAIL_RING(vq->last_avail & (vq->num - 1)));
	vq->last_avail++;
	if (head >= vq->num)
		return -EINVAL;
	return virtq_walk(vq, m, head, c);
}

void virtq_unpop(struct virtq *vq)
{
	vq->last_avail--;
}

/* §2.7.8.2: "The device MUST set len prior to updating the used idx": element, then a release
   store of idx. */
int virtq_push(struct virtq *vq, const struct guest_mem *m, u16 head, u32 len)
{
	u32 elem[2] = { head, len };

	if (gmem_write(m, vq->used + USED_RING(vq->used_idx & (vq->num - 1)), elem, sizeof(elem)))
		return -EFAULT;
	vq->used_idx++;
	virtq_used_store(vq, m, USED_IDX, vq->used_idx, __ATOMIC_RELEASE);
	vq->stats.chains++;
	return 0;
}

/*
 * §2.7.7.2. With EVENT_IDX a notification is due when the batch wrote the entry at index
 * used_event, i.e. used_event is in [old, new) modulo 2^16 (Linux's vring_need_event). Without,
 * when the driver left VIRTQ_AVAIL_F_NO_INTERRUPT clear. The fence orders the used->idx store
 * before the read of the driver's suppression field (the driver re-checks used->idx after
 * updating it, §2.7.14's note).
 */
bool virtq_should_interrupt(struct virtq *vq, const struct guest_mem *m)
{
	u16 old = vq->signalled_used, now = vq->used_idx;
	bool need;

	if (old == now)
		return false;
	vq->signalled_used = now;
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (vq->event_idx) {
		u16 used_event = __atomic_load_n(virtq_avail_u16(vq, m, AVAIL_RING(vq->num)),
						 __ATOMIC_RELAXED);

		need = (u16)(now - used_event - 1) < (u16)(now - old);
	} else {
		need = !(__atomic_load_n(virtq_avail_u16(vq, m, AVAIL_FLAGS), __ATOMIC_RELAXED) &
			 VIRTQ_AVAIL_F_NO_INTERRUPT);
	}
	if (need)
		vq->stats.interrupts++;
	else
		vq->stats.interrupts_suppressed++;
	return need;
}

/* §2.7.10.2: with EVENT_IDX the device "MUST set flags to 0" and leaves avail_event where it
   is (the driver notifies once when it crosses it); without, flags = NO_NOTIFY. */
void virtq_notify_disable(struct virtq *vq, const struct guest_mem *m)
{
	if (vq->ready && !vq->event_idx)
		virtq_used_store(vq, m, USED_FLAGS, VIRTQ_USED_F_NO_NOTIFY, __ATOMIC_RELAXED);
}

bool virtq_notify_enable(struct virtq *vq, const struct guest_mem *m)
{
	if (!vq->ready)
		return false;
	if (vq->event_idx)
		virtq_used_store(vq, m, USED_RING(vq->num), vq->last_avail, __ATOMIC_RELAXED);
	else
		virtq_used_store(vq, m, USED_FLAGS, 0, __ATOMIC_RELAXED);
	/* the driver writes idx, then reads flags / avail_event (§2.7.13.4.1); the device
	   writes those, then reads idx: one of the two sees the other */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	return virtq_avail_idx(vq, m) != vq->last_avail;
}

/*
 * Visit bytes [off, off + len) of the readable or writable part as host ranges. Every buffer the
 * range touches is checked against RAM before the first visit, so a failure copies nothing.
 */
typedef int (*virtq_span_fn)(void *ctx, u8 *host, u64 gpa, u64 n);

static int virtq_chain_spans(const struct virtq_chain *c, const struct guest_mem *m,
			     bool writable, u64 off, u64 len, virtq_span_fn fn, void *ctx)
{
	unsigned first = writable ? c->nr_readable : 0, end = writable ? c->nr : c->nr_readable;
	u64 part = writable ? c->writable_len : c->readable_len;

	if (c->malformed || off > part || len > part - off)
		return -EINVAL;
	for (int pass = 0; pass < 2; pass++) {
		u64 o = off, left = len;

		for (unsigned k = first; k < end && left; k++) {
			const struct virtq_buf *b = &c->bufs[k];
			u64 n;
			int err;

			if (o >= b->len) {
				o -= b->len;
				continue;
			}
			n = b->len - o < left ? b->len - o : left;
			if (!pass) {
				if (!gmem_in_ram(m, b->gpa, b->len))
					return -EFAULT;
			} else {
				err = fn(ctx, m->ram + b->gpa + o, b->gpa + o, n);
				if (err)
					return err;
			}
			o = 0;
			left -= n;
		}
	}
	return 0;
}

struct virtq_copy {
	const struct guest_mem *m;
	u8 *buf;
};

static int virtq_span_read(void *ctx, u8 *host, u64 gpa, u64 n)
{
	struct virtq_copy *cp = ctx;

	memcpy(cp->buf, host, n);
	cp->buf += n;
	return 0;
}

static int virtq_span_write(void *ctx, u8 *host, u64 gpa, u64 n)
{
	struct virtq_copy *cp = ctx;

	memcpy(host, cp->buf, n);
	gmem_written(cp->m, gpa, n);
	cp->buf += n;
	return 0;
}

int virtq_chain_read(const struct virtq_chain *c, const struct guest_mem *m, u64 off, void *buf,
		     u64 len)
{
	struct virtq_copy cp = { m, buf };

	return virtq_chain_spans(c, m, false, off, len, virtq_span_read, &cp);
}

int virtq_chain_write(const struct virtq_chain *c, const struct guest_mem *m, u64 off,
		      const void *buf, u64 len)
{
	struct virtq_copy cp = { m, (u8 *)buf };

	return virtq_chain_spans(c, m, true, off, len, virtq_span_write, &cp);
}

struct virtq_iovs {
	struct iovec *iov;
	unsigned nr, max;
};

static int virtq_span_iov(void *ctx, u8 *host, u64 gpa, u64 n)
{
	struct virtq_iovs *v = ctx;

	if (v->nr == v->max)
		return -E2BIG;
	v->iov[v->nr++] = (struct iovec){ .iov_base = host, .iov_len = n };
	return 0;
}

int virtq_chain_iov(const struct virtq_chain *c, const struct guest_mem *m, bool writable, u64 off,
		    u64 len, struct iovec *iov, unsigned max_iov)
{
	struct virtq_iovs v = { iov, 0, max_iov };
	int err = virtq_chain_spans(c, m, writable, off, len, virtq_span_iov, &v);

	return err ? err : (int)v.nr;
}

void virtq_iov_written(const struct guest_mem *m, const struct iovec *iov, unsigned nr, u64 len)
{
	for (unsigned i = 0; i < nr && len; i++) {
		u64 n = iov[i].iov_len < len ? iov[i].iov_len : len;

		gmem_written(m, (u64)((u8 *)iov[i].iov_base - m->ram), n);
		len -= n;
	}
}
