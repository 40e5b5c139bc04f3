# SPDX-License-Identifier: MIT
# Linux's KVM as a guest hypervisor (nested VMX, issue 16): load kvm_intel and run kvmrun, the
# smallest KVM user, whose real-mode guest writes two bytes to a port and halts.
for m in irqbypass kvm kvm-intel; do
	insmod /lib/modules/$m.ko || echo "tb-result: insmod $m failed"
done
grep -qw vmx /proc/cpuinfo && echo "tb-result: cpu-vmx 1"
# What KVM made of the VMX capabilities it was offered (APICv: APIC-register virtualization,
# virtual-interrupt delivery and posted interrupts; FlexPriority: the TPR shadow and the
# APIC-access page; SDM vol. 3C chapter 30).
for p in enable_apicv flexpriority ept unrestricted_guest; do
	echo "tb-result: kvm-intel $p $(cat /sys/module/kvm_intel/parameters/$p)"
done
ls -l /dev/kvm
kvmrun && echo "tb-result: kvmrun ok" || echo "tb-result: kvmrun failed"
dmesg | grep -c -E "vmwrite|vmread|WARNING|Call Trace" | sed "s/^/tb-result: kvm-warnings /"
dmesg | grep -B4 -A14 -E "vmwrite|vmread|WARNING|Call Trace" | head -50
