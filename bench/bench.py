#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Run the benchmark guests on tollbooth and on other systems, side by side, in one run.

Each workload is a multiboot guest image that prints its own retired-instruction count on the
serial port ("instructions: N") and exits through port 0xf4. Every available system runs it once
as a warm-up, then RUNS more times, interleaved (A B C A B C ...) so that machine drift hits all
systems alike. Per system and workload we report the median and min-max wall time (process start
to exit), MIPS = N / median seconds / 1e6, speed relative to tollbooth soft (soft median time /
this system's median time: above 1 is faster than soft), the time to the first serial byte, and
the peak RSS of the process: wait4's ru_maxrss of the command run under bench/peakrss.c (built
here with cc), since a command forked straight from Python counts Python's RSS too (Linux keeps
the pre-exec peak); without a C compiler, the plain wait4 figure and a note.

The vmexit workload (bench-vmexit.elf, guests/bench/vmexit.c) is measured differently: the guest
times N iterations of each exiting instruction with RDTSC and prints one line per test; the TSC
is calibrated against the host's arrival times of those lines, and the null loop is subtracted,
which gives host nanoseconds per exit per test and system (see measure_vmexit).

Outputs: a Markdown table on stdout and in OUT/results.md, all samples in OUT/results.json, and
a bar chart of the speed ratios in OUT/ratios.svg. Python 3 standard library only.
"""
import argparse
import glob
import html
import json
import math
import os
import platform
import re
import select
import signal
import shutil
import stat
import statistics
import subprocess
import sys
import tempfile
import time

sys.dont_write_bytecode = True  # no bench/__pycache__ in the source tree
import bochs  # noqa: E402  (bench/bochs.py)

# Workloads we know how to describe, by image stem; any other image in the bench directory is
# still measured, with its stem as the name.
KNOWN_WORKLOADS = {
    "alu": "register-only integer loop (ADD XOR SUB AND OR SHL LEA IMUL DEC JNZ)",
    "mem": "sequential 8-byte read-modify-writes sweeping 64 MiB of 4 KiB pages",
    "tlb": "one read-modify-write per 4 KiB page over 64 MiB: every access misses any TLB",
    "call": "two nested near CALL/RET pairs per iteration",
    "branch": "an interpreter-like dispatch loop: a jump table and an LFSR-driven branch",
    "sse": "SSE2 over a 4 KiB buffer: MOVDQA load and store, PADDD, PXOR, PSHUFD, ADDPS, MULPS",
    "alu32": "the alu loop's kind of work in flat 32-bit protected mode (compiled since "
             "2026-12-07): register ALU, a load and a store, PUSH/POP, CALL/RET/JMP",
    "locked": "LOCK-prefixed read-modify-writes (ADD, XADD, CMPXCHG, INC) and XCHG on one line",
    "parallel": "two vCPUs (tollbooth --cpus 2, a host thread each; QEMU -smp 2) each running a "
                "12-instruction xorshift loop at once",
    "vmexit": "one exiting instruction per iteration (CPUID, OUT/IN port 0x80, RDMSR/WRMSR "
              "IA32_MISC_ENABLE, MMIO load/store of the test device) minus a null loop: host ns "
              "per exit",
}
# Workloads that run on more than one vCPU (tollbooth --cpus N, QEMU -smp N).
WORKLOAD_CPUS = {"parallel": 2}
# Systems whose exits are cheap run the vmexit guest with more iterations (--vmexit-iters times
# this), so that the run is long enough to calibrate the TSC and each test runs for tens of ms.
VMEXIT_ITERS_SCALE = {"tollbooth-soft": 10, "qemu-tcg": 100}
STARTUP_STEMS = ("startup", "trivial", "empty")
# The count is the last integer on the last serial line that mentions instructions, as in
# "bench-alu: loop instructions = 1 + 10 * 100000000 = 1000000001" or "instructions: N".
COUNT_LINE_RE = re.compile(r"(?i)\b(?:instructions|insns|icount)\b")
QEMU = "qemu-system-x86_64"


class System:
    """One way of running a guest image: argv(image) is its command line, or runner(image,
    timeout) runs it; reason() is None if it can run here. counts: its serial output carries the
    guest's instruction count (Bochs's is not captured; the count comes from the others)."""

    def __init__(self, name, label, argv, reason, runner=None, counts=True):
        self.name, self.label, self._argv, self._reason = name, label, argv, reason
        self.runner, self.counts = runner, counts
        self.skip = None
        self.timed_out_on = None

    def run(self, image, timeout, append=None, stats_json=None, cpus=1):
        """append: the guest's command line; stats_json: where tollbooth writes --stats-json
        (ignored by the other systems); cpus: vCPUs (Bochs runs one)."""
        if self.runner:
            return self.runner(image, timeout)
        return run_once(self._argv(image, append, stats_json, cpus), timeout)

    def check(self):
        self.skip = self._reason()
        return self.skip is None


def kvm_reason(tollbooth=None):
    """None when KVM is usable here, else why: `tollbooth kvm-ok` when the build has it (a
    character device that opens read-write and speaks KVM API 12), else the same test by hand.
    Never opens a path that is not there."""
    if tollbooth and os.access(tollbooth, os.X_OK):
        try:
            r = subprocess.run([tollbooth, "kvm-ok"], stdin=subprocess.DEVNULL,
                               capture_output=True, text=True, timeout=30)
            if r.returncode in (0, 1):
                return None if r.returncode == 0 else \
                    (r.stderr.strip().splitlines() or ["kvm-ok"])[-1].removeprefix("tollbooth: ")
        except (OSError, subprocess.TimeoutExpired):
            pass
    dev = os.environ.get("TOLLBOOTH_KVM_DEV") or "/dev/kvm"
    try:
        st = os.stat(dev)
    except OSError:
        return f"no {dev} on this machine"
    if not stat.S_ISCHR(st.st_mode):
        return f"{dev} is not a character device"
    if not os.access(dev, os.R_OK | os.W_OK):
        return f"{dev} is not readable and writable by this user"
    return None


def tollbooth_help(exe):
    try:
        r = subprocess.run([exe, "run", "--help"], capture_output=True, text=True, timeout=10)
        return r.stdout + r.stderr
    except (OSError, subprocess.TimeoutExpired):
        return ""


def make_systems(tollbooth, qemu_mem, out_dir):
    help_text = tollbooth_help(tollbooth) if os.access(tollbooth, os.X_OK) else ""
    opts = ["--mem", f"{qemu_mem}M"] if "--mem" in help_text else []

    def tb_argv(accel):
        def argv(image, append=None, stats_json=None, cpus=1):
            extra = ["--append", append] if append else []
            if cpus > 1:
                extra += ["--cpus", str(cpus)]
            if stats_json and "--stats-json" in help_text:
                extra += ["--stats-json", stats_json]
            # The vmexit guest's MMIO tests reach the test device, which only a machine that
            # names it has (--device testdev); QEMU has none there and skips them.
            if "--no-device" in help_text and os.path.basename(image) == "bench-vmexit.elf":
                extra += ["--device", "testdev"]
            if "--accel" in help_text:
                return [tollbooth, "run", "--accel", accel] + opts + extra + [image]
            return [tollbooth, "run"] + opts + extra + [image]
        return argv

    def tb_soft_reason():
        if not os.access(tollbooth, os.X_OK):
            return f"{tollbooth} is not built (run make)"
        return None

    def tb_kvm_reason():
        if tb_soft_reason():
            return tb_soft_reason()
        if not re.search(r"\bkvm\b", help_text) or re.search(r"\bkvm \(not", help_text):
            return "this tollbooth build has no kvm backend yet (`tollbooth run --help`)"
        return kvm_reason(tollbooth)

    def qemu_argv(accel):
        def argv(image, append=None, stats_json=None, cpus=1):
            return [QEMU, "-accel", accel, "-kernel", image, "-display", "none",
                    "-serial", "stdio", "-device", "isa-debug-exit,iobase=0xf4,iosize=0x04",
                    "-no-reboot", "-m", str(qemu_mem), "-nodefaults", "-monitor", "none"] + \
                (["-append", append] if append else []) + \
                (["-smp", str(cpus)] if cpus > 1 else [])
        return argv

    def qemu_reason():
        return None if shutil.which(QEMU) else f"{QEMU} not found (apt-get install qemu-system-x86)"

    def qemu_kvm_reason():
        return qemu_reason() or kvm_reason(tollbooth)

    bochs_runner = bochs.Runner(os.path.join(out_dir, "bochs"), qemu_mem)

    def bochs_run(image, timeout):
        try:
            return bochs_runner.run(image, timeout)
        except RuntimeError as e:
            return {"wall": 0, "first_byte": None, "rss_kib": 0, "status": -1,
                    "timed_out": False, "out": "", "err": str(e)}

    return [
        System("tollbooth-soft", "tollbooth soft", tb_argv("soft"), tb_soft_reason),
        System("tollbooth-kvm", "tollbooth kvm", tb_argv("kvm"), tb_kvm_reason),
        System("qemu-tcg", "QEMU TCG", qemu_argv("tcg"), qemu_reason),
        System("qemu-kvm", "QEMU KVM", qemu_argv("kvm"), qemu_kvm_reason),
        System("bochs", "Bochs 2.7", None, bochs.reason, bochs_run, counts=False),
    ]


PEAKRSS = None  # [helper, result file] once set_peakrss() built it


def set_peakrss(out_dir):
    """Build bench/peakrss.c into out_dir; without it run_once reports wait4's figure."""
    global PEAKRSS
    src = os.path.join(os.path.dirname(os.path.abspath(__file__)), "peakrss.c")
    exe = os.path.join(out_dir, "peakrss")
    os.makedirs(out_dir, exist_ok=True)
    r = subprocess.run(["cc", "-O2", "-o", exe, src], capture_output=True, text=True)
    if r.returncode:
        print(f"bench: could not build {src} ({r.stderr.strip()[:200]}); peak RSS is wait4's "
              "ru_maxrss, which includes the forking Python's RSS", file=sys.stderr)
        return
    PEAKRSS = [exe, os.path.join(out_dir, "peakrss.out")]


