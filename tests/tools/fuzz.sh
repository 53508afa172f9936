#!/bin/sh
# Builds the engine's libFuzzer targets (clang, ASan+UBSan) and runs each.
#   tests/tools/fuzz.sh [options] [SECONDS]      SECONDS per target, default 60
# Options:
#   --runs N      stop each target after N executions instead (SECONDS then
#                 still caps the time; 0 = no cap)
#   --target T    only fuzz_T (session, parse or auth); repeatable
#   --plant N     build with the planted bug N (1: off-by-one in the line
#                 framer, 2: missed transition out of BDAT) and fuzz from the
#                 seeds alone, with a fresh corpus: succeeds when the fuzzer
#                 finds it, and prints the time it took
#   --jobs N      parallel fuzzing jobs per target (default 1)
# Environment: BUILD (build dir, default /tmp/build-fuzz, with --plant
# /tmp/build-fuzz-plantN).  New corpus entries go to $BUILD/corpus/<target>;
# crashes to $BUILD/crashes/<target>; the seeds in tests/fuzz/corpus are
# only read.  The run's statistics (-print_final_stats) end each log,
# $BUILD/fuzz-<target>.log.
# SPDX-License-Identifier: GPL-2.0-or-later
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
secs=60 runs=0 plant=0 jobs=1 targets=""
while [ $# -gt 0 ]; do
    case $1 in
    --runs) runs=$2; shift 2 ;;
    --plant) plant=$2; shift 2 ;;
    --jobs) jobs=$2; shift 2 ;;
    --target) targets="$targets $2"; shift 2 ;;
    -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
    -*) echo "unknown option $1" >&2; exit 2 ;;
    *) secs=$1; shift ;;
    esac
done
[ -n "$targets" ] || targets="session parse auth"
if [ "$plant" != 0 ]; then
    build=${BUILD:-/tmp/build-fuzz-plant$plant}
else
    build=${BUILD:-/tmp/build-fuzz}
fi

command -v clang >/dev/null || { echo "needs clang and libclang-rt-14-dev" >&2; exit 2; }
CC=clang cmake -S "$root" -B "$build" -DSMTP_BUILD_PLUGIN=OFF -DSMTP_FUZZ=ON \
    -DSMTP_PLANT_BUG="$plant" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" --target fuzzers >/dev/null

status=0
for t in $targets; do
    crashes=$build/crashes/$t
    mkdir -p "$crashes"
    if [ "$plant" != 0 ]; then
        corpus=$(mktemp -d "$build/corpus-plant-$t.XXXXXX")
    else
        corpus=$build/corpus/$t
        mkdir -p "$corpus"
    fi
    log=$build/fuzz-$t.log
    echo "== fuzz_$t: ${secs}s cap, runs $runs (0: no limit), plant $plant, log $log"
    limit="-max_total_time=$secs"
    [ "$secs" = 0 ] && limit=""
    par=""
    [ "$jobs" -gt 1 ] && par="-jobs=$jobs -workers=$jobs"
    start=$(date +%s.%N)
    rc=0
    # shellcheck disable=SC2086
    "$build/tests/fuzz_$t" $limit -runs="$( [ "$runs" = 0 ] && echo -1 || echo "$runs")" \
        -max_len=4096 -timeout=10 $par -print_final_stats=1 \
        -artifact_prefix="$crashes/" "$corpus" "$root/tests/fuzz/corpus/$t" \
        >"$log" 2>&1 || rc=$?
    end=$(date +%s.%N)
    took=$(echo "$end - $start" | bc)
    grep -E '^(stat::|Done |==[0-9]+==ERROR|SUMMARY|invariant failed|event logs differ|#[0-9]+ *(INITED|DONE))' "$log" || true
    if [ "$plant" != 0 ]; then
        if [ $rc != 0 ]; then
            echo "fuzz_$t found planted bug $plant after ${took}s: $(ls -t "$crashes" | head -1)"
        else
            echo "fuzz_$t did NOT find planted bug $plant in ${took}s" >&2
            status=1
        fi
        rm -rf "$corpus"
    elif [ $rc != 0 ]; then
        echo "fuzz_$t found a problem after ${took}s: see $crashes/ and $log" >&2
        status=1
    else
        echo "fuzz_$t: clean, ${took}s"
    fi
done
exit $status
