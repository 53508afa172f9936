/* smtpx_track.c: what the first pass learns beyond pairing: mail
 * transactions (sender, recipients with their codes, the final reply, HELO,
 * TLS, AUTH user) and AUTH exchanges (user names, how they ended).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "smtpx.h"

#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include "smtp_auth.h"
#include "smtp_codes.h"
#include "smtp_frame.h"
#include "smtp_parse.h"

/* A string of the capture's, made valid UTF-8. */
static const char *kept_string(const guint8 *p, gsize n)
{
    gchar *valid;

    if (smtpx_ascii_text(p, (guint32)n)) /* valid as it is */
        return smtpx_strndup(smtpx_scope(), p, n);
    valid = g_utf8_make_valid((const gchar *)p, (gssize)n);
    const char *kept = wmem_strdup(smtpx_scope(), valid);
    g_free(valid);
    return kept;
}

static smtpx_txn *txn_find(smtpx_conv *c, guint32 id)
{
    smtpx_txn *t = id ? c->txns[id % G_N_ELEMENTS(c->txns)] : NULL;
    return (t != NULL && t->id == id) ? t : NULL;
}

/* Whether a word's 8 bytes are all plain; each test is true when some byte
 * is below 0x20 (borrow), 0x7f or above (its high bit once 1 is added; a
 * byte of 0xff carries on, but its own high bit already told), or a
 * backslash (a zero byte after the xor). */
static inline gboolean word_plain(guint64 w)
{
    const guint64 ones = G_GUINT64_CONSTANT(0x0101010101010101), high = ones * 0x80;
    guint64 bs = w ^ (ones * '\\');

    return !((((w - ones * 0x20) & ~w) | (w + ones) | w | ((bs - ones) & ~bs)) & high);
}

/* Whether none of a word's 8 bytes has its high bit set or is zero (borrow). */
static inline gboolean word_ascii(guint64 w)
{
    const guint64 ones = G_GUINT64_CONSTANT(0x0101010101010101), high = ones * 0x80;

    return !((w | ((w - ones) & ~w)) & high);
}

#ifdef __SSE2__
/* The bytes of a 16-byte vector that are not plain: below 0x20 or 0x80 and
 * above (negative as signed), 0x7f, a backslash; a mask, 0 when all are. */
static inline int vec_not_plain(__m128i v)
{
    __m128i bad = _mm_or_si128(_mm_cmplt_epi8(v, _mm_set1_epi8(0x20)),
                               _mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8(0x7f)),
                                            _mm_cmpeq_epi8(v, _mm_set1_epi8('\\'))));
    return _mm_movemask_epi8(bad);
}

/* Whether none of a vector's bytes is zero or 0x80 and above */
static inline int vec_not_ascii(__m128i v)
{
    return _mm_movemask_epi8(_mm_or_si128(v, _mm_cmpeq_epi8(v, _mm_setzero_si128())));
}
#endif

/* Bytes that tvb_format_text would give back as they are: printable ASCII
 * without a backslash.  16 bytes at a time with SSE2 (a line of 16 or more
 * ends with the vector of its last 16 bytes, some tested twice), else 8:
 * the same for words. */
gboolean smtpx_plain_text(const guint8 *p, guint32 len)
{
    guint32 i = 0;
    guint64 w;

#ifdef __SSE2__
    if (len >= 16) {
        for (; i + 16 <= len; i += 16)
            if (vec_not_plain(_mm_loadu_si128((const __m128i *)(const void *)(p + i))))
                return FALSE;
        return i == len || !vec_not_plain(_mm_loadu_si128((const __m128i *)(const void *)(p + len - 16)));
    }
#endif
    for (; i + 8 <= len; i += 8) {
        memcpy(&w, p + i, 8);
        if (!word_plain(w))
            return FALSE;
    }
    if (i < len && len >= 8) {
        memcpy(&w, p + len - 8, 8);
        return word_plain(w);
    }
    for (; i < len; i++)
        if (p[i] < 0x20 || p[i] > 0x7e || p[i] == '\\')
            return FALSE;
    return TRUE;
}

/* smtpx_plain_text, copying the bytes to dst (room for len) as it reads
 * them; dst's bytes are undefined when it is FALSE. */
