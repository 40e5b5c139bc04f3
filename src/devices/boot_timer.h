/* SPDX-License-Identifier: MIT */
/*
 * The boot timer, as Firecracker's: a guest that writes BOOT_TIMER_MAGIC (one byte) to
 * BOOT_TIMER_PORT tells the VMM "booted"; the board prints the time since the VM was created
 * (tollbooth: boot time ...). Linux's /init can do it with /dev/port (guests/linux/init):
 *	printf '\173' | dd of=/dev/port bs=1 seek=$((0x4f8)) count=1
 * Reads return all ones (nothing is there to read); other values and sizes are ignored.
 */
#pragma once
#include "common.h"

#define BOOT_TIMER_PORT	 0x4f8
#define BOOT_TIMER_MAGIC 123

struct boot_timer {
	void (*booted)(void *opaque);
	void *opaque;
	u64 writes; /* of the magic value */
};

void boot_timer_access(void *opaque, u64 offset, u64 *data, unsigned len, bool is_write);
