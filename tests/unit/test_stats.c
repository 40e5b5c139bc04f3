// SPDX-License-Identifier: MIT
/*
 * Exit telemetry: counting by reason, port, MMIO address, MSR and CPUID leaf; host time (min,
 * average, maximum, log2 histogram); the cost model; the perf-style table; the JSON export and
 * the Chrome trace (both parsed back by a small JSON checker).
 */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "check.h"
#include "stats/stats.h"
#include "vmx/exit.h"

/* A strict-enough JSON syntax checker: the value at *p, then *p past it; false on bad syntax. */
static bool json_value(const char **p);

static void json_ws(const char **p)
{
	while (**p == ' ' || **p == '\n' || **p == '\t' || **p == '\r')
		(*p)++;
}

static bool json_string(const char **p)
{
	if (**p != '"')
		return false;
	for ((*p)++; **p != '"'; (*p)++) {
		if (!**p || (unsigned char)**p < 0x20)
			return false;
		if (**p == '\\') {
			(*p)++;
			if (**p == 'u') {
				for (int i = 0; i < 4; i++)
					if (!isxdigit((unsigned char)*++(*p)))
						return false;
			} else if (!strchr("\"\\/bfnrt", **p) || !**p) {
				return false;
			}
		}
	}
	(*p)++;
	return true;
}

static bool json_list(const char **p, char close, bool object)
{
	(*p)++;
	json_ws(p);
	if (**p == close) {
		(*p)++;
		return true;
	}
	for (;;) {
		json_ws(p);
		if (object) {
			if (!json_string(p))
				return false;
			json_ws(p);
			if (*(*p)++ != ':')
				return false;
			json_ws(p);
		}
		if (!json_value(p))
			return false;
		json_ws(p);
		if (**p == close) {
			(*p)++;
			return true;
		}
		if (*(*p)++ != ',')
			return false;
	}
}

static bool json_value(const char **p)
{
	const char *start = *p;

	json_ws(p);
	if (**p == '{')
		return json_list(p, '}', true);
	if (**p == '[')
		return json_list(p, ']', false);
	if (**p == '"')
		return json_string(p);
	for (const char *const *w = (const char *const[]){ "true", "false", "null", NULL }; *w;
	     w++) {
		if (!strncmp(*p, *w, strlen(*w))) {
			*p += strlen(*w);
			return true;
		}
	}
	if (**p == '-')
		(*p)++;
	if (!isdigit((unsigned char)**p))
		return false;
	while (isdigit((unsigned char)**p) || **p == '.' || **p == 'e' || **p == 'E' ||
	       **p == '+' || **p == '-')
		(*p)++;
	return *p > start;
}

static bool json_valid(const char *text)
{
	const char *p = text;

	if (!json_value(&p))
		return false;
	json_ws(&p);
	return !*p;
}

static unsigned count_substr(const char *hay, const char *needle)
{
	unsigned n = 0;

	for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle))
		n++;
	return n;
}

static struct vm_exit io_exit(u16 port, bool in)
{
	return (struct vm_exit){ .reason = EXIT_REASON_IO_INSTRUCTION,
				 .qual = ((u64)port << 16) | (in ? IO_QUAL_IN : 0),
				 .io = { .port = port, .size = 1, .in = in } };
}

static void test_json_checker(void)
{
	CHECK(json_valid("{\"a\": [1, 2.5, -3, \"x\\\"y\", true, null, {}]}"));
	CHECK(!json_valid("{\"a\": [1, 2,]}"));
	CHECK(!json_valid("{\"a\": 1"));
	CHECK(!json_valid("{\"a\": 1}}"));
	CHECK(!json_valid("[\"\x01\"]"));
}

