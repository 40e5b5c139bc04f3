#!/bin/sh
# SPDX-License-Identifier: MIT
# Validate the guest suite on QEMU (the reference while the soft CPU is being written):
#   guests/check_qemu.sh [tcg|kvm]      (QEMU_CPU=qemu64 for a smaller CPU model)
# Reads tests/guests.list. On QEMU, "triple" means QEMU exits 0 (-no-reboot), "halt" guests are
# skipped (QEMU would wait forever), sdmstrict, nested and nested_off (TCG has no VMX to offer a
# guest hypervisor; it also hangs on nested_off's CR4.VMXE check) and v86_32 (TCG checks no
# segment limits) are expected to FAIL on TCG,
# and with kvm only
# kvm-ok guests run. One line per guest, then "N passed, M failed".
accel=${1:-tcg}
pass=0; fail=0
while read -r name want mode note; do
	case $name in ''|'#'*) continue ;; esac
	[ "$want" = halt ] && continue
	[ "$accel" = kvm ] && [ "$mode" != kvm-ok ] && continue
	# A kvm-backend variant (kvm-args=): the guest it varies runs here already.
	case " $note " in *" kvm-args="*) continue ;; esac
	img=build/guests/$name.elf
	args=""
	for kv in $note; do
		case $kv in
		image=*) img=${kv#image=} ;;
		append=*) args="$args -append ${kv#append=}" ;;
		cpus=*) args="$args -smp ${kv#cpus=}" ;;
		esac
	done
	out=$(guests/run_qemu.sh "$img" "$accel" $args 2>&1 </dev/null)
	st=$?
	case $want in
	triple) ok=$([ $st -eq 0 ] && echo y) ;;
	*) if { [ "$name" = sdmstrict ] || [ "$name" = nested ] || [ "$name" = nested_off ]; } &&
		[ "$accel" = tcg ]; then
		ok=$([ $st -ne 1 ] && echo y)
	   else ok=$([ "$st" = "$want" ] && echo y); fi ;;
	esac
	if [ "$ok" = y ]; then
		pass=$((pass + 1)); echo "ok   $name (status $st)"
	else
		fail=$((fail + 1)); echo "FAIL $name (status $st, want $want): $(echo "$out" | grep -m2 FAIL | tr '\n' ' ')"
	fi
done < tests/guests.list
echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
