#!/usr/bin/env bash
# Benchmarks the store writer alone: thread CPU per message for the dispatch path's store work
# (claim, mark_submitting, record_outcomes, each in its transaction with serve's pragmas) on a
# real SQLite file in $TMPDIR, one thread, no network. Separates the writer's cost from the
# engine's other threads, which bench_dispatch.sh cannot on this shared machine.
# Usage: scripts/bench_store.sh [MESSAGES] [GROUP]   (default 50000 messages, groups of 64)
# Builds store_bench in the release preset's folder (PIGEON_BENCH_BUILD_DIR to change it).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="${PIGEON_BENCH_BUILD_DIR:-$root/build/release}"
if [ -z "${PIGEON_BENCH_BUILD_DIR:-}" ]; then cmake --preset release -S "$root" > /dev/null; fi
cmake --build "$build" --target store_bench > /dev/null
echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores"
exec "$build/tests/store/store_bench" "${1:-50000}" "${2:-64}"
