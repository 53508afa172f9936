#!/bin/bash
# Whole-tshark CPU cost of the smtpx plugin, measured as instruction counts
# (valgrind --tool=callgrind, total Ir: repeatable, unlike wall time).
#
# Three configurations on the same generated corpus:
#   A  nothing on port 25/587 (TCP payload shown as data)
#   B  Wireshark's built-in SMTP dissector
#   C  the smtpx plugin
# in two modes:
#   list    tshark -r F > /dev/null                  (packet list)
#   fields  tshark -r F -T fields -e <reply code/line fields>
# Each is also run on a capture holding one packet of the corpus (start-up
# cost), so "net" = total - startup is the part the traffic costs.
#
# Usage: scripts/bench-plugin.sh [-b BUILD] [-n COPIES] [-p] [-k]
#   -b BUILD   build folder holding plugins/ (default /tmp/build-bench; built
#              there if missing)
#   -n COPIES  copies of testdata/real/*.pcap (all but 09-starttls) in the
#              corpus; default 50 (about 24k packets)
#   -p         also profile C in list mode and print the top functions
#   -k         keep the work folder (callgrind.out files, corpus)
# Needs: tshark, valgrind, python3, setpriv (when run as root).
set -euo pipefail

HERE=$(cd "$(dirname "$0")/.." && pwd)
BUILD=/tmp/build-bench
COPIES=50
PROFILE=0
KEEP=0
while getopts "b:n:pk" o; do
    case $o in
        b) BUILD=$OPTARG ;;
        n) COPIES=$OPTARG ;;
        p) PROFILE=1 ;;
        k) KEEP=1 ;;
        *) sed -n '2,23p' "$0"; exit 2 ;;
    esac
done

if [ ! -f "$BUILD/plugins/4.0/epan/smtp-analysis.so" ]; then
    cmake -S "$HERE" -B "$BUILD" -DSMTP_BUILD_TESTS=OFF \
        -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
    cmake --build "$BUILD" -j2 >/dev/null
fi

WORK=$(mktemp -d /tmp/smtp-bench.XXXXXX)
[ "$KEEP" = 1 ] || trap 'rm -rf "$WORK"' EXIT
cp -r "$BUILD/plugins" "$WORK/plugins"

# ---- corpus: COPIES rounds of every real capture but 09-starttls; every
# copy gets its own client port (and the rounds their own client address
# block), so each is a distinct TCP connection; timestamps run on. ----
python3 - "$HERE" "$WORK" "$COPIES" <<'EOF'
import glob, ipaddress, os, sys
sys.path.insert(0, os.path.join(sys.argv[1], 'scripts'))
import pcaplib
here, work, copies = sys.argv[1], sys.argv[2], int(sys.argv[3])
caps = [p for p in sorted(glob.glob(os.path.join(here, 'testdata/real/*.pcap')))
        if '09-starttls' not in p]
segs = {}
for p in caps:
    _, ss = pcaplib.read_tcp_segments(p)
    segs[p] = [s for s in ss if s is not None]
