/* packet-smtpx.c: the dissector: registration, conversation state and the
 * first pass that runs the engine.  Rendering lives in smtpx_render.c.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "smtpx.h"

#include <epan/conversation.h>
#include <epan/prefs.h>
#include <epan/proto_data.h>
#include <epan/tap.h>
#include <epan/dissectors/packet-tcp.h>

#include "smtp_codes.h"
#include "smtp_parse.h"

#include <string.h>

/* ssl_starttls_ack() is declared in packet-tls-utils.h, which needs
 * libgcrypt's headers; its prototype is the same in 4.0 - 4.6. */
WS_DLL_PUBLIC guint32 ssl_starttls_ack(dissector_handle_t tls_handle, packet_info *pinfo,
                                       dissector_handle_t app_handle);

int smtpx_imf_tap = -1;

static dissector_handle_t smtpx_tcp_handle; /* over TCP: data is struct tcpinfo */
static dissector_handle_t smtpx_tls_handle; /* inside TLS: data is not ours */
static dissector_handle_t imf_handle;
static dissector_handle_t tls_handle;

/* proto data keys: per call of a frame (file scope), and the call counter
 * of the frame being dissected (packet scope) */
#define KEY_CALL_BASE 16
#define KEY_CALL_COUNTER 0

/* ---- conversation ---- */

/* What the first bytes a side sends say about it: 1 server (a reply
 * line), 0 client (a known command verb), -1 unknown. */
static int side_by_content(tvbuff_t *tvb)
{
    guint32 n = tvb_captured_length(tvb);
    const guint8 *p;
    guint32 w = 0;

    if (n > 16)
        n = 16;
    if (n < 4)
        return -1;
    p = tvb_get_ptr(tvb, 0, n);
    if (g_ascii_isdigit(p[0]) && g_ascii_isdigit(p[1]) && g_ascii_isdigit(p[2]) &&
        (p[3] == ' ' || p[3] == '-' || p[3] == '\r' || p[3] == '\n'))
        return 1;
    while (w < n && g_ascii_isalpha(p[w]))
        w++;
    if (smtp_verb_lookup(p, w) != SMTP_VERB_UNKNOWN && (w == n || !g_ascii_isalnum(p[w])))
        return 0;
    return -1;
}

/* Which end is the server: the end whose first bytes are a reply (or
 * whose peer's are a command), else the end on the port we were registered
 * for.  Content first: tunnels and Decode As rewrite ports. */
static void choose_server(smtpx_conv *c, packet_info *pinfo, tvbuff_t *tvb)
{
    int src_is_server = side_by_content(tvb);

    if (src_is_server < 0) {
        if (pinfo->match_uint == pinfo->destport && pinfo->match_uint != pinfo->srcport)
            src_is_server = 0;
        else if (pinfo->match_uint == pinfo->srcport && pinfo->match_uint != pinfo->destport)
            src_is_server = 1;
        else
            src_is_server = pinfo->srcport < pinfo->destport;
    }
    copy_address_wmem(wmem_file_scope(), &c->srv_addr, src_is_server ? &pinfo->src : &pinfo->dst);
    c->srv_port = src_is_server ? pinfo->srcport : pinfo->destport;
}

static smtpx_conv *get_conv(packet_info *pinfo, tvbuff_t *tvb)
{
    conversation_t *conv = find_or_create_conversation(pinfo);
    smtpx_conv *c = (smtpx_conv *)conversation_get_proto_data(conv, proto_smtpx);
    smtpx_pair *greet;
    smtp_config cfg;

    if (c != NULL)
        return c;
    c = wmem_new0(wmem_file_scope(), smtpx_conv);
    cfg.max_line = smtpx_max_line;
    cfg.max_reply = smtpx_max_line * 4;
    smtp_session_init(&c->sess, &cfg);
    choose_server(c, pinfo, tvb);
    /* the connection itself is command 1: the greeting answers it */
    greet = wmem_new0(wmem_file_scope(), smtpx_pair);
    greet->seq = 1;
    greet->verb = smtp_verb_name(SMTP_VERB_CONNECT);
    greet->verb_id = SMTP_VERB_CONNECT;
    if (conv->setup_frame < pinfo->num) {
        struct tcp_analysis *tcpd = get_tcp_conversation_data(conv, pinfo);
        greet->req_frame = conv->setup_frame;
        if (tcpd != NULL)
            greet->req_ts = tcpd->ts_first;
    }
    c->ring[1 % SMTP_PENDING_MAX] = greet;
    conversation_add_proto_data(conv, proto_smtpx, c);
    return c;
}

