#!/bin/sh
# Runs the end-to-end tests with the plugin built in BUILD (default: build).
# Usage: tests/run-e2e.sh [BUILD] [run_e2e.py options: -k SUBSTRING, -j N,
#        --full, --update, --slowest N]
# SMTP_TEST_FULL=1 is --full; SMTP_TEST_JOBS=N is -j N.
here=$(cd "$(dirname "$0")" && pwd)
build=${1:-build}
[ $# -gt 0 ] && shift
exec python3 "$here/e2e/run_e2e.py" "$build" "$@"
