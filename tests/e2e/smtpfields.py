"""Field values from tshark -T json -e FIELD ..., for the tests in
test_segmentation.py, test_passes.py and test_badinput.py.

JSON output, unlike -T fields, keeps values that contain newlines or tabs
(random bytes dissected as commands) and empty values intact."""
import json
import os
import re

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))


def frames(ctx, pcap, fields, extra=(), display_filter=None, two_pass=False):
    """One dict per frame printed: field -> list of values (absent fields
    are absent).  Fails if tshark writes to stderr."""
    args = ['-r', ctx.tshark.stage(pcap), '-T', 'json']
    if two_pass:
        args.append('-2')
    for f in fields:
        args += ['-e', f]
    if display_filter:
        args += ['-Y', display_filter]
    args += list(extra)
    out, err = ctx.tshark.run(args)
    assert err == '', 'tshark %s wrote to stderr: %s' % (' '.join(args), err)
    if out.strip() == '':
        return []
    return [p['_source']['layers'] for p in json.loads(out)]


def tls_args(ctx, pcap):
    """-o tls.keylog_file for a capture that has a NAME.keys beside it."""
    keys = os.path.splitext(pcap)[0] + '.keys'
    return ['-o', 'tls.keylog_file:' + ctx.tshark.stage(keys)] if os.path.exists(keys) else []


def _def_names(path, pattern):
    with open(os.path.join(REPO, path), encoding='utf-8') as f:
        return re.findall(pattern, f.read(), re.M)


def anomaly_names():
    """The expert info names of src/smtp_anomalies.def, without 'smtp.'."""
    return _def_names('src/smtp_anomalies.def', r'^SMTP_ANOMALY\(\w+,\s*"([^"]+)"')


def malformed_anomalies():
    """Anomaly names of expert group MALFORMED (they set _ws.malformed)."""
    return _def_names('src/smtp_anomalies.def', r'^SMTP_ANOMALY\(\w+,\s*"([^"]+)",\s*MALFORMED\b')


def glue_experts():
    """The plugin's own expert infos (plugin/smtpx_experts.def), full names."""
    return _def_names('plugin/smtpx_experts.def', r'^EI\(\w+,\s*"([^"]+)"')


def expert_fields():
    """Every expert info the plugin registers: the engine's anomalies and
    the glue's own."""
    return ['smtp.' + n for n in anomaly_names()] + glue_experts()


def plugin_fields():
    """(name, type) of every header field of plugin/smtpx_fields.def."""
    return _def_names('plugin/smtpx_fields.def',
                      r'^HF\(\w+,\s*"(?:[^"\\]|\\.)*",\s*"([^"]+)",\s*(FT_\w+)')


_registered = {}


def registered(ctx):
    """Names of all fields tshark knows with this plugin (tshark -G fields)."""
    if 'names' not in _registered:
        out, _ = ctx.tshark.run(['-G', 'fields'])
        _registered['names'] = {l.split('\t')[2] for l in out.splitlines()
                                if l.startswith('F\t') and l.count('\t') >= 2}
    return _registered['names']
