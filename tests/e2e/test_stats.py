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
    # verbs the engine does not know share the <unknown> row
    with open(os.path.join(ctx.repo, 'src', 'smtp_verbs.def')) as f:
        known = set(re.findall(r'^SMTP_VERB\(\s*\w+,\s*"([^"]+)"', f.read(), re.M))
    want = collections.Counter(v if v in known else '<unknown>' for _, v in replies(ctx, pcap) if v)
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


def check_credentials(ctx, pcap):
    """-z credentials lists exactly the frames where the plugin decoded a
    user name, with that name."""
    out = run_z(ctx, pcap, 'credentials')
    got = []
    for line in out.splitlines():
        m = re.match(r'^(\d+)\s+SMTP\s+(\S+)\s+AUTH', line)
        if m:
            got.append((m.group(1), m.group(2)))
    rows, err = ctx.tshark.fields(pcap, ['frame.number', 'smtp.auth.username'],
                                  display_filter='smtp.auth.username')
    assert err == ''
    want = [(r[0], r[1]) for r in rows]
    assert got == want and want, 'credentials %r, user names %r' % (got, want)


def credential_tests(ctx):
    for name in ('19-auth-plain', '20-auth-login', '21-auth-cram-md5', '22-auth-failures'):
        pcap = os.path.join(ctx.testdata, 'real', name + '.pcap')
        yield name + ' credentials', (lambda p=pcap: check_credentials(ctx, p))
