# SPDX-License-Identifier: MIT
# Guest programs: `make -f guests/guests.mk` from the repo root, or `include guests/guests.mk`
# from the top-level Makefile (targets: guests, guests-clean is deliberately absent).
# Outputs: build/guests/<name>.elf (multiboot, ELF32 as kvm-unit-tests' images are),
# build/guests/aoutkludge.bin (flat binary, multiboot a.out-kludge fields),
# build/guests/bench-<name>.elf, build/guests/demo.elf.
# guests/tests/<name>32.c and guests/bench/<name>32.c are 32-bit protected-mode guests; all others
# run in long mode.
# When included, include it after the Makefile's first rule: the default goal is preserved.

ifneq ($(.DEFAULT_GOAL),)
GUEST_OUTER_GOAL := $(.DEFAULT_GOAL)
endif

BUILD_ROOT ?= build
G := $(BUILD_ROOT)/guests
GUEST_CC ?= gcc
GUEST_HOSTCC ?= gcc
GUEST_OBJCOPY ?= objcopy
GUEST_OBJDUMP ?= objdump

GUEST_CFLAGS = -std=gnu11 -ffreestanding -fno-pic -fno-pie -fno-stack-protector -mno-red-zone \
	-mgeneral-regs-only -nostdlib -fno-asynchronous-unwind-tables -fcf-protection=none \
	-fno-omit-frame-pointer $(GUEST_OPT) -g -Wall -Wextra -Wno-unused-parameter -Iguests/lib -Iguests/gen -I$(G)/gen
GUEST_OPT = -O2
# A few guests are built for size, so both code shapes reach the CPU.
$(G)/tests/hello.o $(G)/tests/cmdline.o $(G)/tests/smc.o $(G)/demo/demo.o: GUEST_OPT = -Os
GUEST_CFLAGS64 = $(GUEST_CFLAGS) -m64 -mcmodel=small
GUEST_CFLAGS32 = $(GUEST_CFLAGS) -m32 -march=i686
GUEST_LDFLAGS := -nostdlib -static -no-pie -Wl,--build-id=none -Wl,-z,noexecstack \
	-Wl,--no-warn-rwx-segments

GUEST_LIB64 := $(G)/lib64/boot64.o $(G)/lib64/trap64.o $(G)/lib64/printf.o $(G)/lib64/test.o
# Guests that start APs (guests/lib/smp.h) link the trampoline too.
GUEST_SMP := $(G)/smp.elf $(G)/bench-spinlock.elf $(G)/bench-parallel.elf
$(GUEST_SMP): $(G)/lib64/smp.o
$(GUEST_SMP): GUEST_LIB64 += $(G)/lib64/smp.o
$(G)/lib64/smp.o $(G)/tests/smp.o $(G)/bench/spinlock.o $(G)/bench/parallel.o: guests/lib/smp.h
$(G)/lib64/smp.o $(G)/tests/smp.o $(G)/bench/spinlock.o $(G)/bench/parallel.o $(G)/tests/apic.o \
	$(G)/bench/haltwake.o: guests/lib/apic.h
GUEST_LIB32 := $(G)/lib32/boot32.o $(G)/lib32/trap32.o $(G)/lib32/printf.o $(G)/lib32/test.o

