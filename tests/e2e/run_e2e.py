#!/usr/bin/env python3
"""End-to-end tests: the real tshark with the built plugin on real captures.

Usage: run_e2e.py BUILD_DIR [-k SUBSTRING] [--update]

Every module test_*.py beside this file has a function tests(ctx) that
yields (name, function) pairs; each function raises AssertionError (or any
exception) to fail.  --update lets golden-file tests rewrite their expected
files instead of comparing.  The last line is 'N passed, N failed'.
"""
import argparse
import glob
import importlib.util
import os
import sys
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from tsharklib import Tshark  # noqa: E402


class Ctx:
    def __init__(self, build, update):
        self.repo = os.path.dirname(os.path.dirname(HERE))
        self.testdata = os.path.join(self.repo, 'testdata')
        self.scripts = os.path.join(self.repo, 'scripts')
        corpus = os.environ.get('SMTP_CORPUS') or os.path.join(self.repo, '..', 'shared', 'corpus')
        self.corpus = os.path.abspath(corpus) if os.path.isdir(corpus) else None
        self.tshark = Tshark(build)
        self.update = update
        self.tmp = os.path.join(self.tshark.home, 'work')
        os.makedirs(self.tmp, exist_ok=True)
        os.chmod(self.tmp, 0o755)

    def captures(self, sub):
        """Captures in testdata/SUB, sorted."""
        return sorted(glob.glob(os.path.join(self.testdata, sub, '*.pcap')))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('build')
    ap.add_argument('-k', default='')
    ap.add_argument('--update', action='store_true')
    a = ap.parse_args()
    ctx = Ctx(a.build, a.update)
    passed = failed = 0
    try:
        for path in sorted(glob.glob(os.path.join(HERE, 'test_*.py'))):
            name = os.path.splitext(os.path.basename(path))[0]
            spec = importlib.util.spec_from_file_location(name, path)
            mod = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(mod)
            for tname, fn in mod.tests(ctx):
                full = '%s::%s' % (name, tname)
                if a.k not in full:
                    continue
                try:
                    fn()
                except Exception as e:  # a failing test, whatever it raised
                    failed += 1
                    print('FAIL %s\n     %s' % (full, str(e).replace('\n', '\n     ')))
                    if not isinstance(e, AssertionError):
                        traceback.print_exc()
                else:
                    passed += 1
                    print('ok   %s' % full)
                sys.stdout.flush()
    finally:
        ctx.tshark.cleanup()
    print('%d passed, %d failed' % (passed, failed))
    return 1 if failed or not passed else 0


if __name__ == '__main__':
    sys.exit(main())
