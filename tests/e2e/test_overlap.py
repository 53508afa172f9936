"""Overlapping TCP retransmissions whose bytes differ from the first copy:
no crash, an expert info says so, the copy shown is the one Wireshark's TCP
gave the plugin, and the next good line is dissected; the same in one pass
and with -2.

Four captures, generated into the test's folder with the edge-case
generator's connection builder (tests/tools/gen-edge-captures.py); after
EHLO the client sends

  same-range      "MAIL FROM:<a@x>\\r\\n" (frame 7), then a retransmission of
                  the same 17 bytes reading "MAIL FROM:<b@y>\\r\\n" (frame 8);
                  250, RCPT TO:<c@z>, 250, QUIT, 221.
  pending-line    "MAIL FROM:<a@" (frame 7, the line not yet ended), then
                  "MAIL FROM:<b@y>\\r\\n" from the same sequence number
                  (frame 8); 250, RCPT TO:<c@z>, 250, QUIT, 221.
  with-new-bytes  "MAIL FROM:<a@x>\\r\\n" (frame 7), then a retransmission
                  from the same sequence number reading "MAIL FROM:<b@y>\\r\\n"
                  and carrying the next line "RCPT TO:<c@z>\\r\\n" (frame 8);
                  the two 250s in one segment, QUIT, 221.
  rexmit-held     "MAIL FROM:<a@" (frame 7), "x>\\r\\n" (frame 8), then
                  frame 7 again (frame 9); 250, RCPT, 250, QUIT, 221.  The
                  plugin completes the line it held with frame 8; frame 9 is
                  out of order for TCP and, when handed to SMTP, all bytes
                  seen before: the stream stays where it was and the RCPT
                  is in sync.

What Wireshark 4.0's TCP does decides what the plugin sees.  With the
default preferences (analyze_sequence_numbers on, no_subdissector_on_error
on, reassemble_out_of_order off):

  same-range      frame 8 is a retransmission (tcp.analysis.retransmission,
                  TCP's expert info "This frame is a (suspected)
                  retransmission") and is not handed to SMTP: the first copy,
                  <a@x>, is the one shown, the second is not dissected.
  pending-line    frame 8 is out of order (tcp.analysis.out_of_order) and
                  TCP does not hand it to SMTP (the plugin holds the 13
                  bytes of the unfinished line itself, TCP reassembles
                  nothing for it), so no MAIL is shown.  The plugin reports
                  the loss: the 250 has
                  no pending command (smtp.reply.no_command), and the RCPT
                  frame starts after the bytes it lost (smtp.unsynchronized;
                  smtp.command.out_of_sequence since it saw no MAIL).
  with-new-bytes  frame 8 is out of order and not handed to SMTP, new bytes
                  included: MAIL <a@x> is shown, the RCPT is lost, the
                  second 250 has no pending command and the QUIT frame is
                  unsynchronized.

With -o tcp.no_subdissector_on_error:FALSE, TCP hands SMTP what it flags:

  same-range      the same (a whole-segment retransmission is never handed
                  on): <a@x> shown.
  pending-line    SMTP gets frame 8: the plugin skips the 13 bytes it has
                  seen (smtp.retransmitted.data) and completes the line it
                  holds, "MAIL FROM:<a@", with the second copy's "y>\\r\\n":
                  MAIL FROM:<a@y> is shown, paired with its 250.
  with-new-bytes  the plugin skips the 17 bytes it has seen (its expert info
                  smtp.retransmitted.data, "Retransmitted SMTP bytes,
                  dissected where first seen": the first copy, <a@x>,
                  stays) and dissects the new line, RCPT TO:<c@z>; both 250s
                  are paired.

In every case QUIT and its 221 are dissected and paired, no frame is
malformed and tshark writes nothing on stderr.

Other releases' TCP differs, and so does what the plugin is given: 4.2 and
4.4 hand SMTP the same bytes as 4.0 (4.2 leaves out one of TCP's expert
infos, 4.4 prints booleans as True) except rexmit-held's frame 9, which
they keep from SMTP with the preference too; 4.6 calls the second copy a
retransmission in every case (and adds "Ambiguous ACK following Karn's
definition" to the next frame) and hands it on in no case, whatever the
preference (pending-line: no MAIL; with-new-bytes: the RCPT is lost, as 4.0
does by default).  On releases other
than 4.0 the SMTP fields and the plugin's expert infos are compared with
what that TCP hands over; TCP's own fields only on 4.0.
"""
import re
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import smtpfields as sf  # noqa: E402
import toolpath  # noqa: E402

