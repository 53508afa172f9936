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


def anomaly_names():
    """The expert info names of src/smtp_anomalies.def, without 'smtp.'."""
    with open(os.path.join(REPO, 'src', 'smtp_anomalies.def'), encoding='utf-8') as f:
        return re.findall(r'^SMTP_ANOMALY\(\w+,\s*"([^"]+)"', f.read(), re.M)


def malformed_anomalies():
    """Anomaly names of expert group MALFORMED (they set _ws.malformed)."""
    with open(os.path.join(REPO, 'src', 'smtp_anomalies.def'), encoding='utf-8') as f:
        return re.findall(r'^SMTP_ANOMALY\(\w+,\s*"([^"]+)",\s*MALFORMED\b', f.read(), re.M)


# Expert infos the glue adds besides the engine's anomalies.
GLUE_EXPERTS = ['reply.transient_failure', 'reply.permanent_failure', 'retransmitted.data']


def expert_fields():
    return ['smtp.' + n for n in anomaly_names() + GLUE_EXPERTS]


_registered = {}


def registered(ctx):
    """Names of all fields tshark knows with this plugin (tshark -G fields)."""
    if 'names' not in _registered:
        out, _ = ctx.tshark.run(['-G', 'fields'])
        _registered['names'] = {l.split('\t')[2] for l in out.splitlines()
                                if l.startswith('F\t') and l.count('\t') >= 2}
    return _registered['names']
