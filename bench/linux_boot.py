#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Linux boot beside QEMU: `linux_boot.py TOLLBOOTH BUILD_DIR [RUNS]` (make bench-linux).

The same kernel and initramfs (scripts/mkinitramfs.sh: the host's Debian kernel, busybox-static,
/init prints "tb-init: up" and powers off) on tollbooth soft, QEMU TCG -M pc and QEMU TCG
-M microvm, RUNS times each (default 3) in turn after one warm-up each. For every run: the wall
time from start to the first line of /init, and to the end of the process (ACPI power-off). The
table gives medians, min and max, and the ratio tollbooth/QEMU pc taken pair by pair. A system
that does not reach /init within LIMIT seconds is reported as such (QEMU 7.2's microvm under TCG
has been seen to hang after "tsc: Unable to calibrate against PIT" on some boots of this
kernel). Writes only under BUILD_DIR/linux.
"""
import os
import statistics
import subprocess
import sys

from linux_guest import prepare
import time

LIMIT = 60
tb, build = sys.argv[1], sys.argv[2]
runs = int(sys.argv[3]) if len(sys.argv) > 3 else 3
work = prepare(build, "linux_boot")
kernel, initrd = f"{work}/vmlinuz", f"{work}/initramfs.cpio.gz"
append = "console=ttyS0 tb.script=boot"
qemu = ["qemu-system-x86_64", "-accel", "tcg", "-m", "512", "-kernel", kernel, "-initrd", initrd,
        "-append", append, "-nographic", "-no-reboot"]
systems = {
    "tollbooth soft": [tb, "run", "--mem", "512M", "--kernel", kernel, "--initrd", initrd,
                       "--append", append],
    "QEMU TCG -M pc": qemu + ["-M", "pc"],
    "QEMU TCG -M microvm": qemu + ["-M", "microvm"],
}


def one(cmd):
    """(seconds to "tb-init: up", seconds to exit) or None past LIMIT."""
    t0 = time.monotonic()
    p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.DEVNULL)
    os.set_blocking(p.stdout.fileno(), False)
    seen, t_init = b"", None
    while p.poll() is None and time.monotonic() - t0 < LIMIT:
        chunk = p.stdout.read()
        if chunk:
            seen += chunk
            if t_init is None and b"tb-init: up" in seen:
                t_init = time.monotonic() - t0
        else:
            time.sleep(0.005)
    if p.poll() is None:
        p.kill()
        p.wait()
        return None
    seen += p.stdout.read() or b""
    t_end = time.monotonic() - t0
    if t_init is None and b"tb-init: up" in seen:
        t_init = t_end
    return (t_init, t_end) if t_init is not None else None


results = {name: [] for name in systems}
dead = set()
for i in range(runs + 1):
    for name, cmd in systems.items():
        if name in dead:
            continue
        r = one(cmd)
        if r is None:
            dead.add(name)
        elif i:  # the first round warms the page cache and is not counted
            results[name].append(r)
        print(f"# round {i} {name}: {r}", file=sys.stderr)

print("| system | to /init, median (min-max) | to power-off, median (min-max) |")
print("|---|---|---|")
for name, rs in results.items():
    if name in dead or not rs:
        print(f"| {name} | did not reach /init in {LIMIT} s | - |")
        continue
    a, b = [r[0] for r in rs], [r[1] for r in rs]
    print(f"| {name} | {statistics.median(a):.2f} s ({min(a):.2f}-{max(a):.2f}) | "
          f"{statistics.median(b):.2f} s ({min(b):.2f}-{max(b):.2f}) |")
tbr, pcr = results["tollbooth soft"], results["QEMU TCG -M pc"]
if tbr and pcr and len(tbr) == len(pcr):
    ratio = [t[0] / q[0] for t, q in zip(tbr, pcr)]
    print(f"\ntollbooth / QEMU pc, time to /init, pair by pair: median "
          f"{statistics.median(ratio):.2f}x (min {min(ratio):.2f}, max {max(ratio):.2f}); "
          "below 1 is faster than QEMU")
