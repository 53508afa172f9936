"""Streamed pcap writing for the benchmark generators.

Frames go straight to the file as they are made, so a 1 GB capture needs no
more memory than one TCP connection's state.  Ethernet + IPv4 + TCP with
correct IP and TCP checksums (the checksum sum runs in C through array).
"""
import array
import struct
import sys

_BIG = sys.byteorder == 'big'


def _csum(data):
    """Internet checksum of data (any length)."""
    if len(data) & 1:
        data += b'\0'
    a = array.array('H', data)
    if not _BIG:
        a.byteswap()
    s = sum(a)
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def ip4(text):
    return bytes(int(x) for x in text.split('.'))


SYN, FIN, PSH_ACK, ACK, SYN_ACK, FIN_ACK = 0x02, 0x01, 0x18, 0x10, 0x12, 0x11


class PcapWriter:
    """Little-endian, microsecond pcap, Ethernet link type."""

    def __init__(self, path):
        self.f = open(path, 'wb', buffering=1 << 20)
        self.f.write(struct.pack('<IHHiIII', 0xA1B2C3D4, 2, 4, 0, 0, 262144, 1))
        self.bytes = 24
        self.packets = 0
        self.ident = 0

    def tcp(self, ts_us, src, dst, sport, dport, seq, ack, flags, payload=b''):
        """One Ethernet/IPv4/TCP frame; src and dst are 4-byte addresses."""
        tcp = struct.pack('!HHIIBBHHH', sport, dport, seq & 0xFFFFFFFF,
                          ack & 0xFFFFFFFF, 0x50, flags, 65535, 0, 0) + payload
        pseudo = src + dst + struct.pack('!BBH', 0, 6, len(tcp))
        c = _csum(pseudo + tcp)
        tcp = tcp[:16] + struct.pack('!H', c) + tcp[18:]
        self.ident = (self.ident + 1) & 0xFFFF
        iph = struct.pack('!BBHHHBBH4s4s', 0x45, 0, 20 + len(tcp), self.ident,
                          0x4000, 64, 6, 0, src, dst)
        iph = iph[:10] + struct.pack('!H', _csum(iph)) + iph[12:]
        frame = (b'\x02\x00' + dst + b'\x02\x00' + src + b'\x08\x00' + iph + tcp)
        self.f.write(struct.pack('<IIII', ts_us // 1000000, ts_us % 1000000,
                                 len(frame), len(frame)))
        self.f.write(frame)
        self.bytes += 16 + len(frame)
        self.packets += 1

    def close(self):
        self.f.close()


class Conn:
    """One TCP connection: tracks both sequence numbers, writes segments."""

    def __init__(self, w, cli, srv, cport, sport, isn_c=1000, isn_s=5000):
        self.w, self.cli, self.srv, self.cport, self.sport = w, cli, srv, cport, sport
        self.cseq, self.sseq = isn_c, isn_s

    def handshake(self, ts):
        w = self.w
        w.tcp(ts, self.cli, self.srv, self.cport, self.sport, self.cseq, 0, SYN)
        w.tcp(ts + 50, self.srv, self.cli, self.sport, self.cport, self.sseq,
              self.cseq + 1, SYN_ACK)
        self.cseq += 1
        self.sseq += 1
        w.tcp(ts + 100, self.cli, self.srv, self.cport, self.sport, self.cseq,
              self.sseq, ACK)

    def client(self, ts, data, mss=1460):
        """Client bytes, cut into segments of at most mss bytes."""
        for i in range(0, len(data), mss):
            p = data[i:i + mss]
            self.w.tcp(ts, self.cli, self.srv, self.cport, self.sport,
                       self.cseq, self.sseq, PSH_ACK, p)
            self.cseq += len(p)

    def server(self, ts, data, mss=1460):
        for i in range(0, len(data), mss):
            p = data[i:i + mss]
            self.w.tcp(ts, self.srv, self.cli, self.sport, self.cport,
                       self.sseq, self.cseq, PSH_ACK, p)
            self.sseq += len(p)

    def close(self, ts):
        w = self.w
        w.tcp(ts, self.cli, self.srv, self.cport, self.sport, self.cseq,
              self.sseq, FIN_ACK)
        self.cseq += 1
        w.tcp(ts + 50, self.srv, self.cli, self.sport, self.cport, self.sseq,
              self.cseq, FIN_ACK)
        self.sseq += 1
        w.tcp(ts + 100, self.cli, self.srv, self.cport, self.sport, self.cseq,
              self.sseq, ACK)


def parse_size(text):
    """'10M', '1G', '512k', '5000000' -> bytes."""
    t = text.strip().upper().rstrip('B')
    mult = {'K': 10**3, 'M': 10**6, 'G': 10**9}
    if t and t[-1] in mult:
        return int(float(t[:-1]) * mult[t[-1]])
    return int(t)
