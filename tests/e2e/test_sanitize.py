"""The plugin built with AddressSanitizer and UBSan inside the real tshark,
over editcap -E mutations of captures (tests/tools/sanitize-tshark.py).

By default a short, deterministic run: 5 mutations (20 tshark runs: -V,
-2 -V, -T fields, -z smtp,tree) of captures spread over testdata/real,
testdata/edge and the shared corpus (4 without it), plus every capture in testdata/regress
unmutated.  With --full (ctx.full) 100 mutations.  The long campaign is
`tests/tools/sanitize-tshark.py --runs N` (see README).

The sanitized plugin is built into BUILD/asan-plugin (cmake -DSMTP_SANITIZE=ON
-DSMTP_BUILD_TESTS=OFF).  A first test checks that it really is
instrumented and that the preloaded runtime starts inside tshark, so a run
without sanitizers cannot pass as clean.  Skipped, saying why, when gcc's
libasan/libubsan are missing or SMTP_E2E_FAST=1.
"""
import os
import re
import subprocess
import sys
import threading

import toolpath
from tsharklib import cmake_build

ROOT = toolpath.REPO
SCRIPT = toolpath.path('sanitize-tshark.py')
SUMMARY = re.compile(r'^(\d+) runs on (\d+) mutations in \d+ s: (\d+) sanitizer reports, (\d+) SMTP '
                     r'dissector bugs, (\d+) SMTP malformed, (\d+) other-dissector bugs only with the '
                     r'plugin \((\d+) also with the built-in\), (\d+) runs past \d+ s, (\d+) crashes; '
                     r'(\d+) findings$', re.M)

_lock = threading.Lock()
_built = {}


def asan_build(ctx):
    """Builds the sanitized plugin once; returns its build folder."""
    if os.environ.get('SMTP_E2E_FAST') == '1':
        raise ctx.Skip('SMTP_E2E_FAST=1')
    with _lock:
        if 'dir' not in _built:
            for lib in ('libasan', 'libubsan'):
                p = subprocess.run(['gcc', '-print-file-name=%s.so' % lib], stdout=subprocess.PIPE,
                                   universal_newlines=True)
                if not os.path.isabs(p.stdout.strip()) or not os.path.exists(p.stdout.strip()):
                    _built['skip'] = 'gcc has no %s.so (install libasan8 libubsan1)' % lib
            build = os.path.join(ctx.tshark.build, 'asan-plugin')
            if 'skip' not in _built:
                error = cmake_build(ROOT, build, ['-DSMTP_SANITIZE=ON', '-DSMTP_BUILD_TESTS=OFF',
                                                  '-DCMAKE_BUILD_TYPE=RelWithDebInfo'])
                if error:
                    _built['error'] = error
            _built['dir'] = build
    if 'skip' in _built:
        raise ctx.Skip(_built['skip'])
    assert 'error' not in _built, _built.get('error')
    return _built['dir']


def run_script(ctx, args):
    build = asan_build(ctx)
    p = subprocess.run([sys.executable, SCRIPT, '--build', build, '--no-build',
                        '--keep', os.path.join(ctx.tmp, 'findings')] + args,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    out = p.stdout.decode('utf-8', 'replace')
    m = SUMMARY.search(out)
    assert m, 'no summary from sanitize-tshark.py (exit %d):\n%s' % (p.returncode, out[-4000:])
    return p.returncode, out, [int(x) for x in m.groups()]


def instrumented(ctx):
    build = asan_build(ctx)
    so = os.path.join(build, 'plugins')
    sos = [os.path.join(d, f) for d, _, fs in os.walk(so) for f in fs if f.endswith('.so')]
    assert len(sos) == 1, 'want one plugin in %s, found %s' % (so, sos)
    syms = subprocess.run(['nm', '-D', sos[0]], stdout=subprocess.PIPE,
                          universal_newlines=True).stdout
    assert '__asan_report_load' in syms, 'the plugin is not built with AddressSanitizer'
    assert '__ubsan_handle_' in syms, 'the plugin is not built with UBSan'
    # sanitize-tshark.py checks that the preloaded runtime starts inside tshark
    rc, out, counts = run_script(ctx, ['--runs', '1', '--rates', '0',
                                       os.path.join(ctx.testdata, 'real', '01-plain-delivery.pcap')])
    assert 'sanitizer runtime active in tshark' in out, out
    assert rc == 0 and counts[0] == 1 and counts[-1] == 0, out


def mutations(ctx, caps, runs):
    rc, out, c = run_script(ctx, ['--runs', str(runs)] + caps)
    assert c[0] == runs, 'ran %d of %d runs:\n%s' % (c[0], runs, out[-3000:])
    assert c[-1] == 0 and rc == 0, 'findings (exit %d):\n%s' % (rc, out[-8000:])


def oauthbearer_token_not_user(ctx):
    """regress/oauthbearer-token-as-user.pcap: a ',a=' inside the bearer
    token is no user name (found by fuzz_auth)."""
    pcap = os.path.join(ctx.testdata, 'regress', 'oauthbearer-token-as-user.pcap')
    rows, _ = ctx.tshark.fields(pcap, ['frame.number', 'smtp.auth.username'])
    users = [r[1] for r in rows if len(r) > 1 and r[1]]
    assert users == [], 'token shown as user name: %s' % users
    out, _ = ctx.tshark.run(['-r', ctx.tshark.stage(pcap), '-q', '-z', 'credentials'])
    assert 'SECRET' not in out, 'token in -z credentials:\n' + out


def spread(items, n):
    if len(items) <= n:
        return list(items)
    return [items[(i * len(items)) // n] for i in range(n)]


def tests(ctx):
    yield 'sanitized plugin is instrumented', lambda: instrumented(ctx)
    caps = spread(ctx.captures('real'), 2) + spread(ctx.captures('edge'), 2)
    if ctx.corpus:
        found = sorted(os.path.join(d, f) for d, _, fs in os.walk(ctx.corpus) for f in fs
                       if f.endswith(('.pcap', '.pcapng', '.cap')))
        caps += spread(found, 1)
    if ctx.full:
        n = 100
    else:
        n = len(caps)
        ctx.defer('sanitize-tshark: 100 mutations with --full, the campaign with '
                  'tests/tools/sanitize-tshark.py --runs N')
    yield ('ASan+UBSan plugin over %d mutations (%d tshark runs)' % (n, 4 * n),
           lambda: mutations(ctx, caps, 4 * n))
    regress = sorted(os.path.join(ctx.testdata, 'regress', f)
                     for f in os.listdir(os.path.join(ctx.testdata, 'regress'))
                     if f.endswith(('.pcap', '.pcapng'))) \
        if os.path.isdir(os.path.join(ctx.testdata, 'regress')) else []
    for r in regress:
        yield ('ASan+UBSan plugin on regress/%s' % os.path.basename(r),
               lambda r=r: mutations(ctx, ['--rates', '0', r], 4))
    yield ('regress/oauthbearer-token-as-user: the token is no user name',
           lambda: oauthbearer_token_not_user(ctx))
