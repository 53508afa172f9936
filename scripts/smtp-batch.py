#!/usr/bin/env python3
"""smtp-batch: runs tshark with the SMTP-Analysis plugin over many captures
and tells which mail failed, why, and how long the servers took.

Usage:
  smtp-batch.py [-j N] [-o OUTDIR] [--plugin-dir DIR] [--tshark-cmd JSON]
                [--sshloginfile FILE [--transfer]] [--no-chart] [-q]
                [--decode-as SPEC] [--pref NAME:VALUE] [--any-format]
                [--standard-data-dir] PATH...

PATH: capture files, folders (searched recursively for *.pcap, *.pcapng,
*.cap, each optionally .gz/.zst/.lz4) and globs.  Files named explicitly
are read whatever their name.

Writes to OUTDIR (default smtp-batch-out):
  transactions.csv / .jsonl       one row per mail transaction: sender,
                                  accepted and refused recipients with their
                                  codes, outcome, final reply, duration,
                                  headers (when the plugin has smtp.transaction)
  replies.csv / replies.jsonl     one row per reply
  summary.txt / summary.json      failed and deferred mail, reasons ranked,
                                  reply times per server and per command,
                                  files not read, read in part, or without SMTP
  chart.png                       (gnuplot) replies per category over time,
                                  reply times per command
  *.parquet                       when pyarrow is importable
  .smtp-batch-outputs.json        which of these files it wrote (see OutDir):
                                  a file of these names it did not write
                                  stops the run before anything is written

Each file is one tshark run (a local process pool of -j N, default all
cores; or GNU parallel over the hosts of --sshloginfile).  The local runs
start without tshark 4.0's name tables, which -n leaves unused (see
NAME_TABLES; --standard-data-dir to keep them).  tshark writes
-T json, because the per-reply fields do not line up in -T fields output:
one frame can hold several replies and status, command and time are
optional per reply.  The JSON keeps each reply's subtree, so every value
stays with its reply.

--transfer copies the captures into a scratch folder this run creates on
every host and removes only that folder: an input is never removed, also
when a host shares this machine's file system.

Exit status: 0 when at least one file was read (even in part), 2 when no
file could be read, on a usage error, or when tshark writes times in a form
this tool does not know.  Standard library only (pyarrow optional).
"""
import argparse
import array
import bisect
import calendar
import concurrent.futures
import csv
import datetime
import glob
import gzip
import hashlib
import heapq
import json
import math
import os
import re
import secrets
import shlex
import shutil
import signal
import stat
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
# Reply category names (2 -> 'Positive Completion', ...): the plugin's own,
# read from tshark -G values at start-up (no copy of them here).
CATEGORY_NAMES = {}
LAYERS = 'frame ip ipv6 tcp smtp'
SLOWEST = 20
# What the tool writes in its output folder, and its record of it there.
OUT_NAMES = ('replies.csv', 'replies.jsonl', 'transactions.csv', 'transactions.jsonl',
             'summary.txt', 'summary.json', 'chart.png', 'replies.parquet', 'transactions.parquet')
MARK = '.smtp-batch-outputs.json'


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

# What tshark is asked for: every reply and command, the frame that ends a
# transaction (its summary), the end of each message (IMF headers), AUTH and
# STARTTLS, and the SYN of every connection (to name the ports of captures
# in which no SMTP was found).  Body frames are left out: they carry nothing
# the tables use.
FILTER_PARTS = ['smtp.reply', 'smtp.command', 'smtp.transaction.outcome', 'smtp.message',
                'smtp.auth.username', 'smtp.starttls']
SYN_FILTER = '(tcp.flags.syn == 1 && tcp.flags.ack == 0)'
# capture order can differ from send order (a segment recorded after the
# ACK that covers it): without this tshark's TCP drops such segments
TCP_PREFS = ['-o', 'tcp.reassemble_out_of_order:TRUE', '-o', 'tcp.calculate_timestamps:TRUE']


class Spec:
    """How every file is read: the same for all of them."""

    def __init__(self, prefix, known, extra):
        self.prefix = prefix
        self.extra = list(extra)
        parts = [p for p in FILTER_PARTS if p in known]
        self.filter = ' || '.join(parts + [SYN_FILTER])
        self.layers = LAYERS + (' imf' if 'imf.subject' in known else '')
        self.with_tx = 'smtp.transaction' in known

    def args(self, path):
        return (['-n', '-r', path, '-Y', self.filter, '-T', 'json', '-J', self.layers]
                + TCP_PREFS + self.extra)


def check_options(spec):
    """tshark's complaint about the -d/-o options, run once on an empty
    capture before any file (else every file would fail with it); '' if none."""
    tmp = tempfile.mkdtemp(prefix='smtp-batch-check-')
    try:
        os.chmod(tmp, 0o755)
        path = os.path.join(tmp, 'empty.pcap')
        with open(path, 'wb') as f:   # a pcap header, no packet
            f.write(b'\xd4\xc3\xb2\xa1\x02\x00\x04\x00' + bytes(8) + b'\xff\xff\x00\x00\x01\x00\x00\x00')
        os.chmod(path, 0o644)
        try:
            p = subprocess.run(spec.prefix + ['-n', '-r', path, '-q'] + spec.extra,
                               stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, timeout=120)
        except (OSError, subprocess.TimeoutExpired) as e:
            return str(e)
        if p.returncode == 0:
            return ''
        lines = [ln for ln in p.stderr.decode('utf-8', 'replace').splitlines()
                 if ln.strip() and not _TSHARK_NOISE.match(ln)]
        return lines[0] if lines else 'tshark exit status %d' % p.returncode
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def category_names(data):
    """CATEGORY_NAMES from tshark -G values (bytes): the plugin's names of
    smtp.reply.category's values (lines 'V <tab> field <tab> value <tab>
    name').  The output is about 90 MB on 4.0: its few lines are found with
    bytes.find, not by splitting it all (2 s of CPU at every start)."""
    key = b'\nV\tsmtp.reply.category\t'
    data = b'\n' + data
    i = data.find(key)
    while i >= 0:
        end = data.find(b'\n', i + 1)
        line = data[i + 1:end if end >= 0 else len(data)].decode('utf-8', 'replace')
        cols = line.rstrip('\r').split('\t')
        if len(cols) == 4:
            try:
                CATEGORY_NAMES[int(cols[2])] = cols[3]
            except ValueError:
                pass
        i = data.find(key, end) if end >= 0 else -1


