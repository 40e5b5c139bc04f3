/* SPDX-License-Identifier: MIT */
/*
 * QEMU's isa-debug-exit device as kvm-unit-tests configure it (iobase=0xf4, iosize=4): a write of
 * V ends the machine with process exit status (V << 1) | 1, so a guest can never report 0.
 */
#pragma once
#include "common.h"

#define DEBUG_EXIT_PORT 0xf4
#define DEBUG_EXIT_SIZE 4

struct debug_exit {
	void (*on_exit)(void *opaque, int status);
	void *opaque;
};

void debug_exit_access(void *opaque, u64 offset, u64 *data, unsigned len, bool is_write);
