/* smtp_session.c: the SMTP session state machine.  SPDX-License-Identifier: GPL-2.0-or-later */
#include "smtp_session.h"
#include "smtp_auth.h"
#include "smtp_codes.h"
#include "smtp_frame.h"
#include "smtp_parse.h"

#include <string.h>

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

/* EHLO facts (_ext) */
#define X_EHLO        0x01u /* an EHLO/LHLO reply was seen */
#define X_PIPELINING  0x02u
#define X_CHUNKING    0x04u
#define X_PIPE_SAID   0x08u /* pipelining anomaly already reported */
#define X_CHUNK_SAID  0x10u
#define X_SGAP_REPLY  0x20u /* next reply is the first after lost server bytes */

/* DATA body scanner (_body) */
#define B_BOL   0x01u /* at the beginning of a line */
#define B_CRLF  0x02u /* the previous line ended in CRLF */
#define B_CR    0x04u /* the last byte fed was a CR inside a line */
#define B_FIRST 0x08u /* no body byte of this message emitted yet */

/* _sync values */
enum { SYNC_NO = 0, SYNC_YES = 1, SYNC_REPORTED = 2 };

/* Room kept in the event array for one unit's events. */
#define UNIT_EVENTS 12

typedef struct sink {
    smtp_event *ev;
    size_t cap, n;
    size_t base; /* offset of the current unit's bytes in the caller's buffer */
} sink;

static smtp_event *emit(sink *o, smtp_event_type type, int dir, size_t off, size_t len)
{
    smtp_event *e = &o->ev[o->n++];
    memset(e, 0, sizeof *e);
    e->type = (uint8_t)type;
    e->dir = (uint8_t)dir;
    e->off = (uint32_t)(o->base + off);
    e->len = (uint32_t)len;
    return e;
}

static void anomaly(sink *o, int dir, smtp_anomaly a, size_t off, size_t len)
{
    if (o->n < o->cap)
        emit(o, SMTP_EV_ANOMALY, dir, off, len)->code = (uint16_t)a;
}

void smtp_session_init(smtp_session *s, const smtp_config *cfg)
{
    memset(s, 0, sizeof *s);
    s->_cfg.max_line = 16384;
    s->_cfg.max_reply = 65536;
    s->_cfg.max_pending = SMTP_PENDING_DEFAULT;
    if (cfg != NULL) {
        s->_cfg = *cfg;
        s->_cfg.max_line = cfg->max_line < 64 ? 64 : cfg->max_line;
        s->_cfg.max_reply = cfg->max_reply < s->_cfg.max_line ? s->_cfg.max_line : cfg->max_reply;
        if (s->_cfg.max_pending == 0)
            s->_cfg.max_pending = SMTP_PENDING_DEFAULT;
    }
    if (s->_cfg.grow == NULL || s->_cfg.max_pending < SMTP_PENDING_INLINE)
        s->_cfg.max_pending = SMTP_PENDING_INLINE;
    s->_qcap = SMTP_PENDING_INLINE;
    s->_next_seq = 1;
    /* the connection itself awaits the greeting */
    s->_qin[0].seq = s->_next_seq++;
    s->_qin[0].verb = SMTP_VERB_CONNECT;
    s->_qlen = 1;
}

int smtp_session_in_tls(const smtp_session *s) { return (s->_flags & F_TLS) != 0; }
unsigned smtp_session_pending(const smtp_session *s) { return s->_qlen; }
unsigned smtp_session_queue_capacity(const smtp_session *s) { return s->_qcap; }
int smtp_session_is_lmtp(const smtp_session *s) { return s->_lmtp != 0; }

/* ---- the queue of commands awaiting replies ---- */

static smtp_pending *qbuf(smtp_session *s)
{
    return s->_qext != NULL ? s->_qext : s->_qin;
}

/* The i-th waiting command, oldest first. */
static smtp_pending *qat(smtp_session *s, uint32_t i)
{
    return &qbuf(s)[(s->_qhead + i) % s->_qcap];
}

/* Doubles the ring (up to max_pending) with the caller's storage; 0 when it
 * cannot grow. */
static int grow_queue(smtp_session *s)
{
    uint32_t cap = s->_qcap, ncap, i;
    smtp_pending *nq;

    if (cap >= s->_cfg.max_pending || s->_cfg.grow == NULL)
        return 0;
    ncap = cap > s->_cfg.max_pending / 2 ? s->_cfg.max_pending : cap * 2;
    if (s->_qext == NULL) {
        nq = (smtp_pending *)s->_cfg.grow(s->_cfg.grow_ctx, NULL, (size_t)ncap * sizeof *nq);
        if (nq == NULL)
            return 0;
        for (i = 0; i < s->_qlen; i++)
            nq[i] = s->_qin[(s->_qhead + i) % cap];
        s->_qhead = 0;
    } else {
        nq = (smtp_pending *)s->_cfg.grow(s->_cfg.grow_ctx, s->_qext, (size_t)ncap * sizeof *nq);
        if (nq == NULL)
            return 0;
        /* the ring is full: the entries from the head to the old end move
         * to the new end, those that had wrapped around stay in front */
        if (s->_qhead > 0) {
            uint32_t tail = cap - s->_qhead;
            memmove(nq + ncap - tail, nq + s->_qhead, (size_t)tail * sizeof *nq);
            s->_qhead = ncap - tail;
        }
    }
    s->_qext = nq;
    s->_qcap = ncap;
    return 1;
}

static uint32_t push(smtp_session *s, sink *o, smtp_verb verb, size_t off, size_t len)
{
    uint32_t seq = s->_next_seq++;
    if (s->_next_seq == 0)
        s->_next_seq = 1;
    if (s->_qlen == s->_qcap && !grow_queue(s)) {
        s->_qhead = (s->_qhead + 1) % s->_qcap;
        s->_qlen--;
        anomaly(o, SMTP_DIR_CLIENT, SMTP_ANOMALY_QUEUE_OVERFLOW, off, len);
    }
    {
        smtp_pending *p = qat(s, s->_qlen);
        memset(p, 0, sizeof *p);
        p->seq = seq;
        p->txn = s->_txn;
        p->verb = (uint16_t)verb;
    }
    s->_qlen++;
    return seq;
}

