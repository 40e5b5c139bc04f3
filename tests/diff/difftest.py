#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Differential tester driver (issue 4; docs/difftest.md): hardware as the oracle for soft.

Runs build/guests/difftest.elf on two backends with the same seed and compares the hash lines.
On the first divergence it narrows it down to one block (start=/group=1) and reruns that block
in dump mode on both backends; it prints the seed, the block, every instruction (bytes,
disassembly, flags left undefined before it) and both states with the differences marked.

    tests/diff/difftest.py [--seed S] [--seeds K] [--insns N | --blocks M] [--a soft]
                           [--b kvm|qemu-kvm|qemu-tcg|soft] [--check]

--check: the bounded run of `make check`: a self-test (an injected divergence must be found)
and a few seeds of 10000 instructions, then one summary line "difftest: N passed, M failed"
(one pass per seed); skips, with the reason, when the oracle backend cannot run here.
"""
import argparse
import contextlib
import io
import os
import re
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FEATURES = ("popcnt", "lzcnt", "bmi1", "lahf", "movbe", "cx16")
REGS = ("rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi", "r8", "r9", "r10", "r11",
        "r12", "r13", "r14", "r15")
FLAG_NAMES = ((0, "CF"), (2, "PF"), (4, "AF"), (6, "ZF"), (7, "SF"), (8, "TF"), (9, "IF"),
              (10, "DF"), (11, "OF"), (16, "RF"), (18, "AC"), (21, "ID"))


class Backend:
    def __init__(self, name, tollbooth, guest, timeout, extra="", label=None, tb_args=()):
        self.name, self.tollbooth, self.guest, self.timeout = name, tollbooth, guest, timeout
        self.label = label or name
        self.extra = extra  # appended to every command line (the self-test's flip=)
        self.tb_args = list(tb_args) if name == "soft" else []  # e.g. --jit eager

    def cmd(self, append):
        if self.name in ("soft", "kvm"):
            return [self.tollbooth, "run", "--accel", self.name, *self.tb_args, "--append", append,
                    self.guest]
        accel = self.name.split("-", 1)[1]
        return ["qemu-system-x86_64", "-accel", accel, "-cpu", "max", "-kernel", self.guest,
                "-append", append, "-display", "none", "-serial", "stdio", "-device",
                "isa-debug-exit,iobase=0xf4,iosize=0x04", "-no-reboot", "-m", "64"]

    def run(self, append):
        """The guest's output lines, or raise RuntimeError with the reason."""
        append += self.extra
        try:
            p = subprocess.run(self.cmd(append), stdin=subprocess.DEVNULL, capture_output=True,
                               text=True, errors="replace", timeout=self.timeout)
        except FileNotFoundError as e:
            raise RuntimeError(f"{self.name}: {e}")
        except subprocess.TimeoutExpired:
            raise RuntimeError(f"{self.name}: timed out after {self.timeout}s ({append})")
        lines = [l.rstrip("\r") for l in p.stdout.splitlines()]
        if p.returncode != 1 or not any(l.startswith(("end ", "hash ")) for l in lines):
            why = (p.stderr.strip().splitlines() or [""])[-1]
            fail = [l for l in lines if l.startswith("FAIL")]
            raise RuntimeError(f"{self.name}: exit status {p.returncode}"
                               f"{': ' + why if why else ''}{' ' + fail[0] if fail else ''}")
        return lines


