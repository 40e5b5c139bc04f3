# SPDX-License-Identifier: MIT
# tollbooth: one Makefile. Build modes: `make` (release, -O2), `make MODE=debug`, `make MODE=san`
# (ASan+UBSan), `make MODE=tsan` (ThreadSanitizer). Outputs go out of tree: build/ for release, build/debug/ and build/san/ otherwise.

MODE ?= release
CC ?= cc
ifeq ($(CC),cc)
CC := gcc
endif

# BUILD_ROOT moves every output (a second worktree or a parallel build uses its own).
BUILD_ROOT ?= build
ifeq ($(MODE),release)
O := $(BUILD_ROOT)
# The tollbooth binary is linked with link-time optimization: an exit crosses cpu/, vmx/, soft/,
# vmm/ and stats/, whose small accessors no compiler can inline across files otherwise (a CPUID
# exit: 1124 -> 1023 host instructions, docs/performance.md). The objects are fat, so the unit
# tests and the other programs linked with the library link them without LTO (NO_LTO).
MODE_CFLAGS := -O2 -g -flto=auto -ffat-lto-objects
BIN_LDFLAGS := -O2 -g -flto=auto
NO_LTO := -fno-lto
else ifeq ($(MODE),debug)
O := $(BUILD_ROOT)/debug
MODE_CFLAGS := -O0 -g3
else ifeq ($(MODE),san)
O := $(BUILD_ROOT)/san
MODE_CFLAGS := -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
MODE_LDFLAGS := -fsanitize=address,undefined
else ifeq ($(MODE),tsan)
# ThreadSanitizer, for --vcpu-threads (docs/architecture.md): not part of make check.
O := $(BUILD_ROOT)/tsan
MODE_CFLAGS := -O1 -g -fsanitize=thread -fno-omit-frame-pointer
MODE_LDFLAGS := -fsanitize=thread
else
$(error MODE must be release, debug, san or tsan (got '$(MODE)'))
endif

# Generated headers shared by every mode (device_loc.h below).
GEN := $(BUILD_ROOT)/gen
CFLAGS := -std=gnu11 -Wall -Wextra -Wno-unused-parameter -Wshadow -Wstrict-prototypes \
	-Wmissing-prototypes -Isrc -I$(GEN) $(MODE_CFLAGS) $(EXTRA_CFLAGS)
LDFLAGS := $(MODE_LDFLAGS) $(EXTRA_LDFLAGS)
# Zydis disassembles the instruction at each exit's RIP in --trace files (src/stats/trace.c);
# libseccomp builds the sandbox's filter (src/vmm/sandbox.c).
LDLIBS := -lZydis -lm -lseccomp -lpthread

