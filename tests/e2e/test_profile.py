"""The configuration profile "SMTP" (profile/SMTP) and its installer.

- scripts/install-profile.sh: installs into a fresh HOME, is idempotent,
  keeps a file the user changed (exit 1) and a file it did not write, and
  --uninstall removes only what it wrote.
- with tshark -C SMTP: the columns show exactly the fields they name (the
  category by its name), every colouring rule, filter button and I/O graph
  filter compiles, the colouring (first matching rule) is exactly what the
  rules' own filters select, and each filter button selects exactly the
  frames an independent reading of the replies says it should.
"""
import os
import re
import shutil
import subprocess

PROFILE = 'SMTP'
FILES = ['colorfilters', 'dfilter_buttons', 'io_graphs', 'preferences']
COLUMNS = [('Command', 'smtp.reply.command', 'R'), ('Code', 'smtp.reply.code', 'U'),
           ('Status', 'smtp.reply.status', 'R'), ('Category', 'smtp.reply.category', 'R'),
           ('Response time', 'smtp.reply.time', 'R'),
           ('Outcome', 'smtp.transaction.outcome', 'R')]
CATEGORY = {'2': 'Positive Completion', '3': 'Positive Intermediate',
            '4': 'Transient Negative Completion', '5': 'Permanent Negative Completion'}
BUTTONS = ['Failed replies', 'Refused recipients', 'Deferred mail', 'Slow replies', 'AUTH failures']
RULES = ['SMTP smuggling', 'SMTP unsynchronised bytes', 'SMTP 5yz reply', 'SMTP 4yz reply']
NOBODY = 65534


def src_dir(ctx):
    return os.path.join(ctx.repo, 'profile', PROFILE)


def uat_rows(path):
    """Rows of a UAT file: lists of field strings (\\xNN unescaped)."""
    rows = []
    with open(path, encoding='utf-8') as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith('#'):
                continue
            fields = re.findall(r'"((?:[^"\\]|\\.)*)"', line)
            assert ','.join('"%s"' % x for x in fields) == line, 'bad UAT line: ' + line
            rows.append([re.sub(r'\\x([0-9a-fA-F]{2})', lambda m: chr(int(m.group(1), 16)), x)
                         for x in fields])
    return rows


def colour_rules(ctx):
    rules = []
    with open(os.path.join(src_dir(ctx), 'colorfilters'), encoding='utf-8') as f:
        for line in f:
            if line.startswith('@'):
                m = re.fullmatch(r'@([^@]+)@([^@]+)@\[(\d+),(\d+),(\d+)\]\[(\d+),(\d+),(\d+)\]\n', line)
                assert m, 'bad colouring rule: ' + line
                assert all(0 <= int(v) <= 65535 for v in m.groups()[2:])
                rules.append((m.group(1), m.group(2)))
    return rules


# the captures the colouring rules and buttons are checked on (each rule and
# button selects frames in some of them, and not in others; 08's pipelined
# replies share frames); --full: all
SAMPLE = ['real/02-unknown-user', 'real/05-greylist-4xx', 'real/08-pipelining',
          'real/22-auth-failures', 'edge/bare-lf', 'edge/midsession-data']


def captures(ctx):
    if getattr(ctx, 'full', False):
        return ctx.captures('real') + ctx.captures('edge')
    return [os.path.join(ctx.testdata, c + '.pcap') for c in SAMPLE]


# ------------------------------------------------------------- installer ---
def installer(home, *args):
    env = {k: v for k, v in os.environ.items()
           if k not in ('WIRESHARK_CONFIG_DIR', 'XDG_CONFIG_HOME')}
    env['HOME'] = home
    p = subprocess.run([INSTALLER] + list(args), env=env, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT)
    return p.returncode, p.stdout.decode()


INSTALLER = None


