/* SPDX-License-Identifier: MIT */
/*
 * virtio-net (virtio 1.2 §5.1), one queue pair (receiveq1 = 0, transmitq1 = 1), no control
 * queue, no offloads: VIRTIO_NET_F_MAC (the VMM's address) and VIRTIO_NET_F_STATUS (link up,
 * virtio_net_set_link). With VIRTIO_F_VERSION_1 every packet starts with the 12-byte
 * struct virtio_net_hdr (§5.1.6); VIRTIO_NET_F_MRG_RXBUF is not offered, so each frame takes one
 * receive chain and num_buffers is 1.
 *
 * The frames go to and come from a backend (net_backend.h: a TAP device the user named, or the
 * loopback-only network with a gateway that answers ARP and ping). Transmit: each chain becomes
 * one send() of a clean header (all zero: no offload was negotiated, so whatever the driver put
 * there is not passed on) and the frame straight from guest RAM. Receive: the VMM's event loop
 * calls virtio_net_rx_ready() when the backend's fd is readable (and polls it only while
 * virtio_net_rx_wanted() says the driver has receive buffers); the device also receives right
 * after each transmit batch (the loopback backend answers synchronously) and when the driver adds
 * receive buffers. Frames are read straight into the guest's buffers.
 */
#pragma once
#include <sys/types.h>

#include "virtio/virtio.h"

/* §5.1.3 feature bits, §5.1.4 status */
#define VIRTIO_NET_F_MAC     5
#define VIRTIO_NET_F_STATUS  16
#define VIRTIO_NET_S_LINK_UP 1

#define VIRTIO_NET_RX	      0
#define VIRTIO_NET_TX	      1
#define VIRTIO_NET_NUM_MAX    256
#define VIRTIO_NET_HDR_SIZE   12 /* flags, gso_type, hdr_len, gso_size, csum_*, num_buffers */
#define VIRTIO_NET_CONFIG_SIZE 8 /* mac[6], status */

/*
 * A network backend. Both calls take the frame as the 12-byte virtio_net_hdr followed by the
 * Ethernet frame (without FCS), spread over iovecs, and never block.
 */
struct virtio_net_backend {
	/* Send one frame: 0, or -errno when it was dropped. */
	int (*send)(void *opaque, const struct iovec *iov, int iovcnt);
	/* Receive one frame into iov: its length with the header; 0 when none is pending;
	   -EMSGSIZE when the next frame did not fit and was dropped (the caller tries the next);
	   another -errno stops receiving for now. */
	ssize_t (*recv)(void *opaque, const struct iovec *iov, int iovcnt);
	void *opaque;
	int fd; /* what the VMM polls for input; -1 when the backend has none */
};

struct virtio_net_stats {
	u64 tx_frames, tx_dropped, rx_frames, rx_dropped;
	u64 bad_chains; /* refused: wrong direction, too short, malformed, outside RAM */
};

struct virtio_net {
	struct virtio_dev vdev; /* first: the queue handler's container */
	struct virtio_net_backend be;
	u8 config[VIRTIO_NET_CONFIG_SIZE];
	struct virtio_net_stats stats;
	struct virtq_chain chain; /* scratch */
	struct iovec iov[VIRTQ_NUM_MAX + 1];
};

/* `mac`: the guest's address (a locally administered unicast one, e.g. 52:54:00:12:34:56).
   0; the device is reset, link up. */
int virtio_net_init(struct virtio_net *n, const struct guest_mem *mem, const u8 mac[6],
		    const struct virtio_net_backend *be);
/* The backend's fd is readable: move frames into the receive buffers the driver offered. */
void virtio_net_rx_ready(struct virtio_net *n);
/* Whether the driver has receive buffers available (poll the backend's fd only then). */
bool virtio_net_rx_wanted(struct virtio_net *n);
/* Link state in the status field, with a configuration change notification (§5.1.4). */
void virtio_net_set_link(struct virtio_net *n, bool up);
