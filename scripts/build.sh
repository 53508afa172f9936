#!/bin/sh
# Builds the engine, its unit tests and the plugin into BUILD (default: build).
# Usage: scripts/build.sh [BUILD] [extra cmake -D options]
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$top/build}
[ $# -gt 0 ] && shift
"$top/scripts/deps.sh"
cmake -S "$top" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSMTP_WERROR=ON "$@" >/dev/null
cmake --build "$build" -j"$(nproc)"
