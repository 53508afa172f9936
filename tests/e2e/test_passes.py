"""One-pass and two-pass (-2) tshark agree on the plugin's fields.

The only thing a single pass cannot know is a forward reference: when a
command is dissected, its reply has not been seen yet, so
smtp.command.response_in is only printed with -2.  Everything else
(backward references such as smtp.reply.request_in, reply times, lines,
codes, anomalies) must be identical, frame by frame.

Then -Y smtp.reply.code==550 (one pass and two passes) must select exactly
the frames whose golden fields (testdata/expected/*/NAME.fields) carry a
550 reply code.
"""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import smtpfields as sf  # noqa: E402
import toolpath  # noqa: E402
from test_golden import FIELDS as GOLDEN_FIELDS  # noqa: E402

gen = toolpath.load('gen-edge-captures.py')

FORWARD = ['smtp.command.response_in', 'smtp.command.unanswered']
# the expert info that, like response_in, needs the whole capture: only -2
UNANSWERED = 'Command never answered in this capture'
# the golden files' fields, with the forward link and the malformed flag
BASE_FIELDS = GOLDEN_FIELDS + ['smtp.command.response_in', '_ws.malformed']
# message fields of this or older plugin builds, whichever tshark knows
MAYBE_FIELDS = ['smtp.message.length', 'smtp.message.frames', 'smtp.message.first_frame',
                'smtp.msg.reassembled.length', 'smtp.msg.reassembled.in']


def all_fields(ctx):
    """Everything compared; the forward references are checked separately."""
    known = sf.registered(ctx)
    return (BASE_FIELDS + [f for f in MAYBE_FIELDS if f in known]
            + [f for f in sf.expert_fields() if f in known])


TCP_SEGMENT = ' [TCP segment of a reassembled PDU]'


def check_passes(ctx, pcap):
    extra = sf.tls_args(ctx, pcap)
    FIELDS = all_fields(ctx)
    one = sf.frames(ctx, pcap, FIELDS, extra=extra, display_filter='smtp')
    two = sf.frames(ctx, pcap, FIELDS, extra=extra, display_filter='smtp', two_pass=True)
    # In one pass tshark calls the plugin on every segment, also on a
    # segment that only holds the start of a line (the plugin asks TCP for
    # more); in two passes such a segment is a mere "TCP segment of a
    # reassembled PDU" and does not match 'smtp'.  Such frames must carry no
    # plugin value at all in one pass; all other frames must match in both.
    nums2 = {f['frame.number'][0] for f in two}
    problems = []
    for f in one:
        if f['frame.number'][0] not in nums2:
            vals = {k: v for k, v in f.items() if k.startswith('smtp.') or k == '_ws.expert.message'}
            if vals:
                problems.append('frame %s matches smtp in one pass only, with values %r'
                                % (f['frame.number'][0], vals))
    one = [f for f in one if f['frame.number'][0] in nums2]
    n1 = [f['frame.number'][0] for f in one]
    n2 = [f['frame.number'][0] for f in two]
    assert n1 == n2, 'different frames match smtp: one pass %r, two passes %r' % (n1, n2)
    assert n1, 'no SMTP frame in %s' % pcap
    for a, b in zip(one, two):
        num = a['frame.number'][0]
        for f in FIELDS:
            if f in FORWARD:
                continue
            va, vb = a.get(f), b.get(f)
            if f == '_ws.expert.message' and vb is not None:
                vb = [v for v in vb if v != UNANSWERED] or None
            if f == '_ws.col.Info' and vb is not None:
                # TCP (not the plugin) appends this in the second pass to a
                # frame whose last bytes start a PDU finished in a later frame
                vb = [v[:-len(TCP_SEGMENT)] if v.endswith(TCP_SEGMENT) else v for v in vb]
            if va != vb:
                problems.append('frame %s %s: one pass %r, two passes %r'
                                % (num, f, va, vb))
        for f in FORWARD:
            # one pass: no forward reference at all
            if f in a:
                problems.append('frame %s: one pass printed forward reference %s = %r'
                                % (num, f, a[f]))
    # two passes do know the forward references: the (command frame, reply
    # frame) links from response_in are exactly those from request_in,
    # leaving out the greeting, which answers the SYN (not an SMTP frame).
    # As sets: with LMTP one end-of-data gets a reply per recipient, often
    # several in one frame, and response_in names that frame once.
    smtp_frames = set(n2)
    fwd = {(fr['frame.number'][0], r) for fr in two for r in fr.get('smtp.command.response_in', [])}
    back = {(q, fr['frame.number'][0]) for fr in two
            for q in fr.get('smtp.reply.request_in', []) if q in smtp_frames}
    if fwd != back:
        problems.append('two passes: response_in links %r, request_in links %r'
                        % (sorted(fwd - back), sorted(back - fwd)))
    if not fwd and any('smtp.command' in fr for fr in two):
        problems.append('two passes: no response_in at all')
    # -2: a command frame says "never answered" exactly when one of its
    # commands has no response_in (one response_in per answered command)
    for fr in two:
        if 'smtp.command' not in fr:
            continue
        said = UNANSWERED in fr.get('_ws.expert.message', [])
        n_cmd = len(fr['smtp.command'])
        n_rsp = len(fr.get('smtp.command.response_in', []))
        if said != (n_rsp < n_cmd) and not fr.get('smtp.end_of_data') and n_rsp <= n_cmd:
            problems.append('frame %s: %d commands, %d response_in, unanswered said: %s'
                            % (fr['frame.number'][0], n_cmd, n_rsp, said))
    assert not problems, '\n'.join(problems[:30])


