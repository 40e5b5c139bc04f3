/* SPDX-License-Identifier: MIT */
/*
 * What every fuzz target shares (tests/fuzz/README.md). A target is one file fuzz_<name>.c that
 * defines LLVMFuzzerTestOneInput. The same file links with libFuzzer (clang, `make fuzz`) or with
 * replay.c (gcc and the sanitizers, `make check`, which replays the committed corpus).
 *
 * A target asserts its properties with FUZZ_ASSERT: a violation prints what was expected and
 * aborts, which libFuzzer (and the replay) report as a crash with the input that caused it.
 */
#pragma once
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"

int LLVMFuzzerTestOneInput(const u8 *data, size_t size);

#define FUZZ_ASSERT(cond, ...)                                                                     \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "fuzz: %s:%d: assertion '%s' failed: ", __FILE__,          \
				__LINE__, #cond);                                                  \
			fprintf(stderr, __VA_ARGS__);                                              \
			fputc('\n', stderr);                                                       \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

/* The input as a stream of fields; past its end every field reads as 0. */
struct fuzz_input {
	const u8 *p;
	size_t n;
};

static inline bool fuzz_empty(const struct fuzz_input *in)
{
	return !in->n;
}

static inline u8 fuzz_u8(struct fuzz_input *in)
{
	u8 v = 0;

	if (in->n) {
		v = *in->p++;
		in->n--;
	}
	return v;
}

/* `bytes` (at most 8) little-endian bytes. */
static inline u64 fuzz_uint(struct fuzz_input *in, unsigned bytes)
{
	u64 v = 0;

	for (unsigned i = 0; i < bytes; i++)
		v |= (u64)fuzz_u8(in) << (8 * i);
	return v;
}
