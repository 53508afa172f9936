"""README's field table is the one tests/tools/gen-field-table.py makes from
`tshark -G fields` with the plugin: it fails, with the diff, when a field is
added, removed, renamed, retyped or its blurb changes without README
following (tests/tools/gen-field-table.py BUILD --write brings README up to
date)."""
import os

import toolpath


def load_generator(ctx):
    return toolpath.load('gen-field-table.py')


def check(ctx):
    gen = load_generator(ctx)
    d = gen.diff(os.path.join(ctx.repo, 'README.md'), ctx.tshark)
    assert not d, ('README.md\'s field table differs from the registered fields '
                   '(tests/tools/gen-field-table.py BUILD --write):\n' + d)


def check_generator(ctx):
    """The generator on a README of its own: what --write puts in is what the
    check then finds, and a changed row is a difference."""
    gen = load_generator(ctx)
    table = gen.table(ctx.tshark)
    assert table[:2] == gen.HEADER and len(table) > 40, table[:5]
    rows = {l.split(' | ')[0][3:-1]: l for l in table[2:]}
    for name, ftype in [('smtp.reply.code', 'uint'), ('smtp.reply.status', 'string'),
                        ('smtp.reply.time', 'time'), ('smtp.command.response_in', 'frame')]:
        assert name in rows and rows[name].split(' | ')[1] == ftype, (name, rows.get(name))
    readme = os.path.join(ctx.tmp, 'README.md')
    with open(readme, 'w') as f:
        f.write('# x\n\n## Field reference\n\ntext\n\n' + '\n'.join(table) + '\n\n## Next\n')
    assert gen.diff(readme, ctx.tshark, table) == ''
    with open(readme, 'w') as f:
        f.write('# x\n\n## Field reference\n\n' + '\n'.join(table[:-1]) + '\n\n## Next\n')
    assert gen.diff(readme, ctx.tshark, table).count('\n+|') == 1


def tests(ctx):
    yield 'README field table = tshark -G fields', lambda: check(ctx)
    yield 'generator', lambda: check_generator(ctx)
