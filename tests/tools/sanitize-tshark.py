#!/usr/bin/env python3
"""Runs the plugin built with AddressSanitizer and UBSan inside the real
tshark over random mutations of captures, the way Wireshark's own
tools/fuzz-test.sh does.

    tests/tools/sanitize-tshark.py [--runs N] [--rates 0.02,0.05,0.005]
        [--build DIR] [--keep DIR] [--seed S] [--timeout 60] [--cpu-limit S]
        [--no-corpus] [--max-size BYTES] [--max-packets N] [--jobs N]
        [--state FILE] [--log FILE] [--report FILE] [--max-seconds S]
        [--standard-data-dir] [CAPTURE-OR-FOLDER...]

Without captures it takes every capture of testdata/ and of the shared
corpus (../shared/corpus, or $SMTP_CORPUS; --no-corpus leaves it out).
Each mutation is `editcap -E RATE --seed S` of one capture (captures and
rates taken in turn, S counting up from --seed), and each mutated file is
read four times: `-V`, `-2 -V`, `-T fields -e smtp.reply.code` and
`-q -z smtp,tree`.  One tshark run is one of these; --runs N (default 40)
is the number of tshark runs with the plugin (N/4 mutations).

tshark runs as nobody when started as root (it ignores WIRESHARK_PLUGIN_DIR
as root), with LD_PRELOAD of gcc's libasan and libubsan (tshark itself is
not instrumented, the plugin is), ASAN_OPTIONS=detect_leaks=0 and
WIRESHARK_DEBUG_WMEM_OVERRIDE=simple so that heap errors inside wmem pools
are seen.  Leaks are not looked for: tshark and GLib, not instrumented,
leave memory allocated at exit, and the plugin's memory lives in wmem pools
that epan frees.  The plugin is built with -DSMTP_SANITIZE=ON
-DSMTP_BUILD_TESTS=OFF into --build (default /tmp/build-fuzz-asan-plugin)
unless that folder already holds a plugin and --no-build is given.

Where a run's time goes: starting tshark 4.0 under the ASan runtime costs
0.7-1 s of CPU whatever the capture, two thirds of it reading its name
tables (manuf, services, enterprises.tsv: 4.6 MB of text, each entry
allocated through ASan's malloc), the rest registering every dissector; a
testdata capture adds little, the largest corpus captures (1-2 MB) up to
1 s; the four modes cost about the same.  So tshark gets a data folder of
its own (WIRESHARK_DATA_DIR): the real one's entries as symbolic links, the
three tables as empty files.  With -n nothing is named from them, and a
start costs about 0.3 s of CPU (--standard-data-dir keeps the real folder;
4.2 and later build the tables in).  And:
  --jobs N         N tshark runs at once (default 1): use the cores that are
                   free; the wall-clock time of a run on a loaded machine
                   says little, its CPU time is what is compared
  --max-packets N  mutate a cut of each capture instead of the whole: its TCP
                   streams on the plugin's ports (24, 25, 465, 587) or that
                   the built-in SMTP/IMF dissectors recognise, and of those
                   the first N packets (each capture cut once; 0, the
                   default, mutates whole captures)
  --cpu-limit S    stop a run after S s of CPU time (RLIMIT_CPU, prlimit),
                   counted as a run past the limit whatever the machine's
                   load; --timeout stays the wall-clock limit (default 60)
Long campaigns: --state FILE saves the counts and the mutations done after
each mutation, and a later run given the same FILE (and the same captures,
rates and --seed) resumes there, --runs counting the total; --log FILE
appends one tab-separated line per tshark run (mutation number, capture,
rate, seed, mode, exit status, wall and CPU seconds, findings).

Findings, each with its mutated file kept in --keep (default
BUILD/sanitize-findings; the script only adds files there):
  sanitizer     an AddressSanitizer or UBSan report (any stack)
  smtp-bug      "Dissector bug" attributed to SMTP in the output
  smtp-malformed  "Malformed Packet" attributed to SMTP
  other-bug     an assertion or "Dissector bug" in another dissector that
                the built-in SMTP dissector (no plugin, same file, same
                options) does not show; when it shows it too, it is counted
                as "also with the built-in" and not a finding
  timeout       a run past --timeout seconds (default 60) or --cpu-limit
  crash         tshark killed by a signal, or an exit status the built-in
                does not give on the same file
The last line is the summary; the exit status is 1 when there is a
finding, 0 otherwise, 2 when nothing could run.
"""
import argparse
import glob
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
NOBODY = 65534
MODES = (('-V',), ('-2', '-V'), ('-T', 'fields', '-e', 'smtp.reply.code'),
         ('-q', '-z', 'smtp,tree'))
