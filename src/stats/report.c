// SPDX-License-Identifier: MIT
/*
 * Exporters of the counters: the `perf kvm stat report` tables (--stats) and JSON (--stats-json).
 * Both list the same rows in the same order (most samples first); docs/telemetry.md has the
 * formats.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "stats/stats.h"

struct stats_row {
	char name[32];
	u32 reason; /* exit tables: basic reason; EXIT_REASON_MAX for the catch-all slot */
	u64 value;  /* keyed tables: port, address, index or leaf */
	bool write;
	u64 count;
	const struct stats_time *t; /* NULL: counted, not timed (entry failures) */
	u64 cycles;
	const u64 *hist;
};

static const char *const stats_kind_titles[STATS_KINDS] = {
	[STATS_IO] = "IO Port Access",
	[STATS_MMIO] = "MMIO Access",
	[STATS_MSR] = "MSR Access",
	[STATS_CPUID] = "CPUID Leaf",
};

static const char *const stats_kind_json[STATS_KINDS] = {
	[STATS_IO] = "io",
	[STATS_MMIO] = "mmio",
	[STATS_MSR] = "msr",
	[STATS_CPUID] = "cpuid",
};

static int stats_compare_rows(const void *a, const void *b)
{
	const struct stats_row *x = a, *y = b;

	if (x->count != y->count)
		return x->count < y->count ? 1 : -1;
	return strcmp(x->name, y->name);
}

static const char *stats_slot_name(u32 r)
{
	return r == EXIT_REASON_MAX ? "FAILED_VMENTRY/OTHER" : exit_reason_name(r);
}

static size_t stats_exit_rows(const struct stats *s, struct stats_row *rows)
{
	size_t n = 0;

	for (u32 r = 0; r <= EXIT_REASON_MAX; r++) {
		if (!s->exits[r])
			continue;
		rows[n] = (struct stats_row){ .reason = r,
					      .count = s->exits[r],
					      .t = &s->time[r],
					      .cycles = stats_reason_cycles(s, r),
					      .hist = s->hist[r] };
		snprintf(rows[n++].name, sizeof(rows->name), "%s", stats_slot_name(r));
	}
	qsort(rows, n, sizeof(*rows), stats_compare_rows);
	return n;
}

static size_t stats_failure_rows(const struct stats *s, struct stats_row *rows)
{
	size_t n = 0;

	for (u32 r = 0; r <= EXIT_REASON_MAX; r++) {
		if (!s->entry_failures[r])
			continue;
		rows[n] = (struct stats_row){ .reason = r, .count = s->entry_failures[r] };
		if (r == EXIT_REASON_MAX)
			snprintf(rows[n++].name, sizeof(rows->name), "OTHER");
		else
			snprintf(rows[n++].name, sizeof(rows->name), "%s", exit_reason_name(r));
	}
	qsort(rows, n, sizeof(*rows), stats_compare_rows);
	return n;
}

/* perf kvm stat's key spellings: "0x3f8:POUT", "0xfee00000:W", "0x10:R"; CPUID: the leaf. */
static size_t stats_key_rows(const struct stats *s, enum stats_kind kind, struct stats_row *rows)
{
	size_t n = 0;

	for (unsigned i = 0; i < STATS_KEYS; i++) {
		const struct stats_key *k = &s->keys[i];
		struct stats_row *row = &rows[n];

		if (!k->used || k->kind != kind || !k->time.count)
			continue;
		*row = (struct stats_row){
			.value = k->value, .write = k->write, .count = k->time.count, .t = &k->time
		};
		if (kind == STATS_IO)
			snprintf(row->name, sizeof(row->name), "%#" PRIx64 ":%s", k->value,
				 k->write ? "POUT" : "PIN");
		else if (kind == STATS_CPUID)
			snprintf(row->name, sizeof(row->name), "%#" PRIx64, k->value);
		else
			snprintf(row->name, sizeof(row->name), "%#" PRIx64 ":%s", k->value,
				 k->write ? "W" : "R");
		n++;
	}
	qsort(rows, n, sizeof(*rows), stats_compare_rows);
	return n;
}

/* A row's whole time: what its timed exits took, scaled to all of them (stats_time_this). */
static u64 stats_est_ns(const struct stats_time *t)
{
	if (!t->timed)
		return 0;
	if (t->timed == t->count)
		return t->sum_ns;
	return (u64)((unsigned __int128)t->sum_ns * t->count / t->timed);
}

static double stats_avg_ns(const struct stats_time *t)
{
	return t->timed ? (double)t->sum_ns / (double)t->timed : 0.0;
}

