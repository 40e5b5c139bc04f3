#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Write the seed corpora of the fuzz targets into tests/fuzz/corpus/<target>/.

Run from the repository root after `make guests` (the multiboot seeds are cut from built guests):
    tests/fuzz/make_seeds.py [GUEST_DIR]      (default build/guests)
The seeds are committed; this script records where they came from and rewrites them. Files the
fuzzers found (crash reproducers kept as regression inputs) are named crash-* and left alone.
Input formats: see the comment at the top of each tests/fuzz/fuzz_<target>.c.
"""
import os
import struct
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")


def write(target, name, data):
    d = os.path.join(ROOT, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


# --- decode: mode byte (0 64-bit, 1 compat 32, 2 legacy 32, 3 compat 16, 4 legacy 16), bytes ---
DECODE = {
    "mov-r64-imm64": (0, "48 b8 88 77 66 55 44 33 22 11"),
    "rip-relative": (0, "48 8b 05 10 20 30 40"),
    "sib-disp32": (0, "8b 84 8b 78 56 34 12"),
    # found by fuzz_decode: a hint NOP here, MPX's BNDMOV with a 64-bit address for Zydis
    "hint-nop-bndmov-addr32": (0, "66 67 48 0f 1b 94 00 00 08 00 00"),
    # found by fuzz_decode: Zydis 4.0 reads this as [r13d+r8d] (zyantific/zydis#592)
    "addr32-sib-no-base-rex-b": (0, "67 47 ff 2c 05 78 56 34 12"),
    "lock-cmpxchg16b": (0, "f0 48 0f c7 0e"),
    "rep-movsq": (0, "f3 48 a5"),
    "vex3-vpaddd": (0, "c4 e2 7d 00 c1"),
    "evex-vaddps": (0, "62 f1 74 48 58 c2"),
    "redundant-prefixes": (0, "66 66 2e 3e 64 66 48 0f 1f 84 00 00 00 00 00"),
    "moffs64": (0, "48 a1 f0 de bc 9a 78 56 34 12"),
    "x87-fld": (1, "dd 44 24 08"),
    "enter": (2, "c8 10 00 01"),
    "far-jmp32": (2, "ea 2a 00 10 00 10 00"),
    "lgdt32": (2, "0f 01 15 ea 25 10 00"),
    "les-not-vex": (2, "c4 06"),
    "16-mov-ax-imm": (4, "b8 34 12"),
    "16-opsize-far-jmp": (4, "66 ea 00 00 10 00 08 00"),
    "16-modrm-bp-si": (3, "8b 42 08"),
    "16-addr32": (4, "67 8b 04 8d 00 10 00 00"),
}

# --- mmio: control byte (mode 0 real, 1 16-bit protected, 2 32-bit, 3 64-bit; bit 2 the EPT
# violation is a write; bits 7:4 bytes fetchable, 15 all), 8 bytes registers, 8 bytes device data,
# 8 bytes RIP, 4 bytes CS base, the instruction bytes ---
MMIO = {
    # name: (mode, write, fetchable, RIP, CS base, bytes)
    "movl-load": (3, 0, 15, 0x100000, 0, "8b 03"),
    "movq-store": (3, 1, 15, 0x100000, 0, "48 89 03"),
    "movq-load-r9": (3, 0, 15, 0xffffffff80001000, 0, "4c 8b 0b"),
    "mov-imm32": (3, 1, 15, 0x100000, 0, "c7 03 44 33 22 11"),
    "mov-imm-rex-w": (3, 1, 15, 0x100000, 0, "48 c7 43 10 ff ff ff ff"),
    "movb-store-ah": (3, 1, 15, 0x100000, 0, "88 23"),
    "movb-store-spl": (3, 1, 15, 0x100000, 0, "40 88 23"),
    "movzx-byte": (3, 0, 15, 0x100000, 0, "0f b6 03"),
    "movsx-word-rex": (3, 0, 15, 0x100000, 0, "48 0f bf 43 08"),
    "moffs-load": (3, 0, 15, 0x100000, 0, "a1 00 00 b0 fe 00 00 00 00"),
    "opsize-store": (3, 1, 15, 0x100000, 0, "66 89 43 04"),
    "addr32-fs": (3, 0, 15, 0x100000, 0, "64 67 8b 03"),
    "page-end-fetch": (3, 0, 2, 0x100ffe, 0, "48 8b 03"),
    "direction-mismatch": (3, 1, 15, 0x100000, 0, "8b 03"),
    "32-disp32": (2, 0, 15, 0x100000, 0, "8b 05 10 00 b0 fe"),
    "32-sib": (2, 1, 15, 0x100000, 0, "89 84 8b 00 00 b0 fe"),
    "32-eip-wrap": (2, 0, 15, 0xfffffffe, 0, "8b 03"),
    "16-bp-disp8": (1, 0, 15, 0x1000, 0x10000, "8b 46 08"),
    "real-moffs": (0, 1, 15, 0x7c00, 0xf0000, "a3 00 10"),
}
REGS = struct.pack("<Q", 0x1122334455667788)
BUS = struct.pack("<Q", 0x8899aabbccddeeff)

# --- device scripts (tests/fuzz/device.h): op byte, offset, value ---
def rd(off, size=1, off_bytes=1):
    return bytes([{1: 0, 2: 4, 4: 8, 8: 12}[size]]) + off.to_bytes(off_bytes, "little")


def wr(off, val, size=1, off_bytes=1):
    op = 1 | {1: 0, 2: 4, 4: 8, 8: 12}[size]
    return bytes([op]) + off.to_bytes(off_bytes, "little") + val.to_bytes(size, "little")


def repeat(times):
    return bytes([3, times - 1])


def event(arg):
    return bytes([len(arg) << 4 | 2]) + arg


THR, IER, IIR, LCR, MCR, LSR, MSR, SCR = range(8)
UART = {
    "transmit": wr(THR, ord("h")) + wr(THR, ord("i")) + rd(LSR) + rd(IIR),
    "dlab-divisor": wr(LCR, 0x83) + wr(THR, 1) + wr(IER, 0) + rd(THR) + rd(IER) + wr(LCR, 0x03)
    + rd(LCR),
    "loopback-overrun": wr(MCR, 0x1f) + rd(MSR) + wr(THR, 0x41) + repeat(70) + rd(LSR) + rd(THR)
    + repeat(64) + rd(LSR),
    "host-input": wr(IER, 0x01) + wr(MCR, 0x0b) + event(b"abc") + rd(IIR) + rd(LSR) + rd(THR)
    + event(b"defghijklmnop") + rd(THR) + repeat(3) + wr(IIR, 0x07) + rd(IIR) + rd(LSR),
    "poll-interval": event(b"x") + rd(LSR) + repeat(70) + rd(THR),
    "thre-interrupt": wr(IER, 0x02) + rd(IIR) + rd(IIR) + wr(THR, 0x20) + rd(IIR) + wr(IER, 0)
    + wr(SCR, 0x5a) + rd(SCR),
    "wide-accesses": rd(LSR, 4) + wr(THR, 0x0003_0000_4847, 8) + rd(MSR, 2) + rd(SCR, 8)
    + wr(IIR, 0xc7c7, 2),
}

MAGIC, SCRATCH, COUNT = 0x00, 0x08, 0x10
TESTDEV = {
    "magic-version": rd(MAGIC, 4, 2) + rd(0x04, 4, 2) + rd(MAGIC, 8, 2),
    "scratch": wr(SCRATCH, 0x0123456789abcdef, 8, 2) + rd(SCRATCH, 8, 2) + wr(0x0b, 0xbeef, 2, 2)
    + rd(0x0a, 4, 2) + rd(0x0f, 2, 2),
    "count": rd(COUNT, 8, 2) + repeat(10) + wr(COUNT, 0, 8, 2) + rd(COUNT, 4, 2)
    + rd(0x14, 8, 2) + rd(0xffe, 8, 2),
}


def ns(n, size=4):
    """A time event for the PIT, the RTC (its argument is the nanoseconds)."""
    return event(n.to_bytes(size, "little"))


def tev(n, size=4):
    """A time event for devices whose event byte 0 chooses (0: time)."""
    return event(b"\0" + n.to_bytes(size, "little"))


# PIT: ports 0x40-0x43, then port 0x61 at offset 4
PIT = {
    "rate-generator-10ms": wr(3, 0x34) + wr(0, 0x9c) + wr(0, 0x2e) + ns(25_000_000) + wr(3, 0x00)
    + rd(0) + rd(0) + ns(1_000_000_000) + rd(0) + rd(0),
    "square-wave-readback": wr(3, 0x36) + wr(0, 0x00) + wr(0, 0x00) + ns(5_000_000)
    + wr(3, 0xe2) + rd(0) + rd(0) + rd(0) + wr(3, 0xd2) + rd(0),
    "counter2-gate-port61": wr(4, 0x01) + wr(3, 0xb0) + wr(2, 0xff) + wr(2, 0xff) + rd(4)
    + ns(60_000_000) + rd(4) + wr(4, 0x00) + wr(3, 0x80) + rd(2) + rd(2),
    "one-shot-lsb-msb": wr(3, 0x1a) + wr(0, 0x10) + ns(20_000) + rd(0) + wr(3, 0x2a) + wr(0, 0x01)
    + ns(1000) + rd(0) + rd(4),
}

# RTC: index port 0x70 at offset 0, data 0x71 at 1
RTC = {
    "read-clock": wr(0, 0x00) + rd(1) + wr(0, 0x02) + rd(1) + wr(0, 0x04) + rd(1) + wr(0, 0x09)
    + rd(1) + wr(0, 0x0a) + rd(1) + wr(0, 0x0d) + rd(1),
    "periodic-1024hz": wr(0, 0x0a) + wr(1, 0x26) + wr(0, 0x0b) + wr(1, 0x42) + ns(5_000_000)
    + wr(0, 0x0c) + rd(1) + rd(1) + ns(1_000_000_000) + wr(0, 0x0c) + rd(1),
    "set-time-update": wr(0, 0x0b) + wr(1, 0x86) + wr(0, 0x00) + wr(1, 0x59) + wr(0, 0x02)
    + wr(1, 0x59) + wr(0, 0x04) + wr(1, 0x23) + wr(0, 0x0b) + wr(1, 0x16) + ns(1_500_000_000)
    + wr(0, 0x0c) + rd(1) + wr(0, 0x04) + rd(1),
    "alarm-nmi-mask-cmos": wr(0, 0x01) + wr(1, 0xc0) + wr(0, 0x03) + wr(1, 0xc0) + wr(0, 0x05)
    + wr(1, 0xc0) + wr(0, 0x0b) + wr(1, 0x22) + ns(2_000_000_000) + wr(0, 0x8c) + rd(1)
    + wr(0, 0x7f) + wr(1, 0xa5) + rd(1),
    "divider-reset": wr(0, 0x0a) + wr(1, 0x70) + ns(100_000_000) + wr(0, 0x0a) + wr(1, 0x26)
    + ns(600_000_000) + wr(0, 0x0a) + rd(1),
}

# HPET: 4 KiB of registers (2-byte offsets)
def hw(off, val, size=8):
    return wr(off, val, size, 2)


def hr(off, size=8):
    return rd(off, size, 2)


HPET = {
    "capabilities": hr(0x000) + hr(0x004, 4) + hr(0x010) + hr(0x100) + hr(0x120) + hr(0x140),
    "periodic-timer0": hw(0x100, 0x4c) + hw(0x108, 1000) + hw(0x108, 1000) + hw(0x010, 1)
    + tev(20_000) + hr(0x0f0) + hr(0x020) + hr(0x108) + tev(1_000_000) + hr(0x0f0),
    "level-one-shot-32bit": hw(0x120, 0x106 | 4 << 9) + hw(0x128, 500, 4) + hw(0x010, 1)
    + tev(10_000) + hr(0x020) + hw(0x020, 2) + hr(0x020) + hw(0x010, 0) + hr(0x0f0),
    "legacy-replacement": hw(0x010, 3) + hw(0x100, 0x04) + hw(0x108, 100) + event(b"\x05")
    + event(b"\x01") + event(b"\x07") + tev(5_000) + hw(0x010, 1) + event(b"\x03"),
    "counter-write-halted": hw(0x0f0, 0xfffffffffffff000) + hw(0x010, 1) + tev(100_000)
    + hr(0x0f0) + hr(0x0f4, 4),
}

# ACPI PM: PM1_STS 0, PM1_EN 2, PM1_CNT 4, PM_TMR 8
ACPI_PM = {
    "timer": rd(8, 4) + tev(1_000_000) + rd(8, 4) + tev(5_000_000_000, 5) + rd(0, 2) + rd(8, 4),
    "timer-sci": wr(2, 0x0001, 2) + tev(4_700_000_000, 5) + rd(0, 2) + wr(0, 0x0001, 2)
    + rd(0, 2),
    "power-button": wr(2, 0x0100, 2) + event(b"\x01") + rd(0, 2) + wr(0, 0x0100, 2) + rd(0, 2),
    "s5": rd(4, 2) + wr(4, 0x1401, 2) + wr(4, 0x3401, 2),
    "byte-lanes": wr(1, 0xff) + wr(5, 0x34) + rd(3) + rd(6, 2) + rd(11, 1),
}

# PIC: master 0-1, slave 2-3, ELCR 4-5; events: 0x80 INTA, else IRQ | level << 4
PIC = {
    "init-and-irq": wr(0, 0x11) + wr(1, 0x20) + wr(1, 0x04) + wr(1, 0x01) + wr(2, 0x11)
    + wr(3, 0x28) + wr(3, 0x02) + wr(3, 0x01) + wr(1, 0x00) + wr(3, 0x00) + event(b"\x11")
    + event(b"\x80") + wr(0, 0x0b) + rd(0) + wr(0, 0x20) + rd(0),
    "slave-level-elcr": wr(0, 0x11) + wr(1, 0x08) + wr(1, 0x04) + wr(1, 0x01) + wr(2, 0x11)
    + wr(3, 0x70) + wr(3, 0x02) + wr(3, 0x01) + wr(5, 0x0e) + rd(5) + event(b"\x1a")
    + event(b"\x80") + wr(2, 0x20) + wr(0, 0x20) + event(b"\x80") + event(b"\x0a"),
    "poll-auto-eoi-rotate": wr(0, 0x11) + wr(1, 0x30) + wr(1, 0x04) + wr(1, 0x03) + wr(1, 0xf0)
    + event(b"\x13") + event(b"\x17") + wr(0, 0x0c) + rd(0) + wr(0, 0xa0) + event(b"\x80")
    + wr(0, 0x68) + rd(1),
    "single-no-icw4": wr(0, 0x12) + wr(1, 0x40) + event(b"\x15") + event(b"\x80") + rd(0)
    + rd(1),
}

# IOAPIC: IOREGSEL 0x00, IOWIN 0x10, EOI 0x40 (2-byte offsets); events: pin | level << 5, or
# 0x80 then an EOI vector
def io_sel(reg):
    return wr(0x00, reg, 4, 2)


def io_win(val):
    return wr(0x10, val, 4, 2)


IOAPIC = {
    "id-version-arb": io_sel(0) + rd(0x10, 4, 2) + io_sel(1) + rd(0x10, 4, 2) + io_sel(2)
    + rd(0x10, 4, 2) + io_sel(0) + io_win(0x0f000000) + rd(0x10, 4, 2),
    "level-pin-eoi": io_sel(0x18) + io_win(0x0000a030) + io_sel(0x19) + io_win(0x01000000)
    + event(b"\x24") + io_sel(0x18) + rd(0x10, 4, 2) + event(b"\x80\x30") + event(b"\x04")
    + wr(0x40, 0x30, 4, 2),
    "edge-nmi-extint-reserved": io_sel(0x12) + io_win(0x00000400) + event(b"\x21")
    + io_sel(0x14) + io_win(0x00000700) + event(b"\x22") + io_sel(0x16)
    + io_win(0x00000300) + event(b"\x23") + io_sel(0x3f) + io_win(0xffffffff),
    "active-low-masked": io_sel(0x20) + io_win(0x00012040) + event(b"\x08") + event(b"\x28")
    + io_sel(0x20) + io_win(0x00002040) + event(b"\x08") + rd(0x10, 4, 2),
}

# LAPIC: the BSP's xAPIC page (2-byte offsets); events: see fuzz_lapic.c
def la(off, val):
    return wr(off, val, 4, 2)


def msr_event(kind, msr_byte, value):
    return event(bytes([kind, msr_byte]) + value.to_bytes(8, "little"))


LAPIC = {
    "registers": rd(0x20, 4, 2) + rd(0x30, 4, 2) + rd(0x80, 4, 2) + rd(0xf0, 4, 2)
    + la(0xf0, 0x1ff) + la(0x80, 0x20) + rd(0xa0, 4, 2) + la(0xd0, 0x01000000)
    + la(0xe0, 0x0fffffff) + rd(0x280, 4, 2) + la(0x280, 0) + rd(0x280, 4, 2),
    "timer-periodic": la(0xf0, 0x1ff) + la(0x3e0, 0x0b) + la(0x320, 0x20030) + la(0x380, 1000)
    + tev(5_000) + rd(0x390, 4, 2) + event(b"\x05\x00") + la(0xb0, 0) + tev(1_000_000)
    + rd(0x200 + 0x10, 4, 2),
    "ipi-self-and-ap": la(0xf0, 0x1ff) + event(b"\x04\x01") + la(0x310, 0)
    + la(0x300, 0x40031) + la(0x310, 1 << 24) + la(0x300, 0x4032) + la(0x300, 0xc4500)
    + la(0x300, 0xc4608) + event(b"\x05\x00") + event(b"\x06\x01\x1f"),
    "x2apic-msrs": msr_event(1, 0xfe, 0xfee00d00) + msr_event(2, 0x02, 0)
    + msr_event(1, 0x0f, 0x1ff) + msr_event(1, 0x08, 0x10) + msr_event(1, 0x3f, 0x40)
    + msr_event(1, 0x30, 0x00000001_000040fe) + msr_event(1, 0x0b, 0) + rd(0x20, 4, 2),
    "tsc-deadline-msi": la(0xf0, 0x1ff) + la(0x320, 0x40040) + msr_event(1, 0xff, 4000)
    + tev(3_000) + event(b"\x03\x00\x00\x00\x41\x00") + event(b"\x05\x00")
    + event(b"\x07\x02") + event(b"\x07\x81"),
    "lint-extint-nmi": la(0xf0, 0x1ff) + la(0x350, 0x700) + la(0x360, 0x400)
    + event(b"\x04\x04") + event(b"\x04\x06") + event(b"\x06\x00\x1f"),
}

# i8042: data port 0x60 at offset 0, command/status port 0x64 at 1
I8042 = {
    "self-test-command-byte": wr(1, 0xaa) + rd(1) + rd(0) + wr(1, 0x20) + rd(0) + wr(1, 0x60)
    + wr(0, 0x47) + wr(1, 0x20) + rd(0) + wr(1, 0xab) + rd(0),
    "keyboard-commands": wr(0, 0xff) + rd(0) + rd(0) + wr(0, 0xed) + rd(0) + wr(0, 0x07)
    + rd(0) + wr(0, 0xf2) + rd(0) + rd(0) + rd(0) + wr(0, 0xf0) + wr(0, 0x00) + rd(0) + rd(0)
    + wr(0, 0xee) + rd(0) + wr(0, 0x12) + rd(0),
    "output-port-a20": wr(1, 0xd0) + rd(0) + wr(1, 0xd1) + wr(0, 0xdf) + wr(1, 0xdd)
    + wr(1, 0xdf) + wr(1, 0xd0) + rd(0) + wr(1, 0xf0),
    "aux-loopback": wr(1, 0xa8) + wr(1, 0xd3) + wr(0, 0x55) + rd(1) + rd(0) + wr(1, 0xd4)
    + wr(0, 0xff) + rd(1) + rd(0) + wr(1, 0xa9) + rd(0) + wr(1, 0xd2) + wr(0, 0x1c) + rd(0),
}

# fw_cfg: selector 0 (16-bit), data 1, DMA address register 2-9; events poke guest RAM
def poke(gpa, data):
    return event(gpa.to_bytes(2, "little") + data)


def dma_desc(control, length, address):
    return struct.pack(">IIQ", control, length, address)


FW_CFG = {
    "signature-id": wr(0, 0x0000, 2) + rd(1) + repeat(3) + wr(0, 0x0001, 2) + rd(1) + repeat(3)
    + rd(2, 8) + rd(6, 4),
    "file-dir": wr(0, 0x0019, 2) + rd(1) + repeat(80) + wr(0, 0x0020, 2) + rd(1) + repeat(40),
    "dma-read-dir": poke(0x100, dma_desc(0x0019 << 16 | 0x0a, 0x44, 0x200)[:13])
    + poke(0x10d, dma_desc(0x0019 << 16 | 0x0a, 0x44, 0x200)[13:]) + wr(2, 0, 4)
    + wr(6, 0x00010000, 4) + rd(1),
    "dma-skip-write-error": poke(0x300, dma_desc(0x0015 << 16 | 0x0c, 4, 0x400)[:13])
    + wr(2, 0x0003000000000000, 8) + poke(0x300, dma_desc(0x10, 4, 0x400)[:13])
    + wr(2, 0x0003000000000000, 8) + poke(0x300, dma_desc(0x02, 0x10, 0xffff0)[:13])
    + wr(2, 0x0003000000000000, 8),
    "values": wr(0, 0x0003, 2) + rd(1) + repeat(7) + wr(0, 0x0005, 2) + rd(1) + rd(1)
    + wr(0, 0x0015, 2) + rd(1) + repeat(40) + wr(1, 0x41) + wr(0, 0x7fff, 2) + rd(1),
}

# PCI: CONFIG_ADDRESS at offset 0 (one port), CONFIG_DATA at 1-4
def cfg_addr(dev, reg, fn=0):
    return wr(0, 0x80000000 | dev << 11 | fn << 8 | reg, 4)


PCI = {
    "ids-bridge-and-function": cfg_addr(0, 0) + rd(1, 4) + cfg_addr(3, 0) + rd(1, 4)
    + cfg_addr(3, 8) + rd(1, 4) + cfg_addr(4, 0) + rd(1, 4) + cfg_addr(3, 0, 1) + rd(1, 4),
    "bar-sizing": cfg_addr(3, 0x10) + wr(1, 0xffffffff, 4) + rd(1, 4) + cfg_addr(3, 0x14)
    + wr(1, 0xffffffff, 4) + rd(1, 4) + cfg_addr(3, 0x18) + wr(1, 0xffffffff, 4) + rd(1, 4)
    + cfg_addr(3, 0x1c) + wr(1, 0xffffffff, 4) + rd(1, 4) + wr(1, 0x00000001, 4),
    "command-bytes": cfg_addr(3, 0x04) + wr(1, 0x0007, 2) + rd(1, 4) + wr(3, 0xff) + rd(3)
    + cfg_addr(3, 0x3c) + wr(1, 0x0b) + rd(1) + rd(2) + rd(4, 1),
    "address-not-dword": wr(0, 0x80, 1) + wr(0, 0x8000, 2) + rd(0, 4) + rd(0, 1)
    + wr(0, 0x7fffff00, 4) + rd(1, 4) + rd(0, 8),
}

# reset: port 0x92 at offset 0, 0xcf9 at 1
RESET = {
    "port92-a20": rd(0) + wr(0, 0x02) + rd(0) + wr(0, 0x00) + rd(0) + wr(0, 0x01) + wr(0, 0x03),
    "cf9-soft-hard": rd(1) + wr(1, 0x02) + rd(1) + wr(1, 0x06) + wr(1, 0x04) + wr(1, 0x0e)
    + rd(1, 2),
}


# --- virtio: device byte (0 blk, 1 blk read-only, 2 rng, 3 console, 4 net), u16 RAM image length, the
# RAM image, then a device script over the 0x200-byte virtio-mmio window (2-byte offsets);
# events: byte 0 = 0 poke RAM (u16 offset, data), 1 the host (blk: sync fails; rng: entropy;
# console: typed input; net: link state, then deliver the gateway's answers), 2 machine reset ---
V_STATUS, V_QSEL, V_QNUM_MAX, V_QNUM, V_QREADY, V_NOTIFY = 0x70, 0x30, 0x34, 0x38, 0x44, 0x50
V_ISR, V_ACK, V_DFSEL, V_DF, V_GFSEL, V_GF = 0x60, 0x64, 0x14, 0x10, 0x24, 0x20
F_INDIRECT, F_EVENT_IDX, F_VERSION_1, F_BLK_FLUSH = 1 << 28, 1 << 29, 1 << 32, 1 << 9
Q_NEXT, Q_WRITE, Q_INDIRECT = 1, 2, 4


def vrd(off, size=4):
    return rd(off, size, 2)


def vwr(off, val, size=4):
    return wr(off, val, size, 2)


def v_handshake(features):
    """§3.1.1 steps 1-6 as Linux's virtio_mmio does them, up to FEATURES_OK."""
    return (vrd(0x00) + vrd(0x04) + vrd(0x08) + vwr(V_STATUS, 0) + vwr(V_STATUS, 1)
            + vwr(V_STATUS, 3) + vwr(V_DFSEL, 0) + vrd(V_DF) + vwr(V_DFSEL, 1) + vrd(V_DF)
            + vwr(V_GFSEL, 0) + vwr(V_GF, features & 0xffffffff) + vwr(V_GFSEL, 1)
            + vwr(V_GF, features >> 32) + vwr(V_STATUS, 0xb) + vrd(V_STATUS))


