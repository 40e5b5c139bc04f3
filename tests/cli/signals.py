#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Command-line tests that need a process to talk to: stdout whose reader is gone, signals to a
running guest, a guest that writes to the UART forever. One line per test ("ok cli NAME" or
"FAIL cli NAME: why"); tests/cli/run.sh counts them. No test waits for a time to pass: each
waits for the guest's output, then acts.
    tests/cli/signals.py TOLLBOOTH SCRATCH_DIR
SCRATCH_DIR is inside the build folder; nothing is written anywhere else."""
import json
import os
import select
import signal
import struct
import subprocess
import sys
import time

TOLLBOOTH, SCRATCH = sys.argv[1], sys.argv[2]
LIMIT = 120  # seconds: a hang is one FAIL line, not a stuck suite


def result(name, why):
    print("ok cli %s" % name if why is None else "FAIL cli %s: %s" % (name, why))


def sanitizer(err):
    return "Sanitizer" in err or "runtime error" in err


def test_stdout_reader_gone():
    """The reader of stdout is gone before the guest writes (as after `| head -c 10`): the
    guest's output is dropped, the run goes on, the statistics are written."""
    r, w = os.pipe()
    os.close(r)
    try:
        p = subprocess.run([TOLLBOOTH, "run", "--stats"], stdin=subprocess.DEVNULL, stdout=w,
                           stderr=subprocess.PIPE, timeout=LIMIT, text=True)
    finally:
        os.close(w)
    if p.returncode != 1:
        why = "exit status %d, want 1 (the demo's)" % p.returncode
    elif sanitizer(p.stderr):
        why = "sanitizer report"
    elif "VM-EXIT" not in p.stderr or "Total Samples" not in p.stderr:
        why = "no statistics on stderr"
    else:
        why = None
    result("stdout-reader-gone", why)


def aout(name, code):
    """A multiboot image with the a.out-kludge fields: loaded at 1M, entry after the header."""
    flags = 0x10000
    header = struct.pack("<8I", 0x1BADB002, flags, (-(0x1BADB002 + flags)) & 0xFFFFFFFF,
                         0x100000, 0x100000, 0, 0, 0x100020)
    path = os.path.join(SCRATCH, name)
    with open(path, "wb") as f:
        f.write(header + code)
    return path


# mov $0x3f8, %dx; mov $'R', %al; out %al, %dx; mov $'\n', %al; out %al, %dx; 1: jmp 1b
SPIN = aout("spin.elf", bytes.fromhex("66baf803b052eeb00aeeebfe"))
# mov $0x3f8, %dx; mov $'.', %al; 1: out %al, %dx; jmp 1b -- one UART byte per pass, forever
UART_LOOP = aout("uart-loop.elf", bytes.fromhex("66baf803b02eeeebfd"))


def start(args):
    return subprocess.Popen([TOLLBOOTH, "run"] + args, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def wait_output(p, nbytes):
    """Read stdout until it has nbytes (the guest runs); False if it ends or stalls first."""
    got, deadline = 0, time.monotonic() + LIMIT
    while got < nbytes:
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([p.stdout], [], [], left)[0]:
            return False
        chunk = os.read(p.stdout.fileno(), 65536)
        if not chunk:
            return False
        got += len(chunk)
    return True


def finish(p):
    """Drain stdout (the run may still write) and collect the status and stderr."""
    try:
        out, err = p.communicate(timeout=LIMIT)
    except subprocess.TimeoutExpired:
        p.kill()
        out, err = p.communicate()
        return None, err.decode(errors="replace")
    return p.returncode, err.decode(errors="replace")


def test_signal(sig, name):
    """A signal ends a guest that spins without exits: status 128 + signo, one line naming the
    signal, the statistics on stderr, --stats-json and --trace complete and valid."""
    stats, trace = (os.path.join(SCRATCH, "%s-%s.json" % (name, k)) for k in ("stats", "trace"))
    p = start(["--stats", "--stats-json", stats, "--trace", trace, SPIN])
    if not wait_output(p, 2):
        p.kill()
        status, err = finish(p)
        return result("signal-" + name, "the guest did not start: %s" % err.strip()[-200:])
    p.send_signal(sig)
    status, err = finish(p)
    if status != 128 + sig:
        return result("signal-" + name, "exit status %s, want %d: %s"
                      % (status, 128 + sig, err.strip()[-200:]))
    if sanitizer(err):
        return result("signal-" + name, "sanitizer report")
    if "tollbooth: stopped by %s" % name not in err or "VM-EXIT" not in err:
        return result("signal-" + name, "no stop line or no statistics: %s" % err.strip()[:200])
    try:
        total = json.load(open(stats))["total"]["samples"]
        events = json.load(open(trace))["traceEvents"]
    except (OSError, ValueError) as e:
        return result("signal-" + name, "output files: %s" % e)
    if total < 1 or len(events) != total:
        return result("signal-" + name, "%d trace events for %d exits" % (len(events), total))
    result("signal-" + name, None)


def test_uart_loop():
    """`out %al,%dx; jmp` writes one UART byte per pass: progress, not an exit storm. The loop
    runs past the storm limit (100000 repeats) until SIGTERM ends it."""
    p = start([UART_LOOP])
    if not wait_output(p, 150000):
        p.kill()
        status, err = finish(p)
        return result("uart-loop-not-a-storm", "stopped after less than 150000 bytes: %s"
                      % err.strip()[-200:])
    p.send_signal(signal.SIGTERM)
    status, err = finish(p)
    if status != 128 + signal.SIGTERM or "storm" in err or sanitizer(err):
        return result("uart-loop-not-a-storm", "exit status %s: %s" % (status, err.strip()[-200:]))
    result("uart-loop-not-a-storm", None)


test_stdout_reader_gone()
test_signal(signal.SIGINT, "SIGINT")
test_signal(signal.SIGTERM, "SIGTERM")
test_signal(signal.SIGHUP, "SIGHUP")
test_uart_loop()
