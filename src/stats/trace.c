// SPDX-License-Identifier: MIT
/*
 * --trace: every exit as a Chrome trace-event "complete" event ({"ph": "X"}, ts and dur in
 * microseconds), streamed through stdio's buffer; the file opens in Perfetto and
 * chrome://tracing. A failed write stops the trace, never the guest.
 */
#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include <Zydis/Zydis.h>

#include "stats/stats.h"

/* After a write: remember the errno of the first failure (ENOSPC, EFBIG, ...) to report it. */
static void stats_trace_check(struct stats *s)
{
	if (!s->trace_error && ferror(s->trace))
		s->trace_error = errno ? errno : EIO;
}

void stats_trace_start(struct stats *s, FILE *f)
{
	s->trace = f;
	s->trace_t0_ns = stats_now_ns();
	s->trace_events = 0;
	s->trace_error = 0;
	fputs("{\"displayTimeUnit\": \"ns\", \"traceEvents\": [", f);
	stats_trace_check(s);
}

int stats_trace_finish(struct stats *s)
{
	int err = 0;

	if (!s->trace)
		return 0;
	errno = 0;
	fputs("\n]}\n", s->trace);
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

/* A JSON string body: quotes, backslashes and control characters escaped. */
static void stats_json_string(FILE *f, const char *str)
{
	for (; *str; str++) {
		unsigned char c = (unsigned char)*str;

		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c < 0x20 || c >= 0x7f)
			fprintf(f, "\\u%04x", c);
		else
			fputc(c, f);
	}
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
	FILE *f = s->trace;
	u64 now = stats_now_ns(), start = now - s->trace_t0_ns;
	char text[96];

	/* The exit began exit_ns before it was recorded (the handler ran in between). */
	start = start > exit_ns ? start - exit_ns : 0;
	fprintf(f,
		"%s\n{\"name\": \"%s\", \"cat\": \"%s\", \"ph\": \"X\", \"pid\": 1, \"tid\": 0, "
		"\"ts\": %" PRIu64 ".%03u, \"dur\": %" PRIu64 ".%03u, \"args\": {\"reason\": %u, "
		"\"qual\": \"0x%" PRIx64 "\", \"rip\": \"0x%" PRIx64
		"\", \"guest_linear\": \"0x%" PRIx64 "\", \"guest_phys\": \"0x%" PRIx64 "\"",
		s->trace_events ? "," : "", exit_reason_name(exit->reason),
		exit->reason & EXIT_REASON_FAILED_VMENTRY ? "vmentry_failure" : "vmexit",
		start / 1000, (unsigned)(start % 1000), exit_ns / 1000, (unsigned)(exit_ns % 1000),
		exit->reason, exit->qual, exit->rip, exit->guest_linear, exit->guest_phys);
	if (key)
		fprintf(f, ", \"%s\": \"0x%" PRIx64 "\"%s", key_names[key->kind], key->value,
			key->kind == STATS_CPUID ? ""
			: key->write		 ? ", \"write\": true"
						 : ", \"write\": false");
	if (stats_disassemble(exit->rip, insn, insn_len, text, sizeof(text))) {
		fputs(", \"insn\": \"", f);
		stats_json_string(f, text);
		fputc('"', f);
	}
	fputs("}}", f);
	s->trace_events++;
	stats_trace_check(s);
}
