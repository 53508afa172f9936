"""Bad input: the plugin reports it with expert infos and keeps dissecting.

For each edge capture with bad input: the exact count of every expert info
of the plugin (src/smtp_anomalies.def plus the glue's reply/retransmission
infos) over the whole capture, and that the lines after the bad part are
dissected (commands, reply codes, command/reply pairing, run with -2 so
both directions of a pairing are known).  Then a generated capture: 64 kB of
random bytes each way on port 25, and after it a normal session in a new
connection, which must dissect fully; tshark must exit 0, print nothing on
stderr, and no frame may be malformed.
"""
import collections
import os
import random
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import smtpfields as sf  # noqa: E402
import toolpath  # noqa: E402,F401  (tests/tools on sys.path)
import pcaplib as pl  # noqa: E402

LINE_FIELDS = ['frame.number', 'tcp.stream', 'smtp.command', 'smtp.command.verb',
               'smtp.command.response_in', 'smtp.reply.code', 'smtp.reply.line',
               'smtp.reply.command', 'smtp.reply.request_in', 'smtp.body.length',
               '_ws.malformed']


# the expert infos epan adds when a dissector throws
EXCEPTION_EXPERTS = ['_ws.malformed.expert', '_ws.malformed.dissector_bug',
                     '_ws.malformed.reassembly']


def dissect(ctx, pcap):
    known = sf.registered(ctx)
    experts = [f for f in sf.expert_fields() if f in known]
    exc = [e for e in EXCEPTION_EXPERTS if e in known]
    frames = sf.frames(ctx, pcap, LINE_FIELDS + experts + exc, display_filter='smtp',
                       two_pass=True)
    counts = collections.Counter()
    for fr in frames:
        for e in experts:
            counts[e[len('smtp.'):]] += len(fr.get(e, []))
    # An anomaly of expert group MALFORMED marks its frame _ws.malformed;
    # any other _ws.malformed (a dissector exception) is a failure.
    bad_groups = set(sf.malformed_anomalies())
    for fr in frames:
        if any(e in fr for e in EXCEPTION_EXPERTS):
            raise AssertionError('frame %s: dissector exception %r' % (
                fr['frame.number'][0], {e: fr[e] for e in EXCEPTION_EXPERTS if e in fr}))
        if '_ws.malformed' in fr and not any('smtp.' + n in fr for n in bad_groups):
            raise AssertionError('frame %s is malformed without a MALFORMED anomaly'
                                 % fr['frame.number'][0])
    return frames, {k: v for k, v in counts.items() if v}


def by_frame(frames):
    return {int(fr['frame.number'][0]): fr for fr in frames}


def commands(frames):
    return [(int(fr['frame.number'][0]), c) for fr in frames for c in fr.get('smtp.command', [])]


def replies(frames):
    """(frame, code, paired command or None) for every reply."""
    out = []
    for fr in frames:
        codes = fr.get('smtp.reply.code', [])
        paired = fr.get('smtp.reply.command', [])
        for i, c in enumerate(codes):
            # a frame with several replies and not all paired: not in these captures
            assert len(paired) in (0, len(codes)), 'frame %s: codes %r, commands %r' % (
                fr['frame.number'][0], codes, paired)
            out.append((int(fr['frame.number'][0]), c, paired[i] if paired else None))
    return out


def pairs(frames):
    """(command frame, reply frame) links known from both sides."""
    fwd = {(int(fr['frame.number'][0]), int(r)) for fr in frames
           for r in fr.get('smtp.command.response_in', [])}
    back = {(int(q), int(fr['frame.number'][0])) for fr in frames
            for q in fr.get('smtp.reply.request_in', [])}
    return fwd, back


def eq(got, want, what):
    assert got == want, '%s:\n  got  %r\n  want %r' % (what, got, want)


def edge(ctx, name):
    return os.path.join(ctx.testdata, 'edge', name + '.pcap')


def check_counts(counts, want):
    eq(counts, want, 'expert info counts')


# ---- the edge captures ----

