"""The plugin's field names against the built-in SMTP dissector's and
against README's field reference.

- A plugin field that shares a name with a field of the built-in dissector
  must have its type (a clash breaks the display filter engine:
  `-Y 'smtp.message contains "x"'` fails with a type error).
- What tshark says the plugin registers (`tshark -G fields` with the plugin
  minus the same without it) is what plugin/smtpx_fields.def,
  plugin/smtpx_experts.def and src/smtp_anomalies.def declare.
- README's "## Field reference" names every registered smtp.* field and
  expert info, and nothing else.
"""
import collections
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import smtpfields as sf  # noqa: E402

# The built-in's names the plugin registers on purpose (same type and
# meaning); checked to be shared, so that the clash test is not vacuous.
SHARED = {'smtp.message', 'smtp.auth.username', 'smtp.auth.password', 'smtp.req',
          'smtp.rsp', 'smtp.req.command', 'smtp.req.parameter', 'smtp.response',
          'smtp.response.code', 'smtp.rsp.parameter', 'smtp.command_line'}

_glossary = {}


def glossary(ctx, builtin):
    """[(name, type, parent protocol)] of the smtp.* lines of tshark -G fields."""
    if builtin not in _glossary:
        out, _ = ctx.tshark.run(['-G', 'fields'], builtin=builtin)
        rows = []
        for line in out.splitlines():
            f = line.split('\t')
            if f[0] == 'F' and len(f) >= 5 and f[2].startswith('smtp.'):
                rows.append((f[2], f[3], f[4]))
        assert rows, 'tshark -G fields lists no smtp.* field (builtin=%s)' % builtin
        _glossary[builtin] = rows
    return _glossary[builtin]


def declared():
    """(name, type, protocol) of everything the plugin registers, from the
    tables the C code expands: fields (under smtp) and expert infos (FT_NONE,
    under smtpx).  t_declared_is_registered checks them against tshark."""
    return sorted([(n, t, 'smtp') for n, t in sf.plugin_fields()] +
                  [(n, 'FT_NONE', 'smtpx') for n in sf.expert_fields()])


def builtin_types(ctx):
    out = {}
    for name, ftype, _ in glossary(ctx, True):
        out.setdefault(name, set()).add(ftype)
    return out


def t_no_type_clash(ctx):
    builtin = builtin_types(ctx)
    mine = declared()
    clashes = ['%s: plugin %s, built-in %s' % (n, t, '/'.join(sorted(builtin[n])))
               for n, t, _ in mine if n in builtin and t not in builtin[n]]
    assert not clashes, 'plugin fields clash with the built-in SMTP dissector:\n  ' + \
        '\n  '.join(clashes)
    shared = {n for n, _, _ in mine if n in builtin}
    assert shared == SHARED, 'names shared with the built-in: %r, expected %r' % (
        sorted(shared), sorted(SHARED))


def t_declared_is_registered(ctx):
    """The .def tables are what the plugin registers.  tshark -G fields
    lists a name once, with the type it was first registered with (the
    built-in's): the names only the plugin has must be exactly the declared
    ones the built-in lacks, with the declared types."""
    builtin = builtin_types(ctx)
    extra = sorted(set(glossary(ctx, False)) - set(glossary(ctx, True)))
    want = [d for d in declared() if d[0] not in builtin]
    only_tshark = sorted(set(extra) - set(want))
    only_def = sorted(set(want) - set(extra))
    assert not only_tshark and not only_def, \
        'registered but not declared %r; declared but not registered %r' % (only_tshark, only_def)
    names = [n for n, _, _ in declared()]
    assert len(names) == len(set(names)), 'declared twice: %r' % sorted(
        n for n, c in collections.Counter(names).items() if c > 1)
    assert 'smtp.anomaly.none' not in names, 'smtp.anomaly.none is declared'
    assert 'smtp.anomaly.none' not in {n for n, _, _ in glossary(ctx, False)}, \
        'smtp.anomaly.none is registered'
    assert len(want) >= 90, 'only %d plugin names: parsing the .def files failed?' % len(want)


