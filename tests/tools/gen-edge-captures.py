#!/usr/bin/env python3
"""Generate synthetic SMTP edge-case captures, deterministically.

    gen-edge-captures.py OUTDIR

Each capture is described below (CAPTURES) as a list of steps:

    ("C", b"EHLO x\\r\\n")               client sends bytes (one segment)
    ("S", b"250-a\\r\\n250 b\\r\\n")       server sends bytes
    ("C", data, {"cut": [2, 5]})       cut into segments of 2, 5, rest bytes
    ("S", data, {"every": 7})          cut into segments of 7 bytes each
    ("C", data, {"drop": [1]})         segment no. 1 (0-based, after cutting)
                                       is not written: a seq gap is left
    ("FIN", "S")                       server closes (FIN); the other side
                                       answers FIN+ACK and the closer ACKs

Capture options: ``syn`` (default True: three-way handshake first; False:
the capture starts mid-connection with the first step), ``ipv6``,
``cport`` (client port).  Server 192.0.2.25:25 (2001:db8::25),
client 198.51.100.7 (2001:db8::7).  Timestamps, ISNs and random bytes are
fixed, so the output is byte-identical on every run.

For each capture NAME it writes NAME.pcap (Ethernet, classic pcap) and
NAME.txt (the steps as a readable transcript); plus README.md listing all.
Files of those names already in OUTDIR are replaced only when this tool
made them (its README title, a transcript's first line "NAME: "); any
other one stops it before it writes anything (exit status 2).
"""

import ipaddress
import os
import random
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pcaplib as pl  # noqa: E402

SERVER4, CLIENT4 = "192.0.2.25", "198.51.100.7"
SERVER6, CLIENT6 = "2001:db8::25", "2001:db8::7"
T0 = 1_700_000_000 * 10**9          # 2023-11-14 22:13:20 UTC
README_TITLE = "# Synthetic SMTP edge-case captures"
STEP_NS = 2_000_000                 # 2 ms between packets
ISN_C, ISN_S = 0x1000_0000, 0x8000_0000

GREETING = ("S", b"220 mx.example ESMTP ready\r\n")
EHLO = ("C", b"EHLO client.example\r\n")
EHLO_OK = ("S", b"250-mx.example\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n"
                b"250-8BITMIME\r\n250 SMTPUTF8\r\n")
QUIT = [("C", b"QUIT\r\n"), ("S", b"221 2.0.0 Bye\r\n"), ("FIN", "S")]
MAIL = [("C", b"MAIL FROM:<a@x>\r\n"), ("S", b"250 2.1.0 Ok\r\n")]
RCPT = [("C", b"RCPT TO:<b@x>\r\n"), ("S", b"250 2.1.5 Ok\r\n")]
DATA = [("C", b"DATA\r\n"), ("S", b"354 End data with <CR><LF>.<CR><LF>\r\n"),
        ("C", b"Subject: test\r\nFrom: a@x\r\nTo: b@x\r\n\r\nHello.\r\n"),
        ("C", b".\r\n"), ("S", b"250 2.0.0 Ok: queued as 4A1B2C3D\r\n")]