GUEST_SRCS32 := $(sort $(wildcard guests/tests/*32.c))
GUEST_SRCS64 := $(filter-out $(GUEST_SRCS32),$(sort $(wildcard guests/tests/*.c)))
GUEST_NAMES := $(notdir $(GUEST_SRCS64:.c=) $(GUEST_SRCS32:.c=))
GUEST_BENCH := $(patsubst guests/bench/%.c,$(G)/bench-%.elf,$(wildcard guests/bench/*.c))
GUEST_IMAGES := $(GUEST_NAMES:%=$(G)/%.elf) $(G)/aoutkludge.bin $(G)/demo.elf $(GUEST_BENCH)

.PHONY: guests
guests: $(GUEST_IMAGES)

# Generated tables: host programs execute the instructions on the build machine's CPU.
$(G)/gen/%: guests/gen/%.c guests/gen/alu_ops.h
	@mkdir -p $(dir $@)
	$(GUEST_HOSTCC) -O1 -o $@ $<
$(G)/gen/%.h: $(G)/gen/%
	$< > $@.tmp && mv $@.tmp $@
$(G)/tests/alu.o $(G)/tests/shift.o: $(G)/gen/alu_table.h $(G)/gen/shift_table.h
$(G)/gen/alu_table.h: $(G)/gen/alu_table
$(G)/gen/shift_table.h: $(G)/gen/shift_table

$(G)/lib64/%.o: guests/lib/%.c guests/lib/lib.h guests/lib/asm.h
	@mkdir -p $(dir $@)
	$(GUEST_CC) $(GUEST_CFLAGS64) -c -o $@ $<
$(G)/lib64/%.o: guests/lib/%.S guests/lib/asm.h
	@mkdir -p $(dir $@)
	$(GUEST_CC) $(GUEST_CFLAGS64) -c -o $@ $<
$(G)/lib64/boot64-aout.o: guests/lib/boot64.S guests/lib/asm.h
	@mkdir -p $(dir $@)
	$(GUEST_CC) $(GUEST_CFLAGS64) -DAOUT_KLUDGE -c -o $@ $<
$(G)/lib32/%.o: guests/lib/%.c guests/lib/lib.h guests/lib/asm.h
	@mkdir -p $(dir $@)
	$(GUEST_CC) $(GUEST_CFLAGS32) -c -o $@ $<
$(G)/lib32/%.o: guests/lib/%.S guests/lib/asm.h
	@mkdir -p $(dir $@)
	$(GUEST_CC) $(GUEST_CFLAGS32) -c -o $@ $<

GUEST_OBJS32 := $(GUEST_SRCS32:guests/tests/%.c=$(G)/tests/%.o)
GUEST_OBJS64 := $(GUEST_SRCS64:guests/tests/%.c=$(G)/tests/%.o)
GUEST_ELFS32 := $(GUEST_SRCS32:guests/tests/%.c=$(G)/%.elf)
GUEST_ELFS64 := $(GUEST_SRCS64:guests/tests/%.c=$(G)/%.elf)

$(GUEST_OBJS32): $(G)/tests/%.o: guests/tests/%.c guests/lib/lib.h guests/lib/asm.h
	@mkdir -p $(dir $@)
	$(GUEST_CC) $(GUEST_CFLAGS32) -c -o $@ $<
$(GUEST_OBJS64): $(G)/tests/%.o: guests/tests/%.c guests/lib/lib.h guests/lib/asm.h
	@mkdir -p $(dir $@)
	$(GUEST_CC) $(GUEST_CFLAGS64) -c -o $@ $<
# The VM-exit tests and the demo speak the hypercall ABI (guests/lib/vmexit.h).
$(filter $(G)/tests/vmexit_%.o,$(GUEST_OBJS64) $(GUEST_OBJS32)) $(G)/demo/demo.o: \
	guests/lib/vmexit.h \
	src/vmm/hypercall.h src/arch/exit_reasons.h
GUEST_BENCH32 := $(patsubst guests/bench/%.c,$(G)/bench-%.elf,$(wildcard guests/bench/*32.c))
$(G)/bench/%32.o: guests/bench/%32.c guests/lib/lib.h
	@mkdir -p $(dir $@)
	$(GUEST_CC) $(GUEST_CFLAGS32) -c -o $@ $<
$(G)/bench/%.o: guests/bench/%.c guests/bench/pages.h guests/lib/lib.h
	@mkdir -p $(dir $@)
	$(GUEST_CC) $(GUEST_CFLAGS64) -c -o $@ $<
$(G)/demo/%.o: guests/demo/%.c guests/lib/lib.h
	@mkdir -p $(dir $@)
	$(GUEST_CC) $(GUEST_CFLAGS64) -c -o $@ $<

# Link, refuse any SSE/x87/MMX/AVX instruction (no guest should use floating point by accident),
# convert to ELF32. The guests that test the x87 and MMX themselves (GUEST_FPU_USERS) are only
# refused SSE and AVX; those that test SSE and its state saving, or measure it (bench-sse), are
# refused nothing (GUEST_SIMD_USERS).
GUEST_FPU_RE := %[xyz]mm[0-9]|%mm[0-7]|%st(\([0-7]\))?\b|\sf(ld|st|add|sub|mul|div|init|ninit|nstcw|ldcw|xsave|xrstor|comp?|ucom)|\s(x|f)(save|rstor)|\svzero
GUEST_SIMD_RE := %[xyz]mm[0-9]|\svzero
GUEST_FPU_USERS := fpu
GUEST_SIMD_USERS := xsave bench-sse
define guest_link
	@mkdir -p $(dir $@)
	$(GUEST_CC) $(1) $(GUEST_LDFLAGS) -T $(2) -o $@.full $(3)
	@if [ -z "$(filter $(basename $(notdir $@)),$(GUEST_SIMD_USERS))" ] && \
		$(GUEST_OBJDUMP) -d $@.full | grep -E '$(if $(filter $(basename $(notdir $@)),$(GUEST_FPU_USERS)),$(GUEST_SIMD_RE),$(GUEST_FPU_RE))'; then \
		echo "$@: FPU/SIMD instruction in guest" >&2; rm -f $@.full; exit 1; fi
endef

$(GUEST_ELFS32): $(G)/%.elf: $(G)/tests/%.o $(GUEST_LIB32) guests/lib/link32.ld
	$(call guest_link,-m32,guests/lib/link32.ld,$(GUEST_LIB32) $<)
	mv $@.full $@
$(GUEST_ELFS64): $(G)/%.elf: $(G)/tests/%.o $(GUEST_LIB64) guests/lib/link64.ld
	$(call guest_link,-m64,guests/lib/link64.ld,$(GUEST_LIB64) $<)
	$(GUEST_OBJCOPY) -O elf32-i386 $@.full $@
$(GUEST_BENCH32): $(G)/bench-%.elf: $(G)/bench/%.o $(GUEST_LIB32) guests/lib/link32.ld
	$(call guest_link,-m32,guests/lib/link32.ld,$(GUEST_LIB32) $<)
	mv $@.full $@
$(G)/bench-%.elf: $(G)/bench/%.o $(GUEST_LIB64) guests/lib/link64.ld
	$(call guest_link,-m64,guests/lib/link64.ld,$(GUEST_LIB64) $<)
	$(GUEST_OBJCOPY) -O elf32-i386 $@.full $@
$(G)/demo.elf: $(G)/demo/demo.o $(GUEST_LIB64) guests/lib/link64.ld
	$(call guest_link,-m64,guests/lib/link64.ld,$(GUEST_LIB64) $<)
	$(GUEST_OBJCOPY) -O elf32-i386 $@.full $@
GUEST_LIB64_AOUT := $(filter-out $(G)/lib64/boot64.o,$(GUEST_LIB64)) $(G)/lib64/boot64-aout.o
$(G)/aoutkludge.bin: $(G)/tests/hello.o $(GUEST_LIB64_AOUT) guests/lib/link64.ld
	$(call guest_link,-m64,guests/lib/link64.ld,$(GUEST_LIB64_AOUT) $<)
	$(GUEST_OBJCOPY) -O binary $@.full $@

GUEST_INTERMEDIATE := $(G)/gen/alu_table $(G)/gen/shift_table \
	$(GUEST_OBJS32) $(GUEST_OBJS64) \
	$(patsubst guests/bench/%.c,$(G)/bench/%.o,$(wildcard guests/bench/*.c))
.SECONDARY: $(GUEST_INTERMEDIATE)

# The differential tester's guest (guests/diff/, docs/difftest.md): build/guests/difftest.elf.
GUEST_DIFF_OBJS := $(G)/diff/difftest.o $(G)/diff/gen.o $(G)/diff/enter.o
$(G)/diff/%.o: guests/diff/%.c guests/diff/gen.h guests/lib/lib.h guests/lib/asm.h
	@mkdir -p $(dir $@)
	$(GUEST_CC) $(GUEST_CFLAGS64) -c -o $@ $<
$(G)/diff/%.o: guests/diff/%.S guests/lib/asm.h
	@mkdir -p $(dir $@)
	$(GUEST_CC) $(GUEST_CFLAGS64) -c -o $@ $<
$(G)/difftest.elf: $(GUEST_DIFF_OBJS) $(GUEST_LIB64) guests/lib/link64.ld
	$(call guest_link,-m64,guests/lib/link64.ld,$(GUEST_LIB64) $(GUEST_DIFF_OBJS))
	$(GUEST_OBJCOPY) -O elf32-i386 $@.full $@
guests: $(G)/difftest.elf
.SECONDARY: $(GUEST_DIFF_OBJS)

ifdef GUEST_OUTER_GOAL
.DEFAULT_GOAL := $(GUEST_OUTER_GOAL)
endif
