#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The seeds' I/O figure: `linux_io.py TOLLBOOTH BUILD_DIR [RUNS]`.

Boots Debian's kernel with the test initramfs (scripts/mkinitramfs.sh) once per workload of
guests/linux/tests/io.sh and per virtio-blk setting (event-idx on: batched doorbells with
VIRTIO_F_EVENT_IDX suppression; event-idx off: the avail/used flags alone; each with the queue
run inside the doorbell's exit, or with async=on from the run loop), with --stats-json,
and prints a Markdown table: guest time and throughput, and per request (beyond a boot that does
no I/O) the doorbells (QueueNotify writes), interrupts, exits on the device's registers (the
doorbell, InterruptStatus, InterruptACK) and on the IOAPIC and LAPIC (the EOIs). The uart row
moves bytes through the 16550 for contrast: its port exits per 4 KiB.
Writes only under BUILD_DIR/linux.
"""
import json
import os
import re
import subprocess
import sys

from linux_guest import prepare

tb, build = sys.argv[1], sys.argv[2]
runs = int(sys.argv[3]) if len(sys.argv) > 3 else 1
work = prepare(build, "linux_io")
disk = os.path.join(work, "io.img")
with open(disk, "wb") as f:
    f.truncate(32 << 20)
BYTES = {"seqwrite": 16 << 20, "seqread": 16 << 20, "randread": 512 * 4096,
         "par4read": 16 << 20, "bufwrite": 16 << 20, "uart": 256 << 10, "none": 0}


def boot(workload, event_idx, run_async):
    js = os.path.join(work, "io-stats.json")
    drive = f"file={disk}" + ("" if event_idx else ",event-idx=off") + (",async=on" if run_async else "")
    p = subprocess.run([tb, "run", "--mem", "512M", "--kernel", f"{work}/vmlinuz", "--initrd",
                        f"{work}/initramfs.cpio.gz", "--append",
                        f"console=ttyS0 quiet tb.script=io tb.io={workload}", "--drive", drive,
                        "--stats", "--stats-json", js],
                       stdin=subprocess.DEVNULL, capture_output=True, timeout=600)
    out, err = p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace")
    m = re.search(r"tb-result: io \S+ ([0-9.]+) ([0-9.]+)", out)
    q = re.search(r"virtio-blk q0: (\d+) notifies, (\d+) requests, (\d+) interrupts", err)
    if p.returncode or not m or not q:
        sys.exit(f"linux_io: {workload}: status {p.returncode}: {err[-500:]}")
    stats = json.load(open(js))
    mmio = stats.get("mmio", [])
    dev = sum(r["samples"] for r in mmio if 0xfe000000 <= r["gpa"] < 0xfe000000 + 0x8000)
    intc = sum(r["samples"] for r in mmio
               if 0xfec00000 <= r["gpa"] < 0xfec01000 or 0xfee00000 <= r["gpa"] < 0xfee01000)
    uart = sum(r["samples"] for r in stats.get("io", []) if 0x3f8 <= r["port"] < 0x400)
    return {"secs": float(m.group(2)) - float(m.group(1)), "notifies": int(q.group(1)),
            "requests": int(q.group(2)), "interrupts": int(q.group(3)), "dev": dev,
            "intc": intc, "uart": uart, "total": stats["total"]["samples"]}

rows = []
for event_idx, run_async in ((True, False), (False, False), (True, True), (False, True)):
    base = boot("none", event_idx, run_async)
    work_list = ("seqwrite", "seqread", "randread", "par4read", "bufwrite")
    for w in work_list + (("uart",) if event_idx and not run_async else ()):
        r = min((boot(w, event_idx, run_async) for _ in range(runs)), key=lambda x: x["secs"])
        mbs = BYTES[w] / r["secs"] / 1e6 if r["secs"] else 0
        if w == "uart":
            per = BYTES[w] / 4096
            rows.append((w, "-", r["secs"], mbs, f"{per:.0f} x 4 KiB", "-", "-",
                         f"{(r['uart'] - base['uart']) / per:.0f}", "-"))
            continue
        req = r["requests"] - base["requests"]
        rows.append((w, ("on" if event_idx else "off") + (", async" if run_async else ""),
                     r["secs"], mbs, str(req),
                     f"{(r['notifies'] - base['notifies']) / req:.2f}",
                     f"{(r['interrupts'] - base['interrupts']) / req:.2f}",
                     f"{(r['dev'] - base['dev']) / req:.2f}",
                     f"{(r['intc'] - base['intc']) / req:.2f}"))

print("| workload | event-idx, queue | guest s | MB/s | requests | doorbells/req | interrupts/req |"
      " device exits/req | APIC exits/req |")
print("|---|---|---|---|---|---|---|---|---|")
for w, ei, s, mbs, req, d, i, e, a in rows:
    print(f"| {w} | {ei} | {s:.2f} | {mbs:.1f} | {req} | {d} | {i} | {e} | {a} |")