static void test_counting(void)
{
	struct stats s;
	struct vm_exit e;
	struct stats_key *k;

	CHECK_EQ(stats_init(&s), 0);
	e = io_exit(0x3f8, false);
	stats_record(&s, &e, 100, NULL, 0);
	stats_record(&s, &e, 300, NULL, 0);
	e = io_exit(0x3fd, true);
	stats_record(&s, &e, 2000, NULL, 0);
	/* EPT violation the soft CPU did not decode: qualification bit 1 is the write. */
	e = (struct vm_exit){ .reason = EXIT_REASON_EPT_VIOLATION,
			      .qual = BIT(1) | BIT(7),
			      .guest_phys = 0xfee00030 };
	stats_record(&s, &e, 50, NULL, 0);
	/* Decoded by the backend (KVM_EXIT_MMIO): its own address and direction win. */
	e = (struct vm_exit){
		.reason = EXIT_REASON_EPT_VIOLATION,
		.qual = BIT(1),
		.guest_phys = 0x1234,
		.mmio = { .valid = true, .write = false, .size = 4, .gpa = 0xd0000000 }
	};
	stats_record(&s, &e, 70, NULL, 0);
	/* A handler's note before the record, and after it: both get the exit's time. */
	stats_note_msr(&s, 0x10, false);
	e = (struct vm_exit){ .reason = EXIT_REASON_MSR_READ };
	stats_record(&s, &e, 400, NULL, 0);
	e = (struct vm_exit){ .reason = EXIT_REASON_MSR_WRITE };
	stats_record(&s, &e, 600, NULL, 0);
	stats_note_msr(&s, 0x6e0, true);
	stats_note_cpuid(&s, 7);
	e = (struct vm_exit){ .reason = EXIT_REASON_CPUID };
	stats_record(&s, &e, 0, NULL, 0);
	e = (struct vm_exit){ .reason = EXIT_REASON_FAILED_VMENTRY | EXIT_REASON_INVALID_STATE };
	stats_record(&s, &e, 10, NULL, 0);
	e = (struct vm_exit){ .reason = 1000 };
	stats_record(&s, &e, 10, NULL, 0);

	CHECK_EQ(s.total, 10);
	CHECK_EQ(s.exits[EXIT_REASON_IO_INSTRUCTION], 3);
	CHECK_EQ(s.exits[EXIT_REASON_EPT_VIOLATION], 2);
	CHECK_EQ(s.exits[EXIT_REASON_MSR_READ], 1);
	CHECK_EQ(s.exits[EXIT_REASON_MSR_WRITE], 1);
	CHECK_EQ(s.exits[EXIT_REASON_CPUID], 1);
	CHECK_EQ(s.exits[EXIT_REASON_INVALID_STATE], 0); /* the failure is counted apart */
	CHECK_EQ(s.exits[EXIT_REASON_MAX], 2);
	CHECK_EQ(s.entry_failures[EXIT_REASON_INVALID_STATE], 1);
	CHECK_EQ(s.entry_failures[EXIT_REASON_MAX], 0);
	CHECK_EQ(s.io[0x3f8][0], 2);
	CHECK_EQ(s.io[0x3fd][1], 1);

	/* Time per reason: min, max, sum; the log2 histogram. */
	CHECK_EQ(s.time[EXIT_REASON_IO_INSTRUCTION].min_ns, 100);
	CHECK_EQ(s.time[EXIT_REASON_IO_INSTRUCTION].max_ns, 2000);
	CHECK_EQ(s.time[EXIT_REASON_IO_INSTRUCTION].sum_ns, 2400);
	CHECK_EQ(s.hist[EXIT_REASON_IO_INSTRUCTION][7], 1);  /* 100 in [64, 128) */
	CHECK_EQ(s.hist[EXIT_REASON_IO_INSTRUCTION][9], 1);  /* 300 in [256, 512) */
	CHECK_EQ(s.hist[EXIT_REASON_IO_INSTRUCTION][11], 1); /* 2000 in [1024, 2048) */
	CHECK_EQ(s.hist[EXIT_REASON_CPUID][0], 1);	     /* no time measured */

	/* Keys (stats_key_get finds the existing slot). */
	CHECK_EQ(s.nr_keys, 7);
	k = stats_key_get(&s, STATS_IO, 0x3f8, true);
	CHECK_EQ(k->time.count, 2);
	CHECK_EQ(k->time.sum_ns, 400);
	k = stats_key_get(&s, STATS_IO, 0x3fd, false);
	CHECK_EQ(k->time.count, 1);
	k = stats_key_get(&s, STATS_MMIO, 0xfee00030, true);
	CHECK_EQ(k->time.count, 1);
	k = stats_key_get(&s, STATS_MMIO, 0xd0000000, false);
	CHECK_EQ(k->time.count, 1);
	CHECK_EQ(k->time.max_ns, 70);
	k = stats_key_get(&s, STATS_MSR, 0x10, false);
	CHECK_EQ(k->time.count, 1);
	CHECK_EQ(k->time.sum_ns, 400);
	k = stats_key_get(&s, STATS_MSR, 0x6e0, true);
	CHECK_EQ(k->time.count, 1);
	CHECK_EQ(k->time.sum_ns, 600);
	k = stats_key_get(&s, STATS_CPUID, 7, false);
	CHECK_EQ(k->time.count, 1);
	CHECK_EQ(s.nr_keys, 7);
	stats_free(&s);
}

