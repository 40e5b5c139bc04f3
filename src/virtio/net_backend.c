// SPDX-License-Identifier: MIT
/* virtio-net backends: see net_backend.h. */
#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "virtio/net_backend.h"

static u64 iov_total(const struct iovec *iov, int n)
{
	u64 t = 0;

	for (int i = 0; i < n; i++)
		t += iov[i].iov_len;
	return t;
}

int net_tap_open(const char *ifname, int *fd_out)
{
	struct ifreq ifr = { 0 };
	char path[64 + IFNAMSIZ];
	struct stat st;
	int fd, hdr = VIRTIO_NET_HDR_SIZE;

	if (!ifname[0] || strlen(ifname) >= IFNAMSIZ || strchr(ifname, '/'))
		return -EINVAL;
	/* TUNSETIFF would create a missing device (given CAP_NET_ADMIN): attach only to one
	   that exists and is a tun/tap device */
	snprintf(path, sizeof(path), "/sys/class/net/%s/tun_flags", ifname);
	if (stat(path, &st))
		return -ENODEV;
	fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	memcpy(ifr.ifr_name, ifname, strlen(ifname));
	ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
	if (ioctl(fd, TUNSETIFF, &ifr) || ioctl(fd, TUNSETVNETHDRSZ, &hdr) ||
	    ioctl(fd, TUNSETOFFLOAD, 0)) {
		int err = -errno;

		close(fd);
		return err;
	}
	*fd_out = fd;
	return 0;
}

static int net_tap_send(void *opaque, const struct iovec *iov, int n)
{
	struct net_tap *tap = opaque;
	ssize_t w;

	do
		w = writev(tap->fd, iov, n);
	while (w < 0 && errno == EINTR);
	return w < 0 ? -errno : 0;
}

/* A tap read into too small a buffer copies what fits and returns the frame's full length. */
static ssize_t net_tap_recv(void *opaque, const struct iovec *iov, int n)
{
	struct net_tap *tap = opaque;
	ssize_t r;

	do
		r = readv(tap->fd, iov, n);
	while (r < 0 && errno == EINTR);
	if (r < 0)
		return errno == EAGAIN ? 0 : -errno;
	if ((u64)r > iov_total(iov, n))
		return -EMSGSIZE;
	return r;
}

struct virtio_net_backend net_tap_backend(struct net_tap *tap, int fd)
{
	tap->fd = fd;
	return (struct virtio_net_backend){ .send = net_tap_send, .recv = net_tap_recv,
					    .opaque = tap, .fd = fd };
}

void net_loop_init(struct net_loop *l)
{
	static const u8 mac[6] = NET_LOOP_GATEWAY_MAC, ip[4] = NET_LOOP_GATEWAY_IP;

	memset(l, 0, sizeof(*l));
	memcpy(l->gw_mac, mac, 6);
	memcpy(l->gw_ip, ip, 4);
}

/* RFC 1071 Internet checksum of [p, p + n) */
static u16 net_csum(const u8 *p, size_t n)
{
	u32 sum = 0;

	for (size_t i = 0; i + 1 < n; i += 2)
		sum += (u32)p[i] << 8 | p[i + 1];
	if (n & 1)
		sum += (u32)p[n - 1] << 8;
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (u16)~sum;
}

static void net_put_be16(u8 *p, u16 v)
{
	p[0] = (u8)(v >> 8);
	p[1] = (u8)v;
}

static u16 net_get_be16(const u8 *p)
{
	return (u16)(p[0] << 8 | p[1]);
}

static u8 *net_loop_answer(struct net_loop *l)
{
	unsigned slot;

	if (l->count == NET_LOOP_FRAMES) {
		l->dropped++;
		return NULL;
	}
	slot = (l->head + l->count++) % NET_LOOP_FRAMES;
	l->answered++;
	memset(l->frames[slot], 0, NET_LOOP_FRAME_MAX);
	return l->frames[slot];
}

/* RFC 826: "Is the opcode ares_op$REQUEST? ... Swap hardware and protocol fields, putting the
   local hardware and protocol addresses in the sender fields. Set the ar$op field to
   ares_op$REPLY". Padded to the 60-byte Ethernet minimum. */