def run_once(argv, timeout):
    """Run argv; return dict(wall, first_byte, rss_kib, status, out, err, lines), lines being
    (seconds since start, text) of each complete output line as it arrived."""
    if PEAKRSS:
        argv = PEAKRSS + list(argv)
        if os.path.exists(PEAKRSS[1]):
            os.unlink(PEAKRSS[1])
    with tempfile.TemporaryFile() as err:
        t0 = time.perf_counter()
        # A session of its own, so that a timeout kills the command under peakrss too
        p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=err,
                             start_new_session=True)
        fd = p.stdout.fileno()
        chunks, first, timed_out = [], None, False
        lines, partial = [], b""
        deadline = t0 + timeout
        while True:
            left = deadline - time.perf_counter()
            if left <= 0:
                os.killpg(p.pid, signal.SIGKILL)
                timed_out = True
                break
            ready, _, _ = select.select([fd], [], [], left)
            if not ready:
                continue
            data = os.read(fd, 65536)
            if not data:
                break
            now = time.perf_counter() - t0
            if first is None:
                first = now
            chunks.append(data)
            partial += data
            *done, partial = partial.split(b"\n")
            lines += [(now, l.decode("utf-8", "replace").rstrip("\r")) for l in done]
        _, status, ru = os.wait4(p.pid, 0)
        wall = time.perf_counter() - t0
        p.returncode = os.waitstatus_to_exitcode(status)
        p.stdout.close()
        err.seek(0)
        rss = ru.ru_maxrss
        if PEAKRSS:
            try:
                with open(PEAKRSS[1]) as f:
                    rss = int(f.read())
            except (OSError, ValueError):
                pass  # killed before it wrote: keep wait4's figure
        return {
            "wall": wall,
            "first_byte": first,
            "rss_kib": rss,
            "status": p.returncode,
            "timed_out": timed_out,
            "out": b"".join(chunks).decode("utf-8", "replace"),
            "err": err.read().decode("utf-8", "replace"),
            "lines": lines,
        }


