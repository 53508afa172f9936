"""transactions.csv/.jsonl and the summary of scripts/smtp-batch.py: exact
rows for real captures (testdata/real, Postfix) and for captures made from
them by dropping or rewriting packets.

  tx::rows                one run over 02 (unknown user), 04 (one recipient
                          refused), 05 (greylisted: 450), 07 (SIZE refused at
                          MAIL, then the body refused), 17 (RSET, then a
                          delivery), and three made from 01: the connection
                          closed (FIN both ways) after the RCPT reply, the
                          capture cut there, and the null sender MAIL
                          FROM:<> (01's MAIL rewritten, TCP numbers shifted).
                          Every column of every row is checked; the outcome
                          is the plugin's own (tshark -T fields
                          smtp.transaction.outcome, whatever names the plugin
                          build uses), 'unfinished at capture end' where the
                          plugin has none, never plainly 'delivered' when a
                          recipient was refused.  Connection ids, times and
                          durations are computed from the capture bytes.
                          Parquet written, or the note that pyarrow is missing.
                          transactions.jsonl: the same rows, typed, the
                          recipients as lists of {address, code, status, text}.
  tx::summary             the failed and deferred mail, the ranked reasons,
                          reply times per command with the (unknown) group.
  tx::no-smtp             a capture with TCP on port 2525 only and one with
                          only the client's side: listed as files in which no
                          SMTP reply was found, with the hint (the port and
                          -d; capture both directions); -d finds the replies.
  tx::time-formats        frame.time_epoch as 4.0-4.4 write it (seconds) and
                          as 4.6 does (ISO 8601), the same instant; an
                          unknown format stops the run with exit 2.
  tx::escaping            control characters and overlong values in a cell;
                          the normalised reason text.
  tx::tls-auth            09 with its key log: tls yes; 19: the AUTH user.
  tx::eta                 the progress bar's time left on synthetic runs:
                          exact for steady per-file and per-byte costs,
                          within 10 % of the truth when the machine gets
                          faster or slower halfway (the recent pace counts).
  tx::tshark-warnings     tshark's 'Running as user "root"' warning on stderr
                          is no file's error (whole file, and a cut one).
"""
import csv
import datetime
import hashlib
import importlib.util
import io
import json
import os
import struct
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import test_batch as tb  # noqa: E402

COLUMNS = ['file', 'connection', 'stream', 'transaction', 'first_frame', 'time', 'client',
           'server', 'helo', 'tls', 'auth_user', 'sender', 'accepted', 'refused', 'unanswered',
           'accepted_count', 'refused_count', 'size', 'outcome', 'final_code',
           'final_status', 'final_text', 'duration', 'subject', 'message_id', 'from', 'date']
HELO = 'client.example.test'
UNKNOWN_USER = '550 5.1.1 <nosuchuser@example.test>: Recipient address rejected: User unknown in local recipient table'


def pcaplib(ctx):
    import toolpath  # noqa: F401  (tests/tools on the path)
    import pcaplib as pl
    return pl


def tool(ctx):
    spec = importlib.util.spec_from_file_location('smtp_batch', os.path.join(ctx.scripts, tb.TOOL))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


class Cap:
    """A capture's packets: endpoints, connection id and frame times, from
    its bytes (pcaplib), not from tshark."""

    def __init__(self, ctx, path):
        pl = pcaplib(ctx)
        self.path = path
        self.packets, self.segs = pl.read_tcp_segments(path)
        syn = self.segs[0]
        self.client = '%s:%d' % (syn.src, syn.sport)
        self.server = '%s:%d' % (syn.dst, syn.dport)
        start = self.packets[0].ts_ns
        self.conn = 'C' + hashlib.sha1(('%s|%s|%d' % (self.client, self.server, start))
                                       .encode()).hexdigest()[:16]

    def ns(self, frame):
        return self.packets[frame - 1].ts_ns

    def time(self, frame):
        sec, frac = divmod(self.ns(frame), 10**9)
        return datetime.datetime.fromtimestamp(sec, datetime.timezone.utc).strftime(
            '%Y-%m-%dT%H:%M:%S') + '.%09dZ' % frac

    def dur(self, a, b):
        return '%.9f' % ((self.ns(b) - self.ns(a)) / 1e9)


