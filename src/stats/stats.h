/* SPDX-License-Identifier: MIT */
/*
 * Exit telemetry: exits counted by basic reason, I/O exits by port and direction. Recording is a
 * couple of increments so it stays on for every run; `tollbooth run --stats` prints the tables.
 */
#pragma once
#include <stdio.h>

#include "common.h"
#include "vmx/exit.h"

struct stats {
	u64 exits[EXIT_REASON_MAX + 1]; /* last slot: entry failures and reasons past the list */
	u64 total;
	u64 (*io)[2]; /* [port][in]; 64 Ki ports */
};

int stats_init(struct stats *s); /* 0 or -ENOMEM */
void stats_free(struct stats *s);
/*
 * One exit, after its handler ran. exit_ns: host nanoseconds from the backend handing the exit
 * over to the handler having finished (stats_now_ns() on both sides, in vmm/run.c). insn/insn_len:
 * the bytes at the exit's RIP for --trace, or NULL/0 (the run loop fetches them only when
 * stats_tracing() says a trace is being written).
 */
void stats_record(struct stats *s, const struct vm_exit *exit, u64 exit_ns, const u8 *insn,
		  unsigned insn_len);
/* Keys the exit record does not carry: the handlers report them. */
void stats_note_cpuid(struct stats *s, u32 leaf);
void stats_note_msr(struct stats *s, u32 index, bool write);
u64 stats_now_ns(void); /* CLOCK_MONOTONIC */
bool stats_tracing(const struct stats *s);
/*
 * The cost model (docs/telemetry.md): modeled guest cycles one exit costs, a VM transition of
 * about 250 cycles round trip plus a per-reason handler cost. The soft backend charges it to a
 * virtual TSC (cpu_add_cycles), so --tsc virtual runs are deterministic.
 */
u64 stats_model_cycles(const struct vm_exit *exit);

/*
 * The tables in the style of `perf kvm stat report`: exit reason as Linux spells it, samples,
 * percentage, sorted by count; then I/O ports ("0x3f8:POUT"), then the bus's unclaimed accesses.
 */
void stats_print(const struct stats *s, FILE *f, u64 unclaimed_reads, u64 unclaimed_writes);