def parse_count(out):
    lines = [l for l in out.splitlines() if COUNT_LINE_RE.search(l)]
    nums = re.findall(r"\d[\d_,]*", lines[-1]) if lines else []
    return int(nums[-1].replace("_", "").replace(",", "")) if nums else None


def problem(r, expect_status, need_count, timeout):
    """Why run r is not a valid measurement, or None."""
    if r["timed_out"]:
        return f"timed out after {timeout:g} s"
    if r["status"] != expect_status:
        tail = (r["err"].strip().splitlines() or r["out"].strip().splitlines() or [""])[-1]
        return f"exit status {r['status']} (want {expect_status}): {tail[:160]}"
    if need_count and parse_count(r["out"]) is None:
        return "no 'instructions: N' line on the serial output"
    return None


def find_workloads(images_dir, startup_image):
    """Throughput guests are IMAGES/bench-<name>.elf; the start-up guest is bench-startup.elf if
    there is one, else hello.elf (the smallest test guest)."""
    work, startup = [], startup_image
    for img in sorted(glob.glob(os.path.join(images_dir, "bench-*.elf"))):
        name = os.path.splitext(os.path.basename(img))[0][len("bench-"):]
        if name in STARTUP_STEMS:
            startup = startup or img
            continue
        desc = KNOWN_WORKLOADS.get(name) or next(
            (d for k, d in KNOWN_WORKLOADS.items() if name.startswith(k)), "")
        kind = "vmexit" if name == "vmexit" else "throughput"
        work.append({"name": name, "image": img, "desc": desc, "kind": kind,
                     "cpus": WORKLOAD_CPUS.get(name, 1)})
    hello = os.path.join(images_dir, "hello.elf")
    startup = startup or (hello if os.path.exists(hello) else None)
    if startup:
        work.append({"name": "startup", "image": startup, "kind": "startup",
                     "desc": f"trivial guest ({os.path.basename(startup)}): process start to "
                             f"first serial byte and to exit"})
    return work


def summarize(samples):
    walls = [s["wall"] for s in samples]
    firsts = [s["first_byte"] for s in samples if s["first_byte"] is not None]
    return {
        "runs": len(samples),
        "median_s": statistics.median(walls),
        "min_s": min(walls),
        "max_s": max(walls),
        "first_byte_median_s": statistics.median(firsts) if firsts else None,
        "rss_peak_kib": max(s["rss_kib"] for s in samples),
    }