static int direction(const smtpx_conv *c, const packet_info *pinfo)
{
    return (pinfo->srcport == c->srv_port && addresses_equal(&pinfo->src, &c->srv_addr))
               ? SMTP_DIR_SERVER : SMTP_DIR_CLIENT;
}

/* ---- first pass ---- */

static smtpx_pair *new_pair(smtpx_conv *c, packet_info *pinfo, tvbuff_t *tvb,
                            const smtp_event *ev, int verb_len)
{
    smtpx_pair *p = wmem_new0(wmem_file_scope(), smtpx_pair);

    p->seq = ev->seq;
    p->req_frame = pinfo->num;
    p->req_ts = pinfo->abs_ts;
    p->verb_id = ev->verb;
    p->txn = ev->txn;
    if (ev->type == SMTP_EV_COMMAND && ev->verb == SMTP_VERB_UNKNOWN && verb_len > 0)
        p->verb = (const char *)tvb_format_text(wmem_file_scope(), tvb, ev->off, verb_len);
    else
        p->verb = smtp_verb_name((smtp_verb)ev->verb);
    c->ring[ev->seq % SMTP_PENDING_MAX] = p;
    return p;
}

static int verb_length(const guint8 *buf, const smtp_event *ev)
{
    const guint8 *p = buf + ev->off;
    guint32 n = 0;

    while (n < ev->len && p[n] != ' ' && p[n] != '\t' && p[n] != '\r' && p[n] != '\n')
        n++;
    return (int)n;
}

/* Links an engine event with the command/reply pair it belongs to. */
static smtpx_pair *link_pair(smtpx_conv *c, packet_info *pinfo, tvbuff_t *tvb,
                             const guint8 *buf, const smtp_event *ev)
{
    smtpx_pair *p;

    switch (ev->type) {
    case SMTP_EV_COMMAND:
        return new_pair(c, pinfo, tvb, ev, verb_length(buf, ev));
    case SMTP_EV_SASL:
        return new_pair(c, pinfo, tvb, ev, 0);
    case SMTP_EV_EOD: {
        /* LMTP: one awaited reply per accepted recipient, numbered on */
        smtp_event one = *ev;
        guint16 i, n = ev->nlines ? ev->nlines : 1;
        smtpx_pair *first = NULL, *prev = NULL;
        for (i = 0; i < n; i++) {
            smtpx_pair *q;
            one.seq = ev->seq + i;
            q = new_pair(c, pinfo, tvb, &one, 0);
            q->lmtp_index = i;
            q->txn = ev->txn;
            if (prev != NULL)
                prev->next = q;
            else
                first = q;
            prev = q;
        }
        return first;
    }
    case SMTP_EV_REPLY:
        if (ev->seq == 0)
            return NULL;
        p = c->ring[ev->seq % SMTP_PENDING_MAX];
        if (p == NULL || p->seq != ev->seq)
            return NULL;
        p->rsp_frame = pinfo->num;
        p->code = ev->code;
        return p;
    default:
        return NULL;
    }
}

/* ---- messages: collected on the first pass, handed to IMF on every pass ---- */

static void message_reset(smtpx_conv *c)
{
    if (c->msg_data != NULL)
        wmem_free(wmem_file_scope(), c->msg_data);
    c->msg_data = NULL;
    c->msg_len = c->msg_cap = c->msg_id = c->msg_frames = c->msg_last_frame = 0;
    c->msg_truncated = FALSE;
}