def long_line(n: int) -> bytes:
    """n bytes of printable text with no CR or LF."""
    pat = b"abcdefghijklmnopqrstuvwxyz0123456789"
    return (pat * (n // len(pat) + 1))[:n]


def large_message(bdat: bool):
    """A session sending one message of about 1.2 MB (a third of its lines
    starting with a dot), by DATA (dot-stuffed) or BDAT, cut every 1,460
    bytes: (steps for Conn.run, the message as it should be exported)."""
    lines = [b'.dot line %05d ..\r\n' % i if i % 3 == 0 else
             b'plain line %05d of the message body\r\n' % i for i in range(40000)]
    msg = b'Subject: big\r\n\r\n' + b''.join(lines)
    if bdat:
        data = [("C", b'BDAT %d LAST\r\n' % len(msg) + msg, {"every": 1460})]
    else:
        stuffed = b''.join(b'.' + l if l.startswith(b'.') else l
                           for l in (x + b'\r\n' for x in msg.split(b'\r\n')[:-1]))
        data = [("C", b'DATA\r\n'), ("S", b'354 go\r\n'), ("C", stuffed + b'.\r\n', {"every": 1460})]
    steps = [GREETING, EHLO, EHLO_OK, ("C", b'MAIL FROM:<a@x>\r\n'), ("S", b'250 ok\r\n'),
             ("C", b'RCPT TO:<b@x>\r\n'), ("S", b'250 ok\r\n')] + data + \
        [("S", b'250 2.0.0 queued\r\n')] + QUIT
    return steps, msg


EHLO12 = b"".join(b"250-%s\r\n" % w for w in (
    b"mx.example Hello client.example", b"PIPELINING", b"SIZE 10240000",
    b"VRFY", b"ETRN", b"STARTTLS", b"AUTH PLAIN LOGIN", b"ENHANCEDSTATUSCODES",
    b"8BITMIME", b"DSN", b"SMTPUTF8")) + b"250 CHUNKING\r\n"

CAPTURES = {
    "garbage-port25": dict(
        desc="2 KB of seeded random bytes from the client after the greeting, "
             "then a normal EHLO/250 and QUIT/221.",
        steps=[GREETING,
               ("C", random.Random(25).randbytes(2048), {"cut": [1400]}),
               EHLO, EHLO_OK] + QUIT),
    "overlong-line": dict(
        desc="Client sends a 100000-byte line without CRLF in 1400-byte "
             "segments, then CRLF NOOP CRLF; server answers 500 then 250.",
        steps=[GREETING, EHLO, EHLO_OK,
               ("C", long_line(100000), {"every": 1400}),
               ("C", b"\r\nNOOP\r\n"),
               ("S", b"500 5.5.2 Line too long\r\n"),
               ("S", b"250 2.0.0 Ok\r\n")] + QUIT),
    "reply-without-code": dict(
        desc="Server reply starts with a line that has no reply code.",
        steps=[("S", b"220 mx ESMTP\r\n"), ("C", b"EHLO a\r\n"),
               ("S", b"hello there\r\n250 mx\r\n"),
               ("C", b"QUIT\r\n"), ("S", b"221 bye\r\n"), ("FIN", "S")]),
    "bare-lf": dict(
        desc="Commands and replies ended by bare LF, MAIL ended by a bare CR; "
             "DATA body with LF.LF in the middle and CRLF.CRLF at the end.",
        steps=[("S", b"220 mx.example ESMTP\n"), ("C", b"EHLO a\n"),
               ("S", b"250-mx.example\n250 8BITMIME\n"),
               ("C", b"MAIL FROM:<a@x>\r"), ("S", b"250 2.1.0 Ok\n"),
               ("C", b"RCPT TO:<b@x>\n"), ("S", b"250 2.1.5 Ok\n"),
               ("C", b"DATA\n"), ("S", b"354 End data with <CR><LF>.<CR><LF>\n"),
               ("C", b"Subject: bare\r\n\r\nline one\n.\nline three\r\n"),
               ("C", b".\r\n"), ("S", b"250 2.0.0 Ok: queued\n"),
               ("C", b"QUIT\n"), ("S", b"221 2.0.0 Bye\n"), ("FIN", "S")]),
    "lookalike-accepted": dict(
        desc="DATA body ended by a bare-LF LF.LF that the server takes for the "
             "end of data (SMTP smuggling): no CRLF.CRLF, the 250 comes after it.",
        steps=[GREETING, EHLO, EHLO_OK,
               ("C", b"MAIL FROM:<a@x>\r\n"), ("S", b"250 2.1.0 Ok\r\n"),
               ("C", b"RCPT TO:<b@x>\r\n"), ("S", b"250 2.1.5 Ok\r\n"),
               ("C", b"DATA\r\n"), ("S", b"354 End data with <CR><LF>.<CR><LF>\r\n"),
               ("C", b"Subject: smuggled\r\n\r\nline one\r\n"),
               ("C", b"\n.\n"), ("S", b"250 2.0.0 Ok: queued as 1234\r\n")] + QUIT),
    "multiline-split": dict(
        desc="12-line EHLO reply cut every 7 bytes; EHLO cut after 'EH' and "
             "MAIL cut after 'MA' (mid-verb).",
        steps=[GREETING, ("C", b"EHLO client.example\r\n", {"cut": [2]}),
               ("S", EHLO12, {"every": 7}),
               ("C", b"MAIL FROM:<a@x>\r\n", {"cut": [2]}),
               ("S", b"250 2.1.0 Ok\r\n")] + QUIT),
    "pipelined": dict(
        desc="MAIL, 3x RCPT and DATA in one client segment; the five replies "
             "in one server segment; body; dot; QUIT.",
        steps=[GREETING, EHLO, EHLO_OK,
               ("C", b"MAIL FROM:<a@x>\r\nRCPT TO:<b@x>\r\nRCPT TO:<c@x>\r\n"
                     b"RCPT TO:<d@x>\r\nDATA\r\n"),
               ("S", b"250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n250 2.1.5 Ok\r\n"
                     b"250 2.1.5 Ok\r\n354 End data with <CR><LF>.<CR><LF>\r\n"),
               ("C", b"Subject: pipelined\r\n\r\nThree recipients.\r\n"),
               ("C", b".\r\n"), ("S", b"250 2.0.0 Ok: queued as 5B6C7D8E\r\n")]
        + QUIT),
    "bdat-binary": dict(
        desc="CHUNKING: 'BDAT 10' and its 10 binary bytes (CRLF.CRLF, NUL, "
             "0xFF) in separate segments; 'BDAT 5 LAST' and 5 bytes combined "
             "in one segment.",
        steps=[GREETING, EHLO,
               ("S", b"250-mx.example\r\n250-CHUNKING\r\n250-BINARYMIME\r\n"
                     b"250 8BITMIME\r\n"),
               ("C", b"MAIL FROM:<a@x> BODY=BINARYMIME\r\n"),
               ("S", b"250 2.1.0 Ok\r\n")] + RCPT +
              [("C", b"BDAT 10\r\n"), ("C", b"ab\r\n.\r\n\x00\xffz"),
               ("S", b"250 2.0.0 10 octets received\r\n"),
               ("C", b"BDAT 5 LAST\r\n\x00\xff\r\n."),
               ("S", b"250 2.0.0 Ok: queued as 6C7D8E9F\r\n")] + QUIT),
    "midsession-data": dict(
        syn=False,
        desc="No handshake: the capture starts inside a DATA body; then the "
             "terminating dot, 250 queued, QUIT/221.",
        steps=[("C", b"line two of the body\r\nline three\r\n"),
               ("C", b"last line\r\n"), ("C", b".\r\n"),
               ("S", b"250 2.0.0 Ok: queued\r\n")] + QUIT),
    "midsession-multiline": dict(
        syn=False,
        desc="No handshake: the capture starts in the middle of a multi-line "
             "EHLO reply, then a normal MAIL/RCPT and QUIT.",
        steps=[("S", b"250-SIZE 1000\r\n250 HELP\r\n")] + MAIL + RCPT + QUIT),
    "lost-segment": dict(
        desc="Normal session; the client segment 'RCPT TO:<b@x>' is missing "
             "from the capture (seq gap), the server's 250 to it is present.",
        steps=[GREETING, EHLO, EHLO_OK] + MAIL +
              [("C", b"RCPT TO:<b@x>\r\n", {"drop": [0]}),
               ("S", b"250 2.1.5 Ok\r\n")] + DATA + QUIT),
    "starttls-no-tls": dict(
        desc="STARTTLS answered 454 4.7.0; the session continues in clear.",
        steps=[GREETING, EHLO,
               ("S", b"250-mx.example\r\n250-STARTTLS\r\n250 8BITMIME\r\n"),
               ("C", b"STARTTLS\r\n"),
               ("S", b"454 4.7.0 TLS not available due to local problem\r\n")]
        + MAIL + RCPT + DATA + QUIT),
    "data-rejected": dict(
        desc="The only RCPT is rejected; DATA answered 554 5.5.1; client QUITs.",
        steps=[GREETING, EHLO, EHLO_OK] + MAIL +
              [("C", b"RCPT TO:<nobody@x>\r\n"),
               ("S", b"550 5.1.1 <nobody@x>: Recipient address rejected\r\n"),
               ("C", b"DATA\r\n"),
               ("S", b"554 5.5.1 Error: no valid recipients\r\n")] + QUIT),
    "unsolicited-421": dict(
        desc="After EHLO the server sends 421 with no pending command and "
             "closes the connection.",
        steps=[GREETING, EHLO, EHLO_OK,
               ("S", b"421 4.4.2 mx Error: timeout exceeded\r\n"), ("FIN", "S")]),
    "after-quit": dict(
        desc="The session goes on after QUIT was answered: NOOP, a pipelined "
             "MAIL and RCPT (a transaction the FIN leaves open), QUIT and "
             "221 again, then a reply no command asked for, then FIN.",
        steps=[GREETING, EHLO, EHLO_OK,
               ("C", b"QUIT\r\n"), ("S", b"221 2.0.0 Bye\r\n"),
               ("C", b"NOOP\r\n"), ("S", b"250 2.0.0 Ok\r\n"),
               ("C", b"MAIL FROM:<a@x>\r\nRCPT TO:<b@x>\r\n"),
               ("S", b"250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n"),
               ("C", b"QUIT\r\n"), ("S", b"221 2.0.0 Bye\r\n"),
               ("S", b"250 late\r\n"), ("FIN", "S")]),
    "ipv6-basic": dict(
        ipv6=True, desc="A short complete session over IPv6.",
        steps=[GREETING, EHLO, EHLO_OK] + MAIL + RCPT + DATA + QUIT),
}

# two-sessions: two connections (different client ports), interleaved in time.
TWO_SESSIONS = dict(
    desc="Two complete SMTP sessions (client ports 40101 and 40102) "
         "interleaved in time in one file.",
    parts=[dict(cport=40101, steps=[GREETING, EHLO, EHLO_OK] + MAIL + RCPT
                + DATA + QUIT),
           dict(cport=40102, steps=[GREETING, ("C", b"HELO other.example\r\n"),
                                    ("S", b"250 mx.example\r\n"),
                                    ("C", b"MAIL FROM:<c@y>\r\n"),
                                    ("S", b"250 2.1.0 Ok\r\n"),
                                    ("C", b"RCPT TO:<d@y>\r\n"),
                                    ("S", b"250 2.1.5 Ok\r\n")] + DATA + QUIT)])


class Conn:
    """Builds the packets of one TCP connection, step by step."""

    def __init__(self, ipv6=False, cport=40025, t0=T0, step=STEP_NS):
        mk = ipaddress.ip_address
        self.addr = {"C": (mk(CLIENT6 if ipv6 else CLIENT4), cport),
                     "S": (mk(SERVER6 if ipv6 else SERVER4), 25)}
        self.nxt = {"C": ISN_C, "S": ISN_S}
        self.ts, self.step = t0, step
        self.frames = []      # (ts_ns, frame)
        self.ident = 0

    def packet(self, who: str, flags: int, payload=b"", write=True, opts=b""):
        """Emit one segment from `who` at the current seq; advance seq/time."""
        other = "S" if who == "C" else "C"
        (src, sp), (dst, dp) = self.addr[who], self.addr[other]
        ack = self.nxt[other] if flags & pl.TCP_ACK else 0
        seg = pl.TcpSeg(self.ts, src, dst, sp, dp, self.nxt[who], ack, flags,
                        64240, payload, options=opts)
        self.ident += 1
        if write:
            self.frames.append((self.ts, pl.build_tcp_frame(seg, self.ident)))
        self.nxt[who] = (self.nxt[who] + len(payload)
                         + bool(flags & (pl.TCP_SYN | pl.TCP_FIN))) % (1 << 32)
        self.ts += self.step

    def handshake(self):
        """SYN, SYN/ACK, ACK (MSS 1460 option on the SYNs)."""
        mss = b"\x02\x04\x05\xb4"
        self.packet("C", pl.TCP_SYN, opts=mss)
        self.packet("S", pl.TCP_SYN | pl.TCP_ACK, opts=mss)
        self.packet("C", pl.TCP_ACK)

    def send(self, who: str, data: bytes, opt: dict):
        """Send data from `who`, cut and/or with dropped pieces per opt."""
        for i, piece in enumerate(cut(data, opt)):
            self.packet(who, pl.TCP_ACK | pl.TCP_PSH, piece,
                        write=i not in opt.get("drop", ()))

    def close(self, who: str):
        """FIN from `who`, FIN/ACK from the other side, final ACK."""
        other = "S" if who == "C" else "C"
        self.packet(who, pl.TCP_FIN | pl.TCP_ACK)
        self.packet(other, pl.TCP_FIN | pl.TCP_ACK)
        self.packet(who, pl.TCP_ACK)

    def run(self, steps, syn=True):
        """Play a list of steps; return the frames."""
        if syn:
            self.handshake()
        for st in steps:
            if st[0] == "FIN":
                self.close(st[1])
            else:
                self.send(st[0], st[1], st[2] if len(st) > 2 else {})
        return self.frames


def cut(data: bytes, opt: dict) -> list:
    """Split data per opt: {"cut": [sizes...]} (rest last) or {"every": n}."""
    sizes = list(opt.get("cut", []))
    if "every" in opt:
        sizes = [opt["every"]] * (len(data) // opt["every"] + 1)
    out, pos = [], 0
    for n in sizes:
        if pos < len(data):
            out.append(data[pos:pos + n])
            pos += n
    if pos < len(data):
        out.append(data[pos:])
    return out


# ------------------------------------------------------------- transcripts

def show(data: bytes, limit=400) -> str:
    """Readable escaped form of bytes (long data shortened)."""
    def esc(b):
        return "".join(chr(c) if 32 <= c < 127 and c != 92 else
                       {13: "\\r", 10: "\\n", 92: "\\\\"}.get(c, "\\x%02x" % c)
                       for c in b)
    if len(data) <= limit:
        return '"%s"' % esc(data)
    return '"%s" ... "%s" (%d bytes)' % (esc(data[:120]), esc(data[-40:]), len(data))


def transcript(steps, syn=True, prefix="") -> list:
    """Lines describing the steps, one per step."""
    lines = [prefix + "-- three-way handshake (SYN, SYN/ACK, ACK)" if syn else
             prefix + "-- no handshake: capture starts mid-connection"]
    for st in steps:
        if st[0] == "FIN":
            lines.append(prefix + "-- %s closes: FIN, FIN/ACK, ACK" %
                         ("server" if st[1] == "S" else "client"))
            continue
        opt = st[2] if len(st) > 2 else {}
        note = ""
        if opt:
            sizes = [len(p) for p in cut(st[1], opt)]
            shown = sizes if len(sizes) <= 12 else sizes[:6] + ["..."] + sizes[-2:]
            note = "   [segments: %s" % ", ".join(map(str, shown))
            if "drop" in opt:
                note += "; NOT CAPTURED: segment(s) %s" % opt["drop"]
            note += "]"
        lines.append("%s%s: %s%s" % (prefix, st[0], show(st[1]), note))
    return lines


def header(name: str, desc: str, ipv6: bool, cports) -> list:
    """Transcript header lines."""
    s, c = (SERVER6, CLIENT6) if ipv6 else (SERVER4, CLIENT4)
    return ["%s: %s" % (name, desc),
            "server %s port 25, client %s port(s) %s, %s" %
            (s, c, ", ".join(map(str, cports)), "IPv6" if ipv6 else "IPv4"),
            "C = client to server, S = server to client; bytes shown escaped.",
            ""]


# -------------------------------------------------------------------- main

def write_one(outdir: str, name: str, spec: dict) -> None:
    """Generate NAME.pcap and NAME.txt for a single-connection capture."""
    ipv6, syn, cport = spec.get("ipv6", False), spec.get("syn", True), spec.get("cport", 40025)
    frames = Conn(ipv6, cport).run(spec["steps"], syn)
    pl.write_pcap(os.path.join(outdir, name + ".pcap"), frames)
    lines = header(name, spec["desc"], ipv6, [cport]) + transcript(spec["steps"], syn)
    with open(os.path.join(outdir, name + ".txt"), "w") as f:
        f.write("\n".join(lines) + "\n")


def write_two_sessions(outdir: str, name="two-sessions") -> None:
    """Two connections, the second starting 1 ms after the first, merged."""
    spec, frames, lines = TWO_SESSIONS, [], []
    for i, part in enumerate(spec["parts"]):
        frames += Conn(False, part["cport"], T0 + i * 1_000_000).run(part["steps"])
        lines += ["connection %d (client port %d):" % (i + 1, part["cport"])]
        lines += transcript(part["steps"], True, "  ") + [""]
    frames.sort(key=lambda f: f[0])
    pl.write_pcap(os.path.join(outdir, name + ".pcap"), frames)
    cports = [p["cport"] for p in spec["parts"]]
    with open(os.path.join(outdir, name + ".txt"), "w") as f:
        f.write("\n".join(header(name, spec["desc"], False, cports) + lines))


def write_readme(outdir: str) -> None:
    """README.md listing every capture."""
    rows = [(n, s["desc"]) for n, s in CAPTURES.items()]
    rows.append(("two-sessions", TWO_SESSIONS["desc"]))
    text = [README_TITLE, "",
            "Generated by `tests/tools/gen-edge-captures.py testdata/edge` "
            "(deterministic: fixed timestamps, addresses, ports, ISNs and "
            "seeded random bytes; regenerating gives identical files).", "",
            "Server 192.0.2.25:25 (IPv6 2001:db8::25), client 198.51.100.7 "
            "(IPv6 2001:db8::7). Ethernet, classic pcap. Each `NAME.txt` is "
            "the step list as a transcript (segment cuts and dropped "
            "segments noted).", "",
            "| capture | what it contains |", "|---|---|"]
    text += ["| `%s.pcap` | %s |" % r for r in rows]
    with open(os.path.join(outdir, "README.md"), "w") as f:
        f.write("\n".join(text) + "\n")


def not_ours(outdir: str) -> list:
    """The files in OUTDIR this tool would write over but did not make: a
    README.md without its title, a NAME.txt without its first line "NAME: ",
    a NAME.pcap whose NAME.txt is not one of these transcripts."""
    def first_line(path):
        try:
            with open(path, encoding="utf-8", errors="replace") as f:
                return f.readline().rstrip("\n")
        except FileNotFoundError:
            return None

    bad = []
    readme = os.path.join(outdir, "README.md")
    if os.path.exists(readme) and first_line(readme) != README_TITLE:
        bad.append(readme)
    for name in list(CAPTURES) + ["two-sessions"]:
        txt, pcap = (os.path.join(outdir, name + ext) for ext in (".txt", ".pcap"))
        ours = (first_line(txt) or "").startswith(name + ": ")
        if os.path.exists(txt) and not ours:
            bad.append(txt)
        if os.path.exists(pcap) and not ours:
            bad.append(pcap)
    return bad


def main(argv) -> int:
    if len(argv) != 2:
        print(__doc__.split("\n\n")[1], file=sys.stderr)
        return 2
    outdir = argv[1]
    os.makedirs(outdir, exist_ok=True)
    bad = not_ours(outdir)
    if bad:  # regenerating replaces only this tool's own files
        print("gen-edge-captures: not written, these files were not made by this tool:\n  "
              + "\n  ".join(bad), file=sys.stderr)
        return 2
    for name, spec in CAPTURES.items():
        write_one(outdir, name, spec)
    write_two_sessions(outdir)
    write_readme(outdir)
    print("wrote %d captures to %s" % (len(CAPTURES) + 1, outdir))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
