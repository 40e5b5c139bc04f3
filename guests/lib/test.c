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
