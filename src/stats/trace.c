// SPDX-License-Identifier: MIT
/*
 * --trace: every exit as a Chrome trace-event "complete" event ({"ph": "X"}, ts and dur in
 * microseconds), streamed through stdio's buffer; the file opens in Perfetto and
 * chrome://tracing. A failed write stops the trace, never the guest. The file never grows past
 * --trace-limit: the event that would cross it is replaced by one instant event saying so, and
 * the closing "]}" always fits, so the file stays valid JSON.
 */
#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include <Zydis/Zydis.h>

#include "stats/stats.h"

static const char trace_head[] = "{\"displayTimeUnit\": \"ns\", \"traceEvents\": [";
static const char trace_tail[] = "\n]}\n";

/*
 * Bytes kept free below the limit for the "trace limit reached" event and the tail: the event
 * is about 190 bytes with the largest numbers.
 */
#define TRACE_RESERVE 256

/* After a write: remember the errno of the first failure (ENOSPC, EFBIG, ...) to report it. */
static void stats_trace_check(struct stats *s)
{
	if (!s->trace_error && ferror(s->trace))
		s->trace_error = errno ? errno : EIO;
}

/* Write `len` bytes of `text` and count them. */
static void stats_trace_put(struct stats *s, const char *text, size_t len)
{
	fwrite(text, 1, len, s->trace);
	s->trace_bytes += len;
	stats_trace_check(s);
}

void stats_trace_start(struct stats *s, FILE *f, u64 limit)
{
	s->trace = f;
	s->trace_t0_ns = stats_now_ns();
	s->trace_events = 0;
	s->trace_error = 0;
	s->trace_bytes = 0;
	s->trace_limit = limit < STATS_TRACE_LIMIT_MIN ? STATS_TRACE_LIMIT_MIN : limit;
	s->trace_full = false;
	stats_trace_put(s, trace_head, sizeof(trace_head) - 1);
}

int stats_trace_finish(struct stats *s)
{
	int err;

	if (!s->trace)
		return 0;
	errno = 0;
	stats_trace_put(s, trace_tail, sizeof(trace_tail) - 1);
	fflush(s->trace);
	stats_trace_check(s);
	err = -s->trace_error;
	if (fclose(s->trace) && !err)
		err = -errno;
	s->trace = NULL;
	return err;
}

/* The instruction at RIP, Intel syntax, 64-bit mode; false when the bytes do not decode. */
static bool stats_disassemble(u64 rip, const u8 *insn, unsigned len, char *out, size_t size)
{
	ZydisDisassembledInstruction d;

	if (!insn || !len ||
	    !ZYAN_SUCCESS(ZydisDisassembleIntel(ZYDIS_MACHINE_MODE_LONG_64, rip, insn, len, &d)))
		return false;
	snprintf(out, size, "%s", d.text);
	return true;
}

/* A JSON string body into out[size]: quotes, backslashes and control characters escaped. */
static size_t stats_json_string(char *out, size_t size, const char *str)
{
	size_t n = 0;

	for (; *str && n + 7 < size; str++) {
		unsigned char c = (unsigned char)*str;

		if (c == '"' || c == '\\')
			n += (size_t)snprintf(out + n, size - n, "\\%c", c);
		else if (c < 0x20 || c >= 0x7f)
			n += (size_t)snprintf(out + n, size - n, "\\u%04x", c);
		else
			out[n++] = (char)c;
	}
	out[n] = 0;
	return n;
}

/* The trace is full: one instant event says where and why it ends (Chrome's "ph": "i"). */
static void stats_trace_stop_full(struct stats *s, u64 ts_ns)
{
	char ev[TRACE_RESERVE];
	int n;

	n = snprintf(
		ev, sizeof(ev),
		"%s\n{\"name\": \"trace limit reached\", \"cat\": \"tollbooth\", \"ph\": \"i\", "
		"\"s\": \"g\", \"pid\": 1, \"tid\": 0, \"ts\": %" PRIu64 ".%03u, \"args\": "
		"{\"limit_bytes\": %" PRIu64 ", \"exits_traced\": %" PRIu64 "}}",
		s->trace_events ? "," : "", ts_ns / 1000, (unsigned)(ts_ns % 1000), s->trace_limit,
		s->trace_events);
	stats_trace_put(s, ev, (size_t)n);
	s->trace_full = true;
}

void stats_trace_exit(struct stats *s, const struct vm_exit *exit, const struct stats_key *key,
		      u64 exit_ns, const u8 *insn, unsigned insn_len)
{
	static const char *const key_names[STATS_KINDS] = {
		[STATS_IO] = "port",
		[STATS_MMIO] = "gpa",
		[STATS_MSR] = "msr",
		[STATS_CPUID] = "leaf",
	};
	u64 now = stats_now_ns(), start = now - s->trace_t0_ns;
	char ev[1024], text[96];
	size_t n;

	/* The exit began exit_ns before it was recorded (the handler ran in between). */
	start = start > exit_ns ? start - exit_ns : 0;
	n = (size_t)snprintf(
		ev, sizeof(ev),
		"%s\n{\"name\": \"%s\", \"cat\": \"%s\", \"ph\": \"X\", \"pid\": 1, \"tid\": 0, "
		"\"ts\": %" PRIu64 ".%03u, \"dur\": %" PRIu64 ".%03u, \"args\": {\"reason\": %u, "
		"\"qual\": \"0x%" PRIx64 "\", \"rip\": \"0x%" PRIx64
		"\", \"guest_linear\": \"0x%" PRIx64 "\", \"guest_phys\": \"0x%" PRIx64 "\"",
		s->trace_events ? "," : "", exit_reason_name(exit->reason),
		exit->reason & EXIT_REASON_FAILED_VMENTRY ? "vmentry_failure" : "vmexit",
		start / 1000, (unsigned)(start % 1000), exit_ns / 1000, (unsigned)(exit_ns % 1000),
		exit->reason, exit->qual, exit->rip, exit->guest_linear, exit->guest_phys);
	if (key)
		n += (size_t)snprintf(ev + n, sizeof(ev) - n, ", \"%s\": \"0x%" PRIx64 "\"%s",
				      key_names[key->kind], key->value,
				      key->kind == STATS_CPUID ? ""
				      : key->write	       ? ", \"write\": true"
							       : ", \"write\": false");
	if (stats_disassemble(exit->rip, insn, insn_len, text, sizeof(text))) {
		/* 96 characters escaped are at most 576 bytes: the event stays below 1024. */
		n += (size_t)snprintf(ev + n, sizeof(ev) - n, ", \"insn\": \"");
		n += stats_json_string(ev + n, sizeof(ev) - n - 4, text);
		n += (size_t)snprintf(ev + n, sizeof(ev) - n, "\"");
	}
	n += (size_t)snprintf(ev + n, sizeof(ev) - n, "}}");
	if (s->trace_bytes + n + TRACE_RESERVE > s->trace_limit) {
		stats_trace_stop_full(s, start);
		return;
	}
	stats_trace_put(s, ev, n);
	s->trace_events++;
}
