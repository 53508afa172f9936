#!/usr/bin/env python3
"""smtp-batch: runs tshark with the SMTP-Analysis plugin over many captures
and tells which replies failed, for which commands, and how slow each server
was.

Usage:
  smtp-batch.py [-j N] [-o OUTDIR] [--plugin-dir DIR] [--tshark-cmd JSON]
                [--sshloginfile FILE [--transfer]] [--no-chart] [-q]
                [--decode-as SPEC] [--pref NAME:VALUE] [--any-format] PATH...

PATH: capture files, folders (searched recursively for *.pcap, *.pcapng,
*.cap, each optionally .gz/.zst/.lz4) and globs.  Files named explicitly
are read whatever their name.

Writes to OUTDIR (default smtp-batch-out):
  replies.csv / replies.jsonl     one row per reply
  transactions.csv / .jsonl       when the plugin has smtp.transaction fields
  summary.txt / summary.json      replies by category and code, failures by
                                  command, failure rate and reply times per
                                  server, the 20 slowest replies, files that
                                  could not be read (or only in part)
  chart.png                       (gnuplot) reply categories over time and the
                                  response-time distribution

Each file is one tshark run (a local process pool of -j N, default all
cores; or GNU parallel over the hosts of --sshloginfile).  tshark writes
-T json restricted to frame/ip/ipv6/tcp/smtp, because the per-reply
fields do not line up in -T fields output: one frame can hold several
replies and status, command and time are optional per reply (a 354 has no
enhanced status), while a reply can have several lines.  The JSON keeps
each reply's subtree, so every value stays with its reply.

Exit status: 0 when at least one file was read (even in part), 2 when no
file could be read or on a usage error.  Standard library only.
"""
import argparse
import array
import bisect
import concurrent.futures
import csv
import datetime
import glob
import gzip
import heapq
import json
import math
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

PROG = 'smtp-batch'
CAPTURE_EXTS = ('.pcap', '.pcapng', '.cap')
COMPRESS_EXTS = ('', '.gz', '.zst', '.lz4')
PCAP_MAGICS = {b'\xa1\xb2\xc3\xd4', b'\xd4\xc3\xb2\xa1', b'\xa1\xb2\x3c\x4d',
               b'\x4d\x3c\xb2\xa1', b'\xa1\xb2\xcd\x34', b'\x34\xcd\xb2\xa1',
               b'\x0a\x0d\x0d\x0a'}
ZSTD_MAGIC = b'\x28\xb5\x2f\xfd'
LZ4_MAGIC = b'\x04\x22\x4d\x18'
REPLY_COLUMNS = ['file', 'stream', 'frame', 'time', 'client', 'server', 'command',
                 'code', 'category', 'status', 'text', 'response_time']
TX_COLUMNS = ['file', 'stream', 'frame', 'time', 'client', 'server', 'outcome',
              'sender', 'recipients']
CATEGORY_NAMES = {2: 'Positive Completion', 3: 'Positive Intermediate',
                  4: 'Transient Negative Completion', 5: 'Permanent Negative Completion'}
LAYERS = 'frame ip ipv6 tcp smtp'
SLOWEST = 20


def msg(text):
    Progress.clear_line()
    sys.stderr.write('%s: %s\n' % (PROG, text))
    sys.stderr.flush()


# ---------------------------------------------------------------------------
# Finding the captures

def is_capture_name(name):
    n = name.lower()
    return any(n.endswith(e + c) for e in CAPTURE_EXTS for c in COMPRESS_EXTS)


def walk_folder(folder):
    out = []
    for d, dirs, files in os.walk(folder):
        dirs.sort()
        for f in sorted(files):
            if is_capture_name(f):
                out.append(os.path.join(d, f))
    return out


def find_inputs(paths):
    """(files as [display path], problems as [(path, reason)])."""
    files, problems, seen = [], [], set()

    def add(p):
        key = os.path.realpath(p)
        if key not in seen:
            seen.add(key)
            files.append(os.path.normpath(p))

    for p in paths:
        if os.path.isdir(p):
            found = walk_folder(p)
            if not found:
                problems.append((p, 'no capture files in this folder (looked for *.pcap, *.pcapng, '
                                    '*.cap, also .gz/.zst/.lz4)'))
            for f in found:
                add(f)
        elif os.path.exists(p):
            add(p)
        elif glob.has_magic(p):
            matches = sorted(glob.glob(p, recursive=True))
            n = 0
            for m in matches:
                if os.path.isdir(m):
                    for f in walk_folder(m):
                        add(f)
                        n += 1
                elif os.path.isfile(m):
                    add(m)
                    n += 1
            if not n:
                problems.append((p, 'no capture file matches this pattern'))
        else:
            problems.append((p, 'no such file or directory'))
    return files, problems


