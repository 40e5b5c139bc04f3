// SPDX-License-Identifier: MIT
/*
 * The virtio-mmio transport (virtio/mmio.h), version 2, driven through its registers as Linux's
 * virtio_mmio driver drives it (virtio 1.2 §4.2), with a virtio-rng device behind it and a
 * recording interrupt line: identification, access sizes, feature negotiation and FEATURES_OK,
 * device status and reset, queue configuration and the hostile queue setups that must end in
 * DEVICE_NEEDS_RESET, interrupts and their acknowledgement, queue reset, random register scripts.
 */
#include <stdlib.h>

#include "virtio_driver.h"
#include "virtio/rng.h"

static struct virtio_rng rng;
static struct virtio_mmio t;
static struct vd drv;

static ssize_t fill_pattern(void *opaque, void *buf, size_t len)
{
	memset(buf, 0x5a, len);
	return (ssize_t)len;
}

static const struct virtio_rng_host pattern = { .fill = fill_pattern };

#define ALL_STATUS                                                                               \
	(VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK |          \
	 VIRTIO_STATUS_DRIVER_OK)
#define WANT (BIT(VIRTIO_F_VERSION_1) | BIT(VIRTIO_F_EVENT_IDX) | BIT(VIRTIO_F_INDIRECT_DESC))

static void setup(void)
{
	memset(vd_ram, 0, sizeof(vd_ram));
	CHECK_EQ(virtio_rng_init(&rng, &vd_mem, &pattern), 0);
	virtio_mmio_init(&t, &rng.vdev);
	vd_wire(&t);
	memset(&drv, 0, sizeof(drv));
	drv.t = &t;
	drv.brk = 0x1000;
}

static u64 access(u64 off, u64 v, unsigned len, bool write)
{
	virtio_mmio_access(&t, off, &v, len, write);
	return v;
}

/* §4.2.2.1: MagicValue 0x74726976, Version 2; DeviceID (§5.4.1: 4); QueueNumMax 0 for a queue
   the device does not have. */
static void test_identification(void)
{
	setup();
	CHECK_EQ(vd_rd(&drv, VIRTIO_MMIO_MAGIC_VALUE), 0x74726976);
	CHECK_EQ(vd_rd(&drv, VIRTIO_MMIO_VERSION), 2);
	CHECK_EQ(vd_rd(&drv, VIRTIO_MMIO_DEVICE_ID), VIRTIO_ID_RNG);
	CHECK_EQ(vd_rd(&drv, VIRTIO_MMIO_VENDOR), VIRTIO_MMIO_VENDOR_ID);
	vd_wr(&drv, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 1);
	CHECK_EQ(vd_rd(&drv, VIRTIO_MMIO_DEVICE_FEATURES), 1 | BIT(VIRTIO_F_RING_RESET - 32));
	vd_wr(&drv, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 0);
	CHECK_EQ(vd_rd(&drv, VIRTIO_MMIO_DEVICE_FEATURES),
		 BIT(VIRTIO_F_INDIRECT_DESC) | BIT(VIRTIO_F_EVENT_IDX));
	vd_wr(&drv, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 2);
	CHECK_EQ(vd_rd(&drv, VIRTIO_MMIO_DEVICE_FEATURES), 0);
	vd_wr(&drv, VIRTIO_MMIO_QUEUE_SEL, 0);
	CHECK_EQ(vd_rd(&drv, VIRTIO_MMIO_QUEUE_NUM_MAX), VIRTIO_RNG_NUM_MAX);
	CHECK_EQ(vd_rd(&drv, VIRTIO_MMIO_QUEUE_READY), 0);
	vd_wr(&drv, VIRTIO_MMIO_QUEUE_SEL, 1);
	CHECK_EQ(vd_rd(&drv, VIRTIO_MMIO_QUEUE_NUM_MAX), 0);
	vd_wr(&drv, VIRTIO_MMIO_QUEUE_SEL, 0xffffffff);
	CHECK_EQ(vd_rd(&drv, VIRTIO_MMIO_QUEUE_NUM_MAX), 0);
	/* "Reading from a non-existent region ... results in a length of -1" and a base of all
	   ones */
	vd_wr(&drv, VIRTIO_MMIO_SHM_SEL, 0);
	CHECK_EQ(vd_rd(&drv, VIRTIO_MMIO_SHM_LEN_LOW), 0xffffffff);
	CHECK_EQ(vd_rd(&drv, VIRTIO_MMIO_SHM_LEN_HIGH), 0xffffffff);
	CHECK_EQ(vd_rd(&drv, VIRTIO_MMIO_SHM_BASE_LOW), 0xffffffff);
	CHECK_EQ(vd_rd(&drv, VIRTIO_MMIO_SHM_BASE_HIGH), 0xffffffff);
	CHECK_EQ(vd_rd(&drv, VIRTIO_MMIO_CONFIG_GENERATION), 0);
	CHECK_EQ(vd_rd(&drv, VIRTIO_MMIO_STATUS), 0);
}

