// SPDX-License-Identifier: MIT
/* The device-type-independent part of a virtio device: see virtio.h. Sections are virtio 1.2's. */
#include <errno.h>
#include <string.h>

#include "virtio/virtio.h"

int virtio_dev_init(struct virtio_dev *d, const struct virtio_dev_ops *ops,
		    const struct guest_mem *mem, u64 features, u8 *config, u32 config_len,
		    unsigned nr_queues, u16 queue_num_max)
{
	if (!nr_queues || nr_queues > VIRTIO_MAX_QUEUES || !queue_num_max ||
	    queue_num_max > VIRTQ_NUM_MAX || (queue_num_max & (queue_num_max - 1)))
		return -EINVAL;
	*d = (struct virtio_dev){ .ops = ops, .mem = mem, .config = config,
				  .config_len = config_len, .nr_queues = nr_queues };
	/* §6.2 "A device MUST offer VIRTIO_F_VERSION_1" */
	d->device_features = features | VIRTIO_TRANSPORT_FEATURES;
	for (unsigned q = 0; q < nr_queues; q++)
		d->vq[q].num_max = queue_num_max;
	virtio_dev_reset(d);
	return 0;
}

/* §2.4.1: "A device MUST reinitialize device status to 0 after receiving a reset" and forget
   the queues; statistics survive (they describe the run, not the device). */
void virtio_dev_reset(struct virtio_dev *d)
{
	d->status = 0;
	d->driver_features = 0;
	d->error = NULL;
	for (unsigned q = 0; q < d->nr_queues; q++)
		virtq_reset(&d->vq[q]);
	if (d->ops->reset)
		d->ops->reset(d);
}

bool virtio_dev_has_feature(const struct virtio_dev *d, unsigned bit)
{
	return (d->status & VIRTIO_STATUS_FEATURES_OK) && (d->driver_features & BIT(bit));
}

bool virtio_dev_live(const struct virtio_dev *d)
{
	u8 s = d->status;

	return (s & VIRTIO_STATUS_DRIVER_OK) && (s & VIRTIO_STATUS_FEATURES_OK) &&
	       !(s & (VIRTIO_STATUS_FAILED | VIRTIO_STATUS_DEVICE_NEEDS_RESET));
}

u32 virtio_dev_device_features(const struct virtio_dev *d, u32 sel)
{
	return sel < 2 ? (u32)(d->device_features >> (32 * sel)) : 0;
}

void virtio_dev_set_driver_features(struct virtio_dev *d, u32 sel, u32 value)
{
	if (sel >= 2 || (d->status & VIRTIO_STATUS_FEATURES_OK))
		return;
	d->driver_features &= ~((u64)0xffffffff << (32 * sel));
	d->driver_features |= (u64)value << (32 * sel);
}

/* §2.2.1: the driver accepts only offered features; §6.2: the device "MAY fail to operate
   further if VIRTIO_F_VERSION_1 is not accepted" - tollbooth's devices are non-legacy only, so
   FEATURES_OK does not stick without it (§2.2.2: "it MUST fail to set the FEATURES_OK device
   status bit"). */
static bool virtio_dev_features_acceptable(const struct virtio_dev *d)
{
	return !(d->driver_features & ~d->device_features) &&
	       (d->driver_features & BIT(VIRTIO_F_VERSION_1));
}

/*
 * The device serves queue q's notification: its queue_notify takes chains until the queue is
 * empty. A driver can make that never happen: the device's own writes (a used-ring entry, data
 * into a buffer) land on the available ring and make more buffers available. So one
 * notification takes fewer than VIRTQ_NOTIFY_BUDGET chains (the 16-bit index space: no driver
 * can offer more at once, even with other vCPUs adding buffers meanwhile, without recycling
 * each within the same access) and the device fails at the next (§2.1.2), as it does for other
 * ring errors, instead of looping inside the access for ever.
 */
#define VIRTQ_NOTIFY_BUDGET 65536u

static void virtio_dev_serve(struct virtio_dev *d, unsigned q)
{
	d->vq[q].budget = VIRTQ_NOTIFY_BUDGET;
	d->ops->queue_notify(d, q);
	d->vq[q].budget = 0;
}

void virtio_dev_set_status(struct virtio_dev *d, u8 status)
{
	u8 old = d->status;
	u8 now = old | (status & ~VIRTIO_STATUS_DEVICE_NEEDS_RESET);

	if ((now & VIRTIO_STATUS_FEATURES_OK) && !(old & VIRTIO_STATUS_FEATURES_OK) &&
	    !virtio_dev_features_acceptable(d))
		now &= ~VIRTIO_STATUS_FEATURES_OK;
	d->status = now;
	if ((now & VIRTIO_STATUS_DRIVER_OK) && !(old & VIRTIO_STATUS_DRIVER_OK) &&
	    virtio_dev_live(d))
		for (unsigned q = 0; q < d->nr_queues && virtio_dev_live(d); q++)
			if (d->vq[q].ready)
				virtio_dev_serve(d, q);
}

