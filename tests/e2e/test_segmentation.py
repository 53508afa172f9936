"""Segmentation invariance: re-cutting the TCP payload of a capture
(scripts/resegment.py) must not change what the plugin dissects.

For every capture in testdata/real and testdata/edge (and the corpus
captures on port 25/587 when ctx.corpus is set) three re-cut versions are
made: one byte per segment, and two random cuts with fixed seeds.  For each
version the plugin's values are compared with the original's:

* per field, the ordered list of values of smtp.command, .verb, .parameter,
  .address, smtp.reply.code, .line, .status, .command, .meaning;
* the totals of smtp.body.length and of smtp.chunk.length;
* the ordered list of message lengths (smtp.message.length; with older
  plugin builds smtp.msg.reassembled.length, see LIST_FIELDS).

09-starttls.pcap is included with its keys: resegment.py keeps the byte
stream, so TLS records reassembled from the re-cut segments still decrypt,
and the SMTP inside TLS is compared like the rest.

Frame numbers and times differ by construction, so they are not compared;
instead the request/response links are checked inside every version (run
with -2, since only the second pass knows forward references): each reply's
smtp.reply.request_in frame carries a command or end-of-data whose
smtp.command.response_in points back at the reply's frame (or, for the
greeting, is the connection's SYN), and every response_in points at a frame
whose request_in points back.

Values are compared per field rather than per frame: a frame of the original
may carry several commands (pipelining) that the re-cut file spreads over
several frames, so only the order within each field is segmentation-free.
"""
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import smtpfields as sf  # noqa: E402

SEQ_FIELDS = [
    'smtp.command', 'smtp.command.verb', 'smtp.command.parameter',
    'smtp.command.address', 'smtp.reply.code', 'smtp.reply.line',
    'smtp.reply.status', 'smtp.reply.command', 'smtp.reply.meaning',
]
SUM_FIELDS = ['smtp.body.length', 'smtp.chunk.length']
# The length of each message (DATA body or BDAT chunks): smtp.message.length
# (one per message) in newer plugin builds, smtp.msg.reassembled.length (only
# for a message that spans several segments) in older ones.
MESSAGE_LENGTH = 'smtp.message.length'
OLD_MESSAGE_LENGTH = 'smtp.msg.reassembled.length'
LIST_FIELDS = [OLD_MESSAGE_LENGTH]
LINK_FIELDS = ['frame.number', 'tcp.flags.syn', 'smtp.command.response_in',
               'smtp.reply.request_in']

# (mode, seed, max) of the re-cut versions compared with the original.
CUTS = [('one', 1, None), ('random', 1234, None), ('random', 98765, 7)]
# Captures with more TCP payload than BIG bytes: a 1-byte cut makes one
# frame per byte, and tshark needs about a minute per 100000 frames (the
# body reassembly of 12-large-body.pcap in 1-byte segments took over five
# minutes), so by default they get two coarser random cuts instead, and the
# 1-byte cut only with SMTP_E2E_SLOW=1.
BIG = 64 * 1024
BIG_CUTS = [('random', 1234, 400), ('random', 98765, 1000)]
# A re-cut that keeps the original segment sizes (no segment is that big)
# but normalises retransmissions and gaps the way resegment.py does.
IDENTITY_CUT = ('random', 1, 100000)

SMTP_PORTS = (24, 25, 587)   # LMTP on 24 as well


def values(ctx, pcap, extra=()):
    """The segmentation-free summary of what the plugin printed for pcap."""
    fields = SEQ_FIELDS + SUM_FIELDS + LIST_FIELDS
    out = {f: [] for f in fields}
    for fr in sf.frames(ctx, pcap, fields, extra=extra, display_filter='smtp'):
        for f in fields:
            out[f].extend(fr.get(f, []))
    for f in SUM_FIELDS:
        out[f] = sum(int(v) for v in out[f])
    return out


