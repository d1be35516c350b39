#!/usr/bin/env bash
# Benchmarks providers/: CPU per submit request built and per webhook authenticated and parsed,
# per carrier kind, one core. Builds an optimised (RelWithDebInfo, -O2) providers_bench in its
# own build folder. Usage: scripts/bench_providers.sh [ITERATIONS]   (default 200000 per operation)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="${PIGEON_BENCH_BUILD_DIR:-$root/build/bench-providers}"
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo > /dev/null
cmake --build "$build" --target providers_bench > /dev/null
cpu="$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
echo "machine: $cpu, $(nproc) cores; $(uname -sr); $(c++ --version | head -1)"
# Pin to one core where taskset exists.
if command -v taskset > /dev/null; then
  exec taskset -c 0 "$build/tests/providers/providers_bench" "${1:-200000}"
fi
exec "$build/tests/providers/providers_bench" "${1:-200000}"
