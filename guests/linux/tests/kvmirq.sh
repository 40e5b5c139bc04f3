# SPDX-License-Identifier: MIT
# The posted-interrupt figure on KVM (bench/irq.py --nested-kvm): irqgen (guests/tests/irqgen.c)
# on this guest's KVM (kvm_intel on tollbooth's nested VMX) with the VMM's interrupt
# controllers (--kvm-irqchip user: injection through exits) and with KVM's in-kernel irqchip
# (--kvm-irqchip kernel: the device thread's MSIs through an irqfd), rounds interleaved. Each
# run prints its irqgen figure lines and the exits that reached the VMM (--stats-json's total).
# Needs the /tb overlay of tests/linux/run.py (build/linux/kvm-initramfs.cpio.gz).
# tb.rounds=R tb.n=N tb.ms=MS on the command line; tb.chips=user,kernel (the default) or one of
# them; tb.apicv=0|1: kvm_intel's enable_apicv (default: what KVM makes of the VMX capabilities
# it is offered), for KVM's APICv and posted interrupts against its injection through exits.
rounds=3 n=200 ms=50 chips="user kernel" apicv=
for w in $(cat /proc/cmdline); do
	case $w in
	tb.rounds=*) rounds=${w#tb.rounds=} ;;
	tb.n=*) n=${w#tb.n=} ;;
	tb.ms=*) ms=${w#tb.ms=} ;;
	tb.chips=*) chips=$(echo "${w#tb.chips=}" | tr , ' ') ;;
	tb.apicv=*) apicv="enable_apicv=${w#tb.apicv=}" ;;
	esac
done
insmod /lib/modules/irqbypass.ko || echo "tb-result: insmod irqbypass failed"
insmod /lib/modules/kvm.ko || echo "tb-result: insmod kvm failed"
insmod /lib/modules/kvm-intel.ko $apicv || echo "tb-result: insmod kvm-intel failed"
echo "tb-result: kvm-intel enable_apicv $(cat /sys/module/kvm_intel/parameters/enable_apicv)"
if [ ! -x /tb/build/tollbooth ] || [ ! -f /tb/build/guests/irqgen.elf ]; then
	echo "tb-result: no /tb overlay with irqgen.elf (tests/linux/run.py makes it)"
	exit 1
fi
r=0
while [ $r -lt "$rounds" ]; do
	for chip in $chips; do
		/tb/build/tollbooth run --accel kvm --kvm-irqchip $chip --device irqgen \
			--stats-json /tmp/stats.json --append "n=$n ms=$ms" \
			/tb/build/guests/irqgen.elf >/tmp/out 2>/tmp/err </dev/null
		echo "tb-result: irq $chip $r status $?"
		grep '^irqgen:' /tmp/out | sed "s/^/tb-result: irq $chip $r /"
		exits=$(grep -o '"total": {"samples": [0-9]*' /tmp/stats.json | grep -o '[0-9]*$')
		echo "tb-result: irq $chip $r exits ${exits:-?}"
	done
	r=$((r + 1))
done
# This guest's own interrupt counts, summed over its CPUs: posted-interrupt notifications KVM
# took as the host (PIN: the target vCPU was not in its guest), nested ones (NPI) and KVM's
# wakeup vector (PIW).
grep -E "^ *(PIN|PIW|NPI):" /proc/interrupts | awk '{
	s = 0
	for (i = 2; i <= NF && $i ~ /^[0-9]+$/; i++)
		s += $i
	print "tb-result: interrupts " $1 " " s
}'