/* The command pushed last. */
static smtp_pending *newest(smtp_session *s)
{
    return qat(s, s->_qlen - 1);
}

#define PF_BDAT_LAST 0x1u /* a BDAT ... LAST: its reply ends the message */
#define PF_LMTP_MORE 0x2u /* LMTP: more per-recipient replies follow this one */
#define PF_NESTED    0x4u /* a MAIL sent while another transaction was open */

/* ---- mail transactions ---- */

static void txn_emit(sink *o, int dir, uint32_t txn, smtp_txn_outcome outcome, uint32_t seq,
                     size_t off)
{
    smtp_event *e = emit(o, SMTP_EV_TXN_END, dir, off, 0);
    e->txn = txn;
    e->code = (uint16_t)outcome;
    e->seq = seq;
}

/* A refusal: 4yz defers (the client will retry), anything else rejects. */
static smtp_txn_outcome refusal(unsigned code, smtp_txn_outcome deferred, smtp_txn_outcome rejected)
{
    return code / 100 == 4 ? deferred : rejected;
}

/* Ends the open transaction. */
static void txn_end(smtp_session *s, sink *o, int dir, smtp_txn_outcome outcome,
                    uint32_t seq, size_t off)
{
    if (s->_txn == 0)
        return;
    txn_emit(o, dir, s->_txn, outcome, seq, off);
    s->_txn = 0;
    s->_rcpt_ok = s->_rcpt_bad = s->_rcpt_tmp = 0;
}

/* The message of the open transaction is sent (its final reply is carried
 * by the queue entry of the end of data or BDAT LAST): from now on only
 * that reply ends it, whatever the client pipelines behind it. */
static void txn_message_sent(smtp_session *s, smtp_pending *final)
{
    final->txn = s->_txn;
    final->refused = (uint16_t)(s->_rcpt_bad + s->_rcpt_tmp);
    s->_txn = 0;
    s->_rcpt_ok = s->_rcpt_bad = s->_rcpt_tmp = 0;
}

/* Ends the open transaction before its message: all recipients refused,
 * or given up. */
static void txn_abandon(smtp_session *s, sink *o, int dir, smtp_txn_outcome why,
                        uint32_t seq, size_t off)
{
    if (s->_rcpt_ok == 0 && s->_rcpt_bad + s->_rcpt_tmp > 0)
        why = s->_rcpt_bad ? SMTP_TXN_REJECTED_RCPT : SMTP_TXN_DEFERRED_RCPT;
    txn_end(s, o, dir, why, seq, off);
}

/* A client command's effect on transactions; sets ev->txn. */
static void txn_command(smtp_session *s, sink *o, smtp_event *ev, size_t end)
{
    unsigned vf = smtp_verb_flags((smtp_verb)ev->verb);

    if (ev->verb == SMTP_VERB_MAIL) {
        uint32_t id = ++s->_txn_last;
        if (id == 0)
            id = s->_txn_last = 1;
        ev->txn = id;
        if (s->_txn != 0) {
            /* nested: the server decides; a 503 leaves the open one open */
            newest(s)->flags |= PF_NESTED;
            return;
        }
        s->_txn = id;
        return;
    }
    ev->txn = s->_txn;
    if (s->_txn == 0)
        return;
    if (vf & SMTP_VF_RESET)
        txn_abandon(s, o, SMTP_DIR_CLIENT, SMTP_TXN_ABORTED_RSET, ev->seq, end);
    else if (ev->verb == SMTP_VERB_QUIT)
        txn_abandon(s, o, SMTP_DIR_CLIENT, SMTP_TXN_ABORTED_QUIT, ev->seq, end);
}

/* The final reply to a message (end of data, BDAT LAST); LMTP has one per
 * accepted recipient, and the last of them decides. */
static void txn_final_reply(smtp_session *s, sink *o, const smtp_event *ev,
                            const smtp_pending *cmd, size_t end)
{
    unsigned d1 = ev->code / 100;
    smtp_txn_outcome out;

    if (cmd->txn == s->_txn_dead)
        return; /* a refused chunk ended it already */
    if (s->_wait_txn != cmd->txn) {
        s->_wait_txn = cmd->txn;
        s->_wait_ok = s->_wait_bad = s->_wait_tmp = 0;
    }
    if (d1 == 2)
        s->_wait_ok++;
    else if (d1 == 4)
        s->_wait_tmp++;
    else
        s->_wait_bad++;
    if (cmd->flags & PF_LMTP_MORE)
        return; /* LMTP: the next recipient's reply follows */
    if (s->_wait_ok > 0)
        out = (cmd->refused || s->_wait_bad || s->_wait_tmp) ? SMTP_TXN_DELIVERED_PARTIAL
                                                              : SMTP_TXN_DELIVERED;
    else
        out = s->_wait_bad ? SMTP_TXN_REJECTED_AFTER_DATA : SMTP_TXN_DEFERRED_AFTER_DATA;
    txn_emit(o, SMTP_DIR_SERVER, cmd->txn, out, cmd->seq, end);
    s->_wait_txn = 0;
}

