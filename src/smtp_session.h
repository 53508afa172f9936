/* smtp_session.h: the SMTP session state machine.
 *
 * One smtp_session per TCP connection, zero-filled and set up by
 * smtp_session_init.  It is a plain fixed-size struct whose size does not
 * grow with the bytes seen.  The only queue is the ring of commands awaiting
 * replies: SMTP_PENDING_INLINE entries inside the struct, and beyond that
 * storage the caller's grow function provides, up to cfg.max_pending.  The
 * struct holds no pointer into itself (a copy is a valid session; a copy
 * of one whose queue has grown shares the grown storage).
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
#include "smtp_parse.h"
#include "smtp_frame.h"

#define SMTP_PENDING_INLINE 8     /* queue entries inside the session */
#define SMTP_PENDING_DEFAULT 100000u /* default cfg.max_pending */
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
    SMTP_EV_TLS,      /* with SMTP_EVF_TLS_NEXT: STARTTLS accepted, TLS is
                         expected next (off: end of the 220); without: the
                         bytes from off on are TLS, in both directions */
    SMTP_EV_ANOMALY,  /* code: smtp_anomaly, about the span, after its unit */
    SMTP_EV_TXN_END,  /* txn ended: code is its smtp_txn_outcome, seq the
                         command whose reply (or which itself) ended it */
    SMTP_EV_COUNT
} smtp_event_type;

/* smtp_event.flags */
#define SMTP_EVF_FIRST   0x01u /* BODY/CHUNK: the first bytes of a message */
#define SMTP_EVF_LAST    0x02u /* CHUNK: ends the last chunk (BDAT LAST): message complete;
                                  REPLY: answers a BDAT LAST, so the whole message */
#define SMTP_EVF_CONT    0x04u /* FRAGMENT: continues a line begun earlier */
#define SMTP_EVF_BADARGS 0x08u /* COMMAND: argument syntax does not fit the verb */
#define SMTP_EVF_UNSYNC  0x10u /* REPLY: answer unknown because the capture starts mid-session */
#define SMTP_EVF_GREETING 0x20u /* REPLY: answers the connection */
#define SMTP_EVF_TLS_NEXT 0x40u /* TLS: STARTTLS accepted; TLS not seen yet */
#define SMTP_EVF_LOOKALIKE 0x100u /* REPLY: answers a message whose end the engine did not see,
                                    after an end-of-data look-alike in it: the server took
                                    that for the end (SMTP smuggling), no data was lost */
#define SMTP_EVF_CLEAN   0x80u /* EOD: no line of the message began with a dot and none
                                  of its bytes were lost: no dot-stuffing to remove */

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

/* Storage for a larger queue: like realloc(old, bytes) (old NULL the first
 * time); NULL when it cannot.  The engine never frees: storage belongs to
 * the caller (a memory pool that lives as long as the session). */
typedef void *(*smtp_grow_fn)(void *ctx, void *old, size_t bytes);

typedef struct smtp_config {
    uint32_t max_line;    /* longest line buffered before it is cut (>= 64) */
    uint32_t max_reply;   /* longest multi-line reply buffered (>= max_line) */
    uint32_t max_pending; /* most commands awaiting replies; beyond, the oldest
                             is forgotten with an anomaly (0: default) */
    smtp_grow_fn grow;    /* NULL: the queue stays SMTP_PENDING_INLINE long */
    void *grow_ctx;
} smtp_config;

typedef struct smtp_pending {
    uint32_t seq;
    uint32_t txn;
    uint16_t verb;
    uint16_t flags;
    uint16_t refused;     /* end of a message: recipients refused before it */
    uint16_t _pad;
} smtp_pending;

typedef struct smtp_session {
    smtp_config _cfg;
    uint8_t  _cmode;      /* client mode */
    uint8_t  _frag[2];    /* inside a line whose start was already emitted */
    uint8_t  _sync[2];    /* direction synchronised */
    uint8_t  _body;       /* DATA body scanner state */
    uint16_t _flags;      /* session facts */
    uint8_t  _bdat_last;  /* the current chunk ends the message */
    uint64_t _bdat_left;  /* chunk bytes still to come */
    uint32_t _next_seq;
    uint32_t _msg;        /* current message number, 0 if none */
    uint32_t _txn;        /* open mail transaction, 0 if none */
    uint32_t _txn_dead;   /* transaction ended by a refused chunk: its pending
                             final reply changes nothing */
    uint32_t _txn_last;   /* last transaction number given */
    uint16_t _rcpt_ok, _rcpt_bad, _rcpt_tmp; /* the open transaction's
                             recipients: accepted, refused 5yz, refused 4yz */
    uint16_t _wait_ok, _wait_bad, _wait_tmp; /* LMTP: replies to the message
                             of transaction _wait_txn so far */
    uint32_t _wait_txn;
    uint8_t  _sasl_left;  /* AUTH: client responses still expected whatever the
                             server shows (SMTP_AUTH_UNKNOWN: until its reply) */
    uint8_t  _lmtp;       /* LHLO seen: one reply per accepted recipient after the dot */
    uint8_t  _ext;        /* what the EHLO reply advertised, and what was reported */
    uint8_t  _sgap_reply; /* the next reply is the first after lost server bytes */
    uint32_t _sgap_seq;   /* server bytes were lost: commands before this number
                             may have had their replies lost (0: no gap) */
    uint32_t _bdat_seq;
    uint32_t _qhead, _qlen, _qcap;
    smtp_pending *_qext;  /* grown storage, NULL while the inline ring serves */
    smtp_pending _qin[SMTP_PENDING_INLINE];
    /* a server reply left incomplete by the last server feed: its lines
     * framed so far (bytes, 0 none) and what they gave (not parked: a
     * session parks with nothing held) */
    uint32_t _rs_len;
    smtp_reply_frame _rs;
} smtp_session;

