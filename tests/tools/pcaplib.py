"""Small pure-Python helpers for reading, parsing and writing packet captures.

Only the Python standard library is used.  What is covered:

* reading classic pcap (either byte order, micro- or nanosecond timestamps)
  and pcapng (SHB, IDB, EPB, SPB and the obsolete PB; several interfaces,
  several sections, either byte order, ``if_tsresol``);
* link types Ethernet (1, with 802.1Q / 802.1ad / QinQ tags), raw IP
  (101, 228 = IPv4, 229 = IPv6), Linux cooked SLL (113) and SLL2 (276),
  BSD null/loopback (0) and OpenBSD LOOP (108);
* parsing IPv4 / IPv6 (common extension headers skipped) and TCP;
* grouping TCP segments into connections by their 4-tuple;
* writing classic pcap with Ethernet link type, building IPv4 or IPv6 and
  TCP headers with correct checksums.

Timestamps are kept as integer nanoseconds since the epoch (``ts_ns``).
"""

import ipaddress
import struct
from dataclasses import dataclass, field
from typing import Dict, Iterator, List, Optional, Tuple

LINKTYPE_NULL = 0
LINKTYPE_ETHERNET = 1
LINKTYPE_RAW = 101
LINKTYPE_LOOP = 108
LINKTYPE_LINUX_SLL = 113
LINKTYPE_IPV4 = 228
LINKTYPE_IPV6 = 229
LINKTYPE_LINUX_SLL2 = 276

ETH_IPV4 = 0x0800
ETH_IPV6 = 0x86DD
VLAN_TPIDS = (0x8100, 0x88A8, 0x9100)

TCP_FIN, TCP_SYN, TCP_RST, TCP_PSH, TCP_ACK, TCP_URG = 1, 2, 4, 8, 16, 32

PCAP_MAGICS = {  # magic as read little-endian -> (struct prefix, ns?)
    0xA1B2C3D4: ("<", False), 0xD4C3B2A1: (">", False),
    0xA1B23C4D: ("<", True), 0x4D3CB2A1: (">", True),
}
PCAPNG_SHB = 0x0A0D0D0A


@dataclass
class Packet:
    """One captured frame: timestamp (ns), link type and the frame bytes."""
    ts_ns: int
    linktype: int
    data: bytes
    orig_len: int = 0


@dataclass
class TcpSeg:
    """A parsed TCP segment with its IP addresses (as ipaddress objects)."""
    ts_ns: int
    src: object
    dst: object
    sport: int
    dport: int
    seq: int
    ack: int
    flags: int
    window: int
    payload: bytes
    truncated: bool = False   # payload shorter than the IP length says
    index: int = 0            # position of the packet in the capture
    options: bytes = b""

    @property
    def ipver(self) -> int:
        return self.src.version

    def key(self) -> Tuple:
        """Directional 4-tuple (src, sport, dst, dport)."""
        return (self.src, self.sport, self.dst, self.dport)


# --------------------------------------------------------------------------
# Reading
# --------------------------------------------------------------------------

def read_capture(path: str) -> List[Packet]:
    """Read a pcap or pcapng file into a list of Packets (file order)."""
    with open(path, "rb") as f:
        blob = f.read()
    if len(blob) < 4:
        raise ValueError("%s: too short for a capture file" % path)
    magic = struct.unpack("<I", blob[:4])[0]
    if magic == PCAPNG_SHB:
        return list(_iter_pcapng(blob))
    if magic in PCAP_MAGICS:
        return list(_iter_pcap(blob))
    raise ValueError("%s: not a pcap or pcapng file" % path)


def _iter_pcap(blob: bytes) -> Iterator[Packet]:
    """Yield the records of a classic pcap file."""
    bo, nano = PCAP_MAGICS[struct.unpack("<I", blob[:4])[0]]
    linktype = struct.unpack(bo + "I", blob[20:24])[0] & 0x0FFFFFFF
    pos = 24
    while pos + 16 <= len(blob):
        sec, frac, incl, orig = struct.unpack(bo + "IIII", blob[pos:pos + 16])
        pos += 16
        data = blob[pos:pos + incl]
        pos += incl
        ts = sec * 10**9 + (frac if nano else frac * 1000)
        yield Packet(ts, linktype, data, orig)