/* A reply's effect on the transaction of the command it answers. */
static void txn_reply(smtp_session *s, sink *o, const smtp_event *ev, const smtp_pending *cmd,
                      size_t end)
{
    unsigned d1 = ev->code / 100;
    int ok = d1 == 2;
    int final = cmd->verb == SMTP_VERB_EOD ||
                (cmd->verb == SMTP_VERB_BDAT && (cmd->flags & PF_BDAT_LAST));

    if (cmd->txn == 0)
        return;
    if (final && cmd->txn != s->_txn) {
        txn_final_reply(s, o, ev, cmd, end);
        return;
    }
    if (cmd->flags & PF_NESTED) {
        if (ok) { /* the new MAIL replaces the open transaction */
            txn_end(s, o, SMTP_DIR_SERVER, SMTP_TXN_ABORTED_MAIL, cmd->seq, end);
            s->_txn = cmd->txn;
        } else {
            txn_emit(o, SMTP_DIR_SERVER, cmd->txn,
                     refusal(ev->code, SMTP_TXN_DEFERRED_MAIL, SMTP_TXN_REJECTED_MAIL), cmd->seq, end);
        }
        return;
    }
    if (cmd->txn != s->_txn)
        return;
    switch (cmd->verb) {
    case SMTP_VERB_MAIL:
        if (!ok)
            txn_end(s, o, SMTP_DIR_SERVER,
                    refusal(ev->code, SMTP_TXN_DEFERRED_MAIL, SMTP_TXN_REJECTED_MAIL), cmd->seq, end);
        break;
    case SMTP_VERB_RCPT:
        if (ok)
            s->_rcpt_ok++;
        else if (d1 == 4)
            s->_rcpt_tmp++;
        else
            s->_rcpt_bad++;
        break;
    case SMTP_VERB_DATA:
        if (ev->code != 354)
            txn_abandon(s, o, SMTP_DIR_SERVER,
                        refusal(ev->code, SMTP_TXN_DEFERRED_DATA, SMTP_TXN_REJECTED_DATA), cmd->seq, end);
        break;
    case SMTP_VERB_BDAT:
        if (!ok) {
            s->_txn_dead = s->_txn;
            txn_end(s, o, SMTP_DIR_SERVER,
                    refusal(ev->code, SMTP_TXN_DEFERRED_AFTER_DATA, SMTP_TXN_REJECTED_AFTER_DATA),
                    cmd->seq, end);
        }
        break;
    default:
        break;
    }
}

size_t smtp_session_close(smtp_session *s, int dir, unsigned how, smtp_event *ev, size_t cap)
{
    sink o;
    uint32_t i, last = 0;
    smtp_txn_outcome why = (how & SMTP_CLOSE_RESET) ? SMTP_TXN_RESET : SMTP_TXN_CLOSED;

    o.ev = ev;
    o.cap = cap;
    o.n = 0;
    o.base = 0;
    dir = dir == SMTP_DIR_SERVER ? SMTP_DIR_SERVER : SMTP_DIR_CLIENT;
    if ((how & (SMTP_CLOSE_HALF | SMTP_CLOSE_RESET)) == SMTP_CLOSE_HALF) {
        if (s->_txn != 0 && o.n < o.cap)
            txn_emit(&o, dir, s->_txn, why, 0, 0);
        s->_txn = 0;
        s->_rcpt_ok = s->_rcpt_bad = s->_rcpt_tmp = 0;
        return o.n;
    }
    /* messages sent whose final reply never came, oldest first */
    for (i = 0; i < s->_qlen && o.n < o.cap; i++) {
        const smtp_pending *q = qat(s, i);
        int final = q->verb == SMTP_VERB_EOD || (q->verb == SMTP_VERB_BDAT && (q->flags & PF_BDAT_LAST));
        if (final && q->txn != 0 && q->txn != last && q->txn != s->_txn_dead && q->txn != s->_txn) {
            txn_emit(&o, dir, q->txn, why, 0, 0);
            last = q->txn;
        }
    }
    if (s->_txn != 0 && o.n < o.cap)
        txn_emit(&o, dir, s->_txn, why, 0, 0);
    s->_txn = 0;
    s->_qlen = 0;
    s->_rcpt_ok = s->_rcpt_bad = s->_rcpt_tmp = 0;
    return o.n;
}

static const smtp_pending *peek(smtp_session *s)
{
    return s->_qlen ? qat(s, 0) : NULL;
}

static void pop(smtp_session *s)
{
    if (s->_qlen) {
        s->_qhead = (s->_qhead + 1) % s->_qcap;
        s->_qlen--;
    }
}

/* ---- client side ---- */

static void line_anomalies(sink *o, int dir, const smtp_line *ln, size_t limit)
{
    size_t all = (size_t)ln->len + ln->eol;
    if (ln->flags & SMTP_LINE_BARE_LF)
        anomaly(o, dir, SMTP_ANOMALY_BARE_LF, ln->len, 1);
    if (ln->flags & SMTP_LINE_BARE_CR)
        anomaly(o, dir, SMTP_ANOMALY_BARE_CR, 0, ln->len);
    if (ln->flags & SMTP_LINE_CUT)
        anomaly(o, dir, SMTP_ANOMALY_LINE_CUT, 0, all);
    else if (ln->len + 2u > limit)
        anomaly(o, dir, SMTP_ANOMALY_LINE_TOO_LONG, 0, all);
}

static void start_message_body(smtp_session *s, uint32_t msg)
{
    s->_flags &= (uint16_t)~F_DATA_SPEC;
    s->_cmode = CM_DATA;
    s->_body = B_BOL | B_CRLF | B_FIRST;
    s->_msg = msg;
    s->_flags &= (uint16_t)~F_BARE_LF_MSG;
}

