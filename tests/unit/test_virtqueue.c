// SPDX-License-Identifier: MIT
/*
 * Split virtqueues (virtio/virtqueue.h) driven directly: rings built in a fake guest RAM as a
 * driver builds them (virtio 1.2 §2.7), every hostile ring the device must refuse, chain copies
 * across descriptor boundaries, notification suppression with and without EVENT_IDX (§2.7.7,
 * §2.7.10) and 16-bit index wrap-around.
 */
#include <errno.h>
#include <string.h>

#include "check.h"
#include "virtio/virtqueue.h"

#define RAM_SIZE 0x100000
#define NUM	 8
#define DESC	 0x1000
#define AVAIL	 0x2000
#define USED	 0x3000
#define DATA	 0x10000

static u8 ram[RAM_SIZE] __attribute__((aligned(4096)));
static u64 written;

static void ram_written(void *opaque, u64 gpa, u64 len)
{
	written += len;
}

static const struct guest_mem mem = { .ram = ram, .size = RAM_SIZE, .written = ram_written };
static struct virtq vq;
static struct virtq_chain chain;
static u16 avail_idx;

static void put16(u64 gpa, u16 v)
{
	memcpy(ram + gpa, &v, 2);
}

static u16 get16(u64 gpa)
{
	u16 v;

	memcpy(&v, ram + gpa, 2);
	return v;
}

static u32 get32(u64 gpa)
{
	u32 v;

	memcpy(&v, ram + gpa, 4);
	return v;
}

static void desc(u64 table, u16 i, u64 addr, u32 len, u16 flags, u16 next)
{
	struct virtq_desc d = { addr, len, flags, next };

	memcpy(ram + table + 16 * (u64)i, &d, 16);
}

/* Offer chain `head`: ring entry, then idx (§2.7.13.2-3). */
static void offer(u16 head)
{
	put16(AVAIL + 4 + 2 * (u64)(avail_idx % NUM), head);
	avail_idx++;
	put16(AVAIL + 2, avail_idx);
}

static void setup(bool event_idx, bool indirect)
{
	memset(ram, 0, RAM_SIZE);
	avail_idx = 0;
	vq = (struct virtq){ .num_max = VIRTQ_NUM_MAX };
	virtq_reset(&vq);
	vq.num = NUM;
	vq.desc = DESC;
	vq.avail = AVAIL;
	vq.used = USED;
	CHECK_EQ(virtq_enable(&vq, &mem, event_idx, indirect), 0);
}

/* §2.7 table "Virtqueue Part": sizes and alignments; "Queue Size value is always a power of 2"
   and at most QueueNumMax (§4.2.2.2). */
static void test_enable(void)
{
	static const struct {
		u16 num;
		u64 desc, avail, used;
	} bad[] = {
		{ 0, DESC, AVAIL, USED },	       /* size 0 */
		{ 6, DESC, AVAIL, USED },	       /* not a power of two */
		{ 512, DESC, AVAIL, USED },	       /* above num_max (256) */
		{ 8, DESC + 8, AVAIL, USED },	       /* descriptor table not 16-aligned */
		{ 8, DESC, AVAIL + 1, USED },	       /* available ring not 2-aligned */
		{ 8, DESC, AVAIL, USED + 2 },	       /* used ring not 4-aligned */
		{ 8, RAM_SIZE - 64, AVAIL, USED },     /* table runs past RAM */
		{ 8, DESC, RAM_SIZE - 20, USED },      /* avail ring + used_event past RAM */
		{ 8, DESC, AVAIL, RAM_SIZE - 68 },     /* used ring + avail_event past RAM */
		{ 8, DESC, AVAIL, 0xfffffffffffffff0 }, /* wraps around */
	};

	for (unsigned i = 0; i < ARRAY_SIZE(bad); i++) {
		vq = (struct virtq){ .num_max = VIRTQ_NUM_MAX, .num = bad[i].num,
				     .desc = bad[i].desc, .avail = bad[i].avail,
				     .used = bad[i].used };
		CHECK_EQ(virtq_enable(&vq, &mem, false, false), -EINVAL);
		CHECK(!vq.ready);
	}
	/* exactly fitting at the end of RAM is fine */
	vq = (struct virtq){ .num_max = VIRTQ_NUM_MAX, .num = 8, .desc = RAM_SIZE - 128,
			     .avail = RAM_SIZE - 256, .used = RAM_SIZE - 200 };
	CHECK_EQ(virtq_enable(&vq, &mem, false, false), 0);
	/* a reset keeps num_max and statistics, sets num back to num_max */
	vq.stats.notifies = 3;
	virtq_reset(&vq);
	CHECK(!vq.ready);
	CHECK_EQ(vq.num, VIRTQ_NUM_MAX);
	CHECK_EQ(vq.stats.notifies, 3);
	CHECK_EQ(vq.desc, 0);
}

