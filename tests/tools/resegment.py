#!/usr/bin/env python3
"""Re-cut the TCP payload of every connection in a capture.

    resegment.py IN OUT --mode one|random [--seed N] [--max K]

Every TCP connection of IN that carries payload is rewritten so that each
direction carries exactly the same byte stream, cut into different segments:

* ``one``:    every payload byte becomes its own segment;
* ``random``: every original segment is cut at random positions into
              pieces of 1..K bytes (K = --max, default 40), using a
              ``random.Random(seed)`` generator, so the output is
              deterministic for a given seed.

What is kept and what changes:

* Order: the pieces of one original segment replace that segment, in order,
  at its place in the capture, so the interleaving of the two directions
  (and of different connections) is unchanged.  All pieces get the original
  segment's timestamp (clamped so the output is monotonic).
* Sequence numbers: the original sequence space is kept (same ISNs), each
  piece gets the sequence number of its first byte, so the stream is
  contiguous.  A gap in the original (missing segment) stays a gap of the
  same size; no bytes are invented.  Truncated packets (snaplen) contribute
  only the bytes actually captured; the rest is a gap.
* ACKs: ack = the other direction's next sequence number at that moment
  (highest byte/SYN/FIN emitted so far + 1); before anything was seen from the
  other direction, the original ack value is used.
* SYN, FIN and RST are kept (FIN/RST ride on the last piece when it ends where
  the flag sits, else they get their own packet).  SYN options are kept,
  other options (e.g. timestamps) are dropped.
* Retransmissions: bytes already sent in that direction are not sent again;
  a segment made only of such bytes is dropped (so is a repeated SYN or FIN
  at the same sequence number).  Where a retransmission carried different
  bytes than the first copy, the first copy wins.  Out-of-order segments
  keep their original order.
* Pure ACKs (no payload, no SYN/FIN/RST) of rewritten connections are dropped,
  except the first packet of a connection.
* TCP connections without any payload, non-TCP IP packets and non-IP
  Ethernet frames are copied unchanged (re-wrapped in Ethernet; VLAN tags are
  removed).  Non-IP frames of non-Ethernet link types are dropped.
* Output is a classic pcap, Ethernet link type, microsecond timestamps, with
  freshly built IPv4/IPv6 + TCP headers and correct checksums.
"""

import argparse
import random
import sys
import os
from dataclasses import dataclass, field, replace

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pcaplib as pl  # noqa: E402

MOD = 1 << 32


@dataclass
class Dir:
    """Sequence state of one direction of a connection (relative to base)."""
    base: int = None            # first absolute seq seen in this direction
    covered: list = field(default_factory=list)  # sorted [start, end) ranges
    max_end: int = None         # highest relative seq emitted + 1
    syn_seq: int = None         # absolute seq of the SYN, if seen

    def rel(self, seq: int) -> int:
        """Signed offset of an absolute seq from base."""
        r = (seq - self.base) % MOD
        return r - MOD if r >= MOD // 2 else r

    def uncovered(self, start: int, end: int) -> list:
        """Sub-ranges of [start, end) not sent yet."""
        out, pos = [], start
        for a, b in self.covered:
            if b <= pos or a >= end:
                continue
            if a > pos:
                out.append((pos, a))
            pos = max(pos, b)
        if pos < end:
            out.append((pos, end))
        return out

    def cover(self, start: int, end: int) -> None:
        """Mark [start, end) as sent and advance max_end."""
        merged = []
        for a, b in sorted(self.covered + [(start, end)]):
            if merged and a <= merged[-1][1]:
                merged[-1] = (merged[-1][0], max(merged[-1][1], b))
            else:
                merged.append((a, b))
        self.covered = merged
        self.max_end = end if self.max_end is None else max(self.max_end, end)

    def next_abs(self):
        """Absolute next seq (for the other side's ack) or None if unknown."""
        return None if self.max_end is None else (self.base + self.max_end) % MOD


