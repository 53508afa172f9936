#!/bin/sh
# Measures scripts/smtp-batch.py: a corpus of N captures (copies of
# testdata/real/*.pcap, default N=300) run on one core (-j 1) and on all
# cores; prints files/s and MB/s for each.
# Usage: tests/bench/bench-batch.sh [N]
#   LARGE=K    instead: K large captures (tests/bench/gen-sessions.py,
#              2000 sessions, about 5 MB each; each one different)
#   BUILD=DIR  use the plugin built in DIR (DIR/plugins) instead of the
#              installed one; as root tshark then runs as user nobody,
#              because tshark as root ignores WIRESHARK_PLUGIN_DIR.
set -eu
top=$(cd "$(dirname "$0")/../.." && pwd)
n=${1:-300}
work=$(mktemp -d /tmp/smtp-bench-batch.XXXXXX)
trap 'rm -rf "$work"' EXIT
chmod 755 "$work"
mkdir "$work/corpus"
if [ -n "${LARGE:-}" ]; then
  n=$LARGE
  i=0
  while [ "$i" -lt "$n" ]; do
    python3 "$top/tests/bench/gen-sessions.py" -n 2000 --seed "$i" "$work/corpus/large-$i.pcap" >/dev/null
    i=$((i + 1))
  done
else
  set -- "$top"/testdata/real/*.pcap
  i=0
  while [ "$i" -lt "$n" ]; do
    for f in "$@"; do
      [ "$i" -ge "$n" ] && break
      cp "$f" "$work/corpus/$(printf %04d "$i")-$(basename "$f")"
      i=$((i + 1))
    done
  done
fi
chmod -R a+rX "$work/corpus"
tool="python3 $top/scripts/smtp-batch.py"
if [ -n "${BUILD:-}" ]; then
  cp -r "$BUILD/plugins" "$work/plugins"
  chmod -R a+rX "$work/plugins"
  mkdir -m 755 "$work/home"
  if [ "$(id -u)" -eq 0 ]; then
    cmd="[\"setpriv\",\"--reuid=65534\",\"--regid=65534\",\"--clear-groups\",\"env\",\"-i\",\"PATH=/usr/bin:/bin\",\"HOME=$work/home\",\"WIRESHARK_PLUGIN_DIR=$work/plugins\",\"LC_ALL=C.UTF-8\",\"tshark\"]"
    set -- --tshark-cmd "$cmd"
  else
    set -- --plugin-dir "$work/plugins"
  fi
else
  set --
fi
bytes=$(du -sb "$work/corpus" | cut -f1)
cores=$(nproc)
echo "corpus: $n captures, $bytes bytes; $cores cores; $(tshark --version 2>/dev/null | head -1); load $(cut -d" " -f1-3 /proc/loadavg)"
for j in 1 "$cores"; do
  start=$(date +%s.%N)
  $tool -q --no-chart -j "$j" -o "$work/out-$j" "$@" "$work/corpus"
  end=$(date +%s.%N)
  python3 - "$n" "$bytes" "$start" "$end" "$j" "$work/out-$j/summary.json" <<'PY'
import json, sys
n, b, t0, t1, j, summ = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4]), sys.argv[5], sys.argv[6]
s = json.load(open(summ))
dt = t1 - t0
print('-j %-3s %7.2f s  %7.1f files/s  %6.2f MB/s  (%d replies, %d files read)' % (
    j, dt, n / dt, b / dt / 1e6, s['replies'], s['files']['read']))
PY
done
for t in replies.csv transactions.csv; do
  cmp -s "$work/out-1/$t" "$work/out-$cores/$t" && echo "$t identical for -j 1 and -j $cores"
done