def _iter_pcapng(blob: bytes) -> Iterator[Packet]:
    """Yield the packets (EPB, SPB, PB) of a pcapng file."""
    pos, bo, ifaces = 0, "<", []
    while pos + 12 <= len(blob):
        btype = struct.unpack(bo + "I", blob[pos:pos + 4])[0]
        if btype == PCAPNG_SHB:
            bo = "<" if blob[pos + 8:pos + 12] == b"\x4d\x3c\x2b\x1a" else ">"
            ifaces = []
        blen = struct.unpack(bo + "I", blob[pos + 4:pos + 8])[0]
        if blen < 12 or pos + blen > len(blob):
            break
        body = blob[pos + 8:pos + blen - 4]
        pos += blen
        if btype == 1:
            ifaces.append(_pcapng_idb(body, bo))
        elif btype in (6, 2):
            yield _pcapng_epb(body, bo, ifaces, btype == 2)
        elif btype == 3 and ifaces:
            yield _pcapng_spb(body, bo, ifaces[0])


def _pcapng_idb(body: bytes, bo: str) -> Tuple[int, int]:
    """Return (linktype, ticks per second) of an Interface Description Block."""
    linktype = struct.unpack(bo + "H", body[:2])[0]
    tps = 10**6
    for code, val in _pcapng_options(body[8:], bo):
        if code == 9 and val:  # if_tsresol
            r = val[0]
            tps = 2 ** (r & 0x7F) if r & 0x80 else 10 ** r
    return linktype, tps


def _pcapng_options(buf: bytes, bo: str) -> Iterator[Tuple[int, bytes]]:
    """Yield (code, value) pairs of a pcapng option list."""
    pos = 0
    while pos + 4 <= len(buf):
        code, length = struct.unpack(bo + "HH", buf[pos:pos + 4])
        if code == 0:
            return
        yield code, buf[pos + 4:pos + 4 + length]
        pos += 4 + ((length + 3) & ~3)


