"""scripts/smtp-batch.py, the batch tool (issue 4): tshark with the plugin
over many captures, in parallel, into replies/summary tables and a chart.

  replies           exact replies.csv for 02-unknown-user + 08-pipelining +
                    06-too-many-recipients (08 frame 10 holds six replies,
                    the 354 without an enhanced status); replies.jsonl the
                    same rows; summary.json figures.
  errors::*         a text file, a truncated pcap, an empty folder, alone
                    and mixed with a good capture: exact messages and exit
                    codes (2 only when no file could be read).
  parallel          GNU parallel --sshloginfile with ':' (this machine) gives
                    the same tables as the local pool (only when parallel is
                    installed).
  corpus            ctx.corpus in one run: no failed file, the one damaged
                    capture read in part, and per file the (frame, code) of
                    every reply equal to tshark -T fields -e smtp.reply.code.
  chart             chart.png is a PNG (gnuplot present), or a clear note
                    when gnuplot is missing.
  transactions      the defensive smtp.transaction path, on a synthetic
                    tshark -T json packet, with 4.0's and 4.6's time formats.
  (test_batch_tx.py: the transaction rows and the summary; test_batch_transfer.py:
  --transfer against a real sshd)
"""
import csv
import hashlib
import importlib.util
import io
import json
import os
import shutil
import subprocess
import sys

TOOL = 'smtp-batch.py'

