/* SPDX-License-Identifier: MIT */
/*
 * The sandbox (issue 18, docs/security.md): once setup is done (the image read, every file, TAP
 * and output opened, the backend's fds and vCPUs created, the terminal set up), the VMM process
 * runs under a seccomp-bpf filter that allows only the system calls the run loop, the devices
 * and the telemetry make from then on, to the run's end and exit. Any other call stops the
 * process: one line on stderr naming the call, exit status 4 (EXIT_STATUS_STOPPED).
 */
#pragma once
#include <stddef.h>

#include "common.h"

struct sandbox_config {
	/*
	 * The kvm backend: its ioctls (type KVMIO, 0xAE, on the VM, vCPU and stats fds) and the
	 * vCPU thread's calls (futex, the kick's tgkill) are allowed too. The soft backend makes
	 * no ioctl but the terminal's.
	 */
	bool kvm;
	/*
	 * Called by the stop, in the SIGSYS handler, before the line: async-signal-safe only
	 * (console_restore_terminal: the terminal back out of raw mode). NULL: nothing.
	 */
	void (*on_stop)(void);
};

/*
 * Load the filter on every thread of the process (the kvm vCPU threads too): 0, or a negative
 * errno with `why` saying what failed (the caller's one line). Once only: a filter is never
 * lifted, so every later system call of the process is checked.
 */
int sandbox_enter(const struct sandbox_config *c, char *why, size_t len);

/* The exit status and the start of the line of a stopped call, for tests. */
#define SANDBOX_STOP_STATUS 4
#define SANDBOX_STOP_LINE   "tollbooth: sandbox: the VMM made system call "