def t_message_is_string(ctx):
    """smtp.message has the built-in's type and meaning: the message text,
    so a 'contains' filter selects the frames that end a message with that
    text in it, and only those."""
    types = {t for n, t, _ in declared() if n == 'smtp.message'}
    assert types == {'FT_STRING'}, 'smtp.message registered as %r' % types
    pcap = os.path.join(ctx.testdata, 'real', '01-plain-delivery.pcap')
    def frames(flt):
        rows, err = ctx.tshark.fields(pcap, ['frame.number'], display_filter=flt)
        assert err == '', err
        return [r[0] for r in rows]
    ends = frames('smtp.message.length')
    assert len(ends) == 1, 'frames ending a message: %r' % ends
    assert frames('smtp.message contains "Subject:"') == ends
    assert frames('smtp.message contains "no such text in the message"') == []


def readme_names(repo):
    """The smtp.* names README's field reference mentions.  `a.b.c` / `.d`
    stands for a.b.c and a.b.d: the short form replaces as many trailing
    components of the first name as it has."""
    with open(os.path.join(repo, 'README.md'), encoding='utf-8') as f:
        text = f.read()
    m = re.search(r'^## Field reference\n(.*?)^## ', text, re.M | re.S)
    assert m, 'README has no "## Field reference" section'
    names = set()
    for line in m.group(1).splitlines():
        base = None
        for tok in re.findall(r'`(\.?smtp\.[\w.]+|\.[\w.]+)`', line):
            if tok.startswith('smtp.'):
                base = tok
                names.add(tok)
            elif tok.startswith('.') and base is not None and not tok.startswith('.smtp'):
                parts = tok[1:].split('.')
                names.add('.'.join(base.split('.')[:-len(parts)] + parts))
    return names


def t_readme_lists_all(ctx):
    documented = readme_names(ctx.repo)
    registered = {n for n, _, _ in declared()}
    missing = sorted(registered - documented)
    unknown = sorted(documented - registered)
    assert not missing and not unknown, \
        'README field reference: not listed %r; listed but not registered %r' % (missing, unknown)


def t_readme_parser(ctx):
    """The README parser expands the short forms (so the test above can fail)."""
    import tempfile
    with tempfile.TemporaryDirectory() as d:
        with open(os.path.join(d, 'README.md'), 'w') as f:
            f.write('## Field reference\n| `smtp.a.b.c` / `.d` / `.e.f` | x |\n`smtp.z`\n## Next\n`smtp.q`\n')
        got = readme_names(d)
    assert got == {'smtp.a.b.c', 'smtp.a.b.d', 'smtp.a.e.f', 'smtp.z'}, got


ENTRY_POINTS = {'plugin_version', 'plugin_want_major', 'plugin_want_minor',
                'plugin_register', 'plugin_describe'}


def t_exports(ctx):
    """The plugin exports its entry points and nothing else (hf ids, engine
    functions and the like are hidden: -fvisibility=hidden)."""
    import glob
    import shutil
    import subprocess
    if shutil.which('nm') is None:
        raise ctx.Skip('nm (binutils) is not installed')
    libs = glob.glob(os.path.join(ctx.tshark.plugins, '*', 'epan', '*.so'))
    assert len(libs) == 1, libs
    out = subprocess.run(['nm', '-D', '--defined-only', libs[0]], capture_output=True,
                         text=True, check=True).stdout
    names = {line.split()[-1] for line in out.splitlines() if line.strip()}
    assert names == ENTRY_POINTS, 'exported: %r' % sorted(names)


def tests(ctx):
    yield 'only the entry points exported', lambda: t_exports(ctx)
    yield 'no type clash with the built-in', lambda: t_no_type_clash(ctx)
    yield 'smtp.message is FT_STRING', lambda: t_message_is_string(ctx)
    yield '.def tables are what is registered', lambda: t_declared_is_registered(ctx)
    yield 'README lists every field and expert', lambda: t_readme_lists_all(ctx)
    yield 'README parser', lambda: t_readme_parser(ctx)