def v_queue(q, num, desc, avail, used):
    return (vwr(V_QSEL, q) + vrd(V_QNUM_MAX) + vwr(V_QNUM, num) + vwr(0x80, desc) + vwr(0x84, 0)
            + vwr(0x90, avail) + vwr(0x94, 0) + vwr(0xa0, used) + vwr(0xa4, 0) + vwr(V_QREADY, 1)
            + vrd(V_QREADY))


def v_driver_ok():
    return vwr(V_STATUS, 0xf) + vrd(V_STATUS)


def v_kick(q):
    return vwr(V_NOTIFY, q) + vrd(V_ISR) + vwr(V_ACK, 3) + vrd(V_ISR)


def v_poke(gpa, data):
    """Pokes of up to 12 bytes each (an event has at most 15 argument bytes)."""
    return b"".join(event(b"\0" + (gpa + i).to_bytes(2, "little") + data[i:i + 12])
                    for i in range(0, len(data), 12))


class Ram:
    """A guest RAM image: rings and buffers at fixed places."""

    def __init__(self):
        self.b = bytearray()

    def put(self, at, data):
        if len(self.b) < at + len(data):
            self.b += bytes(at + len(data) - len(self.b))
        self.b[at:at + len(data)] = data

    def desc(self, table, i, addr, length, flags, nxt=0):
        self.put(table + 16 * i, struct.pack("<QIHH", addr, length, flags, nxt))

    def avail(self, at, heads, flags=0, used_event=0, num=8, idx=None):
        ring = list(heads) + [0] * (num - len(heads))
        idx = len(heads) if idx is None else idx
        self.put(at, struct.pack("<HH", flags, idx) + struct.pack(f"<{num}H", *ring)
                 + struct.pack("<H", used_event))


