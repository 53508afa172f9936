"""What users read, checked end to end with the real tshark (issues 7 and 11):
Export Objects with and without a tree, expert counts independent of the
tree, meanings for the command answered, outcomes, many pipelined
recipients, STARTTLS followed by clear text, secrets that never show with
show_auth off, and long commands cut across segments (which once made the
second pass read past its buffer) dissected alike in one pass and two,
their pieces held by the plugin (TCP reassembles nothing) and linked to
each other (smtp.unfinished, smtp.continued_in/_from/_bytes).

Captures are generated into the test's own folder with the edge-case
generator's connection builder (tests/tools/gen-edge-captures.py).
"""
import base64
import os
import re

import smtpfields as sf
import toolpath

gen = toolpath.load('gen-edge-captures.py')

GREET, EHLO, EHLO_OK, QUIT = gen.GREETING, gen.EHLO, gen.EHLO_OK, gen.QUIT


def write(ctx, name, steps, syn=True):
    path = os.path.join(ctx.tmp, name + '.pcap')
    gen.pl.write_pcap(path, gen.Conn().run(steps, syn))
    return path


def fields(ctx, pcap, names, extra=()):
    out, _ = ctx.tshark.run(['-r', ctx.tshark.stage(pcap), '-T', 'fields', '-E', 'occurrence=a',
                             '-E', 'aggregator=|'] + [a for n in names for a in ('-e', n)] + list(extra))
    return [l.split('\t') for l in out.splitlines()]


# ---- Export Objects, with and without a tree, one pass and two

def exported(ctx, pcap, args, builtin=False):
    d = os.path.join(ctx.tmp, 'eo-%d' % abs(hash((pcap, tuple(args), builtin))))
    os.makedirs(d, exist_ok=True)
    os.chmod(d, 0o777)
    ctx.tshark.run(['-r', ctx.tshark.stage(pcap), '-q', '--export-objects', 'imf,' + d] + args,
                   builtin=builtin)
    got = {}
    for f in sorted(os.listdir(d)):
        with open(os.path.join(d, f), 'rb') as fh:
            got[f] = fh.read()
    return got


def check_export(ctx, pcap):
    plain = exported(ctx, pcap, [])
    assert plain, 'no message exported without a tree'
    for args in (['-Y', 'smtp'], ['-2'], ['-2', '-Y', 'smtp'], ['-V']):
        other = exported(ctx, pcap, args)
        assert other == plain, 'export with %s differs: %s vs %s' % (args, sorted(other), sorted(plain))
    builtin = exported(ctx, pcap, [], builtin=True)
    assert len(plain) >= len(builtin), 'built-in exports %d, plugin %d' % (len(builtin), len(plain))


def check_large_message(ctx, bdat):
    """A message over 1 MB (kept in the buffer it grew in, dot-stuffing
    removed in place): exported byte for byte as sent, without the
    stuffing, in one pass and two, with and without a tree."""
    steps, want = gen.large_message(bdat)
    assert len(want) > 1024 * 1024
    pcap = write(ctx, 'large-%s' % ('bdat' if bdat else 'data'), steps)
    for args in ([], ['-2'], ['-V'], ['-2', '-Y', 'smtp']):
        got = exported(ctx, pcap, args)
        assert list(got.values()) == [want], (args, sorted(got), [len(v) for v in got.values()], len(want))


