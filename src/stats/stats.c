// SPDX-License-Identifier: MIT
/* Exit telemetry: counting, timing and the cost model (see stats.h, docs/telemetry.md). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "stats/stats.h"

#define IO_PORTS       0x10000
#define STATS_KEYS_MAX (STATS_KEYS / 4 * 3) /* load limit of the open-addressing table */

int stats_init(struct stats *s)
{
	memset(s, 0, sizeof(*s));
	s->io = calloc(IO_PORTS, sizeof(*s->io));
	s->keys = calloc(STATS_KEYS, sizeof(*s->keys));
	s->sample_rng = 0x9e3779b97f4a7c15ull;
	stats_set_sample(s, STATS_SAMPLE_DEFAULT);
	if (s->io && s->keys)
		return 0;
	stats_free(s);
	return -ENOMEM;
}

bool stats_sample_valid(u32 every)
{
	return every && every <= STATS_SAMPLE_MAX && !(every & (every - 1));
}

int stats_set_sample(struct stats *s, u32 every)
{
	if (!stats_sample_valid(every))
		return -EINVAL;
	s->sample_mask = every - 1;
	return 0;
}

void stats_free(struct stats *s)
{
	if (s->trace)
		stats_trace_finish(s);
	free(s->io);
	free(s->keys);
	s->io = NULL;
	s->keys = NULL;
}

static u64 monotonic_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (u64)ts.tv_sec * 1000000000ull + (u64)ts.tv_nsec;
}

#if defined(__x86_64__)
/*
 * The host clock from the TSC (issue 15: every exit reads it twice, and clock_gettime cost 27 ns
 * to RDTSC's 11 here). The TSC's rate is measured against CLOCK_MONOTONIC over the first
 * STATS_TSC_CALIBRATE_NS of the process's life (stats_clock_start, or the first reading), and
 * readings come from clock_gettime meanwhile; from then on a reading is the switch point's time
 * plus the TSC ticks since, scaled (32.32 fixed point). Only with an invariant TSC
 * (CPUID.80000007H:EDX[8], SDM vol. 3B 18.17.1: constant rate in every P-, C- and T-state);
 * without one, always clock_gettime.
 *
 * Nothing waits for the calibration (it used to spin 20 ms at vCPU creation: two thirds of a
 * small guest's start-up): readings take clock_gettime until it is done, and the map from ns to
 * TSC (stats_tsc_at_ns, for the soft CPU's timer deadlines) takes a provisional rate measured
 * over at least STATS_TSC_PROVISIONAL_NS until then; stats_tsc_generation tells its users when
 * the map changed. Only stats_tsc_hz, for a rate the guest is told once (kvmclock, the LAPIC's
 * TSC-deadline mode), finishes the calibration when the process is younger.
 *
 * Continuity at the switch: the TSC clock starts from the later clock_gettime of the pair that
 * brackets its TSC reading, so it is never behind a clock_gettime reading taken before the
 * switch (it runs ahead of CLOCK_MONOTONIC by at most that bracket, a microsecond or two): the
 * clock never goes back. vCPU threads read it concurrently: the switch is made by the one
 * thread that takes `busy`, with tsc0/ns0/mult written before `state` is released; they never
 * change after, and the others read clock_gettime until they see state 2.
 */
#define STATS_TSC_CALIBRATE_NS	 20000000ull
#define STATS_TSC_PROVISIONAL_NS 1000000ull
struct stats_tsc_clock stats_tsc_clock;

unsigned stats_tsc_generation;