def plugin_outcomes(ctx, path):
    """first frame of the transaction -> the plugin's outcome (the oracle
    for the names: whatever this plugin build calls them)."""
    out, _ = ctx.tshark.run(['-r', path, '-Y', 'smtp.transaction.outcome', '-T', 'fields',
                             '-E', 'occurrence=l', '-e', 'smtp.transaction.first_frame',
                             '-e', 'smtp.transaction.outcome', '-e', 'smtp.transaction.duration'])
    res = {}
    for line in out.splitlines():
        fr, o, d = line.split('\t')
        res[int(fr)] = (o, d)
    return res


def expected_outcome(plugin, refused):
    if plugin is None:
        return 'unfinished at capture end'
    if plugin == 'delivered' and refused:
        return 'delivered to some recipients'
    return plugin


# ---- captures made from 01-plain-delivery ----
# frames of 01: 9 MAIL, 10 250, 11 RCPT, 12 250, 13 DATA ... 17 QUIT, 18 221, 19/20 FIN

def cut_after_rcpt(ctx, dst, fin):
    """01 up to the RCPT reply (frame 12); with fin, then a FIN from the
    client and one from the server, with the right TCP numbers."""
    pl = pcaplib(ctx)
    pk, segs = pl.read_tcp_segments(tb.real(ctx, '01-plain-delivery.pcap'))
    frames = [(p.ts_ns, p.data) for p in pk[:12]]
    if fin:
        c, s = segs[10], segs[11]       # the RCPT and its reply
        cseq, sseq = c.seq + len(c.payload), s.seq + len(s.payload)
        t = pk[11].ts_ns
        for i, (src, seq, ack) in enumerate(((c, cseq, sseq), (s, sseq, cseq + 1))):
            seg = pl.TcpSeg(t + (i + 1) * 1000000, src.src, src.dst, src.sport, src.dport, seq, ack,
                            0x11, src.window, b'', options=src.options)
            frames.append((seg.ts_ns, pl.build_tcp_frame(seg)))
    pl.write_pcap(dst, frames, pk[0].linktype)


def null_sender(ctx, dst):
    """01 with MAIL FROM:<> instead of MAIL FROM:<alice@example.test>."""
    pl = pcaplib(ctx)
    pk, segs = pl.read_tcp_segments(tb.real(ctx, '01-plain-delivery.pcap'))
    old, new = b'MAIL FROM:<alice@example.test>\r\n', b'MAIL FROM:<>\r\n'
    i = next(k for k, s in enumerate(segs) if s and s.payload == old)
    delta = len(new) - len(old)
    client = segs[i].key()
    frames = []
    for k, (p, s) in enumerate(zip(pk, segs)):
        if k < i:
            frames.append((p.ts_ns, p.data))
            continue
        if k == i:
            s.payload = new
        elif s.key() == client:
            s.seq += delta
        else:
            s.ack += delta
        frames.append((p.ts_ns, pl.build_tcp_frame(s)))
    pl.write_pcap(dst, frames, pk[0].linktype)


