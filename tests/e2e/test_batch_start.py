"""scripts/smtp-batch.py's start-up: the lean data folder.

tshark 4.0 reads its name tables (manuf, services, enterprises.tsv) at
every start, about a third of the CPU time of a run over a small capture;
the batch tool runs tshark with -n and points it at a data folder of its
own in which these three are empty (LeanDataDir).  These tests show that
this changes no output.

  start::identical   every capture of testdata (real, edge, regress) and,
                     with --full, of the shared corpus, with the key log
                     of 09, in one run
                     with the lean folder and one with --standard-data-dir:
                     every output file, the exit status and the messages
                     are the same byte for byte.  A wrapper named tshark
                     records what each per-file run got: the lean folder
                     (empty manuf) in the first run, tshark's own in the
                     second; on releases without name-table files (4.2
                     and later build them in) no lean folder at all.  The
                     lean folder is gone after the run.
  start::prefix      WIRESHARK_DATA_DIR goes just before the program (after
                     setpriv and env -i), not at all when the command does
                     not end with tshark; the folder of tshark -G folders.
"""
import importlib.util
import os

from test_batch import Batch, corpus_captures

START_FIRST = True    # a long test: run_e2e.py starts it first
TOOL = 'smtp-batch.py'
OUTPUTS = ('replies.csv', 'replies.jsonl', 'transactions.csv', 'transactions.jsonl',
           'summary.json', 'summary.txt')

WRAPPER = '''#!/bin/sh
# records, for every run over a capture, the data folder it was given
case " $* " in
*" -r "*)
    if [ -n "$WIRESHARK_DATA_DIR" ]; then
        printf '%s %s\\n' "$WIRESHARK_DATA_DIR" "$(wc -c < "$WIRESHARK_DATA_DIR/manuf")" >> {log}
    else
        echo none >> {log}
    fi ;;
esac
exec tshark "$@"
'''


def tool(ctx):
    spec = importlib.util.spec_from_file_location('smtp_batch', os.path.join(ctx.scripts, TOOL))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def inputs(ctx, b):
    """Every test capture, copied into the batch folder; their count."""
    n = 0
    for sub in ('real', 'edge', 'regress'):
        for f in ctx.captures(sub):
            b.put(os.path.join(sub, os.path.basename(f)), src=f)
            n += 1
    if ctx.corpus and ctx.full:
        for rel in corpus_captures(ctx.corpus):
            b.put(os.path.join('corpus', rel), src=os.path.join(ctx.corpus, rel))
            n += 1
    for d, dirs, _ in os.walk(os.path.join(b.dir, 'in')):
        for x in dirs:
            os.chmod(os.path.join(d, x), 0o755)
    return n


def wrapper(b, name):
    """A program named tshark that logs its data folder to NAME.log."""
    bindir = os.path.join(b.dir, name + '-bin')
    os.makedirs(bindir)
    os.chmod(bindir, 0o755)
    log = os.path.join(b.dir, name + '.log')
    open(log, 'w').close()
    os.chmod(log, 0o666)                 # written by the tshark user
    prog = os.path.join(bindir, 'tshark')
    with open(prog, 'w') as f:
        f.write(WRAPPER.replace('{log}', log))
    os.chmod(prog, 0o755)
    return prog, log


def global_data_dir(ctx, mod):
    out, _ = ctx.tshark.run(['-G', 'folders'])
    return mod.global_data_dir(out)