/* A request as virtio-blk sends it: header (readable), data (writable), status (writable). */
static void test_pop_push(void)
{
	u8 buf[64];

	setup(false, false);
	CHECK_EQ(virtq_pop(&vq, &mem, &chain), 0); /* empty */
	CHECK(!virtq_has_avail(&vq, &mem));
	desc(DESC, 3, DATA, 16, VIRTQ_DESC_F_NEXT, 5);
	desc(DESC, 5, DATA + 0x100, 512, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 0);
	desc(DESC, 0, DATA + 0x400, 1, VIRTQ_DESC_F_WRITE, 7);
	offer(3);
	CHECK(virtq_has_avail(&vq, &mem));
	CHECK_EQ(virtq_pop(&vq, &mem, &chain), 1);
	CHECK_EQ(chain.head, 3);
	CHECK_EQ(chain.nr, 3);
	CHECK_EQ(chain.nr_readable, 1);
	CHECK_EQ(chain.readable_len, 16);
	CHECK_EQ(chain.writable_len, 513);
	CHECK(!chain.malformed);
	CHECK_EQ(virtq_pop(&vq, &mem, &chain), 0);

	/* copies through the parts */
	memcpy(ram + DATA, "0123456789abcdef", 16);
	CHECK_EQ(virtq_chain_read(&chain, &mem, 4, buf, 8), 0);
	CHECK(!memcmp(buf, "456789ab", 8));
	CHECK_EQ(virtq_chain_read(&chain, &mem, 10, buf, 7), -EINVAL); /* past the readable part */
	memset(buf, 0xa5, sizeof(buf));
	written = 0;
	CHECK_EQ(virtq_chain_write(&chain, &mem, 500, buf, 13), 0); /* crosses into the status */
	CHECK_EQ(written, 13);
	CHECK_EQ(ram[DATA + 0x100 + 511], 0xa5);
	CHECK_EQ(ram[DATA + 0x400], 0xa5);
	CHECK_EQ(ram[DATA + 0x401], 0);
	CHECK_EQ(virtq_chain_write(&chain, &mem, 500, buf, 14), -EINVAL);

	/* §2.7.8.2: the element, then used->idx */
	CHECK_EQ(virtq_push(&vq, &mem, chain.head, 513), 0);
	CHECK_EQ(get16(USED + 2), 1);
	CHECK_EQ(get32(USED + 4), 3);
	CHECK_EQ(get32(USED + 8), 513);
	CHECK_EQ(vq.stats.chains, 1);
}

/* iovecs for preadv/pwritev; -E2BIG when too few; a buffer outside RAM gives -EFAULT and
   copies nothing. */
static void test_iov(void)
{
	struct iovec iov[4];
	u8 buf[8] = "ABCDEFG";

	setup(false, false);
	desc(DESC, 0, DATA, 10, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 1);
	desc(DESC, 1, DATA + 100, 10, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 2);
	desc(DESC, 2, RAM_SIZE - 4, 10, VIRTQ_DESC_F_WRITE, 0); /* half outside RAM */
	offer(0);
	CHECK_EQ(virtq_pop(&vq, &mem, &chain), 1);
	CHECK_EQ(virtq_chain_iov(&chain, &mem, true, 5, 10, iov, 4), 2);
	CHECK(iov[0].iov_base == ram + DATA + 5 && iov[0].iov_len == 5);
	CHECK(iov[1].iov_base == ram + DATA + 100 && iov[1].iov_len == 5);
	CHECK_EQ(virtq_chain_iov(&chain, &mem, true, 0, 20, iov, 1), -E2BIG);
	CHECK_EQ(virtq_chain_iov(&chain, &mem, true, 0, 0, iov, 4), 0);
	CHECK_EQ(virtq_chain_iov(&chain, &mem, false, 0, 1, iov, 4), -EINVAL); /* no readable */
	CHECK_EQ(virtq_chain_iov(&chain, &mem, true, 15, 10, iov, 4), -EFAULT);
	CHECK_EQ(virtq_chain_write(&chain, &mem, 0, buf, 8), 0);
	memset(ram + DATA, 0, 16);
	CHECK_EQ(virtq_chain_write(&chain, &mem, 2, buf, 20), -EFAULT);
	CHECK_EQ(ram[DATA + 2], 0); /* nothing copied */
	written = 0;
	CHECK_EQ(virtq_chain_iov(&chain, &mem, true, 8, 6, iov, 4), 2);
	virtq_iov_written(&mem, iov, 2, 3);
	CHECK_EQ(written, 3);
}

