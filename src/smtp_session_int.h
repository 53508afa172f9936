/* smtp_session_int.h: what the engine's session files share (not part of
 * the public surface: the session's modes and flags, the event sink, the
 * queue of waiting commands, and the entry points of each concern).
 *
 * smtp_session.c   client and server sides, feeding, gaps
 * smtp_queue.c     the ring of commands awaiting replies
 * smtp_txn.c       mail transactions and their outcomes
 * smtp_body.c      DATA body scanning and BDAT chunks
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef SMTP_SESSION_INT_H
#define SMTP_SESSION_INT_H

#include "smtp_session.h"

/* client modes */
enum { CM_COMMAND, CM_SASL, CM_DATA, CM_BDAT };

/* session facts (_flags) */
#define F_SEEN_SERVER 0x01u /* server bytes seen: replies can be waited for */
#define F_QUIT        0x02u /* QUIT accepted */
#define F_TLS         0x04u /* switched to TLS */
#define F_MIDSESSION  0x08u /* the capture missed the greeting */
#define F_BDAT_MSG    0x10u /* inside a BDAT message */
#define F_BARE_LF_MSG 0x20u /* bare LF already reported for this message */
#define F_DATA_SPEC   0x40u /* in the body of a DATA whose 354 has not come yet */
#define F_BDAT_FIRST  0x80u
#define F_TLS_WAIT    0x100u /* STARTTLS accepted: TLS or clear text next? */
#define F_CLOSED      0x200u /* the connection ended (the server's FIN, or a reset) */
#define F_UNPAIRED    0x400u /* replies with no command reported: not again until a command */
#define F_LOOKALIKE   0x800u /* an end-of-data look-alike in this message's body */

/* EHLO facts (_ext) */
#define X_EHLO        0x01u /* an EHLO/LHLO reply was seen */
#define X_PIPELINING  0x02u
#define X_CHUNKING    0x04u
#define X_PIPE_SAID   0x08u /* pipelining anomaly already reported */
#define X_CHUNK_SAID  0x10u

/* DATA body scanner (_body) */
#define B_BOL   0x01u /* at the beginning of a line */
#define B_CRLF  0x02u /* the previous line ended in CRLF */
#define B_CR    0x04u /* the last byte fed was a CR inside a line */
#define B_FIRST 0x08u /* no body byte of this message emitted yet */
#define B_DOTS  0x10u /* a line of this message began with a dot, or bytes of it were lost */

/* _sync values */
enum { SYNC_NO = 0, SYNC_YES = 1, SYNC_REPORTED = 2 };

/* Room kept in the event array for one unit's events. */
#define UNIT_EVENTS 12

typedef struct sink {
    smtp_event *ev;
    smtp_parsed *out;  /* parsed COMMAND lines and first reply lines, parallel
                          to ev; NULL: not wanted */
    size_t cap, n;
    size_t base; /* offset of the current unit's bytes in the caller's buffer */
    int overflow_said; /* the current unit reported a queue overflow already:
                          one report a unit keeps its events within UNIT_EVENTS
                          (an LMTP end of data pushes one entry per recipient) */
} sink;

/* queue entry flags (smtp_pending.flags) */
#define PF_BDAT_LAST 0x1u /* a BDAT ... LAST: its reply ends the message */
#define PF_LMTP_MORE 0x2u /* LMTP: more per-recipient replies follow this one */
#define PF_NESTED    0x4u /* a MAIL sent while another transaction was open */

/* smtp_session.c */
smtp_event *sx_emit(sink *o, smtp_event_type type, int dir, size_t off, size_t len);
void sx_anomaly(sink *o, int dir, smtp_anomaly a, size_t off, size_t len);
void sx_sink_init(sink *o, smtp_event *ev, smtp_parsed *out, size_t cap);
smtp_event *sx_emit_eod(smtp_session *s, sink *o, size_t off, size_t len);

/* smtp_queue.c */
smtp_pending *sx_qat(smtp_session *s, uint32_t i);  /* i-th waiting, oldest first */
uint32_t sx_push(smtp_session *s, sink *o, smtp_verb verb, size_t off, size_t len);
smtp_pending *sx_newest(smtp_session *s);
const smtp_pending *sx_peek(smtp_session *s);
void sx_pop(smtp_session *s);

/* smtp_txn.c */
void sx_txn_message_sent(smtp_session *s, smtp_pending *final);
void sx_txn_command(smtp_session *s, sink *o, smtp_event *ev, size_t end);
void sx_txn_reply(smtp_session *s, sink *o, const smtp_event *ev, const smtp_pending *cmd, size_t end);

/* smtp_body.c */
void sx_start_message_body(smtp_session *s, uint32_t msg);
long sx_feed_body(smtp_session *s, sink *o, const uint8_t *p, size_t n, int flush);
long sx_feed_chunk(smtp_session *s, sink *o, size_t n);

#endif /* SMTP_SESSION_INT_H */