def v_input(kind, ram, script):
    return bytes([kind]) + len(ram.b).to_bytes(2, "little") + bytes(ram.b) + script


# one queue of 8: table 0x000, available ring 0x100, used ring 0x200; headers 0x400, status
# bytes 0x500, an indirect table 0x600, data 0x800-0xbff (seeds fit run.sh's -max_len)
DESC, AVAIL, USED = 0x000, 0x100, 0x200


def blk_hdr(kind, sector):
    return struct.pack("<IIQ", kind, 0, sector)


def blk_write_read(published=2):
    """OUT of one sector (header, data, status), then IN of it back (header, data, status);
    `published` of the two in avail->idx."""
    r = Ram()
    r.put(0x400, blk_hdr(0, 1))
    r.put(0x410, blk_hdr(1, 1))
    r.put(0xa00, bytes(range(256)) * 2)
    r.desc(DESC, 0, 0x410, 16, Q_NEXT, 1)
    r.desc(DESC, 1, 0xa00, 512, Q_NEXT, 2)
    r.desc(DESC, 2, 0x501, 1, Q_WRITE)
    r.desc(DESC, 3, 0x400, 16, Q_NEXT, 4)
    r.desc(DESC, 4, 0x800, 512, Q_WRITE | Q_NEXT, 5)
    r.desc(DESC, 5, 0x500, 1, Q_WRITE)
    r.avail(AVAIL, [0, 3], idx=published)
    return r


