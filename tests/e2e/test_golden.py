"""Exact expected output for every capture in testdata/real and
testdata/edge: the plugin's fields (one row per SMTP frame) and the SMTP
tree as tshark -2 -V prints it (two passes, so forward links such as
smtp.command.response_in are in it).  Expected files live in testdata/expected/;
run_e2e.py --update rewrites them (review the diff before committing)."""
import difflib
import os
import re

FIELDS = [
    'frame.number', '_ws.col.Info',
    'smtp.command', 'smtp.command.verb', 'smtp.command.parameter',
    'smtp.command.address', 'smtp.command.esmtp_parameter', 'smtp.command.size',
    'smtp.command.chunk_size', 'smtp.command.last', 'smtp.command.response_in',
    'smtp.reply.code', 'smtp.reply.category', 'smtp.reply.function', 'smtp.reply.meaning',
    'smtp.reply.line', 'smtp.reply.status', 'smtp.reply.status.class',
    'smtp.reply.status.subject', 'smtp.reply.status.detail',
    'smtp.reply.status.class.meaning', 'smtp.reply.status.subject.meaning',
    'smtp.reply.status.detail.meaning', 'smtp.reply.command', 'smtp.reply.request_in',
    'smtp.reply.time', 'smtp.body.length', 'smtp.chunk.length', 'smtp.unparsed',
    'smtp.message.length', 'smtp.message.frames',
    'smtp.transaction', 'smtp.transaction.outcome', 'smtp.transaction.sender',
    'smtp.transaction.recipient', 'smtp.transaction.rejected_recipient',
    'smtp.transaction.size', 'smtp.transaction.final_code', 'smtp.transaction.duration',
    'smtp.reply.recipient', 'smtp.helo', 'smtp.greeting.host', 'smtp.ehlo.extension',
    'smtp.ehlo.size', 'smtp.ehlo.auth_mechanism', 'smtp.auth.mechanism', 'smtp.auth.username',
    '_ws.expert.message',
]


def tls_args(ctx, pcap):
    keys = pcap[:-5] + '.keys'
    return ['-o', 'tls.keylog_file:' + ctx.tshark.stage(keys)] if os.path.exists(keys) else []


def fields_text(ctx, pcap):
    rows, err = ctx.tshark.fields(pcap, FIELDS, extra=tls_args(ctx, pcap), display_filter='smtp')
    assert err == '', 'tshark wrote to stderr: ' + err
    return ''.join('\t'.join(r).replace('\x1f', ' ; ') + '\n' for r in rows)


def tree_text(ctx, pcap):
    out, err = ctx.tshark.run(['-2', '-r', ctx.tshark.stage(pcap), '-Y', 'smtp', '-O', 'smtp', '-V']
                              + tls_args(ctx, pcap))
    assert err == '', 'tshark wrote to stderr: ' + err
    return out


def compare(ctx, text, expected_path):
    if ctx.update:
        os.makedirs(os.path.dirname(expected_path), exist_ok=True)
        with open(expected_path, 'w', encoding='utf-8') as f:
            f.write(text)
        return
    assert os.path.exists(expected_path), 'missing %s (run with --update)' % expected_path
    with open(expected_path, encoding='utf-8') as f:
        want = f.read()
    if text != want:
        diff = ''.join(list(difflib.unified_diff(want.splitlines(True), text.splitlines(True),
                                                 'expected', 'got'))[:60])
        raise AssertionError('output differs from %s:\n%s' % (expected_path, diff))


def tshark_version(ctx):
    out, _ = ctx.tshark.run(['-v'])
    m = re.search(r'TShark \(Wireshark\) (\d+\.\d+)', out)
    return m.group(1) if m else '?'


def tests(ctx):
    # The expected files hold tshark's whole output for these frames, and
    # other layers (TCP analysis, boolean formatting) print differently in
    # other releases: compare only with the release they were made with.
    # Elsewhere the version-independent tests (transcripts, segmentation,
    # passes, corpus) still run.
    with open(os.path.join(ctx.testdata, 'expected', 'WIRESHARK_VERSION')) as f:
        made_with = f.read().strip()
    have = tshark_version(ctx)
    skip = None
    if have != made_with and not ctx.update:
        skip = ('expected files are for tshark %s, this is %s: not compared'
                % (made_with, have))
    for sub in ('real', 'edge'):
        for pcap in ctx.captures(sub):
            base = os.path.join(ctx.testdata, 'expected', sub, os.path.basename(pcap)[:-5])
            if skip:
                yield ('%s/%s fields' % (sub, os.path.basename(pcap)), lambda: skipped(ctx, skip))
                yield ('%s/%s tree' % (sub, os.path.basename(pcap)), lambda: skipped(ctx, skip))
                continue
            yield ('%s/%s fields' % (sub, os.path.basename(pcap)),
                   lambda p=pcap, b=base: compare(ctx, fields_text(ctx, p), b + '.fields'))
            yield ('%s/%s tree' % (sub, os.path.basename(pcap)),
                   lambda p=pcap, b=base: compare(ctx, tree_text(ctx, p), b + '.tree'))


def skipped(ctx, reason):
    raise ctx.Skip(reason)
