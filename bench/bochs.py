# SPDX-License-Identifier: MIT
"""Run a multiboot guest image on Bochs 2.7 (Debian's build), headless, for bench.py.

Bochs cannot load a multiboot ELF itself, so the image goes on a GRUB rescue ISO (grub-mkrescue)
that boots it from the emulated CD-ROM. Bochs has no isa-debug-exit device: the guest's exit()
writes its code to port 0xf4 (OUT from EAX) and then halts with interrupts off, which Bochs logs as
"HLT instruction with IF=0". That line ends the run: Debian's bochs is built with its debugger, so
SIGINT stops it at the debugger prompt, `r` shows RAX (the exit code, still there from the OUT),
and Bochs is killed. A breakpoint on the guest's `exit` would be simpler but makes Bochs check
every instruction against it: almost twice as slow. The wall time includes BIOS and GRUB.

The only display library Debian ships without X is `term` (curses), so Bochs runs on a
pseudo-terminal whose output is kept only to read the debugger's answers. Serial output is not
captured: the guest's instruction count comes from the other systems running the same image.
"""
import os
import pty
import re
import select
import shutil
import signal
import subprocess
import time

PACKAGES = ["bochs", "bochsbios", "bochs-term", "vgabios", "grub-pc-bin", "xorriso", "mtools"]
BIOS = "/usr/share/bochs/BIOS-bochs-latest"
VGABIOS = "/usr/share/bochs/VGABIOS-lgpl-latest"
TERM_PLUGIN_GLOB = "/usr/lib/x86_64-linux-gnu/bochs/plugins/libbx_term_gui.so"


def reason():
    """None if Bochs can run here, else why not."""
    missing = [t for t in ("bochs", "grub-mkrescue", "xorriso", "mformat") if not shutil.which(t)]
    missing += [f for f in (BIOS, VGABIOS, TERM_PLUGIN_GLOB) if not os.path.exists(f)]
    if missing:
        return (f"missing {', '.join(missing)} (apt-get install {' '.join(PACKAGES)}; "
                f"make bench installs them when run as root)")
    return None


def install():
    """apt-get install the packages when root; returns a message."""
    if reason() is None:
        return None
    if os.geteuid() != 0:
        return f"not root: run apt-get install {' '.join(PACKAGES)}"
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    r = subprocess.run(["apt-get", "install", "-y", "--no-install-recommends"] + PACKAGES,
                       capture_output=True, text=True, env=env)
    return None if r.returncode == 0 else f"apt-get failed: {r.stderr.strip()[-200:]}"


class Runner:
    """Prepares one ISO, bochsrc and debugger script per image under workdir."""

    def __init__(self, workdir, mem_mib):
        self.workdir, self.mem_mib = workdir, mem_mib
        self.prepared = {}

    def prepare(self, image):
        if image in self.prepared:
            return self.prepared[image]
        stem = os.path.splitext(os.path.basename(image))[0]
        d = os.path.join(self.workdir, stem)
        shutil.rmtree(d, ignore_errors=True)
        os.makedirs(os.path.join(d, "iso", "boot", "grub"))
        shutil.copyfile(image, os.path.join(d, "iso", "boot", "guest.elf"))
        with open(os.path.join(d, "iso", "boot", "grub", "grub.cfg"), "w") as f:
            f.write("set timeout=0\nset default=0\n"
                    "menuentry guest {\n\tmultiboot /boot/guest.elf\n\tboot\n}\n")
        iso = os.path.join(d, "guest.iso")
        r = subprocess.run(["grub-mkrescue", "-o", iso, os.path.join(d, "iso")],
                           capture_output=True, text=True)
        if r.returncode:
            raise RuntimeError(f"grub-mkrescue failed: {r.stderr.strip()[-200:]}")
        rc, log = os.path.join(d, "bochsrc"), os.path.join(d, "bochs.log")
        with open(rc, "w") as f:
            f.write(f"megs: {self.mem_mib}\n"
                    f"romimage: file={BIOS}\n"
                    f"vgaromimage: file={VGABIOS}\n"
                    f"ata0-master: type=cdrom, path={iso}, status=inserted\n"
                    "boot: cdrom\n"
                    "display_library: term\n"
                    "cpu: model=corei7_sandy_bridge_2600k\n"
                    "clock: sync=none, time0=local\n"
                    "sound: waveoutdrv=dummy\n"
                    "speaker: enabled=0\n"
                    f"log: {log}\n")
        cmds = os.path.join(d, "debugger.rc")
        with open(cmds, "w") as f:
            f.write("c\n")
        self.prepared[image] = (rc, cmds, log)
        return self.prepared[image]

    def run(self, image, timeout):
        """Same result dict as bench.run_once; status is (RAX << 1) | 1 at the final HLT."""
        rc, cmds, log = self.prepare(image)
        if os.path.exists(log):
            os.unlink(log)
        master, slave = pty.openpty()
        t0 = time.perf_counter()
        p = subprocess.Popen(["bochs", "-q", "-f", rc, "-rc", cmds], stdin=slave, stdout=slave,
                             stderr=slave, env=dict(os.environ, TERM="xterm"))
        os.close(slave)
        out, pos, wall, stop_at = b"", 0, None, t0 + timeout
        timed_out = False
        while p.poll() is None:
            now = time.perf_counter()
            if now > stop_at:
                timed_out = wall is None
                break
            if select.select([master], [], [], 0.02)[0]:
                try:
                    out += os.read(master, 65536)
                except OSError:  # EIO: Bochs closed the terminal
                    break
            if wall is not None:
                if b"rax:" in out[mark:]:
                    break
                continue
            try:
                with open(log, "rb") as f:
                    f.seek(pos)
                    data = f.read()
            except OSError:
                data = b""
            end = data.rfind(b"\n") + 1
            if b"HLT instruction with IF=0" in data[:end]:
                wall = time.perf_counter() - t0
                mark = len(out)
                os.kill(p.pid, signal.SIGINT)
                time.sleep(0.2)
                os.write(master, b"r\n")
                stop_at = time.perf_counter() + 2
            pos += end
        if p.poll() is None:
            p.kill()
        _, status, ru = os.wait4(p.pid, 0)
        p.returncode = os.waitstatus_to_exitcode(status)
        os.close(master)
        text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", " ", out.decode("utf-8", "replace"))
        rax = re.search(r"\brax\s*:\s*(?:0x)?([0-9a-f_]+)", text)
        guest_status = -1
        if wall is not None and rax:
            guest_status = ((int(rax.group(1).replace("_", ""), 16) & 0xff) << 1) | 1
        if wall is None:
            err = "Bochs ended before the guest halted" if not timed_out else ""
        else:
            err = "" if rax else "no register dump from the Bochs debugger"
        return {
            "wall": wall if wall is not None else time.perf_counter() - t0,
            "first_byte": None,
            "rss_kib": ru.ru_maxrss,
            "status": guest_status,
            "timed_out": timed_out,
            "out": "",
            "err": err,
        }