def measure(workload, systems, runs, timeout, expect_status):
    need_count = workload["kind"] == "throughput"
    live = [s for s in systems if s.skip is None]
    res = {s.name: {"samples": [], "skip": s.skip} for s in systems}
    count = None
    for s in live:  # warm-up: page cache, CPU frequency, and a validity check
        if need_count and s.timed_out_on:
            res[s.name]["skip"] = f"timed out on {s.timed_out_on} (over {timeout:g} s)"
            continue
        r = s.run(workload["image"], timeout, cpus=workload.get("cpus", 1))
        why = problem(r, expect_status, need_count and s.counts, timeout)
        if r["timed_out"]:
            s.timed_out_on = workload["name"]
        if why:
            res[s.name]["skip"] = f"warm-up failed: {why}"
            print(f"  {s.name}: {res[s.name]['skip']}", file=sys.stderr)
            continue
        if need_count and s.counts:
            c = parse_count(r["out"])
            if count is not None and c != count:
                print(f"  {s.name}: reports {c} instructions, others {count}", file=sys.stderr)
            count = count or c
    live = [s for s in live if res[s.name]["skip"] is None]
    for i in range(runs):
        for s in live:
            if res[s.name]["skip"]:
                continue
            r = s.run(workload["image"], timeout, cpus=workload.get("cpus", 1))
            why = problem(r, expect_status, need_count and s.counts, timeout)
            if r["timed_out"]:
                s.timed_out_on = workload["name"]
            if why:
                res[s.name]["skip"] = f"run {i + 1} failed: {why}"
                print(f"  {s.name}: {res[s.name]['skip']}", file=sys.stderr)
                continue
            res[s.name]["samples"].append(
                {k: r[k] for k in ("wall", "first_byte", "rss_kib", "status")})
            print(f"  {workload['name']:10} {s.name:15} run {i + 1}: {r['wall']:.3f} s",
                  file=sys.stderr)
    for s in systems:
        e = res[s.name]
        if e["skip"] is None and e["samples"]:
            e.update(summarize(e["samples"]))
            if count:
                e["mips"] = count / e["median_s"] / 1e6
    soft = res.get("tollbooth-soft", {})
    for s in systems:
        e = res[s.name]
        if "median_s" in e and "median_s" in soft:
            e["speed_vs_soft"] = soft["median_s"] / e["median_s"]
    return {"workload": workload, "instructions": count, "systems": res}


def add_net_mips(results):
    """MIPS with each system's median start-up time (the startup row) taken off the run time."""
    start = next((w for w in results if w["workload"]["kind"] == "startup"), None)
    if not start:
        return
    for w in results:
        for name, e in w["systems"].items():
            st = start["systems"].get(name, {}).get("median_s")
            if w is start or not w["instructions"] or "median_s" not in e or st is None:
                continue
            if e["median_s"] > st:
                e["mips_net"] = w["instructions"] / (e["median_s"] - st) / 1e6


# The vmexit guest's lines (guests/bench/vmexit.c): a start stamp, one line per test, an end stamp.
VMEXIT_START_RE = re.compile(r"^vmexit: n=(\d+) tsc=(\d+)")
VMEXIT_TEST_RE = re.compile(r"^vmexit ([\w-]+): (\d+) iterations, (\d+) cycles, \d+ "
                            r"cycles/iteration, tsc=(\d+)")
VMEXIT_SKIP_RE = re.compile(r"^vmexit ([\w-]+): skipped \((.*)\)")
VMEXIT_DONE_RE = re.compile(r"^vmexit: done tsc=(\d+)")
# Where each test's exits appear in tollbooth's --stats-json (docs/telemetry.md), and how many
# accesses the guest makes outside the timed loops (its probe: one RDMSR, one MMIO load).
VMEXIT_KEYS = {
    "cpuid": ("cpuid", lambda e: e.get("leaf") == 0, 0),
    "out": ("io", lambda e: e.get("port") == 0x80 and e.get("dir") == "out", 0),
    "in": ("io", lambda e: e.get("port") == 0x80 and e.get("dir") == "in", 0),
    "out-dev": ("io", lambda e: e.get("port") == 0x3ff and e.get("dir") == "out", 0),
    "in-dev": ("io", lambda e: e.get("port") == 0x3ff and e.get("dir") == "in", 0),
    "rdmsr": ("msr", lambda e: e.get("index") == 0x1a0 and e.get("dir") == "read", 1),
    "wrmsr": ("msr", lambda e: e.get("index") == 0x1a0 and e.get("dir") == "write", 0),
    "mmio-read": ("mmio", lambda e: e.get("gpa") == 0xfeb00000 and e.get("dir") == "read", 1),
    "mmio-write": ("mmio", lambda e: e.get("gpa") == 0xfeb00008 and e.get("dir") == "write", 0),
}


