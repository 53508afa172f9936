"""Resynchronisation: captures that start mid-session or lose a segment.

Made from real captures (CAPTURES) with tests/tools/pcaplib.py, packets kept
byte for byte, and dissected with one tshark -T json run each (smtpfields):

* midsession/NAME: for every data-carrying packet index k, the capture
  without packets 0..k-1 (handshake, greeting, ... gone);
* lost-client/NAME: for every client data segment in turn (a sample for
  the big capture, see BIG), the capture without it;
* lost-server/NAME: the same for every server data segment.

Cut frame f stands for original frame f + k (midsession) or, after the
removed packet j, f + 1 (lost segments).  Frame numbers below are tshark's
(1-based).  What is checked for every version:

(a) tshark exits 0 and writes nothing to stderr; no dissector exception;
    _ws.malformed only on a frame that carries one of the plugin's own
    expert infos of group MALFORMED (src/smtp_anomalies.def).
(b) body text is never labelled as commands: in a frame whose original
    shows DATA body or BDAT chunk bytes, the commands shown must be the
    commands the original shows there after the body (a suffix of the
    original's list: "body . QUIT" may become "<unparsed> . QUIT", never
    "QUIT" from body text).
(c) resumption (client side).  The engine (client_line() in
    src/smtp_session.c) throws unsynchronised client lines away as
    smtp.unparsed until a line is a plausible command (known verb, good
    arguments: smtp_command_plausible) or a lone "."; every real command of
    these captures is plausible and no body line of them is, so the client
    side must resume exactly at the first client frame after the cut/gap
    whose original shows a command or the end-of-data dot: the next command
    (or ".") the client sends -- that is the bound, RESUME below, asserted
    as an equality.  Frames before it show no command and no body; the
    first one (when it starts inside a body or chunk) carries
    smtp.unsynchronized and smtp.unparsed.  From the resume frame on every
    client frame shows the same commands and end-of-data as the original
    (and, after it, the same body/chunk lengths).
    One exception to "no body line is plausible": the second BDAT chunk of
    15-bdat-chunking deliberately holds the lines ".", "QUIT" and "RSET".
    Joined inside that chunk (cut at it, or its BDAT command lost), nothing
    in the bytes tells them from an end of data and two commands: a BDAT
    chunk has no terminator, only the lost BDAT line knew its length.
    Those two versions (LIMITATION below) are left out; every other cut of
    that capture is checked.
(d) replies.  Server segments of these captures start at reply boundaries
    and the engine synchronises on the first reply line, so every reply
    after the cut/gap keeps its code and lines.  Pairing
    (smtp.reply.command and smtp.reply.request_in, mapped to cut frame
    numbers) must equal the original's, except:
    - midsession: a reply whose command (original request_in) lies before
      the cut is unpaired (no request_in, no reply.command) and its frame
      carries smtp.unsynchronized or smtp.reply.no_command.  The greeting
      (when the cut keeps it) still says <connect> -- the engine knows the
      greeting by its place and code -- but has no request_in, the SYN
      being cut off;
    - lost-client: a reply whose command was in the removed segment is
      unpaired, as above -- except the reply to a lost end of data: the
      engine sees the server answer while the client is still in the body,
      so that reply is the end of data's (<end-of-data>, no request_in);
    - lost-server: the engine cannot know how many replies the lost bytes
      held.  On the first reply after the gap it skips waiting commands that
      cannot get its code while a later one can (a 354 after a lost RCPT
      reply), and when the client sends its next command it forgets the
      commands sent before the loss (the client had their replies).  So the
      replies from the first one after the gap up to the first server frame
      after the client's next command may pair with anything or nothing;
      every later reply must pair as in the original.  Client frames are
      unaffected.
    A lost DATA body segment that is not the last one leaves the engine in
    the body (smtp_session_gap keeps CM_DATA): then every later client
    frame, body lengths included, equals the original.

All problems of one capture are listed together (at most MAX_REPORT).

By default each capture gets one version per kind of cut (sample()): of the
versions whose cut frame -- the first packet kept (midsession) or the
packet removed (lost-client, lost-server) -- carries the same thing in the
original (the same side and commands, end-of-data, body or chunk bytes, or
reply codes) and follows a frame that carries the same thing, only the
first is dissected.  Versions that differ only in which of several equal
body segments or equal replies is cut exercise the same code.  --full
(SMTP_TEST_FULL=1) dissects every version.
"""
import concurrent.futures
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import smtpfields as sf  # noqa: E402
import toolpath  # noqa: E402,F401  (tests/tools on sys.path)
import pcaplib as pl  # noqa: E402
from tsharklib import cpu_account  # noqa: E402

