// SPDX-License-Identifier: MIT
/*
 * The sandbox (vmm/sandbox.c): each case forks a child that enters it, makes calls it allows
 * (they work) and then one it does not; the parent checks that the child ended with status 4
 * and one line on stderr naming that call. The forbidden calls are outside the sanitizer build's
 * additions too, so the cases hold in every build mode.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "check.h"
#include "vmm/sandbox.h"

/* Written by a child on stderr once its allowed calls worked, before the forbidden one. */
#define ALLOWED_OK "allowed calls ok\n"

static void child_say(const char *s)
{
	(void)!write(STDERR_FILENO, s, strlen(s));
}

static void child_enter(bool kvm)
{
	struct sandbox_config c = { .kvm = kvm };
	char why[256];

	if (sandbox_enter(&c, why, sizeof(why))) {
		child_say(why);
		_exit(99);
	}
}

/* Run fn in a child whose stderr comes back in out: the child's exit status, or -1. */
static int run_child(void (*fn)(void), char *out, size_t len)
{
	int pipefd[2], status;
	size_t got = 0;
	ssize_t n;
	pid_t pid;

	if (pipe(pipefd))
		return -1;
	fflush(stdout);
	fflush(stderr);
	pid = fork();
	if (pid == 0) {
		close(pipefd[0]);
		dup2(pipefd[1], STDERR_FILENO);
		fn();
		_exit(0); /* fn's forbidden call returned: the sandbox let it through */
	}
	close(pipefd[1]);
	while (got + 1 < len && (n = read(pipefd[0], out + got, len - 1 - got)) > 0)
		got += (size_t)n;
	out[got] = 0;
	close(pipefd[0]);
	if (pid < 0 || waitpid(pid, &status, 0) != pid)
		return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* The child stopped after its allowed calls, with the one line naming `call`. */
static void check_stopped(void (*fn)(void), const char *call)
{
	char out[1024], want[128];
	int status = run_child(fn, out, sizeof(out));
	const char *line = strstr(out, SANDBOX_STOP_LINE), *nl = line ? strchr(line, '\n') : NULL;

	snprintf(want, sizeof(want), SANDBOX_STOP_LINE "%s", call);
	CHECK_EQ(status, SANDBOX_STOP_STATUS);
	CHECK(!strncmp(out, ALLOWED_OK, strlen(ALLOWED_OK)));
	CHECK(line && !strncmp(line, want, strlen(want)));
	CHECK(line && strstr(line, "--sandbox off") && nl && !nl[1]); /* one line, the last */
	if (status != SANDBOX_STOP_STATUS || !line || strncmp(line, want, strlen(want)))
		fprintf(stderr, "  (want '%s'; the child's stderr: %s)\n", call, out);
}

/* What a run does: memory, time, random bytes, the terminal's ioctls, a signal to itself. */
static void child_allowed_calls(void)
{
	struct timespec ts;
	struct termios t;
	char *p, rnd[16];
	int fd = open("/dev/null", O_RDWR);

	child_enter(false);
	p = malloc(1 << 20); /* mmap */
	memset(p, 1, 1 << 20);
	free(p);
	if (!clock_gettime(CLOCK_MONOTONIC, &ts) && syscall(SYS_getrandom, rnd, 16, 0) == 16 &&
	    syscall(SYS_getpid) == getpid() &&
	    tcgetattr(fd, &t) && errno == ENOTTY && /* reaches the kernel: not a terminal */
	    write(fd, "x", 1) == 1 && !raise(SIGWINCH) && !close(fd))
		child_say(ALLOWED_OK);
}

static void test_allowed(void)
{
	char out[512];

	CHECK_EQ(run_child(child_allowed_calls, out, sizeof(out)), 0);
	CHECK(!strcmp(out, ALLOWED_OK));
}

static void child_socket(void)
{
	child_enter(false);
	if (syscall(SYS_getpid) == getpid())
		child_say(ALLOWED_OK);
	syscall(SYS_socket, AF_INET, SOCK_STREAM, 0);
}

static void child_execve(void)
{
	static char *const argv[] = { "/bin/true", NULL };

	child_enter(false);
	child_say(ALLOWED_OK);
	syscall(SYS_execve, argv[0], argv, NULL);
}

/* New executable memory: malloc's mmap is allowed, PROT_EXEC is not. */
static void child_mmap_exec(void)
{
	void *p;

	child_enter(false);
	p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p != MAP_FAILED && !munmap(p, 4096))
		child_say(ALLOWED_OK);
	syscall(SYS_mmap, NULL, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
}

/* A signal to another process (init): tgkill is for this process's own threads. */
static void child_tgkill_other(void)
{
	child_enter(false);
	if (!syscall(SYS_tgkill, getpid(), syscall(SYS_gettid), 0))
		child_say(ALLOWED_OK);
	syscall(SYS_tgkill, 1, 1, 0);
}

static void test_forbidden_calls(void)
{
	check_stopped(child_socket, "socket (41)");
	check_stopped(child_execve, "execve (59)");
	check_stopped(child_mmap_exec, "mmap (9)");
	check_stopped(child_tgkill_other, "tgkill (234)");
}

/*
 * ioctl: the kvm backend's type (KVMIO, 0xAE) reaches the kernel (here on /dev/null: ENOTTY),
 * the soft backend's filter refuses it; a type that is neither KVM's nor a terminal's
 * (BLKGETSIZE64, 0x12) is refused on both.
 */
#define KVM_GET_API_VERSION_NR 0xae00ul
#define BLKGETSIZE64_NR	       0x80081272ul

static void child_kvm_ioctl_then_block_ioctl(void)
{
	int fd = open("/dev/null", O_RDONLY);

	child_enter(true);
	if (ioctl(fd, KVM_GET_API_VERSION_NR, 0) < 0 && errno == ENOTTY)
		child_say(ALLOWED_OK);
	ioctl(fd, BLKGETSIZE64_NR, 0);
}

static void child_soft_kvm_ioctl(void)
{
	int fd = open("/dev/null", O_RDONLY);

	child_enter(false);
	child_say(ALLOWED_OK);
	ioctl(fd, KVM_GET_API_VERSION_NR, 0);
}

static void test_ioctls(void)
{
	check_stopped(child_kvm_ioctl_then_block_ioctl, "ioctl (16) with request 0x80081272");
	check_stopped(child_soft_kvm_ioctl, "ioctl (16) with request 0xae00");
}

/* The filter covers threads that existed before it (the kvm backend's vCPU threads). */
static int thread_pipe[2];

static void *thread_socket(void *arg)
{
	char go;

	(void)arg;
	if (read(thread_pipe[0], &go, 1) == 1)
		syscall(SYS_socket, AF_UNIX, SOCK_STREAM, 0);
	return NULL;
}

static void child_thread_socket(void)
{
	pthread_t t;

	if (pipe(thread_pipe) || pthread_create(&t, NULL, thread_socket, NULL))
		_exit(98);
	child_enter(false);
	child_say(ALLOWED_OK);
	(void)!write(thread_pipe[1], "g", 1);
	pthread_join(t, NULL);
}

static void test_earlier_thread(void)
{
	check_stopped(child_thread_socket, "socket (41)");
}

int main(void)
{
	test_allowed();
	test_forbidden_calls();
	test_ioctls();
	test_earlier_thread();
	return check_done("test_sandbox");
}