/* Sets up a session.  cfg may be NULL for defaults (16384 / 65536). */
void smtp_session_init(smtp_session *s, const smtp_config *cfg);

/* smtp_session_feed flags */
#define SMTP_FEED_FLUSH 0x1u /* no more bytes will complete a unit: emit partial ones */
#define SMTP_FEED_DECRYPTED 0x2u /* the bytes come out of TLS: SMTP, not TLS records */
/* buf starts with exactly the bytes this direction's last feed left (it set
 * *need_more): the engine goes on from the lines of that unit it framed
 * then instead of framing them again (a reply of many lines arriving in
 * many segments costs a pass over its bytes, not one per segment).  The
 * events are the same with or without it. */
#define SMTP_FEED_RESUME 0x4u

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

/* What the engine parsed of an event's line, for callers that would parse
 * it again: a COMMAND's line, a REPLY's first line (spans relative to the
 * event's first byte, as smtp_parse_command / smtp_parse_reply_line give
 * them for the line without its end of line). */
typedef union smtp_parsed {
    smtp_command cmd;       /* COMMAND */
    smtp_reply_line reply;  /* REPLY */
} smtp_parsed;

/* As smtp_session_feed, and out (room for cap entries, or NULL) receives
 * out[i] for ev[i] when it is a COMMAND or a REPLY; other entries are left
 * as they were.  The caller need not parse these lines again. */
size_t smtp_session_feed_parsed(smtp_session *s, int dir, const uint8_t *buf, size_t len,
                                unsigned flags, smtp_event *ev, smtp_parsed *out, size_t cap,
                                size_t *nev, int *need_more);

/* Tells the engine that lost bytes of the stream of dir precede the next
 * feed.  It drops synchronisation of that direction (or, inside a BDAT
 * chunk, counts the lost bytes against it). */
void smtp_session_gap(smtp_session *s, int dir, uint64_t lost);

/* True when the session has switched to TLS. */
int smtp_session_in_tls(const smtp_session *s);

/* True once LHLO was sent: the session is LMTP (RFC 2033). */
int smtp_session_is_lmtp(const smtp_session *s);

/* Commands awaiting a reply, and how many the queue holds now. */
unsigned smtp_session_pending(const smtp_session *s);
unsigned smtp_session_queue_capacity(const smtp_session *s);

/* A session that is over (QUIT was accepted and every command answered,
 * or the connection closed, smtp_session_close; nothing open or half-read)
 * can be kept in a few bytes while its
 * connection is quiet: a capture holds thousands.  smtp_session_park packs
 * it into out (a bitmap of its non-zero bytes, then those bytes: about 20
 * in all, never more than SMTP_PARKED_MAX) and returns how many bytes it
 * wrote (0, writing nothing, when it is not over); the caller may then free
 * the session, and the storage its queue grew into
 * (smtp_session_queue_storage, before parking).  smtp_session_unpark brings
 * it back into a session made by smtp_session_init with the same config:
 * fed the same bytes, it then does what the parked one would. */
#define SMTP_PARKED_MAX 88
/* Whether smtp_session_park would park it (the session is over). */
int smtp_session_over(const smtp_session *s);
size_t smtp_session_park(const smtp_session *s, uint8_t out[SMTP_PARKED_MAX]);
void smtp_session_unpark(smtp_session *s, const uint8_t *in);
/* The storage the queue grew into through config.grow (NULL: none). */
void *smtp_session_queue_storage(const smtp_session *s);

/* The connection ended: the open mail transaction and those whose final
 * reply is awaited end as "connection closed" (FIN) or "connection reset"
 * (how has SMTP_CLOSE_RESET).  With SMTP_CLOSE_HALF (the client's FIN: the
 * server may still answer) only the open transaction ends.  Appends
 * TXN_END events (off 0, len 0) to ev (at most cap) and returns how many. */
#define SMTP_CLOSE_RESET 0x1u
#define SMTP_CLOSE_HALF  0x2u
size_t smtp_session_close(smtp_session *s, int dir, unsigned how, smtp_event *ev, size_t cap);

#endif /* SMTP_SESSION_H */
