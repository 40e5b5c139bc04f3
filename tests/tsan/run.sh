#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Threaded vCPUs under ThreadSanitizer (docs/security.md, "ThreadSanitizer"): the SMP, APICv, posted-
# interrupt and parallel guests run on the TSan build of tollbooth (`make MODE=tsan`), each a
# few times; any report fails the run. Guest memory's own races (two vCPUs' plain accesses to
# the same guest RAM, which x86 defines) are suppressed by tests/tsan.supp, nothing else.
# Usage: tests/tsan/run.sh [TSAN_TOLLBOOTH] [ROUNDS]. Ends with "tsan: N passed, M failed".
set -uo pipefail

cd "$(dirname "$0")/../.."
bin=${1:-build/tsan/tollbooth}
rounds=${2:-3}
guests=${GUEST_DIR:-build/guests}
passed=0
failed=0

if [ ! -x "$bin" ]; then
	echo "skip tsan: no ThreadSanitizer build at $bin (make MODE=tsan all)"
	echo "tsan: 0 passed, 0 failed"
	exit 0
fi
# Some kernels map memory where TSan's shadow cannot go (high mmap randomization): then
# nothing can be learned here; say so rather than fail.
if ! probe=$(TSAN_OPTIONS=suppressions=tests/tsan.supp "$bin" --version 2>&1); then
	echo "skip tsan: the ThreadSanitizer build cannot run on this host: $(head -n 1 <<<"$probe")"
	echo "tsan: 0 passed, 0 failed"
	exit 0
fi

configs=(
	"smp|--cpus 4 $guests/smp.elf"
	"smp-jitoff|--cpus 4 --jit off $guests/smp.elf"
	"smp-apicv|--cpus 4 --vmx apicv=on $guests/smp.elf"
	"smp-regvirt|--cpus 4 --vmx apicv=on --vmx apic-register-virt=on $guests/smp.elf"
	"parallel|--cpus 2 --append k=2 $guests/bench-parallel.elf"
	"irqgen-posted|--device irqgen --vcpu-threads on --vmx apicv=on --vmx posted-interrupts=on --append n=50,ms=5 $guests/irqgen.elf"
)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/tb-tsan.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
for c in "${configs[@]}"; do
	name=${c%%|*}
	read -r -a args <<<"${c#*|}"
	why=""
	for r in $(seq 1 "$rounds"); do
		TSAN_OPTIONS="suppressions=tests/tsan.supp halt_on_error=1" timeout 300 \
			"$bin" run --sandbox off "${args[@]}" </dev/null >"$tmp/out" 2>&1
		status=$?
		if grep -q "WARNING: ThreadSanitizer" "$tmp/out"; then
			why="round $r: $(grep -m1 -A3 'WARNING: ThreadSanitizer' "$tmp/out" | tr '\n' ' ')"
			break
		fi
		# The guests exit with status 0 through port 0xf4: process status 1.
		if [ "$status" -ne 1 ]; then
			why="round $r: exited with status $status: $(tail -n 2 "$tmp/out" | tr '\n' ' ')"
			break
		fi
	done
	if [ -z "$why" ]; then
		echo "ok tsan $name: $rounds runs, no report"
		passed=$((passed + 1))
	else
		echo "FAIL tsan $name: $why"
		failed=$((failed + 1))
	fi
done
echo "tsan: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
