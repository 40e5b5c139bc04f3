#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Command-line tests that need a process to talk to: stdout whose reader is gone, and (below)
signals to a running guest. One line per test ("ok cli NAME" or "FAIL cli NAME: why");
tests/cli/run.sh counts them.
    tests/cli/signals.py TOLLBOOTH SCRATCH_DIR
SCRATCH_DIR is inside the build folder; nothing is written anywhere else."""
import os
import subprocess
import sys

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


test_stdout_reader_gone()