/* perf's "( +- x% )": the standard deviation of the mean relative to the mean, in percent. */
static double stats_rel_stddev(const struct stats_time *t)
{
	double n = (double)t->timed, mean = stats_avg_ns(t), var;

	if (t->timed < 2 || mean == 0.0)
		return 0.0;
	var = (t->sumsq_ns - n * mean * mean) / (n - 1);
	if (var <= 0.0)
		return 0.0;
	return 100.0 * sqrt(var / n) / mean;
}

/* The columns of perf kvm stat report (tools/perf/builtin-kvm.c print_result). */
static void stats_print_table(FILE *f, const char *title, const struct stats_row *rows, size_t n,
			      bool cycles)
{
	u64 total = 0, total_ns = 0, total_cycles = 0;

	for (size_t i = 0; i < n; i++) {
		total += rows[i].count;
		total_ns += rows[i].t ? stats_est_ns(rows[i].t) : 0;
		total_cycles += rows[i].cycles;
	}
	fprintf(f, "\n\nAnalyze events for all VMs, all VCPUs:\n\n");
	fprintf(f, "%20s %10s %9s %9s %11s %11s %16s ", title, "Samples", "Samples%", "Time%",
		"Min Time", "Max Time", "Avg time");
	if (cycles)
		fprintf(f, "%9s %14s", "", "Model cycles");
	fprintf(f, "\n\n");
	for (size_t i = 0; i < n; i++) {
		const struct stats_row *r = &rows[i];

		fprintf(f, "%20s %10" PRIu64 " %8.2f%% ", r->name, r->count,
			100.0 * (double)r->count / (double)total);
		if (r->t && !r->t->timed) /* counted, none of them timed (--stats-sample) */
			fprintf(f, "%9s %11s %11s %11s %14s", "-", "-", "-", "-", "");
		else if (r->t)
			fprintf(f, "%8.2f%% %9.2fus %9.2fus %9.2fus ( +-%7.2f%% )",
				total_ns ? 100.0 * (double)stats_est_ns(r->t) / (double)total_ns
					 : 0.0,
				(double)r->t->min_ns / 1e3, (double)r->t->max_ns / 1e3,
				stats_avg_ns(r->t) / 1e3, stats_rel_stddev(r->t));
		if (cycles)
			fprintf(f, " %14" PRIu64, r->cycles);
		fprintf(f, "\n");
	}
	fprintf(f, "\nTotal Samples:%" PRIu64 ", Total events handled time:%.2fus.\n", total,
		(double)total_ns / 1e3);
	if (cycles)
		fprintf(f, "Total modeled cycles:%" PRIu64 " (VM transition %d per exit).\n",
			total_cycles, STATS_TRANSITION_CYCLES);
}

void stats_print(const struct stats *s, FILE *f, u64 unclaimed_reads, u64 unclaimed_writes)
{
	struct stats_row *rows = calloc(STATS_KEYS + EXIT_REASON_MAX + 1, sizeof(*rows));
	size_t n;

	if (!rows) {
		fprintf(f, "tollbooth: no memory to print the statistics\n");
		return;
	}
	n = stats_exit_rows(s, rows);
	stats_print_table(f, "VM-EXIT", rows, n, true);
	if (s->sample_mask) {
		u64 timed = 0;

		for (u32 r = 0; r <= EXIT_REASON_MAX; r++)
			timed += s->time[r].timed;
		fprintf(f,
			"Times measured on 1 exit in %u at random (--stats-sample; %" PRIu64
			" of %" PRIu64 " exits), each row's scaled to its count.\n",
			s->sample_mask + 1, timed, s->total);
	}
	n = stats_failure_rows(s, rows);
	if (n)
		stats_print_table(f, "VM-ENTRY FAILURE", rows, n, false);
	for (int kind = 0; kind < STATS_KINDS; kind++) {
		n = stats_key_rows(s, kind, rows);
		if (n)
			stats_print_table(f, stats_kind_titles[kind], rows, n, false);
	}
	if (s->dropped_keys)
		fprintf(f,
			"\nAccesses not keyed (more than %d distinct ports/addresses/MSRs/leaves):"
			" %" PRIu64 "\n",
			STATS_KEYS / 4 * 3, s->dropped_keys);
	fprintf(f, "Unclaimed port reads: %" PRIu64 ", writes: %" PRIu64 "\n", unclaimed_reads,
		unclaimed_writes);
	free(rows);
}

static void stats_json_time(FILE *f, const struct stats_time *t)
{
	fprintf(f,
		", \"timed\": %" PRIu64 ", \"time_ns\": %" PRIu64 ", \"min_ns\": %" PRIu64
		", \"max_ns\": %" PRIu64 ", \"avg_ns\": %.1f, \"rel_stddev_pct\": %.2f",
		t->timed, stats_est_ns(t), t->min_ns, t->max_ns, stats_avg_ns(t),
		stats_rel_stddev(t));
}