def parse_vmexit(r):
    """One run of the vmexit guest -> {"tsc_hz", "tests": {name: ns per iteration}, "skipped":
    {name: why}, "n"}, or a string saying what is wrong. The TSC rate is the least-squares slope
    of the guest's absolute TSC stamps against the host times their lines arrived (the UART
    output is flushed at each newline), over the whole run."""
    stamps, cycles, skipped, n = [], {}, {}, None
    for t, line in r["lines"]:
        if m := VMEXIT_START_RE.match(line):
            n = int(m.group(1))
            stamps.append((t, int(m.group(2))))
        elif m := VMEXIT_TEST_RE.match(line):
            cycles[m.group(1)] = int(m.group(3)) / int(m.group(2))
            stamps.append((t, int(m.group(4))))
        elif m := VMEXIT_SKIP_RE.match(line):
            skipped[m.group(1)] = m.group(2)
        elif m := VMEXIT_DONE_RE.match(line):
            stamps.append((t, int(m.group(1))))
    if n is None or "null" not in cycles:
        return "no 'vmexit: n=' start line or no null test in the serial output"
    if len(stamps) < 3 or stamps[-1][0] - stamps[0][0] < 0.05:
        return "run too short to calibrate the TSC (raise --vmexit-iters)"
    mt = statistics.fmean(t for t, _ in stamps)
    mc = statistics.fmean(c for _, c in stamps)
    hz = (sum((t - mt) * (c - mc) for t, c in stamps) /
          sum((t - mt) ** 2 for t, _ in stamps))
    if hz <= 0:
        return "guest TSC does not advance with host time"
    return {"n": n, "tsc_hz": hz, "skipped": skipped,
            "tests": {k: v / hz * 1e9 for k, v in cycles.items()}}


def vmexit_stats(path, n):
    """Per test: (exits per iteration, average VMM handler ns) from tollbooth's --stats-json, or
    {} when there is no such file. A test with no row made no exit to the VMM (0, None)."""
    try:
        with open(path) as f:
            js = json.load(f)
    except (OSError, ValueError):
        return {}
    out = {}
    total = n + n // 16 + 1  # timed loop + the guest's warm-up loop (vmexit.c)
    for test, (table, match, extra) in VMEXIT_KEYS.items():
        rows = [e for e in js.get(table, []) if match(e)]
        samples = sum(e["samples"] for e in rows)
        avg = rows[0].get("avg_ns") if rows else None
        out[test] = ((samples - extra) / total if samples else 0.0, avg)
    return out


def measure_vmexit(workload, systems, runs, timeout, expect_status, iters, tmp):
    """The vmexit workload: per system and test, host ns per exit = ns per iteration of the test
    minus ns per iteration of the null loop, median and min-max over the runs (interleaved, after
    a warm-up, like measure())."""
    res = {s.name: {"samples": [], "skip": s.skip} for s in systems}
    live = []
    for s in systems:
        e = res[s.name]
        if e["skip"]:
            continue
        if not s.counts:
            e["skip"] = "its serial output is not captured"
        elif s.timed_out_on:
            e["skip"] = f"timed out on {s.timed_out_on} (over {timeout:g} s)"
        else:
            e["n"] = iters * VMEXIT_ITERS_SCALE.get(s.name, 1)
            live.append(s)

    def one(s, label):
        e = res[s.name]
        js = os.path.join(tmp, f"{s.name}.stats.json")
        if os.path.exists(js):
            os.unlink(js)
        r = s.run(workload["image"], timeout, append=f"n={e['n']}", stats_json=js)
        if r["timed_out"]:
            s.timed_out_on = workload["name"]
        why = problem(r, expect_status, False, timeout)
        p = parse_vmexit(r) if not why else why
        if isinstance(p, str):
            e["skip"] = f"{label} failed: {p}"
            print(f"  {s.name}: {e['skip']}", file=sys.stderr)
            return
        p["stats"] = vmexit_stats(js, p["n"])
        p.update({k: r[k] for k in ("wall", "rss_kib")})
        return p

    for s in live:
        one(s, "warm-up")
    for i in range(runs):
        for s in live:
            e = res[s.name]
            if e["skip"]:
                continue
            p = one(s, f"run {i + 1}")
            if p:
                e["samples"].append(p)
                print(f"  {workload['name']:10} {s.name:15} run {i + 1}: {p['wall']:.3f} s, "
                      f"TSC {p['tsc_hz'] / 1e9:.3f} GHz", file=sys.stderr)
    tests = []
    for s in systems:
        e = res[s.name]
        if e["skip"] or not e["samples"]:
            e["skip"] = e["skip"] or "no valid run"
            continue
        e["wall_median_s"] = statistics.median(p["wall"] for p in e["samples"])
        e["rss_peak_kib"] = max(p["rss_kib"] for p in e["samples"])
        e["tsc_ghz"] = statistics.median(p["tsc_hz"] for p in e["samples"]) / 1e9
        e["skipped_tests"] = e["samples"][-1]["skipped"]
        e["tests"] = {}
        for name in e["samples"][0]["tests"]:
            if name not in tests:
                tests.append(name)
            per_iter = [p["tests"][name] for p in e["samples"] if name in p["tests"]]
            t = {"ns_per_iter_median": statistics.median(per_iter)}
            if name != "null":
                net = [p["tests"][name] - p["tests"]["null"] for p in e["samples"]
                       if name in p["tests"]]
                t.update({"ns_per_exit_median": statistics.median(net),
                          "ns_per_exit_min": min(net), "ns_per_exit_max": max(net)})
            st = [p["stats"][name] for p in e["samples"] if name in p["stats"]]
            if st:
                t["vmm_exits_per_iter"] = st[-1][0]
                handler = [h for _, h in st if h is not None]
                t["vmm_handler_ns_median"] = statistics.median(handler) if handler else None
            e["tests"][name] = t
    soft = res.get("tollbooth-soft", {}).get("tests", {})
    for s in systems:
        for name, t in res[s.name].get("tests", {}).items():
            base = soft.get(name, {}).get("ns_per_exit_median")
            if base and t.get("ns_per_exit_median") is not None:
                t["ratio_to_soft"] = t["ns_per_exit_median"] / base
    return {"workload": workload, "instructions": None, "tests": tests, "systems": res}


