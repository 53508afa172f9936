/* smtp_session.h: the SMTP session state machine.
 *
 * One smtp_session per TCP connection, zero-filled and set up by
 * smtp_session_init.  It is a plain fixed-size struct (copyable, no pointers)
 * whose size does not grow with the bytes seen: the only queue is the ring of
 * commands awaiting replies, bounded by SMTP_PENDING_MAX.
 *
 * The caller feeds each direction's bytes in stream order with
 * smtp_session_feed; the engine frames them (command lines, replies, DATA
 * body, BDAT chunks, AUTH responses), pairs each reply with the command it
 * answers, switches modes (DATA after 354, BDAT by byte count, SASL after
 * 334, TLS after 220 to STARTTLS) and appends smtp_event records to the
 * caller's array.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef SMTP_SESSION_H
#define SMTP_SESSION_H

#include "smtp.h"

#define SMTP_PENDING_MAX 64
#define SMTP_EVENTS_MIN  16 /* smallest event array smtp_session_feed accepts */

typedef enum smtp_event_type {
    SMTP_EV_COMMAND,  /* a command line: seq, verb */
    SMTP_EV_SASL,     /* an AUTH response line (RFC 4954): seq */
    SMTP_EV_REPLY,    /* a complete reply: code, nlines; seq/verb it answers */
    SMTP_EV_BODY,     /* DATA message bytes, still dot-stuffed: msg */
    SMTP_EV_EOD,      /* the end-of-data line ".": seq, msg; nlines replies
                         expected (LMTP: one per accepted recipient, with
                         the numbers seq .. seq+nlines-1) */
    SMTP_EV_CHUNK,    /* BDAT chunk bytes: msg, seq of its BDAT */
    SMTP_EV_FRAGMENT, /* bytes that form no unit: code says why (an smtp_anomaly) */
    SMTP_EV_TLS,      /* TLS starts at off, in both directions */
    SMTP_EV_ANOMALY,  /* code: smtp_anomaly, about the span, after its unit */
    SMTP_EV_TXN_END   /* txn ended: code is its smtp_txn_outcome, seq the
                         command whose reply (or which itself) ended it */
} smtp_event_type;

/* smtp_event.flags */
#define SMTP_EVF_FIRST   0x01u /* BODY/CHUNK: the first bytes of a message */
#define SMTP_EVF_LAST    0x02u /* CHUNK: ends the last chunk (BDAT LAST): message complete */
#define SMTP_EVF_CONT    0x04u /* FRAGMENT: continues a line begun earlier */
#define SMTP_EVF_BADARGS 0x08u /* COMMAND: argument syntax does not fit the verb */
#define SMTP_EVF_UNSYNC  0x10u /* REPLY: answer unknown because the capture starts mid-session */
#define SMTP_EVF_GREETING 0x20u /* REPLY: answers the connection */

typedef struct smtp_event {
    uint8_t  type;   /* smtp_event_type */
    uint8_t  dir;    /* SMTP_DIR_* */
    uint16_t flags;  /* SMTP_EVF_* */
    uint32_t off;    /* span in the buffer passed to smtp_session_feed */
    uint32_t len;
    uint32_t seq;    /* COMMAND/SASL/EOD/CHUNK: the command's number;
                        REPLY: number of the command answered, 0 if none */
    uint32_t msg;    /* BODY/EOD/CHUNK: message number (seq of its DATA or
                        first BDAT) */
    uint16_t verb;   /* COMMAND: smtp_verb; REPLY: verb answered */
    uint16_t code;   /* REPLY: code; ANOMALY, FRAGMENT: smtp_anomaly */
    uint16_t nlines; /* REPLY: lines */
    uint32_t txn;    /* mail transaction the unit belongs to (1, 2, ...), 0 none */
} smtp_event;

typedef struct smtp_config {
    uint32_t max_line;  /* longest line buffered before it is cut (>= 64) */
    uint32_t max_reply; /* longest multi-line reply buffered (>= max_line) */
} smtp_config;

typedef struct smtp_pending {
    uint32_t seq;
    uint32_t txn;
    uint16_t verb;
    uint16_t flags;
} smtp_pending;

typedef struct smtp_session {
    smtp_config _cfg;
    uint8_t  _cmode;      /* client mode */
    uint8_t  _frag[2];    /* inside a line whose start was already emitted */
    uint8_t  _sync[2];    /* direction synchronised */
    uint8_t  _body;       /* DATA body scanner state */
    uint8_t  _flags;      /* session facts */
    uint8_t  _bdat_last;  /* the current chunk ends the message */
    uint64_t _bdat_left;  /* chunk bytes still to come */
    uint32_t _next_seq;
    uint32_t _msg;        /* current message number, 0 if none */
    uint32_t _txn;        /* open mail transaction, 0 if none */
    uint32_t _txn_wait;   /* transaction whose message is sent, awaiting the final reply */
    uint32_t _txn_last;   /* last transaction number given */
    uint16_t _rcpt_ok, _rcpt_bad; /* the open transaction's recipients */
    uint16_t _wait_ok;    /* LMTP: 2yz replies to the waiting message so far */
    uint8_t  _lmtp;       /* LHLO seen: one reply per accepted recipient after the dot */
    uint8_t  _ext;        /* what the EHLO reply advertised, and what was reported */
    uint32_t _sgap_seq;   /* server bytes were lost: commands before this number
                             may have had their replies lost (0: no gap) */
    uint32_t _bdat_seq;
    uint16_t _qhead, _qlen;
    smtp_pending _q[SMTP_PENDING_MAX];
} smtp_session;

/* Sets up a session.  cfg may be NULL for defaults (16384 / 65536). */
void smtp_session_init(smtp_session *s, const smtp_config *cfg);

/* smtp_session_feed flags */
#define SMTP_FEED_FLUSH 0x1u /* no more bytes will complete a unit: emit partial ones */

/* Feeds buf[0..len) of direction dir, continuing the stream.
 * Appends at most cap events to ev and sets *nev.  Returns the bytes
 * consumed; the caller passes the rest again later.  *need_more is set to 1
 * when the rest is an incomplete unit that needs more bytes of the stream
 * (the caller should buffer or desegment); otherwise a return below len means
 * the event array was full, so call again with the rest.  cap must be at
 * least SMTP_EVENTS_MIN. */
size_t smtp_session_feed(smtp_session *s, int dir, const uint8_t *buf, size_t len,
                         unsigned flags, smtp_event *ev, size_t cap, size_t *nev,
                         int *need_more);

/* Tells the engine that lost bytes of the stream of dir precede the next
 * feed.  It drops synchronisation of that direction (or, inside a BDAT
 * chunk, counts the lost bytes against it). */
void smtp_session_gap(smtp_session *s, int dir, uint64_t lost);

/* True when the session has switched to TLS. */
int smtp_session_in_tls(const smtp_session *s);

/* True once LHLO was sent: the session is LMTP (RFC 2033). */
int smtp_session_is_lmtp(const smtp_session *s);

/* Commands awaiting a reply. */
unsigned smtp_session_pending(const smtp_session *s);

#endif /* SMTP_SESSION_H */
