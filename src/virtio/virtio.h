/* SPDX-License-Identifier: MIT */
/*
 * A virtio 1.x device, independent of its device type and of its transport (virtio 1.2 ch. 2-3):
 * device status (§2.1), feature negotiation (§2.2, ch. 6), reset (§2.4), the device
 * configuration space (§2.5), virtqueues (§2.6, §2.7) and notifications (§2.3).
 *
 * Layering: a device type (blk.c, console.c, rng.c, net.c) embeds a struct virtio_dev and fills
 * its ops; a transport (mmio.c; a virtio-pci transport later) drives it from its registers through
 * the virtio_dev_* functions below and receives its interrupts through `notify`. Neither side
 * knows the other's kind.
 *
 * Notifications run synchronously: a QueueNotify write calls virtio_dev_queue_notify(), which
 * runs the device's queue handler under the VM's device lock. The handler only needs that lock
 * and the ring accesses are ordered as a real device's (virtqueue.h), so a worker thread or a KVM
 * ioeventfd can later call virtio_dev_queue_notify() instead of the vCPU, unchanged.
 */
#pragma once
#include <stdio.h>

#include "common.h"
#include "devices/guest_mem.h"
#include "virtio/virtqueue.h"

/* §2.1 Device Status Field */
#define VIRTIO_STATUS_ACKNOWLEDGE	1
#define VIRTIO_STATUS_DRIVER		2
#define VIRTIO_STATUS_DRIVER_OK		4
#define VIRTIO_STATUS_FEATURES_OK	8
#define VIRTIO_STATUS_DEVICE_NEEDS_RESET 64
#define VIRTIO_STATUS_FAILED		128

/* Ch. 6 Reserved Feature Bits (the ones tollbooth's devices offer or refuse) */
#define VIRTIO_F_INDIRECT_DESC 28
#define VIRTIO_F_EVENT_IDX     29
#define VIRTIO_F_VERSION_1     32
#define VIRTIO_F_RING_RESET    40
/* What every tollbooth device offers besides its own bits */
#define VIRTIO_TRANSPORT_FEATURES                                                                \
	(BIT(VIRTIO_F_INDIRECT_DESC) | BIT(VIRTIO_F_EVENT_IDX) | BIT(VIRTIO_F_VERSION_1) |        \
	 BIT(VIRTIO_F_RING_RESET))

/* Device IDs (§5) */
#define VIRTIO_ID_NET	  1
#define VIRTIO_ID_BLOCK	  2
#define VIRTIO_ID_CONSOLE 3
#define VIRTIO_ID_RNG	  4

#define VIRTIO_MAX_QUEUES 4

/* What a transport signals (MMIO's InterruptStatus bits, §4.2.2) */
#define VIRTIO_INT_USED	  BIT(0) /* used buffer notification */
#define VIRTIO_INT_CONFIG BIT(1) /* configuration change notification */

struct virtio_dev;

struct virtio_dev_ops {
	const char *name; /* "virtio-blk", ... for messages and statistics */
	u32 device_id;
	/* Consume what queue q holds (the driver notified it, or DRIVER_OK was just set). */
	void (*queue_notify)(struct virtio_dev *d, unsigned q);
	/* §2.4: device-type state back to its reset values; NULL when there is none. */
	void (*reset)(struct virtio_dev *d);
	/* The driver wrote bytes [off, off + len) of the configuration space (already stored in
	   config[] when the field is writable, see `config_writable`); NULL: nothing to do. */
	void (*config_write)(struct virtio_dev *d, u32 off, unsigned len);
	/* Bytes of config[] the driver may write, as [from, to); the rest are read-only. */
	u32 config_writable_from, config_writable_to;
};

struct virtio_dev {
	const struct virtio_dev_ops *ops;
	const struct guest_mem *mem;
	u64 device_features;
	u64 driver_features; /* what the driver wrote; the negotiated set once FEATURES_OK */
	u8 status;
	u32 config_generation;
	u8 *config; /* the device's little-endian configuration space, in its own struct */
	u32 config_len;
	unsigned nr_queues;
	struct virtq vq[VIRTIO_MAX_QUEUES];
	/* The transport's interrupt input (VIRTIO_INT_* bits); set by the transport's init. */
	void (*notify)(void *transport, u32 bits);
	void *transport;
	/* Why the device set DEVICE_NEEDS_RESET (a constant string), NULL while it has not. */
	const char *error;
	u64 config_interrupts;
};

/* Called by a device type's init: everything zero, then these. 0 or -EINVAL (bad sizes). */
int virtio_dev_init(struct virtio_dev *d, const struct virtio_dev_ops *ops,
		    const struct guest_mem *mem, u64 features, u8 *config, u32 config_len,
		    unsigned nr_queues, u16 queue_num_max);

