#!/bin/sh
# Line and branch coverage of the engine by a fuzz target's corpus (llvm-cov).
#   tests/fuzz/coverage.sh TARGET CORPUS-DIR...     TARGET: session, parse or auth
# Builds the target's replay program with clang source-based coverage into
# $BUILD (default /tmp/build-fuzz-cov), replays every input of the folders
# and prints llvm-cov's report for src/*.c.  Only files in $BUILD are written.
# SPDX-License-Identifier: GPL-2.0-or-later
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
t=$1; shift
build=${BUILD:-/tmp/build-fuzz-cov}
mkdir -p "$build"
extra=""
[ "$t" = session ] && extra="$root/tests/unit/evlog.c"
# shellcheck disable=SC2086
clang -std=c11 -O1 -g -fprofile-instr-generate -fcoverage-mapping \
    -I"$root/src" -I"$root/tests/unit" "$root/tests/fuzz/run_corpus.c" \
    "$root/tests/fuzz/fuzz_$t.c" $extra "$root"/src/*.c -o "$build/cov_$t"
rm -f "$build/cov_$t.profraw"
LLVM_PROFILE_FILE="$build/cov_$t.profraw" "$build/cov_$t" "$@"
llvm-profdata merge -sparse "$build/cov_$t.profraw" -o "$build/cov_$t.profdata"
llvm-cov report "$build/cov_$t" -instr-profile="$build/cov_$t.profdata" "$root"/src/*.c
