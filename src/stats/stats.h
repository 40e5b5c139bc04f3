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
void stats_record(struct stats *s, const struct vm_exit *exit);

/*
 * The tables in the style of `perf kvm stat report`: exit reason as Linux spells it, samples,
 * percentage, sorted by count; then I/O ports ("0x3f8:POUT"), then the bus's unclaimed accesses.
 */
void stats_print(const struct stats *s, FILE *f, u64 unclaimed_reads, u64 unclaimed_writes);
