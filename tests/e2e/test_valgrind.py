"""tshark with the plugin under valgrind (memcheck).  Fails on any memcheck
error (invalid read/write, use of uninitialised values, invalid free, ...)
whose stack mentions the plugin (smtp-analysis.so, smtpx_* or smtp_*
functions).  Errors only in glib or libwireshark are not the plugin's;
valgrind.supp (beside this file) keeps the known ones quiet.

By default on DEFAULT: a real session, an edge capture with bad input, and a
1-byte re-cut of a real session.  With --full (SMTP_TEST_FULL=1) on every
capture of testdata/real and testdata/edge, and the 1-byte re-cut of every
real capture up to FULL_ONE_MAX bytes of TCP payload.  Always, a generated
session with a 1.2 MB dot-stuffed message (kept in the buffer it grew in,
the stuffing removed in place).

Slow (tens of seconds of CPU per capture): skipped, and counted as skipped,
when SMTP_E2E_FAST=1 (the chroot runs of scripts/test-versions.sh); when
valgrind is not installed the tests fail, saying so.
"""
import os
import re
import shutil
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import toolpath  # noqa: E402
import pcaplib as pl  # noqa: E402
from tsharklib import run_child  # noqa: E402

SUPP = os.path.join(HERE, 'valgrind.supp')
START_FIRST = True    # long tests: run_e2e.py starts them first
PLUGIN = re.compile(r'smtp-analysis\.so|\bsmtpx_\w+|\bsmtp_\w+|packet-smtpx\.c|smtpx_\w+\.c|'
                    r'smtp_(frame|parse|session|codes)\.c')
ERROR_START = re.compile(r'^==\d+== ?(.*)$')  # the stack lines are indented


def valgrind_errors(log):
    """memcheck error blocks (lists of lines) from valgrind's output."""
    blocks, cur = [], None
    for line in log.splitlines():
        m = ERROR_START.match(line)
        if not m:
            continue
        text = m.group(1).strip()
        if re.match(r'(Invalid (read|write|free)|Conditional jump|Use of uninitialised|'
                     r'Syscall param|Mismatched free|Source and destination overlap|'
                     r'.*uninitialised)', text):
            cur = [text]
            blocks.append(cur)
        elif cur is not None and re.match(r'(at|by) 0x|Address 0x|Uninitialised value', text):
            cur.append(text)
        elif text == '':
            cur = None
    return blocks


def run_valgrind(ctx, pcap):
    supp = ctx.tshark.stage(SUPP)
    # wmem pools hand out room of their own blocks, where memcheck sees no
    # bounds: "simple" makes every allocation a malloc of its exact size
    wrapper = ['WIRESHARK_DEBUG_WMEM_OVERRIDE=simple',
               'valgrind', '--tool=memcheck', '--error-exitcode=99',
               '--errors-for-leak-kinds=none', '--leak-check=no', '--num-callers=40',
               '--track-origins=no', '--suppressions=' + supp]
    cmd = ctx.tshark.command(['-r', ctx.tshark.stage(pcap), '-2', '-V'])
    i = cmd.index('tshark')
    cmd = cmd[:i] + wrapper + cmd[i:]
    p = run_child(cmd, cwd=ctx.tshark.home)
    err = p.stderr.decode('utf-8', 'replace')
    out = p.stdout.decode('utf-8', 'replace')
    assert p.returncode in (0, 99), 'tshark under valgrind exited %d:\n%s' % (
        p.returncode, err[-3000:])
    assert 'Simple Mail Transfer Protocol' in out, 'no SMTP dissected under valgrind'
    assert 'ERROR SUMMARY' in err, 'no valgrind summary:\n' + err[-2000:]
    mine = [b for b in valgrind_errors(err) if any(PLUGIN.search(l) for l in b)]
    assert not mine, 'valgrind errors in the plugin (%s):\n%s' % (
        os.path.basename(pcap), '\n\n'.join('\n'.join(b[:25]) for b in mine[:5]))
    return p.returncode


def recut_one(ctx, pcap):
    out = os.path.join(ctx.tmp, 'valgrind-one-' + os.path.basename(pcap))
    p = run_child([sys.executable, toolpath.path('resegment.py'), pcap, out,
                   '--mode', 'one'])
    assert p.returncode == 0, 'resegment.py: %s' % p.stderr.decode('utf-8', 'replace')
    return out


# (capture under testdata, re-cut one byte per segment)
DEFAULT = [('real/02-unknown-user.pcap', False), ('edge/garbage-port25.pcap', False),
           ('real/02-unknown-user.pcap', True)]
FULL_ONE_MAX = 4096


def payload_bytes(pcap):
    return sum(len(s.payload) for s in pl.read_tcp_segments(pcap)[1] if s is not None)


def check(ctx, pcap, one):
    if os.environ.get('SMTP_E2E_FAST') == '1':
        raise ctx.Skip('SMTP_E2E_FAST=1')
    assert shutil.which('valgrind'), 'valgrind not installed (set SMTP_E2E_FAST=1 to skip)'
    run_valgrind(ctx, recut_one(ctx, pcap) if one else pcap)


def tests(ctx):
    if ctx.full:
        runs = [('%s/%s' % (sub, os.path.basename(p)), False)
                for sub in ('real', 'edge') for p in ctx.captures(sub)]
        runs += [('real/' + os.path.basename(p), True) for p in ctx.captures('real')
                 if payload_bytes(p) <= FULL_ONE_MAX]
    else:
        runs = DEFAULT
        n = len(ctx.captures('real')) + len(ctx.captures('edge'))
        ctx.defer('valgrind on all %d captures of testdata/real and testdata/edge and on the '
                  '1-byte re-cuts of the real ones up to %d bytes' % (n, FULL_ONE_MAX))
    for name, one in runs:
        pcap = os.path.join(ctx.testdata, name)
        yield (name[:-5] + (' re-cut 1-byte' if one else '')), \
            (lambda p=pcap, o=one: check(ctx, p, o))
    yield 'a 1.2 MB DATA message (kept in place)', lambda: check(ctx, large_data(ctx), False)


def large_data(ctx):
    """gen-edge-captures.py's 1.2 MB dot-stuffed message, written here."""
    gen = toolpath.load('gen-edge-captures.py')
    path = os.path.join(ctx.tmp, 'large-data.pcap')
    gen.pl.write_pcap(path, gen.Conn().run(gen.large_message(False)[0]))
    return path