gboolean smtpx_plain_copy(guint8 *dst, const guint8 *p, guint32 len)
{
#ifdef __SSE2__
    guint32 i = 0;

    if (len >= 16) {
        __m128i v;
        for (; i + 16 <= len; i += 16) {
            v = _mm_loadu_si128((const __m128i *)(const void *)(p + i));
            if (vec_not_plain(v))
                return FALSE;
            _mm_storeu_si128((__m128i *)(void *)(dst + i), v);
        }
        if (i < len) {
            v = _mm_loadu_si128((const __m128i *)(const void *)(p + len - 16));
            if (vec_not_plain(v))
                return FALSE;
            _mm_storeu_si128((__m128i *)(void *)(dst + len - 16), v);
        }
        return TRUE;
    }
#endif
    if (!smtpx_plain_text(p, len))
        return FALSE;
    memcpy(dst, p, len);
    return TRUE;
}

gboolean smtpx_ascii_text(const guint8 *p, guint32 len)
{
    guint32 i = 0;
    guint64 w;

#ifdef __SSE2__
    if (len >= 16) {
        for (; i + 16 <= len; i += 16)
            if (vec_not_ascii(_mm_loadu_si128((const __m128i *)(const void *)(p + i))))
                return FALSE;
        return i == len || !vec_not_ascii(_mm_loadu_si128((const __m128i *)(const void *)(p + len - 16)));
    }
#endif
    for (; i + 8 <= len; i += 8) {
        memcpy(&w, p + i, 8);
        if (!word_ascii(w))
            return FALSE;
    }
    if (i < len && len >= 8) {
        memcpy(&w, p + len - 8, 8);
        return word_ascii(w);
    }
    for (; i < len; i++)
        if (p[i] == 0 || p[i] >= 0x80)
            return FALSE;
    return TRUE;
}

char *smtpx_strndup(wmem_allocator_t *scope, const void *p, size_t n)
{
    char *s = (char *)wmem_alloc(scope, n + 1);

    if (n > 0)
        memcpy(s, p, n);
    s[n] = 0;
    return s;
}

const char *smtpx_kept_text(wmem_allocator_t *scope, packet_info *pinfo, tvbuff_t *tvb, guint32 off,
                            guint32 len)
{
    const guint8 *p = len > 0 ? tvb_get_ptr(tvb, off, len) : NULL;

    const char *text;

    if (p != NULL && smtpx_plain_text(p, len)) /* as tvb_format_text would give it */
        return scope != NULL ? smtpx_strndup(scope, p, len) : smtpx_live_strndup(p, len);
    /* tvb_format_text allocates for the worst case (every byte escaped) */
    text = tvb_format_text(pinfo->pool, tvb, off, len);
    return scope != NULL ? wmem_strdup(scope, text) : smtpx_live_strndup(text, strlen(text));
}

const char *smtpx_ntlm_name(wmem_allocator_t *scope, const guint8 *msg, guint32 off, guint32 len,
                            gboolean unicode)
{
    const char *name;
    gchar *utf8;

    if (!unicode) {
        utf8 = g_utf8_make_valid((const gchar *)msg + off, (gssize)len);
    } else {
        gunichar2 *u16 = g_new(gunichar2, len / 2 + 1);
        guint32 i;
        for (i = 0; i < len / 2; i++)
            u16[i] = (gunichar2)(msg[off + 2 * i] | msg[off + 2 * i + 1] << 8);
        utf8 = g_utf16_to_utf8(u16, (glong)(len / 2), NULL, NULL, NULL);
        g_free(u16);
        if (utf8 == NULL) /* unpaired surrogates: the bytes as they are, made valid */
            utf8 = g_utf8_make_valid((const gchar *)msg + off, (gssize)len);
    }
    name = wmem_strdup(scope, utf8);
    g_free(utf8);
    return name;
}

/* An NTLM AUTHENTICATE message's user as Windows writes it: DOMAIN\user. */
static const char *ntlm_user(wmem_allocator_t *tmp, const guint8 *raw, const smtp_ntlm_msg *nm)
{
    const char *user = smtpx_ntlm_name(smtpx_scope(), raw, nm->user.off, nm->user.len, nm->unicode);

    if (nm->domain.len == 0)
        return user;
    return wmem_strdup_printf(smtpx_scope(), "%s\\%s",
                              smtpx_ntlm_name(tmp, raw, nm->domain.off, nm->domain.len,
                                              nm->unicode), user);
}

/* A line of the AUTH exchange in progress: what it carried, kept with the
 * unit (the secret only when the user asked to see secrets). */