CAPTURES = ['01-plain-delivery', '04-policy-reject-recipient', '08-pipelining',
            '12-large-body', '15-bdat-chunking', '17-rset']
# Captures with more TCP payload than BIG bytes (12-large-body: its body
# segments are 32-60 kB, about a second of tshark each) get a sample of the
# lost-client versions (but with --full): every other client segment, and
# always the first and the last (the one with the end-of-data dot).
BIG = 64 * 1024
# LIMITATION (see (c)): joined inside 15-bdat-chunking's second chunk, whose
# lines are ".", "QUIT" and "RSET", the bytes cannot be told from commands.
LIMITATION = {('15-bdat-chunking', 'from16'), ('15-bdat-chunking', 'noclient14')}
SMTP_PORTS = (24, 25, 587)
JOBS = 2          # tshark runs at once (the machine has two cores)
MAX_REPORT = 40
START_FIRST = True    # long tests: run_e2e.py starts them first

FIELDS = ['frame.number', 'smtp.command', 'smtp.reply.code', 'smtp.reply.line',
          'smtp.reply.command', 'smtp.reply.request_in', 'smtp.body.length',
          'smtp.chunk.length', 'smtp.end_of_data', 'smtp.unparsed',
          'smtp.unsynchronized', 'smtp.reply.no_command', '_ws.malformed']
EXCEPTION_EXPERTS = ['_ws.malformed.expert', '_ws.malformed.dissector_bug',
                     '_ws.malformed.reassembly']
UNPAIRED_EXPERTS = ('smtp.unsynchronized', 'smtp.reply.no_command')


# ---- captures and their variants ----

class Capture:
    """The packets of a capture: which carry data, in which direction."""

    def __init__(self, path):
        self.path = path
        self.name = os.path.splitext(os.path.basename(path))[0]
        self.packets, segs = pl.read_tcp_segments(path)
        self.client = []   # packet indices of client data segments
        self.server = []
        self.payload = 0
        for i, s in enumerate(segs):
            if s is None or not s.payload:
                continue
            self.payload += len(s.payload)
            (self.client if s.dport in SMTP_PORTS else self.server).append(i)
        self.data = sorted(self.client + self.server)

    def write(self, ctx, tag, keep):
        """A capture of the packets with indices in keep, unchanged."""
        out = os.path.join(ctx.tmp, 'resync-%s-%s.pcap' % (self.name, tag))
        pl.write_pcap(out, [(self.packets[i].ts_ns, self.packets[i].data) for i in keep],
                      self.packets[0].linktype)
        return out


def fields(ctx):
    known = sf.registered(ctx)
    extra = ['smtp.' + n for n in sf.malformed_anomalies()] + EXCEPTION_EXPERTS
    return FIELDS + [f for f in extra if f in known and f not in FIELDS]


def dissect(ctx, pcap):
    """frame number -> fields of one tshark run (all frames)."""
    return {int(fr['frame.number'][0]): fr for fr in sf.frames(ctx, pcap, fields(ctx))}


_originals = {}