static bool net_loop_arp(struct net_loop *l, const u8 *f, size_t n)
{
	const u8 *a = f + 14;
	u8 *r;

	if (n < 42 || net_get_be16(a) != 1 || net_get_be16(a + 2) != 0x0800 || a[4] != 6 ||
	    a[5] != 4 || net_get_be16(a + 6) != 1 || memcmp(a + 24, l->gw_ip, 4))
		return false;
	r = net_loop_answer(l);
	if (!r)
		return true;
	memcpy(r, f + 6, 6);
	memcpy(r + 6, l->gw_mac, 6);
	net_put_be16(r + 12, 0x0806);
	memcpy(r + 14, a, 6);		 /* htype, ptype, hlen, plen */
	net_put_be16(r + 20, 2);	 /* reply */
	memcpy(r + 22, l->gw_mac, 6);	 /* sha */
	memcpy(r + 28, l->gw_ip, 4);	 /* spa */
	memcpy(r + 32, a + 8, 10);	 /* tha, tpa = the requester's sha, spa */
	l->len[(l->head + l->count - 1) % NET_LOOP_FRAMES] = 60;
	return true;
}

/* RFC 792 echo: "the source and destination addresses are simply reversed, the type code
   changed to 0, and the checksum recomputed"; RFC 791 header with a new TTL and checksum. */
static bool net_loop_icmp(struct net_loop *l, const u8 *f, size_t n)
{
	const u8 *ip = f + 14;
	size_t ihl, total;
	u8 *r, *rip, *icmp;

	if (n < 14 + 20 || (ip[0] >> 4) != 4)
		return false;
	ihl = (size_t)(ip[0] & 15) * 4;
	total = net_get_be16(ip + 2);
	if (ihl < 20 || total < ihl + 8 || total > n - 14 || ip[9] != 1 ||
	    (net_get_be16(ip + 6) & 0x3fff) || memcmp(ip + 16, l->gw_ip, 4) || ip[ihl] != 8 ||
	    ip[ihl + 1] != 0)
		return false;
	r = net_loop_answer(l);
	if (!r)
		return true;
	memcpy(r, f + 6, 6);
	memcpy(r + 6, l->gw_mac, 6);
	net_put_be16(r + 12, 0x0800);
	rip = r + 14;
	memcpy(rip, ip, total);
	rip[8] = 64;
	memcpy(rip + 12, ip + 16, 4);
	memcpy(rip + 16, ip + 12, 4);
	net_put_be16(rip + 10, 0);
	net_put_be16(rip + 10, net_csum(rip, ihl));
	icmp = rip + ihl;
	icmp[0] = 0;
	net_put_be16(icmp + 2, 0);
	net_put_be16(icmp + 2, net_csum(icmp, total - ihl));
	l->len[(l->head + l->count - 1) % NET_LOOP_FRAMES] = (u16)(total < 46 ? 60 : 14 + total);
	return true;
}

static int net_loop_send(void *opaque, const struct iovec *iov, int n)
{
	struct net_loop *l = opaque;
	u8 f[NET_LOOP_FRAME_MAX];
	u64 total = iov_total(iov, n);
	size_t len = 0, skip = VIRTIO_NET_HDR_SIZE;

	if (total < VIRTIO_NET_HDR_SIZE + 14 || total > VIRTIO_NET_HDR_SIZE + sizeof(f))
		goto drop;
	for (int i = 0; i < n; i++) {
		size_t off = skip < iov[i].iov_len ? skip : iov[i].iov_len;

		skip -= off;
		memcpy(f + len, (const u8 *)iov[i].iov_base + off, iov[i].iov_len - off);
		len += iov[i].iov_len - off;
	}
	switch (net_get_be16(f + 12)) {
	case 0x0806:
		if (net_loop_arp(l, f, len))
			return 0;
		break;
	case 0x0800:
		if (net_loop_icmp(l, f, len))
			return 0;
		break;
	}
drop:
	l->dropped++;
	return 0; /* sent onto a wire nobody else listens to */
}

static ssize_t net_loop_recv(void *opaque, const struct iovec *iov, int n)
{
	struct net_loop *l = opaque;
	u8 buf[VIRTIO_NET_HDR_SIZE + NET_LOOP_FRAME_MAX] = { 0 }; /* a zero header, the frame */
	size_t len, done = 0;

	if (!l->count)
		return 0;
	len = VIRTIO_NET_HDR_SIZE + l->len[l->head];
	memcpy(buf + VIRTIO_NET_HDR_SIZE, l->frames[l->head], l->len[l->head]);
	l->head = (l->head + 1) % NET_LOOP_FRAMES;
	l->count--;
	if (iov_total(iov, n) < len)
		return -EMSGSIZE;
	for (int i = 0; i < n && done < len; i++) {
		size_t k = iov[i].iov_len < len - done ? iov[i].iov_len : len - done;

		memcpy(iov[i].iov_base, buf + done, k);
		done += k;
	}
	return (ssize_t)done;
}

struct virtio_net_backend net_loop_backend(struct net_loop *l)
{
	return (struct virtio_net_backend){ .send = net_loop_send, .recv = net_loop_recv,
					    .opaque = l, .fd = -1 };
}