def expected_rows(ctx, b, files):
    rows = []

    def row(key, tid, first, **kw):
        cap = Cap(ctx, os.path.join(b.dir, files[key]))
        r = {'file': files[key], 'connection': cap.conn, 'stream': '0', 'transaction': str(tid),
             'first_frame': str(first), 'time': cap.time(first), 'client': cap.client,
             'server': cap.server, 'helo': HELO, 'tls': 'no', 'auth_user': '',
             'sender': 'alice@example.test', 'accepted': '', 'refused': '', 'unanswered': '', 'size': '',
             'final_code': '', 'final_status': '', 'final_text': '', 'duration': '',
             'subject': '', 'message_id': '', 'from': '', 'date': ''}
        end = kw.pop('end', None)
        plugin, pdur = plugin_outcomes(ctx, os.path.join(b.dir, files[key])).get(first, (None, ''))
        if end:
            r['duration'] = cap.dur(first, end)
        elif pdur:
            # no final reply; a plugin that times it anyway (to the last
            # reply it got): its figure
            r['duration'] = '%.9f' % float(pdur)
        r.update(kw)
        r['accepted_count'] = str(len([x for x in r['accepted'].split('; ') if x]))
        r['refused_count'] = str(len([x for x in r['refused'].split('; ') if x]))
        r['outcome'] = expected_outcome(plugin, r['refused'])
        rows.append(r)
    swaks = {'subject': 'swaks test', 'message_id': '<swaks-test@client.example.test>',
             'from': 'alice@example.test', 'date': 'Mon, 01 Jan 2024 12:00:00 +0000'}
    row('unknown', 1, 9, refused='nosuchuser@example.test 550 5.1.1', final_code='550',
        final_status='5.1.1', final_text=UNKNOWN_USER)
    row('partial', 1, 9, accepted='bob@example.test 250 2.1.5',
        refused='blocked@example.test 550 5.7.1', size='263', final_code='250',
        final_status='2.0.0', final_text='250 2.0.0 Ok: queued as 81120104073', end=18, **swaks)
    row('greylist', 1, 9, refused='greylist@example.test 450 4.2.0', final_code='450',
        final_status='4.2.0',
        final_text='450 4.2.0 <greylist@example.test>: Recipient address rejected: Greylisted, try again later')
    row('toobig', 1, 9, final_code='552', final_status='5.3.4',
        final_text='552 5.3.4 Message size exceeds fixed limit', end=10)
    row('toobig', 2, 13, accepted='bob@example.test 250 2.1.5', size='19154', final_code='552',
        final_status='5.3.4', final_text='552 5.3.4 Error: message file too big', end=21,
        subject='too big', message_id='<too-big@client.example.test>', **{'from': '<alice@example.test>'},
        date='Mon, 01 Jan 2024 12:00:00 +0000')
    row('rset', 1, 9, accepted='bob@example.test 250 2.1.5; carol@example.test 250 2.1.5')
    row('rset', 2, 19, sender='carol@example.test', accepted='alice@example.test 250 2.1.5',
        size='189', final_code='250', final_status='2.0.0',
        final_text='250 2.0.0 Ok: queued as 13A8D1040A1', end=26, subject='after RSET',
        message_id='<after-rset@client.example.test>', **{'from': '<carol@example.test>'},
        date='Mon, 01 Jan 2024 12:00:00 +0000')
    row('closed', 1, 9, accepted='bob@example.test 250 2.1.5')
    row('cut', 1, 9, accepted='bob@example.test 250 2.1.5')
    row('null', 1, 9, sender='<>', accepted='bob@example.test 250 2.1.5', size='242',
        final_code='250', final_status='2.0.0', final_text='250 2.0.0 Ok: queued as AFE42104071',
        end=16, **swaks)
    return rows


def make_inputs(ctx, b):
    files = {}
    for k, name in (('unknown', '02-unknown-user.pcap'), ('partial', '04-policy-reject-recipient.pcap'),
                    ('greylist', '05-greylist-4xx.pcap'), ('toobig', '07-message-too-big.pcap'),
                    ('rset', '17-rset.pcap')):
        files[k] = b.put(name, src=tb.real(ctx, name))
    for k, name, fn in (('closed', 'closed-after-rcpt.pcap', lambda d: cut_after_rcpt(ctx, d, True)),
                        ('cut', 'cut-after-rcpt.pcap', lambda d: cut_after_rcpt(ctx, d, False)),
                        ('null', 'null-sender.pcap', lambda d: null_sender(ctx, d))):
        path = os.path.join(b.dir, 'in', name)
        fn(path)
        os.chmod(path, 0o644)
        files[k] = os.path.join('in', name)
    return files