def blk_indirect_flush_id():
    """A write through an indirect table, a FLUSH and a GET_ID, with EVENT_IDX."""
    r = Ram()
    r.put(0x400, blk_hdr(1, 30))
    r.put(0x410, blk_hdr(4, 0))
    r.put(0x420, blk_hdr(8, 0))
    r.put(0x800, b"\x5a" * 512)
    r.desc(0x600, 0, 0x400, 16, Q_NEXT, 1)
    r.desc(0x600, 1, 0x800, 512, Q_NEXT, 2)
    r.desc(0x600, 2, 0x500, 1, Q_WRITE)
    r.desc(DESC, 0, 0x600, 48, Q_INDIRECT)
    r.desc(DESC, 1, 0x410, 16, Q_NEXT, 2)
    r.desc(DESC, 2, 0x501, 1, Q_WRITE)
    r.desc(DESC, 3, 0x420, 16, Q_NEXT, 4)
    r.desc(DESC, 4, 0xa00, 20, Q_WRITE | Q_NEXT, 5)
    r.desc(DESC, 5, 0x502, 1, Q_WRITE)
    r.avail(AVAIL, [0, 1, 3], used_event=2)
    return r


def blk_loop():
    """A chain whose next indices loop: DEVICE_NEEDS_RESET, then a reset and a fresh start."""
    r = Ram()
    r.put(0x400, blk_hdr(0, 0))
    r.desc(DESC, 0, 0x400, 16, Q_NEXT, 1)
    r.desc(DESC, 1, 0x800, 512, Q_WRITE | Q_NEXT, 0)
    r.avail(AVAIL, [0])
    return r


