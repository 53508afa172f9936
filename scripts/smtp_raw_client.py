#!/usr/bin/env python3
"""Raw SMTP client used by scripts/record-captures.sh and scripts/record-auth-lmtp.sh
(Python 3 standard library only).

It talks to a real SMTP server and does the things a normal client such as
swaks cannot do precisely: BDAT chunks (binary bytes, "BDAT n LAST",
"BDAT 0 LAST"), true pipelining (several commands in ONE write), command
lines cut into several TCP segments, a server whose replies are cut into
small segments (small TCP MSS announced by the client), STARTTLS with a TLS
key log file that Wireshark can use (-o tls.keylog_file:FILE), SASL AUTH
exchanges (PLAIN, LOGIN, CRAM-MD5, failures) and LMTP sessions.

Sub-commands:

  run SCENARIO --host H --port P --transcript FILE [--keylog FILE]
      Run one scripted session and write the client transcript.

  swaks2transcript < swaks-output > FILE
      Convert swaks' own session output into the transcript format.

  verify --pcap F --transcript T [--keylog K] [--expect-split]
         [--expect-pipelined N]
      Check with tshark that the bytes in the capture are exactly those
      described by the transcript, and that the segmentation is as wanted.

Transcript format (one item per line, CRLF removed, bytes exactly as on the wire):

  C: <line>                 a command line the client sent
  C: <body of N bytes>      a DATA body: N bytes as sent on the wire (already
                            dot-stuffed, CRLF line ends, up to and including the
                            CRLF before the terminating "."); followed by "C: ."
  C: <chunk of N bytes>     the N bytes of BDAT chunk data following "C: BDAT ..."
  S: <line>                 one reply line the client read from the server
                            (every line of a multi-line reply is its own S: line)
  # ...                     comment; "# TLS" marks where TLS starts (lines after
                            it were sent/read inside TLS)
"""

import argparse
import base64
import hashlib
import hmac
import os
import re
import socket
import ssl
import struct
import subprocess
import sys
import time

CRLF = b"\r\n"
SERVER_PORTS = (25, 587, 24)      # SMTP, submission, LMTP


class ServerClosed(Exception):
    pass


class Session:
    """One SMTP connection that records a transcript of what went over it."""

    def __init__(self, host, port, nodelay=False, maxseg=None, timeout=20.0):
        self.lines = []
        self.buf = b""
        self.closed = False
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        s = socket.socket(family, socket.SOCK_STREAM)
        if maxseg:
            # Announce a small MSS in our SYN: the server must then cut its
            # replies into segments of at most this size.
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG, maxseg)
        if nodelay:
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        s.settimeout(timeout)
        s.connect((host, port))
        self.sock = s

    # -- transcript -------------------------------------------------------
    def note(self, text):
        self.lines.append("# " + text)

    def _rec(self, prefix, raw):
        self.lines.append(prefix + raw.decode("utf-8", "backslashreplace"))

    # -- reading ----------------------------------------------------------
    def _fill(self):
        data = self.sock.recv(65536)
        if not data:
            self.closed = True
            raise ServerClosed()
        self.buf += data

    def read_line(self):
        while CRLF not in self.buf:
            self._fill()
        line, self.buf = self.buf.split(CRLF, 1)
        self._rec("S: ", line)
        return line

    def read_reply(self):
        """Read one (possibly multi-line) reply; return (code, [lines])."""
        lines = []
        while True:
            line = self.read_line()
            lines.append(line)
            if len(line) < 4 or line[3:4] != b"-":
                break
        code = int(lines[-1][:3]) if lines[-1][:3].isdigit() else 0
        return code, lines

    def drain(self, timeout=3.0):
        """Read whatever the server still sends (e.g. an unsolicited 421)
        until it closes the connection or nothing comes for `timeout` s."""
        old = self.sock.gettimeout()
        self.sock.settimeout(timeout)
        try:
            while True:
                self.read_line()
        except ServerClosed:
            pass
        except (socket.timeout, TimeoutError):
            pass
        finally:
            if not self.closed:
                self.sock.settimeout(old)
        if self.closed:
            if self.buf:
                self.note("server closed the connection; unterminated data: %r" % self.buf)
            else:
                self.note("server closed the connection")

    def wait_close(self, timeout=5.0):
        """After QUIT/221 (or 421): wait for the server's FIN."""
        self.sock.settimeout(timeout)
        try:
            while not self.closed:
                self._fill()
        except (ServerClosed, socket.timeout, TimeoutError, OSError):
            pass
        if self.buf:
            self.note("unexpected data after the last reply: %r" % self.buf)

    # -- writing ----------------------------------------------------------
    def send_line(self, line):
        self.sock.sendall(line.encode() + CRLF)
        self._rec("C: ", line.encode())

    def cmd(self, line):
        self.send_line(line)
        return self.read_reply()

    def pipeline(self, lines, tail=b""):
        """Write several command lines (plus optional raw tail bytes) in ONE
        send; the caller reads the replies."""
        data = b"".join(l.encode() + CRLF for l in lines) + tail
        self.sock.sendall(data)
        for l in lines:
            self._rec("C: ", l.encode())

    def send_pieces(self, pieces, delay=0.15):
        """Send bytes in several writes with pauses in between, so that (with
        TCP_NODELAY) every piece becomes its own TCP segment."""
        for i, p in enumerate(pieces):
            if i:
                time.sleep(delay)
            self.sock.sendall(p)
        self.note("previous item sent in %d writes: %s" % (
            len(pieces), " | ".join(repr(p)[2:-1] for p in pieces)))

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def dot_stuff(text):
    """Message text (str, '\\n' line ends) -> DATA body bytes on the wire
    (CRLF line ends, leading dots doubled), without the terminating '.'."""
    if isinstance(text, str):
        text = text.encode()
    out = []
    for line in text.split(b"\n"):
        if line.startswith(b"."):
            line = b"." + line
        out.append(line + CRLF)
    return b"".join(out)


