#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The seeds' clock figure: `linux_clock.py TOLLBOOTH BUILD_DIR`.

Boots Debian's kernel with the test initramfs three ways and runs guests/linux/clockbench.c
(2,000,000 clock_gettime() calls through the vDSO): kvm-clock (the paravirtual clock, the
default), clocksource=tsc (the TSC read directly, virtualized by TSC offsetting without exits)
and clocksource=tsc with --vmx rdtsc-exiting=on (every TSC read is a VM exit). Prints a Markdown
table: ns per call in the guest (best and worst of 3 boots) and RDTSC(P) exits per second of the
loop (the run's RDTSC exits less those of the same boot with a 1-call loop, over the loop's
time). Writes only under
BUILD_DIR/linux.
"""
import json
import os
import re
import subprocess
import sys

from linux_guest import prepare

tb, build = sys.argv[1], sys.argv[2]
work = prepare(build, "linux_clock")


def boot(calls, append, extra):
    js = os.path.join(work, "clock-stats.json")
    p = subprocess.run([tb, "run", "--mem", "512M", "--kernel", f"{work}/vmlinuz", "--initrd",
                        f"{work}/initramfs.cpio.gz", "--append",
                        f"console=ttyS0 quiet tb.script=clock tb.calls={calls} {append}", "--stats-json", js,
                        *extra], stdin=subprocess.DEVNULL, capture_output=True, timeout=600)
    out = p.stdout.decode(errors="replace")
    stats = json.load(open(js))
    rdtsc = sum(r["samples"] for r in stats["exits"] if r["name"] in ("RDTSC", "RDTSCP"))
    m = re.search(r"tb-result: clock (\S+) (\d+) calls ([0-9.]+) ns/call ([0-9.]+) s", out)
    if not m:
        sys.exit(f"linux_clock: no result: status {p.returncode} {p.stderr.decode()[-300:]}")
    return m, rdtsc


print("| guest clock | clocksource | ns per clock_gettime, best (worst) of 3 | RDTSC(P) exits per second |")
print("|---|---|---|---|")
for name, append, extra in (("paravirtual (kvmclock)", "", []),
                            ("TSC, offsetting, no exits", "clocksource=tsc", []),
                            ("TSC with RDTSC exiting", "clocksource=tsc",
                             ["--vmx", "rdtsc-exiting=on"])):
    runs = [boot(2000000, append, extra) for _ in range(3)]
    m, rdtsc = min(runs, key=lambda r: float(r[0].group(3)))
    _, base = boot(1, append, extra)
    secs = float(m.group(4))
    ns = sorted(float(r[0].group(3)) for r in runs)
    print(f"| {name} | {m.group(1)} | {ns[0]:.0f} ({ns[-1]:.0f}) | "
          f"{max(rdtsc - base, 0) / secs:,.0f} |")