def rng_two():
    """Two writable buffers; the host has 40 bytes of entropy for the 64 asked."""
    r = Ram()
    r.desc(DESC, 0, 0x800, 32, Q_WRITE)
    r.desc(DESC, 1, 0x900, 16, Q_WRITE | Q_NEXT, 2)
    r.desc(DESC, 2, 0x910, 16, Q_WRITE)
    r.avail(AVAIL, [0, 1])
    return r


def console_rings():
    """receiveq: two 8-byte buffers; transmitq (table 0x600, rings 0x700, 0x780): "hello\\n"."""
    r = Ram()
    r.desc(DESC, 0, 0x800, 8, Q_WRITE)
    r.desc(DESC, 1, 0x808, 8, Q_WRITE)
    r.avail(AVAIL, [0, 1])
    r.put(0x900, b"hello\n")
    r.desc(0x600, 0, 0x900, 3, Q_NEXT, 1)
    r.desc(0x600, 1, 0x903, 3, 0)
    r.avail(0x700, [0])
    return r


def net_arp_ping():
    """receiveq: two 0x100-byte buffers; transmitq (table 0x600, rings 0x700, 0x780): an ARP
    request and an ICMP echo request for the gateway 10.0.2.2, each after a zero virtio_net_hdr."""
    r = Ram()
    r.desc(DESC, 0, 0x800, 0x100, Q_WRITE)
    r.desc(DESC, 1, 0xa00, 0x100, Q_WRITE)
    r.avail(AVAIL, [0, 1])
    mac = bytes([0x52, 0x54, 0, 0x12, 0x34, 0x56])
    ip, gw = bytes([10, 0, 2, 15]), bytes([10, 0, 2, 2])
    arp = (b"\xff" * 6 + mac + b"\x08\x06" + struct.pack(">HHBBH", 1, 0x0800, 6, 4, 1) + mac + ip
           + bytes(6) + gw)
    def csum(b):  # RFC 1071
        s = sum(struct.unpack(f">{len(b) // 2}H", b))
        while s >> 16:
            s = (s & 0xffff) + (s >> 16)
        return ~s & 0xffff
    icmp = struct.pack(">BBHHH", 8, 0, 0, 1, 1) + b"ping"
    icmp = icmp[:2] + struct.pack(">H", csum(icmp)) + icmp[4:]
    ipv4 = struct.pack(">BBHHHBBH", 0x45, 0, 20 + len(icmp), 0, 0, 64, 1, 0) + ip + gw
    ipv4 = ipv4[:10] + struct.pack(">H", csum(ipv4)) + ipv4[12:]
    ping = bytes([0x52, 0x55, 0x0a, 0, 2, 2]) + mac + b"\x08\x00" + ipv4 + icmp
    r.put(0x900, bytes(12) + arp)
    r.put(0x980, bytes(12) + ping)
    r.desc(0x600, 0, 0x900, 12 + len(arp), 0)
    r.desc(0x600, 1, 0x980, 12, Q_NEXT, 2)
    r.desc(0x600, 2, 0x98c, len(ping), 0)
    r.avail(0x700, [0, 1])
    return r


