#!/bin/sh
# SPDX-License-Identifier: MIT
# Make the Linux test guest: `mkinitramfs.sh OUTDIR` writes OUTDIR/vmlinuz (a copy of the host's
# Debian kernel) and OUTDIR/initramfs.cpio.gz (busybox-static, guests/linux/init and tests, and
# that kernel's virtio modules). The kernel is the newest /boot/vmlinuz-* whose modules are
# installed, or $TB_KERNEL (its modules: /lib/modules/<version>, from the file name).
# Exit status 3 with one line on stderr when the machine lacks them (tests skip on that):
# `apt-get install linux-image-amd64 busybox-static cpio` provides them.
set -eu

out=${1:?usage: mkinitramfs.sh OUTDIR}
src=$(cd "$(dirname "$0")/../guests/linux" && pwd)

kernel=${TB_KERNEL:-}
if [ -z "$kernel" ]; then
	for k in $(ls -v /boot/vmlinuz-* 2>/dev/null); do
		[ -d "/lib/modules/${k#/boot/vmlinuz-}/kernel" ] && kernel=$k
	done
fi
if [ -z "$kernel" ] || [ ! -r "$kernel" ]; then
	echo "mkinitramfs: no readable Linux kernel with its modules (/boot/vmlinuz-*, /lib/modules):" \
		"apt-get install linux-image-amd64" >&2
	exit 3
fi
version=${kernel##*/vmlinuz-}
mods=/lib/modules/$version/kernel
busybox=
for b in /usr/bin/busybox /bin/busybox; do
	# busybox-static: an ELF without a program interpreter (the dynamic busybox would need a
	# libc the initramfs does not have).
	if [ -x "$b" ] && ! readelf -l "$b" 2>/dev/null | grep -q 'program interpreter'; then
		busybox=$b
		break
	fi
done
if [ -z "$busybox" ] || ! command -v cpio >/dev/null; then
	echo "mkinitramfs: needs busybox-static and cpio: apt-get install busybox-static cpio" >&2
	exit 3
fi

root=$out/initramfs.root
rm -rf "$root"
mkdir -p "$root/bin" "$root/lib/modules" "$root/tests" "$root/dev"
cp "$busybox" "$root/bin/busybox"
ln -sf busybox "$root/bin/sh"
cp "$src/init" "$root/init"
# The clock figure's guest program (bench/linux_clock.py), when a static C build works here.
if command -v cc >/dev/null 2>&1; then
	cc -static -O2 -o "$root/bin/clockbench" "$src/clockbench.c" 2>/dev/null ||
		rm -f "$root/bin/clockbench"
	# The smallest KVM user, for kvm_intel as a guest hypervisor (tests/kvm.sh).
	cc -static -O2 -o "$root/bin/kvmrun" "$src/kvmrun.c" 2>/dev/null || rm -f "$root/bin/kvmrun"
fi
cp "$src"/tests/*.sh "$root/tests/"
for m in drivers/virtio/virtio_ring drivers/virtio/virtio drivers/virtio/virtio_mmio \
	drivers/block/virtio_blk drivers/char/virtio_console drivers/char/hw_random/virtio-rng \
	net/core/failover drivers/net/net_failover drivers/net/virtio_net virt/lib/irqbypass \
	arch/x86/kvm/kvm arch/x86/kvm/kvm-intel; do
	for f in "$mods/$m.ko" "$mods/$m.ko.xz" "$mods/$m.ko.zst"; do
		case $f in
		*.xz) [ -e "$f" ] && xz -dc "$f" >"$root/lib/modules/${m##*/}.ko" ;;
		*.zst) [ -e "$f" ] && zstd -qdc "$f" >"$root/lib/modules/${m##*/}.ko" ;;
		*) [ -e "$f" ] && cp "$f" "$root/lib/modules/" ;;
		esac
	done
done
(cd "$root" && find . | LC_ALL=C sort | cpio -o -H newc --quiet -R 0:0) | gzip -1 >"$out/initramfs.cpio.gz.tmp"
mv "$out/initramfs.cpio.gz.tmp" "$out/initramfs.cpio.gz"
cp "$kernel" "$out/vmlinuz"
rm -rf "$root"
echo "$version" >"$out/version"
