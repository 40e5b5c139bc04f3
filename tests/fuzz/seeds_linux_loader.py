#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Seeds for the linux_loader fuzz target (tests/fuzz/fuzz_linux_loader.c, which gives the input
format): the synthetic bzImage and PVH ELF files of tests/unit/test_linux_loader.c with their
memory maps, RAM sizes, command lines and initrd sizes. The seeds are committed; this script
records where they came from and rewrites them. Run from anywhere:
    tests/fuzz/seeds_linux_loader.py
"""
import os
import struct

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus", "linux_loader")
MiB = 1 << 20


def bzimage(setup_sects=1, init_size=8 * MiB, pref_address=16 * MiB, relocatable=1):
    """Protocol 2.15, 64-bit, a 0x400-byte protected-mode part and 0x40 bytes of trailer."""
    setup = ((setup_sects or 4) + 1) * 512
    img = bytearray(setup + 0x400 + 0x40)
    img[0x1f1] = setup_sects
    struct.pack_into("<I", img, 0x1f4, 0x400 // 16)  # syssize
    struct.pack_into("<H", img, 0x1fa, 0xffff)  # vid_mode
    struct.pack_into("<H", img, 0x1fe, 0xaa55)  # boot_flag
    img[0x200:0x206] = b"\xeb\x6aHdrS"  # jump (header ends at 0x26c), header
    struct.pack_into("<H", img, 0x206, 0x020F)  # version
    img[0x211] = 1  # loadflags: LOADED_HIGH
    struct.pack_into("<I", img, 0x214, 0x100000)  # code32_start
    # initrd_addr_max, kernel_alignment, relocatable_kernel, min_alignment, xloadflags,
    # cmdline_size
    struct.pack_into("<IIBBHI", img, 0x22C, 0x7FFFFFFF, 2 * MiB, relocatable, 21, 3, 0x7FF)
    struct.pack_into("<QI", img, 0x258, pref_address, init_size)
    img[setup:setup + 0x400] = b"\x90" * 0x400
    img[setup + 0x400:] = b"\xee" * 0x40
    return bytes(img)


def note(name, n_type, desc):
    def pad(b):
        return b + b"\0" * (-len(b) % 4)
    name += b"\0"
    return struct.pack("<III", len(name), len(desc), n_type) + pad(name) + pad(desc)


def pvh_elf(is64):
    """A PT_NOTE segment (GNU build id, two Xen notes, PHYS32_ENTRY last), a PT_LOAD at 1 MiB."""
    img = bytearray(0x500)
    entry = struct.pack("<Q" if is64 else "<I", 0x100000)
    notes = note(b"GNU", 3, b"\1" * 20) + note(b"Xen", 6, b"linux\0") + note(b"Xen", 18, entry)
    img[0x200:0x200 + len(notes)] = notes
    if is64:
        img[0:16] = b"\x7fELF\x02\x01\x01" + b"\0" * 9
        struct.pack_into("<HHIQQQIHHHHHH", img, 16, 2, 62, 1, 0xFFFFFFFF81000000, 64, 0, 0,
                         64, 56, 2, 0, 0, 0)
        struct.pack_into("<IIQQQQQQ", img, 64, 4, 4, 0x200, 0, 0x1800000, len(notes),
                         len(notes), 4)
        struct.pack_into("<IIQQQQQQ", img, 120, 1, 5, 0x400, 0xFFFFFFFF81000000, 0x100000,
                         0x100, 0x3000, 0x200000)
    else:
        img[0:16] = b"\x7fELF\x01\x01\x01" + b"\0" * 9
        struct.pack_into("<HHIIIIIHHHHHH", img, 16, 2, 3, 1, 0xC1000000, 52, 0, 0, 52, 32, 2,
                         0, 0, 0)
        struct.pack_into("<IIIIIIII", img, 52, 4, 0x200, 0, 0x1800000, len(notes), len(notes),
                         4, 4)
        struct.pack_into("<IIIIIIII", img, 84, 1, 0x400, 0xC1000000, 0x100000, 0x100, 0x3000,
                         5, 0x1000)
    return bytes(img)


def pc_map(mem):
    return [(0, 0x9FC00, 1), (0x9FC00, 0x60400, 2), (MiB, mem - MiB, 1)]


def fuzz_input(mode, ram_sel, cmdline, initrd_size, image, e820=None):
    """mode u8, RAM selector u32, [count u8 and entries when mode bits 2:1 are 3], command-line
    length u16 and bytes, initrd size u32, image."""
    b = bytes([mode]) + struct.pack("<I", ram_sel)
    if e820 is not None:
        b += bytes([len(e820)]) + b"".join(struct.pack("<QQI", *e) for e in e820)
    return b + struct.pack("<H", len(cmdline)) + cmdline + struct.pack("<I", initrd_size) + image


SEEDS = {
    "bzimage-pc-64M": fuzz_input(0, 62, b"console=ttyS0", 12293, bzimage()),
    "bzimage-hole-64M": fuzz_input(2, 62, b"", 4096, bzimage()),
    "bzimage-split-map-64M": fuzz_input(4, 62, b"quiet", 0, bzimage(setup_sects=0)),
    "bzimage-input-map-48M": fuzz_input(6, 46, b"console=ttyS0", 65536,
                                        bzimage(relocatable=0), pc_map(48 * MiB)),
    "bzimage-8G": fuzz_input(0, 0x80000000 | 0x1FFE00, b"", 1000, bzimage()),
    "pvh-elf64-32M": fuzz_input(1, 30, b"console=hvc0", 12293, pvh_elf(True)),
    "pvh-elf32-input-map-8M": fuzz_input(7, 6, b"", 4096, pvh_elf(False), pc_map(8 * MiB)),
}

if __name__ == "__main__":
    os.makedirs(OUT, exist_ok=True)
    for name, data in SEEDS.items():
        with open(os.path.join(OUT, name), "wb") as f:
            f.write(data)