def virtio_seeds():
    blk_q = v_queue(0, 8, DESC, AVAIL, USED)
    plain = v_handshake(F_VERSION_1) + blk_q + v_driver_ok()
    full = v_handshake(F_VERSION_1 | F_EVENT_IDX | F_INDIRECT | F_BLK_FLUSH) + blk_q + v_driver_ok()
    return {
        "blk-write-read": v_input(0, blk_write_read(), plain + vrd(0x100, 8) + v_kick(0)),
        # the second request is published after the first completed, as another vCPU would
        "blk-write-then-read": v_input(
            0, blk_write_read(0), plain + v_poke(AVAIL + 2, b"\x01\x00") + v_kick(0)
            + v_poke(AVAIL + 2, b"\x02\x00") + v_kick(0) + event(b"\x01\x01") + v_kick(0)),
        "blk-indirect-flush-id": v_input(0, blk_indirect_flush_id(), full + v_kick(0)),
        "blk-ro-write-read": v_input(1, blk_write_read(), plain + v_kick(0) + vrd(0x100, 8)),
        # then a machine reset, the loop broken (desc 1 without NEXT) and the request again
        "blk-loop-reset": v_input(0, blk_loop(), plain + v_kick(0) + vrd(V_STATUS)
                                  + event(b"\x02") + vrd(V_STATUS)
                                  + v_poke(DESC + 16, struct.pack("<QIHH", 0x800, 513, Q_WRITE, 0))
                                  + plain + v_kick(0)),
        "rng-fill": v_input(2, rng_two(), event(b"\x01" + bytes(range(1, 15)))
                            + event(b"\x01" + bytes(range(15, 29))) + event(b"\x01" + bytes(12))
                            + v_handshake(F_VERSION_1) + blk_q + v_driver_ok() + v_kick(0)),
        "console-tx-rx": v_input(3, console_rings(), v_handshake(F_VERSION_1 | 1 << 2) + blk_q
                                 + v_queue(1, 8, 0x600, 0x700, 0x780) + v_driver_ok()
                                 + v_kick(1) + event(b"\x01typed 12 bytes") + vrd(V_ISR)
                                 + vwr(0x108, 0x21, 1)),
        "net-arp-ping": v_input(4, net_arp_ping(), v_handshake(F_VERSION_1 | 1 << 5) + blk_q
                                + v_queue(1, 8, 0x600, 0x700, 0x780) + v_driver_ok()
                                + v_kick(1) + event(b"\x01\x01") + vrd(V_ISR) + vrd(0x100, 4)),
    }