def markdown_vmexit(w, systems):
    """Two tables: test x system -> ns per exit with each system's ratio to tollbooth soft; then
    the detail per test and system (per iteration, min-max, exits the VMM saw, its share)."""
    res = w["systems"]
    cols = [s for s in systems if not res[s.name]["skip"]]
    others = [s for s in cols if s.name != "tollbooth-soft"]
    soft = next((s for s in cols if s.name == "tollbooth-soft"), None)
    lines = [f"VM exit cost ({os.path.basename(w['workload']['image'])}): host ns per exit, "
             "median of the runs; the null loop is subtracted. "
             + "; ".join(f"{s.label}: {res[s.name]['n']:,} iterations per test, TSC "
                         f"{res[s.name]['tsc_ghz']:.3f} GHz" for s in cols) + ".", ""]
    for s in systems:
        if res[s.name]["skip"]:
            lines.append(f"- {s.label}: skipped: {res[s.name]['skip']}")
    if not cols:
        return "\n".join(lines) + "\n"
    if len(lines) > 2:
        lines.append("")
    head = "| test | " + " | ".join(f"{s.label} ns/exit" for s in cols)
    if soft:
        head += "".join(f" | {s.label} / soft" for s in others)
    lines += [head + " |", "|---|" + "---:|" * (len(cols) + (len(others) if soft else 0))]
    for name in w["tests"]:
        if name == "null":
            row = f"| null loop (ns/iteration) | " + " | ".join(
                fmt(res[s.name]["tests"].get("null", {}).get("ns_per_iter_median"), ",.1f")
                for s in cols)
            row += " | " * len(others) if soft else ""
            lines.append(row + " |")
            continue
        cells = []
        for s in cols:
            t = res[s.name]["tests"].get(name)
            why = res[s.name]["skipped_tests"].get(name)
            cells.append(fmt(t and t.get("ns_per_exit_median"), ",.0f",
                             none=f"skipped: {why}" if why else "–"))
        if soft:
            cells += [fmt(res[s.name]["tests"].get(name, {}).get("ratio_to_soft"), ".3g")
                      for s in others]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines += ["", "| test | system | ns/iteration | ns/exit min–max | exits to the VMM per "
              "iteration | VMM handler ns/exit |", "|---|---|---:|---:|---:|---:|"]
    for name in w["tests"]:
        for s in cols:
            t = res[s.name]["tests"].get(name)
            if not t:
                continue
            mm = (f"{t['ns_per_exit_min']:,.0f}–{t['ns_per_exit_max']:,.0f}"
                  if "ns_per_exit_min" in t else "")
            epi = t.get("vmm_exits_per_iter")
            lines.append(f"| {name} | {s.label} | {t['ns_per_iter_median']:,.1f} | {mm} | "
                         f"{fmt(epi, '.2f', none='')} | "
                         f"{fmt(t.get('vmm_handler_ns_median'), ',.0f', none='')} |")
    return "\n".join(lines) + "\n"


def fmt(v, spec, none="–"):
    return none if v is None else format(v, spec)


