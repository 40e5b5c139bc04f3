#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The kvm backend from the command line (docs/kvm.md):
#   tests/kvm/run.sh [TOLLBOOTH]
# Without KVM: `--accel kvm` must say so in one line and exit 2, `tollbooth kvm-ok` exit 1 with
# the reason, and the --kvm-* options must be refused without --accel kvm. TOLLBOOTH_KVM_DEV
# names the device (tests point it at a missing path, /dev/null and a regular file). With /dev/kvm: the levers boot a guest, and the kvm-ok guests of
# tests/guests.list run through tests/run-guests.sh with ACCEL=kvm. Ends with "kvm: N passed, M failed".
set -uo pipefail

cd "$(dirname "$0")/../.."
bin=${1:-${BUILD_ROOT:-build}/tollbooth}
guests=${GUEST_DIR:-${BUILD_ROOT:-build}/guests}
passed=0
failed=0
err=$(mktemp)
trap 'rm -f "$err"' EXIT

result() { # ok|FAIL name detail
	echo "$1 kvm $2${3:+: $3}"
	if [ "$1" = ok ]; then passed=$((passed + 1)); else failed=$((failed + 1)); fi
}

# expect NAME STATUS WORDS -- COMMAND...: exit status and one stderr line containing WORDS.
expect() {
	local name=$1 want=$2 words=$3 status
	shift 4
	"$@" </dev/null >/dev/null 2>"$err"
	status=$?
	if [ $status -ne "$want" ]; then
		result FAIL "$name" "exit status $status, want $want ($(tail -n 1 "$err"))"
	elif [ "$(wc -l <"$err")" -ne 1 ] || ! grep -q -- "$words" "$err"; then
		result FAIL "$name" "want one stderr line with \"$words\", got: $(head -c 300 "$err")"
	else
		result ok "$name"
	fi
}

expect no-device 2 "/nonexistent/kvm does not exist" -- \
	env TOLLBOOTH_KVM_DEV=/nonexistent/kvm "$bin" run --accel kvm
expect not-kvm 2 "not KVM" -- env TOLLBOOTH_KVM_DEV=/dev/null "$bin" run --accel kvm
expect levers-need-kvm 2 "need --accel kvm" -- "$bin" run --kvm-ioeventfd
expect bad-disable-exits 2 "--kvm-disable-exits 'nap'" -- \
	env TOLLBOOTH_KVM_DEV=/nonexistent/kvm "$bin" run --accel kvm --kvm-disable-exits nap
expect bad-irqchip 2 "--kvm-irqchip 'both'" -- "$bin" run --accel kvm --kvm-irqchip both

# Probe through tollbooth itself: it opens nothing it does not find (a shell's `exec 3<>` would
# create a missing /dev/kvm as a regular file, as root).
expect kvm-ok-missing 1 "/nonexistent/kvm does not exist" -- \
	env TOLLBOOTH_KVM_DEV=/nonexistent/kvm "$bin" kvm-ok
expect kvm-ok-null 1 "/dev/null is not KVM" -- env TOLLBOOTH_KVM_DEV=/dev/null "$bin" kvm-ok
regular=$(dirname "$bin")/tests/kvm-regular-file
mkdir -p "$(dirname "$regular")" && : >"$regular"
expect kvm-ok-regular 1 "not a character device" -- env TOLLBOOTH_KVM_DEV="$regular" "$bin" kvm-ok
expect not-kvm-regular 2 "not a character device" -- \
	env TOLLBOOTH_KVM_DEV="$regular" "$bin" run --accel kvm

if ! why=$("$bin" kvm-ok 2>&1 >/dev/null); then
	echo "skip kvm guests: ${why#tollbooth: }"
else
	for lever in --kvm-ioeventfd "--kvm-disable-exits hlt,pause" "--kvm-irqchip kernel"; do
		# shellcheck disable=SC2086
		timeout 60 "$bin" run --accel kvm $lever "$guests/hello.elf" </dev/null \
			>/dev/null 2>"$err"
		status=$?
		if [ $status -eq 1 ]; then
			result ok "lever $lever"
		else
			result FAIL "lever $lever" "exit status $status ($(tail -n 1 "$err"))"
		fi
	done
	# --stats names the interrupt controllers KVM's in-kernel irqchip took over as the backend's.
	timeout 60 "$bin" run --accel kvm --kvm-irqchip kernel --stats "$guests/hello.elf" \
		</dev/null >/dev/null 2>"$err"
	if grep -q "ioapic(backend's) lapic(backend's)" "$err"; then
		result ok "stats names the backend's irqchip"
	else
		result FAIL "stats names the backend's irqchip" "$(grep -m 1 '^Machine' "$err")"
	fi
	# Hardware as the oracle: each guest's serial output must match the soft backend's.
	out=$(ACCEL=kvm COMPARE_BIN=$bin GUEST_DIR=$guests tests/run-guests.sh "$bin")
	echo "$out"
	line=$(tail -n 1 <<<"$out")
	passed=$((passed + $(sed -E 's/.*: ([0-9]+) passed.*/\1/' <<<"$line")))
	failed=$((failed + $(sed -E 's/.* ([0-9]+) failed$/\1/' <<<"$line")))
fi

echo "kvm: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