class Resegmenter:
    """Holds per-connection state and produces the output frames."""

    def __init__(self, mode: str, seed: int, kmax: int):
        self.mode, self.kmax = mode, kmax
        self.rng = random.Random(seed)
        self.dirs = {}        # directional key -> Dir
        self.ident = {}       # directional key -> IPv4 ident counter
        self.frames = []      # (ts_ns, frame)
        self.last_ts = 0
        self.seen_conn = set()

    # -- helpers --------------------------------------------------------

    def sizes(self, n: int) -> list:
        """Piece sizes for a run of n bytes."""
        if self.mode == "one":
            return [1] * n
        out = []
        while n > 0:
            k = min(n, self.rng.randint(1, self.kmax))
            out.append(k)
            n -= k
        return out

    def emit(self, ts: int, frame: bytes) -> None:
        """Append a frame with a monotonic timestamp."""
        self.last_ts = max(self.last_ts, ts)
        self.frames.append((self.last_ts, frame))

    def emit_seg(self, orig: pl.TcpSeg, rel_seq: int, flags: int,
                 payload: bytes = b"", options: bytes = b"") -> None:
        """Build and emit one TCP segment of orig's direction."""
        me, other = self.dirs[orig.key()], self.dirs[self._rev(orig.key())]
        ack = 0
        if flags & pl.TCP_ACK:
            nxt = other.next_abs() if other.base is not None else None
            ack = orig.ack if nxt is None else nxt
        seg = replace(orig, seq=(me.base + rel_seq) % MOD, ack=ack, flags=flags,
                      payload=payload, options=options)
        n = self.ident.get(orig.key(), 0) + 1
        self.ident[orig.key()] = n
        self.emit(orig.ts_ns, pl.build_tcp_frame(seg, n))

    @staticmethod
    def _rev(key):
        return (key[2], key[3], key[0], key[1])

    # -- main work --------------------------------------------------------

    def reset_if_new_syn(self, s: pl.TcpSeg) -> None:
        """A SYN with a new ISN on a known 4-tuple starts a fresh connection."""
        d = self.dirs.get(s.key())
        if s.flags & pl.TCP_SYN and d is not None and d.syn_seq not in (None, s.seq):
            self.dirs[s.key()] = Dir()
            self.dirs[self._rev(s.key())] = Dir()

    def rewrite(self, s: pl.TcpSeg) -> None:
        """Emit the replacement packets for one original TCP segment."""
        self.reset_if_new_syn(s)
        me = self.dirs.setdefault(s.key(), Dir())
        self.dirs.setdefault(self._rev(s.key()), Dir())
        if me.base is None:
            me.base = s.seq
        first = pl.conn_key(s) not in self.seen_conn
        self.seen_conn.add(pl.conn_key(s))
        rel = me.rel(s.seq)
        ackf = s.flags & pl.TCP_ACK
        if s.flags & pl.TCP_SYN:
            if me.uncovered(rel, rel + 1):
                me.cover(rel, rel + 1)
                me.syn_seq = s.seq
                self.emit_seg(s, rel, s.flags & (pl.TCP_SYN | pl.TCP_ACK | 0x1C0),
                              options=s.options)
            rel += 1
        end = rel + len(s.payload)
        emitted = self.emit_data(s, rel, ackf)
        tail = s.flags & (pl.TCP_FIN | pl.TCP_RST)
        if s.flags & pl.TCP_FIN and not me.uncovered(end, end + 1):
            tail &= ~pl.TCP_FIN
        if tail:
            self.emit_tail(s, end, tail, ackf, emitted)
        elif first and not emitted and not s.flags & pl.TCP_SYN:
            self.emit_seg(s, rel, ackf)   # keep the first packet (pure ACK)

    def emit_data(self, s: pl.TcpSeg, rel: int, ackf: int) -> list:
        """Emit the not-yet-sent payload of s in pieces; return pieces list."""
        me, pieces = self.dirs[s.key()], []
        for a, b in me.uncovered(rel, rel + len(s.payload)):
            pos = a
            for k in self.sizes(b - a):
                pieces.append((pos, s.payload[pos - rel:pos - rel + k]))
                pos += k
        for i, (pos, data) in enumerate(pieces):
            last = i == len(pieces) - 1
            me.cover(pos, pos + len(data))
            self.emit_seg(s, pos, ackf | (pl.TCP_PSH if last else 0), data)
        return pieces

    def emit_tail(self, s, end, tail, ackf, pieces) -> None:
        """Emit FIN/RST, on the last piece if it ends at `end`, else alone."""
        me = self.dirs[s.key()]
        if tail & pl.TCP_FIN:
            me.cover(end, end + 1)
        if pieces and pieces[-1][0] + len(pieces[-1][1]) == end:
            pos, data = pieces[-1]
            self.frames.pop()
            self.emit_seg(s, pos, ackf | pl.TCP_PSH | tail, data)
        else:
            self.emit_seg(s, end, ackf | tail)


def run(inp: str, out: str, mode: str, seed: int, kmax: int) -> int:
    """Resegment IN into OUT; return the number of frames written."""
    pkts, segs = pl.read_tcp_segments(inp)
    with_payload = {pl.conn_key(s) for s in segs if s is not None and s.payload}
    rs = Resegmenter(mode, seed, kmax)
    for pkt, s in zip(pkts, segs):
        if s is not None and pl.conn_key(s) in with_payload:
            rs.rewrite(s)
            continue
        frame = pl.ip_to_ethernet(pkt)
        if frame is not None:
            rs.emit(pkt.ts_ns, frame)
    pl.write_pcap(out, rs.frames)
    return len(rs.frames)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("inp", metavar="IN")
    ap.add_argument("out", metavar="OUT")
    ap.add_argument("--mode", choices=("one", "random"), required=True)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--max", type=int, default=40, dest="kmax")
    a = ap.parse_args(argv)
    if a.kmax < 1:
        ap.error("--max must be >= 1")
    run(a.inp, a.out, a.mode, a.seed, a.kmax)
    return 0


if __name__ == "__main__":
    sys.exit(main())