def send_body(sess, text, extra_after_dot=()):
    """Send a DATA body and the terminating dot in one write. Optionally
    pipeline further commands (e.g. QUIT) in the same write."""
    body = dot_stuff(text)
    extra = b"".join(l.encode() + CRLF for l in extra_after_dot)
    sess.sock.sendall(body + b"." + CRLF + extra)
    sess.lines.append("C: <body of %d bytes>" % len(body))
    sess.lines.append("C: .")
    for l in extra_after_dot:
        sess._rec("C: ", l.encode())


def data(sess, text):
    """DATA command; only if the server answers 354, the body and the dot.
    Returns the final reply code."""
    code, _ = sess.cmd("DATA")
    if code != 354:
        return code
    send_body(sess, text)
    code, _ = sess.read_reply()
    return code


def message(frm, to, subject, body_lines):
    hdr = [
        "From: <%s>" % frm,
        "To: <%s>" % to,
        "Subject: %s" % subject,
        "Date: Mon, 01 Jan 2024 12:00:00 +0000",
        "Message-ID: <%s@client.example.test>" % re.sub(r"[^a-z0-9]+", "-", subject.lower()),
        "",
    ]
    return "\n".join(hdr + list(body_lines))


HELO = "client.example.test"


def tls_context(keylog):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    if keylog:
        if os.path.exists(keylog):
            os.unlink(keylog)
        ctx.keylog_filename = keylog
    return ctx


# ---------------------------------------------------------------------------
# Scenarios. Each gets a connected Session (banner not read yet) and the
# command line arguments.

def sc_pipelining(s, a):
    s.read_reply()
    s.cmd("EHLO " + HELO)
    s.note("MAIL, 4 x RCPT and DATA written in ONE send (RFC 2920 pipelining)")
    s.pipeline([
        "MAIL FROM:<alice@example.test>",
        "RCPT TO:<bob@example.test>",
        "RCPT TO:<nosuchuser@example.test>",
        "RCPT TO:<carol@example.test>",
        "RCPT TO:<bob+pipe@example.test>",
        "DATA",
    ])
    for _ in range(6):
        s.read_reply()
    s.note("body, terminating dot and QUIT written in ONE send")
    send_body(s, message("alice@example.test", "bob@example.test", "pipelining test",
                         ["Hello Bob,", "this message was sent with PIPELINING.", "", "-- alice"]),
              extra_after_dot=["QUIT"])
    s.read_reply()
    s.read_reply()
    s.wait_close()


def sc_starttls(s, a):
    s.read_reply()
    s.cmd("EHLO " + HELO)
    code, _ = s.cmd("STARTTLS")
    if code != 220:
        raise SystemExit("STARTTLS refused")
    s.lines.append("# TLS")
    ctx = tls_context(a.keylog)
    s.sock = ctx.wrap_socket(s.sock, server_hostname="mx.example.test")
    s.note("TLS established: %s %s" % (s.sock.version(), s.sock.cipher()[0]))
    s.cmd("EHLO " + HELO)
    s.cmd("MAIL FROM:<alice@example.test>")
    s.cmd("RCPT TO:<bob@example.test>")
    data(s, message("alice@example.test", "bob@example.test", "secret over STARTTLS",
                    ["This body travels inside TLS.", ".a line starting with a dot", "bye"]))
    s.cmd("QUIT")
    s.wait_close()