ORDER = ['unknown', 'partial', 'greylist', 'toobig', 'rset', 'closed', 'cut', 'null']


def run_rows(ctx):
    b = tb.Batch(ctx)
    files = make_inputs(ctx, b)
    r = b.run([files[k] for k in ORDER])
    assert (r.rc, r.err) == (0, ''), (r.rc, r.err)
    return b, files, r


def diff_rows(got, want):
    out = []
    for i, (g, w) in enumerate(zip(got, want)):
        for k in COLUMNS:
            if g.get(k) != w.get(k):
                out.append('row %d (%s tx %s) %s: got %r want %r' % (
                    i + 1, w['file'], w['transaction'], k, g.get(k), w.get(k)))
    if len(got) != len(want):
        out.append('%d rows, want %d' % (len(got), len(want)))
    return '\n'.join(out)


def check_rows(ctx):
    b, files, r = run_rows(ctx)
    text = r.text('transactions.csv')
    assert text.split('\r\n')[0] == ','.join(COLUMNS), text.split('\r\n')[0]
    got = list(csv.DictReader(io.StringIO(text)))
    want = expected_rows(ctx, b, files)
    problems = diff_rows(got, want)
    assert not problems, problems
    for g in got:
        assert not (g['refused'] and g['outcome'] == 'delivered'), g
    check_jsonl(r)
    # Parquet: written when the tool's python has pyarrow, else said so
    has_pa = subprocess.run([sys.executable, '-c', 'import pyarrow.parquet, pyarrow.json'],
                            stderr=subprocess.DEVNULL).returncode == 0
    note = r.summary()['parquet']
    if has_pa:
        assert note == 'written: replies.parquet, transactions.parquet', note
        import pyarrow.parquet as pq
        assert pq.read_table(os.path.join(r.outdir, 'transactions.parquet')).num_rows == len(got)
    else:
        assert note.startswith('skipped: pyarrow is not installed'), note
        assert not os.path.exists(os.path.join(r.outdir, 'transactions.parquet'))


def check_jsonl(r):
    rows = list(csv.DictReader(io.StringIO(r.text('transactions.csv'))))
    js = [json.loads(l) for l in r.text('transactions.jsonl').splitlines()]
    assert [list(j) for j in js] == [COLUMNS] * len(rows), [list(j) for j in js][:1]
    for j, c in zip(js, rows):
        for k in ('stream', 'transaction', 'first_frame', 'accepted_count', 'refused_count',
                  'size', 'final_code'):
            assert j[k] == (int(c[k]) if c[k] else None), (k, j[k], c[k])
        assert j['duration'] == (float(c['duration']) if c['duration'] else None), (j, c)
        for k in ('accepted', 'refused'):
            txt = '; '.join('%s %s %s' % (x['address'], x['code'], x['status']) for x in j[k])
            assert txt == c[k], (k, txt, c[k])
            assert all(set(x) == {'address', 'code', 'status', 'text'} for x in j[k]), j[k]
    grey = js[ORDER.index('greylist')]['refused']
    assert grey == [{'address': 'greylist@example.test', 'code': 450, 'status': '4.2.0',
                     'text': '450 4.2.0 <greylist@example.test>: Recipient address rejected: '
                             'Greylisted, try again later'}], grey


