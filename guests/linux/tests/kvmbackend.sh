# SPDX-License-Identifier: MIT
# tollbooth's kvm backend on this guest's KVM (kvm_intel on tollbooth's nested VMX): the
# machine's own tests/kvm/run.sh, run inside, so the kvm backend is tested where the host has
# no /dev/kvm. tests/linux/run.py adds the overlay this needs under /tb (the tollbooth binary
# under test, the kvm-ok guests, the scripts, bash and the shared libraries).
for m in irqbypass kvm kvm-intel; do
	insmod /lib/modules/$m.ko || echo "tb-result: insmod $m failed"
done
if [ ! -x /tb/build/tollbooth ]; then
	echo "tb-result: no /tb overlay (tests/linux/run.py makes it)"
	exit 1
fi
cd /tb || exit 1
# bash's process substitution (run-guests.sh shows a serial-output difference with it) needs
# /dev/fd, which devtmpfs does not make.
[ -e /dev/fd ] || ln -s /proc/self/fd /dev/fd
# The unit test that drives a guest exit by exit (tests/unit/test_kvm.c), when it was built.
if [ -x build/tests/unit/test_kvm ]; then
	build/tests/unit/test_kvm 2>&1 | sed 's/^/tb-result: /'
fi
NESTED_KVM=1 GUEST_TIMEOUT=120 bash tests/kvm/run.sh build/tollbooth >/tmp/kvm.out 2>&1
status=$?
sed 's/^/tb-result: /' /tmp/kvm.out
echo "tb-result: kvm-run-exit $status"
# Debian's Linux itself on the kvm backend (this guest's own kernel and initramfs, which
# tests/linux/run.py adds under /tb/linux), its timer calibration and interrupt set-up with no
# command-line help: with the VMM's interrupt controllers, and with KVM's in-kernel irqchip and
# two vCPUs (INIT-SIPI through KVM's LAPICs). One line each: the inner tb-result lines joined.
if [ -f /tb/linux/vmlinuz ]; then
	for spec in "user 1" "kernel 2"; do
		set -- $spec
		timeout 300 /tb/build/tollbooth run --accel kvm --kvm-irqchip "$1" --cpus "$2" \
			--mem 256M --kernel /tb/linux/vmlinuz --initrd /tb/linux/initramfs.cpio.gz \
			--append "console=ttyS0 quiet tb.script=boot" </dev/null >/tmp/linux.out 2>&1
		st=$?
		echo "tb-result: linux-on-kvm $1 status $st: $(grep -a '^tb-result: ' /tmp/linux.out |
			sed 's/^tb-result: //' | tr -d '\r' | tr '\n' ';')"
		[ $st -eq 0 ] || tail -n 5 /tmp/linux.out | sed 's/^/tb-result: linux-on-kvm says: /'
	done
fi
