#!/usr/bin/env bash
# Dispatch throughput against a fast local carrier: nginx on loopback answering every request with
# 200 {"status":"ok","message_id":"<32 hex>"}, reached through a generic-http provider
# (id_pointer /message_id); Kannel 1.4.5 is measured against the same nginx in the same run.
#
#   1. unpaced: N messages, one message per request, durable state (SQLite WAL), `pigeon serve
#      --until-idle`; rate from the carrier's side (nginx access log, msec timestamps) and wall
#      clock, CPU per message from the engine's user+sys time.
#   2. paced: a lane at 500 segments/s for 30 s (15,000 messages); per-second counts at the
#      carrier: mean, and the busiest second.
#   3. Kannel (bearerbox + smsbox, one HTTP SMSC `system-type = generic` sending GETs to the same
#      nginx; scripts/kannel/kannel.conf): the same N messages injected by Kannel's bulk injector
#      `mtbatch` (kannel-extras: the box protocol straight into bearerbox, the path an operator
#      sends a campaign through), then by wrk through smsbox's /cgi-bin/sendsms
#      (scripts/kannel/sendsms.lua); rate from the injector's launch to the Nth arrival at the
#      carrier, CPU of bearerbox (and smsbox) per message, the ratio to phase 1.
#   4. batch mode: N messages through a generic-http lane with `batch: B`, each request a JSON
#      array of B message bodies; nginx (echo module, libnginx-mod-http-echo) answers with the
#      request body itself, so the reply holds one item per message with its `ref` (pigeon's id)
#      as the carrier id (batch_id_pointer: /ref). Without the echo module nginx answers a fixed
#      array of B items, and partial batches are then rejected `no-id` (counted and printed).
#   c. callgrind (not in the default phases): phases 1 and 4 again under
#      `valgrind --tool=callgrind` at two sizes (PIGEON_BENCH_CALLGRIND_N, default "2000 6000");
#      instructions per message are the slope between them (start-up cancels out), which unlike
#      CPU time does not move with the host's load; per shared object and the top functions by
#      inclusive cost (scripts/callgrind_slope.py). About 50x slower than a native run.
#
# Every phase prints the host's load beside its figures (load average, CPU used by other
# processes, steal), and the run ends with a summary of all phases side by side.
#
# Usage: scripts/bench_dispatch.sh [N]   (default 100000). Builds the release preset's pigeon.
# Environment: PIGEON_BENCH_CONCURRENCY (unpaced lane, default 64), PIGEON_BENCH_PACED_CONCURRENCY
# (the paced lane of phase 2, default 256), PIGEON_BENCH_PHASES
# (default 1234; c = callgrind), PIGEON_BENCH_BATCH (messages per request in phase 4, default
# 100), PIGEON_BENCH_BATCH_CONCURRENCY (phase 4 requests in flight, default 4),
# PIGEON_BENCH_KANNEL_INJECT (phase 3 injectors, default "mtbatch sendsms"),
# PIGEON_BENCH_KANNEL_MPS (the HTTP SMSC's max-pending-submits, its requests in flight to the
# carrier; default the unpaced lane's concurrency), PIGEON_BENCH_KANNEL_TIMEOUT (bound per
# injection, default 300 s),
# PIGEON_BENCH_CALLGRIND_N, PIGEON_BENCH_CALLGRIND_KEEP=DIR (keep the callgrind outputs there),
# PIGEON_BENCH_NO_BUILD=1 (use the existing build), PIGEON_BENCH_BUILD_DIR, PIGEON_BENCH_PERF=1
# (record `perf record -g` of each `serve` into perf-<phase>.data in the current directory;
# PIGEON_BENCH_PERF_GRAPH=dwarf for call graphs through libraries built without frame pointers).
# Needs nginx, kannel, kannel-extras, wrk, valgrind (scripts/bootstrap.sh installs them).
# Everything runs on 127.0.0.1 in a temp dir.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
# shellcheck source=scripts/lib/nginx_carrier.sh
source "$root/scripts/lib/nginx_carrier.sh"
# shellcheck source=scripts/lib/bench_blast.sh
source "$root/scripts/lib/bench_blast.sh"
n="${1:-100000}"
concurrency="${PIGEON_BENCH_CONCURRENCY:-64}"
paced_concurrency="${PIGEON_BENCH_PACED_CONCURRENCY:-256}"
batch="${PIGEON_BENCH_BATCH:-100}"
batch_concurrency="${PIGEON_BENCH_BATCH_CONCURRENCY:-4}"
phases="${PIGEON_BENCH_PHASES:-1234}"
kannel_inject="${PIGEON_BENCH_KANNEL_INJECT:-mtbatch sendsms}"
kannel_mps="${PIGEON_BENCH_KANNEL_MPS:-$concurrency}"
kannel_timeout="${PIGEON_BENCH_KANNEL_TIMEOUT:-300}"
callgrind_n="${PIGEON_BENCH_CALLGRIND_N:-2000 6000}"
build="${PIGEON_BENCH_BUILD_DIR:-$root/build/release}"
if [ -z "${PIGEON_BENCH_NO_BUILD:-}" ] && [ -z "${PIGEON:-}" ]; then
  cmake --preset release > /dev/null
  cmake --build "$build" --target pigeon > /dev/null