/* Effects of a command line the moment it is sent. */
static void command_effects(smtp_session *s, sink *o, const uint8_t *line, const smtp_command *c,
                            smtp_event *ev, size_t all)
{
    switch (c->verb) {
    case SMTP_VERB_DATA:
        /* Whatever the client sends before the reply is taken as the body:
         * a client that waits sends nothing, one that does not wait (or a
         * one-sided capture) sends the message.  A rejection undoes it. */
        start_message_body(s, ev->seq);
        s->_flags |= F_DATA_SPEC;
        break;
    case SMTP_VERB_BDAT:
        if (!(c->flags & SMTP_CMD_BDAT_OK)) {
            anomaly(o, SMTP_DIR_CLIENT, SMTP_ANOMALY_BDAT_SIZE, 0, all);
            break;
        }
        if (c->flags & SMTP_CMD_BDAT_LAST)
            newest(s)->flags |= PF_BDAT_LAST;
        if (!(s->_flags & F_BDAT_MSG)) {
            s->_flags |= F_BDAT_MSG | F_BDAT_FIRST;
            s->_msg = ev->seq;
        }
        s->_bdat_seq = ev->seq;
        s->_bdat_left = c->size;
        s->_bdat_last = (c->flags & SMTP_CMD_BDAT_LAST) != 0;
        if (c->size > 0) {
            s->_cmode = CM_BDAT;
        } else if (s->_bdat_last) {
            smtp_event *ch = emit(o, SMTP_EV_CHUNK, SMTP_DIR_CLIENT, all, 0);
            ch->txn = s->_txn;
            ch->flags = (s->_flags & F_BDAT_FIRST) ? SMTP_EVF_FIRST | SMTP_EVF_LAST : SMTP_EVF_LAST;
            ch->seq = ev->seq;
            ch->msg = s->_msg;
            s->_flags &= (uint16_t)~(F_BDAT_MSG | F_BDAT_FIRST);
            if (s->_txn != 0)
                txn_message_sent(s, newest(s));
        }
        break;
    case SMTP_VERB_AUTH: {
        /* the client's next lines are SASL responses until the exchange
         * ends, whatever the server side shows (it may be missing, or the
         * client may not wait for the 334) */
        smtp_auth_cmd a;
        smtp_auth_parse(line + c->arg.off, c->arg.len, &a);
        s->_sasl_left = (uint8_t)smtp_auth_responses(a.mech, a.has_initial);
        break;
    }
    case SMTP_VERB_QUIT:
        s->_flags |= F_QUIT;
        break;
    case SMTP_VERB_LHLO:
        s->_lmtp = 1;
        break;
    default:
        break;
    }
}

/* After lost server bytes, a new command from the client says the client
 * has read the replies to the commands it sent before the loss (it waits
 * for them, also when pipelining, before its next group): those replies
 * were in the lost bytes, so the commands are no longer awaited. */
static void forget_lost_replies(smtp_session *s)
{
    const smtp_pending *h;

    if (s->_sgap_seq == 0)
        return;
    while ((h = peek(s)) != NULL && (int32_t)(h->seq - s->_sgap_seq) < 0 &&
           h->verb != SMTP_VERB_EOD)
        pop(s);
    s->_sgap_seq = 0;
}

/* Checks of a command against what came before it (before it is queued). */
static void command_checks(smtp_session *s, sink *o, const smtp_command *c, size_t all)
{
    const smtp_pending *h = s->_qlen ? newest(s) : NULL;

    /* a command while another awaits its reply is pipelined (RFC 2920);
     * after the end of data a client may send the next one */
    if (h != NULL && h->verb != SMTP_VERB_CONNECT && h->verb != SMTP_VERB_EOD &&
        (s->_ext & (X_EHLO | X_PIPELINING | X_PIPE_SAID)) == X_EHLO) {
        anomaly(o, SMTP_DIR_CLIENT, SMTP_ANOMALY_PIPELINING_UNADVERTISED, 0, all);
        s->_ext |= X_PIPE_SAID;
    }
    if (c->verb == SMTP_VERB_BDAT && (s->_ext & (X_EHLO | X_CHUNKING | X_CHUNK_SAID)) == X_EHLO) {
        anomaly(o, SMTP_DIR_CLIENT, SMTP_ANOMALY_CHUNKING_UNADVERTISED, 0, all);
        s->_ext |= X_CHUNK_SAID;
    }
    if ((c->verb == SMTP_VERB_RCPT || c->verb == SMTP_VERB_DATA) && s->_txn == 0 &&
        (s->_flags & F_SEEN_SERVER) && !(s->_flags & F_MIDSESSION) &&
        s->_sync[SMTP_DIR_SERVER] == SYNC_YES)
        anomaly(o, SMTP_DIR_CLIENT, SMTP_ANOMALY_OUT_OF_SEQUENCE, 0, all);
}

/* The lone "." of a body the capture joined midway. */
static int is_lone_dot(const uint8_t *p, const smtp_line *ln)
{
    return ln->len == 1 && p[0] == '.';
}

static void emit_eod(smtp_session *s, sink *o, size_t off, size_t len)
{
    smtp_event *e = emit(o, SMTP_EV_EOD, SMTP_DIR_CLIENT, off, len);
    unsigned replies = (s->_lmtp && s->_txn != 0 && s->_rcpt_ok > 1) ? s->_rcpt_ok : 1u, i;

    e->msg = s->_msg;
    e->seq = push(s, o, SMTP_VERB_EOD, off, len);
    for (i = 1; i < replies; i++) {
        newest(s)->flags |= PF_LMTP_MORE;
        (void)push(s, o, SMTP_VERB_EOD, off, len);
    }
    e->nlines = (uint16_t)replies;
    e->verb = SMTP_VERB_EOD;
    e->txn = s->_txn;
    if (s->_txn != 0) {
        uint32_t k;
        for (k = 0; k < replies && k < s->_qlen; k++)
            qat(s, s->_qlen - 1 - k)->txn = s->_txn;
        txn_message_sent(s, newest(s));
        for (k = 1; k < replies && k < s->_qlen; k++)
            qat(s, s->_qlen - 1 - k)->refused = newest(s)->refused;
    }
    s->_cmode = CM_COMMAND;
    s->_msg = 0;
}

static void unsync_fragment(smtp_session *s, sink *o, int dir, size_t len)
{
    smtp_event *e = emit(o, SMTP_EV_FRAGMENT, dir, 0, len);
    e->code = SMTP_ANOMALY_UNSYNC;
    if (s->_sync[dir] == SYNC_NO) {
        anomaly(o, dir, SMTP_ANOMALY_UNSYNC, 0, len);
        s->_sync[dir] = SYNC_REPORTED;
    }
}

