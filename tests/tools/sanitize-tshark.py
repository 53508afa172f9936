#!/usr/bin/env python3
"""Runs the plugin built with AddressSanitizer and UBSan inside the real
tshark over random mutations of captures, the way Wireshark's own
tools/fuzz-test.sh does.

    tests/tools/sanitize-tshark.py [--runs N] [--rates 0.02,0.05,0.005]
        [--build DIR] [--keep DIR] [--seed S] [--timeout 60]
        [--no-corpus] [--max-size BYTES] [--report FILE] [--max-seconds S]
        [CAPTURE-OR-FOLDER...]

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
are seen.  The plugin is built with -DSMTP_SANITIZE=ON -DSMTP_BUILD_TESTS=OFF
into --build (default /tmp/build-fuzz-asan-plugin) unless that folder
already holds a plugin and --no-build is given.

Findings, each with its mutated file kept in --keep (default
BUILD/sanitize-findings; the script only adds files there):
  sanitizer     an AddressSanitizer or UBSan report (any stack)
  smtp-bug      "Dissector bug" attributed to SMTP in the output
  smtp-malformed  "Malformed Packet" attributed to SMTP
  other-bug     an assertion or "Dissector bug" in another dissector that
                the built-in SMTP dissector (no plugin, same file, same
                options) does not show; when it shows it too, it is counted
                as "also with the built-in" and not a finding
  timeout       a run past --timeout seconds (default 60)
  crash         tshark killed by a signal, or an exit status the built-in
                does not give on the same file
The last line is the summary; the exit status is 1 when there is a
finding, 0 otherwise, 2 when nothing could run.
"""
import argparse
import glob
import os
import re
import shutil
import subprocess
import sys
import tempfile
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


