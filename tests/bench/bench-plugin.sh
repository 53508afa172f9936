#!/bin/sh
# Whole-tshark cost of the smtpx plugin against "nothing on port 25" and the
# built-in SMTP dissector: callgrind instruction counts in packet-list,
# -T fields and -V modes on a many-session capture and on the testdata/real
# corpus, and peak RSS at 10 MB and 100 MB (1 GB with --big).  The work is
# done by tests/bench/bench-tshark.py (its --help lists every option); this
# entry point keeps the former options:
#   -b BUILD   build folder holding plugins/ (default /tmp/build-bench)
#   -n COPIES  copies of testdata/real in the corpus (default 50)
#   -p         profile the plugin runs (--dump-instr=yes) and print its top functions
#   -k         keep the work folder
# Any other argument is passed on (for example --big, --no-rss, --modes list).
# The pathological inputs of issue 11: tests/bench/bench-pathological.py.
set -eu
here=$(cd "$(dirname "$0")/../.." && pwd)
args=""
while [ $# -gt 0 ]; do
    case $1 in
        -b|-n) args="$args $1 $2"; shift 2 ;;
        -p) args="$args --profile"; shift ;;
        -k) args="$args -k"; shift ;;
        -h|--help) exec python3 "$here/tests/bench/bench-tshark.py" --help ;;
        *) args="$args $1"; shift ;;
    esac
done
# shellcheck disable=SC2086
exec python3 "$here/tests/bench/bench-tshark.py" $args
