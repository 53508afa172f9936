#!/usr/bin/env python3
"""End-to-end tests: the real tshark with the built plugin on real captures.

Usage: run_e2e.py BUILD_DIR [-k SUBSTRING] [-j N] [--full] [--update]

Every module test_*.py beside this file has a function tests(ctx) that
yields (name, function) pairs; each function raises AssertionError (or any
exception) to fail, or Skip (tsharklib.Skip, also ctx.Skip) with the reason
to be counted as skipped ('skip NAME: reason').  tests(ctx) itself may raise
Skip: the whole module is then one skipped test.

The tests run on -j workers (default 2, or $SMTP_TEST_JOBS): every test
function must be safe to run beside any other.  ctx.tmp is a fresh folder
per test (removed after it), so temporary files of two tests never meet.
Results are printed in the order the modules yield the tests, whatever
order they finish in, so the output does not depend on -j.  A module with a
few long tests sets START_FIRST = True: its tests are started first (and
still printed in their place), so no worker idles at the end.

--full (or SMTP_TEST_FULL=1) sets ctx.full: the long sweeps (every re-cut of
every capture, valgrind on every capture, ...) run instead of their
deterministic samples.  What a module leaves to --full it reports with
ctx.defer(text); those lines are printed at the end.

--update lets golden-file tests rewrite their expected files instead of
comparing.  At the end: the time per module, the slowest tests, and the last
line 'N passed, N failed, N skipped'.
"""
import argparse
import concurrent.futures
import glob
import importlib.util
import itertools
import os
import shutil
import sys
import threading
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import toolpath  # noqa: E402  (tests/tools on sys.path)
from tsharklib import Skip, Tshark, cpu_account  # noqa: E402


class Ctx:
    Skip = Skip

    def __init__(self, build, update, full, jobs):
        self.repo = os.path.dirname(os.path.dirname(HERE))
        self.testdata = os.path.join(self.repo, 'testdata')
        self.scripts = os.path.join(self.repo, 'scripts')
        self.tools = toolpath.TOOLS
        corpus = os.environ.get('SMTP_CORPUS') or os.path.join(self.repo, '..', 'shared', 'corpus')
        self.corpus = os.path.abspath(corpus) if os.path.isdir(corpus) else None
        self.tshark = Tshark(build, jobs)
        self.update = update
        self.full = full
        self.jobs = jobs
        self.module = None
        self.deferred = []
        self._shared_tmp = os.path.join(self.tshark.home, 'work')
        os.makedirs(self._shared_tmp, exist_ok=True)
        os.chmod(self._shared_tmp, 0o755)
        self._local = threading.local()

    @property
    def tmp(self):
        """A folder for temporary files, readable by the tshark user: the
        running test's own (empty at its start), or a shared one while the
        tests are being listed."""
        return getattr(self._local, 'tmp', None) or self._shared_tmp

    def captures(self, sub):
        """Captures in testdata/SUB, sorted."""
        return sorted(glob.glob(os.path.join(self.testdata, sub, '*.pcap')))

    def defer(self, text):
        """Notes what the current module runs only with --full."""
        self.deferred.append((self.module, text))

    def run_test(self, index, fn):
        """Runs fn with its own ctx.tmp; returns (status, message, seconds,
        CPU seconds) with status 'ok', 'skip' or 'FAIL'.  The CPU seconds are
        this thread's and those of the processes run through
        tsharklib.run_child (every Tshark.run)."""
        tmp = os.path.join(self._shared_tmp, 't%d' % index)
        os.makedirs(tmp)
        os.chmod(tmp, 0o755)
        self._local.tmp = tmp
        start = time.monotonic()
        cpu = time.thread_time()
        account = [0.0]
        cpu_account(account)
        try:
            fn()
        except Skip as e:
            result = ('skip', str(e))
        except Exception as e:  # a failing test, whatever it raised
            msg = str(e)
            if not isinstance(e, AssertionError):
                msg = '%s\n%s' % (msg, traceback.format_exc().rstrip('\n'))
            result = ('FAIL', msg)
        else:
            result = ('ok', '')
        finally:
            self._local.tmp = None
            cpu_account(None)
            shutil.rmtree(tmp, ignore_errors=True)
        return result + (time.monotonic() - start, time.thread_time() - cpu + account[0])


def load():
    """[(name, module, error)] of the test_*.py beside this file, by name."""
    out = []
    for path in sorted(glob.glob(os.path.join(HERE, 'test_*.py'))):
        name = os.path.splitext(os.path.basename(path))[0]
        try:
            spec = importlib.util.spec_from_file_location(name, path)
            mod = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(mod)
            out.append((name, mod, None))
        except Exception as e:  # a module that does not even import
            out.append((name, None, ('FAIL', '%s\n%s' % (
                e, traceback.format_exc().rstrip('\n')), 0.0, 0.0)))
    return out