static void auth_line(smtpx_conv *c, packet_info *pinfo, smtpx_unit *u, const guint8 *p, guint32 n)
{
    smtpx_authref *ref;
    guint8 *raw;
    size_t len;
    smtp_sasl_info info;

    if (c->auth == NULL)
        return;
    ref = wmem_new0(smtpx_scope(), smtpx_authref);
    ref->auth = c->auth;
    u->data = ref;
    if (n == 0 || (n == 1 && p[0] == '*'))
        return;
    raw = (guint8 *)wmem_alloc(pinfo->pool, n + 1);
    len = smtp_base64_decode(p, n, raw, n + 1);
    if (len == (size_t)-1 ||
        !smtp_sasl_message((smtp_mech)c->auth_mech, c->auth_step, raw, len, &info))
        return;
    if (info.has_user) {
        smtp_ntlm_msg nm;
        if (c->auth_mech == SMTP_MECH_NTLM && smtp_ntlm_parse(raw, len, &nm) == 3)
            ref->user = ntlm_user(pinfo->pool, raw, &nm);
        else
            ref->user = kept_string(raw + info.user.off, info.user.len);
        if (c->auth->user == NULL) {
            c->auth->user = ref->user;
            c->auth->user_frame = pinfo->num;
        }
    }
    if (info.has_secret && smtpx_show_auth)
        ref->secret = kept_string(raw + info.secret.off, info.secret.len);
}

/* A command line's address (MAIL/RCPT), HELO name, mechanism and user
 * name (AUTH). */
