#!/bin/sh
# SPDX-License-Identifier: MIT
# Check tollbooth's build dependencies on Debian/Ubuntu: `deps.sh run|check|bench|fuzz|linux`.
#   run:   gcc, make, binutils (objcopy, ld), libzydis-dev (--trace disassembles exits with it),
#          libseccomp-dev (the sandbox's filter, src/vmm/sandbox.c)
#   check: those and python3 (tests/hostile); Zydis is also the decoder's test oracle
#   bench: those and qemu-system-x86 (the comparison; bench/bench.py installs Bochs)
#   fuzz:  those of run, clang-14 and libclang-rt-14-dev (libFuzzer and the sanitizer runtimes)
#   linux: those of run, Debian's kernel, busybox-static and cpio (`make linux`)
# As root, missing packages are installed with apt-get; otherwise the exact command is printed
# and the script fails.
set -eu

what=${1:-run}
missing=""

need_cmd() { # command package
	command -v "$1" >/dev/null 2>&1 || missing="$missing $2"
}

need_cmd gcc gcc
need_cmd make make
need_cmd objcopy binutils
need_cmd ld binutils
[ -e /usr/include/stdio.h ] || missing="$missing libc6-dev"
[ -e /usr/include/Zydis/Zydis.h ] || missing="$missing libzydis-dev"
[ -e /usr/include/seccomp.h ] || missing="$missing libseccomp-dev"
case $what in
run) ;;
check)
	need_cmd python3 python3
	;;
bench)
	need_cmd python3 python3
	need_cmd qemu-system-x86_64 qemu-system-x86
	;;
linux)
	ls /boot/vmlinuz-* >/dev/null 2>&1 || missing="$missing linux-image-amd64"
	[ -x /bin/busybox ] && ! readelf -l /bin/busybox 2>/dev/null | grep -q 'program interpreter' ||
		missing="$missing busybox-static"
	need_cmd cpio cpio
	;;
fuzz)
	need_cmd clang-14 clang-14
	ls /usr/lib/llvm-14/lib/clang/*/lib/linux/libclang_rt.fuzzer-x86_64.a >/dev/null 2>&1 ||
		missing="$missing libclang-rt-14-dev"
	;;
*)
	echo "usage: $0 run|check|bench|fuzz|linux" >&2
	exit 2
	;;
esac

# One package may be named twice (binutils).
missing=$(echo $missing | tr ' ' '\n' | sort -u | tr '\n' ' ')
[ -z "${missing% }" ] && exit 0

if [ "$(id -u)" -eq 0 ]; then
	echo "deps: installing:$missing" >&2
	apt-get update
	DEBIAN_FRONTEND=noninteractive apt-get install -y $missing
else
	echo "deps: missing packages; install them with:" >&2
	echo "  sudo apt-get update && sudo apt-get install -y $missing" >&2
	exit 1
fi
