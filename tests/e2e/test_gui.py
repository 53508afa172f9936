"""The real Wireshark (Qt) with the plugin and the SMTP profile, under Xvfb.

One test, driven like a user would: Wireshark opens a real capture with the
profile "SMTP" (installed by scripts/install-profile.sh into a private
HOME), the display filter `smtp.reply.code >= 500` is typed into the filter
bar, and the status bar must show the same packet count as tshark (read
back from the screen with tesseract); then Statistics > SMTP > Replies and
commands is opened through the menus (located on screen by their text) and
the dialog must show the stats tree with the number of replies tshark counts.

Screenshots: with --update (or SMTP_GUI_SCREENSHOTS=DIR) they are written
to docs/ (README shows them); otherwise to the test's temporary folder.

Needs Xvfb, wireshark (Qt), xdotool, ImageMagick (import) and
tesseract. When one is missing and this runs as root (or with password-less
sudo) on Debian/Ubuntu, they are installed with apt-get; otherwise, or when
that fails, the test is skipped with the reason. SMTP_GUI=0 skips it too.
"""
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time

try:
    from tsharklib import Skip
except ImportError:  # an older runner: a skip is then reported as a failure
    class Skip(Exception):
        pass

CAPTURE = '13-errors-bad-sequence.pcap'
FILTER = 'smtp.reply.code >= 500'
SIZE = (1600, 1000)
TOOLS = {'Xvfb': 'xvfb', 'wireshark': 'wireshark', 'xdotool': 'xdotool',
         'import': 'imagemagick',
         'tesseract': 'tesseract-ocr'}
NOBODY = 65534


def missing_tools():
    return sorted({pkg for tool, pkg in TOOLS.items() if not shutil.which(tool)})


def ensure_tools():
    """Installs what is missing when possible; raises Skip with the reason
    when the GUI cannot be run."""
    if os.environ.get('SMTP_GUI') == '0':
        raise Skip('SMTP_GUI=0')
    missing = missing_tools()
    if not missing:
        return
    pkgs = missing + (['tesseract-ocr-eng'] if 'tesseract-ocr' in missing else [])
    how = 'apt-get install -y --no-install-recommends ' + ' '.join(pkgs)
    if not shutil.which('apt-get'):
        raise Skip('no display server: %s missing and no apt-get to install them' % ', '.join(missing))
    sudo = []
    if os.geteuid() != 0:
        if not shutil.which('sudo') or subprocess.run(['sudo', '-n', 'true'],
                                                      stdout=subprocess.DEVNULL,
                                                      stderr=subprocess.DEVNULL).returncode:
            raise Skip('%s missing, and not root (sudo %s)' % (', '.join(missing), how))
        sudo = ['sudo', '-n']
    print('test_gui: installing %s' % ' '.join(pkgs), flush=True)
    env = dict(os.environ, DEBIAN_FRONTEND='noninteractive')
    p = subprocess.run(sudo + ['apt-get', '-o', 'DPkg::Lock::Timeout=300', 'install', '-y', '-q', '--no-install-recommends'] + pkgs,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env)
    if p.returncode:
        subprocess.run(sudo + ['apt-get', '-o', 'DPkg::Lock::Timeout=300', 'update', '-q'], stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, env=env)
        p = subprocess.run(sudo + ['apt-get', '-o', 'DPkg::Lock::Timeout=300', 'install', '-y', '-q', '--no-install-recommends'] + pkgs,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env)
    if p.returncode or missing_tools():
        raise Skip('could not install %s: %s' % (' '.join(pkgs),
                                                 p.stdout.decode('utf-8', 'replace')[-300:]))


