#!/usr/bin/env python3
"""Self-test for pcaplib.py and resegment.py, using tshark as the referee.

    pcap_selftest.py [--seed N] [--max K] [--quick] [-j N] [--one-limit B] [FILE ...]

For every FILE (default: every capture under ../shared/corpus, or
/work/shared/corpus, plus testdata/edge/*.pcap) and for each resegment mode
(``one`` and ``random``), the file is resegmented into a temporary pcap and
``tshark -q -z follow,tcp,raw,N`` is run on input and output for every TCP
stream N.  The test passes when, for every stream, the sequence of
direction chunks (consecutive same-direction data merged) is byte-identical,
and the output has no extra stream.  Mode ``one`` is skipped (and said so)
for captures with more than --one-limit payload bytes (default 100000):
a million one-byte frames take tshark minutes.

Before that, link-layer variants (raw IPv4/IPv6, SLL, SLL2, null, LOOP,
802.1Q, big-endian and nanosecond pcap, pcapng via editcap) of a small
synthetic session are written and checked the same way, so every reader
path of pcaplib is exercised.

The last line printed is ``N passed, N failed``; the exit status is 1 if
anything failed.
"""

import argparse
import glob
import os
import struct
import subprocess
import sys
import tempfile
from concurrent.futures import ProcessPoolExecutor

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import pcaplib as pl  # noqa: E402
import resegment  # noqa: E402

CAPTURE_EXT = (".pcap", ".pcapng", ".trace", ".cap")


def tshark(args: list) -> str:
    """Run tshark and return stdout (stderr discarded)."""
    r = subprocess.run(["tshark", "-n"] + args, stdout=subprocess.PIPE,
                       stderr=subprocess.DEVNULL, check=False)
    return r.stdout.decode("ascii", "replace")


def stream_ids(path: str) -> list:
    """The tcp.stream numbers present in a capture."""
    out = tshark(["-r", path, "-T", "fields", "-e", "tcp.stream"])
    ids = set()
    for tok in out.split():
        for part in tok.split(","):
            if part.isdigit():
                ids.add(int(part))
    return sorted(ids)


def follow_all(path: str, ids: list) -> dict:
    """stream number -> list of (direction, bytes) chunks, merged by direction."""
    if not ids:
        return {}
    args = ["-r", path, "-q"]
    for i in ids:
        args += ["-z", "follow,tcp,raw,%d" % i]
    result, cur = {}, None
    for line in tshark(args).splitlines():
        if line.startswith("Filter: tcp.stream eq "):
            cur = result.setdefault(int(line.split()[-1]), [])
        elif cur is not None and line.strip() and not line.startswith(("=", "Node", "Follow")):
            direction = 1 if line.startswith("\t") else 0
            data = bytes.fromhex(line.strip())
            if cur and cur[-1][0] == direction:
                cur[-1] = (direction, cur[-1][1] + data)
            else:
                cur.append((direction, data))
    return result


def compare(want: dict, ids: list, out: str) -> str:
    """Empty string if OUT's follow output equals `want` for all ids."""
    got = follow_all(out, ids)
    for i in ids:
        if want.get(i) != got.get(i):
            la = [(d, len(x)) for d, x in want.get(i, [])][:6]
            lb = [(d, len(x)) for d, x in got.get(i, [])][:6]
            return "stream %d differs: in %s... out %s..." % (i, la, lb)
    return ""


def payload_size(path: str) -> int:
    """Total TCP payload bytes of a capture (to skip `one` on big files)."""
    return sum(len(s.payload) for s in pl.read_tcp_segments(path)[1] if s)


