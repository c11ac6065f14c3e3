#!/usr/bin/env bash
# cargo-fuzz over the connectors' outside inputs (see the README's Fuzzing
# section). The stable toolchain takes the nightly-only flags cargo-fuzz
# passes (-Zsanitizer=address, -Cpasses=sancov-module, ...) when
# RUSTC_BOOTSTRAP=1 is set; no nightly toolchain is needed.
#
#   fuzz/run.sh            short run: SECS (default 5) seconds per target
#   SECS=600 fuzz/run.sh   the longer documented run
#   fuzz/run.sh normalize_shopify   one target
#
# Each target starts from the connector's documented payloads (testdata/),
# copied into fuzz/corpus/<target>/. A crash leaves its input in
# fuzz/artifacts/<target>/ and makes this script exit 1: add that input to
# connectors/tests/fuzz_inputs.rs REGRESSIONS and fix the cause.
set -euo pipefail
cd "$(dirname "$0")"
export RUSTC_BOOTSTRAP=1
SECS="${SECS:-5}"
command -v cargo-fuzz >/dev/null 2>&1 || cargo install cargo-fuzz --locked

targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  mapfile -t targets < <(cargo fuzz list)
fi

td=../connectors/src
seed() { # target, files...
  local t="$1"; shift
  mkdir -p "corpus/$t"
  for f in "$@"; do cp -f "$f" "corpus/$t/seed-$(basename "$(dirname "$(dirname "$f")")")-$(basename "$f")"; done
}
seed normalize_shopify $td/marketplaces/shopify/testdata/webhook_order.json
seed normalize_woocommerce $td/marketplaces/woocommerce/testdata/order.json
seed normalize_ecwid $td/marketplaces/ecwid/testdata/get_order.json
seed normalize_ebay $td/marketplaces/ebay/testdata/get_order.json
seed normalize_etsy $td/marketplaces/etsy/testdata/get_receipt.json
seed normalize_amazon $td/marketplaces/amazon/testdata/order.json
seed normalize_tiktok $td/marketplaces/tiktok/testdata/order.json
# Tracking events: the first byte picks the carrier (index in carrier_kinds()).
mkdir -p corpus/carrier_tracking_events
i=0
for f in $td/carriers/easypost/testdata/event_tracker_updated.json \
         $td/carriers/sendcloud/testdata/webhook_parcel_status_changed.json \
         $td/carriers/shippo/testdata/webhook_track_updated.json \
         $td/carriers/standard_webhooks/testdata/tracking_updated.json; do
  { printf "\\x$(printf %02x $i)"; cat "$f"; } > corpus/carrier_tracking_events/seed-$i.json
  i=$((i+1))
done
mkdir -p corpus/marketplace_webhooks corpus/carrier_webhooks

# One build for every target (release, debug assertions and ASan on).
cargo fuzz build

failed=0
for t in "${targets[@]}"; do
  echo "== $t (${SECS}s)"
  if ! cargo fuzz run "$t" "corpus/$t" -- -max_total_time="$SECS" -rss_limit_mb=2048 -max_len=65536 2>fuzz-$t.log; then
    echo "!! $t found a crash (fuzz/fuzz-$t.log, fuzz/artifacts/$t/)"
    tail -40 "fuzz-$t.log"
    failed=1
  else
    grep -E "^#[0-9]+.*(DONE|pulse)" "fuzz-$t.log" | tail -1 || true
    rm -f "fuzz-$t.log"
  fi
done
exit $failed
