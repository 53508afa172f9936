#!/usr/bin/env python3
"""Time and peak RSS on the pathological inputs of issue 11 (not a timed
test: it prints figures).

For each input of tests/bench/gen-pathological.py (rcpt, noreq, multiline,
longline, body) at each scale (10k, 100k; 1M with --big), runs tshark
  nothing   no plugin, --disable-protocol smtp
  built-in  no plugin
  plugin    the plugin from BUILD
in one mode (default fields: -T fields -e smtp.reply.code, the built-in's
smtp.response.code), under /usr/bin/time: peak RSS, CPU seconds
(user+sys) and wall seconds.  Growth is read from the ratio between scales;
plugin/built-in is printed per row.  CPU and wall time are noisy on a shared
machine: compare RSS, and times only in ratios.

Usage: tests/bench/bench-pathological.py [-b BUILD] [--big] [-N 10k,100k]
       [-k rcpt,noreq,...] [--mode list|fields|V] [--timeout S] [-j JOBS] [--keep]
"""
import argparse
import concurrent.futures as cf
import os
import re
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
from importlib import import_module  # noqa: E402

CONFS = ('nothing', 'built-in', 'plugin')
KINDS = ('rcpt', 'noreq', 'multiline', 'longline', 'body')
WHAT = {
    'rcpt': 'N pipelined RCPT and their replies',
    'noreq': 'N replies with no command',
    'multiline': 'one reply of N lines',
    'longline': 'one N*100-byte command line, no CRLF',
    'body': 'one N*500-byte DATA body',
}


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('-b', '--build', default='/tmp/build-bench')
    ap.add_argument('-N', '--sizes', default='10k,100k')
    ap.add_argument('--big', action='store_true', help='add 1M to the sizes')
    ap.add_argument('-k', '--kinds', default=','.join(KINDS))
    ap.add_argument('--mode', default='fields', choices=('list', 'fields', 'V'))
    ap.add_argument('--timeout', type=float, default=None,
                    help='seconds before a run is stopped (shown as >T)')
    ap.add_argument('-j', '--jobs', type=int, default=1,
                    help='runs at once (default 1: times are less noisy)')
    ap.add_argument('--keep', action='store_true')
    a = ap.parse_args()
    so = os.path.join(a.build, 'plugins/4.0/epan/smtp-analysis.so')
    if not os.path.exists(so):
        sys.exit('no plugin in %s: scripts/build.sh %s first' % (so, a.build))
    sizes = a.sizes.split(',') + (['1M'] if a.big else [])
    kinds = a.kinds.split(',')

    work = tempfile.mkdtemp(prefix='smtp-patho-')
    try:
        plug = os.path.join(work, 'plugins')
        noplug = os.path.join(work, 'noplugins')
        shutil.copytree(os.path.join(a.build, 'plugins'), plug)
        os.makedirs(noplug)
        subprocess.run([sys.executable, os.path.join(HERE, 'gen-pathological.py'),
                        '-o', work, '-N', ','.join(sizes), '-k', ','.join(kinds)],
                       check=True, stdout=subprocess.DEVNULL)
        for d, _, fs in os.walk(work):
            os.chmod(d, 0o755)
            for f in fs:
                os.chmod(os.path.join(d, f), 0o644)
        gp = import_module('benchpcap')
        label = {s: s for s in sizes}

        def run(conf, pcap):
            args = ['-r', pcap]
            if conf == 'nothing':
                args += ['--disable-protocol', 'smtp']
            if a.mode == 'fields':
                args += ['-T', 'fields', '-e',
                         'smtp.reply.code' if conf == 'plugin' else 'smtp.response.code']
            elif a.mode == 'V':
                args += ['-V']
            c = ['env', '-i', 'PATH=/usr/bin:/bin', 'HOME=' + work,
                 'WIRESHARK_PLUGIN_DIR=' + (plug if conf == 'plugin' else noplug),
                 'LC_ALL=C.UTF-8', '/usr/bin/time', '-f', 'RSS %M CPU %U %S WALL %e',
                 'tshark'] + args
            if os.geteuid() == 0:
                c = ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups'] + c
            try:
                p = subprocess.run(c, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                   cwd=work, timeout=a.timeout)
            except subprocess.TimeoutExpired:
                return None
            m = re.findall(r'RSS (\d+) CPU ([\d.]+) ([\d.]+) WALL ([\d.]+)',
                           p.stderr.decode('utf-8', 'replace'))
            if p.returncode != 0 or not m:
                return ('failed (%d)' % p.returncode,)
            rss, u, s, w = m[-1]
            r = (int(rss) / 1024, float(u) + float(s), float(w))
            print('   %-9s %-22s %7.0f MB %8.1f s cpu %8.1f s wall'
                  % (conf, os.path.basename(pcap), r[0], r[1], r[2]),
                  file=sys.stderr, flush=True)
            return r

        R = {}
        with cf.ThreadPoolExecutor(a.jobs) as ex:
            futs = {}
            for k in kinds:
                for s in sizes:
                    n = gp.parse_size(s)
                    lab = '%dM' % (n // 10**6) if n % 10**6 == 0 else \
                        '%dk' % (n // 1000) if n % 1000 == 0 else str(n)
                    label[s] = lab
                    pcap = os.path.join(work, '%s-%s.pcap' % (k, lab))
                    for conf in CONFS:
                        futs[(k, s, conf)] = ex.submit(run, conf, pcap)
            for key, f in futs.items():
                R[key] = f.result()

        def cell(r):
            if r is None:
                return '>%.0f s' % a.timeout
            if len(r) == 1:
                return r[0]
            return '%.0f MB, %.1f s' % (r[0], r[1])

        commit = subprocess.run(['git', '-C', TOP, 'log', '-1', '--format=%h', '--',
                                 'src', 'plugin'], stdout=subprocess.PIPE,
                                text=True).stdout.strip()
        print('\n### Pathological inputs: peak RSS, CPU seconds (%s mode; plugin/ and '
              'src/ at %s)\n' % (a.mode, commit))
        print('| input | N | capture | nothing | built-in | plugin | plugin/built-in RSS '
              '| plugin/built-in CPU |')
        print('|---|---|---|---|---|---|---|---|')
        for k in kinds:
            for s in sizes:
                pcap = os.path.join(work, '%s-%s.pcap' % (k, label[s]))
                b, p = R[(k, s, 'built-in')], R[(k, s, 'plugin')]
                both = b is not None and p is not None and len(b) > 1 and len(p) > 1
                print('| %s | %s | %.1f MB | %s | %s | %s | %s | %s |' % (
                    WHAT[k], label[s], os.path.getsize(pcap) / 1e6,
                    cell(R[(k, s, 'nothing')]), cell(b), cell(p),
                    '%.2f' % (p[0] / b[0]) if both else '-',
                    '%.2f' % (p[1] / max(b[1], 0.01)) if both else '-'))
        print('\nGrowth (RSS above the nothing run, per scale step):')
        for k in kinds:
            for conf in ('built-in', 'plugin'):
                row = []
                for s in sizes:
                    r, z = R[(k, s, conf)], R[(k, s, 'nothing')]
                    row.append('%s %+.0f MB' % (label[s], r[0] - z[0])
                               if r and z and len(r) > 1 and len(z) > 1 else '%s -' % label[s])
                print('  %-9s %-8s %s' % (k, conf, ', '.join(row)))
    finally:
        if a.keep:
            print('work folder kept: ' + work, file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == '__main__':
    main()