/* §2.7.5.3: an indirect table, alone or after direct descriptors (§2.7.5.3.2 "zero or more
   normal chained descriptors followed by a single descriptor with VIRTQ_DESC_F_INDIRECT"); the
   WRITE flag of the descriptor that points to the table is ignored. */
static void test_indirect(void)
{
	u64 table = 0x8000;

	setup(false, true);
	desc(table, 0, DATA, 16, VIRTQ_DESC_F_NEXT, 2);
	desc(table, 2, DATA + 64, 1, VIRTQ_DESC_F_WRITE, 0);
	desc(DESC, 4, table, 48, VIRTQ_DESC_F_INDIRECT | VIRTQ_DESC_F_WRITE, 0);
	offer(4);
	CHECK_EQ(virtq_pop(&vq, &mem, &chain), 1);
	CHECK_EQ(chain.head, 4);
	CHECK_EQ(chain.nr, 2);
	CHECK_EQ(chain.readable_len, 16);
	CHECK_EQ(chain.writable_len, 1);

	desc(DESC, 1, DATA + 128, 8, VIRTQ_DESC_F_NEXT, 2);
	desc(DESC, 2, table, 48, VIRTQ_DESC_F_INDIRECT, 0);
	offer(1);
	CHECK_EQ(virtq_pop(&vq, &mem, &chain), 1);
	CHECK_EQ(chain.nr, 3);
	CHECK_EQ(chain.nr_readable, 2);
	CHECK_EQ(chain.readable_len, 24);
	CHECK(!chain.malformed);
}

/* Each hostile ring: virtq_pop says -EINVAL (the device then sets DEVICE_NEEDS_RESET), without
   touching memory outside RAM and without looping. */
static void expect_refused(const char *what)
{
	int r = virtq_pop(&vq, &mem, &chain);

	if (r != -EINVAL)
		fprintf(stderr, "not refused: %s\n", what);
	CHECK_EQ(r, -EINVAL);
}

static void test_hostile_rings(void)
{
	u64 table = 0x8000;

	setup(false, false);
	offer(NUM); /* head out of the table */
	expect_refused("head index >= queue size");

	setup(false, false);
	desc(DESC, 0, DATA, 4, VIRTQ_DESC_F_NEXT, NUM + 3);
	offer(0);
	expect_refused("next index >= queue size");

	setup(false, false);
	desc(DESC, 2, DATA, 4, VIRTQ_DESC_F_NEXT, 2); /* §2.7.5.2: loops are forbidden */
	offer(2);
	expect_refused("a descriptor pointing to itself");

	setup(false, false);
	desc(DESC, 0, DATA, 4, VIRTQ_DESC_F_NEXT, 1);
	desc(DESC, 1, DATA, 4, VIRTQ_DESC_F_NEXT, 0);
	offer(0);
	expect_refused("a two-descriptor loop");

	setup(false, true);
	for (u16 i = 0; i < 2 * NUM; i++)
		desc(table, i, DATA, 4, VIRTQ_DESC_F_NEXT, (u16)(i + 1));
	desc(DESC, 0, table, 16 * 2 * NUM, VIRTQ_DESC_F_INDIRECT, 0);
	offer(0);
	expect_refused("a chain longer than the queue size (§2.7.5.3.1)");

	setup(false, true);
	desc(table, 0, DATA, 4, VIRTQ_DESC_F_NEXT, 0); /* a loop inside an indirect table */
	desc(DESC, 0, table, 16, VIRTQ_DESC_F_INDIRECT, 0);
	offer(0);
	expect_refused("a loop in an indirect table");

	setup(false, false);
	put16(AVAIL + 2, NUM + 1); /* more chains than the ring holds */
	expect_refused("available idx more than the queue size ahead");

	setup(false, false); /* INDIRECT without VIRTIO_F_INDIRECT_DESC (§2.7.5.3.1) */
	desc(table, 0, DATA, 4, 0, 0);
	desc(DESC, 0, table, 16, VIRTQ_DESC_F_INDIRECT, 0);
	offer(0);
	expect_refused("indirect descriptor without the feature");

	setup(false, true); /* "MUST NOT set the VIRTQ_DESC_F_INDIRECT flag within an indirect
			       descriptor" */
	desc(table, 0, table, 16, VIRTQ_DESC_F_INDIRECT, 0);
	desc(DESC, 0, table, 16, VIRTQ_DESC_F_INDIRECT, 0);
	offer(0);
	expect_refused("nested indirect table");

	setup(false, true); /* "MUST NOT set both VIRTQ_DESC_F_INDIRECT and VIRTQ_DESC_F_NEXT" */
	desc(table, 0, DATA, 4, 0, 0);
	desc(DESC, 0, table, 16, VIRTQ_DESC_F_INDIRECT | VIRTQ_DESC_F_NEXT, 1);
	desc(DESC, 1, DATA, 4, 0, 0);
	offer(0);
	expect_refused("INDIRECT with NEXT");

	setup(false, true);
	desc(DESC, 0, table, 20, VIRTQ_DESC_F_INDIRECT, 0);
	offer(0);
	expect_refused("indirect table length not a multiple of 16");

	setup(false, true);
	desc(DESC, 0, table, 0, VIRTQ_DESC_F_INDIRECT, 0);
	offer(0);
	expect_refused("empty indirect table");

	setup(false, true);
	desc(DESC, 0, RAM_SIZE - 16, 32, VIRTQ_DESC_F_INDIRECT, 0);
	offer(0);
	expect_refused("indirect table outside RAM");

	setup(false, true);
	desc(DESC, 0, 0xfffffffffffffff0ull, 32, VIRTQ_DESC_F_INDIRECT, 0);
	offer(0);
	expect_refused("indirect table wrapping the address space");
}