# --- multiboot: u32 RAM selector, u16 command-line length, command line, image ---
def shrink_elf(path, keep):
    """The ELF header and program headers of a built guest, with its first PT_LOAD cut to `keep`
    bytes of file (it starts with the multiboot header) and placed right after the headers."""
    img = open(path, "rb").read()
    eh = bytearray(img[:52])
    phoff, phentsize, phnum = struct.unpack_from("<I", eh, 28)[0], *struct.unpack_from("<HH", eh, 42)
    phdrs = bytearray(img[phoff:phoff + phentsize * phnum])
    data_off = 0x100
    out_data = b""
    for i in range(phnum):
        p_type, p_offset, p_vaddr, p_paddr, p_filesz, p_memsz = struct.unpack_from("<6I", phdrs, i * phentsize)
        if p_type == 1 and p_filesz and not out_data:
            out_data = img[p_offset:p_offset + keep]
            struct.pack_into("<I", phdrs, i * phentsize + 4, data_off)  # p_offset
            struct.pack_into("<I", phdrs, i * phentsize + 16, len(out_data))  # p_filesz
    struct.pack_into("<I", eh, 28, 52)          # e_phoff
    struct.pack_into("<I", eh, 32, 0)           # e_shoff: no section headers
    struct.pack_into("<HHH", eh, 46, 0, 0, 0)   # e_shentsize, e_shnum, e_shstrndx
    head = bytes(eh) + bytes(phdrs)
    return head + b"\0" * (data_off - len(head)) + out_data