def t_garbage(ctx):
    frames, counts = dissect(ctx, edge(ctx, 'garbage-port25'))
    # 2048 random bytes: 12 "lines" that are no command, 11 ended by a bare
    # LF, 6 with a bare CR, 2 longer than 512; the last random bytes have no
    # line end, so they and "EHLO client.example" form one line.  The 11
    # garbage "commands" the server never answers are counted as such with
    # or without a tree (the 12th is answered by the server's 500).
    check_counts(counts, {'command.not_a_command': 12, 'line.bare_lf': 11,
                          'line.bare_cr': 6, 'line.too_long': 2, 'command.unanswered': 11})
    cmds = commands(frames)
    eq(len(cmds), 13, 'number of client lines')
    assert cmds[11][1].endswith('EHLO client.example'), \
        'line 12 should end in the EHLO: %r' % cmds[11][1][-40:]
    eq(cmds[12], (9, 'QUIT'), 'QUIT after the garbage')
    eq(by_frame(frames)[9].get('smtp.command.verb'), ['QUIT'], 'QUIT verb')
    f = by_frame(frames)
    eq([(n, c) for n, c, _ in replies(frames)], [(4, '220'), (8, '250'), (10, '221')],
       'replies (greeting, EHLO, QUIT)')
    eq(f[8].get('smtp.reply.line'), ['250-mx.example', '250-PIPELINING', '250-SIZE 10240000',
                                     '250-8BITMIME', '250 SMTPUTF8'], 'EHLO reply lines')
    eq(f[10].get('smtp.reply.line'), ['221 2.0.0 Bye'], 'QUIT reply line')
    eq(f[4].get('smtp.reply.command'), ['<connect>'], 'greeting pairing')


def t_overlong(ctx):
    frames, counts = dissect(ctx, edge(ctx, 'overlong-line'))
    check_counts(counts, {'command.not_a_command': 1, 'line.overlong': 1,
                          'reply.permanent_failure': 1})
    f = by_frame(frames)
    eq([c for _, c in commands(frames)][-2:], ['NOOP', 'QUIT'], 'last commands')
    noop = [n for n, c in commands(frames) if c == 'NOOP']
    eq(len(noop), 1, 'one NOOP')
    noop = noop[0]
    eq(f[noop].get('smtp.command.verb'), ['NOOP'], 'NOOP verb')
    rsp = [int(r) for r in f[noop].get('smtp.command.response_in', [])]
    eq(len(rsp), 1, 'NOOP response_in')
    eq(f[rsp[0]].get('smtp.reply.code'), ['250'], 'reply to NOOP')
    eq(f[rsp[0]].get('smtp.reply.command'), ['NOOP'], 'reply pairs with NOOP')
    eq(f[rsp[0]].get('smtp.reply.request_in'), [str(noop)], 'reply request_in')
    # the 500 answers the overlong line, shown in pieces
    got = [(c, p[:10] if p else None) for _, c, p in replies(frames)]
    eq(got, [('220', '<connect>'), ('250', 'EHLO'), ('500', 'abcdefghij'), ('250', 'NOOP'),
             ('221', 'QUIT')], 'replies and the commands they answer')


def t_reply_without_code(ctx):
    frames, counts = dissect(ctx, edge(ctx, 'reply-without-code'))
    check_counts(counts, {'reply.bad_syntax': 1})
    f = by_frame(frames)
    eq(replies(frames), [(4, '220', '<connect>'), (6, '250', 'EHLO'), (8, '221', 'QUIT')],
       'replies')
    # the code-less line is reported (bad_syntax), not a reply line
    eq(f[6].get('smtp.reply.line'), ['250 mx'], 'reply lines of frame 6')
    eq(commands(frames), [(5, 'EHLO a'), (7, 'QUIT')], 'commands')


def t_bare_lf(ctx):
    frames, counts = dissect(ctx, edge(ctx, 'bare-lf'))
    # every line but three ends in a bare LF; "MAIL FROM:<a@x>\r" has a
    # bare CR, so MAIL and RCPT are one line and the server's first 250
    # comes before that line is complete (no pending command).
    check_counts(counts, {'line.bare_lf': 12, 'line.bare_cr': 1, 'reply.no_command': 1,
                          'data.smuggling': 1})
    eq(commands(frames), [(5, 'EHLO a'), (9, 'MAIL FROM:<a@x>\rRCPT TO:<b@x>'),
                          (11, 'DATA'), (16, 'QUIT')], 'commands')
    eq(replies(frames), [(4, '220', '<connect>'), (6, '250', 'EHLO'), (8, '250', None),
                         (10, '250', 'MAIL'), (12, '354', 'DATA'),
                         (15, '250', '<end-of-data>'), (17, '221', 'QUIT')], 'replies')
    body = sum(int(v) for fr in frames for v in fr.get('smtp.body.length', []))
    eq(body, len(b"Subject: bare\r\n\r\nline one\n.\nline three\r\n"), 'body length')


