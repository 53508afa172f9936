#!/usr/bin/env python3
"""The pathological inputs of issue 11 ("memory bounded by what is pending"),
each at the scale N given (10k, 100k, 1M by default):

  rcpt       one session: MAIL FROM, N pipelined RCPT TO, then the N+1
             replies, DATA, a short body, QUIT
  noreq      after the greeting, N "250 2.0.0 Ok" replies with no command
  multiline  after EHLO, one 250 reply of N lines
  longline   one client line of N*100 bytes (1 MB, 10 MB, 100 MB) with no CRLF
  body       one DATA body of N*500 bytes (5 MB, 50 MB, 500 MB)

Every stream goes out in 1460-byte segments, written to disk as it is made.

    tests/bench/gen-pathological.py -o DIR [-N 10k,100k,1M] [-k rcpt,body]

makes DIR/KIND-N.pcap (for example DIR/rcpt-100k.pcap).
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchpcap import PcapWriter, Conn, ip4, parse_size  # noqa: E402

KINDS = ('rcpt', 'noreq', 'multiline', 'longline', 'body')
CHUNK = 1460 * 64      # bytes generated at a time (whole segments)


def stream(c, side, ts, pieces):
    """Sends the concatenation of the byte strings of iterable pieces from
    side ('c' or 's') in 1460-byte segments without building it whole."""
    send = c.client if side == 'c' else c.server
    buf = b''
    for p in pieces:
        buf += p
        if len(buf) >= CHUNK:
            cut = len(buf) - len(buf) % 1460
            send(ts[0], buf[:cut])
            ts[0] += 100
            buf = buf[cut:]
    if buf:
        send(ts[0], buf)
        ts[0] += 100


def opening(c, ts, ehlo=True):
    c.handshake(ts[0])
    ts[0] += 1000
    c.server(ts[0], b'220 mx.example.net ESMTP\r\n')
    ts[0] += 1000
    if ehlo:
        c.client(ts[0], b'EHLO client.example.org\r\n')
        ts[0] += 1000
        c.server(ts[0], b'250-mx.example.net\r\n250-PIPELINING\r\n'
                 b'250-SIZE 0\r\n250-ENHANCEDSTATUSCODES\r\n250 8BITMIME\r\n')
        ts[0] += 1000


def closing(c, ts):
    c.client(ts[0], b'QUIT\r\n')
    ts[0] += 1000
    c.server(ts[0], b'221 2.0.0 Bye\r\n')
    ts[0] += 1000
    c.close(ts[0])


def gen(kind, n, path):
    w = PcapWriter(path)
    c = Conn(w, ip4('10.0.0.1'), ip4('192.0.2.1'), 40000, 25)
    ts = [1_700_000_000 * 10**6]
    if kind == 'rcpt':
        opening(c, ts)
        stream(c, 'c', ts, [b'MAIL FROM:<sender@example.org>\r\n']
               + [b'RCPT TO:<user%d@example.net>\r\n' % i for i in range(n)])
        stream(c, 's', ts, [b'250 2.1.0 Ok\r\n']
               + [b'250 2.1.5 Ok\r\n' if i % 10 else
                  b'550 5.1.1 <user%d@example.net>: User unknown\r\n' % i
                  for i in range(n)])
        c.client(ts[0], b'DATA\r\n')
        c.server(ts[0], b'354 go ahead\r\n')
        c.client(ts[0], b'Subject: x\r\n\r\nhello\r\n.\r\n')
        c.server(ts[0], b'250 2.0.0 Ok: queued\r\n')
        closing(c, ts)
    elif kind == 'noreq':
        opening(c, ts, ehlo=False)
        stream(c, 's', ts, (b'250 2.0.0 Ok\r\n' for _ in range(n)))
        c.close(ts[0])
    elif kind == 'multiline':
        opening(c, ts, ehlo=False)
        c.client(ts[0], b'EHLO client.example.org\r\n')
        ts[0] += 1000
        stream(c, 's', ts, [b'250-mx.example.net\r\n']
               + [b'250-X-EXTENSION-%d\r\n' % i for i in range(n - 2)]
               + [b'250 PIPELINING\r\n'])
        closing(c, ts)
    elif kind == 'longline':
        opening(c, ts)
        total = n * 100
        head = b'MAIL FROM:<'
        stream(c, 'c', ts, [head] + [b'a' * 1000] * ((total - len(head)) // 1000)
               + [b'a' * ((total - len(head)) % 1000)])
        c.close(ts[0])
    elif kind == 'body':
        opening(c, ts)
        c.client(ts[0], b'MAIL FROM:<sender@example.org>\r\nRCPT TO:<user@example.net>\r\n')
        c.server(ts[0], b'250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n')
        c.client(ts[0], b'DATA\r\n')
        c.server(ts[0], b'354 End data with <CR><LF>.<CR><LF>\r\n')
        line = b'x' * 76 + b'\r\n'               # 78 bytes a line
        nlines = n * 500 // len(line)
        stream(c, 'c', ts, [b'Subject: big\r\n\r\n'] + [line] * nlines + [b'.\r\n'])
        c.server(ts[0], b'250 2.0.0 Ok: queued\r\n')
        closing(c, ts)
    w.close()
    return w


def label(n):
    for unit, div in (('M', 10**6), ('k', 10**3)):
        if n >= div and n % div == 0:
            return '%d%s' % (n // div, unit)
    return str(n)


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('-o', '--out', required=True, help='output folder')
    ap.add_argument('-N', '--sizes', default='10k,100k,1M')
    ap.add_argument('-k', '--kinds', default=','.join(KINDS))
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    for kind in a.kinds.split(','):
        if kind not in KINDS:
            ap.error('unknown kind %s' % kind)
        for s in a.sizes.split(','):
            n = parse_size(s)
            path = os.path.join(a.out, '%s-%s.pcap' % (kind, label(n)))
            w = gen(kind, n, path)
            print('%s: %d packets, %.1f MB' % (path, w.packets, w.bytes / 1e6))


if __name__ == '__main__':
    main()