/* One client line (command or AUTH response) of ln->len content bytes. */
static void client_line(smtp_session *s, sink *o, const uint8_t *p, const smtp_line *ln)
{
    size_t all = (size_t)ln->len + ln->eol;
    smtp_command c;
    smtp_event *ev;

    if (s->_cmode != CM_SASL && s->_sasl_left == SMTP_AUTH_UNKNOWN) {
        /* a mechanism of unknown length without a 334 in sight: a line
         * that is a plausible command ends the exchange (BASE64 has no
         * space; a bare verb such as QUIT is taken for itself) */
        smtp_parse_command(p, ln->len, &c);
        if (c.verb != SMTP_VERB_UNKNOWN && smtp_command_plausible(&c))
            s->_sasl_left = 0;
    }
    if (s->_cmode == CM_SASL || s->_sasl_left > 0) {
        ev = emit(o, SMTP_EV_SASL, SMTP_DIR_CLIENT, 0, all);
        ev->verb = SMTP_VERB_SASL;
        ev->seq = push(s, o, SMTP_VERB_SASL, 0, all);
        ev->txn = s->_txn;
        s->_cmode = CM_COMMAND;
        if (ln->len == 1 && p[0] == '*')
            s->_sasl_left = 0; /* cancelled */
        else if (s->_sasl_left > 0 && s->_sasl_left != SMTP_AUTH_UNKNOWN)
            s->_sasl_left--;
        line_anomalies(o, SMTP_DIR_CLIENT, ln, 12288); /* RFC 4954 4: 12288 octets */
        return;
    }
    smtp_parse_command(p, ln->len, &c);
    if (s->_sync[SMTP_DIR_CLIENT] != SYNC_YES) {
        if (is_lone_dot(p, ln)) {
            s->_sync[SMTP_DIR_CLIENT] = SYNC_YES;
            emit_eod(s, o, 0, all);
            return;
        }
        if (!smtp_command_plausible(&c)) {
            unsync_fragment(s, o, SMTP_DIR_CLIENT, all);
            return;
        }
        s->_sync[SMTP_DIR_CLIENT] = SYNC_YES;
    }
    ev = emit(o, SMTP_EV_COMMAND, SMTP_DIR_CLIENT, 0, all);
    ev->verb = (uint16_t)c.verb;
    if (c.flags & SMTP_CMD_BAD_ARGS)
        ev->flags |= SMTP_EVF_BADARGS;
    command_checks(s, o, &c, all);
    forget_lost_replies(s);
    ev->seq = push(s, o, c.verb, 0, all);
    txn_command(s, o, ev, all);
    newest(s)->txn = ev->txn;
    if (s->_flags & F_QUIT)
        anomaly(o, SMTP_DIR_CLIENT, SMTP_ANOMALY_DATA_AFTER_QUIT, 0, all);
    if (c.flags & SMTP_CMD_NOT_COMMAND)
        anomaly(o, SMTP_DIR_CLIENT, SMTP_ANOMALY_NOT_A_COMMAND, 0, ln->len);
    else if (c.verb == SMTP_VERB_UNKNOWN)
        anomaly(o, SMTP_DIR_CLIENT, SMTP_ANOMALY_UNKNOWN_COMMAND, 0, c.verb_span.len);
    line_anomalies(o, SMTP_DIR_CLIENT, ln, 512);
    command_effects(s, o, p, &c, ev, all);
}

static long feed_client_line(smtp_session *s, sink *o, const uint8_t *p, size_t n)
{
    smtp_line ln;
    long r = smtp_frame_line(p, n, s->_cfg.max_line, &ln);
    if (r == SMTP_NEED_MORE)
        return r;
    if (ln.flags & SMTP_LINE_CUT)
        s->_frag[SMTP_DIR_CLIENT] = 1;
    client_line(s, o, p, &ln);
    return r;
}

/* End-of-data look-alikes made with bare CRs inside the line p[i..end):
 * "\r.\r" and "\r.\n" (SMTP smuggling forms). */
static void body_bare_cr_dots(sink *o, const uint8_t *p, size_t i, size_t end)
{
    while (i < end) {
        const uint8_t *cr = memchr(p + i, '\r', end - i);
        size_t k;
        if (cr == NULL)
            return;
        k = (size_t)(cr - p);
        if (k + 1 < end && p[k + 1] == '.' && (k + 2 >= end || p[k + 2] == '\r'))
            anomaly(o, SMTP_DIR_CLIENT, SMTP_ANOMALY_SMUGGLING, k, k + 2 < end ? 3 : 2);
        i = k + 1;
    }
}

/* DATA body bytes up to and including the end-of-data line. */
static long feed_body(smtp_session *s, sink *o, const uint8_t *p, size_t n, int flush)
{
    size_t i = 0;
    long result = -1;
    smtp_event *b = emit(o, SMTP_EV_BODY, SMTP_DIR_CLIENT, 0, 0);
    b->txn = s->_txn;

    b->msg = s->_msg;
    while (i < n && o->cap - o->n > 3) {
        const uint8_t *lf;
        size_t e;
        int crlf;

        if ((s->_body & B_BOL) && p[i] == '.') {
            size_t rem = n - i;
            if (!flush && (rem == 1 || (rem == 2 && p[i + 1] == '\r')))
                break;
            if (rem >= 3 && p[i + 1] == '\r' && p[i + 2] == '\n') {
                if (s->_body & B_CRLF) {
                    result = (long)(i + 3);
                    break;
                }
                anomaly(o, SMTP_DIR_CLIENT, SMTP_ANOMALY_SMUGGLING, i, 3);
            } else if (rem >= 2 && p[i + 1] == '\n') {
                anomaly(o, SMTP_DIR_CLIENT, SMTP_ANOMALY_SMUGGLING, i, 2);
            }
        }
        lf = memchr(p + i, '\n', n - i);
        if (lf == NULL) {
            /* a line going on in the next bytes: keep back a trailing
             * "\r" or "\r." so that CR-dot forms are seen whole */
            size_t end = n;
            if (!flush && p[n - 1] == '\r')
                end = n - 1;
            else if (!flush && n - i >= 2 && p[n - 2] == '\r' && p[n - 1] == '.')
                end = n - 2;
            if (end <= i)
                break;
            body_bare_cr_dots(o, p, i, end);
            s->_body = (uint8_t)((s->_body & B_FIRST) | (p[end - 1] == '\r' ? B_CR : 0));
            i = end;
            break;
        }
        e = (size_t)(lf - p);
        crlf = e > i ? p[e - 1] == '\r' : (s->_body & B_CR) != 0;
        body_bare_cr_dots(o, p, i, (crlf && e > i) ? e - 1 : e);
        if (!crlf && !(s->_flags & F_BARE_LF_MSG)) {
            anomaly(o, SMTP_DIR_CLIENT, SMTP_ANOMALY_BARE_LF, e, 1);
            s->_flags |= F_BARE_LF_MSG;
        }
        s->_body = (uint8_t)((s->_body & B_FIRST) | B_BOL | (crlf ? B_CRLF : 0));
        i = e + 1;
    }
    if (i > 0 && (s->_body & B_FIRST) && (s->_flags & (F_DATA_SPEC | F_SEEN_SERVER)) ==
                     (F_DATA_SPEC | F_SEEN_SERVER))
        anomaly(o, SMTP_DIR_CLIENT, SMTP_ANOMALY_BODY_BEFORE_354, 0, i);
    if (i > 0) {
        b->len = (uint32_t)i;
        if (s->_body & B_FIRST)
            b->flags |= SMTP_EVF_FIRST;
        s->_body &= (uint8_t)~B_FIRST;
    } else {
        o->n--;
    }
    if (result > 0) {
        emit_eod(s, o, i, 3);
        return result;
    }
    return i > 0 ? (long)i : SMTP_NEED_MORE;
}