static void stats_json_exits(FILE *f, const struct stats_row *rows, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		const struct stats_row *r = &rows[i];
		int last = 0;

		fprintf(f, "%s\n    {\"reason\": ", i ? "," : "");
		if (r->reason == EXIT_REASON_MAX)
			fprintf(f, "null");
		else
			fprintf(f, "%u", r->reason);
		fprintf(f, ", \"name\": \"%s\", \"samples\": %" PRIu64, r->name, r->count);
		stats_json_time(f, r->t);
		fprintf(f, ", \"model_cycles\": %" PRIu64 ", \"hist_log2_ns\": [", r->cycles);
		for (int b = 0; b < STATS_HIST_BUCKETS; b++)
			if (r->hist[b])
				last = b + 1;
		for (int b = 0; b < last; b++)
			fprintf(f, "%s%" PRIu64, b ? ", " : "", r->hist[b]);
		fprintf(f, "]}");
	}
}

static void stats_json_keys(FILE *f, enum stats_kind kind, const struct stats_row *rows, size_t n)
{
	static const char *const value_names[STATS_KINDS] = {
		[STATS_IO] = "port",
		[STATS_MMIO] = "gpa",
		[STATS_MSR] = "index",
		[STATS_CPUID] = "leaf",
	};

	for (size_t i = 0; i < n; i++) {
		const struct stats_row *r = &rows[i];

		fprintf(f, "%s\n    {\"%s\": %" PRIu64 ", \"name\": \"%s\"", i ? "," : "",
			value_names[kind], r->value, r->name);
		if (kind == STATS_IO)
			fprintf(f, ", \"dir\": \"%s\"", r->write ? "out" : "in");
		else if (kind != STATS_CPUID)
			fprintf(f, ", \"dir\": \"%s\"", r->write ? "write" : "read");
		fprintf(f, ", \"samples\": %" PRIu64, r->count);
		stats_json_time(f, r->t);
		fprintf(f, "}");
	}
}

int stats_write_json(const struct stats *s, FILE *f, u64 unclaimed_reads, u64 unclaimed_writes)
{
	struct stats_row *rows = calloc(STATS_KEYS + EXIT_REASON_MAX + 1, sizeof(*rows));
	u64 total_ns = 0, total_cycles = 0;
	size_t n;

	if (!rows)
		return -ENOMEM;
	errno = 0;
	for (u32 r = 0; r <= EXIT_REASON_MAX; r++) {
		total_ns += stats_est_ns(&s->time[r]);
		total_cycles += stats_reason_cycles(s, r);
	}
	fprintf(f,
		"{\n  \"schema\": \"tollbooth-stats-1\",\n  \"transition_cycles\": %d,\n"
		"  \"total\": {\"samples\": %" PRIu64 ", \"time_ns\": %" PRIu64
		", \"model_cycles\": %" PRIu64 "},\n  \"exits\": [",
		STATS_TRANSITION_CYCLES, s->total, total_ns, total_cycles);
	n = stats_exit_rows(s, rows);
	stats_json_exits(f, rows, n);
	fprintf(f, "\n  ],\n  \"entry_failures\": [");
	n = stats_failure_rows(s, rows);
	for (size_t i = 0; i < n; i++) {
		fprintf(f, "%s\n    {\"reason\": ", i ? "," : "");
		if (rows[i].reason == EXIT_REASON_MAX)
			fprintf(f, "null");
		else
			fprintf(f, "%u", rows[i].reason);
		fprintf(f, ", \"name\": \"%s\", \"samples\": %" PRIu64 "}", rows[i].name,
			rows[i].count);
	}
	fprintf(f, "\n  ]");
	for (int kind = 0; kind < STATS_KINDS; kind++) {
		fprintf(f, ",\n  \"%s\": [", stats_kind_json[kind]);
		n = stats_key_rows(s, kind, rows);
		stats_json_keys(f, kind, rows, n);
		fprintf(f, "\n  ]");
	}
	fprintf(f,
		",\n  \"dropped_keys\": %" PRIu64 ",\n  \"unclaimed_ports\": {\"reads\": %" PRIu64
		", \"writes\": %" PRIu64 "}\n}\n",
		s->dropped_keys, unclaimed_reads, unclaimed_writes);
	free(rows);
	/* A full disk is ENOSPC, not EIO: errno of the write that failed (0 before the first). */
	if (fflush(f) || ferror(f))
		return errno ? -errno : -EIO;
	return 0;
}
