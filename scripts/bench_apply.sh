#!/usr/bin/env bash
# Benchmarks `pigeon campaign apply` on N contacts (default 1,000,000): audience (tags + where
# with a tier), time zones, window, variant, the length budget (every recipient rendered), and
# enqueue. Contacts are inserted straight into a fresh database with sqlite3 (not timed); the
# apply is timed with /usr/bin/time -v (wall clock and peak RSS).
# Usage: scripts/bench_apply.sh [N]     (uses build/release/engine/cli/pigeon)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
n="${1:-1000000}"
pigeon="${PIGEON:-$root/build/release/engine/cli/pigeon}"
[ -x "$pigeon" ] || { echo "build first: cmake --preset release && cmake --build build/release --target pigeon" >&2; exit 1; }
work="$(mktemp -d /tmp/pigeon-bench-apply-XXXXXX)"
trap '[ -n "${KEEP:-}" ] || rm -rf "$work"' EXIT
cat > "$work/pigeon.yaml" <<YAML
database: $work/bench.db
default_timezone: Asia/Shanghai
policy:
  quiet_hours: "21:00-08:00"
  tiers: { active: "last_active_days <= 30" }
  frequency:
    - { tier: active, max: 2, per: 7d }
senders:
  coffee: { signature: "【咖啡】", opt_out_hint: "回T退订", sms_max_segments: 2, route: [sandbox] }
providers:
  sandbox: { kind: simulator }
YAML
cat > "$work/bench.yaml" <<YAML
campaign: bench
sender: coffee
category: marketing
anchor: 2030-01-10
audience:
  all_tags: [member]
  none_tags: [staff]
  where: ["tier = active or last_active_days < 60", "city in [shanghai, hangzhou, suzhou]"]
window: { between: "10:30-20:00" }
steps:
  - id: reminder
    at: "-3d 10:30"
    sms:
      variants:
        A: { weight: 50, text: "{{first_name|会员}},您的{{coupon|默认券}}还有3天到期,回1领取试用装" }
        B: { weight: 50, text: "为您预留的{{coupon|默认券}}3天后到期,回1领取试用装" }
YAML
printf 'phone,tags\n+8613900000000,member\n' > "$work/seed.csv"
"$pigeon" --config "$work/pigeon.yaml" contacts import "$work/seed.csv" > /dev/null
python3 - "$work/bench.db" "$n" <<'PY'
import json, sqlite3, sys
db, n = sys.argv[1], int(sys.argv[2])
zones = ["Asia/Shanghai", "America/New_York", "Europe/London", "Asia/Tokyo", ""]
cities = ["shanghai", "hangzhou", "suzhou", "beijing"]
c = sqlite3.connect(db)
c.execute("DELETE FROM contacts")
def rows():
    for i in range(n):
        tags = ["member"] + (["staff"] if i % 50 == 0 else [])
        attrs = {"first_name": f"用户{i % 1000}", "city": cities[i % 4],
                 "last_active_days": i % 90, "coupon": "拿铁券"}
        yield (f"+86139{i:08d}", json.dumps(tags), json.dumps(attrs, ensure_ascii=False),
               zones[i % 5], 0, 0)
c.executemany("INSERT INTO contacts (phone, tags, attributes, tz, created_at, updated_at) "
              "VALUES (?, ?, ?, ?, ?, ?)", rows())
c.commit()
PY
cpu="$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
echo "machine: $cpu, $(nproc) cores; load $(cut -d' ' -f1-3 /proc/loadavg); $n contacts"
/usr/bin/time -v "$pigeon" --config "$work/pigeon.yaml" campaign apply "$work/bench.yaml" \
  2> "$work/time.txt"
grep -E "Elapsed|Maximum resident|User time|System time" "$work/time.txt"
