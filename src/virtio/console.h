/* SPDX-License-Identifier: MIT */
/*
 * virtio-console (virtio 1.2 §5.3), port 0 only: receiveq(port0) and transmitq(port0) carry the
 * bytes of one console, hvc0 in a Linux guest, to and from the host console the VMM wires in.
 *
 * Not offered: VIRTIO_CONSOLE_F_MULTIPORT (one console is all tollbooth needs; multiport adds
 * the control queues and port hot-plug) and VIRTIO_CONSOLE_F_SIZE (the order of cols and rows in
 * the configuration differs between specification versions and drivers, and a serial console
 * has no size either). VIRTIO_CONSOLE_F_EMERG_WRITE is offered: a byte written to emerg_wr goes
 * straight to the host, even before the driver set up anything (§5.3.5.1).
 *
 * Input: the VMM's event loop calls virtio_console_rx_ready() when the host console has input;
 * the device then pulls bytes with host.rx straight into the receive buffers the driver offered,
 * and only as many as they hold, so input waits in the host (the terminal) while the guest has
 * no buffer. The device also pulls when the driver adds receive buffers.
 */
#pragma once
#include "virtio/virtio.h"

#define VIRTIO_CONSOLE_F_EMERG_WRITE 2 /* §5.3.3 */
#define VIRTIO_CONSOLE_RX	     0
#define VIRTIO_CONSOLE_TX	     1
#define VIRTIO_CONSOLE_NUM_MAX	     64
#define VIRTIO_CONSOLE_CONFIG_SIZE   12 /* rows, cols, max_nr_ports, emerg_wr (§5.3.4) */
#define VIRTIO_CONSOLE_EMERG_WR	     8

/* The host side, as struct uart_host but with whole buffers for output. */
struct virtio_console_host {
	void (*tx)(void *opaque, const u8 *buf, size_t len);
	size_t (*rx)(void *opaque, u8 *buf, size_t max); /* non-blocking; 0 when nothing pending */
	void *opaque;
};

struct virtio_console {
	struct virtio_dev vdev; /* first: the queue handler's container */
	struct virtio_console_host host;
	u8 config[VIRTIO_CONSOLE_CONFIG_SIZE];
	u64 rx_bytes, tx_bytes;
	u64 bad_chains; /* refused: wrong direction, malformed, outside RAM, empty */
	struct virtq_chain chain; /* scratch */
	struct iovec iov[VIRTQ_NUM_MAX];
};

/* 0; the device is reset. */
int virtio_console_init(struct virtio_console *c, const struct guest_mem *mem,
			const struct virtio_console_host *host);
/* The host console has input: move what the guest's receive buffers hold. */
void virtio_console_rx_ready(struct virtio_console *c);
