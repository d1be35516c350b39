#!/usr/bin/env bash
# Installs dependencies, builds and runs the whole test suite.
#   scripts/test.sh            # the dev preset
#   scripts/test.sh dev asan   # several presets in turn (any presets from CMakePresets.json)
# Warnings are errors when CI=true. CI (.ci/run) runs the asan preset.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/bootstrap.sh

presets=("$@")
[ ${#presets[@]} -eq 0 ] && presets=(dev)
werror=OFF
[ "${CI:-}" = "true" ] && werror=ON
jobs=$(nproc)

for preset in "${presets[@]}"; do
  echo "== preset $preset: configure"
  cmake --preset "$preset" -DPIGEON_WERROR=$werror >/dev/null
  echo "== preset $preset: build"
  cmake --build --preset "$preset" -j "$jobs"
  echo "== preset $preset: test"
  ctest --preset "$preset" -j "$jobs" --timeout 600
done
