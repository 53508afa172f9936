"""tshark with the plugin under valgrind (memcheck) on three small captures:
a real session, an edge capture with bad input, and a 1-byte re-cut of a
real session.  Fails on any memcheck error (invalid read/write, use of
uninitialised values, invalid free, ...) whose stack mentions the plugin
(smtp-analysis.so, smtpx_* or smtp_* functions).  Errors only in glib or
libwireshark are not the plugin's; valgrind.supp (beside this file) keeps
the known ones quiet.

Slow (tens of seconds per capture): skipped when SMTP_E2E_FAST=1, or when
valgrind is not installed (then the test fails, saying so, unless
SMTP_E2E_FAST=1).
"""
import os
import re
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
SUPP = os.path.join(HERE, 'valgrind.supp')
PLUGIN = re.compile(r'smtp-analysis\.so|\bsmtpx_\w+|\bsmtp_\w+|packet-smtpx\.c|smtpx_\w+\.c|'
                    r'smtp_(frame|parse|session|codes)\.c')
ERROR_START = re.compile(r'^==\d+== (\S.*)$')


def valgrind_errors(log):
    """memcheck error blocks (lists of lines) from valgrind's output."""
    blocks, cur = [], None
    for line in log.splitlines():
        m = ERROR_START.match(line)
        if not m:
            continue
        text = m.group(1)
        if re.match(r'(Invalid (read|write|free)|Conditional jump|Use of uninitialised|'
                     r'Syscall param|Mismatched free|Source and destination overlap|'
                     r'.*uninitialised)', text):
            cur = [text]
            blocks.append(cur)
        elif cur is not None and re.match(r'(at|by) 0x|Address 0x|Uninitialised value', text.strip()):
            cur.append(text)
        elif text.strip() == '':
            cur = None
    return blocks


def run_valgrind(ctx, pcap):
    supp = ctx.tshark.stage(SUPP)
    wrapper = ['valgrind', '--tool=memcheck', '--error-exitcode=99',
               '--errors-for-leak-kinds=none', '--leak-check=no', '--num-callers=40',
               '--track-origins=no', '--suppressions=' + supp]
    cmd = ctx.tshark.command(['-r', ctx.tshark.stage(pcap), '-2', '-V'])
    i = cmd.index('tshark')
    cmd = cmd[:i] + wrapper + cmd[i:]
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ctx.tshark.home)
    err = p.stderr.decode('utf-8', 'replace')
    out = p.stdout.decode('utf-8', 'replace')
    assert p.returncode in (0, 99), 'tshark under valgrind exited %d:\n%s' % (
        p.returncode, err[-3000:])
    assert 'SMTP' in out, 'no SMTP dissected under valgrind'
    assert 'ERROR SUMMARY' in err, 'no valgrind summary:\n' + err[-2000:]
    mine = [b for b in valgrind_errors(err) if any(PLUGIN.search(l) for l in b)]
    assert not mine, 'valgrind errors in the plugin (%s):\n%s' % (
        os.path.basename(pcap), '\n\n'.join('\n'.join(b[:25]) for b in mine[:5]))
    return p.returncode


def recut_one(ctx, pcap):
    out = os.path.join(ctx.tmp, 'valgrind-one-' + os.path.basename(pcap))
    subprocess.run([sys.executable, os.path.join(ctx.scripts, 'resegment.py'), pcap, out,
                    '--mode', 'one'], check=True)
    return out


def tests(ctx):
    if os.environ.get('SMTP_E2E_FAST') == '1':
        return
    def need():
        assert shutil.which('valgrind'), 'valgrind not installed (set SMTP_E2E_FAST=1 to skip)'
    real = os.path.join(ctx.testdata, 'real', '02-unknown-user.pcap')
    bad = os.path.join(ctx.testdata, 'edge', 'garbage-port25.pcap')
    yield 'real/02-unknown-user', lambda: (need(), run_valgrind(ctx, real))
    yield 'edge/garbage-port25', lambda: (need(), run_valgrind(ctx, bad))
    yield 'real/02-unknown-user re-cut 1-byte', lambda: (need(), run_valgrind(ctx, recut_one(ctx, real)))
