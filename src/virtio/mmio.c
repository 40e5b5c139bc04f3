// SPDX-License-Identifier: MIT
/* The virtio-mmio transport, version 2: see mmio.h. Sections are virtio 1.2's. */
#include "virtio/mmio.h"

/* §4.2.3.4: "a single, dedicated interrupt signal, which is asserted when at least one of the
   bits described in the description of InterruptStatus is set" */
static void virtio_mmio_update_irq(struct virtio_mmio *t)
{
	irq_set_level(&t->irq, t->interrupt_status != 0);
}

/* §4.2.2.1: "The device MUST present each event by setting the corresponding bit in
   InterruptStatus from the moment it takes place, until the driver acknowledges" it. */
static void virtio_mmio_notify(void *transport, u32 bits)
{
	struct virtio_mmio *t = transport;

	t->interrupt_status |= bits;
	virtio_mmio_update_irq(t);
}

void virtio_mmio_init(struct virtio_mmio *t, struct virtio_dev *dev)
{
	*t = (struct virtio_mmio){ .dev = dev };
	dev->notify = virtio_mmio_notify;
	dev->transport = t;
}

/* §4.2.2.1: "Upon reset, the device MUST clear all bits in InterruptStatus and ready bits in the
   QueueReady register for all queues in the device." */
void virtio_mmio_reset(struct virtio_mmio *t)
{
	virtio_dev_reset(t->dev);
	t->interrupt_status = 0;
	t->device_features_sel = t->driver_features_sel = t->queue_sel = t->shm_sel = 0;
	virtio_mmio_update_irq(t);
}

/* The selected queue, NULL when QueueSel names none (QueueNumMax then reads 0, §4.2.2). */
static struct virtq *virtio_mmio_vq(struct virtio_mmio *t)
{
	return t->queue_sel < t->dev->nr_queues ? &t->dev->vq[t->queue_sel] : NULL;
}

static u32 virtio_mmio_read(struct virtio_mmio *t, u64 offset)
{
	struct virtio_dev *d = t->dev;
	struct virtq *vq = virtio_mmio_vq(t);

	switch (offset) {
	case VIRTIO_MMIO_MAGIC_VALUE:
		return VIRTIO_MMIO_MAGIC;
	case VIRTIO_MMIO_VERSION:
		return VIRTIO_MMIO_VERSION_2;
	case VIRTIO_MMIO_DEVICE_ID:
		return d->ops->device_id;
	case VIRTIO_MMIO_VENDOR:
		return VIRTIO_MMIO_VENDOR_ID;
	case VIRTIO_MMIO_DEVICE_FEATURES:
		return virtio_dev_device_features(d, t->device_features_sel);
	case VIRTIO_MMIO_QUEUE_NUM_MAX:
		return vq ? vq->num_max : 0;
	case VIRTIO_MMIO_QUEUE_READY:
		return vq && vq->ready;
	case VIRTIO_MMIO_INTERRUPT_STATUS:
		return t->interrupt_status;
	case VIRTIO_MMIO_STATUS:
		return d->status;
	/* No shared memory regions: "Reading from a non-existent region ... results in a length
	   of -1" and "a base address of 0xffffffffffffffff". */
	case VIRTIO_MMIO_SHM_LEN_LOW:
	case VIRTIO_MMIO_SHM_LEN_HIGH:
	case VIRTIO_MMIO_SHM_BASE_LOW:
	case VIRTIO_MMIO_SHM_BASE_HIGH:
		return 0xffffffff;
	/* A queue reset completes within the write (§4.2.2.1: 1 only "as long as the queue reset
	   is ongoing"), so QueueReset always reads 0. */
	case VIRTIO_MMIO_QUEUE_RESET:
		return 0;
	case VIRTIO_MMIO_CONFIG_GENERATION:
		return d->config_generation;
	default:
		return 0;
	}
}

/* QueueNum and the ring addresses are the driver's only while the queue is not ready
   (§4.2.2.2: "When QueueReady is not zero, the driver MUST NOT access QueueNum, QueueDescLow,
   ..."); later writes are ignored. */
static void virtio_mmio_set_addr(struct virtq *vq, u64 *addr, bool high, u32 v)
{
	if (!vq || vq->ready)
		return;
	if (high)
		*addr = (*addr & 0xffffffffull) | (u64)v << 32;
	else
		*addr = (*addr & ~0xffffffffull) | v;
}

