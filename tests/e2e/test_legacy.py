"""The built-in SMTP dissector's filter names keep working: each selects the
same frames with the plugin as with Wireshark's own dissector, on captures
the built-in gets right; and the visible tree shows the plugin's fields,
not the old ones (those are hidden)."""
import os

LEGACY = ['smtp.req', 'smtp.rsp', 'smtp.req.command', 'smtp.req.parameter',
          'smtp.response', 'smtp.response.code', 'smtp.rsp.parameter',
          'smtp.command_line', 'smtp.auth.username']

# Captures the built-in dissects correctly.  Left out because the built-in
# gets them wrong: 08 (the QUIT sent with the final dot becomes part of a
# DATA fragment), 13 (after "FOO bar" it no longer marks commands), 15 (BDAT
# chunks taken for DATA fragments), 21 and 22 (AUTH lines shown as data).
CAPTURES = ['01-plain-delivery', '02-unknown-user', '04-policy-reject-recipient',
            '06-too-many-recipients', '12-large-body', '17-rset', '18-vrfy-noop-help',
            '19-auth-plain', '20-auth-login']


# the built-in decodes AUTH user names only with this preference
BUILTIN_OPTS = ['-o', 'smtp.decryption:TRUE']


def frames(ctx, pcap, flt, builtin):
    out, err = ctx.tshark.run(['-r', ctx.tshark.stage(pcap), '-Y', flt, '-T', 'fields',
                               '-e', 'frame.number'] + (BUILTIN_OPTS if builtin else []),
                              builtin=builtin)
    assert err == '', err
    return [int(x) for x in out.split()]


def check_same(ctx, pcap, flt):
    mine = frames(ctx, pcap, flt, False)
    theirs = frames(ctx, pcap, flt, True)
    assert mine == theirs, '%s: plugin selects %r, built-in %r' % (flt, mine, theirs)


def check_values(ctx, pcap):
    # the values agree too, not just the frames
    fields = ['smtp.req.command', 'smtp.req.parameter', 'smtp.response.code', 'smtp.auth.username']
    args = ['-r', ctx.tshark.stage(pcap), '-Y', 'smtp', '-T', 'fields']
    for f in fields:
        args += ['-e', f]
    # the plugin hides an AUTH initial response (credentials) unless asked
    mine, _ = ctx.tshark.run(args + ['-o', 'smtpx.show_auth:TRUE'])
    theirs, _ = ctx.tshark.run(args + BUILTIN_OPTS, builtin=True)
    assert mine == theirs, 'values differ:\n%s\n---\n%s' % (mine, theirs)


def check_tree(ctx, pcap):
    out, err = ctx.tshark.run(['-r', ctx.tshark.stage(pcap), '-Y', 'smtp', '-O', 'smtp', '-V'])
    assert err == ''
    assert 'Reply: 250' in out and 'Code: 250 (OK)' in out, 'plugin tree missing'
    for old in ('Response code:', 'Response parameter:', 'Command Line:', 'Request: True'):
        assert old not in out, 'old item %r visible' % old


def tests(ctx):
    for name in CAPTURES:
        pcap = os.path.join(ctx.testdata, 'real', name + '.pcap')
        for flt in LEGACY:
            yield '%s %s' % (name, flt), (lambda p=pcap, f=flt: check_same(ctx, p, f))
        yield name + ' values', (lambda p=pcap: check_values(ctx, p))
    yield 'visible tree', (lambda: check_tree(ctx, os.path.join(ctx.testdata, 'real', '02-unknown-user.pcap')))