static long feed_chunk(smtp_session *s, sink *o, size_t n)
{
    size_t k = s->_bdat_left < n ? (size_t)s->_bdat_left : n;
    smtp_event *e = emit(o, SMTP_EV_CHUNK, SMTP_DIR_CLIENT, 0, k);

    e->txn = s->_txn;
    e->msg = s->_msg;
    e->seq = s->_bdat_seq;
    if (s->_flags & F_BDAT_FIRST)
        e->flags |= SMTP_EVF_FIRST;
    s->_flags &= (uint16_t)~F_BDAT_FIRST;
    s->_bdat_left -= k;
#if SMTP_PLANT_BUG == 2 /* planted for the fuzzers: a missed transition out of BDAT */
    if (k == 1 && n == 1)
        return 1;
#endif
    if (s->_bdat_left == 0) {
        s->_cmode = CM_COMMAND;
        if (s->_bdat_last) {
            e->flags |= SMTP_EVF_LAST;
            s->_flags &= (uint16_t)~F_BDAT_MSG;
            s->_msg = 0;
            if (s->_txn != 0 && s->_qlen > 0 && qat(s, s->_qlen - 1)->seq == s->_bdat_seq)
                txn_message_sent(s, qat(s, s->_qlen - 1));
            else if (s->_txn != 0) { /* the BDAT's entry is gone (overflow) */
                s->_txn = 0;
                s->_rcpt_ok = s->_rcpt_bad = s->_rcpt_tmp = 0;
            }
        }
    }
    return (long)k;
}

/* ---- server side ---- */

/* The first reply after lost server bytes: the replies to the oldest
 * commands may have been lost with them.  Skips commands that cannot get
 * this code while a later waiting command can (a 354 after a lost reply to
 * RCPT answers the DATA behind it). */
static const smtp_pending *skip_lost_replies(smtp_session *s, unsigned code)
{
    unsigned i, n = s->_qlen;

    s->_ext &= (uint8_t)~X_SGAP_REPLY;
    for (i = 0; i < n; i++) {
        const smtp_pending *q = qat(s, i);
        if (smtp_reply_allowed(code, (smtp_verb)q->verb))
            break;
    }
    if (i == n)
        return peek(s); /* nobody fits better: the oldest */
    while (i-- > 0)
        pop(s);
    return peek(s);
}

/* Finds the command a complete reply answers, fills ev->seq/verb/txn and
 * copies the command's queue entry to *cmd (seq 0 when none). */
static void pair_reply(smtp_session *s, sink *o, smtp_event *ev, size_t len, smtp_pending *cmd)
{
    const smtp_pending *h = peek(s);

    memset(cmd, 0, sizeof *cmd);
    if (h != NULL && h->verb == SMTP_VERB_CONNECT) {
        if (smtp_reply_is_greeting(ev->code)) {
            ev->seq = h->seq;
            ev->verb = SMTP_VERB_CONNECT;
            ev->flags |= SMTP_EVF_GREETING;
            *cmd = *h;
            pop(s);
            s->_sync[SMTP_DIR_CLIENT] = SYNC_YES;
            return;
        }
        pop(s); /* the capture started after the greeting */
        s->_flags |= F_MIDSESSION;
        h = peek(s);
    }
    if (h != NULL && (s->_ext & X_SGAP_REPLY))
        h = skip_lost_replies(s, ev->code);
    if (h != NULL) {
        ev->seq = h->seq;
        ev->verb = h->verb;
        ev->txn = h->txn;
        *cmd = *h;
        pop(s);
    } else if (s->_flags & F_MIDSESSION) {
        ev->flags |= SMTP_EVF_UNSYNC;
        s->_flags &= (uint16_t)~F_MIDSESSION;
        anomaly(o, SMTP_DIR_SERVER, SMTP_ANOMALY_UNSYNC, 0, len);
    } else if (ev->code != 421) {
        anomaly(o, SMTP_DIR_SERVER, SMTP_ANOMALY_REPLY_UNPAIRED, 0, len);
    }
}

/* Keywords of a successful EHLO/LHLO reply that the engine acts on. */
static void ehlo_keywords(smtp_session *s, const uint8_t *p, size_t n)
{
    size_t off = 0;
    int first = 1;

    s->_ext = (uint8_t)((s->_ext & (X_PIPE_SAID | X_CHUNK_SAID)) | X_EHLO);
    while (off < n) {
        smtp_line ln;
        long r = smtp_frame_line(p + off, n - off, n - off, &ln);
        if (r <= 0)
            break;
        if (!first && ln.len >= 4) {
            unsigned x = smtp_ehlo_keyword(p + off + 4, ln.len - 4);
            if (x == SMTP_EXT_PIPELINING)
                s->_ext |= X_PIPELINING;
            else if (x == SMTP_EXT_CHUNKING)
                s->_ext |= X_CHUNKING;
        }
        first = 0;
        off += (size_t)r;
    }
}

