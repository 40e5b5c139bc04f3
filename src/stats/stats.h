/* SPDX-License-Identifier: MIT */
/*
 * Exit telemetry (docs/telemetry.md): exits counted and timed by basic reason, entry failures
 * apart; I/O exits by port and direction, MMIO by guest-physical address and direction, MSR
 * accesses by index and direction, CPUID by leaf. Recording is a few increments into fixed tables
 * so it stays on for every run; `tollbooth run --stats` prints the tables, --stats-json writes
 * them as JSON, --trace streams every exit as a Chrome trace event.
 */
#pragma once
#include <stdio.h>

#include "common.h"
#include "vmx/exit.h"

#define STATS_HIST_BUCKETS 64 /* bucket b: exit_ns in [2^(b-1), 2^b), bucket 0: exit_ns == 0 */

/* Host time of a set of exits, as perf kvm stat keeps it per event. */
struct stats_time {
	u64 count; /* samples */
	u64 timed; /* samples with a time (a noted key may never see its exit's time) */
	u64 sum_ns, min_ns, max_ns;
	double sumsq_ns; /* for the "( +- x% )" relative standard deviation of the mean */
};

/* What a keyed counter counts (the tables after the exit-reason table). */
enum stats_kind { STATS_IO, STATS_MMIO, STATS_MSR, STATS_CPUID, STATS_KINDS };

struct stats_key {
	u64 value; /* port, guest-physical address, MSR index or CPUID leaf */
	u8 kind;   /* enum stats_kind; 0 with used == 0: a free slot */
	u8 write;  /* OUT, MMIO write, WRMSR */
	u8 used;
	struct stats_time time;
};

/* Keyed counters: open addressing, allocated once; keys past the load limit are dropped. */
#define STATS_KEYS 4096

struct stats {
	u64 exits[EXIT_REASON_MAX + 1]; /* last slot: entry failures and reasons past the list */
	u64 total;
	u64 (*io)[2]; /* [port][in]; 64 Ki ports */
	/* Per basic reason (same slots as exits[]). */
	struct stats_time time[EXIT_REASON_MAX + 1];
	u64 hist[EXIT_REASON_MAX + 1][STATS_HIST_BUCKETS];
	/* EPT violations the VMM decoded itself (no mmio.valid): the cost model's decode, which
	   stats_reason_cycles adds to the per-exit cost of their reason. */
	u64 decoded_ept;
	/* VM-entry failures (bit 31 set) by basic reason; reasons past the list in the last slot.
	 */
	u64 entry_failures[EXIT_REASON_MAX + 1];
	struct stats_key *keys; /* STATS_KEYS slots */
	unsigned nr_keys;
	u64 dropped_keys; /* exits whose key found no room (a guest touching many addresses) */
	/* A key a handler noted (CPUID leaf, MSR) waiting for its exit's time, or the reverse. */
	struct stats_key *pending_key;
	u32 pending_reason;
	bool pending_time_valid;
	u64 pending_time_ns;
	/* Exits timed (--stats-sample): one in sample_mask + 1 at random, every one with a mask
	   of 0 or a trace open; sample_rng is the xorshift state (a fixed seed: a run repeats). */
	u32 sample_mask;
	u64 sample_rng;
	/* --trace */
	FILE *trace;
	u64 trace_t0_ns, trace_events;
	u64 trace_bytes, trace_limit; /* written so far, --trace-limit */
	bool trace_full;	      /* the limit was reached: tracing stopped, the run went on */
	int trace_error; /* errno of the first failed write: tracing stopped, the run went on */
};

int stats_init(struct stats *s);  /* 0 or -ENOMEM; one exit in STATS_SAMPLE_DEFAULT timed */
#define STATS_SAMPLE_DEFAULT 16
#define STATS_SAMPLE_MAX     65536
#define STATS_SAMPLE_FIRST   16 /* the exits of a reason timed before sampling starts */
/* One exit in `every` timed (a power of two from 1, every exit, to STATS_SAMPLE_MAX, which
   stats_sample_valid says); -EINVAL for any other value. */
bool stats_sample_valid(u32 every);
int stats_set_sample(struct stats *s, u32 every);
/* The exit_ns of an exit not timed. */
#define STATS_UNTIMED (~0ull)

/*
 * Whether the exit about to be handled is timed: its two clock readings are the larger part of
 * what the statistics cost per exit (RDTSC is 10 ns on this project's hosts, where a timed CPUID
 * exit costs about 75 ns and an untimed one 56), so by default one exit in 16, chosen by a
 * xorshift (so no guest pattern of exits can line up with it), is timed; the counts, keys and
 * modeled cycles take every exit. The first STATS_SAMPLE_FIRST exits of each basic reason are
 * all timed, so that a rare exit (XSETBV, a VMXON) has its own time rather than a dash. Reports
 * scale each row's time by its count over its timed exits (docs/telemetry.md). Called under
 * the VMM lock with --vcpu-threads, as stats_record.
 */
static inline bool stats_time_this(struct stats *s, u32 reason)
{
	u32 basic = reason & 0xffff;
	u64 x = s->sample_rng;

	if (!s->sample_mask || s->trace ||
	    s->exits[basic < EXIT_REASON_MAX ? basic : EXIT_REASON_MAX] < STATS_SAMPLE_FIRST)
		return true;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	s->sample_rng = x;
	return !(x & s->sample_mask);
}

void stats_free(struct stats *s); /* also finishes a trace still open */
/*
 * One exit, after its handler ran. exit_ns: host nanoseconds from the backend handing the exit
 * over to the handler having finished (stats_now_ns() on both sides, in vmm/run.c), or
 * STATS_UNTIMED for an exit stats_time_this() did not pick. insn/insn_len:
 * the bytes at the exit's RIP for --trace, or NULL/0 (the run loop fetches them only when
 * stats_tracing() says a trace is being written).
 */
