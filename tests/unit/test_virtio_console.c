// SPDX-License-Identifier: MIT
/*
 * virtio-console port 0 (virtio/console.h, virtio 1.2 §5.3) through virtio-mmio with a fake
 * host console: output in order whatever the framing, input only into offered buffers and never
 * lost while there is none, emergency writes, and the chains it must refuse.
 */
#include "virtio_driver.h"
#include "virtio/console.h"

static struct virtio_console con;
static struct virtio_mmio t;
static struct vd drv;

static u8 out[4096];
static size_t out_len;
static u8 in[4096];
static size_t in_len, in_pos;
static unsigned rx_calls;

static void host_tx(void *opaque, const u8 *buf, size_t len)
{
	if (out_len + len <= sizeof(out)) {
		memcpy(out + out_len, buf, len);
		out_len += len;
	}
}

static size_t host_rx(void *opaque, u8 *buf, size_t max)
{
	size_t n = in_len - in_pos < max ? in_len - in_pos : max;

	rx_calls++;
	memcpy(buf, in + in_pos, n);
	in_pos += n;
	return n;
}

static const struct virtio_console_host host = { .tx = host_tx, .rx = host_rx };

static void type_input(const char *s)
{
	in_len = strlen(s);
	in_pos = 0;
	memcpy(in, s, in_len);
}

static void setup(bool start)
{
	memset(vd_ram, 0, sizeof(vd_ram));
	out_len = in_len = in_pos = 0;
	rx_calls = 0;
	CHECK_EQ(virtio_console_init(&con, &vd_mem, &host), 0);
	virtio_mmio_init(&t, &con.vdev);
	vd_wire(&t);
	drv.t = &t;
	if (start)
		CHECK(vd_init(&drv, &t,
			      BIT(VIRTIO_F_VERSION_1) | BIT(VIRTIO_F_EVENT_IDX) |
				      BIT(VIRTIO_F_INDIRECT_DESC) |
				      BIT(VIRTIO_CONSOLE_F_EMERG_WRITE),
			      2, 16));
}

static u64 put_text(const char *s)
{
	u64 at = vd_alloc(&drv, strlen(s), 1);

	memcpy(vd_ram + at, s, strlen(s));
	return at;
}

/* §5.3.6: output placed in transmitq(port0) reaches the host in order; the used length is 0
   (nothing written). */
static void test_output(void)
{
	u32 id, len;

	setup(true);
	CHECK_EQ(vd_rd(&drv, VIRTIO_MMIO_DEVICE_ID), VIRTIO_ID_CONSOLE);
	struct vd_buf a[] = { { put_text("hello, "), 7, false }, { put_text("hvc0\n"), 5, false } };
	vd_add(&drv, VIRTIO_CONSOLE_TX, a, 2);
	struct vd_buf b = { put_text("second"), 6, false };
	vd_add_indirect(&drv, VIRTIO_CONSOLE_TX, &b, 1);
	vd_publish(&drv, VIRTIO_CONSOLE_TX);
	vd_kick(&drv, VIRTIO_CONSOLE_TX);
	CHECK_EQ(out_len, 18);
	CHECK(!memcmp(out, "hello, hvc0\nsecond", 18));
	CHECK(vd_get_used(&drv, VIRTIO_CONSOLE_TX, &id, &len));
	CHECK_EQ(len, 0);
	CHECK(vd_get_used(&drv, VIRTIO_CONSOLE_TX, &id, &len));
	CHECK(vd_irq_level);
	CHECK_EQ(con.tx_bytes, 18);
}

/* §5.3.6.1 "The driver MUST NOT put a device-writable buffer in a transmitq": dropped unsent,
   returned so the queue moves on; so is a buffer outside RAM. */
