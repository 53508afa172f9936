"""Segmentation invariance: re-cutting the TCP payload of a capture
(tests/tools/resegment.py) must not change what the plugin dissects.

Every capture in testdata/real and testdata/edge, and a sample of the corpus
captures on port 24/25/587 (ctx.corpus), is re-cut (see plan()): one byte per
segment, and random cuts with fixed seeds.  For each version the plugin's
values are compared with the original's:

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

Each version is dissected once, with -2: the values, the links and (for the
original) tshark's TCP analysis come from that one run.  (One-pass and
two-pass values are compared by test_passes.)

What runs by default and what only with --full (SMTP_TEST_FULL=1): a re-cut
is worth its time where it can find something the other re-cuts do not.

* Captures: every one of testdata/real and testdata/edge (each was made for
  something).  Of the corpus, by default only the captures that bring a
  feature (features(): verbs, reply classes, multi-line replies, bare
  CR/LF, long lines, 8-bit data, dot-stuffing, smuggling forms, how lines
  fall on segments, several connections, irregular streams, ports, size)
  that no testdata capture and no smaller corpus capture has, plus the
  smallest capture of each corpus family (FAMILIES) not yet represented: a
  deterministic greedy cover (no randomness; a new corpus capture changes
  the choice only if it brings something new).  --full: every corpus
  capture.
* Cuts: up to SMALL bytes of TCP payload, one byte per segment (every split
  point at once) and random 1..40 (several lines per segment); above, random
  1..7 and 1..40 (a one-byte cut of 20 kB is 20000 frames); above BIG, the
  coarser BIG_CUTS.  --full: all of CUTS up to BIG, BIG_CUTS plus the
  one-byte cut above.
"""
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import smtpfields as sf  # noqa: E402
import toolpath  # noqa: E402
import pcaplib as pl  # noqa: E402
from tsharklib import run_child  # noqa: E402

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
ONE, RANDOM40, RANDOM7 = ('one', 1, None), ('random', 1234, None), ('random', 98765, 7)
CUTS = [ONE, RANDOM40, RANDOM7]
# Up to SMALL bytes of payload the default run makes the 1-byte cut (and
# RANDOM40); above, RANDOM7 and RANDOM40.
SMALL = 8 * 1024
# Captures with more TCP payload than BIG bytes: a 1-byte cut makes one
# frame per byte, and tshark needs about a minute per 100000 frames (the
# body reassembly of 12-large-body.pcap in 1-byte segments took over five
# minutes), so they get two coarser random cuts instead, and the 1-byte cut
# only with --full.
BIG = 64 * 1024
BIG_CUTS = [('random', 1234, 400), ('random', 98765, 1000)]
# Corpus families: each keeps at least one capture in the default run.
FAMILIES = [('suricata-verify/firewall__', 'suricata-verify firewall'),
            ('suricata-verify/mime__', 'suricata-verify mime'),
            ('suricata-verify/', 'suricata-verify'), ('zeek/', 'zeek')]
VERBS = {'HELO', 'EHLO', 'LHLO', 'MAIL', 'RCPT', 'DATA', 'BDAT', 'RSET', 'QUIT', 'NOOP',
         'VRFY', 'EXPN', 'HELP', 'AUTH', 'STARTTLS', 'TURN', 'ETRN', 'XCLIENT'}
# A re-cut that keeps the original segment sizes (no segment is that big)
# but normalises retransmissions and gaps the way resegment.py does.
IDENTITY_CUT = ('random', 1, 100000)

SMTP_PORTS = (24, 25, 587)   # LMTP on 24 as well


TCP_ANALYSIS = ['tcp.analysis.retransmission', 'tcp.analysis.spurious_retransmission',
                'tcp.analysis.out_of_order', 'tcp.analysis.lost_segment',
                'tcp.analysis.ack_lost_segment', 'tcp.analysis.reused_ports']