def sniff(path):
    """None when the file starts like a pcap/pcapng capture (after gzip, zstd
    or lz4 decompression), else the reason it is not read."""
    try:
        with open(path, 'rb') as f:
            head = f.read(4)
    except OSError as e:
        return 'cannot open: %s' % (e.strerror or e)
    if head == b'':
        return 'empty file'
    try:
        if head[:2] == b'\x1f\x8b':
            with gzip.open(path, 'rb') as g:
                head = g.read(4)
        elif head in (ZSTD_MAGIC, LZ4_MAGIC):
            tool = 'zstd' if head == ZSTD_MAGIC else 'lz4'
            if not shutil.which(tool):
                return None     # cannot look inside: tshark decides
            p = subprocess.Popen([tool, '-dc', path], stdout=subprocess.PIPE,
                                 stderr=subprocess.DEVNULL)
            head = p.stdout.read(4)
            p.kill()
            p.wait()
    except (OSError, EOFError) as e:
        return 'corrupt compressed data: %s' % e
    if head in PCAP_MAGICS:
        return None
    if len(head) < 4:
        return 'too short to be a capture (%d bytes)' % len(head)
    return 'not a pcap or pcapng capture (first bytes %s)' % head.hex(' ')


# ---------------------------------------------------------------------------
# tshark

def tshark_args(path, with_tx, extra):
    yfilter = 'smtp.reply || smtp.transaction' if with_tx else 'smtp.reply'
    return ['-n', '-r', path, '-Y', yfilter, '-T', 'json', '-J', LAYERS] + list(extra)


def tshark_fields(prefix):
    """Field names tshark knows (tshark -G fields), or raises RuntimeError."""
    p = subprocess.run(prefix + ['-G', 'fields'], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE)
    if p.returncode != 0:
        raise RuntimeError('%s -G fields failed (%d): %s' % (
            ' '.join(prefix), p.returncode, p.stderr.decode('utf-8', 'replace').strip()))
    names = set()
    for line in p.stdout.decode('utf-8', 'replace').splitlines():
        cols = line.split('\t')
        if len(cols) > 2 and cols[0] in ('F', 'P'):
            names.add(cols[2])
    return names


class Obj(list):
    """A JSON object as its list of (key, value) pairs: tshark repeats keys."""

    def first(self, key):
        for k, v in self:
            if k == key and not isinstance(v, Obj):
                return v
        return None

    def all(self, key):
        return [v for k, v in self if k == key and not isinstance(v, Obj)]

    def get_obj(self, key):
        for k, v in self:
            if k == key and isinstance(v, Obj):
                return v
        return None


def iter_packets(lines):
    """Packets (Obj) from tshark -T json output, one at a time: every packet
    object starts with the line '  {' and ends with '  }' or '  },'."""
    buf = None
    for line in lines:
        if buf is None:
            if line.rstrip('\r\n') == '  {':
                buf = [line]
            continue
        buf.append(line)
        s = line.rstrip('\r\n')
        if s in ('  }', '  },'):
            text = ''.join(buf).rstrip().rstrip(',')
            buf = None
            yield json.loads(text, object_pairs_hook=Obj)


def iso_time(epoch):
    if not epoch:
        return ''
    sec, _, frac = epoch.partition('.')
    try:
        t = datetime.datetime.fromtimestamp(int(sec), datetime.timezone.utc)
    except (ValueError, OverflowError, OSError):
        return epoch
    return t.strftime('%Y-%m-%dT%H:%M:%S') + ('.' + frac if frac else '') + 'Z'


def endpoint(addr, port):
    if not addr:
        return ''
    if ':' in addr:
        addr = '[%s]' % addr
    return '%s:%s' % (addr, port) if port else addr


def _int(v):
    try:
        return int(v)
    except (TypeError, ValueError):
        return None


def _find(node, names, out):
    """Subtrees whose key is one of names, anywhere under node (not inside
    a found one)."""
    for k, v in node:
        if isinstance(v, Obj):
            if k in names:
                out.append(v)
            else:
                _find(v, names, out)
    return out


def transaction_of(node):
    """A transaction from its subtree, whatever the children look like."""
    rcpts = []
    for k, v in node:
        if k.startswith('smtp.transaction.recipient') and not isinstance(v, Obj) and not k.endswith('_tree'):
            if k == 'smtp.transaction.recipient' or k == 'smtp.transaction.recipients':
                rcpts.append(v)
    return node.first('smtp.transaction.outcome'), node.first('smtp.transaction.sender'), rcpts


def parse_packet(pkt, file):
    """(replies, transactions) of one packet, as dicts in frame order."""
    layers = (pkt.get_obj('_source') or Obj()).get_obj('layers') or Obj()
    frame = epoch = None
    src = dst = sport = dport = stream = None
    ipsrc = ipdst = None
    replies, txs = [], []
    for name, layer in layers:
        if not isinstance(layer, Obj):
            continue
        if name == 'frame':
            frame = _int(layer.first('frame.number'))
            epoch = layer.first('frame.time_epoch')
        elif name in ('ip', 'ipv6'):
            ipsrc = layer.first(name + '.src')
            ipdst = layer.first(name + '.dst')
        elif name == 'tcp':
            src, dst = ipsrc, ipdst
            sport, dport = layer.first('tcp.srcport'), layer.first('tcp.dstport')
            stream = _int(layer.first('tcp.stream'))
        elif name == 'smtp':
            base = {'file': file, 'stream': stream, 'frame': frame, 'time': iso_time(epoch),
                    'epoch': epoch}
            # a reply goes from the server to the client
            server, client = endpoint(src, sport), endpoint(dst, dport)
            for r in _find(layer, ('smtp.reply', 'smtp.reply_tree'), []):
                rt = r.first('smtp.reply.time')
                row = dict(base)
                row.update({
                    'client': client, 'server': server,
                    'command': r.first('smtp.reply.command'),
                    'code': _int(r.first('smtp.reply.code')),
                    'category': _int(r.first('smtp.reply.category')),
                    'status': r.first('smtp.reply.status'),
                    'text': r.first('smtp.reply.line'),
                    'response_time': rt})
                replies.append(row)
            # the frame that ends a transaction may come from either side:
            # a frame without replies is the client's (RSET, QUIT, MAIL)
            t_client, t_server = client, server
            if not _find(layer, ('smtp.reply', 'smtp.reply_tree'), []):
                t_client, t_server = endpoint(src, sport), endpoint(dst, dport)
            for t in _find(layer, ('smtp.transaction', 'smtp.transaction_tree'), []):
                outcome, sender, rcpts = transaction_of(t)
                row = dict(base)
                row.update({'client': t_client, 'server': t_server, 'outcome': outcome,
                            'sender': sender, 'recipients': rcpts})
                txs.append(row)
    return replies, txs


