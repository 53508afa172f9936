"""The engine (src/) cross-compiles for Windows with MinGW-w64 and -Werror
(tests/tools/mingw-check.sh): no Linux-only calls or headers in it.

Needs x86_64-w64-mingw32-gcc (Debian: gcc-mingw-w64-x86-64). When it is
missing and this runs as root (or with password-less sudo) it is installed
with apt-get; otherwise the test is skipped with the reason."""
import os
import shutil
import subprocess

import toolpath

try:
    from tsharklib import Skip
except ImportError:  # an older runner: a skip is then reported as a failure
    class Skip(Exception):
        pass

CC = 'x86_64-w64-mingw32-gcc'
PKG = 'gcc-mingw-w64-x86-64'


def ensure_cc():
    if shutil.which(CC):
        return
    if not shutil.which('apt-get'):
        raise Skip('%s missing and no apt-get to install %s' % (CC, PKG))
    sudo = []
    if os.geteuid() != 0:
        if not shutil.which('sudo') or subprocess.run(['sudo', '-n', 'true'], stdout=subprocess.DEVNULL,
                                                      stderr=subprocess.DEVNULL).returncode:
            raise Skip('%s missing, and not root (apt-get install %s)' % (CC, PKG))
        sudo = ['sudo', '-n']
    print('test_portability: installing %s' % PKG, flush=True)
    env = dict(os.environ, DEBIAN_FRONTEND='noninteractive')
    cmd = sudo + ['apt-get', '-o', 'DPkg::Lock::Timeout=300', 'install', '-y', '-q',
                  '--no-install-recommends', PKG]
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env)
    if p.returncode:
        subprocess.run(sudo + ['apt-get', '-o', 'DPkg::Lock::Timeout=300', 'update', '-q'], stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, env=env)
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env)
    if p.returncode or not shutil.which(CC):
        raise Skip('could not install %s: %s' % (PKG, p.stdout.decode('utf-8', 'replace')[-300:]))


def check(ctx):
    ensure_cc()
    out = os.path.join(ctx.tmp, 'mingw')
    p = subprocess.run([toolpath.path('mingw-check.sh'), out],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    text = p.stdout.decode('utf-8', 'replace')
    assert p.returncode == 0, text[-3000:]
    nsrc = len([f for f in os.listdir(os.path.join(ctx.repo, 'src')) if f.endswith('.c')])
    objs = sorted(f for f in os.listdir(out) if f.endswith('.o'))
    assert len(objs) == nsrc, (objs, nsrc)
    with open(os.path.join(out, 'engine.exe'), 'rb') as f:
        assert f.read(2) == b'MZ', 'engine.exe is no Windows executable'


def tests(ctx):
    yield 'MinGW-w64 cross-compile of src/ with -Werror', lambda: check(ctx)