def check_summary(ctx):
    b, files, r = run_rows(ctx)
    s = r.summary()
    fm = s['failed_mail']
    got = [(x['file'], x['sender'], x['recipient'], x['code'], x['status']) for x in fm['listed']]
    want = [(files['unknown'], 'alice@example.test', 'nosuchuser@example.test', 550, '5.1.1'),
            (files['partial'], 'alice@example.test', 'blocked@example.test', 550, '5.7.1'),
            (files['greylist'], 'alice@example.test', 'greylist@example.test', 450, '4.2.0'),
            (files['toobig'], 'alice@example.test', None, 552, '5.3.4'),
            (files['toobig'], 'alice@example.test', 'bob@example.test', 552, '5.3.4')]
    assert got == want and fm['count'] == 5, got
    assert [x['server'] for x in fm['listed']] == ['127.0.0.1:25'] * 3 + ['127.0.0.3:25'] * 2
    ns = s['not_sent_mail']
    assert [(x['file'], x['recipients']) for x in ns['listed']] == [
        (files['rset'], ['bob@example.test', 'carol@example.test']),
        (files['closed'], ['bob@example.test']), (files['cut'], ['bob@example.test'])], ns
    reasons = [(x['count'], x['code'], x['status'], x['text']) for x in s['reasons']]
    assert reasons == [
        (1, 450, '4.2.0', '<ADDR>: Recipient address rejected: Greylisted, try again later'),
        (1, 503, '5.5.1', 'Error: need MAIL command'),
        (1, 550, '5.1.1', '<ADDR>: Recipient address rejected: User unknown in local recipient table'),
        (1, 550, '5.7.1', '<ADDR>: Recipient address rejected: Recipient blocked by local policy'),
        (1, 552, '5.3.4', 'Error: message file too big'),
        (1, 552, '5.3.4', 'Message size exceeds fixed limit')], reasons
    txt = r.text('summary.txt')
    line = '      from alice@example.test to greylist@example.test: 450 4.2.0 ' \
           '<greylist@example.test>: Recipient address rejected: Greylisted, try again later\n'
    assert line in txt, 'summary.txt lacks %r' % line
    cmds = [x['command'] for x in s['reply_times_by_command']]
    assert sorted(cmds) == sorted(['<connect>', 'EHLO', 'MAIL', 'RCPT', 'DATA', '<end-of-data>',
                                   'RSET', 'QUIT']), cmds
    p95 = [x['p95_time'] for x in s['reply_times_by_command']]
    assert p95 == sorted(p95, reverse=True), p95
    # unknown verbs: 18-vrfy-noop-help and 13-errors-bad-sequence
    b2 = tb.Batch(ctx)
    r2 = b2.run([b2.put(n, src=tb.real(ctx, n)) for n in ('13-errors-bad-sequence.pcap',
                                                          '18-vrfy-noop-help.pcap')])
    s2 = r2.summary()
    # 13 sends FOO and an empty line (expert infos: unknown verb, not a
    # command): one group; 18's HELP and EXPN are SMTP verbs Postfix refuses
    by_cmd = {x['command']: x for x in s2['by_command']}
    assert by_cmd['(unknown)'] == {'command': '(unknown)', 'replies': 2, 'transient_4xx': 0,
                                   'permanent_5xx': 2}, by_cmd
    assert 'FOO' not in by_cmd and '<unknown>' not in by_cmd, sorted(by_cmd)
    assert by_cmd['HELP']['permanent_5xx'] == 1 and by_cmd['EXPN']['permanent_5xx'] == 1, by_cmd
    rows = [(x['command'], x['code']) for x in csv.DictReader(io.StringIO(r2.text('replies.csv')))]
    assert ('FOO', '500') in rows and ('<unknown>', '500') in rows, rows   # the table keeps the verb