def reason_of(display, path_given, rc, stderr_text):
    """tshark's complaint on one line, naming the file as the user did."""
    lines = [l[len('tshark: '):] if l.startswith('tshark: ') else l
             for l in stderr_text.splitlines() if l.strip()]
    reason = ' '.join(lines).replace(path_given, display)
    if rc < 0:
        reason = ('tshark killed by signal %d. %s' % (-rc, reason)).strip()
    elif rc != 0 and not reason:
        reason = 'tshark exited with status %d' % rc
    return reason


def run_local(job):
    """Worker: one tshark run over one file."""
    index, display, path, prefix, with_tx, extra, check_format = job
    if check_format:
        why = sniff(path)
        if why:
            return index, {'status': 'failed', 'reason': why, 'replies': [], 'transactions': []}
    with tempfile.TemporaryFile() as err:
        try:
            p = subprocess.Popen(prefix + tshark_args(path, with_tx, extra),
                                 stdout=subprocess.PIPE, stderr=err)
        except OSError as e:
            return index, {'status': 'failed', 'reason': 'cannot run tshark: %s' % e,
                           'replies': [], 'transactions': []}
        try:
            # parsed while tshark runs; its status and stderr come at the end
            parsed = collect((l.decode('utf-8', 'replace') for l in p.stdout), display)
        finally:
            p.stdout.close()
            rc = p.wait()
        err.seek(0)
        etext = err.read().decode('utf-8', 'replace')
    return index, finish(reason_of(display, path, rc, etext), parsed, rc)


def collect(lines, display):
    replies, txs, opened, perr = [], [], False, None
    try:
        for line in lines:
            if line.strip() in ('[', '[]'):
                opened = True
                break
        if opened:
            for pkt in iter_packets(lines):
                r, t = parse_packet(pkt, display)
                replies.extend(r)
                txs.extend(t)
    except ValueError as e:
        perr = 'unreadable tshark output: %s' % e
    for _ in lines:     # drain
        pass
    return replies, txs, opened, perr


def finish(reason, parsed, rc):
    """ok: tshark read the whole file; damaged: it opened the file as a
    capture and stopped at a damaged or cut-off part (the replies before
    are kept); failed: nothing was read."""
    replies, txs, opened, perr = parsed
    if rc == 0:
        reason = ''
    if perr:
        reason = (reason + ' ' + perr).strip()
    if rc == 0 and not perr:
        status = 'ok'
    elif opened:
        status = 'damaged'
    else:
        status = 'failed'
    return {'status': status, 'reason': reason, 'replies': replies, 'transactions': txs}


# ---------------------------------------------------------------------------
# Progress

class Progress:
    active = False

    def __init__(self, total_files, total_bytes, enabled):
        self.nf, self.nb = total_files, total_bytes
        self.f = self.b = 0
        self.t0 = time.monotonic()
        self.last = 0.0
        self.tty = sys.stderr.isatty()
        self.enabled = enabled

    @staticmethod
    def clear_line():
        if Progress.active:
            sys.stderr.write('\r\x1b[K')
            Progress.active = False

    def update(self, files, nbytes, final=False):
        self.f += files
        self.b += nbytes
        if not self.enabled:
            return
        now = time.monotonic()
        interval = 0.2 if self.tty else 10.0
        if not final and now - self.last < interval:
            return
        self.last = now
        el = max(now - self.t0, 1e-9)
        frate, brate = self.f / el, self.b / el
        left = (self.nb - self.b) / brate if brate > 0 and self.b else float('nan')
        eta = 'done' if self.f >= self.nf else (
            '%s left' % fmt_dur(left) if left == left else '? left')
        text = '%d/%d files  %s/%s  %.1f files/s  %s/s  %s' % (
            self.f, self.nf, fmt_bytes(self.b), fmt_bytes(self.nb), frate, fmt_bytes(brate), eta)
        if self.tty:
            width = 24
            done = int(width * (self.b / self.nb if self.nb else self.f / max(self.nf, 1)))
            sys.stderr.write('\r\x1b[K[%s%s] %s' % ('#' * done, '.' * (width - done), text))
            Progress.active = True
            if final:
                sys.stderr.write('\n')
                Progress.active = False
        else:
            sys.stderr.write('%s: %s\n' % (PROG, text))
        sys.stderr.flush()


