#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Command-line and bad-input tests: every mistake gets exit status 2 and exactly one line on
# stderr that says what is wrong; nothing crashes (run this with the sanitizer build).
#   tests/cli/run.sh [TOLLBOOTH]
# Scratch files live in the build folder (BUILD_ROOT, default build/), never elsewhere.
set -uo pipefail

bin=${1:-build/san/tollbooth}
mkdir -p "${BUILD_ROOT:-build}"
tmp=$(mktemp -d "${BUILD_ROOT:-build}/cli.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
# A hang is a failure, not a stuck suite: every run gets this many seconds (status 124).
limit=120
passed=0
failed=0

le32() { # value...: little-endian 32-bit words
	local v
	for v in "$@"; do
		v=$((v & 0xffffffff))
		printf "\\x$(printf %02x $((v & 255)))\\x$(printf %02x $((v >> 8 & 255)))"
		printf "\\x$(printf %02x $((v >> 16 & 255)))\\x$(printf %02x $((v >> 24 & 255)))"
	done
}

# A multiboot image with the a.out-kludge fields, loaded at 1M, entry right after the header:
# aout FILE FLAGS CHECKSUM_ADJUST LOAD_END BSS_END CODE_BYTES
aout() {
	local flags=$(($2 | 0x10000))
	{
		le32 0x1badb002 "$flags" $((-(0x1badb002 + flags) + $3))
		le32 0x100000 0x100000 "$4" "$5" 0x100020
		printf "$6"
	} >"$1"
}

# expect NAME STATUS PATTERN -- ARGS...: run, check the status and that stderr is one line
# matching PATTERN (for status 0, stdout must match it instead).
expect() {
	local name=$1 want=$2 pattern=$3 out err status lines
	shift 4
	out=$(timeout "$limit" "$bin" "$@" 2>"$tmp/err" </dev/null)
	status=$?
	err=$(cat "$tmp/err")
	lines=$(grep -c '' "$tmp/err")
	if [ $status -eq 124 ]; then
		echo "FAIL cli $name: still running after ${limit}s"
	elif [ $status -ne "$want" ]; then
		echo "FAIL cli $name: exit status $status, want $want (${err:-no message})"
	elif grep -qE 'Sanitizer|runtime error' "$tmp/err"; then
		echo "FAIL cli $name: sanitizer report"
	elif [ "$want" -eq 0 ] && ! grep -qE -- "$pattern" <<<"$out"; then
		echo "FAIL cli $name: stdout lacks /$pattern/"
	elif [ "$want" -ne 0 ] && [ "$want" -ne 85 ] && [ "$lines" -ne 1 ]; then
		echo "FAIL cli $name: $lines lines on stderr, want 1: $err"
	elif [ "$want" -ne 0 ] && ! grep -qE -- "$pattern" <<<"$err"; then
		echo "FAIL cli $name: stderr lacks /$pattern/: $err"
	else
		echo "ok cli $name"
		passed=$((passed + 1))
		return
	fi
	failed=$((failed + 1))
}

: >"$tmp/empty.elf"
head -c 4096 /dev/zero | tr '\0' '\220' >"$tmp/garbage.elf"
aout "$tmp/badsum.elf" 0 1 0 0 '\xf4'
aout "$tmp/video.elf" 4 0 0 0 '\xf4'
aout "$tmp/unknownflag.elf" 8 0 0 0 '\xf4'
aout "$tmp/truncated.elf" 0 0 0x100100 0 '\xf4'
aout "$tmp/big.elf" 0 0 0 0x400000 '\xf4'
printf '\x7fELF\x02\x01\x01\x00' >"$tmp/elf64.elf"
le32 0x1badb002 0 $((-0x1badb002)) >>"$tmp/elf64.elf"
# mov $0x2a, %al; out %al, $0xf4: exits with (0x2a << 1) | 1 = 85.
aout "$tmp/exit42.elf" 0 0 0 0 '\xb0\x2a\xe6\xf4'
# mov $20000, %esi; 1: xor %eax, %eax; cpuid; dec %esi; jnz 1b; then exit 42: 20000 CPUID exits.
aout "$tmp/cpuid20k.elf" 0 0 0 0 '\xbe\x20\x4e\x00\x00\x31\xc0\x0f\xa2\x4e\x75\xf9\xb0\x2a\xe6\xf4'
# hlt with interrupts off (multiboot entry): tollbooth ends the run, status 4.
aout "$tmp/hlt.elf" 0 0 0 0 '\xf4'
# 1: mov 0xfe000000, %eax; cmp $0x1234, %eax; jne 1b -- waits for a device that is not there.
aout "$tmp/mmio-hole-spin.elf" 0 0 0 0 '\xa1\x00\x00\x00\xfe\x3d\x34\x12\x00\x00\x75\xf4\xf4'
# mov $0xfe000000, %eax; mov %eax, %cr3; mov %cr0, %eax; or $0x80000000, %eax; mov %eax, %cr0:
# paging on with the page directory past RAM; the next fetch walks it (EPT violation, bit 8 = 0).
aout "$tmp/cr3-past-ram.elf" 0 0 0 0 \
	'\xb8\x00\x00\x00\xfe\x0f\x22\xd8\x0f\x20\xc0\x0d\x00\x00\x00\x80\x0f\x22\xc0\xf4'

expect no-arguments 2 'no command given' --
expect unknown-command 2 "unknown command 'boot'" -- boot
expect help 0 'exit status' -- --help
expect run-help 0 '--mem SIZE' -- run --help
expect version 0 '^tollbooth [0-9]' -- --version
expect missing-file 2 'nonexistent.elf: cannot open: No such file' -- run "$tmp/nonexistent.elf"
expect directory 2 'not a regular file' -- run "$tmp"
# Opening a FIFO for reading waits for a writer: the image must be refused without waiting.
mkfifo "$tmp/fifo.elf"
expect fifo 2 'fifo.elf: not a regular file' -- run "$tmp/fifo.elf"
expect empty-file 2 'empty.elf: the file is empty' -- run "$tmp/empty.elf"
expect no-kernel-header 2 'garbage.elf: not a kernel tollbooth can boot' -- run "$tmp/garbage.elf"
# A setup header (boot_flag 0xAA55, "HdrS") with protocol 2.00: too old for the 64-bit entry.
{ head -c 510 /dev/zero; printf '\x55\xaa\xeb\x66HdrS\x00\x02'; head -c 3576 /dev/zero; } \
	>"$tmp/bzImage"
expect linux-old-protocol 2 'bzImage: boot protocol 2.00 is too old' -- run "$tmp/bzImage"
# setup_sects 0x20 says the setup code runs past the end of this 4 KiB file.
{ head -c 497 /dev/zero; printf '\x20'; head -c 12 /dev/zero; printf '\x55\xaa\xeb\x66HdrS\x0c\x02'
  head -c 3576 /dev/zero; } >"$tmp/shortsetup"
expect linux-truncated-setup 2 'shortsetup: truncated: the setup code' -- run --kernel "$tmp/shortsetup"
expect initrd-without-kernel 2 '--initrd needs a Linux kernel' -- run --initrd "$tmp/exit42.elf"
expect initrd-missing 2 'nonexistent.img: cannot open' -- \
	run --kernel "$tmp/exit42.elf" --initrd "$tmp/nonexistent.img"
expect initrd-for-multiboot 2 'multiboot kernel, which takes no --initrd' -- \
	run --kernel "$tmp/exit42.elf" --initrd "$tmp/exit42.elf"
expect two-kernels 2 'more than one' -- run --kernel "$tmp/exit42.elf" "$tmp/exit42.elf"
expect bad-checksum 2 'badsum.elf: multiboot header at offset 0 has a bad checksum' -- \
	run "$tmp/badsum.elf"
expect video-mode 2 'video mode' -- run "$tmp/video.elf"
expect unknown-required-flag 2 'flags 0x8' -- run "$tmp/unknownflag.elf"
expect truncated 2 'truncated.elf: truncated' -- run "$tmp/truncated.elf"
expect elf64 2 'ELF64' -- run "$tmp/elf64.elf"
expect too-big-for-mem 2 'big.elf: .*does not fit in 2M.*--mem 4M' -- run --mem 2M "$tmp/big.elf"
expect mem-not-a-number 2 "--mem 'abc'" -- run --mem abc "$tmp/exit42.elf"
expect mem-zero 2 "--mem '0'" -- run --mem 0 "$tmp/exit42.elf"
expect mem-too-small 2 "--mem '1M'" -- run --mem 1M "$tmp/exit42.elf"
expect mem-too-large 2 "--mem '100G'" -- run --mem 100G "$tmp/exit42.elf"
expect mem-overflow 2 "--mem '99999999999999999999G'" -- run --mem 99999999999999999999G \
	"$tmp/exit42.elf"
expect mem-bad-suffix 2 "--mem '5X'" -- run --mem 5X "$tmp/exit42.elf"
expect mem-not-4k 2 "--mem '2049K'" -- run --mem 2049K "$tmp/exit42.elf"
expect mem-negative 2 "--mem '-1'" -- run --mem -1 "$tmp/exit42.elf"
expect mem-missing-value 2 '--mem needs a value' -- run --mem
TOLLBOOTH_KVM_DEV=/nonexistent/kvm expect accel-kvm-missing 2 '/nonexistent/kvm' -- run --accel kvm \
	"$tmp/exit42.elf"
expect accel-unknown 2 "--accel 'tcg': unknown" -- run --accel tcg "$tmp/exit42.elf"
expect unknown-option 2 "unknown option '--frobnicate'" -- run --frobnicate "$tmp/exit42.elf"
expect two-images 2 'more than one IMAGE' -- run "$tmp/exit42.elf" "$tmp/exit42.elf"
# A QEMU word in a cluster of short options is named whole.
expect unknown-short-option 2 "unknown option '-nographic'" -- run -nographic "$tmp/exit42.elf"
# vCPUs: --cpus N, QEMU's -smp N and -smp cpus=N; anything else is one line.
expect cpus 85 '' -- run --cpus 2 "$tmp/exit42.elf"
expect smp-qemu-word 85 '' -- run -smp 3 "$tmp/exit42.elf"
expect smp-qemu-cpus 85 '' -- run -smp cpus=2,maxcpus=2 "$tmp/exit42.elf"
expect cpus-zero 2 "--cpus '0': use a number of vCPUs from 1 to 255" -- run --cpus 0 "$tmp/exit42.elf"
expect cpus-too-many 2 "--cpus '256'" -- run --cpus 256 "$tmp/exit42.elf"
expect cpus-not-a-number 2 "--cpus 'two'" -- run --cpus two "$tmp/exit42.elf"
expect smp-topology 2 "'2,sockets=2': use a number of vCPUs" -- run -smp 2,sockets=2 "$tmp/exit42.elf"
expect smp-hotplug-max 2 "'cpus=2,maxcpus=4'" -- run -smp cpus=2,maxcpus=4 "$tmp/exit42.elf"
expect halt-poll-off 85 '' -- run --halt-poll 0 "$tmp/exit42.elf"
# --exit-path: the soft backend's shortcut for common exits, or every exit through the run loop.
expect exit-path-full 85 '' -- run --exit-path full "$tmp/exit42.elf"
expect exit-path-fast 85 '' -- run --exit-path fast "$tmp/exit42.elf"
expect exit-path-bad 2 "--exit-path 'quick': use fast or full" -- run --exit-path quick \
	"$tmp/exit42.elf"
# The guest's one exit (OUT 0xf4) takes the fast path, and the stop it asks for the run loop.
expect exit-path-stats 85 ": 1 exits handled inside the backend's run, 1 of them then returned to the run loop" -- \
	run --stats "$tmp/exit42.elf"
# --stats-sample: one exit in N timed (a power of two), a reason's first 16 always; with 1 every
# exit is timed and no sampling line is printed.
expect stats-sample-first 85 "IO_INSTRUCTION +1 +100[.]00% +100[.]00% +[0-9.]+us" -- \
	run --stats "$tmp/exit42.elf"
sample_line() { # options...: the sampling line of the vmexit guest's 300 CPUIDs, or nothing
	timeout "$limit" "$bin" run --stats "$@" --append "n=100 only=cpuid" \
		"${GUEST_DIR:-${BUILD_ROOT:-build}/guests}/bench-vmexit.elf" 2>&1 >/dev/null |
		grep '^Times measured on'
}
line_default=$(sample_line)
line_every=$(sample_line --stats-sample 1)
if [ -z "$line_every" ] &&
	awk '{ for (i = 1; i <= NF; i++) if ($i == "of") { t = $(i - 1); m = $(i + 1) } }
	     END { sub(/^.*; /, "", t); exit !(t + 0 > 0 && t + 0 < m / 2) }' <<<"$line_default" &&
	grep -q '^Times measured on 1 exit in 16 at random (--stats-sample; ' <<<"$line_default"; then
	echo "ok cli stats-sample"
	passed=$((passed + 1))
else
	echo "FAIL cli stats-sample: default '$line_default', --stats-sample 1 '$line_every'"
	failed=$((failed + 1))
fi
expect stats-sample-bad 2 "--stats-sample '24': use a power of two from 1 [(]time every exit[)] to 65536" -- \
	run --stats-sample 24 "$tmp/exit42.elf"
expect stats-sample-zero 2 "--stats-sample '0': use a power of two" -- \
	run --stats-sample 0 "$tmp/exit42.elf"
expect stats-sample-word 2 "--stats-sample 'all': use a power of two" -- \
	run --stats-sample all "$tmp/exit42.elf"
# --vcpu-threads: a host thread per vCPU (soft, host TSC, EPT, no --watch).
expect vcpu-threads 85 '' -- run --vcpu-threads on --cpus 2 "$tmp/exit42.elf"
expect vcpu-threads-off 85 '' -- run --vcpu-threads off --cpus 2 "$tmp/exit42.elf"
# Not given: threads with more than one vCPU, one thread where threads cannot run.
expect vcpu-threads-default-shadow 85 '' -- run --cpus 2 --vmx ept=off "$tmp/exit42.elf"
expect vcpu-threads-default-virtual 85 '' -- run --cpus 2 --tsc virtual "$tmp/exit42.elf"
expect vcpu-threads-bad 2 "--vcpu-threads 'yes': use on or off" -- run --vcpu-threads yes \
	"$tmp/exit42.elf"
expect vcpu-threads-tsc-virtual 2 "--vcpu-threads on needs --tsc host" -- \
	run --vcpu-threads on --tsc virtual "$tmp/exit42.elf"
expect vcpu-threads-shadow 2 "--vcpu-threads on needs EPT" -- \
	run --vcpu-threads on --vmx ept=off "$tmp/exit42.elf"
expect vcpu-threads-watch 2 "--vcpu-threads on and --watch" -- \
	run --vcpu-threads on --watch 0x100000-0x100fff "$tmp/exit42.elf"
expect halt-poll-negative 2 "--halt-poll '-1': use nanoseconds from 0" -- run --halt-poll -1 \
	"$tmp/exit42.elf"
expect halt-poll-too-long 2 "--halt-poll '2000000000'" -- run --halt-poll 2000000000 "$tmp/exit42.elf"
expect halt-poll-suffix 2 "--halt-poll '200us'" -- run --halt-poll 200us "$tmp/exit42.elf"
# The machine (docs/security.md): micro by default, pc with the legacy devices, one device added
# or removed; the inventory on stdout; an absent device's port reads all ones and is counted.
# in $0x21, %al (the 8259A's IMR); mov $0x2a, %al; out %al, $0xf4.
aout "$tmp/pic-read.elf" 0 0 0 0 '\xe4\x21\xb0\x2a\xe6\xf4'
expect machine-pc 85 '' -- run --machine pc "$tmp/exit42.elf"
expect machine-short 85 '' -- run -M micro "$tmp/exit42.elf"
expect machine-unknown 2 "--machine 'q35': use micro or pc" -- run --machine q35 "$tmp/exit42.elf"
expect device-unknown-board 2 "--device 'floppy': no such device; give one of pic pit" -- \
	run --device floppy "$tmp/exit42.elf"
expect no-device-unknown 2 "--no-device 'virtio-rng': no such device" -- \
	run --no-device virtio-rng "$tmp/exit42.elf"
expect no-device-fixed 2 '--no-device uart: every machine has the uart' -- \
	run --no-device uart "$tmp/exit42.elf"
expect device-and-no-device 2 '--device pit and --no-device pit: give one of them' -- \
	run --device pit --no-device pit "$tmp/exit42.elf"
expect devices-micro 0 '^machine micro, 1 vCPU, 8 devices' -- run --devices "$tmp/exit42.elf"
expect devices-pc 0 '^i8042 +0x60, 0x64 ' -- run -M pc --devices "$tmp/exit42.elf"
expect devices-added 0 '^pit +0x40-0x43, 0x61 .* IRQ 0' -- run --device pit --devices
expect stats-machine 85 '^Machine micro, devices: uart ioapic lapic acpi-pm reset fw_cfg' -- \
	run --stats "$tmp/exit42.elf"
expect absent-port-counted 85 'Unclaimed port reads: 1, writes: 0' -- \
	run --stats "$tmp/pic-read.elf"
# mov 0xfed00000, %eax (the HPET's page, absent on micro); mov $0x2a, %al; out %al, $0xf4.
aout "$tmp/hpet-read.elf" 0 0 0 0 '\xa1\x00\x00\xd0\xfe\xb0\x2a\xe6\xf4'
expect absent-mmio-counted 85 'Unclaimed MMIO reads: 1, writes: 0' -- \
	run --stats "$tmp/hpet-read.elf"
expect present-mmio-not-counted 85 'Unclaimed MMIO reads: 0, writes: 0' -- \
	run --stats --device hpet "$tmp/hpet-read.elf"
expect present-port-not-counted 85 'Unclaimed port reads: 0, writes: 0' -- \
	run --stats --device pic "$tmp/pic-read.elf"
# The write monitor (--watch, src/vmm/watch.c) on guests/tests/watch.c, which writes the first
# page of its own text (0x100000) as often as asked. --tsc virtual makes guest time, and so the
# monitor's drains, depend on instructions only: the same reports every run.
watch_guest="${GUEST_DIR:-${BUILD_ROOT:-build}/guests}/watch.elf"
watch_lines() { # method append: the monitor's report lines on stderr, the guest's status checked
	local err status
	err=$("$bin" run --tsc virtual --watch kernel --watch-method "$1" --append "$2" \
		"$watch_guest" 2>&1 >/dev/null </dev/null)
	status=$?
	[ $status -eq 1 ] || { echo "status $status: $err"; return; }
	grep -E '^tollbooth: watch: ' <<<"$err"
}
watch_expect() { # name want-count pattern method append
	local out n
	out=$(watch_lines "$4" "$5")
	n=$(grep -cE -- "$3" <<<"$out")
	if [ "$(grep -c '' <<<"$out")" -eq "$2" ] && [ "$n" -eq "$2" ] ||
		{ [ "$2" -eq 0 ] && [ -z "$out" ]; }; then
		echo "ok cli $1"
		passed=$((passed + 1))
	else
		echo "FAIL cli $1: want $2 lines /$3/, got: ${out:-nothing}"
		failed=$((failed + 1))
	fi
}
guest_write='^tollbooth: watch: the guest wrote page 0x100000 of watched range 0x100000-0x[0-9a-f]+fff at [0-9]+\.[0-9]{3} ms, RIP 0x10[0-9a-f]+$'
watch_expect watch-untouched 0 x pml ""
watch_expect watch-untouched-wp 0 x wp ""
watch_expect watch-patch 1 "$guest_write" pml "writes=1"
watch_expect watch-patch-wp 1 "$guest_write" wp "writes=1"
watch_expect watch-patch-three-wp 3 "$guest_write" wp "writes=3"
watch_expect watch-patch-apart 3 "$guest_write" pml "writes=3 gap_ms=100"
if out=$(watch_lines pml "dma=1") &&
	grep -qE '^tollbooth: watch: a device or the VMM wrote page 0x100000 ' <<<"$out"; then
	echo "ok cli watch-dma"
	passed=$((passed + 1))
else
	echo "FAIL cli watch-dma: no report of fw_cfg's DMA: ${out:-nothing}"
	failed=$((failed + 1))
fi
expect watch-no-page 2 "--watch '0x1000-0x1800': 0x1000-0x1800 holds no whole 4 KiB page" -- \
	run --watch 0x1000-0x1800 "$tmp/exit42.elf"
expect watch-bad-range 2 "--watch '0x1000': give START-END, START\\+SIZE" -- \
	run --watch 0x1000 "$tmp/exit42.elf"
expect watch-past-ram 2 '--watch 0x40000000-0x40000fff is not all RAM \(128M at 0\)' -- \
	run --watch 0x40000000+0x1000 "$tmp/exit42.elf"
expect watch-method-bad 2 "--watch-method 'trap': use pml or wp" -- \
	run --watch-method trap "$tmp/exit42.elf"
expect watch-needs-ept 2 "--watch needs EPT .*: drop --vmx ept=off" -- \
	run --vmx ept=off --watch 0x100000+4096 "$tmp/exit42.elf"
expect shadow-too-much-ram 2 "--vmx ept=off takes at most 4072M of RAM" -- \
	run --vmx ept=off --mem 5G "$tmp/exit42.elf"

if out=$("$bin" run -M pc --no-device hpet --no-device pci --devices 2>&1) &&
	grep -q '^pic ' <<<"$out" && ! grep -qE '^(hpet|pci) ' <<<"$out"; then
	echo "ok cli devices-removed"
	passed=$((passed + 1))
else
	echo "FAIL cli devices-removed: -M pc --no-device hpet --no-device pci lists: $out"
	failed=$((failed + 1))
fi
# --halt-poll decides how the waits of a guest that halts for a 50 us timer go (counted by
# --stats): never polled with 0; polled with the default (each timer is due within 200 us).
halt_poll() { # name, expected /regex/ on stderr, options...
	local name=$1 want=$2 err
	shift 2
	err=$(timeout "$limit" "$bin" run --stats "$@" --append 'n=20 us=50' \
		"${GUEST_DIR:-${BUILD_ROOT:-build}/guests}/bench-haltwake.elf" 2>&1 >/dev/null)
	if grep -qE -- "$want" <<<"$err"; then
		echo "ok cli $name"
		passed=$((passed + 1))
	else
		echo "FAIL cli $name: stderr lacks /$want/: $(grep -m1 Halts <<<"$err")"
		failed=$((failed + 1))
	fi
}
halt_poll halt-poll-never 'Halts .*: [0-9]+ waits slept in ppoll, 0 polled \(halt-poll 0 ns\)' \
	--halt-poll 0
halt_poll halt-poll-default 'Halts .*, [1-9][0-9]* polled \(halt-poll 200000 ns\)'
# The block compiler's view in --stats (issue 15): where the instructions ran, how blocks
# ended, the handler calls by form; nothing of it with the compiler off.
compiler_view() { # name, 1 if the view is expected, options...
	local name=$1 want=$2 err
	shift 2
	err=$(timeout "$limit" "$bin" run --stats "$@" \
		"${GUEST_DIR:-${BUILD_ROOT:-build}/guests}/alu.elf" 2>&1 >/dev/null)
	if [ "$want" = 1 ] && grep -qE '^Compiler: [0-9.]+% of [1-9][0-9]* instructions ran compiled \([0-9.]+% inline, [0-9.]+% through [0-9]+ handler calls\), [0-9.]+% interpreted; compiled blocks ended [0-9.]+% chained' <<<"$err" &&
		grep -qE '^Handler calls from compiled code, most first: [a-z]' <<<"$err"; then
		echo "ok cli $name"
		passed=$((passed + 1))
	elif [ "$want" = 0 ] && ! grep -q '^Compiler:' <<<"$err" && grep -q '^Page walks' <<<"$err"; then
		echo "ok cli $name"
		passed=$((passed + 1))
	else
		echo "FAIL cli $name: $(grep -m1 -E '^Compiler|^Page walks' <<<"$err")"
		failed=$((failed + 1))
	fi
}
compiler_view stats-compiler 1
compiler_view stats-compiler-eager 1 --jit eager
compiler_view stats-compiler-off 0 --jit off
# Shares that add up: every bench-vmexit iteration leaves compiled code through an exiting
# handler, whose unretired rest of the block must come off the compiled count too.
err=$(timeout "$limit" "$bin" run --stats \
	"${GUEST_DIR:-${BUILD_ROOT:-build}/guests}/bench-vmexit.elf" 2>&1 >/dev/null)
shares=$(sed -nE 's/^Compiler: ([0-9.]+)% of [0-9]+ instructions ran compiled .*, ([0-9.]+)% interpreted;.*/\1 \2/p' <<<"$err")
if [ -n "$shares" ] && awk '{ exit !($1 <= 100 && $2 <= 100 && $1 + $2 > 99.8 && $1 + $2 < 100.2) }' <<<"$shares"; then
	echo "ok cli stats-compiler-exits"
	passed=$((passed + 1))
else
	echo "FAIL cli stats-compiler-exits: compiled and interpreted shares '$shares'"
	failed=$((failed + 1))
fi
# TOLLBOOTH_PERF_MAP: perf's symbol map of the compiled blocks, %p = the PID (a path in $tmp).
TOLLBOOTH_PERF_MAP="$tmp/perf-%p.map" timeout "$limit" "$bin" run \
	"${GUEST_DIR:-${BUILD_ROOT:-build}/guests}/alu.elf" >/dev/null 2>&1
maps=("$tmp"/perf-*.map)
if [ -f "${maps[0]}" ] && grep -qE '^[0-9a-f]+ [0-9a-f]+ guest_[0-9a-f]+_64$' "${maps[0]}" &&
	! grep -qvE '^[0-9a-f]+ [0-9a-f]+ guest_[0-9a-f]+_[0-9]+$' "${maps[0]}"; then
	echo "ok cli perf-map"
	passed=$((passed + 1))
else
	echo "FAIL cli perf-map: ${maps[0]}: $(head -c 200 "${maps[0]}" 2>&1)"
	failed=$((failed + 1))
fi
# --vmx help: every switch with its default and why, on stdout.
expect vmx-help 0 '^  msr-bitmap +on +the CPU' -- run --vmx help
expect vmx-help-all 0 "^  unrestricted-guest +on " -- run --vmx help
expect vmx-not-a-switch 2 "--vmx 'ept': use NAME=on or NAME=off" -- run --vmx ept "$tmp/exit42.elf"
# A long --vmx list is read to its end (the last item is past 255 characters).
expect vmx-long-list 2 "unknown control 'bogus'" -- \
	run --vmx "$(printf 'rdtsc-exiting=off,%.0s' {1..16})bogus=on" "$tmp/exit42.elf"
expect append-too-long 2 '--append' -- run --append "$(head -c 5000 /dev/zero | tr '\0' x)" \
	"$tmp/exit42.elf"
expect debug-exit-status 85 '' -- run --mem 4M --accel soft --append 'a b' "$tmp/exit42.elf"
# Options may follow IMAGE, as QEMU's do; a trailing option without its value is named.
expect option-after-image 85 '' -- run "$tmp/exit42.elf" --mem 4M
expect option-missing-value 2 '--append needs a value' -- run "$tmp/exit42.elf" --append

# Telemetry options (docs/telemetry.md): bad values, unwritable files, and valid JSON output.
expect stats-json-missing-value 2 '--stats-json needs a value' -- run "$tmp/exit42.elf" --stats-json
expect trace-missing-value 2 '--trace needs a value' -- run "$tmp/exit42.elf" --trace
expect stats-json-empty-name 2 '--stats-json needs a file name' -- run --stats-json '' \
	"$tmp/exit42.elf"
expect trace-unwritable 2 "--trace '$tmp/no/such/dir/t.json': cannot write: No such file" -- \
	run --trace "$tmp/no/such/dir/t.json" "$tmp/exit42.elf"
expect stats-json-directory 2 "--stats-json '$tmp': cannot write: Is a directory" -- \
	run --stats-json "$tmp" "$tmp/exit42.elf"
# A write that fails at the end names the error (ENOSPC on /dev/full); the guest's status stays.
expect stats-json-disk-full 85 "--stats-json '/dev/full': write failed: No space left on device" \
	-- run --stats-json /dev/full "$tmp/exit42.elf"
expect trace-disk-full 1 "--trace '/dev/full': write failed: No space left on device" \
	-- run --trace /dev/full
expect trace-limit-bad 2 "--trace-limit '1x'" -- run --trace "$tmp/t.json" --trace-limit 1x \
	"$tmp/exit42.elf"
expect trace-limit-too-small 2 "--trace-limit '1K': use a size from 4K to 1T" -- \
	run --trace "$tmp/t.json" --trace-limit 1K "$tmp/exit42.elf"
expect trace-limit-without-trace 2 '--trace-limit needs --trace FILE' -- run --trace-limit 1M \
	"$tmp/exit42.elf"
# A guest that exits 20000 times with a 64K trace: tracing stops with one note on stderr.
expect trace-limit 85 "--trace '$tmp/limited.json': stopped at --trace-limit 64K after [0-9]+ exits; the statistics count all 20001" \
	-- run --trace "$tmp/limited.json" --trace-limit 64K --stats-json "$tmp/limited-stats.json" \
	"$tmp/cpuid20k.elf"
expect tsc-unknown 2 "--tsc 'guest': use host, virtual or virtual:CPI" -- run --tsc guest \
	"$tmp/exit42.elf"
# --sandbox: on (default) and off both run the guest to its exit; anything else is a usage error.
expect sandbox-bogus 2 "--sandbox 'bogus': use on or off" -- run --sandbox bogus "$tmp/exit42.elf"
expect sandbox-on 85 'VM-EXIT' -- run --sandbox on --stats "$tmp/exit42.elf"
expect sandbox-off 85 'VM-EXIT' -- run --sandbox off --stats "$tmp/exit42.elf"
expect tsc-cpi-zero 2 "--tsc 'virtual:0'" -- run --tsc virtual:0 "$tmp/exit42.elf"
expect tsc-cpi-not-a-number 2 "--tsc 'virtual:x'" -- run --tsc virtual:x "$tmp/exit42.elf"
expect tsc-cpi-empty 2 "--tsc 'virtual:'" -- run --tsc virtual: "$tmp/exit42.elf"
expect tsc-cpi-too-large 2 "--tsc 'virtual:99999999999999999999'" -- \
	run --tsc virtual:99999999999999999999 "$tmp/exit42.elf"
expect tsc-virtualx 2 "--tsc 'virtualx'" -- run --tsc virtualx "$tmp/exit42.elf"
expect tsc-missing-value 2 '--tsc needs a value' -- run "$tmp/exit42.elf" --tsc
expect tsc-host 85 '' -- run --tsc host "$tmp/exit42.elf"
expect stats-files 85 '' -- run --stats --stats-json "$tmp/stats.json" --trace \
	"$tmp/trace.json" --tsc virtual:2 "$tmp/exit42.elf"
expect trace-on-stop 4 'halted with interrupts disabled' -- run --trace "$tmp/stop.json" \
	--stats-json "$tmp/stop-stats.json" "$tmp/hlt.elf"
# A guest polling an MMIO address where no device is (all ones) forever is stopped and named.
expect mmio-hole-spin 4 'guest spins on a read of guest-physical 0xfe000000 at RIP 0x100020, where no device is' \
	-- run "$tmp/mmio-hole-spin.elf"

# The guest's own mistake is one line for the user; --debug-dump adds the dump, without a host
# address (a pointer into tollbooth: 0x55..., 0x56... or 0x7f...).
expect paging-past-ram 4 'guest paging structures outside RAM: .*linear address 0x100033 .*guest-physical 0xfe000000' \
	-- run "$tmp/cr3-past-ram.elf"
"$bin" run --debug-dump "$tmp/cr3-past-ram.elf" >/dev/null 2>"$tmp/dump" </dev/null
if [ "$(grep -c '' "$tmp/dump")" -lt 50 ] || ! grep -q '^HOST_RIP' "$tmp/dump" ||
	! grep -q 'paging structures outside RAM' "$tmp/dump"; then
	echo "FAIL cli debug-dump: no dump with the VMCS: $(tail -n 1 "$tmp/dump")"
	failed=$((failed + 1))
elif grep -Eq '0x0*(55|56|7f)[0-9a-f]{10}\b' "$tmp/dump"; then
	echo "FAIL cli debug-dump: a host address: $(grep -Em 1 '0x0*(55|56|7f)[0-9a-f]{10}\b' "$tmp/dump")"
	failed=$((failed + 1))
else
	echo "ok cli debug-dump"
	passed=$((passed + 1))
fi

# Every --vmx switch flipped either way: the demo passes (status 1), or tollbooth refuses with
# one line that names the switch (docs/vmm.md: unrestricted-guest=off).
switches=$("$bin" run --vmx help | sed -nE 's/^  ([a-z0-9-]+) +(on|off) .*/\1/p')
[ "$(wc -w <<<"$switches")" -ge 20 ] || { echo "FAIL cli vmx-demo: --vmx help lists no switches"; failed=$((failed + 1)); }
for sw in $switches; do
	for v in on off; do
		timeout "$limit" "$bin" run --vmx "$sw=$v" >/dev/null 2>"$tmp/err" </dev/null
		status=$?
		if [ $status -eq 1 ] && [ ! -s "$tmp/err" ]; then
			echo "ok cli vmx-demo $sw=$v"
		elif [ $status -ne 1 ] && [ $status -ne 124 ] && [ "$(grep -c '' "$tmp/err")" -eq 1 ] &&
			grep -q -- "$sw=$v" "$tmp/err" && ! grep -qE 'Sanitizer|runtime error' "$tmp/err"; then
			echo "ok cli vmx-demo $sw=$v: refused ($(cut -c 1-60 "$tmp/err")...)"
		else
			echo "FAIL cli vmx-demo $sw=$v: exit status $status: $(head -c 300 "$tmp/err")"
			failed=$((failed + 1))
			continue
		fi
		passed=$((passed + 1))
	done
done

# stats_files NAME STATS TRACE: both parse as JSON, one trace event per counted exit.
stats_files() {
	local msg
	if msg=$(python3 -c '
import json, sys
stats = json.load(open(sys.argv[1]))
events = json.load(open(sys.argv[2]))["traceEvents"]
total = stats["total"]["samples"]
assert total >= 1, "no exits counted"
assert len(events) == total, "%d events, %d exits" % (len(events), total)
assert all(e["ph"] == "X" and "ts" in e and "dur" in e for e in events), "not complete events"
assert sum(e["samples"] for e in stats["exits"]) == total, "exit rows do not add up"
' "$2" "$3" 2>&1); then
		echo "ok cli $1"
		passed=$((passed + 1))
	else
		echo "FAIL cli $1: ${msg##*$'\n'}"
		failed=$((failed + 1))
	fi
}
stats_files stats-json-and-trace-valid "$tmp/stats.json" "$tmp/trace.json"
stats_files trace-closed-on-stop "$tmp/stop-stats.json" "$tmp/stop.json"

# The limited trace: valid JSON within 64K, the exits it has, then the one note.
if msg=$(python3 -c '
import json, os, sys
size = os.path.getsize(sys.argv[1])
assert size <= 65536, "%d bytes, more than the limit" % size
events = json.load(open(sys.argv[1]))["traceEvents"]
assert 50 < len(events) < 20001, "%d events" % len(events)
assert all(e["ph"] == "X" for e in events[:-1]), "not exits before the note"
assert events[-1]["name"] == "trace limit reached" and events[-1]["args"]["limit_bytes"] == 65536
total = json.load(open(sys.argv[2]))["total"]["samples"]
assert total == 20001, "%d exits counted" % total
' "$tmp/limited.json" "$tmp/limited-stats.json" 2>&1); then
	echo "ok cli trace-limit-file"
	passed=$((passed + 1))
else
	echo "FAIL cli trace-limit-file: ${msg##*$'\n'}"
	failed=$((failed + 1))
fi

# Tests that talk to a running tollbooth (stdout without a reader, signals): one line each.
while read -r line; do
	echo "$line"
	case $line in
	ok\ *) passed=$((passed + 1)) ;;
	*) failed=$((failed + 1)) ;;
	esac
done < <(python3 "$(dirname "$0")/signals.py" "$bin" "$tmp" 2>&1)

echo "cli: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
