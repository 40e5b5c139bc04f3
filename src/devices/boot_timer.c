// SPDX-License-Identifier: MIT
/* The boot timer port: see boot_timer.h. */
#include "devices/boot_timer.h"

void boot_timer_access(void *opaque, u64 offset, u64 *data, unsigned len, bool is_write)
{
	struct boot_timer *t = opaque;

	if (!is_write) {
		*data = len >= 8 ? ~0ull : (1ull << (len * 8)) - 1;
		return;
	}
	if (len == 1 && (u8)*data == BOOT_TIMER_MAGIC) {
		t->writes++;
		if (t->booted)
			t->booted(t->opaque);
	}
}