class Version:
    """One tshark -2 run over a capture (original or re-cut): .values, the
    segmentation-free summary of what the plugin printed; .links, the
    problems of its request/response links; .irregular, whether tshark's
    TCP analysis flags a frame (see TCP_IRREGULAR)."""

    def __init__(self, ctx, pcap, extra=()):
        fields = SEQ_FIELDS + SUM_FIELDS + LIST_FIELDS
        frames = sf.frames(ctx, pcap, fields + LINK_FIELDS + TCP_ANALYSIS, extra=extra,
                           two_pass=True)
        self.values = {f: [] for f in fields}
        for fr in frames:
            for f in fields:
                self.values[f].extend(fr.get(f, []))
        for f in SUM_FIELDS:
            self.values[f] = sum(int(v) for v in self.values[f])
        self.links = link_problems(frames)
        self.irregular = any(f in fr for fr in frames for f in TCP_ANALYSIS)
        self.name = os.path.basename(pcap)

    def check_links(self):
        assert not self.links, '%s: inconsistent links:\n  %s' % (
            self.name, '\n  '.join(self.links[:20]))


def link_problems(json_frames):
    """request_in / response_in point at each other within one file."""
    frames = {}
    for fr in json_frames:
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
    return problems


def recut(ctx, pcap, mode, seed, kmax):
    out = os.path.join(ctx.tmp, 'seg-%s-%s-%s-%s.pcap' % (
        os.path.splitext(os.path.basename(pcap))[0], mode, seed, kmax))
    cmd = [sys.executable, toolpath.path('resegment.py'), pcap, out,
           '--mode', mode, '--seed', str(seed)]
    if kmax is not None:
        cmd += ['--max', str(kmax)]
    p = run_child(cmd)
    assert p.returncode == 0, 'resegment.py failed: %s' % p.stderr.decode('utf-8', 'replace')
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


def is_subsequence(small, big):
    it = iter(big)
    return all(any(x == y for y in it) for x in small)


# What Wireshark's TCP analysis flags as not a clean in-order stream
# (TCP_ANALYSIS, read from the original's -2 run).  In 1flowB.pcap (corpus)
# the server ACKs data before the data segment appears in the capture, so
# tshark calls in-sequence segments "spurious retransmissions" although
# their sequence numbers are in order; resegment.py writes consistent ACKs,
# so the re-cut files do not have that.

# tshark's complaints about a corpus file it cannot read (e.g. smtp-to-comma's
# capture: 'File has 3925868813-byte packet, bigger than maximum'): nothing
# to compare, the test is skipped (test_corpus checks those files).
UNREADABLE = ('bigger than maximum', "isn't a capture file")


