#!/bin/sh
# The test suite: installs what is missing, builds with -Werror, runs the
# engine's unit tests (ctest) and the end-to-end tests (real tshark with the
# plugin on testdata/ and, when present, ../shared/corpus or $SMTP_CORPUS).
#
# Usage: scripts/test.sh [--full] [BUILD]   (default build dir: build-test)
#
# The default run takes at most 15 minutes on a 2-core machine: the long
# sweeps are sampled deterministically.  --full (or SMTP_TEST_FULL=1) runs
# them all: every re-cut of every capture, valgrind on every capture, and
# libFuzzer on each target for SMTP_FUZZ_SECONDS (default 300) seconds
# (tests/tools/fuzz.sh; needs clang).  SMTP_TEST_JOBS sets how many end-to-end
# tests run at once (default 2).
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
full=${SMTP_TEST_FULL:-0}
while [ $# -gt 0 ]; do
    case $1 in
    --full) full=1; shift ;;
    -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
    -*) echo "unknown option $1" >&2; exit 2 ;;
    *) break ;;
    esac
done
[ "$full" = 1 ] && { SMTP_TEST_FULL=1; export SMTP_TEST_FULL; }
build=${1:-$top/build-test}
"$top/scripts/build.sh" "$build"
status=0
echo "== unit tests (ctest)"
(cd "$build" && ctest -j"${SMTP_TEST_JOBS:-2}" --output-on-failure) || status=1
if [ "$full" = 1 ]; then
    echo "== fuzzing (tests/tools/fuzz.sh, ${SMTP_FUZZ_SECONDS:-300} s per target)"
    if command -v clang >/dev/null; then
        "$top/tests/tools/fuzz.sh" "${SMTP_FUZZ_SECONDS:-300}" || status=1
    else
        echo "skip fuzzing: no clang (apt-get install clang libclang-rt-14-dev)"
    fi
fi
# last, so that its summary 'N passed, N failed, N skipped' is the last line
echo "== end-to-end tests (tshark $(cat "$build/wireshark-version.txt") with the plugin)"
"$top/tests/run-e2e.sh" "$build" || status=1
exit $status