def fmt_bytes(n):
    for unit in ('B', 'kB', 'MB', 'GB', 'TB'):
        if n < 1000 or unit == 'TB':
            return ('%d %s' if unit == 'B' else '%.1f %s') % (n, unit)
        n /= 1000.0


def fmt_dur(s):
    s = int(round(s))
    return '%d:%02d:%02d' % (s // 3600, s // 60 % 60, s % 60) if s >= 3600 else '%d:%02d' % (s // 60, s % 60)


# ---------------------------------------------------------------------------
# Statistics and output

class Stats:
    def __init__(self):
        self.by_cat, self.by_code, self.by_cmd = {}, {}, {}
        self.servers = {}
        self.slow = []      # min-heap of (time, -seq, row)
        self.seq = 0
        self.epochs = array.array('d')
        self.cats = array.array('b')
        self.times = array.array('d')
        self.n = 0

    def add(self, r):
        self.n += 1
        self.seq += 1
        cat = r['category']
        self.by_cat[cat] = self.by_cat.get(cat, 0) + 1
        self.by_code[r['code']] = self.by_code.get(r['code'], 0) + 1
        c = self.by_cmd.setdefault(r['command'] or '', [0, 0, 0])
        c[0] += 1
        if cat in (4, 5):
            c[cat - 3] += 1
        s = self.servers.setdefault(r['server'], {'replies': 0, '4': 0, '5': 0, 'times': []})
        s['replies'] += 1
        if cat in (4, 5):
            s[str(cat)] += 1
        try:
            self.epochs.append(float(r['epoch']))
            self.cats.append(cat if cat in (2, 3, 4, 5) else 0)
        except (TypeError, ValueError):
            pass
        if r['response_time'] is not None:
            t = float(r['response_time'])
            s['times'].append(t)
            self.times.append(t)
            item = (t, -self.seq, r)
            if len(self.slow) < SLOWEST:
                heapq.heappush(self.slow, item)
            elif item > self.slow[0]:
                heapq.heapreplace(self.slow, item)


def quantile(sorted_vals, q):
    if not sorted_vals:
        return None
    k = (len(sorted_vals) - 1) * q
    lo = int(math.floor(k))
    hi = min(lo + 1, len(sorted_vals) - 1)
    return sorted_vals[lo] + (sorted_vals[hi] - sorted_vals[lo]) * (k - lo)


def csv_value(v):
    if v is None:
        return ''
    if isinstance(v, list):
        return ' '.join(v)
    return v


def reply_json(r):
    d = {k: r[k] for k in REPLY_COLUMNS}
    d['response_time'] = float(r['response_time']) if r['response_time'] is not None else None
    return d


class Writer:
    """Writes rows in file order, whatever order the files finish in."""

    def __init__(self, outdir, with_tx, stats):
        self.stats = stats
        self.files = []
        self.rcsv_f = open(os.path.join(outdir, 'replies.csv'), 'w', newline='', encoding='utf-8')
        self.rcsv = csv.writer(self.rcsv_f)
        self.rcsv.writerow(REPLY_COLUMNS)
        self.rjson = open(os.path.join(outdir, 'replies.jsonl'), 'w', encoding='utf-8')
        self.tcsv = self.tjson = None
        self.ntx, self.by_outcome = 0, {}
        if with_tx:
            self.tcsv_f = open(os.path.join(outdir, 'transactions.csv'), 'w', newline='', encoding='utf-8')
            self.tcsv = csv.writer(self.tcsv_f)
            self.tcsv.writerow(TX_COLUMNS)
            self.tjson = open(os.path.join(outdir, 'transactions.jsonl'), 'w', encoding='utf-8')

    def write(self, res):
        for r in res['replies']:
            self.rcsv.writerow([csv_value(r[k]) for k in REPLY_COLUMNS])
            self.rjson.write(json.dumps(reply_json(r), ensure_ascii=False) + '\n')
            self.stats.add(r)
        if self.tcsv:
            for t in res['transactions']:
                self.tcsv.writerow([csv_value(t[k]) for k in TX_COLUMNS])
                self.tjson.write(json.dumps({k: t[k] for k in TX_COLUMNS}, ensure_ascii=False) + '\n')
                self.ntx += 1
                o = t['outcome'] or ''
                self.by_outcome[o] = self.by_outcome.get(o, 0) + 1

    def close(self):
        self.rcsv_f.close()
        self.rjson.close()
        if self.tcsv:
            self.tcsv_f.close()
            self.tjson.close()


class Ordered:
    """Feeds finished files to the writer in input order and reports their
    problems in that order too."""

    def __init__(self, files, sizes, writer, progress):
        self.files, self.sizes = files, sizes
        self.writer, self.progress = writer, progress
        self.pending = {}
        self.next = 0
        self.status = [None] * len(files)
        self.reason = [''] * len(files)

    def done(self, index, res):
        self.progress.update(1, self.sizes[index])
        self.pending[index] = res
        while self.next in self.pending:
            i = self.next
            r = self.pending.pop(i)
            self.status[i], self.reason[i] = r['status'], r['reason']
            if r['status'] == 'failed':
                msg('%s: not read: %s' % (self.files[i], r['reason']))
            elif r['status'] == 'damaged':
                msg('%s: read only in part (%d replies kept): %s' % (
                    self.files[i], len(r['replies']), r['reason']))
            self.writer.write(r)
            self.next += 1


def make_summary(files, sizes, ordered, problems, stats, writer, with_tx, chart_note):
    st = ordered.status
    failed = [{'file': files[i], 'reason': ordered.reason[i]} for i in range(len(files)) if st[i] == 'failed']
    damaged = [{'file': files[i], 'reason': ordered.reason[i]} for i in range(len(files)) if st[i] == 'damaged']
    servers = []
    for name, s in stats.servers.items():
        times = sorted(s['times'])
        n4, n5 = s['4'], s['5']
        servers.append({
            'server': name, 'replies': s['replies'], 'transient_4xx': n4, 'permanent_5xx': n5,
            'failure_rate': round((n4 + n5) / s['replies'], 6),
            'median_time': quantile(times, 0.5), 'p95_time': quantile(times, 0.95),
            'max_time': times[-1] if times else None})
    servers.sort(key=lambda x: (-x['failure_rate'], -x['replies'], x['server']))
    slow = [reply_json(r) for _, _, r in sorted(stats.slow, key=lambda x: (-x[0], -x[1]))]
    cats = {}
    for c in sorted(stats.by_cat, key=lambda c: (c is None, c)):
        cats[str(c) if c is not None else 'none'] = stats.by_cat[c]
    return {
        'files': {'found': len(files), 'read': st.count('ok'), 'read_in_part': st.count('damaged'),
                  'failed': st.count('failed'), 'bytes': sum(sizes)},
        'replies': stats.n,
        'by_category': cats,
        'by_code': {str(c): stats.by_code[c] for c in sorted(stats.by_code, key=lambda c: (c is None, c))},
        'by_command': [{'command': k, 'replies': v[0], 'transient_4xx': v[1], 'permanent_5xx': v[2]}
                       for k, v in sorted(stats.by_cmd.items(), key=lambda kv: (-(kv[1][1] + kv[1][2]), -kv[1][0], kv[0]))],
        'servers': servers,
        'slowest': slow,
        'failed_files': failed,
        'damaged_files': damaged,
        'input_problems': [{'path': p, 'reason': r} for p, r in problems],
        'transactions': ({'available': True, 'count': writer.ntx,
                          'by_outcome': dict(sorted(writer.by_outcome.items()))} if with_tx else
                         {'available': False,
                          'note': 'the plugin has no smtp.transaction field (tshark -G fields): '
                                  'transactions.csv/.jsonl not written'}),
        'chart': chart_note,
    }


def summary_text(s):
    out = []
    f = s['files']
    out.append('SMTP batch summary')
    out.append('')
    out.append('files: %d found, %d read, %d read only in part, %d failed (%s)' % (
        f['found'], f['read'], f['read_in_part'], f['failed'], fmt_bytes(f['bytes'])))
    out.append('replies: %d' % s['replies'])
    out.append('')
    out.append('Replies by category')
    for c, n in s['by_category'].items():
        name = CATEGORY_NAMES.get(_int(c), 'other')
        out.append('  %sxx  %-31s %8d  %5.1f%%' % (c, name, n, 100.0 * n / max(s['replies'], 1)))
    out.append('')
    out.append('Replies by code')
    for c, n in s['by_code'].items():
        out.append('  %-4s %8d' % (c, n))
    out.append('')
    out.append('Failures by command (4xx, 5xx of all replies to it)')
    out.append('  %-16s %8s %8s %8s' % ('command', 'replies', '4xx', '5xx'))
    for c in s['by_command']:
        out.append('  %-16s %8d %8d %8d' % (c['command'] or '(none)', c['replies'],
                                             c['transient_4xx'], c['permanent_5xx']))
    out.append('')
    out.append('Servers: failure rate (4xx+5xx share) and reply times (s)')
    out.append('  %-40s %8s %6s %6s %8s %10s %10s %10s' % (
        'server', 'replies', '4xx', '5xx', 'failed', 'median', 'p95', 'max'))

    def t(v):
        return '-' if v is None else '%.6f' % v
    for x in s['servers']:
        out.append('  %-40s %8d %6d %6d %7.1f%% %10s %10s %10s' % (
            x['server'], x['replies'], x['transient_4xx'], x['permanent_5xx'],
            100 * x['failure_rate'], t(x['median_time']), t(x['p95_time']), t(x['max_time'])))
    out.append('')
    out.append('The %d slowest replies (response time from command to reply)' % SLOWEST)
    for r in s['slowest']:
        out.append('  %10.6f s  %-14s %s  %s  stream %s frame %s  %s' % (
            r['response_time'], r['command'] or '', r['code'], r['server'], r['stream'], r['frame'], r['file']))
        out.append('               %s' % (r['text'] or ''))
    out.append('')
    out.append('Files that could not be read')
    for x in s['failed_files']:
        out.append('  %s: %s' % (x['file'], x['reason']))
    if not s['failed_files']:
        out.append('  none')
    out.append('')
    out.append('Files read only in part (replies before the damage are kept)')
    for x in s['damaged_files']:
        out.append('  %s: %s' % (x['file'], x['reason']))
    if not s['damaged_files']:
        out.append('  none')
    if s['input_problems']:
        out.append('')
        out.append('Inputs without captures')
        for x in s['input_problems']:
            out.append('  %s: %s' % (x['path'], x['reason']))
    out.append('')
    tx = s['transactions']
    if tx['available']:
        out.append('Transactions: %d (%s)' % (tx['count'], ', '.join(
            '%s %d' % (k or '(no outcome)', v) for k, v in tx['by_outcome'].items())))
    else:
        out.append('Transactions: skipped: ' + tx['note'])
    out.append('Chart: ' + s['chart'])
    return '\n'.join(out) + '\n'


# ---------------------------------------------------------------------------
# Chart

BUCKETS = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800,
           21600, 43200, 86400, 2 * 86400, 7 * 86400, 14 * 86400, 30 * 86400]