def original(ctx, cap):
    if cap.path not in _originals:
        o = dissect(ctx, cap.path)
        # every reply of the originals is paired: the filters below rely on it
        for n, fr in o.items():
            codes = fr.get('smtp.reply.code', [])
            assert len(fr.get('smtp.reply.command', [])) == len(codes) == \
                len(fr.get('smtp.reply.request_in', [])), \
                '%s frame %d: unpaired reply in the original' % (cap.name, n)
        _originals[cap.path] = o
    return _originals[cap.path]


def run_all(ctx, cap, variants):
    """variants: [(tag, keep)] -> [(tag, keep, frames or exception)]."""
    account = cpu_account()
    cpu_account(account)

    def one(v):
        tag, keep = v
        cpu_account(account)    # the tshark CPU counts for this test
        try:
            return tag, keep, dissect(ctx, cap.write(ctx, tag, keep))
        except Exception as e:  # tshark failed or wrote to stderr: (a)
            return tag, keep, e
    with concurrent.futures.ThreadPoolExecutor(JOBS) as pool:
        return list(pool.map(one, variants))


def what(fr):
    """What an original frame carries, for sample()."""
    if fr is None:
        return None
    return (tuple(get(fr, 'smtp.command')), bool(get(fr, 'smtp.end_of_data')),
            bool(get(fr, 'smtp.body.length')), bool(get(fr, 'smtp.chunk.length')),
            tuple(get(fr, 'smtp.reply.code')))


def sample(ctx, cap, orig, variants, cut_index):
    """variants (and their packet indices cut_index(v)) without those whose
    cut frame and the data frame before it carry the same as an earlier
    one's; all of them with --full."""
    if ctx.full:
        return variants
    seen, out = set(), []
    for v in variants:
        i = cut_index(v)
        before = max((j for j in cap.data if j < i), default=None)
        key = (i in cap.client, what(orig.frames.get(i + 1)),
               what(orig.frames.get(before + 1)) if before is not None else None)
        if key not in seen:
            seen.add(key)
            out.append(v)
    return out


# ---- per-frame helpers ----

def get(fr, f):
    return fr.get(f, []) if fr else []


def has_cmd_or_eod(fr):
    return bool(get(fr, 'smtp.command') or get(fr, 'smtp.end_of_data'))


def starts_unsynchronised(fr):
    """The original frame begins with body or chunk bytes: DATA body bytes
    always precede the end-of-data and any command in their frame; a frame
    with chunk bytes and no command is chunk data only (in these captures a
    frame with a BDAT command and chunk bytes begins with the command)."""
    return bool(get(fr, 'smtp.body.length')) or not has_cmd_or_eod(fr)


def check_clean(cut, problems, where):
    """(a)"""
    bad = ['smtp.' + n for n in sf.malformed_anomalies()]
    for n, fr in sorted(cut.items()):
        exc = [e for e in EXCEPTION_EXPERTS if e in fr]
        if exc:
            problems.append('%s frame %d: dissector exception %r' % (where, n, exc))
        if '_ws.malformed' in fr and not any(b in fr for b in bad):
            problems.append('%s frame %d: _ws.malformed without a MALFORMED expert info'
                            % (where, n))


def check_body_not_commands(cut, orig_of, problems, where):
    """(b)"""
    for n, fr in sorted(cut.items()):
        o = orig_of(n)
        if o is None or not (get(o, 'smtp.body.length') or get(o, 'smtp.chunk.length')):
            continue
        got, want = get(fr, 'smtp.command'), get(o, 'smtp.command')
        if got and want[len(want) - len(got):] != got:
            problems.append('%s frame %d (original %s): body/chunk bytes shown as commands '
                            '%r (original commands %r)' % (where, n, get(o, 'frame.number'),
                                                           got, want))


def reply_fields(fr):
    return get(fr, 'smtp.reply.code'), get(fr, 'smtp.reply.line')


def pairing(fr):
    return get(fr, 'smtp.reply.command'), get(fr, 'smtp.reply.request_in')


