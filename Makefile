# SPDX-License-Identifier: MIT
# tollbooth: one Makefile. Build modes: `make` (release, -O2), `make MODE=debug`, `make MODE=san`
# (ASan+UBSan). Outputs go out of tree: build/ for release, build/debug/ and build/san/ otherwise.

MODE ?= release
CC ?= cc
ifeq ($(CC),cc)
CC := gcc
endif

ifeq ($(MODE),release)
O := build
MODE_CFLAGS := -O2 -g
else ifeq ($(MODE),debug)
O := build/debug
MODE_CFLAGS := -O0 -g3
else ifeq ($(MODE),san)
O := build/san
MODE_CFLAGS := -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
MODE_LDFLAGS := -fsanitize=address,undefined
else
$(error MODE must be release, debug or san (got '$(MODE)'))
endif

CFLAGS := -std=gnu11 -Wall -Wextra -Wno-unused-parameter -Wshadow -Wstrict-prototypes \
	-Wmissing-prototypes -Isrc $(MODE_CFLAGS) $(EXTRA_CFLAGS)
LDFLAGS := $(MODE_LDFLAGS) $(EXTRA_LDFLAGS)

SRCS := $(sort $(wildcard src/*/*.c)) src/main.c
LIB_SRCS := $(filter-out src/main.c,$(SRCS))
OBJS := $(SRCS:%.c=$(O)/%.o)
LIB_OBJS := $(LIB_SRCS:%.c=$(O)/%.o)

.PHONY: all clean unit
all: $(O)/tollbooth

# Unit tests: tests/unit/test_<module>.c, each a program linked with the library (check.h).
UNIT_SRCS := $(sort $(wildcard tests/unit/test_*.c))
UNIT_BINS := $(UNIT_SRCS:%.c=$(O)/%)
$(O)/tests/unit/test_decode_zydis: LDLIBS += -lZydis

$(O)/tests/unit/%: tests/unit/%.c $(O)/libtollbooth.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Itests/unit -o $@ $< $(O)/libtollbooth.a $(LDFLAGS) $(LDLIBS)

unit: $(UNIT_BINS)
	@fail=0; for t in $(UNIT_BINS); do $$t || fail=1; done; exit $$fail

$(O)/tollbooth: $(OBJS)
	$(CC) $(LDFLAGS) -o $@ $^

$(O)/libtollbooth.a: $(LIB_OBJS)
	rm -f $@ && ar rcs $@ $^

$(O)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP -c -o $@ $<

-include $(OBJS:.o=.d)

clean:
	rm -rf build
