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

On KVM the same guest runs with the VMM's interrupt controllers (--kvm-irqchip user: injection
through exits, KVM_INTERRUPT) and with KVM's in-kernel irqchip (--kvm-irqchip kernel: the device
thread's MSIs through an irqfd, docs/kvm.md). KVM answers the guest's VMCALL itself, so the
exits are the VMM's --stats-json total for the whole run (user-space exits; KVM's in-kernel ones
are not among them), per interrupt taken. --accel kvm runs it on this host's /dev/kvm;
--nested-kvm BUILD on the KVM of a Linux guest of tollbooth soft (tollbooth's nested VMX), as
tests/linux/run.py's kvm-backend-nested does: it boots BUILD/linux/kvm-initramfs.cpio.gz, which
that test makes, with tb.script=kvmirq (guests/linux/tests/kvmirq.sh).

--nested-kvm BUILD --kvm-apicv compares KVM's own APICv and posted interrupts (kvm_intel
enable_apicv=1, which tollbooth's nested VMX lets KVM use) with its injection through exits
(enable_apicv=0), with KVM's in-kernel irqchip, one boot each, alternating.

usage: bench/irq.py TOLLBOOTH GUESTS_DIR [--rounds N] [--n PINGPONGS] [--ms STREAM_MS]
                    [--accel kvm | --nested-kvm BUILD [--kvm-apicv]]
"""
import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile

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
    got = parse_lines(out.stdout.splitlines())
    if len(got) != 4:
        sys.exit(f"irq.py: {' '.join(cmd)} printed no figures:\n{out.stdout}{out.stderr}")
    return got


KVM_MODES = [
    ("(a) the VMM's irqchip: injection through exits", "user"),
    ("(d) KVM's in-kernel irqchip, irqfd", "kernel"),
]


def parse_lines(lines):
    """The four irqgen figure lines: {phase: (ns, exits per interrupt as the guest counted)}."""
    got = {}
    for line in lines:
        m = LINE.search(line)
        if not m:
            continue
        if m.group(2) is not None:
            ns, exits = int(m.group(2)), int(m.group(3))
        else:
            exits, ns = int(m.group(4)), int(m.group(5))
        got[m.group(1)] = (ns, exits / 1000)
    return got


def taken(lines, n):
    """Interrupts the run took: two ping-pongs of n, then the stream's and the timer's."""
    total = 2 * n
    for line in lines:
        m = re.search(r"irqgen: (?:stream .*?raised, (\d+) taken|timer \d+ ms, (\d+) taken)", line)
        if m:
            total += int(m.group(1) or m.group(2))
    return total


def kvm_run_once(tollbooth, guests, chip, n, ms):
    with tempfile.TemporaryDirectory() as tmp:
        js = os.path.join(tmp, "stats.json")
        cmd = [tollbooth, "run", "--accel", "kvm", "--kvm-irqchip", chip, "--device", "irqgen",
               "--stats-json", js, "--append", f"n={n} ms={ms}", f"{guests}/irqgen.elf"]
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=300,
                             stdin=subprocess.DEVNULL)
        lines = out.stdout.splitlines()
        got = parse_lines(lines)
        if len(got) != 4 or not os.path.exists(js):
            sys.exit(f"irq.py: {' '.join(cmd)} printed no figures:\n{out.stdout}{out.stderr}")
        exits = json.load(open(js))["total"]["samples"]
    return got, exits / max(1, taken(lines, n))


def nested_boot(tollbooth, build, script_args, *opts):
    """Boot the Linux guest of tests/linux/run.py with tb.script=kvmirq (its KVM made by
    tollbooth's nested VMX): the finished process, stdout and stderr as text."""
    initrd = os.path.join(build, "linux", "kvm-initramfs.cpio.gz")
    if not os.path.exists(initrd):
        sys.exit(f"irq.py: {initrd} missing: run `python3 tests/linux/run.py {tollbooth} {build}` "
                 "(make check does) to make it")
    cmd = [tollbooth, "run", *opts, "--mem", "768M", "--kernel",
           os.path.join(build, "linux", "vmlinuz"), "--initrd", initrd, "--append",
           f"console=ttyS0 quiet tb.script=kvmirq {script_args}"]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=1800,
                          stdin=subprocess.DEVNULL)


def nested_runs(tollbooth, build, rounds, n, ms):
    """{chip: [(figures, exits per interrupt)]} from the Linux guest's KVM."""
    out = nested_boot(tollbooth, build, f"tb.rounds={rounds} tb.n={n} tb.ms={ms}")
    per = {}
    for line in out.stdout.splitlines():
        m = re.match(r"tb-result: irq (\w+) (\d+) (.*)", line)
        if m:
            per.setdefault((m.group(1), m.group(2)), []).append(m.group(3))
    res = {chip: [] for _, chip in KVM_MODES}
    for (chip, _), lines in sorted(per.items()):
        got = parse_lines(lines)
        ex = [ln.split()[1] for ln in lines if ln.startswith("exits ")]
        if len(got) != 4 or not ex or not ex[0].isdigit():
            sys.exit(f"irq.py: the nested run gave no figures for {chip}:\n" + "\n".join(lines))
        res[chip].append((got, int(ex[0]) / max(1, taken(lines, n))))
    if not all(res.values()):
        sys.exit(f"irq.py: no figures from the nested KVM:\n{out.stdout[-3000:]}{out.stderr}")
    return res


NESTED_STATS = re.compile(r"Nested VMX: (\d+) exits L2->L0 .*?, (\d+) L2->L1 .*?"
                          r"(\d+) posted-interrupt notifications")


def apicv_runs(tollbooth, build, boots, n, ms):
    """KVM's own APICv in the nested KVM, off and on (kvm_intel enable_apicv=0/1), boots
    alternating: {apicv: [(figures, L2 exits to L1 per interrupt, L0's posted notifications
    per interrupt)]}. The Linux guest has two vCPUs, so that KVM's irqfd, on the device
    thread's vCPU, can post to the guest's vCPU while it runs on the other one; the counts are
    tollbooth soft's --stats for the whole boot (every exit of KVM's guest, its start-up's too)."""
    res = {0: [], 1: []}
    for _ in range(boots):
        for apicv in (0, 1):
            out = nested_boot(tollbooth, build, f"tb.rounds=1 tb.n={n} tb.ms={ms} "
                              f"tb.chips=kernel tb.apicv={apicv}", "--cpus", "2", "--stats")
            lines = [ln.split("tb-result: ", 1)[1] for ln in out.stdout.splitlines()
                     if "tb-result: " in ln]
            got = parse_lines(lines)
            st = NESTED_STATS.search(out.stderr)
            want = f"kvm-intel enable_apicv {'Y' if apicv else 'N'}"
            if len(got) != 4 or not st or want not in lines:
                sys.exit(f"irq.py: the nested run (enable_apicv={apicv}) gave no figures:\n"
                         + "\n".join(lines) + out.stderr[-2000:])
            k = max(1, taken(lines, n))
            res[apicv].append((got, int(st.group(2)) / k, int(st.group(3)) / k))
    return res


def apicv_table(res, boots, n, ms):
    def med(a, phase):
        return statistics.median(got[phase][0] for got, _, _ in res[a])

    print(f"KVM in a Linux guest of tollbooth soft (2 vCPUs), KVM's in-kernel irqchip and irqfd: "
          f"medians of {boots} boots each, alternating; {n} round trips per ping-pong, {ms} ms "
          "of a 10 kHz stream.\n")
    print("| KVM (L1) | exits of its guest to KVM / interrupt (whole run) | posted notifications "
          "processed in its guest / interrupt | device thread 10 kHz: guest ns / interrupt "
          "| LAPIC timer 10 kHz: guest ns / interrupt | ping-pong spin: ns / round trip "
          "| ping-pong HLT: ns / round trip |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for a, name in ((0, "enable_apicv=0: injection through exits"),
                    (1, "enable_apicv=1: APICv, posted interrupts")):
        ex = statistics.median(e for _, e, _ in res[a])
        po = statistics.median(p for _, _, p in res[a])
        print(f"| {name} | {ex:.2f} | {po:.2f} | {med(a, 'stream'):.0f} | {med(a, 'timer'):.0f} "
              f"| {med(a, 'ping-pong spin'):.0f} | {med(a, 'ping-pong hlt'):.0f} |")


def kvm_table(res, rounds, n, ms, where):
    def med(chip, phase):
        return statistics.median(got[phase][0] for got, _ in res[chip])

    print(f"{where}: medians of {rounds} interleaved rounds; {n} round trips per ping-pong, "
          f"{ms} ms of a 10 kHz stream.\n")
    print("| delivery | VMM exits / interrupt (whole run) | device thread 10 kHz: guest ns / interrupt "
          "| LAPIC timer 10 kHz: guest ns / interrupt | ping-pong spin: ns / round trip "
          "| ping-pong HLT: ns / round trip |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, chip in KVM_MODES:
        ex = statistics.median(e for _, e in res[chip])
        print(f"| {name} | {ex:.2f} | {med(chip, 'stream'):.0f} | {med(chip, 'timer'):.0f} "
              f"| {med(chip, 'ping-pong spin'):.0f} | {med(chip, 'ping-pong hlt'):.0f} |")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("tollbooth")
    ap.add_argument("guests")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--ms", type=int, default=200)
    ap.add_argument("--accel", choices=("soft", "kvm"), default="soft")
    ap.add_argument("--nested-kvm", metavar="BUILD")
    ap.add_argument("--kvm-apicv", action="store_true")
    a = ap.parse_args()
    if a.kvm_apicv:
        if not a.nested_kvm:
            sys.exit("irq.py: --kvm-apicv needs --nested-kvm BUILD (it reloads kvm_intel)")
        apicv_table(apicv_runs(a.tollbooth, a.nested_kvm, a.rounds, a.n, a.ms), a.rounds, a.n,
                    a.ms)
        return
    if a.nested_kvm:
        kvm_table(nested_runs(a.tollbooth, a.nested_kvm, a.rounds, a.n, a.ms), a.rounds, a.n,
                  a.ms, "KVM in a Linux guest of tollbooth soft")
        return
    if a.accel == "kvm":
        res = {chip: [] for _, chip in KVM_MODES}
        for _ in range(a.rounds):
            for _, chip in KVM_MODES:
                res[chip].append(kvm_run_once(a.tollbooth, a.guests, chip, a.n, a.ms))
        kvm_table(res, a.rounds, a.n, a.ms, "This host's KVM")
        return
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
