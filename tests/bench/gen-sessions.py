#!/usr/bin/env python3
"""Deterministic many-session SMTP capture for the benchmark (issue 9).

Every session: TCP handshake, 220 greeting, EHLO and a 10-line 250 reply,
one or two mails (MAIL FROM and 1-5 RCPT TO pipelined in one write; about a
fifth of the recipients refused with 550 5.1.1 or 450 4.2.0 and an enhanced
status; DATA with a 0.2-1.5 KB body, or RSET when all recipients were
refused), QUIT, 221, FIN.  A quarter of the pipelined writes and of the
bodies are cut at a random byte (a line split across two segments), some
server replies too.  About 50 sessions are open at any time, their packets
interleaved.  The same arguments always give the same bytes.

Frames go to disk as they are made: memory does not grow with the size.

    tests/bench/gen-sessions.py -n 2000 out.pcap     # 2,000 sessions (~5 MB)
    tests/bench/gen-sessions.py -s 1G out.pcap       # sessions until 1 GB
"""
import argparse
import os
import random
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchpcap import PcapWriter, Conn, ip4, parse_size  # noqa: E402

EHLO_EXT = [b'PIPELINING', b'SIZE 10240000', b'VRFY', b'ETRN',
            b'AUTH PLAIN LOGIN', b'ENHANCEDSTATUSCODES', b'8BITMIME', b'DSN',
            b'SMTPUTF8']
WORDS = (b'lorem ipsum dolor sit amet consectetur adipiscing elit sed do '
         b'eiusmod tempor incididunt ut labore et dolore magna aliqua invoice '
         b'meeting report quarterly schedule attached please review').split()


def split_write(rng, data, prob):
    """data as one segment, or (with probability prob) cut at a random byte."""
    if len(data) > 2 and rng.random() < prob:
        cut = rng.randrange(1, len(data) - 1)
        return [data[:cut], data[cut:]]
    return [data]


def body(rng, n, size):
    hdr = (b'From: Sender %d <sender%d@example.org>\r\n'
           b'To: <user%d@example.net>\r\n'
           b'Subject: report %d\r\n'
           b'Message-ID: <%d.%d@example.org>\r\n'
           b'Date: Mon, 4 Mar 2024 10:00:00 +0000\r\n'
           b'MIME-Version: 1.0\r\n'
           b'Content-Type: text/plain; charset=utf-8\r\n\r\n'
           % (n, n, n, n, n, rng.randrange(10**9)))
    lines = []
    total = len(hdr)
    while total < size:
        line = b' '.join(rng.choice(WORDS) for _ in range(rng.randrange(4, 14)))
        if rng.random() < 0.03:
            line = b'.' + line          # dot-stuffed line
        lines.append(line)
        total += len(line) + 2
    return hdr + b'\r\n'.join(lines) + b'\r\n.\r\n'


def session(w, rng, n, clock):
    """Generator: writes session n's packets, yielding between steps."""
    cli = bytes([10, (n // 62500) % 250, (n // 250) % 250, n % 250 + 1])
    srv = ip4('192.0.2.%d' % (n % 4 + 1))
    c = Conn(w, cli, srv, 1024 + (n * 7919) % 64000, 25,
             rng.randrange(1 << 32), rng.randrange(1 << 32))
    host = b'mx%d.example.net' % (n % 4 + 1)
    c.handshake(clock[0])
    yield
    c.server(clock[0], b'220 ' + host + b' ESMTP Postfix (Debian/GNU)\r\n')
    yield
    c.client(clock[0], b'EHLO client%d.example.org\r\n' % n)
    yield
    c.server(clock[0], b'250-' + host + b'\r\n'
             + b''.join(b'250-' + e + b'\r\n' for e in EHLO_EXT[:-1])
             + b'250 ' + EHLO_EXT[-1] + b'\r\n')
    yield
    for m in range(2 if rng.random() < 0.2 else 1):
        nrcpt = rng.randrange(1, 6)
        cmds = b'MAIL FROM:<sender%d@example.org> SIZE=%d BODY=8BITMIME\r\n' % (
            n, rng.randrange(500, 5000))
        replies = b'250 2.1.0 Ok\r\n'
        accepted = 0
        for r in range(nrcpt):
            rcpt = b'user%d.%d@example.net' % (n, r)
            cmds += b'RCPT TO:<%s> NOTIFY=FAILURE\r\n' % rcpt if r % 3 == 2 \
                else b'RCPT TO:<%s>\r\n' % rcpt
            x = rng.random()
            if x < 0.15:
                replies += (b'550 5.1.1 <%s>: Recipient address rejected: '
                            b'User unknown in virtual mailbox table\r\n' % rcpt)
            elif x < 0.2:
                replies += (b'450 4.2.0 <%s>: Recipient address rejected: '
                            b'Greylisted, see https://postgrey.example/\r\n' % rcpt)
            else:
                replies += b'250 2.1.5 Ok\r\n'
                accepted += 1
        for part in split_write(rng, cmds, 0.25):
            c.client(clock[0], part)
            yield
        for part in split_write(rng, replies, 0.1):
            c.server(clock[0], part)
            yield
        if accepted:
            c.client(clock[0], b'DATA\r\n')
            yield
            c.server(clock[0], b'354 End data with <CR><LF>.<CR><LF>\r\n')
            yield
            for part in split_write(rng, body(rng, n, rng.randrange(200, 1500)), 0.25):
                c.client(clock[0], part)
                yield
            c.server(clock[0], b'250 2.0.0 Ok: queued as %X\r\n'
                     % rng.randrange(1 << 40))
            yield
        else:
            c.client(clock[0], b'RSET\r\n')
            yield
            c.server(clock[0], b'250 2.0.0 Ok\r\n')
            yield
    c.client(clock[0], b'QUIT\r\n')
    yield
    c.server(clock[0], b'221 2.0.0 Bye\r\n')
    yield
    c.close(clock[0])


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    g = ap.add_mutually_exclusive_group(required=True)
    g.add_argument('-n', '--sessions', type=int, help='number of sessions')
    g.add_argument('-s', '--size', help='stop once the file reaches SIZE (10M, 1G)')
    ap.add_argument('-c', '--concurrent', type=int, default=50,
                    help='sessions open at once (default 50)')
    ap.add_argument('--seed', type=int, default=9)
    ap.add_argument('out')
    a = ap.parse_args()
    limit = parse_size(a.size) if a.size else None
    rng = random.Random(a.seed)
    w = PcapWriter(a.out)
    clock = [1_700_000_000 * 10**6]
    active = []
    started = 0

    def more():
        if a.sessions is not None:
            return started < a.sessions
        return w.bytes < limit

    while True:
        while len(active) < a.concurrent and more():
            active.append(session(w, random.Random(rng.randrange(1 << 62)),
                                  started, clock))
            started += 1
        if not active:
            break
        i = rng.randrange(len(active))
        clock[0] += rng.randrange(20, 400)
        try:
            next(active[i])
        except StopIteration:
            active[i] = active[-1]
            active.pop()
    w.close()
    print('%s: %d sessions, %d packets, %.1f MB'
          % (a.out, started, w.packets, w.bytes / 1e6), file=sys.stderr)


if __name__ == '__main__':
    main()