def tshark_fields(prefix, folders=None):
    """Field names tshark knows (tshark -G fields), or raises RuntimeError.
    With folders (a list): tshark -G folders runs at the same time and its
    output is appended to it."""
    side = None
    if folders is not None:
        try:
            side = subprocess.Popen(prefix + ['-G', 'folders'], stdin=subprocess.DEVNULL,
                                    stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        except OSError:
            side = None
    try:
        values = subprocess.Popen(prefix + ['-G', 'values'], stdin=subprocess.DEVNULL,
                                  stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    except OSError:
        values = None
    p = subprocess.run(prefix + ['-G', 'fields'], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE)
    if side is not None:
        folders.append(side.communicate()[0].decode('utf-8', 'replace'))
    if values is not None:
        category_names(values.communicate()[0])
    if p.returncode != 0:
        raise RuntimeError('%s -G fields failed (%d): %s' % (
            ' '.join(prefix), p.returncode, p.stderr.decode('utf-8', 'replace').strip()))
    # the third column of the protocol (P) and field (F) lines: 230k of
    # them on 4.0, read with one regular expression over the bytes
    return {n.decode('utf-8', 'replace')
            for n in re.findall(rb'^[FP]\t[^\t\n]*\t([^\t\n]*)', p.stdout, re.M)}


# Start-up.  tshark 4.0 reads three name tables from its data folder at
# every start (MAC vendors, port names, SNMP enterprise numbers: 4.6 MB of
# text), about a third of the CPU time of a run over a small capture.  With
# -n nothing read here is named from them (they name hosts, ports and
# vendors; the fields the tables use are numbers, addresses and SMTP text),
# so the local runs get a data folder of their own: the real one's entries
# as symbolic links, these three as empty files.  4.2 and later build the
# tables in (no such files: nothing is done); tshark run as root ignores
# WIRESHARK_DATA_DIR (it then reads the tables as usual).
# --standard-data-dir turns this off; test_batch_start shows the tables
# identical both ways on every test capture.
# (One sharkd per worker, loading file after file, would pay the start-up
# once per worker, but its trees leave out hidden fields such as a
# one-line reply's smtp.reply.line, in 4.0 as in 4.6, and its custom
# columns, which have them, cut values at 2047 characters: its tables
# could not be the same.  README, "Speed".)
NAME_TABLES = ('manuf', 'services', 'enterprises.tsv')


def global_data_dir(folders_text):
    """The 'Global configuration' folder of tshark -G folders, or None."""
    for line in folders_text.splitlines():
        key, sep, value = line.partition(':')
        if sep and key.strip() == 'Global configuration' and value.strip():
            return value.strip()
    return None


class LeanDataDir:
    """A data folder for tshark without its name tables (see NAME_TABLES)."""

    def __init__(self, src):
        self.dir = None
        names = sorted(os.listdir(src))
        if not any(n in NAME_TABLES for n in names):
            return
        self.dir = tempfile.mkdtemp(prefix='smtp-batch-data-')
        try:
            for n in names:
                dst = os.path.join(self.dir, n)
                if n in NAME_TABLES:
                    open(dst, 'w').close()
                    os.chmod(dst, 0o644)
                else:
                    os.symlink(os.path.join(os.path.abspath(src), n), dst)
            os.chmod(self.dir, 0o755)      # tshark may run as another user
        except OSError:
            self.cleanup()
            raise

    def prefix(self, prefix):
        """The tshark command with WIRESHARK_DATA_DIR set just before the
        program (whatever env -i or setpriv come first); unchanged when its
        last word is not tshark."""
        if not self.dir or not os.path.basename(prefix[-1]).startswith('tshark'):
            return prefix
        return prefix[:-1] + ['env', 'WIRESHARK_DATA_DIR=' + self.dir] + prefix[-1:]

    def cleanup(self):
        if self.dir:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None


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


class TimeFormatError(Exception):
    pass


_NUM_TIME = re.compile(r'(-?\d+)(?:\.(\d+))?')
_ISO_TIME = re.compile(r'(\d{4})-(\d\d)-(\d\d)[T ](\d\d):(\d\d):(\d\d)(?:[.,](\d+))?'
                       r'\s*(Z|UTC|[+-]\d\d:?\d\d)?')


def epoch_ns(text):
    """frame.time_epoch as integer nanoseconds.  tshark 4.0-4.4 write seconds
    ("1795922000.975134000"), 4.6 an ISO 8601 date ("2026-11-29T03:13:20.975134000Z")."""
    if text is None:
        return None
    s = text.strip()
    m = _NUM_TIME.fullmatch(s)
    if m:
        sec = int(m.group(1))
        frac = int((m.group(2) or '').ljust(9, '0')[:9])
        return sec * 10**9 + (-frac if s.startswith('-') else frac)
    m = _ISO_TIME.fullmatch(s)
    if m:
        y, mo, d, h, mi, se = (int(x) for x in m.groups()[:6])
        sec = calendar.timegm((y, mo, d, h, mi, se, 0, 0, 0))
        tz = m.group(8)
        if tz and tz not in ('Z', 'UTC'):
            sign = -1 if tz[0] == '-' else 1
            hh, mm = int(tz[1:3]), int(tz[-2:])
            sec -= sign * (hh * 3600 + mm * 60)
        return sec * 10**9 + int((m.group(7) or '').ljust(9, '0')[:9])
    raise TimeFormatError('cannot read frame.time_epoch %r written by this tshark '
                          '(neither seconds nor an ISO 8601 date)' % text)


def rel_ns(text):
    if text is None:
        return None
    m = _NUM_TIME.fullmatch(text.strip())
    if not m:
        return None
    return int(m.group(1)) * 10**9 + int((m.group(2) or '').ljust(9, '0')[:9])


def iso_time(ns):
    if ns is None:
        return ''
    sec, frac = divmod(ns, 10**9)
    try:
        t = datetime.datetime.fromtimestamp(sec, datetime.timezone.utc)
    except (ValueError, OverflowError, OSError):
        return str(ns)
    return t.strftime('%Y-%m-%dT%H:%M:%S') + '.%09dZ' % frac


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


def _scalars(node, names, out):
    """(key, value) of every scalar whose key is one of names, anywhere."""
    for k, v in node:
        if isinstance(v, Obj):
            _scalars(v, names, out)
        elif k in names:
            out.append((k, v))
    return out


def _has_key(node, key):
    for k, v in node:
        if k == key or (isinstance(v, Obj) and _has_key(v, key)):
            return True
    return False


_CTRL = re.compile('[\x00-\x1f\x7f-\x9f\u2028\u2029\ufffd]')
_ESC = {'\r': '\\r', '\n': '\\n', '\t': '\\t', '\ufffd': '\\ufffd'}
TEXT_LIMIT = 300


def clean(v, limit=TEXT_LIMIT):
    """A value safe for one table cell: control and undecodable characters
    escaped, at most limit characters (then '...' and the full length)."""
    if v is None:
        return None
    s = _CTRL.sub(lambda m: _ESC.get(m.group(0), '\\x%02x' % ord(m.group(0))
                                     if ord(m.group(0)) < 0x100 else '\\u%04x' % ord(m.group(0))), v)
    if len(s) > limit:
        s = '%s... (%d characters)' % (s[:limit], len(s))
    return s


_STATUS_IN_TEXT = re.compile(r'\d{3}[ -]([245]\.\d{1,3}\.\d{1,3})(?=\s|$)')
_LINE_HEAD = re.compile(r'\d{3}[ -]?')


def reply_text(lines):
    """A reply as one text: its first line as sent, then each further
    line without its code (and without the enhanced status when it repeats
    the first line's), after ' / ': the URL or id a server puts on a later
    line of a refusal stays with it."""
    if not lines:
        return None
    out = [lines[0]]
    m = _STATUS_IN_TEXT.match(lines[0])
    status = m.group(1) if m else None
    for ln in lines[1:]:
        rest = _LINE_HEAD.sub('', ln, count=1)
        if status and rest.startswith(status):
            rest = rest[len(status):].lstrip(' ')
        out.append(rest)
    return ' / '.join(out)


def connection_id(client, server, start_ns):
    """Stable across runs and files: the endpoints and the time of the
    connection's first frame."""
    h = hashlib.sha1(('%s|%s|%s' % (client, server, start_ns)).encode()).hexdigest()
    return 'C' + h[:16]


class FileParser:
    """Everything the tables need from one file's tshark -T json output."""

    def __init__(self, display):
        self.file = display
        self.conns = {}         # stream -> dict
        self.frames = {}        # frame -> (ns, protocols)
        self.frame_tx = {}      # frame -> last transaction id named in it
        self.cmds = {}          # frame -> [command dict]
        self.replies = []
        self.txs = {}           # (stream, id) -> dict
        self.syn_ports = {}
        self.ncmd = 0

    def conn(self, stream):
        c = self.conns.get(stream)
        if c is None:
            c = self.conns[stream] = {'client': None, 'server': None, 'client_guess': None,
                                      'server_guess': None, 'start': None, 'first_ns': None,
                                      'helo': [], 'auth': [], 'starttls': None}
        return c

    def feed(self, pkt):
        layers = (pkt.get_obj('_source') or Obj()).get_obj('layers') or Obj()
        frame = ns = protocols = None
        ipsrc = ipdst = sport = dport = stream = rel = None
        smtp = imf = None
        for name, layer in layers:
            if not isinstance(layer, Obj):
                continue
            if name == 'frame':
                frame = _int(layer.first('frame.number'))
                ns = epoch_ns(layer.first('frame.time_epoch'))
                protocols = layer.first('frame.protocols') or ''
            elif name in ('ip', 'ipv6'):
                ipsrc = layer.first(name + '.src')
                ipdst = layer.first(name + '.dst')
            elif name == 'tcp':
                sport, dport = layer.first('tcp.srcport'), layer.first('tcp.dstport')
                stream = _int(layer.first('tcp.stream'))
                ts = layer.get_obj('Timestamps')
                rel = rel_ns(ts.first('tcp.time_relative')) if ts else None
            elif name == 'smtp':
                smtp = layer
            elif name == 'imf':
                imf = layer
        self.frames[frame] = (ns, protocols)
        src, dst = endpoint(ipsrc, sport), endpoint(ipdst, dport)
        if smtp is None:
            if dport is not None and imf is None:
                self.syn_ports[dport] = self.syn_ports.get(dport, 0) + 1
            return
        c = self.conn(stream)
        if c['start'] is None and ns is not None and rel is not None:
            c['start'] = ns - rel
        if c['first_ns'] is None:
            c['first_ns'] = ns
        cur_tx = None
        had_reply = had_cmd = False
        pending_cmd = None
        for k, v in smtp:
            if k == 'smtp.transaction' and not isinstance(v, Obj):
                cur_tx = _int(v)
                self.frame_tx[frame] = cur_tx
                t = self.tx(stream, cur_tx)
                t['frames'].append(frame)
            elif k == 'smtp.transaction_tree' and isinstance(v, Obj) and cur_tx is not None:
                if v.first('smtp.transaction.outcome') is not None or \
                        v.first('smtp.transaction.sender') is not None:
                    t = self.tx(stream, cur_tx)
                    t['summary'], t['summary_frame'] = v, frame
            elif k == 'smtp.command' and not isinstance(v, Obj):
                pending_cmd = self.command(frame, stream, cur_tx, v, None)
                had_cmd = True
            elif k == 'smtp.command_tree' and isinstance(v, Obj) and pending_cmd is not None:
                verb = v.first('smtp.command.verb')
                if verb is not None:
                    pending_cmd['verb'] = verb
                pending_cmd['address'] = v.first('smtp.command.address')
                pending_cmd['unknown'] = (_has_key(v, 'smtp.command.unknown')
                                          or _has_key(v, 'smtp.command.not_a_command'))
                pending_cmd = None
            elif k in ('smtp.reply', 'smtp.reply_tree') and isinstance(v, Obj):
                had_reply = True
                self.replies.append({
                    'file': self.file, 'stream': stream, 'frame': frame, 'ns': ns,
                    'command': v.first('smtp.reply.command'),
                    'code': _int(v.first('smtp.reply.code')),
                    'category': _int(v.first('smtp.reply.category')),
                    'status': v.first('smtp.reply.status'),
                    'text': reply_text(v.all('smtp.reply.line')),
                    'recipient': v.first('smtp.reply.recipient'),
                    'response_time': v.first('smtp.reply.time'),
                    'request_in': _int(v.first('smtp.reply.request_in'))})
            elif k in ('smtp.message', 'smtp.message_tree') and isinstance(v, Obj) and cur_tx is not None:
                t = self.tx(stream, cur_tx)
                t['message_length'] = _int(v.first('smtp.message.length'))
                t['message_frame'] = frame
        for k, v in _scalars(smtp, ('smtp.helo', 'smtp.auth.username'), []):
            c['helo' if k == 'smtp.helo' else 'auth'].append((frame, v))
        if c['starttls'] is None and _has_key(smtp, 'smtp.starttls'):
            c['starttls'] = frame
        # a reply goes from the server to the client
        if had_reply:
            c['server'], c['client'] = c['server'] or src, c['client'] or dst
        elif had_cmd and c['client_guess'] is None:
            c['client_guess'], c['server_guess'] = src, dst
        if imf is not None and cur_tx is not None:
            t = self.tx(stream, cur_tx)
            t['imf'] = {'subject': imf.first('imf.subject'), 'message_id': imf.first('imf.message_id'),
                        'from': imf.first('imf.from'), 'date': imf.first('imf.date')}

    def command(self, frame, stream, tx, line, verb):
        self.ncmd += 1
        cmd = {'frame': frame, 'stream': stream, 'tx': tx, 'verb': verb or line.split(' ')[0],
               'address': None, 'unknown': False}
        self.cmds.setdefault(frame, []).append(cmd)
        return cmd

    def tx(self, stream, tid):
        key = (stream, tid)
        t = self.txs.get(key)
        if t is None:
            t = self.txs[key] = {'stream': stream, 'id': tid, 'frames': [], 'summary': None,
                                 'summary_frame': None, 'message_length': None,
                                 'message_frame': None, 'imf': None}
        return t

    # -- the rows --

    def result(self):
        for c in self.conns.values():
            c['client'] = c['client'] or c['client_guess'] or ''
            c['server'] = c['server'] or c['server_guess'] or ''
            c['id'] = connection_id(c['client'], c['server'],
                                    c['start'] if c['start'] is not None else c['first_ns'])
        unknown = set()
        for cl in self.cmds.values():
            for cmd in cl:
                if cmd['unknown']:
                    unknown.add(cmd['verb'])
        # replies to RCPT, paired with the RCPT commands of the frame they answer
        rcpt_replies = {}
        for r in self.replies:
            c = self.conns[r['stream']]
            r['connection'], r['client'], r['server'] = c['id'], c['client'], c['server']
            r['time'] = iso_time(r['ns'])
            at = self.cmds.get(r['request_in'])
            r['unknown'] = r['command'] in unknown or bool(at and all(x['unknown'] for x in at))
            if (r['command'] or '').upper() == 'RCPT' and r['request_in'] is not None:
                rcpt_replies.setdefault(r['request_in'], []).append(r)
        self.by_stream = {}
        for r in self.replies:
            self.by_stream.setdefault(r['stream'], []).append(r)
        rcpt_of = {}
        for fr, rl in rcpt_replies.items():
            cmds = [x for x in self.cmds.get(fr, []) if x['verb'].upper() == 'RCPT']
            for cmd, r in zip(cmds, rl):
                rcpt_of[id(cmd)] = r
        txs = [self.transaction(t, rcpt_of) for _, t in sorted(
            self.txs.items(), key=lambda kv: (min(kv[1]['frames'] or [kv[1]['summary_frame'] or 0]),
                                              kv[0][0], kv[0][1]))]
        # connections that went into TLS after STARTTLS and whose SMTP inside
        # it was not read (no key log): their mail is not in the tables
        tls_unread = 0
        for stream, c in self.conns.items():
            if c['starttls'] is not None and not any(
                    r['frame'] > c['starttls'] and
                    'tls' in (self.frames.get(r['frame'], (None, ''))[1] or '').split(':')
                    for r in self.by_stream.get(stream, ())):
                tls_unread += 1
        return {'replies': self.replies, 'transactions': txs, 'commands': self.ncmd,
                'tls_unread': tls_unread,
                'syn_ports': self.syn_ports}

    def transaction(self, t, rcpt_of):
        stream, tid, s = t['stream'], t['id'], t['summary']
        c = self.conns[stream]
        first = _int(s.first('smtp.transaction.first_frame')) if s else None
        frames = sorted(set(t['frames']))
        cmds = [cmd for fr in frames for cmd in self.cmds.get(fr, []) if cmd['tx'] == tid]
        if first is None:
            first = next((cmd['frame'] for cmd in cmds if cmd['verb'].upper() == 'MAIL'),
                         frames[0] if frames else t['summary_frame'])
        sender = s.first('smtp.transaction.sender') if s else None
        if sender is None:
            sender = next((cmd['address'] for cmd in cmds if cmd['verb'].upper() == 'MAIL'), None)
        accepted, refused, unanswered = [], [], []
        rcpts = [cmd for cmd in cmds if cmd['verb'].upper() == 'RCPT']
        for cmd in rcpts:
            r = rcpt_of.get(id(cmd))
            if r is None:
                # no reply in the capture: neither accepted nor refused
                unanswered.append(clean(cmd['address'] or ''))
                continue
            item = {'address': clean(cmd['address'] or ''), 'code': r['code'],
                    'status': r['status'], 'text': clean(r['text'])}
            (accepted if r['category'] in (2, 3) else refused).append(item)
        if not rcpts and s:
            bad = s.all('smtp.transaction.rejected_recipient')
            for a in s.all('smtp.transaction.recipient'):
                item = {'address': clean(a), 'code': None, 'status': None, 'text': None}
                if a in bad:
                    bad.remove(a)
                    refused.append(item)
                else:
                    accepted.append(item)
        outcome = s.first('smtp.transaction.outcome') if s else None
        if outcome is None:
            outcome = 'unfinished at capture end'
        elif outcome == 'delivered' and refused:
            # plugins before the finer outcomes said plainly "delivered"
            outcome = 'delivered to some recipients'
        final_code = _int(s.first('smtp.transaction.final_code')) if s else None
        final_text = s.first('smtp.transaction.final_reply') if s else None
        final_status = None
        fset = set(frames)
        tx_replies = [r for r in self.by_stream.get(stream, ()) if
                      self.frame_tx.get(r['request_in']) == tid and r['request_in'] in fset]
        if final_code is not None:
            for r in reversed(tx_replies):
                if r['code'] == final_code and (final_text is None or
                                                (r['text'] or '').split(' / ')[0] == final_text):
                    final_status, final_text = r['status'], r['text']
                    break
            else:
                m = _STATUS_IN_TEXT.match(final_text or '')
                final_status = m.group(1) if m else None
        elif refused:
            # no reply ended it (all recipients refused, then QUIT or RSET):
            # the last recipient's refusal
            final_code, final_status, final_text = refused[-1]['code'], refused[-1]['status'], refused[-1]['text']
        size = _int(s.first('smtp.transaction.size')) if s else None
        if size is None:
            size = t['message_length']
        dur = s.first('smtp.transaction.duration') if s else None
        ns = self.frames.get(first, (None,))[0]
        if ns is None:
            ns = min((self.frames[f][0] for f in frames if self.frames.get(f, (None,))[0] is not None),
                     default=None)
        protos = self.frames.get(first, (None, ''))[1] or ''
        before = [v for f, v in c['helo'] if first is None or f < first] or [v for _, v in c['helo']]
        if s is not None:
            # the plugin's: the user of the last AUTH that succeeded before it
            auth = s.all('smtp.transaction.auth_user')
        else:
            auth = [v for f, v in c['auth'] if first is None or f < first]
        # LMTP: one reply to the end of data per accepted recipient, which
        # decides that recipient's delivery
        lmtp = {}
        for r in tx_replies:
            if r.get('recipient') is not None and r['command'] == '<end-of-data>':
                lmtp.setdefault(r['recipient'], r)
        if lmtp:
            keep = []
            for x in accepted:
                r = lmtp.get(x['address'])
                if r is not None:
                    x = {'address': x['address'], 'code': r['code'], 'status': r['status'],
                         'text': clean(r['text'])}
                    if r['category'] not in (2, 3):
                        refused.append(x)
                        continue
                keep.append(x)
            accepted = keep
        imf = t['imf'] or {}
        return {
            'file': self.file, 'connection': c['id'], 'stream': stream, 'transaction': tid,
            'first_frame': first, 'time': iso_time(ns), 'ns': ns,
            'client': c['client'], 'server': c['server'],
            'helo': clean(before[-1]) if before else None,
            'tls': 'yes' if 'tls' in protos.split(':') else 'no',
            'auth_user': clean(auth[-1]) if auth else None,
            'sender': None if sender is None else ('<>' if sender == '' else clean(sender)),
            'accepted': accepted, 'refused': refused, 'unanswered': unanswered,
            'per_recipient': bool(lmtp),
            'size': size, 'outcome': outcome,
            'final_code': final_code, 'final_status': final_status, 'final_text': clean(final_text),
            'duration': float(dur) if dur is not None else None,
            'subject': clean(imf.get('subject')), 'message_id': clean(imf.get('message_id')),
            'from': clean(imf.get('from')), 'date': clean(imf.get('date')),
        }


# tshark's own warnings on stderr that are not about the file
_TSHARK_NOISE = re.compile(r'^(Running as user "[^"]*" and group "[^"]*"\. This could be dangerous\.'
                           r'|.*-j or -J was already specified.*)$')


def reason_of(display, given, rc, stderr_text):
    """tshark's complaint on one line, naming the file as the user did."""
    lines = [l[len('tshark: '):] if l.startswith('tshark: ') else l
             for l in stderr_text.splitlines() if l.strip()]
    lines = [l for l in lines if not _TSHARK_NOISE.match(l.strip())]
    reason = ' '.join(lines)
    for g in given:
        reason = reason.replace(g, display)
    if rc < 0:
        reason = ('tshark killed by signal %d. %s' % (-rc, reason)).strip()
    elif rc != 0 and not reason:
        reason = 'tshark exited with status %d' % rc
    return reason


def failed(reason):
    return {'status': 'failed', 'reason': reason, 'replies': [], 'transactions': [],
            'commands': 0, 'syn_ports': {}}


def run_local(job):
    """Worker: one tshark run over one file."""
    index, display, path, spec, check_format = job
    if check_format:
        why = sniff(path)
        if why:
            return index, failed(why)
    with tempfile.TemporaryFile() as err:
        try:
            p = subprocess.Popen(spec.prefix + spec.args(path),
                                 stdout=subprocess.PIPE, stderr=err)
        except OSError as e:
            return index, failed('cannot run tshark: %s' % e)
        try:
            # parsed while tshark runs; its status and stderr come at the end
            parsed = collect((l.decode('utf-8', 'replace') for l in p.stdout), display)
        finally:
            p.stdout.close()
            rc = p.wait()
        err.seek(0)
        etext = err.read().decode('utf-8', 'replace')
    return index, finish(reason_of(display, [path], rc, etext), parsed, rc)


def collect(lines, display):
    fp, opened, perr = FileParser(display), False, None
    try:
        for line in lines:
            if line.strip() in ('[', '[]'):
                opened = True
                break
        if opened:
            for pkt in iter_packets(lines):
                fp.feed(pkt)
    except ValueError as e:
        perr = 'unreadable tshark output: %s' % e
    for _ in lines:     # drain
        pass
    return fp.result(), opened, perr


def finish(reason, parsed, rc):
    """ok: tshark read the whole file; damaged: it opened the file as a
    capture and stopped at a damaged or cut-off part (the rows before are
    kept); failed: nothing was read.  Only whether tshark succeeded counts,
    not which non-zero status it chose (4.6 uses other ones than 4.0)."""
    res, opened, perr = parsed
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
    res = dict(res)
    res.update({'status': status, 'reason': reason})
    return res


# ---------------------------------------------------------------------------
# Progress

class Progress:
    active = False
    HALF_LIFE = 1 / 16  # of the elapsed time: how fast older files stop counting
    MIN_RECENT = 8      # ... but the last 8 finished files always count
    LAST = 2000         # files looked at

    def __init__(self, total_files, total_bytes, enabled):
        self.nf, self.nb = total_files, total_bytes
        self.f = self.b = 0
        self.t0 = time.monotonic()
        self.last = 0.0
        self.tty = sys.stderr.isatty()
        self.enabled = enabled
        self.points = []    # (elapsed, files done, bytes done) at every finished file

    @staticmethod
    def clear_line():
        if Progress.active:
            sys.stderr.write('\r\x1b[K')
            Progress.active = False

    def add_point(self, t, files, nbytes):
        self.points.append((t, files, nbytes))
        if len(self.points) > 2 * self.LAST:
            del self.points[:-self.LAST]

    def eta(self):
        """Seconds left, at the recent throughput: the time between one
        finished file and the next is fitted as a * files + b * bytes
        (least squares: a cost per file and one per byte; biggest files go
        first, so both show), each file weighing half as much for every
        sixteenth of the elapsed time since it finished.  So the time left
        follows the present pace (other jobs starting or ending, a slow
        start), not the first files.  When the recent files cannot tell the
        two costs apart (all of one size): their bytes/s."""
        pts = self.points[-self.LAST - 1:]
        if len(pts) <= self.LAST:
            pts = [(0.0, 0, 0)] + pts     # the start
        if len(pts) < 3:
            return None
        now = pts[-1][0]
        k = max(1, len(pts) - 1 - self.MIN_RECENT)
        half = max(self.HALF_LIFE * now, (now - pts[k][0]) / 2, 1e-9)
        sff = sfb = sbb = stf = stb = st = sf = sb = 0.0
        for (t0, f0, b0), (t1, f1, b1) in zip(pts, pts[1:]):
            w = 0.5 ** ((now - t1) / half)
            dt, df, db = t1 - t0, f1 - f0, (b1 - b0) / 1e6
            sff += w * df * df
            sfb += w * df * db
            sbb += w * db * db
            stf += w * dt * df
            stb += w * dt * db
            st += w * dt
            sf += w * df
            sb += w * db
        left_f, left_mb = self.nf - self.f, (self.nb - self.b) / 1e6
        det = sff * sbb - sfb * sfb
        if det > 1e-6 * sff * sbb > 0:
            a = (stf * sbb - stb * sfb) / det
            b = (sff * stb - sfb * stf) / det
            if a >= 0 and b >= 0:
                return a * left_f + b * left_mb
        if sb > 0:
            return left_mb * st / sb
        return left_f * st / sf if sf > 0 else None

    def update(self, files, nbytes, final=False):
        self.f += files
        self.b += nbytes
        now = time.monotonic()
        if files:
            self.add_point(now - self.t0, self.f, self.b)
        if not self.enabled:
            return
        interval = 0.2 if self.tty else 10.0
        if not final and now - self.last < interval:
            return
        self.last = now
        el = max(now - self.t0, 1e-9)
        frate, brate = self.f / el, self.b / el
        left = self.eta()
        eta = 'done' if self.f >= self.nf else (
            '%s left' % fmt_dur(left) if left is not None else '? left')
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

REPLY_COLUMNS = ['file', 'connection', 'stream', 'frame', 'time', 'client', 'server', 'command',
                 'code', 'category', 'status', 'text', 'response_time']
TX_COLUMNS = ['file', 'connection', 'stream', 'transaction', 'first_frame', 'time', 'client',
              'server', 'helo', 'tls', 'auth_user', 'sender', 'accepted', 'refused', 'unanswered',
              'accepted_count', 'refused_count', 'size', 'outcome', 'final_code',
              'final_status', 'final_text', 'duration', 'subject', 'message_id', 'from', 'date']
UNKNOWN = '(unknown)'
LISTED = 200        # failed mails, reasons and files shown in the summary


def _norm_addr(m):
    return '<ADDR>' if m.group(0).startswith('<') else 'ADDR'


_NORMALISE = [
    (re.compile(r'^\d{3}[ -]'), ''),
    (re.compile(r'^[245]\.\d{1,3}\.\d{1,3}\s+'), ''),
    (re.compile(r'<[^<>\s]*@[^<>\s]*>|[\w.+%-]+@[\w.-]+'), _norm_addr),
    (re.compile(r'\[?\b(?:\d{1,3}\.){3}\d{1,3}\b\]?'), 'IP'),
    (re.compile(r'\[?\b[0-9a-fA-F]*:[0-9a-fA-F:]*:[0-9a-fA-F]+\b\]?'), 'IP'),
    (re.compile(r'\b(?=[0-9A-Za-z]*\d)(?=[0-9A-Za-z]*[A-Za-z])[0-9A-Za-z]{6,}\b'), 'ID'),
    (re.compile(r'\d+'), 'N'),
    (re.compile(r'\s+'), ' '),
]


def normalise(text):
    """A reply's text with what changes from mail to mail taken out: the
    code and status, addresses, IP addresses, queue ids, numbers."""
    s = text or ''
    for rx, rep in _NORMALISE:
        s = rx.sub(rep, s)
    return s.strip()


def quantile(sorted_vals, q):
    if not sorted_vals:
        return None
    k = (len(sorted_vals) - 1) * q
    lo = int(math.floor(k))
    hi = min(lo + 1, len(sorted_vals) - 1)
    return sorted_vals[lo] + (sorted_vals[hi] - sorted_vals[lo]) * (k - lo)


def time_stats(values):
    v = sorted(values)
    return {'count': len(v), 'median': quantile(v, 0.5), 'p95': quantile(v, 0.95),
            'max': v[-1] if v else None}


class Stats:
    def __init__(self):
        self.by_cat, self.by_code, self.by_cmd = {}, {}, {}
        self.servers = {}
        self.cmd_times = {}
        self.slow = []      # min-heap of (time, -seq, row)
        self.seq = 0
        self.epochs = array.array('d')
        self.cats = array.array('b')
        self.times = array.array('d')
        self.n = 0
        self.reasons = {}   # (code, status, normalised text) -> [count, example row]
        self.ntx, self.by_outcome = 0, {}
        self.failed_mail = []
        self.nfailed_mail = 0
        self.unsent = []
        self.nunsent = 0
        self.no_smtp = []
        self.tls_unread = []

    def command_name(self, r):
        return UNKNOWN if r['unknown'] else (r['command'] or '(none)')

    def add(self, r):
        self.n += 1
        self.seq += 1
        cat = r['category']
        self.by_cat[cat] = self.by_cat.get(cat, 0) + 1
        self.by_code[r['code']] = self.by_code.get(r['code'], 0) + 1
        cmd = self.command_name(r)
        c = self.by_cmd.setdefault(cmd, [0, 0, 0])
        c[0] += 1
        if cat in (4, 5):
            c[cat - 3] += 1
            key = (r['code'], r['status'] or '', normalise(r['text']))
            x = self.reasons.get(key)
            if x is None:
                self.reasons[key] = [1, r]
            else:
                x[0] += 1
        s = self.servers.setdefault(r['server'], {'replies': 0, '4': 0, '5': 0,
                                                  'times': array.array('d')})
        s['replies'] += 1
        if cat in (4, 5):
            s[str(cat)] += 1
        if r['ns'] is not None:
            self.epochs.append(r['ns'] / 1e9)
            self.cats.append(cat if cat in (2, 3, 4, 5) else 0)
        if r['response_time'] is not None:
            t = float(r['response_time'])
            s['times'].append(t)
            self.times.append(t)
            self.cmd_times.setdefault(cmd, array.array('d')).append(t)
            item = (t, -self.seq, r)
            if len(self.slow) < SLOWEST:
                heapq.heappush(self.slow, item)
            elif item > self.slow[0]:
                heapq.heapreplace(self.slow, item)

    def add_tx(self, t):
        self.ntx += 1
        self.by_outcome[t['outcome']] = self.by_outcome.get(t['outcome'], 0) + 1
        base = {'time': t['time'], 'file': t['file'], 'connection': t['connection'],
                'server': t['server'], 'sender': t['sender'], 'outcome': t['outcome']}
        rows = []
        cat = (t['final_code'] or 0) // 100
        if cat in (4, 5) and t['outcome'] in ('rejected at MAIL', 'deferred at MAIL'):
            # MAIL's refusal is why: the recipients' replies after it only
            # follow from it (503 "need MAIL")
            for a in ([x['address'] for x in t['refused'] + t['accepted']] + t['unanswered']
                      or [None]):
                rows.append(dict(base, recipient=a, code=t['final_code'],
                                 status=t['final_status'], text=t['final_text']))
            t = dict(t, refused=[], accepted=[])
        for x in t['refused']:
            rows.append(dict(base, recipient=x['address'], code=x['code'], status=x['status'],
                             text=x['text']))
        if cat in (4, 5) and t['accepted'] and not t['per_recipient']:
            for x in t['accepted']:
                rows.append(dict(base, recipient=x['address'], code=t['final_code'],
                                 status=t['final_status'], text=t['final_text']))
        elif cat in (4, 5) and not t['refused'] and not rows:
            rows.append(dict(base, recipient=None, code=t['final_code'],
                             status=t['final_status'], text=t['final_text']))
        for row in rows:
            self.nfailed_mail += 1
            if len(self.failed_mail) < LISTED:
                self.failed_mail.append(row)
        if not rows and (t['accepted'] or t['unanswered']) and t['final_code'] is None:
            # recipients, but the message was never accepted nor refused
            self.nunsent += 1
            if len(self.unsent) < LISTED:
                self.unsent.append(dict(base, recipients=[x['address'] for x in t['accepted']] +
                                        ['%s (no reply)' % a for a in t['unanswered']]))


def csv_value(v):
    if v is None:
        return ''
    if isinstance(v, list):
        return '; '.join(rcpt_text(x) for x in v)
    return v


def rcpt_text(x):
    if isinstance(x, str):
        return x
    if x['code'] is None:
        return x['address'] + (' ' + x['text'] if x['text'] else '')
    return '%s %s%s' % (x['address'], x['code'], ' ' + x['status'] if x['status'] else '')


def reply_json(r):
    d = {k: r[k] for k in REPLY_COLUMNS}
    d['response_time'] = float(r['response_time']) if r['response_time'] is not None else None
    return d


def reply_row(r):
    out = dict(r)
    out['command'] = clean(r['command'], 64)
    out['text'] = clean(r['text'])
    return out


def tx_row(t):
    d = {k: t.get(k) for k in TX_COLUMNS}
    d['accepted_count'], d['refused_count'] = len(t['accepted']), len(t['refused'])
    return d


def tx_csv_value(k, v):
    # seconds as tshark writes times (0.000007000, not 7e-06)
    if k == 'duration' and isinstance(v, float):
        return '%.9f' % v
    return csv_value(v)


class OutDirError(Exception):
    pass


class OutDir:
    """The output folder.  The tool writes only files of its own names
    there (OUT_NAMES), each first under a new temporary name (made with
    O_EXCL, so no link is followed and nothing is overwritten) and renamed
    into place when the run ends; MARK records what it wrote (name, inode,
    size, modification time).  A file of one of its names that MARK does
    not record as this tool's, unchanged (the user's, or a link), stops the
    run before anything is written; files of other names are never touched.
    An earlier run's outputs that this run does not write again (chart.png
    after --no-chart, parquet without pyarrow) are removed, as they no
    longer describe the captures next to them."""

    def __init__(self, path):
        self.path = path
        self.tmp = {}        # name -> temporary path of this run
        self.ours = {}       # name -> (ino, size, mtime_ns) an earlier run recorded
        if os.path.lexists(path) and not os.path.isdir(path):
            raise OutDirError('%s exists and is not a folder: choose another -o' % path)
        try:
            os.makedirs(path, exist_ok=True)
        except OSError as e:
            raise OutDirError('cannot make the output folder %s: %s' % (path, e.strerror or e))
        umask = os.umask(0o22)
        os.umask(umask)
        self.mode = 0o666 & ~umask
        mark = os.path.join(path, MARK)
        try:
            st = os.lstat(mark)
        except FileNotFoundError:
            st = None
        except OSError as e:
            raise OutDirError('cannot read %s: %s' % (mark, e.strerror or e))
        if st is not None:
            try:
                if not os.path.isfile(mark) or os.path.islink(mark):
                    raise ValueError
                with open(mark, encoding='utf-8') as f:
                    rec = json.load(f)
                self.ours = {n: tuple(v) for n, v in rec['files'].items() if n in OUT_NAMES}
            except (OSError, ValueError, KeyError, TypeError, AttributeError):
                raise OutDirError('%s is not a record this tool wrote: choose another -o' % mark)
        foreign = []
        for n in OUT_NAMES:
            fp = os.path.join(path, n)
            try:
                st = os.lstat(fp)
            except FileNotFoundError:
                continue
            except OSError as e:
                raise OutDirError('cannot look at %s: %s' % (fp, e.strerror or e))
            key = self._key(st)
            if key is None or self.ours.get(n) != key:
                foreign.append(n)
        if foreign:
            raise OutDirError(
                '%s holds %s, not written by %s (or changed since): nothing was written; '
                'choose another -o, or move %s away' % (
                    path, ', '.join(foreign), PROG, 'them' if len(foreign) > 1 else 'it'))
        if not os.access(path, os.W_OK | os.X_OK):
            raise OutDirError('cannot write in the output folder %s' % path)

    @staticmethod
    def _key(st):
        if not stat.S_ISREG(st.st_mode):
            return None
        return (st.st_ino, st.st_size, st.st_mtime_ns)

    def path_for(self, name):
        """A new empty file of this run that becomes NAME; its path."""
        assert name in OUT_NAMES
        if name not in self.tmp:
            self.tmp[name] = self._new_tmp(name)
        return self.tmp[name]

    def _new_tmp(self, name):
        """A new empty file beside NAME (made exclusively), mode as umask says."""
        try:
            fd, tp = tempfile.mkstemp(prefix='.%s.' % name, suffix='.tmp', dir=self.path)
        except OSError as e:
            raise OutDirError('cannot write in the output folder %s: %s' % (self.path, e.strerror or e))
        os.fchmod(fd, self.mode)
        os.close(fd)
        return tp

    def open(self, name, newline=None):
        return open(self.path_for(name), 'w', encoding='utf-8', newline=newline)

    def written(self, name):
        return self.tmp[name]

    def discard(self, name):
        tp = self.tmp.pop(name, None)
        if tp is not None:
            try:
                os.unlink(tp)
            except OSError:
                pass

    def abort(self):
        for n in list(self.tmp):
            self.discard(n)

    def commit(self):
        """Puts this run's files in place, removes the earlier run's that it
        did not write again, and records what is there now."""
        rec = {}
        for n in OUT_NAMES:
            fp = os.path.join(self.path, n)
            try:
                st = os.lstat(fp)
            except FileNotFoundError:
                st = None
            if st is not None and (self._key(st) is None or self.ours.get(n) != self._key(st)):
                # appeared or changed during the run: left as it is
                msg('%s changed during the run: left as it is, this run\'s copy discarded' % fp)
                self.discard(n)
                continue
            if n in self.tmp:
                os.replace(self.tmp.pop(n), fp)
                rec[n] = self._key(os.lstat(fp))
            elif st is not None:
                os.unlink(fp)
        tp = self._new_tmp(MARK)
        with open(tp, 'w', encoding='utf-8') as f:
            json.dump({'tool': PROG, 'files': rec}, f, indent=1, sort_keys=True)
            f.write('\n')
        os.replace(tp, os.path.join(self.path, MARK))


class Writer:
    """Writes rows in file order, whatever order the files finish in."""

    def __init__(self, out, with_tx, stats):
        self.stats = stats
        self.out = out
        self.rcsv_f = out.open('replies.csv', newline='')
        self.rcsv = csv.writer(self.rcsv_f)
        self.rcsv.writerow(REPLY_COLUMNS)
        self.rjson = out.open('replies.jsonl')
        self.tcsv = self.tjson = None
        if with_tx:
            self.tcsv_f = out.open('transactions.csv', newline='')
            self.tcsv = csv.writer(self.tcsv_f)
            self.tcsv.writerow(TX_COLUMNS)
            self.tjson = out.open('transactions.jsonl')

    def write(self, res):
        for r in res['replies']:
            r = reply_row(r)
            self.rcsv.writerow([csv_value(r[k]) for k in REPLY_COLUMNS])
            self.rjson.write(json.dumps(reply_json(r), ensure_ascii=False) + '\n')
            self.stats.add(r)
        if self.tcsv:
            for t in res['transactions']:
                d = tx_row(t)
                self.tcsv.writerow([tx_csv_value(k, d[k]) for k in TX_COLUMNS])
                self.tjson.write(json.dumps(d, ensure_ascii=False) + '\n')
                self.stats.add_tx(t)

    def close(self):
        self.rcsv_f.close()
        self.rjson.close()
        if self.tcsv:
            self.tcsv_f.close()
            self.tjson.close()

    def parquet(self):
        """replies.parquet and transactions.parquet from the JSONL files,
        when pyarrow is importable.  Returns the note for the summary."""
        try:
            import pyarrow.json as pj
            import pyarrow.parquet as pq
        except ImportError:
            return 'skipped: pyarrow is not installed (pip install pyarrow); CSV and JSONL load in DuckDB as they are'
        names = ['replies'] + (['transactions'] if self.tcsv else [])
        for n in names:
            src = self.out.written(n + '.jsonl')
            if os.path.getsize(src) == 0:
                continue
            pq.write_table(pj.read_json(src), self.out.path_for(n + '.parquet'))
        return 'written: ' + ', '.join(n + '.parquet' for n in names)


SMTP_PORTS = ('24', '25', '587')     # the plugin's default ports (smtpx.tcp.port)


def no_smtp_hint(res):
    """Why a capture read without error has no SMTP in it, and what to try."""
    ports = sorted(res['syn_ports'].items(), key=lambda kv: (-kv[1], _int(kv[0]) or 0))
    hints = []
    if res['commands'] and not res['replies']:
        return 'only the client side was captured (commands, no replies): capture both directions'
    if ports and all(p in SMTP_PORTS for p, _ in ports):
        names = ', '.join('%s (%d)' % kv for kv in ports[:5])
        return ('TCP connections to port %s, which the plugin reads, but no SMTP reply in them: '
                'only part of each connection was captured (the handshake, or one side)' % names)
    ports = [kv for kv in ports if kv[0] not in SMTP_PORTS]
    if ports:
        names = ', '.join('%s (%d)' % kv for kv in ports[:5])
        hints.append('TCP connections to port %s: if SMTP runs there, add -d tcp.port==%s,smtpx'
                     % (names, ports[0][0]))
        if any(p in ('465', '443', '993', '995') for p, _ in ports):
            hints.append('port 465 is SMTP inside TLS: give the key log with '
                         '--pref tls.keylog_file:FILE')
    else:
        hints.append('no TCP connection starts in this capture: another port (-d tcp.port==N,smtpx), '
                     'implicit TLS (--pref tls.keylog_file:FILE), or a capture of one side only')
    return '; '.join(hints)


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
            if r['status'] != 'failed' and not r['replies']:
                self.writer.stats.no_smtp.append({'file': self.files[i], 'hint': no_smtp_hint(r)})
            if r.get('tls_unread'):
                self.writer.stats.tls_unread.append({'file': self.files[i],
                                                     'connections': r['tls_unread']})
            self.writer.write(r)
            self.next += 1


def make_summary(files, sizes, ordered, problems, stats, with_tx, chart_note, parquet_note):
    st = ordered.status
    failed_files = [{'file': files[i], 'reason': ordered.reason[i]} for i in range(len(files)) if st[i] == 'failed']
    damaged = [{'file': files[i], 'reason': ordered.reason[i]} for i in range(len(files)) if st[i] == 'damaged']
    servers = []
    for name, s in stats.servers.items():
        n4, n5 = s['4'], s['5']
        ts = time_stats(s['times'])
        servers.append({
            'server': name, 'replies': s['replies'], 'transient_4xx': n4, 'permanent_5xx': n5,
            'failure_rate': round((n4 + n5) / s['replies'], 6), 'timed': ts['count'],
            'median_time': ts['median'], 'p95_time': ts['p95'], 'max_time': ts['max']})
    servers.sort(key=lambda x: (-x['failure_rate'], -x['replies'], x['server']))
    slowest_servers = sorted(servers, key=lambda x: (-(x['p95_time'] or -1), -(x['max_time'] or -1),
                                                     x['server']))
    commands = []
    for name, times in stats.cmd_times.items():
        ts = time_stats(times)
        commands.append({'command': name, 'replies': ts['count'], 'median_time': ts['median'],
                         'p95_time': ts['p95'], 'max_time': ts['max']})
    commands.sort(key=lambda x: (-x['p95_time'], -x['max_time'], x['command']))
    slow = [reply_json(r) for _, _, r in sorted(stats.slow, key=lambda x: (-x[0], -x[1]))]
    cats = {}
    for c in sorted(stats.by_cat, key=lambda c: (c is None, c)):
        cats[str(c) if c is not None else 'none'] = stats.by_cat[c]
    reasons = sorted(stats.reasons.items(), key=lambda kv: (-kv[1][0], kv[0][0] or 0, kv[0][1], kv[0][2]))
    return {
        'files': {'found': len(files), 'read': st.count('ok'), 'read_in_part': st.count('damaged'),
                  'failed': st.count('failed'), 'bytes': sum(sizes),
                  'without_smtp': len(stats.no_smtp)},
        'replies': stats.n,
        'transactions': ({'available': True, 'count': stats.ntx,
                          'by_outcome': dict(sorted(stats.by_outcome.items(), key=lambda kv: (-kv[1], kv[0])))}
                         if with_tx else
                         {'available': False,
                          'note': 'the plugin has no smtp.transaction field (tshark -G fields): '
                                  'transactions.csv/.jsonl not written'}),
        'failed_mail': {'count': stats.nfailed_mail, 'listed': stats.failed_mail},
        'not_sent_mail': {'count': stats.nunsent, 'listed': stats.unsent},
        'reasons': [{'count': v[0], 'code': k[0], 'status': k[1] or None, 'text': k[2],
                     'example': {'file': v[1]['file'], 'frame': v[1]['frame'], 'text': v[1]['text']}}
                    for k, v in reasons[:LISTED]],
        'by_category': cats,
        'by_code': {str(c): stats.by_code[c] for c in sorted(stats.by_code, key=lambda c: (c is None, c))},
        'by_command': [{'command': k, 'replies': v[0], 'transient_4xx': v[1], 'permanent_5xx': v[2]}
                       for k, v in sorted(stats.by_cmd.items(), key=lambda kv: (-(kv[1][1] + kv[1][2]), -kv[1][0], kv[0]))],
        'servers': servers,
        'reply_times_by_server': [{'server': x['server'], 'replies': x['replies'],
                                   'timed': x['timed'], 'median_time': x['median_time'], 'p95_time': x['p95_time'],
                                   'max_time': x['max_time']} for x in slowest_servers],
        'reply_times_by_command': commands,
        'slowest': slow,
        'failed_files': failed_files,
        'damaged_files': damaged,
        'files_without_smtp': stats.no_smtp,
        'files_with_unread_tls': stats.tls_unread,
        'input_problems': [{'path': p, 'reason': r} for p, r in problems],
        'chart': chart_note,
        'parquet': parquet_note,
    }


def _cut(s, n):
    s = '' if s is None else str(s)
    return s if len(s) <= n else s[:n - 3] + '...'


def short_time(t):
    """2026-11-29T03:13:20.975520000Z -> 2026-11-29 03:13:20Z (the tables keep the fraction)."""
    return t[:10] + ' ' + t[11:19] + 'Z' if t and len(t) >= 19 else (t or '')


def reply_words(text, code, status):
    """A reply's text without the code and status already shown beside it."""
    t = text or ''
    if code is not None and t[:4] in ('%s ' % code, '%s-' % code):
        t = t[4:]
        if status and t.startswith(status + ' '):
            t = t[len(status) + 1:]
    return t


def _name(path):
    """A file name on one line of the summary: control characters escaped."""
    return clean(path, 1 << 16)


def summary_text(s):
    out = []
    f = s['files']
    out.append('SMTP batch summary')
    out.append('')
    out.append('files: %d found, %d read, %d read only in part, %d failed, %d without SMTP (%s)' % (
        f['found'], f['read'], f['read_in_part'], f['failed'], f['without_smtp'], fmt_bytes(f['bytes'])))
    tx = s['transactions']
    out.append('replies: %d' % s['replies'])
    if tx['available']:
        out.append('mail transactions: %d' % tx['count'])
        for k, v in tx['by_outcome'].items():
            out.append('  %-32s %8d' % (k, v))
    else:
        out.append('mail transactions: skipped: ' + tx['note'])
    out.append('')

    def t(v):
        return '-' if v is None else '%.6f' % v
    fm = s['failed_mail']
    out.append('Failed and deferred mail: %d recipient%s (4xx: deferred, try again; 5xx: refused)%s' % (
        fm['count'], '' if fm['count'] == 1 else 's',
        '' if fm['count'] <= len(fm['listed']) else '; the first %d, all in transactions.csv' % len(fm['listed'])))
    for x in fm['listed']:
        out.append('  %s  %s  server %s  %s' % (short_time(x['time']), _name(x['file']), x['server'], x['outcome']))
        out.append('      from %s to %s: %s %s %s' % (
            _cut(x['sender'] if x['sender'] is not None else '(no address)', 60),
            _cut(x['recipient'] if x['recipient'] is not None else '(no recipient yet)', 60),
            x['code'] if x['code'] is not None else '-', x['status'] or '-',
            _cut(reply_words(x['text'], x['code'], x['status']), 160)))
    if not fm['listed']:
        out.append('  none')
    ns = s['not_sent_mail']
    if ns['count']:
        out.append('')
        out.append('Mail with recipients that was never sent nor refused (aborted, '
                   'connection closed, capture ended): %d' % ns['count'])
        for x in ns['listed']:
            out.append('  %s  %s  server %s  %s: from %s to %s' % (
                short_time(x['time']), _name(x['file']), x['server'], x['outcome'],
                _cut(x['sender'] if x['sender'] is not None else '(no address)', 60),
                _cut(', '.join(x['recipients']), 100)))
    out.append('')
    out.append('Reasons for 4xx/5xx replies, most frequent first (addresses, IPs, ids and '
               'numbers replaced)')
    out.append('  %8s  %-4s %-8s %s' % ('count', 'code', 'status', 'text'))
    for x in s['reasons']:
        out.append('  %8d  %-4s %-8s %s' % (x['count'], x['code'], x['status'] or '-', _cut(x['text'], 120)))
    if not s['reasons']:
        out.append('  none')
    out.append('')
    out.append('Reply times per server (s), slowest (p95) first; timed: the replies with a '
               'command seen, which the times are of')
    out.append('  %-44s %8s %8s %10s %10s %10s' % ('server', 'replies', 'timed', 'median', 'p95', 'max'))
    for x in s['reply_times_by_server']:
        out.append('  %-44s %8d %8d %10s %10s %10s' % (_cut(x['server'], 44), x['replies'], x['timed'],
                                                       t(x['median_time']), t(x['p95_time']),
                                                       t(x['max_time'])))
    out.append('')
    out.append('Reply times per command (s), slowest (p95) first')
    out.append('  %-16s %8s %10s %10s %10s' % ('command', 'replies', 'median', 'p95', 'max'))
    for x in s['reply_times_by_command']:
        out.append('  %-16s %8d %10s %10s %10s' % (_cut(x['command'], 16), x['replies'], t(x['median_time']),
                                                  t(x['p95_time']), t(x['max_time'])))
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
        out.append('  %-16s %8d %8d %8d' % (_cut(c['command'], 16), c['replies'],
                                             c['transient_4xx'], c['permanent_5xx']))
    out.append('')
    out.append('Servers: failure rate (4xx+5xx share) and reply times (s)')
    out.append('  %-44s %8s %6s %6s %8s %10s %10s %10s' % (
        'server', 'replies', '4xx', '5xx', 'failed', 'median', 'p95', 'max'))
    for x in s['servers']:
        out.append('  %-44s %8d %6d %6d %7.1f%% %10s %10s %10s' % (
            _cut(x['server'], 44), x['replies'], x['transient_4xx'], x['permanent_5xx'],
            100 * x['failure_rate'], t(x['median_time']), t(x['p95_time']), t(x['max_time'])))
    out.append('')
    out.append('The %d slowest replies (response time from command to reply)' % SLOWEST)
    for r in s['slowest']:
        out.append('  %10.6f s  %-14s %s  %s  stream %s frame %s  %s' % (
            r['response_time'], _cut(r['command'], 14), r['code'], r['server'], r['stream'],
            r['frame'], _name(r['file'])))
        out.append('               %s' % _cut(r['text'], 160))
    out.append('')
    out.append('Files that could not be read')
    for x in s['failed_files']:
        out.append('  %s: %s' % (_name(x['file']), x['reason']))
    if not s['failed_files']:
        out.append('  none')
    out.append('')
    out.append('Files read only in part (replies before the damage are kept)')
    for x in s['damaged_files']:
        out.append('  %s: %s' % (_name(x['file']), x['reason']))
    if not s['damaged_files']:
        out.append('  none')
    out.append('')
    out.append('Files in which no SMTP reply was found')
    for x in s['files_without_smtp']:
        out.append('  %s: %s' % (_name(x['file']), x['hint']))
    if not s['files_without_smtp']:
        out.append('  none')
    if s['files_with_unread_tls']:
        out.append('')
        out.append('Files with connections that went on in TLS after STARTTLS, not decrypted '
                   '(their mail is not in the tables: --pref tls.keylog_file:FILE with the '
                   'session keys)')
        for x in s['files_with_unread_tls']:
            out.append('  %s: %d connection%s' % (_name(x['file']), x['connections'],
                                                 '' if x['connections'] == 1 else 's'))
    if s['input_problems']:
        out.append('')
        out.append('Inputs without captures')
        for x in s['input_problems']:
            out.append('  %s: %s' % (_name(x['path']), x['reason']))
    out.append('')
    out.append('Parquet: ' + s['parquet'])
    out.append('Chart: ' + s['chart'])
    return '\n'.join(out) + '\n'


# ---------------------------------------------------------------------------
# Chart

BUCKETS = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800,
           21600, 43200, 86400, 2 * 86400, 7 * 86400, 14 * 86400, 30 * 86400]
CHART_CATS = [(2, '2xx success', '#2ca02c'), (3, '3xx continue', '#1f77b4'),
              (4, '4xx deferred', '#ff9f1c'), (5, '5xx refused', '#d62728')]
CHART_COMMANDS = 14


def _gp_str(s):
    """A gnuplot string literal; no format characters reach gnuplot: every
    label is made here (gnuplot 6 rejects some format strings 5 took)."""
    return '"%s"' % s.replace('\\', '\\\\').replace('"', '\\"').replace('\n', '\\n')


def _time_label(t, span):
    d = datetime.datetime.fromtimestamp(t, datetime.timezone.utc)
    if span < 600:
        return d.strftime('%H:%M:%S')
    if span < 2 * 86400:
        return d.strftime('%H:%M')
    return d.strftime('%Y-%m-%d')


def _secs_label(v):
    if v >= 1:
        return '%g s' % v
    if v >= 1e-3:
        return '%g ms' % (v * 1e3)
    return '%g us' % (v * 1e6)


def draw_chart(out, stats):
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
        bucket = next((b for b in BUCKETS if span / b <= 60),
                      BUCKETS[-1] * max(1, int(span / 60 / BUCKETS[-1]) + 1))
        start = math.floor(lo / bucket) * bucket
        nb = int((hi - start) // bucket) + 1
        counts = {c: [0] * nb for c, _, _ in CHART_CATS}
        for e, c in zip(stats.epochs, stats.cats):
            if c in counts:
                counts[c][int((e - start) // bucket)] += 1
        with open(os.path.join(tmp, 'cats.dat'), 'w') as f:
            for k in range(nb):
                f.write('%d %s\n' % (k, ' '.join(str(counts[c][k]) for c, _, _ in CHART_CATS)))
        step = max(1, int(math.ceil(nb / 8.0)))
        ymax, ystep = {}, {}
        for c, _, _ in CHART_CATS:
            m = max(counts[c]) or 1
            # two or three labelled ticks, below the top of the strip
            st = next(x * 10 ** e for e in range(0, 12) for x in (1, 2, 5) if x * 10 ** e * 3 >= m)
            ymax[c], ystep[c] = m, st
        xt = ', '.join('%s %d' % (_gp_str(_time_label(start + k * bucket, span)), k)
                       for k in range(0, nb, step))
        # reply times per command: the most frequent commands
        cmds = sorted(stats.cmd_times.items(), key=lambda kv: (-len(kv[1]), kv[0]))[:CHART_COMMANDS]
        cmds.sort(key=lambda kv: -quantile(sorted(kv[1]), 0.5))
        tmin, tmax = 1e9, 1e-9
        with open(os.path.join(tmp, 'cmds.dat'), 'w') as f:
            for i, (name, ts) in enumerate(cmds):
                v = sorted(max(t, 1e-6) for t in ts)
                q = [quantile(v, x) for x in (0.05, 0.25, 0.5, 0.75, 0.95)]
                f.write('%d %g %g %g %g %g %g\n' % (i, q[1], q[0], q[4], q[3], q[2], v[-1]))
                tmin, tmax = min(tmin, v[0]), max(tmax, v[-1])
        cmd_tics = ', '.join('%s %d' % (_gp_str('%s\nn=%d' % (name, len(ts))), i)
                             for i, (name, ts) in enumerate(cmds))
        d0 = int(math.floor(math.log10(tmin))) if cmds else -6
        d1 = int(math.ceil(math.log10(tmax))) if cmds else 0
        if d1 <= d0:
            d1 = d0 + 1
        yt = ', '.join('%s %g' % (_gp_str(_secs_label(10.0 ** d)), 10.0 ** d) for d in range(d0, d1 + 1))
        png = out.path_for('chart.png')
        lines = ['set terminal pngcairo size 1200,1100 font ",10"',
                 'set output %s' % _gp_str(png),
                 'set multiplot',
                 'set style fill solid 0.9 border -1',
                 'set boxwidth 0.8 relative',
                 'set lmargin 14', 'set rmargin 4',
                 'set grid ytics lc rgb "#dddddd"',
                 'unset key']
        top, strip = 0.96, 0.135
        for i, (c, label, colour) in enumerate(CHART_CATS):
            lines += ['set origin 0,%g' % (top - (i + 1) * strip), 'set size 1,%g' % strip,
                      'set tmargin %d' % (2 if i == 0 else 0), 'set bmargin %d' % (2 if i == 3 else 0),
                      'set xrange [-0.5:%g]' % (nb - 0.5),
                      'set yrange [0:%g]' % (ymax[c] * 1.25), 'set ytics 0,%g,%g' % (ystep[c], ymax[c] // ystep[c] * ystep[c]),
                      'set ylabel %s tc rgb "%s"' % (_gp_str(label), colour),
                      'set xtics (%s)' % xt if i == 3 else 'set xtics (%s) scale 1,0' % ', '.join(
                          '"" %d' % k for k in range(0, nb, step)),
                      ('set title %s' % _gp_str('Replies per %s by category (UTC), %s to %s' % (
                          fmt_dur_word(bucket), iso_time(int(lo * 1e9))[:19], iso_time(int(hi * 1e9))[:19])))
                      if i == 0 else 'unset title',
                      'plot %s using 1:%d with boxes lc rgb "%s"' % (
                          _gp_str(os.path.join(tmp, 'cats.dat')), i + 2, colour)]
        lines += ['set origin 0,0', 'set size 1,%g' % (top - 4 * strip - 0.02),
                  'set tmargin 3', 'set bmargin 4', 'unset ylabel',
                  'set title %s' % _gp_str('Reply time per command (box 25-75 %%, whiskers 5-95 %%, '
                                           'bar median, dot slowest), command to reply'.replace('%%', '%')),
                  'set logscale y', 'set yrange [%g:%g]' % (10.0 ** d0, 10.0 ** d1),
                  'set ytics (%s)' % yt if cmds else 'set ytics autofreq',
                  'set xrange [-0.6:%g]' % (max(len(cmds), 1) - 0.4),
                  'set xtics (%s) font ",9"' % cmd_tics if cmds else 'unset xtics',
                  'set boxwidth 0.5 absolute']
        if cmds:
            dat = _gp_str(os.path.join(tmp, 'cmds.dat'))
            lines.append('plot %s using 1:2:3:4:5 with candlesticks lc rgb "#1f77b4" whiskerbars, '
                         '%s using 1:6:6:6:6 with candlesticks lc rgb "#000000" lw 2, '
                         '%s using 1:7 with points pt 7 ps 0.8 lc rgb "#d62728"' % (dat, dat, dat))
        else:
            lines.append('set label 1 "no response times" at graph 0.5,0.5 center')
            lines.append('plot 1 with lines lc rgb "#ffffff"')
        lines.append('unset multiplot')
        sp = os.path.join(tmp, 'chart.gp')
        with open(sp, 'w') as f:
            f.write('\n'.join(lines) + '\n')
        p = subprocess.run([gp, sp], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        if p.returncode != 0 or os.path.getsize(png) == 0:
            out.discard('chart.png')
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

def run_pool(files, paths, sizes, spec, jobs, ordered, check_format):
    todo = [(i, files[i], paths[i], spec, check_format) for i in range(len(files))]
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


def sshlogins(path):
    """The hosts of a GNU parallel sshloginfile: (line, None) for ':' (this
    machine, no ssh) or (line, ssh command words ending with the host)."""
    out = []
    with open(path, encoding='utf-8') as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith('#'):
                continue
            m = re.match(r'^\d+/(.*)$', line)
            rest = (m.group(1) if m else line).strip()
            if rest == ':':
                out.append((line, None))
                continue
            words = shlex.split(rest)
            out.append((line, words if len(words) > 1 else ['ssh', words[0]]))
    return out


class Scratch:
    """--transfer's folder on every host: created by this run (with a
    marker file naming the run), the only place copies go, and the only
    thing removed afterwards.  Mode 711: not listable by others; a copy is
    readable by whom the original was readable (the tshark user may differ
    from the ssh user)."""

    def __init__(self, hosts):
        self.run = secrets.token_hex(8)
        self.dir = '/tmp/smtp-batch-transfer-' + self.run
        self.marker = '.smtp-batch-run-' + self.run
        self.hosts = hosts
        self.made = []

    def script(self):
        d, mk = shlex.quote(self.dir), shlex.quote(self.dir + '/' + self.marker)
        return ('command -v rsync >/dev/null 2>&1 || { echo "rsync is not installed there '
                '(Debian package rsync)"; exit 97; }; '
                'if mkdir -m 711 %s 2>/dev/null; then : > %s || exit 98; '
                'elif [ ! -f %s ]; then echo "%s exists and is not this run\'s"; exit 98; fi; '
                'echo ok' % (d, mk, mk, self.dir))

    def create(self):
        if any(w for _, w in self.hosts) and not shutil.which('rsync'):
            raise RuntimeError('--transfer copies the captures with rsync, which is not installed '
                               'on this machine (Debian package rsync)')
        for line, words in self.hosts:
            cmd = (words + [self.script()]) if words else ['sh', '-c', self.script()]
            p = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE)
            out = p.stdout.decode('utf-8', 'replace').strip()
            if p.returncode != 0 or not out.endswith('ok'):
                err = (out + ' ' + p.stderr.decode('utf-8', 'replace')).strip()
                raise RuntimeError('--transfer: cannot prepare %s on %s: %s' % (
                    self.dir, line, err or 'exit status %d' % p.returncode))
            self.made.append((line, words))

    def remove(self):
        """Removes the run's folder (only when its marker is there)."""
        d, mk = shlex.quote(self.dir), shlex.quote(self.dir + '/' + self.marker)
        script = 'if [ -f %s ]; then rm -rf -- %s; fi' % (mk, d)
        for line, words in self.made:
            cmd = (words + [script]) if words else ['sh', '-c', script]
            p = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE)
            if p.returncode != 0:
                msg('--transfer: could not remove %s on %s: %s' % (
                    self.dir, line, p.stderr.decode('utf-8', 'replace').strip()))


def run_parallel(files, paths, sizes, spec, jobs, ordered, check_format, sshloginfile, transfer):
    """The per-file tshark jobs through GNU parallel over --sshloginfile
    hosts; their outputs come back into a local folder (--results)."""
    par = shutil.which('parallel')
    if not par:
        raise RuntimeError('GNU parallel is not installed (Debian package parallel): '
                           'needed for --sshloginfile')
    hosts = sshlogins(sshloginfile)
    if not hosts:
        raise RuntimeError('%s lists no host' % sshloginfile)
    scratch = None
    if transfer:
        scratch = Scratch(hosts)
        scratch.create()
    tmp = tempfile.mkdtemp(prefix='smtp-batch-par-')
    try:
        seq_index = []
        for i in range(len(files)):
            why = sniff(paths[i]) if check_format else None
            if why:
                ordered.done(i, failed(why))
            else:
                seq_index.append(i)
        if not seq_index:
            return
        listfile = os.path.join(tmp, 'files')
        with open(listfile, 'wb') as f:
            for i in seq_index:
                # '/./' makes parallel copy the file to SCRATCH/<absolute path>
                f.write((b'/.' if transfer else b'') + os.fsencode(os.path.abspath(paths[i])) + b'\0')
        if transfer:
            # a host that got a copy reads it (relative to the scratch folder,
            # the job's working folder); ':' (no copy) reads the original
            words = spec.prefix + spec.args('\x00FILE\x00')
            tshark = ' '.join('"$f"' if w == '\x00FILE\x00' else shlex.quote(w) for w in words)
            cmd = 'f={= s:^/\\./:: =}; [ -e "$f" ] || f=/"$f"; exec ' + tshark
        else:
            words = spec.prefix + spec.args('\x00FILE\x00')
            cmd = ' '.join('{}' if w == '\x00FILE\x00' else shlex.quote(w) for w in words)
        joblog = os.path.join(tmp, 'joblog')
        res = os.path.join(tmp, 'out')
        os.mkdir(res)
        argv = [par, '--will-cite', '--sshloginfile', sshloginfile, '-0', '-a', listfile,
                '--results', os.path.join(res, '{#}'), '--joblog', joblog,
                '-j', str(jobs) if jobs else '100%']
        if transfer:
            # --cleanup removes SCRATCH/<path>, the copy: never the original
            argv += ['--workdir', scratch.dir, '--transferfile', '{}', '--cleanup']
        argv.append(cmd)
        p = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        handled = set()

        def relay_stderr():
            # parallel's own messages, less the CPU probe's complaints where
            # /sys is missing (containers, chroots): they say nothing of a file
            for raw in iter(p.stderr.readline, b''):
                line = raw.decode('utf-8', 'replace')
                if line.startswith('lscpu: '):
                    continue
                Progress.clear_line()
                sys.stderr.write(line)
                sys.stderr.flush()
        relay = threading.Thread(target=relay_stderr, daemon=True)
        relay.start()

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
                                                     -sig if sig else rc, scratch))
        while p.poll() is None:
            time.sleep(0.3)
            harvest()
        relay.join(timeout=10)
        harvest()
        for seq in range(1, len(seq_index) + 1):
            if seq not in handled:
                i = seq_index[seq - 1]
                ordered.done(i, failed('GNU parallel did not run this job '
                                       '(exit status %d; see its messages above)' % p.returncode))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        if scratch:
            scratch.remove()


def parse_result_files(index, files, paths, res, seq, rc, scratch):
    out = os.path.join(res, str(seq))
    err = out + '.err'
    try:
        with open(err, 'rb') as f:
            etext = f.read().decode('utf-8', 'replace')
    except OSError:
        etext = ''
    given = os.path.abspath(paths[index])
    names = [given]
    if scratch:
        names = [scratch.dir + given, given.lstrip('/'), given]
    try:
        with open(out, 'rb') as f:
            parsed = collect((l.decode('utf-8', 'replace') for l in f), files[index])
    except OSError:
        parsed = collect([], files[index])
    return index, finish(reason_of(files[index], names, rc, etext), parsed, rc)


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
                    help='with --sshloginfile: copy each capture (rsync, needed on both ends) into '
                         'a scratch folder this run creates on each host, and remove only that '
                         'folder afterwards; without it the captures must be at the same path on '
                         'every host (shared storage)')
    ap.add_argument('--no-chart', action='store_true', help='do not draw chart.png')
    ap.add_argument('-d', '--decode-as', action='append', default=[], metavar='SPEC',
                    help="passed to tshark -d, e.g. 'tcp.port==2525,smtpx' (repeatable)")
    ap.add_argument('--pref', action='append', default=[], metavar='NAME:VALUE',
                    help="passed to tshark -o, e.g. 'tls.keylog_file:keys.txt' (repeatable)")
    ap.add_argument('--any-format', action='store_true',
                    help='let tshark try every format it knows (by default only pcap and pcapng, '
                         'possibly compressed, are read: tshark takes some text files for captures)')
    ap.add_argument('--standard-data-dir', action='store_true',
                    help="let tshark read its name tables (manuf, services, enterprises.tsv) at every "
                         "start; by default the local runs point it at a copy of its data folder "
                         "without them, which -n leaves unused (tshark 4.0: about a third less CPU "
                         "per small capture; the tables are the same)")
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

    folders = [] if not (a.standard_data_dir or a.sshloginfile) else None
    try:
        known = tshark_fields(prefix, folders)
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
    lean = None
    src = global_data_dir(folders[0]) if folders else None
    if src and os.path.isdir(src):
        try:
            lean = LeanDataDir(src)
        except OSError as e:
            msg('tshark starts with its usual data folder: cannot make a lean one: %s' % e)
    spec = Spec(lean.prefix(prefix) if lean else prefix, known, extra)
    with_tx = spec.with_tx
    if extra:
        bad = check_options(spec)
        if bad:
            if lean:
                lean.cleanup()
            msg('tshark does not take these -d/--pref options (nothing was read): %s' % bad)
            return 2
    for p in a.pref:
        name, _, value = p.partition(':')
        if name.strip() == 'tls.keylog_file' and value and not a.sshloginfile and \
                not os.path.isfile(value):
            msg('--pref %s: no such file here: TLS sessions will not be decrypted' % p)
    try:
        return run(a, spec, with_tx)
    finally:
        if lean:
            lean.cleanup()


def run(a, spec, with_tx):
    """Reads every input and writes the outputs; the exit status."""
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

    try:
        out = OutDir(a.outdir)
    except OutDirError as e:
        msg(str(e))
        return 2
    try:
        return run_into(a, spec, with_tx, files, paths, sizes, problems, out)
    except (OutDirError, OSError) as e:
        out.abort()
        msg(str(e) if isinstance(e, OutDirError) else 'cannot write the outputs in %s: %s' % (a.outdir, e))
        return 2


def run_into(a, spec, with_tx, files, paths, sizes, problems, out):
    stats = Stats()
    try:
        writer = Writer(out, with_tx, stats)
    except BaseException:
        out.abort()
        raise
    progress = Progress(len(files), sum(sizes), not a.quiet)
    ordered = Ordered(files, sizes, writer, progress)
    t0 = time.monotonic()
    jobs = a.jobs or (len(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity') else os.cpu_count() or 1)
    try:
        if files:
            if a.sshloginfile:
                run_parallel(files, paths, sizes, spec, a.jobs, ordered,
                             not a.any_format, a.sshloginfile, a.transfer)
            else:
                run_pool(files, paths, sizes, spec, jobs, ordered, not a.any_format)
    except TimeFormatError as e:
        writer.close()
        out.commit()
        msg('%s: the outputs in %s are incomplete' % (e, a.outdir))
        return 2
    except RuntimeError as e:
        writer.close()
        out.commit()
        msg(str(e))
        return 2
    except KeyboardInterrupt:
        writer.close()
        out.commit()
        msg('interrupted: the outputs in %s are incomplete' % a.outdir)
        return 130
    except BaseException:
        writer.close()
        out.abort()
        raise
    writer.close()
    if progress.enabled and files:
        progress.update(0, 0, final=True)
    elapsed = time.monotonic() - t0

    chart = 'not drawn (--no-chart)'
    if not a.no_chart:
        chart = draw_chart(out, stats)
    parquet = writer.parquet()
    summary = make_summary(files, sizes, ordered, problems, stats, with_tx, chart, parquet)
    with out.open('summary.json') as f:
        json.dump(summary, f, indent=2, ensure_ascii=False)
        f.write('\n')
    with out.open('summary.txt') as f:
        f.write(summary_text(summary))
    out.commit()
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