def check_repeats(ctx):
    """Runs of like units in one segment (replies no command asked for,
    the first with its anomaly, pipelined commands and replies, replies whose lines
    disagree on the code, each with its anomaly) are each kept as one byte, or as one count for a
    run of them, an anomaly's place as its distance from where the unit
    before it ended: the second pass reads back the same units, at the same
    places, as the first made."""
    steps = [gen.GREETING, gen.EHLO, gen.EHLO_OK,
             ("S", b"250 2.0.0 Ok\r\n" * 40),
             ("C", b"NOOP\r\n" * 30), ("S", b"250 2.0.0 Ok\r\n" * 30),
             ("C", b"NOOP\r\n" * 10), ("S", b"250-a\r\n251 b\r\n" * 10)] + gen.QUIT
    path = os.path.join(ctx.tmp, 'repeats.pcap')
    gen.pl.write_pcap(path, gen.Conn().run(steps))
    check_passes(ctx, path)
    for two in (False, True):
        rows = sf.frames(ctx, path, ['frame.number', 'smtp.reply.code', 'smtp.reply.request_in',
                                     '_ws.expert.message'],
                         display_filter='smtp.reply.code', two_pass=two)
        got = [(len(r['smtp.reply.code']), len(r.get('smtp.reply.request_in', [])),
                len(r.get('_ws.expert.message', []))) for r in rows]
        # greeting (answers the SYN); EHLO; 40 replies to nothing (one expert info for
        # the run); 30 answers; 10 answers whose two lines disagree; QUIT
        assert got == [(1, 1, 0), (1, 1, 0), (40, 0, 1), (30, 30, 0), (10, 10, 10), (1, 1, 0)], (two, got)