fi
pigeon="${PIGEON:-$build/engine/cli/pigeon}"  # PIGEON=<binary> measures that one (A/B runs)
tmp="$(mktemp -d /tmp/pigeon-bench-XXXXXX)"
pids=()
cleanup() {
  # children first: an injector runs under /usr/bin/time, whose pid is the one recorded
  for p in "${pids[@]}"; do pkill -P "$p" 2> /dev/null || true; kill "$p" 2> /dev/null || true; done
  [ -f "$tmp/nginx.pid" ] && kill "$(cat "$tmp/nginx.pid")" 2> /dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT
[ -n "${PIGEON_BENCH_KEEP:-}" ] && trap - EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# --- host accounting: every figure is printed beside what else ran on the machine ----------
proc_cpu() {  # pid... -> their user+sys CPU seconds so far (0 for a pid that is gone)
  local tck
  tck="$(getconf CLK_TCK)"
  for p in "$@"; do [ -r "/proc/$p/stat" ] && sed 's/^.*) //' "/proc/$p/stat"; done |
    awk -v t="$tck" '{ s += $12 + $13 } END { printf "%.2f\n", s / t }'
}
machine_cpu() {  # -> "<busy s> <steal s> <wall s>", busy = user+nice+system+irq+softirq, all CPUs
  awk -v t="$(getconf CLK_TCK)" -v now="$(date +%s.%N)" \
    '/^cpu /{ printf "%.2f %.2f %s\n", ($2+$3+$4+$7+$8)/t, $9/t, now }' /proc/stat
}
nginx_workers() { pgrep -P "$(cat "$tmp/nginx.pid")" | tr '\n' ' '; }
# host_begin and host_mark_end snapshot the machine into files (they run in subshells too);
# host_report prints what else used the CPU between the two
host_begin() { echo "$(machine_cpu) $(proc_cpu $(nginx_workers))" > "$tmp/host0"; }
host_mark_end() { echo "$(machine_cpu) $(proc_cpu $(nginx_workers))" > "$tmp/host1"; }
host_report() {  # $1 = CPU seconds of the measured processes -> prints one "host:" line
  read -r b0 s0 w0 ng0 < "$tmp/host0"
  read -r b1 s1 w1 ng1 < "$tmp/host1"
  python3 -c "
w = $w1 - $w0; ours = $1; ng = $ng1 - $ng0; busy = $b1 - $b0; cores = $(nproc)
other = max(0.0, busy - ours - ng)
print(f'host: load average {open(\"/proc/loadavg\").read().split()[0]}; over {w:.1f}s the measured '
      f'process(es) used {ours:.2f}s CPU, nginx {ng:.2f}s, everything else {other:.2f}s '
      f'({other / w:.2f} of {cores} cores); steal {($s1 - $s0) / w / cores * 100:.0f}%')"
}
summary=()  # one line per measured case, printed together at the end

cpu="$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
rev="$(git -C "$root" rev-parse --short HEAD 2> /dev/null || echo '?')"
[ -n "${PIGEON:-}" ] && rev="PIGEON=$pigeon"
echo "machine: $cpu, $(nproc) cores; $(uname -sr); load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "pigeon: $("$pigeon" --version 2> /dev/null || echo pigeon) ($rev)"

# --- the carrier: nginx, one worker, keep-alive without a request limit --------------------
port="$(free_port)"
echo_module=/usr/lib/nginx/modules/ngx_http_echo_module.so
fixed_batch="[$(python3 -c "print(','.join(['{\"ref\":\"x\"}'] * $batch))")]"
if [ -f "$echo_module" ]; then
  load_echo="load_module $echo_module;"
  batch_location="client_body_buffer_size 1m; location /batch { default_type application/json; echo_read_request_body; echo_request_body; }"
else
  load_echo=""
  batch_location="client_body_buffer_size 1m; location /batch { default_type application/json; return 200 '$fixed_batch'; }"
fi
# pigeon POSTs JSON to /send, Kannel's generic HTTP SMSC GETs /send?from=..&to=..: one answer
# for both, with a fresh carrier id per message.
nginx_carrier_start "$tmp" "$port" ' $request_uri' "$load_echo" "$batch_location"
echo "carrier: nginx $(nginx -v 2>&1 | sed 's/.*nginx\///') on 127.0.0.1:$port, one worker$([ -n "$load_echo" ] && echo ', echo module')"
reset_log() {  # nginx flushes its buffer and reopens the log, then the log is emptied
  kill -USR1 "$(cat "$tmp/nginx.pid")"
  sleep 0.3
  : > "$tmp/access.log"
}

# --- contacts and a campaign ----------------------------------------------------------------
bench_blast_files "$tmp" "$n"

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

run_engine() {  # $1 = phase, $2 = messages (default N); prints wall, user and system seconds
  local count="${2:-$n}"
  rm -f "$tmp"/pigeon.db*
  reset_log
  head -n "$((count + 1))" "$tmp/contacts.csv" > "$tmp/run.csv"
  "$pigeon" --config "$tmp/pigeon.yaml" contacts import "$tmp/run.csv" > /dev/null
  "$pigeon" --config "$tmp/pigeon.yaml" campaign apply "$tmp/blast.yaml" > /dev/null
  local prefix=()
  # PIGEON_BENCH_PERF_GRAPH=dwarf for call graphs through libc/libsqlite (no frame pointers).
  [ -n "${PIGEON_BENCH_PERF:-}" ] && prefix=(perf record -F 999
    --call-graph "${PIGEON_BENCH_PERF_GRAPH:-fp}" -o "$PWD/perf-$1.data" --)
  [ -n "${callgrind_out:-}" ] && prefix=(valgrind -q --tool=callgrind --separate-threads=no
    --dump-instr=no "--callgrind-out-file=$callgrind_out" --)
  host_begin
  /usr/bin/time -f "%e %U %S" -o "$tmp/time" "${prefix[@]}" \
    "$pigeon" --config "$tmp/pigeon.yaml" serve --until-idle 2> "$tmp/serve.log" > /dev/null
  host_mark_end
  sleep 1.2  # nginx flushes its log buffer every second
  read -r wall user sys < "$tmp/time"
  echo "$wall $user $sys"
}

# one engine phase: runs it, prints the engine's and the host's figures, adds a summary line
engine_phase() {  # $1 = phase, $2 = label, $3 = carrier path
  read -r wall user sys <<< "$(run_engine "$1")"
  local line
  line="$(python3 -c "n=$n; w=$wall; c=$user+$sys
print(f'{n/w:.0f} {c/n*1e6:.1f} engine: {n} messages in {w:.2f}s wall = {n/w:.0f}/s; CPU {c:.2f}s (user $user, sys $sys) = {c/n*1e6:.1f} us/message')")"
  read -r rate us _ <<< "$line"
  echo "${line#* * }"
  echo "carrier: $(carrier_rate "$3")"
  host_report "$(python3 -c "print($user + $sys)")"
  summary+=("$(printf '%-44s %9s/s   CPU %6s us/msg (engine, user+sys)' "$2" "$rate" "$us")")
}

ours=0
if [[ $phases == *1* ]]; then
  echo
  echo "== 1. unpaced, one message per request, $n messages, concurrency $concurrency"
  write_config "" "$concurrency"
  engine_phase 1 "pigeon, 1 per request (c=$concurrency)" /send
  ours="$rate"
fi

if [[ $phases == *2* ]]; then
  echo
  paced_n=$((n < 15000 ? n : 15000))
  echo "== 2. one lane at 500 segments/s (burst 25), $paced_n messages ($((paced_n / 500)) s)"
  write_config ", rate: 500/s, burst: 25" "$paced_concurrency"
  run_engine 2 "$paced_n" > /dev/null
  python3 - "$tmp/access.log" > "$tmp/paced" << 'EOF'
import sys, collections
t = sorted(float(l.split()[0]) for l in open(sys.argv[1]) if "/send" in l)
per = collections.Counter(int(x - t[0]) for x in t)
full = [per[s] for s in range(int(t[-1] - t[0]))]  # whole seconds only
span = t[-1] - t[0]
print(f"{len(t)} messages over {span:.2f}s: mean {len(t)/span:.1f}/s; whole seconds "
      f"min {min(full, default=0)} max {max(full, default=0)}; first second {per[0]} (burst)")
print("per second: " + " ".join(str(c) for c in full))
print(f"SUMMARY {'pigeon, paced lane 500/s (burst 25)':<44} {len(t)/span:9.1f}/s   busiest whole second {max(full, default=0)} (limit 550)")
EOF
  grep -v '^SUMMARY ' "$tmp/paced"
  summary+=("$(sed -n 's/^SUMMARY //p' "$tmp/paced")")
fi

# --- 3. Kannel ------------------------------------------------------------------------------
wait_port() {  # $1 = port, bounded at 15 s
  for _ in $(seq 1 150); do
    python3 -c "import socket,sys; socket.create_connection(('127.0.0.1',$1),0.2)" 2> /dev/null && return 0
    sleep 0.1
  done
  return 1
}
sends_at_carrier() { grep -c ' /send?' "$tmp/access.log" 2> /dev/null || true; }

kannel_run() {  # $1 = mtbatch | sendsms
  local inject="$1" t0 injpid
  reset_log
  host_begin
  local bb0 sb0
  bb0="$(proc_cpu "$bb_pid")"; sb0="$(proc_cpu "$sb_pid")"
  t0="$(date +%s.%N)"
  if [ "$inject" = mtbatch ]; then
    /usr/bin/time -f "%U %S" -o "$tmp/kannel/inj.time" mtbatch -v 3 -b 127.0.0.1 -p "$kbox" \
      -f 4915550000 "$tmp/kannel/content.txt" "$tmp/kannel/receivers.txt" > "$tmp/kannel/inj.log" 2>&1 &
  else
    /usr/bin/time -f "%U %S" -o "$tmp/kannel/inj.time" wrk -t2 -c32 -d"${kannel_timeout}s" \
      --timeout 30s -s "$root/scripts/kannel/sendsms.lua" "http://127.0.0.1:$ksendsms" \
      -- "$n" 2 bench bench 4915550000 > "$tmp/kannel/inj.log" 2>&1 &
  fi
  injpid=$!
  pids+=("$injpid")
  local deadline=$((SECONDS + kannel_timeout)) c=0
  while [ "$SECONDS" -lt "$deadline" ]; do
    sleep 0.25
    c="$(sends_at_carrier)"
    [ "$c" -ge "$n" ] && break
  done
  local bb1 sb1
  bb1="$(proc_cpu "$bb_pid")"; sb1="$(proc_cpu "$sb_pid")"
  host_mark_end
  # wrk runs until -d or SIGINT; mtbatch exits by itself once bearerbox has acknowledged all
  [ "$inject" = sendsms ] && { kill -INT "$(pgrep -P "$injpid" wrk || echo "$injpid")" 2> /dev/null || true; }
  for _ in $(seq 1 100); do kill -0 "$injpid" 2> /dev/null || break; sleep 0.1; done
  kill "$injpid" 2> /dev/null || true
  wait "$injpid" 2> /dev/null || true
  local inj_cpu
  inj_cpu="$(awk '/^[0-9.]+ [0-9.]+$/ { s = $1 + $2 } END { printf "%.2f", s }' "$tmp/kannel/inj.time" 2> /dev/null || echo 0)"
  sleep 1.2
  local label="Kannel $kannel_version, $inject (MPS $kannel_mps)"
  python3 - "$tmp/access.log" "$n" "$t0" "$(python3 -c "print($bb1 - $bb0)")" \
    "$(python3 -c "print($sb1 - $sb0)")" "$inj_cpu" "$inject" "$ours" "$label" > "$tmp/kannel/result" << 'EOF'
import sys, urllib.parse
log, n, t0, bb, sb, inj, inject, ours, label = sys.argv[1:]
n, t0, bb, sb, inj, ours = int(n), float(t0), float(bb), float(sb), float(inj), float(ours)
rows = [l.split() for l in open(log) if " /send?" in l]
rows.sort(key=lambda r: float(r[0]))
got = rows[:n]
if len(got) < n:
    print(f"kannel ({inject}): INCOMPLETE, {len(got)} of {n} messages reached the carrier")
    print(f"SUMMARY {label:<44} incomplete: {len(got)} of {n}")
    sys.exit()
first, last = float(got[0][0]), float(got[-1][0])
tos = {urllib.parse.parse_qs(urllib.parse.urlsplit(r[2]).query).get("to", [""])[0] for r in got}
non200 = sum(1 for r in got if r[1] != "200")
rate = n / (last - t0)
boxes = bb + sb
print(f"kannel ({inject}): {n} messages in {last - t0:.2f}s from the injector's launch to the "
      f"last arrival = {rate:.0f}/s; at the carrier first->last {(n - 1) / (last - first):.0f}/s")
print(f"  CPU: bearerbox {bb:.2f}s = {bb / n * 1e6:.1f} us/message"
      + (f", smsbox {sb:.2f}s = {sb / n * 1e6:.1f} us/message" if inject == "sendsms" else "")
      + f"; injector ({inject}) {inj:.2f}s")
print(f"  checks: {len(tos)} distinct recipients of {n}, {non200} answers not 200"
      + ("" if len(tos) == n and non200 == 0 else "  <-- FAILED"))
if ours > 0:
    print(f"  pigeon one per request {ours:.0f}/s vs Kannel ({inject}) {rate:.0f}/s: ratio {ours / rate:.2f}")
cpu = f"CPU {boxes / n * 1e6:6.1f} us/msg (bearerbox" + (" + smsbox)" if inject == "sendsms" else ")")
print(f"SUMMARY {label:<44} {rate:9.0f}/s   {cpu}")
EOF
  grep -v '^SUMMARY ' "$tmp/kannel/result"
  host_report "$(python3 -c "print($bb1 - $bb0 + $sb1 - $sb0)")"
  summary+=("$(sed -n 's/^SUMMARY //p' "$tmp/kannel/result")")
  if [ "$inject" = mtbatch ]; then
    kannel_rate="$(sed -n 's/^kannel.* = \([0-9]*\)\/s; at the carrier.*/\1/p' "$tmp/kannel/result")"
  fi
}

kannel_rate=""
if [[ $phases == *3* ]]; then
  echo
  missing=""
  for b in bearerbox smsbox mtbatch wrk; do command -v "$b" > /dev/null || missing="$missing $b"; done
  if [ -n "$missing" ]; then
    echo "== 3. Kannel: skipped, not installed:$missing (scripts/bootstrap.sh installs kannel, kannel-extras, wrk)"
  else
    kannel_version="$(bearerbox --version 2>&1 | sed -n "s/.*bearerbox version \`\(.*\)'.*/\1/p" | head -1)"
    echo "== 3. Kannel $kannel_version (Debian $(dpkg-query -W -f='${Version}' kannel 2> /dev/null)): $n messages into the same nginx; injectors: $kannel_inject"
    mkdir -p "$tmp/kannel"
    kadmin="$(free_port)"; kbox="$(free_port)"; ksendsms="$(free_port)"; ksmsc="$(free_port)"
    sed -e "s/^admin-port = .*/admin-port = $kadmin/" \
      -e "s/^smsbox-port = .*/smsbox-port = $kbox/" \
      -e "s/^bearerbox-port = .*/bearerbox-port = $kbox/" \
      -e "s/^sendsms-port = .*/sendsms-port = $ksendsms/" \
      -e "s/^port = .*/port = $ksmsc/" \
      -e "s#http://127\.0\.0\.1:18080/#http://127.0.0.1:$port/#" \
      -e "s/^max-pending-submits = .*/max-pending-submits = $kannel_mps/" \
      "$root/scripts/kannel/kannel.conf" > "$tmp/kannel/kannel.conf"
    printf '%s' "Your verification code is 482913. It expires in 10 minutes. Do not share" > "$tmp/kannel/content.txt"
    python3 -c "print('\n'.join(f'86139{i:08d}' for i in range($n)))" > "$tmp/kannel/receivers.txt"
    (cd "$tmp/kannel" && exec bearerbox -v 2 kannel.conf) > "$tmp/kannel/bearerbox.stderr" 2>&1 &
    bb_pid=$!
    pids+=("$bb_pid")
    wait_port "$kbox" || { tail -5 "$tmp/kannel/bearerbox.stderr"; echo "bearerbox did not start"; exit 1; }
    (cd "$tmp/kannel" && exec smsbox -v 2 kannel.conf) > "$tmp/kannel/smsbox.stderr" 2>&1 &
    sb_pid=$!
    pids+=("$sb_pid")
    wait_port "$ksendsms" || { tail -5 "$tmp/kannel/smsbox.stderr"; echo "smsbox did not start"; exit 1; }
    # warm-up: one message end to end (the SMSC connects, smsbox is on line)
    for _ in $(seq 1 100); do
      curl -s --max-time 2 "http://127.0.0.1:$ksendsms/cgi-bin/sendsms?username=bench&password=bench&from=4915550000&to=490000000001&text=warmup" 2> /dev/null | grep -q Accepted && break
      sleep 0.1
    done
    for _ in $(seq 1 100); do
      kill -USR1 "$(cat "$tmp/nginx.pid")"
      sleep 0.1
      [ "$(sends_at_carrier)" -ge 1 ] && break
    done
    [ "$(sends_at_carrier)" -ge 1 ] || { echo "Kannel's warm-up message never reached the carrier"; exit 1; }
    for inject in $kannel_inject; do kannel_run "$inject"; done
    kill "$sb_pid" "$bb_pid" 2> /dev/null || true
    wait "$sb_pid" "$bb_pid" 2> /dev/null || true
  fi
fi

if [[ $phases == *4* ]]; then
  echo
  echo "== 4. batch mode: $n messages, $batch per request, $batch_concurrency requests in flight"
  [ -z "$load_echo" ] && echo "(no nginx echo module: fixed replies of $batch items)"
  write_config ", batch: $batch, batch_id_pointer: /ref" "$batch_concurrency" batch
  engine_phase 4 "pigeon, batch $batch per request (c=$batch_concurrency)" /batch
  batch_rate="$rate"
  "$pigeon" --config "$tmp/pigeon.yaml" status 2> /dev/null | grep -E "submitted|failed" | head -4 || true
fi

if [[ $phases == *c* ]]; then
  read -r cg_small cg_large <<< "$callgrind_n"
  [ "$cg_large" -le "$n" ] || { echo "callgrind sizes ($callgrind_n) must not exceed N ($n)"; exit 1; }
  cg_dir="${PIGEON_BENCH_CALLGRIND_KEEP:-$tmp}"
  mkdir -p "$cg_dir"
  for mode in 1 4; do
    echo
    if [ "$mode" = 1 ]; then
      echo "== c1. callgrind, one message per request (concurrency $concurrency): $cg_small and $cg_large messages"
      write_config "" "$concurrency"
    else
      echo "== c4. callgrind, batch mode ($batch per request, $batch_concurrency in flight): $cg_small and $cg_large messages"
      write_config ", batch: $batch, batch_id_pointer: /ref" "$batch_concurrency" batch
    fi
    for c in $cg_small $cg_large; do
      callgrind_out="$cg_dir/callgrind-$mode-$c.out"
      run_engine "c$mode" "$c" > /dev/null
      callgrind_out=""
    done
    python3 "$root/scripts/callgrind_slope.py" "$cg_dir/callgrind-$mode-$cg_small.out" "$cg_small" \
      "$cg_dir/callgrind-$mode-$cg_large.out" "$cg_large" 25 | tee "$tmp/cg-$mode.txt"
    summary+=("$(printf '%-44s %s' "callgrind, $([ "$mode" = 1 ] && echo "1 per request" || echo "batch $batch")" \
      "$(sed -n 's/^instructions per message: \([0-9,]*\).*/\1 instructions per message (all threads)/p' "$tmp/cg-$mode.txt")")")
  done
fi

echo
echo "== summary (one run, same nginx; load average now $(cut -d' ' -f1-3 /proc/loadavg))"
for line in "${summary[@]}"; do echo "  $line"; done
if [ -n "$kannel_rate" ] && [ "$ours" != 0 ]; then
  python3 -c "print(f'  pigeon one per request / Kannel mtbatch: {$ours / $kannel_rate:.2f} (target >= 1.5)')"
fi
[ -n "${batch_rate:-}" ] && echo "  batch mode: ${batch_rate}/s (target >= 100000/s)"
exit 0