def large_text():
    lines = []
    filler = "The quick brown fox jumps over the lazy dog. "
    for i in range(600):
        if i == 100:
            lines.append(".")                 # a line that is only a dot
        elif i == 200:
            lines.append("..")                # two dots
        elif i == 300:
            lines.append(". dot and space")
        elif i % 37 == 0:
            lines.append(".%04d line starting with a dot %s" % (i, (filler * 6)[:250]))
        else:
            n = 300 + (i * 7) % 60
            lines.append(("%04d " % i + filler * 8)[:n])
    lines.append("end of the large body")
    return message("alice@example.test", "bob@example.test", "large body", lines)


def sc_large(s, a):
    text = large_text()
    size = len(dot_stuff(text)) + 3
    s.read_reply()
    s.cmd("EHLO " + HELO)
    s.cmd("MAIL FROM:<alice@example.test> SIZE=%d" % size)
    s.cmd("RCPT TO:<bob@example.test>")
    data(s, text)
    s.cmd("QUIT")
    s.wait_close()


def sc_too_big(s, a):
    s.read_reply()
    s.cmd("EHLO " + HELO)
    s.note("declared SIZE above message_size_limit")
    s.cmd("MAIL FROM:<alice@example.test> SIZE=50000")
    s.note("Postfix remembers the rejected SIZE until RSET")
    s.cmd("RSET")
    s.note("no SIZE declared, body above message_size_limit")
    s.cmd("MAIL FROM:<alice@example.test>")
    s.cmd("RCPT TO:<bob@example.test>")
    body = ["%03d %s" % (i, "x" * 70) for i in range(250)]
    data(s, message("alice@example.test", "bob@example.test", "too big", body))
    s.cmd("QUIT")
    s.wait_close()


def sc_errors(s, a):
    s.read_reply()
    s.cmd("FOO bar")                               # unknown command
    s.cmd("EHLO " + HELO)
    s.cmd("RCPT TO:<bob@example.test>")            # RCPT before MAIL
    s.cmd("DATA")                                  # DATA before MAIL
    s.cmd("MAIL FROM:<alice@example.test")         # bad address syntax
    s.cmd("MAIL FROM:<alice@example.test>")
    s.cmd("MAIL FROM:<alice@example.test>")        # nested MAIL
    s.cmd("DATA")                                  # DATA without RCPT
    s.cmd("EHLO")                                  # missing argument
    s.cmd("")                                      # empty line
    s.cmd("QUIT")
    s.wait_close()


def sc_giveup(s, a):
    s.read_reply()
    s.cmd("EHLO " + HELO)
    for line in ["RCPT TO:<bob@example.test>", "XYZZY", "DATA", "NOOP", "QUIT"]:
        if s.closed:
            break
        try:
            code, _ = s.cmd(line)
        except ServerClosed:
            s.note("server closed the connection")
            break
        if code == 421:
            s.drain()
            break
        # anything sent right after the reply (the 421 comes unsolicited)
        s.drain(timeout=0.5)
    s.wait_close()


