#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The seeds' posted-interrupt figure: how many VM exits, and how much time, an interrupt from a
device costs when the VMM (a) injects it through exits, (b) lets the CPU deliver it by
virtual-interrupt delivery (--vmx apicv=on) or (c) has the device thread post it while the vCPU
runs (--vmx apicv=on,posted-interrupts=on). SDM vol. 3C 30.2 and 30.6; docs/performance.md.

The guest is guests/tests/irqgen.c on the irqgen device (--device irqgen), whose own host thread
raises the MSIs: a doorbell ping-pong (the guest rings, then spins or halts until the interrupt)
and a 10 kHz stream while the guest computes. The guest counts the exits itself from the VMM's
record (HC_EXIT_COUNT) around each phase. The three modes run interleaved, round after round, so
that a busy host slows them alike; the table gives medians.

usage: bench/irq.py TOLLBOOTH GUESTS_DIR [--rounds N] [--n PINGPONGS] [--ms STREAM_MS]
"""
import argparse
import re
import statistics
import subprocess
import sys

MODES = [
    ("(a) injection through exits", "apicv=off"),
    ("(b) virtual-interrupt delivery", "apicv=on"),
    ("(c) posted interrupts", "apicv=on,posted-interrupts=on"),
]

LINE = re.compile(
    r"irqgen: (ping-pong spin|ping-pong hlt|stream|timer)\b.*?(?:(\d+) ns each, (\d+) exits per 1000|"
    r"(\d+) exits per 1000, (\d+) ns each)")


def run_once(tollbooth, guests, vmx, n, ms):
    cmd = [tollbooth, "run", f"{guests}/irqgen.elf", "--device", "irqgen", "--vmx", vmx,
           "--append", f"n={n} ms={ms}"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=300,
                         stdin=subprocess.DEVNULL)
    got = {}
    for line in out.stdout.splitlines():
        m = LINE.search(line)
        if not m:
            continue
        if m.group(2) is not None:
            ns, exits = int(m.group(2)), int(m.group(3))
        else:
            exits, ns = int(m.group(4)), int(m.group(5))
        got[m.group(1)] = (ns, exits / 1000)
    if len(got) != 4:
        sys.exit(f"irq.py: {' '.join(cmd)} printed no figures:\n{out.stdout}{out.stderr}")
    return got


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("tollbooth")
    ap.add_argument("guests")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--ms", type=int, default=200)
    a = ap.parse_args()
    res = {vmx: {"ping-pong spin": [], "ping-pong hlt": [], "stream": [], "timer": []}
           for _, vmx in MODES}
    for _ in range(a.rounds):
        for _, vmx in MODES:
            for phase, v in run_once(a.tollbooth, a.guests, vmx, a.n, a.ms).items():
                res[vmx][phase].append(v)

    def med(vmx, phase, i):
        return statistics.median(v[i] for v in res[vmx][phase])

    print(f"Medians of {a.rounds} interleaved rounds; {a.n} round trips per ping-pong, "
          f"{a.ms} ms of a 10 kHz stream.\n")
    print("| delivery | device thread 10 kHz: exits / interrupt | guest ns / interrupt "
          "| LAPIC timer 10 kHz: exits / interrupt | guest ns / interrupt "
          "| ping-pong spin: exits / round trip | ns / round trip "
          "| ping-pong HLT: exits / round trip | ns / round trip |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name, vmx in MODES:
        print(f"| {name} | {med(vmx, 'stream', 1):.2f} | {med(vmx, 'stream', 0):.0f} "
              f"| {med(vmx, 'timer', 1):.2f} | {med(vmx, 'timer', 0):.0f} "
              f"| {med(vmx, 'ping-pong spin', 1):.2f} | {med(vmx, 'ping-pong spin', 0):.0f} "
              f"| {med(vmx, 'ping-pong hlt', 1):.2f} | {med(vmx, 'ping-pong hlt', 0):.0f} |")


if __name__ == "__main__":
    main()
