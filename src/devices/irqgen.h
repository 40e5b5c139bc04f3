/* SPDX-License-Identifier: MIT */
/*
 * irqgen: a device whose interrupts come from its own host thread, as a vhost worker's, an
 * assigned device's or a host timer's on another core do: the case posted interrupts are made
 * for (Intel SDM vol. 3C 30.6; the seeds' "no exit while the vCPU runs"). Off unless asked for
 * (--device irqgen). One 4 KiB MMIO page at IRQGEN_MMIO_BASE; registers, little endian:
 *   0x00 MAGIC     32-bit, read-only: IRQGEN_MAGIC
 *   0x04 VECTOR    32-bit: bits 7:0 the vector of the fixed, edge-triggered MSI the device
 *                  raises to APIC ID 0; a vector below 16 raises nothing
 *   0x08 PERIOD    64-bit: 0 stops; otherwise one interrupt every PERIOD ns of host time,
 *                  at absolute deadlines (a late one is not made up for)
 *   0x10 DOORBELL  write-only: each write asks the thread for one interrupt at once
 *   0x18 RAISED    64-bit, read-only: interrupts raised since reset
 * Other offsets read as 0 and ignore writes. The guest's accesses run on the VMM's thread; the
 * device thread only reads VECTOR and PERIOD and raises through host.raise, which must be
 * callable from it (vmm/board.c posts, or queues and kicks).
 */
#pragma once
#include <pthread.h>

#include "common.h"

#define IRQGEN_MMIO_BASE 0xfeb01000ull
#define IRQGEN_MMIO_SIZE 0x1000
#define IRQGEN_MAGIC	 0x47515249u /* "IRQG" in memory order */

#define IRQGEN_REG_MAGIC    0x00
#define IRQGEN_REG_VECTOR   0x04
#define IRQGEN_REG_PERIOD   0x08
#define IRQGEN_REG_DOORBELL 0x10
#define IRQGEN_REG_RAISED   0x18

struct irqgen_host {
	void (*raise)(void *opaque, u8 vector); /* from the device thread */
	void *opaque;
};

struct irqgen {
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond; /* on CLOCK_MONOTONIC */
	bool started, running, stop;
	u8 vector;
	u64 period_ns, doorbells, raised, generation;
	struct irqgen_host host;
};

/* Start the thread (before the sandbox: it is a clone); 0 or a negative errno. */
int irqgen_init(struct irqgen *g, const struct irqgen_host *host);
/* Stop and join the thread. */
void irqgen_destroy(struct irqgen *g);
void irqgen_reset(void *opaque);
void irqgen_access(void *opaque, u64 offset, u64 *data, unsigned len, bool is_write);