static void reply_checks(sink *o, const uint8_t *p, const smtp_reply_frame *f)
{
    smtp_reply_line rl;
    unsigned d1 = f->code / 100, d2 = (f->code / 10) % 10;

    if (d1 < 2 || d1 > 5 || d2 > 5)
        anomaly(o, SMTP_DIR_SERVER, SMTP_ANOMALY_REPLY_CODE_RANGE, 0, 3);
    if (f->flags & SMTP_REPLY_MISMATCH)
        anomaly(o, SMTP_DIR_SERVER, SMTP_ANOMALY_MULTILINE_MISMATCH, 0, f->len);
    if (f->flags & SMTP_REPLY_UNTERM)
        anomaly(o, SMTP_DIR_SERVER, SMTP_ANOMALY_MULTILINE_UNTERM, 0, f->len);
    if (f->flags & SMTP_REPLY_BARE_LF)
        anomaly(o, SMTP_DIR_SERVER, SMTP_ANOMALY_BARE_LF, 0, f->len);
    if (f->flags & SMTP_REPLY_BARE_CR)
        anomaly(o, SMTP_DIR_SERVER, SMTP_ANOMALY_BARE_CR, 0, f->len);
    if (f->flags & SMTP_REPLY_LONG_LINE)
        anomaly(o, SMTP_DIR_SERVER, SMTP_ANOMALY_LINE_TOO_LONG, 0, f->len);
    {
        const uint8_t *lf = memchr(p, '\n', f->len);
        size_t l1 = lf ? (size_t)(lf - p) : f->len;
        if (l1 > 0 && p[l1 - 1] == '\r')
            l1--;
        if (smtp_parse_reply_line(p, l1, &rl) && rl.status.len > 0 && rl.st_class != d1)
            anomaly(o, SMTP_DIR_SERVER, SMTP_ANOMALY_STATUS_CLASS, rl.status.off, rl.status.len);
    }
}

/* What a reply does to the session, by the command it answers. */
static void reply_effects(smtp_session *s, sink *o, const smtp_event *ev, size_t end)
{
    switch (ev->verb) {
    case SMTP_VERB_AUTH:
    case SMTP_VERB_SASL:
        if (ev->code == 334) {
            s->_cmode = CM_SASL;
        } else {
            /* the exchange is over: responses the client still owed are
             * not coming (and ones it sent ahead were answered) */
            if (s->_cmode == CM_SASL)
                s->_cmode = CM_COMMAND;
            if (!(s->_qlen > 0 && peek(s)->verb == SMTP_VERB_SASL))
                s->_sasl_left = 0;
        }
        break;
    case SMTP_VERB_DATA:
        if (ev->code == 354 && !(s->_flags & F_DATA_SPEC) && s->_cmode != CM_DATA)
            start_message_body(s, ev->seq);
        else if (ev->code != 354 && (s->_flags & F_DATA_SPEC) && s->_cmode == CM_DATA &&
                 s->_msg == ev->seq) {
            s->_cmode = CM_COMMAND;
            s->_msg = 0;
        }
        s->_flags &= (uint16_t)~F_DATA_SPEC;
        break;
    case SMTP_VERB_STARTTLS:
        if (ev->code == 220) {
            /* RFC 3207 4.2: both sides forget what they knew; whether TLS
             * really follows, the next bytes tell */
            emit(o, SMTP_EV_TLS, SMTP_DIR_SERVER, end, 0)->flags = SMTP_EVF_TLS_NEXT;
            s->_flags |= F_TLS_WAIT;
            s->_qlen = 0;
            s->_cmode = CM_COMMAND;
            s->_frag[0] = s->_frag[1] = 0;
            s->_sync[0] = s->_sync[1] = SYNC_YES;
        }
        break;
    default:
        break;
    }
}

static long feed_reply(smtp_session *s, sink *o, const uint8_t *p, size_t n)
{
    smtp_pending cmd;
    int lost_eod;
    smtp_reply_frame f;
    smtp_event *ev;
    long r = smtp_frame_reply(p, n, s->_cfg.max_line, s->_cfg.max_reply, &f);

    if (r == SMTP_NEED_MORE)
        return r;
    if (f.flags & SMTP_REPLY_CUT) {
        s->_frag[SMTP_DIR_SERVER] = 1;
        emit(o, SMTP_EV_FRAGMENT, SMTP_DIR_SERVER, 0, f.len)->code = SMTP_ANOMALY_LINE_CUT;
        anomaly(o, SMTP_DIR_SERVER, SMTP_ANOMALY_LINE_CUT, 0, f.len);
        return r;
    }
    if (f.flags & SMTP_REPLY_NOT_REPLY) {
        if (s->_sync[SMTP_DIR_SERVER] != SYNC_YES) {
            unsync_fragment(s, o, SMTP_DIR_SERVER, f.len);
        } else {
            emit(o, SMTP_EV_FRAGMENT, SMTP_DIR_SERVER, 0, f.len)->code = SMTP_ANOMALY_REPLY_SYNTAX;
            anomaly(o, SMTP_DIR_SERVER, SMTP_ANOMALY_REPLY_SYNTAX, 0, f.len);
        }
        return r;
    }
    s->_sync[SMTP_DIR_SERVER] = SYNC_YES;
    lost_eod = s->_cmode == CM_DATA && !(s->_flags & F_DATA_SPEC) && s->_qlen == 0 && s->_msg != 0;
    if (lost_eod) {
        /* the server answers while the client is in the body: the end of
         * data was in lost client bytes; this is its reply */
        s->_cmode = CM_COMMAND;
        s->_msg = 0;
        (void)push(s, o, SMTP_VERB_EOD, 0, f.len);
        if (s->_txn != 0)
            txn_message_sent(s, newest(s));
        s->_sync[SMTP_DIR_CLIENT] = SYNC_NO;
    }
    ev = emit(o, SMTP_EV_REPLY, SMTP_DIR_SERVER, 0, f.len);
    ev->code = f.code;
    ev->nlines = f.nlines;
    pair_reply(s, o, ev, f.len, &cmd);
    if (lost_eod)
        anomaly(o, SMTP_DIR_SERVER, SMTP_ANOMALY_UNSYNC, 0, f.len);
    reply_checks(o, p, &f);
    if (cmd.seq != 0 && !smtp_reply_allowed(ev->code, (smtp_verb)cmd.verb))
        anomaly(o, SMTP_DIR_SERVER, SMTP_ANOMALY_REPLY_NOT_ALLOWED, 0, 3);
    if ((cmd.verb == SMTP_VERB_EHLO || cmd.verb == SMTP_VERB_LHLO) && ev->code / 100 == 2)
        ehlo_keywords(s, p, f.len);
    reply_effects(s, o, ev, f.len);
    txn_reply(s, o, ev, &cmd, f.len);
    return r;
}