def check_messages_here(ctx):
    """Messages that came whole in one segment are not kept: every pass
    makes them again from the segment's bytes (DATA without its
    dot-stuffing, BDAT chunks put together); those over several segments
    are kept.  Exports, lengths, frames and transaction sizes alike in one
    pass and two, with and without a tree."""
    mail = [("C", b"MAIL FROM:<a@x>\r\n"), ("S", b"250 ok\r\n"), ("C", b"RCPT TO:<b@x>\r\n"),
            ("S", b"250 ok\r\n")]
    data = lambda body, opt=None: [("C", b"DATA\r\n"), ("S", b"354 go\r\n")] + \
        [("C", body + b".\r\n") + ((opt,) if opt else ())] + [("S", b"250 2.0.0 queued\r\n")]
    one = b"Subject: one\r\n\r\n..dot\r\nplain\r\n...two dots\r\n"
    two = b"Subject: two\r\n\r\nfirst segment\r\n..second segment\r\n"
    steps = [GREET, EHLO, EHLO_OK] + \
        mail + data(one) + \
        mail + data(two, {"cut": [21]}) + \
        mail + data(b"") + \
        mail + [("C", b"BDAT 12\r\nSubject: 3\r\nBDAT 9 LAST\r\n\r\nthree\r\n"),
                ("S", b"250 2.0.0 12 bytes\r\n250 2.0.0 queued\r\n")] + \
        mail + [("C", b"BDAT 12\r\nSubject: 4\r\n"), ("S", b"250 2.0.0 12 bytes\r\n"),
                ("C", b"BDAT 8 LAST\r\n\r\nfour\r\n"), ("S", b"250 2.0.0 queued\r\n")] + QUIT
    want = [b"Subject: one\r\n\r\n.dot\r\nplain\r\n..two dots\r\n",
            b"Subject: two\r\n\r\nfirst segment\r\n.second segment\r\n",
            b"", b"Subject: 3\r\n\r\nthree\r\n", b"Subject: 4\r\n\r\nfour\r\n"]
    pcap = write(ctx, 'messages-here', steps)
    for args in ([], ['-2'], ['-V'], ['-2', '-Y', 'smtp']):
        got = exported(ctx, pcap, args)
        assert sorted(got.values()) == sorted(want), (args, sorted(got.values()))
    rows = [['|'.join(r) for r in fields(ctx, pcap, ['smtp.message.length', 'smtp.message.frames'],
                                         two + ['-Y', 'smtp.message.length'])]
            for two in ([], ['-2'])]
    assert rows[0] == rows[1] == ['%d|%d' % (len(w), n) for w, n in zip(want, (1, 2, 1, 1, 2))], rows
    sizes = [fields(ctx, pcap, ['smtp.transaction.size'], two + ['-Y', 'smtp.transaction.size'])
             for two in ([], ['-2'])]
    assert sizes[0] == sizes[1] == [[str(len(w))] for w in want if w], sizes  # 0: not shown
    for two in ([], ['-2']):  # the message item holds the text, and IMF reads it
        rows = fields(ctx, pcap, ['smtp.message', 'imf.subject'], two + ['-Y', 'smtp.message.length > 0'])
        assert [r[1] for r in rows] == ['one', 'two', '3', '4'], rows
        assert rows[0][0] == want[0].decode().replace('\r\n', '\\r\\n'), rows[0]


# ---- expert infos: the same with and without a tree

def expert_table(ctx, pcap, extra):
    out, _ = ctx.tshark.run(['-r', ctx.tshark.stage(pcap), '-2', '-q', '-z', 'expert'] + extra)
    return out


def check_experts(ctx, pcap):
    bare = expert_table(ctx, pcap, [])
    assert 'SMTP-Analysis' in bare, bare
    for extra in (['-Y', 'smtp'], ['-Y', 'frame']):  # a filter builds the tree
        other = expert_table(ctx, pcap, extra)
        if extra == ['-Y', 'smtp']:  # TCP's own infos are only in SMTP frames then
            keep = lambda t: [l for l in t.splitlines() if 'SMTP' in l]
            assert keep(other) == keep(bare), 'SMTP expert counts with %s differ:\n%s\n---\n%s' % (
                extra, other, bare)
        else:
            assert other == bare, 'expert counts with %s differ:\n%s\n---\n%s' % (extra, other, bare)


# ---- meanings for the command answered

def check_meanings(ctx):
    pcap = write(ctx, 'meanings', [GREET, EHLO, EHLO_OK, ("C", b"MAIL FROM:<a@x>\r\n"),
                                   ("S", b"250 2.1.0 Ok\r\n"), ("C", b"RCPT TO:<b@y>\r\n"),
                                   ("S", b"454 4.7.1 <b@y>: Relay access denied\r\n"),
                                   ("C", b"RCPT TO:<c@x>\r\n"), ("S", b"250 2.1.5 Ok\r\n"),
                                   ("C", b"DATA\r\n"), ("S", b"354 go\r\n"),
                                   ("C", b"Subject: t\r\n\r\nhi\r\n.\r\n"),
                                   ("S", b"521 5.2.1 not accepted\r\n")] + QUIT)
    rows = fields(ctx, pcap, ['smtp.reply.code', 'smtp.reply.command', 'smtp.reply.meaning'],
                  ['-Y', 'smtp.reply.code == 454 || smtp.reply.code == 521'])
    assert len(rows) == 2, rows
    code, cmd, meaning = rows[0]
    assert (code, cmd) == ('454', 'RCPT'), rows[0]
    assert 'STARTTLS' not in meaning and 'AUTH' not in meaning, meaning
    assert 'unusual as a reply to RCPT' in meaning, meaning
    code, cmd, meaning = rows[1]
    assert (code, cmd) == ('521', '<end-of-data>'), rows[1]
    assert 'connection opening' not in meaning and 'instead of 220' not in meaning, meaning
    assert 'unusual as a reply to <end-of-data>' in meaning, meaning