# replies.csv of 02-unknown-user, 08-pipelining, 06-too-many-recipients
# (in that order on the command line): file key, the other columns.
EXPECTED = [
    ('u', '0,4,2026-11-29T03:13:20.975134000Z,127.0.0.1:53214,127.0.0.1:25,<connect>,220,2,,220 mx.example.test ESMTP,0.001203000'),
    ('u', '0,8,2026-11-29T03:13:20.975342000Z,127.0.0.1:53214,127.0.0.1:25,EHLO,250,2,,250-mx.example.test / PIPELINING / SIZE 10240000 / VRFY / ETRN / STARTTLS / ENHANCEDSTATUSCODES / 8BITMIME / DSN / SMTPUTF8 / CHUNKING,0.000074000'),
    ('u', '0,10,2026-11-29T03:13:20.975574000Z,127.0.0.1:53214,127.0.0.1:25,MAIL,250,2,2.1.0,250 2.1.0 Ok,0.000054000'),
    ('u', '0,12,2026-11-29T03:13:20.979184000Z,127.0.0.1:53214,127.0.0.1:25,RCPT,550,5,5.1.1,550 5.1.1 <nosuchuser@example.test>: Recipient address rejected: User unknown in local recipient table,0.003504000'),
    ('u', '0,14,2026-11-29T03:13:20.979471000Z,127.0.0.1:53214,127.0.0.1:25,QUIT,221,2,2.0.0,221 2.0.0 Bye,0.000103000'),
    ('p', '0,4,2026-11-29T03:13:28.563310000Z,127.0.0.1:49342,127.0.0.1:25,<connect>,220,2,,220 mx.example.test ESMTP,0.003014000'),
    ('p', '0,8,2026-11-29T03:13:28.563565000Z,127.0.0.1:49342,127.0.0.1:25,EHLO,250,2,,250-mx.example.test / PIPELINING / SIZE 10240000 / VRFY / ETRN / STARTTLS / ENHANCEDSTATUSCODES / 8BITMIME / DSN / SMTPUTF8 / CHUNKING,0.000079000'),
    ('p', '0,10,2026-11-29T03:13:28.567944000Z,127.0.0.1:49342,127.0.0.1:25,MAIL,250,2,2.1.0,250 2.1.0 Ok,0.004243000'),
    ('p', '0,10,2026-11-29T03:13:28.567944000Z,127.0.0.1:49342,127.0.0.1:25,RCPT,250,2,2.1.5,250 2.1.5 Ok,0.004243000'),
    ('p', '0,10,2026-11-29T03:13:28.567944000Z,127.0.0.1:49342,127.0.0.1:25,RCPT,550,5,5.1.1,550 5.1.1 <nosuchuser@example.test>: Recipient address rejected: User unknown in local recipient table,0.004243000'),
    ('p', '0,10,2026-11-29T03:13:28.567944000Z,127.0.0.1:49342,127.0.0.1:25,RCPT,250,2,2.1.5,250 2.1.5 Ok,0.004243000'),
    ('p', '0,10,2026-11-29T03:13:28.567944000Z,127.0.0.1:49342,127.0.0.1:25,RCPT,250,2,2.1.5,250 2.1.5 Ok,0.004243000'),
    ('p', '0,10,2026-11-29T03:13:28.567944000Z,127.0.0.1:49342,127.0.0.1:25,DATA,354,3,,354 End data with <CR><LF>.<CR><LF>,0.004243000'),
    ('p', '0,12,2026-11-29T03:13:28.572246000Z,127.0.0.1:49342,127.0.0.1:25,<end-of-data>,250,2,2.0.0,250 2.0.0 Ok: queued as 89D0C104099,0.003886000'),
    ('p', '0,12,2026-11-29T03:13:28.572246000Z,127.0.0.1:49342,127.0.0.1:25,QUIT,221,2,2.0.0,221 2.0.0 Bye,0.003886000'),
    ('t', '0,4,2026-11-29T03:13:26.110709000Z,127.0.0.1:44458,127.0.0.3:25,<connect>,220,2,,220 mx.example.test ESMTP,0.028607000'),
    ('t', '0,8,2026-11-29T03:13:26.111234000Z,127.0.0.1:44458,127.0.0.3:25,EHLO,250,2,,250-mx.example.test / PIPELINING / SIZE 10240 / VRFY / ETRN / STARTTLS / ENHANCEDSTATUSCODES / 8BITMIME / DSN / SMTPUTF8 / CHUNKING,0.000175000'),
    ('t', '0,10,2026-11-29T03:13:26.112028000Z,127.0.0.1:44458,127.0.0.3:25,MAIL,250,2,2.1.0,250 2.1.0 Ok,0.000547000'),
    ('t', '0,12,2026-11-29T03:13:26.113566000Z,127.0.0.1:44458,127.0.0.3:25,RCPT,250,2,2.1.5,250 2.1.5 Ok,0.001395000'),
    ('t', '0,14,2026-11-29T03:13:26.114692000Z,127.0.0.1:44458,127.0.0.3:25,RCPT,250,2,2.1.5,250 2.1.5 Ok,0.000954000'),
    ('t', '0,16,2026-11-29T03:13:26.115725000Z,127.0.0.1:44458,127.0.0.3:25,RCPT,250,2,2.1.5,250 2.1.5 Ok,0.000712000'),
    ('t', '0,18,2026-11-29T03:13:26.116181000Z,127.0.0.1:44458,127.0.0.3:25,RCPT,452,4,4.5.3,452 4.5.3 Error: too many recipients,0.000180000'),
    ('t', '0,20,2026-11-29T03:13:26.116569000Z,127.0.0.1:44458,127.0.0.3:25,RCPT,452,4,4.5.3,452 4.5.3 Error: too many recipients,0.000248000'),
    ('t', '0,22,2026-11-29T03:13:26.116814000Z,127.0.0.1:44458,127.0.0.3:25,DATA,354,3,,354 End data with <CR><LF>.<CR><LF>,0.000059000'),
    ('t', '0,24,2026-11-29T03:13:26.118758000Z,127.0.0.1:44458,127.0.0.3:25,<end-of-data>,250,2,2.0.0,250 2.0.0 Ok: queued as 1BB07104081,0.001811000'),
    ('t', '0,26,2026-11-29T03:13:26.119360000Z,127.0.0.1:44458,127.0.0.3:25,QUIT,221,2,2.0.0,221 2.0.0 Bye,0.000408000'),
]
HEADER = 'file,connection,stream,frame,time,client,server,command,code,category,status,text,response_time'
THREE = {'u': '02-unknown-user.pcap', 'p': '08-pipelining.pcap', 't': '06-too-many-recipients.pcap'}