/* Walkable chains that break a framing rule come back malformed, for the device to refuse with
   its request status; the copy helpers refuse them too. */
static void test_malformed(void)
{
	u8 b;

	setup(false, false);
	/* §2.7.4.2 "The driver MUST place any device-writable descriptor elements after any
	   device-readable descriptor elements." */
	desc(DESC, 0, DATA, 4, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 1);
	desc(DESC, 1, DATA + 8, 4, 0, 0);
	offer(0);
	CHECK_EQ(virtq_pop(&vq, &mem, &chain), 1);
	CHECK(chain.malformed);
	CHECK_EQ(virtq_chain_read(&chain, &mem, 0, &b, 1), -EINVAL);
	CHECK_EQ(virtq_chain_write(&chain, &mem, 0, &b, 1), -EINVAL);

	/* §2.7.5.2 "MUST NOT add a descriptor chain longer than 2^32 bytes in total" */
	desc(DESC, 2, DATA, 0xffffffff, VIRTQ_DESC_F_NEXT, 3);
	desc(DESC, 3, DATA, 2, VIRTQ_DESC_F_WRITE, 0);
	offer(2);
	CHECK_EQ(virtq_pop(&vq, &mem, &chain), 1);
	CHECK(chain.malformed);

	/* exactly 2^32 is allowed */
	desc(DESC, 4, DATA, 0xffffffff, VIRTQ_DESC_F_NEXT, 5);
	desc(DESC, 5, DATA, 1, VIRTQ_DESC_F_WRITE, 0);
	offer(4);
	CHECK_EQ(virtq_pop(&vq, &mem, &chain), 1);
	CHECK(!chain.malformed);
}

/* §2.7.7.2 without EVENT_IDX: notify unless avail->flags has VIRTQ_AVAIL_F_NO_INTERRUPT. */
static void test_interrupt_flags(void)
{
	setup(false, false);
	CHECK(!virtq_should_interrupt(&vq, &mem)); /* nothing used */
	CHECK_EQ(virtq_push(&vq, &mem, 0, 0), 0);
	CHECK(virtq_should_interrupt(&vq, &mem));
	CHECK(!virtq_should_interrupt(&vq, &mem)); /* nothing new since */
	put16(AVAIL, VIRTQ_AVAIL_F_NO_INTERRUPT);
	CHECK_EQ(virtq_push(&vq, &mem, 0, 0), 0);
	CHECK(!virtq_should_interrupt(&vq, &mem));
	CHECK_EQ(vq.stats.interrupts, 1);
	CHECK_EQ(vq.stats.interrupts_suppressed, 1);
}

/* §2.7.7.2 with EVENT_IDX: the device MUST notify when it writes the entry at index used_event,
   and ignores the flags; "if used_event is 0, then a device using VIRTIO_F_EVENT_IDX would send a
   used buffer notification to the driver after the first buffer is used (and again after the
   65536th buffer, etc)". */
