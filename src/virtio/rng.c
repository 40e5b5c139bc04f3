// SPDX-License-Identifier: MIT
/* virtio-rng (virtio 1.2 §5.4): see rng.h. */
#include <errno.h>
#include <sys/random.h>

#include "virtio/rng.h"

static ssize_t virtio_rng_getrandom(void *opaque, void *buf, size_t len)
{
	ssize_t n;

	do
		n = getrandom(buf, len, GRND_NONBLOCK);
	while (n < 0 && errno == EINTR);
	return n < 0 ? -errno : n;
}

/*
 * Fill the chain's writable buffers in order until the host source comes up short; the count.
 * §5.4.6.1: "The driver MUST NOT place driver-readable buffers into the queue", so a chain with
 * one (or malformed, or with a buffer outside RAM) gets nothing. So does a request the host
 * cannot serve right now (getrandom before the host's pool is ready): the driver sees a used
 * length of 0 and asks again, where holding the buffer could leave it waiting forever.
 */
static u32 virtio_rng_fill(struct virtio_rng *r)
{
	struct virtq_chain *c = &r->chain;
	struct iovec iov[VIRTQ_NUM_MAX];
	u64 want = c->writable_len < VIRTIO_RNG_MAX_FILL ? c->writable_len : VIRTIO_RNG_MAX_FILL;
	u32 total = 0;
	int nr;

	if (c->nr_readable || c->malformed)
		return 0;
	nr = virtq_chain_iov(c, r->vdev.mem, true, 0, want, iov, VIRTQ_NUM_MAX);
	for (int i = 0; i < nr; i++) {
		ssize_t n = r->host.fill(r->host.opaque, iov[i].iov_base, iov[i].iov_len);

		if (n <= 0)
			break;
		total += (u32)n;
		if ((size_t)n < iov[i].iov_len)
			break;
	}
	if (nr > 0)
		virtq_iov_written(r->vdev.mem, iov, (unsigned)nr, total);
	return total;
}

static void virtio_rng_queue_notify(struct virtio_dev *d, unsigned q)
{
	struct virtio_rng *r = (struct virtio_rng *)d;
	int ret;

	do {
		virtq_notify_disable(&d->vq[q], d->mem);
		while ((ret = virtio_dev_pop(d, q, &r->chain)) > 0) {
			u32 n = virtio_rng_fill(r);

			r->bytes += n;
			virtio_dev_push(d, q, r->chain.head, n);
		}
	} while (!ret && virtq_notify_enable(&d->vq[q], d->mem));
	virtio_dev_interrupt(d, q);
}

static const struct virtio_dev_ops virtio_rng_ops = {
	.name = "virtio-rng",
	.device_id = VIRTIO_ID_RNG,
	.queue_notify = virtio_rng_queue_notify,
};

int virtio_rng_init(struct virtio_rng *r, const struct guest_mem *mem,
		    const struct virtio_rng_host *host)
{
	int err;

	/* §5.4.3: no feature bits; §5.4.4: no configuration space */
	err = virtio_dev_init(&r->vdev, &virtio_rng_ops, mem, 0, NULL, 0, 1, VIRTIO_RNG_NUM_MAX);
	if (err)
		return err;
	r->host = host ? *host : (struct virtio_rng_host){ .fill = virtio_rng_getrandom };
	r->bytes = 0;
	return 0;
}
