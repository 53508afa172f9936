"""Labels the plugin writes itself read exactly as Wireshark's would.

Short printable labels of replies, codes, enhanced statuses, bodies and
transactions are written straight into the item (plugin/smtpx_render.c
label_direct()).  A reference plugin built with -DSMTPX_FORMAT_LABELS
leaves every one of them to Wireshark's proto_tree_add_*_format calls;
both plugins must print the same -V, -2 -T pdml and custom columns of
those fields.  (The value's position the plugin also writes on 4.6 shows
in none of tshark's outputs: a -DSMTPX_LABEL_TRACE build prints it, for
comparing with the same build plus -DSMTPX_FORMAT_LABELS.)

Without --full a sample of captures that has every kind of such label
(5yz statuses, bodies and chunks, transactions and their recipients,
8-bit and overlong lines that must take Wireshark's path); --full: every
capture of testdata/real and testdata/edge.  The reference plugin is built
into BUILD/labels-reference (cmake -DSMTP_BUILD_TESTS=OFF).
"""
import atexit
import os
import threading

import toolpath
from tsharklib import Tshark, cmake_build

ROOT = toolpath.REPO
gen = toolpath.load('gen-edge-captures.py')
SAMPLE = ['real/02-unknown-user', 'real/15-bdat-chunking', 'real/23-lmtp-delivery',
          'edge/overlong-line', 'edge/bdat-binary']
COLUMNS = ['smtp.reply', 'smtp.reply.code', 'smtp.reply.status', 'smtp.reply.status.detail',
           'smtp.body', 'smtp.transaction', 'smtp.transaction.recipient']
MODES = (['-V'], ['-2', '-T', 'pdml'],
         ['-o', 'gui.column.format:"No.","%m"' +
          ''.join(',"%d","%%Cus:%s:0:R"' % (i, f) for i, f in enumerate(COLUMNS))])

_lock = threading.Lock()
_ref = {}


def reference(ctx):
    """The reference plugin's tshark, built once."""
    with _lock:
        if 'tshark' not in _ref and 'error' not in _ref:
            build = os.path.join(ctx.tshark.build, 'labels-reference')
            error = cmake_build(ROOT, build, ['-DSMTP_BUILD_TESTS=OFF', '-DCMAKE_BUILD_TYPE=RelWithDebInfo',
                                              '-DSMTP_WERROR=ON', '-DCMAKE_C_FLAGS=-DSMTPX_FORMAT_LABELS'])
            if error:
                _ref['error'] = error
            else:
                _ref['tshark'] = Tshark(build, ctx.jobs)
                atexit.register(_ref['tshark'].cleanup)
    assert 'error' not in _ref, _ref['error']
    return _ref['tshark']


def long_labels(ctx):
    """A session whose labels are about as long as a label may be, and
    longer (cut and marked [truncated] by Wireshark), printable and not."""
    def addr(n):
        return b'<' + b'u' * n + b'@example.org>'
    steps = [('S', b'220 mx.example.org ESMTP ' + b'g' * 230 + b'\r\n'),
             ('C', b'EHLO client.example.org\r\n'),
             ('S', b'250-mx.example.org\r\n250-' + b'E' * 260 + b'\r\n250 8BITMIME\r\n'),
             ('C', b'MAIL FROM:' + addr(200) + b'\r\n'), ('S', b'250 2.1.0 Ok\r\n'),
             ('C', b'RCPT TO:' + addr(180) + b'\r\n'),
             ('S', b'550 5.1.1 ' + addr(180) + b': Recipient address rejected: User unknown\r\n'),
             ('C', b'RCPT TO:' + addr(205) + b'\r\n'),
             ('S', b'250 2.1.5 ' + b'o' * 209 + b'\r\n'),
             ('C', b'RCPT TO:' + addr(300) + b'\r\n'),
             ('S', b'452 4.5.3 caf\xc3\xa9 ' + b'x' * 40 + b' \\ back\\slash\r\n'),
             ('C', b'DATA\r\n'), ('S', b'354 End data with <CR><LF>.<CR><LF>\r\n'),
             ('C', b'Subject: ' + b's' * 300 + b'\r\n\r\nbody\r\n.\r\n'),
             ('S', b'250 2.0.0 Ok: queued as ' + b'Q' * 226 + b'\r\n'),
             ('C', b'QUIT\r\n'), ('S', b'221 2.0.0 Bye\r\n')]
    path = os.path.join(ctx.tmp, 'long-labels.pcap')
    gen.pl.write_pcap(path, gen.Conn().run(steps, True))
    return path


def first_difference(a, b):
    al, bl = a.splitlines(), b.splitlines()
    for i, (x, y) in enumerate(zip(al, bl)):
        if x != y:
            return 'line %d:\n  plugin:    %r\n  reference: %r' % (i + 1, x, y)
    return 'lengths %d and %d lines' % (len(al), len(bl))


def check(ctx, pcap):
    ref = reference(ctx)
    for mode in MODES:
        args = ['-r', ctx.tshark.stage(pcap)] + mode
        mine, err = ctx.tshark.run(args)
        assert err == '', err
        theirs, err = ref.run(['-r', ref.stage(pcap)] + mode)
        assert err == '', err
        if mode == ['-V']:
            assert 'Simple Mail Transfer Protocol' in mine, 'no SMTP dissected in %s' % pcap
        if mode[-1] == 'pdml':
            # the header names the file (each tshark reads its own copy)
            # and the time of the run
            mine, theirs = ('\n'.join(l for l in x.splitlines() if not l.startswith('<pdml '))
                            for x in (mine, theirs))
        assert mine == theirs, '%s %s: %s' % (os.path.basename(pcap), ' '.join(mode[:2]),
                                             first_difference(mine, theirs))


def tests(ctx):
    if ctx.full:
        caps = ctx.captures('real') + ctx.captures('edge')
    else:
        ctx.defer('labels against the reference plugin on every capture of testdata '
                  '(%d of them by default)' % len(SAMPLE))
        caps = [os.path.join(ctx.testdata, c + '.pcap') for c in SAMPLE]
    yield 'labels at and past the longest', lambda: check(ctx, long_labels(ctx))
    for pcap in caps:
        name = '%s/%s' % (os.path.basename(os.path.dirname(pcap)), os.path.basename(pcap))
        yield name, (lambda p=pcap: check(ctx, p))