static void message_append(smtpx_conv *c, packet_info *pinfo, guint32 id, const guint8 *p, guint32 n)
{
    if (id != c->msg_id) {
        message_reset(c);
        c->msg_id = id;
        c->msg_first_frame = pinfo->num;
    }
    if (c->msg_last_frame != pinfo->num) {
        c->msg_last_frame = pinfo->num;
        c->msg_frames++;
    }
    if (n > smtpx_max_message - c->msg_len) {
        n = smtpx_max_message - c->msg_len;
        c->msg_truncated = TRUE;
    }
    if (n == 0)
        return;
    if (c->msg_len + n > c->msg_cap) {
        guint32 cap = c->msg_cap ? c->msg_cap : 4096;
        while (cap < c->msg_len + n)
            cap = cap > G_MAXUINT32 / 2 ? G_MAXUINT32 : cap * 2;
        c->msg_data = (guint8 *)wmem_realloc(wmem_file_scope(), c->msg_data, cap);
        c->msg_cap = cap;
    }
    memcpy(c->msg_data + c->msg_len, p, n);
    c->msg_len += n;
}

/* Copies s[0..n) without the dot-stuffing (RFC 5321 4.5.2) into d; returns
 * the length. */
static guint32 unstuff(guint8 *d, const guint8 *s, guint32 n)
{
    guint32 i = 0, o = 0;

    while (i < n) {
        const guint8 *lf;
        guint32 end;
        if (s[i] == '.')
            i++;
        lf = i < n ? (const guint8 *)memchr(s + i, '\n', n - i) : NULL;
        end = lf ? (guint32)(lf - s) + 1 : n;
        memcpy(d + o, s + i, end - i);
        o += end - i;
        i = end;
    }
    return o;
}

/* The message ends here: hands it to the unit that completes it. */
static smtpx_message *message_finish(smtpx_conv *c, packet_info *pinfo, guint32 id, gboolean dot_stuffed)
{
    smtpx_message *m;

    if (id != c->msg_id) /* an empty message */
        message_append(c, pinfo, id, NULL, 0);
    m = wmem_new0(wmem_file_scope(), smtpx_message);
    m->first_frame = c->msg_first_frame;
    m->frames = c->msg_frames;
    m->truncated = c->msg_truncated;
    if (dot_stuffed && c->msg_len > 0) {
        m->data = (guint8 *)wmem_alloc(wmem_file_scope(), c->msg_len);
        m->len = unstuff(m->data, c->msg_data, c->msg_len);
    } else if (c->msg_len > 0) {
        m->data = (guint8 *)wmem_memdup(wmem_file_scope(), c->msg_data, c->msg_len);
        m->len = c->msg_len;
    }
    message_reset(c);
    return m;
}

/* Feeds message bytes of one unit to the collector. */
static void collect_message(smtpx_conv *c, packet_info *pinfo, const guint8 *buf, smtpx_unit *u)
{
    const smtp_event *ev = &u->ev;

    if (!smtpx_reassemble_body || ev->msg == 0)
        return; /* msg 0: the capture missed the start of this message */
    switch (ev->type) {
    case SMTP_EV_BODY:
        message_append(c, pinfo, ev->msg, buf + ev->off, ev->len);
        break;
    case SMTP_EV_EOD:
        u->msg = message_finish(c, pinfo, ev->msg, TRUE);
        break;
    case SMTP_EV_CHUNK:
        message_append(c, pinfo, ev->msg, buf + ev->off, ev->len);
        if (ev->flags & SMTP_EVF_LAST)
            u->msg = message_finish(c, pinfo, ev->msg, FALSE);
        break;
    default:
        break;
    }
}

/* ---- transactions and AUTH, tracked on the first pass ---- */

enum { MECH_OTHER, MECH_PLAIN, MECH_LOGIN, MECH_CRAM_MD5, MECH_XOAUTH2 };