def sc_bdat(s, a):
    s.read_reply()
    code, lines = s.cmd("EHLO " + HELO)
    if not any(l[4:].upper().startswith(b"CHUNKING") for l in lines):
        raise SystemExit("server does not advertise CHUNKING")
    s.cmd("MAIL FROM:<alice@example.test> BODY=8BITMIME")
    s.cmd("RCPT TO:<bob@example.test>")
    c1 = (b"From: <alice@example.test>\r\nTo: <bob@example.test>\r\n"
          b"Subject: BDAT test\r\nMessage-ID: <bdat-1@client.example.test>\r\n\r\n"
          b"First chunk, its last line is cut in the mid")
    c2 = (b"dle and continues in chunk 2.\r\n"
          b"Binary bytes follow:\r\n" + bytes(range(256)) + b"\r\n"
          b"Not the end of data:\r\n.\r\nQUIT\r\nRSET\r\n")
    c3 = b"Last chunk \xc3\xa9t\xc3\xa9 (UTF-8).\r\n"
    s.note("BDAT command and chunk in one write")
    s.sock.sendall(b"BDAT %d\r\n" % len(c1) + c1)
    s.lines += ["C: BDAT %d" % len(c1), "C: <chunk of %d bytes>" % len(c1)]
    s.read_reply()
    s.note("BDAT command and chunk in two writes")
    s.sock.sendall(b"BDAT %d\r\n" % len(c2))
    time.sleep(0.1)
    s.sock.sendall(c2)
    s.lines += ["C: BDAT %d" % len(c2), "C: <chunk of %d bytes>" % len(c2)]
    s.read_reply()
    s.sock.sendall(b"BDAT %d LAST\r\n" % len(c3) + c3)
    s.lines += ["C: BDAT %d LAST" % len(c3), "C: <chunk of %d bytes>" % len(c3)]
    s.read_reply()
    s.note("second transaction: BDAT n and BDAT 0 LAST pipelined in one write")
    s.cmd("MAIL FROM:<alice@example.test>")
    s.cmd("RCPT TO:<carol@example.test>")
    c4 = (b"Subject: BDAT 0 LAST\r\n\r\nAll data in one chunk, then an empty LAST chunk.\r\n")
    s.sock.sendall(b"BDAT %d\r\n" % len(c4) + c4 + b"BDAT 0 LAST\r\n")
    s.lines += ["C: BDAT %d" % len(c4), "C: <chunk of %d bytes>" % len(c4), "C: BDAT 0 LAST"]
    s.read_reply()
    s.read_reply()
    s.cmd("QUIT")
    s.wait_close()


def sc_cut(s, a):
    s.note("client announced TCP MSS %d: server replies longer than that are "
           "split over several segments" % a.maxseg)
    s.read_reply()
    s.lines.append("C: EHLO " + HELO)
    s.send_pieces([b"EH", b"LO client.ex", b"ample.test\r", b"\n"])
    s.read_reply()
    s.lines.append("C: MAIL FROM:<alice@example.test>")
    s.send_pieces([b"MAIL FROM:<al", b"ice@example.test>\r\n"])
    s.read_reply()
    s.lines.append("C: RCPT TO:<bob@example.test>")
    s.send_pieces([b"R", b"C", b"P", b"T TO:<bob@example.test>", b"\r", b"\n"])
    s.read_reply()
    s.note("long 550 reply, longer than one server segment")
    s.lines.append("C: RCPT TO:<nosuchuser@example.test>")
    s.send_pieces([b"RCPT TO:<nosuchuser@exa", b"mple.test>\r\n"])
    s.read_reply()
    s.lines.append("C: DATA")
    s.send_pieces([b"DAT", b"A\r\n"])
    s.read_reply()
    body = dot_stuff(message("alice@example.test", "bob@example.test", "cut lines",
                             ["A body line that is cut", "..a stuffed line",
                              "the last line"]))
    s.lines += ["C: <body of %d bytes>" % len(body), "C: ."]
    i = body.index(b"is cut") + 3
    j = body.index(b"last li") + 7
    s.send_pieces([body[:i], body[i:j], body[j:] + b".", b"\r\n"])
    s.read_reply()
    s.lines.append("C: NOOP")
    s.send_pieces([b"NOOP\r", b"\n"])
    s.read_reply()
    s.lines.append("C: QUIT")
    s.send_pieces([b"QU", b"IT\r\n"])
    s.read_reply()
    s.wait_close()


def sc_rset(s, a):
    s.read_reply()
    s.cmd("EHLO " + HELO)
    s.cmd("MAIL FROM:<alice@example.test>")
    s.cmd("RCPT TO:<bob@example.test>")
    s.cmd("RCPT TO:<carol@example.test>")
    s.note("abort the transaction")
    s.cmd("RSET")
    s.cmd("RCPT TO:<bob@example.test>")            # MAIL is gone after RSET
    s.cmd("MAIL FROM:<carol@example.test>")
    s.cmd("RCPT TO:<alice@example.test>")
    data(s, message("carol@example.test", "alice@example.test", "after RSET",
                    ["Only alice gets this one."]))
    s.cmd("RSET")
    s.cmd("QUIT")
    s.wait_close()


def sc_misc(s, a):
    s.read_reply()
    s.cmd("EHLO " + HELO)
    s.cmd("NOOP")
    s.cmd("NOOP anything")
    s.cmd("VRFY alice")
    s.cmd("VRFY <bob@example.test>")
    s.cmd("VRFY nosuchuser@example.test")
    s.cmd("HELP")
    s.cmd("EXPN alice")
    s.cmd("ETRN example.test")
    s.cmd("HELO " + HELO)
    s.cmd("noop")
    s.cmd("QUIT")
    s.wait_close()


