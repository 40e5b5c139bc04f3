// SPDX-License-Identifier: MIT
/*
 * The test reporter: "PASS <what>" / "FAIL <what>" / "SKIP <what>" per check, then a summary;
 * report() returns the exit code (0 when everything passed, so the process status is 1).
 */
#include "lib.h"

volatile ulong expected_ip;
static unsigned passed, failed, skipped;

bool check(bool cond, const char *fmt, ...)
{
	char buf[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	printf("%s %s\n", cond ? "PASS" : "FAIL", buf);
	if (cond)
		passed++;
	else
		failed++;
	return cond;
}

void skip(const char *fmt, ...)
{
	char buf[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	printf("SKIP %s\n", buf);
	skipped++;
}

int report(void)
{
	printf("SUMMARY: %u passed, %u failed, %u skipped\n", passed, failed, skipped);
	return failed || !(passed || skipped) ? 1 : 0;
}

u64 cmdline_u64(const char *key, u64 def)
{
	const struct mb_info *mb = (const struct mb_info *)mb_info;
	const char *start = (mb->flags & BIT(2)) ? (const char *)(ulong)mb->cmdline : NULL;
	size_t k = strlen(key);

	/* Words are space- or comma-separated (tests/guests.list passes no spaces); the first is the
	   image's name (multiboot 3.3). */
	for (const char *s = start; s && *s; s++) {
		if ((s != start && s[-1] != ' ' && s[-1] != ',') || memcmp(s, key, k) || s[k] != '=')
			continue;
		u64 v = 0;
		for (s += k + 1; *s >= '0' && *s <= '9'; s++)
			v = v * 10 + (u64)(*s - '0');
		return v;
	}
	return def;
}