static guint8 mech_of(const guint8 *p, guint32 n)
{
    static const struct { const char *name; guint8 id; } mechs[] = {
        { "PLAIN", MECH_PLAIN }, { "LOGIN", MECH_LOGIN },
        { "CRAM-MD5", MECH_CRAM_MD5 }, { "XOAUTH2", MECH_XOAUTH2 },
    };
    size_t i;
    for (i = 0; i < G_N_ELEMENTS(mechs); i++) {
        if (strlen(mechs[i].name) == n && g_ascii_strncasecmp((const char *)p, mechs[i].name, n) == 0)
            return mechs[i].id;
    }
    return MECH_OTHER;
}

/* The user name in a base64 SASL message of mechanism mech at step step
 * (1 = first client message), or NULL. */
static const char *sasl_user(packet_info *pinfo, guint8 mech, guint8 step, const guint8 *p, guint32 n)
{
    char *b64 = (char *)wmem_alloc(pinfo->pool, n + 1);
    guchar *raw;
    gsize len = 0, i, start = 0, field = 0;
    const char *user = NULL;

    memcpy(b64, p, n);
    b64[n] = 0;
    if (n == 0 || (n == 1 && p[0] == '*'))
        return NULL;
    raw = g_base64_decode(b64, &len);
    if (raw == NULL)
        return NULL;
    switch (mech) {
    case MECH_PLAIN: /* authzid NUL authcid NUL password */
        for (i = 0; i <= len; i++) {
            if (i == len || raw[i] == 0) {
                if (field == 1)
                    user = wmem_strndup(pinfo->pool, (const char *)raw + start, i - start);
                field++;
                start = i + 1;
            }
        }
        break;
    case MECH_LOGIN:
        if (step == 1)
            user = wmem_strndup(pinfo->pool, (const char *)raw, len);
        break;
    case MECH_CRAM_MD5: /* user SP digest */
        for (i = len; i > 0 && raw[i - 1] != ' '; i--)
            ;
        if (i > 1)
            user = wmem_strndup(pinfo->pool, (const char *)raw, i - 1);
        break;
    case MECH_XOAUTH2: /* user=NAME ^A auth=Bearer ... */
        if (len > 5 && memcmp(raw, "user=", 5) == 0) {
            for (i = 5; i < len && raw[i] != 1; i++)
                ;
            user = wmem_strndup(pinfo->pool, (const char *)raw + 5, i - 5);
        }
        break;
    default:
        break;
    }
    g_free(raw);
    if (user == NULL)
        return NULL;
    {
        gchar *valid = g_utf8_make_valid(user, -1);
        const char *kept = wmem_strdup(wmem_file_scope(), valid);
        g_free(valid);
        return kept;
    }
}

static smtpx_txn *txn_find(smtpx_conv *c, guint32 id)
{
    smtpx_txn *t = id ? c->txns[id % G_N_ELEMENTS(c->txns)] : NULL;
    return (t != NULL && t->id == id) ? t : NULL;
}

/* A command line's address (MAIL/RCPT), mechanism and user name (AUTH). */
static void track_command(smtpx_conv *c, packet_info *pinfo, tvbuff_t *tvb, const guint8 *buf,
                          smtpx_unit *u)
{
    const guint8 *p = buf + u->ev.off;
    guint32 n = u->ev.len;
    smtp_command cmd;

    while (n > 0 && (p[n - 1] == '\n' || p[n - 1] == '\r'))
        n--;
    smtp_parse_command(p, n, &cmd);
    if ((cmd.flags & SMTP_CMD_HAS_PATH) && u->pair != NULL)
        u->pair->addr = tvb_format_text(wmem_file_scope(), tvb, u->ev.off + cmd.path.off, cmd.path.len);
    if (cmd.verb == SMTP_VERB_MAIL && u->ev.txn != 0) {
        smtpx_txn *t = wmem_new0(wmem_file_scope(), smtpx_txn);
        t->id = u->ev.txn;
        t->first_frame = pinfo->num;
        t->start_ts = pinfo->abs_ts;
        t->sender = u->pair ? u->pair->addr : NULL;
        t->rcpts = wmem_array_new(wmem_file_scope(), sizeof(smtpx_rcpt));
        c->txns[t->id % G_N_ELEMENTS(c->txns)] = t;
    } else if (cmd.verb == SMTP_VERB_AUTH && cmd.arg.len > 0) {
        guint32 m = 0;
        while (m < cmd.arg.len && p[cmd.arg.off + m] != ' ')
            m++;
        c->auth_mech = mech_of(p + cmd.arg.off, m);
        c->auth_step = 0;
        if (m < cmd.arg.len) { /* initial response */
            guint32 r = cmd.arg.off + m;
            while (r < n && p[r] == ' ')
                r++;
            c->auth_step = 1;
            u->user = sasl_user(pinfo, c->auth_mech, 1, p + r, n - r);
        }
    }
}

