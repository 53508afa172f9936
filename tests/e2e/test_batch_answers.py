"""What scripts/smtp-batch.py answers where the reason a mail failed is not
its RCPT reply, on captures made by tests/tools/gen-edge-captures.py's
connection builder (exact rows of transactions.csv and of the summary's
failed-mail list):

  answers::lmtp          LMTP (port 24): after the message, one reply per
                         accepted recipient decides that recipient: the
                         refused one is listed with its own reply, the
                         delivered one is not (first or second refused);
                         the plugin's summary gives each recipient's
                         delivery code and status and names the undelivered
                         one (tshark -2 -T fields).
  answers::mail-refused  MAIL refused (553), then RCPT and DATA answered 503
                         "need MAIL": the failed mail's reason is the 553.
  answers::auth-failed   an AUTH that failed (535), then mail: no auth_user
                         (the plugin's smtp.transaction.auth_user).
  answers::multiline     a three-line refusal: the text keeps the later lines
                         (URL, id) after ' / '.
  answers::tls-unread    09 (STARTTLS) without its key log: the summary says
                         the connection went on in TLS unread; with the key
                         log it does not.
  answers::file-name     a capture whose name holds a line break: escaped in
                         every line of summary.txt that names it.
  answers::timed         the reply-time table per server says how many of the
                         server's replies have a time (edge unsolicited-421:
                         the 421 answers no command).
  answers::bad-option    a -d tshark does not take: one message and exit 2
                         before any file, no output folder made.
"""
import csv
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from test_batch import Batch, real  # noqa: E402


def gen(ctx):
    import toolpath
    import pcaplib as pl
    return toolpath.load('gen-edge-captures.py'), pl


def make(ctx, b, name, steps, port=25, cport=41000):
    g, pl = gen(ctx)
    c = g.Conn(cport=cport)
    c.addr['S'] = (c.addr['S'][0], port)
    path = os.path.join(b.dir, 'in', name)
    pl.write_pcap(path, c.run(steps))
    os.chmod(path, 0o644)
    return os.path.join('in', name)


def ok(s):
    return ('S', s)


def cmd(s):
    return ('C', s)


LHLO = [ok(b'220 lmtp.example LMTP ready\r\n'), cmd(b'LHLO client.example\r\n'),
        ok(b'250-lmtp.example\r\n250 PIPELINING\r\n')]
ENV = [cmd(b'MAIL FROM:<s@example.test>\r\n'), ok(b'250 2.1.0 OK\r\n'),
       cmd(b'RCPT TO:<alice@example.test>\r\n'), ok(b'250 2.1.5 OK\r\n'),
       cmd(b'RCPT TO:<bob@example.test>\r\n'), ok(b'250 2.1.5 OK\r\n'),
       cmd(b'DATA\r\n'), ok(b'354 OK\r\n'), cmd(b'Subject: s\r\n\r\nhi\r\n.\r\n')]
QUIT = [cmd(b'QUIT\r\n'), ok(b'221 2.0.0 Bye\r\n'), ('FIN', 'S')]
SMTP_HELLO = [ok(b'220 mx.example ESMTP\r\n'), cmd(b'EHLO client.example\r\n'),
              ok(b'250-mx.example\r\n250-AUTH PLAIN\r\n250 PIPELINING\r\n')]


def rows(r):
    with open(os.path.join(r.outdir, 'transactions.csv'), encoding='utf-8', newline='') as f:
        return list(csv.DictReader(f))


def failed(r):
    return [(x['recipient'], x['code'], x['status'], x['text'], x['outcome'])
            for x in r.summary()['failed_mail']['listed']]


def pick(row, *keys):
    return tuple(row[k] for k in keys)


