# SPDX-License-Identifier: MIT
# `make bench` (not part of `make check`): the benchmark guests on tollbooth soft beside QEMU TCG
# (and tollbooth kvm, QEMU KVM, Bochs when available), interleaved, 5 runs after a warm-up.
# Results: build/bench/results.md, results.json, ratios.svg. See docs/performance.md.
# Options go to bench/bench.py: make bench BENCH_ARGS="--runs 9 --systems tollbooth-soft,qemu-tcg"
# Always measures the release build (-O2), whatever MODE says. As root, installs QEMU (deps.sh),
# Bochs and the GRUB tools it boots through with apt-get when they are missing.

BENCH_ARGS ?=

.PHONY: bench
bench:
	./scripts/deps.sh bench
	$(MAKE) --no-print-directory MODE=release all guests
	python3 -B bench/bench.py --install --tollbooth build/tollbooth --images build/guests \
		--out build/bench $(BENCH_ARGS)
