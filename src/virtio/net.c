// SPDX-License-Identifier: MIT
/* virtio-net (virtio 1.2 §5.1): see net.h. */
#include "virtio/net.h"

/* §5.1.6 struct virtio_net_hdr with VIRTIO_F_VERSION_1 */
struct virtio_net_hdr {
	u8 flags;
	u8 gso_type;
	u16 hdr_len;
	u16 gso_size;
	u16 csum_start;
	u16 csum_offset;
	u16 num_buffers;
};
_Static_assert(sizeof(struct virtio_net_hdr) == VIRTIO_NET_HDR_SIZE, "virtio_net_hdr");

/* What the backend gets for every transmitted frame: no offload was negotiated (§5.1.6.2.1:
   the driver sets flags and gso_type to 0 then; the device passes nothing else on). */
static const struct virtio_net_hdr virtio_net_tx_hdr;

/*
 * receiveq1 (§5.1.6.3, §5.1.6.4). §5.1.6.4.1: without VIRTIO_NET_F_MRG_RXBUF "the device MUST set
 * num_buffers to 1"; without VIRTIO_NET_F_GUEST_CSUM it "MUST set flags to zero", and with no
 * GUEST_TSO/UFO gso_type is VIRTIO_NET_HDR_GSO_NONE (0): the device writes the whole header
 * itself, whatever the backend put there. A chain with device-readable buffers, malformed, not
 * in RAM or too short for a header is returned unused (length 0; Linux counts it as a length
 * error and recycles it).
 */
static void virtio_net_rx(struct virtio_net *n)
{
	static const struct virtio_net_hdr rx_hdr = { .num_buffers = 1 };
	struct virtio_dev *d = &n->vdev;
	struct virtq *vq = &d->vq[VIRTIO_NET_RX];
	struct virtq_chain *c = &n->chain;

	for (;;) {
		ssize_t got;
		int ret, nr;

		ret = virtio_dev_pop(d, VIRTIO_NET_RX, c);
		if (ret < 0)
			break;
		if (!ret) {
			if (!virtq_notify_enable(vq, d->mem))
				break;
			continue;
		}
		nr = c->nr_readable || c->malformed || c->writable_len < VIRTIO_NET_HDR_SIZE
			     ? -EINVAL
			     : virtq_chain_iov(c, d->mem, true, 0, c->writable_len, n->iov,
					       VIRTQ_NUM_MAX);
		if (nr < 0) {
			n->stats.bad_chains++;
			virtio_dev_push(d, VIRTIO_NET_RX, c->head, 0);
			continue;
		}
		got = n->be.recv(n->be.opaque, n->iov, nr);
		if (got == -EMSGSIZE || (got > 0 && got < VIRTIO_NET_HDR_SIZE)) {
			n->stats.rx_dropped++;
			virtq_unpop(vq);
			continue;
		}
		if (got <= 0) {
			virtq_unpop(vq);
			break;
		}
		virtq_chain_write(c, d->mem, 0, &rx_hdr, sizeof(rx_hdr));
		virtq_iov_written(d->mem, n->iov, (unsigned)nr, (u64)got);
		n->stats.rx_frames++;
		virtio_dev_push(d, VIRTIO_NET_RX, c->head, (u32)got);
	}
	virtio_dev_interrupt(d, VIRTIO_NET_RX);
}

/* transmitq1 (§5.1.6.2): header then frame, device-readable only. */
static void virtio_net_tx(struct virtio_net *n)
{
	struct virtio_dev *d = &n->vdev;
	struct virtq *vq = &d->vq[VIRTIO_NET_TX];
	struct virtq_chain *c = &n->chain;
	int ret;

	do {
		virtq_notify_disable(vq, d->mem);
		while ((ret = virtio_dev_pop(d, VIRTIO_NET_TX, c)) > 0) {
			int nr = c->writable_len || c->malformed ||
						 c->readable_len < VIRTIO_NET_HDR_SIZE
					 ? -EINVAL
					 : virtq_chain_iov(c, d->mem, false, VIRTIO_NET_HDR_SIZE,
							   c->readable_len - VIRTIO_NET_HDR_SIZE,
							   n->iov + 1, VIRTQ_NUM_MAX);

			if (nr < 0) {
				n->stats.bad_chains++;
			} else {
				n->iov[0] = (struct iovec){ .iov_base = (void *)&virtio_net_tx_hdr,
							    .iov_len = VIRTIO_NET_HDR_SIZE };
				if (n->be.send(n->be.opaque, n->iov, nr + 1))
					n->stats.tx_dropped++;
				else
					n->stats.tx_frames++;
			}
			virtio_dev_push(d, VIRTIO_NET_TX, c->head, 0);
		}
	} while (!ret && virtq_notify_enable(vq, d->mem));
	virtio_dev_interrupt(d, VIRTIO_NET_TX);
	/* answers of a synchronous backend (the loopback network's gateway) */
	if (d->vq[VIRTIO_NET_RX].ready)
		virtio_net_rx(n);
}

static void virtio_net_queue_notify(struct virtio_dev *d, unsigned q)
{
	struct virtio_net *n = (struct virtio_net *)d;

	if (q == VIRTIO_NET_RX)
		virtio_net_rx(n);
	else
		virtio_net_tx(n);
}

void virtio_net_rx_ready(struct virtio_net *n)
{
	if (virtio_dev_live(&n->vdev) && n->vdev.vq[VIRTIO_NET_RX].ready)
		virtio_net_rx(n);
}

bool virtio_net_rx_wanted(struct virtio_net *n)
{
	return virtio_dev_live(&n->vdev) &&
	       virtq_has_avail(&n->vdev.vq[VIRTIO_NET_RX], n->vdev.mem);
}

void virtio_net_set_link(struct virtio_net *n, bool up)
{
	virtio_put_le16(n->config + 6, up ? VIRTIO_NET_S_LINK_UP : 0);
	virtio_dev_config_changed(&n->vdev);
}

static const struct virtio_dev_ops virtio_net_ops = {
	.name = "virtio-net",
	.device_id = VIRTIO_ID_NET,
	.queue_notify = virtio_net_queue_notify,
};

int virtio_net_init(struct virtio_net *n, const struct guest_mem *mem, const u8 mac[6],
		    const struct virtio_net_backend *be)
{
	n->be = *be;
	memset(&n->stats, 0, sizeof(n->stats));
	/* §5.1.4 struct virtio_net_config: mac, status */
	memcpy(n->config, mac, 6);
	virtio_put_le16(n->config + 6, VIRTIO_NET_S_LINK_UP);
	return virtio_dev_init(&n->vdev, &virtio_net_ops, mem,
			       BIT(VIRTIO_NET_F_MAC) | BIT(VIRTIO_NET_F_STATUS), n->config,
			       sizeof(n->config), 2, VIRTIO_NET_NUM_MAX);
}