def check_file(path: str, tmp: str, seed: int, kmax: int, modes,
               one_limit: int) -> list:
    """Resegment path in each mode and compare; return list of (name, err).

    The stream list is the input's streams plus one more number, which must
    be empty in the output too (so no extra stream appeared).  Mode `one`
    is skipped for captures with more than one_limit payload bytes.
    """
    ids = stream_ids(path)
    ids = ids + [ids[-1] + 1 if ids else 0]
    want = follow_all(path, ids)
    results = []
    for mode in modes:
        if mode == "one" and payload_size(path) > one_limit:
            print("skip %s [one]: payload > %d bytes" % (path, one_limit))
            continue
        out = os.path.join(tmp, "out-%d-%s.pcap" % (os.getpid(), mode))
        try:
            resegment.run(path, out, mode, seed, kmax)
            err = compare(want, ids, out)
        except Exception as e:  # report, keep going
            err = "exception: %r" % (e,)
        results.append(("%s [%s]" % (path, mode), err))
    return results


# ---------------------------------------------------------------- variants

def sample_segments() -> list:
    """A tiny SMTP exchange as TcpSegs (IPv4 or IPv6 chosen by caller)."""
    steps = [("S", b"220 mx ESMTP\r\n"), ("C", b"EHLO a\r\n"),
             ("S", b"250-mx\r\n250 8BITMIME\r\n"), ("C", b"QUIT\r\n"),
             ("S", b"221 bye\r\n")]
    segs, seq = [], {"C": 1000, "S": 5000}
    for i, (who, data) in enumerate(steps):
        other = "S" if who == "C" else "C"
        segs.append((who, seq[who], seq[other], data, 1_600_000_000_000_000_000 + i * 10**6))
        seq[who] += len(data)
    return segs


def variant_frames(ver: int):
    """(ts_ns, IP packet bytes) list of the sample session over IPv4/6."""
    import ipaddress
    c = ipaddress.ip_address("198.51.100.7" if ver == 4 else "2001:db8::7")
    s = ipaddress.ip_address("192.0.2.25" if ver == 4 else "2001:db8::25")
    out = []
    for who, seq, ack, data, ts in sample_segments():
        src, dst, sp, dp = (c, s, 40001, 25) if who == "C" else (s, c, 25, 40001)
        seg = pl.TcpSeg(ts, src, dst, sp, dp, seq, ack, pl.TCP_ACK | pl.TCP_PSH, 65535, data)
        out.append((ts, pl.build_ip(src, dst, 6, pl.build_tcp(seg))))
    return out


def wrap(linktype: int, ver: int, ip: bytes) -> bytes:
    """Put an IP packet into a link-layer header of the given type."""
    etype = 0x0800 if ver == 4 else 0x86DD
    if linktype in (pl.LINKTYPE_RAW, pl.LINKTYPE_IPV4, pl.LINKTYPE_IPV6):
        return ip
    if linktype == pl.LINKTYPE_LINUX_SLL:
        return struct.pack("!HHH8sH", 0, 1, 6, b"\x02" * 6 + b"\0\0", etype) + ip
    if linktype == pl.LINKTYPE_LINUX_SLL2:
        return struct.pack("!HHIHBB8s", etype, 0, 1, 1, 0, 6, b"\x02" * 6 + b"\0\0") + ip
    if linktype == pl.LINKTYPE_NULL:
        return struct.pack("<I", 2 if ver == 4 else 30) + ip
    if linktype == pl.LINKTYPE_LOOP:
        return struct.pack("!I", 2 if ver == 4 else 24) + ip
    # Ethernet with an 802.1Q tag
    return b"\x02" * 6 + b"\x04" * 6 + struct.pack("!HHH", 0x8100, 42, etype) + ip