def check_no_smtp(ctx):
    pl = pcaplib(ctx)
    b = tb.Batch(ctx)
    # 01's packets with port 25 replaced by 2525: SMTP the plugin does not look at
    pk, segs = pl.read_tcp_segments(tb.real(ctx, '01-plain-delivery.pcap'))
    frames = []
    for p, s in zip(pk, segs):
        s.sport = 2525 if s.sport == 25 else s.sport
        s.dport = 2525 if s.dport == 25 else s.dport
        frames.append((p.ts_ns, pl.build_tcp_frame(s)))
    other = os.path.join(b.dir, 'in', 'port2525.pcap')
    pl.write_pcap(other, frames, pk[0].linktype)
    # only the client's packets of 01
    client = segs[0].key()
    one = os.path.join(b.dir, 'in', 'client-only.pcap')
    pl.write_pcap(one, [(p.ts_ns, p.data) for p, s in zip(pk, segs) if s.key() == client], pk[0].linktype)
    for f in (other, one):
        os.chmod(f, 0o644)
    good = b.put('01-plain-delivery.pcap', src=tb.real(ctx, '01-plain-delivery.pcap'))
    r = b.run(['in/port2525.pcap', 'in/client-only.pcap', good])
    assert (r.rc, r.err) == (0, ''), (r.rc, r.err)
    s = r.summary()
    got = s['files_without_smtp']
    hint_port = ('TCP connections to port 2525 (1): if SMTP runs there, add -d tcp.port==2525,smtpx')
    hint_one = 'only the client side was captured (commands, no replies): capture both directions'
    assert got == [{'file': 'in/port2525.pcap', 'hint': hint_port},
                   {'file': 'in/client-only.pcap', 'hint': hint_one}], got
    assert s['files']['without_smtp'] == len(got), s['files']
    txt = r.text('summary.txt')
    assert 'Files in which no SMTP reply was found\n  in/port2525.pcap: %s\n  in/client-only.pcap: %s\n' % (
        hint_port, hint_one) in txt, txt
    # the client-only capture: the plugin still sees the transaction
    rows = list(csv.DictReader(io.StringIO(r.text('transactions.csv'))))
    assert [x['file'] for x in rows] == ['in/client-only.pcap', good], rows
    # and the tshark -d the hint names finds it
    r2 = b.run(['-d', 'tcp.port==2525,smtpx', 'in/port2525.pcap'], outdir='with-d')
    assert r2.rc == 0 and r2.summary()['files_without_smtp'] == [] and r2.summary()['replies'] == 7, \
        (r2.rc, r2.err, r2.summary()['replies'])


def check_time_formats(ctx):
    mod = tool(ctx)
    a = mod.epoch_ns('1795922000.975134000')
    c = mod.epoch_ns('2026-11-29T03:13:20.975134000Z')
    d = mod.epoch_ns('2026-11-29T04:13:20.975134+01:00')
    assert a == c == d == 1795922000975134000, (a, c, d)
    assert mod.iso_time(a) == '2026-11-29T03:13:20.975134000Z', mod.iso_time(a)
    try:
        mod.epoch_ns('Nov 29, 2026 03:13:20')
    except mod.TimeFormatError as e:
        assert "cannot read frame.time_epoch 'Nov 29, 2026 03:13:20'" in str(e), e
    else:
        raise AssertionError('an unknown time format was accepted')
    # the whole tool on a tshark that writes 4.6's ISO times, and on one
    # that writes something else: a fake tshark around the real one
    b = tb.Batch(ctx)
    f = b.put('02-unknown-user.pcap', src=tb.real(ctx, '02-unknown-user.pcap'))
    base = b.run([f], outdir='base')
    for mode, rc in (('iso', 0), ('bad', 2)):
        fake = os.path.join(b.dir, 'fake-%s.py' % mode)
        with open(fake, 'w') as fh:
            fh.write(FAKE % {'mode': mode})
        r = b.run([f], outdir=mode, prefix=[sys.executable, fake] + ctx.tshark.command([]))
        assert r.rc == rc, (mode, r.rc, r.err)
        if mode == 'iso':
            assert r.err == '' and r.text('replies.csv') == base.text('replies.csv')
            assert r.text('transactions.csv') == base.text('transactions.csv')
        else:
            assert r.err == ("smtp-batch: cannot read frame.time_epoch 'yesterday' written by this "
                             "tshark (neither seconds nor an ISO 8601 date): the outputs in bad are "
                             "incomplete\n"), r.err