def shrink_aout(path, keep):
    """The a.out-kludge flat guest cut to `keep` bytes, its load_end_addr moved to match."""
    img = bytearray(open(path, "rb").read()[:keep])
    load_addr = struct.unpack_from("<I", img, 16)[0]
    struct.pack_into("<I", img, 20, load_addr + keep)
    return bytes(img)


def mb(sel, cmdline, image):
    return struct.pack("<IH", sel, len(cmdline)) + cmdline + image


def main():
    guests = sys.argv[1] if len(sys.argv) > 1 else "build/guests"
    for name, (mode, hexbytes) in DECODE.items():
        write("decode", name, bytes([mode]) + bytes.fromhex(hexbytes))
    for name, (mode, is_write, fetchable, rip, cs_base, hexbytes) in MMIO.items():
        ctl = mode | is_write << 2 | fetchable << 4
        write("mmio", name, bytes([ctl]) + REGS + BUS + struct.pack("<QI", rip, cs_base)
              + bytes.fromhex(hexbytes))
    for name, script in UART.items():
        write("uart", name, script)
    for name, script in TESTDEV.items():
        write("testdev", name, script)
    for target, scripts in (("pit", PIT), ("rtc", RTC), ("hpet", HPET), ("acpi_pm", ACPI_PM),
                            ("pic", PIC), ("ioapic", IOAPIC), ("lapic", LAPIC),
                            ("i8042", I8042), ("fw_cfg", FW_CFG), ("pci", PCI),
                            ("reset", RESET)):
        for name, script in scripts.items():
            write(target, name, script)
    for name, data in virtio_seeds().items():
        write("virtio", name, data)
    hello = shrink_elf(os.path.join(guests, "hello.elf"), 0x200)
    legacy = shrink_elf(os.path.join(guests, "legacy32.elf"), 0x200)
    aout = shrink_aout(os.path.join(guests, "aoutkludge.bin"), 0x200)
    write("multiboot", "elf64-guest-2M", mb(0, b"", hello))
    write("multiboot", "elf64-guest-cmdline", mb(6, b"hello.elf -v console=ttyS0", hello))
    write("multiboot", "elf32-guest-64G", mb(0x80fffe00, b"legacy32.elf", legacy))
    write("multiboot", "aout-kludge-3M", mb(1, b"aoutkludge.bin", aout))
    write("multiboot", "aout-kludge-1G", mb(0x8003fe00, b"", aout))


if __name__ == "__main__":
    main()