def check_links(ctx, pcap, extra=()):
    """request_in / response_in point at each other within one file."""
    frames = {}
    for fr in sf.frames(ctx, pcap, LINK_FIELDS, extra=extra, two_pass=True):
        frames[int(fr['frame.number'][0])] = (
            fr.get('tcp.flags.syn', []),
            [int(v) for v in fr.get('smtp.command.response_in', [])],
            [int(v) for v in fr.get('smtp.reply.request_in', [])])
    problems = []
    for num, (syn, rsp_in, req_in) in sorted(frames.items()):
        for req in req_in:
            target = frames.get(req)
            if target is None:
                problems.append('frame %d: request_in %d is no frame' % (num, req))
            elif num not in target[1] and target[0] not in (['1'], ['True']):
                problems.append('frame %d: request_in %d, whose response_in is %r'
                                % (num, req, target[1]))
        for rsp in rsp_in:
            target = frames.get(rsp)
            if target is None or num not in target[2]:
                problems.append('frame %d: response_in %d, whose request_in is %r'
                                % (num, rsp, target[2] if target else None))
    assert not problems, '%s: inconsistent links:\n  %s' % (
        os.path.basename(pcap), '\n  '.join(problems[:20]))


def recut(ctx, pcap, mode, seed, kmax, tag):
    out = os.path.join(ctx.tmp, 'seg-%s-%s-%s-%s-%s.pcap' % (
        tag, os.path.splitext(os.path.basename(pcap))[0], mode, seed, kmax))
    cmd = [sys.executable, os.path.join(ctx.scripts, 'resegment.py'), pcap, out,
           '--mode', mode, '--seed', str(seed)]
    if kmax is not None:
        cmd += ['--max', str(kmax)]
    subprocess.run(cmd, check=True)
    return out


def diff(a, b, name_a, name_b, fields):
    """Human-readable first differences between two value summaries."""
    msgs = []
    for f in fields:
        if a[f] == b[f]:
            continue
        if isinstance(a[f], int):
            msgs.append('%s: %s has total %d, %s has %d' % (f, name_a, a[f], name_b, b[f]))
            continue
        n = next((i for i, (x, y) in enumerate(zip(a[f], b[f])) if x != y),
                 min(len(a[f]), len(b[f])))
        msgs.append('%s: %d vs %d values, first difference at #%d: %s %r / %s %r' % (
            f, len(a[f]), len(b[f]), n, name_a, a[f][n:n + 2], name_b, b[f][n:n + 2]))
    return '\n'.join(msgs)


def pcaplib():
    sys.path.insert(0, os.path.join(sf.REPO, 'scripts'))
    import pcaplib as pl
    return pl


def stream_is_irregular(pcap):
    """True if some direction of a TCP connection repeats or skips bytes,
    sends them out of order, or has truncated payload (per pcaplib)."""
    pl = pcaplib()
    _, segs = pl.read_tcp_segments(pcap)
    nxt = {}
    for s in segs:
        if s is None:
            continue
        k = s.key()
        if s.flags & pl.TCP_SYN:
            nxt[k] = (s.seq + 1) % (1 << 32)
            continue
        if not s.payload:
            continue
        if (k in nxt and s.seq != nxt[k]) or s.truncated:
            return True
        nxt[k] = (s.seq + len(s.payload)) % (1 << 32)
    return False


# What Wireshark's TCP analysis flags as not a clean in-order stream.  In
# 1flowB.pcap (corpus) the server ACKs data before the data segment appears
# in the capture, so tshark calls in-sequence segments "spurious
# retransmissions" although their sequence numbers are in order; resegment.py
# writes consistent ACKs, so the re-cut files do not have that.
TCP_IRREGULAR = ('tcp.analysis.retransmission || tcp.analysis.spurious_retransmission'
                 ' || tcp.analysis.out_of_order || tcp.analysis.lost_segment'
                 ' || tcp.analysis.ack_lost_segment || tcp.analysis.reused_ports')


def tshark_sees_irregular(ctx, pcap):
    return bool(sf.frames(ctx, pcap, ['frame.number'], display_filter=TCP_IRREGULAR))


def payload_bytes(pcap):
    _, segs = pcaplib().read_tcp_segments(pcap)
    return sum(len(s.payload) for s in segs if s is not None)


def is_subsequence(small, big):
    it = iter(big)
    return all(any(x == y for y in it) for x in small)


def tshark_reads(ctx, pcap):
    """False for a corpus file tshark itself refuses (e.g. smtp-to-comma's
    capture: 'File has 3925868813-byte packet, bigger than maximum')."""
    _, err = ctx.tshark.run(['-r', ctx.tshark.stage(pcap), '-q'], check=False)
    return 'bigger than maximum' not in err and "isn't a capture file" not in err