/* §4.2.2.2 "The driver MUST only use 32 bit wide and aligned reads and writes to access the
   control registers"; anything else gets QEMU's answer: reads 0, writes ignored. So do
   write-only registers read, unknown offsets and writes to read-only registers. */
static void test_access_rules(void)
{
	setup();
	CHECK_EQ(access(VIRTIO_MMIO_MAGIC_VALUE, 0xdead, 1, false), 0);
	CHECK_EQ(access(VIRTIO_MMIO_MAGIC_VALUE, 0xdead, 2, false), 0);
	CHECK_EQ(access(VIRTIO_MMIO_MAGIC_VALUE, 0xdead, 8, false), 0);
	CHECK_EQ(access(VIRTIO_MMIO_MAGIC_VALUE + 1, 0xdead, 4, false), 0);
	CHECK_EQ(access(VIRTIO_MMIO_QUEUE_NUM, 0xdead, 4, false), 0); /* write-only */
	CHECK_EQ(access(VIRTIO_MMIO_QUEUE_NOTIFY, 0xdead, 4, false), 0);
	CHECK_EQ(access(0x0f0, 0xdead, 4, false), 0); /* nothing there */
	access(VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE, 1, true);
	access(VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE, 2, true);
	access(VIRTIO_MMIO_STATUS + 2, VIRTIO_STATUS_ACKNOWLEDGE, 4, true);
	CHECK_EQ(vd_rd(&drv, VIRTIO_MMIO_STATUS), 0);
	vd_wr(&drv, VIRTIO_MMIO_MAGIC_VALUE, 0);
	vd_wr(&drv, VIRTIO_MMIO_DEVICE_ID, 0);
	CHECK_EQ(vd_rd(&drv, VIRTIO_MMIO_MAGIC_VALUE), VIRTIO_MMIO_MAGIC);
	CHECK_EQ(vd_rd(&drv, VIRTIO_MMIO_DEVICE_ID), VIRTIO_ID_RNG);
	/* the entropy device has no configuration space (§5.4.4): every access is outside it */
	CHECK_EQ(access(VIRTIO_MMIO_CONFIG, 0, 1, false), 0xff);
	CHECK_EQ(access(VIRTIO_MMIO_CONFIG, 0, 4, false), 0xffffffff);
	CHECK_EQ(access(VIRTIO_MMIO_CONFIG + 0xfc, 0, 8, false), ~0ull);
}

/* §3.1.1 steps 4-6 and §2.2: FEATURES_OK sticks only for an acceptable subset; §6.2 a device
   MAY refuse to work without VIRTIO_F_VERSION_1 (tollbooth's are non-legacy only). */
