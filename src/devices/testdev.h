/* SPDX-License-Identifier: MIT */
/*
 * testdev: a small MMIO test device in the spirit of QEMU's pc-testdev iomem region, so that
 * kvm-unit-tests-style guests have MMIO to exercise the EPT-violation path (vmm/mmio.c) with.
 * One 4 KiB region; registers (offsets, little endian):
 *   0x00 MAGIC    32-bit, read-only: TESTDEV_MAGIC
 *   0x04 VERSION  32-bit, read-only: TESTDEV_VERSION
 *   0x08 SCRATCH  64 bits, any access of 1, 2, 4 or 8 bytes inside it reads back what was written
 *   0x10 COUNT    64-bit: accesses to the device before this one; a write sets it to 0
 * Other offsets read as 0 and ignore writes. Writes to read-only registers are ignored.
 */
#pragma once
#include "common.h"

#define TESTDEV_MMIO_BASE 0xfeb00000ull
#define TESTDEV_MMIO_SIZE 0x1000
#define TESTDEV_MAGIC	  0x54425444u /* "DTBT" in memory order: 'D' 'T' 'B' 'T' */
#define TESTDEV_VERSION	  1

#define TESTDEV_REG_MAGIC   0x00
#define TESTDEV_REG_VERSION 0x04
#define TESTDEV_REG_SCRATCH 0x08
#define TESTDEV_REG_COUNT   0x10

struct testdev {
	u64 scratch;
	u64 count;
};

void testdev_access(void *opaque, u64 offset, u64 *data, unsigned len, bool is_write);
