# SPDX-License-Identifier: MIT
# libFuzzer targets (tests/fuzz/README.md), included by the Makefile after LIB_SRCS and $(O).
#   make fuzz [FUZZ_TIME=s] [FUZZ_TARGETS="uart mmio"]   build, run each target s seconds (30)
#   make fuzz-build                                      build the libFuzzer binaries only
#   make fuzz-repro TARGET=t INPUT=file                  run target t once on one input
#   make fuzz-replay-build                               the replay binaries of $(O) (make check)
# The libFuzzer binaries are clang's (-fsanitize=fuzzer,address,undefined), with their own
# objects in $(BUILD_ROOT)/fuzz/obj; the replay binaries link the same targets with replay.c and
# the library of the selected mode (gcc; `make check` builds them with MODE=san).

FUZZ_CC ?= clang-14
FZ := $(BUILD_ROOT)/fuzz
FUZZ_TIME ?= 30
FUZZ_ALL := $(patsubst tests/fuzz/fuzz_%.c,%,$(sort $(wildcard tests/fuzz/fuzz_*.c)))
FUZZ_TARGETS ?= $(FUZZ_ALL)
FUZZ_SAN := -fsanitize=address,undefined -fno-sanitize-recover=undefined
FUZZ_CFLAGS := -std=gnu11 -O1 -g -fno-omit-frame-pointer -Wall -Wextra -Wno-unused-parameter \
	-Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wno-gnu-variable-sized-type-not-at-end \
	-Isrc -I$(BUILD_ROOT)/gen $(FUZZ_SAN) -fsanitize=fuzzer-no-link
FUZZ_LIB_OBJS := $(LIB_SRCS:%.c=$(FZ)/obj/%.o)
FUZZ_HDRS := $(wildcard tests/fuzz/*.h)

.PHONY: fuzz fuzz-build fuzz-repro fuzz-replay-build

$(FZ)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -MMD -MP -c -o $@ $<

$(FZ)/libtollbooth.a: $(FUZZ_LIB_OBJS)
	rm -f $@ && ar rcs $@ $^

$(FZ)/fuzz_%: $(FZ)/obj/tests/fuzz/fuzz_%.o $(FZ)/obj/tests/fuzz/device.o $(FZ)/libtollbooth.a
	$(FUZZ_CC) -fsanitize=fuzzer $(FUZZ_SAN) -o $@ $^ -lZydis -lm

# Kept for incremental builds (they are intermediate files of the fuzz_% rule).
.SECONDARY: $(FUZZ_ALL:%=$(FZ)/obj/tests/fuzz/fuzz_%.o)
-include $(FUZZ_LIB_OBJS:.o=.d) $(FUZZ_ALL:%=$(FZ)/obj/tests/fuzz/fuzz_%.d)

fuzz-build: $(FUZZ_TARGETS:%=$(FZ)/fuzz_%)

fuzz:
	@bad="$(filter-out $(FUZZ_ALL),$(FUZZ_TARGETS))"; if [ -n "$$bad" ]; then \
		echo "make fuzz: no fuzz target named:$$bad (the targets: $(FUZZ_ALL))" >&2; \
		exit 2; fi
	./scripts/deps.sh fuzz
	$(MAKE) fuzz-build FUZZ_TARGETS="$(FUZZ_TARGETS)"
	FUZZ_DIR=$(FZ) FUZZ_TIME=$(FUZZ_TIME) tests/fuzz/run.sh $(FUZZ_TARGETS)

fuzz-repro:
	@if [ -z "$(filter $(FUZZ_ALL),$(TARGET))" ] || [ ! -f "$(INPUT)" ]; then \
		echo "usage: make fuzz-repro TARGET=<$(FUZZ_ALL)> INPUT=<file>" >&2; exit 2; fi
	$(MAKE) $(FZ)/fuzz_$(TARGET)
	$(FZ)/fuzz_$(TARGET) $(INPUT)

FUZZ_REPLAY_BINS := $(FUZZ_ALL:%=$(O)/tests/fuzz/replay_%)
fuzz-replay-build: $(FUZZ_REPLAY_BINS)

$(O)/tests/fuzz/replay_%: tests/fuzz/fuzz_%.c tests/fuzz/replay.c tests/fuzz/device.c $(FUZZ_HDRS) \
		$(O)/libtollbooth.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(NO_LTO) -o $@ $(filter %.c,$^) $(O)/libtollbooth.a $(LDFLAGS) $(LDLIBS)