def collect(ctx, name, mod, k):
    """Yields (full name, fn or a finished result) of one module."""
    ctx.module = name
    start = time.monotonic()
    try:
        for tname, fn in mod.tests(ctx):
            full = '%s::%s' % (name, tname)
            if k in full:
                yield full, fn
    except Skip as e:
        if k in name:
            yield name, ('skip', str(e), time.monotonic() - start, 0.0)
    except Exception as e:  # the module could not even list its tests
        yield name + '::<tests>', ('FAIL', '%s\n%s' % (
            e, traceback.format_exc().rstrip('\n')), time.monotonic() - start, 0.0)
    finally:
        ctx.module = None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('build')
    ap.add_argument('-k', default='', help='run only tests whose name contains this')
    ap.add_argument('-j', type=int, default=int(os.environ.get('SMTP_TEST_JOBS') or 2),
                    help='tests run at once (default 2, or $SMTP_TEST_JOBS)')
    ap.add_argument('--full', action='store_true',
                    default=os.environ.get('SMTP_TEST_FULL') == '1',
                    help='the long sweeps too (also SMTP_TEST_FULL=1)')
    ap.add_argument('--update', action='store_true')
    ap.add_argument('--slowest', type=int, default=10, help='how many slowest tests to list')
    a = ap.parse_args()
    jobs = max(1, a.j)
    ctx = Ctx(a.build, a.update, a.full, jobs)
    counts = {'ok': 0, 'FAIL': 0, 'skip': 0}
    times = []          # (seconds, CPU seconds, full name)
    per_module = {}     # module -> [tests, seconds, CPU seconds]
    start = time.monotonic()
    print('running on %d worker%s%s' % (jobs, 's' if jobs > 1 else '',
                                          ', full run' if a.full else
                                          ' (long sweeps sampled: --full runs them all)'))
    sys.stdout.flush()

    def report(module, full, result):
        status, msg, secs, cpu = result
        counts[status] += 1
        times.append((secs, cpu, full))
        m = per_module.setdefault(module, [0, 0.0, 0.0])
        m[0] += 1
        m[1] += secs
        m[2] += cpu
        if status == 'ok':
            print('ok   %s' % full)
        elif status == 'skip':
            print('skip %s: %s' % (full, msg))
        else:
            print('FAIL %s\n     %s' % (full, msg.replace('\n', '\n     ')))
        sys.stdout.flush()

    # Modules with START_FIRST = True (a few long tests) are listed and
    # started first, so that no worker idles at the end waiting for one long
    # test; the output is in module order all the same.
    modules = load()
    lists = [[] for _ in modules]     # per module: (full name, future or result)
    listed = set()                    # modules whose tests are all listed
    at = [0, 0]                       # next (module, test) to print
    def flush(block):
        while at[0] < len(modules):
            m, t = at
            if t == len(lists[m]):
                if m not in listed:
                    return
                at[0], at[1] = m + 1, 0
                continue
            full, fut = lists[m][t]
            if isinstance(fut, concurrent.futures.Future):
                if not block and not fut.done():
                    return
                fut = fut.result()
            at[1] += 1
            report(modules[m][0], full, fut)

    order = sorted(range(len(modules)),
                   key=lambda m: (not getattr(modules[m][1], 'START_FIRST', False), m))
    index = itertools.count()
    try:
        with concurrent.futures.ThreadPoolExecutor(jobs) as pool:
            # tests start while later modules are still listing theirs
            for m in order:
                name, mod, error = modules[m]
                tests = [(name + '::<import>', error)] if error else collect(ctx, name, mod, a.k)
                for full, fn in tests:
                    lists[m].append((full, pool.submit(ctx.run_test, next(index), fn)
                                     if callable(fn) else fn))
                    flush(False)
                listed.add(m)
                flush(False)
            flush(True)
    finally:
        ctx.tshark.cleanup()
    wall = time.monotonic() - start
    print('\n%d tests in %.0f s on %d workers.  Per module, the sum over its tests of '
          'wall and CPU seconds (CPU: tshark and the test itself):' % (len(times), wall, jobs))
    for module, (n, secs, cpu) in sorted(per_module.items(), key=lambda x: -x[1][1]):
        print('  %7.1f %7.1f  %s (%d tests)' % (secs, cpu, module, n))
    if times and a.slowest > 0:
        print('slowest tests (wall, CPU seconds):')
        for secs, cpu, full in sorted(times, key=lambda x: (-x[0], x[2]))[:a.slowest]:
            print('  %7.1f %7.1f  %s' % (secs, cpu, full))
    for module, text in ctx.deferred:
        if module in per_module:
            print('only with --full: %s: %s' % (module, text))
    print('%d passed, %d failed, %d skipped' % (counts['ok'], counts['FAIL'], counts['skip']))
    return 1 if counts['FAIL'] or not counts['ok'] else 0


if __name__ == '__main__':
    sys.exit(main())
