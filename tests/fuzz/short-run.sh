#!/bin/sh
# A short libFuzzer run from the seeds, for the default test suite (ctest
# fuzz_short.*).  New corpus entries go to a private temporary folder that is
# removed afterwards; the seed folder is only read.  A crash, a sanitizer
# report or a broken invariant fails the test; its input is kept in
# ./fuzz-artifacts/ (the build's tests folder).
#   tests/fuzz/short-run.sh FUZZER SEEDS RUNS
# SPDX-License-Identifier: GPL-2.0-or-later
set -u
fuzzer=$1 seeds=$2 runs=$3
work=$(mktemp -d /tmp/smtp-fuzz-short.XXXXXX) || exit 1
trap 'rm -rf "$work"' EXIT
mkdir -p fuzz-artifacts
name=$(basename "$fuzzer")
# -seed fixed: the same executions every time (unless the 20 s cap cuts them)
"$fuzzer" -runs="$runs" -max_total_time=20 -seed=1 -max_len=4096 -timeout=10 -print_final_stats=1 \
    -artifact_prefix="fuzz-artifacts/$name-" "$work" "$seeds" >"$work/log" 2>&1
rc=$?
# the progress lines are long and many: keep the summary
grep -v '^#[0-9]' "$work/log"
exit $rc
