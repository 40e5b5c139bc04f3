// SPDX-License-Identifier: MIT
/* isa-debug-exit: see debug_exit.h. */
#include "devices/debug_exit.h"

void debug_exit_access(void *opaque, u64 offset, u64 *data, unsigned len, bool is_write)
{
	struct debug_exit *d = opaque;

	if (!is_write) {
		*data = len >= 8 ? ~0ull : (1ull << (len * 8)) - 1; /* QEMU's device is write-only
								     */
		return;
	}
	d->on_exit(d->opaque, (int)(((u32)*data << 1) | 1));
}
