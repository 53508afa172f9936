"""Preferences and the protocol switch behave like Wireshark's own:

- smtpx.tcp.port is the set of ports: a port left out is not dissected by
  the plugin and goes back to the built-in SMTP dissector (exactly its
  output), or to nothing when the built-in does not claim it (24, LMTP);
- the preferences are in tshark -G defaultprefs, with their defaults;
- max_line, max_message and max_pending take a value outside their bounds
  as the nearest bound;
- --disable-protocol smtpx leaves SMTP to the built-in dissector.
"""
import os
import struct

# fields both dissectors have (the built-in's names; the plugin adds them hidden)
FIELDS = ['frame.number', 'frame.protocols', 'smtp.response.code', 'smtp.req.command',
          'smtp.req.parameter', 'smtp.response', '_ws.expert.message', '_ws.col.Info']
PLUGIN_ONLY = ['smtp.reply.code', 'smtp.command']


def cap(ctx, name):
    return os.path.join(ctx.testdata, 'real', name + '.pcap')


def rows(ctx, pcap, extra=(), builtin=False, fields=FIELDS):
    args = ['-r', ctx.tshark.stage(pcap), '-T', 'fields', '-E', 'occurrence=a',
            '-E', 'aggregator=,']
    for f in fields:
        args += ['-e', f]
    out, err = ctx.tshark.run(args + list(extra), builtin=builtin)
    assert err == '', 'tshark %s: %s' % (' '.join(extra), err)
    return [line.split('\t') for line in out.splitlines()]


def protocols(table):
    """frame number -> the protocol over TCP, for the frames with one."""
    out = {}
    for r in table:
        layers = r[1].split(':')
        if 'tcp' in layers and layers[-1] != 'tcp':
            out[r[0]] = layers[layers.index('tcp') + 1]
    return out


def no_plugin_values(ctx, pcap, extra):
    vals = [r for r in rows(ctx, pcap, extra, fields=['frame.number'] + PLUGIN_ONLY) if any(r[1:])]
    assert not vals, 'plugin fields with %s: %r' % (' '.join(extra), vals[:3])


# ---- the port set ----

def t_default_ports(ctx):
    for name in ('01-plain-delivery', '11-submission-587', '23-lmtp-delivery'):
        last = set(protocols(rows(ctx, cap(ctx, name))).values())
        assert last == {'smtpx'}, '%s by default: %r' % (name, last)


def t_port_set(ctx):
    """-o smtpx.tcp.port:587: 587 stays the plugin's, 25 is the built-in's
    again (same output as tshark without the plugin, field by field), 24
    (LMTP) is nobody's."""
    only587 = ['-o', 'smtpx.tcp.port:587']
    last = set(protocols(rows(ctx, cap(ctx, '11-submission-587'), only587)).values())
    assert last == {'smtpx'}, 'port 587 in the set: %r' % last
    got = rows(ctx, cap(ctx, '01-plain-delivery'), only587)
    want = rows(ctx, cap(ctx, '01-plain-delivery'), builtin=True)
    assert set(protocols(want).values()) == {'smtp'}, protocols(want)
    assert got == want, 'port 25 left out: output differs from the built-in dissector\'s:\n%r\n%r' % (
        got[:6], want[:6])
    no_plugin_values(ctx, cap(ctx, '01-plain-delivery'), only587)
    lmtp = protocols(rows(ctx, cap(ctx, '23-lmtp-delivery'), only587))
    assert set(lmtp.values()) == {'data'}, 'port 24 left out: %r' % set(lmtp.values())
    # and back: the set again with 25 in it
    back = rows(ctx, cap(ctx, '01-plain-delivery'), ['-o', 'smtpx.tcp.port:587,25'])
    assert back == rows(ctx, cap(ctx, '01-plain-delivery')), 'port 25 back in the set'


def t_empty_set(ctx):
    got = rows(ctx, cap(ctx, '01-plain-delivery'), ['-o', 'smtpx.tcp.port:'])
    assert got == rows(ctx, cap(ctx, '01-plain-delivery'), builtin=True)
    no_plugin_values(ctx, cap(ctx, '01-plain-delivery'), ['-o', 'smtpx.tcp.port:'])


