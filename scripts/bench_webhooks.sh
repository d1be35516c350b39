#!/usr/bin/env bash
# Webhook throughput and latency: wrk on loopback against a release `pigeon serve`, POSTing
# signed delivery receipts and inbound messages alternately (scripts/bench_webhooks.lua: the
# simulator dialect, HMAC-SHA256 X-Signature per request, so every request is authenticated).
# Each 200 is answered only after its events are committed (group commit, synchronous=FULL), so
# the number of rows in `receipts` + `replies` afterwards is the number of durably recorded
# webhooks.
#
#   scripts/bench_webhooks.sh [DURATION] [RATE]     # defaults 15s, 5000
# Runs: (1) max throughput, 1 wrk thread x 64 connections; (2) RATE/s held by the script's
# pacing (1 thread x 128 connections, see bench_webhooks.lua). For each: wrk's report, the rows
# recorded, and the server's CPU time (user + system, from /proc) per recorded webhook.
# PERF=1 records a call-graph profile of `pigeon serve` during run (1) into $PERF_OUT
# (default /tmp/perf-webhooks.data).
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${1:-15s}
RATE=${2:-5000}
if [ -z "${PIGEON:-}" ]; then  # PIGEON=path/to/pigeon measures that binary instead
  cmake --preset release >/dev/null
  cmake --build build/release -j2 --target pigeon >/dev/null
  PIGEON=$PWD/build/release/engine/cli/pigeon
fi
TMP=$(mktemp -d /tmp/pigeon-bench-webhooks-XXXXXX)
SERVE=""
trap '[ -n "$SERVE" ] && kill $SERVE 2>/dev/null || true; wait 2>/dev/null || true; [ -n "${KEEP:-}" ] || rm -rf "$TMP"' EXIT
export WEBHOOK_SECRET=bench-secret-0123456789
export PIGEON_BENCH_WEBHOOK_SECRET=$WEBHOOK_SECRET

cat > "$TMP/pigeon.yaml" <<YAML
database: $TMP/pigeon.db
listen: { webhooks: "127.0.0.1:0", admin: "127.0.0.1:0" }
public_url: "https://sms.example.com"
senders:
  shop: { route: [carrier] }
providers:
  carrier: { kind: simulator, webhook_secret: "\${PIGEON_BENCH_WEBHOOK_SECRET}" }
YAML

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

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
  echo "== $name: $(date -u +%FT%TZ), load: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "   wrk $* --latency -s scripts/bench_webhooks.lua http://127.0.0.1:$port"
  local perf_pid=""
  if [ "${PERF:-0}" = 1 ] && [ "$name" = "max throughput" ]; then
    perf record -g -o "${PERF_OUT:-/tmp/perf-webhooks.data}" -p $SERVE 2>/dev/null &
    perf_pid=$!
  fi
  local before after
  before=$(cpu_ticks $SERVE)
  /usr/bin/time -f "wrk CPU: %U s user, %S s system" wrk "$@" --latency -s scripts/bench_webhooks.lua "http://127.0.0.1:$port"
  after=$(cpu_ticks $SERVE)
  [ -n "$perf_pid" ] && { kill -INT $perf_pid; wait $perf_pid || true; }
  kill -INT $SERVE; wait $SERVE || true
  SERVE=""
  local rows
  rows=$(sqlite3 "$TMP/pigeon.db" "SELECT (SELECT count(*) FROM receipts) + (SELECT count(*) FROM replies)")
  echo "durably recorded webhooks: $rows"
  awk -v t=$((after - before)) -v hz="$(getconf CLK_TCK)" -v n="$rows" \
    'BEGIN { if (n > 0) printf "server CPU: %.2f s, %.0f us/webhook\n", t / hz, t / hz * 1e6 / n }'
  echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
}

WRK_THREADS=1 run "max throughput" -t1 -c"${CONNECTIONS:-256}" -d"$DURATION"
WRK_THREADS=1 WRK_RATE=$RATE run "held at $RATE/s" -t1 -c"${CONNECTIONS:-256}" -d"$DURATION"
