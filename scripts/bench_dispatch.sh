#!/usr/bin/env bash
# Dispatch throughput against a fast local carrier: nginx on loopback answering every POST with
# 200 {"message_id":"x"}, reached through a generic-http provider (id_pointer /message_id).
#
#   1. unpaced: N messages, one message per request, durable state (SQLite WAL), `pigeon serve
#      --until-idle`; rate from the carrier's side (nginx access log, msec timestamps) and wall
#      clock, CPU per message from the engine's user+sys time.
#   2. paced: a lane at 500 segments/s for 30 s (15,000 messages); per-second counts at the
#      carrier: mean, and the busiest second.
#   3. Kannel (if bearerbox/smsbox are installed): the same N messages through Kannel's sendsms
#      at max concurrency (wrk), with an HTTP SMSC pointing at the same nginx; its rate and the
#      ratio to ours.
#   4. batch mode: N messages through a generic-http lane with `batch: B`, each request a JSON
#      array of B message bodies; nginx (echo module, libnginx-mod-http-echo) answers with the
#      request body itself, so the reply holds one item per message with its `ref` (pigeon's id)
#      as the carrier id (batch_id_pointer: /ref). Without the echo module nginx answers a fixed
#      array of B items, and partial batches are then rejected `no-id` (counted and printed).
#
# Usage: scripts/bench_dispatch.sh [N]   (default 100000). Builds the release preset's pigeon.
# Environment: PIGEON_BENCH_CONCURRENCY (unpaced lane, default 64), PIGEON_BENCH_PACED_CONCURRENCY
# (the paced lane of phase 2, default 256), PIGEON_BENCH_PHASES
# (default 123; 4 = batch mode), PIGEON_BENCH_BATCH (messages per request in phase 4, default
# 100), PIGEON_BENCH_BATCH_CONCURRENCY (phase 4 requests in flight, default 4),
# PIGEON_BENCH_NO_BUILD=1 (use the existing build), PIGEON_BENCH_BUILD_DIR, PIGEON_BENCH_PERF=1
# (record `perf record -g` of each `serve` into perf-<phase>.data in the current directory;
# PIGEON_BENCH_PERF_GRAPH=dwarf for call graphs through libraries built without frame pointers).
# Needs nginx (scripts/bootstrap.sh installs it). Everything runs on 127.0.0.1 in a temp dir.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
n="${1:-100000}"
concurrency="${PIGEON_BENCH_CONCURRENCY:-64}"
paced_concurrency="${PIGEON_BENCH_PACED_CONCURRENCY:-256}"
batch="${PIGEON_BENCH_BATCH:-100}"
batch_concurrency="${PIGEON_BENCH_BATCH_CONCURRENCY:-4}"
phases="${PIGEON_BENCH_PHASES:-123}"
build="${PIGEON_BENCH_BUILD_DIR:-$root/build/release}"
if [ -z "${PIGEON_BENCH_NO_BUILD:-}" ] && [ -z "${PIGEON:-}" ]; then
  cmake --preset release > /dev/null
  cmake --build "$build" --target pigeon > /dev/null
fi
pigeon="${PIGEON:-$build/engine/cli/pigeon}"  # PIGEON=<binary> measures that one (A/B runs)
tmp="$(mktemp -d /tmp/pigeon-bench-XXXXXX)"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2> /dev/null || true; done
  [ -f "$tmp/nginx.pid" ] && kill "$(cat "$tmp/nginx.pid")" 2> /dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT
[ -n "${PIGEON_BENCH_KEEP:-}" ] && trap - EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

cpu="$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
echo "machine: $cpu, $(nproc) cores; $(uname -sr); $("$pigeon" --version 2> /dev/null || echo pigeon)"

# --- the carrier: nginx, one worker, keep-alive without a request limit --------------------
port="$(free_port)"
mkdir -p "$tmp/nginx"
echo_module=/usr/lib/nginx/modules/ngx_http_echo_module.so
fixed_batch="[$(python3 -c "print(','.join(['{\"ref\":\"x\"}'] * $batch))")]"
if [ -f "$echo_module" ]; then
  load_echo="load_module $echo_module;"
  batch_location="location /batch { default_type application/json; echo_read_request_body; echo_request_body; }"
else
  load_echo=""
  batch_location="location /batch { default_type application/json; return 200 '$fixed_batch'; }"