static void track_sasl(smtpx_conv *c, packet_info *pinfo, const guint8 *buf, smtpx_unit *u)
{
    const guint8 *p = buf + u->ev.off;
    guint32 n = u->ev.len;

    while (n > 0 && (p[n - 1] == '\n' || p[n - 1] == '\r'))
        n--;
    if (c->auth_step < 255)
        c->auth_step++;
    u->user = sasl_user(pinfo, c->auth_mech, c->auth_step, p, n);
}

/* What a reply tells a transaction: a recipient's code, the final reply. */
static void track_reply(smtpx_conv *c, smtpx_unit *u, smtp_event *last_reply)
{
    smtpx_pair *q = u->pair;
    smtpx_txn *t = q ? txn_find(c, q->txn) : NULL;

    *last_reply = u->ev;
    if (t == NULL)
        return;
    if (q->verb_id == SMTP_VERB_RCPT) {
        smtpx_rcpt r;
        r.addr = q->addr;
        r.code = u->ev.code;
        wmem_array_append_one(t->rcpts, r);
    } else if (q->verb_id == SMTP_VERB_EOD && q->lmtp_index > 0) {
        /* LMTP: the reply is for the n-th accepted recipient */
        guint32 i, k = 0, count = wmem_array_get_count(t->rcpts);
        for (i = 0; i < count; i++) {
            smtpx_rcpt *r = (smtpx_rcpt *)wmem_array_index(t->rcpts, i);
            if (r->code / 100 == 2 && k++ == q->lmtp_index) {
                q->addr = r->addr;
                break;
            }
        }
    } else if (q->verb_id == SMTP_VERB_EOD && wmem_array_get_count(t->rcpts) > 0) {
        guint32 i, count = wmem_array_get_count(t->rcpts);
        for (i = 0; i < count; i++) { /* LMTP's first reply: the first accepted */
            smtpx_rcpt *r = (smtpx_rcpt *)wmem_array_index(t->rcpts, i);
            if (r->code / 100 == 2) {
                if (smtp_session_is_lmtp(&c->sess))
                    q->addr = r->addr;
                break;
            }
        }
    }
}

static void track_txn_end(smtpx_conv *c, packet_info *pinfo, tvbuff_t *tvb, smtpx_unit *u,
                          const smtp_event *last_reply)
{
    smtpx_txn *t = txn_find(c, u->ev.txn);

    if (t == NULL)
        return;
    t->outcome = u->ev.code;
    t->end_frame = pinfo->num;
    t->end_ts = pinfo->abs_ts;
    if (u->ev.dir == SMTP_DIR_SERVER && last_reply->type == SMTP_EV_REPLY) {
        const guint8 *lf = tvb_get_ptr(tvb, last_reply->off, last_reply->len);
        guint32 l1 = 0;
        while (l1 < last_reply->len && lf[l1] != '\r' && lf[l1] != '\n')
            l1++;
        t->final_code = last_reply->code;
        t->final_reply = tvb_format_text(wmem_file_scope(), tvb, last_reply->off, l1);
    }
    u->txn = t;
    c->txns[t->id % G_N_ELEMENTS(c->txns)] = NULL;
}

