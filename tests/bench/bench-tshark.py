#!/usr/bin/env python3
"""Whole-tshark cost of the smtpx plugin against the alternatives (issue 9).

Three configurations:
  nothing   no plugin, built-in SMTP disabled (--disable-protocol smtp):
            port 25 payload is plain data
  built-in  no plugin: Wireshark's own SMTP dissector
  plugin    the smtpx plugin from BUILD
in three modes:
  list      tshark -r F                      (packet list)
  fields    tshark -r F -T fields -e smtp.reply.code
            (built-in and nothing: -e smtp.response.code, its equivalent)
  V         tshark -r F -V
Instruction counts (callgrind, total Ir; "net" subtracts a run of the same
configuration on one packet in list mode, the start-up) on two captures:
  sessions  tests/bench/gen-sessions.py -n 2000 (about 5 MB, 38k packets)
  corpus    COPIES rounds of testdata/real (all but 09-starttls), the corpus
            of the former bench-plugin.sh
Peak RSS (/usr/bin/time -f %M) in fields mode on many-session captures of
10 MB and 100 MB (and 1 GB with --big: slow, and large on disk).

In list mode also "bare": nothing with every TCP heuristic dissector off,
and "noop": a plugin (tests/bench/noop-port25.c, compiled here with the
installed Wireshark's headers) that takes port 25 and does nothing with it.
With "nothing", TCP offers port 25 payload to its ~80 heuristic dissectors
on every segment (about 49k Ir a segment here), which makes "nothing" dearer
than the built-in; "noop" is the floor the packet list is measured against
("bare" comes close to it).

Targets printed: list <= 1.05 x noop (and x nothing); fields and V <=
built-in; peak RSS <= built-in.

Under callgrind tshark runs with tests/bench/fixed-seed.c preloaded (built
here): wmem maps seed their hashes from g_random_int, and with a random
seed the same run varied by up to 0.8 %; with it, by a few thousand
instructions.

Usage: tests/bench/bench-tshark.py [-b BUILD] [--big] [--no-ir] [--no-rss]
       [--modes list,fields,V] [--captures sessions,corpus] [-n COPIES]
       [--sessions N] [--rss-sizes 10M,100M] [-j JOBS] [--profile] [-k]
Needs: tshark, valgrind, capinfos, editcap, /usr/bin/time, setpriv (as root).
"""
import argparse
import concurrent.futures as cf
import glob
import ipaddress
import os
import re
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(TOP, 'tests', 'tools'))

CONFS = ('nothing', 'built-in', 'plugin')
MODES = ('list', 'fields', 'V')