fi
cat > "$tmp/nginx.conf" << EOF
$load_echo
worker_processes 1;
pid $tmp/nginx.pid;
error_log $tmp/nginx/error.log warn;
events { worker_connections 4096; }
http {
  client_body_temp_path $tmp/nginx; proxy_temp_path $tmp/nginx; fastcgi_temp_path $tmp/nginx;
  uwsgi_temp_path $tmp/nginx; scgi_temp_path $tmp/nginx;
  log_format t '\$msec \$request_uri';
  keepalive_requests 10000000;
  keepalive_timeout 300s;
  server {
    listen 127.0.0.1:$port;
    access_log $tmp/access.log t buffer=256k flush=1s;
    client_body_buffer_size 1m;
    $batch_location
    location / { default_type application/json; return 200 '{"message_id":"x"}'; }
  }
}
EOF
nginx -c "$tmp/nginx.conf" -e "$tmp/nginx/error.log"
sleep 0.3
echo "carrier: nginx $(nginx -v 2>&1 | sed 's/.*nginx\///') on 127.0.0.1:$port"

# --- contacts and a campaign ----------------------------------------------------------------
python3 - "$tmp/contacts.csv" "$n" << 'EOF'
import sys
with open(sys.argv[1], "w") as f:
    f.write("phone,first_name,tags\n")
    for i in range(int(sys.argv[2])):
        f.write(f"+86139{i:08d},U{i},member\n")
EOF
cat > "$tmp/blast.yaml" << 'EOF'
campaign: blast
sender: shop
category: transactional
audience: { all_tags: [member] }
steps:
  - id: hello
    at: now
    sms: { text: "Hi {{first_name}}, your order shipped" }
EOF

# free ports for serve's listeners, so two benchmarks can run side by side
webhook_port="$(free_port)"; admin_port="$(free_port)"
write_config() {  # $1 = rate clause (or extra keys, or empty), $2 = concurrency, $3 = path
  cat > "$tmp/pigeon.yaml" << EOF
database: $tmp/pigeon.db
listen: { webhooks: "127.0.0.1:$webhook_port", admin: "127.0.0.1:$admin_port" }
default_timezone: UTC
default_region: CN
senders:
  shop: { signature: "[Shop]", route: [gateway] }
providers:
  gateway: { kind: generic-http, url: "http://127.0.0.1:$port/${3:-send}", method: POST, format: json,
             body: '{"to":"{{to}}","text":"{{text}}","ref":"{{id}}"}',
             id_pointer: /message_id, concurrency: $2 $1 }
EOF
}

# carrier-side rate: requests / (last - first arrival) from the access log's msec stamps
carrier_rate() {  # $1 = path (default /send)
  python3 - "$tmp/access.log" "${1:-/send}" << 'EOF'
import sys
t = [float(l.split()[0]) for l in open(sys.argv[1]) if sys.argv[2] in l]
if len(t) < 2: print("n/a"); sys.exit()
print(f"{len(t)} requests at the carrier in {t[-1]-t[0]:.2f}s = {len(t)/(t[-1]-t[0]):.0f}/s")
EOF
}

run_engine() {  # $1 = phase; prints wall seconds and CPU seconds of `serve --until-idle`
  rm -f "$tmp"/pigeon.db*
  : > "$tmp/access.log"
  kill -USR1 "$(cat "$tmp/nginx.pid")"  # reopen the log
  "$pigeon" --config "$tmp/pigeon.yaml" contacts import "$tmp/contacts.csv" > /dev/null
  "$pigeon" --config "$tmp/pigeon.yaml" campaign apply "$tmp/blast.yaml" > /dev/null
  local prefix=()
  # PIGEON_BENCH_PERF_GRAPH=dwarf for call graphs through libc/libsqlite (no frame pointers).
  [ -n "${PIGEON_BENCH_PERF:-}" ] && prefix=(perf record -F 999
    --call-graph "${PIGEON_BENCH_PERF_GRAPH:-fp}" -o "$PWD/perf-$1.data" --)
  /usr/bin/time -f "%e %U %S" -o "$tmp/time" "${prefix[@]}" \
    "$pigeon" --config "$tmp/pigeon.yaml" serve --until-idle 2> "$tmp/serve.log" > /dev/null
  sleep 1.2  # nginx flushes its log buffer every second
  read -r wall user sys < "$tmp/time"
  echo "$wall $user $sys"
}

ours=0
if [[ $phases == *1* ]]; then
echo
echo "== 1. unpaced, one message per request, $n messages, concurrency $concurrency"
write_config "" "$concurrency"
read -r wall user sys <<< "$(run_engine 1)"
python3 -c "n=$n; w=$wall; c=$user+$sys; print(f'engine: {n} messages in {w:.2f}s wall = {n/w:.0f}/s; CPU {c:.2f}s = {c/n*1e6:.0f} us/message')"
echo "carrier: $(carrier_rate)"
ours="$(python3 -c "print(round($n/$wall))")"
fi

