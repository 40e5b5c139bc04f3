// SPDX-License-Identifier: MIT
/*
 * Replay without libFuzzer: `replay_<target> FILE|DIR...` runs LLVMFuzzerTestOneInput on the
 * empty input and then on every file given or found (not recursively) in each directory, in name
 * order. Linked with a target built by gcc and the sanitizers, `make check` replays the
 * committed corpora through it, so a regression a corpus file records is caught without clang.
 * Each input's path goes to stderr before it runs, so a failure names its input. A failed check
 * aborts (FUZZ_ASSERT, or a sanitizer's report); otherwise one line at the end.
 */
#include <dirent.h>
#include <errno.h>
#include <sys/stat.h>

#include "fuzz.h"

static unsigned replayed;

static void replay_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	u8 *buf = NULL;
	size_t size = 0, cap = 0, n;

	fprintf(stderr, "replaying %s\n", path);
	if (!f) {
		fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
		exit(2);
	}
	do {
		if (size == cap) {
			cap = cap ? 2 * cap : 4096;
			buf = realloc(buf, cap);
			if (!buf)
				abort();
		}
		n = fread(buf + size, 1, cap - size, f);
		size += n;
	} while (n);
	fclose(f);
	/* An exactly sized copy: ASan then sees a read one byte past the input. */
	u8 *input = malloc(size ? size : 1);
	if (!input)
		abort();
	memcpy(input, buf, size);
	free(buf);
	LLVMFuzzerTestOneInput(input, size);
	free(input);
	replayed++;
}

static int by_name(const struct dirent **a, const struct dirent **b)
{
	return strcmp((*a)->d_name, (*b)->d_name);
}

static void replay_dir(const char *dir)
{
	struct dirent **names;
	int n = scandir(dir, &names, NULL, by_name);

	if (n < 0) {
		fprintf(stderr, "replay: %s: %s\n", dir, strerror(errno));
		exit(2);
	}
	for (int i = 0; i < n; i++) {
		char path[4096];
		struct stat st;

		snprintf(path, sizeof(path), "%s/%s", dir, names[i]->d_name);
		if (!stat(path, &st) && S_ISREG(st.st_mode))
			replay_file(path);
		free(names[i]);
	}
	free(names);
}

int main(int argc, char **argv)
{
	const char *name = strrchr(argv[0], '/') ? strrchr(argv[0], '/') + 1 : argv[0];

	LLVMFuzzerTestOneInput((const u8 *)"", 0);
	for (int i = 1; i < argc; i++) {
		struct stat st;

		if (!stat(argv[i], &st) && S_ISDIR(st.st_mode))
			replay_dir(argv[i]);
		else
			replay_file(argv[i]);
	}
	printf("%s: replayed %u inputs\n", name, replayed);
	return 0;
}