static void track_unit(smtpx_conv *c, packet_info *pinfo, tvbuff_t *tvb, const guint8 *buf,
                       smtpx_unit *u, smtp_event *last_reply)
{
    smtpx_txn *t;

    switch (u->ev.type) {
    case SMTP_EV_COMMAND:
        track_command(c, pinfo, tvb, buf, u);
        break;
    case SMTP_EV_SASL:
        track_sasl(c, pinfo, buf, u);
        break;
    case SMTP_EV_REPLY:
        track_reply(c, u, last_reply);
        break;
    case SMTP_EV_EOD:
    case SMTP_EV_CHUNK:
        if (u->msg != NULL && (t = txn_find(c, u->ev.txn)) != NULL)
            t->size = u->msg->len;
        break;
    case SMTP_EV_TXN_END:
        track_txn_end(c, pinfo, tvb, u, last_reply);
        break;
    default:
        break;
    }
}

/* Where this data stands in the TCP stream: skips bytes seen before
 * (retransmissions) and reports lost ones to the engine. */
static guint32 stream_position(smtpx_conv *c, int dir, const struct tcpinfo *ti,
                               guint32 len, smtpx_call *call)
{
    guint32 skip = 0;

    if (ti == NULL)
        return 0;
    if (c->next_seq_valid[dir]) {
        gint32 delta = (gint32)(ti->seq - c->next_seq[dir]);
        if (delta < 0)
            skip = (guint32)(-delta) < len ? (guint32)(-delta) : len;
        else if (delta > 0) {
            call->gap = 1;
            smtp_session_gap(&c->sess, dir, (uint64_t)delta);
        }
    }
    return skip;
}

static void run_engine(smtpx_conv *c, packet_info *pinfo, tvbuff_t *tvb, smtpx_call *call,
                       const struct tcpinfo *ti)
{
    guint32 len = tvb_captured_length(tvb);
    guint32 off;
    const guint8 *buf;
    wmem_array_t *units = wmem_array_new(pinfo->pool, sizeof(smtpx_unit));
    unsigned flags = pinfo->can_desegment ? 0 : SMTP_FEED_FLUSH;
    int dir = call->dir;
    smtp_event last_reply;

    memset(&last_reply, 0, sizeof last_reply);
    last_reply.type = SMTP_EV_ANOMALY; /* none yet */
    call->deseg_offset = -1;
    call->skip = stream_position(c, dir, ti, len, call);
    off = call->skip;
    buf = len ? tvb_get_ptr(tvb, 0, len) : NULL;
    while (off < len) {
        smtp_event ev[64];
        size_t nev = 0, i;
        int need_more = 0;
        size_t used = smtp_session_feed(&c->sess, dir, buf + off, len - off, flags,
                                        ev, G_N_ELEMENTS(ev), &nev, &need_more);
        for (i = 0; i < nev; i++) {
            smtpx_unit u;
            u.ev = ev[i];
            u.ev.off += off;
            u.msg = NULL;
            u.txn = NULL;
            u.user = NULL;
            u.pair = link_pair(c, pinfo, tvb, buf, &u.ev);
            collect_message(c, pinfo, buf, &u);
            track_unit(c, pinfo, tvb, buf, &u, &last_reply);
            wmem_array_append_one(units, u);
        }
        off += (guint32)used;
        if (need_more) {
            call->deseg_offset = (gint32)off;
            break;
        }
        if (used == 0 && nev == 0)
            break; /* cannot happen: the engine always progresses */
    }
    if (ti != NULL) {
        c->next_seq[dir] = ti->seq + off;
        c->next_seq_valid[dir] = 1;
    }
    call->nunits = wmem_array_get_count(units);
    call->units = call->nunits
        ? (smtpx_unit *)wmem_memdup(wmem_file_scope(), wmem_array_get_raw(units),
                                    call->nunits * sizeof(smtpx_unit))
        : NULL;
}