# ---------------------------------------------------------------------------
# AUTH (RFC 4954) against Postfix with Dovecot SASL, and LMTP (RFC 2033)
# against Dovecot's LMTP server; used by scripts/record-auth-lmtp.sh.

AUTH_USER = "alice@example.test"
AUTH_PASS = "s3cret"


def b64(data):
    if isinstance(data, str):
        data = data.encode()
    return base64.b64encode(data).decode()


def ehlo_auth(s):
    """EHLO; fail unless the server advertises AUTH. Returns the mechanisms."""
    _, lines = s.cmd("EHLO " + HELO)
    for l in lines:
        if l[4:].upper().startswith(b"AUTH "):
            return l[9:].decode().upper().split()
    raise SystemExit("server does not advertise AUTH")


def sc_auth_plain(s, a):
    s.read_reply()
    ehlo_auth(s)
    s.note("AUTH PLAIN with initial response: base64(\\0%s\\0%s)" % (AUTH_USER, AUTH_PASS))
    s.cmd("AUTH PLAIN " + b64("\0%s\0%s" % (AUTH_USER, AUTH_PASS)))
    s.cmd("MAIL FROM:<alice@example.test>")
    s.cmd("RCPT TO:<bob@example.test>")
    data(s, message("alice@example.test", "bob@example.test", "sent after AUTH PLAIN",
                    ["Hello Bob,", "this one was submitted by an authenticated client."]))
    s.cmd("QUIT")
    s.wait_close()


def sc_auth_login(s, a):
    s.read_reply()
    ehlo_auth(s)
    s.note("AUTH LOGIN: the server asks for the user name, then for the password")
    s.cmd("AUTH LOGIN")
    s.cmd(b64(AUTH_USER))
    s.cmd(b64(AUTH_PASS))
    s.cmd("QUIT")
    s.wait_close()


def sc_auth_cram_md5(s, a):
    s.read_reply()
    ehlo_auth(s)
    code, lines = s.cmd("AUTH CRAM-MD5")
    if code != 334:
        raise SystemExit("CRAM-MD5 refused")
    challenge = base64.b64decode(lines[-1][4:])
    digest = hmac.new(AUTH_PASS.encode(), challenge, hashlib.md5).hexdigest()
    s.note("challenge %s; response base64(user SP hex(HMAC-MD5(password, challenge)))"
           % challenge.decode("utf-8", "backslashreplace"))
    s.cmd(b64("%s %s" % (AUTH_USER, digest)))
    s.cmd("MAIL FROM:<alice@example.test>")
    s.cmd("RSET")
    s.cmd("QUIT")
    s.wait_close()


def sc_auth_failures(s, a):
    s.read_reply()
    ehlo_auth(s)
    s.note("wrong password")
    s.cmd("AUTH PLAIN " + b64("\0%s\0wrong" % AUTH_USER))
    s.note("client cancels the exchange with '*'")
    s.cmd("AUTH LOGIN")
    s.cmd("*")
    s.note("mechanism the server does not offer")
    s.cmd("AUTH DIGEST-MD5")
    s.note("AUTH PLAIN without initial response: empty 334 challenge")
    s.cmd("AUTH PLAIN")
    s.cmd(b64("\0%s\0%s" % (AUTH_USER, AUTH_PASS)))
    s.note("AUTH again after success")
    s.cmd("AUTH PLAIN " + b64("\0%s\0%s" % (AUTH_USER, AUTH_PASS)))
    s.cmd("QUIT")
    s.wait_close()


class Libntlm:
    """NTLM (MS-NLMP) messages made by libntlm (Debian's libntlm0), through
    ctypes: the NEGOTIATE message, and the AUTHENTICATE message that answers
    a server's CHALLENGE.  Its structures are a fixed header, a 1024-byte
    buffer and the buffer's fill (ntlm.h); SmbLength = header + fill."""
    BUF = 1024

    def __init__(self):
        import ctypes
        import ctypes.util
        self.ct = ctypes
        name = ctypes.util.find_library("ntlm") or "libntlm.so.0"
        self.lib = ctypes.CDLL(name)

    def _msg(self, raw, header):
        fill = struct.unpack_from("<I", raw, header + self.BUF)[0]
        return raw[:header + fill]

    def negotiate(self, user, domain):
        req = self.ct.create_string_buffer(32 + self.BUF + 4)
        self.lib.buildSmbNtlmAuthRequest(req, user.encode(), domain.encode())
        return self._msg(req.raw, 32)

    def authenticate(self, challenge, user, password):
        chal = self.ct.create_string_buffer(challenge[:48 + self.BUF].ljust(48 + self.BUF + 4, b"\0"))
        rsp = self.ct.create_string_buffer(64 + self.BUF + 4)
        self.lib.buildSmbNtlmAuthResponse(chal, rsp, user.encode(), password.encode())
        return self._msg(rsp.raw, 64)