# ---- outcomes

OUTCOMES = [
    ('greylisted', [("C", b"MAIL FROM:<a@x>\r\n"), ("S", b"250 ok\r\n"), ("C", b"RCPT TO:<b@x>\r\n"),
                    ("S", b"450 4.2.0 greylisted\r\n"), ("C", b"RSET\r\n"), ("S", b"250 ok\r\n")],
     'deferred at RCPT'),
    ('unknown-user', [("C", b"MAIL FROM:<a@x>\r\n"), ("S", b"250 ok\r\n"), ("C", b"RCPT TO:<b@x>\r\n"),
                      ("S", b"550 5.1.1 unknown\r\n"), ("C", b"RSET\r\n"), ("S", b"250 ok\r\n")],
     'rejected at RCPT'),
    ('partial', [("C", b"MAIL FROM:<>\r\n"), ("S", b"250 ok\r\n"), ("C", b"RCPT TO:<b@x>\r\n"),
                 ("S", b"550 5.1.1 unknown\r\n"), ("C", b"RCPT TO:<c@x>\r\n"), ("S", b"250 ok\r\n"),
                 ("C", b"DATA\r\n"), ("S", b"354 go\r\n"), ("C", b"hi\r\n.\r\n"), ("S", b"250 2.0.0 queued\r\n")],
     'delivered to some recipients'),
    ('deferred-after-data', [("C", b"MAIL FROM:<a@x>\r\n"), ("S", b"250 ok\r\n"), ("C", b"RCPT TO:<b@x>\r\n"),
                             ("S", b"250 ok\r\n"), ("C", b"DATA\r\n"), ("S", b"354 go\r\n"),
                             ("C", b"hi\r\n.\r\n"), ("S", b"451 4.3.0 try later\r\n")],
     'deferred after data'),
]


def check_outcome(ctx, name, steps, want):
    pcap = write(ctx, 'outcome-' + name, [GREET, EHLO, EHLO_OK] + steps + QUIT)
    rows = fields(ctx, pcap, ['smtp.transaction.outcome', 'smtp.transaction.sender'],
                  ['-Y', 'smtp.transaction.outcome'])
    assert [r[0] for r in rows] == [want], rows
    if name == 'partial':
        assert rows[0][1] == '<>', 'null sender shown as %r' % rows[0][1]


def check_closed(ctx, how):
    """A transaction the connection's end cuts off gets an outcome on the
    FIN or RST frame, in one pass and two."""
    steps = [GREET, EHLO, EHLO_OK, ("C", b"MAIL FROM:<a@x>\r\nRCPT TO:<b@x>\r\nDATA\r\n"),
             ("S", b"250 ok\r\n250 ok\r\n354 go\r\n"), ("C", b"hi\r\n.\r\n")]
    if how == 'closed with data':
        steps = [GREET, EHLO, EHLO_OK, ("C", b"MAIL FROM:<a@x>\r\nRCPT TO:<b@x>\r\n")]
    c = gen.Conn()
    c.run(steps)
    if how == 'reset':
        c.packet("C", gen.pl.TCP_RST | gen.pl.TCP_ACK)
    elif how == 'closed with data':
        # the server answers MAIL and closes in the same segment, RCPT still
        # waiting: the frame is dissected as SMTP, then ends the transaction
        # (the postdissector takes the conversation its call found)
        c.packet("S", gen.pl.TCP_FIN | gen.pl.TCP_PSH | gen.pl.TCP_ACK, b"250 ok\r\n")
        c.packet("C", gen.pl.TCP_FIN | gen.pl.TCP_ACK)
        c.packet("S", gen.pl.TCP_ACK)
    else:
        c.close("S")
    pcap = os.path.join(ctx.tmp, 'closed-%s.pcap' % how.replace(' ', '-'))
    gen.pl.write_pcap(pcap, c.frames)
    for extra in ([], ['-2']):
        rows = fields(ctx, pcap, ['frame.number', 'tcp.flags.str', 'smtp.transaction.outcome',
                                  'smtp.reply.code'],
                      ['-Y', 'smtp.transaction.outcome'] + extra)
        if how == 'closed with data':
            assert [r[2:] for r in rows] == [['connection closed', '250']], rows
            assert 'F' in rows[0][1] and 'P' in rows[0][1], rows
            continue
        assert len(rows) == 1 and rows[0][2] == 'connection ' + how, rows
        assert ('R' if how == 'reset' else 'F') in rows[0][1], rows
    if how == 'closed with data':
        return
    out, _ = ctx.tshark.run(['-r', ctx.tshark.stage(pcap), '-Y', 'smtp.connection.closed'])
    assert len(out.splitlines()) == 1, out