class Capture:
    """What pcaplib sees in a capture: TCP payload bytes, whether some
    direction repeats or skips bytes, sends them out of order or has
    truncated payload (irregular), and its features (see the docstring)."""

    def __init__(self, path):
        self.path = path
        self.payload = 0
        self.irregular = False
        self.features = set()
        try:
            packets, segs = pl.read_tcp_segments(path)
        except Exception:  # not a capture pcaplib can read
            packets, segs = [], []
        # a record longer than tshark accepts (smtp-to-comma): tshark stops
        # there, so the sample does not count on this capture
        self.damaged = any(p.orig_len > 262144 for p in packets)
        streams = {}
        nxt = {}
        for seg in segs:
            if seg is None:
                continue
            k = seg.key()
            if seg.flags & pl.TCP_SYN:
                nxt[k] = (seg.seq + 1) % (1 << 32)
                continue
            if not seg.payload:
                continue
            self.payload += len(seg.payload)
            if (k in nxt and seg.seq != nxt[k]) or seg.truncated:
                self.irregular = True
            nxt[k] = (seg.seq + len(seg.payload)) % (1 << 32)
            side = 'c' if seg.dport in SMTP_PORTS else 's' if seg.sport in SMTP_PORTS else None
            if side:
                streams.setdefault(k, (side, []))[1].append(seg.payload)
        self.smtp = bool(streams)
        if streams:
            self._features(streams)

    def _features(self, streams):
        f = self.features
        f.add('connections:%d' % min(3, len({tuple(sorted(k[:2] + k[2:], key=str))
                                              for k in streams})))
        if self.irregular:
            f.add('irregular')
        if self.payload > SMALL:
            f.add('payload>%d' % SMALL)
        if self.payload > BIG:
            f.add('payload>%d' % BIG)
        for k, (side, pays) in sorted(streams.items(), key=str):
            f.add('port:%d' % (k[3] if side == 'c' else k[1]))
            for p in pays:
                if not p.endswith(b'\n'):
                    f.add(side + ':segment ends inside a line')
                if p.count(b'\n') > 1:
                    f.add(side + ':segment with several lines')
                if side == 's' and re.search(rb'(^|\n)[0-9]{3}-[^\n]*\n$', p):
                    f.add('s:segment ends inside a multi-line reply')
                if side == 'c' and re.search(rb'\r?\n\.\r?\n[A-Za-z]', p):
                    f.add('c:end-of-data and a command in one segment')
            data = b''.join(pays)
            lines = data.split(b'\n')
            if b'\r' in data.replace(b'\r\n', b''):
                f.add(side + ':bare CR')
            if re.search(rb'(?<!\r)\n', data):
                f.add(side + ':bare LF')
            if any(len(l) > 512 for l in lines):
                f.add(side + ':line > 512')
            if any(len(l) > 16384 for l in lines):
                f.add(side + ':line > 16384')
            if re.search(rb'[\x00\x80-\xff]', data):
                f.add(side + ':8-bit bytes')
            if side == 's':
                for l in lines:
                    m = re.match(rb'([0-9][0-9][0-9])([ -]?)', l)
                    if m:
                        f.add('s:' + m.group(1).decode())
                        if m.group(2) == b'-':
                            f.add('s:multi-line reply')
                    elif l.strip(b'\r'):
                        f.add('s:line without a code')
                continue
            for l in lines:
                m = re.match(rb'([A-Za-z]{4,8})\b', l)
                if m and m.group(1).upper().decode() in VERBS:
                    f.add('c:' + m.group(1).upper().decode())
            if b'\r\n..' in data:
                f.add('c:dot-stuffing')
            if re.search(rb'(?<!\r)\n\.\r?\n|\r\.\r|\r\.\n', data):
                f.add('c:end-of-data look-alike')


def plan(cap, full):
    """The re-cuts of a capture (see the docstring)."""
    if cap.payload > BIG:
        return BIG_CUTS + ([ONE] if full else [])
    if full:
        return list(CUTS)
    return [ONE, RANDOM40] if cap.payload <= SMALL else [RANDOM7, RANDOM40]