def t_lookalike_accepted(ctx):
    frames, counts = dissect(ctx, edge(ctx, 'lookalike-accepted'))
    # the body ends with a bare-LF "\n.\n" and the server answers it: the
    # server took the look-alike for the end of data; no data was lost
    check_counts(counts, {'line.bare_lf': 1, 'data.smuggling': 1, 'data.lookalike_accepted': 1})
    eq(replies(frames), [(4, '220', '<connect>'), (6, '250', 'EHLO'), (8, '250', 'MAIL'),
                         (10, '250', 'RCPT'), (12, '354', 'DATA'), (15, '250', '<end-of-data>'),
                         (17, '221', 'QUIT')], 'replies')
    fwd, back = pairs(frames)
    assert (16, 17) in back and not any(r == 15 for _, r in back), back
    eq(back - {(1, 4)}, fwd, 'request_in and response_in links (the greeting: the SYN)')


def t_midsession_data(ctx):
    frames, counts = dissect(ctx, edge(ctx, 'midsession-data'))
    check_counts(counts, {'unsynchronized': 1})
    eq(replies(frames), [(4, '250', '<end-of-data>'), (6, '221', 'QUIT')], 'replies')
    eq(commands(frames), [(5, 'QUIT')], 'commands')
    fwd, back = pairs(frames)
    eq(back, {(3, 4), (5, 6)}, 'request_in links')
    eq(fwd, {(3, 4), (5, 6)}, 'response_in links')


def t_midsession_multiline(ctx):
    frames, counts = dissect(ctx, edge(ctx, 'midsession-multiline'))
    check_counts(counts, {'unsynchronized': 1})
    eq(commands(frames), [(2, 'MAIL FROM:<a@x>'), (4, 'RCPT TO:<b@x>'), (6, 'QUIT')], 'commands')
    eq(replies(frames), [(1, '250', None), (3, '250', 'MAIL'), (5, '250', 'RCPT'),
                         (7, '221', 'QUIT')], 'replies')
    fwd, back = pairs(frames)
    eq(fwd, {(2, 3), (4, 5), (6, 7)}, 'response_in links')
    eq(back, fwd, 'request_in links')


def t_lost_segment(ctx):
    frames, counts = dissect(ctx, edge(ctx, 'lost-segment'))
    check_counts(counts, {'unsynchronized': 1, 'reply.no_command': 1})
    eq([c for _, c in commands(frames)], ['EHLO client.example', 'MAIL FROM:<a@x>', 'DATA', 'QUIT'],
       'commands (RCPT lost)')
    eq([(c, p) for _, c, p in replies(frames)],
       [('220', '<connect>'), ('250', 'EHLO'), ('250', 'MAIL'), ('250', None),
        ('354', 'DATA'), ('250', '<end-of-data>'), ('221', 'QUIT')], 'replies')
    body = sum(int(v) for fr in frames for v in fr.get('smtp.body.length', []))
    eq(body, len(b"Subject: test\r\nFrom: a@x\r\nTo: b@x\r\n\r\nHello.\r\n"), 'body length')


def t_unsolicited_421(ctx):
    frames, counts = dissect(ctx, edge(ctx, 'unsolicited-421'))
    check_counts(counts, {'reply.transient_failure': 1})
    eq(replies(frames), [(4, '220', '<connect>'), (6, '250', 'EHLO'), (7, '421', None)],
       'replies')
    eq(by_frame(frames)[7].get('smtp.reply.line'), ['421 4.4.2 mx Error: timeout exceeded'],
       '421 line')


# ---- generated: 64 kB of random bytes each way, then a normal session ----

NORMAL = [
    ('S', b'220 mx.example ESMTP\r\n'),
    ('C', b'EHLO client.example\r\n'),
    ('S', b'250-mx.example\r\n250 8BITMIME\r\n'),
    ('C', b'MAIL FROM:<a@example.org>\r\n'),
    ('S', b'250 2.1.0 Ok\r\n'),
    ('C', b'RCPT TO:<b@example.org>\r\n'),
    ('S', b'250 2.1.5 Ok\r\n'),
    ('C', b'DATA\r\n'),
    ('S', b'354 End data with <CR><LF>.<CR><LF>\r\n'),
    ('C', b'Subject: after noise\r\n\r\nHello.\r\n'),
    ('C', b'.\r\n'),
    ('S', b'250 2.0.0 Ok: queued\r\n'),
    ('C', b'QUIT\r\n'),
    ('S', b'221 2.0.0 Bye\r\n'),
]