gen = toolpath.load('gen-edge-captures.py')

GREET, EHLO, EHLO_OK, QUIT = gen.GREETING, gen.EHLO, gen.EHLO_OK, gen.QUIT
OK_MAIL = ('S', b'250 2.1.0 Ok\r\n')
RCPT = ('C', b'RCPT TO:<c@z>\r\n')
OK_RCPT = ('S', b'250 2.1.5 Ok\r\n')

FIELDS = ['frame.number', 'smtp.command', 'smtp.command.address', 'smtp.reply.code',
          'smtp.reply.command', 'smtp.reply.request_in', 'smtp.command.response_in',
          'smtp.transaction.sender', 'smtp.retransmitted', 'tcp.analysis.retransmission',
          'tcp.analysis.out_of_order', 'tcp.segment.overlap.conflict', 'tcp.segment.error',
          '_ws.expert.message', '_ws.malformed']

# TCP's expert infos, as _ws.expert.message gives them
TCP_RETRANS = 'This frame is a (suspected) retransmission'
TCP_OOO = 'This frame is a (suspected) out-of-order segment'
TCP_UNSEEN = "ACKed segment that wasn't captured (common at capture start)"
NO_COMMAND = 'Reply with no pending command (flagged once for a run of them)'
UNSYNC = 'Bytes before the dissector could synchronise (capture starts mid-session or data lost)'
OUT_OF_SEQ = 'Command out of sequence (RCPT or DATA without an open mail transaction)'
RETRANSMITTED = 'Retransmitted SMTP bytes, dissected where first seen'
TCP_KARN = "Ambiguous ACK following Karn's definition"
TCP_MESSAGES = (TCP_RETRANS, TCP_OOO, TCP_UNSEEN, TCP_KARN)
# TCP hands SMTP the segments it flags (retransmission, out of order) and
# the PDUs whose reassembly found conflicting bytes
TO_SMTP_ANYWAY = ['-o', 'tcp.no_subdissector_on_error:FALSE']


def tshark_release(ctx):
    """(major, minor) of the tshark under test."""
    out, _ = ctx.tshark.run(['-v'])
    m = re.search(r'TShark \(Wireshark\) (\d+)\.(\d+)', out)
    return (int(m.group(1)), int(m.group(2))) if m else (0, 0)


def keep_messages(out, n, fr, keep):
    """Puts frame n's fields in out with only the expert infos keep()
    accepts; a frame left with nothing is left out."""
    msgs = [m for m in fr.get('_ws.expert.message', []) if keep(m)]
    if msgs:
        fr['_ws.expert.message'] = msgs
    else:
        fr.pop('_ws.expert.message', None)
    if fr:
        out[n] = fr


def smtp_view(tab):
    """A table with only what the plugin makes: smtp.* fields and its
    expert infos (TCP's own fields and expert infos left out)."""
    out = {}
    for n, fr in tab.items():
        keep_messages(out, n, {k: v for k, v in fr.items()
                               if k.startswith('smtp.') or k == '_ws.expert.message'},
                      lambda m: m not in TCP_MESSAGES)
    return out


