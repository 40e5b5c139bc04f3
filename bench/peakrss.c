// SPDX-License-Identifier: MIT
/*
 * peakrss FILE CMD [ARG...]: run CMD and write its peak resident set (KiB, wait4's ru_maxrss)
 * to FILE; exit with CMD's status (128 + signal when it was killed).
 *
 * Why a program of its own: Linux counts in ru_maxrss the memory of the process before it called
 * exec, so a command forked from the benchmark's Python reports at least Python's own RSS (about
 * 14 MiB). Forked from this small program, the floor is this program's RSS (about 1 MiB).
 * bench/bench.py builds it (cc) into its output directory.
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	struct rusage ru;
	int status;
	pid_t pid;
	FILE *f;

	if (argc < 3) {
		fprintf(stderr, "usage: peakrss FILE CMD [ARG...]\n");
		return 2;
	}
	pid = fork();
	if (pid < 0) {
		perror("peakrss: fork");
		return 2;
	}
	if (pid == 0) {
		execvp(argv[2], argv + 2);
		perror("peakrss: exec");
		_exit(127);
	}
	if (wait4(pid, &status, 0, &ru) < 0) {
		perror("peakrss: wait4");
		return 2;
	}
	f = fopen(argv[1], "w");
	if (!f || fprintf(f, "%ld\n", ru.ru_maxrss) < 0 || fclose(f)) {
		perror("peakrss: write");
		return 2;
	}
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}