static void track_command(smtpx_conv *c, packet_info *pinfo, tvbuff_t *tvb, const guint8 *buf,
                          smtpx_unit *u, const smtp_command *pc)
{
    const guint8 *p = buf + u->ev.off;
    const smtp_command *cmd = pc;

    /* only these verbs carry what is tracked: the engine said which it is */
    if (u->ev.verb != SMTP_VERB_MAIL && u->ev.verb != SMTP_VERB_RCPT && u->ev.verb != SMTP_VERB_AUTH &&
        u->ev.verb != SMTP_VERB_HELO && u->ev.verb != SMTP_VERB_EHLO && u->ev.verb != SMTP_VERB_LHLO)
        return;
    if ((cmd->flags & SMTP_CMD_HAS_PATH) && u->pair != NULL) {
        u->pair->addr = smtpx_kept_text(NULL, pinfo, tvb, u->ev.off + cmd->path.off,
                                        cmd->path.len);
        u->pair->owns_addr = cmd->verb == SMTP_VERB_RCPT;
    }
    if (cmd->verb == SMTP_VERB_MAIL && u->ev.txn != 0) {
        smtpx_txn *t = wmem_new0(smtpx_scope(), smtpx_txn);
        t->id = u->ev.txn;
        t->first_frame = pinfo->num;
        t->start_ts = pinfo->abs_ts;
        t->sender = u->pair ? u->pair->addr : NULL;
        t->helo = c->conn.helo;
        t->auth_user = c->conn.auth_user;
        t->tls = smtp_session_in_tls(&c->sess) || pinfo->match_uint == 465;
        c->txns[t->id % G_N_ELEMENTS(c->txns)] = t;
    } else if ((cmd->verb == SMTP_VERB_HELO || cmd->verb == SMTP_VERB_EHLO || cmd->verb == SMTP_VERB_LHLO) &&
               cmd->arg.len > 0) {
        c->conn.helo = kept_string(p + cmd->arg.off, cmd->arg.len);
    } else if (cmd->verb == SMTP_VERB_AUTH) {
        smtp_auth_cmd a;
        smtp_auth_parse(p + cmd->arg.off, cmd->arg.len, &a);
        c->auth = wmem_new0(smtpx_scope(), smtpx_auth);
        c->auth->mech = kept_string(p + cmd->arg.off + a.name.off, a.name.len);
        c->auth_mech = (guint8)a.mech;
        c->auth->mech_id = (guint8)a.mech;
        c->auth_step = a.has_initial ? 1 : 0;
        auth_line(c, pinfo, u, p + cmd->arg.off + a.initial.off, a.initial.len);
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
    auth_line(c, pinfo, u, p, n);
}

/* The enhanced status of a reply's first line (rl, spans from p) into
 * to, "" if none. */
static void reply_status(char to[10], const guint8 *p, const smtp_reply_line *rl)
{
    guint32 n = rl->status.len < 10 ? rl->status.len : 0;

    memcpy(to, p + rl->status.off, n);
    to[n] = 0;
}

/* LMTP: the reply to the message for the transaction's i-th listed
 * recipient. */
static void delivery_set(smtpx_txn *t, guint32 i, const guint8 *buf, const smtpx_unit *u,
                         const smtp_reply_line *rl)
{
    if (t->dlv == NULL) {
        t->dlv = (smtpx_delivery *)smtpx_live_alloc0((size_t)t->nlist * sizeof(smtpx_delivery));
        t->ndlv = t->nlist;
    }
    if (i >= t->ndlv)
        return;
    t->dlv[i].code = u->ev.code;
    reply_status(t->dlv[i].status, buf + u->ev.off, rl);
}

/* Room for an open transaction's next recipient (see smtpx_txn.list). */
static smtpx_rcpt *rcpt_add(smtpx_txn *t)
{
    guint32 n = t->nlist;

    if (n == 0)
        t->list = (smtpx_rcpt *)smtpx_live_alloc(4 * sizeof(smtpx_rcpt));
    else if (n >= 4 && (n & (n - 1)) == 0)
        t->list = (smtpx_rcpt *)smtpx_live_realloc(t->list, (size_t)n * 2 * sizeof(smtpx_rcpt));
    t->nlist = n + 1;
    return &t->list[n];
}

/* What a reply tells a transaction (a recipient's code and status) or an
 * AUTH exchange (how it ended). */
static void track_reply(smtpx_conv *c, packet_info *pinfo, const guint8 *buf, smtpx_unit *u,
                        const smtp_reply_line *rl, smtpx_last_reply *last)
{
    smtpx_pair *q = u->pair;
    smtpx_txn *t = q ? txn_find(c, q->txn) : NULL;

    last->ev = u->ev;
    last->first = *rl;
    if ((u->ev.verb == SMTP_VERB_AUTH || u->ev.verb == SMTP_VERB_SASL) && u->ev.code == 334 &&
        c->auth != NULL) {
        /* a challenge: its exchange's mechanism tells how to show it */
        smtpx_authref *ref = wmem_new0(smtpx_scope(), smtpx_authref);
        ref->auth = c->auth;
        ref->role = SMTPX_AUTH_CHALLENGE;
        u->data = ref;
    }
    if ((u->ev.verb == SMTP_VERB_AUTH || u->ev.verb == SMTP_VERB_SASL) && u->ev.code != 334 &&
        c->auth != NULL) {
        /* the reply that ends the exchange */
        c->auth->result = u->ev.code / 100 == 2 ? "succeeded"
                          : (c->auth_step > 0 && u->ev.code == 501) ? "cancelled or malformed"
                          : "failed";
        c->auth->result_frame = pinfo->num;
        if (u->ev.code / 100 == 2)
            c->conn.auth_user = c->auth->user;
        {
            smtpx_authref *ref = wmem_new0(smtpx_scope(), smtpx_authref);
            ref->auth = c->auth;
            ref->role = SMTPX_AUTH_END;
            u->data = ref;
        }
        c->auth = NULL;
    }
    if (q != NULL && q->verb_id == SMTP_VERB_RCPT) {
        /* a recipient: counted, and listed (its address passed on to the
         * transaction) while the summary has room; not listed, the address
         * goes with the pair (pair_free) */
        if (t != NULL) {
            if (u->ev.code / 100 == 2)
                t->rcpt_ok++;
            else
                t->rcpt_bad++;
            if (t->nlist < smtpx_max_summary_rcpts || smtp_session_is_lmtp(&c->sess)) {
                smtpx_rcpt *r = rcpt_add(t);
                r->addr = q->addr;
                r->code = u->ev.code;
                reply_status(r->status, buf + u->ev.off, rl);
                q->owns_addr = 0; /* the transaction's now */
            }
        }
        return;
    }
    if (t == NULL)
        return;
    if (q->verb_id == SMTP_VERB_EOD && q->lmtp_index > 0) {
        /* LMTP: the reply is for the n-th accepted recipient */
        guint32 i, k = 0;
        for (i = 0; i < t->nlist; i++) {
            const smtpx_rcpt *r = &t->list[i];
            if (r->code / 100 == 2 && k++ == q->lmtp_index) {
                q->addr = r->addr;
                delivery_set(t, i, buf, u, rl);
                break;
            }
        }
    } else if (q->verb_id == SMTP_VERB_EOD && t->nlist > 0) {
        guint32 i;
        for (i = 0; i < t->nlist; i++) { /* LMTP's first reply: the first accepted */
            const smtpx_rcpt *r = &t->list[i];
            if (r->code / 100 == 2) {
                if (smtp_session_is_lmtp(&c->sess)) {
                    q->addr = r->addr;
                    delivery_set(t, i, buf, u, rl);
                }
                break;
            }
        }
    }
}

/* A string moved to *at (NULL stays NULL), its old room freed. */
static const char *move_string(char **at, const char *str)
{
    char *to = *at;
    size_t n;

    if (str == NULL)
        return NULL;
    n = strlen(str) + 1;
    memcpy(to, str, n);
    *at += n;
    smtpx_live_free((void *)str);
    return to;
}

static size_t string_room(const char *str)
{
    return str != NULL ? strlen(str) + 1 : 0;
}

/* An ended transaction keeps its recipients and strings in one block
 * instead of an array that grew and a chunk per string.  In LMTP the end of
 * data's records point at the recipients' addresses, so those stay where
 * they are (the list is made all the same). */
static void txn_compact(smtpx_txn *t, gboolean move_strings)
{
    smtpx_rcpt *old = t->list; /* the open list, in the live scope */
    guint32 n = t->nlist, i;
    size_t bytes = n * sizeof(smtpx_rcpt);
    char *at;

    if (move_strings) {
        bytes += string_room(t->sender);
        for (i = 0; i < n; i++)
            bytes += string_room(old[i].addr);
    }
    t->list = bytes ? (smtpx_rcpt *)wmem_alloc(smtpx_scope(), bytes) : NULL;
    if (n > 0) {
        memcpy(t->list, old, n * sizeof(smtpx_rcpt));
        smtpx_live_free(old);
    }
    if (t->dlv != NULL) {
        smtpx_delivery *d = (smtpx_delivery *)wmem_alloc(smtpx_scope(), t->ndlv * sizeof(smtpx_delivery));
        memcpy(d, t->dlv, t->ndlv * sizeof(smtpx_delivery));
        smtpx_live_free(t->dlv);
        t->dlv = d;
    }
    if (!move_strings)
        return;
    at = (char *)(t->list + n);
    t->sender = move_string(&at, t->sender);
    for (i = 0; i < n; i++) {
        t->list[i].addr = move_string(&at, t->list[i].addr);
    }
}

void smtpx_track_txn_end(smtpx_conv *c, packet_info *pinfo, tvbuff_t *tvb, smtpx_unit *u,
                          const smtpx_last_reply *last) /* tvb NULL: no reply in it */
{
    smtpx_txn *t = txn_find(c, u->ev.txn);

    if (t == NULL)
        return;
    t->outcome = u->ev.code;
    if (tvb != NULL && u->ev.dir == SMTP_DIR_SERVER && last->ev.type == SMTP_EV_REPLY)
        t->final_code = last->ev.code;
    u->data = t;
    c->txns[t->id % G_N_ELEMENTS(c->txns)] = NULL;
    txn_compact(t, !smtp_session_is_lmtp(&c->sess));
}

void smtpx_track_unit(smtpx_conv *c, packet_info *pinfo, tvbuff_t *tvb, const guint8 *buf,
                       smtpx_unit *u, const smtp_parsed *parsed, smtpx_last_reply *last)
{
    smtpx_txn *t;

    switch (u->ev.type) {
    case SMTP_EV_COMMAND:
        track_command(c, pinfo, tvb, buf, u, &parsed->cmd);
        break;
    case SMTP_EV_SASL:
        track_sasl(c, pinfo, buf, u);
        break;
    case SMTP_EV_REPLY:
        track_reply(c, pinfo, buf, u, &parsed->reply, last);
        break;
    case SMTP_EV_EOD:
    case SMTP_EV_CHUNK:
        if ((UNIT_MSG(u) != NULL || (u->ev.flags & SMTPX_EVF_MSG_HERE)) && (t = txn_find(c, u->ev.txn)) != NULL)
            t->size = c->msg_done_len;
        break;
    case SMTP_EV_TXN_END:
        smtpx_track_txn_end(c, pinfo, tvb, u, last);
        break;
    default:
        break;
    }
}
