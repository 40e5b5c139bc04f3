#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""EPT or shadow paging, side by side in one run: `paging.py TOLLBOOTH BUILD_DIR [RUNS]`.

The seeds' "economic choice" with numbers (docs/performance.md, "EPT or shadow paging"). The same
workloads run on the soft backend with EPT (the default) and with shadow paging (--vmx ept=off,
vmm/shadow.c), interleaved A B A B ... after a warm-up, RUNS times each (default 3):
  compute   bench-alu: a register-only loop, no paging events at all;
  remap     bench-remap: map, touch, unmap, INVLPG a page, 256,000 times;
  tlb       bench-tlb: one access per 4 KiB page over 64 MiB, every access a TLB miss;
  forkexec  Debian's Linux booted to a shell that forks and execs busybox 200 times
            (guests/linux/tests/forkexec.sh; skipped without the kernel and busybox-static).
Per workload and mode: the median wall time (process start to exit), the ratio shadow/EPT
(above 1: shadow is slower), exits per second of guest run and the three commonest reasons,
and the soft CPU's page walks (TLB misses) with the entries each read and, under EPT, the
architectural two-dimensional cost per walk (5n + 4 references, 24 for 4-level over 4-level
EPT). Prints a Markdown table. Python 3 standard library only.
"""
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

tb, build = sys.argv[1], sys.argv[2]
runs = int(sys.argv[3]) if len(sys.argv) > 3 else 3
guests = os.path.join(build, "guests")
linux = os.path.join(build, "linux")

WORKLOADS = [
    ("compute", [f"{guests}/bench-alu.elf"]),
    ("remap", [f"{guests}/bench-remap.elf"]),
    ("tlb", ["--mem", "256M", f"{guests}/bench-tlb.elf"]),
    ("forkexec", ["--mem", "512M", "--kernel", f"{linux}/vmlinuz", "--initrd",
                  f"{linux}/initramfs.cpio.gz", "--append",
                  "console=ttyS0 quiet tb.script=forkexec tb.n=200"]),
]
MODES = [("EPT", []), ("shadow", ["--vmx", "ept=off"])]

WALK_RE = re.compile(r"Page walks \(TLB misses\): (\d+), ([0-9.]+) entries read per walk"
                     r"(?:; EPT: ([0-9.]+) entries read per walk \((\d+) EPT walks\), "
                     r"([0-9.]+) architectural)?")
FORK_RE = re.compile(r"tb-result: forkexec-seconds ([0-9.]+)")


def run_once(args):
    with tempfile.NamedTemporaryFile(suffix=".json") as js:
        t0 = time.monotonic()
        p = subprocess.run([tb, "run", "--stats", "--stats-json", js.name, *args],
                           stdin=subprocess.DEVNULL, capture_output=True, timeout=900)
        wall = time.monotonic() - t0
        err = p.stderr.decode(errors="replace")
        out = p.stdout.decode(errors="replace")
        try:
            stats = json.load(open(js.name))
        except (OSError, ValueError):
            stats = {}
    if p.returncode not in (0, 1):
        sys.exit(f"paging.py: {' '.join(args)} failed with status {p.returncode}: "
                 f"{err.strip().splitlines()[-1:] }")
    exits = {e["name"]: e["samples"] for e in stats.get("exits", [])}
    m = WALK_RE.search(err)
    walks = None
    if m:
        walks = {"walks": int(m.group(1)), "refs": float(m.group(2)),
                 "ept_refs": float(m.group(3)) if m.group(3) else None,
                 "arch": float(m.group(5)) if m.group(5) else None}
    f = FORK_RE.search(out)
    return {"wall": wall, "exits": exits, "walks": walks,
            "guest_s": float(f.group(1)) if f else None}


def main():
    have_linux = os.path.exists(f"{linux}/vmlinuz") and os.path.exists(
        f"{linux}/initramfs.cpio.gz")
    rows = []
    for name, args in WORKLOADS:
        if name == "forkexec" and not have_linux:
            print(f"# skip forkexec: no {linux}/vmlinuz (make linux)", file=sys.stderr)
            continue
        samples = {m: [] for m, _ in MODES}
        for m, extra in MODES:  # warm-up
            run_once(extra + args)
        for _ in range(runs):
            for m, extra in MODES:
                samples[m].append(run_once(extra + args))
        rows.append((name, samples))
        print(f"# {name} done", file=sys.stderr)

    print(f"EPT or shadow paging, soft backend, {runs} interleaved runs after a warm-up "
          f"(median wall time).\n")
    print("| workload | mode | wall s | shadow/EPT | exits/s | commonest exits | walks (TLB misses) |"
          " entries/walk | EPT entries/walk (2-D model) | guest s |")
    print("|---|---|---:|---:|---:|---|---:|---:|---:|---:|")
    for name, samples in rows:
        med = {m: statistics.median(s["wall"] for s in samples[m]) for m in samples}
        for m, _ in MODES:
            last = samples[m][-1]
            total = sum(last["exits"].values())
            top = sorted(last["exits"].items(), key=lambda kv: -kv[1])[:3]
            tops = ", ".join(f"{k} {v:,}" for k, v in top)
            w = last["walks"] or {}
            ratio = f"{med[m] / med['EPT']:.2f}" if m != "EPT" else "1"
            ept = (f"{w['ept_refs']:.2f} ({w['arch']:.0f})" if w.get("ept_refs") is not None
                   else "-")
            gs = statistics.median(s["guest_s"] for s in samples[m]) if last["guest_s"] else None
            print(f"| {name} | {m} | {med[m]:.2f} | {ratio} | {total / med[m]:,.0f} | {tops} | "
                  f"{w.get('walks', 0):,} | {w.get('refs', 0):.2f} | {ept} | "
                  f"{gs if gs is not None else '-'} |")


main()