# The corpus capture tshark itself reads only in part (see test_corpus.DAMAGED).
CORPUS_DAMAGED = {
    'suricata-verify/smtp-to-comma/10.7.29.101_49898-178.63.41.150_25.pcap':
        'The file "{file}" appears to be damaged or corrupt. '
        '(pcap: File has 3925868813-byte packet, bigger than maximum of 262144)',
}
NOT_CAPTURE = 'not a pcap or pcapng capture (first bytes 68 65 6c 6c)'
NO_CAPTURES = 'no capture files in this folder (looked for *.pcap, *.pcapng, *.cap, also .gz/.zst/.lz4)'


class Run:
    def __init__(self, rc, out, err, outdir):
        self.rc, self.out, self.err, self.outdir = rc, out, err, outdir

    def text(self, name):
        with open(os.path.join(self.outdir, name), encoding='utf-8', newline='') as f:
            return f.read()

    def summary(self):
        return json.loads(self.text('summary.json'))


class Batch:
    """A private folder (readable by the tshark user) to run the tool in."""
    n = 0

    def __init__(self, ctx):
        Batch.n += 1
        self.ctx = ctx
        self.dir = os.path.join(ctx.tmp, 'batch-%d' % Batch.n)
        shutil.rmtree(self.dir, ignore_errors=True)
        os.makedirs(os.path.join(self.dir, 'in'))
        os.chmod(self.dir, 0o755)
        os.chmod(os.path.join(self.dir, 'in'), 0o755)

    def put(self, name, data=None, src=None):
        """Creates in/NAME from bytes or a copy of src; returns 'in/NAME'."""
        path = os.path.join(self.dir, 'in', name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        if src is not None:
            shutil.copyfile(src, path)
        else:
            with open(path, 'wb') as f:
                f.write(data)
        os.chmod(path, 0o644)
        return os.path.join('in', name)

    def folder(self, name):
        path = os.path.join(self.dir, 'in', name)
        os.makedirs(path, exist_ok=True)
        os.chmod(path, 0o755)
        return os.path.join('in', name)

    def run(self, args, outdir='out', chart=False, env=None, prefix=None):
        cmd = [sys.executable, os.path.join(self.ctx.scripts, TOOL), '-q', '-o', outdir,
               '--tshark-cmd', json.dumps(prefix or self.ctx.tshark.command([]))]
        if not chart:
            cmd.append('--no-chart')
        p = subprocess.run(cmd + list(args), cwd=self.dir, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, env=env)
        return Run(p.returncode, p.stdout.decode('utf-8', 'replace'),
                   p.stderr.decode('utf-8', 'replace'), os.path.join(self.dir, outdir))


def real(ctx, name):
    return os.path.join(ctx.testdata, 'real', name)


def three(ctx, b):
    return {k: b.put(v, src=real(ctx, v)) for k, v in THREE.items()}


def connection_id(ctx, path):
    """The documented connection id of a one-connection capture, from its
    bytes: 'C' + the first 16 hex digits of sha1('client|server|first frame
    time in ns')."""
    import toolpath  # noqa: F401  (tests/tools on the path)
    import pcaplib
    pk, segs = pcaplib.read_tcp_segments(path)
    syn = segs[0]
    key = '%s:%d|%s:%d|%d' % (syn.src, syn.sport, syn.dst, syn.dport, pk[0].ts_ns)
    return 'C' + hashlib.sha1(key.encode()).hexdigest()[:16]


def expected_csv(ctx, files):
    conn = {k: connection_id(ctx, real(ctx, v)) for k, v in THREE.items()}
    return '\r\n'.join([HEADER] + ['%s,%s,%s' % (files[k], conn[k], rest) for k, rest in EXPECTED]) + '\r\n'


def check_replies(ctx):
    b = Batch(ctx)
    files = three(ctx, b)
    r = b.run([files['u'], files['p'], files['t']])
    assert (r.rc, r.err) == (0, ''), 'exit %d, stderr %r' % (r.rc, r.err)
    got = r.text('replies.csv')
    want = expected_csv(ctx, files)
    assert got == want, 'replies.csv differs:\n%s' % '\n'.join(
        '  got  %r\n  want %r' % (g, w) for g, w in zip(got.splitlines(), want.splitlines()) if g != w) \
        + ('' if len(got.splitlines()) == len(want.splitlines()) else
           '\n  %d lines, want %d' % (len(got.splitlines()), len(want.splitlines())))
    # frame 10 of 08-pipelining: six replies, each with its own status
    rows = list(csv.DictReader(io.StringIO(got)))
    f10 = [(x['command'], x['code'], x['status']) for x in rows
           if x['file'] == files['p'] and x['frame'] == '10']
    assert f10 == [('MAIL', '250', '2.1.0'), ('RCPT', '250', '2.1.5'), ('RCPT', '550', '5.1.1'),
                   ('RCPT', '250', '2.1.5'), ('RCPT', '250', '2.1.5'), ('DATA', '354', '')], f10
    # replies.jsonl: the same rows, typed
    js = [json.loads(l) for l in r.text('replies.jsonl').splitlines()]
    assert len(js) == len(rows), (len(js), len(rows))
    for j, c in zip(js, rows):
        assert list(j) == list(c), (list(j), list(c))
        for k in ('stream', 'frame', 'code', 'category'):
            assert j[k] == int(c[k]), (k, j, c)
        assert j['status'] == (c['status'] or None), (j, c)
        assert j['response_time'] == float(c['response_time']), (j, c)
        for k in ('file', 'connection', 'time', 'client', 'server', 'command', 'text'):
            assert j[k] == c[k], (k, j, c)
    s = r.summary()
    assert s['files'] == {'found': 3, 'read': 3, 'read_in_part': 0, 'failed': 0, 'without_smtp': 0,
                          'bytes': sum(os.path.getsize(real(ctx, v)) for v in THREE.values())}, s['files']
    assert s['replies'] == 26
    assert s['by_category'] == {'2': 20, '3': 2, '4': 2, '5': 2}, s['by_category']
    assert s['by_code'] == {'220': 3, '221': 3, '250': 14, '354': 2, '452': 2, '550': 2}, s['by_code']
    assert s['by_command'][0] == {'command': 'RCPT', 'replies': 10, 'transient_4xx': 2,
                                  'permanent_5xx': 2}, s['by_command'][0]
    srv = [(x['server'], x['replies'], x['transient_4xx'], x['permanent_5xx'], x['failure_rate'],
            x['max_time']) for x in s['servers']]
    assert srv == [('127.0.0.3:25', 11, 2, 0, round(2 / 11, 6), 0.028607),
                   ('127.0.0.1:25', 15, 0, 2, round(2 / 15, 6), 0.004243)], srv
    slow = [(x['file'], x['frame'], x['command'], x['response_time']) for x in s['slowest']]
    assert len(slow) == 20 and slow[:2] == [(files['t'], 4, '<connect>', 0.028607),
                                            (files['p'], 10, 'MAIL', 0.004243)], slow
    assert slow[-1] == (files['t'], 18, 'RCPT', 0.00018), slow[-1]
    assert s['failed_files'] == [] and s['damaged_files'] == [] and s['input_problems'] == []
    has_tx = 'smtp.transaction' in ctx.tshark.run(['-G', 'fields'])[0].split('\t')
    assert s['transactions']['available'] == has_tx, s['transactions']
    assert os.path.exists(os.path.join(r.outdir, 'transactions.csv')) == has_tx
    txt = r.text('summary.txt')
    for line in ('replies: 26\n', 'mail transactions: ' + ('3\n' if has_tx else 'skipped: ')):
        assert line in txt, 'summary.txt lacks %r' % line
    # category names are the plugin's (tshark -G values), not a copy in the tool
    names = {}
    for v in ctx.tshark.run(['-G', 'values'])[0].splitlines():
        cols = v.split('\t')
        if len(cols) == 4 and cols[:2] == ['V', 'smtp.reply.category']:
            names[cols[2]] = cols[3]
    for c, n in (('2', 20), ('3', 2), ('4', 2), ('5', 2)):
        line = '  %sxx  %-31s %8d' % (c, names[c], n)
        assert line in txt, 'summary.txt lacks %r' % line


def truncated_pcap(ctx):
    with open(real(ctx, '08-pipelining.pcap'), 'rb') as f:
        return f.read()[:1000]


def check_error(ctx, kind):
    b = Batch(ctx)
    if kind == 'text-file':
        args = [b.put('notes.txt', b'hello\n')]
        rc, err = 2, ('smtp-batch: in/notes.txt: not read: %s\n'
                      'smtp-batch: no capture could be read\n' % NOT_CAPTURE)
        failed, damaged, rows = [{'file': 'in/notes.txt', 'reason': NOT_CAPTURE}], [], 0
    elif kind == 'truncated-pcap':
        args = [b.put('trunc.pcap', truncated_pcap(ctx))]
        why = 'The file "in/trunc.pcap" appears to have been cut short in the middle of a packet.'
        rc, err = 0, 'smtp-batch: in/trunc.pcap: read only in part (2 replies kept): %s\n' % why
        failed, damaged, rows = [], [{'file': 'in/trunc.pcap', 'reason': why}], 2
    elif kind == 'empty-folder':
        args = [b.folder('empty')]
        rc, err = 2, ('smtp-batch: in/empty: %s\nsmtp-batch: no capture could be read\n' % NO_CAPTURES)
        failed, damaged, rows = [], [], 0
    else:   # all of them and a good capture: the good one is read, exit 0
        good = b.put('02-unknown-user.pcap', src=real(ctx, '02-unknown-user.pcap'))
        args = [b.put('notes.txt', b'hello\n'), b.folder('empty'),
                b.put('trunc.pcap', truncated_pcap(ctx)), good, 'in/nosuch.pcap']
        why = 'The file "in/trunc.pcap" appears to have been cut short in the middle of a packet.'
        rc, err = 0, ('smtp-batch: in/empty: %s\n'
                      'smtp-batch: in/nosuch.pcap: no such file or directory\n'
                      'smtp-batch: in/notes.txt: not read: %s\n'
                      'smtp-batch: in/trunc.pcap: read only in part (2 replies kept): %s\n'
                      % (NO_CAPTURES, NOT_CAPTURE, why))
        failed = [{'file': 'in/notes.txt', 'reason': NOT_CAPTURE}]
        damaged, rows = [{'file': 'in/trunc.pcap', 'reason': why}], 7
    r = b.run(args)
    assert (r.rc, r.err) == (rc, err), 'got exit %d, stderr:\n%s\nwant exit %d, stderr:\n%s' % (
        r.rc, r.err, rc, err)
    s = r.summary()
    assert s['failed_files'] == failed, s['failed_files']
    assert s['damaged_files'] == damaged, s['damaged_files']
    assert s['replies'] == rows, s['replies']
    assert len(r.text('replies.csv').splitlines()) == rows + 1
    txt = r.text('summary.txt')
    for x in failed + damaged:
        assert '  %s: %s\n' % (x['file'], x['reason']) in txt, 'summary.txt lacks %r' % x


def check_parallel(ctx):
    b = Batch(ctx)
    files = three(ctx, b)
    args = [files['u'], files['p'], b.put('notes.txt', b'hello\n'), files['t'],
            b.put('trunc.pcap', truncated_pcap(ctx))]
    local = b.run(args, outdir='local')
    with open(os.path.join(b.dir, 'hosts'), 'w') as f:
        f.write(':\n')
    par = b.run(['--sshloginfile', 'hosts'] + args, outdir='par')
    assert local.rc == par.rc == 0, (local.rc, par.rc, par.err)
    assert par.err == local.err, 'stderr differs:\n%s\n---\n%s' % (par.err, local.err)
    for name in ('replies.csv', 'replies.jsonl', 'summary.json', 'summary.txt'):
        assert par.text(name) == local.text(name), '%s differs between parallel and local' % name
    assert par.summary()['replies'] == 28


def corpus_captures(corpus):
    out = []
    for d, dirs, fs in os.walk(corpus):
        dirs.sort()
        for f in sorted(fs):
            if f.lower().endswith(('.pcap', '.pcapng')):
                out.append(os.path.relpath(os.path.join(d, f), corpus))
    return out


def check_corpus(ctx):
    b = Batch(ctx)
    caps = corpus_captures(ctx.corpus)
    for rel in caps:
        b.put(os.path.join('corpus', rel), src=os.path.join(ctx.corpus, rel))
    for d, dirs, _ in os.walk(os.path.join(b.dir, 'in')):
        for x in dirs:
            os.chmod(os.path.join(d, x), 0o755)
    r = b.run(['in/corpus'])
    s = r.summary()
    assert r.rc == 0, (r.rc, r.err)
    # tshark 4.0-4.4 read the damaged capture in part, 4.6 refuses it at
    # the start: either is right, with tshark's reason naming the file
    bad = s['damaged_files'] + s['failed_files']
    names = ['in/corpus/' + k for k in sorted(CORPUS_DAMAGED)]
    assert sorted(x['file'] for x in bad) == names, bad
    for x in bad:
        assert x['file'] in x['reason'] and 'damaged or corrupt' in x['reason'], x
    want_damaged = [{'file': 'in/corpus/' + k, 'reason': v.format(file='in/corpus/' + k)}
                    for k, v in sorted(CORPUS_DAMAGED.items())]
    if s['damaged_files']:      # the release this was written with: the exact reason
        assert s['damaged_files'] == want_damaged, s['damaged_files']
    assert s['files']['found'] == len(caps) and s['files']['read'] == len(caps) - len(bad), s['files']
    got = {}
    for row in csv.DictReader(io.StringIO(r.text('replies.csv'))):
        got.setdefault(row['file'], []).append((int(row['frame']), row['code']))
    problems = []
    total = 0
    # the oracle on every third capture (all with --full); the summary's
    # count against the table's rows for all of them
    for rel in caps if ctx.full else caps[::3]:
        # the oracle: the codes tshark prints per frame, in order
        out, _ = ctx.tshark.run(['-r', os.path.join(b.dir, 'in', 'corpus', rel), '-Y', 'smtp.reply',
                                 '-o', 'tcp.reassemble_out_of_order:TRUE',
                                 '-T', 'fields', '-E', 'occurrence=a', '-E', 'aggregator=;',
                                 '-e', 'frame.number', '-e', 'smtp.reply.code'], check=False)
        want = []
        for line in out.splitlines():
            fr, codes = line.split('\t')
            want += [(int(fr), c) for c in codes.split(';')]
        total += len(want)
        name = 'in/corpus/' + rel
        if got.get(name, []) != want:
            problems.append('%s: got %r want %r' % (rel, got.get(name), want))
    assert not problems, '\n'.join(problems)
    rows = sum(len(v) for v in got.values())
    assert s['replies'] == rows and total > (1000 if ctx.full else 300), (s['replies'], rows, total)


def check_chart(ctx):
    b = Batch(ctx)
    f = b.put('08-pipelining.pcap', src=real(ctx, '08-pipelining.pcap'))
    r = b.run([f], chart=True)
    assert r.rc == 0 and r.err == '', (r.rc, r.err)
    png = os.path.join(r.outdir, 'chart.png')
    with open(png, 'rb') as fh:
        head = fh.read(8)
    assert head == b'\x89PNG\r\n\x1a\n', head
    assert r.summary()['chart'] == 'chart.png (bucket second)', r.summary()['chart']


def check_no_gnuplot(ctx):
    b = Batch(ctx)
    f = b.put('08-pipelining.pcap', src=real(ctx, '08-pipelining.pcap'))
    # no PATH: the tshark command's own programs are named by their full path
    prefix = [shutil.which(w) if w in ('setpriv', 'env') else w for w in ctx.tshark.command([])]
    r = b.run([f], chart=True, env={'PATH': os.path.join(b.dir, 'no-such-dir')}, prefix=prefix)
    note = 'smtp-batch: gnuplot not found: chart.png skipped (install the Debian package gnuplot-nox)\n'
    assert (r.rc, r.err) == (0, note), (r.rc, r.err)
    assert not os.path.exists(os.path.join(r.outdir, 'chart.png'))
    assert r.summary()['chart'] == 'skipped: gnuplot not found (Debian package gnuplot-nox)'


def check_transactions(ctx):
    """Transaction subtrees, as a later plugin may add them, are found."""
    spec = importlib.util.spec_from_file_location('smtp_batch', os.path.join(ctx.scripts, TOOL))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    text = '''[
  {
    "_source": {
      "layers": {
        "frame": {"frame.time_epoch": "1700000000.250000000", "frame.number": "7"},
        "ip": {"ip.src": "192.0.2.25", "ip.dst": "198.51.100.7"},
        "tcp": {"tcp.srcport": "25", "tcp.dstport": "40000", "tcp.stream": "3"},
        "smtp": {
          "smtp.reply": {"smtp.reply.code": "250", "smtp.reply.category": "2",
                         "smtp.reply.line": "250 ok", "smtp.reply.command": "<end-of-data>",
                         "smtp.reply.time": "0.5"},
          "smtp.transaction": "1",
          "smtp.transaction_tree": {"smtp.transaction.outcome": "delivered",
                                    "smtp.transaction.sender": "a@example.test",
                                    "smtp.transaction.recipient": "b@example.test",
                                    "smtp.transaction.recipient": "c@example.test"}
        }
      }
    }
  }
]
'''
    for epoch in ('1700000000.250000000', '2023-11-14T22:13:20.250000000Z'):   # 4.0-4.4, 4.6
        pkts = list(mod.iter_packets(io.StringIO(text.replace('1700000000.250000000', epoch))))
        assert len(pkts) == 1
        fp = mod.FileParser('x.pcap')
        fp.feed(pkts[0])
        res = fp.result()
        replies, txs = res['replies'], res['transactions']
        assert [(r['code'], r['status'], r['time'], r['server'], r['client']) for r in replies] == [
            (250, None, '2023-11-14T22:13:20.250000000Z', '192.0.2.25:25', '198.51.100.7:40000')], replies
        assert [(t['stream'], t['transaction'], t['first_frame'], t['outcome'], t['sender'],
                 [x['address'] for x in t['accepted']], t['refused'], t['final_code'])
                for t in txs] == [
            (3, 1, 7, 'delivered', 'a@example.test', ['b@example.test', 'c@example.test'], [], None)], txs


def _state(folder):
    """Every entry under folder: name -> (kind, content hash or link target)."""
    out = {}
    for root, dirs, files in os.walk(folder):
        for n in dirs + files:
            fp = os.path.join(root, n)
            rel = os.path.relpath(fp, folder)
            if os.path.islink(fp):
                out[rel] = ('link', os.readlink(fp))
            elif os.path.isdir(fp):
                out[rel] = ('dir', None)
            else:
                with open(fp, 'rb') as f:
                    out[rel] = ('file', hashlib.sha1(f.read()).hexdigest(), os.stat(fp).st_mtime_ns)
    return out


def check_outdir(ctx):
    """The output folder: files the tool did not write are never changed."""
    b = Batch(ctx)
    f = b.put('08-pipelining.pcap', src=real(ctx, '08-pipelining.pcap'))
    names = ('replies.csv', 'replies.jsonl', 'summary.json', 'summary.txt',
             'transactions.csv', 'transactions.jsonl')
    mark = '.smtp-batch-outputs.json'

    def mine(folder, files):
        d = os.path.join(b.dir, folder)
        os.makedirs(d, exist_ok=True)
        for n, data in files.items():
            with open(os.path.join(d, n), 'wb') as fh:
                fh.write(data)
        return d

    # a folder of the user's with files of the tool's names: nothing written
    d = mine('users', {'summary.txt': b'my notes\n', 'chart.png': b'not a chart',
                       'notes.txt': b'keep\n'})
    before = _state(d)
    r = b.run([f], outdir='users', chart=True)
    assert r.rc == 2 and r.err == ('smtp-batch: users holds summary.txt, chart.png, not written by '
                                   'smtp-batch (or changed since): nothing was written; choose another '
                                   '-o, or move them away\n'), (r.rc, r.err)
    assert _state(d) == before, _state(d)
    # a symbolic link in the place of an output: neither it nor its target changes
    d = mine('linked', {})
    victim = os.path.join(b.dir, 'victim.txt')
    with open(victim, 'wb') as fh:
        fh.write(b'victim\n')
    os.symlink(victim, os.path.join(d, 'replies.csv'))
    before, vbefore = _state(d), _state(os.path.dirname(victim))
    r = b.run([f], outdir='linked')
    assert r.rc == 2 and r.err.startswith('smtp-batch: linked holds replies.csv, not written by'), r.err
    assert _state(d) == before, _state(d)
    assert _state(os.path.dirname(victim)) == vbefore
    # a file where the folder should be
    r = b.run([f], outdir='in/08-pipelining.pcap')
    assert (r.rc, r.err) == (2, 'smtp-batch: in/08-pipelining.pcap exists and is not a folder: '
                                'choose another -o\n'), (r.rc, r.err)
    # a folder with other files of the user's: they stay; the outputs are added
    d = mine('shared', {'notes.txt': b'keep\n'})
    r = b.run([f], outdir='shared', chart=bool(shutil.which('gnuplot')))
    assert r.rc == 0 and r.err == '', (r.rc, r.err)
    got = _state(d)
    want = {'notes.txt', mark} | set(names) | ({'chart.png'} if shutil.which('gnuplot') else set())
    assert set(got) == want, sorted(got)
    assert got['notes.txt'][1] == hashlib.sha1(b'keep\n').hexdigest(), got['notes.txt']
    with open(os.path.join(d, 'replies.csv'), encoding='utf-8') as fh:
        first = fh.read()
    # again into the same folder, without the chart: its own files replaced, the
    # earlier chart removed, the user's file kept
    r = b.run([f], outdir='shared')
    assert r.rc == 0 and r.err == '', (r.rc, r.err)
    got = _state(d)
    assert set(got) == {'notes.txt', mark} | set(names), sorted(got)
    with open(os.path.join(d, 'replies.csv'), encoding='utf-8') as fh:
        assert fh.read() == first
    # an output the user edited since is theirs now: the next run stops
    with open(os.path.join(d, 'replies.csv'), 'a', encoding='utf-8') as fh:
        fh.write('my line\n')
    before = _state(d)
    r = b.run([f], outdir='shared')
    assert r.rc == 2 and r.err.startswith('smtp-batch: shared holds replies.csv, not written by'), r.err
    assert _state(d) == before


def tests(ctx):
    yield 'replies', lambda: check_replies(ctx)
    for kind in ('text-file', 'truncated-pcap', 'empty-folder', 'mixed'):
        yield 'errors::' + kind, (lambda k=kind: check_error(ctx, k))
    if shutil.which('parallel'):
        yield 'parallel', lambda: check_parallel(ctx)
    if ctx.corpus:
        if not ctx.full:
            ctx.defer('corpus: tshark\'s own reading of the other two thirds of the captures')
        yield 'corpus', lambda: check_corpus(ctx)
    if shutil.which('gnuplot'):
        yield 'chart', lambda: check_chart(ctx)
    yield 'chart-without-gnuplot', lambda: check_no_gnuplot(ctx)
    yield 'transactions', lambda: check_transactions(ctx)
    yield 'outdir', lambda: check_outdir(ctx)