/* §2.4 device reset: status 0, no features, every queue reset, then ops->reset. The transport
   clears its own state (MMIO: InterruptStatus) itself. */
void virtio_dev_reset(struct virtio_dev *d);

/*
 * A driver write of the device status (non-zero; 0 is a reset). Bits are only ever added
 * (§2.1.1: "The driver MUST NOT clear a device status bit"; a value without them keeps them);
 * FEATURES_OK sticks only when the features are acceptable (§2.2.2, §3.1.1 step 6); setting
 * DRIVER_OK runs every ready queue (buffers the driver offered before it, §2.1.2).
 */
void virtio_dev_set_status(struct virtio_dev *d, u8 status);
/* Write 32 bits of the driver features (sel 0: bits 0-31, 1: 32-63; others ignored).
   Ignored once FEATURES_OK is set: the negotiated set is fixed. */
void virtio_dev_set_driver_features(struct virtio_dev *d, u32 sel, u32 value);
u32 virtio_dev_device_features(const struct virtio_dev *d, u32 sel);
bool virtio_dev_has_feature(const struct virtio_dev *d, unsigned bit); /* negotiated */
/* DRIVER_OK and FEATURES_OK set, neither FAILED nor DEVICE_NEEDS_RESET: queues may run. */
bool virtio_dev_live(const struct virtio_dev *d);

/* QueueReady: 1 enables queue q (DEVICE_NEEDS_RESET when its configuration is unusable),
   0 disables it. */
void virtio_dev_queue_set_ready(struct virtio_dev *d, unsigned q, bool ready);
/* §2.6.1 Virtqueue Reset (VIRTIO_F_RING_RESET): queue q back to its reset state. */
void virtio_dev_queue_reset(struct virtio_dev *d, unsigned q);
/* An available buffer notification for queue q: counted, then handled when q is ready and the
   device live (§2.1.2); ignored otherwise, as is a q that does not exist. */
void virtio_dev_queue_notify(struct virtio_dev *d, unsigned q);

/* For queue handlers. virtio_dev_pop: 1 with a chain, 0 when none; negative when the handler
   must stop: -EINVAL when the ring is unusable (the device went to DEVICE_NEEDS_RESET just now),
   -EIO when the device is not live (§2.1.2: it consumes nothing then). */
int virtio_dev_pop(struct virtio_dev *d, unsigned q, struct virtq_chain *c);
void virtio_dev_push(struct virtio_dev *d, unsigned q, u16 head, u32 len);
/* After a batch of pushes: the used buffer notification when the driver wants one. */
void virtio_dev_interrupt(struct virtio_dev *d, unsigned q);

/* §2.1.2: "The device SHOULD set DEVICE_NEEDS_RESET when it enters an error state that a reset
   is needed. If DRIVER_OK is set, after it sets DEVICE_NEEDS_RESET, the device MUST send a
   device configuration change notification". `why` is a constant string. */
void virtio_dev_fail(struct virtio_dev *d, const char *why);
/* The device changed its configuration space: new generation, configuration change
   notification once DRIVER_OK is set (§2.5, §4.2.2.1). */
void virtio_dev_config_changed(struct virtio_dev *d);

/* Configuration space accesses by the transport, little-endian, `len` 1/2/4/8. An access not
   wholly inside the space reads all ones and writes nothing (QEMU's answer; §4.2.2.2 leaves it
   to the device). Writes reach only the device's writable bytes. */
u64 virtio_dev_config_read(struct virtio_dev *d, u32 off, unsigned len);
void virtio_dev_config_write(struct virtio_dev *d, u32 off, u64 value, unsigned len);

/* Little-endian stores into a configuration space */
static inline void virtio_put_le16(u8 *p, u16 v)
{
	p[0] = (u8)v;
	p[1] = (u8)(v >> 8);
}

static inline void virtio_put_le32(u8 *p, u32 v)
{
	virtio_put_le16(p, (u16)v);
	virtio_put_le16(p + 2, (u16)(v >> 16));
}

static inline void virtio_put_le64(u8 *p, u64 v)
{
	virtio_put_le32(p, (u32)v);
	virtio_put_le32(p + 4, (u32)(v >> 32));
}

static inline u32 virtio_get_le32(const u8 *p)
{
	return (u32)p[0] | (u32)p[1] << 8 | (u32)p[2] << 16 | (u32)p[3] << 24;
}

/*
 * One line per queue for the VMM's statistics: "<name> q<i>: N notifies, N requests, N
 * interrupts, N suppressed (N.NN exits/request)", and the device error if any.
 */
void virtio_dev_print_stats(const struct virtio_dev *d, FILE *out);
