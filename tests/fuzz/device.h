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
 * A device may have several ranges (the PIC's master, slave and ELCR ports): an offset addresses
 * them laid end to end. Offsets are 1, 2 or 4 little-endian bytes (as the ranges' total length
 * needs), taken modulo that total: the bus dispatches only addresses inside a range, to the
 * range holding the first byte, but an access may run past its end, as one on real hardware can.
 * A write's value keeps its bytes above `size`: the bus contract is that a device reads only
 * `size` bytes of it. Fields past the end of the input read as 0.
 *
 * Checked after every access: a read returns its `size` bytes zero-extended (what bus_dispatch
 * gives for an unclaimed read, and what the I/O and MMIO exit handlers rely on); then the
 * device's own invariants (check hook). A fresh device is created per input and destroyed after
 * it, so LeakSanitizer sees whatever it leaks.
 */
#pragma once
#include "devices/bus.h"
#include "fuzz.h"

#include "devices/timer.h"

#define FUZZ_DEVICE_MAX_ACCESSES 4096 /* per input, repeats included: 64 times a 16550 FIFO */
#define FUZZ_DEVICE_MAX_RANGES	 4

struct fuzz_range {
	u64 len; /* bytes; 0 ends the list */
	bus_access_fn access;
};

/*
 * create() returns the pointer every hook and every access function gets: the device struct,
 * or a harness struct whose first member it is.
 */
struct fuzz_device {
	struct fuzz_range ranges[FUZZ_DEVICE_MAX_RANGES]; /* as the board registers them */
	void *(*create)(void); /* a fresh device, set up and wired as the board does */
	void (*destroy)(void *dev);
	/* Optional: an event from outside the guest, with n (0-15) argument bytes. */
	void (*event)(void *dev, const u8 *arg, size_t n);
	/* Optional: the device's invariants, asserted with FUZZ_ASSERT after every step. */
	void (*check)(void *dev);
};

void fuzz_device_run(const struct fuzz_device *fd, const u8 *data, size_t size);

/*
 * Guest time for devices with timers (devices/timer.h): a queue on a clock that only the script
 * moves. fuzz_clock_advance() lets up to 2^(8n) - 1 ns pass for n argument bytes (at most 8)
 * and fires what is due, as the run loop does after an exit. The clock stops at FUZZ_CLOCK_END,
 * 13 days: guest time passes no faster than the host's clock or the guest's instruction count
 * (--tsc virtual), and a device may do work in proportion to the time since it last looked (the
 * HPET's 32-bit comparators match once per 43 s of it).
 */
#define FUZZ_CLOCK_END (1ull << 50)

struct fuzz_clock {
	struct timer_queue q;
	u64 now;
};

void fuzz_clock_init(struct fuzz_clock *c);
void fuzz_clock_free(struct fuzz_clock *c);
void fuzz_clock_advance(struct fuzz_clock *c, const u8 *arg, size_t n);

#define FUZZ_DEVICE_TARGET(fd)                                                                     \
	int LLVMFuzzerTestOneInput(const u8 *data, size_t size)                                    \
	{                                                                                          \
		fuzz_device_run(&(fd), data, size);                                                \
		return 0;                                                                          \
	}