def markdown(results, systems, meta):
    vmexit = [w for w in results if w["workload"]["kind"] == "vmexit"]
    results = [w for w in results if w["workload"]["kind"] != "vmexit"]
    if not results:
        return "".join(f"tollbooth bench, {meta['date']}: {meta['cpu']}, {meta['cores']} cores; "
                       f"{meta['runs']} runs per system after one warm-up, interleaved.\n\n"
                       + markdown_vmexit(w, systems) for w in vmexit)
    lines = [
        f"tollbooth bench, {meta['date']}: {meta['cpu']}, {meta['cores']} cores; "
        f"{meta['runs']} runs per system after one warm-up, interleaved; "
        f"speed vs soft = soft median / system median (above 1: faster than tollbooth soft).",
        "",
        "| workload | instructions | system | median s | min–max s | MIPS | MIPS net of start-up "
        "| speed vs soft | first byte ms | peak RSS MiB |",
        "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for w in results:
        n = w["instructions"]
        for s in systems:
            e = w["systems"][s.name]
            if e.get("skip") or "median_s" not in e:
                why = e.get("skip") or "no valid run"
                lines.append(f"| {w['workload']['name']} | {fmt(n, ',')} | {s.label} | "
                             f"skipped: {why} | | | | | | |")
                continue
            fb = e["first_byte_median_s"]
            lines.append(
                f"| {w['workload']['name']} | {fmt(n, ',')} | {s.label} | {e['median_s']:.3f} "
                f"| {e['min_s']:.3f}–{e['max_s']:.3f} | {fmt(e.get('mips'), ',.0f')} "
                f"| {fmt(e.get('mips_net'), ',.0f')} "
                f"| {fmt(e.get('speed_vs_soft'), '.3g')} | {fmt(fb and fb * 1e3, '.1f')} "
                f"| {e['rss_peak_kib'] / 1024:.1f} |")
    lines.append("")
    lines.append("Workloads: " + "; ".join(
        f"**{w['workload']['name']}** ({os.path.basename(w['workload']['image'])}): "
        f"{w['workload']['desc'] or 'no description'}" for w in results + vmexit))
    for w in vmexit:
        lines += ["", markdown_vmexit(w, systems).rstrip("\n")]
    return "\n".join(lines) + "\n"


def svg_chart(results, systems):
    """Horizontal bars of speed vs tollbooth soft on a log scale, growing from 1 (soft itself):
    right is faster, left slower. One group per workload."""
    bars = []
    for w in results:
        for s in systems:
            v = w["systems"][s.name].get("speed_vs_soft")
            if s.name == "tollbooth-soft":
                continue
            if v:
                bars.append((w["workload"]["name"], s.label, v))
    if not bars:
        return None
    lo = min(0.1, min(v for *_, v in bars) / 1.5)
    hi = max(10.0, max(v for *_, v in bars) * 1.5)
    left, width, bar_h, gap = 230, 520, 16, 4
    height = 40 + len(bars) * (bar_h + gap) + 30
    colors = ["#4c72b0", "#55a868", "#c44e52", "#8172b2", "#ccb974"]
    color_of = {s.label: colors[i % len(colors)] for i, s in enumerate(systems)}

    def x(v):
        return left + width * (math.log10(v) - math.log10(lo)) / (math.log10(hi) - math.log10(lo))

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{left + width + 80}" '
           f'height="{height}" font-family="sans-serif" font-size="12">',
           f'<text x="10" y="18" font-size="14">Speed relative to tollbooth soft '
           f'(soft median time / system median time, log scale)</text>']
    y = 34
    for wname, label, v in bars:
        out.append(f'<text x="{left - 6}" y="{y + 12}" text-anchor="end">'
                   f'{html.escape(wname)} · {html.escape(label)}</text>')
        x0, x1 = sorted((x(1.0), x(v)))
        out.append(f'<rect x="{x0:.1f}" y="{y}" width="{max(x1 - x0, 1):.1f}" height="{bar_h}" '
                   f'fill="{color_of[label]}"/>')
        out.append(f'<text x="{x1 + 4:.1f}" y="{y + 12}">{v:.3g}×</text>')
        y += bar_h + gap
    decade = 10 ** math.floor(math.log10(lo))
    while decade <= hi:
        if decade >= lo:
            out.append(f'<line x1="{x(decade):.1f}" y1="30" x2="{x(decade):.1f}" y2="{y}" '
                       f'stroke="#999" stroke-dasharray="2,2"/>')
            out.append(f'<text x="{x(decade):.1f}" y="{y + 14}" text-anchor="middle">'
                       f'{decade:g}</text>')
        decade *= 10
    out.append("</svg>")
    return "\n".join(out) + "\n"