SAN = re.compile(r'ERROR: AddressSanitizer|runtime error:|SUMMARY: UndefinedBehaviorSanitizer|'
                 r'ERROR: LeakSanitizer|AddressSanitizer:DEADLYSIGNAL')
SMTP_NAMES = r'(SMTP|SMTP-Analysis|smtpx?|IMF)'
SMTP_BUG = re.compile(r'Dissector bug, protocol ' + SMTP_NAMES + r'\b.*')
SMTP_MALFORMED = re.compile(r'Malformed Packet: ' + SMTP_NAMES + r'\b.*')
ANY_BUG = re.compile(r'Dissector bug, protocol ([\w.-]+).*|\*\* \(tshark:\d+\) .*(CRITICAL|ERROR).*'
                     r'|assertion failed.*|Assertion .* failed.*')
CAPTURE_EXT = ('.pcap', '.pcapng', '.cap')
# the TCP streams a cut keeps (--max-packets)
SMTP_STREAMS = 'smtp || imf || tcp.port in {24 25 465 587}'
# read by tshark 4.0 at every start, unused with -n (see above)
NAME_TABLES = ('manuf', 'services', 'enterprises.tsv')
KINDS = ('sanitizer', 'smtp-bug', 'smtp-malformed', 'other-bug', 'timeout', 'crash',
         'also-builtin')


def gcc_runtime(name):
    """Path of gcc's shared sanitizer runtime (libasan.so.N, libubsan.so.N)."""
    out = subprocess.run(['gcc', '-print-file-name=%s.so' % name], stdout=subprocess.PIPE,
                         universal_newlines=True).stdout.strip()
    if out and os.path.exists(out):
        return os.path.realpath(out)
    found = sorted(glob.glob('/usr/lib/*/%s.so.*' % name) + glob.glob('/usr/lib64/%s.so.*' % name))
    if not found:
        raise SystemExit('no %s.so: install gcc\'s sanitizer runtimes (libasan8 libubsan1)' % name)
    return found[0]


def build_plugin(build):
    subprocess.run(['cmake', '-S', ROOT, '-B', build, '-DSMTP_SANITIZE=ON', '-DSMTP_BUILD_TESTS=OFF',
                    '-DCMAKE_BUILD_TYPE=RelWithDebInfo'], check=True, stdout=subprocess.DEVNULL)
    subprocess.run(['cmake', '--build', build, '-j2'], check=True, stdout=subprocess.DEVNULL)


def list_captures(args, no_corpus):
    roots = list(args)
    if not roots:
        roots = [os.path.join(ROOT, 'testdata')]
        corpus = os.environ.get('SMTP_CORPUS') or os.path.join(ROOT, '..', 'shared', 'corpus')
        if not no_corpus and os.path.isdir(corpus):
            roots.append(os.path.abspath(corpus))
    files = []
    for r in roots:
        if os.path.isdir(r):
            for d, _, fs in os.walk(r):
                files += [os.path.join(d, f) for f in fs if f.endswith(CAPTURE_EXT)]
        elif os.path.isfile(r):
            files.append(r)
    return sorted(set(files))


def global_data_dir():
    """tshark's 'Global configuration' folder (tshark -G folders), or None."""
    p = subprocess.run(['tshark', '-G', 'folders'], stdout=subprocess.PIPE,
                       stderr=subprocess.DEVNULL, universal_newlines=True)
    for line in p.stdout.splitlines():
        key, sep, value = line.partition(':')
        if sep and key.strip() == 'Global configuration' and os.path.isdir(value.strip()):
            return value.strip()
    return None


