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
