#!/bin/sh
# The whole test suite: installs what is missing, builds with -Werror, runs
# the engine's unit tests (ctest) and the end-to-end tests (real tshark with
# the plugin on testdata/ and, when present, ../shared/corpus).
# Usage: scripts/test.sh [BUILD]   (default build dir: build-test)
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$top/build-test}
"$top/scripts/build.sh" "$build"
status=0
echo "== unit tests (ctest)"
(cd "$build" && ctest --output-on-failure) || status=1
echo "== end-to-end tests (tshark $(cat "$build/wireshark-version.txt") with the plugin)"
"$top/tests/run-e2e.sh" "$build" || status=1
exit $status