def expected_pairing(o, lost, to_cut, keep=('<connect>',)):
    """The original's pairing of frame o without the replies whose command
    frame is lost (lost(req) true; a reply to a lost command in keep still
    names it, without request_in); request_in mapped by to_cut."""
    cmds, reqs = [], []
    for c, r in zip(*pairing(o)):
        if lost(int(r)):
            if c in keep:
                cmds.append(c)
            continue
        cmds.append(c)
        reqs.append(str(to_cut(int(r))))
    return cmds, reqs


def check_client_side(cut, orig, first, resume_exp, to_orig, problems, where, keep_body=False):
    """(c) for the client frames from cut frame `first` (the first client data
    frame after the cut or gap) on.  keep_body: the engine stays in the DATA
    body across the gap, so every frame equals the original."""
    client = sorted(n for n in cut if n >= first and to_orig(n) in orig.client_frames)
    if keep_body:
        resume_exp = first
    # the resume frame actually seen
    resume = next((n for n in client if has_cmd_or_eod(cut[n]) and
                   has_cmd_or_eod(orig.frames[to_orig(n)])), None)
    if resume != resume_exp and not keep_body:
        problems.append('%s: client resumes at frame %s, expected frame %s (the next '
                        'command or end-of-data the client sends)' % (where, resume, resume_exp))
    if not keep_body and client and \
            starts_unsynchronised(orig.frames[to_orig(client[0])]):
        fr = cut[client[0]]
        for f in ('smtp.unsynchronized', 'smtp.unparsed'):
            if f not in fr:
                problems.append('%s frame %d: no %s on the first client frame after the '
                                'cut/gap' % (where, client[0], f))
    for n in client:
        fr, o = cut[n], orig.frames[to_orig(n)]
        if resume_exp is None or n < resume_exp:
            for f in ('smtp.command', 'smtp.end_of_data', 'smtp.body.length',
                      'smtp.chunk.length'):
                if f in fr:
                    problems.append('%s frame %d: %s %r before the resume frame %s (should '
                                    'be smtp.unparsed)' % (where, n, f, fr[f], resume_exp))
            continue
        comp = ['smtp.command', 'smtp.end_of_data']
        if n > resume_exp or keep_body:
            comp += ['smtp.body.length', 'smtp.chunk.length']
        for f in comp:
            if get(fr, f) != get(o, f):
                problems.append('%s frame %d (original %d): %s %r, original %r' % (
                    where, n, to_orig(n), f, get(fr, f), get(o, f)))


def check_server_side(cut, orig, first, to_orig, lost, to_cut, problems, where,
                      free_frame=None, free_until=None, keep=('<connect>',)):
    """(d) for the server frames from cut frame `first` on.  Replies in the
    cut frames free_frame .. free_until-1 may pair with anything
    (lost-server); keep: see expected_pairing."""
    for n in sorted(cut):
        if n < first or to_orig(n) not in orig.server_frames:
            continue
        fr, o = cut[n], orig.frames[to_orig(n)]
        if reply_fields(fr) != reply_fields(o):
            problems.append('%s frame %d (original %d): replies %r, original %r' % (
                where, n, to_orig(n), reply_fields(fr), reply_fields(o)))
            continue
        want = expected_pairing(o, lost, to_cut, keep)
        got = pairing(fr)
        if free_frame is not None and free_until is not None and free_frame <= n < free_until:
            continue
        if n == free_frame:
            # the first reply after the gap may pair with anything or
            # nothing; the frame's other replies must pair as before
            n_codes = len(get(fr, 'smtp.reply.code'))
            got = tuple(v[1:] if len(v) == n_codes else v for v in got)
            want = tuple(v[1:] for v in want)
        if got != want:
            problems.append('%s frame %d (original %d): code %r paired with %r request_in %r, '
                            'expected %r request_in %r%s' % (
                                where, n, to_orig(n), get(fr, 'smtp.reply.code'), *got, *want,
                                ' (after its first reply)' if n == free_frame else ''))
        unpaired = [c for c, r in zip(*pairing(o)) if lost(int(r)) and c != '<connect>']
        if unpaired and not any(e in fr for e in UNPAIRED_EXPERTS):
            problems.append('%s frame %d: unpaired replies without %s' % (
                where, n, ' or '.join(UNPAIRED_EXPERTS)))