FAKE = r'''
import re, subprocess, sys, datetime
p = subprocess.run(sys.argv[1:], stdout=subprocess.PIPE)
out = p.stdout.decode()
def iso(m):
    sec, frac = m.group(1).split('.')
    t = datetime.datetime.fromtimestamp(int(sec), datetime.timezone.utc)
    return '"frame.time_epoch": "%%s.%%sZ"' %% (t.strftime('%%Y-%%m-%%dT%%H:%%M:%%S'), frac)
if '%(mode)s' == 'iso':
    out = re.sub(r'"frame.time_epoch": "([0-9.]+)"', iso, out)
else:  # whatever this tshark writes (4.6 already writes ISO dates)
    out = re.sub(r'"frame.time_epoch": "([^"]+)"', '"frame.time_epoch": "yesterday"', out)
sys.stdout.write(out)
sys.exit(p.returncode)
'''


def check_escaping(ctx):
    mod = tool(ctx)
    assert mod.clean('a\r\nb\x00c\x7f\x9bd\ufffd\u2028') == 'a\\r\\nb\\x00c\\x7f\\x9bd\\ufffd\\u2028'
    long = 'x' * 1000
    assert mod.clean(long) == 'x' * 300 + '... (1000 characters)'
    assert mod.clean(long, 64) == 'x' * 64 + '... (1000 characters)'
    assert mod.normalise('550 5.1.1 <bob@example.test>: user unknown (queue 4F3A2B1C9D, try 3) from [192.0.2.1]') \
        == '<ADDR>: user unknown (queue ID, try N) from IP', mod.normalise('x')


def check_warnings(ctx):
    """tshark's warning about running as root is no file's error."""
    mod = tool(ctx)
    warn = 'Running as user "root" and group "root". This could be dangerous.\n'
    assert mod.reason_of('in/t.pcap', ['/abs/t.pcap'], 0, warn) == ''
    assert mod.reason_of('in/t.pcap', ['/abs/t.pcap'], 2, warn + 'tshark: The file "/abs/t.pcap" appears '
                         'to be damaged or corrupt.\n') == 'The file "in/t.pcap" appears to be damaged or corrupt.'
    b = tb.Batch(ctx)
    good = b.put('02-unknown-user.pcap', src=tb.real(ctx, '02-unknown-user.pcap'))
    trunc = b.put('trunc.pcap', tb.truncated_pcap(ctx))
    # a tshark that prints the warning first, as tshark run as root does
    prefix = ['sh', '-c', 'printf "%s" >&2; exec "$@"' % warn.replace('"', '\\"').replace('\n', '\\n'),
              'sh'] + ctx.tshark.command([])
    r = b.run([good, trunc], prefix=prefix)
    why = 'The file "in/trunc.pcap" appears to have been cut short in the middle of a packet.'
    assert (r.rc, r.err) == (0, 'smtp-batch: in/trunc.pcap: read only in part (2 replies kept): %s\n' % why), \
        (r.rc, r.err)
    s = r.summary()
    assert s['failed_files'] == [] and s['damaged_files'] == [{'file': trunc, 'reason': why}], s


def check_tls_auth(ctx):
    """09 with its key log: the mail went inside STARTTLS; 19: AUTH PLAIN user."""
    b = tb.Batch(ctx)
    f9 = b.put('09-starttls.pcap', src=tb.real(ctx, '09-starttls.pcap'))
    f19 = b.put('19-auth-plain.pcap', src=tb.real(ctx, '19-auth-plain.pcap'))
    keys = b.put('09-starttls.keys', src=tb.real(ctx, '09-starttls.keys'))
    r = b.run(['--pref', 'tls.keylog_file:' + os.path.join(b.dir, keys), f9, f19])
    assert (r.rc, r.err) == (0, ''), (r.rc, r.err)
    got = [(x['file'], x['helo'], x['tls'], x['auth_user'], x['sender'], x['accepted'])
           for x in csv.DictReader(io.StringIO(r.text('transactions.csv')))]
    assert got == [(f9, HELO, 'yes', '', 'alice@example.test', 'bob@example.test 250 2.1.5'),
                   (f19, HELO, 'no', 'alice@example.test', 'alice@example.test',
                    'bob@example.test 250 2.1.5')], got


