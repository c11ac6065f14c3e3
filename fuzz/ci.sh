#!/usr/bin/env bash
# The CI fuzz step (.ci/run runs it after the test suite): installs
# cargo-fuzz if missing, builds every target once into fuzz/target (stable
# toolchain with RUSTC_BOOTSTRAP=1), then fuzzes each target SECS seconds
# (default 10: ten targets, 100 s of fuzzing) from the connectors' testdata
# and prints a per-target summary. Exits non-zero when any target crashes
# (panic, overflow, timeout, out of memory), leaving the input in
# fuzz/artifacts/<target>/.
#
# CI's build is the cheap one: unoptimized (`--dev`, debug assertions and
# overflow checks on, as in the optimized build) and without AddressSanitizer
# (`-s none`: the targets are safe Rust; what they find is panics, overflows,
# hangs and memory blow-ups). The connectors are built without their
# sandboxes and core without its store (default-features = false), so the
# build is the normalizers, verifiers and their dependencies only.
# The longer run, optimized and with ASan, is `SECS=600 fuzz/run.sh`.
#
#   bash fuzz/ci.sh
#   SECS=30 BUILD_ARGS="" bash fuzz/ci.sh        (optimized, ASan)
set -euo pipefail
cd "$(dirname "$0")"
export RUSTC_BOOTSTRAP=1
export BUILD_ARGS="${BUILD_ARGS---dev -s none}"
command -v cargo-fuzz >/dev/null 2>&1 || cargo install cargo-fuzz --locked --version 0.13.2

t0=$(date +%s)
# shellcheck disable=SC2086
cargo fuzz build $BUILD_ARGS
t1=$(date +%s)
echo "fuzz build: $((t1 - t0)) s"

status=0
SECS="${SECS:-10}" NO_BUILD=1 ./run.sh "$@" || status=$?
t2=$(date +%s)
echo "fuzz build: $((t1 - t0)) s, fuzz runs: $((t2 - t1)) s"
exit $status