class Orig:
    def __init__(self, ctx, cap):
        self.frames = original(ctx, cap)
        self.client_frames = {i + 1 for i in cap.client}
        self.server_frames = {i + 1 for i in cap.server}


def finish(cap, what, count, problems):
    assert count > 0, '%s: no %s versions' % (cap.name, what)
    if problems:
        more = len(problems) - MAX_REPORT
        raise AssertionError('%s, %d %s versions, %d problems:\n  %s%s' % (
            cap.name, count, what, len(problems), '\n  '.join(problems[:MAX_REPORT]),
            '\n  ... %d more' % more if more > 0 else ''))


# ---- the three kinds of versions ----

def t_midsession(ctx, path):
    cap = Capture(path)
    orig = Orig(ctx, cap)
    n_packets = len(cap.packets)
    variants = [('from%d' % k, list(range(k, n_packets))) for k in cap.data]
    problems = []
    variants = [v for v in variants if (cap.name, v[0]) not in LIMITATION]
    variants = sample(ctx, cap, orig, variants, lambda v: v[1][0])
    for tag, keep, cut in run_all(ctx, cap, variants):
        k = keep[0]
        where = '%s %s (packets %d.. kept)' % (cap.name, tag, k)
        if isinstance(cut, Exception):
            problems.append('%s: %s' % (where, cut))
            continue
        def to_orig(n, k=k):
            return n + k
        def to_cut(n, k=k):
            return n - k
        def lost(req, k=k):
            return req <= k
        def orig_of(n, k=k):
            return orig.frames.get(n + k)
        check_clean(cut, problems, where)
        check_body_not_commands(cut, orig_of, problems, where)
        first_client = next((i + 1 - k for i in cap.client if i >= k), None)
        resume_exp = next((i + 1 - k for i in cap.client
                           if i >= k and has_cmd_or_eod(orig.frames[i + 1])), None)
        if first_client is not None:
            check_client_side(cut, orig, first_client, resume_exp, to_orig, problems, where)
        check_server_side(cut, orig, 1, to_orig, lost, to_cut, problems, where)
    finish(cap, 'midsession', len(variants), problems)


def gap_mappings(j):
    """Packet j removed: cut frame <-> original frame."""
    def to_orig(n):
        return n if n <= j else n + 1
    def to_cut(n):
        return n if n <= j else n - 1
    return to_orig, to_cut


def t_lost_client(ctx, path):
    cap = Capture(path)
    orig = Orig(ctx, cap)
    drops = list(cap.client)
    if cap.payload > BIG and not ctx.full:
        drops = sorted(set(drops[::2] + [drops[-1]]))
    drops = [j for j in drops if (cap.name, 'noclient%d' % j) not in LIMITATION]
    drops = sample(ctx, cap, orig, drops, lambda j: j)
    variants = [('noclient%d' % j, [i for i in range(len(cap.packets)) if i != j])
                for j in drops]
    problems = []
    for (tag, keep, cut), j in zip(run_all(ctx, cap, variants), drops):
        where = '%s %s (client packet %d removed)' % (cap.name, tag, j)
        if isinstance(cut, Exception):
            problems.append('%s: %s' % (where, cut))
            continue
        to_orig, to_cut = gap_mappings(j)
        gone = j + 1   # original frame number of the removed packet
        def orig_of(n, to_orig=to_orig):
            return orig.frames.get(to_orig(n))
        def lost(req, gone=gone):
            return req == gone
        check_clean(cut, problems, where)
        check_body_not_commands(cut, orig_of, problems, where)
        # frames before the gap: as in the original
        for n in range(1, gone):
            for f in FIELDS[1:]:
                if get(cut.get(n), f) != get(orig.frames.get(n), f):
                    problems.append('%s frame %d before the gap: %s %r, original %r' % (
                        where, n, f, get(cut.get(n), f), get(orig.frames.get(n), f)))
        later = [i for i in cap.client if i > j]
        o_gone = orig.frames[gone]
        # a body segment with more body after it: the engine stays in the body
        keep_body = bool(get(o_gone, 'smtp.body.length')) and not has_cmd_or_eod(o_gone) \
            and bool(later) and bool(get(orig.frames[later[0] + 1], 'smtp.body.length'))
        if later:
            resume_exp = next((to_cut(i + 1) for i in later
                               if has_cmd_or_eod(orig.frames[i + 1])), None)
            check_client_side(cut, orig, to_cut(later[0] + 1), resume_exp, to_orig,
                              problems, where, keep_body=keep_body)
        check_server_side(cut, orig, gone, to_orig, lost, to_cut, problems, where,
                          keep=('<connect>', '<end-of-data>'))
    finish(cap, 'lost-client', len(variants), problems)


