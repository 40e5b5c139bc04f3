// SPDX-License-Identifier: MIT
/*
 * virtio-net (virtio/net.h, virtio 1.2 §5.1) through virtio-mmio: configuration, transmit and
 * receive with a recording backend, the chains it must refuse, the loopback network's gateway
 * (ARP, RFC 826; ping, RFC 792) and the TAP backend over a socketpair standing in for the tap fd.
 */
#include <errno.h>
#include <sys/socket.h>
#include <unistd.h>

#include "virtio_driver.h"
#include "virtio/net_backend.h"

static struct virtio_net net;
static struct virtio_mmio t;
static struct vd drv;
static const u8 guest_mac[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };

/* The recording backend */
static u8 sent[4][2048];
static size_t sent_len[4];
static unsigned nr_sent;
static u8 pending[4][2048];
static size_t pending_len[4];
static unsigned nr_pending, recv_calls;

static int rec_send(void *opaque, const struct iovec *iov, int n)
{
	size_t len = 0;

	for (int i = 0; i < n; i++) {
		if (len + iov[i].iov_len <= sizeof(sent[0]) && nr_sent < 4)
			memcpy(sent[nr_sent] + len, iov[i].iov_base, iov[i].iov_len);
		len += iov[i].iov_len;
	}
	if (nr_sent < 4)
		sent_len[nr_sent++] = len;
	return 0;
}

static ssize_t rec_recv(void *opaque, const struct iovec *iov, int n)
{
	size_t len, done = 0, cap = 0;

	recv_calls++;
	if (!nr_pending)
		return 0;
	len = pending_len[0];
	for (int i = 0; i < n; i++)
		cap += iov[i].iov_len;
	if (cap >= len)
		for (int i = 0; i < n && done < len; i++) {
			size_t k = iov[i].iov_len < len - done ? iov[i].iov_len : len - done;

			memcpy(iov[i].iov_base, pending[0] + done, k);
			done += k;
		}
	memmove(pending[0], pending[1], sizeof(pending[0]) * 3);
	memmove(pending_len, pending_len + 1, sizeof(pending_len[0]) * 3);
	nr_pending--;
	return cap >= len ? (ssize_t)len : -EMSGSIZE;
}

static const struct virtio_net_backend recording = { .send = rec_send, .recv = rec_recv,
						      .fd = -1 };

/* A frame from the backend: a header full of junk (the device must rewrite it), then bytes. */
static void queue_frame(size_t frame_len, u8 fill)
{
	memset(pending[nr_pending], 0xee, VIRTIO_NET_HDR_SIZE);
	memset(pending[nr_pending] + VIRTIO_NET_HDR_SIZE, fill, frame_len);
	pending_len[nr_pending++] = VIRTIO_NET_HDR_SIZE + frame_len;
}

#define FEATURES                                                                                 \
	(BIT(VIRTIO_F_VERSION_1) | BIT(VIRTIO_F_EVENT_IDX) | BIT(VIRTIO_F_INDIRECT_DESC) |       \
	 BIT(VIRTIO_NET_F_MAC) | BIT(VIRTIO_NET_F_STATUS))

static void setup(const struct virtio_net_backend *be)
{
	memset(vd_ram, 0, sizeof(vd_ram));
	nr_sent = nr_pending = recv_calls = 0;
	CHECK_EQ(virtio_net_init(&net, &vd_mem, guest_mac, be), 0);
	virtio_mmio_init(&t, &net.vdev);
	vd_wire(&t);
	CHECK(vd_init(&drv, &t, FEATURES, 2, 16));
}

/* Offer `n` receive buffers of `len` bytes (Linux's "small" buffers are 1518 + 12 bytes). */
static void give_rx(unsigned n, u32 len)
{
	for (unsigned i = 0; i < n; i++) {
		struct vd_buf b = { vd_alloc(&drv, len, 16), len, true };

		vd_add(&drv, VIRTIO_NET_RX, &b, 1);
	}
	vd_publish(&drv, VIRTIO_NET_RX);
	vd_kick(&drv, VIRTIO_NET_RX);
}

