#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for tests and benchmarks (Debian postgresql-15, installed by
# scripts/bootstrap.sh). The server listens on a Unix socket in DIR only (no TCP port: nothing
# to collide with, nothing reachable from off the machine), with fsync off; user `pigeon`, trust
# authentication. As root, initdb and the server run as user `postgres` (PostgreSQL refuses
# root).
#   scripts/pg_test_cluster.sh start DIR   # initdb DIR/data and start; prints the libpq host
#   scripts/pg_test_cluster.sh stop DIR    # stop the server and remove DIR
# Connect with: host=DIR user=pigeon dbname=postgres (or any database you create).
# PIGEON_PG_BIN overrides the directory of initdb and pg_ctl (default: the newest
# /usr/lib/postgresql/*/bin).
set -euo pipefail
action=${1:?start|stop}
dir=${2:?directory}

bin=${PIGEON_PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)}
if [ -z "$bin" ] || [ ! -x "$bin/initdb" ]; then
  echo "pg_test_cluster: no PostgreSQL server under /usr/lib/postgresql (scripts/bootstrap.sh" \
       "installs postgresql-15; or set PIGEON_PG_BIN)" >&2
  exit 1
fi
as_server() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

case $action in
  start)
    if [ -f "$dir/data/postmaster.pid" ] && as_server "$bin/pg_ctl" -D "$dir/data" status >/dev/null 2>&1; then
      echo "$dir"; exit 0
    fi
    rm -rf "$dir"
    mkdir -p "$dir"
    [ "$(id -u)" = 0 ] && chown postgres: "$dir"
    if ! as_server "$bin/initdb" -D "$dir/data" -U pigeon --auth=trust -E UTF8 --locale=C \
         --no-sync >"$dir/initdb.log" 2>&1; then
      cat "$dir/initdb.log" >&2; exit 1
    fi
    if ! as_server "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
         -o "-k $dir -c listen_addresses='' -c fsync=off -c full_page_writes=off -c max_connections=300 -c shared_buffers=64MB" \
         start >/dev/null 2>&1; then
      cat "$dir/server.log" >&2; exit 1
    fi
    echo "$dir"
    ;;
  stop)
    if [ -d "$dir/data" ]; then
      as_server "$bin/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true
    fi
    rm -rf "$dir"
    ;;
  *) echo "usage: $0 start|stop DIR" >&2; exit 2 ;;
esac