static void test_key_table_full(void)
{
	struct stats s;
	struct vm_exit e = { .reason = EXIT_REASON_EPT_VIOLATION };

	CHECK_EQ(stats_init(&s), 0);
	for (u64 i = 0; i < STATS_KEYS; i++) {
		e.guest_phys = i * 8;
		stats_record(&s, &e, 1, NULL, 0);
	}
	CHECK_EQ(s.nr_keys, STATS_KEYS / 4 * 3);
	CHECK_EQ(s.dropped_keys, STATS_KEYS - STATS_KEYS / 4 * 3);
	CHECK_EQ(s.exits[EXIT_REASON_EPT_VIOLATION], STATS_KEYS);
	e.guest_phys = 8;
	stats_record(&s, &e, 1, NULL, 0); /* a key already in still counts */
	CHECK_EQ(stats_key_get(&s, STATS_MMIO, 8, false)->time.count, 2);
	stats_free(&s);
}

static void test_cost_model(void)
{
	struct vm_exit e = { .reason = EXIT_REASON_CPUID };
	struct stats s;

	CHECK_EQ(stats_model_cycles(&e), 250 + 100);
	e.reason = EXIT_REASON_IO_INSTRUCTION;
	CHECK_EQ(stats_model_cycles(&e), 250 + 3000);
	e.reason = EXIT_REASON_EPT_VIOLATION;
	CHECK_EQ(stats_model_cycles(&e), 250 + 3000 + 1500);
	e.mmio.valid = true;
	CHECK_EQ(stats_model_cycles(&e), 250 + 3000);
	e.reason = EXIT_REASON_HLT;
	CHECK_EQ(stats_model_cycles(&e), 250 + 200);
	e.reason = EXIT_REASON_XSAVES; /* no entry: the default handler cost */
	CHECK_EQ(stats_model_cycles(&e), 250 + 500);
	e.reason = EXIT_REASON_FAILED_VMENTRY | EXIT_REASON_INVALID_STATE;
	CHECK_EQ(stats_model_cycles(&e), 250);
	e.reason = 0xffff;
	CHECK_EQ(stats_model_cycles(&e), 250);
	/* Every exit's cycles land in its reason's total. */
	CHECK_EQ(stats_init(&s), 0);
	e = (struct vm_exit){ .reason = EXIT_REASON_CPUID };
	stats_record(&s, &e, 0, NULL, 0);
	stats_record(&s, &e, 0, NULL, 0);
	CHECK_EQ(stats_reason_cycles(&s, EXIT_REASON_CPUID), 700);
	/* The same sums as exit by exit: a decoded EPT violation, one KVM decoded, a failed entry
	   and an unknown reason (both in the last slot). */
	e = (struct vm_exit){ .reason = EXIT_REASON_EPT_VIOLATION };
	stats_record(&s, &e, 0, NULL, 0);
	e.mmio.valid = true;
	stats_record(&s, &e, 0, NULL, 0);
	CHECK_EQ(stats_reason_cycles(&s, EXIT_REASON_EPT_VIOLATION), 2 * (250 + 3000) + 1500);
	e = (struct vm_exit){ .reason = EXIT_REASON_FAILED_VMENTRY | EXIT_REASON_INVALID_STATE };
	stats_record(&s, &e, 0, NULL, 0);
	e.reason = 0xffff;
	stats_record(&s, &e, 0, NULL, 0);
	CHECK_EQ(stats_reason_cycles(&s, EXIT_REASON_MAX), 2 * 250);
	CHECK_EQ(stats_reason_cycles(&s, EXIT_REASON_INVALID_STATE), 0);
	stats_free(&s);
}

static char *print_to_string(const struct stats *s, u64 ur, u64 uw, bool json)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	if (!f)
		return NULL;
	if (json)
		CHECK_EQ(stats_write_json(s, f, ur, uw), 0);
	else
		stats_print(s, f, ur, uw);
	fclose(f);
	return buf;
}

/*
 * Sampled timing (--stats-sample): stats_time_this picks one exit in N at random, never a
 * fixed stride; untimed exits count everywhere but in the times and the histogram; a row's
 * time is its timed exits' scaled by count/timed, exactly the sum when every exit is timed.
 */