SRCS := $(sort $(wildcard src/*/*.c)) src/main.c
LIB_SRCS := $(filter-out src/main.c,$(SRCS))
OBJS := $(SRCS:%.c=$(O)/%.o)
LIB_OBJS := $(LIB_SRCS:%.c=$(O)/%.o)

.PHONY: all clean unit unit-build run check linux
all: $(O)/tollbooth

# Guest programs (build/guests/, whatever the mode) and, when present, the benchmarks.
include guests/guests.mk
-include bench/bench.mk

# Unit tests: tests/unit/test_<module>.c, each a program linked with the library (check.h).
UNIT_SRCS := $(sort $(wildcard tests/unit/test_*.c))
UNIT_BINS := $(UNIT_SRCS:%.c=$(O)/%)
$(O)/tests/unit/test_decode_zydis: LDLIBS += -lZydis

$(O)/tests/unit/%: tests/unit/%.c $(O)/libtollbooth.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(NO_LTO) -Itests/unit -o $@ $< $(O)/libtollbooth.a $(LDFLAGS) $(LDLIBS)

# The harness and helper headers beside the tests (check.h, virtio_driver.h) are prerequisites too.
$(UNIT_BINS): $(wildcard tests/unit/*.h)

unit-build: $(UNIT_BINS)

unit: $(UNIT_BINS)
	@fail=0; for t in $(UNIT_BINS); do $$t || fail=1; done; exit $$fail

# Fuzz targets: `make fuzz` (libFuzzer, clang) and their replay binaries (tests/fuzz/README.md).
include tests/fuzz/fuzz.mk

# The device inventory's code lines (src/vmm/inventory.c, tollbooth run --devices): per device
# source file, the lines left that are not blank once the comments are gone.
DEVICE_SRCS := $(sort $(wildcard src/devices/*.c src/virtio/*.c))
$(GEN)/device_loc.h: $(DEVICE_SRCS)
	@mkdir -p $(dir $@)
	for f in $(DEVICE_SRCS); do \
		n=$$(gcc -fpreprocessed -dD -E -P $$f | grep -c '[^[:space:]]') || exit 1; \
		echo "{ \"$${f#src/}\", $$n },"; \
	done >$@.tmp && mv $@.tmp $@
$(O)/src/vmm/inventory.o $(FZ)/obj/src/vmm/inventory.o: $(GEN)/device_loc.h

# The built-in guest `tollbooth run` boots without IMAGE, linked in with .incbin.
DEMO_GUEST := $(G)/demo.elf
$(O)/src/loader/demo_guest.o: src/loader/demo_guest.S $(DEMO_GUEST)
	@mkdir -p $(dir $@)
	$(CC) -DDEMO_GUEST='"$(DEMO_GUEST)"' -c -o $@ $<

$(O)/tollbooth: $(OBJS) $(O)/src/loader/demo_guest.o
	$(CC) $(LDFLAGS) $(BIN_LDFLAGS) -o $@ $^ $(LDLIBS)

# `make run`: install what is missing (or say how), build, boot the built-in guest.
# Debian's own kernel with a busybox-static initramfs (scripts/mkinitramfs.sh) on the software
# CPU, a shell on the serial console; `exit` (or poweroff -f) ends it. LINUX_ARGS adds options,
# e.g. LINUX_ARGS="--drive file=disk.img --device virtio-rng".
LINUX_ARGS ?=
linux:
	./scripts/deps.sh linux
	$(MAKE) MODE=release all
	@mkdir -p $(BUILD_ROOT)/linux
	./scripts/mkinitramfs.sh $(BUILD_ROOT)/linux
	$(BUILD_ROOT)/tollbooth run --mem 512M --kernel $(BUILD_ROOT)/linux/vmlinuz \
		--initrd $(BUILD_ROOT)/linux/initramfs.cpio.gz --append "console=ttyS0 quiet" \
		--device virtio-rng $(LINUX_ARGS)

run:
	./scripts/deps.sh run
	$(MAKE) MODE=release all
	@build/tollbooth run --stats; s=$$?; echo "make run: exit status $$s" \
		"(a guest writing V to port 0xf4 gives (V << 1) | 1, as QEMU's isa-debug-exit: 1 = success)"

# `make check`: release and sanitizer builds; unit tests (san and release), the guest suite (release),
# the command-line tests (san), the differential tester against this CPU (san); one line per
# test and a closing `N passed, M failed`.
check:
	./scripts/deps.sh check
	$(MAKE) MODE=release all guests unit-build
	$(MAKE) MODE=san all unit-build fuzz-replay-build hostdiff
	BUILD_ROOT=$(BUILD_ROOT) tests/check.sh

# Threaded vCPUs under ThreadSanitizer (tests/tsan/run.sh): not part of `check`, whose result must
# not depend on a race's timing; run it after changing anything two threads touch.
.PHONY: tsan-check
tsan-check:
	$(MAKE) MODE=release guests
	$(MAKE) MODE=tsan all
	GUEST_DIR=$(BUILD_ROOT)/guests tests/tsan/run.sh $(BUILD_ROOT)/tsan/tollbooth $(TSAN_ROUNDS)

$(O)/libtollbooth.a: $(LIB_OBJS)
	rm -f $@ && ar rcs $@ $^

$(O)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP -c -o $@ $<

-include $(OBJS:.o=.d)

# The differential tester's host oracle (docs/difftest.md): the generator of guests/diff compiled
# for this process, the native trampoline, and the soft CPU from the library.
HOSTDIFF := $(O)/tests/diff/hostdiff
$(HOSTDIFF): tests/diff/hostdiff.c tests/diff/native.S guests/diff/gen.c guests/diff/gen.h \
		$(O)/libtollbooth.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(NO_LTO) -Iguests/diff -o $@ tests/diff/hostdiff.c tests/diff/native.S \
		guests/diff/gen.c $(O)/libtollbooth.a $(LDFLAGS) $(LDLIBS)
.PHONY: hostdiff
hostdiff: $(HOSTDIFF)

# `make fuzz-diff SEED=s N=n [ORACLE=...]`: the differential tester (docs/difftest.md), n
# instructions per seed from seed s, FUZZ_SEEDS seeds in a row (default 1), against each oracle
# in ORACLE: host (this CPU, tests/diff/hostdiff), kvm (skipped with its reason where KVM is not
# usable), qemu-kvm, qemu-tcg. Default: host, and kvm too where `tollbooth kvm-ok` says KVM is
# usable.
SEED ?= 1
N ?= 1000000
ORACLE ?=
FUZZ_SEEDS ?= 1
.PHONY: fuzz-diff
fuzz-diff: $(HOSTDIFF) $(O)/tollbooth $(G)/difftest.elf
	@oracles="$(ORACLE)"; if [ -z "$$oracles" ]; then \
		if $(O)/tollbooth kvm-ok 2>/dev/null; then oracles="host kvm"; \
		else oracles=host; echo "fuzz-diff: ORACLE=host (KVM not usable:" \
			"$$($(O)/tollbooth kvm-ok 2>&1 | sed 's/^tollbooth: //'))"; fi; \
	fi; \
	for o in $$oracles; do case $$o in host | kvm | qemu-kvm | qemu-tcg) ;; \
		*) echo "fuzz-diff: unknown ORACLE '$$o': use host, kvm, qemu-kvm or qemu-tcg"; \
			exit 2 ;; esac; done; \
	fail=0; for o in $$oracles; do \
		if [ "$$o" = host ]; then \
			$(HOSTDIFF) --seed $(SEED) --seeds $(FUZZ_SEEDS) --insns $(N) || fail=1; \
		else \
			tests/diff/difftest.py --tollbooth $(O)/tollbooth --guest $(G)/difftest.elf \
				--b $$o --seed $(SEED) --seeds $(FUZZ_SEEDS) --insns $(N) || fail=1; \
		fi; \
	done; exit $$fail

clean:
	rm -rf build