class Env:
    def __init__(self, build, work):
        self.work = work
        self.plug = os.path.join(work, 'plugins')
        self.noplug = os.path.join(work, 'noplugins')
        shutil.copytree(os.path.join(build, 'plugins'), self.plug)
        os.makedirs(self.noplug)
        self.root = os.geteuid() == 0
        # the TCP heuristic dissectors enabled by default: "bare" turns them
        # off, so that port 25 payload goes straight to "data"
        out = subprocess.run(['tshark', '-G', 'heuristic-decodes'], stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL, text=True).stdout
        self.tcp_heur = [f[1] for f in (l.split('\t') for l in out.splitlines())
                         if len(f) == 3 and f[0] == 'tcp' and f[2] == 'T']
        self.noop = self.build_noop()
        self.seed = self.build_seed()

    def build_seed(self):
        """fixed-seed.c as a library to preload under callgrind (repeatable
        counts: wmem maps seed their hashes from g_random_int); None, and
        counts that vary by up to 0.8 % a run, if it does not build."""
        so = os.path.join(self.work, 'fixed-seed.so')
        r = subprocess.run(['cc', '-O2', '-shared', '-fPIC', '-o', so,
                            os.path.join(HERE, 'fixed-seed.c')])
        if r.returncode != 0:
            print('fixed-seed.c did not build: instruction counts vary from run to run',
                  file=sys.stderr)
            return None
        os.chmod(so, 0o755)
        return so

    def build_noop(self):
        """The do-nothing port 25 plugin, in a plugin folder of its own;
        None (and the "noop" column left out) without Wireshark's headers."""
        ver = subprocess.run(['pkg-config', '--modversion', 'wireshark'], stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL, text=True).stdout.strip()
        cflags = subprocess.run(['pkg-config', '--cflags', 'wireshark'], stdout=subprocess.PIPE,
                                stderr=subprocess.DEVNULL, text=True).stdout.split()
        if not ver:
            print('no Wireshark headers (pkg-config wireshark): "noop" left out', file=sys.stderr)
            return None
        d = os.path.join(self.work, 'noop', '.'.join(ver.split('.')[:2]), 'epan')
        os.makedirs(d)
        r = subprocess.run(['cc', '-O2', '-shared', '-fPIC', '-o', os.path.join(d, 'noop-port25.so'),
                            os.path.join(HERE, 'noop-port25.c')] + cflags)
        if r.returncode != 0:
            print('noop-port25.c did not build: "noop" left out', file=sys.stderr)
            return None
        return os.path.join(self.work, 'noop')

    def cmd(self, conf, mode, pcap, wrapper=(), preload=None):
        args = ['-r', pcap]
        if conf in ('nothing', 'bare'):
            args += ['--disable-protocol', 'smtp']
        if conf == 'bare':
            # -G heuristic-decodes lists the protocols, not the heuristics'
            # own names: disabling the protocol stops its heuristic
            for h in self.tcp_heur:
                args += ['--disable-protocol', h]
        if mode == 'fields':
            args += ['-T', 'fields', '-e',
                     'smtp.reply.code' if conf == 'plugin' else 'smtp.response.code']
        elif mode == 'V':
            args += ['-V']
        plugdir = self.plug if conf == 'plugin' else self.noop if conf == 'noop' else self.noplug
        c = ['env', '-i', 'PATH=/usr/bin:/bin', 'HOME=' + self.work,
             'WIRESHARK_PLUGIN_DIR=' + plugdir, 'LC_ALL=C.UTF-8'] \
            + (['LD_PRELOAD=' + preload] if preload else []) + list(wrapper) + ['tshark'] + args
        if self.root:
            c = ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups'] + c
        return c

    def run(self, c, log):
        with open(log, 'wb') as err:
            p = subprocess.run(c, stdout=subprocess.DEVNULL, stderr=err, cwd=self.work)
        if p.returncode != 0:
            raise RuntimeError('%s failed (%d), see %s' % (' '.join(c), p.returncode, log))

    def ir(self, conf, mode, pcap, tag, profile=False):
        out = os.path.join(self.work, 'cg.%s.%s.%s' % (conf, mode, tag))
        wrap = ['valgrind', '--tool=callgrind', '--callgrind-out-file=' + out]
        if profile:
            # tshark unloads its plugins before callgrind writes its file:
            # keep their line tables
            wrap += ['--dump-instr=yes', '--keep-debuginfo=yes']
        self.run(self.cmd(conf, mode, pcap, wrap, self.seed), out + '.log')
        with open(out) as f:
            for line in f:
                if line.startswith(('summary:', 'totals:')):
                    v = int(line.split()[1])
                    print('   Ir %-8s %-6s %-16s %15d' % (conf, mode, tag, v),
                          file=sys.stderr, flush=True)
                    return v
        raise RuntimeError('no total in ' + out)

    def rss(self, conf, mode, pcap, tag):
        log = os.path.join(self.work, 'rss.%s.%s.%s.log' % (conf, mode, tag))
        self.run(self.cmd(conf, mode, pcap,
                          ['/usr/bin/time', '-f', 'RSS %M CPU %U %S WALL %e']), log)
        with open(log) as f:
            m = re.findall(r'RSS (\d+) CPU ([\d.]+) ([\d.]+) WALL ([\d.]+)', f.read())
        rss, u, s, wall = m[-1]
        print('   RSS %-8s %-6s %-10s %8.1f MB  cpu %7.1f s' % (
            conf, mode, tag, int(rss) / 1024, float(u) + float(s)),
            file=sys.stderr, flush=True)
        return int(rss) / 1024, float(u) + float(s)


