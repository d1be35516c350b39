#!/usr/bin/env bash
# Installs Stoplight Prism (the OpenAPI validating mock the Twilio contract test runs) into
# build/tools/prism, project-local, without root. Idempotent: nothing is fetched when the pinned
# version is already there. Prism 5.14.2 is the last release that runs on Debian 12's node 20.
set -euo pipefail

VERSION=5.14.2
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PREFIX="$ROOT/build/tools/prism"
BIN="$PREFIX/node_modules/.bin/prism"

if [ -x "$BIN" ] && [ "$("$BIN" --version 2>/dev/null)" = "$VERSION" ]; then
  echo "install_prism: prism $VERSION present"
  exit 0
fi
if ! command -v npm >/dev/null; then
  echo "install_prism: npm is missing (scripts/bootstrap.sh installs it)" >&2
  exit 1
fi
mkdir -p "$PREFIX"
npm install --prefix "$PREFIX" --no-audit --no-fund --loglevel=error "@stoplight/prism-cli@$VERSION"
echo "install_prism: prism $("$BIN" --version) in $PREFIX"
