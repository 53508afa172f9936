"""The built-in SMTP dissector's filter names keep working: each selects the
same frames with the plugin as with Wireshark's own dissector, on captures
the built-in gets right; and the visible tree shows the plugin's fields,
not the old ones (those are hidden)."""
import os
import re

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


VALUE_FIELDS = ['smtp.req.command', 'smtp.req.parameter', 'smtp.response.code', 'smtp.auth.username']
# a filter that selects what "smtp" selects and uses every field printed:
# that makes the plugin add its hidden built-in names (as a colouring rule
# or column would) without the legacy_names preference
PRIMING = 'smtp || ' + ' || '.join(VALUE_FIELDS)


def values(ctx, pcap, flt, extra, builtin):
    args = ['-r', ctx.tshark.stage(pcap), '-Y', flt, '-T', 'fields']
    for f in VALUE_FIELDS:
        args += ['-e', f]
    out, err = ctx.tshark.run(args + extra + (BUILTIN_OPTS if builtin else []), builtin=builtin)
    assert err == '', err
    return out


def check_values(ctx, pcap, how):
    """The values agree too, not just the frames.  The plugin hides an AUTH
    initial response (credentials) unless asked: show_auth for the
    comparison.  how: 'primed' (a filter uses the names), 'always' (the
    legacy_names preference), 'plain' (-Y smtp -e NAME alone: tshark 4.4 and
    later prime -e names, 4.0 and 4.2 build a visible tree without telling
    which fields are printed, so the hidden names are not added there)."""
    theirs = values(ctx, pcap, 'smtp', [], True)
    mine_opts = ['-o', 'smtpx.show_auth:TRUE']
    if how == 'primed':
        mine = values(ctx, pcap, PRIMING, mine_opts, False)
    elif how == 'always':
        mine = values(ctx, pcap, 'smtp', mine_opts + ['-o', 'smtpx.legacy_names:TRUE'], False)
    else:
        mine = values(ctx, pcap, 'smtp', mine_opts, False)
        if tshark_version(ctx) < (4, 4):
            # only the plugin's own smtp.auth.username, every other column empty
            empty = '\n'.join('\t\t\t' + line.split('\t')[3] for line in theirs.splitlines())
            theirs = empty + ('\n' if theirs.endswith('\n') else '')
    assert mine == theirs, 'values differ (%s):\n%s\n---\n%s' % (how, mine, theirs)


def tshark_version(ctx):
    if not hasattr(ctx, '_legacy_version'):
        out, _ = ctx.tshark.run(['-v'])
        m = re.search(r'TShark \(Wireshark\) (\d+)\.(\d+)', out)
        ctx._legacy_version = (int(m.group(1)), int(m.group(2))) if m else (0, 0)
    return ctx._legacy_version


def check_tree(ctx, pcap):
    out, err = ctx.tshark.run(['-r', ctx.tshark.stage(pcap), '-Y', 'smtp', '-O', 'smtp', '-V'])
    assert err == ''
    assert 'Reply: 250' in out and 'Code: 250 (OK)' in out, 'plugin tree missing'
    for old in ('Response code:', 'Response parameter:', 'Command Line:', 'Request: True'):
        assert old not in out, 'old item %r visible' % old


# Without --full, a sample in which every filter name is checked on three
# captures and every capture with three filter names (filter i on captures
# i, i+3 and i+6), and the values of each way of asking on three captures
# (every capture once; each AUTH capture primed or always).
def chosen(ctx, i, j, every):
    return ctx.full or (i - j) % every == 0


def tests(ctx):
    if not ctx.full:
        ctx.defer('each filter name on the other six captures; the values of each way of asking '
                  'on the other six captures')
    for ci, name in enumerate(CAPTURES):
        pcap = os.path.join(ctx.testdata, 'real', name + '.pcap')
        for fi, flt in enumerate(LEGACY):
            if chosen(ctx, ci, fi, 3):
                yield '%s %s' % (name, flt), (lambda p=pcap, f=flt: check_same(ctx, p, f))
        for hi, how in enumerate(('primed', 'always', 'plain')):
            if chosen(ctx, ci, hi + 1, 3):
                yield '%s values %s' % (name, how), (lambda p=pcap, h=how: check_values(ctx, p, h))
    yield 'visible tree', (lambda: check_tree(ctx, os.path.join(ctx.testdata, 'real', '02-unknown-user.pcap')))