def simulate(mod, sizes, cost, at):
    """A Progress fed with files of these sizes, each taking cost(i, size)
    seconds; (its time left, the true time left) after file `at`."""
    p = mod.Progress(len(sizes), sum(sizes), False)
    t = 0.0
    for i, size in enumerate(sizes[:at + 1]):
        t += cost(i, size)
        p.f += 1
        p.b += size
        p.add_point(t, p.f, p.b)
    truth = sum(cost(i, x) for i, x in enumerate(sizes) if i > at)
    return p.eta(), truth


def check_eta(ctx):
    """The time left follows the measured per-file and per-byte costs, at
    the recent pace."""
    mod = tool(ctx)
    # 0.3 s per file + 1 s per MB; 10 files of 10 MB first, then 90 of 10 kB
    sizes = [10 ** 7] * 10 + [10 ** 4] * 90
    for at in range(10, 99):     # once both kinds were seen: exact
        eta, truth = simulate(mod, sizes, lambda i, x: 0.3 + x / 1e6, at)
        assert abs(eta - truth) < 1e-6 * truth, (at, eta, truth)
    # one size only: bytes/s of the recent files
    p = mod.Progress(100, 100 * 10 ** 4, False)
    for i in range(20):
        p.f += 1
        p.b += 10 ** 4
        p.add_point(0.5 * (i + 1), p.f, p.b)
    assert abs(p.eta() - 40.0) < 1e-6, p.eta()
    # the machine gets four times faster after the first 40 files (other
    # jobs ended): 80 files later the time left is the present pace's,
    # not the average since the start (which would say 2.2 times more)
    sizes = [2 * 10 ** 6 if i % 3 == 0 else 2 * 10 ** 4 for i in range(200)]

    def cost(i, x, before=1.0, after=0.25):
        return (before if i < 40 else after) * (1.2 + 0.8 * x / 1e6)
    eta, truth = simulate(mod, sizes, cost, 120)
    assert abs(eta - truth) < 0.1 * truth, (eta, truth)
    # and when it gets slower
    eta, truth = simulate(mod, sizes, lambda i, x: cost(i, x, 0.25, 1.0), 120)
    assert abs(eta - truth) < 0.1 * truth, (eta, truth)
    # one size only, slower after a fast start: the recent bytes/s
    eta, truth = simulate(mod, [10 ** 4] * 100, lambda i, x: 0.1 if i < 50 else 0.4, 79)
    assert abs(eta - truth) < 0.05 * truth, (eta, truth)
    # the biggest first, as the local pool takes them: 300 files from 5 MB
    # down to 10 kB, 2.5 times slower from the 60th file on (other jobs
    # started): at 75 % the fit over all files that this replaced said
    # 42 s for the 24 s left
    sizes = [int(5e6 * (10e3 / 5e6) ** (i / 299)) for i in range(300)]
    eta, truth = simulate(mod, sizes, lambda i, x: (0.4 if i < 60 else 1.0) * (0.3 + x / 1e6), 225)
    assert abs(eta - truth) < 0.1 * truth, (eta, truth)


def tests(ctx):
    yield 'tx::rows', lambda: check_rows(ctx)
    yield 'tx::summary', lambda: check_summary(ctx)
    yield 'tx::no-smtp', lambda: check_no_smtp(ctx)
    yield 'tx::time-formats', lambda: check_time_formats(ctx)
    yield 'tx::escaping', lambda: check_escaping(ctx)
    yield 'tx::tshark-warnings', lambda: check_warnings(ctx)
    yield 'tx::eta', lambda: check_eta(ctx)
    yield 'tx::tls-auth', lambda: check_tls_auth(ctx)