def capture(ctx, name):
    """Writes the capture NAME (see the module's text); returns its path."""
    c = gen.Conn()
    c.run([GREET, EHLO, EHLO_OK])
    at = c.nxt['C']                      # where MAIL starts in the client's stream
    if name == 'same-range':
        c.send('C', b'MAIL FROM:<a@x>\r\n', {})
        c.nxt['C'] = at
        c.send('C', b'MAIL FROM:<b@y>\r\n', {})
        c.run([OK_MAIL, RCPT, OK_RCPT] + QUIT, syn=False)
    elif name == 'pending-line':
        c.send('C', b'MAIL FROM:<a@', {})
        c.nxt['C'] = at
        c.send('C', b'MAIL FROM:<b@y>\r\n', {})
        c.run([OK_MAIL, RCPT, OK_RCPT] + QUIT, syn=False)
    elif name == 'rexmit-held':
        c.send('C', b'MAIL FROM:<a@', {})
        c.send('C', b'x>\r\n', {})
        end = c.nxt['C']
        c.nxt['C'] = at
        c.send('C', b'MAIL FROM:<a@', {})
        c.nxt['C'] = end
        c.run([OK_MAIL, RCPT, OK_RCPT] + QUIT, syn=False)
    elif name == 'with-new-bytes':
        c.send('C', b'MAIL FROM:<a@x>\r\n', {})
        c.nxt['C'] = at
        c.send('C', b'MAIL FROM:<b@y>\r\nRCPT TO:<c@z>\r\n', {})
        c.run([('S', OK_MAIL[1] + OK_RCPT[1])] + QUIT, syn=False)
    else:
        raise ValueError(name)
    path = os.path.join(ctx.tmp, 'overlap-%s.pcap' % name)
    gen.pl.write_pcap(path, c.frames)
    return path


def table(ctx, pcap, two_pass, prefs=()):
    """frame number -> {field: values} for frames 7 on (after EHLO's 250),
    without the TCP connection's own SYN/FIN chat."""
    rows = sf.frames(ctx, pcap, FIELDS, extra=prefs, two_pass=two_pass)
    out = {}
    for fr in rows:
        n = int(fr['frame.number'][0])
        if n < 7:
            continue
        fr = {k: [{'True': '1', 'False': '0'}.get(x, x) for x in v]  # 4.4+ print booleans as words
              for k, v in fr.items() if k != 'frame.number'}
        keep_messages(out, n, fr, lambda m: not m.startswith('Connection finish')
                      and 'connection closing' not in m)
    return out


def merge(*tables):
    out = {}
    for t in tables:
        out.update(t)
    return out


def eq(got, want, what):
    assert got == want, '%s:\n  got  %r\n  want %r' % (what, got, want)


def check(ctx, name, want, prefs=()):
    pcap = capture(ctx, name)
    tcp_too = tshark_release(ctx) == (4, 0)  # the TCP fields as 4.0 gives them
    if not tcp_too:
        want = smtp_view(want)
    for two_pass in (False, True):
        got = table(ctx, pcap, two_pass, prefs)
        if not tcp_too:
            got = smtp_view(got)
        # a command's link to its reply is known from the second pass on
        want1 = want if two_pass else {
            n: {k: v for k, v in fr.items() if k != 'smtp.command.response_in'}
            for n, fr in want.items()}
        what = '%s%s, %s' % (name, ' ' + ' '.join(prefs) if prefs else '',
                              'two passes (-2)' if two_pass else 'one pass')
        for n in sorted(set(got) | set(want1)):
            eq(got.get(n), want1.get(n), '%s: frame %d' % (what, n))
    # the second copy's bytes never reach SMTP
    out, err = ctx.tshark.run(['-r', ctx.tshark.stage(pcap), '-2', '-V', '-O', 'smtpx,smtp']
                              + list(prefs))
    eq(err, '', 'stderr of -2 -V')
    assert 'b@y' not in out, 'the second copy (<b@y>) is dissected'
    for bad in ('Malformed Packet', 'Dissector bug'):
        assert bad not in out, '%s: %s in -2 -V' % (name, bad)


