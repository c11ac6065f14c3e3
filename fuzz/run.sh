#!/usr/bin/env bash
# cargo-fuzz over the connectors' outside inputs (see the README's Fuzzing
# section). The stable toolchain takes the nightly-only flags cargo-fuzz
# passes (-Zsanitizer=address, -Cpasses=sancov-module, ...) when
# RUSTC_BOOTSTRAP=1 is set; no nightly toolchain is needed.
#
#   fuzz/run.sh                     short run: SECS (default 5) seconds per target
#   SECS=600 fuzz/run.sh            the longer documented run
#   fuzz/run.sh normalize_shopify   some targets only
#   NO_BUILD=1 fuzz/run.sh          skip `cargo fuzz build` (fuzz/ci.sh builds first)
#
# BUILD_ARGS go to `cargo fuzz build` (e.g. "--codegen-units 16": cargo-fuzz
# builds with 1 by default, slow on 2 cores). CARGO_TARGET_DIR moves the
# build out of fuzz/target (e.g. to a directory kept between CI runs).
#
# Each target starts from the connectors' documented payloads (testdata/),
# copied into fuzz/corpus/<target>/ at run time (the corpus is kept between
# runs and git-ignored). A crash, a timeout (TIMEOUT s, default 10, for one
# input) or an out-of-memory (RSS_MB, default 2048) leaves its input in
# fuzz/artifacts/<target>/ and makes this script exit 1: minimize it
# (`cargo fuzz tmin <target> <input>`), fix the cause and add the input to
# connectors/tests/fuzz_regressions/ (see connectors/tests/fuzz_regressions.rs).
set -euo pipefail
cd "$(dirname "$0")"
export RUSTC_BOOTSTRAP=1
SECS="${SECS:-5}"
TIMEOUT="${TIMEOUT:-10}"
RSS_MB="${RSS_MB:-2048}"
command -v cargo-fuzz >/dev/null 2>&1 || cargo install cargo-fuzz --locked --version 0.13.2

targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  mapfile -t targets < <(cargo fuzz list)
fi

td=../connectors/src
seed() { # target, files...
  local t="$1"; shift
  mkdir -p "corpus/$t"
  for f in "$@"; do cp -f "$f" "corpus/$t/seed-$(basename "$f")"; done
}
# Normalizers: every JSON payload of the channel (orders, pages, webhooks,
# errors): the orders as they are, the rest for the wire's vocabulary.
for m in shopify woocommerce ecwid ebay etsy amazon tiktok; do
  seed "normalize_$m" $td/marketplaces/$m/testdata/*.json
done
# Tracking events: the first byte picks the carrier (index in carrier_kinds()).
mkdir -p corpus/carrier_tracking_events
i=0
for c in easypost sendcloud shippo standard_webhooks; do
  for f in $td/carriers/$c/testdata/*.json; do
    { printf "\\x$(printf %02x $i)"; cat "$f"; } > "corpus/carrier_tracking_events/seed-$c-$(basename "$f")"
  done
  i=$((i+1))
done
# The webhook targets take a structured (Arbitrary) delivery: the bodies
# seed the byte pool they are cut from.
seed marketplace_webhooks $td/marketplaces/*/testdata/webhook_*
seed carrier_webhooks $td/carriers/*/testdata/webhook_*.json $td/carriers/*/testdata/event_*.json \
  $td/carriers/standard_webhooks/testdata/tracking_updated.json

# Every raw input that once broke a target (connectors/tests/fuzz_regressions/;
# the webhook ones are written out as JSON there, not as the target's bytes)
# seeds it again, so its neighbourhood is fuzzed too.
for d in ../connectors/tests/fuzz_regressions/*/; do
  t=$(basename "$d")
  case "$t" in normalize_*|carrier_tracking_events) ;; *) continue ;; esac
  [ -d "corpus/$t" ] || continue
  for f in "$d"*; do [ -f "$f" ] && cp -f "$f" "corpus/$t/regression-$(basename "$f")"; done
done

# One build for every target (release, debug assertions and ASan on).
[ -n "${NO_BUILD:-}" ] || cargo fuzz build ${BUILD_ARGS:-}
# `--dev` builds land in debug/, the default (optimized) ones in release/.
profile=release
case " ${BUILD_ARGS:-} " in *" --dev "*|*" -D "*) profile=debug ;; esac
bindir="${CARGO_TARGET_DIR:-target}/$(rustc -vV | sed -n 's/^host: //p')/$profile"

# cargo-fuzz's own ASan settings for Rust (`cargo fuzz run` sets them too).
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_odr_violation=0}"
failed=0
summary=()
for t in "${targets[@]}"; do
  echo "== $t (${SECS}s)"
  mkdir -p "artifacts/$t"
  log="fuzz-$t.log"
  if ! "$bindir/$t" "corpus/$t" -max_total_time="$SECS" -timeout="$TIMEOUT" \
      -rss_limit_mb="$RSS_MB" -max_len=65536 -dict=json.dict -print_final_stats=1 \
      -artifact_prefix="artifacts/$t/" >"$log" 2>&1; then
    echo "!! $t found a crash (fuzz/$log, fuzz/artifacts/$t/)"
    grep -E "^(==[0-9]+==|thread '|SUMMARY|panicked|artifact_prefix|Test unit written)" "$log" | head -20 || true
    tail -40 "$log"
    failed=1
    res=CRASH
  else
    res=ok
  fi
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  cov=$(grep -oE "cov: [0-9]+" "$log" | tail -1 | cut -d' ' -f2 || true)
  files=$(find "corpus/$t" -type f | wc -l)
  bytes=$(du -sk "corpus/$t" | cut -f1)
  summary+=("$(printf '%-26s %-5s %12s %8s %7s %7s %8s' "$t" "$res" "${execs:-?}" "${rate:-?}" "${cov:-?}" "$files" "${bytes}K")")
  if [ "$res" = ok ]; then rm -f "$log"; fi
done
echo
printf '%-26s %-5s %12s %8s %7s %7s %8s\n' target result execs exec/s cov corpus size
printf '%s\n' "${summary[@]}"
exit $failed