def check_installer(ctx):
    home = os.path.join(ctx.tmp, 'home')
    dest = os.path.join(home, '.config', 'wireshark', 'profiles', PROFILE)
    rc, out = installer(home)
    assert rc == 0, out
    assert out.splitlines() == ['installed: %s/%s' % (dest, f) for f in
                                ['preferences', 'colorfilters', 'dfilter_buttons', 'io_graphs']] + [
        'Profile "SMTP" installed in %s: choose it in Wireshark (Edit > Configuration Profiles) '
        'or run wireshark -C SMTP' % dest], out
    for f in FILES:
        with open(os.path.join(dest, f), 'rb') as a, open(os.path.join(src_dir(ctx), f), 'rb') as b:
            assert a.read() == b.read(), f
    assert sorted(os.listdir(dest)) == sorted(FILES + ['.smtp-profile-installed'])
    # again: nothing to do
    rc, out = installer(home)
    assert rc == 0 and [l for l in out.splitlines() if l.startswith('up to date: ')] == \
        ['up to date: %s/%s' % (dest, f) for f in
         ['preferences', 'colorfilters', 'dfilter_buttons', 'io_graphs']], out
    # a file the user changed and a file Wireshark wrote are kept as they are
    with open(os.path.join(dest, 'preferences'), 'a') as f:
        f.write('gui.max_export_objects: 1\n')
    with open(os.path.join(dest, 'recent'), 'w') as f:
        f.write('# written by Wireshark\n')
    before = {f: open(os.path.join(dest, f), 'rb').read() for f in os.listdir(dest)}
    rc, out = installer(home)
    assert rc == 1 and 'KEPT %s/preferences' % dest in out, out
    after = {f: open(os.path.join(dest, f), 'rb').read() for f in os.listdir(dest)}
    assert before['preferences'] == after['preferences'] and before['recent'] == after['recent']
    # beside it under another name
    rc, out = installer(home, '--name', 'SMTP-new')
    assert rc == 0, out
    assert sorted(os.listdir(os.path.join(home, '.config', 'wireshark', 'profiles'))) == ['SMTP', 'SMTP-new']
    # uninstall: only what it wrote and nobody changed
    rc, out = installer(home, '--uninstall')
    assert rc == 1, out
    assert sorted(os.listdir(dest)) == ['preferences', 'recent'], os.listdir(dest)
    assert open(os.path.join(dest, 'preferences'), 'rb').read() == before['preferences']
    rc, out = installer(home, '--uninstall', '--name', 'SMTP-new')
    assert rc == 0 and not os.path.exists(os.path.join(home, '.config', 'wireshark', 'profiles', 'SMTP-new')), out


# ---------------------------------------------------------------- tshark ---
class ProfileTshark:
    """tshark with the plugin and the profile in a HOME of its own."""

    def __init__(self, ctx):
        self.ctx = ctx
        self.home = os.path.join(ctx.tmp, 'tshark-home')
        dest = os.path.join(self.home, '.config', 'wireshark', 'profiles', PROFILE)
        shutil.copytree(src_dir(ctx), dest)
        for d, _, fs in os.walk(self.home):
            os.chmod(d, 0o755)
            for f in fs:
                os.chmod(os.path.join(d, f), 0o644)

    def run(self, args):
        cmd = self.ctx.tshark.command(['-C', PROFILE] + args)
        cmd = ['HOME=' + self.home if c.startswith('HOME=') else c for c in cmd]
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=self.home)
        out, err = p.stdout.decode('utf-8', 'replace'), p.stderr.decode('utf-8', 'replace')
        assert p.returncode == 0 and err == '', 'tshark %s: %d %s' % (args, p.returncode, err)
        return out

    def frames(self, pcap, dfilter):
        out = self.run(['-r', self.ctx.tshark.stage(pcap), '-Y', dfilter,
                        '-T', 'fields', '-e', 'frame.number'])
        return [int(x) for x in out.split()]


def check_columns(ctx):
    with open(os.path.join(src_dir(ctx), 'preferences')) as f:
        text = f.read()
    fmt = re.search(r'^gui\.column\.format:\s*\n((?:\t.*\n)+)', text, re.M)
    assert fmt, 'no gui.column.format'
    pairs = re.findall(r'"([^"]*)",\s*"([^"]*)"', fmt.group(1))
    custom = [(t, f.split(':')[1], f.split(':')[3]) for t, f in pairs if f.startswith('%Cus:')]
    assert custom == COLUMNS, custom
    assert [p[0] for p in pairs] == ['No.', 'Time', 'Source', 'Destination', 'Protocol'] + \
        [c[0] for c in COLUMNS] + ['Info']

    ts = ProfileTshark(ctx)
    fields = [c[1] for c in COLUMNS]
    for name in ['13-errors-bad-sequence', '22-auth-failures', '05-greylist-4xx', '17-rset']:
        pcap = os.path.join(ctx.testdata, 'real', name + '.pcap')
        staged = ctx.tshark.stage(pcap)
        cols = ts.run(['-r', staged, '-Y', 'smtp.reply || smtp.transaction.outcome', '-T', 'tabs'])
        want, err = ctx.tshark.fields(pcap, ['frame.number'] + fields,
                                      display_filter='smtp.reply || smtp.transaction.outcome',
                                      extra=['-E', 'occurrence=f'])
        assert err == ''
        got = [l.split('\t') for l in cols.splitlines()]
        assert len(got) == len(want) > 0, name
        for g, w in zip(got, want):
            # No. Time Source (→) Destination Protocol, the custom columns, Info
            assert g[0].strip() == w[0], (g, w)
            first = 6 if g[3] == '→' else 5
            vals = g[first:first + len(COLUMNS)]
            w = w[1:]
            w[3] = CATEGORY.get(w[3], w[3])
            assert [v.strip() for v in vals] == w, '%s frame %s: columns %r, fields %r' % (name, g[0], vals, w)


