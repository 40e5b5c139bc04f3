// SPDX-License-Identifier: MIT
/* The device harness: see device.h for the script format and what is checked. */
#include "device.h"

enum { STEP_READ, STEP_WRITE, STEP_EVENT, STEP_REPEAT };

static u64 total_len(const struct fuzz_device *fd)
{
	u64 total = 0;

	for (unsigned i = 0; i < FUZZ_DEVICE_MAX_RANGES && fd->ranges[i].len; i++)
		total += fd->ranges[i].len;
	return total;
}

static unsigned offset_bytes(u64 len)
{
	return len <= 0x100 ? 1 : len <= 0x10000 ? 2 : 4;
}

/* `offset` is into the ranges laid end to end. */
static void device_access(const struct fuzz_device *fd, void *dev, u64 offset, u64 value,
			  unsigned size, bool is_write)
{
	u64 data = is_write ? value : 0x5a5a5a5a5a5a5a5aull; /* a read must overwrite it */
	const struct fuzz_range *r = fd->ranges;

	while (offset >= r->len)
		offset -= r++->len;
	r->access(dev, offset, &data, size, is_write);
	if (!is_write && size < 8)
		FUZZ_ASSERT(
			!(data >> (8 * size)),
			"a %u-byte read at offset %#llx of range %td returned %#llx: bytes above "
			"the access size must be 0",
			size, (unsigned long long)offset, r - fd->ranges, (unsigned long long)data);
	if (fd->check)
		fd->check(dev);
}

void fuzz_device_run(const struct fuzz_device *fd, const u8 *data, size_t size)
{
	struct fuzz_input in = { data, size };
	unsigned accesses = 0, last_size = 1;
	u64 last_offset = 0, last_value = 0;
	int last = -1; /* STEP_READ or STEP_WRITE once there was one */
	u64 total = total_len(fd);
	void *dev = fd->create();

	if (fd->check)
		fd->check(dev);
	while (!fuzz_empty(&in) && accesses < FUZZ_DEVICE_MAX_ACCESSES) {
		u8 op = fuzz_u8(&in);
		unsigned kind = op & 3, len = 1u << ((op >> 2) & 3);

		switch (kind) {
		case STEP_READ:
		case STEP_WRITE:
			last_offset = fuzz_uint(&in, offset_bytes(total)) % total;
			last_value = kind == STEP_WRITE ? fuzz_uint(&in, len) : 0;
			last_size = len;
			last = (int)kind;
			device_access(fd, dev, last_offset, last_value, len, kind == STEP_WRITE);
			accesses++;
			break;
		case STEP_EVENT: {
			u8 arg[15];
			size_t n = op >> 4;

			for (size_t i = 0; i < n; i++)
				arg[i] = fuzz_u8(&in);
			if (fd->event) {
				fd->event(dev, arg, n);
				if (fd->check)
					fd->check(dev);
			}
			break;
		}
		case STEP_REPEAT:
			for (unsigned i = 1 + fuzz_u8(&in);
			     i && last >= 0 && accesses < FUZZ_DEVICE_MAX_ACCESSES; i--, accesses++)
				device_access(fd, dev, last_offset, last_value, last_size,
					      last == STEP_WRITE);
			break;
		}
	}
	fd->destroy(dev);
}

static u64 fuzz_clock_now(void *opaque)
{
	return ((const struct fuzz_clock *)opaque)->now;
}

void fuzz_clock_init(struct fuzz_clock *c)
{
	c->now = 0;
	if (timer_queue_init(&c->q, fuzz_clock_now, c))
		abort();
}

void fuzz_clock_free(struct fuzz_clock *c)
{
	timer_queue_free(&c->q);
}

void fuzz_clock_advance(struct fuzz_clock *c, const u8 *arg, size_t n)
{
	u64 ns = 0;

	for (size_t i = 0; i < n && i < 8; i++)
		ns |= (u64)arg[i] << (8 * i);
	c->now = ns < FUZZ_CLOCK_END - c->now ? c->now + ns : FUZZ_CLOCK_END;
	timer_run_expired(&c->q, c->now);
}
