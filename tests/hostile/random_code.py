#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Hostile-guest smoke test: random bytes as ring-0 code must never crash tollbooth.

32-bit (below) and 64-bit (guests/tests/random64.c, from $GUEST_DIR) random code, SEEDS seeds
each.

For each seed, a multiboot image (the a.out-kludge fields, loaded at 1 MiB) whose entry point is
4 KiB of seeded random bytes runs in 32-bit protected mode with paging off. Whatever the bytes
do, tollbooth must end in one of the ways a guest may: the guest's own exit status (odd), a
one-line stop report (status 4: triple fault, halt forever, an exit it cannot handle), or, for a
guest that loops, still running at the time limit. A signal, a sanitizer report or any other
status fails. Run it with the sanitizer build:
    tests/hostile/random_code.py build/san/tollbooth [SEEDS]
"""
import os
import random
import struct
import subprocess
import sys
import tempfile

LOAD = 0x100000
MAGIC = 0x1BADB002
FLAGS = 1 << 16  # the a.out-kludge address fields are valid (multiboot 0.6.96 3.1.1)


def image(seed):
    rng = random.Random(seed)
    code = bytes(rng.getrandbits(8) for _ in range(4096))
    hdr_len = 32
    end = LOAD + hdr_len + len(code)
    hdr = struct.pack("<8I", MAGIC, FLAGS, (-(MAGIC + FLAGS)) & 0xFFFFFFFF, LOAD, LOAD, end,
                      end + 0x10000, LOAD + hdr_len)
    return hdr + code


def run_one(argv):
    """(ok, how, stderr) for one run: the guest's own status (odd), a one-line stop report
    (status 4), or still running at the time limit; never a signal or a sanitizer report."""
    try:
        r = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, timeout=3)
        status, err = r.returncode, r.stderr.decode(errors="replace")
        ok = status > 0 and (status % 2 == 1 or status == 4)
        ok = ok and "Sanitizer" not in err and "runtime error" not in err
        return ok, f"status {status}", err
    except subprocess.TimeoutExpired:
        return True, "still running at 3 s (a looping guest)", ""


def main():
    exe = sys.argv[1] if len(sys.argv) > 1 else "build/san/tollbooth"
    seeds = int(sys.argv[2]) if len(sys.argv) > 2 else 40
    guest64 = os.path.join(os.environ.get("GUEST_DIR", "build/guests"), "random64.elf")
    passed = failed = 0

    def result(name, ok, how, err):
        nonlocal passed, failed
        if ok:
            passed += 1
            print(f"ok hostile {name}: {how}")
        else:
            failed += 1
            last = err.strip().splitlines()[-3:] if err.strip() else []
            print(f"FAIL hostile {name}: {how} {' | '.join(last)}")

    with tempfile.TemporaryDirectory() as tmp:
        for seed in range(1, seeds + 1):
            path = os.path.join(tmp, f"random{seed}.bin")
            with open(path, "wb") as f:
                f.write(image(seed))
            result(f"random-code seed {seed}", *run_one([exe, "run", path]))
    # 64-bit: guests/tests/random64.c, random bytes at ring 0 in long mode, resumed at another
    # random offset after each exception; every other seed with every block compiled at its
    # first run (the block compiler on garbage).
    if not os.path.exists(guest64):
        print(f"skip hostile random-code-64: no {guest64} (make guests)")
    else:
        for seed in range(1, seeds + 1):
            argv = [exe, "run", "--append", f"seed={seed}"]
            if seed % 2 == 0:
                argv += ["--jit", "eager"]
            result(f"random-code-64 seed {seed}{' jit=eager' if seed % 2 == 0 else ''}",
                   *run_one(argv + [guest64]))
    print(f"hostile: {passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