static void test_sampling(void)
{
	struct stats s;
	struct vm_exit e = { .reason = EXIT_REASON_CPUID };
	unsigned picked = 0, run = 0, longest = 0, first = 0;
	char *out;

	CHECK_EQ(stats_init(&s), 0);
	CHECK_EQ(s.sample_mask, STATS_SAMPLE_DEFAULT - 1);
	CHECK_EQ(stats_set_sample(&s, 0), -EINVAL);
	CHECK_EQ(stats_set_sample(&s, 3), -EINVAL);
	CHECK_EQ(stats_set_sample(&s, STATS_SAMPLE_MAX * 2), -EINVAL);
	CHECK_EQ(s.sample_mask, STATS_SAMPLE_DEFAULT - 1); /* refused: unchanged */
	for (int i = 0; i < 16000; i++) {
		bool t = stats_time_this(&s, EXIT_REASON_CPUID);

		if (i < STATS_SAMPLE_FIRST)
			first += t;
		picked += t;
		run = t ? 0 : run + 1;
		longest = run > longest ? run : longest;
		stats_note_cpuid(&s, (u32)i & 1);
		stats_record(&s, &e, t ? 100 : STATS_UNTIMED, NULL, 0);
	}
	CHECK_EQ(first, STATS_SAMPLE_FIRST); /* a reason's first exits are all timed */
	CHECK(picked > 800 && picked < 1200); /* 1000 expected */
	CHECK(longest > 16);                  /* not every 16th */
	CHECK_EQ(s.exits[EXIT_REASON_CPUID], 16000);
	CHECK_EQ(s.time[EXIT_REASON_CPUID].count, 16000);
	CHECK_EQ(s.time[EXIT_REASON_CPUID].timed, picked);
	CHECK_EQ(s.hist[EXIT_REASON_CPUID][7], picked); /* 100 ns: [64, 128) */
	CHECK_EQ(stats_key_get(&s, STATS_CPUID, 0, false)->time.count, 8000);
	CHECK_EQ(stats_key_get(&s, STATS_CPUID, 0, false)->time.timed +
			 stats_key_get(&s, STATS_CPUID, 1, false)->time.timed,
		 picked);
	CHECK(s.pending_key == NULL && !s.pending_time_valid);
	/* The record before the note: an untimed exit gives its key no time. */
	stats_record(&s, &e, STATS_UNTIMED, NULL, 0);
	stats_note_cpuid(&s, 7);
	CHECK_EQ(stats_key_get(&s, STATS_CPUID, 7, false)->time.count, 1);
	CHECK_EQ(stats_key_get(&s, STATS_CPUID, 7, false)->time.timed, 0);
	out = print_to_string(&s, 0, 0, true);
	CHECK(out && json_valid(out));
	/* 16001 exits, each of the timed 100 ns: 1600100 ns in all. */
	if (out) {
		CHECK(strstr(out, "\"total\": {\"samples\": 16001, \"time_ns\": 1600100,"));
		CHECK(strstr(out, "\"leaf\": 7, \"name\": \"0x7\", \"samples\": 1, \"timed\": 0, "
				  "\"time_ns\": 0,"));
	}
	free(out);
	/* Every exit with a period of 1, or while a trace is open. */
	CHECK_EQ(stats_set_sample(&s, 1), 0);
	for (int i = 0; i < 100; i++)
		CHECK(stats_time_this(&s, EXIT_REASON_CPUID));
	CHECK_EQ(stats_set_sample(&s, 1024), 0);
	s.trace = stdout;
	for (int i = 0; i < 100; i++)
		CHECK(stats_time_this(&s, EXIT_REASON_CPUID));
	s.trace = NULL;
	/* Another reason starts with its own first exits timed. */
	for (int i = 0; i < STATS_SAMPLE_FIRST; i++) {
		CHECK(stats_time_this(&s, EXIT_REASON_XSETBV));
		e.reason = EXIT_REASON_XSETBV;
		stats_record(&s, &e, 100, NULL, 0);
	}
	picked = 0;
	for (int i = 0; i < 1000; i++)
		picked += stats_time_this(&s, EXIT_REASON_XSETBV);
	CHECK(picked < 20); /* 1 in 1024 now */
	stats_free(&s);
}

