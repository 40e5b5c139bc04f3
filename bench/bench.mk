# SPDX-License-Identifier: MIT
# `make bench` (not part of `make check`): the benchmark guests on tollbooth soft beside QEMU TCG
# (and tollbooth kvm, QEMU KVM, Bochs when available), interleaved, 5 runs after a warm-up.
# Results: build/bench/results.md, results.json, ratios.svg. See docs/performance.md.
# Options go to bench/bench.py: make bench BENCH_ARGS="--runs 9 --systems tollbooth-soft,qemu-tcg"
# Always measures the release build (-O2), whatever MODE says. As root, installs QEMU (deps.sh),
# Bochs and the GRUB tools it boots through with apt-get when they are missing.

# Outputs follow BUILD_ROOT (default build/), as every other target's do.

BENCH_ARGS ?=

.PHONY: bench bench-vmexit bench-linux bench-irq bench-paging
bench:
	./scripts/deps.sh bench
	$(MAKE) --no-print-directory MODE=release all guests
	python3 -B bench/bench.py --install --tollbooth $(BUILD_ROOT)/tollbooth \
		--images $(BUILD_ROOT)/guests --out $(BUILD_ROOT)/bench $(BENCH_ARGS)

# Only the VM-exit cost guest (guests/bench/vmexit.c) on tollbooth soft and kvm (and QEMU TCG when
# installed), 5 interleaved runs: about a minute here. Results in build/bench/vmexit/ so that a
# full `make bench` result in build/bench/ is kept. docs/performance.md, "Exit cost".
bench-vmexit:
	$(MAKE) --no-print-directory MODE=release all guests
	python3 -B bench/bench.py --tollbooth $(BUILD_ROOT)/tollbooth --images $(BUILD_ROOT)/guests \
		--out $(BUILD_ROOT)/bench/vmexit --workloads vmexit \
		--systems tollbooth-soft,tollbooth-kvm,qemu-tcg $(BENCH_ARGS)

# Linux boot (bench/linux_boot.py): Debian's kernel and the test initramfs on tollbooth soft, QEMU
# TCG -M pc and -M microvm, 3 interleaved runs after a warm-up; then the seeds' I/O and clock
# figures (bench/linux_io.py, bench/linux_clock.py). Results in build/bench/linux/.
# docs/performance.md, "Linux boot".
bench-linux:
	./scripts/deps.sh bench
	./scripts/deps.sh linux
	$(MAKE) --no-print-directory MODE=release all
	@mkdir -p $(BUILD_ROOT)/bench/linux
	python3 -B bench/linux_boot.py $(BUILD_ROOT)/tollbooth $(BUILD_ROOT) | tee $(BUILD_ROOT)/bench/linux/boot.md
	python3 -B bench/linux_io.py $(BUILD_ROOT)/tollbooth $(BUILD_ROOT) | tee $(BUILD_ROOT)/bench/linux/io.md
	python3 -B bench/linux_clock.py $(BUILD_ROOT)/tollbooth $(BUILD_ROOT) | tee $(BUILD_ROOT)/bench/linux/clock.md

# The seeds' posted-interrupt figure (bench/irq.py): interrupts from the irqgen device's thread,
# injected through exits, by virtual-interrupt delivery, posted; interleaved rounds, medians.
# About a minute. docs/performance.md, "The seeds' posted-interrupt figure". On KVM:
# BENCH_ARGS="--accel kvm" (this host's /dev/kvm) or "--nested-kvm $(BUILD_ROOT)" (a Linux guest's).
bench-irq:
	$(MAKE) --no-print-directory MODE=release all guests
	python3 -B bench/irq.py $(BUILD_ROOT)/tollbooth $(BUILD_ROOT)/guests $(BENCH_ARGS)

# EPT or shadow paging (bench/paging.py): compute, map/unmap, TLB-miss and Linux fork/exec loads
# with --vmx ept=on and off, interleaved, 3 runs after a warm-up. Results in
# build/bench/paging.md. docs/performance.md, "EPT or shadow paging".
bench-paging:
	$(MAKE) --no-print-directory MODE=release all guests
	-./scripts/mkinitramfs.sh $(BUILD_ROOT)/linux
	@mkdir -p $(BUILD_ROOT)/bench
	python3 -B bench/paging.py $(BUILD_ROOT)/tollbooth $(BUILD_ROOT) | tee $(BUILD_ROOT)/bench/paging.md
