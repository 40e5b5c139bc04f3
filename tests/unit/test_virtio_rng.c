// SPDX-License-Identifier: MIT
/*
 * virtio-rng (virtio/rng.h, virtio 1.2 §5.4) through virtio-mmio: buffers filled from
 * getrandom(2) or an injected source, partial fills, and the requests it must refuse.
 */
#include <errno.h>

#include "virtio_driver.h"
#include "virtio/rng.h"

static struct virtio_rng rng;
static struct virtio_mmio t;
static struct vd drv;

/* An injected source: `avail` bytes of 0x11, then -EAGAIN. */
static ssize_t src_avail;
static unsigned src_calls;

static ssize_t fill_limited(void *opaque, void *buf, size_t len)
{
	size_t n = (size_t)src_avail < len ? (size_t)src_avail : len;

	src_calls++;
	if (!n)
		return -EAGAIN;
	memset(buf, 0x11, n);
	src_avail -= (ssize_t)n;
	return (ssize_t)n;
}

static const struct virtio_rng_host limited = { .fill = fill_limited };

static void setup(const struct virtio_rng_host *host)
{
	memset(vd_ram, 0, sizeof(vd_ram));
	CHECK_EQ(virtio_rng_init(&rng, &vd_mem, host), 0);
	virtio_mmio_init(&t, &rng.vdev);
	vd_wire(&t);
	CHECK(vd_init(&drv, &t,
		      BIT(VIRTIO_F_VERSION_1) | BIT(VIRTIO_F_INDIRECT_DESC) |
			      BIT(VIRTIO_F_EVENT_IDX),
		      1, 16));
}

/* Submit one request and return its used length (or ~0u when none came back). */
static u32 request(const struct vd_buf *b, unsigned n, bool indirect)
{
	u32 id, len;

	if (indirect)
		vd_add_indirect(&drv, 0, b, n);
	else
		vd_add(&drv, 0, b, n);
	vd_publish(&drv, 0);
	vd_kick(&drv, 0);
	if (!vd_get_used(&drv, 0, &id, &len))
		return ~0u;
	vd_ack(&drv);
	return len;
}

/* §5.4.6.2 "The device MUST place one or more random bytes into the buffer": from getrandom. */
static void test_getrandom(void)
{
	struct vd_buf b;
	unsigned nonzero = 0;

	setup(NULL);
	b = (struct vd_buf){ vd_alloc(&drv, 256, 8), 256, true };
	CHECK_EQ(request(&b, 1, false), 256);
	for (unsigned i = 0; i < 256; i++)
		nonzero += vd_ram[b.gpa + i] != 0;
	CHECK(nonzero > 200); /* 256 random bytes with fewer than 200 non-zero: p < 1e-30 */
	CHECK_EQ(rng.bytes, 256);
	CHECK(vd_written_bytes >= 256);
}

/* Several writable buffers, directly or through an indirect table (§2.7.5.3), filled in order;
   a short source gives a partial fill, which §5.4.6.2 allows ("MAY use less than the entire
   buffer length"), and an empty one a used length of 0 (the driver asks again). */
static void test_fills(void)
{
	struct vd_buf b[3];

	setup(&limited);
	for (int i = 0; i < 3; i++)
		b[i] = (struct vd_buf){ vd_alloc(&drv, 100, 8), 100, true };
	src_avail = 1000;
	CHECK_EQ(request(b, 3, false), 300);
	CHECK_EQ(vd_ram[b[2].gpa + 99], 0x11);
	src_avail = 150;
	memset(vd_ram + b[0].gpa, 0, 300);
	CHECK_EQ(request(b, 3, true), 150);
	CHECK_EQ(vd_ram[b[1].gpa + 49], 0x11);
	CHECK_EQ(vd_ram[b[1].gpa + 50], 0);
	src_avail = 0;
	CHECK_EQ(request(b, 1, false), 0);
	/* a huge buffer gets at most VIRTIO_RNG_MAX_FILL bytes */
	src_avail = 1 << 20;
	b[0] = (struct vd_buf){ vd_alloc(&drv, 0x40000, 8), 0x40000, true };
	CHECK_EQ(request(b, 1, false), VIRTIO_RNG_MAX_FILL);
}