def check_filters_compile(ctx):
    """Every filter of the profile compiles (tshark exits 0 with no error)."""
    ts = ProfileTshark(ctx)
    pcap = os.path.join(ctx.testdata, 'real', '01-plain-delivery.pcap')
    filters = [r[1] for r in colour_rules(ctx)]
    buttons = uat_rows(os.path.join(src_dir(ctx), 'dfilter_buttons'))
    assert [b[1] for b in buttons] == BUTTONS, buttons
    assert all(len(b) == 4 and b[0] == 'TRUE' for b in buttons)
    filters += [b[2] for b in buttons]
    graphs = uat_rows(os.path.join(src_dir(ctx), 'io_graphs'))
    assert [(g[1], g[2]) for g in graphs] == [('%dyz replies' % c, 'smtp.reply.category == %d' % c)
                                             for c in (2, 3, 4, 5)], graphs
    # Enabled, name, filter, colour, style, Y axis, Y field, SMA, Y axis factor
    # (4.0's nine fields; later releases add defaults for newer ones)
    assert all(len(g) == 9 and re.fullmatch(r'#[0-9a-f]{6}', g[3]) and g[4] == 'Stacked Bar'
               and g[5] == 'Packets' for g in graphs), graphs
    filters += [g[2] for g in graphs]
    staged = ctx.tshark.stage(pcap)
    for f in filters:
        ts.run(['-r', staged, '-Y', f, '-c', '1'])


def check_colouring(ctx):
    ts = ProfileTshark(ctx)
    rules = colour_rules(ctx)
    assert [r[0] for r in rules[:4]] == RULES, rules
    used = set()
    for pcap in captures(ctx):
        staged = ctx.tshark.stage(pcap)
        out = ts.run(['-r', staged, '--color', '-T', 'fields', '-e', 'frame.number',
                      '-e', 'frame.coloring_rule.name'])
        got = {}
        for line in out.splitlines():
            n, _, rule = line.partition('\t')
            # tshark --color may wrap fields output in escape sequences
            got[int(re.sub(r'\x1b\[[0-9;]*m', '', n))] = re.sub(r'\x1b\[[0-9;]*m', '', rule)
        want = {n: '' for n in got}
        for name, f in reversed(rules):
            for n in ts.frames(pcap, f):
                want[n] = name
        assert got == want, '%s: %r' % (os.path.basename(pcap),
                                        {n: (got[n], want[n]) for n in got if got[n] != want[n]})
        used |= set(got.values())
    missing = [r for r in RULES if r not in used]
    assert not missing, 'rules that colour no frame of testdata: %r' % missing


def check_buttons(ctx):
    """Each button selects exactly the frames the replies say it should."""
    ts = ProfileTshark(ctx)
    buttons = {b[1]: b[2] for b in uat_rows(os.path.join(src_dir(ctx), 'dfilter_buttons'))}
    seen = {b: 0 for b in BUTTONS}
    for pcap in captures(ctx):
        rows, err = ctx.tshark.fields(pcap, ['frame.number', 'smtp.reply.category',
                                             'smtp.reply.command', 'smtp.reply.time',
                                             'smtp.transaction.outcome'])
        want = {b: [] for b in BUTTONS}
        for r in rows:
            n = int(r[0])
            cats = [c for c in r[1].split('\x1f') if c]
            cmds = r[2].split('\x1f') if r[2] else []
            times = [float(t) for t in r[3].split('\x1f') if t]
            # a display filter tests each condition on any reply of the
            # frame (pipelined replies share a frame): so does the oracle
            failed = any(c >= '4' for c in cats)
            if failed:
                want['Failed replies'].append(n)
            if failed and 'RCPT' in cmds:
                want['Refused recipients'].append(n)
            if ('4' in cats and set(cmds) & {'MAIL', 'RCPT', 'DATA', 'BDAT', '<end-of-data>'}) \
                    or 'deferred' in r[4]:
                want['Deferred mail'].append(n)
            if any(t >= 1 for t in times):
                want['Slow replies'].append(n)
            if failed and set(cmds) & {'AUTH', '<auth-response>'}:
                want['AUTH failures'].append(n)
        for b in BUTTONS:
            got = ts.frames(pcap, buttons[b])
            assert got == want[b], '%s, button "%s": frames %r, expected %r' % (
                os.path.basename(pcap), b, got, want[b])
            seen[b] += len(got)
    assert all(seen.values()), 'buttons that select nothing in testdata: %r' % seen


def tests(ctx):
    global INSTALLER
    INSTALLER = os.path.join(ctx.scripts, 'install-profile.sh')
    if not getattr(ctx, 'full', False) and hasattr(ctx, 'defer'):
        ctx.defer('colouring rules and filter buttons on every capture of testdata '
                  '(%d of them by default)' % len(SAMPLE))
    yield 'installer', lambda: check_installer(ctx)
    yield 'columns', lambda: check_columns(ctx)
    yield 'filters compile', lambda: check_filters_compile(ctx)
    yield 'colouring rules', lambda: check_colouring(ctx)
    yield 'filter buttons', lambda: check_buttons(ctx)
