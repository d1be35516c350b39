#!/usr/bin/env bash
# Installs every build and test dependency of pigeon from Debian 12 packages.
# Idempotent: a second run installs nothing new. Needs root (or sudo).
set -euo pipefail

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive

PACKAGES=(
  build-essential cmake ninja-build pkg-config git
  libboost1.81-dev libboost-json1.81-dev libboost-url1.81-dev libboost-system1.81-dev
  libboost-thread1.81-dev
  libcurl4-openssl-dev libyaml-cpp-dev libsqlite3-dev sqlite3 doctest-dev
  libpq-dev postgresql-15       # the PostgreSQL store; tests start a throwaway cluster (initdb)
  libfmt-dev libspdlog-dev libcli11-dev
  libhowardhinnant-date-dev tzdata libssl-dev
  libprotobuf-dev libicu-dev
  libtcmalloc-minimal4        # the pigeon binary's allocator (engine/cli/CMakeLists.txt)
  kannel kannel-extras          # scripts/bench_dispatch.sh: bearerbox, smsbox, mtbatch
  wrk python3 nginx
  libnginx-mod-http-echo        # bench_dispatch.sh batch mode: nginx answers with the request body
  valgrind                      # bench_dispatch.sh phase c: instructions per message (callgrind)
  clang-14 libclang-rt-14-dev   # scripts/fuzz.sh: libFuzzer and sanitizers
  chromium                      # tests/integration/report_flows.py renders the HTML report
)
# Node.js runs the segment-calculator oracle and the Prism mock; some images ship their own
# node with npm bundled, which conflicts with Debian's npm package.
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then PACKAGES+=(nodejs npm); fi

missing=()
for p in "${PACKAGES[@]}" libphonenumber-dev; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

# The Prism mock for the Twilio contract test, project-local (no root needed).
install_prism() { "$(dirname "$0")/install_prism.sh"; }

if [ ${#missing[@]} -eq 0 ]; then
  echo "bootstrap: all dependencies present"
  install_prism
  exit 0
fi
echo "bootstrap: installing ${missing[*]}"

# A fresh machine's package lists are stale.
$SUDO apt-get update -q

$SUDO apt-get install -y -q --no-install-recommends "${PACKAGES[@]}"

# libphonenumber-dev depends on libboost-thread-dev (Boost 1.74), which conflicts with the
# Boost 1.81 we build against. Its headers need no Boost, so a tiny local package named
# libboost-thread-dev that depends on the 1.81 one satisfies the dependency.
if ! dpkg-query -W -f='${Status}' libphonenumber-dev 2>/dev/null | grep -q "install ok installed"; then
  if ! dpkg-query -W -f='${Version}' libboost-thread-dev 2>/dev/null | grep -q '1.81.0.0~local1'; then
    work=$(mktemp -d)
    mkdir -p "$work/pkg/DEBIAN"
    cat >"$work/pkg/DEBIAN/control" <<CONTROL
Package: libboost-thread-dev
Version: 1.81.0.0~local1
Architecture: all
Maintainer: pigeon <pigeon@localhost>
Depends: libboost-thread1.81-dev
Description: local shim so libphonenumber-dev installs beside Boost 1.81
CONTROL
    dpkg-deb --build "$work/pkg" "$work/libboost-thread-dev_1.81.0.0~local1_all.deb" >/dev/null
    $SUDO dpkg -i "$work/libboost-thread-dev_1.81.0.0~local1_all.deb"
    rm -rf "$work"
  fi
  $SUDO apt-get install -y -q --no-install-recommends libphonenumber-dev
fi
install_prism
echo "bootstrap: done"
