/* SPDX-License-Identifier: MIT */
/*
 * Timers in guest time: a deadline queue the VM owns and devices arm (the PIT's counters, the
 * RTC's periodic and update interrupts, the local APIC timer, the HPET comparators, ...).
 *
 * Guest time is nanoseconds since the VM was created, read from the queue's clock: the host's
 * monotonic clock, or under --tsc virtual the deterministic guest TSC scaled by its nominal
 * frequency, so a --tsc virtual run fires the same timers at the same instructions every time.
 * A device reads the time with timer_now() and never from the host directly.
 *
 * Who fires: the vCPU side (vmm/run.c). Before each entry it asks timer_next_deadline() and makes
 * the backend return by then (soft: an external-interrupt exit at that guest time, as a host timer
 * interrupt makes real VT-x exit, SDM 25.2; kvm: a host timer that kicks the vCPU thread); after
 * the exit it calls timer_run_expired(). A halted vCPU sleeps until the next deadline or a kick.
 * fire() runs with the VM's device lock held and may re-arm its own timer or others.
 */
#pragma once
#include "common.h"

#define TIMER_NEVER UINT64_MAX

struct timer_queue;

struct timer {
	u64 deadline; /* guest ns; TIMER_NEVER when not armed */
	void (*fire)(void *opaque, u64 now);
	void *opaque;
	struct timer_queue *q;
	unsigned slot; /* position in the queue's heap, while armed */
	u64 seq;       /* the queue's arm count when this timer was last armed */
	const char *name; /* for --stats and debugging */
};

struct timer_queue {
	struct timer **heap; /* min-heap by deadline */
	unsigned n, cap;
	u64 (*clock)(void *opaque); /* guest ns now */
	void *clock_opaque;
	u64 armed;  /* timer_arm() calls so far: orders arming against a timer_run_expired() */
	u64 fired; /* timers fired so far (telemetry) */
};

/* 0, or -ENOMEM. */
int timer_queue_init(struct timer_queue *q, u64 (*clock)(void *opaque), void *clock_opaque);
void timer_queue_free(struct timer_queue *q);

/* A timer starts disarmed; init never fails. */
void timer_init(struct timer *t, struct timer_queue *q, void (*fire)(void *opaque, u64 now),
		void *opaque, const char *name);
static inline u64 timer_now(const struct timer_queue *q)
{
	return q->clock(q->clock_opaque);
}
/* Arm (or re-arm) at an absolute guest time; a deadline already past fires at the next
   timer_run_expired(). 0, or -ENOMEM when the queue cannot grow (the timer stays disarmed). */
int timer_arm(struct timer *t, u64 deadline);
void timer_cancel(struct timer *t);
static inline bool timer_armed(const struct timer *t)
{
	return t->deadline != TIMER_NEVER;
}

/* The earliest deadline, or TIMER_NEVER. */
u64 timer_next_deadline(const struct timer_queue *q);
/* Fire, in deadline order, every timer whose deadline is <= now; returns how many fired. A timer
   that re-arms itself at or before `now` fires again only at the next call (no livelock). */
unsigned timer_run_expired(struct timer_queue *q, u64 now);