def check_long_reply(ctx):
    """A reply of 3,000 lines cut every 1,460 bytes is rendered whole where
    it ends, but of the bytes of the earlier segments only its first line
    and the line cut at their end are kept for later passes: the lines
    between are one smtp.reply.lines_not_kept item (their byte count), in
    one pass and two alike; the lines of the last segment are shown."""
    first = b"250-mx.example Hello client.example\r\n"
    reply = first + b"".join(b"250-X-EXT-%04d\r\n" % i for i in range(3000)) + b"250 LAST\r\n"
    steps = [gen.GREETING, gen.EHLO, ("S", reply, {"every": 1460})] + gen.QUIT
    path = os.path.join(ctx.tmp, 'long-reply.pcap')
    gen.pl.write_pcap(path, gen.Conn().run(steps))
    check_passes(ctx, path)
    held = len(reply) // 1460 * 1460  # bytes of the segments before the last
    hole_end = reply.rindex(b"\n", 0, held) + 1
    shown = [first] + [l + b"\n" for l in reply[hole_end:].split(b"\n")[:-1]]
    for two in (False, True):
        rows = sf.frames(ctx, path, ['smtp.reply.lines_not_kept', 'smtp.reply.line', 'smtp.ehlo.extension'],
                         display_filter='smtp.reply.lines_not_kept', two_pass=two)
        assert len(rows) == 1, rows
        r = rows[0]
        assert r['smtp.reply.lines_not_kept'] == [str(hole_end - len(first))], r['smtp.reply.lines_not_kept']
        assert r['smtp.reply.line'] == [l.decode().rstrip('\r\n') for l in shown], r['smtp.reply.line'][:3]
        assert len(r['smtp.ehlo.extension']) == len(shown) - 1, len(r['smtp.ehlo.extension'])
    # the bytes shown (the Reassembled SMTP tab, -x) alike too: zeros for
    # the lines not kept, in the first pass as in later ones
    hexes = [ctx.tshark.run(['-r', ctx.tshark.stage(path), '-x', '-Y', 'smtp.reply.lines_not_kept'] + two)[0]
             for two in ([], ['-2'])]
    assert hexes[0] == hexes[1], 'tshark -x differs between one pass and two'
    assert 'Reassembled SMTP' in hexes[0] and '00 00 00 00 00 00 00 00' in hexes[0], hexes[0][:300]


def golden_550_frames(golden):
    code_col = GOLDEN_FIELDS.index('smtp.reply.code')
    out = []
    with open(golden, encoding='utf-8', errors='surrogateescape') as f:
        for line in f:
            cols = line.rstrip('\n').split('\t')
            # a golden row has exactly len(GOLDEN_FIELDS) columns; a value
            # with a newline in it (random bytes) continues on the next line
            if len(cols) >= len(GOLDEN_FIELDS) and cols[0].isdigit() \
                    and '550' in cols[code_col].split(' ; '):
                out.append(cols[0])
    return out


def check_550(ctx, pcap, golden, must_have):
    want = golden_550_frames(golden)
    if must_have:
        assert want, 'golden %s has no 550 reply: test would be vacuous' % golden
    extra = sf.tls_args(ctx, pcap)
    for two in (False, True):
        got = [f['frame.number'][0] for f in sf.frames(
            ctx, pcap, ['frame.number'], extra=extra,
            display_filter='smtp.reply.code==550', two_pass=two)]
        assert got == want, '-Y smtp.reply.code==550%s selects frames %r, golden says %r' % (
            ' -2' if two else '', got, want)


def tests(ctx):
    yield 'repeated units one-pass vs -2', lambda: check_repeats(ctx)
    yield 'long reply, lines not kept, one-pass vs -2', lambda: check_long_reply(ctx)
    # without --full, -Y 550 on the captures with a 550 reply and on every
    # fourth of the others (that it selects nothing there)
    if not ctx.full:
        ctx.defer('-Y 550 on three of every four captures without a 550 reply')
    without = 0
    for sub in ('real', 'edge'):
        for pcap in ctx.captures(sub):
            name = '%s/%s' % (sub, os.path.basename(pcap))
            yield name + ' one-pass vs -2', (lambda p=pcap: check_passes(ctx, p))
            golden = os.path.join(ctx.testdata, 'expected', sub,
                                  os.path.basename(pcap)[:-5] + '.fields')
            must = os.path.basename(pcap) in ('02-unknown-user.pcap', '04-policy-reject-recipient.pcap')
            if not must and not ctx.full and not golden_550_frames(golden):
                without += 1
                if without % 4 != 1:
                    continue
            yield name + ' -Y 550', (lambda p=pcap, g=golden, m=must: check_550(ctx, p, g, m))