static void test_output_refused(void)
{
	u32 id, len;

	setup(true);
	struct vd_buf w[] = { { put_text("abc"), 3, false }, { put_text("xyz"), 3, true } };
	vd_add(&drv, VIRTIO_CONSOLE_TX, w, 2);
	struct vd_buf o = { VD_RAM_SIZE - 1, 2, false };
	vd_add(&drv, VIRTIO_CONSOLE_TX, &o, 1);
	struct vd_buf ok = { put_text("ok"), 2, false };
	vd_add(&drv, VIRTIO_CONSOLE_TX, &ok, 1);
	vd_publish(&drv, VIRTIO_CONSOLE_TX);
	vd_kick(&drv, VIRTIO_CONSOLE_TX);
	CHECK_EQ(out_len, 2);
	CHECK(!memcmp(out, "ok", 2));
	CHECK_EQ(con.bad_chains, 2);
	for (int i = 0; i < 3; i++)
		CHECK(vd_get_used(&drv, VIRTIO_CONSOLE_TX, &id, &len));
	CHECK_EQ(vd_rd(&drv, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_DEVICE_NEEDS_RESET, 0);
}

/* Input goes into receive buffers, split across them, the used length is what was written;
   with no buffer the host is not even asked, and input waits until the driver offers one. */
static void test_input(void)
{
	struct vd_buf b[2];
	u32 id, len;

	setup(true);
	type_input("ls -l\r");
	virtio_console_rx_ready(&con); /* no receive buffer yet */
	CHECK_EQ(rx_calls, 0);
	CHECK_EQ(in_pos, 0);
	b[0] = (struct vd_buf){ vd_alloc(&drv, 4, 1), 4, true };
	b[1] = (struct vd_buf){ vd_alloc(&drv, 4, 1), 4, true };
	vd_add(&drv, VIRTIO_CONSOLE_RX, &b[0], 1);
	vd_add(&drv, VIRTIO_CONSOLE_RX, &b[1], 1);
	vd_publish(&drv, VIRTIO_CONSOLE_RX);
	vd_kick(&drv, VIRTIO_CONSOLE_RX); /* the driver adds buffers: the device fills them */
	CHECK(vd_get_used(&drv, VIRTIO_CONSOLE_RX, &id, &len));
	CHECK_EQ(len, 4);
	CHECK(!memcmp(vd_ram + b[0].gpa, "ls -", 4));
	CHECK(vd_get_used(&drv, VIRTIO_CONSOLE_RX, &id, &len));
	CHECK_EQ(len, 2);
	CHECK(!memcmp(vd_ram + b[1].gpa, "l\r", 2));
	CHECK(vd_irq_level);
	vd_ack(&drv);
	/* nothing more typed: a new buffer stays available */
	vd_add(&drv, VIRTIO_CONSOLE_RX, &b[0], 1);
	vd_publish(&drv, VIRTIO_CONSOLE_RX);
	vd_kick(&drv, VIRTIO_CONSOLE_RX);
	CHECK(!vd_get_used(&drv, VIRTIO_CONSOLE_RX, &id, &len));
	CHECK(!vd_irq_level);
	type_input("q");
	virtio_console_rx_ready(&con);
	CHECK(vd_get_used(&drv, VIRTIO_CONSOLE_RX, &id, &len));
	CHECK_EQ(len, 1);
	CHECK_EQ(vd_ram[b[0].gpa], 'q');
	CHECK(vd_irq_level);
	CHECK_EQ(con.rx_bytes, 7);
}

/* §5.3.6.1 "The driver MUST NOT put a device-readable buffer in a receiveq": returned with length
   0 and nothing consumed from the host; an empty buffer too (it cannot block the queue). */
static void test_input_refused(void)
{
	u32 id, len;

	setup(true);
	type_input("x");
	struct vd_buf r = { vd_alloc(&drv, 4, 1), 4, false };
	vd_add(&drv, VIRTIO_CONSOLE_RX, &r, 1);
	struct vd_buf e = { vd_alloc(&drv, 4, 1), 0, true };
	vd_add(&drv, VIRTIO_CONSOLE_RX, &e, 1);
	vd_publish(&drv, VIRTIO_CONSOLE_RX);
	vd_kick(&drv, VIRTIO_CONSOLE_RX);
	CHECK(vd_get_used(&drv, VIRTIO_CONSOLE_RX, &id, &len));
	CHECK_EQ(len, 0);
	CHECK(vd_get_used(&drv, VIRTIO_CONSOLE_RX, &id, &len));
	CHECK_EQ(len, 0);
	CHECK_EQ(in_pos, 0);
	CHECK_EQ(con.bad_chains, 2);
}

/* §5.3.5.1 emergency write: works on an unconfigured device, the low byte goes out. */
static void test_emergency_write(void)
{
	u64 v = 0x4321;

	setup(false);
	virtio_mmio_access(&t, VIRTIO_MMIO_CONFIG + VIRTIO_CONSOLE_EMERG_WR, &v, 4, true);
	CHECK_EQ(out_len, 1);
	CHECK_EQ(out[0], 0x21);
	v = '!';
	virtio_mmio_access(&t, VIRTIO_MMIO_CONFIG + VIRTIO_CONSOLE_EMERG_WR, &v, 1, true);
	CHECK_EQ(out_len, 2);
	CHECK_EQ(out[1], '!');
	v = 0x55;
	virtio_mmio_access(&t, VIRTIO_MMIO_CONFIG + 9, &v, 1, true); /* not the low byte */
	CHECK_EQ(out_len, 2);
	v = 0xffff;
	virtio_mmio_access(&t, VIRTIO_MMIO_CONFIG, &v, 4, true); /* rows, cols: read-only */
	CHECK_EQ(out_len, 2);
	v = 0;
	virtio_mmio_access(&t, VIRTIO_MMIO_CONFIG, &v, 8, false);
	CHECK_EQ(v, 0);
	virtio_mmio_access(&t, VIRTIO_MMIO_CONFIG + VIRTIO_CONSOLE_EMERG_WR, &v, 4, false);
	CHECK_EQ(v, 0);
	/* input before DRIVER_OK is left with the host */
	type_input("early");
	virtio_console_rx_ready(&con);
	CHECK_EQ(rx_calls, 0);
}

int main(void)
{
	test_output();
	test_output_refused();
	test_input();
	test_input_refused();
	test_emergency_write();
	return check_done("test_virtio_console");
}
