#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# `make fuzz`: run each libFuzzer target named on the command line for FUZZ_TIME seconds, from
# its committed seeds (tests/fuzz/corpus/<target>, read only) and a fresh working corpus in
# $FUZZ_DIR/work/<target>. One line per target with its exec count; a crash leaves its input in
# $FUZZ_DIR/crashes/<target>/ and the line gives the command that reproduces it. Ends with
# "fuzz: N passed, M failed".
set -uo pipefail

cd "$(dirname "$0")/../.."
dir=${FUZZ_DIR:-build/fuzz}
time=${FUZZ_TIME:-30}
passed=0
failed=0

# Longest input per target: an instruction is at most 15 bytes (decode, mmio take a little
# more for their mode and vCPU state); the multiboot header lies in the first 8 KiB; a bzImage
# has its setup sectors and a kernel.
max_len_of() {
	case $1 in
	decode) echo 32 ;;
	mmio) echo 64 ;;
	virtio) echo 8192 ;;
	multiboot) echo 12288 ;;
	linux_loader) echo 16384 ;;
	*) echo 4096 ;;
	esac
}

for t in "$@"; do
	bin=$dir/fuzz_$t
	work=$dir/work/$t
	crashes=$dir/crashes/$t
	rm -rf "$work" "$crashes"
	mkdir -p "$work/corpus" "$crashes"
	seeds=tests/fuzz/corpus/$t
	[ -d "$seeds" ] || seeds=
	"$bin" -max_total_time="$time" -max_len="$(max_len_of "$t")" -timeout=20 \
		-print_final_stats=1 -artifact_prefix="$crashes/" "$work/corpus" $seeds \
		>"$work/log" 2>&1
	status=$?
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/log" | tail -n 1)
	[ -n "$execs" ] || execs=$(grep -oE '^#[0-9]+' "$work/log" | tail -n 1 | tr -d '#')
	new=$(find "$work/corpus" -type f | wc -l)
	if [ $status -eq 0 ]; then
		echo "ok fuzz $t: ${execs:-?} execs in ${time} s, $new new corpus inputs"
		passed=$((passed + 1))
		continue
	fi
	crash=$(find "$crashes" -type f | head -n 1)
	why=$(grep -m 1 -E '^(SUMMARY|fuzz: )|ERROR: libFuzzer' "$work/log")
	echo "FAIL fuzz $t: ${why:-exit status $status} (after ${execs:-?} execs; log $work/log)"
	if [ -n "$crash" ]; then
		echo "  reproduce: make fuzz-repro TARGET=$t INPUT=$crash"
	fi
	failed=$((failed + 1))
done

echo "fuzz: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