NTLM_USER, NTLM_DOMAIN = "alice", "EXAMPLE"


def ntlm_attempt(s, ntlm, password):
    """AUTH NTLM with the NEGOTIATE message as initial response, then the
    AUTHENTICATE message for the server's challenge.  Returns the last code."""
    code, lines = s.cmd("AUTH NTLM " + b64(ntlm.negotiate(NTLM_USER, NTLM_DOMAIN)))
    if code != 334:
        return code
    challenge = base64.b64decode(lines[-1][4:])
    code, _ = s.cmd(b64(ntlm.authenticate(challenge, NTLM_USER, password)))
    return code


def sc_auth_ntlm(s, a):
    ntlm = Libntlm()
    s.read_reply()
    if "NTLM" not in ehlo_auth(s):
        raise SystemExit("server does not offer AUTH NTLM")
    s.note("AUTH NTLM (libntlm): user %s, a wrong password first" % NTLM_USER)
    if ntlm_attempt(s, ntlm, "wrong") != 535:
        raise SystemExit("a wrong NTLM password was not refused")
    s.note("AUTH NTLM again with the right password")
    if ntlm_attempt(s, ntlm, AUTH_PASS) != 235:
        raise SystemExit("NTLM authentication failed")
    s.cmd("MAIL FROM:<alice@example.test>")
    s.cmd("RCPT TO:<bob@example.test>")
    data(s, message("alice@example.test", "bob@example.test", "sent after AUTH NTLM",
                    ["Hello Bob,", "this one was submitted after NTLM authentication."]))
    s.cmd("QUIT")
    s.wait_close()


def lmtp_lhlo(s, need_pipelining=False):
    _, lines = s.cmd("LHLO " + HELO)
    if need_pipelining and not any(l[4:].upper().startswith(b"PIPELINING") for l in lines):
        raise SystemExit("LMTP server does not advertise PIPELINING")


LMTP_RCPTS = ["alice@example.test", "bob@example.test", "nosuchuser@example.test"]


def sc_lmtp(s, a):
    s.read_reply()
    lmtp_lhlo(s)
    s.cmd("MAIL FROM:<carol@example.test>")
    ok = 0
    for r in LMTP_RCPTS:
        code, _ = s.cmd("RCPT TO:<%s>" % r)
        ok += code // 100 == 2
    code, _ = s.cmd("DATA")
    if code == 354:
        send_body(s, message("carol@example.test", "alice@example.test", "LMTP delivery",
                             ["Hello alice and bob,", ".a line starting with a dot",
                              "one reply per accepted recipient follows."]))
        s.note("LMTP: one reply per accepted recipient (%d)" % ok)
        for _ in range(ok):
            s.read_reply()
    s.cmd("QUIT")
    s.wait_close()


def sc_lmtp_pipelined(s, a):
    s.read_reply()
    lmtp_lhlo(s, need_pipelining=True)
    cmds = ["MAIL FROM:<carol@example.test>"] + ["RCPT TO:<%s>" % r for r in LMTP_RCPTS]
    s.note("MAIL, %d x RCPT and DATA written in ONE send" % len(LMTP_RCPTS))
    s.pipeline(cmds + ["DATA"])
    ok = 0
    for c in cmds:
        code, _ = s.read_reply()
        ok += c.startswith("RCPT") and code // 100 == 2
    code, _ = s.read_reply()
    if code != 354:
        raise SystemExit("DATA refused")
    s.note("body, terminating dot and QUIT written in ONE send")
    send_body(s, message("carol@example.test", "bob@example.test", "LMTP pipelining",
                         ["Hello alice and bob,", "sent with PIPELINING over LMTP."]),
              extra_after_dot=["QUIT"])
    s.note("LMTP: one reply per accepted recipient (%d), then the QUIT reply" % ok)
    for _ in range(ok + 1):
        s.read_reply()
    s.wait_close()


