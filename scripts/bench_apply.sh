#!/usr/bin/env bash
# Benchmarks `pigeon campaign apply` on N contacts (default 1,000,000): audience (tags + where
# with a tier), time zones (a fifth inferred from the phone number), window and its spread,
# variant, the length budget (every recipient rendered), the cap pre-check against a seeded send
# ledger (50,000 recipients with earlier sends), opt-out, and enqueue. Contacts are inserted straight into a fresh database with sqlite3 (not timed); the
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
        # One in ten numbers is from the US (+1: libphonenumber resolves the region per number);
        # contacts without a tz (one in five) have their zone inferred from the number.
        phone = f"+1212{i:07d}" if i % 10 == 3 else f"+86139{i:08d}"
        yield (phone, json.dumps(tags), json.dumps(attrs, ensure_ascii=False), zones[i % 5], 0, 0)
c.executemany("INSERT INTO contacts (phone, tags, attributes, tz, created_at, updated_at) "
              "VALUES (?, ?, ?, ?, ?, ?)", rows())
# The cap pre-check: one contact in twenty got another marketing campaign's messages before the
# step falls due (2030-01-07 10:30 local). Half of them got one (not capped); a quarter got two,
# the older on 2029-12-31 03:00Z (an active one is deferred until that leaves the 7-day window,
# the same day); a quarter got two on 2030-01-05 (no slot that day: suppressed).
c.execute("INSERT INTO campaigns (name, version, content_hash, sender, category, priority, "
          "source_path, source_text, applied_at) VALUES ('earlier', 1, 'h', 'coffee', "
          "'marketing', 0, 'earlier.yaml', '', 0)")
c.execute("INSERT INTO campaign_heads (name, version, state, updated_at) "
          "VALUES ('earlier', 1, 'active', 0)")
ids = [r[0] for r in c.execute("SELECT id FROM contacts ORDER BY id")]
t = 1_893_801_600_000  # 2030-01-05T00:00Z
older = 1_893_380_400_000  # 2029-12-31T03:00Z
def sends():
    m = 0
    for k, cid in enumerate(ids[::20]):
        times = [[t], [older, t], [t], [t, t + 3_600_000]][k % 4]
        for at in times:
            m += 1
            yield (m, cid, "earlier", 1, "sandbox", at, "submitted")
c.execute("UPDATE contacts SET opted_out_at = 1 WHERE id % 100 = 7")  # 1% opted out
c.executemany("INSERT INTO send_ledger (message_id, contact_id, campaign, attempt, provider, at, "
              "outcome) VALUES (?, ?, ?, ?, ?, ?, ?)", sends())
c.commit()
PY
cpu="$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
echo "machine: $cpu, $(nproc) cores; load $(cut -d' ' -f1-3 /proc/loadavg); $n contacts"
/usr/bin/time -v "$pigeon" --config "$work/pigeon.yaml" campaign apply "$work/bench.yaml" \
  2> "$work/time.txt"
grep -E "Elapsed|Maximum resident|User time|System time" "$work/time.txt"
sqlite3 "$work/bench.db" "SELECT state, count(*) FROM messages GROUP BY state" 2>/dev/null || true