void stats_record(struct stats *s, const struct vm_exit *exit, u64 exit_ns, const u8 *insn,
		  unsigned insn_len);
/*
 * Keys the exit record does not carry: the handlers report them. Either order relative to the
 * exit's stats_record() works: the key gets the time of the matching CPUID/RDMSR/WRMSR exit.
 */
void stats_note_cpuid(struct stats *s, u32 leaf);
void stats_note_msr(struct stats *s, u32 index, bool write);
/*
 * stats_now_ns(): CLOCK_MONOTONIC's time in ns; read from the TSC once a 20 ms calibration, from
 * the process's first reading (or stats_clock_start), is over (stats.c). Never waits. The
 * calibrated case is inline below (a timed exit reads it twice, and a call's frame cost more
 * than the reading); stats_now_ns_slow() is the rest: clock_gettime, the calibration's switch.
 */
u64 stats_now_ns_slow(void);
#if defined(__x86_64__)
/* The TSC clock (stats.c): tsc0, ns0 and mult are written before state becomes 2 and never
   after. */
struct stats_tsc_clock {
	int state; /* 0: not looked at; 1: calibrating; 2: TSC; -1: no invariant TSC */
	int busy;  /* a thread is switching */
	u64 tsc0, ns0, mult, hz;
	u64 cal_tsc, cal_ns; /* the calibration's first pair */
	u64 prov_mult;	     /* provisional ns per tick (32.32), 0 until measured */
};
extern struct stats_tsc_clock stats_tsc_clock;

static inline u64 stats_now_ns(void)
{
	if (likely(__atomic_load_n(&stats_tsc_clock.state, __ATOMIC_ACQUIRE) == 2))
		return stats_tsc_clock.ns0 +
		       (u64)(((unsigned __int128)(__builtin_ia32_rdtsc() - stats_tsc_clock.tsc0) *
			      stats_tsc_clock.mult) >>
			     32);
	return stats_now_ns_slow();
}
#else
static inline u64 stats_now_ns(void)
{
	return stats_now_ns_slow();
}
#endif
void stats_clock_start(void); /* begins the calibration (main, so it runs during set-up) */
/* The host TSC's ticks per second from that calibration (finishing it first, spinning up to
   20 ms if the process is younger); 0 without an invariant TSC. For rates told to a guest. */
u64 stats_tsc_hz(void);
/* The host TSC has an invariant rate, so the clock will come from it (no waiting). */
bool stats_tsc_invariant(void);
/*
 * The host TSC value at which stats_now_ns() first reads at least ns; 0 without an invariant
 * TSC. During the calibration the map takes the rate measured so far (over at least 1 ms,
 * waiting for the rest of it when the process is younger); stats_tsc_generation changes each
 * time the map does (a provisional rate measured, the calibration done), so a user that keeps
 * converted values converts again.
 */
u64 stats_tsc_at_ns(u64 ns);
extern unsigned stats_tsc_generation;
/* A trace is open, not failed and not full. */
static inline bool stats_tracing(const struct stats *s)
{
	return s->trace && !s->trace_error && !s->trace_full;
}
/*
 * The cost model (docs/telemetry.md): modeled guest cycles one exit costs, a VM transition of
 * about 250 cycles round trip plus a per-reason handler cost. The soft backend charges it to a
 * virtual TSC (cpu_add_cycles), so --tsc virtual runs are deterministic.
 */
u64 stats_model_cycles(const struct vm_exit *exit);
#define STATS_TRANSITION_CYCLES 250
/* The modeled cycles of every exit recorded in one slot of exits[], the sum of
   stats_model_cycles over them: computed from the counts when reported, not per exit. */
u64 stats_reason_cycles(const struct stats *s, u32 slot);

/* A key's slot, inserted on first use (no allocation); NULL when the table is full. */
struct stats_key *stats_key_get(struct stats *s, enum stats_kind kind, u64 value, bool write);

/*
 * The tables in the style of `perf kvm stat report`: exit reason as Linux spells it, samples,
 * percentages, min/max/avg time, modeled cycles, sorted by count; then entry failures, I/O ports
 * ("0x3f8:POUT"), MMIO ("0xfee00000:W"), MSRs ("0x10:R"), CPUID leaves, then the bus's unclaimed
 * accesses.
 */
void stats_print(const struct stats *s, FILE *f, u64 unclaimed_reads, u64 unclaimed_writes);
/* The same data as one JSON object (schema in docs/telemetry.md); 0 or -errno of the failed
   write (-ENOSPC on a full disk; -EIO when stdio kept no errno). */
int stats_write_json(const struct stats *s, FILE *f, u64 unclaimed_reads, u64 unclaimed_writes);

/*
 * --trace: stream every exit to `f` as a Chrome trace-event JSON object (Perfetto,
 * chrome://tracing), the file at most `limit` bytes (--trace-limit; at least
 * STATS_TRACE_LIMIT_MIN): the exit that would cross it ends the trace with one "trace limit
 * reached" event and sets trace_full, and the file stays valid JSON. The stats own `f` from here
 * on. stats_trace_finish() closes the JSON and the file: 0, or -errno of the first failed write
 * (the run itself never fails for a trace).
 */
#define STATS_TRACE_LIMIT_DEFAULT (256ull << 20)
#define STATS_TRACE_LIMIT_MIN	  4096
void stats_trace_start(struct stats *s, FILE *f, u64 limit);
int stats_trace_finish(struct stats *s);
/* One exit as a trace event (called by stats_record while tracing). */
void stats_trace_exit(struct stats *s, const struct vm_exit *exit, const struct stats_key *key,
		      u64 exit_ns, const u8 *insn, unsigned insn_len);
