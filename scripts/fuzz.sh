#!/usr/bin/env bash
# libFuzzer runs of the parsers that read outside input: templates, campaign and engine config
# YAML, carrier webhooks and replies (every codec kind), the segment counter, the contacts CSV,
# and the decoding of stored rows (JSON columns a damaged database may hold).
#   scripts/fuzz.sh --short           # CI: 20 s per target
#   scripts/fuzz.sh [SECONDS] [TARGET...]   # on demand, default 600 s per target, all targets
# Builds build/fuzz with clang (-O2, asserts on; ASan + UBSan + libFuzzer coverage in the code
# under test). Seeds are in tests/fuzz/corpus/<target>/; what a run learns is kept in
# build/fuzz/corpus/<target>/ and
# crashes are written to build/fuzz/crashes/ (the script exits non-zero on any).
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=600
if [ "${1:-}" = "--short" ]; then
  seconds=20
  shift
elif [[ "${1:-}" =~ ^[0-9]+$ ]]; then
  seconds=$1
  shift
fi
targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=(template campaign_config engine_config webhook segments contacts_csv stored_rows)

# Sanitizers and coverage are set per target in tests/fuzz/CMakeLists.txt; asserts stay on.
cc=$(command -v clang || command -v clang-14)
cxx=$(command -v clang++ || command -v clang++-14)
CC=$cc CXX=$cxx cmake -S . -B build/fuzz -G Ninja -DCMAKE_BUILD_TYPE=None -DCMAKE_CXX_FLAGS=-O2 \
  -DCMAKE_EXE_LINKER_FLAGS= -DPIGEON_FUZZ=ON -DBUILD_TESTING=OFF >/dev/null
cmake --build build/fuzz -j "$(nproc)" --target "${targets[@]/#/fuzz_}"

mkdir -p build/fuzz/crashes
status=0
for t in "${targets[@]}"; do
  mkdir -p "build/fuzz/corpus/$t"
  echo "== fuzz_$t: ${seconds}s"
  if ! ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
      "build/fuzz/tests/fuzz/fuzz_$t" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
      -max_len=4096 -artifact_prefix="build/fuzz/crashes/$t-" -print_final_stats=1 \
      "build/fuzz/corpus/$t" "tests/fuzz/corpus/$t" 2>"build/fuzz/$t.log"; then
    echo "fuzz_$t FAILED: see build/fuzz/$t.log and build/fuzz/crashes/"
    tail -40 "build/fuzz/$t.log"
    status=1
  else
    grep -E "^stat::(number_of_executed_units|new_units_added)" "build/fuzz/$t.log" | tr '\n' ' '
    echo
  fi
done
exit $status