static void virtio_mmio_write(struct virtio_mmio *t, u64 offset, u32 v)
{
	struct virtio_dev *d = t->dev;
	struct virtq *vq = virtio_mmio_vq(t);

	switch (offset) {
	case VIRTIO_MMIO_DEVICE_FEATURES_SEL:
		t->device_features_sel = v;
		break;
	case VIRTIO_MMIO_DRIVER_FEATURES:
		virtio_dev_set_driver_features(d, t->driver_features_sel, v);
		break;
	case VIRTIO_MMIO_DRIVER_FEATURES_SEL:
		t->driver_features_sel = v;
		break;
	case VIRTIO_MMIO_QUEUE_SEL:
		t->queue_sel = v;
		break;
	case VIRTIO_MMIO_QUEUE_NUM:
		/* checked when the queue is enabled; a size beyond 16 bits can never be valid */
		if (vq && !vq->ready)
			vq->num = v > 0xffff ? 0 : (u16)v;
		break;
	case VIRTIO_MMIO_QUEUE_READY:
		/* "Writing one (0x1) to this register notifies the device that it can execute
		   requests from this virtual queue"; 0 stops it; other values are ignored. */
		if (v <= 1)
			virtio_dev_queue_set_ready(d, t->queue_sel, v);
		break;
	case VIRTIO_MMIO_QUEUE_NOTIFY:
		/* §4.2.3.3: without VIRTIO_F_NOTIFICATION_DATA the value is the queue index */
		if (t->defer)
			t->defer(t->defer_opaque, v);
		else
			virtio_dev_queue_notify(d, v);
		break;
	case VIRTIO_MMIO_INTERRUPT_ACK:
		t->interrupt_status &= ~v;
		virtio_mmio_update_irq(t);
		break;
	case VIRTIO_MMIO_STATUS:
		/* "Writing zero (0x0) to this register triggers a device reset." */
		if (!v)
			virtio_mmio_reset(t);
		else
			virtio_dev_set_status(d, (u8)v);
		break;
	case VIRTIO_MMIO_QUEUE_DESC_LOW:
	case VIRTIO_MMIO_QUEUE_DESC_HIGH:
		virtio_mmio_set_addr(vq, vq ? &vq->desc : NULL, offset & 4, v);
		break;
	case VIRTIO_MMIO_QUEUE_DRIVER_LOW:
	case VIRTIO_MMIO_QUEUE_DRIVER_HIGH:
		virtio_mmio_set_addr(vq, vq ? &vq->avail : NULL, offset & 4, v);
		break;
	case VIRTIO_MMIO_QUEUE_DEVICE_LOW:
	case VIRTIO_MMIO_QUEUE_DEVICE_HIGH:
		virtio_mmio_set_addr(vq, vq ? &vq->used : NULL, offset & 4, v);
		break;
	case VIRTIO_MMIO_SHM_SEL:
		t->shm_sel = v;
		break;
	case VIRTIO_MMIO_QUEUE_RESET:
		/* "If VIRTIO_F_RING_RESET has been negotiated, writing one (0x1) to this register
		   selectively resets the queue" */
		if (v == 1 && virtio_dev_has_feature(d, VIRTIO_F_RING_RESET))
			virtio_dev_queue_reset(d, t->queue_sel);
		break;
	default:
		break;
	}
}

void virtio_mmio_access(void *opaque, u64 offset, u64 *data, unsigned len, bool is_write)
{
	struct virtio_mmio *t = opaque;

	if (offset >= VIRTIO_MMIO_CONFIG) {
		u32 off = (u32)(offset - VIRTIO_MMIO_CONFIG);

		if (is_write)
			virtio_dev_config_write(t->dev, off, *data, len);
		else
			*data = virtio_dev_config_read(t->dev, off, len);
		return;
	}
	if (len != 4 || offset % 4) {
		if (!is_write)
			*data = 0;
		return;
	}
	if (is_write)
		virtio_mmio_write(t, offset, (u32)*data);
	else
		*data = virtio_mmio_read(t, offset);
}

unsigned virtio_mmio_run_script(struct virtio_mmio *t, const u8 *script, size_t len)
{
	unsigned ops = 0;
	size_t i = 0;

	while (i + 3 <= len) {
		u8 ctl = script[i];
		unsigned size = 1u << (ctl & 3);
		u64 offset = ((u64)script[i + 1] | (u64)script[i + 2] << 8) % VIRTIO_MMIO_SIZE;
		u64 data = 0;

		i += 3;
		if (ctl & 0x80) {
			if (i + size > len)
				break;
			for (unsigned b = 0; b < size; b++)
				data |= (u64)script[i + b] << (8 * b);
			i += size;
		}
		virtio_mmio_access(t, offset, &data, size, ctl & 0x80);
		ops++;
	}
	return ops;
}