static bool invariant_tsc(void)
{
	u32 a, b, c, d;

	__asm__ volatile("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d) : "a"(0x80000000u), "c"(0));
	if (a < 0x80000007u)
		return false;
	__asm__ volatile("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d) : "a"(0x80000007u), "c"(0));
	return d & (1u << 8);
}

/*
 * A TSC reading and CLOCK_MONOTONIC at the same moment: a reading bracketed by two
 * clock_gettime calls, the tightest of a few tries. A host that preempts the process between
 * the two reads (a loaded CI machine: milliseconds) would otherwise put the preemption into the
 * calibration, 4 ms of it being 20% of the 20 ms measured. *ns: the bracket's middle (for the
 * rate); *late: its end (for continuity).
 */
static void tsc_pair(u64 *tsc, u64 *ns, u64 *late)
{
	u64 best = UINT64_MAX;

	*tsc = __builtin_ia32_rdtsc();
	*ns = *late = monotonic_ns();
	for (int i = 0; i < 16 && best > 2000; i++) {
		u64 t1 = monotonic_ns(), c = __builtin_ia32_rdtsc(), t2 = monotonic_ns();

		if (t2 - t1 < best) {
			best = t2 - t1;
			*tsc = c;
			*ns = t1 + (t2 - t1) / 2;
			*late = t2;
		}
	}
}

/* ns per tick, 32.32, between two pairs; 0 when the TSC did not move. */
static u64 tsc_rate(u64 tsc0, u64 ns0, u64 tsc, u64 ns)
{
	return tsc > tsc0 ? (u64)(((unsigned __int128)(ns - ns0) << 32) / (tsc - tsc0)) : 0;
}

void stats_clock_start(void)
{
	u64 late;

	if (__atomic_load_n(&stats_tsc_clock.state, __ATOMIC_ACQUIRE) ||
	    __atomic_exchange_n(&stats_tsc_clock.busy, 1, __ATOMIC_ACQUIRE))
		return;
	if (!stats_tsc_clock.state) {
		if (invariant_tsc()) {
			tsc_pair(&stats_tsc_clock.cal_tsc, &stats_tsc_clock.cal_ns, &late);
			__atomic_store_n(&stats_tsc_clock.state, 1, __ATOMIC_RELEASE);
		} else {
			__atomic_store_n(&stats_tsc_clock.state, -1, __ATOMIC_RELEASE);
		}
	}
	__atomic_store_n(&stats_tsc_clock.busy, 0, __ATOMIC_RELEASE);
}

/* The calibration is long enough: measure the rate and switch to the TSC. */
static void tsc_switch(void)
{
	u64 tsc, ns, late, mult;

	if (__atomic_exchange_n(&stats_tsc_clock.busy, 1, __ATOMIC_ACQUIRE))
		return;
	if (stats_tsc_clock.state == 1) {
		tsc_pair(&tsc, &ns, &late);
		mult = tsc_rate(stats_tsc_clock.cal_tsc, stats_tsc_clock.cal_ns, tsc, ns);
		if (mult && ns - stats_tsc_clock.cal_ns >= STATS_TSC_CALIBRATE_NS) {
			stats_tsc_clock.mult = mult;
			stats_tsc_clock.hz = (u64)((unsigned __int128)(tsc - stats_tsc_clock.cal_tsc) *
					     1000000000ull / (ns - stats_tsc_clock.cal_ns));
			stats_tsc_clock.tsc0 = tsc;
			stats_tsc_clock.ns0 = late;
			__atomic_store_n(&stats_tsc_clock.state, 2, __ATOMIC_RELEASE);
			__atomic_add_fetch(&stats_tsc_generation, 1, __ATOMIC_RELEASE);
		}
	}
	__atomic_store_n(&stats_tsc_clock.busy, 0, __ATOMIC_RELEASE);
}

/* stats_now_ns (stats.h) before the TSC clock is calibrated, or without it. */
u64 stats_now_ns_slow(void)
{
	int state = __atomic_load_n(&stats_tsc_clock.state, __ATOMIC_ACQUIRE);
	u64 ns;

	if (likely(state == 2))
		return stats_now_ns();
	if (state == 0) {
		stats_clock_start();
		return monotonic_ns();
	}
	ns = monotonic_ns();
	if (state == 1 && ns - stats_tsc_clock.cal_ns >= STATS_TSC_CALIBRATE_NS)
		tsc_switch();
	return ns;
}

u64 stats_tsc_hz(void)
{
	/* The calibration ends at the first reading STATS_TSC_CALIBRATE_NS after the first. */
	stats_clock_start();
	while (__atomic_load_n(&stats_tsc_clock.state, __ATOMIC_ACQUIRE) == 1)
		stats_now_ns();
	return stats_tsc_clock.state == 2 ? stats_tsc_clock.hz : 0;
}

bool stats_tsc_invariant(void)
{
	stats_clock_start();
	return __atomic_load_n(&stats_tsc_clock.state, __ATOMIC_ACQUIRE) > 0;
}

/* The least tsc with base_ns + ((tsc - base_tsc) * mult >> 32) >= ns. */
static u64 tsc_at(u64 ns, u64 base_tsc, u64 base_ns, u64 mult)
{
	unsigned __int128 q;

	if (ns <= base_ns)
		return base_tsc;
	q = (((unsigned __int128)(ns - base_ns) << 32) + mult - 1) / mult;
	return q > UINT64_MAX - base_tsc ? UINT64_MAX : base_tsc + (u64)q;
}

u64 stats_tsc_at_ns(u64 ns)
{
	u64 tsc, now, late;

	stats_clock_start();
	switch (__atomic_load_n(&stats_tsc_clock.state, __ATOMIC_ACQUIRE)) {
	case 2:
		/* stats_now_ns() inverted. */
		return tsc_at(ns, stats_tsc_clock.tsc0, stats_tsc_clock.ns0, stats_tsc_clock.mult);
	case 1:
		break;
	default:
		return 0;
	}
	/* Still calibrating: the rate so far, measured once over at least a millisecond (a
	   process that arms a timer sooner waits for the rest of it). Its error, about 1e-5 here
	   (loaded or not), puts a deadline 10 ms ahead 0.1 us off until the switch changes the
	   generation. */
	u64 mult = __atomic_load_n(&stats_tsc_clock.prov_mult, __ATOMIC_ACQUIRE);

	if (!mult) {
		do
			tsc_pair(&tsc, &now, &late);
		while (now - stats_tsc_clock.cal_ns < STATS_TSC_PROVISIONAL_NS);
		mult = tsc_rate(stats_tsc_clock.cal_tsc, stats_tsc_clock.cal_ns, tsc, now);
		if (!mult)
			return 0;
		__atomic_store_n(&stats_tsc_clock.prov_mult, mult, __ATOMIC_RELEASE);
		__atomic_add_fetch(&stats_tsc_generation, 1, __ATOMIC_RELEASE);
	}
	return tsc_at(ns, stats_tsc_clock.cal_tsc, stats_tsc_clock.cal_ns, mult);
}
#else
u64 stats_now_ns_slow(void)
{
	return monotonic_ns();
}

u64 stats_tsc_hz(void)
{
	return 0;
}

u64 stats_tsc_at_ns(u64 ns)
{
	(void)ns;
	return 0;
}

bool stats_tsc_invariant(void)
{
	return false;
}

void stats_clock_start(void)
{
}

unsigned stats_tsc_generation;
#endif

static void stats_time_add(struct stats_time *t, u64 ns)
{
	if (!t->timed || ns < t->min_ns)
		t->min_ns = ns;
	if (ns > t->max_ns)
		t->max_ns = ns;
	t->timed++;
	t->sum_ns += ns;
	t->sumsq_ns += (double)ns * (double)ns;
}

/* Bucket b >= 1 holds [2^(b-1), 2^b) ns; bucket 0 holds 0 (no time measured). */
static unsigned stats_hist_bucket(u64 ns)
{
	unsigned b = ns ? 64 - (unsigned)__builtin_clzll(ns) : 0;

	return b < STATS_HIST_BUCKETS ? b : STATS_HIST_BUCKETS - 1;
}

struct stats_key *stats_key_get(struct stats *s, enum stats_kind kind, u64 value, bool write)
{
	u64 h = (value ^ ((u64)kind << 56) ^ ((u64)write << 48)) * 0x9e3779b97f4a7c15ull;
	unsigned i = (unsigned)(h >> 52) & (STATS_KEYS - 1);

	for (;; i = (i + 1) & (STATS_KEYS - 1)) {
		struct stats_key *k = &s->keys[i];

		if (!k->used)
			break;
		if (k->value == value && k->kind == kind && k->write == write)
			return k;
	}
	if (s->nr_keys >= STATS_KEYS_MAX) {
		s->dropped_keys++;
		return NULL;
	}
	s->nr_keys++;
	s->keys[i] =
		(struct stats_key){ .value = value, .kind = (u8)kind, .write = write, .used = 1 };
	return &s->keys[i];
}

/*
 * The handler's key (CPUID leaf, MSR index) and its exit's time meet whichever comes first:
 * `reason` is the exit the note belongs to.
 */
static void stats_note(struct stats *s, struct stats_key *k, u32 reason)
{
	if (!k)
		return;
	k->time.count++;
	if (s->pending_time_valid && s->pending_reason == reason) {
		if (s->pending_time_ns != STATS_UNTIMED)
			stats_time_add(&k->time, s->pending_time_ns);
		s->pending_time_valid = false;
		return;
	}
	s->pending_key = k;
	s->pending_reason = reason;
}

void stats_note_cpuid(struct stats *s, u32 leaf)
{
	stats_note(s, stats_key_get(s, STATS_CPUID, leaf, false), EXIT_REASON_CPUID);
}

void stats_note_msr(struct stats *s, u32 index, bool write)
{
	stats_note(s, stats_key_get(s, STATS_MSR, index, write),
		   write ? EXIT_REASON_MSR_WRITE : EXIT_REASON_MSR_READ);
}

/* The exit's own key: port, MMIO address; CPUID and MSR keys come from the handlers' notes. */
static struct stats_key *stats_exit_key(struct stats *s, const struct vm_exit *exit, u32 basic,
					u64 exit_ns)
{
	struct stats_key *k = NULL;

	switch (basic) {
	case EXIT_REASON_IO_INSTRUCTION:
		/* One element per exit (vmx/exit.h); direction from qualification bit 3 (SDM vol.
		   3C 28.2.1, Table 28-5), which the backend also reports as io.in. */
		s->io[exit->io.port][exit->io.in ? 1 : 0]++;
		k = stats_key_get(s, STATS_IO, exit->io.port, !exit->io.in);
		break;
	case EXIT_REASON_EPT_VIOLATION:
		/*
		 * Keyed by the exact guest-physical address, as perf kvm stat's mmio events are:
		 * device registers share a page. A decoded access (KVM_EXIT_MMIO) says its own
		 * direction; otherwise qualification bit 1 is "the access was a data write" (SDM
		 * vol. 3C 28.2.1, Table 28-7); the address is the guest-physical-address field
		 * (SDM vol. 3C 28.2.1).
		 */
		if (exit->mmio.valid)
			k = stats_key_get(s, STATS_MMIO, exit->mmio.gpa, exit->mmio.write);
		else
			k = stats_key_get(s, STATS_MMIO, exit->guest_phys, exit->qual & BIT(1));
		break;
	case EXIT_REASON_CPUID:
	case EXIT_REASON_MSR_READ:
	case EXIT_REASON_MSR_WRITE:
		if (s->pending_key && s->pending_reason == basic) {
			k = s->pending_key;
			s->pending_key = NULL;
			if (exit_ns != STATS_UNTIMED)
				stats_time_add(&k->time, exit_ns);
			return k; /* counted by the note */
		}
		s->pending_key = NULL;
		s->pending_time_valid = true;
		s->pending_time_ns = exit_ns;
		s->pending_reason = basic;
		return NULL;
	default:
		return NULL;
	}
	if (k) {
		k->time.count++;
		if (exit_ns != STATS_UNTIMED)
			stats_time_add(&k->time, exit_ns);
	}
	return k;
}

void stats_record(struct stats *s, const struct vm_exit *exit, u64 exit_ns, const u8 *insn,
		  unsigned insn_len)
{
	u32 basic = exit->reason & 0xffff;
	u32 slot = basic < EXIT_REASON_MAX ? basic : EXIT_REASON_MAX;
	struct stats_key *k = NULL;

	/* Bit 31 of the exit reason: VM-entry failure (SDM vol. 3C 25.9.1); kept apart. */
	if (exit->reason & EXIT_REASON_FAILED_VMENTRY) {
		s->entry_failures[slot]++;
		slot = EXIT_REASON_MAX;
	}
	s->exits[slot]++;
	s->total++;
	s->time[slot].count++;
	if (exit_ns != STATS_UNTIMED) {
		stats_time_add(&s->time[slot], exit_ns);
		s->hist[slot][stats_hist_bucket(exit_ns)]++;
	}
	if (slot == EXIT_REASON_EPT_VIOLATION && !exit->mmio.valid)
		s->decoded_ept++;
	if (slot != EXIT_REASON_MAX)
		k = stats_exit_key(s, exit, slot, exit_ns);
	if (unlikely(s->trace) && stats_tracing(s))
		stats_trace_exit(s, exit, k, exit_ns == STATS_UNTIMED ? 0 : exit_ns, insn, insn_len);
}

/*
 * Handler cost in cycles on top of the VM transition, by basic reason; 0: STATS_DEFAULT_CYCLES.
 * The reasoning for each number is in docs/telemetry.md ("Cost model").
 */
#define STATS_DEFAULT_CYCLES   500
#define STATS_USER_EXIT_CYCLES 3000 /* to the user-space device model and back */
#define STATS_DECODE_CYCLES    1500 /* fetch and decode the faulting instruction */

static const u16 stats_handler_cycles[EXIT_REASON_MAX] = {
	[EXIT_REASON_EXCEPTION_NMI] = 600,
	[EXIT_REASON_EXTERNAL_INTERRUPT] = 300,
	[EXIT_REASON_TRIPLE_FAULT] = 100,
	[EXIT_REASON_INTERRUPT_WINDOW] = 150,
	[EXIT_REASON_NMI_WINDOW] = 150,
	[EXIT_REASON_CPUID] = 100,
	[EXIT_REASON_HLT] = 200,
	[EXIT_REASON_INVLPG] = 200,
	[EXIT_REASON_RDPMC] = 150,
	[EXIT_REASON_RDTSC] = 50,
	[EXIT_REASON_VMCALL] = 150,
	[EXIT_REASON_VMCLEAR] = 2000,
	[EXIT_REASON_VMLAUNCH] = 2000,
	[EXIT_REASON_VMPTRLD] = 2000,
	[EXIT_REASON_VMPTRST] = 2000,
	[EXIT_REASON_VMREAD] = 2000,
	[EXIT_REASON_VMRESUME] = 2000,
	[EXIT_REASON_VMWRITE] = 2000,
	[EXIT_REASON_VMOFF] = 2000,
	[EXIT_REASON_VMON] = 2000,
	[EXIT_REASON_CR_ACCESS] = 200,
	[EXIT_REASON_DR_ACCESS] = 150,
	[EXIT_REASON_IO_INSTRUCTION] = STATS_USER_EXIT_CYCLES,
	[EXIT_REASON_MSR_READ] = 150,
	[EXIT_REASON_MSR_WRITE] = 150,
	[EXIT_REASON_PAUSE_INSTRUCTION] = 100,
	[EXIT_REASON_EPT_VIOLATION] = STATS_USER_EXIT_CYCLES,
	[EXIT_REASON_EPT_MISCONFIG] = STATS_USER_EXIT_CYCLES,
	[EXIT_REASON_INVEPT] = 2000,
	[EXIT_REASON_RDTSCP] = 50,
	[EXIT_REASON_PREEMPTION_TIMER] = 100,
	[EXIT_REASON_INVVPID] = 2000,
	[EXIT_REASON_WBINVD] = 1000,
	[EXIT_REASON_XSETBV] = 200,
	[EXIT_REASON_PML_FULL] = 2000,
};

static u64 handler_cycles(u32 basic)
{
	return stats_handler_cycles[basic] ? stats_handler_cycles[basic] : STATS_DEFAULT_CYCLES;
}

u64 stats_model_cycles(const struct vm_exit *exit)
{
	u32 basic = exit->reason & 0xffff;
	u64 cycles;

	/* A failed VM entry (SDM vol. 3C 27.8) never ran the guest: one transition, no handler. */
	if ((exit->reason & EXIT_REASON_FAILED_VMENTRY) || basic >= EXIT_REASON_MAX)
		return STATS_TRANSITION_CYCLES;
	cycles = handler_cycles(basic);
	/* An EPT violation the backend did not decode (the soft CPU's) is decoded by the VMM. */
	if (basic == EXIT_REASON_EPT_VIOLATION && !exit->mmio.valid)
		cycles += STATS_DECODE_CYCLES;
	return STATS_TRANSITION_CYCLES + cycles;
}

/* stats_model_cycles summed over a slot: the last slot holds entry failures and reasons past
   the list (a transition each), the others their reason's transition and handler, plus the
   decode of the EPT violations the VMM decoded. */
u64 stats_reason_cycles(const struct stats *s, u32 slot)
{
	if (slot >= EXIT_REASON_MAX)
		return s->exits[EXIT_REASON_MAX] * STATS_TRANSITION_CYCLES;
	return s->exits[slot] * (STATS_TRANSITION_CYCLES + handler_cycles(slot)) +
	       (slot == EXIT_REASON_EPT_VIOLATION ? s->decoded_ept * STATS_DECODE_CYCLES : 0);
}