static void test_interrupt_event_idx(void)
{
	u64 used_event = AVAIL + 4 + 2 * NUM;
	unsigned sent = 0, pushed = 0;

	setup(true, false);
	put16(AVAIL, VIRTQ_AVAIL_F_NO_INTERRUPT); /* ignored with EVENT_IDX */
	put16(used_event, 0);
	CHECK_EQ(virtq_push(&vq, &mem, 0, 0), 0);
	CHECK(virtq_should_interrupt(&vq, &mem)); /* entry 0 written */
	for (unsigned i = 1; i < 65536; i++) {
		pushed += !virtq_push(&vq, &mem, 0, 0);
		sent += virtq_should_interrupt(&vq, &mem);
	}
	CHECK_EQ(pushed, 65535);
	CHECK_EQ(sent, 0);
	CHECK_EQ(virtq_push(&vq, &mem, 0, 0), 0); /* entry 65536 = 0 mod 2^16 */
	CHECK(virtq_should_interrupt(&vq, &mem));

	/* a batch that writes the entry used_event points to: one notification */
	setup(true, false);
	put16(used_event, 2);
	for (int i = 0; i < 4; i++)
		CHECK_EQ(virtq_push(&vq, &mem, 0, 0), 0);
	CHECK(virtq_should_interrupt(&vq, &mem)); /* entries 0-3 include 2 */
	for (int i = 0; i < 4; i++)
		CHECK_EQ(virtq_push(&vq, &mem, 0, 0), 0);
	CHECK(!virtq_should_interrupt(&vq, &mem)); /* 4-7 do not */
	put16(used_event, 8);
	CHECK_EQ(virtq_push(&vq, &mem, 0, 0), 0);
	CHECK(virtq_should_interrupt(&vq, &mem));
}

/* §2.7.10.2 available buffer notification suppression, as the device drives it */
static void test_notify_suppression(void)
{
	u64 avail_event = USED + 4 + 8 * NUM;

	setup(false, false);
	virtq_notify_disable(&vq, &mem);
	CHECK_EQ(get16(USED), VIRTQ_USED_F_NO_NOTIFY);
	CHECK(!virtq_notify_enable(&vq, &mem));
	CHECK_EQ(get16(USED), 0);
	desc(DESC, 0, DATA, 1, 0, 0);
	offer(0);
	CHECK(virtq_notify_enable(&vq, &mem)); /* a buffer arrived: drain again */

	setup(true, false);
	virtq_notify_disable(&vq, &mem);
	CHECK_EQ(get16(USED), 0); /* "The device MUST set flags to 0" */
	desc(DESC, 0, DATA, 1, 0, 0);
	offer(0);
	offer(0);
	CHECK_EQ(virtq_pop(&vq, &mem, &chain), 1);
	CHECK(virtq_notify_enable(&vq, &mem));
	CHECK_EQ(get16(avail_event), 1);
	CHECK_EQ(virtq_pop(&vq, &mem, &chain), 1);
	CHECK(!virtq_notify_enable(&vq, &mem));
	CHECK_EQ(get16(avail_event), 2);

	/* unpop gives the chain back */
	offer(0);
	CHECK_EQ(virtq_pop(&vq, &mem, &chain), 1);
	virtq_unpop(&vq);
	CHECK(virtq_has_avail(&vq, &mem));
	CHECK_EQ(virtq_pop(&vq, &mem, &chain), 1);
	CHECK(!virtq_has_avail(&vq, &mem));
}

/* "idx always increments, and wraps naturally at 65536" (§2.7.13.3), on both rings. */
static void test_wraparound(void)
{
	unsigned ok = 0;

	setup(false, false);
	desc(DESC, 0, DATA, 1, VIRTQ_DESC_F_WRITE, 0);
	for (unsigned i = 0; i < 70000; i++) {
		offer(0);
		if (virtq_pop(&vq, &mem, &chain) == 1 && !virtq_push(&vq, &mem, chain.head, 1))
			ok++;
	}
	CHECK_EQ(ok, 70000);
	CHECK_EQ(get16(USED + 2), (u16)70000);
	CHECK_EQ(vq.last_avail, (u16)70000);
}

int main(void)
{
	test_enable();
	test_pop_push();
	test_iov();
	test_indirect();
	test_hostile_rings();
	test_malformed();
	test_interrupt_flags();
	test_interrupt_event_idx();
	test_notify_suppression();
	test_wraparound();
	return check_done("test_virtqueue");
}
