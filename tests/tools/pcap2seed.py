#!/usr/bin/env python3
"""Turns the TCP connections of a capture into seeds for the session fuzzer
(tests/fuzz/fuzz_session.c).

    tests/tools/pcap2seed.py [-o DIR] [--max-bytes N] [--header HEX] CAPTURE...

Each TCP connection that carries payload becomes one seed file in DIR
(default: the current folder), named after the capture and the connection's
number: CAPTURE-STEM-cN.  Without -o and with a single connection, "-" as
the output (`-o -`) writes the seed to standard output.

The seed holds the 4-byte header (default 07 03 00 00: max_line 16384,
event array of 64, default max_reply, split seed 0) and one record per TCP
segment with payload, in capture order: 0x00, then ctl + 1, then the bytes
with each NUL doubled.  ctl bit 0 marks the server side (the side that
received the SYN, else the well-known port 24, 25, 465, 587 or 2525, else the
side whose first bytes start with a reply code), bit 2 a gap (lost bytes
before the segment, (ctl >> 3) * 7 of them, rounded up and capped at 217),
bit 1 feeds the segment's end with SMTP_FEED_FLUSH (the last segment before a
FIN).  Retransmitted bytes are dropped.  A seed is cut after --max-bytes
bytes of payload (default 4096, libFuzzer's -max_len in tests/tools/fuzz.sh).

It only creates files: an existing file of the same name is left alone.

    tests/tools/pcap2seed.py --check SEED-OR-FOLDER...

reads seeds back the way the fuzzer does and prints, for each, its records
and the client and server bytes it feeds; it fails when a seed feeds no
client byte or no server byte ("oneside" seeds are named so and exempt).
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pcaplib  # noqa: E402

SMTP_PORTS = (25, 587, 24, 465, 2525)
SEQ_MOD = 1 << 32


def encode_record(ctl, data):
    return b'\x00' + bytes([ctl + 1]) + data.replace(b'\x00', b'\x00\x00')


def server_side(segs):
    """The (ip, port) of the server of one connection."""
    for s in segs:
        if s.flags & pcaplib.TCP_SYN and not s.flags & pcaplib.TCP_ACK:
            return (s.dst, s.dport)
    for s in segs:
        if s.flags & pcaplib.TCP_SYN and s.flags & pcaplib.TCP_ACK:
            return (s.src, s.sport)
    for s in segs:
        if s.dport in SMTP_PORTS and s.sport not in SMTP_PORTS:
            return (s.dst, s.dport)
        if s.sport in SMTP_PORTS and s.dport not in SMTP_PORTS:
            return (s.src, s.sport)
    for s in segs:
        if s.payload:
            if s.payload[:3].isdigit():
                return (s.src, s.sport)
            return (s.dst, s.dport)
    return (segs[0].dst, segs[0].dport)


def connection_seed(segs, header, max_bytes):
    """The seed bytes of one connection, or None if it carries no payload."""
    server = server_side(segs)
    nxt = {}           # side -> next expected sequence number
    out = [header]
    total = 0
    last_data = {}     # side -> index in out of its last record
    for s in segs:
        side = 1 if (s.src, s.sport) == server else 0
        if s.flags & pcaplib.TCP_SYN:
            nxt[side] = (s.seq + 1) % SEQ_MOD
            continue
        data = s.payload
        if data and total < max_bytes:
            ctl = side
            if side in nxt:
                delta = (s.seq - nxt[side]) % SEQ_MOD
                if delta >= SEQ_MOD // 2:        # starts before: retransmission
                    old = SEQ_MOD - delta
                    if old >= len(data):
                        data = b''
                    else:
                        data = data[old:]
                elif delta > 0:                  # bytes lost before it
                    ctl |= 4 | (min(31, (delta + 6) // 7) << 3)
                nxt[side] = (s.seq + len(s.payload)) % SEQ_MOD
            else:
                nxt[side] = (s.seq + len(data)) % SEQ_MOD
            if data:
                data = data[:max_bytes - total]
                total += len(data)
                last_data[side] = len(out)
                out.append([ctl, data])
        if s.flags & (pcaplib.TCP_FIN | pcaplib.TCP_RST) and side in last_data:
            out[last_data[side]][0] |= 2
    if total == 0:
        return None
    return out[0] + b''.join(encode_record(c, d) for c, d in out[1:])


def decode(blob):
    """Records of a seed as the fuzzer reads them: [(ctl, bytes)]."""
    recs = []
    i, size = 4, len(blob)
    while i < size:
        ctl = 0
        if blob[i] == 0 and i + 1 < size and blob[i + 1] != 0:
            ctl = blob[i + 1] - 1
            i += 2
        chunk = bytearray()
        while i < size:
            if blob[i] == 0:
                if i + 1 < size and blob[i + 1] == 0:
                    chunk.append(0)
                    i += 2
                    continue
                break
            chunk.append(blob[i])
            i += 1
        if i + 1 == size and blob[i] == 0:
            i += 1
        recs.append((ctl, bytes(chunk)))
    return recs


def check(args):
    paths = []
    for a in args:
        if os.path.isdir(a):
            paths += sorted(os.path.join(a, n) for n in os.listdir(a) if not n.startswith('.'))
        else:
            paths.append(a)
    bad = 0 if paths else 1
    for p in paths:
        with open(p, 'rb') as f:
            recs = decode(f.read())
        sides = [sum(len(d) for c, d in recs if (c & 1) == side) for side in (0, 1)]
        ok = sides[0] > 0 and (sides[1] > 0 or 'oneside' in os.path.basename(p))
        bad += not ok
        print('%s %s: %d records, client %d bytes, server %d bytes'
              % ('ok ' if ok else 'BAD', p, len(recs), sides[0], sides[1]))
    print('%d seeds, %d bad' % (len(paths), bad))
    return 1 if bad else 0


def main():
    if len(sys.argv) > 1 and sys.argv[1] == '--check':
        return check(sys.argv[2:])
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('captures', nargs='+')
    ap.add_argument('-o', '--out', default='.', help='output folder, or - for standard output')
    ap.add_argument('--max-bytes', type=int, default=4096)
    ap.add_argument('--header', default='07030000', help='4 header bytes in hex')
    ap.add_argument('--prefix', default='', help='prefix of the seed names')
    a = ap.parse_args()
    header = bytes.fromhex(a.header)
    if len(header) != 4:
        ap.error('--header takes 4 bytes')
    written = 0
    for cap in a.captures:
        try:
            _pkts, segs = pcaplib.read_tcp_segments(cap)
        except (OSError, ValueError) as e:
            print('%s: %s' % (cap, e), file=sys.stderr)
            continue
        conns = pcaplib.group_connections([s for s in segs if s is not None])
        stem = os.path.splitext(os.path.basename(cap))[0]
        for n, conn in enumerate(conns.values(), 1):
            seed = connection_seed(conn, header, a.max_bytes)
            if seed is None:
                continue
            if a.out == '-':
                sys.stdout.buffer.write(seed)
                written += 1
                continue
            path = os.path.join(a.out, '%s%s-c%d' % (a.prefix, stem, n))
            try:
                with open(path, 'xb') as f:
                    f.write(seed)
            except FileExistsError:
                print('%s exists: left alone' % path, file=sys.stderr)
                continue
            written += 1
    print('%d seeds written' % written, file=sys.stderr)
    return 0 if written else 1


if __name__ == '__main__':
    sys.exit(main())