def draw_chart(outdir, stats):
    """Returns the note for the summary."""
    gp = shutil.which('gnuplot')
    if not gp:
        msg('gnuplot not found: chart.png skipped (install the Debian package gnuplot-nox)')
        return 'skipped: gnuplot not found (Debian package gnuplot-nox)'
    if not stats.epochs:
        return 'skipped: no replies'
    tmp = tempfile.mkdtemp(prefix='smtp-batch-chart-')
    try:
        lo, hi = min(stats.epochs), max(stats.epochs)
        span = hi - lo
        bucket = next((b for b in BUCKETS if span / b <= 60), BUCKETS[-1] * max(1, int(span / 60 / BUCKETS[-1]) + 1))
        start = math.floor(lo / bucket) * bucket
        counts = {}
        for e, c in zip(stats.epochs, stats.cats):
            k = int((e - start) // bucket)
            row = counts.setdefault(k, [0, 0, 0, 0, 0])
            row[{2: 0, 3: 1, 4: 2, 5: 3}.get(c, 4)] += 1
        with open(os.path.join(tmp, 'cats.dat'), 'w') as f:
            for k in sorted(counts):
                r = counts[k]
                cum = [sum(r[:i + 1]) for i in range(5)]
                f.write('%d %s\n' % (start + k * bucket + bucket / 2.0, ' '.join(map(str, cum))))
        times = [max(t, 1e-6) for t in stats.times]
        hist_note = ''
        with open(os.path.join(tmp, 'hist.dat'), 'w') as f:
            if times:
                d0 = math.floor(math.log10(min(times)))
                d1 = math.ceil(math.log10(max(times)) + 1e-12)
                if d1 <= d0:
                    d1 = d0 + 1
                edges = [10 ** (d0 + i / 10.0) for i in range(int((d1 - d0) * 10) + 1)]
                h = [0] * (len(edges) - 1)
                for t in times:
                    i = min(max(bisect.bisect_right(edges, t) - 1, 0), len(h) - 1)
                    h[i] += 1
                for i, n in enumerate(h):
                    if n:
                        f.write('%g %d %g %g\n' % (math.sqrt(edges[i] * edges[i + 1]), n, edges[i], edges[i + 1]))
            else:
                hist_note = ' (no response times)'
                f.write('1 0 1 1\n')
        fmt = '%H:%M:%S' if span < 600 else '%H:%M' if span < 2 * 86400 else '%Y-%m-%d'
        png = os.path.join(outdir, 'chart.png')
        script = '''
set terminal pngcairo size 1200,900 font ",10"
set output %(png)s
set multiplot layout 2,1
set title "Replies per %(bucket)s by category (UTC)"
set xdata time
set timefmt "%%s"
set format x "%(fmt)s"
set xtics rotate by -30
set ylabel "replies"
set key outside right top
set style fill solid 0.9 border -1
set boxwidth %(bw)g absolute
set yrange [0:*]
plot %(cats)s using 1:6 with boxes lc rgb "#888888" title "other", \\
     '' using 1:5 with boxes lc rgb "#d62728" title "5xx permanent", \\
     '' using 1:4 with boxes lc rgb "#ff9f1c" title "4xx transient", \\
     '' using 1:3 with boxes lc rgb "#1f77b4" title "3xx intermediate", \\
     '' using 1:2 with boxes lc rgb "#2ca02c" title "2xx completion"
unset xdata
set format x "%%g"
set xtics norotate
set logscale x
set title "Response time distribution%(hn)s (command to reply)"
set xlabel "seconds (log scale)"
set ylabel "replies"
set key off
plot %(hist)s using 1:2:3:4:(0):2 with boxxyerror lc rgb "#1f77b4"
unset multiplot
''' % {'png': json.dumps(png), 'cats': json.dumps(os.path.join(tmp, 'cats.dat')),
       'hist': json.dumps(os.path.join(tmp, 'hist.dat')), 'bucket': fmt_dur_word(bucket),
       'bw': bucket * 0.9, 'fmt': fmt, 'hn': hist_note}
        sp = os.path.join(tmp, 'chart.gp')
        with open(sp, 'w') as f:
            f.write(script)
        p = subprocess.run([gp, sp], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        if p.returncode != 0 or not os.path.exists(png):
            err = p.stderr.decode('utf-8', 'replace').strip().splitlines()
            msg('gnuplot failed: chart.png not written: %s' % (err[-1] if err else p.returncode))
            return 'failed: gnuplot error'
        return 'chart.png (bucket %s)' % fmt_dur_word(bucket)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def fmt_dur_word(s):
    for unit, n in (('day', 86400), ('hour', 3600), ('minute', 60)):
        if s >= n and s % n == 0:
            k = s // n
            return '%d %s%s' % (k, unit, 's' if k > 1 else '') if k > 1 else unit
    return '%d seconds' % s if s > 1 else 'second'


# ---------------------------------------------------------------------------
# Running the files

def run_pool(files, paths, sizes, prefix, with_tx, extra, jobs, ordered, check_format):
    todo = [(i, files[i], paths[i], prefix, with_tx, extra, check_format) for i in range(len(files))]
    # biggest first, so one big file does not finish alone at the end
    todo.sort(key=lambda j: -sizes[j[0]])
    if jobs == 1:
        for j in todo:
            ordered.done(*run_local(j))
        return
    with concurrent.futures.ProcessPoolExecutor(max_workers=jobs) as ex:
        futs = [ex.submit(run_local, j) for j in todo]
        for fut in concurrent.futures.as_completed(futs):
            ordered.done(*fut.result())


def run_parallel(files, paths, sizes, prefix, with_tx, extra, jobs, ordered, check_format,
                 sshloginfile, transfer):
    """The per-file tshark jobs through GNU parallel over --sshloginfile
    hosts; their outputs come back into a local folder (--results)."""
    par = shutil.which('parallel')
    if not par:
        raise RuntimeError('GNU parallel is not installed (Debian package parallel): '
                           'needed for --sshloginfile')
    tmp = tempfile.mkdtemp(prefix='smtp-batch-par-')
    try:
        seq_index = []
        for i in range(len(files)):
            why = sniff(paths[i]) if check_format else None
            if why:
                ordered.done(i, {'status': 'failed', 'reason': why, 'replies': [], 'transactions': []})
            else:
                seq_index.append(i)
        if not seq_index:
            return
        listfile = os.path.join(tmp, 'files')
        with open(listfile, 'wb') as f:
            for i in seq_index:
                f.write(os.fsencode(os.path.abspath(paths[i])) + b'\0')
        words = prefix + tshark_args('\x00FILE\x00', with_tx, extra)
        cmd = ' '.join('{}' if w == '\x00FILE\x00' else shlex.quote(w) for w in words)
        joblog = os.path.join(tmp, 'joblog')
        res = os.path.join(tmp, 'out')
        os.mkdir(res)
        argv = [par, '--will-cite', '--sshloginfile', sshloginfile, '-0', '-a', listfile,
                '--results', os.path.join(res, '{#}'), '--joblog', joblog,
                '-j', str(jobs) if jobs else '100%']
        if transfer:
            argv += ['--transferfile', '{}', '--cleanup']
        argv.append(cmd)
        p = subprocess.Popen(argv, stdout=subprocess.DEVNULL)
        handled = set()

        def harvest():
            if not os.path.exists(joblog):
                return
            with open(joblog, encoding='utf-8', errors='replace') as f:
                for line in f.read().splitlines()[1:]:
                    cols = line.split('\t')
                    if len(cols) < 9 or not cols[0].isdigit():
                        continue
                    seq = int(cols[0])
                    if seq in handled:
                        continue
                    handled.add(seq)
                    rc, sig = int(cols[6]), int(cols[7])
                    ordered.done(*parse_result_files(seq_index[seq - 1], files, paths, res, seq,
                                                     -sig if sig else rc))
        while p.poll() is None:
            time.sleep(0.3)
            harvest()
        harvest()
        for seq in range(1, len(seq_index) + 1):
            if seq not in handled:
                i = seq_index[seq - 1]
                ordered.done(i, {'status': 'failed', 'reason': 'GNU parallel did not run this job '
                                 '(exit status %d; see its messages above)' % p.returncode,
                                 'replies': [], 'transactions': []})
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def parse_result_files(index, files, paths, res, seq, rc):
    out = os.path.join(res, str(seq))
    err = out + '.err'
    try:
        with open(err, 'rb') as f:
            etext = f.read().decode('utf-8', 'replace')
    except OSError:
        etext = ''
    given = os.path.abspath(paths[index])
    try:
        with open(out, 'rb') as f:
            parsed = collect((l.decode('utf-8', 'replace') for l in f), files[index])
    except OSError:
        parsed = ([], [], False, None)
    return index, finish(reason_of(files[index], given, rc, etext), parsed, rc)


# ---------------------------------------------------------------------------

def main(argv=None):
    ap = argparse.ArgumentParser(
        prog='smtp-batch.py',
        description='Run tshark with the SMTP-Analysis plugin over many captures: '
                    'failed replies, the commands they answer, slow servers.')
    ap.add_argument('paths', nargs='+', metavar='PATH',
                    help='capture files, folders (recursive) and globs')
    ap.add_argument('-j', '--jobs', type=int, default=0,
                    help='parallel tshark runs (default: all cores; with --sshloginfile: '
                         'what each host has)')
    ap.add_argument('-o', '--outdir', default='smtp-batch-out', help='output folder (default %(default)s)')
    ap.add_argument('--plugin-dir', help='folder with the plugin (BUILD/plugins), passed to tshark as '
                    'WIRESHARK_PLUGIN_DIR (tshark run as root ignores it)')
    ap.add_argument('--tshark-cmd', default=os.environ.get('SMTP_BATCH_TSHARK'),
                    help='the command that runs tshark, as a JSON list (default ["tshark"], '
                         'or the environment variable SMTP_BATCH_TSHARK)')
    ap.add_argument('--sshloginfile', help='run the tshark jobs with GNU parallel on these hosts')
    ap.add_argument('--transfer', action='store_true',
                    help='with --sshloginfile: copy each capture to the host (same absolute path) '
                         'and remove the copy afterwards; without it the captures must be at the '
                         'same path on every host (shared storage)')
    ap.add_argument('--no-chart', action='store_true', help='do not draw chart.png')
    ap.add_argument('-d', '--decode-as', action='append', default=[], metavar='SPEC',
                    help="passed to tshark -d, e.g. 'tcp.port==2525,smtpx' (repeatable)")
    ap.add_argument('--pref', action='append', default=[], metavar='NAME:VALUE',
                    help="passed to tshark -o, e.g. 'tls.keylog_file:keys.txt' (repeatable)")
    ap.add_argument('--any-format', action='store_true',
                    help='let tshark try every format it knows (by default only pcap and pcapng, '
                         'possibly compressed, are read: tshark takes some text files for captures)')
    ap.add_argument('-q', '--quiet', action='store_true', help='no progress and no final line')
    a = ap.parse_args(argv)

    if a.tshark_cmd:
        try:
            prefix = json.loads(a.tshark_cmd)
            assert isinstance(prefix, list) and prefix and all(isinstance(x, str) for x in prefix)
        except (ValueError, AssertionError):
            msg('--tshark-cmd must be a JSON list of strings, e.g. \'["tshark"]\'')
            return 2
    else:
        prefix = ['tshark']
    if a.plugin_dir:
        prefix = ['env', 'WIRESHARK_PLUGIN_DIR=' + os.path.abspath(a.plugin_dir)] + prefix
    if a.jobs < 0:
        msg('-j must be at least 1')
        return 2
    if a.sshloginfile and not os.path.isfile(a.sshloginfile):
        msg('%s: no such sshloginfile' % a.sshloginfile)
        return 2
    extra = []
    for d in a.decode_as:
        extra += ['-d', d]
    for p in a.pref:
        extra += ['-o', p]

    try:
        known = tshark_fields(prefix)
    except (OSError, RuntimeError) as e:
        msg('cannot run tshark: %s' % e)
        return 2
    if 'smtp.reply.code' not in known:
        hint = ''
        if os.geteuid() == 0 and a.plugin_dir:
            hint = ' (tshark run as root ignores WIRESHARK_PLUGIN_DIR: run as a user, or install ' \
                   'the plugin system-wide with sudo scripts/install.sh)'
        msg('tshark has no SMTP-Analysis plugin (no field smtp.reply.code in tshark -G fields): '
            'install it with scripts/install.sh or pass --plugin-dir BUILD/plugins' + hint)
        return 2
    with_tx = 'smtp.transaction' in known

    files, problems = find_inputs(a.paths)
    for p, r in problems:
        msg('%s: %s' % (p, r))
    paths = list(files)
    sizes = []
    for f in files:
        try:
            sizes.append(os.path.getsize(f))
        except OSError:
            sizes.append(0)

    os.makedirs(a.outdir, exist_ok=True)
    stats = Stats()
    writer = Writer(a.outdir, with_tx, stats)
    progress = Progress(len(files), sum(sizes), not a.quiet)
    ordered = Ordered(files, sizes, writer, progress)
    t0 = time.monotonic()
    jobs = a.jobs or (len(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity') else os.cpu_count() or 1)
    try:
        if files:
            if a.sshloginfile:
                run_parallel(files, paths, sizes, prefix, with_tx, extra, a.jobs, ordered,
                             not a.any_format, a.sshloginfile, a.transfer)
            else:
                run_pool(files, paths, sizes, prefix, with_tx, extra, jobs, ordered, not a.any_format)
    except RuntimeError as e:
        writer.close()
        msg(str(e))
        return 2
    except KeyboardInterrupt:
        writer.close()
        msg('interrupted: the outputs in %s are incomplete' % a.outdir)
        return 130
    writer.close()
    if progress.enabled and files:
        progress.update(0, 0, final=True)
    elapsed = time.monotonic() - t0

    chart = 'not drawn (--no-chart)'
    if not a.no_chart:
        chart = draw_chart(a.outdir, stats)
    summary = make_summary(files, sizes, ordered, problems, stats, writer, with_tx, chart)
    with open(os.path.join(a.outdir, 'summary.json'), 'w', encoding='utf-8') as f:
        json.dump(summary, f, indent=2, ensure_ascii=False)
        f.write('\n')
    with open(os.path.join(a.outdir, 'summary.txt'), 'w', encoding='utf-8') as f:
        f.write(summary_text(summary))
    nread = summary['files']['read'] + summary['files']['read_in_part']
    if not a.quiet:
        fs = summary['files']
        msg('%d files (%d read, %d in part, %d failed), %d replies in %.1f s -> %s' % (
            fs['found'], fs['read'], fs['read_in_part'], fs['failed'], stats.n, elapsed, a.outdir))
    if nread == 0:
        msg('no capture could be read')
        return 2
    return 0


if __name__ == '__main__':
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    sys.exit(main())