static void test_table(void)
{
	struct stats s;
	struct vm_exit e = { .reason = EXIT_REASON_HLT };
	char *out;

	CHECK_EQ(stats_init(&s), 0);
	stats_record(&s, &e, 1000, NULL, 0);
	stats_record(&s, &e, 3000, NULL, 0);
	for (int i = 0; i < 3; i++) {
		e = io_exit(0x3f8, false);
		stats_record(&s, &e, 1000, NULL, 0);
	}
	stats_note_msr(&s, 0x10, false);
	e = (struct vm_exit){ .reason = EXIT_REASON_MSR_READ };
	stats_record(&s, &e, 1000, NULL, 0);
	e = (struct vm_exit){ .reason = EXIT_REASON_EPT_VIOLATION,
			      .qual = BIT(1),
			      .guest_phys = 0xfee00030 };
	stats_record(&s, &e, 1000, NULL, 0);
	e = (struct vm_exit){ .reason = EXIT_REASON_FAILED_VMENTRY | EXIT_REASON_INVALID_STATE };
	stats_record(&s, &e, 1000, NULL, 0);
	out = print_to_string(&s, 1, 2, false);
	CHECK(out != NULL);
	if (!out)
		return;
	CHECK(strstr(out,
		     "Analyze events for all VMs, all VCPUs:\n\n             VM-EXIT    Samples"
		     "  Samples%     Time%    Min Time    Max Time         Avg time "));
	/* perf kvm stat's row; mean 2 us, stddev of the mean 1 us: +- 50%; 2 x (250 + 200). */
	CHECK(strstr(out, "\n                 HLT          2    25.00%    40.00%      1.00us      "
			  "3.00us      2.00us ( +-  50.00% )            900\n"));
	/* Sorted by samples: IO (3) before HLT (2) before MSR_READ (1). */
	CHECK(strstr(out, "IO_INSTRUCTION") < strstr(out, "HLT"));
	CHECK(strstr(out, "HLT") < strstr(out, "MSR_READ"));
	CHECK(strstr(out, "FAILED_VMENTRY/OTHER"));
	CHECK(strstr(out, "Total Samples:8, Total events handled time:10.00us.\n"));
	CHECK(strstr(out, "VM-ENTRY FAILURE"));
	CHECK(strstr(out, "       INVALID_STATE          1   100.00%"));
	CHECK(strstr(out, "      IO Port Access    Samples"));
	CHECK(strstr(out, "          0x3f8:POUT          3   100.00%   100.00%      1.00us"));
	CHECK(strstr(out, "         MMIO Access"));
	CHECK(strstr(out, "        0xfee00030:W          1"));
	CHECK(strstr(out, "          MSR Access"));
	CHECK(strstr(out, "              0x10:R          1"));
	CHECK(!strstr(out, "CPUID Leaf")); /* empty tables are left out */
	CHECK(strstr(out, "Unclaimed port reads: 1, writes: 2\n"));
	free(out);

	out = print_to_string(&s, 1, 2, true);
	CHECK(out && json_valid(out));
	if (out) {
		CHECK(strstr(out,
			     "{\"reason\": 12, \"name\": \"HLT\", \"samples\": 2, "
			     "\"timed\": 2, \"time_ns\": 4000, \"min_ns\": 1000, \"max_ns\": 3000, "
			     "\"avg_ns\": 2000.0, \"rel_stddev_pct\": 50.00, "
			     "\"model_cycles\": 900, \"hist_log2_ns\": [0, 0, 0, 0, 0, 0, 0, 0, "
			     "0, 0, 1, 0, 1]}"));
		CHECK(strstr(out, "{\"port\": 1016, \"name\": \"0x3f8:POUT\", \"dir\": \"out\", "
				  "\"samples\": 3"));
		CHECK(strstr(out, "{\"gpa\": 4276092976, \"name\": \"0xfee00030:W\", \"dir\": "
				  "\"write\""));
		CHECK(strstr(out, "{\"index\": 16, \"name\": \"0x10:R\", \"dir\": \"read\""));
		CHECK(strstr(out, "\"cpuid\": [\n  ]"));
		CHECK(strstr(out, "{\"reason\": 33, \"name\": \"INVALID_STATE\", \"samples\": 1}"));
		CHECK(strstr(out, "\"unclaimed_ports\": {\"reads\": 1, \"writes\": 2}"));
		CHECK(strstr(out, "\"total\": {\"samples\": 8, \"time_ns\": 10000"));
	}
	free(out);
	stats_free(&s);

	/* No exits at all: still a table and valid JSON. */
	CHECK_EQ(stats_init(&s), 0);
	out = print_to_string(&s, 0, 0, true);
	CHECK(out && json_valid(out));
	free(out);
	out = print_to_string(&s, 0, 0, false);
	CHECK(out && strstr(out, "Total Samples:0,"));
	free(out);
	stats_free(&s);
}

