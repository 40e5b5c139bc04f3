// SPDX-License-Identifier: MIT
/* Exit telemetry: see stats.h. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "stats/stats.h"

#define IO_PORTS 0x10000

int stats_init(struct stats *s)
{
	memset(s, 0, sizeof(*s));
	s->io = calloc(IO_PORTS, sizeof(*s->io));
	return s->io ? 0 : -ENOMEM;
}

void stats_free(struct stats *s)
{
	free(s->io);
	s->io = NULL;
}

void stats_record(struct stats *s, const struct vm_exit *exit, u64 exit_ns, const u8 *insn,
		  unsigned insn_len)
{
	u32 basic = exit->reason & 0xffff;

	if ((exit->reason & EXIT_REASON_FAILED_VMENTRY) || basic >= EXIT_REASON_MAX)
		basic = EXIT_REASON_MAX;
	s->exits[basic]++;
	s->total++;
	if (basic == EXIT_REASON_IO_INSTRUCTION)
		s->io[exit->io.port][exit->io.in ? 1 : 0]++;
}

struct stats_row {
	u64 count;
	char name[24];
};

static int stats_compare_rows(const void *a, const void *b)
{
	const struct stats_row *x = a, *y = b;

	if (x->count != y->count)
		return x->count < y->count ? 1 : -1;
	return strcmp(x->name, y->name);
}

static void stats_print_rows(FILE *f, const char *title, struct stats_row *rows, size_t n)
{
	u64 total = 0;

	qsort(rows, n, sizeof(*rows), stats_compare_rows);
	for (size_t i = 0; i < n; i++)
		total += rows[i].count;
	fprintf(f, "\n%20s %10s %9s\n\n", title, "Samples", "Samples%");
	for (size_t i = 0; i < n; i++)
		fprintf(f, "%20s %10llu %8.2f%%\n", rows[i].name, (unsigned long long)rows[i].count,
			100.0 * (double)rows[i].count / (double)total);
	fprintf(f, "\nTotal Samples:%llu\n", (unsigned long long)total);
}

void stats_print(const struct stats *s, FILE *f, u64 unclaimed_reads, u64 unclaimed_writes)
{
	struct stats_row *rows;
	size_t n = 0;

	rows = calloc(IO_PORTS * 2 > EXIT_REASON_MAX + 1 ? IO_PORTS * 2 : EXIT_REASON_MAX + 1,
		      sizeof(*rows));
	if (!rows)
		return;
	fprintf(f, "\nAnalyze events for all VMs, all VCPUs:\n");
	for (u32 r = 0; r <= EXIT_REASON_MAX; r++) {
		if (!s->exits[r])
			continue;
		rows[n].count = s->exits[r];
		snprintf(rows[n++].name, sizeof(rows->name), "%s",
			 r == EXIT_REASON_MAX ? "FAILED_VMENTRY/OTHER" : exit_reason_name(r));
	}
	stats_print_rows(f, "VM-EXIT", rows, n);

	n = 0;
	for (u32 port = 0; port < IO_PORTS; port++) {
		for (int in = 0; in < 2; in++) {
			if (!s->io[port][in])
				continue;
			rows[n].count = s->io[port][in];
			snprintf(rows[n++].name, sizeof(rows->name), "0x%x:%s", port,
				 in ? "PIN" : "POUT");
		}
	}
	if (n)
		stats_print_rows(f, "IO Port Access", rows, n);
	fprintf(f, "Unclaimed port reads: %llu, writes: %llu\n",
		(unsigned long long)unclaimed_reads, (unsigned long long)unclaimed_writes);
	free(rows);
}