def lean_data_dir(src, dst):
    """dst: src's entries as symbolic links, NAME_TABLES as empty files.
    False when src has none of the tables (nothing to gain)."""
    names = sorted(os.listdir(src))
    if not any(n in NAME_TABLES for n in names):
        return False
    os.makedirs(dst)
    for n in names:
        if n in NAME_TABLES:
            open(os.path.join(dst, n), 'w').close()
        else:
            os.symlink(os.path.join(os.path.abspath(src), n), os.path.join(dst, n))
    return True


class Runner:
    def __init__(self, build, timeout, cpu_limit=0, lean=True):
        self.home = tempfile.mkdtemp(prefix='smtp-sanitize-')
        self.plugins = os.path.join(self.home, 'plugins')
        shutil.copytree(os.path.join(build, 'plugins'), self.plugins)
        self.no_plugins = os.path.join(self.home, 'no-plugins')
        os.makedirs(self.no_plugins)
        self.files = os.path.join(self.home, 'files')
        os.makedirs(self.files)
        self.cuts = os.path.join(self.home, 'cuts')
        os.makedirs(self.cuts)
        self.data = os.path.join(self.home, 'data')
        src = global_data_dir() if lean else None
        if not (src and lean_data_dir(src, self.data)):
            self.data = None
        for d, _, fs in os.walk(self.home):
            os.chmod(d, 0o755)
            for f in fs:
                if not os.path.islink(os.path.join(d, f)):  # not the real data folder's
                    os.chmod(os.path.join(d, f), 0o644)
        os.chmod(self.cuts, 0o777)   # tshark -w writes there as nobody
        self.preload = '%s:%s' % (gcc_runtime('libasan'), gcc_runtime('libubsan'))
        self.timeout = timeout
        self.cpu_limit = cpu_limit
        self.root = os.geteuid() == 0

    def cleanup(self):
        shutil.rmtree(self.home, ignore_errors=True)

    def as_user(self, cmd):
        if self.root:
            return ['setpriv', '--reuid=%d' % NOBODY, '--regid=%d' % NOBODY, '--clear-groups'] + cmd
        return cmd

    def runtime_starts(self, capture):
        """True when the preloaded ASan runtime initialises inside tshark
        (with verbosity=1 it prints ==PID== lines) and the plugin's
        protocol is known (the filter smtpx compiles)."""
        dst = os.path.join(self.files, 'check-' + os.path.basename(capture))
        shutil.copyfile(capture, dst)
        os.chmod(dst, 0o644)
        cmd = self.as_user(['env', '-i', 'PATH=/usr/bin:/bin', 'HOME=' + self.home,
                            'WIRESHARK_PLUGIN_DIR=' + self.plugins, 'LD_PRELOAD=' + self.preload,
                            'ASAN_OPTIONS=detect_leaks=0:verbosity=1', 'tshark', '-r', dst,
                            '-c', '1', '-Y', 'smtpx || !smtpx'])
        try:
            p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=self.home,
                               timeout=max(self.timeout, 120))
        except subprocess.TimeoutExpired:
            return False
        finally:
            os.unlink(dst)
        err = p.stderr.decode('utf-8', 'replace')
        return p.returncode == 0 and re.search(r'^==\d+==', err, re.M) is not None

    def tshark(self, args, builtin=False):
        """(exit status or 'timeout', stdout, stderr, wall seconds, CPU seconds)."""
        env = ['env', '-i', 'PATH=/usr/bin:/bin', 'HOME=' + self.home, 'LC_ALL=C.UTF-8',
               'WIRESHARK_PLUGIN_DIR=' + (self.no_plugins if builtin else self.plugins),
               'WIRESHARK_DEBUG_WMEM_OVERRIDE=simple']
        if self.data:
            env.append('WIRESHARK_DATA_DIR=' + self.data)
        if not builtin:
            env += ['LD_PRELOAD=' + self.preload,
                    'ASAN_OPTIONS=detect_leaks=0:abort_on_error=0:print_summary=1',
                    'UBSAN_OPTIONS=print_stacktrace=1']
        cmd = self.as_user(env + ['tshark', '-n'] + list(args))
        if self.cpu_limit:
            # SIGXCPU at the limit, SIGKILL 5 s of CPU later
            cmd = ['prlimit', '--cpu=%d:%d' % (self.cpu_limit, self.cpu_limit + 5), '--'] + cmd
        t0 = time.time()
        p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=self.home)
        usage = []

        def try_wait(flags, p=p):
            # Popen reaps through this: keep the child's rusage
            try:
                pid, sts, ru = os.wait4(p.pid, flags)
            except ChildProcessError:
                return p.pid, 0
            if pid:
                usage.append(ru.ru_utime + ru.ru_stime)
            return pid, sts
        p._try_wait = try_wait
        try:
            out, err = p.communicate(timeout=self.timeout)
            rc = p.returncode
        except subprocess.TimeoutExpired:
            p.kill()
            out, err = p.communicate()
            rc = 'timeout'
        cpu = sum(usage)
        if self.cpu_limit and rc != 'timeout' and rc in (-signal.SIGXCPU, -signal.SIGKILL) \
                and cpu >= self.cpu_limit:
            rc = 'timeout'
        return (rc, out.decode('utf-8', 'replace'), err.decode('utf-8', 'replace'),
                time.time() - t0, cpu)

    def cut(self, capture, max_packets):
        """The capture's SMTP streams, first max_packets packets (a file in
        self.cuts, made once); the capture itself when nothing is left."""
        name = os.path.join(self.cuts, '%d-%s.pcapng' % (
            abs(hash(capture)) % 10**8, os.path.splitext(os.path.basename(capture))[0]))
        if os.path.exists(name):
            return name
        src = os.path.join(self.cuts, 'src-' + os.path.basename(capture))
        shutil.copyfile(capture, src)
        os.chmod(src, 0o644)
        try:
            rc, out, _, _, _ = self.tshark(['-r', src, '-Y', SMTP_STREAMS, '-T', 'fields',
                                            '-e', 'tcp.stream'], builtin=True)
            streams = sorted({int(x) for x in out.split() if x.isdigit()})
            if rc != 0 or not streams:
                return capture
            part = name + '.part'
            self.tshark(['-r', src, '-Y', 'tcp.stream in {%s}' % ' '.join(map(str, streams)),
                         '-c', str(max_packets), '-F', 'pcapng', '-w', part], builtin=True)
            if not os.path.exists(part) or os.path.getsize(part) == 0:
                return capture
            os.rename(part, name)
            return name
        finally:
            os.unlink(src)