def check_lmtp(ctx):
    b = Batch(ctx)
    first = make(ctx, b, 'lmtp-first.pcap', LHLO + ENV + [
        ok(b'452 4.2.2 <alice@example.test> Mailbox is full\r\n'),
        ok(b'250 2.0.0 <bob@example.test> Saved\r\n')] + QUIT, port=24)
    second = make(ctx, b, 'lmtp-second.pcap', LHLO + ENV + [
        ok(b'250 2.0.0 <alice@example.test> Saved\r\n'),
        ok(b'552 5.2.2 <bob@example.test> Quota exceeded\r\n')] + QUIT, port=24, cport=41001)
    r = b.run([first, second])
    assert (r.rc, r.err) == (0, ''), (r.rc, r.err)
    got = [pick(x, 'accepted', 'refused', 'accepted_count', 'refused_count', 'outcome', 'final_code')
           for x in rows(r)]
    assert got == [
        ('bob@example.test 250 2.0.0', 'alice@example.test 452 4.2.2', '1', '1',
         'delivered to some recipients', '250'),
        ('alice@example.test 250 2.0.0', 'bob@example.test 552 5.2.2', '1', '1',
         'delivered to some recipients', '552'),
    ], got
    assert failed(r) == [
        ('alice@example.test', 452, '4.2.2', '452 4.2.2 <alice@example.test> Mailbox is full',
         'delivered to some recipients'),
        ('bob@example.test', 552, '5.2.2', '552 5.2.2 <bob@example.test> Quota exceeded',
         'delivered to some recipients'),
    ], failed(r)
    for f, want in ((first, '452,250\t4.2.2,2.0.0\talice@example.test'),
                    (second, '250,552\t2.0.0,5.2.2\tbob@example.test')):
        out, _ = ctx.tshark.run(['-2', '-r', os.path.join(b.dir, f), '-Y', 'smtp.transaction.outcome',
                                 '-T', 'fields', '-e', 'smtp.transaction.recipient.delivery_code',
                                 '-e', 'smtp.transaction.recipient.delivery_status',
                                 '-e', 'smtp.transaction.undelivered_recipient'])
        assert out == want + '\n', (f, out)


def check_mail_refused(ctx):
    b = Batch(ctx)
    f = make(ctx, b, 'mail-refused.pcap', SMTP_HELLO + [
        cmd(b'MAIL FROM:<a@bad.example>\r\nRCPT TO:<b@example.test>\r\nDATA\r\n'),
        ok(b'553 5.1.8 <a@bad.example>... Domain of sender address does not exist\r\n'
           b'503 5.0.0 Need MAIL before RCPT\r\n503 5.0.0 Need MAIL command\r\n')] + QUIT)
    r = b.run([f])
    assert (r.rc, r.err) == (0, ''), (r.rc, r.err)
    assert [pick(x, 'sender', 'refused', 'outcome', 'final_code', 'final_text') for x in rows(r)] == [
        ('a@bad.example', 'b@example.test 503 5.0.0', 'rejected at MAIL', '553',
         '553 5.1.8 <a@bad.example>... Domain of sender address does not exist')], rows(r)
    assert failed(r) == [
        ('b@example.test', 553, '5.1.8',
         '553 5.1.8 <a@bad.example>... Domain of sender address does not exist', 'rejected at MAIL')
    ], failed(r)


def check_auth_failed(ctx):
    b = Batch(ctx)
    f = make(ctx, b, 'auth-failed.pcap', SMTP_HELLO + [
        cmd(b'AUTH PLAIN AG1hbGxvcnkAd3Jvbmc=\r\n'), ok(b'535 5.7.8 Error: authentication failed\r\n'),
        cmd(b'MAIL FROM:<m@example.test>\r\n'), ok(b'250 2.1.0 Ok\r\n'),
        cmd(b'RCPT TO:<b@example.test>\r\n'), ok(b'250 2.1.5 Ok\r\n'),
        cmd(b'DATA\r\n'), ok(b'354 go\r\n'), cmd(b'Subject: s\r\n\r\nhi\r\n.\r\n'),
        ok(b'250 2.0.0 Ok: queued\r\n')] + QUIT)
    r = b.run([f])
    assert (r.rc, r.err) == (0, ''), (r.rc, r.err)
    assert [pick(x, 'auth_user', 'sender', 'outcome') for x in rows(r)] == [
        ('', 'm@example.test', 'delivered')], rows(r)


