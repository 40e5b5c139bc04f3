#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# A part of `make check`: every fuzz target's committed corpus (tests/fuzz/corpus/<target>)
# through its replay binary (replay.c; gcc and the sanitizers), so the crashes the corpora
# record stay fixed without clang. `replay.sh DIR`: DIR holds the replay_<target> binaries.
# One line per target; ends with "fuzz-replay: N passed, M failed".
set -uo pipefail

cd "$(dirname "$0")/../.."
dir=${1:?usage: replay.sh DIR-of-replay-binaries}
passed=0
failed=0

for src in tests/fuzz/fuzz_*.c; do
	t=$(basename "$src" .c)
	t=${t#fuzz_}
	bin=$dir/replay_$t
	seeds=tests/fuzz/corpus/$t
	if [ ! -x "$bin" ]; then
		echo "FAIL fuzz-replay $t: $bin is missing (make MODE=san fuzz-replay-build)"
		failed=$((failed + 1))
		continue
	fi
	n=$(find "$seeds" -type f 2>/dev/null | wc -l)
	if [ "$n" -eq 0 ]; then
		echo "FAIL fuzz-replay $t: no corpus in $seeds"
		failed=$((failed + 1))
		continue
	fi
	out=$(timeout 300 "$bin" "$seeds" 2>&1)
	status=$?
	if [ $status -eq 0 ]; then
		echo "ok fuzz-replay $t: ${out##*: }"
		passed=$((passed + 1))
		continue
	fi
	echo "$out" | tail -n 30
	input=$(sed -n 's/^replaying //p' <<<"$out" | tail -n 1)
	echo "FAIL fuzz-replay $t: exit status $status on ${input:-?}; reproduce: $bin $input"
	failed=$((failed + 1))
done

echo "fuzz-replay: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
