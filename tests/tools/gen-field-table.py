#!/usr/bin/env python3
"""README's field table, from the fields the plugin registers.

    tests/tools/gen-field-table.py BUILD              print the table
    tests/tools/gen-field-table.py BUILD --write      rewrite the table in README.md
    tests/tools/gen-field-table.py BUILD --check      exit 1 (with a diff) when README.md's differs

BUILD is a build folder with the plugin (BUILD/plugins/X.Y/epan). tshark is
run with the plugin and without it (`-G fields`); the plugin's fields are
those only the first run lists, under the protocol `smtp` (the plugin's
expert infos, under `smtpx`, are in README's expert table), each with its
type and blurb, in registration order. Names the built-in SMTP dissector
registers too (`tshark -G fields` then shows only the built-in's entry)
follow, with type and blurb from the plugin's own registration in plugin/
when it has a blurb there (the hidden compatibility names have none and
stay out of the table).

The table is the first Markdown table after the heading "## Field
reference" in README.md (or --readme FILE); nothing else is touched.
"""
import argparse
import difflib
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(REPO, 'tests', 'e2e'))

HEADING = '## Field reference'
HEADER = ['| field | type | what |', '|---|---|---|']
TYPES = {'FT_STRING': 'string', 'FT_STRINGZ': 'string', 'FT_UINT8': 'uint', 'FT_UINT16': 'uint',
         'FT_UINT24': 'uint', 'FT_UINT32': 'uint', 'FT_UINT64': 'uint64', 'FT_INT32': 'int',
         'FT_INT64': 'int64', 'FT_BOOLEAN': 'bool', 'FT_FRAMENUM': 'frame', 'FT_NONE': 'none',
         'FT_RELATIVE_TIME': 'time', 'FT_ABSOLUTE_TIME': 'absolute time', 'FT_BYTES': 'bytes',
         'FT_PROTOCOL': 'protocol', 'FT_DOUBLE': 'double'}


def registered(tshark, builtin):
    out, _ = tshark.run(['-G', 'fields'], builtin=builtin)
    rows = []
    for line in out.splitlines():
        f = line.split('\t')
        if len(f) >= 8 and f[0] == 'F':
            rows.append({'name': f[1], 'abbrev': f[2], 'type': f[3], 'parent': f[4], 'blurb': f[7]})
    return rows


C_STRING = r'"(?:[^"\\]|\\.)*"'


def source_field(abbrev, plugin_dir):
    """(FT_type, blurb or None) of the plugin's own registration of abbrev,
    from its source: the shape "abbrev", FT_x, BASE_x, strings, blurb
    (hf_register_info entries and their macros), or None."""
    pat = re.compile(r'"%s"\s*,\s*(FT_\w+)\s*,\s*\w+\s*,\s*[^,]+?\s*,\s*(NULL|(?:%s\s*)+)'
                     % (re.escape(abbrev), C_STRING), re.S)
    # X-macro lists (.def) first: a .c may still hold an older copy
    names = sorted(os.listdir(plugin_dir), key=lambda n: (not n.endswith('.def'), n))
    for name in names:
        if not name.endswith(('.c', '.def', '.h')):
            continue
        with open(os.path.join(plugin_dir, name), encoding='utf-8') as f:
            m = pat.search(f.read())
        if m:
            blurb = None
            if m.group(2) != 'NULL':
                blurb = ''.join(bytes(x[1:-1], 'utf-8').decode('unicode_escape')
                                for x in re.findall(C_STRING, m.group(2)))
            return m.group(1), blurb
    return None


def table(tshark, plugin_dir=os.path.join(REPO, 'plugin')):
    mine = registered(tshark, False)
    builtin = registered(tshark, True)
    known = {r['abbrev'] for r in builtin}
    rows = [(r['abbrev'], r['type'], r['blurb']) for r in mine
            if r['parent'] == 'smtp' and r['abbrev'] not in known]
    # names the plugin shares with the built-in, documented in its source
    for abbrev in [r['abbrev'] for r in builtin if r['parent'] == 'smtp']:
        src = source_field(abbrev, plugin_dir)
        if src and src[1]:
            rows.append((abbrev, src[0], src[1]))
    lines = list(HEADER)
    for abbrev, ftype, blurb in rows:
        lines.append('| `%s` | %s | %s |' % (abbrev, TYPES.get(ftype, ftype.lower()),
                                            (blurb or '').replace('|', '\\|')))
    return lines


def split_readme(text):
    """(before, table lines, after) of README's field table."""
    lines = text.split('\n')
    try:
        h = lines.index(HEADING)
    except ValueError:
        raise SystemExit('no "%s" heading in README' % HEADING)
    i = h + 1
    while i < len(lines) and not lines[i].startswith('|'):
        if lines[i].startswith('## '):
            raise SystemExit('no table under "%s"' % HEADING)
        i += 1
    j = i
    while j < len(lines) and lines[j].startswith('|'):
        j += 1
    if i == len(lines):
        raise SystemExit('no table under "%s"' % HEADING)
    return lines[:i], lines[i:j], lines[j:]


def diff(readme_path, tshark, want=None):
    """Unified diff from README's table to the generated one, or to want
    when given ('' if equal)."""
    with open(readme_path, encoding='utf-8') as f:
        _, current, _ = split_readme(f.read())
    if want is None:
        want = table(tshark)
    return '\n'.join(difflib.unified_diff(current, want, 'README.md (field table)',
                                         'tshark -G fields', lineterm=''))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('build')
    ap.add_argument('--readme', default=os.path.join(REPO, 'README.md'))
    g = ap.add_mutually_exclusive_group()
    g.add_argument('--write', action='store_true')
    g.add_argument('--check', action='store_true')
    a = ap.parse_args()
    from tsharklib import Tshark
    tshark = Tshark(a.build)
    try:
        if a.check:
            d = diff(a.readme, tshark)
            if d:
                print(d)
                print('README.md\'s field table differs from the registered fields: '
                      'tests/tools/gen-field-table.py BUILD --write', file=sys.stderr)
                return 1
            return 0
        lines = table(tshark)
        if a.write:
            with open(a.readme, encoding='utf-8') as f:
                before, _, after = split_readme(f.read())
            tmp = a.readme + '.tmp'
            with open(tmp, 'w', encoding='utf-8') as f:
                f.write('\n'.join(before + lines + after))
            os.replace(tmp, a.readme)
            print('%s: field table rewritten (%d fields)' % (a.readme, len(lines) - 2))
        else:
            print('\n'.join(lines))
        return 0
    finally:
        tshark.cleanup()


if __name__ == '__main__':
    sys.exit(main())