static void test_features(void)
{
	u8 base = VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER;

	setup();
	vd_wr(&drv, VIRTIO_MMIO_STATUS, base);
	vd_wr(&drv, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0);
	vd_wr(&drv, VIRTIO_MMIO_DRIVER_FEATURES, BIT(VIRTIO_F_EVENT_IDX));
	vd_wr(&drv, VIRTIO_MMIO_STATUS, base | VIRTIO_STATUS_FEATURES_OK);
	CHECK_EQ(vd_rd(&drv, VIRTIO_MMIO_STATUS), base); /* no VERSION_1: refused */

	vd_wr(&drv, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
	vd_wr(&drv, VIRTIO_MMIO_DRIVER_FEATURES, 1 | BIT(35 - 32)); /* IN_ORDER: not offered */
	vd_wr(&drv, VIRTIO_MMIO_STATUS, base | VIRTIO_STATUS_FEATURES_OK);
	CHECK_EQ(vd_rd(&drv, VIRTIO_MMIO_STATUS), base);

	vd_wr(&drv, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 7); /* no such word: ignored */
	vd_wr(&drv, VIRTIO_MMIO_DRIVER_FEATURES, 0xffffffff);
	vd_wr(&drv, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
	vd_wr(&drv, VIRTIO_MMIO_DRIVER_FEATURES, 1);
	vd_wr(&drv, VIRTIO_MMIO_STATUS, base | VIRTIO_STATUS_FEATURES_OK);
	CHECK_EQ(vd_rd(&drv, VIRTIO_MMIO_STATUS), base | VIRTIO_STATUS_FEATURES_OK);
	CHECK(virtio_dev_has_feature(&rng.vdev, VIRTIO_F_VERSION_1));
	CHECK(virtio_dev_has_feature(&rng.vdev, VIRTIO_F_EVENT_IDX));
	CHECK(!virtio_dev_has_feature(&rng.vdev, VIRTIO_F_INDIRECT_DESC));
	/* the negotiated set is fixed once FEATURES_OK is set */
	vd_wr(&drv, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0);
	vd_wr(&drv, VIRTIO_MMIO_DRIVER_FEATURES, BIT(VIRTIO_F_INDIRECT_DESC));
	CHECK(virtio_dev_has_feature(&rng.vdev, VIRTIO_F_EVENT_IDX));
	CHECK(!virtio_dev_has_feature(&rng.vdev, VIRTIO_F_INDIRECT_DESC));
}

/* §2.1: status bits are only added (§2.1.1 "The driver MUST NOT clear a device status bit");
   the driver cannot set DEVICE_NEEDS_RESET; writing 0 resets (§4.2.2, §2.4) and clears
   InterruptStatus and every QueueReady (§4.2.2.1). */
static void test_status_and_reset(void)
{
	setup();
	CHECK(vd_init(&drv, &t, WANT, 1, 16));
	CHECK_EQ(vd_rd(&drv, VIRTIO_MMIO_STATUS), ALL_STATUS);
	vd_wr(&drv, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE);
	CHECK_EQ(vd_rd(&drv, VIRTIO_MMIO_STATUS), ALL_STATUS);
	vd_wr(&drv, VIRTIO_MMIO_STATUS, ALL_STATUS | VIRTIO_STATUS_DEVICE_NEEDS_RESET);
	CHECK_EQ(vd_rd(&drv, VIRTIO_MMIO_STATUS), ALL_STATUS);

	/* a used buffer raises the line; reset lowers it and clears the queue */
	struct vd_buf b = { vd_alloc(&drv, 16, 8), 16, true };
	vd_add(&drv, 0, &b, 1);
	vd_publish(&drv, 0);
	vd_kick(&drv, 0);
	CHECK(vd_irq_level);
	CHECK_EQ(vd_rd(&drv, VIRTIO_MMIO_INTERRUPT_STATUS), VIRTIO_INT_USED);
	vd_wr(&drv, VIRTIO_MMIO_STATUS, 0);
	CHECK_EQ(vd_rd(&drv, VIRTIO_MMIO_STATUS), 0);
	CHECK_EQ(vd_rd(&drv, VIRTIO_MMIO_INTERRUPT_STATUS), 0);
	CHECK(!vd_irq_level);
	vd_wr(&drv, VIRTIO_MMIO_QUEUE_SEL, 0);
	CHECK_EQ(vd_rd(&drv, VIRTIO_MMIO_QUEUE_READY), 0);
	CHECK(!virtio_dev_has_feature(&rng.vdev, VIRTIO_F_VERSION_1));
	/* and the driver can start over */
	CHECK(vd_init(&drv, &t, WANT, 1, 16));
	vd_add(&drv, 0, &b, 1);
	vd_publish(&drv, 0);
	vd_kick(&drv, 0);
	u32 id, len;
	CHECK(vd_get_used(&drv, 0, &id, &len));
	CHECK_EQ(len, 16);
}

/* §4.2.3.4: one interrupt line, asserted while a bit of InterruptStatus is set; §4.2.2.1 each bit
   stays until the driver acknowledges it in InterruptACK. */
static void test_interrupts(void)
{
	struct vd_buf b;
	u32 id, len;

	setup();
	CHECK(vd_init(&drv, &t, BIT(VIRTIO_F_VERSION_1), 1, 16));
	b = (struct vd_buf){ vd_alloc(&drv, 32, 8), 32, true };
	u16 head = vd_add(&drv, 0, &b, 1);
	vd_publish(&drv, 0);
	CHECK(!vd_irq_level);
	vd_kick(&drv, 0);
	CHECK(vd_irq_level);
	CHECK_EQ(vd_irq_raises, 1);
	CHECK(vd_get_used(&drv, 0, &id, &len));
	CHECK_EQ(id, head);
	CHECK_EQ(len, 32);
	CHECK_EQ(vd_ram[b.gpa], 0x5a);
	CHECK_EQ(vd_ram[b.gpa + 31], 0x5a);
	vd_wr(&drv, VIRTIO_MMIO_INTERRUPT_ACK, VIRTIO_INT_CONFIG); /* not the pending one */
	CHECK(vd_irq_level);
	CHECK_EQ(vd_ack(&drv), VIRTIO_INT_USED);
	CHECK(!vd_irq_level);
	CHECK_EQ(vd_rd(&drv, VIRTIO_MMIO_INTERRUPT_STATUS), 0);
	/* a configuration change notification (§2.5): bit 1 and a new generation */
	virtio_dev_config_changed(&rng.vdev);
	CHECK(vd_irq_level);
	CHECK_EQ(vd_rd(&drv, VIRTIO_MMIO_INTERRUPT_STATUS), VIRTIO_INT_CONFIG);
	CHECK_EQ(vd_rd(&drv, VIRTIO_MMIO_CONFIG_GENERATION), 1);
	CHECK_EQ(vd_ack(&drv), VIRTIO_INT_CONFIG);
	CHECK(!vd_irq_level);
	/* the driver suppresses the next one (VIRTQ_AVAIL_F_NO_INTERRUPT, §2.7.7.2) */
	vd_put16(drv.q[0].avail, VIRTQ_AVAIL_F_NO_INTERRUPT);
	vd_add(&drv, 0, &b, 1);
	vd_publish(&drv, 0);
	vd_kick(&drv, 0);
	CHECK(!vd_irq_level);
	CHECK(vd_get_used(&drv, 0, &id, &len));
	CHECK_EQ(rng.vdev.vq[0].stats.notifies, 2);
	CHECK_EQ(rng.vdev.vq[0].stats.chains, 2);
	CHECK_EQ(rng.vdev.vq[0].stats.interrupts, 1);
	CHECK_EQ(rng.vdev.vq[0].stats.interrupts_suppressed, 1);
}

/* §2.1.2 "The device MUST NOT consume buffers or send any used buffer notifications to the
   driver before DRIVER_OK": a notification before it is counted and ignored; the buffer is
   used once DRIVER_OK is set. A notification for a queue that does not exist is ignored. */
static void test_driver_ok_gate(void)
{
	struct vd_buf b;
	u32 id, len;

	setup();
	CHECK(vd_init(&drv, &t, WANT, 1, 16));
	vd_wr(&drv, VIRTIO_MMIO_STATUS, 0);
	drv.brk = 0x1000;
	vd_wr(&drv, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	vd_wr(&drv, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
	vd_wr(&drv, VIRTIO_MMIO_DRIVER_FEATURES, 1);
	vd_wr(&drv, VIRTIO_MMIO_STATUS, ALL_STATUS & ~VIRTIO_STATUS_DRIVER_OK);
	drv.features = BIT(VIRTIO_F_VERSION_1);
	CHECK(vd_setup_queue(&drv, 0, 8));
	b = (struct vd_buf){ vd_alloc(&drv, 8, 8), 8, true };
	vd_add(&drv, 0, &b, 1);
	vd_publish(&drv, 0);
	vd_kick(&drv, 0);
	vd_kick(&drv, 7);
	CHECK(!vd_get_used(&drv, 0, &id, &len));
	CHECK(!vd_irq_level);
	vd_wr(&drv, VIRTIO_MMIO_STATUS, ALL_STATUS);
	CHECK(vd_get_used(&drv, 0, &id, &len));
	CHECK_EQ(len, 8);
	CHECK(vd_irq_level);
	CHECK_EQ(rng.vdev.vq[0].stats.notifies, 1);
	/* DRIVER_OK without FEATURES_OK (a legacy driver's order) leaves the device idle */
	setup();
	vd_wr(&drv, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
						VIRTIO_STATUS_DRIVER_OK);
	CHECK(!virtio_dev_live(&rng.vdev));
}

/* Set up queue 0 with the given parameters; true when the device took it. */
static bool try_queue(u32 num, u64 desc, u64 avail, u64 used)
{
	setup();
	vd_wr(&drv, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	vd_wr(&drv, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
	vd_wr(&drv, VIRTIO_MMIO_DRIVER_FEATURES, 1);
	vd_wr(&drv, VIRTIO_MMIO_STATUS, ALL_STATUS & ~VIRTIO_STATUS_DRIVER_OK);
	vd_wr(&drv, VIRTIO_MMIO_QUEUE_SEL, 0);
	vd_wr(&drv, VIRTIO_MMIO_QUEUE_NUM, num);
	vd_wr(&drv, VIRTIO_MMIO_QUEUE_DESC_LOW, (u32)desc);
	vd_wr(&drv, VIRTIO_MMIO_QUEUE_DESC_HIGH, (u32)(desc >> 32));
	vd_wr(&drv, VIRTIO_MMIO_QUEUE_DRIVER_LOW, (u32)avail);
	vd_wr(&drv, VIRTIO_MMIO_QUEUE_DRIVER_HIGH, (u32)(avail >> 32));
	vd_wr(&drv, VIRTIO_MMIO_QUEUE_DEVICE_LOW, (u32)used);
	vd_wr(&drv, VIRTIO_MMIO_QUEUE_DEVICE_HIGH, (u32)(used >> 32));
	vd_wr(&drv, VIRTIO_MMIO_STATUS, ALL_STATUS);
	vd_wr(&drv, VIRTIO_MMIO_QUEUE_READY, 1);
	return vd_rd(&drv, VIRTIO_MMIO_QUEUE_READY);
}

/* A queue the device cannot use (§2.7: size a power of two; §2.7.1 alignment; §4.2.2.2 size up
   to QueueNumMax; rings in RAM): DEVICE_NEEDS_RESET (§2.1.2) with a configuration change
   notification since DRIVER_OK is set, the queue stays not ready. */
static void test_bad_queue_setup(void)
{
	static const struct {
		u32 num;
		u64 desc, avail, used;
	} bad[] = {
		{ 12, 0x1000, 0x2000, 0x3000 },
		{ 0, 0x1000, 0x2000, 0x3000 },
		{ 128, 0x1000, 0x2000, 0x3000 }, /* QueueNumMax is 64 */
		{ 0x10008, 0x1000, 0x2000, 0x3000 },
		{ 8, 0x1008, 0x2000, 0x3000 },
		{ 8, 0x1000, 0x2001, 0x3000 },
		{ 8, 0x1000, 0x2000, 0x3002 },
		{ 8, VD_RAM_SIZE, 0x2000, 0x3000 },
		{ 8, 0x1000, 0x2000, 0x100000003000ull },
		{ 8, 0xfffffffffffff000ull, 0x2000, 0x3000 },
	};

	for (unsigned i = 0; i < ARRAY_SIZE(bad); i++) {
		CHECK(!try_queue(bad[i].num, bad[i].desc, bad[i].avail, bad[i].used));
		CHECK(vd_rd(&drv, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_DEVICE_NEEDS_RESET);
		CHECK_EQ(vd_rd(&drv, VIRTIO_MMIO_INTERRUPT_STATUS), VIRTIO_INT_CONFIG);
		CHECK(vd_irq_level);
		CHECK(rng.vdev.error != NULL);
	}
	CHECK(try_queue(8, 0x1000, 0x2000, 0x3000));
	CHECK_EQ(vd_rd(&drv, VIRTIO_MMIO_STATUS), ALL_STATUS);
	CHECK(rng.vdev.error == NULL);
	/* §4.2.2.2: QueueNum and the addresses are not the driver's while the queue is ready */
	vd_wr(&drv, VIRTIO_MMIO_QUEUE_NUM, 2);
	vd_wr(&drv, VIRTIO_MMIO_QUEUE_DESC_LOW, 0x5000);
	CHECK_EQ(rng.vdev.vq[0].num, 8);
	CHECK_EQ(rng.vdev.vq[0].desc, 0x1000);
	/* a reset clears DEVICE_NEEDS_RESET and the error */
	try_queue(3, 0x1000, 0x2000, 0x3000);
	vd_wr(&drv, VIRTIO_MMIO_STATUS, 0);
	CHECK_EQ(vd_rd(&drv, VIRTIO_MMIO_STATUS), 0);
	CHECK(rng.vdev.error == NULL);
	CHECK(!vd_irq_level);
}

/* A hostile chain (a loop) after DRIVER_OK: DEVICE_NEEDS_RESET, config interrupt, the device
   stops consuming that queue until reset. */
static void test_needs_reset_on_bad_chain(void)
{
	struct vd_queue *q = &drv.q[0];
	u32 id, len;

	setup();
	CHECK(vd_init(&drv, &t, WANT, 1, 8));
	vd_put_desc(q->desc, 0x8000, 4, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 0);
	vd_put16(q->avail + 4, 0);
	q->avail_idx = 1;
	vd_publish(&drv, 0);
	vd_kick(&drv, 0);
	CHECK(vd_rd(&drv, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_DEVICE_NEEDS_RESET);
	CHECK_EQ(vd_ack(&drv), VIRTIO_INT_CONFIG);
	CHECK(!vd_get_used(&drv, 0, &id, &len));
	/* further buffers are left alone */
	struct vd_buf b = { 0x9000, 4, true };
	vd_add(&drv, 0, &b, 1);
	vd_publish(&drv, 0);
	vd_kick(&drv, 0);
	CHECK(!vd_get_used(&drv, 0, &id, &len));
	CHECK(!vd_irq_level);
}

/* §2.6.1 / §4.2.2: with VIRTIO_F_RING_RESET, QueueReset 1 resets one queue (QueueReady and
   QueueReset read 0 after); the driver may set it up again. Without the feature it is ignored. */
static void test_queue_reset(void)
{
	struct vd_buf b;
	u32 id, len;

	setup();
	CHECK(vd_init(&drv, &t, WANT | BIT(VIRTIO_F_RING_RESET), 1, 8));
	b = (struct vd_buf){ vd_alloc(&drv, 4, 4), 4, true };
	vd_add(&drv, 0, &b, 1);
	vd_publish(&drv, 0);
	vd_kick(&drv, 0);
	CHECK(vd_get_used(&drv, 0, &id, &len));
	vd_wr(&drv, VIRTIO_MMIO_QUEUE_SEL, 0);
	vd_wr(&drv, VIRTIO_MMIO_QUEUE_RESET, 1);
	CHECK_EQ(vd_rd(&drv, VIRTIO_MMIO_QUEUE_RESET), 0);
	CHECK_EQ(vd_rd(&drv, VIRTIO_MMIO_QUEUE_READY), 0);
	CHECK_EQ(rng.vdev.vq[0].last_avail, 0);
	CHECK(vd_setup_queue(&drv, 0, 4));
	vd_add(&drv, 0, &b, 1);
	vd_publish(&drv, 0);
	vd_kick(&drv, 0);
	CHECK(vd_get_used(&drv, 0, &id, &len));
	CHECK_EQ(vd_rd(&drv, VIRTIO_MMIO_STATUS), ALL_STATUS);

	setup();
	CHECK(vd_init(&drv, &t, WANT, 1, 8));
	vd_wr(&drv, VIRTIO_MMIO_QUEUE_SEL, 0);
	vd_wr(&drv, VIRTIO_MMIO_QUEUE_RESET, 1);
	CHECK_EQ(vd_rd(&drv, VIRTIO_MMIO_QUEUE_READY), 1);
}

/* EVENT_IDX batching, the I/O figure: the driver suppresses its notifications while the device
   has not caught up (avail_event), and the device its interrupts (used_event). Ten requests
   offered together cost one notification and one interrupt. */
static void test_event_idx_batching(void)
{
	struct vd_buf b;
	u16 old;
	unsigned kicks = 0;
	u32 id, len;

	setup();
	CHECK(vd_init(&drv, &t, WANT, 1, 16));
	b = (struct vd_buf){ vd_alloc(&drv, 4, 4), 4, true };
	old = drv.q[0].avail_idx;
	for (int i = 0; i < 10; i++)
		vd_add(&drv, 0, &b, 1);
	vd_publish(&drv, 0);
	kicks += vd_kick_if_needed(&drv, 0, old);
	CHECK_EQ(kicks, 1);
	for (int i = 0; i < 10; i++)
		CHECK(vd_get_used(&drv, 0, &id, &len));
	CHECK_EQ(rng.vdev.vq[0].stats.notifies, 1);
	CHECK_EQ(rng.vdev.vq[0].stats.chains, 10);
	CHECK_EQ(rng.vdev.vq[0].stats.interrupts, 1);
	/* the device asked for the next notification at avail index 10 */
	CHECK_EQ(vd_get16(drv.q[0].used + 4 + 8 * 16), 10);
	/* the driver only wants an interrupt after used entry 12 (used_event = 12) */
	vd_put16(drv.q[0].avail + 4 + 2 * 16, 12);
	vd_ack(&drv);
	for (int i = 0; i < 3; i++) {
		old = drv.q[0].avail_idx;
		vd_add(&drv, 0, &b, 1);
		vd_publish(&drv, 0);
		kicks += vd_kick_if_needed(&drv, 0, old);
		CHECK_EQ(vd_irq_raises, 1 + (i == 2));
	}
	CHECK_EQ(kicks, 4);
	CHECK_EQ(rng.vdev.vq[0].stats.interrupts_suppressed, 2);
}

/* Random register scripts with random guest RAM: no crash, no access outside RAM (ASan), and
   the line always follows InterruptStatus. */
static void test_random_scripts(void)
{
	u8 script[512];
	unsigned ops = 0, bad_level = 0;

	srand(7);
	for (int round = 0; round < 300; round++) {
		setup();
		if (round % 2)
			CHECK(vd_init(&drv, &t, WANT | BIT(VIRTIO_F_RING_RESET), 1, 8));
		for (unsigned i = 0; i < 0x4000; i++)
			vd_ram[i] = (u8)rand();
		for (unsigned i = 0; i < sizeof(script); i++)
			script[i] = (u8)rand();
		/* bias towards the interesting registers: offsets below 0x100, 32-bit accesses */
		for (unsigned i = 0; i + 3 <= sizeof(script); i += 7) {
			script[i] = (u8)((script[i] & 0x80) | 2);
			script[i + 2] = 0;
		}
		ops += virtio_mmio_run_script(&t, script, sizeof(script));
		bad_level += vd_irq_level != (t.interrupt_status != 0);
	}
	CHECK(ops > 300 * 50);
	CHECK_EQ(bad_level, 0);
}

/* The statistics line the VMM prints (exits per request for the I/O figure). */
static void test_print_stats(void)
{
	char buf[512] = { 0 };
	FILE *f = fmemopen(buf, sizeof(buf) - 1, "w");
	struct vd_buf b;

	setup();
	CHECK(vd_init(&drv, &t, WANT, 1, 16));
	b = (struct vd_buf){ vd_alloc(&drv, 4, 4), 4, true };
	for (int i = 0; i < 2; i++) {
		vd_add(&drv, 0, &b, 1);
		vd_add(&drv, 0, &b, 1);
		vd_publish(&drv, 0);
		vd_kick(&drv, 0);
	}
	virtio_dev_fail(&rng.vdev, "test failure");
	virtio_dev_print_stats(&rng.vdev, f);
	fclose(f);
	CHECK(!strcmp(buf, "virtio-rng q0: 2 notifies, 4 requests, 1 interrupts, 1 suppressed "
			   "(0.50 exits/request)\n"
			   "virtio-rng: device needs reset: test failure\n"));
}

int main(void)
{
	test_identification();
	test_access_rules();
	test_features();
	test_status_and_reset();
	test_interrupts();
	test_driver_ok_gate();
	test_bad_queue_setup();
	test_needs_reset_on_bad_chain();
	test_queue_reset();
	test_event_idx_batching();
	test_random_scripts();
	test_print_stats();
	return check_done("test_virtio_mmio");
}
