"""-z smtp,tree, -z smtp,srt and -z credentials: the numbers must agree exactly with the
replies the plugin shows (counted from -T fields output of the same
capture), and the whole printed tables are pinned for the tshark release
of testdata/expected/WIRESHARK_VERSION."""
import collections
import os
import re

from test_golden import compare, tshark_version

CAPTURES = ['13-errors-bad-sequence', '08-pipelining', '22-auth-failures', '15-bdat-chunking']


def replies(ctx, pcap):
    rows, err = ctx.tshark.fields(pcap, ['smtp.reply.code', 'smtp.reply.command'],
                                  display_filter='smtp.reply')
    assert err == ''
    out = []
    for r in rows:
        codes, verbs = r[0].split('\x1f'), r[1].split('\x1f')
        assert len(codes) == len(verbs), r
        out.extend(zip(codes, verbs))
    return out


def run_z(ctx, pcap, z):
    out, err = ctx.tshark.run(['-r', ctx.tshark.stage(pcap), '-q', '-z', z])
    assert err == '', err
    return out


def check_tree(ctx, pcap, base):
    out = run_z(ctx, pcap, 'smtp,tree')
    counts = {}
    for line in out.splitlines():
        m = re.match(r'^( *)(\S.*?)\s{2,}(\d+)\s', line)
        if m:
            counts[(len(m.group(1)), m.group(2))] = int(m.group(3))
    want = collections.Counter(code for code, _ in replies(ctx, pcap))
    got = {name: n for (depth, name), n in counts.items() if depth == 2 and re.fullmatch(r'\d{3}', name)}
    assert got == dict(want), 'codes in tree %r, replies %r' % (got, dict(want))
    assert counts[(0, 'Replies by category and code')] == sum(want.values())
    if base:
        compare(ctx, out, base + '.tree.txt')


def check_srt(ctx, pcap, base):
    out = run_z(ctx, pcap, 'smtp,srt')
    calls = {}
    for line in out.splitlines():
        m = re.match(r'^\s+\d+\s+(\S+)\s+(\d+)\s+[\d.]+\s+[\d.]+', line)
        if m:
            calls[m.group(1)] = int(m.group(2))
    # every reply whose command was seen is one call, in the row of its verb;
    # verbs the engine does not know share the last row, (other)
    with open(os.path.join(ctx.repo, 'src', 'smtp_verbs.def')) as f:
        known = set(re.findall(r'^SMTP_VERB\(\s*\w+,\s*"([^"]+)"', f.read(), re.M))
    want = collections.Counter(v if v in known and v != '<unknown>' else '(other)'
                               for _, v in replies(ctx, pcap) if v)
    assert calls == dict(want), 'srt calls %r, replies %r' % (calls, dict(want))
    if base:
        compare(ctx, out, base + '.srt.txt')


def tests(ctx):
    with open(os.path.join(ctx.testdata, 'expected', 'WIRESHARK_VERSION')) as f:
        pinned = f.read().strip() == tshark_version(ctx) or ctx.update
    for name in CAPTURES:
        pcap = os.path.join(ctx.testdata, 'real', name + '.pcap')
        base = os.path.join(ctx.testdata, 'expected', 'stats', name) if pinned else None
        yield name + ' tree', (lambda p=pcap, b=base: check_tree(ctx, p, b))
        yield name + ' srt', (lambda p=pcap, b=base: check_srt(ctx, p, b))
    yield from credential_tests(ctx)


def check_credentials(ctx, pcap, want_exact=None):
    """-z credentials lists one record per AUTH attempt, on the reply that
    ends it, with the user name decoded from the exchange and the result
    that reply gives (smtp.auth.result)."""
    out = run_z(ctx, pcap, 'credentials')
    got = []
    for line in out.splitlines():
        m = re.match(r'^(\d+)\s+SMTP\s+(\S+)\s+AUTH (\w+)', line)
        if m:
            got.append((m.group(1), m.group(2), m.group(3)))
    results, err = ctx.tshark.fields(pcap, ['frame.number', 'smtp.auth.result'],
                                     display_filter='smtp.auth.result')
    assert err == ''
    users, err = ctx.tshark.fields(pcap, ['smtp.auth.username'], display_filter='smtp.auth.username')
    assert err == ''
    # one record per user name decoded; its frame and result are those of
    # a reply that ends an exchange (attempts without a user name, such as
    # a cancelled one, have a result but no record)
    assert [g[1] for g in got] == [u[0] for u in users] and got, \
        'credentials %r, user names %r' % (got, users)
    ends = {(r[0], r[1]) for r in results}
    assert all((f, res) in ends for f, _, res in got), 'credentials %r, results %r' % (got, results)
    if want_exact is not None:
        assert got == want_exact, 'credentials %r, transcript says %r' % (got, want_exact)


def credential_tests(ctx):
    for name in ('19-auth-plain', '20-auth-login', '21-auth-cram-md5', '22-auth-failures'):
        pcap = os.path.join(ctx.testdata, 'real', name + '.pcap')
        # 22-auth-failures.transcript: a wrong password (535), the right one
        # (235), then a wrong one again
        exact = [('11', 'alice@example.test', 'failed'), ('25', 'alice@example.test', 'succeeded'),
                 ('27', 'alice@example.test', 'failed')] if name == '22-auth-failures' else None
        yield name + ' credentials', (lambda p=pcap, e=exact: check_credentials(ctx, p, e))
