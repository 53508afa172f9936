"""The capture tools the other tests are built on (tests/tools/pcaplib.py
and tests/tools/resegment.py), with tshark as the referee.  (This was
scripts/pcap_selftest.py, which no runner called.)

* variant/NAME: a small SMTP session written in every link-layer flavour
  pcaplib reads (Ethernet with 802.1Q, raw IPv4/IPv6, SLL, SLL2, null,
  LOOP; little- and big-endian, micro- and nanosecond pcap, and pcapng via
  editcap).  pcaplib must decode exactly the five TCP payloads; resegment.py
  in mode one and in mode random must keep every TCP stream's bytes.
* recut/NAME: a capture re-cut by resegment.py (mode one and mode random,
  seed 7, max 40): for every TCP stream N, ``tshark -z follow,tcp,raw,N``
  of input and output gives the same sequence of direction chunks
  (consecutive same-direction data merged), and the output has no extra
  stream.  Mode one is left out above ONE_LIMIT payload bytes (a million
  one-byte frames take tshark minutes).  By default the captures of
  SAMPLE (mode one up to ONE_LIMIT_SAMPLE bytes), and the variants in mode
  random only; with --full every capture of testdata/edge and the corpus,
  and the variants in both modes.
"""
import glob
import os
import struct
import subprocess

import toolpath  # noqa: F401  (tests/tools on sys.path)
import pcaplib as pl
import resegment

CAPTURE_EXT = ('.pcap', '.pcapng', '.trace', '.cap')
SEED, KMAX = 7, 40
ONE_LIMIT = 100000
ONE_LIMIT_SAMPLE = 8192    # the default run's limit
# The default run's re-cut checks: a real session with a big body, a
# generated edge case, and (when the corpus is there) a pcapng and a capture
# with retransmissions and a gap.
SAMPLE = ['testdata/real/16-cut-lines.pcap', 'testdata/edge/two-sessions.pcap',
          'corpus/zeek/smtp-bdat-cmd-invalid/smtp-bdat-cmd-invalid.pcapng',
          'corpus/suricata-verify/smtp-bug-5989/input.pcap']


def tshark(ctx, args):
    """tshark's stdout (without the plugin: only TCP matters here)."""
    out, _ = ctx.tshark.run(['-n'] + args, check=False, builtin=True)
    return out


def stream_ids(ctx, path):
    out = tshark(ctx, ['-r', ctx.tshark.stage(path), '-T', 'fields', '-e', 'tcp.stream'])
    ids = set()
    for tok in out.split():
        for part in tok.split(','):
            if part.isdigit():
                ids.add(int(part))
    return sorted(ids)


def follow_all(ctx, path, ids):
    """stream number -> list of (direction, bytes) chunks, merged by direction."""
    if not ids:
        return {}
    args = ['-r', ctx.tshark.stage(path), '-q']
    for i in ids:
        args += ['-z', 'follow,tcp,raw,%d' % i]
    result, cur = {}, None
    for line in tshark(ctx, args).splitlines():
        if line.startswith('Filter: tcp.stream eq '):
            cur = result.setdefault(int(line.split()[-1]), [])
        elif cur is not None and line.strip() and not line.startswith(('=', 'Node', 'Follow')):
            direction = 1 if line.startswith('\t') else 0
            data = bytes.fromhex(line.strip())
            if cur and cur[-1][0] == direction:
                cur[-1] = (direction, cur[-1][1] + data)
            else:
                cur.append((direction, data))
    return result


def check_recut(ctx, path, modes=('one', 'random'), ids=None):
    """Re-cut path in each mode; every stream's chunks must stay the same."""
    ids = ids or stream_ids(ctx, path)
    assert ids, '%s: no TCP stream' % path
    ids = ids + [ids[-1] + 1]   # must be empty in the output too
    want = follow_all(ctx, path, ids)
    assert any(want.get(i) for i in ids), '%s: tshark follows no data' % path
    problems = []
    for mode in modes:
        out = os.path.join(ctx.tmp, 'recut-%s.pcap' % mode)
        resegment.run(path, out, mode, SEED, KMAX)
        got = follow_all(ctx, out, ids)
        for i in ids:
            if want.get(i) != got.get(i):
                la = [(d, len(x)) for d, x in want.get(i, [])][:6]
                lb = [(d, len(x)) for d, x in got.get(i, [])][:6]
                problems.append('[%s] stream %d differs: in %s... out %s...' % (mode, i, la, lb))
                break
    assert not problems, '%s:\n%s' % (path, '\n'.join(problems))


def payload_size(path):
    return sum(len(s.payload) for s in pl.read_tcp_segments(path)[1] if s)


# ---- link-layer variants of a small synthetic session

STEPS = [('S', b'220 mx ESMTP\r\n'), ('C', b'EHLO a\r\n'),
         ('S', b'250-mx\r\n250 8BITMIME\r\n'), ('C', b'QUIT\r\n'), ('S', b'221 bye\r\n')]


def variant_frames(ver):
    """(ts_ns, IP packet bytes) of the sample session over IPv4/6."""
    import ipaddress
    c = ipaddress.ip_address('198.51.100.7' if ver == 4 else '2001:db8::7')
    s = ipaddress.ip_address('192.0.2.25' if ver == 4 else '2001:db8::25')
    seq = {'C': 1000, 'S': 5000}
    out = []
    for i, (who, data) in enumerate(STEPS):
        other = 'S' if who == 'C' else 'C'
        ts = 1_600_000_000_000_000_000 + i * 10**6
        src, dst, sp, dp = (c, s, 40001, 25) if who == 'C' else (s, c, 25, 40001)
        seg = pl.TcpSeg(ts, src, dst, sp, dp, seq[who], seq[other], pl.TCP_ACK | pl.TCP_PSH,
                        65535, data)
        seq[who] += len(data)
        out.append((ts, pl.build_ip(src, dst, 6, pl.build_tcp(seg))))
    return out


