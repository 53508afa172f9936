/* smtp_session.c: the SMTP session state machine: the client and server
 * sides and the feed loop (smtp_session_int.h lists the other files).
 * SPDX-License-Identifier: GPL-2.0-or-later */
#include "smtp_session_int.h"
#include "smtp_auth.h"
#include "smtp_codes.h"
#include "smtp_frame.h"
#include "smtp_parse.h"

#include <stddef.h>
#include <string.h>

smtp_event *sx_emit(sink *o, smtp_event_type type, int dir, size_t off, size_t len)
{
    smtp_event *e = &o->ev[o->n++];
    memset(e, 0, sizeof *e);
    e->type = (uint8_t)type;
    e->dir = (uint8_t)dir;
    e->off = (uint32_t)(o->base + off);
    e->len = (uint32_t)len;
    return e;
}

/* An empty sink over the caller's event array (and parse array, or NULL). */
void sx_sink_init(sink *o, smtp_event *ev, smtp_parsed *out, size_t cap)
{
    memset(o, 0, sizeof *o);
    o->ev = ev;
    o->out = out;
    o->cap = cap;
}

void sx_anomaly(sink *o, int dir, smtp_anomaly a, size_t off, size_t len)
{
    if (o->n < o->cap)
        sx_emit(o, SMTP_EV_ANOMALY, dir, off, len)->code = (uint16_t)a;
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

/* What parking keeps: the session's facts from _cmode up to the queue
 * (the config is the caller's, the queue is empty), most of them zero:
 * a bit per byte says which are not, and only those follow. */
#define PARK_FROM offsetof(smtp_session, _cmode)
#define PARK_TO   offsetof(smtp_session, _qhead)
#define PARK_BYTES (PARK_TO - PARK_FROM)
#define PARK_MAP ((PARK_BYTES + 7) / 8)
_Static_assert(PARK_MAP + PARK_BYTES <= SMTP_PARKED_MAX, "SMTP_PARKED_MAX is too small");

int smtp_session_over(const smtp_session *s)
{
    return (s->_flags & (F_QUIT | F_CLOSED)) && s->_qlen == 0 && s->_txn == 0 && s->_msg == 0 &&
           !s->_frag[0] && !s->_frag[1] && s->_cmode == CM_COMMAND && s->_sasl_left == 0 &&
           s->_bdat_left == 0 && !(s->_flags & (F_BDAT_MSG | F_DATA_SPEC | F_TLS_WAIT));
}

size_t smtp_session_park(const smtp_session *s, uint8_t out[SMTP_PARKED_MAX])
{
    const uint8_t *from = (const uint8_t *)s + PARK_FROM;
    size_t i, n = PARK_MAP;

    if (!smtp_session_over(s))
        return 0;
    memset(out, 0, PARK_MAP);
    for (i = 0; i < PARK_BYTES; i += 8) { /* most bytes are zero: 8 at a time */
        size_t j, m = PARK_BYTES - i < 8 ? PARK_BYTES - i : 8;
        unsigned bits = 0;
        if (m == 8) {
            uint64_t w;
            memcpy(&w, from + i, 8);
            if (w == 0)
                continue;
        }
        for (j = 0; j < m; j++) {
            if (from[i + j] != 0) {
                bits |= 1u << j;
                out[n++] = from[i + j];
            }
        }
        out[i / 8] = (uint8_t)bits;
    }
    return n;
}

void smtp_session_unpark(smtp_session *s, const uint8_t *in)
{
    uint8_t *to = (uint8_t *)s + PARK_FROM;
    const uint8_t *b = in + PARK_MAP;
    size_t i;

    for (i = 0; i < PARK_BYTES; i++)
        to[i] = (in[i / 8] & (1u << (i % 8))) ? *b++ : 0;
    s->_qhead = 0;
    s->_qlen = 0;
    s->_qcap = SMTP_PENDING_INLINE;
    s->_qext = NULL;
    s->_rs_len = 0;
}

void *smtp_session_queue_storage(const smtp_session *s) { return s->_qext; }

int smtp_session_in_tls(const smtp_session *s) { return (s->_flags & F_TLS) != 0; }
unsigned smtp_session_pending(const smtp_session *s) { return s->_qlen; }
unsigned smtp_session_queue_capacity(const smtp_session *s) { return s->_qcap; }
int smtp_session_is_lmtp(const smtp_session *s) { return s->_lmtp != 0; }

/* ---- client side ---- */

static void line_anomalies(sink *o, int dir, const smtp_line *ln, size_t limit)
{
    size_t all = (size_t)ln->len + ln->eol;
    if (ln->flags & SMTP_LINE_BARE_LF)
        sx_anomaly(o, dir, SMTP_ANOMALY_BARE_LF, ln->len, 1);
    if (ln->flags & SMTP_LINE_BARE_CR)
        sx_anomaly(o, dir, SMTP_ANOMALY_BARE_CR, 0, ln->len);
    if (ln->flags & SMTP_LINE_CUT)
        sx_anomaly(o, dir, SMTP_ANOMALY_LINE_CUT, 0, all);
    else if (ln->len + 2u > limit)
        sx_anomaly(o, dir, SMTP_ANOMALY_LINE_TOO_LONG, 0, all);
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
        sx_start_message_body(s, ev->seq);
        s->_flags |= F_DATA_SPEC;
        break;
    case SMTP_VERB_BDAT:
        if (!(c->flags & SMTP_CMD_BDAT_OK)) {
            sx_anomaly(o, SMTP_DIR_CLIENT, SMTP_ANOMALY_BDAT_SIZE, 0, all);
            break;
        }
        if (c->flags & SMTP_CMD_BDAT_LAST)
            sx_newest(s)->flags |= PF_BDAT_LAST;
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
            smtp_event *ch = sx_emit(o, SMTP_EV_CHUNK, SMTP_DIR_CLIENT, all, 0);
            ch->txn = s->_txn;
            ch->flags = (s->_flags & F_BDAT_FIRST) ? SMTP_EVF_FIRST | SMTP_EVF_LAST : SMTP_EVF_LAST;
            ch->seq = ev->seq;
            ch->msg = s->_msg;
            s->_flags &= (uint16_t)~(F_BDAT_MSG | F_BDAT_FIRST);
            if (s->_txn != 0)
                sx_txn_message_sent(s, sx_newest(s));
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
    while ((h = sx_peek(s)) != NULL && (int32_t)(h->seq - s->_sgap_seq) < 0 &&
           h->verb != SMTP_VERB_EOD)
        sx_pop(s);
    s->_sgap_seq = 0;
}

/* Checks of a command against what came before it (before it is queued). */
static void command_checks(smtp_session *s, sink *o, const smtp_command *c, size_t all)
{
    const smtp_pending *h = s->_qlen ? sx_newest(s) : NULL;

    /* a command while another awaits its reply is pipelined (RFC 2920);
     * after the end of data a client may send the next one */
    if (h != NULL && h->verb != SMTP_VERB_CONNECT && h->verb != SMTP_VERB_EOD &&
        (s->_ext & (X_EHLO | X_PIPELINING | X_PIPE_SAID)) == X_EHLO) {
        sx_anomaly(o, SMTP_DIR_CLIENT, SMTP_ANOMALY_PIPELINING_UNADVERTISED, 0, all);
        s->_ext |= X_PIPE_SAID;
    }
    if (c->verb == SMTP_VERB_BDAT && (s->_ext & (X_EHLO | X_CHUNKING | X_CHUNK_SAID)) == X_EHLO) {
        sx_anomaly(o, SMTP_DIR_CLIENT, SMTP_ANOMALY_CHUNKING_UNADVERTISED, 0, all);
        s->_ext |= X_CHUNK_SAID;
    }
    if ((c->verb == SMTP_VERB_RCPT || c->verb == SMTP_VERB_DATA) && s->_txn == 0 &&
        (s->_flags & F_SEEN_SERVER) && !(s->_flags & F_MIDSESSION) &&
        s->_sync[SMTP_DIR_SERVER] == SYNC_YES)
        sx_anomaly(o, SMTP_DIR_CLIENT, SMTP_ANOMALY_OUT_OF_SEQUENCE, 0, all);
}

/* The lone "." of a body the capture joined midway. */
static int is_lone_dot(const uint8_t *p, const smtp_line *ln)
{
    return ln->len == 1 && p[0] == '.';
}

smtp_event *sx_emit_eod(smtp_session *s, sink *o, size_t off, size_t len)
{
    smtp_event *e = sx_emit(o, SMTP_EV_EOD, SMTP_DIR_CLIENT, off, len);
    unsigned replies = (s->_lmtp && s->_txn != 0 && s->_rcpt_ok > 1) ? s->_rcpt_ok : 1u, i;

    e->msg = s->_msg;
    e->seq = sx_push(s, o, SMTP_VERB_EOD, off, len);
    for (i = 1; i < replies; i++) {
        sx_newest(s)->flags |= PF_LMTP_MORE;
        (void)sx_push(s, o, SMTP_VERB_EOD, off, len);
    }
    e->nlines = (uint16_t)replies;
    e->verb = SMTP_VERB_EOD;
    e->txn = s->_txn;
    if (s->_txn != 0) {
        uint32_t k;
        for (k = 0; k < replies && k < s->_qlen; k++)
            sx_qat(s, s->_qlen - 1 - k)->txn = s->_txn;
        sx_txn_message_sent(s, sx_newest(s));
        for (k = 1; k < replies && k < s->_qlen; k++)
            sx_qat(s, s->_qlen - 1 - k)->refused = sx_newest(s)->refused;
    }
    s->_cmode = CM_COMMAND;
    s->_msg = 0;
    return e;
}

static void unsync_fragment(smtp_session *s, sink *o, int dir, size_t len)
{
    smtp_event *e = sx_emit(o, SMTP_EV_FRAGMENT, dir, 0, len);
    e->code = SMTP_ANOMALY_UNSYNC;
    if (s->_sync[dir] == SYNC_NO) {
        sx_anomaly(o, dir, SMTP_ANOMALY_UNSYNC, 0, len);
        s->_sync[dir] = SYNC_REPORTED;
    }
}

/* One client line (command or AUTH response) of ln->len content bytes. */
static void client_line(smtp_session *s, sink *o, const uint8_t *p, const smtp_line *ln)
{
    size_t all = (size_t)ln->len + ln->eol;
    /* parsed where the command's unit will be (o->out parallels the events
     * and the unit is the next one), or here when no one reads it */
    smtp_command local, *c = o->out != NULL ? &o->out[o->n].cmd : &local;
    smtp_event *ev;
    int parsed = 0;

    if (s->_cmode != CM_SASL && s->_sasl_left == SMTP_AUTH_UNKNOWN) {
        /* a mechanism of unknown length without a 334 in sight: a line
         * that is a plausible command ends the exchange (BASE64 has no
         * space; a bare verb such as QUIT is taken for itself) */
        smtp_parse_command(p, ln->len, c);
        parsed = 1;
        if (c->verb != SMTP_VERB_UNKNOWN && smtp_command_plausible(c))
            s->_sasl_left = 0;
    }
    if (s->_cmode == CM_SASL || s->_sasl_left > 0) {
        ev = sx_emit(o, SMTP_EV_SASL, SMTP_DIR_CLIENT, 0, all);
        ev->verb = SMTP_VERB_SASL;
        ev->seq = sx_push(s, o, SMTP_VERB_SASL, 0, all);
        ev->txn = s->_txn;
        s->_cmode = CM_COMMAND;
        if (ln->len == 1 && p[0] == '*')
            s->_sasl_left = 0; /* cancelled */
        else if (s->_sasl_left > 0 && s->_sasl_left != SMTP_AUTH_UNKNOWN)
            s->_sasl_left--;
        line_anomalies(o, SMTP_DIR_CLIENT, ln, 12288); /* RFC 4954 4: 12288 octets */
        return;
    }
    if (!parsed)
        smtp_parse_command(p, ln->len, c);
    if (s->_sync[SMTP_DIR_CLIENT] != SYNC_YES) {
        if (is_lone_dot(p, ln)) {
            s->_sync[SMTP_DIR_CLIENT] = SYNC_YES;
            sx_emit_eod(s, o, 0, all);
            return;
        }
        if (!smtp_command_plausible(c)) {
            unsync_fragment(s, o, SMTP_DIR_CLIENT, all);
            return;
        }
        s->_sync[SMTP_DIR_CLIENT] = SYNC_YES;
    }
    ev = sx_emit(o, SMTP_EV_COMMAND, SMTP_DIR_CLIENT, 0, all);
    ev->verb = (uint16_t)c->verb;
    if (c->flags & SMTP_CMD_BAD_ARGS)
        ev->flags |= SMTP_EVF_BADARGS;
    command_checks(s, o, c, all);
    forget_lost_replies(s);
    ev->seq = sx_push(s, o, c->verb, 0, all);
    sx_txn_command(s, o, ev, all);
    sx_newest(s)->txn = ev->txn;
    if (s->_flags & F_QUIT)
        sx_anomaly(o, SMTP_DIR_CLIENT, SMTP_ANOMALY_DATA_AFTER_QUIT, 0, all);
    if (c->flags & SMTP_CMD_NOT_COMMAND)
        sx_anomaly(o, SMTP_DIR_CLIENT, SMTP_ANOMALY_NOT_A_COMMAND, 0, ln->len);
    else if (c->verb == SMTP_VERB_UNKNOWN)
        sx_anomaly(o, SMTP_DIR_CLIENT, SMTP_ANOMALY_UNKNOWN_COMMAND, 0, c->verb_span.len);
    line_anomalies(o, SMTP_DIR_CLIENT, ln, 512);
    command_effects(s, o, p, c, ev, all);
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


/* ---- server side ---- */

/* The first reply after lost server bytes: the replies to the oldest
 * commands may have been lost with them.  Skips commands that cannot get
 * this code while a later waiting command can (a 354 after a lost reply to
 * RCPT answers the DATA behind it). */
static const smtp_pending *skip_lost_replies(smtp_session *s, unsigned code)
{
    unsigned i, n = s->_qlen;

    s->_sgap_reply = 0;
    for (i = 0; i < n; i++) {
        const smtp_pending *q = sx_qat(s, i);
        if (smtp_reply_allowed(code, (smtp_verb)q->verb))
            break;
    }
    if (i == n)
        return sx_peek(s); /* nobody fits better: the oldest */
    while (i-- > 0)
        sx_pop(s);
    return sx_peek(s);
}

/* Finds the command a complete reply answers, fills ev->seq/verb/txn and
 * copies the command's queue entry to *cmd (seq 0 when none). */
static void pair_reply(smtp_session *s, sink *o, smtp_event *ev, size_t len, smtp_pending *cmd)
{
    const smtp_pending *h = sx_peek(s);

    memset(cmd, 0, sizeof *cmd);
    if (h != NULL && h->verb == SMTP_VERB_CONNECT) {
        if (smtp_reply_is_greeting(ev->code)) {
            ev->seq = h->seq;
            ev->verb = SMTP_VERB_CONNECT;
            ev->flags |= SMTP_EVF_GREETING;
            *cmd = *h;
            sx_pop(s);
            s->_sync[SMTP_DIR_CLIENT] = SYNC_YES;
            return;
        }
        sx_pop(s); /* the capture started after the greeting */
        s->_flags |= F_MIDSESSION;
        h = sx_peek(s);
    }
    if (h != NULL && s->_sgap_reply)
        h = skip_lost_replies(s, ev->code);
    if (h != NULL) {
        ev->seq = h->seq;
        ev->verb = h->verb;
        ev->txn = h->txn;
        *cmd = *h;
        sx_pop(s);
    } else if (s->_flags & F_MIDSESSION) {
        ev->flags |= SMTP_EVF_UNSYNC;
        s->_flags &= (uint16_t)~F_MIDSESSION;
        s->_flags |= F_UNPAIRED;
        sx_anomaly(o, SMTP_DIR_SERVER, SMTP_ANOMALY_UNSYNC, 0, len);
    } else if (ev->code != 421 && !(s->_flags & F_UNPAIRED)) {
        /* the first of a run: the replies after it until the client's
         * next command have no command either, and say it no more */
        s->_flags |= F_UNPAIRED;
        sx_anomaly(o, SMTP_DIR_SERVER, SMTP_ANOMALY_REPLY_UNPAIRED, 0, len);
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
        /* only PIPELINING and CHUNKING matter here: other lines are let
         * go by their first letter (most of a reply's lines) */
        uint8_t k0 = ln.len > 4 ? (uint8_t)(p[off + 4] & ~0x20u) : 0;
        if (!first && (k0 == 'P' || k0 == 'C')) {
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

static void reply_checks(sink *o, const smtp_reply_frame *f)
{
    const smtp_reply_line *rl = &f->first;
    unsigned d1 = f->code / 100, d2 = (f->code / 10) % 10;

    if (d1 < 2 || d1 > 5 || d2 > 5)
        sx_anomaly(o, SMTP_DIR_SERVER, SMTP_ANOMALY_REPLY_CODE_RANGE, 0, 3);
    if (f->flags & SMTP_REPLY_MISMATCH)
        sx_anomaly(o, SMTP_DIR_SERVER, SMTP_ANOMALY_MULTILINE_MISMATCH, 0, f->len);
    if (f->flags & SMTP_REPLY_UNTERM)
        sx_anomaly(o, SMTP_DIR_SERVER, SMTP_ANOMALY_MULTILINE_UNTERM, 0, f->len);
    if (f->flags & SMTP_REPLY_BARE_LF)
        sx_anomaly(o, SMTP_DIR_SERVER, SMTP_ANOMALY_BARE_LF, 0, f->len);
    if (f->flags & SMTP_REPLY_BARE_CR)
        sx_anomaly(o, SMTP_DIR_SERVER, SMTP_ANOMALY_BARE_CR, 0, f->len);
    if (f->flags & SMTP_REPLY_LONG_LINE)
        sx_anomaly(o, SMTP_DIR_SERVER, SMTP_ANOMALY_LINE_TOO_LONG, 0, f->len);
    if (rl->status.len > 0 && rl->st_class != d1)
        sx_anomaly(o, SMTP_DIR_SERVER, SMTP_ANOMALY_STATUS_CLASS, rl->status.off, rl->status.len);
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
            if (!(s->_qlen > 0 && sx_peek(s)->verb == SMTP_VERB_SASL))
                s->_sasl_left = 0;
        }
        break;
    case SMTP_VERB_DATA:
        if (ev->code == 354 && !(s->_flags & F_DATA_SPEC) && s->_cmode != CM_DATA)
            sx_start_message_body(s, ev->seq);
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
            sx_emit(o, SMTP_EV_TLS, SMTP_DIR_SERVER, end, 0)->flags = SMTP_EVF_TLS_NEXT;
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

/* resume: bytes of p already framed as the reply's first lines (s->_rs
 * holds them), 0 none.  The reply is framed into s->_rs; when more bytes
 * are needed, the lines framed so far stay there and s->_rs_len says
 * where they end. */
static long feed_reply(smtp_session *s, sink *o, const uint8_t *p, size_t n, size_t resume)
{
    smtp_pending cmd;
    int lost_eod, lookalike;
    const smtp_reply_frame *f = &s->_rs; /* framed in place: nothing to copy to go on */
    smtp_event *ev;
    size_t from = resume;
    long r = smtp_frame_reply_from(p, n, s->_cfg.max_line, s->_cfg.max_reply, &s->_rs, &from);

    if (r == SMTP_NEED_MORE) {
        s->_rs_len = (uint32_t)from;
        return r;
    }
    if (f->flags & SMTP_REPLY_CUT) {
        s->_frag[SMTP_DIR_SERVER] = 1;
        sx_emit(o, SMTP_EV_FRAGMENT, SMTP_DIR_SERVER, 0, f->len)->code = SMTP_ANOMALY_LINE_CUT;
        sx_anomaly(o, SMTP_DIR_SERVER, SMTP_ANOMALY_LINE_CUT, 0, f->len);
        return r;
    }
    if (f->flags & SMTP_REPLY_NOT_REPLY) {
        if (s->_sync[SMTP_DIR_SERVER] != SYNC_YES) {
            unsync_fragment(s, o, SMTP_DIR_SERVER, f->len);
        } else {
            sx_emit(o, SMTP_EV_FRAGMENT, SMTP_DIR_SERVER, 0, f->len)->code = SMTP_ANOMALY_REPLY_SYNTAX;
            sx_anomaly(o, SMTP_DIR_SERVER, SMTP_ANOMALY_REPLY_SYNTAX, 0, f->len);
        }
        return r;
    }
    s->_sync[SMTP_DIR_SERVER] = SYNC_YES;
    lost_eod = s->_cmode == CM_DATA && !(s->_flags & F_DATA_SPEC) && s->_qlen == 0 && s->_msg != 0;
    lookalike = lost_eod && (s->_flags & F_LOOKALIKE);
    if (lost_eod) {
        /* the server answers while the client is in the body: the end of
         * data was in lost client bytes; this is its reply */
        s->_cmode = CM_COMMAND;
        s->_msg = 0;
        (void)sx_push(s, o, SMTP_VERB_EOD, 0, f->len);
        if (s->_txn != 0)
            sx_txn_message_sent(s, sx_newest(s));
        s->_sync[SMTP_DIR_CLIENT] = SYNC_NO;
        s->_flags &= (uint16_t)~F_LOOKALIKE;
    }
    ev = sx_emit(o, SMTP_EV_REPLY, SMTP_DIR_SERVER, 0, f->len);
    ev->code = f->code;
    if (o->out != NULL)
        o->out[ev - o->ev].reply = f->first;
    ev->nlines = f->nlines;
    pair_reply(s, o, ev, f->len, &cmd);
    if (cmd.verb == SMTP_VERB_BDAT && (cmd.flags & PF_BDAT_LAST))
        ev->flags |= SMTP_EVF_LAST;
    if (lookalike) {
        /* not lost: the server ended the message where the client wrote a
         * look-alike of the end of data (SMTP smuggling) */
        ev->flags |= SMTP_EVF_LOOKALIKE;
        sx_anomaly(o, SMTP_DIR_SERVER, SMTP_ANOMALY_LOOKALIKE_ACCEPTED, 0, f->len);
    } else if (lost_eod) {
        sx_anomaly(o, SMTP_DIR_SERVER, SMTP_ANOMALY_UNSYNC, 0, f->len);
    }
    reply_checks(o, f);
    if (cmd.seq != 0 && !smtp_reply_allowed(ev->code, (smtp_verb)cmd.verb))
        sx_anomaly(o, SMTP_DIR_SERVER, SMTP_ANOMALY_REPLY_NOT_ALLOWED, 0, 3);
    if ((cmd.verb == SMTP_VERB_EHLO || cmd.verb == SMTP_VERB_LHLO) && ev->code / 100 == 2)
        ehlo_keywords(s, p, f->len);
    reply_effects(s, o, ev, f->len);
    sx_txn_reply(s, o, ev, &cmd, f->len);
    return r;
}

/* ---- pieces that form no unit ---- */

/* The rest of a line whose start was emitted before. */
static long feed_line_rest(smtp_session *s, sink *o, int dir, const uint8_t *p, size_t n)
{
    const uint8_t *lf = memchr(p, '\n', n);
    size_t len = lf ? (size_t)(lf - p) + 1 : n;
    smtp_event *e = sx_emit(o, SMTP_EV_FRAGMENT, dir, 0, len);

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
        sx_emit(o, SMTP_EV_FRAGMENT, dir, 0, n)->code = SMTP_ANOMALY_LINE_PARTIAL;
    }
    sx_anomaly(o, dir, SMTP_ANOMALY_LINE_PARTIAL, 0, n);
    return (long)n;
}

static long feed_unit(smtp_session *s, sink *o, int dir, const uint8_t *p, size_t n, int flush,
                      size_t resume)
{
    if (s->_frag[dir])
        return feed_line_rest(s, o, dir, p, n);
    if (dir == SMTP_DIR_SERVER)
        return feed_reply(s, o, p, n, resume);
    switch (s->_cmode) {
    case CM_DATA:
        return sx_feed_body(s, o, p, n, flush);
    case CM_BDAT:
        return sx_feed_chunk(s, o, n);
    default:
        return feed_client_line(s, o, p, n);
    }
}

size_t smtp_session_feed(smtp_session *s, int dir, const uint8_t *buf, size_t len,
                         unsigned flags, smtp_event *ev, size_t cap, size_t *nev,
                         int *need_more)
{
    return smtp_session_feed_parsed(s, dir, buf, len, flags, ev, NULL, cap, nev, need_more);
}

size_t smtp_session_feed_parsed(smtp_session *s, int dir, const uint8_t *buf, size_t len,
                                unsigned flags, smtp_event *ev, smtp_parsed *out, size_t cap,
                                size_t *nev, int *need_more)
{
    sink o;
    size_t off = 0, resume = 0;
    int flush = (flags & SMTP_FEED_FLUSH) != 0;

    sx_sink_init(&o, ev, out, cap);
    *need_more = 0;
    dir = dir == SMTP_DIR_SERVER ? SMTP_DIR_SERVER : SMTP_DIR_CLIENT;
    if (dir == SMTP_DIR_SERVER) {
        s->_flags |= F_SEEN_SERVER;
        /* what the last server feed framed of the unit it left, if this
         * feed starts with that unit's bytes again */
        if ((flags & SMTP_FEED_RESUME) && s->_rs_len <= len)
            resume = s->_rs_len;
        s->_rs_len = 0;
    }
    while (off < len && cap >= SMTP_EVENTS_MIN && o.cap - o.n >= UNIT_EVENTS) {
        long r;
        o.base = off;
        o.overflow_said = 0;
        if ((s->_flags & F_TLS_WAIT) && !(flags & SMTP_FEED_DECRYPTED)) {
            if (buf[off] == 0x16 && len - off < 2 && !flush) {
                *need_more = 1; /* the version byte decides */
                break;
            }
            s->_flags &= (uint16_t)~F_TLS_WAIT;
            /* a TLS handshake record (type 22, version 3.x) starts TLS */
            if (buf[off] == 0x16 && (len - off < 2 || buf[off + 1] == 0x03))
                s->_flags |= F_TLS;
            else
                sx_anomaly(&o, dir, SMTP_ANOMALY_STARTTLS_CLEARTEXT, 0, 0);
        }
        if ((s->_flags & F_TLS) && !(flags & SMTP_FEED_DECRYPTED)) {
            sx_emit(&o, SMTP_EV_TLS, dir, 0, len - off); /* TLS records, not ours to read */
            off = len;
            break;
        }
        r = feed_unit(s, &o, dir, buf + off, len - off, flush, off == 0 ? resume : 0);
        if (r == SMTP_NEED_MORE) {
            if (!flush) {
                *need_more = 1;
                break;
            }
            s->_rs_len = 0;
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
    if (dir == SMTP_DIR_SERVER)
        s->_rs_len = 0;
    if (dir == SMTP_DIR_CLIENT && s->_cmode == CM_BDAT && lost < s->_bdat_left) {
        s->_bdat_left -= lost;
        return;
    }
    if (dir == SMTP_DIR_CLIENT && s->_cmode == CM_DATA) {
        s->_body = B_DOTS; /* mid-line now; the end-of-data line still ends it;
                              the bytes kept of the message are unstuffed as
                              they join */
        return;
    }
    if (dir == SMTP_DIR_CLIENT && s->_cmode == CM_BDAT)
        s->_cmode = CM_COMMAND;
    if (dir == SMTP_DIR_SERVER) {
        s->_sgap_seq = s->_next_seq;
        s->_sgap_reply = 1;
    }
    s->_sync[dir] = SYNC_NO;
}