class Runner:
    def __init__(self, build, timeout):
        self.home = tempfile.mkdtemp(prefix='smtp-sanitize-')
        self.plugins = os.path.join(self.home, 'plugins')
        shutil.copytree(os.path.join(build, 'plugins'), self.plugins)
        self.no_plugins = os.path.join(self.home, 'no-plugins')
        os.makedirs(self.no_plugins)
        self.files = os.path.join(self.home, 'files')
        os.makedirs(self.files)
        for d, _, fs in os.walk(self.home):
            os.chmod(d, 0o755)
            for f in fs:
                os.chmod(os.path.join(d, f), 0o644)
        self.preload = '%s:%s' % (gcc_runtime('libasan'), gcc_runtime('libubsan'))
        self.timeout = timeout
        self.root = os.geteuid() == 0

    def cleanup(self):
        shutil.rmtree(self.home, ignore_errors=True)

    def runtime_starts(self, capture):
        """True when the preloaded ASan runtime initialises inside tshark
        (with verbosity=1 it prints ==PID== lines) and the plugin's
        protocol is known (the filter smtpx compiles)."""
        dst = os.path.join(self.files, 'check-' + os.path.basename(capture))
        shutil.copyfile(capture, dst)
        os.chmod(dst, 0o644)
        cmd = ['env', '-i', 'PATH=/usr/bin:/bin', 'HOME=' + self.home,
               'WIRESHARK_PLUGIN_DIR=' + self.plugins, 'LD_PRELOAD=' + self.preload,
               'ASAN_OPTIONS=detect_leaks=0:verbosity=1', 'tshark', '-r', dst, '-c', '1',
               '-Y', 'smtpx || !smtpx']
        if self.root:
            cmd = ['setpriv', '--reuid=%d' % NOBODY, '--regid=%d' % NOBODY, '--clear-groups'] + cmd
        try:
            p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=self.home,
                               timeout=self.timeout)
        except subprocess.TimeoutExpired:
            return False
        finally:
            os.unlink(dst)
        err = p.stderr.decode('utf-8', 'replace')
        return p.returncode == 0 and re.search(r'^==\d+==', err, re.M) is not None

    def tshark(self, args, builtin=False):
        """(exit status or 'timeout', stdout, stderr, seconds)."""
        env = ['env', '-i', 'PATH=/usr/bin:/bin', 'HOME=' + self.home, 'LC_ALL=C.UTF-8',
               'WIRESHARK_PLUGIN_DIR=' + (self.no_plugins if builtin else self.plugins),
               'WIRESHARK_DEBUG_WMEM_OVERRIDE=simple']
        if not builtin:
            env += ['LD_PRELOAD=' + self.preload,
                    'ASAN_OPTIONS=detect_leaks=0:abort_on_error=0:print_summary=1',
                    'UBSAN_OPTIONS=print_stacktrace=1']
        cmd = env + ['tshark', '-n'] + list(args)
        if self.root:
            cmd = ['setpriv', '--reuid=%d' % NOBODY, '--regid=%d' % NOBODY, '--clear-groups'] + cmd
        t0 = time.time()
        try:
            p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=self.home,
                               timeout=self.timeout)
        except subprocess.TimeoutExpired as e:
            return ('timeout', (e.stdout or b'').decode('utf-8', 'replace'),
                    (e.stderr or b'').decode('utf-8', 'replace'), time.time() - t0)
        return (p.returncode, p.stdout.decode('utf-8', 'replace'),
                p.stderr.decode('utf-8', 'replace'), time.time() - t0)


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
        found.append(('timeout', 'over %d s' % r.timeout))
    others = set(x.group(0) for x in ANY_BUG.finditer(text) if not SMTP_BUG.match(x.group(0)))
    crashed = rc != 'timeout' and (rc < 0 or rc not in (0, 2)) and not found
    if others or crashed:
        key = (path, args)
        if key not in builtin_cache:
            builtin_cache[key] = r.tshark(args, builtin=True)
        brc, bout, berr, _ = builtin_cache[key]
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


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('captures', nargs='*')
    ap.add_argument('--runs', type=int, default=40, help='tshark runs with the plugin (4 per mutation)')
    ap.add_argument('--rates', default='0.02,0.05,0.005', help='editcap -E error rates, taken in turn')
    ap.add_argument('--build', default='/tmp/build-fuzz-asan-plugin')
    ap.add_argument('--no-build', action='store_true', help='use the plugin already in --build')
    ap.add_argument('--keep', help='where failing mutated captures are kept (default BUILD/sanitize-findings)')
    ap.add_argument('--seed', type=int, default=1)
    ap.add_argument('--timeout', type=int, default=60)
    ap.add_argument('--no-corpus', action='store_true')
    ap.add_argument('--max-size', type=int, default=4 << 20, help='leave out larger captures')
    ap.add_argument('--report', help='also write the report to this new file')
    ap.add_argument('--max-seconds', type=float, default=0,
                    help='stop after this long even if fewer runs were made (0: no limit)')
    a = ap.parse_args()

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
    r = Runner(a.build, a.timeout)
    report = []

    def say(line):
        print(line, flush=True)
        report.append(line)

    if not r.runtime_starts(caps[0]):
        say('the sanitizer runtime (%s) does not start inside tshark, or the plugin '
            'does not load: nothing would be seen' % r.preload)
        r.cleanup()
        return 2
    say('sanitizer runtime active in tshark (LD_PRELOAD=%s)' % r.preload)

    say('sanitize-tshark: %d captures (%d over %d bytes left out), rates %s, %d runs, seed %d' %
        (len(caps), len(big), a.max_size, a.rates, a.runs, a.seed))
    counts = dict.fromkeys(('sanitizer', 'smtp-bug', 'smtp-malformed', 'other-bug', 'timeout',
                            'crash', 'also-builtin'), 0)
    runs = mutations = unreadable = 0
    slowest = (0.0, '')
    t_start = time.time()
    seed = a.seed
    i = 0
    try:
        while runs < a.runs and not (a.max_seconds and time.time() - t_start > a.max_seconds):
            src = caps[i % len(caps)]
            rate = rates[(i // len(caps)) % len(rates)]
            i += 1
            name = '%s-E%s-s%d.pcapng' % (os.path.splitext(os.path.basename(src))[0], rate, seed)
            mut = os.path.join(r.files, name)
            p = subprocess.run(['editcap', '-E', str(rate), '--seed', str(seed), src, mut],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            seed += 1
            if p.returncode != 0 or not os.path.exists(mut):
                unreadable += 1
                if unreadable > 50 and mutations == 0:
                    say('editcap fails on every capture: %s' % p.stderr.decode('utf-8', 'replace'))
                    return 2
                continue
            os.chmod(mut, 0o644)
            mutations += 1
            builtin_cache = {}
            kept = False
            for mode in MODES:
                if runs >= a.runs:
                    break
                args = ('-r', mut) + mode
                rc, out, err, secs = r.tshark(args)
                runs += 1
                if secs > slowest[0]:
                    slowest = (secs, '%s %s' % (name, ' '.join(mode)))
                for kind, detail in classify(r, args, rc, out, err, builtin_cache, mut):
                    counts[kind] += 1
                    if kind == 'also-builtin':
                        continue
                    if not kept:
                        dst = os.path.join(keep, name)
                        if not os.path.exists(dst):
                            shutil.copyfile(mut, dst)
                        kept = True
                    say('FINDING %s: %s (from %s, editcap -E %s --seed %d) tshark %s\n%s\n' %
                        (kind, os.path.join(keep, name), src, rate, seed - 1, ' '.join(mode),
                         detail))
            os.unlink(mut)
            if mutations % 25 == 0:
                say('.. %d runs, %d mutations, %.0f s' % (runs, mutations, time.time() - t_start))
    finally:
        r.cleanup()
    findings = sum(v for k, v in counts.items() if k != 'also-builtin')
    say('slowest run: %.1f s (%s)' % slowest)
    say('%d runs on %d mutations in %.0f s: %d sanitizer reports, %d SMTP dissector bugs, '
        '%d SMTP malformed, %d other-dissector bugs only with the plugin (%d also with the built-in), '
        '%d runs past %d s, %d crashes; %d findings' %
        (runs, mutations, time.time() - t_start, counts['sanitizer'], counts['smtp-bug'],
         counts['smtp-malformed'], counts['other-bug'], counts['also-builtin'], counts['timeout'],
         a.timeout, counts['crash'], findings))
    if a.report:
        with open(a.report, 'x') as f:  # never over another file
            f.write('\n'.join(report) + '\n')
    return 1 if findings else 0


if __name__ == '__main__':
    sys.exit(main())
