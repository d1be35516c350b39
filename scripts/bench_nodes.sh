#!/usr/bin/env bash
# Several `pigeon serve` nodes on one PostgreSQL (docs/BENCHMARKS.md "Several nodes"): one, two and
# three nodes on this machine send one campaign of N messages to a fast local carrier (nginx on
# loopback, one worker, answering every request with a fresh carrier id), through an unpaced
# generic-http lane, each node `serve --until-idle --node nK` on the same database.
#
# Per run: wall time from the nodes' start to the last one's exit, the carrier's rate (nginx's
# access log), each node's CPU (user+sys from /usr/bin/time) per message it sent, and
# PostgreSQL's CPU per message: the server's processes together (the postmaster, its background
# processes, and the backends serving the nodes, counted when they exit through the postmaster's
# children times). From those per-message costs the run ends with the paper estimate of what N
# nodes (one machine each) and one PostgreSQL server would carry.
#
# The cluster: Debian's postgresql-15 (scripts/bootstrap.sh), initdb into the temp dir, Unix
# socket only, fsync and synchronous_commit on (every intent and outcome durable, as in
# production), shared_buffers 256MB. Host load is printed beside every figure: on a shared
# machine prefer the CPU per message to wall-clock rates.
#
# Usage: scripts/bench_nodes.sh [N]   (default 30000). Builds the release preset's pigeon unless
# PIGEON=<binary> or PIGEON_BENCH_NO_BUILD=1. Environment: PIGEON_BENCH_NODES (default "1 2 3"),
# PIGEON_BENCH_CONCURRENCY (each node's lane, default 64), PIGEON_PG_BIN (initdb, pg_ctl).
# Everything runs on 127.0.0.1 and a socket in a temp dir.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
# shellcheck source=scripts/lib/nginx_carrier.sh
source "$root/scripts/lib/nginx_carrier.sh"
# shellcheck source=scripts/lib/bench_blast.sh
source "$root/scripts/lib/bench_blast.sh"
n="${1:-30000}"
node_counts="${PIGEON_BENCH_NODES:-1 2 3}"
concurrency="${PIGEON_BENCH_CONCURRENCY:-64}"
build="${PIGEON_BENCH_BUILD_DIR:-$root/build/release}"
if [ -z "${PIGEON_BENCH_NO_BUILD:-}" ] && [ -z "${PIGEON:-}" ]; then
  cmake --preset release > /dev/null
  cmake --build "$build" --target pigeon > /dev/null
fi
pigeon="${PIGEON:-$build/engine/cli/pigeon}"
pg_bin="${PIGEON_PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)}"
tmp="$(mktemp -d /tmp/pigeon-bench-nodes-XXXXXX)"
as_pg=()
if [ "$(id -u)" = 0 ]; then
  as_pg=(runuser -u postgres --)
  chown postgres "$tmp"
