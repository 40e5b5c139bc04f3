// SPDX-License-Identifier: MIT
/*
 * irqgen: interrupts from a device thread (devices/irqgen.h, --device irqgen) reach the guest
 * however the VMM delivers them: injected through exits, by virtual-interrupt delivery, or
 * posted while the vCPU runs (SDM vol. 3C 30.2, 30.6; tests/guests.list runs it each way).
 *   - the register page: MAGIC, VECTOR and PERIOD read back;
 *   - doorbell ping-pong: N times, ring and spin with IF = 1 until the handler saw the interrupt;
 *   - the same, waiting in HLT;
 *   - a 10 kHz stream while the guest computes: interrupts arrive and none is taken twice;
 *   - the same from the LAPIC timer (periodic), a device of the VMM's own thread, for which
 *     posting changes nothing: it fires between exits.
 * Command line (--append): "n=N" ping-pongs (default 200), "ms=M" of the stream (default 20).
 * The figure lines ("irqgen: ...") are what bench/irq.py reads: per phase the round-trip time,
 * the VM exits per interrupt (from the VMM's own counts, HC_EXIT_COUNT, VMCALLs left out) and,
 * for the stream, the guest time each interrupt cost: the work a window of M ms did without
 * interrupts against the same window with them.
 */
#include "apic.h"
#include "vmexit.h"

/* Every exit the VMM has handled but the VMCALLs that ask (0 without tollbooth's VMCALL). */
static u64 exits_now(void)
{
	u64 n = 0;

	if (vmm_probe() != 1)
		return 0;
	for (u64 r = 0; r < 70; r++)
		if (r != 18)
			n += (u64)hypercall(HC_EXIT_COUNT, r);
	return n;
}

/* Per mille, for the figure lines. */
static u64 per_mille(u64 a, u64 b)
{
	return b ? a * 1000 / b : 0;
}

#define IRQGEN_BASE 0xfeb01000ul
#define IRQGEN_MAGIC 0x00
#define IRQGEN_VECTOR 0x04
#define IRQGEN_PERIOD 0x08
#define IRQGEN_DOORBELL 0x10
#define IRQGEN_RAISED 0x18
#define VEC 0x51
#define TIMER_VEC 0x52

static volatile u64 hits;
/* A stream's window ends at this TSC (0: no stream); its source, which the handler turns off
   once the window is over (source_on below). */
static volatile u64 stream_end;
static int stream_src;
static void source_on(int src, bool on);

static void handler(struct frame *f)
{
	hits++;
	/* A host slower per interrupt than the stream's period (a nested KVM under a software
	   CPU) delivers the next one right after each IRET, and the interrupted loop never reads
	   the TSC again; the handler ends the window then. */
	if (stream_end && rdtsc() >= stream_end) {
		stream_end = 0;
		source_on(stream_src, false);
	}
	apic_write(APIC_EOI, 0);
}

static u32 rd32(u32 reg) { return *(volatile u32 *)(IRQGEN_BASE + reg); }
static u64 rd64(u32 reg) { return *(volatile u64 *)(IRQGEN_BASE + reg); }
static void wr32(u32 reg, u32 v) { *(volatile u32 *)(IRQGEN_BASE + reg) = v; }
static void wr64(u32 reg, u64 v) { *(volatile u64 *)(IRQGEN_BASE + reg) = v; }

/* Spin with interrupts on until hits reaches `want` or about `ms` of TSC passed. */
static bool wait_hits(u64 want, u64 ms, u64 tsc_per_ms, bool halt)
{
	u64 t0 = rdtsc();

	while (hits < want && rdtsc() - t0 < ms * tsc_per_ms) {
		if (halt)
			asm volatile("sti; hlt; cli");
		else
			asm volatile("sti; pause; cli");
	}
	return hits >= want;
}

enum source { SRC_IRQGEN, SRC_TIMER };

struct stream {
	u64 taken, exits, ns_each;
};

/* Compute for `ticks` of TSC with IF as given; how many rounds of work were done. */
static u64 compute(u64 ticks, bool sti, u64 *x)
{
	u64 loops = 0, t0 = rdtsc();

	if (sti)
		asm volatile("sti");
	while (rdtsc() - t0 < ticks) {
		for (int k = 0; k < 64; k++)
			*x += *x * 3 + 1;
		loops++;
	}
	asm volatile("cli");
	return loops;
}

static void source_on(int src, bool on)
{
	if (src == SRC_IRQGEN) {
		wr64(IRQGEN_PERIOD, on ? 100000 : 0);
	} else if (on) {
		apic_write(APIC_LVT_TIMER, TIMER_VEC | 1u << 17); /* periodic */
		apic_write(APIC_TIMER_INIT, 100000);               /* 100 us: bus 1 GHz, divide 1 */
	} else {
		apic_write(APIC_TIMER_INIT, 0);
		apic_write(APIC_LVT_TIMER, BIT(16));
	}
}

/*
 * `ms` of a 10 kHz interrupt stream while computing, in PAIRS windows each beside a window of
 * the same length without it: the guest time an interrupt costs is the work the stream's
 * window lost, per interrupt taken; the median over the pairs, so that a host that stalls the
 * guest in one window does not decide it.
 */
