"""scripts/smtp-batch.py --sshloginfile H --transfer against a real sshd on
loopback, set up the way a user would: its own host key, an authorized key,
a port of its own on 127.0.0.1, all in a folder made by the test and
removed afterwards (the sshd is stopped by its process id).

The host reached over ssh shares this machine's file system, the case in
which GNU parallel's --cleanup used to remove the input captures (the
"copy" was the original).

  transfer-keeps-inputs   three captures: every input keeps its size, mtime,
                          inode and content; the tables (replies.csv,
                          transactions.csv, summary.json) equal a local run's;
                          every tshark run read a copy inside the run's
                          scratch folder (its working folder, logged by a
                          wrapper), and no scratch folder is left behind.
  transfer-refused-host   an ssh host that cannot be reached: the tool stops
                          before any job with a message naming the host, and
                          the inputs are untouched.

Skipped (tsharklib.Skip, with the reason) when sshd, ssh, rsync or GNU parallel is
missing and cannot be installed (apt-get, as root), or sshd does not start.
"""
import glob
import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import test_batch as tb  # noqa: E402
from tsharklib import Skip  # noqa: E402

SCRATCH_GLOB = '/tmp/smtp-batch-transfer-*'
NEEDED = {'sshd': 'openssh-server', 'ssh': 'openssh-client', 'rsync': 'rsync', 'parallel': 'parallel'}


def which(name):
    return shutil.which(name) or shutil.which(name, path='/usr/sbin:/sbin:/usr/bin:/bin')


def missing_tools():
    return sorted(n for n in NEEDED if not which(n))


def install_missing():
    """apt-get install what is missing (as root); returns the reason when
    something is still missing, else None."""
    miss = missing_tools()
    if not miss:
        return None
    pkgs = sorted({NEEDED[n] for n in miss})
    if os.geteuid() != 0 or not shutil.which('apt-get'):
        return 'missing %s (Debian packages %s) and not root to install them' % (
            ', '.join(miss), ' '.join(pkgs))
    print('     installing %s for the transfer test' % ' '.join(pkgs))
    # another test may be installing at the same time (the GUI test's
    # Xvfb and Qt): wait for dpkg's lock as test_gui does, not skip
    p = subprocess.run(['apt-get', '-o', 'DPkg::Lock::Timeout=300', 'install', '-y',
                        '--no-install-recommends'] + pkgs,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       env=dict(os.environ, DEBIAN_FRONTEND='noninteractive'))
    miss = missing_tools()
    if miss:
        return 'could not install %s: %s' % (' '.join(pkgs), p.stdout.decode('utf-8', 'replace')[-300:])
    return None