def t_decode_as_still_works(ctx):
    """A port outside the set can still be decoded as smtpx."""
    got = protocols(rows(ctx, cap(ctx, '01-plain-delivery'),
                         ['-o', 'smtpx.tcp.port:587', '-d', 'tcp.port==25,smtpx']))
    assert set(got.values()) == {'smtpx'}, set(got.values())


# ---- the protocol switch ----

def t_disabled(ctx):
    for name in ('01-plain-delivery', '11-submission-587', '08-pipelining'):
        got = rows(ctx, cap(ctx, name), ['--disable-protocol', 'smtpx'])
        want = rows(ctx, cap(ctx, name), builtin=True)
        assert set(protocols(want).values()) == {'smtp'}, protocols(want)
        assert got == want, '%s with smtpx disabled differs from the built-in:\n%r\n%r' % (
            name, got[:6], want[:6])
        no_plugin_values(ctx, cap(ctx, name), ['--disable-protocol', 'smtpx'])


# ---- -G defaultprefs ----

DEFAULTS = {'smtpx.tcp.port': '24,25,587', 'smtpx.reassemble_body': 'TRUE',
            'smtpx.show_auth': 'FALSE', 'smtpx.legacy_names': 'FALSE',
            'smtpx.max_message': '67108864',
            'smtpx.max_line': '16384', 'smtpx.max_pending': '100000',
            'smtpx.max_summary_recipients': '1000'}
BOUNDS = {'smtpx.max_message': (1024, 1073741824), 'smtpx.max_line': (64, 1048576),
          'smtpx.max_pending': (64, 10000000), 'smtpx.max_summary_recipients': (0, 10000000)}


def t_defaultprefs(ctx):
    out, err = ctx.tshark.run(['-G', 'defaultprefs'])
    got, desc, block = {}, {}, []
    for line in out.splitlines():
        if line.startswith('#smtpx.'):
            k, v = line[1:].split(': ', 1)
            got[k] = v
            desc[k] = block[0] if block else ''
        if line.startswith('# '):
            block.append(line)
        else:
            block = []
    assert got == DEFAULTS, 'defaultprefs: %r' % got
    for k, (lo, hi) in BOUNDS.items():
        assert 'From %d to %d' % (lo, hi) in desc[k], '%s: %r' % (k, desc[k])


# ---- bounds ----

def t_max_line_low(ctx):
    """max_line 1 is taken as 64: the same pieces as 64, other than 16384."""
    fields = FIELDS + PLUGIN_ONLY + ['smtp.line.overlong', 'smtp.unparsed']
    pcap = os.path.join(ctx.testdata, 'edge', 'overlong-line.pcap')
    one = rows(ctx, pcap, ['-o', 'smtpx.max_line:1'], fields=fields)
    low = rows(ctx, pcap, ['-o', 'smtpx.max_line:64'], fields=fields)
    dflt = rows(ctx, pcap, fields=fields)
    assert one == low, 'max_line 1 and 64 differ'
    assert one != dflt, 'max_line 64 changes nothing: test would not see the bound'


def tcp_capture(path, client_bytes, server_bytes, mss=60000):
    """A TCP session on port 25 (IPv4, Ethernet): handshake, the server's
    greeting, the client's bytes in segments of at most mss, the server's
    answer."""
    def frame(src, dst, sport, dport, seq, ack, flags, payload=b''):
        tcp = struct.pack('!HHIIBBHHH', sport, dport, seq & 0xffffffff, ack & 0xffffffff,
                          5 << 4, flags, 65535, 0, 0)
        ip = struct.pack('!BBHHHBBH4s4s', 0x45, 0, 20 + len(tcp) + len(payload), 1, 0, 64, 6,
                         0, bytes(src), bytes(dst))
        return b'\x02\0\0\0\0\x02' + b'\x02\0\0\0\0\x01' + b'\x08\x00' + ip + tcp + payload
    c, s, cp, sp = [10, 0, 0, 1], [10, 0, 0, 2], 40000, 25
    cseq, sseq, pkts = 1000, 5000, []
    pkts.append(frame(c, s, cp, sp, cseq, 0, 0x02))
    pkts.append(frame(s, c, sp, cp, sseq, cseq + 1, 0x12))
    cseq += 1
    sseq += 1
    pkts.append(frame(c, s, cp, sp, cseq, sseq, 0x10))
    greeting = b'220 mx.example.test ESMTP\r\n'
    pkts.append(frame(s, c, sp, cp, sseq, cseq, 0x18, greeting))
    sseq += len(greeting)
    for i in range(0, len(client_bytes), mss):
        chunk = client_bytes[i:i + mss]
        pkts.append(frame(c, s, cp, sp, cseq, sseq, 0x18, chunk))
        cseq += len(chunk)
    pkts.append(frame(s, c, sp, cp, sseq, cseq, 0x18, server_bytes))
    with open(path, 'wb') as f:
        f.write(struct.pack('<IHHiIII', 0xa1b2c3d4, 2, 4, 0, 0, 262144, 1))
        for i, p in enumerate(pkts):
            f.write(struct.pack('<IIII', 1700000000, i * 1000, len(p), len(p)) + p)


