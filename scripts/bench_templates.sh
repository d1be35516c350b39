#!/usr/bin/env bash
# Benchmarks templates/: render + encode + count for a 60-character template with 3 variables,
# one core. Builds an optimised (RelWithDebInfo, -O2) templates_bench in its own build folder.
# Usage: scripts/bench_templates.sh [ITERATIONS]   (default 20000000 per case)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="${PIGEON_BENCH_BUILD_DIR:-$root/build/bench-templates}"
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo > /dev/null
cmake --build "$build" --target templates_bench > /dev/null
cpu="$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
echo "machine: $cpu, $(nproc) cores; $(uname -sr); $(c++ --version | head -1)"
# Pin to one core where taskset exists.
if command -v taskset > /dev/null; then
  exec taskset -c 0 "$build/tests/templates/templates_bench" "${1:-20000000}"
fi
exec "$build/tests/templates/templates_bench" "${1:-20000000}"