def check_ports_reused(ctx):
    """Two connections on the same addresses and ports one after the other
    (TCP gives the second a conversation of its own at its SYN), beside a
    third on other ports whose frames come in between: each connection's
    greeting answers its own SYN, its transactions are its own, and the
    second's server FIN ends the transaction the second left open; one pass
    and two."""
    mail = [GREET, EHLO, EHLO_OK, ("C", b"MAIL FROM:<a@x>\r\nRCPT TO:<b@x>\r\nDATA\r\n"),
            ("S", b"250 ok\r\n250 ok\r\n354 go\r\n"), ("C", b"hi\r\n.\r\n"),
            ("S", b"250 2.0.0 queued\r\n")]
    first = gen.Conn()
    first.run(mail + QUIT)
    second = gen.Conn(t0=first.ts + 10**9)
    second.nxt = {"C": gen.ISN_C + 0x100000, "S": gen.ISN_S + 0x100000}
    second.run([GREET, EHLO, EHLO_OK, ("C", b"MAIL FROM:<c@x>\r\n"), ("S", b"250 ok\r\n"),
                ("C", b"RCPT TO:<d@x>\r\n"), ("S", b"250 ok\r\n"), ("FIN", "S")])
    other = gen.Conn(cport=40026, t0=gen.T0 + gen.STEP_NS // 2)
    other.run(mail + QUIT)
    frames = sorted(first.frames + second.frames + other.frames, key=lambda f: f[0])
    pcap = os.path.join(ctx.tmp, 'ports-reused.pcap')
    gen.pl.write_pcap(pcap, frames)
    for extra in ([], ['-2']):
        syn = fields(ctx, pcap, ['frame.number', 'tcp.srcport'], ['-Y', 'tcp.flags == 0x002'] + extra)
        greet = fields(ctx, pcap, ['tcp.dstport', 'smtp.reply.request_in'],
                       ['-Y', 'smtp.reply.code == 220'] + extra)
        assert [r[1] for r in syn] == ['40025', '40026', '40025'], syn
        by_port = {'40025': [syn[0][0], syn[2][0]], '40026': [syn[1][0]]}
        assert sorted(greet) == sorted([['40025', by_port['40025'][0]], ['40026', by_port['40026'][0]],
                                        ['40025', by_port['40025'][1]]]), (greet, syn)
        outcomes = fields(ctx, pcap, ['tcp.stream', 'smtp.transaction.outcome',
                                      'smtp.transaction.sender'],
                          ['-Y', 'smtp.transaction.outcome'] + extra)
        assert sorted(outcomes) == [['0', 'delivered', 'a@x'], ['1', 'delivered', 'a@x'],
                                    ['2', 'connection closed', 'c@x']], outcomes
        out, _ = ctx.tshark.run(['-r', ctx.tshark.stage(pcap), '-q', '-z', 'expert'] + extra)
        assert 'sync' not in out and 'without a command' not in out, out


# ---- many pipelined recipients (the queue grows instead of dropping)

def check_many_rcpts(ctx, n=100, lmtp=False):
    rc = b"".join(b"RCPT TO:<u%04d@x>\r\n" % i for i in range(n))
    ok = [i for i in range(n) if i % 10 != 9]
    reps = b"".join(b"550 5.1.1 no\r\n" if i % 10 == 9 else b"250 2.1.5 ok\r\n" for i in range(n))
    hello = ("C", b"LHLO client.example\r\n") if lmtp else EHLO
    final = b"".join(b"250 2.1.5 <u%04d@x> delivered\r\n" % i for i in ok) if lmtp else b"250 2.0.0 queued\r\n"
    steps = [GREET, hello, EHLO_OK, ("C", b"MAIL FROM:<a@x>\r\n" + rc + b"DATA\r\n", {"every": 1400}),
             ("S", b"250 ok\r\n" + reps + b"354 go\r\n", {"every": 1400}),
             ("C", b"Subject: many\r\n\r\nhi\r\n.\r\n"), ("S", final, {"every": 1400})] + QUIT
    pcap = write(ctx, 'rcpt-%d%s' % (n, '-lmtp' if lmtp else ''), steps)
    args = ['-d', 'tcp.port==25,smtpx']
    rows = fields(ctx, pcap, ['smtp.transaction.outcome', 'smtp.transaction.recipients_accepted',
                              'smtp.transaction.recipients_rejected'], ['-Y', 'smtp.transaction.outcome'])
    assert rows == [['delivered to some recipients', str(len(ok)), str(n - len(ok))]], rows
    out, _ = ctx.tshark.run(['-r', ctx.tshark.stage(pcap), '-q', '-z', 'expert'] + args)
    assert 'queue' not in out.lower() and 'no pending command' not in out, out
    if lmtp:
        rec = fields(ctx, pcap, ['smtp.reply.recipient'], ['-Y', 'smtp.reply.recipient'])
        got = [x for r in rec for x in r[0].split('|')]
        assert got == ['u%04d@x' % i for i in ok], got[:12]
    else:
        assert len(exported(ctx, pcap, [])) == 1, 'message not reassembled'
        # the summary lists max_summary_recipients of them (default 1000),
        # says how many it left out, and counts them all
        names = ['smtp.transaction.recipient', 'smtp.transaction.recipients_unlisted',
                 'smtp.transaction.recipients_accepted', 'smtp.transaction.recipients_rejected']
        for cap in (None, 10):
            extra = ['-Y', 'smtp.transaction.outcome']
            if cap is not None:
                extra += ['-o', 'smtpx.max_summary_recipients:%d' % cap]
            listed = n if cap is None else cap
            rows = fields(ctx, pcap, names, extra)
            addrs = ['u%04d@x' % i for i in range(listed)]
            labels = [a + ' (550 5.1.1, rejected)' if i % 10 == 9 else a + ' (250 2.1.5, accepted)'
                      for i, a in enumerate(addrs)]
            assert rows == [['|'.join(addrs), str(n - listed) if listed < n else '',
                             str(len(ok)), str(n - len(ok))]], (cap, [r[1:] for r in rows])
            out, _ = ctx.tshark.run(['-r', ctx.tshark.stage(pcap), '-V'] + extra)
            # generated items print in brackets
            shown = [l.strip()[len('[Recipient: '):-1] for l in out.splitlines()
                     if l.strip().startswith('[Recipient: ')]
            assert shown == labels, (cap, shown[:3], len(shown))
            if listed < n:
                assert '%d more recipients not listed' % (n - listed) in out, cap


# ---- STARTTLS accepted, then the session goes on in clear text

def check_starttls_clear(ctx):
    pcap = write(ctx, 'starttls-clear', [GREET, EHLO, EHLO_OK, ("C", b"STARTTLS\r\n"),
                                         ("S", b"220 2.0.0 Ready to start TLS\r\n"), EHLO, EHLO_OK,
                                         ("C", b"MAIL FROM:<a@x>\r\nRCPT TO:<b@x>\r\nBDAT 5 LAST\r\nhello"),
                                         ("S", b"250 ok\r\n250 ok\r\n250 2.6.0 Queued mail for delivery\r\n")]
                 + QUIT)
    rows = fields(ctx, pcap, ['smtp.transaction.outcome'], ['-Y', 'smtp.transaction.outcome'])
    assert rows == [['delivered']], rows
    out, _ = ctx.tshark.run(['-r', ctx.tshark.stage(pcap), '-Y', 'smtp.starttls.cleartext'])
    assert len(out.splitlines()) == 1, out
    out, _ = ctx.tshark.run(['-r', ctx.tshark.stage(pcap), '-Y', 'tls'])
    assert out == '', 'clear text taken for TLS:\n' + out


# ---- secrets never shown with show_auth off

SECRET = b'Tr0ub4dor&3'
USER = b'alice@example.test'


def secret_variants():
    b64 = lambda b: base64.b64encode(b)
    plain_authz = b64(b'\x00' + USER + b'\x00' + SECRET)
    plain_2 = b64(USER + b'\x00' + SECRET)
    login_u, login_p = b64(USER), b64(SECRET)
    return {
        'login-client-only': ([("C", b"EHLO x\r\n"), ("C", b"AUTH LOGIN\r\n"), ("C", login_u + b"\r\n"),
                               ("C", login_p + b"\r\n"), ("C", b"QUIT\r\n")], False),
        'login-334-dropped': ([GREET, ("C", b"AUTH LOGIN\r\n"), ("S", b"334 VXNlcm5hbWU6\r\n", {"drop": [0]}),
                               ("C", login_u + b"\r\n"), ("S", b"334 UGFzc3dvcmQ6\r\n"),
                               ("C", login_p + b"\r\n"), ("S", b"235 2.7.0 ok\r\n")] + QUIT, True),
        'login-pipelined': ([GREET, ("C", b"AUTH LOGIN\r\n" + login_u + b"\r\n" + login_p + b"\r\n"),
                             ("S", b"334 VXNlcm5hbWU6\r\n334 UGFzc3dvcmQ6\r\n535 5.7.8 no\r\n")] + QUIT, True),
        'plain-authzid': ([GREET, ("C", b"AUTH PLAIN " + plain_authz + b"\r\n"), ("S", b"235 ok\r\n")] + QUIT, True),
        'plain-no-authzid': ([GREET, ("C", b"AUTH PLAIN\r\n"), ("S", b"334 \r\n"), ("C", plain_2 + b"\r\n"),
                              ("S", b"235 ok\r\n")] + QUIT, True),
        'plain-tab': ([GREET, ("C", b"AUTH PLAIN\t" + plain_authz + b"\r\n"), ("S", b"235 ok\r\n")] + QUIT, True),
        'plain-client-only': ([("C", b"AUTH PLAIN\r\n"), ("C", plain_authz + b"\r\n"), ("C", b"QUIT\r\n")], False),
    }


def check_secret(ctx, name, steps, syn):
    pcap = write(ctx, 'secret-' + name, steps, syn)
    staged = ctx.tshark.stage(pcap)
    needles = [SECRET, base64.b64encode(SECRET)]
    for v in secret_variants()[name][0]:
        if v[0] == 'C' and v[1].startswith((b'AUTH PLAIN ', b'AUTH PLAIN\t')):
            needles.append(v[1][11:].strip())
        elif v[0] == 'C' and not v[1].startswith((b'AUTH', b'EHLO', b'QUIT')) and v[1] != base64.b64encode(USER) + b"\r\n":
            needles.append(v[1].strip())
    outputs = []
    # -P -V: the packet list (Info column) and the tree in one run; the two
    # statistics in one run (the hex dump, -x, shows the bytes, as it must)
    for args in (['-P', '-V'], ['-2', '-V'], ['-T', 'json'], ['-T', 'ek'], ['-T', 'pdml'],
                 ['-T', 'fields', '-e', 'smtp.command', '-e', 'smtp.auth.username', '-e', 'smtp.req.parameter',
                  '-e', 'smtp.auth.password', '-e', 'smtp.command.parameter'],
                 ['-q', '-z', 'smtp,tree', '-z', 'credentials']):
        out, _ = ctx.tshark.run(['-r', staged] + args)
        outputs.append((args, out))
    for args, out in outputs:
        for n in needles:
            assert n.decode() not in out, '%s: %r shown by %s' % (name, n, args)
    # the user name is still decoded (never the password as user)
    users = fields(ctx, pcap, ['smtp.auth.username'], ['-Y', 'smtp.auth.username'])
    for r in users:
        assert r[0] in (USER.decode(), ''), users


# ---- long commands cut at segment borders: one pass and two alike

def pass_view(ctx, pcap, two):
    args = ['-r', ctx.tshark.stage(pcap), '-V', '-O', 'smtp']
    out, err = ctx.tshark.run((['-2'] if two else []) + args)
    assert 'Dissector bug' not in out + err and '[Malformed Packet' not in out, (out + err)[-2000:]
    drop = re.compile(r'Response in|Continued in|never answered|Reassembled TCP Segments|Severity level: Note|'
                      r'Group: Sequence|^\s*\[Command never answered')
    return [l for l in out.splitlines() if not drop.search(l)]


def check_long_command(ctx, n, pipelined, cut):
    if pipelined:
        data = b"MAIL FROM:<a@x>\r\n" + b"".join(b"RCPT TO:<user%05d@example.org>\r\n" % i
                                                  for i in range(n // 31)) + b"DATA\r\n"
        reps = b"250 ok\r\n" * (n // 31 + 1) + b"354 go\r\n"
    else:
        data = b"MAIL FROM:<a@x> X=" + b"v" * n + b"\r\nRCPT TO:<b@x>\r\nDATA\r\n"
        reps = b"250 ok\r\n250 ok\r\n354 go\r\n"
    steps = [GREET, EHLO, EHLO_OK, ("C", data, cut), ("S", reps, cut),
             ("C", b"hi\r\n.\r\n"), ("S", b"250 2.0.0 queued\r\n")] + QUIT
    pcap = write(ctx, 'long-%d-%d-%s' % (n, pipelined, '-'.join(map(str, cut.get('cut', [cut.get('every')])))), steps)
    one, two = pass_view(ctx, pcap, False), pass_view(ctx, pcap, True)
    assert one == two, 'one pass and two differ:\n' + '\n'.join(
        l for l in __import__('difflib').unified_diff(one, two, lineterm='', n=1))[:3000]
    out, _ = ctx.tshark.run(['-r', ctx.tshark.stage(pcap), '-2', '-q', '-z', 'smtp,tree'])
    assert 'SMTP' in out, out
    # each side's data in segments of at most 'every' bytes, or cut where listed
    cut_somewhere = 'cut' in cut or max(len(data), len(reps)) > cut['every']
    check_joins(ctx, pcap, cut_somewhere)


def check_joins(ctx, pcap, cut_somewhere):
    """A line cut at a segment end is held by the plugin, not reassembled
    by TCP, and the links between the pieces agree: a segment whose tail
    is unfinished (smtp.unfinished: its bytes so far) is continued in the
    frame it names (smtp.continued_in), which starts with that many bytes
    of earlier segments (smtp.continued_bytes) and names where they began
    (smtp.continued_from: that segment, or where that one's began)."""
    rows = {int(r["frame.number"][0]): r for r in sf.frames(
        ctx, pcap, ['frame.number', 'smtp.unfinished', 'smtp.continued_in', 'smtp.continued_from',
                    'smtp.continued_bytes', 'tcp.reassembled_in', 'tcp.segments'], two_pass=True)}
    assert not [n for n, r in rows.items() if 'tcp.reassembled_in' in r or 'tcp.segments' in r], \
        'TCP reassembled SMTP data'
    tails = {n: r for n, r in rows.items() if 'smtp.unfinished' in r}
    assert bool(tails) == cut_somewhere, 'lines cut at a segment end: %r' % sorted(tails)
    pointed = set()
    for n, r in tails.items():
        assert 'smtp.continued_in' in r, 'frame %d: unfinished, never continued: %r' % (n, r)
        m = int(r['smtp.continued_in'][0])
        nxt = rows[m]
        pointed.add(m)
        assert nxt.get('smtp.continued_bytes') == r['smtp.unfinished'], (n, r, m, nxt)
        assert nxt['smtp.continued_from'][0] in [str(n)] + r.get('smtp.continued_from', []), (n, r, m, nxt)
    held = {n for n, r in rows.items() if 'smtp.continued_from' in r}
    assert held == pointed, 'continued without a segment naming it: %r' % sorted(held ^ pointed)


# ---- response times: kept as a delta, given back exactly

def check_times(ctx):
    """smtp.reply.time (and the request it names) across a second's
    boundary, negative (a reply stamped before its command: clocks of
    merged captures), and over 4e9 seconds (the record keeps seconds and
    nanoseconds then), in one pass and two."""
    c = gen.Conn(t0=100 * 10**9)
    c.handshake()
    c.send(*GREET, {})
    c.ts = 1_700_000_000_999_990_000
    c.send(*EHLO, {})
    c.ts = 1_700_000_001_000_010_000            # 20 microseconds later
    c.send(*EHLO_OK, {})
    c.ts = 1_700_000_005_500_000_000
    c.send("C", b"MAIL FROM:<a@x>\r\n", {})
    c.ts = 1_700_000_005_200_000_000            # 0.3 s before
    c.send("S", b"250 ok\r\n", {})
    c.ts = 150_000_001_000                      # stamped back in 1970
    c.send("C", b"RCPT TO:<b@x>\r\n", {})
    c.ts = 4_200_000_000_000_000_000            # the year 2103: 4.2e9 s later
    c.send("S", b"250 ok\r\n", {})
    c.send("C", b"QUIT\r\n", {})
    c.send("S", b"221 bye\r\n", {})
    path = os.path.join(ctx.tmp, 'times.pcap')
    gen.pl.write_pcap(path, c.frames)
    want = [['4', '1', '0.006000000'], ['6', '5', '0.000020000'], ['8', '7', '-0.300000000'],
            ['10', '9', '4199999849.999999000'], ['12', '11', '0.002000000']]
    for extra in ([], ['-2']):
        got = [r for r in fields(ctx, path, ['frame.number', 'smtp.reply.request_in', 'smtp.reply.time'],
                                 extra) if r[0] in ('4', '6', '8', '10', '12')]
        assert got == want, (extra, got)


def tests(ctx):
    yield 'response times', lambda: check_times(ctx)
    yield 'message over 1 MB (DATA)', lambda: check_large_message(ctx, False)
    yield 'message over 1 MB (BDAT)', lambda: check_large_message(ctx, True)
    yield 'messages made again from their segment', lambda: check_messages_here(ctx)
    for name in ('01-plain-delivery', '12-large-body', '15-bdat-chunking', '23-lmtp-delivery'):
        pcap = os.path.join(ctx.testdata, 'real', name + '.pcap')
        yield 'export objects ' + name, (lambda p=pcap: check_export(ctx, p))
    for name in ('02-unknown-user', '13-errors-bad-sequence', '08-pipelining', '05-greylist-4xx'):
        pcap = os.path.join(ctx.testdata, 'real', name + '.pcap')
        yield 'expert counts ' + name, (lambda p=pcap: check_experts(ctx, p))
    for name in ('garbage-port25', 'lost-segment'):
        pcap = os.path.join(ctx.testdata, 'edge', name + '.pcap')
        yield 'expert counts ' + name, (lambda p=pcap: check_experts(ctx, p))
    yield 'meanings for the command answered', lambda: check_meanings(ctx)
    for name, steps, want in OUTCOMES:
        yield 'outcome ' + name, (lambda n=name, s=steps, w=want: check_outcome(ctx, n, s, w))
    for n in (100, 1000):
        yield '%d pipelined RCPTs' % n, (lambda k=n: check_many_rcpts(ctx, k))
    yield '100 LMTP recipients', lambda: check_many_rcpts(ctx, 100, True)
    yield 'STARTTLS then clear text', lambda: check_starttls_clear(ctx)
    yield 'connection closed mid-transaction', lambda: check_closed(ctx, 'closed')
    yield 'connection closed by the frame of the last reply', lambda: check_closed(ctx, 'closed with data')
    yield 'connection reset mid-transaction', lambda: check_closed(ctx, 'reset')
    yield 'connections on the same ports one after the other', lambda: check_ports_reused(ctx)
    for name, (steps, syn) in secret_variants().items():
        yield 'secret hidden: ' + name, (lambda n=name, s=steps, y=syn: check_secret(ctx, n, s, y))
    # without --full, each size single and pipelined with one of the cuts,
    # in turn (each cut on three or four of the ten)
    if not ctx.full:
        ctx.defer('the long commands of each size with the two other cuts')
    cuts = ({"every": 1400}, {"every": 536}, {"cut": [7, 1000, 1400, 3, 4000]})
    k = 0
    for n in (1024, 8192, 16000, 17000, 65536):
        for pipelined in (False, True):
            for ci, cut in enumerate(cuts):
                if ctx.full or ci == k % len(cuts):
                    yield 'long command %d %s %s' % (n, 'pipelined' if pipelined else 'single', cut), \
                        (lambda a=n, b=pipelined, c=cut: check_long_command(ctx, a, b, c))
            k += 1
