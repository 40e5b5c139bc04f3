// SPDX-License-Identifier: MIT
/* testdev: see testdev.h. */
#include <string.h>

#include "devices/testdev.h"

/* Do the bytes [offset, offset+len) lie inside the register of `size` bytes at `base`? */
static bool testdev_overlaps(u64 offset, unsigned len, u64 base, unsigned size)
{
	return offset >= base && offset + len <= base + size;
}

void testdev_access(void *opaque, u64 offset, u64 *data, unsigned len, bool is_write)
{
	struct testdev *t = opaque;
	u64 count = t->count++;
	u32 magic = TESTDEV_MAGIC, version = TESTDEV_VERSION;
	u8 regs[0x18];

	if (len > 8)
		return;
	if (is_write) {
		if (testdev_overlaps(offset, len, TESTDEV_REG_SCRATCH, 8))
			memcpy((u8 *)&t->scratch + (offset - TESTDEV_REG_SCRATCH), data, len);
		else if (testdev_overlaps(offset, len, TESTDEV_REG_COUNT, 8))
			t->count = 0;
		return;
	}
	*data = 0;
	if (offset + len > sizeof(regs))
		return;
	/* The register file as the guest sees it, little endian (the host is x86 too). */
	memcpy(&regs[TESTDEV_REG_MAGIC], &magic, 4);
	memcpy(&regs[TESTDEV_REG_VERSION], &version, 4);
	memcpy(&regs[TESTDEV_REG_SCRATCH], &t->scratch, 8);
	memcpy(&regs[TESTDEV_REG_COUNT], &count, 8);
	memcpy(data, &regs[offset], len);
}