def _pcapng_epb(body: bytes, bo: str, ifaces, old_pb: bool) -> Packet:
    """Decode an Enhanced Packet Block (or obsolete Packet Block)."""
    if old_pb:
        ifid, _drops, hi, lo, incl, orig = struct.unpack(bo + "HHIIII", body[:20])
    else:
        ifid, hi, lo, incl, orig = struct.unpack(bo + "IIIII", body[:20])
    linktype, tps = ifaces[ifid] if ifid < len(ifaces) else (LINKTYPE_ETHERNET, 10**6)
    ticks = (hi << 32) | lo
    return Packet(ticks * 10**9 // tps, linktype, body[20:20 + incl], orig)


def _pcapng_spb(body: bytes, bo: str, iface) -> Packet:
    """Decode a Simple Packet Block (no timestamp: ts 0, interface 0)."""
    orig = struct.unpack(bo + "I", body[:4])[0]
    return Packet(0, iface[0], body[4:4 + orig], orig)


# --------------------------------------------------------------------------
# Link layer
# --------------------------------------------------------------------------

def link_payload(pkt: Packet) -> Tuple[Optional[int], bytes]:
    """Strip the link header: return (IP version 4/6 or None, L3 bytes)."""
    lt, d = pkt.linktype, pkt.data
    if lt == LINKTYPE_ETHERNET:
        return _ethertype_to_ver(*_strip_ethernet(d))
    if lt in (LINKTYPE_RAW, LINKTYPE_IPV4, LINKTYPE_IPV6):
        return (d[0] >> 4 if d else None), d
    if lt == LINKTYPE_LINUX_SLL and len(d) >= 16:
        return _ethertype_to_ver(struct.unpack("!H", d[14:16])[0], d[16:])
    if lt == LINKTYPE_LINUX_SLL2 and len(d) >= 20:
        return _ethertype_to_ver(struct.unpack("!H", d[0:2])[0], d[20:])
    if lt in (LINKTYPE_NULL, LINKTYPE_LOOP) and len(d) >= 4:
        return _af_to_ver(d[:4], lt), d[4:]
    return None, d


def _strip_ethernet(d: bytes) -> Tuple[int, bytes]:
    """Return (ethertype, payload) of an Ethernet frame, skipping VLAN tags."""
    if len(d) < 14:
        return 0, b""
    etype, pos = struct.unpack("!H", d[12:14])[0], 14
    while etype in VLAN_TPIDS and len(d) >= pos + 4:
        etype = struct.unpack("!H", d[pos + 2:pos + 4])[0]
        pos += 4
    return etype, d[pos:]


def _ethertype_to_ver(etype: int, payload: bytes) -> Tuple[Optional[int], bytes]:
    """Map an ethertype to IP version 4/6 (None for anything else)."""
    return {ETH_IPV4: 4, ETH_IPV6: 6}.get(etype), payload


def _af_to_ver(hdr: bytes, lt: int) -> Optional[int]:
    """Map a BSD address family (null: host order, LOOP: network order)."""
    orders = ("!",) if lt == LINKTYPE_LOOP else ("<", ">")
    for o in orders:
        af = struct.unpack(o + "I", hdr)[0]
        if af == 2:
            return 4
        if af in (10, 23, 24, 28, 30):
            return 6
    return None


# --------------------------------------------------------------------------
# IP and TCP
# --------------------------------------------------------------------------

IPV6_EXT_HEADERS = (0, 43, 60, 135, 139, 140)


def parse_ip(ver: Optional[int], l3: bytes):
    """Parse IPv4/IPv6: return (src, dst, proto, payload, truncated) or None.

    Non-first IPv4/IPv6 fragments return None (payload is not a transport
    header); first fragments are returned as they are.
    """
    if ver == 4 and len(l3) >= 20 and l3[0] >> 4 == 4:
        return _parse_ipv4(l3)
    if ver == 6 and len(l3) >= 40 and l3[0] >> 4 == 6:
        return _parse_ipv6(l3)
    return None


def _parse_ipv4(l3: bytes):
    """IPv4 part of parse_ip."""
    ihl = (l3[0] & 0x0F) * 4
    total, frag, proto = struct.unpack("!H", l3[2:4])[0], \
        struct.unpack("!H", l3[6:8])[0], l3[9]
    if frag & 0x1FFF or ihl < 20:
        return None
    end = total if total >= ihl else len(l3)
    src = ipaddress.IPv4Address(l3[12:16])
    dst = ipaddress.IPv4Address(l3[16:20])
    return src, dst, proto, l3[ihl:end], end > len(l3)


def _parse_ipv6(l3: bytes):
    """IPv6 part of parse_ip (hop-by-hop, routing, dest-opts skipped)."""
    plen, nxt = struct.unpack("!H", l3[4:6])[0], l3[6]
    src = ipaddress.IPv6Address(l3[8:24])
    dst = ipaddress.IPv6Address(l3[24:40])
    end = 40 + plen if plen else len(l3)
    pos = 40
    while nxt in IPV6_EXT_HEADERS + (44,) and pos + 8 <= len(l3):
        if nxt == 44:  # fragment header
            if struct.unpack("!H", l3[pos + 2:pos + 4])[0] & 0xFFF8:
                return None
            nxt, pos = l3[pos], pos + 8
        else:
            nxt, pos = l3[pos], pos + (l3[pos + 1] + 1) * 8
    return src, dst, nxt, l3[pos:end], end > len(l3)


def parse_tcp(seg: bytes):
    """Parse a TCP header: return a dict of its fields or None if too short."""
    if len(seg) < 20:
        return None
    sport, dport, seq, ack, off, flags, win = struct.unpack("!HHIIBBH", seg[:16])
    hlen = (off >> 4) * 4
    if hlen < 20 or hlen > len(seg):
        return None
    return dict(sport=sport, dport=dport, seq=seq, ack=ack,
                flags=flags | ((off & 1) << 8), window=win,
                options=seg[20:hlen], payload=seg[hlen:])


def packet_to_tcp(pkt: Packet, index: int = 0) -> Optional[TcpSeg]:
    """Decode a Packet down to TCP; None if it is not a (parsable) TCP packet."""
    ver, l3 = link_payload(pkt)
    ip = parse_ip(ver, l3)
    if ip is None or ip[2] != 6:
        return None
    src, dst, _proto, l4, truncated = ip
    t = parse_tcp(l4)
    if t is None:
        return None
    return TcpSeg(pkt.ts_ns, src, dst, t["sport"], t["dport"], t["seq"],
                  t["ack"], t["flags"], t["window"], t["payload"],
                  truncated, index, t["options"])


def conn_key(seg: TcpSeg) -> Tuple:
    """Direction-independent connection key (sorted pair of endpoints)."""
    a, b = (seg.src, seg.sport), (seg.dst, seg.dport)
    return (a, b) if (a[0].packed, a[1]) <= (b[0].packed, b[1]) else (b, a)


def group_connections(segs: List[TcpSeg]) -> Dict[Tuple, List[TcpSeg]]:
    """Group TCP segments by 4-tuple; dict order = first appearance."""
    conns: Dict[Tuple, List[TcpSeg]] = {}
    for s in segs:
        conns.setdefault(conn_key(s), []).append(s)
    return conns


# --------------------------------------------------------------------------
# Building and writing
# --------------------------------------------------------------------------

def checksum(data: bytes) -> int:
    """Internet (ones' complement) checksum of data."""
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def build_tcp(seg: TcpSeg) -> bytes:
    """TCP header + payload with a correct checksum for seg's addresses."""
    opts = seg.options + b"\0" * (-len(seg.options) % 4)
    off = ((20 + len(opts)) // 4) << 4 | ((seg.flags >> 8) & 1)
    hdr = struct.pack("!HHIIBBHHH", seg.sport, seg.dport, seg.seq & 0xFFFFFFFF,
                      seg.ack & 0xFFFFFFFF, off, seg.flags & 0xFF,
                      seg.window, 0, 0) + opts
    tcp = hdr + seg.payload
    csum = checksum(_pseudo_header(seg.src, seg.dst, len(tcp)) + tcp)
    return tcp[:16] + struct.pack("!H", csum) + tcp[18:]


def _pseudo_header(src, dst, length: int) -> bytes:
    """IPv4 or IPv6 pseudo-header for the TCP checksum."""
    if src.version == 4:
        return src.packed + dst.packed + struct.pack("!BBH", 0, 6, length)
    return src.packed + dst.packed + struct.pack("!IxxxB", length, 6)


def build_ip(src, dst, proto: int, payload: bytes, ident: int = 0) -> bytes:
    """IPv4 (with header checksum, DF set, TTL 64) or IPv6 header + payload."""
    if src.version == 4:
        hdr = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(payload),
                          ident & 0xFFFF, 0x4000, 64, proto, 0,
                          src.packed, dst.packed)
        hdr = hdr[:10] + struct.pack("!H", checksum(hdr)) + hdr[12:]
        return hdr + payload
    return struct.pack("!IHBB16s16s", 0x60000000, len(payload), proto, 64,
                       src.packed, dst.packed) + payload


def mac_for(addr) -> bytes:
    """A stable, locally administered MAC address derived from an IP."""
    return b"\x02\x00" + addr.packed[-4:]


def build_ethernet(l3: bytes, ver: int, src_mac: bytes, dst_mac: bytes) -> bytes:
    """Ethernet II frame around an IPv4/IPv6 packet."""
    etype = ETH_IPV4 if ver == 4 else ETH_IPV6
    return dst_mac + src_mac + struct.pack("!H", etype) + l3


def build_tcp_frame(seg: TcpSeg, ident: int = 0) -> bytes:
    """Complete Ethernet + IP + TCP frame for a TcpSeg."""
    ip = build_ip(seg.src, seg.dst, 6, build_tcp(seg), ident)
    return build_ethernet(ip, seg.ipver, mac_for(seg.src), mac_for(seg.dst))


def ip_to_ethernet(pkt: Packet) -> Optional[bytes]:
    """Re-wrap any IP packet (or pass an Ethernet frame) as an Ethernet frame.

    VLAN tags are removed.  Returns None for non-IP frames on non-Ethernet
    links (they cannot be represented as Ethernet).
    """
    ver, l3 = link_payload(pkt)
    if ver in (4, 6) and len(l3) >= 20:
        src_ip = ipaddress.ip_address(bytes(l3[12:16] if ver == 4 else l3[8:24]))
        dst_ip = ipaddress.ip_address(bytes(l3[16:20] if ver == 4 else l3[24:40]))
        return build_ethernet(l3, ver, mac_for(src_ip), mac_for(dst_ip))
    if pkt.linktype == LINKTYPE_ETHERNET:
        return pkt.data
    return None


def write_pcap(path: str, frames: List[Tuple[int, bytes]],
               linktype: int = LINKTYPE_ETHERNET) -> None:
    """Write (ts_ns, frame) pairs as a little-endian microsecond pcap."""
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, linktype))
        for ts_ns, frame in frames:
            us = ts_ns // 1000
            f.write(struct.pack("<IIII", us // 10**6, us % 10**6,
                                len(frame), len(frame)))
            f.write(frame)


def read_tcp_segments(path: str) -> Tuple[List[Packet], List[Optional[TcpSeg]]]:
    """Read a capture; return packets and a parallel list of TcpSeg/None."""
    pkts = read_capture(path)
    return pkts, [packet_to_tcp(p, i) for i, p in enumerate(pkts)]