/* The saved record of this call of this frame; made on the first pass. */
static const smtpx_call *frame_call(smtpx_conv *c, packet_info *pinfo, tvbuff_t *tvb,
                                    const struct tcpinfo *ti, guint32 *index)
{
    guint32 *counter = (guint32 *)p_get_proto_data(pinfo->pool, pinfo, proto_smtpx, KEY_CALL_COUNTER);
    smtpx_call *call;
    guint32 idx;

    if (counter == NULL) {
        counter = wmem_new0(pinfo->pool, guint32);
        p_add_proto_data(pinfo->pool, pinfo, proto_smtpx, KEY_CALL_COUNTER, counter);
    }
    idx = (*counter)++;
    *index = idx;
    call = (smtpx_call *)p_get_proto_data(wmem_file_scope(), pinfo, proto_smtpx, KEY_CALL_BASE + idx);
    if (call != NULL || PINFO_FD_VISITED(pinfo))
        return call;
    call = wmem_new0(wmem_file_scope(), smtpx_call);
    call->dir = (guint8)direction(c, pinfo);
    run_engine(c, pinfo, tvb, call, ti);
    p_add_proto_data(wmem_file_scope(), pinfo, proto_smtpx, KEY_CALL_BASE + idx, call);
    return call;
}

static int dissect_common(tvbuff_t *tvb, packet_info *pinfo, proto_tree *tree,
                          const struct tcpinfo *ti, dissector_handle_t self)
{
    smtpx_conv *c;
    const smtpx_call *call;
    guint32 index;

    col_set_str(pinfo->cinfo, COL_PROTOCOL, "SMTP");
    if (pinfo->flags.in_error_pkt) {
        /* a segment quoted in an ICMP error: not part of the stream */
        proto_tree_add_item(tree, proto_smtp_builtin, tvb, 0, -1, ENC_NA);
        return tvb_captured_length(tvb);
    }
    c = get_conv(pinfo, tvb);
    call = frame_call(c, pinfo, tvb, ti, &index);
    if (index == 0)
        col_clear(pinfo->cinfo, COL_INFO);
    if (call == NULL)
        return tvb_captured_length(tvb);
    smtpx_render_call(tvb, pinfo, tree, call, imf_handle, tls_handle, self);
    if (call->deseg_offset >= 0) {
        pinfo->desegment_offset = call->deseg_offset;
        pinfo->desegment_len = DESEGMENT_ONE_MORE_SEGMENT;
    }
    return tvb_captured_length(tvb);
}

static int dissect_smtpx_tcp(tvbuff_t *tvb, packet_info *pinfo, proto_tree *tree, void *data)
{
    return dissect_common(tvb, pinfo, tree, (const struct tcpinfo *)data, smtpx_tls_handle);
}

static int dissect_smtpx_tls(tvbuff_t *tvb, packet_info *pinfo, proto_tree *tree, void *data)
{
    return dissect_common(tvb, pinfo, tree, NULL, smtpx_tls_handle);
}

/* ---- registration ---- */

void proto_register_smtpx(void)
{
    proto_smtpx = proto_register_protocol("SMTP Analysis (plugin)", "SMTP-Analysis", "smtpx");
    proto_smtp_builtin = proto_get_id_by_filter_name("smtp");
    if (proto_smtp_builtin == -1)
        proto_smtp_builtin = proto_smtpx;
    smtpx_register_fields();
    smtpx_register_taps();

    smtpx_register_prefs(); /* smtpx_register.c */

    smtpx_tcp_handle = register_dissector("smtpx", dissect_smtpx_tcp, proto_smtpx);
    smtpx_tls_handle = register_dissector("smtpx.tls", dissect_smtpx_tls, proto_smtpx);
}

void proto_reg_handoff_smtpx(void)
{
    smtpx_register_ports(); /* smtpx_register.c: TCP ports, TLS port */
    imf_handle = find_dissector_add_dependency("imf", proto_smtpx);
    tls_handle = find_dissector_add_dependency("tls", proto_smtpx);
    smtpx_imf_tap = find_tap_id("imf");
}