SCENARIOS = {
    "pipelining": sc_pipelining,
    "starttls": sc_starttls,
    "large": sc_large,
    "too-big": sc_too_big,
    "errors": sc_errors,
    "giveup": sc_giveup,
    "bdat": sc_bdat,
    "cut": sc_cut,
    "rset": sc_rset,
    "misc": sc_misc,
    "auth-plain": sc_auth_plain,
    "auth-login": sc_auth_login,
    "auth-cram-md5": sc_auth_cram_md5,
    "auth-failures": sc_auth_failures,
    "auth-ntlm": sc_auth_ntlm,
    "lmtp": sc_lmtp,
    "lmtp-pipelined": sc_lmtp_pipelined,
}


def cmd_run(a):
    kw = {}
    if a.scenario == "cut":
        kw = dict(nodelay=True, maxseg=a.maxseg)
    s = Session(a.host, a.port, **kw)
    s.lines.append("# raw client scenario %s, server %s port %d" % (a.scenario, a.host, a.port))
    rc = 0
    try:
        SCENARIOS[a.scenario](s, a)
    except ServerClosed:
        s.note("server closed the connection unexpectedly")
        rc = 1
    finally:
        s.close()
        with open(a.transcript, "w") as f:
            f.write("\n".join(s.lines) + "\n")
    return rc


# ---------------------------------------------------------------------------
def cmd_swaks2transcript(a):
    """swaks prints 4-character prefixes: ' -> ' / '**> ' for sent lines,
    '<-  ' / '<** ' for received lines ('~' instead of '-'/'*' inside TLS),
    '=== ' for information, '*** ' for swaks errors. The DATA message is
    printed line by line and ends with ' -> .'."""
    out = []
    in_tls = False
    body = None
    for raw in sys.stdin.read().split("\n"):
        raw = raw.rstrip("\r")
        if not raw:
            continue
        pfx, text = raw[:4], raw[4:]
        if pfx in (" -> ", "**> ", " ~> ", "*~> "):
            tls = "~" in pfx
            if tls and not in_tls:
                out.append("# TLS")
                in_tls = True
            if body is not None:
                if text == ".":
                    out.append("C: <body of %d bytes>" % body)
                    out.append("C: .")
                    body = None
                else:
                    body += len(text.encode()) + 2
                continue
            out.append("C: " + text)
        elif pfx in ("<-  ", "<** ", "<~  ", "<~* "):
            out.append("S: " + text)
            if (text.startswith("354") and out[-2:-1] == ["C: DATA"]):
                body = 0
        elif pfx in ("=== ", "*** "):
            out.append("# swaks: " + text)
        else:
            out.append("# swaks (unrecognised): " + raw)
    sys.stdout.write("\n".join(out) + "\n")
    return 0


# ---------------------------------------------------------------------------
def tshark_follow(pcap, kind, keylog=None):
    """Return (client_bytes, server_bytes) of TCP/TLS stream 0."""
    cmd = ["tshark", "-r", pcap, "-q", "-z", "follow,%s,raw,0" % kind]
    if keylog:
        cmd[1:1] = ["-o", "tls.keylog_file:" + keylog]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    node0, node1 = bytearray(), bytearray()
    node0_is_server = None
    started = False
    for line in out.split("\n"):
        if line.startswith("Node 0:"):
            port = int(line.rsplit(":", 1)[1])
            node0_is_server = port in SERVER_PORTS
            continue
        if line.startswith("Node 1:"):
            started = True
            continue
        if not started or line.startswith("===") or not line.strip():
            continue
        # tshark indents the data sent by node 1 with a tab
        if line.startswith("\t"):
            node1 += bytes.fromhex(line.strip())
        else:
            node0 += bytes.fromhex(line.strip())
    if node0_is_server:
        return bytes(node1), bytes(node0)
    return bytes(node0), bytes(node1)


def expected(lines):
    """Transcript lines -> (client tokens, server bytes)."""
    toks, srv = [], bytearray()
    for l in lines:
        if l.startswith("C: "):
            m = re.fullmatch(r"C: <(body|chunk) of (\d+) bytes>", l)
            if m:
                toks.append(("skip", int(m.group(2))))
            else:
                toks.append(("data", l[3:].encode("utf-8", "surrogateescape") + CRLF))
        elif l.startswith("S: "):
            srv += l[3:].encode() + CRLF
    return toks, bytes(srv)


