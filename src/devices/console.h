/* SPDX-License-Identifier: MIT */
/*
 * The host terminal behind the serial port (one per process). Output is buffered and flushed at
 * each newline, before input is polled, and at exit. Input is read without blocking; when stdin
 * is a terminal it is put in a raw-ish mode (no echo, no line editing, signals kept so Ctrl-C
 * still ends the run) and restored at exit, and Ctrl-A x quits as in QEMU (Ctrl-A Ctrl-A sends
 * a Ctrl-A to the guest).
 */
#pragma once
#include "common.h"

/* on_quit is called when the user types Ctrl-A x. */
void console_open(void (*on_quit)(void *opaque), void *opaque);
void console_close(void); /* flush, restore the terminal; idempotent */
/*
 * A signal handler's way out: flush, leave the terminal as we found it, then die of `sig` with
 * its default action. Installed for SIGQUIT by console_open().
 */
void console_die_of_signal(int sig);
/* The terminal's mode as console_open found it (tcsetattr alone: async-signal-safe). */
void console_restore_terminal(void);

void console_write_byte(void *opaque, u8 byte);
/* Up to max bytes of pending input, 0 when there is none; never blocks. */
size_t console_read_bytes(void *opaque, u8 *buf, size_t max);
void console_flush(void);
/* Standard input reached its end (a file or /dev/null read to EOF): no more input will come. */
bool console_input_ended(void);
