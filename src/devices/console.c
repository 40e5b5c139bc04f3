// SPDX-License-Identifier: MIT
/* The host terminal behind the serial port: see console.h. */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "devices/console.h"

#define CTRL_A 0x01

static struct {
	u8 out[4096];
	size_t out_len;
	bool open, raw, stdin_eof, escape, stdout_gone;
	struct termios saved;
	void (*on_quit)(void *opaque);
	void *opaque;
} con;

/*
 * stdout gone (EPIPE: its reader exited; main() ignores SIGPIPE for this) or failing: the guest's
 * output is dropped and the guest keeps running. After EPIPE nothing is written again.
 */
static void console_write_all(const u8 *p, size_t n)
{
	while (n && !con.stdout_gone) {
		ssize_t w = write(STDOUT_FILENO, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && errno == EPIPE)
			con.stdout_gone = true;
		if (w <= 0)
			return;
		p += w;
		n -= (size_t)w;
	}
}

void console_flush(void)
{
	console_write_all(con.out, con.out_len);
	con.out_len = 0;
}

void console_restore_terminal(void)
{
	if (con.raw) {
		tcsetattr(STDIN_FILENO, TCSANOW, &con.saved);
		con.raw = false;
	}
}

void console_die_of_signal(int sig)
{
	console_flush();
	console_restore_terminal();
	signal(sig, SIG_DFL);
	raise(sig);
}

void console_close(void)
{
	if (!con.open)
		return;
	console_flush();
	console_restore_terminal();
	con.open = false;
}

static void console_close_at_exit(void)
{
	console_close();
}

void console_open(void (*on_quit)(void *opaque), void *opaque)
{
	struct termios raw;

	con.on_quit = on_quit;
	con.opaque = opaque;
	if (con.open)
		return;
	con.open = true;
	atexit(console_close_at_exit);
	/* SIGINT, SIGTERM and SIGHUP end the run cleanly (main.c); SIGQUIT (Ctrl-\) kills as
	 * before. */
	signal(SIGQUIT, console_die_of_signal);
	if (!isatty(STDIN_FILENO) || tcgetattr(STDIN_FILENO, &con.saved))
		return;
	raw = con.saved;
	/* Keys go to the guest as a serial terminal sends them: Enter is CR, no echo, no editing.
	 */
	raw.c_lflag &= ~(tcflag_t)(ICANON | ECHO | ECHONL | IEXTEN);
	raw.c_iflag &= ~(tcflag_t)(ICRNL | INLCR | IGNCR | IXON);
	raw.c_cc[VMIN] = 1;
	raw.c_cc[VTIME] = 0;
	if (!tcsetattr(STDIN_FILENO, TCSANOW, &raw))
		con.raw = true;
}

void console_write_byte(void *opaque, u8 byte)
{
	con.out[con.out_len++] = byte;
	if (byte == '\n' || con.out_len == sizeof(con.out))
		console_flush();
}

/* Ctrl-A x quits, Ctrl-A Ctrl-A is a literal Ctrl-A, Ctrl-A anything else is dropped. */
static size_t console_filter_escapes(u8 *buf, size_t n)
{
	size_t kept = 0;

	for (size_t i = 0; i < n; i++) {
		u8 b = buf[i];

		if (con.escape) {
			con.escape = false;
			if (b == 'x' && con.on_quit)
				con.on_quit(con.opaque);
			if (b == CTRL_A)
				buf[kept++] = b;
		} else if (b == CTRL_A && con.raw) {
			con.escape = true;
		} else {
			buf[kept++] = b;
		}
	}
	return kept;
}

bool console_input_ended(void)
{
	return con.stdin_eof;
}

size_t console_read_bytes(void *opaque, u8 *buf, size_t max)
{
	struct pollfd pfd = { .fd = STDIN_FILENO, .events = POLLIN };
	ssize_t n;

	if (con.out_len)
		console_flush(); /* a prompt without a newline must show before we wait on input */
	if (con.stdin_eof || !max || poll(&pfd, 1, 0) <= 0)
		return 0;
	n = read(STDIN_FILENO, buf, max);
	if (n <= 0) {
		if (n == 0 || (errno != EINTR && errno != EAGAIN))
			con.stdin_eof = true;
		return 0;
	}
	return console_filter_escapes(buf, (size_t)n);
}
