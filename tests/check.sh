#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The whole suite, after `make check` built everything: unit programs (sanitizer and release
# builds), the guest suite on the soft backend (release and sanitizer builds), the command-line
# tests and the hostile-guest tests (sanitizer build), the kvm backend's guests and the
# differential tester (both skip with a visible reason when KVM is unusable; tests/kvm/nokvm.sh
# proves they do against a missing path, a regular file and /dev/null), the differential tester
# against this CPU (tests/diff/hostdiff, sanitizer build). Each test prints one line; each part
# ends with "<part>: N passed, M failed"; the last line sums them all.
# The fuzz targets' committed corpora run through their sanitizer builds (tests/fuzz/replay.sh).
# Debian's Linux boots on the soft backend with virtio devices (tests/linux/run.py; it skips with
# the reason when the machine has no kernel or busybox-static).
set -uo pipefail

cd "$(dirname "$0")/.."
B=${BUILD_ROOT:-build}
export GUEST_DIR=${GUEST_DIR:-$B/guests}
release=${RELEASE_BIN:-$B/tollbooth}
san=${SAN_BIN:-$B/san/tollbooth}
unit_dir=${UNIT_DIR:-$B/san/tests/unit}
release_unit_dir=${RELEASE_UNIT_DIR:-$B/tests/unit}
hostdiff=${HOSTDIFF_BIN:-$B/san/tests/diff/hostdiff}
passed=0
failed=0
# Tests never create or change anything outside the build folder: /dev is compared at the end.
dev_before=$(ls -A /dev 2>/dev/null)

# Add the "<part>: N passed, M failed" line of a part's output to the totals.
tally() { # part-output
	local line
	line=$(grep -E '^[a-z0-9_-]+: [0-9]+ passed, [0-9]+ failed$' <<<"$1" | tail -n 1)
	if [ -z "$line" ]; then
		return 1
	fi
	passed=$((passed + $(sed -E 's/.*: ([0-9]+) passed.*/\1/' <<<"$line")))
	failed=$((failed + $(sed -E 's/.* ([0-9]+) failed$/\1/' <<<"$line")))
}

# Twice: under the sanitizers, and as released (-O2, where the CPU's fault and exit return is
# the compiler's builtin setjmp pair instead of libc's: cpu/internal.h cpu_setjmp).
for t in "$unit_dir"/test_* "$release_unit_dir"/test_*; do
	[ -x "$t" ] || continue
	out=$(timeout 300 "$t" 2>&1)
	status=$?
	echo "$out"
	if ! tally "$out" || { [ $status -ne 0 ] && ! grep -q ' [1-9][0-9]* failed$' <<<"$out"; }; then
		echo "FAIL unit $t: exited with status $status"
		failed=$((failed + 1))
	fi
done

# The guests four ways: the default (hot 64-bit blocks compiled, jit.c), the interpreter alone,
# every block compiled at its first run under the sanitizers, and shadow paging (EPT off,
# vmm/shadow.c) under the sanitizers.
for part in "tests/run-guests.sh $release" "env TB_ARGS=--jit=off tests/run-guests.sh $release" \
	"env TB_ARGS=--jit=eager tests/run-guests.sh $san" \
	"env TB_ARGS=--vmx=ept=off tests/run-guests.sh $san" "tests/cli/run.sh $san" \
	"tests/hostile/random_code.py $san" "tests/fuzz/replay.sh $B/san/tests/fuzz" \
	"tests/kvm/run.sh $release" "tests/linux/run.py $release $B" \
	"tests/kvm/nokvm.sh $release $unit_dir" "tests/diff/difftest.py --check" \
	"$hostdiff --check --regressions tests/diff/regressions.list"; do
	out=$($part 2>&1)
	echo "$out"
	if ! tally "$out"; then
		echo "FAIL $part: no summary line"
		failed=$((failed + 1))
	fi
done

dev_after=$(ls -A /dev 2>/dev/null)
if [ "$dev_before" = "$dev_after" ]; then
	echo "ok dev-untouched: /dev has the same entries as before the suite"
	passed=$((passed + 1))
else
	echo "FAIL dev-untouched: /dev changed during the suite:" \
		"$(diff <(echo "$dev_before") <(echo "$dev_after") | grep '^[<>]' | tr '\n' ' ')"
	failed=$((failed + 1))
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
