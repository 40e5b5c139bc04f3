// SPDX-License-Identifier: MIT
/* irqgen: interrupts from a host thread (irqgen.h). */
#include <errno.h>
#include <time.h>

#include "devices/irqgen.h"

static u64 mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (u64)ts.tv_sec * 1000000000ull + (u64)ts.tv_nsec;
}

/*
 * The device thread: a doorbell first, else the next periodic deadline (condition wait with an
 * absolute CLOCK_MONOTONIC time: one futex call, no timer fd). A register write bumps
 * `generation`, which restarts the period from the time of the write.
 */
static void *irqgen_thread(void *arg)
{
	struct irqgen *g = arg;
	u64 next = 0, gen = ~0ull;

	pthread_mutex_lock(&g->lock);
	g->running = true; /* irqgen_init waits for this (the thread's setup is done) */
	pthread_cond_broadcast(&g->cond);
	while (!g->stop) {
		u8 vector = g->vector;

		if (g->doorbells) {
			g->doorbells--;
			g->raised++;
			pthread_mutex_unlock(&g->lock);
			if (vector >= 16)
				g->host.raise(g->host.opaque, vector);
			pthread_mutex_lock(&g->lock);
			continue;
		}
		if (!g->period_ns) {
			pthread_cond_wait(&g->cond, &g->lock);
			continue;
		}
		if (gen != g->generation) {
			gen = g->generation;
			next = mono_ns() + g->period_ns;
		}
		struct timespec ts = { (time_t)(next / 1000000000ull), (long)(next % 1000000000ull) };
		if (pthread_cond_timedwait(&g->cond, &g->lock, &ts) != ETIMEDOUT || g->stop ||
		    gen != g->generation || g->doorbells)
			continue;
		g->raised++;
		pthread_mutex_unlock(&g->lock);
		if (vector >= 16)
			g->host.raise(g->host.opaque, vector);
		pthread_mutex_lock(&g->lock);
		/* The guest may have changed the period meanwhile: that restarts it (generation). */
		if (gen != g->generation || !g->period_ns)
			continue;
		next += g->period_ns;
		/* Deadlines already past are skipped, as a late host timer would coalesce them. */
		u64 now = mono_ns();
		if (next <= now)
			next = now + g->period_ns - (now - next) % g->period_ns;
	}
	pthread_mutex_unlock(&g->lock);
	return NULL;
}

int irqgen_init(struct irqgen *g, const struct irqgen_host *host)
{
	pthread_condattr_t attr;
	int err;

	*g = (struct irqgen){ .host = *host };
	pthread_mutex_init(&g->lock, NULL);
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&g->cond, &attr);
	pthread_condattr_destroy(&attr);
	err = pthread_create(&g->thread, NULL, irqgen_thread, g);
	if (err)
		return -err;
	g->started = true;
	/* A new thread's first system calls (glibc's rseq and robust-list registration) come
	   from the thread itself: wait until it runs, so that the sandbox, installed after the
	   VM is built, never sees them. */
	pthread_mutex_lock(&g->lock);
	while (!g->running)
		pthread_cond_wait(&g->cond, &g->lock);
	pthread_mutex_unlock(&g->lock);
	return 0;
}

void irqgen_destroy(struct irqgen *g)
{
	if (!g->started)
		return;
	pthread_mutex_lock(&g->lock);
	g->stop = true;
	pthread_cond_signal(&g->cond);
	pthread_mutex_unlock(&g->lock);
	pthread_join(g->thread, NULL);
	g->started = false;
}

void irqgen_reset(void *opaque)
{
	struct irqgen *g = opaque;

	pthread_mutex_lock(&g->lock);
	g->vector = 0;
	g->period_ns = 0;
	g->doorbells = 0;
	g->raised = 0;
	g->generation++;
	pthread_cond_signal(&g->cond);
	pthread_mutex_unlock(&g->lock);
}

/* Whole registers only: a 4-byte access at 0x00/0x04, 8 bytes (or 4 at the low half) at
   0x08-0x18, as a device with 32/64-bit registers answers; anything else reads 0. */
void irqgen_access(void *opaque, u64 offset, u64 *data, unsigned len, bool is_write)
{
	struct irqgen *g = opaque;

	pthread_mutex_lock(&g->lock);
	if (!is_write) {
		u64 v = 0;

		switch (offset) {
		case IRQGEN_REG_MAGIC:
			v = IRQGEN_MAGIC;
			break;
		case IRQGEN_REG_VECTOR:
			v = g->vector;
			break;
		case IRQGEN_REG_PERIOD:
			v = g->period_ns;
			break;
		case IRQGEN_REG_RAISED:
			v = g->raised;
			break;
		}
		*data = len >= 8 ? v : v & ((1ull << (8 * len)) - 1);
	} else {
		switch (offset) {
		case IRQGEN_REG_VECTOR:
			g->vector = (u8)*data;
			break;
		case IRQGEN_REG_PERIOD:
			g->period_ns = len >= 8 ? *data : (u32)*data;
			g->generation++;
			break;
		case IRQGEN_REG_DOORBELL:
			g->doorbells++;
			break;
		}
		pthread_cond_signal(&g->cond);
	}
	pthread_mutex_unlock(&g->lock);
}