def first_lines(text, pattern, n=60):
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if re.search(pattern, line):
            return '\n'.join(lines[max(0, i - 2):i + n])
    return '\n'.join(lines[:n])


def classify(r, args, rc, out, err, builtin_cache, path):
    """The findings of one run: list of (kind, detail)."""
    found = []
    text = out + '\n' + err
    if SAN.search(err):
        found.append(('sanitizer', first_lines(err, SAN.pattern)))
    m = SMTP_BUG.search(text)
    if m:
        found.append(('smtp-bug', m.group(0)))
    m = SMTP_MALFORMED.search(text)
    if m:
        found.append(('smtp-malformed', first_lines(text, SMTP_MALFORMED.pattern, 8)))
    if rc == 'timeout':
        found.append(('timeout', 'over %d s of wall-clock time%s' % (
            r.timeout, ' or %d s of CPU' % r.cpu_limit if r.cpu_limit else '')))
    others = set(x.group(0) for x in ANY_BUG.finditer(text) if not SMTP_BUG.match(x.group(0)))
    crashed = rc != 'timeout' and (rc < 0 or rc not in (0, 2)) and not found
    if others or crashed:
        key = (path, args)
        if key not in builtin_cache:
            builtin_cache[key] = r.tshark(args, builtin=True)
        brc, bout, berr = builtin_cache[key][:3]
        btext = bout + '\n' + berr
        for o in sorted(others):
            core = re.sub(r'\(tshark:\d+\)', '', o)
            if core in re.sub(r'\(tshark:\d+\)', '', btext):
                found.append(('also-builtin', o))
            else:
                found.append(('other-bug', o))
        if crashed and brc != rc:
            found.append(('crash', 'exit %s (built-in: %s)\n%s' % (rc, brc, err[-3000:])))
    return found


