#!/bin/sh
# SPDX-License-Identifier: MIT
# Run one guest image on QEMU the way tollbooth runs it: ./guests/run_qemu.sh IMAGE [tcg|kvm]
# [extra qemu args...]; QEMU_CPU=qemu64 picks another CPU model (default max). Prints the serial output; exits with QEMU's status ((code << 1) | 1).
img=$1; accel=${2:-tcg}; shift; [ $# -gt 0 ] && shift
exec timeout 60 qemu-system-x86_64 -accel "$accel" -cpu "${QEMU_CPU:-max}" -kernel "$img" -display none \
	-serial stdio -device isa-debug-exit,iobase=0xf4,iosize=0x04 -no-reboot -m 64 "$@"