def match_client(toks, stream, exact):
    pos = 0
    for kind, v in toks:
        if kind == "skip":
            pos += v
            if pos > len(stream):
                return "client stream shorter than transcript"
        else:
            if stream[pos:pos + len(v)] != v:
                return "client bytes at offset %d: wire %r, transcript %r" % (
                    pos, stream[pos:pos + len(v) + 10], v)
            pos += len(v)
    if exact and pos != len(stream):
        return "client sent %d more bytes than the transcript says: %r" % (
            len(stream) - pos, stream[pos:pos + 60])
    return None


def match_server(exp, stream, exact):
    if (stream != exp) if exact else (not stream.startswith(exp)):
        n = next((i for i in range(min(len(exp), len(stream))) if exp[i] != stream[i]),
                 min(len(exp), len(stream)))
        return "server bytes differ at offset %d: wire %r, transcript %r" % (
            n, stream[n:n + 60], exp[n:n + 60])
    return None


def segments(pcap):
    out = subprocess.run(["tshark", "-r", pcap, "-Y", "tcp.len > 0", "-T", "fields",
                          "-e", "tcp.srcport", "-e", "tcp.dstport", "-e", "tcp.payload"],
                         check=True, capture_output=True, text=True).stdout
    segs = []
    for line in out.split("\n"):
        if line.strip():
            sp, dp, payload = line.split("\t")
            to_server = int(dp) in SERVER_PORTS
            segs.append((to_server, bytes.fromhex(payload.replace(":", ""))))
    return segs


def cmd_verify(a):
    with open(a.transcript) as f:
        lines = f.read().split("\n")
    errs = []
    if "# TLS" in lines:
        k = lines.index("# TLS")
        pre, post = lines[:k], lines[k + 1:]
    else:
        pre, post = lines, None
    cli, srv = tshark_follow(a.pcap, "tcp")
    toks, exp = expected(pre)
    exact = post is None
    for e in (match_client(toks, cli, exact), match_server(exp, srv, exact)):
        if e:
            errs.append("plain part: " + e)
    if post is not None:
        if not a.keylog:
            errs.append("transcript has '# TLS' but no --keylog given")
        else:
            tcli, tsrv = tshark_follow(a.pcap, "tls", a.keylog)
            toks, exp = expected(post)
            if not tcli:
                errs.append("TLS part: nothing decrypted")
            for e in (match_client(toks, tcli, True), match_server(exp, tsrv, True)):
                if e:
                    errs.append("TLS part: " + e)
    segs = segments(a.pcap)
    nc = sum(1 for t, _ in segs if t)
    ns = len(segs) - nc
    info = "%d client and %d server data segments" % (nc, ns)
    if a.expect_split:
        cut_c = sum(1 for t, p in segs if t and not p.endswith(CRLF))
        cut_s = sum(1 for t, p in segs if not t and not p.endswith(CRLF))
        info += "; %d client and %d server segments end mid-line" % (cut_c, cut_s)
        if cut_c < 5:
            errs.append("expected client segments that end mid-line, got %d" % cut_c)
        if cut_s < 1:
            errs.append("expected server segments that end mid-line, got %d" % cut_s)
    if a.expect_pipelined:
        cmdre = re.compile(rb"(?:MAIL|RCPT|DATA|BDAT|RSET|QUIT|NOOP)\b")
        best = max((sum(1 for l in p.split(CRLF) if cmdre.match(l))
                    for t, p in segs if t), default=0)
        info += "; at most %d commands in one client segment" % best
        if best < a.expect_pipelined:
            errs.append("expected >= %d commands in one client segment, got %d"
                        % (a.expect_pipelined, best))
    name = os.path.basename(a.pcap)
    if errs:
        for e in errs:
            print("VERIFY FAIL %s: %s" % (name, e), file=sys.stderr)
        return 1
    print("verify ok   %s: transcript matches the wire (%s)" % (name, info))
    return 0


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run")
    r.add_argument("scenario", choices=sorted(SCENARIOS))
    r.add_argument("--host", default="127.0.0.1")
    r.add_argument("--port", type=int, default=25)
    r.add_argument("--transcript", required=True)
    r.add_argument("--keylog")
    r.add_argument("--maxseg", type=int, default=90)
    sub.add_parser("swaks2transcript")
    v = sub.add_parser("verify")
    v.add_argument("--pcap", required=True)
    v.add_argument("--transcript", required=True)
    v.add_argument("--keylog")
    v.add_argument("--expect-split", action="store_true")
    v.add_argument("--expect-pipelined", type=int, default=0)
    a = p.parse_args()
    return {"run": cmd_run, "swaks2transcript": cmd_swaks2transcript,
            "verify": cmd_verify}[a.cmd](a)


if __name__ == "__main__":
    sys.exit(main())
