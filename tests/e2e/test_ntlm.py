"""AUTH NTLM (issue 7) on a real capture: Postfix with Cyrus SASL's NTLM
plugin, the client's messages made by libntlm (testdata/real/25-auth-ntlm,
scripts/record-auth-lmtp.sh): a wrong password (535), then the right one
(235) and a mail.

- The NEGOTIATE and CHALLENGE messages go to Wireshark's NTLMSSP dissector
  (ntlmssp.* fields), with or without show_auth.
- The AUTHENTICATE message carries the challenge responses (password
  equivalents): NTLMSSP gets it only with show_auth; without it the plugin
  shows its domain, user and host itself, and neither the responses nor the
  message's BASE64 appear in any output.
- The user (DOMAIN\\user) goes to -z credentials with each attempt's result
  and to the transaction; one pass and two give the same rows, with and
  without a tree.
"""
import base64
import os
import struct

NAME = '25-auth-ntlm'
FIELDS = ['frame.number', 'ntlmssp.messagetype', 'ntlmssp.ntlmserverchallenge', 'smtp.auth.username',
          'smtp.auth.domain', 'smtp.auth.host', 'smtp.auth.result', 'ntlmssp.auth.username',
          'ntlmssp.auth.domain', 'ntlmssp.auth.hostname']
FILTER = 'ntlmssp || smtp.auth.username || smtp.auth.result'
USER = 'MX.EXAMPLE.TEST\\alice'

# frame, message type, server challenge, user, domain, host, result,
# NTLMSSP's user, domain, host
HIDDEN = [
    ['9', '0x00000001', '', '', '', '', '', '', '', ''],
    ['10', '0x00000002', 'ab7cb5350d165b07', '', '', '', '', '', '', ''],
    ['11', '', '', USER, 'MX.EXAMPLE.TEST', 'alice', '', '', '', ''],
    ['12', '', '', '', '', '', 'failed', '', '', ''],
    ['13', '0x00000001', '', '', '', '', '', '', '', ''],
    ['14', '0x00000002', '97368468327bd332', '', '', '', '', '', '', ''],
    ['15', '', '', USER, 'MX.EXAMPLE.TEST', 'alice', '', '', '', ''],
    ['16', '', '', '', '', '', 'succeeded', '', '', ''],
]
SHOWN = [
    ['9', '0x00000001', '', '', '', '', '', '', '', ''],
    ['10', '0x00000002', 'ab7cb5350d165b07', '', '', '', '', '', '', ''],
    ['11', '0x00000003', '', USER, '', '', '', 'alice', 'MX.EXAMPLE.TEST', 'alice'],
    ['12', '', '', '', '', '', 'failed', '', '', ''],
    ['13', '0x00000001', '', '', '', '', '', '', '', ''],
    ['14', '0x00000002', '97368468327bd332', '', '', '', '', '', '', ''],
    ['15', '0x00000003', '', USER, '', '', '', 'alice', 'MX.EXAMPLE.TEST', 'alice'],
    ['16', '', '', '', '', '', 'succeeded', '', '', ''],
]
CREDENTIALS = [('12', USER, 'AUTH failed (NTLM: challenge responses hidden: see smtpx.show_auth)'),
               ('16', USER, 'AUTH succeeded (NTLM: challenge responses hidden: see smtpx.show_auth)')]


def pcap(ctx):
    return os.path.join(ctx.testdata, 'real', NAME + '.pcap')


def unescape(text):
    """tshark 4.2 and later escape a backslash in -T fields output (4.0
    does not); the captures' values have no other backslash."""
    return text.replace('\\\\', '\\')


def rows(ctx, extra=()):
    args = ['-r', ctx.tshark.stage(pcap(ctx)), '-Y', FILTER, '-T', 'fields', '-E', 'occurrence=a',
            '-E', 'aggregator=,']
    for f in FIELDS:
        args += ['-e', f]
    out, err = ctx.tshark.run(args + list(extra))
    assert err == '', err
    return [unescape(l).split('\t') for l in out.splitlines()]


def t_fields(ctx, extra, want):
    for passes in ([], ['-2']):
        got = rows(ctx, list(extra) + passes)
        assert got == want, '%s %s:\n%s' % (' '.join(extra), ' '.join(passes),
                                            '\n'.join('\t'.join(r) for r in got))


def credentials(ctx, extra=()):
    out, err = ctx.tshark.run(['-r', ctx.tshark.stage(pcap(ctx)), '-q', '-z', 'credentials'] +
                              list(extra))
    got = []
    for line in out.splitlines():
        parts = line.split(None, 3)
        if len(parts) == 4 and parts[1] == 'SMTP':
            got.append((parts[0], parts[2], parts[3].strip()))
    return got


def t_credentials(ctx):
    for extra in ([], ['-2'], ['-Y', 'smtp'], ['-2', '-Y', 'frame']):
        got = credentials(ctx, extra)
        assert got == CREDENTIALS, '%s: %r' % (extra, got)


def t_transaction(ctx):
    out, err = ctx.tshark.run(['-r', ctx.tshark.stage(pcap(ctx)), '-Y', 'smtp.transaction.outcome',
                               '-T', 'fields', '-e', 'frame.number', '-e', 'smtp.transaction.auth_user',
                               '-e', 'smtp.transaction.outcome'])
    assert unescape(out).splitlines() == ['24\t%s\tdelivered' % USER], out


def responses(ctx):
    """The client's AUTHENTICATE messages: their BASE64 lines and the
    LM/NT responses they carry (hex)."""
    secrets = []
    with open(os.path.join(ctx.testdata, 'real', NAME + '.transcript')) as f:
        for line in f:
            if not line.startswith('C: TlRMTVNTUAAD'):
                continue
            b64 = line[3:].strip()
            msg = base64.b64decode(b64)
            secrets.append(b64)
            for at in (12, 20):  # LM and NT response fields
                ln, _, off = struct.unpack_from('<HHI', msg, at)
                if ln:
                    secrets.append(msg[off:off + ln].hex())
                    secrets.append(':'.join('%02x' % b for b in msg[off:off + ln]))
    assert len(secrets) == 10, 'two AUTHENTICATE messages with LM and NT responses expected'
    return secrets


def t_hidden(ctx):
    secrets = responses(ctx)
    p = ctx.tshark.stage(pcap(ctx))
    for args in (['-V'], ['-2', '-V'], ['-T', 'json'], ['-T', 'pdml'], ['-T', 'ek'], ['-x'], [],
                 ['-q', '-z', 'credentials'], ['-q', '-z', 'smtp,tree']):
        out, _ = ctx.tshark.run(['-r', p] + args)
        for s in secrets:
            assert s.lower() not in out.lower(), 'NTLM response %s... shown by %s' % (s[:16], args)
    # with show_auth they are there: the check above can fail
    out, _ = ctx.tshark.run(['-r', p, '-V', '-o', 'smtpx.show_auth:TRUE'])
    assert secrets[1] in out and secrets[3] in out, 'show_auth does not show the NTLM response'


def tests(ctx):
    yield 'fields, show_auth off', lambda: t_fields(ctx, [], HIDDEN)
    yield 'fields, show_auth on', lambda: t_fields(ctx, ['-o', 'smtpx.show_auth:TRUE'], SHOWN)
    yield 'credentials', lambda: t_credentials(ctx)
    yield 'transaction user', lambda: t_transaction(ctx)
    yield 'responses hidden', lambda: t_hidden(ctx)
