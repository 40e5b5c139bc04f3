// SPDX-License-Identifier: MIT
/* virtio-console, port 0 (virtio 1.2 §5.3): see console.h. */
#include "virtio/console.h"

/*
 * receiveq(port0): fill each receive buffer with what the host has, up to its size; stop (and
 * give the chain back) when the host has nothing. §5.3.6.1: "The driver MUST NOT put a
 * device-readable buffer in a receiveq": such a chain, a malformed or empty one, or one outside
 * RAM, is returned unused (length 0) so it cannot block the queue.
 */
static void virtio_console_rx(struct virtio_console *c)
{
	struct virtio_dev *d = &c->vdev;
	struct virtq_chain *ch = &c->chain;
	int ret;

	for (;;) {
		u64 total = 0;
		int nr;

		ret = virtio_dev_pop(d, VIRTIO_CONSOLE_RX, ch);
		if (ret < 0)
			break;
		if (!ret) {
			if (!virtq_notify_enable(&d->vq[VIRTIO_CONSOLE_RX], d->mem))
				break;
			continue;
		}
		nr = ch->nr_readable || ch->malformed || !ch->writable_len
			     ? -EINVAL
			     : virtq_chain_iov(ch, d->mem, true, 0, ch->writable_len, c->iov,
					       VIRTQ_NUM_MAX);
		if (nr < 0) {
			c->bad_chains++;
			virtio_dev_push(d, VIRTIO_CONSOLE_RX, ch->head, 0);
			continue;
		}
		for (int i = 0; i < nr; i++) {
			struct iovec *v = &c->iov[i];
			size_t n = c->host.rx(c->host.opaque, v->iov_base, v->iov_len);

			total += n;
			if (n < v->iov_len)
				break;
		}
		if (!total) {
			virtq_unpop(&d->vq[VIRTIO_CONSOLE_RX]);
			break;
		}
		virtq_iov_written(d->mem, c->iov, (unsigned)nr, total);
		c->rx_bytes += total;
		virtio_dev_push(d, VIRTIO_CONSOLE_RX, ch->head, (u32)total);
	}
	virtio_dev_interrupt(d, VIRTIO_CONSOLE_RX);
}

/* transmitq(port0): every device-readable byte to the host, in order; §5.3.6.1 "The driver MUST
   NOT put a device-writable buffer in a transmitq": such a chain is dropped unsent. */
static void virtio_console_tx(struct virtio_console *c)
{
	struct virtio_dev *d = &c->vdev;
	struct virtq *vq = &d->vq[VIRTIO_CONSOLE_TX];
	struct virtq_chain *ch = &c->chain;
	int ret;

	do {
		virtq_notify_disable(vq, d->mem);
		while ((ret = virtio_dev_pop(d, VIRTIO_CONSOLE_TX, ch)) > 0) {
			int nr = ch->writable_len || ch->malformed
					 ? -EINVAL
					 : virtq_chain_iov(ch, d->mem, false, 0, ch->readable_len,
							   c->iov, VIRTQ_NUM_MAX);

			if (nr < 0)
				c->bad_chains++;
			for (int i = 0; i < nr; i++)
				c->host.tx(c->host.opaque, c->iov[i].iov_base, c->iov[i].iov_len);
			if (nr > 0)
				c->tx_bytes += ch->readable_len;
			virtio_dev_push(d, VIRTIO_CONSOLE_TX, ch->head, 0);
		}
	} while (!ret && virtq_notify_enable(vq, d->mem));
	virtio_dev_interrupt(d, VIRTIO_CONSOLE_TX);
}

static void virtio_console_queue_notify(struct virtio_dev *d, unsigned q)
{
	struct virtio_console *c = (struct virtio_console *)d;

	if (q == VIRTIO_CONSOLE_RX)
		virtio_console_rx(c);
	else
		virtio_console_tx(c);
}

void virtio_console_rx_ready(struct virtio_console *c)
{
	if (virtio_dev_live(&c->vdev) && c->vdev.vq[VIRTIO_CONSOLE_RX].ready)
		virtio_console_rx(c);
}

/* §5.3.5.1: "The device MUST allow a write to emerg_wr, even on an unconfigured device" and
   "SHOULD transmit the lower byte written to emerg_wr"; the field then reads 0 again. */
static void virtio_console_config_write(struct virtio_dev *d, u32 off, unsigned len)
{
	struct virtio_console *c = (struct virtio_console *)d;
	u8 *emerg = c->config + VIRTIO_CONSOLE_EMERG_WR;

	if (off <= VIRTIO_CONSOLE_EMERG_WR && off + len > VIRTIO_CONSOLE_EMERG_WR) {
		c->host.tx(c->host.opaque, emerg, 1);
		c->tx_bytes++;
	}
	memset(emerg, 0, 4);
}

static const struct virtio_dev_ops virtio_console_ops = {
	.name = "virtio-console",
	.device_id = VIRTIO_ID_CONSOLE,
	.queue_notify = virtio_console_queue_notify,
	.config_write = virtio_console_config_write,
	.config_writable_from = VIRTIO_CONSOLE_EMERG_WR,
	.config_writable_to = VIRTIO_CONSOLE_EMERG_WR + 4,
};

int virtio_console_init(struct virtio_console *c, const struct guest_mem *mem,
			const struct virtio_console_host *host)
{
	c->host = *host;
	c->rx_bytes = c->tx_bytes = c->bad_chains = 0;
	memset(c->config, 0, sizeof(c->config));
	return virtio_dev_init(&c->vdev, &virtio_console_ops, mem,
			       BIT(VIRTIO_CONSOLE_F_EMERG_WRITE), c->config, sizeof(c->config), 2,
			       VIRTIO_CONSOLE_NUM_MAX);
}