/* §5.1.4: mac, and status with VIRTIO_NET_S_LINK_UP; a link change is a configuration change. */
static void test_config(void)
{
	setup(&recording);
	CHECK_EQ(vd_rd(&drv, VIRTIO_MMIO_DEVICE_ID), VIRTIO_ID_NET);
	for (int i = 0; i < 6; i++)
		CHECK_EQ(vd_cfg(&drv, (u32)i, 1), guest_mac[i]);
	CHECK_EQ(vd_cfg(&drv, 6, 2), VIRTIO_NET_S_LINK_UP);
	CHECK_EQ(vd_cfg(&drv, 8, 2), 0xffff);
	CHECK(virtio_dev_has_feature(&net.vdev, VIRTIO_NET_F_MAC));
	virtio_net_set_link(&net, false);
	CHECK_EQ(vd_cfg(&drv, 6, 2), 0);
	CHECK_EQ(vd_rd(&drv, VIRTIO_MMIO_INTERRUPT_STATUS), VIRTIO_INT_CONFIG);
	CHECK_EQ(vd_rd(&drv, VIRTIO_MMIO_CONFIG_GENERATION), 1);
	CHECK(vd_irq_level);
}

/* §5.1.6.2: header then packet in any framing; the backend gets a zero header whatever the
   driver wrote there (no offload was negotiated) and the frame. Used length 0. */
