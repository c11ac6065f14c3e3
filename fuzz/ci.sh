#!/usr/bin/env bash
# The CI fuzz step: installs cargo-fuzz if missing, builds every target once
# (stable toolchain with RUSTC_BOOTSTRAP=1, ASan, into fuzz/target), then
# fuzzes each target SECS seconds (default 15: 10 targets, 150 s of fuzzing)
# from the connectors' testdata and prints a per-target summary. Exits
# non-zero when any target crashes (panic, overflow, timeout, out of memory),
# leaving the input in fuzz/artifacts/<target>/.
#
#   bash fuzz/ci.sh
#   SECS=30 BUILD_ARGS="--codegen-units 16" bash fuzz/ci.sh   (see run.sh)
set -euo pipefail
cd "$(dirname "$0")"
export RUSTC_BOOTSTRAP=1
command -v cargo-fuzz >/dev/null 2>&1 || cargo install cargo-fuzz --locked --version 0.13.2

t0=$(date +%s)
cargo fuzz build ${BUILD_ARGS:-}
t1=$(date +%s)
echo "fuzz build: $((t1 - t0)) s"

status=0
SECS="${SECS:-15}" NO_BUILD=1 ./run.sh "$@" || status=$?
t2=$(date +%s)
echo "fuzz build: $((t1 - t0)) s, fuzz runs: $((t2 - t1)) s"
exit $status
