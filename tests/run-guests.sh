#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The guest suite: boot each guest of tests/guests.list and compare its exit.
#   [ACCEL=soft|kvm] tests/run-guests.sh [TOLLBOOTH] [LIST]
# ACCEL (default soft) is passed as --accel; with ACCEL=kvm a guest not marked kvm-ok is not run
# and gets a "skip guest NAME" line (not counted). With COMPARE_BIN=TOLLBOOTH (a second binary or
# the same one) each guest also runs there on the soft backend and the two serial outputs must be
# identical: hardware as the oracle for what the guest sees. A note `output-differs=WHY` exempts
# a guest whose output legitimately differs (WHY is shown).
# List lines: `name expected [soft-only|kvm-ok] [note]`; `#` starts a comment. The image is
# build/guests/<name>.elf unless the note says image=FILE; append=TEXT passes --append TEXT,
# mem=MIB passes --mem MIBM, vmx=NAME=on|off passes --vmx NAME=on|off (repeatable) and
# args=A,B,... passes the words A B ... (the keys tests/guests.list documents); kvm-args=A,B,...
# passes them on the kvm backend alone, and such a guest runs there alone.
# NESTED_KVM=1 (the kvm backend on a KVM that runs inside tollbooth, tests/linux/run.py): a
# guest noted nested-kvm-fails=WHY gets a "skip guest NAME" line with the reason instead, and
# one noted nested-kvm-ok runs as kvm-ok (soft-only for what KVM hosts seen so far lack).
# TB_ARGS="WORDS" adds the words to every soft run (e.g. --jit eager); with --vmx ept=off in
# them (shadow paging) a guest noted needs-ept=WHY gets a "skip guest NAME" line instead.
# `expected` is the exit status (a guest writing V to port 0xf4 gives (V << 1) | 1), or `triple`
# or `halt`: tollbooth must then say "triple fault" / "halted" on stderr and exit with 4 (see
# EXIT_STATUS_STOPPED).
set -uo pipefail

cd "$(dirname "$0")/.."
bin=${1:-build/tollbooth}
list=${2:-tests/guests.list}
timeout_s=${GUEST_TIMEOUT:-60}
accel=${ACCEL:-soft}
passed=0
failed=0
tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT

result() { # ok|FAIL name detail
	echo "$1 guest $2${3:+: $3}"
	if [ "$1" = ok ]; then passed=$((passed + 1)); else failed=$((failed + 1)); fi
}

# The same guest and options on the soft backend of $COMPARE_BIN: same serial output as $out?
same_as_soft() {
	soft_out=$(timeout "$guest_timeout" "$COMPARE_BIN" run "${opts[@]}" --accel soft "$image" \
		   </dev/null 2>/dev/null)
	[ "$soft_out" = "$out" ]
}

[ -n "${TB_ARGS:-}" ] && echo "guest suite, soft runs with: $TB_ARGS"

if [ ! -f "$list" ]; then
	echo "FAIL guests: $list not found"
	echo "guests: 0 passed, 1 failed"
	exit 1
fi

while read -r name expected rest; do
	case $name in '' | '#'*) continue ;; esac
	image=${GUEST_DIR:-build/guests}/$name.elf
	opts=(--accel "$accel")
	[ "$accel" = soft ] && [ -n "${TB_ARGS:-}" ] && read -ra tb_args <<<"$TB_ARGS" && opts+=("${tb_args[@]}")
	kvm_ok=0
	kvm_args=()
	differs=""
	needs_ept=""
	nested_fails=""
	guest_timeout=$timeout_s
	for word in $rest; do
		case $word in
		kvm-ok) kvm_ok=1 ;;
		nested-kvm-ok) [ "${NESTED_KVM:-0}" = 1 ] && kvm_ok=1 ;;
		output-differs=*) differs=${word#output-differs=} ;;
		needs-ept=*) needs_ept=${word#needs-ept=} ;;
		nested-kvm-fails=*) nested_fails=${word#nested-kvm-fails=} ;;
		timeout=*) [ "${word#timeout=}" -gt "$timeout_s" ] && guest_timeout=${word#timeout=} ;;
		image=*) image=${word#image=}; image=${image//@GUESTS@/${GUEST_DIR:-build/guests}} ;;
		append=*) opts+=(--append "${word#append=}") ;;
		mem=*) opts+=(--mem "${word#mem=}M") ;;
		cpus=*) opts+=(--cpus "${word#cpus=}") ;;
		vmx=*) opts+=(--vmx "${word#vmx=}") ;;
		args=*) IFS=, read -ra extra <<<"${word#args=}"; opts+=("${extra[@]}") ;;
		kvm-args=*) IFS=, read -ra kvm_args <<<"${word#kvm-args=}" ;;
		esac
	done
	if [ ${#kvm_args[@]} -gt 0 ] && [ "$accel" != kvm ]; then
		echo "skip guest $name: runs on the kvm backend only (kvm-args)"
		continue
	fi
	if [ -n "$needs_ept" ] && [[ " ${TB_ARGS:-} " == *ept=off* ]]; then
		echo "skip guest $name: needs EPT: $needs_ept"
		continue
	fi
	if [ "$accel" = kvm ] && [ -n "$nested_fails" ] && [ "${NESTED_KVM:-0}" = 1 ]; then
		echo "skip guest $name: fails on KVM nested in tollbooth: $nested_fails"
		continue
	fi
	if [ "$accel" = kvm ] && [ $kvm_ok -eq 0 ]; then
		echo "skip guest $name: not kvm-ok"
		continue
	fi
	if [ ! -f "$image" ]; then
		result FAIL "$name" "no image $image (make guests)"
		continue
	fi
	out=$(timeout "$guest_timeout" "$bin" run "${opts[@]}" ${kvm_args[@]+"${kvm_args[@]}"} "$image" \
	      </dev/null 2>"$tmp")
	status=$?
	err=$(cat "$tmp")
	# What to show on failure: the guest's first failed check, else tollbooth's last word.
	last=$(grep -m 1 '^FAIL' <<<"$out")
	[ -n "$last" ] || last=$(tail -n 1 <<<"$err")
	case $expected in
	triple) want=4 words="triple fault" ;;
	halt) want=4 words="halted" ;;
	*) want=$expected words="" ;;
	esac
	if [ $status -eq 124 ]; then
		result FAIL "$name" "timed out after ${guest_timeout}s"
	elif [ $status -ne "$want" ]; then
		result FAIL "$name" "exit status $status, want $want${last:+ ($last)}"
	elif [ -n "$words" ] && ! grep -q "$words" <<<"$err"; then
		result FAIL "$name" "exit status $status but no \"$words\" on stderr"
	elif [ -n "${COMPARE_BIN:-}" ] && [ -z "$differs" ] && ! same_as_soft; then
		# The first two differing lines, GNU diff's normal format or busybox's unified one.
		result FAIL "$name" "serial output differs from soft's: $(diff <(echo "$soft_out") \
			<(echo "$out") | grep -E -m 2 '^([<>]|[-+]([^-+]|$))' | tr '\n' ' ')"
	else
		result ok "$name" "$expected${differs:+ (output not compared: $differs)}"
	fi
done <"$list"

echo "guests: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