SAME_RANGE = {
    7: {'smtp.command': ['MAIL FROM:<a@x>'], 'smtp.command.address': ['a@x'],
        'smtp.command.response_in': ['9']},
    8: {'tcp.analysis.retransmission': ['1'], '_ws.expert.message': [TCP_RETRANS]},
    9: {'smtp.reply.code': ['250'], 'smtp.reply.command': ['MAIL'],
        'smtp.reply.request_in': ['7']},
    10: {'smtp.command': ['RCPT TO:<c@z>'], 'smtp.command.address': ['c@z'],
         'smtp.command.response_in': ['11']},
    11: {'smtp.reply.code': ['250'], 'smtp.reply.command': ['RCPT'],
         'smtp.reply.request_in': ['10']},
    12: {'smtp.command': ['QUIT'], 'smtp.command.response_in': ['13'],
         'smtp.transaction.sender': ['a@x']},
    13: {'smtp.reply.code': ['221'], 'smtp.reply.command': ['QUIT'],
         'smtp.reply.request_in': ['12']},
}

QUIT_AFTER_RCPT = {
    11: {'smtp.reply.code': ['250'], 'smtp.reply.command': ['RCPT'],
         'smtp.reply.request_in': ['10']},
    12: {'smtp.command': ['QUIT'], 'smtp.command.response_in': ['13']},
    13: {'smtp.reply.code': ['221'], 'smtp.reply.command': ['QUIT'],
         'smtp.reply.request_in': ['12']},
}


def shifted(table, k):
    """A table of frames k later: the frame numbers and the pairing links."""
    links = ('smtp.command.response_in', 'smtp.reply.request_in')
    return {n + k: {f: [str(int(x) + k) for x in v] if f in links else v for f, v in fr.items()}
            for n, fr in table.items()}


def t_same_range(ctx):
    # a whole-segment retransmission never reaches SMTP, whatever the
    # preference: the first copy is shown
    check(ctx, 'same-range', SAME_RANGE)
    check(ctx, 'same-range', SAME_RANGE, TO_SMTP_ANYWAY)


def t_pending_line(ctx):
    tcp8 = {'tcp.analysis.out_of_order': ['1'], '_ws.expert.message': [TCP_OOO]}
    dropped = merge(QUIT_AFTER_RCPT, {
        8: tcp8,
        9: {'smtp.reply.code': ['250'], '_ws.expert.message': [TCP_UNSEEN, NO_COMMAND]},
        10: {'smtp.command': ['RCPT TO:<c@z>'], 'smtp.command.address': ['c@z'],
             'smtp.command.response_in': ['11'], '_ws.expert.message': [UNSYNC, OUT_OF_SEQ]},
    })
    # handed to SMTP anyway, the reassembled line is TCP's splice of the two
    # copies: the first copy's 13 bytes "MAIL FROM:<a@", then the second
    # copy's last 4 "y>\r\n"; TCP's overlap conflict is the only warning
    spliced = merge(QUIT_AFTER_RCPT, {
        8: {'smtp.command': ['MAIL FROM:<a@y>'], 'smtp.command.address': ['a@y'],
            'smtp.command.response_in': ['9'], 'smtp.retransmitted': ['1'],
            'tcp.analysis.out_of_order': ['1'], '_ws.expert.message': [TCP_OOO, RETRANSMITTED]},
        9: {'smtp.reply.code': ['250'], 'smtp.reply.command': ['MAIL'],
            'smtp.reply.request_in': ['8'], '_ws.expert.message': [TCP_UNSEEN]},
        10: {'smtp.command': ['RCPT TO:<c@z>'], 'smtp.command.address': ['c@z'],
             'smtp.command.response_in': ['11']},
    })
    spliced[12] = dict(spliced[12], **{'smtp.transaction.sender': ['a@y']})
    # by default TCP hands frame 8 on in no release: no MAIL at all; with
    # the preference 4.0-4.4 do and the plugin splices, 4.6 (for which it
    # is a retransmission) never does
    check(ctx, 'pending-line', dropped)
    check(ctx, 'pending-line', dropped if tshark_release(ctx) >= (4, 6) else spliced, TO_SMTP_ANYWAY)