class Screen:
    """An Xvfb display and the programs started on it (all ended at close)."""

    def __init__(self, workdir):
        self.workdir = workdir
        self.procs = []
        r, w = os.pipe()
        xvfb = subprocess.Popen(['Xvfb', '-displayfd', str(w), '-screen', '0',
                                 '%dx%dx24' % SIZE, '-nolisten', 'tcp', '-noreset'],
                                pass_fds=(w,), stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        os.close(w)
        self.procs.append(xvfb)
        with os.fdopen(r) as f:
            num = f.readline().strip()
        if not num.isdigit():
            self.close()
            raise AssertionError('Xvfb did not start')
        self.display = ':' + num
        # tesseract's OpenMP threads only slow it down on a busy machine
        self.env = dict(os.environ, DISPLAY=self.display, OMP_THREAD_LIMIT='1')
        self.t0 = time.monotonic()

    def log(self, what):
        if os.environ.get('SMTP_GUI_DEBUG'):
            print('test_gui: %5.1f s %s' % (time.monotonic() - self.t0, what), flush=True)

    def close(self):
        for p in reversed(self.procs):
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(5)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()

    def x(self, *args, timeout=20):
        t = time.monotonic()
        p = subprocess.run(list(args), env=self.env, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=timeout)
        self.log('  %.2f s: %s' % (time.monotonic() - t, ' '.join(args)[:80]))
        return p.stdout.decode('utf-8', 'replace')

    def wait_window(self, pattern, timeout=40):
        """Id of the first visible window whose name matches pattern."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            ids = self.x('xdotool', 'search', '--onlyvisible', '--name', pattern).split()
            if ids:
                return ids[0]
            for p in self.procs[1:]:
                if p.poll() is not None:
                    raise AssertionError('wireshark exited (%s) before showing "%s"'
                                         % (p.returncode, pattern))
            time.sleep(0.3)
        raise AssertionError('no window "%s" after %d s' % (pattern, timeout))

    def shot(self, path, window='root'):
        self.x('import', '-window', window, path)
        assert os.path.getsize(path) > 0, 'no screenshot ' + path
        return path

    def grab(self, box, window='root', scale=1):
        """An uncompressed grab of box=(x, y, w, h) of the screen (or of a
        window), for OCR."""
        self._n = getattr(self, '_n', 0) + 1
        path = os.path.join(self.workdir, 'ocr-%d.ppm' % self._n)
        self.x('import', '-window', window, '-crop', '%dx%d+%d+%d' % (box[2], box[3], box[0], box[1]),
               '+repage', *(['-resize', '%d%%' % (100 * scale)] if scale != 1 else []), path)
        return path

    def words(self, box, window='root'):
        """OCR: [(text, x, y, w, h)] in screen pixels, box=(x, y, w, h)."""
        out = self.x('tesseract', self.grab(box, window), '-', '--psm', '11', 'tsv', timeout=60)
        res = []
        for line in out.splitlines()[1:]:
            f = line.split('\t')
            if len(f) == 12 and f[11].strip():
                x, y, w, h = (int(v) for v in f[6:10])
                res.append((f[11].strip(), box[0] + x, box[1] + y, w, h))
        return res

    def text(self, box, window='root', scale=1):
        return self.x('tesseract', self.grab(box, window, scale), '-', '--psm', '6', timeout=60)

    def click_word(self, word, box, what=None, pattern=None):
        """Clicks the centre of the first OCR word equal to `word` (or
        matching the regular expression `pattern`); returns (x, y, the word
        read)."""
        ws = self.words(box)
        for t, x, y, w, h in ws:
            if t == word or (pattern and re.fullmatch(pattern, t)):
                self.x('xdotool', 'mousemove', str(x + w // 2), str(y + h // 2), 'click', '1')
                return x, y, t
        raise AssertionError('"%s" not found on screen%s; read: %s'
                             % (word, ' (%s)' % what if what else '',
                                ' '.join(t for t, *_ in ws)[:400]))


def tshark_count(ctx, pcap, dfilter=None):
    args = ['-r', ctx.tshark.stage(pcap)] + (['-Y', dfilter] if dfilter else [])
    out, err = ctx.tshark.run(args)
    return len(out.splitlines())


def tshark_replies(ctx, pcap):
    rows, err = ctx.tshark.fields(pcap, ['smtp.reply.code'], display_filter='smtp.reply')
    return sum(len(r[0].split('\x1f')) for r in rows)


def prepare_home(ctx, home):
    """HOME for the Wireshark user: the profile installed by the installer,
    the plugin, the capture; everything readable by that user."""
    env = dict(os.environ, HOME=home)
    env.pop('WIRESHARK_CONFIG_DIR', None)
    env.pop('XDG_CONFIG_HOME', None)
    p = subprocess.run([os.path.join(ctx.scripts, 'install-profile.sh')], env=env,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    assert p.returncode == 0, p.stdout.decode()
    runtime = os.path.join(home, 'runtime')
    os.makedirs(runtime)
    cap = os.path.join(home, CAPTURE)
    shutil.copyfile(os.path.join(ctx.testdata, 'real', CAPTURE), cap)
    for d, dirs, files in os.walk(home):
        os.chmod(d, 0o755)
        for f in files:
            os.chmod(os.path.join(d, f), 0o644)
    if os.geteuid() == 0:
        os.chown(runtime, NOBODY, NOBODY)
        os.chmod(runtime, 0o700)
        # Wireshark writes its recent files into the profile
        for d, dirs, files in os.walk(os.path.join(home, '.config')):
            os.chown(d, NOBODY, NOBODY)
    return cap, runtime


def run_gui(ctx):
    ensure_tools()
    pcap = os.path.join(ctx.testdata, 'real', CAPTURE)
    want_total = tshark_count(ctx, pcap)
    want_shown = tshark_count(ctx, pcap, FILTER)
    want_replies = tshark_replies(ctx, pcap)
    assert want_shown > 0 and want_replies > 0

    outdir = os.environ.get('SMTP_GUI_SCREENSHOTS') or (
        os.path.join(ctx.repo, 'docs') if ctx.update else ctx.tmp)
    os.makedirs(outdir, exist_ok=True)
    work = tempfile.mkdtemp(prefix='gui-', dir=ctx.tmp)
    home = os.path.join(work, 'home')
    os.makedirs(home)
    cap, runtime = prepare_home(ctx, home)
    os.chmod(work, 0o755)

    scr = Screen(work)
    try:
        cmd = ['env', '-i', 'PATH=/usr/bin:/bin', 'HOME=' + home, 'DISPLAY=' + scr.display,
               'XDG_RUNTIME_DIR=' + runtime, 'LANG=C.UTF-8', 'LC_ALL=C.UTF-8',
               'WIRESHARK_PLUGIN_DIR=' + ctx.tshark.plugins,
               'wireshark', '-C', 'SMTP', '-r', cap]
        if os.geteuid() == 0:
            cmd = ['setpriv', '--reuid=%d' % NOBODY, '--regid=%d' % NOBODY, '--clear-groups'] + cmd
        log = open(os.path.join(work, 'wireshark.log'), 'wb')
        scr.procs.append(subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=work))
        main = scr.wait_window(re.escape(CAPTURE))
        scr.log('main window')
        scr.x('xdotool', 'windowmove', main, '0', '0', 'windowsize', main, str(SIZE[0]), str(SIZE[1]))
        statusbar = (SIZE[0] // 2, SIZE[1] - 34, SIZE[0] // 2, 34)

        def status(expect, timeout=20):
            end = time.monotonic() + timeout
            txt = ''
            while time.monotonic() < end:
                txt = scr.text(statusbar)
                scr.log('status bar: %r' % txt.strip())
                if expect.search(txt):
                    return txt
                time.sleep(0.5)
            raise AssertionError('status bar never matched %r; last read: %r'
                                 % (expect.pattern, txt.strip()))

        # the capture loaded, with the profile: every packet displayed
        # (4.0 always shows "Displayed: N"; 4.4 and later only once a filter is applied)
        txt = status(re.compile(r'Packets:\s*%d\b(?!.*Displayed:\s*(?!\s|%d\b))' % (want_total, want_total)))
        assert re.search(r'Profile:\s*SMTP', txt), 'profile not in the status bar: %r' % txt
        # no other window: a profile file Wireshark cannot read opens an error dialog
        names = [n for n in scr.x('xdotool', 'search', '--onlyvisible', '--name', '.',
                                  'getwindowname', '%@').splitlines() if n.strip()]
        assert names == [CAPTURE], 'windows: %r' % names
        scr.shot(os.path.join(outdir, 'gui-profile.png'))

        # the display filter, typed into the filter bar
        scr.x('xdotool', 'key', '--window', main, 'ctrl+slash')
        time.sleep(0.3)
        scr.x('xdotool', 'type', '--delay', '15', FILTER)
        scr.x('xdotool', 'key', 'Return')
        txt = status(re.compile(r'Displayed:\s*%d\b' % want_shown))
        got = re.search(r'Packets:\s*(\d+)\D+Displayed:\s*(\d+)', txt)
        assert got and (int(got.group(1)), int(got.group(2))) == (want_total, want_shown), \
            'status bar %r, tshark: %d packets, %d displayed' % (txt.strip(), want_total, want_shown)
        scr.shot(os.path.join(outdir, 'gui-filter.png'))

        # Statistics > SMTP > Replies and commands, through the menus
        menubar = (0, 0, SIZE[0], 30)
        sx, _, _ = scr.click_word('Statistics', menubar, 'menu bar')
        scr.log('Statistics menu')
        time.sleep(0.5)
        # 4.0 makes "SMTP/Replies and commands" a submenu SMTP; 4.4 and 4.6
        # list it as one item "SMTP/Replies and commands"
        # (tesseract sometimes reads the S of the menu's SMTP as a quote)
        x, y, word = scr.click_word('SMTP', (max(0, sx - 20), 30, 420, SIZE[1] - 30),
                                    'Statistics menu', pattern=r'\W?S?MTP(/\S*)?')
        if '/' not in word:
            time.sleep(0.5)
            scr.click_word('Replies', (x, max(0, y - 60), 600, 200), 'SMTP submenu')
        scr.log('Replies and commands')
        dlg = scr.wait_window('Replies and commands', timeout=20)
        scr.x('xdotool', 'windowmove', dlg, '0', '0', 'windowsize', dlg, '900', '620')
        end = time.monotonic() + 20
        txt = ''
        while time.monotonic() < end:
            time.sleep(0.5)
            # twice the size: read at 1:1, "12" in the Count column can come out as "2"
            txt = scr.text((0, 0, 440, 620), dlg, scale=2)
            scr.log('stats dialog read')
            m = re.search(r'Replies by category and code\s+(\d+)', txt)
            if m and int(m.group(1)) == want_replies:
                break
        else:
            raise AssertionError('stats dialog: no "Replies by category and code %d"; read: %r'
                                 % (want_replies, txt[:600]))
        scr.shot(os.path.join(outdir, 'gui-stats.png'), dlg)
    finally:
        scr.close()


def tests(ctx):
    yield 'wireshark %s: profile, filter count, Statistics > SMTP' % CAPTURE, lambda: run_gui(ctx)