/* ---- pieces that form no unit ---- */

/* The rest of a line whose start was emitted before. */
static long feed_line_rest(smtp_session *s, sink *o, int dir, const uint8_t *p, size_t n)
{
    const uint8_t *lf = memchr(p, '\n', n);
    size_t len = lf ? (size_t)(lf - p) + 1 : n;
    smtp_event *e = emit(o, SMTP_EV_FRAGMENT, dir, 0, len);

    e->code = SMTP_ANOMALY_LINE_CUT;
    e->flags |= SMTP_EVF_CONT;
    if (lf != NULL)
        s->_frag[dir] = 0;
    return (long)len;
}

/* An incomplete unit at the end of the data, when no more will come. */
static long feed_partial(smtp_session *s, sink *o, int dir, const uint8_t *p, size_t n)
{
    smtp_line ln;

    s->_frag[dir] = 1;
    if (dir == SMTP_DIR_CLIENT && (s->_cmode == CM_COMMAND || s->_cmode == CM_SASL)) {
        ln.len = (uint32_t)n;
        ln.eol = 0;
        ln.flags = 0;
        client_line(s, o, p, &ln);
    } else {
        emit(o, SMTP_EV_FRAGMENT, dir, 0, n)->code = SMTP_ANOMALY_LINE_PARTIAL;
    }
    anomaly(o, dir, SMTP_ANOMALY_LINE_PARTIAL, 0, n);
    return (long)n;
}

static long feed_unit(smtp_session *s, sink *o, int dir, const uint8_t *p, size_t n, int flush)
{
    if (s->_frag[dir])
        return feed_line_rest(s, o, dir, p, n);
    if (dir == SMTP_DIR_SERVER)
        return feed_reply(s, o, p, n);
    switch (s->_cmode) {
    case CM_DATA:
        return feed_body(s, o, p, n, flush);
    case CM_BDAT:
        return feed_chunk(s, o, n);
    default:
        return feed_client_line(s, o, p, n);
    }
}

size_t smtp_session_feed(smtp_session *s, int dir, const uint8_t *buf, size_t len,
                         unsigned flags, smtp_event *ev, size_t cap, size_t *nev,
                         int *need_more)
{
    sink o;
    size_t off = 0;
    int flush = (flags & SMTP_FEED_FLUSH) != 0;

    o.ev = ev;
    o.cap = cap;
    o.n = 0;
    o.base = 0;
    *need_more = 0;
    dir = dir == SMTP_DIR_SERVER ? SMTP_DIR_SERVER : SMTP_DIR_CLIENT;
    if (dir == SMTP_DIR_SERVER)
        s->_flags |= F_SEEN_SERVER;
    while (off < len && cap >= SMTP_EVENTS_MIN && o.cap - o.n >= UNIT_EVENTS) {
        long r;
        o.base = off;
        if ((s->_flags & F_TLS_WAIT) && !(flags & SMTP_FEED_DECRYPTED)) {
            s->_flags &= (uint16_t)~F_TLS_WAIT;
            /* a TLS handshake record (type 22, version 3.x) starts TLS */
            if (buf[off] == 0x16 && (len - off < 2 || buf[off + 1] == 0x03))
                s->_flags |= F_TLS;
            else
                anomaly(&o, dir, SMTP_ANOMALY_STARTTLS_CLEARTEXT, 0, 0);
        }
        if ((s->_flags & F_TLS) && !(flags & SMTP_FEED_DECRYPTED)) {
            emit(&o, SMTP_EV_TLS, dir, 0, len - off); /* TLS records, not ours to read */
            off = len;
            break;
        }
        r = feed_unit(s, &o, dir, buf + off, len - off, flush);
        if (r == SMTP_NEED_MORE) {
            if (!flush) {
                *need_more = 1;
                break;
            }
            r = feed_partial(s, &o, dir, buf + off, len - off);
        }
        off += (size_t)r;
    }
    *nev = o.n;
    return off;
}

void smtp_session_gap(smtp_session *s, int dir, uint64_t lost)
{
    dir = dir == SMTP_DIR_SERVER ? SMTP_DIR_SERVER : SMTP_DIR_CLIENT;
    s->_frag[dir] = 0;
    if (dir == SMTP_DIR_CLIENT && s->_cmode == CM_BDAT && lost < s->_bdat_left) {
        s->_bdat_left -= lost;
        return;
    }
    if (dir == SMTP_DIR_CLIENT && s->_cmode == CM_DATA) {
        s->_body = 0; /* mid-line now; the end-of-data line still ends it */
        return;
    }
    if (dir == SMTP_DIR_CLIENT && s->_cmode == CM_BDAT)
        s->_cmode = CM_COMMAND;
    if (dir == SMTP_DIR_SERVER) {
        s->_sgap_seq = s->_next_seq;
        s->_ext |= X_SGAP_REPLY;
    }
    s->_sync[dir] = SYNC_NO;
}
