#!/usr/bin/env bash
# The whole demo on a fresh Debian 12 machine, on any day: install, build, import the example
# contacts, apply the example campaigns, then play them out on a simulated clock against pigeon's
# carrier simulator on loopback: every message sent, its signed delivery receipt back, one
# customer replying "1" and getting the keyword's response. Ends with `pigeon status`.
#
#   scripts/demo.sh            # builds the release preset
#   scripts/demo.sh asan       # reuses another preset's build (CI runs the demo on its asan build)
#
# The examples are dated (Double 12, 2026), so the demo applies and serves them as of
# 2026-12-01 on the simulated clock (`--clock sim:T`): the same run on any day, nothing waits for
# a real date, nothing leaves the machine. Exit 0 when every message reached its end state and
# the reply round trip completed; non-zero otherwise (CI runs it).
set -euo pipefail
cd "$(dirname "$0")/.."
preset=${1:-release}

scripts/bootstrap.sh
cmake --preset "$preset" >/dev/null
cmake --build --preset "$preset" -j "$(nproc)" --target pigeon

pigeon=$PWD/build/$preset/engine/cli/pigeon
config=config/examples/engine/pigeon.yaml
export PIGEON_CONFIG=$config
start=2026-12-01T00:00:00Z   # a week and a half before the examples' Double 12
sim_port=18090               # the simulator's port and the webhook port the config names
hooks_port=18080
# The secret the simulator signs receipts and replies with, and the engine checks them with.
PIGEON_DEMO_SECRET=$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')
export PIGEON_DEMO_SECRET

mkdir -p var
rm -f var/demo.db var/demo.db-wal var/demo.db-shm var/demo.db.lock var/demo-carrier.jsonl

pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
}
trap cleanup EXIT

# Polls `check` (a Python expression over `msgs`, the `pigeon messages --json` list) every 0.5 s
# for at most 60 s.
wait_for() {
  local what=$1 check=$2
  for _ in $(seq 1 120); do
    if "$pigeon" messages --json | python3 -c "import json,sys; msgs=json.load(sys.stdin); sys.exit(0 if ($check) else 1)"; then
      return 0
    fi
    sleep 0.5
  done
  echo "demo: timed out waiting for $what; the engine's log is var/demo-serve.log" >&2
  "$pigeon" status || true
  exit 1
}