static void test_trace(void)
{
	static const u8 cpuid[] = { 0x0f, 0xa2 }, out_al[] = { 0xe6, 0xf4 }, bad[] = { 0x0f };
	struct stats s;
	struct vm_exit e;
	char *buf = NULL;
	size_t len = 0;
	FILE *f;

	CHECK_EQ(stats_init(&s), 0);
	CHECK(!stats_tracing(&s));
	f = open_memstream(&buf, &len);
	CHECK(f != NULL);
	if (!f)
		return;
	stats_trace_start(&s, f, STATS_TRACE_LIMIT_DEFAULT);
	CHECK(stats_tracing(&s));
	stats_note_cpuid(&s, 0xd);
	e = (struct vm_exit){ .reason = EXIT_REASON_CPUID, .insn_len = 2, .rip = 0x101000 };
	stats_record(&s, &e, 1500, cpuid, sizeof(cpuid));
	e = io_exit(0xf4, false);
	e.rip = 0x101002;
	stats_record(&s, &e, 2500, out_al, sizeof(out_al));
	e = (struct vm_exit){ .reason = EXIT_REASON_HLT, .rip = 0x101004 };
	stats_record(&s, &e, 10, bad, sizeof(bad)); /* does not decode: no "insn" */
	e = (struct vm_exit){ .reason = EXIT_REASON_TRIPLE_FAULT };
	stats_record(&s, &e, 10, NULL, 0);
	CHECK_EQ(s.trace_events, 4);
	CHECK_EQ(stats_trace_finish(&s), 0);
	CHECK(!stats_tracing(&s));
	CHECK(buf && json_valid(buf));
	if (buf) {
		CHECK(!strncmp(buf, "{\"displayTimeUnit\": \"ns\", \"traceEvents\": [", 42));
		CHECK_EQ(count_substr(buf, "\"ph\": \"X\""), 4);
		CHECK(strstr(buf, "\"name\": \"CPUID\", \"cat\": \"vmexit\", \"ph\": \"X\""));
		CHECK(strstr(buf, "\"dur\": 1.500,"));
		CHECK(strstr(buf, "\"dur\": 2.500,"));
		CHECK(strstr(buf, "\"rip\": \"0x101000\""));
		CHECK(strstr(buf, "\"leaf\": \"0xd\""));
		CHECK(strstr(buf, "\"insn\": \"cpuid\""));
		CHECK(strstr(buf, "\"port\": \"0xf4\", \"write\": true"));
		CHECK(strstr(buf, "\"insn\": \"out 0xF4, al\""));
		CHECK_EQ(count_substr(buf, "\"insn\""), 2);
	}
	free(buf);
	stats_free(&s);

	/* An empty trace is valid JSON too. */
	buf = NULL;
	CHECK_EQ(stats_init(&s), 0);
	f = open_memstream(&buf, &len);
	if (f) {
		stats_trace_start(&s, f, STATS_TRACE_LIMIT_DEFAULT);
		stats_free(&s); /* finishes the trace */
		CHECK(buf && json_valid(buf));
		CHECK_EQ(count_substr(buf, "\"ph\""), 0);
	}
	free(buf);

	/* At the size limit the trace stops with one note, stays valid JSON and within the limit;
	   the counting goes on. */
	buf = NULL;
	CHECK_EQ(stats_init(&s), 0);
	f = open_memstream(&buf, &len);
	if (f) {
		stats_trace_start(&s, f, STATS_TRACE_LIMIT_MIN);
		e = io_exit(0x3f8, false);
		for (int i = 0; i < 1000; i++)
			stats_record(&s, &e, 1, out_al, sizeof(out_al));
		CHECK(s.trace_full);
		CHECK(!stats_tracing(&s));
		CHECK(s.trace_events > 5 && s.trace_events < 1000);
		CHECK_EQ(s.exits[EXIT_REASON_IO_INSTRUCTION], 1000);
		CHECK_EQ(stats_trace_finish(&s), 0);
		CHECK(buf && json_valid(buf));
		CHECK(len <= STATS_TRACE_LIMIT_MIN);
		CHECK_EQ(count_substr(buf, "\"ph\": \"X\""), s.trace_events);
		CHECK_EQ(count_substr(buf, "\"name\": \"trace limit reached\""), 1);
		CHECK(strstr(buf, "\"limit_bytes\": 4096"));
		stats_free(&s);
	}
	free(buf);

	/* A trace that cannot be written stops; the counting goes on. */
	f = fopen("/dev/full", "w");
	if (f) {
		CHECK_EQ(stats_init(&s), 0);
		setvbuf(f, NULL, _IONBF, 0);
		stats_trace_start(&s, f, STATS_TRACE_LIMIT_DEFAULT);
		e = io_exit(0x3f8, false);
		for (int i = 0; i < 3; i++)
			stats_record(&s, &e, 1, NULL, 0);
		CHECK(!stats_tracing(&s));
		CHECK_EQ(s.exits[EXIT_REASON_IO_INSTRUCTION], 3);
		CHECK(stats_trace_finish(&s) < 0);
		stats_free(&s);
	}
}