void virtio_dev_fail(struct virtio_dev *d, const char *why)
{
	if (d->status & VIRTIO_STATUS_DEVICE_NEEDS_RESET)
		return;
	d->status |= VIRTIO_STATUS_DEVICE_NEEDS_RESET;
	d->error = why;
	if (d->status & VIRTIO_STATUS_DRIVER_OK) {
		d->config_interrupts++;
		d->notify(d->transport, VIRTIO_INT_CONFIG);
	}
}

void virtio_dev_config_changed(struct virtio_dev *d)
{
	d->config_generation++;
	if (d->status & VIRTIO_STATUS_DRIVER_OK) {
		d->config_interrupts++;
		d->notify(d->transport, VIRTIO_INT_CONFIG);
	}
}

void virtio_dev_queue_set_ready(struct virtio_dev *d, unsigned q, bool ready)
{
	struct virtq *vq;

	if (q >= d->nr_queues)
		return;
	vq = &d->vq[q];
	if (!ready) {
		vq->ready = false;
		return;
	}
	if (vq->ready)
		return;
	if (virtq_enable(vq, d->mem, d->driver_features & BIT(VIRTIO_F_EVENT_IDX),
			 d->driver_features & BIT(VIRTIO_F_INDIRECT_DESC)))
		virtio_dev_fail(d, "a queue was enabled with a size that is not a power of two up "
				   "to QueueNumMax, or with rings misaligned or outside RAM");
}

void virtio_dev_queue_reset(struct virtio_dev *d, unsigned q)
{
	if (q < d->nr_queues)
		virtq_reset(&d->vq[q]);
}

void virtio_dev_queue_notify(struct virtio_dev *d, unsigned q)
{
	if (q >= d->nr_queues)
		return;
	d->vq[q].stats.notifies++;
	if (d->vq[q].ready && virtio_dev_live(d))
		virtio_dev_serve(d, q);
}

int virtio_dev_pop(struct virtio_dev *d, unsigned q, struct virtq_chain *c)
{
	struct virtq *vq = &d->vq[q];
	int r;

	if (!virtio_dev_live(d))
		return -EIO;
	if (vq->budget && !--vq->budget) {
		virtio_dev_fail(d, "one notification kept the device taking chains past the queue's "
				   "whole index space: the device's own writes make buffers available "
				   "(a ring inside a buffer, or the used ring over the available one)");
		return -EIO;
	}
	r = virtq_pop(vq, d->mem, c);
	if (r < 0)
		virtio_dev_fail(d, "the driver offered a descriptor chain the device cannot walk "
				   "(index out of range, loop, longer than the queue, bad indirect "
				   "table) or moved the available index by more than the queue "
				   "size");
	return r;
}

void virtio_dev_push(struct virtio_dev *d, unsigned q, u16 head, u32 len)
{
	if (virtq_push(&d->vq[q], d->mem, head, len))
		virtio_dev_fail(d, "the used ring is not in RAM");
}

void virtio_dev_interrupt(struct virtio_dev *d, unsigned q)
{
	if (virtq_should_interrupt(&d->vq[q], d->mem))
		d->notify(d->transport, VIRTIO_INT_USED);
}

static bool virtio_dev_config_range(const struct virtio_dev *d, u32 off, unsigned len)
{
	return off <= d->config_len && len <= d->config_len - off;
}

u64 virtio_dev_config_read(struct virtio_dev *d, u32 off, unsigned len)
{
	u64 v = 0;

	if (!virtio_dev_config_range(d, off, len))
		return len >= 8 ? ~0ull : BIT(8 * len) - 1;
	for (unsigned i = 0; i < len; i++)
		v |= (u64)d->config[off + i] << (8 * i);
	return v;
}

void virtio_dev_config_write(struct virtio_dev *d, u32 off, u64 value, unsigned len)
{
	bool wrote = false;

	if (!virtio_dev_config_range(d, off, len))
		return;
	for (unsigned i = 0; i < len; i++) {
		u32 at = off + i;

		if (at >= d->ops->config_writable_from && at < d->ops->config_writable_to) {
			d->config[at] = (u8)(value >> (8 * i));
			wrote = true;
		}
	}
	if (wrote && d->ops->config_write)
		d->ops->config_write(d, off, len);
}

void virtio_dev_print_stats(const struct virtio_dev *d, FILE *out)
{
	for (unsigned q = 0; q < d->nr_queues; q++) {
		const struct virtq_stats *s = &d->vq[q].stats;

		fprintf(out,
			"%s q%u: %llu notifies, %llu requests, %llu interrupts, %llu suppressed",
			d->ops->name, q, (unsigned long long)s->notifies,
			(unsigned long long)s->chains, (unsigned long long)s->interrupts,
			(unsigned long long)s->interrupts_suppressed);
		if (s->chains)
			fprintf(out, " (%.2f exits/request)",
				(double)s->notifies / (double)s->chains);
		fputc('\n', out);
	}
	if (d->error)
		fprintf(out, "%s: device needs reset: %s\n", d->ops->name, d->error);
}
