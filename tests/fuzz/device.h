/* SPDX-License-Identifier: MIT */
/*
 * The device harness: a device's register interface (devices/bus.h: the device sees only
 * (offset, data, len, is_write)) driven by an access script the fuzzer writes. A device target is
 * one struct fuzz_device and FUZZ_DEVICE_TARGET(); see fuzz_uart.c and tests/fuzz/README.md.
 *
 * The script is a sequence of steps; each starts with one byte `op`:
 *   op bits 1:0  0 read, 1 write, 2 event, 3 repeat
 *   op bits 3:2  access size: 1 << bits bytes (1, 2, 4, 8)
 *   read:   offset                     then bus_access(offset, &data, size, false)
 *   write:  offset, value (size bytes) then bus_access(offset, &value, size, true)
 *   event:  op bits 7:4 = n, then n argument bytes for the device's event hook (host input,
 *           time passing, an input line changing: whatever the device's outside world does)
 *   repeat: count byte: the previous read or write again 1 + count times (FIFO overruns,
 *           polling loops)
 * Offsets are 1, 2 or 4 little-endian bytes (as range_len needs), taken modulo range_len: the
 * bus dispatches only addresses inside the range, but an access may run past its end, as one on
 * real hardware can. A write's value keeps its bytes above `size`: the bus contract is that a
 * device reads only `size` bytes of it. Fields past the end of the input read as 0.
 *
 * Checked after every access: a read returns its `size` bytes zero-extended (what bus_dispatch
 * gives for an unclaimed read, and what the I/O and MMIO exit handlers rely on); then the
 * device's own invariants (check hook). A fresh device is created per input and destroyed after
 * it, so LeakSanitizer sees whatever it leaks.
 */
#pragma once
#include "devices/bus.h"
#include "fuzz.h"

#define FUZZ_DEVICE_MAX_ACCESSES 4096 /* per input, repeats included: 64 times a 16550 FIFO */

struct fuzz_device {
	u64 range_len;	       /* bytes of the device's bus range */
	void *(*create)(void); /* a fresh device, as the board sets it up */
	void (*destroy)(void *dev);
	bus_access_fn access; /* its bus access function, called with create()'s pointer */
	/* Optional: an event from outside the guest, with n (0-15) argument bytes. */
	void (*event)(void *dev, const u8 *arg, size_t n);
	/* Optional: the device's invariants, asserted with FUZZ_ASSERT after every step. */
	void (*check)(void *dev);
};

void fuzz_device_run(const struct fuzz_device *fd, const u8 *data, size_t size);

#define FUZZ_DEVICE_TARGET(fd)                                                                     \
	int LLVMFuzzerTestOneInput(const u8 *data, size_t size)                                    \
	{                                                                                          \
		fuzz_device_run(&(fd), data, size);                                                \
		return 0;                                                                          \
	}