def wrap(linktype, ver, ip):
    """An IP packet in a link-layer header of the given type."""
    etype = 0x0800 if ver == 4 else 0x86DD
    if linktype in (pl.LINKTYPE_RAW, pl.LINKTYPE_IPV4, pl.LINKTYPE_IPV6):
        return ip
    if linktype == pl.LINKTYPE_LINUX_SLL:
        return struct.pack('!HHH8sH', 0, 1, 6, b'\x02' * 6 + b'\0\0', etype) + ip
    if linktype == pl.LINKTYPE_LINUX_SLL2:
        return struct.pack('!HHIHBB8s', etype, 0, 1, 1, 0, 6, b'\x02' * 6 + b'\0\0') + ip
    if linktype == pl.LINKTYPE_NULL:
        return struct.pack('<I', 2 if ver == 4 else 30) + ip
    if linktype == pl.LINKTYPE_LOOP:
        return struct.pack('!I', 2 if ver == 4 else 24) + ip
    # Ethernet with an 802.1Q tag
    return b'\x02' * 6 + b'\x04' * 6 + struct.pack('!HHH', 0x8100, 42, etype) + ip


def write_variant(path, linktype, ver, endian, nano):
    magic = 0xA1B23C4D if nano else 0xA1B2C3D4
    with open(path, 'wb') as f:
        f.write(struct.pack(endian + 'IHHiIII', magic, 2, 4, 0, 0, 65535, linktype))
        for ts, ip in variant_frames(ver):
            frame = wrap(linktype, ver, ip)
            frac = ts % 10**9 if nano else ts % 10**9 // 1000
            f.write(struct.pack(endian + 'IIII', ts // 10**9, frac, len(frame), len(frame)))
            f.write(frame)


VARIANTS = [(pl.LINKTYPE_ETHERNET, 4, '<', False), (pl.LINKTYPE_ETHERNET, 6, '>', True),
            (pl.LINKTYPE_RAW, 4, '<', False), (pl.LINKTYPE_RAW, 6, '<', False),
            (pl.LINKTYPE_IPV4, 4, '>', False), (pl.LINKTYPE_IPV6, 6, '<', True),
            (pl.LINKTYPE_LINUX_SLL, 4, '<', False), (pl.LINKTYPE_LINUX_SLL2, 6, '<', False),
            (pl.LINKTYPE_NULL, 4, '<', False), (pl.LINKTYPE_NULL, 6, '<', False),
            (pl.LINKTYPE_LOOP, 4, '>', False), (pl.LINKTYPE_LOOP, 6, '<', True)]


def variant_name(lt, ver, endian, nano):
    return 'lt%d-v%d-%s%s' % (lt, ver, 'be' if endian == '>' else 'le', '-ns' if nano else '')


def check_variant(ctx, spec, pcapng=False):
    path = os.path.join(ctx.tmp, 'variant-%s.pcap' % variant_name(*spec))
    write_variant(path, *spec)
    if pcapng:
        ng = path + 'ng'
        p = subprocess.run(['editcap', '-F', 'pcapng', path, ng], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT)
        assert p.returncode == 0, 'editcap: %s' % p.stdout.decode('utf-8', 'replace')
        path = ng
    got = [s.payload for s in pl.read_tcp_segments(path)[1] if s is not None]
    want = [d for _, d in STEPS]
    assert got == want, 'pcaplib decoded %r' % (got,)
    # one stream (0); the recut/ tests below cover mode one by default
    check_recut(ctx, path, ('one', 'random') if ctx.full else ('random',), ids=[0])


def recut_captures(ctx):
    """(name, path) of every capture of testdata/edge and the corpus."""
    out = [('testdata/edge/' + os.path.basename(p), p) for p in ctx.captures('edge')]
    if ctx.corpus:
        for d, _, fs in sorted(os.walk(ctx.corpus)):
            for f in sorted(fs):
                if f.endswith(CAPTURE_EXT):
                    p = os.path.join(d, f)
                    out.append(('corpus/' + os.path.relpath(p, ctx.corpus), p))
    return out


def tests(ctx):
    for spec in VARIANTS:
        yield 'variant/' + variant_name(*spec), (lambda s=spec: check_variant(ctx, s))
    yield 'variant/sll2-v6.pcapng', lambda: check_variant(ctx, VARIANTS[7], pcapng=True)
    if ctx.full:
        caps = recut_captures(ctx)
    else:
        caps = []
        for name in SAMPLE:
            if name.startswith('corpus/'):
                if ctx.corpus:
                    caps.append((name, os.path.join(ctx.corpus, name[len('corpus/'):])))
            else:
                caps.append((name, os.path.join(ctx.repo, name)))
        n = len(recut_captures(ctx))
        ctx.defer('%d more captures of testdata/edge and the corpus re-cut and followed'
                  % (n - len(caps)))
    for name, path in caps:
        def run(p=path):
            if not os.path.exists(p):
                raise AssertionError('%s is gone: update SAMPLE' % p)
            limit = ONE_LIMIT if ctx.full else ONE_LIMIT_SAMPLE
            modes = ('one', 'random') if payload_size(p) <= limit else ('random',)
            check_recut(ctx, p, modes)
        yield 'recut/' + name, run
