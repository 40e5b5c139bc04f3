#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Every part of the suite that needs KVM, run against devices that are not KVM (issue 10):
#   tests/kvm/nokvm.sh [TOLLBOOTH] [UNIT_DIR]
# TOLLBOOTH_KVM_DEV points at a missing path, a regular file in the build folder, and /dev/null.
# Each part must skip with its reason shown (or give its one-line error) and fail nothing, and no
# path outside the build folder may appear. Ends with "nokvm: N passed, M failed".
set -uo pipefail

cd "$(dirname "$0")/../.."
bin=${1:-${BUILD_ROOT:-build}/tollbooth}
unit_dir=${2:-${BUILD_ROOT:-build}/san/tests/unit}
passed=0
failed=0

result() { # ok|FAIL name detail
	echo "$1 nokvm $2${3:+: $3}"
	if [ "$1" = ok ]; then passed=$((passed + 1)); else failed=$((failed + 1)); fi
}

regular=$(dirname "$bin")/tests/nokvm-regular-file
mkdir -p "$(dirname "$regular")" && : >"$regular"
missing=$(dirname "$bin")/tests/nokvm-missing/kvm

# part NAME DEV WANT-WORDS -- COMMAND...: the part's summary line has 0 failed, its output names
# the reason (WANT-WORDS), and the missing path was not created.
part() {
	local name=$1 dev=$2 words=$3 out status
	shift 4
	out=$(env TOLLBOOTH_KVM_DEV="$dev" "$@" 2>&1)
	status=$?
	if [ $status -ne 0 ] || grep -qE ' [1-9][0-9]* failed$' <<<"$out"; then
		result FAIL "$name" "status $status: $(grep -E 'FAIL|failed' <<<"$out" | head -n 3)"
	elif ! grep -q -- "$words" <<<"$out"; then
		result FAIL "$name" "no skip reason \"$words\" in: $(head -c 300 <<<"$out")"
	elif [ -e "$missing" ]; then
		result FAIL "$name" "$missing was created"
	else
		result ok "$name"
	fi
}

for dev in "$missing" "$regular" /dev/null; do
	case $dev in
	"$missing") why="does not exist" kind=missing ;;
	"$regular") why="not a character device" kind=regular-file ;;
	*) why="is not KVM" kind=dev-null ;;
	esac
	part "test_kvm $kind" "$dev" "$why" -- "$unit_dir/test_kvm"
	part "kvm/run.sh $kind" "$dev" "skip kvm guests: .*$why" -- tests/kvm/run.sh "$bin"
	part "difftest $kind" "$dev" "SKIP difftest: KVM is not usable here: .*$why" -- \
		tests/diff/difftest.py --tollbooth "$bin" --b kvm --check
done
rm -f "$regular"

echo "nokvm: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