def check_capture(ctx, cap, extra=()):
    extra = list(extra)
    pcap = cap.path
    if MESSAGE_LENGTH in sf.registered(ctx):
        LIST_FIELDS[:] = [MESSAGE_LENGTH]
    try:
        orig = Version(ctx, pcap, extra)
    except (RuntimeError, AssertionError) as e:
        why = [u for u in UNREADABLE if u in str(e)]
        if why:
            raise ctx.Skip('tshark cannot read the capture (%s)' % why[0])
        raise
    if cap.irregular or orig.irregular:
        # The original repeats or skips bytes (retransmissions, lost
        # segments, out-of-order data) or tshark's TCP analysis thinks so;
        # resegment.py sends every byte once with consistent ACKs, so the
        # re-cut files are compared with a re-cut that keeps the original
        # segment sizes (--max 100000: no segment is that long) and so with
        # each other.
        ref_name = 'identity re-cut (--max 100000)'
        ref = Version(ctx, recut(ctx, pcap, *IDENTITY_CUT), extra)
        ref.check_links()
    else:
        ref_name, ref = 'original', orig
    orig.check_links()
    assert ref.values['smtp.reply.code'] or ref.values['smtp.command'], \
        'no SMTP in %s: nothing compared' % pcap
    problems = []
    first = None
    for v in plan(cap, ctx.full):
        name = 're-cut %s seed %d max %s' % v
        cut = Version(ctx, recut(ctx, pcap, *v), extra)
        got = cut.values
        d = diff(ref.values, got, ref_name, name, SEQ_FIELDS + SUM_FIELDS)
        if LIST_FIELDS == [MESSAGE_LENGTH]:
            d += '\n' + diff(ref.values, got, ref_name, name, LIST_FIELDS)
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
            if not is_subsequence(ref.values[LIST_FIELDS[0]], got[LIST_FIELDS[0]]):
                d += '\n%s: %s has %r, not a subsequence of %s\'s %r' % (
                    LIST_FIELDS[0], ref_name, ref.values[LIST_FIELDS[0]], name,
                    got[LIST_FIELDS[0]])
        else:
            d += '\n' + diff(first[1], got, first[0], name, LIST_FIELDS)
        d = d.strip('\n')
        if d:
            problems.append('%s:\n  %s' % (name, d.replace('\n', '\n  ')))
        if cut.links:
            problems.append('%s: inconsistent links:\n  %s' % (name, '\n  '.join(cut.links[:20])))
    assert not problems, '%s differs:\n%s' % (os.path.basename(pcap), '\n'.join(problems))


def corpus_captures(ctx):
    """(relative path, Capture) of the corpus captures with SMTP on 24/25/587."""
    if not ctx.corpus:
        return []
    out = []
    for d, _, fs in sorted(os.walk(ctx.corpus)):
        if 'also-used-by' in d.split(os.sep):
            continue
        for f in sorted(fs):
            if f.endswith(('.pcap', '.pcapng', '.trace')):
                p = os.path.join(d, f)
                if os.path.getsize(p) < 2_000_000:
                    cap = Capture(p)
                    if cap.smtp:
                        out.append((os.path.relpath(p, ctx.corpus), cap))
    return out


def family(rel):
    return next(name for prefix, name in FAMILIES + [('', 'other')] if rel.startswith(prefix))


def sample(base, corpus):
    """The corpus captures of the default run: a greedy cover of the features
    the testdata captures (base: their Captures) lack, smallest first, plus
    the smallest capture of each family not yet represented."""
    covered = set().union(*(c.features for c in base))
    chosen = set()
    by_size = sorted(((rel, cap) for rel, cap in corpus if not cap.damaged),
                     key=lambda rc: (rc[1].payload, rc[0]))
    for rel, cap in by_size:
        if cap.features - covered:
            chosen.add(rel)
            covered |= cap.features
    families = {family(rel) for rel in chosen}
    for rel, cap in by_size:
        if family(rel) not in families:
            chosen.add(rel)
            families.add(family(rel))
    return chosen


def tests(ctx):
    base = []
    for sub in ('real', 'edge'):
        for pcap in ctx.captures(sub):
            name = '%s/%s' % (sub, os.path.basename(pcap))
            cap = Capture(pcap)
            base.append(cap)
            extra = sf.tls_args(ctx, pcap)
            yield name, (lambda c=cap, e=extra: check_capture(ctx, c, e))
    corpus = corpus_captures(ctx)
    chosen = {rel for rel, _ in corpus} if ctx.full else sample(base, corpus)
    for rel, cap in corpus:
        if rel in chosen:
            yield 'corpus/' + rel, (lambda c=cap: check_capture(ctx, c))
    if not ctx.full:
        small = sum(1 for c in base if c.payload <= SMALL)
        ctx.defer('%d more corpus captures (%d of %d chosen by feature cover); the random 1..7 '
                  're-cut of %d testdata captures up to %d bytes; the 1-byte re-cut of %d '
                  'testdata captures over %d bytes'
                  % (len(corpus) - len(chosen), len(chosen), len(corpus), small, SMALL,
                     len(base) - small, SMALL))
