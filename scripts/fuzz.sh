#!/bin/sh
# Builds the engine's libFuzzer targets with clang and runs each for a while.
#   scripts/fuzz.sh [seconds per target, default 60]
# Environment: BUILD (build dir, default /tmp/build-fuzz), JOBS (parallel
# fuzzing jobs per target, default 1).  New corpus entries go to
# $BUILD/corpus/<target>; crashes to $BUILD/crashes/<target>.
# SPDX-License-Identifier: GPL-2.0-or-later
set -eu
secs=${1:-60}
root=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD:-/tmp/build-fuzz}
jobs=${JOBS:-1}

CC=clang cmake -S "$root" -B "$build" -DSMTP_BUILD_PLUGIN=OFF -DSMTP_FUZZ=ON \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" --target fuzz_session fuzz_parse -j"$(nproc)"

status=0
for t in session parse; do
    mkdir -p "$build/corpus/$t" "$build/crashes/$t"
    echo "== fuzz_$t for ${secs}s"
    par=""
    [ "$jobs" -gt 1 ] && par="-jobs=$jobs -workers=$jobs"
    # shellcheck disable=SC2086
    if ! "$build/tests/fuzz_$t" -max_total_time="$secs" -max_len=4096 -timeout=10 \
            $par -print_final_stats=1 \
            -artifact_prefix="$build/crashes/$t/" \
            "$build/corpus/$t" "$root/tests/fuzz/corpus/$t"; then
        echo "fuzz_$t found a problem: see $build/crashes/$t/" >&2
        status=1
    fi
done
exit $status
