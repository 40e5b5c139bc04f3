// SPDX-License-Identifier: MIT
/*
 * The deadline queue (devices/timer.h): order, re-arming, cancelling, no livelock for a timer that
 * re-arms itself in the past, and a random workload checked against a brute-force model.
 */
#include <stdlib.h>

#include "check.h"
#include "devices/timer.h"

static u64 fake_now;
static u64 fake_clock(void *opaque)
{
	(void)opaque;
	return fake_now;
}

struct probe {
	struct timer t;
	unsigned id, fired;
	u64 fired_at;
	int rearm; /* >0: re-arm at now + rearm; <0: re-arm at now (in the past next call) */
};

static unsigned order[64], n_order;

static void probe_fire(void *opaque, u64 now)
{
	struct probe *p = opaque;

	p->fired++;
	p->fired_at = now;
	if (n_order < ARRAY_SIZE(order))
		order[n_order++] = p->id;
	if (p->rearm > 0)
		timer_arm(&p->t, now + (u64)p->rearm);
	else if (p->rearm < 0)
		timer_arm(&p->t, now);
}

static void test_order(void)
{
	struct timer_queue q;
	struct probe p[5] = { 0 };
	const u64 when[5] = { 50, 10, 40, 10, 30 };

	CHECK_EQ(timer_queue_init(&q, fake_clock, NULL), 0);
	fake_now = 0;
	CHECK_EQ(timer_next_deadline(&q), TIMER_NEVER);
	for (unsigned i = 0; i < 5; i++) {
		p[i].id = i;
		timer_init(&p[i].t, &q, probe_fire, &p[i], "probe");
		CHECK(!timer_armed(&p[i].t));
		CHECK_EQ(timer_arm(&p[i].t, when[i]), 0);
	}
	CHECK_EQ(timer_next_deadline(&q), 10);
	timer_cancel(&p[2].t); /* 40 */
	CHECK(!timer_armed(&p[2].t));
	timer_arm(&p[0].t, 5); /* re-arm earlier */
	CHECK_EQ(timer_next_deadline(&q), 5);
	n_order = 0;
	CHECK_EQ(timer_run_expired(&q, 9), 1);
	CHECK_EQ(order[0], 0);
	CHECK_EQ(timer_run_expired(&q, 10), 2);
	CHECK(order[1] == 1 || order[1] == 3);
	CHECK(order[2] == 1 || order[2] == 3);
	CHECK_EQ(timer_next_deadline(&q), 30);
	CHECK_EQ(timer_run_expired(&q, 100), 1);
	CHECK_EQ(p[2].fired, 0);
	CHECK_EQ(timer_next_deadline(&q), TIMER_NEVER);
	timer_queue_free(&q);
}

/* A timer that re-arms itself at `now` fires once per call, never in a loop. */
static void test_no_livelock(void)
{
	struct timer_queue q;
	struct probe p = { .id = 7, .rearm = -1 };

	timer_queue_init(&q, fake_clock, NULL);
	timer_init(&p.t, &q, probe_fire, &p, "self");
	timer_arm(&p.t, 3);
	CHECK_EQ(timer_run_expired(&q, 10), 1);
	CHECK_EQ(p.fired, 1);
	CHECK(timer_armed(&p.t));
	CHECK_EQ(timer_run_expired(&q, 10), 1);
	CHECK_EQ(p.fired, 2);
	/* A periodic timer advances by its period. */
	p.rearm = 4;
	CHECK_EQ(timer_run_expired(&q, 10), 1);
	CHECK_EQ(timer_next_deadline(&q), 14);
	timer_queue_free(&q);
}

/* Random arm/cancel/run against a model: each run fires exactly the due timers, earliest first. */
static void test_random(void)
{
	enum { N = 40 };
	struct timer_queue q;
	struct probe p[N] = { 0 };
	u64 model[N]; /* deadline or TIMER_NEVER */
	unsigned seed = 12345, bad = 0;
	u64 now = 0;

	timer_queue_init(&q, fake_clock, NULL);
	for (unsigned i = 0; i < N; i++) {
		p[i].id = i;
		timer_init(&p[i].t, &q, probe_fire, &p[i], "r");
		model[i] = TIMER_NEVER;
	}
	for (unsigned step = 0; step < 20000; step++) {
		unsigned i = (unsigned)rand_r(&seed) % N, op = (unsigned)rand_r(&seed) % 4;

		if (op < 2) {
			u64 d = now + (u64)(rand_r(&seed) % 100);

			timer_arm(&p[i].t, d);
			model[i] = d;
		} else if (op == 2) {
			timer_cancel(&p[i].t);
			model[i] = TIMER_NEVER;
		} else {
			unsigned due = 0, got;
			u64 last = 0;

			now += (u64)(rand_r(&seed) % 50);
			for (unsigned k = 0; k < N; k++)
				due += model[k] <= now;
			n_order = 0;
			got = timer_run_expired(&q, now);
			bad += got != due;
			for (unsigned k = 0; k < n_order && k < ARRAY_SIZE(order); k++) {
				bad += model[order[k]] > now || model[order[k]] < last;
				last = model[order[k]];
				model[order[k]] = TIMER_NEVER;
			}
		}
		u64 min = TIMER_NEVER;
		for (unsigned k = 0; k < N; k++)
			min = model[k] < min ? model[k] : min;
		bad += timer_next_deadline(&q) != min;
	}
	CHECK_EQ(bad, 0);
	timer_queue_free(&q);
}

int main(void)
{
	test_order();
	test_no_livelock();
	test_random();
	return check_done("test_timer");
}