fi
cleanup() {
  [ -f "$tmp/nginx.pid" ] && kill "$(cat "$tmp/nginx.pid")" 2> /dev/null || true
  [ -d "$tmp/pg" ] && "${as_pg[@]}" "$pg_bin/pg_ctl" -D "$tmp/pg" -m immediate -w stop > /dev/null 2>&1 || true
  rm -rf "$tmp"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
tck="$(getconf CLK_TCK)"
# PostgreSQL's CPU seconds so far: the postmaster with its reaped children (backends that
# exited), plus its live children.
pg_cpu() {
  local pm
  pm="$(head -1 "$tmp/pg/postmaster.pid")"
  {
    sed 's/^.*) //' "/proc/$pm/stat" | awk '{ print $12 + $13 + $14 + $15 }'
    for c in $(pgrep -P "$pm"); do
      [ -r "/proc/$c/stat" ] && sed 's/^.*) //' "/proc/$c/stat" | awk '{ print $12 + $13 }'
    done
  } | awk -v t="$tck" '{ s += $1 } END { printf "%.2f\n", s / t }'
}
machine_busy() { awk -v t="$tck" '/^cpu /{ printf "%.2f\n", ($2+$3+$4+$7+$8)/t }' /proc/stat; }

cpu="$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
echo "machine: $cpu, $(nproc) cores; $(uname -sr); load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "pigeon: $pigeon ($(git -C "$root" rev-parse --short HEAD 2> /dev/null || echo '?'))"

# --- PostgreSQL ------------------------------------------------------------------------------
"${as_pg[@]}" "$pg_bin/initdb" -D "$tmp/pg" -U pigeon --auth=trust -E UTF8 --locale=C > /dev/null
"${as_pg[@]}" "$pg_bin/pg_ctl" -D "$tmp/pg" -l "$tmp/pg.log" -w -t 60 \
  -o "-k $tmp -c listen_addresses='' -c shared_buffers=256MB -c max_connections=100" start > /dev/null
echo "postgresql: $("$pg_bin/postgres" --version | sed 's/.*) //'), fsync on, socket $tmp"

# --- the carrier: nginx, one worker ----------------------------------------------------------
port="$(free_port)"
nginx_carrier_start "$tmp" "$port" ""
echo "carrier: nginx on 127.0.0.1:$port, one worker"

bench_blast_files "$tmp" "$n"

summary=()
for nodes in $node_counts; do
  db="bench$nodes"
  "${as_pg[@]}" "$pg_bin/psql" -X -q -h "$tmp" -U pigeon -d postgres -c "CREATE DATABASE $db"
  url="postgresql:///$db?host=$tmp&user=pigeon"
  cat > "$tmp/pigeon.yaml" << EOF
database: "$url"
listen: { webhooks: "127.0.0.1:0", admin: "127.0.0.1:0" }
default_timezone: UTC
default_region: CN
senders:
  shop: { signature: "[Shop]", route: [gateway] }
providers:
  gateway: { kind: generic-http, url: "http://127.0.0.1:$port/send", method: POST, format: json,
             body: '{"to":"{{to}}","text":"{{text}}","ref":"{{id}}"}',
             id_pointer: /message_id, concurrency: $concurrency }
EOF
  "$pigeon" --config "$tmp/pigeon.yaml" contacts import "$tmp/contacts.csv" > /dev/null
  "$pigeon" --config "$tmp/pigeon.yaml" campaign apply "$tmp/blast.yaml" > /dev/null
  kill -USR1 "$(cat "$tmp/nginx.pid")"
  sleep 0.3
  : > "$tmp/access.log"
  echo
  echo "== $nodes node(s), $n messages, lane concurrency $concurrency per node"
  pg0="$(pg_cpu)"; busy0="$(machine_busy)"; load0="$(cut -d' ' -f1 /proc/loadavg)"
  t0="$(date +%s.%N)"
  pids=()
  for i in $(seq 1 "$nodes"); do
    /usr/bin/time -f "%e %U %S" -o "$tmp/time$i" \
      "$pigeon" --config "$tmp/pigeon.yaml" serve --until-idle --node "n$i" \
      > "$tmp/serve$i.log" 2>&1 &
    pids+=($!)
  done
  for p in "${pids[@]}"; do wait "$p"; done
  t1="$(date +%s.%N)"
  sleep 1.2  # nginx flushes its log every second; the backends exit with their nodes
  pg1="$(pg_cpu)"; busy1="$(machine_busy)"
  sent=()
  for i in $(seq 1 "$nodes"); do
    sent+=("$(sed -n 's/.*engine stopped: [0-9]* claimed, \([0-9]*\) submitted.*/\1/p' "$tmp/serve$i.log" | tail -1)")
  done
  line="$(python3 - "$nodes" "$n" "$t0" "$t1" "$pg0" "$pg1" "$busy0" "$busy1" "$load0" "$tmp" "${sent[@]}" << 'EOF'
import sys
nodes, n = int(sys.argv[1]), int(sys.argv[2])
t0, t1, pg0, pg1, b0, b1 = map(float, sys.argv[3:9])
load, tmp, sent = sys.argv[9], sys.argv[10], [int(s or 0) for s in sys.argv[11:]]
wall = t1 - t0
stamps = sorted(float(l.split()[0]) for l in open(f"{tmp}/access.log") if l.strip())
span = stamps[-1] - stamps[0] if len(stamps) > 1 else 0
per_node, node_cpu = [], 0.0
for i in range(nodes):
    w, u, s = map(float, open(f"{tmp}/time{i + 1}").read().split()[-3:])
    node_cpu += u + s
    us = (u + s) / max(1, sent[i]) * 1e6
    per_node.append(f"n{i + 1}: {sent[i]} sent, CPU {u + s:.2f}s = {us:.0f} us/msg")
pg = pg1 - pg0
other = max(0.0, (b1 - b0) - node_cpu - pg)
print(f"{n / wall:.0f} {node_cpu / n * 1e6:.0f} {pg / n * 1e6:.0f} "
      f"wall {wall:.1f}s = {n / wall:.0f}/s; carrier saw {len(stamps)} requests"
      f" ({len(stamps) / span if span else 0:.0f}/s over {span:.1f}s)\n"
      + "\n".join(per_node) +
      f"\nnodes together: {node_cpu:.2f}s CPU = {node_cpu / n * 1e6:.0f} us/msg; "
      f"postgresql: {pg:.2f}s CPU = {pg / n * 1e6:.0f} us/msg "
      f"({pg / (pg + node_cpu) * 100:.0f}% of pigeon + postgresql)\n"
      f"host: load average {load} at the start; everything else used {other:.2f}s CPU "
      f"({other / wall:.2f} cores) meanwhile")
EOF
)"
  read -r rate node_us pg_us _ <<< "$line"
  echo "${line#* * * }"
  summary+=("$(printf '%d node(s): %6s msg/s wall   nodes %5s us/msg   postgresql %5s us/msg' \
    "$nodes" "$rate" "$node_us" "$pg_us")")
  last_node_us="$node_us"; last_pg_us="$pg_us"
done

echo
echo "== summary ($n messages per run)"
printf '%s\n' "${summary[@]}"
python3 - "$last_node_us" "$last_pg_us" << 'EOF'
import sys
node_us, pg_us = float(sys.argv[1]), float(sys.argv[2])
print(f"\non paper, from the last run's CPU per message (nodes {node_us:.0f} us, postgresql "
      f"{pg_us:.0f} us), ignoring lock waits and network round trips:")
for cores in (8, 16, 32):
    ceiling = cores * 1e6 / pg_us
    nodes = ceiling / (4 * 1e6 / node_us)
    print(f"  a {cores}-core PostgreSQL server saturates at ~{ceiling:,.0f} msg/s, reached by "
          f"~{nodes:.1f} nodes of 4 cores each ({4 * 1e6 / node_us:,.0f} msg/s per node)")
EOF
