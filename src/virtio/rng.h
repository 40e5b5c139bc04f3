/* SPDX-License-Identifier: MIT */
/*
 * virtio-rng, the entropy device (virtio 1.2 §5.4): one queue, requestq, of device-writable
 * buffers the device fills with random bytes from the host. Linux's virtio_rng feeds them to
 * /dev/hwrng and the kernel's entropy pool.
 */
#pragma once
#include <sys/types.h>

#include "virtio/virtio.h"

#define VIRTIO_RNG_QUEUE     0
#define VIRTIO_RNG_NUM_MAX   64
#define VIRTIO_RNG_MAX_FILL  65536 /* bytes per request: §5.4.6.2 allows less than the buffer */

struct virtio_rng_host {
	/* Up to `len` random bytes into buf without blocking: the count, or -errno. */
	ssize_t (*fill)(void *opaque, void *buf, size_t len);
	void *opaque;
};

struct virtio_rng {
	struct virtio_dev vdev; /* first: the queue handler's container */
	struct virtio_rng_host host;
	struct virtq_chain chain; /* scratch */
	u64 bytes;		  /* random bytes given to the guest */
};

/* `host` NULL: getrandom(2) with GRND_NONBLOCK. 0 (the device is reset). */
int virtio_rng_init(struct virtio_rng *r, const struct guest_mem *mem,
		    const struct virtio_rng_host *host);