/* §5.4.6.1 "The driver MUST NOT place driver-readable buffers into the queue": such a request,
   a misordered chain (§2.7.4.2) and a buffer outside RAM come back with nothing written; the
   device stays usable. */
static void test_refused(void)
{
	struct vd_buf b[2];

	setup(&limited);
	src_avail = 1 << 20;
	b[0] = (struct vd_buf){ vd_alloc(&drv, 16, 8), 16, false };
	CHECK_EQ(request(b, 1, false), 0);
	CHECK_EQ(vd_ram[b[0].gpa], 0);
	b[1] = (struct vd_buf){ vd_alloc(&drv, 16, 8), 16, true };
	CHECK_EQ(request(b, 2, false), 0);
	b[0] = (struct vd_buf){ VD_RAM_SIZE - 8, 16, true };
	CHECK_EQ(request(b, 1, false), 0);
	CHECK_EQ(vd_rd(&drv, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_DEVICE_NEEDS_RESET, 0);
	b[0] = (struct vd_buf){ vd_alloc(&drv, 16, 8), 16, true };
	CHECK_EQ(request(b, 1, false), 16);
}

/* §2.4: a reset forgets the queue; nothing is consumed until the driver sets it up again. */
static void test_reset(void)
{
	struct vd_buf b;
	u32 id, len;

	setup(&limited);
	src_avail = 1 << 20;
	b = (struct vd_buf){ vd_alloc(&drv, 16, 8), 16, true };
	vd_wr(&drv, VIRTIO_MMIO_STATUS, 0);
	src_calls = 0;
	vd_add(&drv, 0, &b, 1);
	vd_publish(&drv, 0);
	vd_kick(&drv, 0);
	CHECK(!vd_get_used(&drv, 0, &id, &len));
	CHECK_EQ(src_calls, 0);
	CHECK_EQ(rng.vdev.vq[0].ready, false);
}

/* A source whose two bytes land on the available ring's idx and offer one more chain each time
   (the count of chains taken so far, plus one). */
static ssize_t fill_feeding(void *opaque, void *buf, size_t len)
{
	u16 idx = (u16)(++src_calls + 1);

	if (len < 2)
		return -EAGAIN;
	memcpy(buf, &idx, 2);
	return 2;
}

/*
 * A driver whose buffer is its own available ring's idx: every chain the device fills makes
 * another available, so "until the queue is empty" never comes. One notification takes at most
 * the index space's worth of chains (virtio.c virtio_dev_serve), then the device fails
 * (§2.1.2) with the reason, instead of looping inside the MMIO write for ever.
 */
static void test_self_feeding(void)
{
	static const struct virtio_rng_host feeding = { .fill = fill_feeding };
	struct vd_buf b;

	setup(&feeding);
	src_calls = 0;
	b = (struct vd_buf){ drv.q[0].avail + 2, 2, true };
	for (unsigned i = 0; i < drv.q[0].num; i++) {
		drv.q[0].next_desc = 0;
		vd_add(&drv, 0, &b, 1); /* every ring entry: descriptor 0 */
	}
	vd_put16(drv.q[0].avail + 2, 1);
	vd_kick(&drv, 0);
	CHECK(rng.vdev.status & VIRTIO_STATUS_DEVICE_NEEDS_RESET);
	CHECK(rng.vdev.error && strstr(rng.vdev.error, "whole index space"));
	CHECK_EQ(src_calls, 65535);
	CHECK_EQ(rng.vdev.vq[0].budget, 0);
	/* Outside a notification nothing is counted. */
	CHECK_EQ(rng.vdev.vq[0].stats.chains, 65535);
}

int main(void)
{
	test_getrandom();
	test_fills();
	test_refused();
	test_reset();
	test_self_feeding();
	return check_done("test_virtio_rng");
}
