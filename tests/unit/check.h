/* SPDX-License-Identifier: MIT */
/*
 * The unit-test harness: one program per module (tests/unit/test_<module>.c), linked with the
 * tollbooth library. CHECK* record a pass or a failure (with file:line and values); the program
 * ends with check_done(), which prints "<name>: N passed, M failed" and returns the exit status.
 * `make check` adds the lines of all programs into the suite's closing line.
 */
#pragma once
#include <inttypes.h>
#include <stdio.h>

static unsigned check_passed, check_failed;

#define CHECK(cond)                                                                              \
	do {                                                                                     \
		if (cond) {                                                                      \
			check_passed++;                                                          \
		} else {                                                                         \
			check_failed++;                                                          \
			fprintf(stderr, "FAIL %s:%d: %s\n", __FILE__, __LINE__, #cond);          \
		}                                                                                \
	} while (0)

#define CHECK_EQ(got, want)                                                                      \
	do {                                                                                     \
		uint64_t g_ = (uint64_t)(got), w_ = (uint64_t)(want);                            \
		if (g_ == w_) {                                                                  \
			check_passed++;                                                          \
		} else {                                                                         \
			check_failed++;                                                          \
			fprintf(stderr, "FAIL %s:%d: %s == %#" PRIx64 ", want %s == %#" PRIx64 "\n", \
				__FILE__, __LINE__, #got, g_, #want, w_);                        \
		}                                                                                \
	} while (0)

static inline int check_done(const char *name)
{
	printf("%s: %u passed, %u failed\n", name, check_passed, check_failed);
	return check_failed ? 1 : 0;
}