SERVER_PORTS = (25, 587, 465)
frames, t, port, n = [], 1_700_000_000 * 10**9, 1024, 0
for c in range(copies):
    for p in caps:
        ss = segs[p]
        t0 = ss[0].ts_ns
        cport = {}
        for s in ss:
            s = pcaplib.TcpSeg(**s.__dict__)
            # the client side is the one whose port is not a server port
            for side in ('s', 'd'):
                prt = getattr(s, side + 'port')
                if prt in SERVER_PORTS:
                    continue
                if prt not in cport:
                    cport[prt] = port
                    port = port + 1 if port < 65535 else 1024
                setattr(s, side + 'port', cport[prt])
                ip = getattr(s, 'src' if side == 's' else 'dst')
                # client address: shift by the round so ports may wrap safely
                off = (c // 2) + 1
                if ip.version == 4:
                    new = ipaddress.IPv4Address((int(ip) & 0xFF0000FF) | (off << 8))
                else:
                    new = ipaddress.IPv6Address(int(ip) + (off << 16))
                setattr(s, 'src' if side == 's' else 'dst', new)
            frames.append((t + (s.ts_ns - t0), pcaplib.build_tcp_frame(s, n)))
            n += 1
        t = frames[-1][0] + 1_000_000
pcaplib.write_pcap(os.path.join(work, 'corpus.pcap'), frames)
pcaplib.write_pcap(os.path.join(work, 'startup.pcap'), frames[:1])
print('corpus: %d packets, %d connections, %d copies of %d captures'
      % (len(frames), copies * len(caps), copies, len(caps)), file=sys.stderr)
EOF

find "$WORK" -type d -exec chmod 755 {} +
find "$WORK" -type f -exec chmod 644 {} +

RUNAS=()
if [ "$(id -u)" = 0 ]; then
    RUNAS=(setpriv --reuid=65534 --regid=65534 --clear-groups)
fi

# Configurations: extra tshark options and plugin folder.
#   A: the plugin loaded but smtpx, smtp and imf disabled -> port 25/587
#      payload is plain "data" (checked below).  Same start-up as C.
#   B: the built-in SMTP dissector.  "--disable-protocol smtpx" does NOT give
#      it back: the plugin took over the tcp.port entries, so disabling smtpx
#      leaves plain data.  B therefore runs with an empty plugin folder.
#   C: the plugin.
mkdir -p "$WORK/noplugins"
declare -A CONF=(
    [A]="--disable-protocol smtpx --disable-protocol smtp --disable-protocol imf"
    [B]=""
    [C]=""
)
declare -A PLUG=([A]="$WORK/plugins" [B]="$WORK/noplugins" [C]="$WORK/plugins")
declare -A FIELDS=(
    [A]="-e smtp.reply.code -e smtp.reply.line"
    [B]="-e smtp.response.code -e smtp.rsp.parameter"
    [C]="-e smtp.reply.code -e smtp.reply.line"
)

# tsh CONF CMD...: runs CMD as the tshark user with CONF's plugin folder
tsh() {
    local k=$1; shift
    (cd "$WORK" && "${RUNAS[@]}" env -i PATH=/usr/bin:/bin HOME="$WORK" \
        WIRESHARK_PLUGIN_DIR="${PLUG[$k]}" LC_ALL=C.UTF-8 "$@")
}

# Sanity: what each configuration dissects on the corpus.
echo "== protocol check (first 2000 frames: how many carry smtp / smtpx / data / imf)"
declare -A NPROTO
for k in A B C; do
    # shellcheck disable=SC2086
    out=$(tsh "$k" tshark -r "$WORK/corpus.pcap" -c 2000 ${CONF[$k]} -T fields \
          -e frame.protocols 2>/dev/null)
    for p in smtp smtpx data imf; do
        NPROTO[$k.$p]=$(grep -c ":$p\(:\|\$\)" <<<"$out" || true)
    done
    printf '   %s: smtp %5d  smtpx %5d  data %5d  imf %5d\n' "$k" \
        "${NPROTO[$k.smtp]}" "${NPROTO[$k.smtpx]}" "${NPROTO[$k.data]}" "${NPROTO[$k.imf]}"
done
if [ "${NPROTO[A.smtp]}${NPROTO[A.smtpx]}${NPROTO[A.imf]}" != 000 ] \
   || [ "${NPROTO[B.smtp]}" = 0 ] || [ "${NPROTO[B.smtpx]}" != 0 ] \
   || [ "${NPROTO[C.smtpx]}" = 0 ] || [ "${NPROTO[C.smtp]}" != 0 ]; then
    echo "configurations do not dissect what they should" >&2
    exit 1
fi

# ir CONF MODE FILE: one tshark run under callgrind; its total Ir goes to
# $WORK/cg.CONF.MODE.FILE.ir
ir() {
    local k=$1 mode=$2 file=$3 out=$WORK/cg.$1.$2.$3
    local args
    # shellcheck disable=SC2206
    args=(-r "$WORK/$file.pcap" ${CONF[$k]})
    # shellcheck disable=SC2206
    [ "$mode" = fields ] && args+=(-T fields ${FIELDS[$k]})
    tsh "$k" valgrind --tool=callgrind --callgrind-out-file="$out" \
        tshark "${args[@]}" >/dev/null 2>"$out.log"
    # the "summary: N" / "totals: N" line of the callgrind output
    awk '/^summary:|^totals:/ {print $2; exit}' "$out" >"$out.ir"
    echo "   $k $mode $file: $(cat "$out.ir")" >&2
}

# The runs are independent (instruction counts do not depend on load), so
# they run JOBS at a time.
JOBS=${JOBS:-$(nproc)}
chmod 777 "$WORK"   # callgrind.out files are written as the tshark user
echo "== callgrind runs ($JOBS at a time)"
for mode in list fields; do
    for k in A B C; do
        for f in corpus startup; do
            while [ "$(jobs -rp | wc -l)" -ge "$JOBS" ]; do wait -n; done
            ir "$k" "$mode" "$f" &
        done
    done
done
wait
declare -A R
for mode in list fields; do
    for k in A B C; do
        for f in corpus startup; do
            R[$k.$mode.$f]=$(cat "$WORK/cg.$k.$mode.$f.ir")
            [ -n "${R[$k.$mode.$f]}" ] \
                || { echo "run $k $mode $f failed: $WORK/cg.$k.$mode.$f.log" >&2; exit 1; }
        done
    done
done

pkts=$(capinfos -c -M "$WORK/corpus.pcap" 2>/dev/null | awk '/Number of packets/ {print $NF}')
echo
echo "== instructions (callgrind Ir), corpus $pkts packets"
KV=()
for key in "${!R[@]}"; do KV+=("$key=${R[$key]}"); done
python3 - "$pkts" "${KV[@]}" <<'EOF'
import sys
pk = int(sys.argv[1])
R = {a.split('=')[0]: int(a.split('=')[1]) for a in sys.argv[2:]}
g = lambda k, m, f: R['%s.%s.%s' % (k, m, f)]
print('%-6s %-4s %15s %15s %15s %10s' % ('mode', 'cfg', 'total', 'startup', 'net', 'net/pkt'))
for m in ('list', 'fields'):
    for k in 'ABC':
        t, s = g(k, m, 'corpus'), g(k, m, 'startup')
        print('%-6s %-4s %15d %15d %15d %10.0f' % (m, k, t, s, t - s, (t - s) / pk))
print()
print('%-6s %-5s %10s %10s' % ('mode', 'ratio', 'total', 'net'))
for m in ('list', 'fields'):
    for a, b in (('C', 'A'), ('B', 'A'), ('C', 'B')):
        t = g(a, m, 'corpus') / g(b, m, 'corpus')
        n = (g(a, m, 'corpus') - g(a, m, 'startup')) / (g(b, m, 'corpus') - g(b, m, 'startup'))
        print('%-6s %s/%s   %10.3f %10.3f' % (m, a, b, t, n))
print()
ca = g('C', 'list', 'corpus') / g('A', 'list', 'corpus')
cb = g('C', 'fields', 'corpus') / g('B', 'fields', 'corpus')
print('target list   C <= 1.05 x A : %.3f  %s' % (ca, 'MET' if ca <= 1.05 else 'NOT MET'))
print('target fields C <= B        : %.3f  %s' % (cb, 'MET' if cb <= 1.0 else 'NOT MET'))
EOF

if [ "$PROFILE" = 1 ]; then
    # Functions of the plugin/engine and the epan/glib calls it causes
    # (column text, IMF, text formatting, reassembly, allocation, tree).
    # libwireshark is stripped: 0x...2899fc0-like names are static functions;
    # the one called from message_units via call_dissector is dissect_imf.
    PAT='smtp|render|message_|col_|format_text|fragment|reassembl|wmem|g_strl|proto_tree_add|tvb_|call_dissector \[|g_strchomp|mem(chr|cpy)'
    f=$WORK/cg.C.list.corpus
    for incl in yes no; do
        echo
        echo "== profile C list, top 15 by $( [ $incl = yes ] && echo inclusive || echo self) cost"
        callgrind_annotate --inclusive=$incl --threshold=100 "$f" 2>/dev/null \
            | grep -E '^ *[0-9,]+ \(' | grep -v "'2 " | grep -Ei "$PAT" \
            | awk '{n = $3; sub(/.*:/, "", n); if (!seen[n]++) print}' | head -15 | cut -c1-150
    done
    echo
    echo "== who calls col_append_sep_str (C list)"
    callgrind_annotate --tree=caller "$f" 2>/dev/null \
        | grep -B5 '\* .*col_append_sep_str \[' | grep '<' | cut -c1-150
fi
[ "$KEEP" = 1 ] && echo "work folder kept: $WORK"
exit 0
