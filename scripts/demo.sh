#!/usr/bin/env bash
# The whole demo on a fresh Debian 12 machine: install, build, import the example contacts,
# apply the example campaigns, run the engine against the built-in carrier simulator until
# everything due is sent, and show `pigeon status`.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/bootstrap.sh
cmake --preset release >/dev/null
cmake --build --preset release -j "$(nproc)" --target pigeon

pigeon=build/release/engine/cli/pigeon
config=config/examples/engine/pigeon.yaml
export PIGEON_CONFIG=$config

rm -f var/demo.db var/demo.db-wal var/demo.db-shm
mkdir -p var
$pigeon contacts import config/examples/contacts.csv
for campaign in config/examples/*.yaml; do
  $pigeon campaign apply "$campaign"
done
$pigeon serve --until-idle
echo
$pigeon status || true   # exit code 1/2 means warning/critical; the demo shows it either way
echo
echo "Every message: $pigeon --config $config messages"