def t_lost_server(ctx, path):
    cap = Capture(path)
    orig = Orig(ctx, cap)
    drops = sample(ctx, cap, orig, list(cap.server), lambda j: j)
    variants = [('noserver%d' % j, [i for i in range(len(cap.packets)) if i != j])
                for j in drops]
    problems = []
    for (tag, keep, cut), j in zip(run_all(ctx, cap, variants), drops):
        where = '%s %s (server packet %d removed)' % (cap.name, tag, j)
        if isinstance(cut, Exception):
            problems.append('%s: %s' % (where, cut))
            continue
        to_orig, to_cut = gap_mappings(j)
        gone = j + 1
        def orig_of(n, to_orig=to_orig):
            return orig.frames.get(to_orig(n))
        check_clean(cut, problems, where)
        check_body_not_commands(cut, orig_of, problems, where)
        # the client side does not depend on the lost replies here
        for n in sorted(cut):
            if to_orig(n) not in orig.client_frames:
                continue
            for f in ('smtp.command', 'smtp.end_of_data', 'smtp.body.length',
                      'smtp.chunk.length'):
                if get(cut[n], f) != get(orig.frames[to_orig(n)], f):
                    problems.append('%s frame %d (original %d): %s %r, original %r' % (
                        where, n, to_orig(n), f, get(cut[n], f),
                        get(orig.frames[to_orig(n)], f)))
        later = [i for i in cap.server if i > j]
        free = to_cut(later[0] + 1) if later else None
        # up to the first server frame after the client's next command
        until = None
        if later:
            nxt = [i for i in cap.client if i > later[0] and
                   'smtp.command' in orig.frames.get(i + 1, {})]
            after = [i for i in cap.server if nxt and i > nxt[0]]
            until = to_cut(after[0] + 1) if after else to_cut(len(cap.packets) + 1)
        check_server_side(cut, orig, 1, to_orig, lambda r: False, to_cut, problems, where,
                          free_frame=free, free_until=until)
    finish(cap, 'lost-server', len(variants), problems)


# Without --full, each way of damaging on three of the captures (each
# capture damaged at least one way; 15-bdat-chunking, whose chunks resync
# differently, two ways).
SAMPLE = {'midsession': ['01-plain-delivery', '08-pipelining', '15-bdat-chunking'],
          'lost-client': ['04-policy-reject-recipient', '12-large-body', '17-rset'],
          'lost-server': ['01-plain-delivery', '15-bdat-chunking', '17-rset']}


def tests(ctx):
    if not ctx.full:
        ctx.defer('the versions that cut a frame like one cut before (see sample()); each way of '
                  'damaging on the three other captures')
    for way, fn in (('midsession', t_midsession), ('lost-client', t_lost_client),
                    ('lost-server', t_lost_server)):
        for name in CAPTURES:
            if ctx.full or name in SAMPLE[way]:
                path = os.path.join(ctx.testdata, 'real', name + '.pcap')
                yield '%s/%s' % (way, name), (lambda p=path, f=fn: f(ctx, p))