#define PAIRS 8
static struct stream run_stream(enum source src, u64 ms, u64 tsc_per_ms, u64 *x)
{
	struct stream st = { 0 };
	u64 w = ms * tsc_per_ms / PAIRS, cost[PAIRS];

	for (int i = 0; i < PAIRS; i++) {
		u64 base = compute(w, false, x), h0 = hits, e0, loops, got;

		stream_src = src;
		stream_end = rdtsc() + w;
		source_on(src, true);
		e0 = exits_now();
		loops = compute(w, true, x);
		st.exits += exits_now() - e0;
		stream_end = 0;
		source_on(src, false);
		got = hits - h0;
		st.taken += got;
		cost[i] = base > loops && got ? (base - loops) * (w * 1000000 / tsc_per_ms) / base / got
					      : 0;
	}
	for (int i = 1; i < PAIRS; i++) /* insertion sort: the median */
		for (int j = i; j > 0 && cost[j - 1] > cost[j]; j--) {
			u64 t = cost[j];
			cost[j] = cost[j - 1];
			cost[j - 1] = t;
		}
	st.ns_each = (cost[PAIRS / 2 - 1] + cost[PAIRS / 2]) / 2;
	return st;
}

int main(void)
{
	u64 n = cmdline_u64("n", 200), ms = cmdline_u64("ms", 20);

	if (rd32(IRQGEN_MAGIC) != 0x47515249u) {
		skip("no irqgen device (--device irqgen)");
		return report();
	}
	set_handler(VEC, handler);
	set_handler(TIMER_VEC, handler);
	apic_write(APIC_SVR, 0x1ff);
	u64 tsc_per_ms = apic_tsc_per_ms();

	wr32(IRQGEN_VECTOR, VEC);
	wr64(IRQGEN_PERIOD, 0);
	check(rd32(IRQGEN_VECTOR) == VEC && rd64(IRQGEN_PERIOD) == 0,
	      "irqgen registers read back (vector %#x)", rd32(IRQGEN_VECTOR));

	/* Ping-pong, spinning: one interrupt per doorbell, in order. */
	u64 e0 = exits_now(), t0 = rdtsc(), ok = 0;
	for (u64 i = 0; i < n; i++) {
		wr32(IRQGEN_DOORBELL, 1);
		ok += wait_hits(i + 1, 1000, tsc_per_ms, false);
	}
	u64 dt = rdtsc() - t0;
	check(ok == n && hits == n, "%llu doorbells, %llu interrupts while spinning",
	      (unsigned long long)n, (unsigned long long)hits);
	printf("irqgen: ping-pong spin %llu round trips, %llu ns each, %llu exits per 1000\n",
	       (unsigned long long)n, (unsigned long long)(dt * 1000000 / tsc_per_ms / (n ? n : 1)),
	       (unsigned long long)per_mille(exits_now() - e0, n));

	/* Ping-pong, halting: HLT wakes on each. */
	hits = 0;
	ok = 0;
	e0 = exits_now();
	t0 = rdtsc();
	for (u64 i = 0; i < n; i++) {
		wr32(IRQGEN_DOORBELL, 1);
		ok += wait_hits(i + 1, 1000, tsc_per_ms, true);
	}
	dt = rdtsc() - t0;
	check(ok == n && hits == n, "%llu doorbells, %llu interrupts waking HLT",
	      (unsigned long long)n, (unsigned long long)hits);
	printf("irqgen: ping-pong hlt %llu round trips, %llu ns each, %llu exits per 1000\n",
	       (unsigned long long)n, (unsigned long long)(dt * 1000000 / tsc_per_ms / (n ? n : 1)),
	       (unsigned long long)per_mille(exits_now() - e0, n));

	/* A 10 kHz stream while computing (interrupts on), from irqgen's thread and then from
	   the LAPIC timer. Edges raised while one is pending coalesce in IRR (or PIR), so at most
	   RAISED arrive and, at 10 kHz, most do. */
	u64 x = 1, raised0 = rd64(IRQGEN_RAISED);
	struct stream st = run_stream(SRC_IRQGEN, ms, tsc_per_ms, &x);
	u64 raised = rd64(IRQGEN_RAISED) - raised0;
	check(st.taken >= 1 && st.taken <= raised + 1, "10 kHz stream: %llu raised, %llu taken",
	      (unsigned long long)raised, (unsigned long long)st.taken);
	printf("irqgen: stream %llu ms, %llu raised, %llu taken, %llu exits per 1000, %llu ns each "
	       "(%llu)\n",
	       (unsigned long long)ms, (unsigned long long)raised, (unsigned long long)st.taken,
	       (unsigned long long)per_mille(st.exits, st.taken), (unsigned long long)st.ns_each,
	       (unsigned long long)(x & 1));
	st = run_stream(SRC_TIMER, ms, tsc_per_ms, &x);
	check(st.taken >= 1, "10 kHz LAPIC timer: %llu taken", (unsigned long long)st.taken);
	printf("irqgen: timer %llu ms, %llu taken, %llu exits per 1000, %llu ns each (%llu)\n",
	       (unsigned long long)ms, (unsigned long long)st.taken,
	       (unsigned long long)per_mille(st.exits, st.taken), (unsigned long long)st.ns_each,
	       (unsigned long long)(x & 1));
	return report();
}