def check_multiline(ctx):
    b = Batch(ctx)
    f = make(ctx, b, 'multiline.pcap', SMTP_HELLO + [
        cmd(b'MAIL FROM:<a@example.test>\r\n'), ok(b'250 2.1.0 Ok\r\n'),
        cmd(b'RCPT TO:<b@example.test>\r\n'), ok(b'250 2.1.5 Ok\r\n'),
        cmd(b'DATA\r\n'), ok(b'354 go\r\n'), cmd(b'Subject: s\r\n\r\nhi\r\n.\r\n'),
        ok(b'550-5.7.1 Message rejected as spam\r\n550-5.7.1 see https://example.test/policy\r\n'
           b'550 5.7.1 id=12345\r\n')] + QUIT)
    r = b.run([f])
    assert (r.rc, r.err) == (0, ''), (r.rc, r.err)
    text = '550-5.7.1 Message rejected as spam / see https://example.test/policy / id=12345'
    assert [pick(x, 'final_code', 'final_status', 'final_text') for x in rows(r)] == [
        ('550', '5.7.1', text)], rows(r)
    assert failed(r) == [('b@example.test', 550, '5.7.1', text, 'rejected after data')], failed(r)
    with open(os.path.join(r.outdir, 'replies.csv'), encoding='utf-8', newline='') as fh:
        texts = [x['text'] for x in csv.DictReader(fh)]
    assert texts[1] == '250-mx.example / AUTH PLAIN / PIPELINING' and texts[-2] == text, texts


def check_tls_unread(ctx):
    b = Batch(ctx)
    f = b.put('09-starttls.pcap', src=real(ctx, '09-starttls.pcap'))
    keys = b.put('09-starttls.keys', src=real(ctx, '09-starttls.keys'))
    r = b.run([f], outdir='nokeys')
    assert (r.rc, r.err) == (0, ''), (r.rc, r.err)
    assert r.summary()['files_with_unread_tls'] == [{'file': f, 'connections': 1}]
    assert ('Files with connections that went on in TLS after STARTTLS, not decrypted (their mail '
            'is not in the tables: --pref tls.keylog_file:FILE with the session keys)\n'
            '  in/09-starttls.pcap: 1 connection\n') in r.text('summary.txt')
    r = b.run(['--pref', 'tls.keylog_file:' + os.path.join(b.dir, keys), f], outdir='keys')
    assert (r.rc, r.err) == (0, ''), (r.rc, r.err)
    assert r.summary()['files_with_unread_tls'] == []
    assert 'not decrypted' not in r.text('summary.txt')


def check_file_name(ctx):
    b = Batch(ctx)
    f = b.put('x\n  2099-01-01 00:00:00Z  forged.pcap', src=real(ctx, '08-pipelining.pcap'))
    r = b.run([f])
    assert (r.rc, r.err) == (0, ''), (r.rc, r.err)
    text = r.text('summary.txt')
    assert 'forged' not in text.replace('in/x\\n  2099-01-01 00:00:00Z  forged.pcap', ''), text
    assert '  2026-11-29 03:13:28Z  in/x\\n  2099-01-01 00:00:00Z  forged.pcap  server 127.0.0.1:25' \
        in text, text


def check_timed(ctx):
    b = Batch(ctx)
    f = b.put('unsolicited-421.pcap', src=os.path.join(ctx.testdata, 'edge', 'unsolicited-421.pcap'))
    r = b.run([f])
    assert (r.rc, r.err) == (0, ''), (r.rc, r.err)
    got = [(x['server'], x['replies'], x['timed']) for x in r.summary()['reply_times_by_server']]
    assert got == [('192.0.2.25:25', 3, 2)], got


def check_bad_option(ctx):
    b = Batch(ctx)
    f = b.put('08-pipelining.pcap', src=real(ctx, '08-pipelining.pcap'))
    r = b.run(['-d', 'garbage', f], outdir='never')
    assert r.rc == 2 and r.err.startswith(
        'smtp-batch: tshark does not take these -d/--pref options (nothing was read): '), r.err
    assert r.err.count('\n') == 1, r.err
    assert not os.path.exists(r.outdir)


def tests(ctx):
    yield 'answers::lmtp', lambda: check_lmtp(ctx)
    yield 'answers::mail-refused', lambda: check_mail_refused(ctx)
    yield 'answers::auth-failed', lambda: check_auth_failed(ctx)
    yield 'answers::multiline', lambda: check_multiline(ctx)
    yield 'answers::tls-unread', lambda: check_tls_unread(ctx)
    yield 'answers::file-name', lambda: check_file_name(ctx)
    yield 'answers::timed', lambda: check_timed(ctx)
    yield 'answers::bad-option', lambda: check_bad_option(ctx)