/*
 * The ns-to-TSC map while the clock calibrates (stats_tsc_at_ns): nothing waits the 20 ms, a
 * map is there from a provisional rate, and each change of the map moves the generation, so
 * the soft CPU's cached deadlines convert again. The provisional map agrees with the final one
 * within 1% of the distance it extrapolates (its measured error is about 1e-5, loaded or not).
 * Runs first: the process is young, so the calibration is still on.
 */
static void test_tsc_map(void)
{
	u64 start = __builtin_ia32_rdtsc();

	stats_clock_start();
	if (!stats_tsc_invariant()) {
		printf("test_stats: skipping the TSC map: this host's TSC is not invariant\n");
		return;
	}
	/* A second ahead: past the calibration's end however late a loaded host lets it come
	   (before its base the final map answers its base, a deadline already due). */
	u64 base = stats_now_ns(), ns = base + 1000000000ull;
	unsigned gen0 = stats_tsc_generation;
	u64 prov = stats_tsc_at_ns(ns), now = __builtin_ia32_rdtsc();

	CHECK(prov > now);
	CHECK(stats_tsc_generation != gen0);
	CHECK_EQ(stats_tsc_at_ns(ns), prov); /* measured once */
	unsigned gen1 = stats_tsc_generation;
	u64 hz = stats_tsc_hz(), final = stats_tsc_at_ns(ns);

	CHECK(hz > 0);
	CHECK(stats_tsc_generation != gen1);
	/* A rate's error grows with the distance from where it was measured, the calibration's
	   start (about `start`). */
	CHECK((prov > final ? prov - final : final - prov) <= (final - start) / 100 + 1);
	/* The final map inverts the clock: once the TSC reaches the value for 1 ms ahead, the
	   clock reads at least that. */
	u64 soon = stats_now_ns() + 1000000ull, at = stats_tsc_at_ns(soon);

	while (__builtin_ia32_rdtsc() < at)
		;
	CHECK(stats_now_ns() >= soon);
}

/* The clock (stats_now_ns): never goes back, through its switch from clock_gettime to the TSC
   after the calibration, and stays within a millisecond of CLOCK_MONOTONIC 60 ms on. */
static void test_clock(void)
{
	struct timespec ts;
	u64 prev = stats_now_ns(), start = prev, now = prev, backwards = 0, mono;

	while (now - start < 60000000ull) {
		now = stats_now_ns();
		backwards += now < prev;
		prev = now;
	}
	CHECK_EQ(backwards, 0);
	/* The closest of a few back-to-back pairs: a preemption between the two reads is the
	   host's, not the clock's error. */
	u64 diff = UINT64_MAX;
	for (int i = 0; i < 20; i++) {
		now = stats_now_ns();
		clock_gettime(CLOCK_MONOTONIC, &ts);
		mono = (u64)ts.tv_sec * 1000000000ull + (u64)ts.tv_nsec;
		if ((now > mono ? now - mono : mono - now) < diff)
			diff = now > mono ? now - mono : mono - now;
	}
	CHECK(diff <= 1000000);
}

int main(void)
{
	test_tsc_map();
	test_clock();
	test_json_checker();
	test_counting();
	test_key_table_full();
	test_cost_model();
	test_sampling();
	test_table();
	test_trace();
	return check_done("test_stats");
}