def kvm_unusable(tollbooth):
    """None when `tollbooth kvm-ok` says --accel kvm can run here, else its reason. The probe never
    opens a path it does not find (TOLLBOOTH_KVM_DEV names the device)."""
    try:
        p = subprocess.run([tollbooth, "kvm-ok"], stdin=subprocess.DEVNULL, capture_output=True,
                           text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"{tollbooth} kvm-ok: {e}"
    if p.returncode == 0:
        return None
    return (p.stderr.strip().splitlines() or ["kvm-ok failed"])[-1].removeprefix("tollbooth: ")


def header(lines):
    for l in lines:
        if l.startswith("difftest "):
            return dict(w.split("=", 1) for w in l.split()[1:])
    return {}


def groups(lines):
    out = {}
    for l in lines:
        m = re.match(r"g (\d+) ([0-9a-f]{16})$", l)
        if m:
            out[int(m.group(1))] = m.group(2)
    return out


def end_line(lines):
    for l in lines:
        if l.startswith("end "):
            return dict(w.split("=", 1) for w in l.split()[1:])
    return {}


def parse_dump(lines):
    d = {"insns": [], "regs": {}, "page": {}, "code": ""}
    for l in lines:
        w = l.split()
        if not w:
            continue
        if w[0] == "code":
            d["code"] += w[1] if len(w) > 1 else ""
        elif w[0] == "insn":
            d["insns"].append((int(w[2]), int(w[3]), int(w[4], 16)))
        elif w[0] == "reg":
            d["regs"][w[1]] = (int(w[2], 16), int(w[3], 16))
        elif w[0] == "rflags":
            d["rflags"] = (int(w[1], 16), int(w[2], 16))
            d["undef"] = int(w[4], 16)
            d["masked"] = int(w[6], 16)
        elif w[0] == "exit":
            d["vector"], d["error"], d["rip"] = int(w[2], 16), int(w[4], 16), int(w[6][1:], 16)
            d["cr2"] = int(w[8], 16) if len(w) > 8 else 0
        elif w[0] == "page":
            d["page"][int(w[1], 16)] = bytes.fromhex(w[2])
        elif w[0] == "hash":
            d["hash"] = w[1]
    return d


def flag_str(v):
    return " ".join(n for b, n in FLAG_NAMES if v >> b & 1) or "-"


def disassemble(code):
    """{offset: text} for the block's bytes, from objdump."""
    with tempfile.NamedTemporaryFile(suffix=".bin") as f:
        f.write(code)
        f.flush()
        try:
            out = subprocess.run(["objdump", "-D", "-b", "binary", "-mi386:x86-64", f.name],
                                 capture_output=True, text=True).stdout
        except FileNotFoundError:
            return {}
    dis = {}
    for l in out.splitlines():
        m = re.match(r"\s*([0-9a-f]+):\t[0-9a-f ]+\t(.*)$", l)
        if m:
            dis[int(m.group(1), 16)] = m.group(2).strip()
    return dis


def report(seed, block, a, b, da, db, opts):
    print(f"DIVERGENCE seed={seed} block={block} ({a.label} vs {b.label}); reproduce: "
          f"--append \"seed={seed} dump={block}{opts}\"")
    code = bytes.fromhex(da["code"])
    dis = disassemble(code)
    print(f"  {len(da['insns'])} instructions (undef = arithmetic flags undefined before it):")
    for off, ln, undef in da["insns"]:
        mark = "  <- exit" if da.get("rip") == off and da.get("vector", 0xff) != 0xff else ""
        mark_b = "  <- exit on " + b.label if db.get("rip") == off and \
            db.get("vector", 0xff) != 0xff else ""
        print(f"    +{off:03x} {code[off:off + ln].hex():<30} {dis.get(off, '?'):<40} "
              f"undef[{flag_str(undef)}]{mark}{mark_b}")
    print(f"  {'':8} {'input':>16}  {a.label:>16}  {b.label:>16}")
    for r in REGS:
        ia, oa = da["regs"].get(r, (0, 0))
        ob = db["regs"].get(r, (0, 0))[1]
        print(f"  {r:8} {ia:016x}  {oa:016x}  {ob:016x}{'  <<' if oa != ob else ''}")
    fa, fb = da["rflags"][1], db["rflags"][1]
    ma, mb = da["masked"], db["masked"]
    print(f"  {'rflags':8} {da['rflags'][0]:016x}  {fa:016x}  {fb:016x}"
          f"{'  <<' if ma != mb else ''}")
    print(f"    {a.label}: [{flag_str(fa)}]  {b.label}: [{flag_str(fb)}]  undefined at exit: "
          f"[{flag_str(da['undef'])}]  differing defined: [{flag_str(ma ^ mb)}]")
    for k in ("vector", "error", "rip", "cr2"):
        va, vb = da.get(k), db.get(k)
        print(f"  exit {k:6} {a.label}={va:#x} {b.label}={vb:#x}{'  <<' if va != vb else ''}")
    diffs = []
    for off in sorted(da["page"]):
        pa, pb = da["page"][off], db["page"].get(off, b"")
        for i in range(len(pa)):
            if i >= len(pb) or pa[i] != pb[i]:
                diffs.append((off + i, pa[i], pb[i] if i < len(pb) else None))
    if diffs:
        print(f"  data page: {len(diffs)} bytes differ: " + ", ".join(
            f"+{o:03x} {x:02x}/{'--' if y is None else f'{y:02x}'}" for o, x, y in diffs[:24]))


def features(a, b):
    """Instructions both backends advertise: the generator must emit the same bytes on both."""
    ha, hb = header(a.run("blocks=0")), header(b.run("blocks=0"))
    return "".join(f" {k}={int(ha.get(k, '0') == '1' and hb.get(k, '0') == '1')}"
                   for k in FEATURES)


def compare_seed(a, b, seed, size, group, opts):
    """True if both backends agree on this seed; otherwise report the first divergence."""
    args = f"seed={seed} {size} group={group}{opts}"
    la, lb = a.run(args), b.run(args)
    ga, gb = groups(la), groups(lb)
    ea, eb = end_line(la), end_line(lb)
    if ga == gb and ea == eb:
        print(f"ok seed {seed}: blocks={ea.get('blocks')} insns={ea.get('insns')} "
              f"faults={ea.get('faults')} hash={ea.get('hash')}")
        return True, int(ea.get("insns", 0))
    bad = min(set(ga) | set(gb), key=lambda g: (ga.get(g) == gb.get(g), g))
    sub = f"seed={seed} start={bad * group} blocks={group} group=1{opts}"
    ba, bb = groups(a.run(sub)), groups(b.run(sub))
    block = min((k for k in set(ba) | set(bb) if ba.get(k) != bb.get(k)), default=bad * group)
    dump = f"seed={seed} dump={block}{opts}"
    report(seed, block, a, b, parse_dump(a.run(dump)), parse_dump(b.run(dump)), opts)
    return block, int(ea.get("insns", 0))


def self_test(tb, guest, timeout):
    """soft vs soft with RAX flipped after block 77 on one side: the divergence must be found."""
    a = Backend("soft", tb, guest, timeout)
    b = Backend("soft", tb, guest, timeout, " flip=77", "soft+flip")
    with contextlib.redirect_stdout(io.StringIO()):
        found, _ = compare_seed(a, b, 5, "blocks=200", 64, "")
    ok = found == 77
    print(f"{'ok' if ok else 'FAIL'} difftest self-test: an injected divergence in block 77 "
          f"{'is' if ok else 'is not'} found (got {found})")
    return ok


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tollbooth", default=None)
    ap.add_argument("--guest", default=None)
    ap.add_argument("--a", default="soft")
    ap.add_argument("--b", default="kvm")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--seeds", type=int, default=1)
    ap.add_argument("--insns", type=int, default=0)
    ap.add_argument("--blocks", type=int, default=0)
    ap.add_argument("--group", type=int, default=64)
    ap.add_argument("--timeout", type=int, default=600)
    ap.add_argument("--check", action="store_true")
    ap.add_argument("--extra", default="", help="more guest words, e.g. noncanon=1")
    ap.add_argument("--jit", default=None, choices=("on", "off", "eager"),
                    help="the soft backend's --jit (--check: eager, and one seed more with off)")
    o = ap.parse_args()
    broot = os.environ.get("BUILD_ROOT", "build")
    tb = o.tollbooth or os.path.join(ROOT, broot, "tollbooth")
    guest = o.guest or os.path.join(ROOT, broot, "guests", "difftest.elf")
    if o.check and not (o.insns or o.blocks):
        o.seeds, o.insns = max(o.seeds, 3), 10000
    size = f"insns={o.insns}" if o.insns else f"blocks={o.blocks or 1000}"
    # Random blocks run once each, so under the default --jit only the interpreter would meet
    # them: --check compiles every block (eager) and adds one interpreted seed.
    jit = o.jit or ("eager" if o.check else None)
    tb_args = ["--jit", jit] if jit else []
    a = Backend(o.a, tb, guest, o.timeout, tb_args=tb_args)
    b = Backend(o.b, tb, guest, o.timeout, tb_args=tb_args)
    runs = [(a, b, seed) for seed in range(o.seed, o.seed + o.seeds)]
    if o.check and not o.jit:
        runs.append((Backend(o.a, tb, guest, o.timeout, tb_args=["--jit", "off"]),
                     Backend(o.b, tb, guest, o.timeout, tb_args=["--jit", "off"]),
                     o.seed + o.seeds))

    if "kvm" in (o.a + o.b):
        why = kvm_unusable(tb)
        if why:
            print(f"SKIP difftest: KVM is not usable here: {why}")
            print("difftest: 0 passed, 0 failed")
            return 0
    try:
        opts = features(a, b) + (" " + o.extra if o.extra else "")
    except RuntimeError as e:
        if o.check:
            print(f"SKIP difftest: the oracle cannot run here: {e}")
            print("difftest: 0 passed, 0 failed")
            return 0
        print(f"FAIL difftest: {e}")
        return 1
    print(f"difftest {a.name} vs {b.name}: seeds {o.seed}..{runs[-1][2]}, {size}, "
          f"group={o.group},{opts}{' soft: --jit ' + jit if jit else ''}"
          f"{' (last seed --jit off)' if len(runs) > o.seeds else ''}")
    passed = failed = insns = 0
    if o.check:
        try:
            ok = self_test(tb, guest, o.timeout)
        except RuntimeError as e:
            print(f"FAIL difftest self-test: {e}")
            ok = False
        passed += ok
        failed += not ok
    for a, b, seed in runs:
        try:
            ok, n = compare_seed(a, b, seed, size, o.group, opts)
        except RuntimeError as e:
            print(f"FAIL difftest seed {seed}: {e}")
            ok, n = False, 0
        insns += n
        passed += ok is True
        failed += ok is not True
    print(f"difftest: {insns} instructions compared")
    print(f"difftest: {passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
