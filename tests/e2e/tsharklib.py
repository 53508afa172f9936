"""Runs the real tshark with the plugin built in BUILD, as an unprivileged
user when started as root (tshark as root ignores personal plugin folders
and WIRESHARK_PLUGIN_DIR).

The plugin is copied to a private folder readable by that user, and every
capture is copied there too, so the tests work from any checkout.

Thread-safe: the tests run on several workers (run_e2e.py -j), and at most
`jobs` tshark processes of run() run at once, however many threads ask.
"""
import itertools
import os
import shutil
import subprocess
import tempfile
import threading

NOBODY = 65534


_cpu = threading.local()


def cpu_account(account=None):
    """Makes `account` (a one-element list, [seconds]) where this thread's
    run_child() calls add their children's CPU time; returns the previous
    one.  run_e2e.py gives each test its own; a test that runs work on
    threads of its own passes its account to them (see test_resync)."""
    old = getattr(_cpu, 'account', None)
    _cpu.account = account
    return old


def child_cpu():
    """CPU seconds (user + system) counted in this thread's account."""
    acct = getattr(_cpu, 'account', None)
    return acct[0] if acct else 0.0


def run_child(cmd, **kw):
    """subprocess.run(cmd, stdout=PIPE, stderr=PIPE, **kw), counting the
    child's CPU time for child_cpu()."""
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kw)
    usage = []
    def try_wait(flags, p=p):
        try:
            pid, sts, ru = os.wait4(p.pid, flags)
        except ChildProcessError:
            return p.pid, 0
        if pid:
            usage.append(ru.ru_utime + ru.ru_stime)
        return pid, sts
    p._try_wait = try_wait    # Popen.wait() reaps through this: keep the rusage
    try:
        out, err = p.communicate()
    except BaseException:
        p.kill()
        p.wait()
        raise
    acct = getattr(_cpu, 'account', None)
    if acct is not None:
        acct[0] += sum(usage)
    return subprocess.CompletedProcess(cmd, p.returncode, out, err)


class Skip(Exception):
    """Raised by a test (or by a module's tests()) that cannot run here; the
    message says why.  run_e2e.py counts and prints it ('skip NAME: reason')."""


class Tshark:
    def __init__(self, build_dir, jobs=2):
        self.build = os.path.abspath(build_dir)
        src = os.path.join(self.build, 'plugins')
        if not os.path.isdir(src):
            raise SystemExit('no plugin in %s: build first' % src)
        self.home = tempfile.mkdtemp(prefix='smtp-e2e-')
        self.plugins = os.path.join(self.home, 'plugins')
        shutil.copytree(src, self.plugins)
        self.files = os.path.join(self.home, 'files')
        os.makedirs(self.files)
        self.empty_plugins = os.path.join(self.home, 'no-plugins')
        os.makedirs(self.empty_plugins)
        self.root = os.geteuid() == 0
        for d, _, fs in os.walk(self.home):
            os.chmod(d, 0o755)
            for f in fs:
                os.chmod(os.path.join(d, f), 0o644)
        os.chmod(self.home, 0o755)
        self._n = itertools.count(1)
        self._slots = threading.BoundedSemaphore(max(1, jobs))

    def cleanup(self):
        shutil.rmtree(self.home, ignore_errors=True)

    def stage(self, path):
        """Copies a file where the tshark user can read it; returns the copy
        (or the file itself when it already is in this private folder)."""
        path = os.path.abspath(path)
        if path.startswith(self.home + os.sep) and os.stat(path).st_mode & 0o004:
            return path
        dst = os.path.join(self.files, '%d-%s' % (next(self._n), os.path.basename(path)))
        shutil.copyfile(path, dst)
        os.chmod(dst, 0o644)
        return dst

    def command(self, args, builtin=False):
        """The tshark command line; builtin=True runs it without the plugin
        (Wireshark's own SMTP dissector)."""
        plugins = self.empty_plugins if builtin else self.plugins
        env = ['env', '-i', 'PATH=/usr/bin:/bin', 'HOME=' + self.home,
               'WIRESHARK_PLUGIN_DIR=' + plugins, 'LC_ALL=C.UTF-8']
        cmd = env + ['tshark'] + list(args)
        if self.root:
            cmd = ['setpriv', '--reuid=%d' % NOBODY, '--regid=%d' % NOBODY,
                   '--clear-groups'] + cmd
        return cmd

    def run(self, args, check=True, wrapper=None, builtin=False):
        """Runs tshark; returns (stdout, stderr) as text."""
        cmd = self.command(args, builtin=builtin)
        if wrapper:
            cmd = cmd[:cmd.index('tshark')] + wrapper + cmd[cmd.index('tshark'):]
        with self._slots:
            p = run_child(cmd, cwd=self.home)
        out = p.stdout.decode('utf-8', 'replace')
        err = p.stderr.decode('utf-8', 'replace')
        if check and p.returncode != 0:
            raise RuntimeError('tshark %s failed (%d): %s' % (' '.join(args), p.returncode, err))
        return out, err

    def fields(self, pcap, fields, extra=(), display_filter=None):
        """Rows of -T fields output, each a list of column strings; multiple
        values of one field are separated by '\\x1f'."""
        args = ['-r', self.stage(pcap), '-T', 'fields', '-E', 'occurrence=a',
                '-E', 'aggregator=\x1f', '-E', 'separator=\t']
        for f in fields:
            args += ['-e', f]
        if display_filter:
            args += ['-Y', display_filter]
        args += list(extra)
        out, err = self.run(args)
        return [line.split('\t') for line in out.splitlines()], err


def cmake_build(src, build, options):
    """Configures and builds src into build with cmake -D options (a list);
    None when it worked, else what failed and the end of its output."""
    for cmd in (['cmake', '-S', src, '-B', build] + list(options),
                ['cmake', '--build', build, '-j2']):
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        if p.returncode != 0:
            return '%s failed:\n%s' % (' '.join(cmd), p.stdout.decode('utf-8', 'replace')[-3000:])
    return None
