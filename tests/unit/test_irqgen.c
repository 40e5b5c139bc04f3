// SPDX-License-Identifier: MIT
/* Unit tests of irqgen (devices/irqgen.h): registers, a doorbell raises once from the device's
   thread, a period raises repeatedly, reset and destroy stop it. Waits are bounded (5 s). */
#include <time.h>

#include "check.h"
#include "devices/irqgen.h"

static u64 raised;
static u8 last_vector;

static void raise_cb(void *opaque, u8 vector)
{
	__atomic_store_n(&last_vector, vector, __ATOMIC_SEQ_CST);
	__atomic_fetch_add(&raised, 1, __ATOMIC_SEQ_CST);
}

static u64 rd(struct irqgen *g, u64 off, unsigned len)
{
	u64 v = ~0ull;

	irqgen_access(g, off, &v, len, false);
	return v;
}

static void wr(struct irqgen *g, u64 off, u64 v, unsigned len)
{
	irqgen_access(g, off, &v, len, true);
}

/* Wait until `raised` reaches `want`, at most 5 s. */
static bool wait_raised(u64 want)
{
	struct timespec ts = { 0, 1000000 };

	for (int i = 0; i < 5000; i++) {
		if (__atomic_load_n(&raised, __ATOMIC_SEQ_CST) >= want)
			return true;
		nanosleep(&ts, NULL);
	}
	return false;
}

int main(void)
{
	struct irqgen g;
	const struct irqgen_host host = { .raise = raise_cb };
	struct timespec ts = { 0, 20000000 };

	CHECK_EQ(irqgen_init(&g, &host), 0);
	CHECK_EQ(rd(&g, IRQGEN_REG_MAGIC, 4), IRQGEN_MAGIC);
	CHECK_EQ(rd(&g, IRQGEN_REG_VECTOR, 4), 0);
	CHECK_EQ(rd(&g, 0x40, 4), 0); /* other offsets read 0 */
	/* A vector below 16 raises nothing, but counts as raised by the device. */
	wr(&g, IRQGEN_REG_DOORBELL, 1, 4);
	nanosleep(&ts, NULL);
	CHECK_EQ(raised, 0);
	CHECK_EQ(rd(&g, IRQGEN_REG_RAISED, 8), 1);
	wr(&g, IRQGEN_REG_VECTOR, 0x1ec, 4);
	CHECK_EQ(rd(&g, IRQGEN_REG_VECTOR, 4), 0xec);
	wr(&g, IRQGEN_REG_DOORBELL, 1, 4);
	wr(&g, IRQGEN_REG_DOORBELL, 1, 4);
	CHECK(wait_raised(2));
	CHECK_EQ(last_vector, 0xec);
	CHECK_EQ(rd(&g, IRQGEN_REG_RAISED, 8), 3);
	/* A 1 ms period: raises keep coming; PERIOD 0 stops them. */
	wr(&g, IRQGEN_REG_PERIOD, 1000000, 8);
	CHECK_EQ(rd(&g, IRQGEN_REG_PERIOD, 8), 1000000);
	CHECK(wait_raised(7));
	wr(&g, IRQGEN_REG_PERIOD, 0, 8);
	nanosleep(&ts, NULL);
	u64 n = __atomic_load_n(&raised, __ATOMIC_SEQ_CST);
	nanosleep(&ts, NULL);
	CHECK_EQ(__atomic_load_n(&raised, __ATOMIC_SEQ_CST), n);
	/* Reset: registers 0, the period stopped. */
	wr(&g, IRQGEN_REG_PERIOD, 1000000, 8);
	irqgen_reset(&g);
	CHECK_EQ(rd(&g, IRQGEN_REG_PERIOD, 8), 0);
	CHECK_EQ(rd(&g, IRQGEN_REG_RAISED, 8), 0);
	irqgen_destroy(&g);
	return check_done("irqgen");
}
