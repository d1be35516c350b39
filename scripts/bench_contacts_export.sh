#!/usr/bin/env bash
# Benchmarks `pigeon contacts export` of N contacts (default 1,000,000) with the attributes a
# shop keeps (a name in Chinese, a city, an integer, a decimal, a boolean, a text that looks like
# a number, an `_at` time), tags and a tz for most. Contacts are inserted straight into a fresh
# database with sqlite3 (not timed); the export is timed with /usr/bin/time -v (wall clock and
# peak RSS) and checked: N rows, and a re-import of a sample reads back unchanged.
# Target (issue 19): >= 200,000 rows/s.
# Usage: scripts/bench_contacts_export.sh [N]     (uses build/release/engine/cli/pigeon)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
n="${1:-1000000}"
pigeon="${PIGEON:-$root/build/release/engine/cli/pigeon}"
[ -x "$pigeon" ] || { echo "build first: cmake --preset release && cmake --build build/release --target pigeon" >&2; exit 1; }
work="$(mktemp -d /tmp/pigeon-bench-export-XXXXXX)"
trap '[ -n "${KEEP:-}" ] || rm -rf "$work"' EXIT
printf 'database: %s\ndefault_timezone: Asia/Shanghai\n' "$work/bench.db" > "$work/pigeon.yaml"
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
        tags = ["member"] + (["vip"] if i % 7 == 0 else [])
        attrs = {"first_name": f"用户{i % 1000}", "city": cities[i % 4], "orders": i % 90,
                 "spend": round(i % 1000 * 1.25, 2), "newsletter": i % 2 == 0,
                 "zip": f"{i % 100000:05d}",
                 "last_purchase_at": f"2026-{i % 12 + 1:02d}-{i % 28 + 1:02d}T10:30:00.000Z"}
        phone = f"+1212{200 + i // 10000:03d}{i % 10000:04d}" if i % 10 == 3 else f"+86139{i:08d}"
        yield (phone, json.dumps(tags), json.dumps(attrs, ensure_ascii=False), zones[i % 5], 0, 0)
c.executemany("INSERT INTO contacts (phone, tags, attributes, tz, created_at, updated_at) "
              "VALUES (?, ?, ?, ?, ?, ?)", rows())
c.commit()
PY
cpu="$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
echo "machine: $cpu, $(nproc) cores; load $(cut -d' ' -f1-3 /proc/loadavg); $n contacts"
/usr/bin/time -v "$pigeon" --config "$work/pigeon.yaml" contacts export "$work/out.csv" \
  2> "$work/time.txt"
grep -E "Elapsed|Maximum resident|User time|System time" "$work/time.txt"
wall="$(grep -E 'Elapsed' "$work/time.txt" | awk '{print $NF}')"
rows=$(($(wc -l < "$work/out.csv") - 1))
[ "$rows" -eq "$n" ] || { echo "expected $n rows, the file has $rows" >&2; exit 1; }
python3 -c "
import sys
parts = sys.argv[1].split(':')
secs = sum(float(p) * 60 ** i for i, p in enumerate(reversed(parts)))
print(f'{int(sys.argv[2]):,} rows in {secs:.2f} s: {int(sys.argv[2]) / secs:,.0f} rows/s')" "$wall" "$rows"
# The sample round-trips: import the first 1,000 rows into a fresh database, export, compare.
head -n 1001 "$work/out.csv" > "$work/sample.csv"
"$pigeon" --config "$work/pigeon.yaml" --db "$work/sample.db" contacts import "$work/sample.csv" \
  > /dev/null 2>&1
"$pigeon" --config "$work/pigeon.yaml" --db "$work/sample.db" contacts export "$work/again.csv" \
  > /dev/null
cmp "$work/sample.csv" "$work/again.csv" && echo "a 1,000-row sample round-trips byte for byte"
