"""Each real capture's client transcript is its oracle: the reply lines the
client read must be the plugin's smtp.reply.line values, in order; likewise
reply codes, enhanced statuses and the command lines the client sent."""
import os
import re

STATUS = re.compile(r'^\d{3}[ -]([245]\.\d{1,3}\.\d{1,3})(?: |$)')


def read_transcript(path):
    client, server = [], []
    with open(path, encoding='utf-8', errors='surrogateescape') as f:
        for line in f:
            line = line.rstrip('\n')
            if line.startswith('S: '):
                server.append(line[3:])
            elif line.startswith('C: '):
                text = line[3:]
                if text == '.' or re.fullmatch(r'<(body|chunk) of \d+ bytes>', text):
                    continue
                client.append(text)
    return client, server


def replies_of(lines):
    """Groups reply lines into replies: (code, status of first line)."""
    out, first = [], None
    for l in lines:
        if first is None:
            first = l
        if len(l) < 4 or l[3] != '-':
            m = STATUS.match(first)
            out.append((first[:3], m.group(1) if m else None))
            first = None
    return out


def flat(rows, col, keep_empty=False):
    """Values of column col over all rows; with keep_empty, rows are known to
    carry the field, so an empty column is one empty value."""
    vals = []
    for r in rows:
        if col < len(r) and (keep_empty or r[col] != ''):
            vals.extend(r[col].split('\x1f'))
    return vals


def check(ctx, pcap, transcript):
    client, server = read_transcript(transcript)
    extra = []
    keys = pcap[:-5] + '.keys'
    if os.path.exists(keys):
        extra = ['-o', 'tls.keylog_file:' + ctx.tshark.stage(keys)]
    rows, err = ctx.tshark.fields(
        pcap, ['smtp.reply.line', 'smtp.reply.code', 'smtp.reply.status'],
        extra=extra, display_filter='smtp.reply')
    assert err == '', 'tshark wrote to stderr: ' + err
    # client lines: commands and AUTH exchange lines (shown with show_auth),
    # merged in frame order
    shown = extra + ['-o', 'smtpx.show_auth:TRUE']
    crows, err = ctx.tshark.fields(pcap, ['frame.number', 'smtp.command'], extra=shown,
                                   display_filter='smtp.command')
    assert err == '', 'tshark wrote to stderr: ' + err
    arows, err = ctx.tshark.fields(pcap, ['frame.number', 'smtp.auth.data'], extra=shown,
                                   display_filter='smtp.auth.data')
    assert err == '', 'tshark wrote to stderr: ' + err
    crows = [r[1:] for r in sorted(crows + arows, key=lambda r: int(r[0]))]
    got_lines = flat(rows, 0, keep_empty=True)
    assert got_lines == server, 'reply lines differ:\n  got  %r\n  want %r' % (got_lines, server)
    want = replies_of(server)
    codes = flat(rows, 1)
    assert codes == [c for c, _ in want], 'codes differ: got %r want %r' % (codes, [c for c, _ in want])
    statuses = flat(rows, 2)
    assert statuses == [s for _, s in want if s], 'statuses differ: got %r' % statuses
    commands = flat(crows, 0, keep_empty=True)
    assert commands == client, 'commands differ:\n  got  %r\n  want %r' % (commands, client)


def tests(ctx):
    for pcap in ctx.captures('real'):
        tr = pcap[:-5] + '.transcript'
        if os.path.exists(tr):
            yield os.path.basename(pcap), (lambda p=pcap, t=tr: check(ctx, p, t))