class Conn:
    def __init__(self, pl, frames, cport, t0):
        import ipaddress
        self.pl, self.frames, self.t = pl, frames, t0
        self.ep = {'C': (ipaddress.ip_address('198.51.100.9'), cport),
                   'S': (ipaddress.ip_address('192.0.2.25'), 25)}
        self.nxt = {'C': 1000000 + cport * 7, 'S': 5000000 + cport * 3}
        self.ident = 0

    def pkt(self, who, flags, payload=b''):
        pl = self.pl
        other = 'S' if who == 'C' else 'C'
        (src, sp), (dst, dp) = self.ep[who], self.ep[other]
        ack = self.nxt[other] if flags & pl.TCP_ACK else 0
        seg = pl.TcpSeg(self.t, src, dst, sp, dp, self.nxt[who], ack, flags, 65535, payload)
        self.ident += 1
        self.frames.append((self.t, pl.build_tcp_frame(seg, self.ident)))
        self.t += 1000000
        self.nxt[who] = (self.nxt[who] + len(payload)
                         + (1 if flags & (pl.TCP_SYN | pl.TCP_FIN) else 0)) % (1 << 32)

    def open(self):
        pl = self.pl
        self.pkt('C', pl.TCP_SYN)
        self.pkt('S', pl.TCP_SYN | pl.TCP_ACK)
        self.pkt('C', pl.TCP_ACK)

    def send(self, who, data, mss=1400):
        for i in range(0, len(data), mss):
            self.pkt(who, self.pl.TCP_ACK | self.pl.TCP_PSH, data[i:i + mss])

    def close(self):
        pl = self.pl
        self.pkt('S', pl.TCP_FIN | pl.TCP_ACK)
        self.pkt('C', pl.TCP_FIN | pl.TCP_ACK)
        self.pkt('S', pl.TCP_ACK)


def make_noise_capture(ctx):
    rng = random.Random(64025)
    frames = []
    noise = Conn(pl, frames, 40100, 1700000000 * 10**9)
    noise.open()
    c2s, s2c = rng.randbytes(65536), rng.randbytes(65536)
    for i in range(0, 65536, 1400 * 4):   # interleave the two directions
        noise.send('C', c2s[i:i + 1400 * 4])
        noise.send('S', s2c[i:i + 1400 * 4])
    noise.close()
    ok = Conn(pl, frames, 40101, noise.t + 10**9)
    ok.open()
    for who, data in NORMAL:
        ok.send(who, data)
    ok.close()
    path = os.path.join(ctx.tmp, 'badinput-noise-then-session.pcap')
    pl.write_pcap(path, frames)
    return path


def t_noise(ctx):
    pcap = make_noise_capture(ctx)
    # exit status and stderr: tshark.run raises on a non-zero exit
    out, err = ctx.tshark.run(['-r', ctx.tshark.stage(pcap), '-2', '-V'])
    eq(err, '', 'stderr')
    assert 'Malformed Packet' not in out, 'a dissector exception (Malformed Packet)'
    # _ws.malformed only where a MALFORMED-group anomaly says why (dissect())
    frames, _ = dissect(ctx, pcap)
    session = [fr for fr in frames if fr.get('tcp.stream') == ['1']]
    eq([c for _, c in commands(session)],
       ['EHLO client.example', 'MAIL FROM:<a@example.org>', 'RCPT TO:<b@example.org>', 'DATA',
        'QUIT'], 'commands of the second connection')
    eq([(c, p) for _, c, p in replies(session)],
       [('220', '<connect>'), ('250', 'EHLO'), ('250', 'MAIL'), ('250', 'RCPT'),
        ('354', 'DATA'), ('250', '<end-of-data>'), ('221', 'QUIT')],
       'replies of the second connection')
    body = sum(int(v) for fr in session for v in fr.get('smtp.body.length', []))
    eq(body, len(b'Subject: after noise\r\n\r\nHello.\r\n'), 'body length')
    fwd, back = pairs(session)
    eq(len(fwd), 6, 'response_in links in the second connection')
    eq(fwd, {b for b in back if b[0] in {int(fr['frame.number'][0]) for fr in session}},
       'links agree')
    # the noise connection was dissected as SMTP (and survived it)
    noise = [fr for fr in frames if fr.get('tcp.stream') == ['0']]
    assert len(noise) > 0, 'noise connection not dissected as SMTP'


def tests(ctx):
    for name, fn in [('garbage-port25', t_garbage), ('overlong-line', t_overlong),
                     ('reply-without-code', t_reply_without_code), ('bare-lf', t_bare_lf),
                     ('lookalike-accepted', t_lookalike_accepted),
                     ('midsession-data', t_midsession_data),
                     ('midsession-multiline', t_midsession_multiline),
                     ('lost-segment', t_lost_segment), ('unsolicited-421', t_unsolicited_421),
                     ('64k random bytes then a session', t_noise)]:
        yield name, (lambda f=fn: f(ctx))
