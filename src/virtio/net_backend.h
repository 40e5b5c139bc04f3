/* SPDX-License-Identifier: MIT */
/*
 * The two virtio-net backends (struct virtio_net_backend, net.h).
 *
 * TAP: a tap device the user already has (`ip tuntap add dev tap0 mode tap user $USER`), opened
 * by the VMM with net_tap_open() before the guest runs; the device only reads and writes the fd.
 * IFF_VNET_HDR with a 12-byte header (TUNSETVNETHDRSZ) makes the kernel's per-packet header the
 * virtio 1.x struct virtio_net_hdr itself, so frames go between tap and guest RAM in one
 * readv/writev; no offloads are enabled (TUNSETOFFLOAD 0), matching the device's features.
 *
 * Loopback-only network: no host network at all, but not silent either. A gateway at
 * NET_LOOP_GATEWAY_IP (10.0.2.2, QEMU user networking's address) with NET_LOOP_GATEWAY_MAC
 * answers ARP requests for its address (RFC 826) and ICMP echo requests to it (RFC 792), so a
 * guest configured as 10.0.2.15/24 can `ping 10.0.2.2`, which is what an end-to-end test needs.
 * Every other frame is dropped (and counted). Answers wait in a small queue until the guest
 * has receive buffers; when it is full, further answers are dropped.
 */
#pragma once
#include "virtio/net.h"

#define NET_LOOP_GATEWAY_IP  { 10, 0, 2, 2 }
#define NET_LOOP_GATEWAY_MAC { 0x52, 0x55, 0x0a, 0x00, 0x02, 0x02 }
#define NET_LOOP_FRAMES	     16
#define NET_LOOP_FRAME_MAX   1514 /* Ethernet header and a 1500-byte payload */

struct net_tap {
	int fd;
};

/*
 * Open /dev/net/tun and attach to the existing tap device `ifname` (IFF_TAP | IFF_NO_PI |
 * IFF_VNET_HDR, non-blocking, close-on-exec). 0 with *fd set, or -errno: -ENODEV when no tap
 * device of that name exists (it is never created here), -EINVAL for a bad name, or what the
 * kernel said (-EPERM, -EBUSY, ...). The caller turns it into one message.
 */
int net_tap_open(const char *ifname, int *fd);
/* The backend over an open tap fd (or anything that reads and writes one frame per call). */
struct virtio_net_backend net_tap_backend(struct net_tap *tap, int fd);

struct net_loop {
	u8 gw_mac[6], gw_ip[4];
	u8 frames[NET_LOOP_FRAMES][NET_LOOP_FRAME_MAX];
	u16 len[NET_LOOP_FRAMES];
	unsigned head, count;
	u64 answered, dropped;
};

void net_loop_init(struct net_loop *l);
struct virtio_net_backend net_loop_backend(struct net_loop *l);