def check_identical(ctx):
    mod = tool(ctx)
    b = Batch(ctx)
    n = inputs(ctx, b)
    keys = b.put('09-starttls.keys', src=os.path.join(ctx.testdata, 'real', '09-starttls.keys'))
    runs = {}
    for name, extra in (('lean', []), ('standard', ['--standard-data-dir'])):
        prog, log = wrapper(b, name)
        prefix = ctx.tshark.command([])
        assert prefix[-1] == 'tshark', prefix
        prefix[-1] = prog
        tmp = os.path.join(b.dir, name + '-tmp')
        os.makedirs(tmp)
        env = dict(os.environ, TMPDIR=tmp)
        r = b.run(extra + ['--pref', 'tls.keylog_file:' + os.path.join(b.dir, keys), 'in'],
                  outdir='out-' + name, prefix=prefix, env=env)
        with open(log) as f:
            runs[name] = (r, f.read().splitlines(), os.listdir(tmp))
    lean, standard = runs['lean'][0], runs['standard'][0]
    assert lean.rc == standard.rc == 0, (lean.rc, standard.rc, lean.err, standard.err)
    assert lean.err == standard.err, 'messages differ:\n%s\n---\n%s' % (lean.err, standard.err)
    for name in OUTPUTS:
        a, s = lean.text(name), standard.text(name)
        if a != s:
            al, sl = a.splitlines(), s.splitlines()
            first = next((i for i, (x, y) in enumerate(zip(al, sl)) if x != y), min(len(al), len(sl)))
            raise AssertionError('%s differs at line %d:\n  lean:     %r\n  standard: %r' % (
                name, first + 1, al[first] if first < len(al) else None,
                sl[first] if first < len(sl) else None))
    s = lean.summary()
    # testdata alone has about 320 replies, with the corpus (--full) over 1,000
    assert s['files']['found'] == n and s['replies'] > (1000 if ctx.corpus and ctx.full else 250), \
        (s['files'], s['replies'], n)
    # what the per-file runs got
    lean_log, standard_log = runs['lean'][1], runs['standard'][1]
    assert standard_log and standard_log == ['none'] * len(standard_log), standard_log[:3]
    src = global_data_dir(ctx, mod)
    has_tables = src and any(os.path.exists(os.path.join(src, t)) for t in mod.NAME_TABLES)
    if has_tables:
        folders = {line.rsplit(' ', 1)[0] for line in lean_log}
        assert len(folders) == 1 and len(lean_log) == len(standard_log), (folders, len(lean_log))
        assert all(line.endswith(' 0') and 'smtp-batch-data-' in line for line in lean_log), lean_log[:3]
    else:
        assert lean_log == standard_log, lean_log[:3]
    assert runs['lean'][2] == [], 'left in TMPDIR: %r' % runs['lean'][2]


def check_prefix(ctx):
    mod = tool(ctx)
    src = os.path.join(ctx.tmp, 'data')
    os.makedirs(os.path.join(src, 'dtds'))
    for n in ('manuf', 'services', 'colorfilters'):
        with open(os.path.join(src, n), 'w') as f:
            f.write('x\n')
    lean = mod.LeanDataDir(src)
    try:
        d = lean.dir
        assert sorted(os.listdir(d)) == ['colorfilters', 'dtds', 'manuf', 'services'], os.listdir(d)
        assert os.path.getsize(os.path.join(d, 'manuf')) == 0
        assert os.path.getsize(os.path.join(d, 'services')) == 0
        assert os.path.islink(os.path.join(d, 'dtds')) and os.path.islink(os.path.join(d, 'colorfilters'))
        assert os.stat(d).st_mode & 0o777 == 0o755
        env = 'WIRESHARK_DATA_DIR=' + d
        assert lean.prefix(['tshark']) == ['env', env, 'tshark']
        cmd = ['setpriv', '--reuid=65534', 'env', '-i', 'PATH=/bin', '/usr/bin/tshark']
        assert lean.prefix(cmd) == cmd[:-1] + ['env', env, '/usr/bin/tshark']
        assert lean.prefix(['ssh', 'host', 'wrapper']) == ['ssh', 'host', 'wrapper']
    finally:
        lean.cleanup()
    assert not os.path.exists(d)
    # no name tables (4.2 and later): nothing to do
    os.remove(os.path.join(src, 'manuf'))
    os.remove(os.path.join(src, 'services'))
    assert mod.LeanDataDir(src).dir is None
    text = ('Temp:                \t/tmp\nPersonal configuration:\t/h/.config/wireshark\n'
            'Global configuration:\t/usr/share/wireshark\nSystem:              \t/etc\n')
    assert mod.global_data_dir(text) == '/usr/share/wireshark'
    assert mod.global_data_dir('Temp:\t/tmp\n') is None


def tests(ctx):
    if ctx.corpus and not ctx.full:
        ctx.defer('start::identical on the shared corpus too (testdata only by default)')
    yield 'start::identical', lambda: check_identical(ctx)
    yield 'start::prefix', lambda: check_prefix(ctx)