def t_with_new_bytes(ctx):
    mail = {'smtp.command': ['MAIL FROM:<a@x>'], 'smtp.command.address': ['a@x'],
            'smtp.command.response_in': ['9']}
    quit_ = {11: {'smtp.reply.code': ['221'], 'smtp.reply.command': ['QUIT'],
                  'smtp.reply.request_in': ['10']}}
    # by default TCP drops the whole segment, its new bytes (the RCPT) too
    # (4.6: with the preference as well)
    dropped = merge(quit_, {
        7: mail,
        8: {'tcp.analysis.out_of_order': ['1'], '_ws.expert.message': [TCP_OOO]},
        9: {'smtp.reply.code': ['250', '250'], 'smtp.reply.command': ['MAIL'],
            'smtp.reply.request_in': ['7'], '_ws.expert.message': [TCP_UNSEEN, NO_COMMAND]},
        10: {'smtp.command': ['QUIT'], 'smtp.command.response_in': ['11'],
             'smtp.transaction.sender': ['a@x'], '_ws.expert.message': [UNSYNC]},
    })
    check(ctx, 'with-new-bytes', dropped)
    # handed to SMTP, the plugin skips the 17 bytes it has seen (its expert
    # info; the first copy, <a@x>, stays) and dissects the new RCPT line
    handed = merge(quit_, {
        7: mail,
        8: {'smtp.command': ['RCPT TO:<c@z>'], 'smtp.command.address': ['c@z'],
            'smtp.command.response_in': ['9'], 'smtp.retransmitted': ['1'],
            'tcp.analysis.out_of_order': ['1'], '_ws.expert.message': [TCP_OOO, RETRANSMITTED]},
        9: {'smtp.reply.code': ['250', '250'], 'smtp.reply.command': ['MAIL', 'RCPT'],
            'smtp.reply.request_in': ['7', '8'], '_ws.expert.message': [TCP_UNSEEN]},
        10: {'smtp.command': ['QUIT'], 'smtp.command.response_in': ['11'],
             'smtp.transaction.sender': ['a@x']},
    })
    check(ctx, 'with-new-bytes', dropped if tshark_release(ctx) >= (4, 6) else handed,
          TO_SMTP_ANYWAY)


def t_rexmit_held(ctx):
    # the plugin holds the unfinished line and completes it with the next
    # segment; a retransmission of the first segment comes after (TCP: out
    # of order).  Handed to SMTP, it is all bytes seen before: the stream
    # stays where it was, so the RCPT after it is in sync
    # same-range's view one frame later (frame 8 completes the MAIL), the
    # second copy out of order instead of a retransmission
    want = shifted(SAME_RANGE, 1)
    want[9] = {'tcp.analysis.out_of_order': ['1'], '_ws.expert.message': [TCP_OOO]}
    check(ctx, 'rexmit-held', want)
    handed = dict(want)
    handed[9] = {'smtp.retransmitted': ['1'], 'tcp.analysis.out_of_order': ['1'],
                 '_ws.expert.message': [TCP_OOO, RETRANSMITTED]}
    # 4.2 and later hand frame 9 on with the preference neither
    check(ctx, 'rexmit-held', handed if tshark_release(ctx) == (4, 0) else want, TO_SMTP_ANYWAY)


def tests(ctx):
    for name, fn in [('segment retransmitted after its held line was completed', t_rexmit_held),
                     ('retransmission of the same bytes, different', t_same_range),
                     ('unfinished line retransmitted longer, different', t_pending_line),
                     ('retransmission with different and new bytes', t_with_new_bytes)]:
        yield name, (lambda f=fn: f(ctx))