if [[ $phases == *2* ]]; then
echo
echo "== 2. one lane at 500 segments/s (burst 25), 15000 messages (30 s)"
head -n 15001 "$tmp/contacts.csv" > "$tmp/c15k.csv"
cp "$tmp/contacts.csv" "$tmp/all.csv"
cp "$tmp/c15k.csv" "$tmp/contacts.csv"
write_config ", rate: 500/s, burst: 25" "$paced_concurrency"
run_engine 2 > /dev/null
cp "$tmp/all.csv" "$tmp/contacts.csv"
python3 - "$tmp/access.log" << 'EOF'
import sys, collections
t = sorted(float(l.split()[0]) for l in open(sys.argv[1]) if "/send" in l)
per = collections.Counter(int(x - t[0]) for x in t)
full = [per[s] for s in range(int(t[-1] - t[0]))]  # whole seconds only
span = t[-1] - t[0]
print(f"{len(t)} messages over {span:.2f}s: mean {len(t)/span:.1f}/s; whole seconds "
      f"min {min(full, default=0)} max {max(full, default=0)}; first second {per[0]} (burst)")
print("per second: " + " ".join(str(c) for c in full))
EOF
fi

if [[ $phases == *3* ]] && command -v bearerbox > /dev/null && command -v wrk > /dev/null; then
  echo
  echo "== 3. Kannel: $n messages through sendsms to the same nginx"
  admin="$(free_port)"; smsbox_port="$(free_port)"; sendsms="$(free_port)"
  cat > "$tmp/kannel.conf" << EOF
group = core
admin-port = $admin
admin-password = bench
smsbox-port = $smsbox_port
log-level = 4
box-allow-ip = 127.0.0.1
log-file = "$tmp/bearerbox.log"
sms-incoming-queue-limit = -1

group = smsc
smsc = http
smsc-id = nginx
system-type = generic
status-success-regex = "message_id"
send-url = "http://127.0.0.1:$port/kannel?to=%P&text=%b"
port = $(free_port)
max-pending-submits = 64
throughput = 0

group = smsbox
bearerbox-host = 127.0.0.1
sendsms-port = $sendsms
log-level = 4
log-file = "$tmp/smsbox.log"

group = sendsms-user
username = bench
password = bench
max-messages = 1
EOF
  bearerbox "$tmp/kannel.conf" > /dev/null 2>&1 &
  pids+=($!)
  sleep 1
  smsbox "$tmp/kannel.conf" > /dev/null 2>&1 &
  pids+=($!)
  sleep 2
  : > "$tmp/access.log"
  kill -USR1 "$(cat "$tmp/nginx.pid")"
  cat > "$tmp/sendsms.lua" << EOF
local i = 0
request = function()
  i = i + 1
  return wrk.format("GET", "/cgi-bin/sendsms?username=bench&password=bench&to=%2B86139" ..
    string.format("%08d", i) .. "&from=pigeon&text=Hi+there")
end
EOF
  # Drive sendsms until the carrier has seen N messages (or 120 s).
  wrk -t2 -c64 -d120s -s "$tmp/sendsms.lua" "http://127.0.0.1:$sendsms" > "$tmp/wrk.log" 2>&1 &
  wrkpid=$!
  pids+=($wrkpid)
  for _ in $(seq 1 240); do
    sleep 0.5
    c="$(grep -c /kannel "$tmp/access.log" 2> /dev/null)" || c=0
    [ "$c" -ge "$n" ] && break
  done
  kill "$wrkpid" 2> /dev/null || true
  sleep 1.2
  python3 - "$tmp/access.log" "$n" "$ours" << 'EOF'
import sys
t = sorted(float(l.split()[0]) for l in open(sys.argv[1]) if "/kannel" in l)[: int(sys.argv[2])]
if len(t) < 2: print("kannel: no messages reached the carrier"); sys.exit()
rate = len(t) / (t[-1] - t[0])
ours = int(sys.argv[3])
print(f"kannel: {len(t)} messages at the carrier in {t[-1]-t[0]:.2f}s = {rate:.0f}/s")
print(f"pigeon {ours}/s vs kannel {rate:.0f}/s: ratio {ours/rate:.2f}")
EOF
fi

if [[ $phases == *4* ]]; then
  echo
  echo "== 4. batch mode: $n messages, $batch per request, $batch_concurrency requests in flight"
  [ -z "$load_echo" ] && echo "(no nginx echo module: fixed replies of $batch items)"
  write_config ", batch: $batch, batch_id_pointer: /ref" "$batch_concurrency" batch
  read -r wall user sys <<< "$(run_engine 4)"
  python3 -c "n=$n; w=$wall; c=$user+$sys; print(f'engine: {n} messages in {w:.2f}s wall = {n/w:.0f}/s; CPU {c:.2f}s = {c/n*1e6:.1f} us/message')"
  echo "carrier: $(carrier_rate /batch) (requests)"
  "$pigeon" --config "$tmp/pigeon.yaml" status 2> /dev/null | grep -E "submitted|failed" | head -4 || true
fi