class Campaign:
    """The counts, shared by the workers; saved to --state after each mutation."""

    def __init__(self, a, ncaps):
        self.lock = threading.Lock()
        self.counts = dict.fromkeys(KINDS, 0)
        self.runs = self.mutations = self.unreadable = 0
        self.reserved = 0               # runs started or done
        self.done = set()               # mutation numbers done
        self.slowest = [0.0, '']        # wall seconds, run
        self.slowest_cpu = [0.0, '']    # CPU seconds, run
        self.cpu = 0.0
        self.elapsed = 0.0              # of earlier sessions (--state)
        self.next = 0                   # next mutation number to hand out
        self.key = {'seed': a.seed, 'rates': a.rates, 'captures': ncaps,
                    'max_packets': a.max_packets}
        self.state = a.state
        if self.state and os.path.exists(self.state):
            with open(self.state) as f:
                s = json.load(f)
            if s['key'] != self.key:
                raise SystemExit('%s was made with other settings: %r (now %r)' %
                                 (self.state, s['key'], self.key))
            self.counts.update(s['counts'])
            self.runs, self.mutations, self.unreadable = s['runs'], s['mutations'], s['unreadable']
            self.reserved = self.runs
            self.done = set(s['done_above']) | set(range(s['done_below']))
            self.slowest, self.slowest_cpu = s['slowest'], s['slowest_cpu']
            self.cpu, self.elapsed = s['cpu'], s['elapsed']
            self.next = s['done_below']

    def save(self, since):
        if not self.state:
            return
        below = 0
        while below in self.done:
            below += 1
        s = {'key': self.key, 'counts': self.counts, 'runs': self.runs,
             'mutations': self.mutations, 'unreadable': self.unreadable,
             'done_below': below, 'done_above': sorted(x for x in self.done if x > below),
             'slowest': self.slowest, 'slowest_cpu': self.slowest_cpu, 'cpu': self.cpu,
             'elapsed': self.elapsed + time.time() - since}
        tmp = self.state + '.tmp'
        with open(tmp, 'w') as f:
            json.dump(s, f)
        os.replace(tmp, self.state)

    def take(self):
        """The next mutation number not done yet."""
        with self.lock:
            while self.next in self.done:
                self.next += 1
            self.next += 1
            return self.next - 1

    def reserve_run(self, limit):
        with self.lock:
            if self.reserved >= limit:
                return False
            self.reserved += 1
            return True


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('captures', nargs='*')
    ap.add_argument('--runs', type=int, default=40, help='tshark runs with the plugin (4 per mutation)')
    ap.add_argument('--rates', default='0.02,0.05,0.005', help='editcap -E error rates, taken in turn')
    ap.add_argument('--build', default='/tmp/build-fuzz-asan-plugin')
    ap.add_argument('--no-build', action='store_true', help='use the plugin already in --build')
    ap.add_argument('--keep', help='where failing mutated captures are kept (default BUILD/sanitize-findings)')
    ap.add_argument('--seed', type=int, default=1)
    ap.add_argument('--timeout', type=int, default=60, help='wall-clock seconds a run may take')
    ap.add_argument('--cpu-limit', type=int, default=0,
                    help='CPU seconds a run may take (0: no limit but --timeout)')
    ap.add_argument('--no-corpus', action='store_true')
    ap.add_argument('--max-size', type=int, default=4 << 20, help='leave out larger captures')
    ap.add_argument('--max-packets', type=int, default=0,
                    help='mutate the first N packets of each capture\'s SMTP streams (0: whole captures)')
    ap.add_argument('--jobs', type=int, default=1, help='tshark runs at once')
    ap.add_argument('--state', help='save the counts here after each mutation; resume from it')
    ap.add_argument('--log', help='append one line per tshark run to this file')
    ap.add_argument('--report', help='also write the report to this new file')
    ap.add_argument('--standard-data-dir', action='store_true',
                    help='let tshark read its name tables at every start')
    ap.add_argument('--max-seconds', type=float, default=0,
                    help='stop after this long even if fewer runs were made (0: no limit)')
    a = ap.parse_args()

    if a.report and os.path.lexists(a.report):
        # checked before the campaign too: the report never goes over another file
        print('%s exists: give --report a new file' % a.report, file=sys.stderr)
        return 2
    if not a.no_build:
        build_plugin(a.build)
    if not glob.glob(os.path.join(a.build, 'plugins', '*', 'epan', '*.so')):
        print('no plugin in %s/plugins' % a.build, file=sys.stderr)
        return 2
    keep = a.keep or os.path.join(a.build, 'sanitize-findings')
    os.makedirs(keep, exist_ok=True)
    caps = list_captures(a.captures, a.no_corpus)
    big = [c for c in caps if os.path.getsize(c) > a.max_size]
    caps = [c for c in caps if os.path.getsize(c) <= a.max_size]
    rates = [float(x) for x in a.rates.split(',') if x]
    if not caps or not rates:
        print('no captures', file=sys.stderr)
        return 2
    r = Runner(a.build, a.timeout, a.cpu_limit, lean=not a.standard_data_dir)
    report = []
    out_lock = threading.Lock()

    def say(line):
        with out_lock:
            print(line, flush=True)
            report.append(line)

    if not r.runtime_starts(caps[0]):
        say('the sanitizer runtime (%s) does not start inside tshark, or the plugin '
            'does not load: nothing would be seen' % r.preload)
        r.cleanup()
        return 2
    say('sanitizer runtime active in tshark (LD_PRELOAD=%s)' % r.preload)

    c = Campaign(a, len(caps))
    say('sanitize-tshark: %d captures (%d over %d bytes left out), rates %s, %d runs, seed %d%s%s%s%s' %
        (len(caps), len(big), a.max_size, a.rates, a.runs, a.seed,
         ', first %d packets of the SMTP streams' % a.max_packets if a.max_packets else '',
         ', %d jobs' % a.jobs if a.jobs > 1 else '',
         '' if r.data else ', standard data folder',
         ', resumed at %d runs' % c.runs if c.runs else ''))
    log = open(a.log, 'a') if a.log else None
    t_start = time.time()
    stop = threading.Event()
    cut_lock = threading.Lock()

    def out_of_time():
        return a.max_seconds and time.time() - t_start > a.max_seconds

    def one_mutation(i):
        """Mutates and reads; returns False when there was nothing to run."""
        src = caps[i % len(caps)]
        rate = rates[(i // len(caps)) % len(rates)]
        seed = a.seed + i
        orig = src
        if a.max_packets:
            with cut_lock:
                src = r.cut(src, a.max_packets)
        name = '%s-E%s-s%d.pcapng' % (os.path.splitext(os.path.basename(orig))[0], rate, seed)
        mut = os.path.join(r.files, name)
        p = subprocess.run(['editcap', '-E', str(rate), '--seed', str(seed), src, mut],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        if p.returncode != 0 or not os.path.exists(mut):
            with c.lock:
                c.unreadable += 1
                c.done.add(i)
            return False
        os.chmod(mut, 0o644)
        builtin_cache = {}
        kept = False
        mine = []               # (mode, rc, wall, cpu, kinds)
        counts = dict.fromkeys(KINDS, 0)
        try:
            for mode in MODES:
                if stop.is_set() or not c.reserve_run(a.runs):
                    break
                args = ('-r', mut) + mode
                rc, out, err, secs, cpu = r.tshark(args)
                kinds = []
                for kind, detail in classify(r, args, rc, out, err, builtin_cache, mut):
                    counts[kind] += 1
                    kinds.append(kind)
                    if kind == 'also-builtin':
                        continue
                    if not kept:
                        dst = os.path.join(keep, name)
                        if not os.path.exists(dst):
                            shutil.copyfile(mut, dst)
                        kept = True
                    say('FINDING %s: %s (from %s%s, editcap -E %s --seed %d) tshark %s\n%s\n' %
                        (kind, os.path.join(keep, name), orig,
                         ' cut to %d packets' % a.max_packets if a.max_packets else '', rate,
                         seed, ' '.join(mode), detail))
                mine.append((mode, rc, secs, cpu, kinds))
        finally:
            os.unlink(mut)
        if stop.is_set() and len(mine) < len(MODES) and c.reserved < a.runs:
            return True         # interrupted: not counted, done again on resume
        with c.lock:
            for mode, rc, secs, cpu, kinds in mine:
                what = '%s %s' % (name, ' '.join(mode))
                if secs > c.slowest[0]:
                    c.slowest = [secs, what]
                if cpu > c.slowest_cpu[0]:
                    c.slowest_cpu = [cpu, what]
                c.cpu += cpu
                if log:
                    log.write('%d\t%s\t%s\t%d\t%s\t%s\t%.2f\t%.2f\t%s\n' % (
                        i, orig, rate, seed, ' '.join(mode), rc, secs, cpu, ','.join(kinds)))
            if log:
                log.flush()
            for k, v in counts.items():
                c.counts[k] += v
            c.runs += len(mine)
            c.mutations += 1
            c.done.add(i)
            c.save(t_start)
            if c.mutations % 25 == 0:
                el = c.elapsed + time.time() - t_start
                say('.. %d runs, %d mutations, %.0f s, %.2f s of CPU a run' %
                    (c.runs, c.mutations, el, c.cpu / max(c.runs, 1)))
        return True

    def worker():
        while not stop.is_set() and c.reserved < a.runs and not out_of_time():
            i = c.take()
            one_mutation(i)
            if c.unreadable > 50 and c.mutations == 0:
                say('editcap fails on every capture')
                stop.set()

    def on_term(signum, frame):
        stop.set()
    old = signal.signal(signal.SIGTERM, on_term)
    threads = [threading.Thread(target=worker, daemon=True) for _ in range(max(1, a.jobs))]
    try:
        for t in threads:
            t.start()
        while any(t.is_alive() for t in threads):
            for t in threads:
                t.join(0.5)
    except KeyboardInterrupt:
        stop.set()
        for t in threads:
            t.join()
    finally:
        signal.signal(signal.SIGTERM, old)
        r.cleanup()
        if log:
            log.close()
    if c.mutations == 0 and c.unreadable > 50:
        return 2
    counts = c.counts
    findings = sum(v for k, v in counts.items() if k != 'also-builtin')
    el = c.elapsed + time.time() - t_start
    say('slowest run: %.1f s (%s)' % tuple(c.slowest))
    say('most CPU in a run: %.1f s (%s); %.0f s of CPU in all, %.2f s a run%s' %
        (c.slowest_cpu[0], c.slowest_cpu[1], c.cpu, c.cpu / max(c.runs, 1),
         '; runs past the limits below: %d s wall-clock, %d s of CPU' % (a.timeout, a.cpu_limit)
         if a.cpu_limit else ''))
    say('%d runs on %d mutations in %.0f s: %d sanitizer reports, %d SMTP dissector bugs, '
        '%d SMTP malformed, %d other-dissector bugs only with the plugin (%d also with the built-in), '
        '%d runs past %d s, %d crashes; %d findings' %
        (c.runs, c.mutations, el, counts['sanitizer'], counts['smtp-bug'],
         counts['smtp-malformed'], counts['other-bug'], counts['also-builtin'], counts['timeout'],
         a.timeout, counts['crash'], findings))
    if a.report:
        with open(a.report, 'x') as f:  # never over another file
            f.write('\n'.join(report) + '\n')
    return 1 if findings else 0


if __name__ == '__main__':
    sys.exit(main())