def free_port():
    s = socket.socket()
    s.bind(('127.0.0.1', 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Sshd:
    """A private sshd on 127.0.0.1 for the current user."""

    def __init__(self, folder):
        self.dir = folder
        os.makedirs(folder, exist_ok=True)
        os.chmod(folder, 0o700)
        self.proc = None
        self.port = free_port()
        self.user = 'root' if os.geteuid() == 0 else os.environ.get('USER') or \
            subprocess.run(['id', '-un'], stdout=subprocess.PIPE).stdout.decode().strip()
        for k in ('host', 'user'):
            subprocess.run(['ssh-keygen', '-q', '-t', 'ed25519', '-N', '', '-f',
                            os.path.join(folder, k + '_key')], check=True)
        shutil.copyfile(os.path.join(folder, 'user_key.pub'), os.path.join(folder, 'authorized_keys'))
        os.chmod(os.path.join(folder, 'authorized_keys'), 0o600)
        with open(os.path.join(folder, 'sshd_config'), 'w') as f:
            f.write('Port %d\nListenAddress 127.0.0.1\nHostKey %s\nAuthorizedKeysFile %s\n'
                    'PidFile %s\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n'
                    'PermitRootLogin prohibit-password\nStrictModes no\nUsePAM no\n'
                    'AcceptEnv none\n' % (
                        self.port, os.path.join(folder, 'host_key'),
                        os.path.join(folder, 'authorized_keys'), os.path.join(folder, 'sshd.pid')))

    def ssh_words(self):
        return ['ssh', '-p', str(self.port), '-i', os.path.join(self.dir, 'user_key'),
                '-o', 'BatchMode=yes', '-o', 'StrictHostKeyChecking=no',
                '-o', 'UserKnownHostsFile=' + os.path.join(self.dir, 'known_hosts'),
                '-o', 'LogLevel=ERROR', '%s@127.0.0.1' % self.user]

    def start(self):
        """None when it answers, else why not."""
        if os.geteuid() == 0:
            os.makedirs('/run/sshd', exist_ok=True)   # privilege separation folder
        self.proc = subprocess.Popen([which('sshd'), '-D', '-f', os.path.join(self.dir, 'sshd_config'),
                                      '-E', os.path.join(self.dir, 'sshd.log')],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                break
            p = subprocess.run(self.ssh_words() + ['true'], stdin=subprocess.DEVNULL,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            if p.returncode == 0:
                return None
            time.sleep(0.3)
        try:
            with open(os.path.join(self.dir, 'sshd.log')) as f:
                log = f.read()[-400:]
        except OSError:
            log = ''
        self.stop()
        return 'sshd on 127.0.0.1:%d did not answer: %s' % (self.port, log.strip() or 'no log')

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()       # the sshd this test started, by its pid
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None


def fingerprint(path):
    st = os.stat(path)
    with open(path, 'rb') as f:
        digest = hashlib.sha256(f.read()).hexdigest()
    return (st.st_size, st.st_mtime_ns, st.st_ino, digest)


def setup(name, ctx):
    why = install_missing()
    if why:
        raise Skip(why)
    sshd = Sshd(os.path.join(ctx.tmp, 'sshd-%s' % name))
    why = sshd.start()
    if why:
        raise Skip(why)
    return sshd


def check_transfer(ctx):
    sshd = setup('transfer-keeps-inputs', ctx)
    try:
        b = tb.Batch(ctx)
        files = tb.three(ctx, b)
        args = [files['u'], files['p'], files['t']]
        before = {f: fingerprint(os.path.join(b.dir, f)) for f in args}
        scratch_before = set(glob.glob(SCRATCH_GLOB))
        with open(os.path.join(b.dir, 'hosts'), 'w') as f:
            f.write('2/%s\n' % ' '.join(sshd.ssh_words()))
        local = b.run(args, outdir='local')
        # a wrapper that notes the folder every tshark run starts in
        log = os.path.join(b.dir, 'cwd.log')
        prefix = ['sh', '-c', 'pwd >> %s; exec "$@"' % log, 'sh'] + ctx.tshark.command([])
        remote = b.run(['--sshloginfile', 'hosts', '--transfer'] + args, outdir='remote', prefix=prefix)
        after = {f: fingerprint(os.path.join(b.dir, f)) for f in args}
        assert before == after, 'inputs changed:\n  before %r\n  after  %r' % (before, after)
        assert (local.rc, local.err) == (0, ''), (local.rc, local.err)
        assert (remote.rc, remote.err) == (0, ''), (remote.rc, remote.err)
        for name in ('replies.csv', 'transactions.csv', 'summary.json'):
            assert remote.text(name) == local.text(name), '%s differs between --transfer and local' % name
        assert local.summary()['replies'] == 26, local.summary()['replies']
        with open(log) as f:
            cwds = f.read().split()
        # the first two runs are the tool's own 'tshark -G fields' and '-G
        # values', here; then one per capture
        assert cwds[:2] == [b.dir, b.dir] and len(cwds) == 5 and all(
            c.startswith('/tmp/smtp-batch-transfer-') for c in cwds[2:]), cwds
        left = set(glob.glob(SCRATCH_GLOB)) - scratch_before
        assert not left, 'scratch folders left behind: %r' % sorted(left)
    finally:
        sshd.stop()


def check_refused_host(ctx):
    sshd = setup('transfer-refused-host', ctx)
    try:
        b = tb.Batch(ctx)
        f = b.put('02-unknown-user.pcap', src=tb.real(ctx, '02-unknown-user.pcap'))
        before = fingerprint(os.path.join(b.dir, f))
        words = sshd.ssh_words()
        words[words.index('-p') + 1] = str(free_port())     # nobody listens there
        with open(os.path.join(b.dir, 'hosts'), 'w') as fh:
            fh.write(' '.join(words) + '\n')
        r = b.run(['--sshloginfile', 'hosts', '--transfer', f])
        assert r.rc == 2, (r.rc, r.err)
        assert r.err.startswith('smtp-batch: --transfer: cannot prepare /tmp/smtp-batch-transfer-') \
            and ' on %s: ' % ' '.join(words) in r.err, r.err
        assert fingerprint(os.path.join(b.dir, f)) == before
    finally:
        sshd.stop()


def tests(ctx):
    yield 'transfer-keeps-inputs', lambda: check_transfer(ctx)
    yield 'transfer-refused-host', lambda: check_refused_host(ctx)