def t_max_line_high(ctx):
    """max_line 4294967295 is taken as 1048576: a 1.1 MB line is cut."""
    pcap = os.path.join(ctx.tmp, 'long-line.pcap')
    tcp_capture(pcap, b'NOOP ' + b'x' * 1100000 + b'\r\nQUIT\r\n',
                b'500 line too long\r\n221 bye\r\n')
    fields = ['frame.number', 'smtp.line.overlong', 'smtp.command.verb']
    top = rows(ctx, pcap, ['-o', 'smtpx.max_line:4294967295'], fields=fields)
    bound = rows(ctx, pcap, ['-o', 'smtpx.max_line:1048576'], fields=fields)
    assert top == bound, 'max_line 4294967295 and 1048576 differ'
    assert any(r[1] for r in top), 'no overlong line: the maximum was not applied'
    big = rows(ctx, pcap, ['-o', 'smtpx.max_line:2000000'], fields=fields)
    assert big == bound, 'max_line 2000000 is not taken as 1048576'


def t_max_message_low(ctx):
    """max_message 1 is taken as 1024."""
    fields = ['frame.number', 'smtp.message.length', 'smtp.message.truncated']
    pcap = cap(ctx, '12-large-body')
    one = rows(ctx, pcap, ['-o', 'smtpx.max_message:1'], fields=fields)
    low = rows(ctx, pcap, ['-o', 'smtpx.max_message:1024'], fields=fields)
    dflt = rows(ctx, pcap, fields=fields)
    assert one == low, 'max_message 1 and 1024 differ'
    assert any(r[2] for r in low) and not any(r[2] for r in dflt), \
        'a message of 12-large-body should be truncated at 1024 bytes and not by default'


def t_max_pending(ctx):
    """max_pending is a preference; 1 is taken as 64 (the pipelined
    captures have fewer commands in flight, so the output is the default's),
    and a huge value as 10000000."""
    pcap = cap(ctx, '08-pipelining')
    fields = FIELDS + PLUGIN_ONLY + ['smtp.reply.request_in']
    dflt = rows(ctx, pcap, fields=fields)
    for v in ('1', '64', '4294967295'):
        assert rows(ctx, pcap, ['-o', 'smtpx.max_pending:' + v], fields=fields) == dflt, v
    out, err = ctx.tshark.run(['-r', ctx.tshark.stage(pcap), '-o', 'smtpx.max_pendin:5'],
                              check=False)
    assert 'max_pendin' in err, 'a misspelt preference is not refused: the test above means nothing'


def tests(ctx):
    yield 'default ports', lambda: t_default_ports(ctx)
    yield 'tcp.port is the set of ports', lambda: t_port_set(ctx)
    yield 'empty port set', lambda: t_empty_set(ctx)
    yield 'decode as outside the set', lambda: t_decode_as_still_works(ctx)
    yield '--disable-protocol smtpx', lambda: t_disabled(ctx)
    yield '-G defaultprefs', lambda: t_defaultprefs(ctx)
    yield 'max_line minimum', lambda: t_max_line_low(ctx)
    yield 'max_line maximum', lambda: t_max_line_high(ctx)
    yield 'max_message minimum', lambda: t_max_message_low(ctx)
    yield 'max_pending', lambda: t_max_pending(ctx)