def check_capture(ctx, pcap, extra=(), tag='t'):
    extra = list(extra)
    if MESSAGE_LENGTH in sf.registered(ctx):
        LIST_FIELDS[:] = [MESSAGE_LENGTH]
    if payload_bytes(pcap) <= BIG:
        versions = list(CUTS)
    else:
        versions = list(BIG_CUTS)
        if os.environ.get('SMTP_E2E_SLOW') == '1':
            versions.append(CUTS[0])
    cuts = {v: recut(ctx, pcap, v[0], v[1], v[2], tag) for v in versions}
    if stream_is_irregular(pcap) or tshark_sees_irregular(ctx, pcap):
        # The original repeats or skips bytes (retransmissions, lost
        # segments, out-of-order data) or tshark's TCP analysis thinks so;
        # resegment.py sends every byte once with consistent ACKs, so the
        # re-cut files are compared with a re-cut that keeps the original
        # segment sizes (--max 100000: no segment is that long) and so with
        # each other.
        ident = recut(ctx, pcap, *IDENTITY_CUT, tag=tag)
        ref_name, ref = 'identity re-cut (--max 100000)', values(ctx, ident, extra)
        check_links(ctx, ident, extra)
    else:
        ref_name, ref = 'original', values(ctx, pcap, extra)
    check_links(ctx, pcap, extra)
    assert ref['smtp.reply.code'] or ref['smtp.command'], \
        'no SMTP in %s: nothing compared' % pcap
    problems = []
    first = None
    for v, path in cuts.items():
        name = 're-cut %s seed %d max %s' % v
        got = values(ctx, path, extra)
        d = diff(ref, got, ref_name, name, SEQ_FIELDS + SUM_FIELDS)
        if LIST_FIELDS == [MESSAGE_LENGTH]:
            d += '\n' + diff(ref, got, ref_name, name, LIST_FIELDS)
        # smtp.msg.reassembled.length only appears for a message that spans
        # several segments (Wireshark's reassembly shows no reassembled
        # length for a one-fragment message).  Every body of a re-cut file
        # spans several segments (unless shorter than the pieces), so the
        # re-cut versions must agree with each other exactly, and the
        # reference's values must be among them in the same order.
        if LIST_FIELDS == [MESSAGE_LENGTH]:
            pass
        elif first is None:
            first = (name, got)
            if not is_subsequence(ref[LIST_FIELDS[0]], got[LIST_FIELDS[0]]):
                d += '\n%s: %s has %r, not a subsequence of %s\'s %r' % (
                    LIST_FIELDS[0], ref_name, ref[LIST_FIELDS[0]], name, got[LIST_FIELDS[0]])
        else:
            d += '\n' + diff(first[1], got, first[0], name, LIST_FIELDS)
        d = d.strip('\n')
        if d:
            problems.append('%s:\n  %s' % (name, d.replace('\n', '\n  ')))
        try:
            check_links(ctx, path, extra)
        except AssertionError as e:
            problems.append('%s: %s' % (name, e))
    assert not problems, '%s differs:\n%s' % (os.path.basename(pcap), '\n'.join(problems))


def smtp_ports_of(pcap):
    """The SMTP ports (25/587) a capture has TCP payload on."""
    pl = pcaplib()
    try:
        _, segs = pl.read_tcp_segments(pcap)
    except Exception:  # not a capture pcaplib can read
        return set()
    return {p for s in segs if s is not None and s.payload
            for p in (s.sport, s.dport) if p in SMTP_PORTS}


def corpus_captures(ctx):
    if not ctx.corpus:
        return []
    out = []
    for d, _, fs in sorted(os.walk(ctx.corpus)):
        if 'also-used-by' in d.split(os.sep):
            continue
        for f in sorted(fs):
            if f.endswith(('.pcap', '.pcapng', '.trace')):
                p = os.path.join(d, f)
                if os.path.getsize(p) < 2_000_000 and smtp_ports_of(p):
                    out.append(p)
    return out


def tests(ctx):
    for sub in ('real', 'edge'):
        for pcap in ctx.captures(sub):
            name = '%s/%s' % (sub, os.path.basename(pcap))
            extra = sf.tls_args(ctx, pcap)
            yield name, (lambda p=pcap, e=extra: check_capture(ctx, p, e))
    for i, pcap in enumerate(corpus_captures(ctx)):
        name = 'corpus/%s' % os.path.relpath(pcap, ctx.corpus)
        def run(p=pcap, i=i):
            if tshark_reads(ctx, p):   # else nothing to compare: skipped
                check_capture(ctx, p, tag='c%d' % i)
        yield name, run
