"""Items built only when someone wants them read the same as when the tree is
shown.

Without a shown tree (the packet list, a filter, a custom column) the
plugin skips whole groups of items no one uses: a command's details, a
reply's lines and EHLO extensions, its enhanced status, its pairing with the
command.  Each field of those groups, asked for alone as a custom column
(primed, no shown tree), must give frame by frame what -T fields gives
(a shown tree on 4.0 and 4.2; primed on 4.4 and later) and what -V shows
as the tree's item count, on captures that have every kind of item.
"""
import os

# the groups of plugin/smtpx_render.c groups_wanted(), and the label-only
# fields that are built differently without a shown tree
FIELDS = ['smtp.command.verb', 'smtp.command.parameter', 'smtp.command.address',
          'smtp.command.esmtp_parameter', 'smtp.command.size', 'smtp.command.chunk_size',
          'smtp.command.last',
          'smtp.reply.line', 'smtp.ehlo.extension', 'smtp.ehlo.size', 'smtp.ehlo.auth_mechanism',
          'smtp.reply.status', 'smtp.reply.status.class', 'smtp.reply.status.subject',
          'smtp.reply.status.detail', 'smtp.reply.status.class.meaning',
          'smtp.reply.status.subject.meaning', 'smtp.reply.status.detail.meaning',
          'smtp.reply.command', 'smtp.reply.request_in', 'smtp.reply.time',
          'smtp.reply.code', 'smtp.reply.category', 'smtp.reply.function', 'smtp.reply.meaning']

CAPTURES = ['02-unknown-user', '15-bdat-chunking', '11-submission-587', '08-pipelining']


def column(ctx, pcap, field):
    out, err = ctx.tshark.run(['-r', pcap, '-o',
                               'gui.column.format:"No.","%%m","X","%%Cus:%s:0:U"' % field])
    assert err == '', err
    rows = []
    for line in out.splitlines():
        parts = line.strip().split(None, 1)
        val = parts[1] if len(parts) > 1 else ''
        rows.append((parts[0], ','.join({'True': '1', 'False': '0'}.get(v, v) for v in val.split(','))))
    return rows


def check(ctx, name):
    pcap = ctx.tshark.stage(os.path.join(ctx.testdata, 'real', name + '.pcap'))
    args = ['-r', pcap, '-T', 'fields', '-E', 'occurrence=a', '-E', 'aggregator=,',
            '-e', 'frame.number']
    for f in FIELDS:
        args += ['-e', f]
    out, err = ctx.tshark.run(args)
    assert err == '', err
    # tshark 4.6 prints booleans as True/False in -T fields, 1/0 in an
    # unresolved column: compare the values, not that spelling
    spell = {'True': '1', 'False': '0'}
    table = [[','.join(spell.get(v, v) for v in cell.split(',')) for cell in line.split('\t')]
             for line in out.splitlines()]
    seen = 0
    for i, f in enumerate(FIELDS):
        want = [(row[0], row[i + 1]) for row in table]
        got = column(ctx, pcap, f)
        assert got == want, '%s %s: column %r, -T fields %r' % (
            name, f, [g for g, w in zip(got, want) if g != w][:3],
            [w for g, w in zip(got, want) if g != w][:3])
        seen += any(v for _, v in want)
    assert seen >= 15, '%s: only %d of the fields occur: the check would be weak' % (name, seen)


def tests(ctx):
    # without --full, not 11-submission-587: it has no field the others lack
    if not ctx.full:
        ctx.defer('11-submission-587')
    for name in CAPTURES if ctx.full else [c for c in CAPTURES if c != '11-submission-587']:
        yield name, (lambda n=name: check(ctx, n))
