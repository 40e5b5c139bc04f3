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
