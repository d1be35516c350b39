#!/usr/bin/env bash
# Lifecycle journeys at scale (issue 16): N contacts (default 1,000,000), all in one zone
# (Asia/Shanghai: the worst case for one zone's rollover), each with a birthday and a last
# purchase in the last 89 days, under two journeys: a yearly birthday greeting (date trigger) and
# a dormant win-back (`enters: last_purchase_days >= 90`). Measures
#   1. apply of both journeys (indexing every contact), wall clock and peak RSS;
#   2. one daily rollover of the zone: `serve --clock sim:` from just before local midnight to
#      just after it; the engine logs each journey's rollover time ("rolled over ... in N ms");
#      wall clock and peak RSS of that run (its dispatch of the day's greetings included);
#   3. POST /v1/events: wrk (1 thread, 64 connections) against `pigeon serve` on the real clock,
#      each event entering a third journey (lesson milestone), at RATE/s (default 10,000) for
#      DURATION (default 20s): throughput and latency percentiles (wrk --latency).
# Contacts are inserted straight into the database with sqlite3 (not timed).
# Usage: scripts/bench_journeys.sh [N] [RATE]     (uses build/release/engine/cli/pigeon)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
n="${1:-1000000}"
rate="${2:-10000}"
duration="${DURATION:-20s}"
pigeon="${PIGEON:-$root/build/release/engine/cli/pigeon}"
[ -x "$pigeon" ] || { echo "build first: cmake --preset release && cmake --build build/release --target pigeon" >&2; exit 1; }
work="$(mktemp -d /tmp/pigeon-bench-journeys-XXXXXX)"
trap '[ -n "${KEEP:-}" ] || rm -rf "$work"' EXIT
admin_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat > "$work/pigeon.yaml" <<YAML
database: $work/bench.db
default_timezone: Asia/Shanghai
listen: { webhooks: "127.0.0.1:0", admin: "127.0.0.1:$admin_port" }
senders:
  shop: { signature: "[Shop]", opt_out_hint: "STOP to end", route: [sandbox] }
providers:
  sandbox: { kind: simulator, rate: 100000/s, concurrency: 256 }
YAML
cat > "$work/birthday.yaml" <<'YAML'
campaign: birthday
sender: shop
trigger: { date: birthday_at, every: year }
steps:
  - { id: greet, at: "0d 10:00", sms: { text: "Happy birthday {{first_name}}!" } }
YAML
cat > "$work/winback.yaml" <<'YAML'
campaign: winback
sender: shop
trigger: { enters: "last_purchase_days >= 90", reentry: 180d }
steps:
  - { id: gift, at: "0d 10:30", sms: { text: "We miss you {{first_name}}: 50 off" } }
  - { id: survey, at: "+7d 10:30", sms: { text: "What could we do better?" } }
YAML
cat > "$work/lesson.yaml" <<'YAML'
campaign: lesson
sender: shop
category: transactional
trigger: { event: lesson_completed, where: "count in [10, 50, 100]" }
steps:
  - { id: cheer, at: "+0d", sms: { text: "Well done on lesson {{event.count}}!" } }
YAML
p() { "$pigeon" --config "$work/pigeon.yaml" "$@"; }
t0=2030-03-10T00:00:00Z   # 08:00 in Shanghai
printf 'phone,tags\n+8613900000000,member\n' > "$work/seed.csv"
p contacts import "$work/seed.csv" > /dev/null
python3 - "$work/bench.db" "$n" <<'PY'
import datetime as dt, json, random, sqlite3, sys
db, n = sys.argv[1], int(sys.argv[2])
rnd = random.Random(1)
c = sqlite3.connect(db)
c.execute("DELETE FROM contacts")
t0 = dt.date(2030, 3, 10)
def rows():
    for i in range(n):
        born = dt.date(1960, 1, 1) + dt.timedelta(days=rnd.randrange(40 * 365))
        bought = t0 - dt.timedelta(days=rnd.randrange(1, 91))
        attrs = {"first_name": f"U{i}", "birthday_at": born.isoformat() + "T00:00:00.000Z",
                 "last_purchase_at": bought.isoformat() + "T12:00:00.000Z"}
        yield (f"+86139{i:08d}", '["member"]', json.dumps(attrs), "Asia/Shanghai", 0, 0)
c.executemany("INSERT INTO contacts (phone, tags, attributes, tz, created_at, updated_at) "
              "VALUES (?, ?, ?, ?, ?, ?)", rows())
c.commit()
PY
echo "== $n contacts, one zone (Asia/Shanghai); $("$pigeon" --version)"
echo "== 1. apply (indexes every contact for each journey)"
for j in birthday winback lesson; do
  /usr/bin/time -f "   $j: %e s wall, %M KB peak RSS" "$pigeon" --config "$work/pigeon.yaml" \
    campaign apply --clock "sim:$t0" "$work/$j.yaml" >/dev/null
done
echo "== 2. one daily rollover: serve --clock sim:2030-03-10T15:59:00Z --until 2030-03-10T16:30:00Z"
/usr/bin/time -f "   serve: %e s wall, %M KB peak RSS" "$pigeon" --config "$work/pigeon.yaml" serve \
  --until-idle --clock sim:2030-03-10T15:59:00Z --until 2030-03-10T16:30:00Z --no-admin \
  2>"$work/rollover.log" >/dev/null
grep -o "journey [a-z]*: zone .* ms" "$work/rollover.log" | sed 's/^/   /'
echo "== 3. POST /v1/events at ${rate}/s for $duration (wrk -t1 -c64), each entering the lesson journey"
"$pigeon" --config "$work/pigeon.yaml" serve 2>"$work/serve.log" >/dev/null &
serve=$!
for _ in $(seq 1 100); do curl -fs "http://127.0.0.1:$admin_port/healthz" >/dev/null && break; sleep 0.1; done
WRK_RATE=$rate WRK_THREADS=1 CONTACTS=$n EVENT_AT=2030-06-01T03:00:00Z \
  wrk -t1 -c64 -d "$duration" --latency -s "$root/scripts/bench_journeys.lua" \
  "http://127.0.0.1:$admin_port" | sed 's/^/   /'
kill -TERM $serve; wait $serve || true
sqlite3 "$work/bench.db" "SELECT '   lesson entries stored: ' || count(*) FROM journey_entries WHERE campaign = 'lesson'"
