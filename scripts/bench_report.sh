#!/usr/bin/env bash
# Benchmarks `pigeon report` on one campaign of MESSAGES messages (default 1,000,000): a database
# made by the real binary (contacts import, campaign apply of a two-variant campaign) and then
# filled in bulk with SQL as a finished send would leave it: 90% delivered (receipt 1-60 s after
# the submit), 4% undelivered and 2% failed with carrier codes, 2% suppressed, 2% still
# submitted; 6% of recipients reply (1, 2, 3 or STOP, the STOPs opted out), 1% have a purchase
# event (the campaign's stop_on goal), over 5 days. Then times `report` as text, --json, --csv
# and --html, three runs each (/usr/bin/time), and prints the best and median wall time and the
# best run's CPU time.
# Usage: scripts/bench_report.sh [MESSAGES]
# Builds pigeon in the release preset's folder (PIGEON_BENCH_BUILD_DIR to use another build).
# Set KEEP=1 to keep the database folder.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="$(cd "${PIGEON_BENCH_BUILD_DIR:-$root/build/release}" 2>/dev/null && pwd || echo "$root/build/release")"
if [ -z "${PIGEON_BENCH_BUILD_DIR:-}" ]; then cmake --preset release -S "$root" > /dev/null; fi
cmake --build "$build" --target pigeon > /dev/null
pigeon="$build/engine/cli/pigeon"
n=${1:-1000000}
dir=$(mktemp -d "${TMPDIR:-/tmp}/pigeon-bench-report.XXXXXX")
if [ -z "${KEEP:-}" ]; then trap 'rm -rf "$dir"' EXIT; else echo "database kept in $dir"; fi
cd "$dir"

cat > pigeon.yaml <<EOF
database: $dir/bench.db
default_timezone: Asia/Shanghai
senders:
  shop: { signature: "[Shop]", opt_out_hint: "Reply STOP to opt out", route: [carrier] }
providers:
  carrier: { kind: simulator, url: "http://127.0.0.1:9", price_per_segment: "0.045 CNY" }
EOF
cat > bench.yaml <<'EOF'
campaign: bench
sender: shop
category: marketing
anchor: 2030-01-07
audience: { all_tags: [member] }
stop_on: [opt_out, "event:purchase"]
steps:
  - id: offer
    at: "0d 10:00"
    sms:
      variants:
        A: { weight: 50, text: "Spring sale, reply 1 for a sample" }
        B: { weight: 50, text: "Our spring picks, reply 1 for a sample" }
replies:
  keywords:
    "1": { tag: wants-sample }
    "2": { tag: wants-callback }
    "3": { tag: fewer }
ab_test: { metric: "reply:1", decide_after: 2d }
EOF
python3 - "$n" <<'EOF'
import sys
n = int(sys.argv[1])
with open("contacts.csv", "w") as f:
    f.write("phone,first_name,tags\n")
    f.writelines(f"+86139{i:08d},U{i},member\n" for i in range(n))
EOF
export PIGEON_CONFIG="$dir/pigeon.yaml"
"$pigeon" contacts import contacts.csv > /dev/null
"$pigeon" campaign apply bench.yaml > /dev/null 2>&1
python3 - "$dir/bench.db" <<'EOF'
import random, sqlite3, sys
db = sqlite3.connect(sys.argv[1])
rnd = random.Random(7)
start = 1_893_981_600_000  # 2030-01-07T02:00Z
day = 86_400_000
msgs, receipts, replies, events, opted = [], [], [], [], []
ids = db.execute("SELECT id, contact_id, variant FROM messages WHERE campaign = 'bench'").fetchall()
for mid, cid, variant in ids:
    sent = start + rnd.randrange(5 * day)
    r = rnd.random()
    state, final, reason = "delivered", sent + rnd.randrange(1000, 60000), ""
    if r < 0.04:
        state, reason = "undelivered", "undelivered 30003: Unreachable destination handset"
        receipts.append((f"SIM-{mid}", mid, "undelivered", "30003", "Unreachable handset", final))
    elif r < 0.06:
        state, reason, final = "failed", "rejected 21211: invalid 'To' phone number", sent
    elif r < 0.08:
        state, reason, final = "suppressed", "opted out", sent
    elif r < 0.10:
        state, final = "submitted", None
    sent_at = None if state in ("failed", "suppressed") else sent
    msgs.append((state, sent_at, final, reason, f"SIM-{mid}", mid))
    if sent_at and rnd.random() < 0.06:
        kw = rnd.choice(["1", "1", "2", "3", "STOP"])
        at = sent_at + rnd.randrange(60_000, day)
        replies.append((f"+86139{cid - 1:08d}", cid, kw, kw, "bench", mid, at,
                        "opt_out" if kw == "STOP" else "tag"))
        if kw == "STOP":
            opted.append((at, cid))
    if sent_at and rnd.random() < 0.01:
        events.append(("purchase", cid, sent_at + rnd.randrange(day), sent_at))
db.executemany("UPDATE messages SET state = ?, sent_at = ?, final_at = ?, reason = ?, "
               "carrier_id = ?, provider = 'carrier', segments = 1 WHERE id = ?", msgs)
db.executemany("INSERT INTO receipts (provider, dedupe_key, carrier_id, message_id, status, "
               "state, error_code, error_text, at, received_at, effect) VALUES "
               "('carrier', ?1, ?1, ?2, ?3, ?3, ?4, ?5, ?6, ?6, 'applied')", receipts)
db.executemany("INSERT INTO replies (provider, phone, contact_id, text, normalized, campaign, "
               "message_id, at, keyword, action) VALUES ('carrier', ?1, ?2, ?3, ?4, ?5, ?6, ?7, "
               "?4, ?8)", replies)
db.executemany("UPDATE contacts SET opted_out_at = ?, opt_out_source = 'reply' WHERE id = ?",
               opted)
db.executemany("INSERT INTO events (name, contact_id, at, received_at) VALUES (?, ?, ?, ?)",
               events)
db.commit()
print(f"messages {len(msgs)}, receipts {len(receipts)}, replies {len(replies)}, "
      f"opt-outs {len(opted)}, events {len(events)}")
EOF
echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores"
"$pigeon" report bench > /dev/null  # warm the page cache once
for mode in text json csv html; do
  case $mode in
    text) args=() ;;
    json) args=(--json) ;;
    csv) args=(--csv "$dir/r.csv") ;;
    html) args=(--html "$dir/r.html") ;;
  esac
  times=()
  for _ in 1 2 3; do
    t=$( { /usr/bin/time -f '%e %U %S %M' "$pigeon" report bench "${args[@]}" > /dev/null; } 2>&1 | tail -1)
    times+=("$t")
  done
  # Wall seconds, then user + system CPU seconds (the machine may be shared: CPU is the steadier
  # figure), then peak RSS.
  printf '%s\n' "${times[@]}" | sort -n | awk -v m="$mode" -v n="$n" \
    'NR==1{best=$1; cpu=$2+$3; mem=$4} NR==2{median=$1} END{printf "report %-4s %d messages: wall best %.2f s, median %.2f s; CPU of the best %.2f s; max RSS %d MB\n", m, n, best, median, cpu, mem/1024}'
done