echo "== import the example contacts"
"$pigeon" contacts import config/examples/contacts.csv
echo
echo "== apply the example campaigns as of $start (simulated clock)"
for campaign in config/examples/*.yaml; do
  "$pigeon" campaign apply --clock "sim:$start" "$campaign"
done
echo

echo "== the carrier: pigeon simulate-carrier on 127.0.0.1:$sim_port (receipts after 20 ms)"
"$pigeon" simulate-carrier --port "$sim_port" --dlr delivered --dlr-delay-ms 20 \
  --inbound-url "http://127.0.0.1:$hooks_port/webhooks/sandbox/inbound" \
  --webhook-secret-env PIGEON_DEMO_SECRET --record var/demo-carrier.jsonl \
  >var/demo-carrier.log 2>&1 &
pids+=($!)

echo "== the engine: pigeon serve --clock sim:$start (log in var/demo-serve.log)"
"$pigeon" serve --clock "sim:$start" >var/demo-serve.log 2>&1 &
pids+=($!)

final='("delivered", "undelivered", "failed", "expired", "suppressed")'
wait_for "every message to reach its end state" \
  "msgs and all(m['state'] in $final for m in msgs)"
"$pigeon" messages --json | python3 -c '
import collections, json, sys
msgs = json.load(sys.stdin)
by = collections.Counter((m["campaign"], m["step"], m["state"]) for m in msgs)
for (campaign, step, state), n in sorted(by.items()):
    print(f"  {campaign:18} {step:18} {state:11} {n}")'
echo

# The coupon book is an MMS with a local image (config/examples/assets, the config's media_dir):
# the carrier got it as a URL under public_url and fetched it from pigeon's webhooks listener.
echo "== MMS media the carrier fetched"
python3 - var/demo-carrier.jsonl config/examples/assets <<'PY'
import hashlib, json, os, sys
fetched = [m for line in open(sys.argv[1]) for m in json.loads(line).get("media", [])]
for url in sorted({m["url"] for m in fetched}):
    got = [m for m in fetched if m["url"] == url]
    print(f"  {url}: fetched {len(got)} times, {got[0]['bytes']} bytes, {got[0]['content_type']}")
    local = open(os.path.join(sys.argv[2], url.rsplit("/", 1)[1]), "rb").read()
    if any(m["status"] != 200 or m["sha256"] != hashlib.sha256(local).hexdigest() for m in got):
        sys.exit(f"demo: the carrier did not get the exact bytes of {url}")
if not fetched:
    sys.exit("demo: no MMS media reached the carrier")
PY
echo

# One customer who got the A/B reminder replies "1": the keyword tags them and its response
# goes out at once (a transactional reply: no window, no cap, not stopped by `stop_on: reply:1`).
phone=$("$pigeon" messages --json | python3 -c '
import json, sys
msgs = json.load(sys.stdin)
print(next(m["recipient"] for m in msgs
           if m["step"] == "expiry-reminder" and m["state"] == "delivered"))')
echo "== a reply: $phone texts \"1\" to the carrier, which posts it to pigeon's webhook"
curl -fsS -X POST "http://127.0.0.1:$sim_port/_mo" -H 'Content-Type: application/json' \
  -d "{\"from\":\"$phone\",\"to\":\"coffee\",\"text\":\"1\"}"
echo
wait_for "the keyword response to be delivered" \
  "any(m['recipient'] == '$phone' and m['step'].startswith('reply:') and m['state'] == 'delivered' for m in msgs)"
"$pigeon" replies
echo
"$pigeon" messages --json | python3 -c "
import json, sys
for m in json.load(sys.stdin):
    if m['recipient'] == '$phone':
        print(f\"  {m['campaign']:18} {m['step']:18} {m['state']:11} {m.get('text') or ''}\")"
echo

kill -TERM "${pids[1]}"
wait "${pids[1]}" || true
echo "== the A/B campaign's report (and var/demo-report.html: one page, open it in a browser)"
"$pigeon" report double12-coffee
"$pigeon" report double12-coffee --html var/demo-report.html
echo

# Lifecycle journeys (config/examples/journeys): each customer's own moments, a year of them in
# one run on the simulated clock, in a database of their own.
journeys_db=var/demo-journeys.db
rm -f "$journeys_db" "$journeys_db-wal" "$journeys_db-shm" "$journeys_db.lock"
echo "== lifecycle journeys: a year from $start on the simulated clock (log in var/demo-journeys.log)"
"$pigeon" --db "$journeys_db" contacts import config/examples/journeys/contacts.csv
for journey in config/examples/journeys/*.yaml; do
  "$pigeon" --db "$journeys_db" campaign apply --clock "sim:$start" "$journey"
done
"$pigeon" --db "$journeys_db" campaign plan config/examples/journeys/lesson-milestone.yaml
"$pigeon" --db "$journeys_db" serve --until-idle --clock "sim:$start" --until 2027-12-01T00:00:00Z \
  >var/demo-journeys.log 2>&1
"$pigeon" --db "$journeys_db" messages --json | python3 -c '
import collections, json, sys
msgs = json.load(sys.stdin)
by = collections.Counter((m["campaign"], m["step"], m["state"]) for m in msgs)
for (campaign, step, state), n in sorted(by.items()):
    print(f"  {campaign:18} {step:18} {state:11} {n}")
sent = {m["campaign"] for m in msgs if m["state"] in ("delivered", "submitted")}
missing = {"member-anniversary", "baby-months", "winback"} - sent
stuck = [m for m in msgs if m["state"] in ("leased", "submitting")]
if missing or stuck:
    sys.exit(f"demo: journeys without a send: {sorted(missing)}; {len(stuck)} messages stuck")'
"$pigeon" --db "$journeys_db" campaign show winback | sed -n '/^journey/,$p'
echo

echo "== pigeon status"
"$pigeon" status || true   # exit code 1/2 means warning/critical; the demo shows it either way
echo
echo "Every message: $pigeon --config $config messages"
echo "What the carrier received: var/demo-carrier.jsonl"
