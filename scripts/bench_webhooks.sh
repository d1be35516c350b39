#!/usr/bin/env bash
# Webhook throughput and latency: wrk on loopback against a release `pigeon serve`, POSTing
# delivery receipts and inbound messages alternately (scripts/bench_webhooks.lua). Each 200 is
# answered only after its events are committed (group commit, synchronous=FULL), so the number
# of rows in `receipts` + `replies` afterwards is the number of durably recorded webhooks.
#
#   scripts/bench_webhooks.sh [DURATION]     # default 15s
# Runs: (1) max throughput, 2 threads x 64 connections; (2) ~5,000/s held by a per-request delay
# (50 connections x 10 ms; wrk measures latency without the delay).
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${1:-15s}
cmake --preset release >/dev/null
cmake --build build/release -j2 --target pigeon >/dev/null
PIGEON=$PWD/build/release/engine/cli/pigeon
TMP=$(mktemp -d /tmp/pigeon-bench-webhooks-XXXXXX)
trap 'kill $SERVE 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$TMP"' EXIT

cat > "$TMP/pigeon.yaml" <<YAML
database: $TMP/pigeon.db
listen: { webhooks: "127.0.0.1:0", admin: "127.0.0.1:0" }
public_url: "https://sms.example.com"
senders:
  shop: { route: [carrier] }
providers:
  carrier: { kind: simulator }
YAML

run() {  # name, wrk args...
  local name=$1; shift
  rm -f "$TMP/pigeon.db"*
  "$PIGEON" --config "$TMP/pigeon.yaml" serve > "$TMP/serve.log" 2>&1 &
  SERVE=$!
  local port=""
  for _ in $(seq 100); do
    port=$(grep -oP 'webhooks listening on 127\.0\.0\.1:\K\d+' "$TMP/serve.log" || true)
    [ -n "$port" ] && break
    sleep 0.1
  done
  [ -n "$port" ] || { cat "$TMP/serve.log"; exit 1; }
  echo "== $name: wrk $* http://127.0.0.1:$port"
  wrk "$@" --latency -s scripts/bench_webhooks.lua "http://127.0.0.1:$port"
  kill -INT $SERVE; wait $SERVE || true
  local rows
  rows=$(sqlite3 "$TMP/pigeon.db" "SELECT (SELECT count(*) FROM receipts) + (SELECT count(*) FROM replies)")
  echo "durably recorded webhooks: $rows"
}

run "max throughput" -t2 -c64 -d"$DURATION"
WRK_DELAY_MS=10 run "about 5000/s" -t2 -c50 -d"$DURATION"