def write_variant(path: str, linktype: int, ver: int, endian: str, nano: bool) -> None:
    """Write the sample session in a given pcap flavour."""
    magic = 0xA1B23C4D if nano else 0xA1B2C3D4
    with open(path, "wb") as f:
        f.write(struct.pack(endian + "IHHiIII", magic, 2, 4, 0, 0, 65535, linktype))
        for ts, ip in variant_frames(ver):
            frame = wrap(linktype, ver, ip)
            frac = ts % 10**9 if nano else ts % 10**9 // 1000
            f.write(struct.pack(endian + "IIII", ts // 10**9, frac, len(frame), len(frame)))
            f.write(frame)


def variant_files(tmp: str) -> list:
    """Create all link-layer / format variants; return their paths."""
    specs = [(pl.LINKTYPE_ETHERNET, 4, "<", False), (pl.LINKTYPE_ETHERNET, 6, ">", True),
             (pl.LINKTYPE_RAW, 4, "<", False), (pl.LINKTYPE_RAW, 6, "<", False),
             (pl.LINKTYPE_IPV4, 4, ">", False), (pl.LINKTYPE_IPV6, 6, "<", True),
             (pl.LINKTYPE_LINUX_SLL, 4, "<", False), (pl.LINKTYPE_LINUX_SLL2, 6, "<", False),
             (pl.LINKTYPE_NULL, 4, "<", False), (pl.LINKTYPE_NULL, 6, "<", False),
             (pl.LINKTYPE_LOOP, 4, ">", False), (pl.LINKTYPE_LOOP, 6, "<", True)]
    paths = []
    for lt, ver, endian, nano in specs:
        p = os.path.join(tmp, "variant-lt%d-v%d-%s%s.pcap" % (
            lt, ver, "be" if endian == ">" else "le", "-ns" if nano else ""))
        write_variant(p, lt, ver, endian, nano)
        paths.append(p)
    ng = os.path.join(tmp, "variant-sll2-v6.pcapng")
    subprocess.run(["editcap", "-F", "pcapng", paths[7], ng], check=False,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    if os.path.exists(ng):
        paths.append(ng)
    return paths


def check_variant_reading(path: str) -> str:
    """pcaplib must decode all 5 TCP segments of a variant with the payload."""
    _pkts, segs = pl.read_tcp_segments(path)
    got = [s.payload for s in segs if s is not None]
    want = [d for _w, _s, _a, d, _t in sample_segments()]
    return "" if got == want else "pcaplib decoded %r" % (got,)


# ------------------------------------------------------------------- main

def default_files() -> list:
    """Corpus captures (if the shared corpus exists) and testdata/edge."""
    root = os.path.dirname(HERE)
    files = []
    for corpus in (os.path.join(root, "..", "shared", "corpus"), "/work/shared/corpus"):
        if os.path.isdir(corpus):
            for dp, _dn, fn in sorted(os.walk(corpus)):
                files += [os.path.join(dp, f) for f in sorted(fn) if f.endswith(CAPTURE_EXT)]
            break
    files += sorted(glob.glob(os.path.join(root, "testdata", "edge", "*.pcap")))
    return files


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="resegment.py / pcaplib.py self-test")
    ap.add_argument("files", nargs="*")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--max", type=int, default=40, dest="kmax")
    ap.add_argument("--quick", action="store_true", help="random mode only")
    ap.add_argument("-j", "--jobs", type=int, default=os.cpu_count() or 1,
                    help="files checked in parallel (default: CPU count)")
    ap.add_argument("--one-limit", type=int, default=100000,
                    help="skip mode one above this many payload bytes")
    a = ap.parse_args(argv)
    modes = ("random",) if a.quick else ("one", "random")
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for p in variant_files(tmp):
            results.append(("read " + os.path.basename(p), check_variant_reading(p)))
            results += [(os.path.basename(n.split(" [")[0]) + " [" + n.split(" [")[1], e)
                        for n, e in check_file(p, tmp, a.seed, a.kmax, modes, a.one_limit)]
        files = a.files or default_files()
        with ProcessPoolExecutor(max_workers=a.jobs) as pool:
            futs = [pool.submit(check_file, f, tmp, a.seed, a.kmax, modes, a.one_limit)
                    for f in files]
            for fut in futs:
                results += fut.result()
    failed = [(n, e) for n, e in results if e]
    for n, e in results:
        print("%s %s%s" % ("FAIL" if e else "ok  ", n, (": " + e) if e else ""))
    print("%d passed, %d failed" % (len(results) - len(failed), len(failed)))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
