// SPDX-License-Identifier: MIT
/* The deadline queue: a binary min-heap of armed timers (devices/timer.h). */
#include <errno.h>
#include <stdlib.h>

#include "devices/timer.h"

int timer_queue_init(struct timer_queue *q, u64 (*clock)(void *opaque), void *clock_opaque)
{
	*q = (struct timer_queue){ .clock = clock, .clock_opaque = clock_opaque, .cap = 16 };
	q->heap = calloc(q->cap, sizeof(*q->heap));
	return q->heap ? 0 : -ENOMEM;
}

void timer_queue_free(struct timer_queue *q)
{
	for (unsigned i = 0; i < q->n; i++)
		q->heap[i]->deadline = TIMER_NEVER;
	free(q->heap);
	q->heap = NULL;
	q->n = q->cap = 0;
}

void timer_init(struct timer *t, struct timer_queue *q, void (*fire)(void *opaque, u64 now),
		void *opaque, const char *name)
{
	*t = (struct timer){ .deadline = TIMER_NEVER, .fire = fire, .opaque = opaque, .q = q,
			     .name = name };
}

static void heap_place(struct timer_queue *q, unsigned i, struct timer *t)
{
	q->heap[i] = t;
	t->slot = i;
}

static void heap_up(struct timer_queue *q, unsigned i)
{
	struct timer *t = q->heap[i];

	while (i) {
		unsigned parent = (i - 1) / 2;

		if (q->heap[parent]->deadline <= t->deadline)
			break;
		heap_place(q, i, q->heap[parent]);
		i = parent;
	}
	heap_place(q, i, t);
}

static void heap_down(struct timer_queue *q, unsigned i)
{
	struct timer *t = q->heap[i];

	for (;;) {
		unsigned child = 2 * i + 1;

		if (child >= q->n)
			break;
		if (child + 1 < q->n && q->heap[child + 1]->deadline < q->heap[child]->deadline)
			child++;
		if (t->deadline <= q->heap[child]->deadline)
			break;
		heap_place(q, i, q->heap[child]);
		i = child;
	}
	heap_place(q, i, t);
}

/* Take an armed timer out of the heap; it stays marked armed (the caller decides). */
static void heap_remove(struct timer_queue *q, struct timer *t)
{
	unsigned i = t->slot;
	struct timer *last = q->heap[--q->n];

	if (i == q->n)
		return;
	heap_place(q, i, last);
	if (i && q->heap[(i - 1) / 2]->deadline > last->deadline)
		heap_up(q, i);
	else
		heap_down(q, i);
}

int timer_arm(struct timer *t, u64 deadline)
{
	struct timer_queue *q = t->q;

	if (deadline == TIMER_NEVER)
		deadline = TIMER_NEVER - 1; /* "never" is a state, not a time: the latest time */
	if (timer_armed(t)) {
		t->deadline = deadline;
		heap_remove(q, t);
	} else if (q->n == q->cap) {
		struct timer **heap = realloc(q->heap, 2 * q->cap * sizeof(*heap));

		if (!heap)
			return -ENOMEM;
		q->heap = heap;
		q->cap *= 2;
	}
	t->deadline = deadline;
	t->seq = ++q->armed;
	heap_place(q, q->n++, t);
	heap_up(q, t->slot);
	return 0;
}

void timer_cancel(struct timer *t)
{
	if (!timer_armed(t))
		return;
	heap_remove(t->q, t);
	t->deadline = TIMER_NEVER;
}

u64 timer_next_deadline(const struct timer_queue *q)
{
	return q->n ? q->heap[0]->deadline : TIMER_NEVER;
}

unsigned timer_run_expired(struct timer_queue *q, u64 now)
{
	u64 armed_before = q->armed;
	unsigned fired = 0;

	/* Only timers armed before the call began: one that re-arms itself in the past (or arms
	   another) waits for the next call, so no device can keep the vCPU out of the guest. */
	while (q->n && q->heap[0]->deadline <= now && q->heap[0]->seq <= armed_before) {
		struct timer *t = q->heap[0];

		heap_remove(q, t);
		t->deadline = TIMER_NEVER;
		fired++;
		q->fired++;
		t->fire(t->opaque, now);
	}
	return fired;
}