def machine_meta(args):
    cpu = platform.processor() or "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(l.split(":", 1)[1].strip() for l in f if l.startswith("model name"))
    except (OSError, StopIteration):
        pass
    rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    qv = ""
    if shutil.which(QEMU):
        qv = subprocess.run([QEMU, "--version"], capture_output=True, text=True).stdout
    return {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "cpu": cpu,
        "cores": os.cpu_count(),
        "kernel": platform.release(),
        "tollbooth_rev": rev.stdout.strip() or None,
        "qemu_version": qv.splitlines()[0] if qv else None,
        "runs": args.runs,
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tollbooth", default="build/tollbooth", help="tollbooth executable")
    ap.add_argument("--images", default="build/guests",
                    help="directory of guest images: bench-<workload>.elf, hello.elf")
    ap.add_argument("--image", action="append", default=[], metavar="PATH",
                    help="measure this image too (may repeat)")
    ap.add_argument("--startup", help="trivial guest for the start-up row "
                    "(default: bench-startup.elf, else hello.elf, in --images)")
    ap.add_argument("--out", default="build/bench", help="output directory")
    ap.add_argument("--runs", type=int, default=5, help="measured runs per system (>= 5)")
    ap.add_argument("--timeout", type=float, default=90,
                    help="seconds per run; a system that times out is dropped from the later "
                    "throughput workloads")
    ap.add_argument("--expect-status", type=int, default=1,
                    help="process exit status of a passing guest (debug-exit 0 -> 1)")
    ap.add_argument("--systems", help="comma-separated subset of: tollbooth-soft, "
                    "tollbooth-kvm, qemu-tcg, qemu-kvm, bochs")
    ap.add_argument("--qemu-mem", type=int, default=256, help="guest memory, MiB (QEMU -m, "
                    "Bochs megs)")
    ap.add_argument("--workloads", help="comma-separated subset of the workloads by name "
                    "(alu, mem, tlb, call, branch, vmexit, startup, ...)")
    ap.add_argument("--vmexit-iters", type=int, default=20000,
                    help="vmexit guest: iterations per test on the hardware-backed systems; "
                    "tollbooth soft runs 10 times, QEMU TCG 100 times as many")
    ap.add_argument("--install", action="store_true",
                    help="apt-get install missing systems (Bochs and its boot tools) when root")
    args = ap.parse_args()
    set_peakrss(args.out)
    if args.runs < 1:
        ap.error("--runs must be at least 1")
    if not 1 <= args.vmexit_iters <= 10000000:
        ap.error("--vmexit-iters must be from 1 to 10000000")

    systems = make_systems(args.tollbooth, args.qemu_mem, args.out)
    if args.systems:
        want = args.systems.split(",")
        unknown = set(want) - {s.name for s in systems}
        if unknown:
            ap.error(f"unknown system(s): {', '.join(sorted(unknown))}")
        systems = [s for s in systems if s.name in want]
    if args.install and any(s.name == "bochs" for s in systems):
        msg = bochs.install()
        if msg:
            print(f"bench: installing Bochs: {msg}", file=sys.stderr)
    for s in systems:
        if not s.check():
            print(f"bench: skipping {s.label}: {s.skip}", file=sys.stderr)

    workloads = find_workloads(args.images, args.startup)
    for img in args.image:
        workloads.insert(len(workloads) - (workloads and workloads[-1]["kind"] == "startup"),
                         {"name": os.path.splitext(os.path.basename(img))[0], "image": img,
                          "desc": "", "kind": "throughput"})
    if args.workloads:
        want = args.workloads.split(",")
        unknown = set(want) - {w["name"] for w in workloads}
        if unknown:
            ap.error(f"no such workload(s) in {args.images}: {', '.join(sorted(unknown))}")
        workloads = [w for w in workloads if w["name"] in want]
    if not workloads:
        print(f"bench: no guest images in {args.images} (build them first, or pass --image)",
              file=sys.stderr)
        return 1

    meta = machine_meta(args)
    results = []
    for w in workloads:
        print(f"bench: {w['name']} ({w['image']})", file=sys.stderr)
        if w["kind"] == "vmexit":
            with tempfile.TemporaryDirectory() as tmp:
                results.append(measure_vmexit(w, systems, args.runs, args.timeout,
                                              args.expect_status, args.vmexit_iters, tmp))
            continue
        results.append(measure(w, systems, args.runs, args.timeout, args.expect_status))

    add_net_mips(results)
    os.makedirs(args.out, exist_ok=True)
    md = markdown(results, systems, meta)
    chart = svg_chart(results, systems)
    with open(os.path.join(args.out, "results.md"), "w") as f:
        f.write(md)
        if chart:
            f.write("\n![speed relative to tollbooth soft](ratios.svg)\n")
    with open(os.path.join(args.out, "results.json"), "w") as f:
        json.dump({"meta": meta,
                   "systems": [{"name": s.name, "label": s.label, "skip": s.skip}
                               for s in systems],
                   "results": results}, f, indent=2)
        f.write("\n")
    if chart:
        with open(os.path.join(args.out, "ratios.svg"), "w") as f:
            f.write(chart)
    sys.stdout.write(md)
    print(f"bench: wrote {args.out}/results.md, results.json" + (", ratios.svg" if chart else ""),
          file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