static void test_transmit(void)
{
	u64 hdr, frame;
	u32 id, len;

	setup(&recording);
	hdr = vd_alloc(&drv, VIRTIO_NET_HDR_SIZE, 2);
	memset(vd_ram + hdr, 0xab, VIRTIO_NET_HDR_SIZE);
	frame = vd_alloc(&drv, 60, 2);
	for (int i = 0; i < 60; i++)
		vd_ram[frame + i] = (u8)i;
	struct vd_buf two[] = { { hdr, VIRTIO_NET_HDR_SIZE, false }, { frame, 60, false } };
	vd_add(&drv, VIRTIO_NET_TX, two, 2);
	struct vd_buf split[] = { { hdr, 5, false }, { hdr + 5, 7, false }, { frame, 20, false },
				  { frame + 20, 40, false } };
	vd_add_indirect(&drv, VIRTIO_NET_TX, split, 4);
	vd_publish(&drv, VIRTIO_NET_TX);
	vd_kick(&drv, VIRTIO_NET_TX);
	CHECK_EQ(nr_sent, 2);
	for (unsigned s = 0; s < 2; s++) {
		u8 zero[VIRTIO_NET_HDR_SIZE] = { 0 };

		CHECK_EQ(sent_len[s], VIRTIO_NET_HDR_SIZE + 60);
		CHECK(!memcmp(sent[s], zero, VIRTIO_NET_HDR_SIZE));
		CHECK(!memcmp(sent[s] + VIRTIO_NET_HDR_SIZE, vd_ram + frame, 60));
	}
	CHECK(vd_get_used(&drv, VIRTIO_NET_TX, &id, &len));
	CHECK_EQ(len, 0);
	CHECK_EQ(net.stats.tx_frames, 2);

	/* refused: a device-writable buffer, a packet shorter than its header, outside RAM */
	struct vd_buf w[] = { { hdr, VIRTIO_NET_HDR_SIZE, false }, { frame, 60, true } };
	vd_add(&drv, VIRTIO_NET_TX, w, 2);
	struct vd_buf s = { hdr, 8, false };
	vd_add(&drv, VIRTIO_NET_TX, &s, 1);
	struct vd_buf o[] = { { hdr, VIRTIO_NET_HDR_SIZE, false }, { VD_RAM_SIZE - 4, 60, false } };
	vd_add(&drv, VIRTIO_NET_TX, o, 2);
	vd_publish(&drv, VIRTIO_NET_TX);
	vd_kick(&drv, VIRTIO_NET_TX);
	CHECK_EQ(nr_sent, 2);
	CHECK_EQ(net.stats.bad_chains, 3);
	CHECK_EQ(vd_rd(&drv, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_DEVICE_NEEDS_RESET, 0);
}

/* §5.1.6.4: frames go into receive buffers with the device's header (num_buffers 1, flags and
   gso_type 0, §5.1.6.4.1); without buffers the backend is not read; a frame too large for the
   buffer is dropped and the buffer serves the next one. */
static void test_receive(void)
{
	u32 id, len;
	u8 want_hdr[VIRTIO_NET_HDR_SIZE] = { [10] = 1 };

	setup(&recording);
	queue_frame(100, 0x11);
	virtio_net_rx_ready(&net);
	CHECK_EQ(recv_calls, 0);
	CHECK(!virtio_net_rx_wanted(&net));
	give_rx(1, 1530);
	CHECK(vd_get_used(&drv, VIRTIO_NET_RX, &id, &len));
	CHECK_EQ(len, VIRTIO_NET_HDR_SIZE + 100);
	u64 buf = vd_get32(drv.q[VIRTIO_NET_RX].desc + 16 * (u64)id); /* the buffer's address */
	CHECK(!memcmp(vd_ram + buf, want_hdr, VIRTIO_NET_HDR_SIZE));
	CHECK_EQ(vd_ram[buf + VIRTIO_NET_HDR_SIZE + 99], 0x11);
	CHECK(vd_irq_level);
	vd_ack(&drv);

	give_rx(2, 200);
	CHECK(virtio_net_rx_wanted(&net));
	queue_frame(500, 0x22); /* does not fit in 200 */
	queue_frame(50, 0x33);
	virtio_net_rx_ready(&net);
	CHECK(vd_get_used(&drv, VIRTIO_NET_RX, &id, &len));
	CHECK_EQ(len, VIRTIO_NET_HDR_SIZE + 50);
	CHECK(!vd_get_used(&drv, VIRTIO_NET_RX, &id, &len));
	CHECK_EQ(net.stats.rx_dropped, 1);
	CHECK_EQ(net.stats.rx_frames, 2);
	CHECK(virtio_net_rx_wanted(&net)); /* one buffer left */

	/* refused receive chains come back with length 0: device-readable, shorter than the
	   header */
	setup(&recording);
	struct vd_buf r = { vd_alloc(&drv, 100, 2), 100, false };
	vd_add(&drv, VIRTIO_NET_RX, &r, 1);
	struct vd_buf tiny = { vd_alloc(&drv, 10, 2), 10, true };
	vd_add(&drv, VIRTIO_NET_RX, &tiny, 1);
	vd_publish(&drv, VIRTIO_NET_RX);
	queue_frame(20, 0x44);
	vd_kick(&drv, VIRTIO_NET_RX);
	CHECK(vd_get_used(&drv, VIRTIO_NET_RX, &id, &len));
	CHECK_EQ(len, 0);
	CHECK(vd_get_used(&drv, VIRTIO_NET_RX, &id, &len));
	CHECK_EQ(len, 0);
	CHECK_EQ(net.stats.bad_chains, 2);
	CHECK_EQ(nr_pending, 1); /* still waiting for a usable buffer */
}

/* A transmit chain that loops sets DEVICE_NEEDS_RESET in the middle of a transmit batch; the
   receive pass that follows every batch must then stop at once even though receive buffers are
   available (it used to spin on them forever). */
static void test_needs_reset_mid_batch(void)
{
	struct vd_queue *q = &drv.q[VIRTIO_NET_TX];
	u32 id, len;

	setup(&recording);
	give_rx(2, 1530);
	vd_put_desc(q->desc, 0x8000, 20, VIRTQ_DESC_F_NEXT, 0);
	vd_put16(q->avail + 4, 0);
	q->avail_idx = 1;
	vd_publish(&drv, VIRTIO_NET_TX);
	queue_frame(60, 0x66);
	recv_calls = 0;
	vd_kick(&drv, VIRTIO_NET_TX);
	CHECK(vd_rd(&drv, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_DEVICE_NEEDS_RESET);
	CHECK(!vd_get_used(&drv, VIRTIO_NET_RX, &id, &len));
	virtio_net_rx_ready(&net);
	CHECK_EQ(recv_calls, 0);
	CHECK(!virtio_net_rx_wanted(&net));
}

static struct net_loop loop;

/* Transmit one frame (with its header) and return the answer the guest received, if any. */
static size_t loop_exchange(const u8 *frame, size_t len, u8 *answer)
{
	u64 at = vd_alloc(&drv, VIRTIO_NET_HDR_SIZE + len, 2);
	u32 id, used;

	memcpy(vd_ram + at + VIRTIO_NET_HDR_SIZE, frame, len);
	struct vd_buf b = { at, (u32)(VIRTIO_NET_HDR_SIZE + len), false };
	vd_add(&drv, VIRTIO_NET_TX, &b, 1);
	vd_publish(&drv, VIRTIO_NET_TX);
	vd_kick(&drv, VIRTIO_NET_TX);
	CHECK(vd_get_used(&drv, VIRTIO_NET_TX, &id, &used));
	if (!vd_get_used(&drv, VIRTIO_NET_RX, &id, &used))
		return 0;
	u64 buf = vd_get32(drv.q[VIRTIO_NET_RX].desc + 16 * (u64)id);
	memcpy(answer, vd_ram + buf + VIRTIO_NET_HDR_SIZE, used - VIRTIO_NET_HDR_SIZE);
	return used - VIRTIO_NET_HDR_SIZE;
}

static u16 csum(const u8 *p, size_t n)
{
	u32 s = 0;

	for (size_t i = 0; i + 1 < n; i += 2)
		s += (u32)p[i] << 8 | p[i + 1];
	if (n & 1)
		s += (u32)p[n - 1] << 8;
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (u16)~s;
}

/* The loopback network: the gateway answers "who has 10.0.2.2" and pings to it, nothing else. */
static void test_loopback(void)
{
	static const u8 gw_mac[6] = NET_LOOP_GATEWAY_MAC;
	u8 f[128] = { 0 }, a[2048];
	size_t n;

	net_loop_init(&loop);
	struct virtio_net_backend be = net_loop_backend(&loop);
	CHECK_EQ(be.fd, -1);
	setup(&be);
	give_rx(4, 1530);

	/* ARP request from 10.0.2.15 for 10.0.2.2 (RFC 826 packet format) */
	memset(f, 0xff, 6);
	memcpy(f + 6, guest_mac, 6);
	f[12] = 0x08, f[13] = 0x06;
	u8 arp[28] = { 0, 1, 8, 0, 6, 4, 0, 1 };
	memcpy(arp + 8, guest_mac, 6);
	memcpy(arp + 14, (u8[]){ 10, 0, 2, 15 }, 4);
	memcpy(arp + 24, (u8[]){ 10, 0, 2, 2 }, 4);
	memcpy(f + 14, arp, 28);
	n = loop_exchange(f, 42, a);
	CHECK_EQ(n, 60);
	CHECK(!memcmp(a, guest_mac, 6));
	CHECK(!memcmp(a + 6, gw_mac, 6));
	CHECK_EQ(a[21], 2); /* reply */
	CHECK(!memcmp(a + 22, gw_mac, 6));
	CHECK(!memcmp(a + 28, (u8[]){ 10, 0, 2, 2 }, 4));
	CHECK(!memcmp(a + 32, guest_mac, 6));
	CHECK(!memcmp(a + 38, (u8[]){ 10, 0, 2, 15 }, 4));

	/* who has 10.0.2.3: no answer */
	f[14 + 27] = 3;
	CHECK_EQ(loop_exchange(f, 42, a), 0);

	/* ping 10.0.2.2: IPv4 header (RFC 791) + ICMP echo request with 8 bytes of data */
	memset(f, 0, sizeof(f));
	memcpy(f, gw_mac, 6);
	memcpy(f + 6, guest_mac, 6);
	f[12] = 0x08;
	u8 *ip = f + 14;
	ip[0] = 0x45;
	ip[3] = 20 + 16;
	ip[6] = 0x40; /* DF */
	ip[8] = 64;
	ip[9] = 1;
	memcpy(ip + 12, (u8[]){ 10, 0, 2, 15 }, 4);
	memcpy(ip + 16, (u8[]){ 10, 0, 2, 2 }, 4);
	u16 c = csum(ip, 20);
	ip[10] = (u8)(c >> 8), ip[11] = (u8)c;
	u8 *icmp = ip + 20;
	icmp[0] = 8;
	icmp[5] = 0x2a; /* id */
	icmp[7] = 1;	/* sequence */
	memcpy(icmp + 8, "tollbth!", 8);
	c = csum(icmp, 16);
	icmp[2] = (u8)(c >> 8), icmp[3] = (u8)c;
	n = loop_exchange(f, 14 + 36, a);
	CHECK_EQ(n, 60); /* padded to the Ethernet minimum */
	CHECK(!memcmp(a, guest_mac, 6));
	CHECK(!memcmp(a + 14 + 12, (u8[]){ 10, 0, 2, 2 }, 4));
	CHECK(!memcmp(a + 14 + 16, (u8[]){ 10, 0, 2, 15 }, 4));
	CHECK_EQ(csum(a + 14, 20), 0);
	CHECK_EQ(a[14 + 20], 0); /* echo reply */
	CHECK_EQ(csum(a + 14 + 20, 16), 0);
	CHECK(!memcmp(a + 14 + 20 + 4, icmp + 4, 12)); /* id, sequence, data echoed */

	/* a ping elsewhere, a UDP packet, a runt: dropped */
	ip[19] = 9;
	CHECK_EQ(loop_exchange(f, 14 + 36, a), 0);
	ip[19] = 2;
	ip[9] = 17;
	CHECK_EQ(loop_exchange(f, 14 + 36, a), 0);
	CHECK_EQ(loop_exchange(f, 10, a), 0);
	CHECK_EQ(loop.answered, 2);
	CHECK_EQ(loop.dropped, 4);

	/* answers wait for receive buffers; the queue is bounded */
	net_loop_init(&loop);
	setup(&be);
	ip[9] = 1;
	ip[19] = 2;
	for (int i = 0; i < NET_LOOP_FRAMES + 3; i++) {
		u64 at = vd_alloc(&drv, VIRTIO_NET_HDR_SIZE + 50, 2);
		u32 id, used;

		memcpy(vd_ram + at + VIRTIO_NET_HDR_SIZE, f, 50);
		struct vd_buf b = { at, VIRTIO_NET_HDR_SIZE + 50, false };
		vd_add(&drv, VIRTIO_NET_TX, &b, 1);
		vd_publish(&drv, VIRTIO_NET_TX);
		vd_kick(&drv, VIRTIO_NET_TX);
		CHECK(vd_get_used(&drv, VIRTIO_NET_TX, &id, &used));
	}
	CHECK_EQ(loop.answered, NET_LOOP_FRAMES);
	CHECK_EQ(loop.dropped, 3);
	give_rx(NET_LOOP_FRAMES, 1530);
	CHECK_EQ(net.stats.rx_frames, NET_LOOP_FRAMES);
	CHECK_EQ(loop.count, 0);
}

/* The TAP backend's reads and writes, over a datagram socketpair standing in for the tap fd
   (one frame per read or write, header included, as with IFF_VNET_HDR). */
static void test_tap_backend(void)
{
	struct net_tap tap;
	int sv[2];
	u8 buf[256], frame[64];
	u32 id, len;

	CHECK_EQ(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK, 0, sv), 0);
	struct virtio_net_backend be = net_tap_backend(&tap, sv[0]);
	CHECK_EQ(be.fd, sv[0]);
	setup(&be);
	give_rx(1, 1530);
	CHECK(!vd_get_used(&drv, VIRTIO_NET_RX, &id, &len)); /* nothing to read: EAGAIN */

	u64 at = vd_alloc(&drv, VIRTIO_NET_HDR_SIZE + 64, 2);
	memset(vd_ram + at + VIRTIO_NET_HDR_SIZE, 0x5c, 64);
	struct vd_buf b = { at, VIRTIO_NET_HDR_SIZE + 64, false };
	vd_add(&drv, VIRTIO_NET_TX, &b, 1);
	vd_publish(&drv, VIRTIO_NET_TX);
	vd_kick(&drv, VIRTIO_NET_TX);
	CHECK_EQ(read(sv[1], buf, sizeof(buf)), VIRTIO_NET_HDR_SIZE + 64);
	CHECK_EQ(buf[0], 0);
	CHECK_EQ(buf[VIRTIO_NET_HDR_SIZE + 63], 0x5c);

	memset(buf, 0x77, VIRTIO_NET_HDR_SIZE);
	memset(frame, 0x3e, sizeof(frame));
	memcpy(buf + VIRTIO_NET_HDR_SIZE, frame, sizeof(frame));
	CHECK_EQ(write(sv[1], buf, VIRTIO_NET_HDR_SIZE + 64), VIRTIO_NET_HDR_SIZE + 64);
	virtio_net_rx_ready(&net);
	CHECK(vd_get_used(&drv, VIRTIO_NET_RX, &id, &len));
	CHECK_EQ(len, VIRTIO_NET_HDR_SIZE + 64);
	u64 rb = vd_get32(drv.q[VIRTIO_NET_RX].desc + 16 * (u64)id);
	CHECK_EQ(vd_ram[rb], 0);	   /* the device's header, not the backend's */
	CHECK_EQ(vd_ram[rb + 10], 1); /* num_buffers */
	CHECK(!memcmp(vd_ram + rb + VIRTIO_NET_HDR_SIZE, frame, 64));
	close(sv[0]);
	close(sv[1]);

	/* net_tap_open refuses what is not an existing tap device, and never creates one */
	int fd = -1;
	CHECK_EQ(net_tap_open("", &fd), -EINVAL);
	CHECK_EQ(net_tap_open("a/b", &fd), -EINVAL);
	CHECK_EQ(net_tap_open("0123456789abcdefXYZ", &fd), -EINVAL);
	CHECK_EQ(net_tap_open("tbnotatap0", &fd), -ENODEV);
	CHECK_EQ(net_tap_open("lo", &fd), -ENODEV); /* exists, but no tun_flags: not a tap */
	CHECK_EQ(fd, -1);
}

int main(void)
{
	test_config();
	test_transmit();
	test_receive();
	test_needs_reset_mid_batch();
	test_loopback();
	test_tap_backend();
	return check_done("test_virtio_net");
}