def make_corpus(work, copies):
    """COPIES rounds of every real capture but 09-starttls, each copy on its
    own client port and address block (as the former bench-plugin.sh)."""
    import pcaplib
    caps = [p for p in sorted(glob.glob(os.path.join(TOP, 'testdata/real/*.pcap')))
            if '09-starttls' not in p]
    segs = {}
    for p in caps:
        _, ss = pcaplib.read_tcp_segments(p)
        segs[p] = [s for s in ss if s is not None]
    server_ports = (25, 587, 465)
    frames, t, port, n = [], 1_700_000_000 * 10**9, 1024, 0
    for c in range(copies):
        for p in caps:
            ss = segs[p]
            t0 = ss[0].ts_ns
            cport = {}
            for s in ss:
                s = pcaplib.TcpSeg(**s.__dict__)
                for side in ('s', 'd'):
                    prt = getattr(s, side + 'port')
                    if prt in server_ports:
                        continue
                    if prt not in cport:
                        cport[prt] = port
                        port = port + 1 if port < 65535 else 1024
                    setattr(s, side + 'port', cport[prt])
                    ip = getattr(s, 'src' if side == 's' else 'dst')
                    off = (c // 2) + 1
                    if ip.version == 4:
                        new = ipaddress.IPv4Address((int(ip) & 0xFF0000FF) | (off << 8))
                    else:
                        new = ipaddress.IPv6Address(int(ip) + (off << 16))
                    setattr(s, 'src' if side == 's' else 'dst', new)
                frames.append((t + (s.ts_ns - t0), pcaplib.build_tcp_frame(s, n)))
                n += 1
            t = frames[-1][0] + 1_000_000
    path = os.path.join(work, 'corpus.pcap')
    pcaplib.write_pcap(path, frames)
    return path


def first_packet(pcap, out):
    subprocess.run(['editcap', '-r', pcap, out, '1'], check=True,
                   stdout=subprocess.DEVNULL)
    return out


def packets(pcap):
    o = subprocess.run(['capinfos', '-c', '-M', pcap], stdout=subprocess.PIPE,
                       text=True).stdout
    return int(o.split()[-1])


def ok(v, target):
    return 'MET' if v <= target else 'NOT MET'


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('-b', '--build', default='/tmp/build-bench')
    ap.add_argument('-n', '--copies', type=int, default=50)
    ap.add_argument('--sessions', type=int, default=2000)
    ap.add_argument('--modes', default=','.join(MODES))
    ap.add_argument('--captures', default='sessions,corpus')
    ap.add_argument('--rss-sizes', default='10M,100M')
    ap.add_argument('--rss-modes', default='fields')
    ap.add_argument('--big', action='store_true', help='add 1G to --rss-sizes')
    ap.add_argument('--no-ir', action='store_true')
    ap.add_argument('--no-rss', action='store_true')
    ap.add_argument('--no-bare', action='store_true',
                    help='skip the list run of "nothing" with the TCP heuristics off')
    ap.add_argument('--profile', action='store_true',
                    help='plugin runs with --dump-instr=yes; prints its top functions')
    ap.add_argument('--startup', metavar='nothing=IR,built-in=IR,plugin=IR',
                    help='start-up counts of an earlier run of the same build (skips those runs)')
    ap.add_argument('-j', '--jobs', type=int, default=os.cpu_count())
    ap.add_argument('-k', '--keep', action='store_true')
    a = ap.parse_args()

    so = os.path.join(a.build, 'plugins/4.0/epan/smtp-analysis.so')
    if not os.path.exists(so):
        subprocess.run(['cmake', '-S', TOP, '-B', a.build, '-DSMTP_BUILD_TESTS=OFF',
                        '-DCMAKE_BUILD_TYPE=RelWithDebInfo'], check=True,
                       stdout=subprocess.DEVNULL)
        subprocess.run(['cmake', '--build', a.build, '-j2'], check=True,
                       stdout=subprocess.DEVNULL)
    work = tempfile.mkdtemp(prefix='smtp-bench-')
    try:
        env = Env(a.build, work)
        modes = a.modes.split(',')
        caps = {}
        gen = os.path.join(HERE, 'gen-sessions.py')
        for c in a.captures.split(','):
            if c == 'sessions':
                p = os.path.join(work, 'sessions.pcap')
                subprocess.run([sys.executable, gen, '-n', str(a.sessions), p], check=True)
            elif c == 'corpus':
                p = make_corpus(work, a.copies)
            else:
                ap.error('unknown capture ' + c)
            caps[c] = p
        sizes = [] if a.no_rss else a.rss_sizes.split(',') + (['1G'] if a.big else [])
        for s in sizes:
            p = os.path.join(work, 'sessions-%s.pcap' % s)
            subprocess.run([sys.executable, gen, '-s', s, p], check=True)
            caps['rss-' + s] = p
        for d, _, fs in os.walk(work):
            os.chmod(d, 0o777)
            for f in fs:
                os.chmod(os.path.join(d, f), 0o644)
        commit = subprocess.run(['git', '-C', TOP, 'log', '-1', '--format=%h', '--',
                                 'src', 'plugin'], stdout=subprocess.PIPE,
                                text=True).stdout.strip()
        dirty = subprocess.run(['git', '-C', TOP, 'status', '--porcelain', '--',
                                'src', 'plugin'], stdout=subprocess.PIPE,
                               text=True).stdout.strip()
        print('plugin/ and src/ at %s%s' % (commit, ' (with uncommitted changes)'
                                             if dirty else ''))

        IR = {}
        if not a.no_ir:
            jobs = []
            with cf.ThreadPoolExecutor(a.jobs) as ex:
                # start-up: each configuration in list mode on one packet
                # (fields and -V add nothing measurable before the first
                # packet, and each such run costs as much as a 5 MB list run)
                first = a.captures.split(',')[0]
                start = first_packet(caps[first], os.path.join(work, 'startup.pcap'))
                os.chmod(start, 0o644)
                known = dict(kv.split('=') for kv in a.startup.split(',')) if a.startup else {}
                for k in CONFS:
                    if k in known:
                        IR[(k, 'startup')] = int(known[k])
                    else:
                        jobs.append(((k, 'startup'),
                                     ex.submit(env.ir, k, 'list', start, 'startup')))
                for c in a.captures.split(','):
                    for m in modes:
                        for k in CONFS:
                            prof = a.profile and k == 'plugin' and c == 'sessions'
                            jobs.append(((k, m, c), ex.submit(env.ir, k, m, caps[c], c, prof)))
                        if m == 'list' and not a.no_bare:
                            jobs.append((('bare', m, c),
                                         ex.submit(env.ir, 'bare', m, caps[c], c)))
                        if m == 'list' and env.noop:
                            jobs.append((('noop', m, c),
                                         ex.submit(env.ir, 'noop', m, caps[c], c)))
                for key, fut in jobs:
                    IR[key] = fut.result()
                for c in a.captures.split(','):
                    for m in modes:
                        for k in CONFS + ('bare', 'noop'):
                            # bare starts as nothing does (a few more options),
                            # noop as the built-in (one protocol more)
                            base = {'bare': 'nothing', 'noop': 'built-in'}.get(k, k)
                            IR[(k, m, c + '-startup')] = IR[(base, 'startup')]
            for c in a.captures.split(','):
                pk = packets(caps[c])
                print('\n### Instructions (callgrind Ir), %s: %s, %d packets\n'
                      % (c, os.path.basename(caps[c]), pk))
                print('start-up (one packet, list mode): ' + ', '.join(
                    '%s %.3fG' % (k, IR[(k, 'startup')] / 1e9) for k in CONFS) + '\n')
                print('| mode | nothing | built-in | plugin | built-in/nothing | '
                      'plugin/nothing | plugin/built-in | plugin/built-in net | target |')
                print('|---|---|---|---|---|---|---|---|---|')
                for m in modes:
                    t = {k: IR[(k, m, c)] for k in CONFS}
                    net = {k: IR[(k, m, c)] - IR[(k, m, c + '-startup')] for k in CONFS}
                    if m == 'list':
                        r, tgt = t['plugin'] / t['nothing'], 1.05
                        target = 'plugin/nothing <= 1.05: %s' % ok(r, tgt)
                    else:
                        r = t['plugin'] / t['built-in']
                        target = 'plugin/built-in <= 1: %s' % ok(r, 1.0)
                    print('| %s | %.3fG | %.3fG | %.3fG | %.3f | %.3f | %.3f | %.3f | %s |' % (
                        m, t['nothing'] / 1e9, t['built-in'] / 1e9, t['plugin'] / 1e9,
                        t['built-in'] / t['nothing'], t['plugin'] / t['nothing'],
                        t['plugin'] / t['built-in'], net['plugin'] / net['built-in'],
                        target))
                floors = (('bare', 'nothing with the %d TCP heuristic dissectors off'
                           % len(env.tcp_heur)),
                          ('noop', 'a dissector that does nothing on port 25'))
                for floor, what in floors:
                    if (floor, 'list', c) not in IR:
                        continue
                    b, p = IR[(floor, 'list', c)], IR[('plugin', 'list', c)]
                    nb = b - IR[(floor, 'list', c + '-startup')]
                    np_ = p - IR[('plugin', 'startup')]
                    print('\nlist, %s ("%s"): %.3fG; plugin/%s %.3f (net %.3f), built-in/%s %.3f: '
                          'plugin/%s <= 1.05: %s' % (
                              what, floor, b / 1e9, floor, p / b, np_ / nb, floor,
                              IR[('built-in', 'list', c)] / b, floor, ok(p / b, 1.05)))
                print('\nnet Ir per packet (start-up subtracted): ' + ', '.join(
                    '%s %s %.0f' % (m, k, (IR[(k, m, c)] - IR[(k, m, c + '-startup')]) / pk)
                    for m in modes for k in CONFS))

        if sizes:
            R = {}
            # peak RSS does not depend on load, but keep the big runs one at a time
            big = [s for s in sizes if s.upper().startswith('1G')]
            small = [s for s in sizes if s not in big]
            for group, nj in ((small, a.jobs), (big, 1)):
                with cf.ThreadPoolExecutor(nj) as ex:
                    futs = {(k, m, s): ex.submit(env.rss, k, m, caps['rss-' + s], s)
                            for s in group for m in a.rss_modes.split(',') for k in CONFS}
                    for key, fut in futs.items():
                        R[key] = fut.result()
            for m in a.rss_modes.split(','):
                print('\n### Peak RSS (MB), %s mode, many-session captures\n' % m)
                print('| capture | packets | nothing | built-in | plugin | plugin/built-in '
                      '| plugin - built-in | target |')
                print('|---|---|---|---|---|---|---|---|')
                for s in sizes:
                    r = {k: R[(k, m, s)][0] for k in CONFS}
                    p = caps['rss-' + s]
                    print('| %s (%.0f MB) | %d | %.0f | %.0f | %.0f | %.3f | %+.0f | %s |' % (
                        s, os.path.getsize(p) / 1e6, packets(p), r['nothing'],
                        r['built-in'], r['plugin'], r['plugin'] / r['built-in'],
                        r['plugin'] - r['built-in'],
                        'plugin <= built-in: ' + ok(r['plugin'], r['built-in'])))
                print('\nCPU seconds (user+sys, noisy): ' + ', '.join(
                    '%s %s %.1f' % (s, k, R[(k, m, s)][1]) for s in sizes for k in CONFS))

        if a.profile and not a.no_ir:
            for m in modes:
                f = os.path.join(work, 'cg.plugin.%s.sessions' % m)
                if not os.path.exists(f):
                    continue
                print('\n### plugin %s, sessions: top inclusive costs in the plugin\n' % m)
                o = subprocess.run(['callgrind_annotate', '--inclusive=yes',
                                    '--threshold=100', f], stdout=subprocess.PIPE,
                                   text=True).stdout
                n = 0
                for line in o.splitlines():
                    if 'smtp-analysis.so' in line or re.search(r'/(plugin|src)/', line):
                        print(line[:160])
                        n += 1
                        if n == 30:
                            break
    finally:
        if a.keep:
            print('work folder kept: ' + work, file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == '__main__':
    main()
