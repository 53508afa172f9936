/* smtpx_render.c: turns a call's saved engine events into tree items, the
 * Info column, expert infos and the message hand-off to IMF.  Runs on every
 * pass; it changes no conversation state.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "smtpx.h"

#include <string.h>

#include <epan/exceptions.h>
#include <epan/proto_data.h>
#include <epan/show_exception.h>
#include <epan/tap.h>

#include "smtp_auth.h"
#include "smtp_codes.h"
#include "smtp_frame.h"
#include "smtp_parse.h"

WS_DLL_PUBLIC guint32 ssl_starttls_post_ack(dissector_handle_t tls_handle, packet_info *pinfo,
                                            dissector_handle_t app_handle);

/* "X.YYY.ZZZ" and its NUL */
#define SMTP_STATUS_TEXT_MAX 12

typedef struct render_ctx {
    tvbuff_t *tvb;
    packet_info *pinfo;
    proto_tree *tree;  /* the caller's tree (for IMF) */
    proto_tree *st;    /* our subtree, NULL without a tree */
    proto_item *last;  /* item of the last unit, for its anomalies */
    gboolean info;     /* the Info column is wanted */
    char *infobuf;     /* Info text of this call not yet in the column (COL_MAX_INFO_LEN) */
    size_t infolen;
    char *spare;       /* when infobuf is in pinfo's pool, to become the
                          column's own text: the buffer for what comes after */
    smtpx_info_state *ist; /* the frame's Info state, once looked up */
    gboolean legacy;   /* the built-in's field names are wanted (visible tree, filter, -e) */
    gboolean visible;  /* the tree is shown (labels are read): -V, the GUI's details */
    /* groups of items someone wants (a shown tree, or a filter, column or
     * tap using one of their fields); a group no one wants is not even
     * faked item by item */
    gboolean want_cmd, want_lines, want_status, want_pairing;
    const guint8 *buf; /* the call's bytes */
    guint32 hole_from, hole_len; /* of them, those not kept (smtpx_call) */
    const smtp_parsed *parsed; /* the first pass's parse of COMMAND and REPLY units, or NULL */
} render_ctx;

/* Content length of a line span: without its LF or CRLF. */
static guint32 content_len(const guint8 *p, guint32 len)
{
    if (len > 0 && p[len - 1] == '\n')
        len--;
    if (len > 0 && p[len - 1] == '\r')
        len--;
    return len;
}

/* A text field of the bytes at OFF (P points at them).  Wireshark turns a
 * tvb range into UTF-8 one byte at a time through a string buffer; text of
 * bytes 0x01-0x7f (nearly every SMTP line) reads the same in UTF-8, so it is
 * copied whole and given as the value: the same item at a fraction of the
 * cost.  Anything else (8-bit text, NUL) still goes through the conversion,
 * which shows invalid UTF-8 as U+FFFD.  An item no one looks at is faked by
 * proto_tree_add_item as before. */
static proto_item *add_text_z(wmem_allocator_t *scope, proto_tree *t, int hf, tvbuff_t *tvb,
                              const guint8 *p, guint32 off, guint32 len, gboolean nul_after)
{
    char small[256];
    char *s;

    if (t == NULL || !proto_field_is_referenced(t, hf))
        return proto_tree_add_item(t, hf, tvb, off, len, ENC_UTF_8);
    if (!smtpx_ascii_text(p, len))
        return proto_tree_add_item(t, hf, tvb, off, len, ENC_UTF_8);
    if (nul_after) /* p[len] is a NUL already: no copy (a message of megabytes) */
        return proto_tree_add_string(t, hf, tvb, off, len, (const char *)p);
    s = len < sizeof small ? small : (char *)wmem_alloc(scope, len + 1);
    if (len > 0)
        memcpy(s, p, len);
    s[len] = 0;
    return proto_tree_add_string(t, hf, tvb, off, len, s);
}

static proto_item *add_text(wmem_allocator_t *scope, proto_tree *t, int hf, tvbuff_t *tvb,
                            const guint8 *p, guint32 off, guint32 len)
{
    return add_text_z(scope, t, hf, tvb, p, off, len, FALSE);
}

/* The same for the call's bytes. */
#define ADD_TEXT(r, t, hf, off, len) \
    add_text((r)->pinfo->pool, (t), (hf), (r)->tvb, (r)->buf + (off), (off), (len))

typedef smtpx_info_state info_state;

static info_state *info_get(render_ctx *r)
{
    if (r->ist == NULL)
        r->ist = smtpx_frame_info(r->pinfo);
    return r->ist;
}

/* The separator before this frame's next Info text: none before the first
 * (TCP's own notes, behind a fence, are not ours to separate from). */
static const char *info_sep(render_ctx *r)
{
    info_state *st = info_get(r);

    if (st->started)
        return " | ";
    st->started = TRUE;
    return "";
}

/* Info text of the call is gathered and put into the column at once
 * (info_flush: at the end of the call and before a dissector that may write
 * the column is called).  Appending line by line made a frame of a hundred
 * pipelined commands scan the growing column once per line.  What this
 * plugin writes past COL_MAX_INFO_LEN would be cut off: it is not kept. */
SMTPX_INLINE void info_put(render_ctx *r, info_state *st, const char *text, size_t n)
{
    /* the column holds at most COL_MAX_INFO_LEN - 1 characters */
    size_t room = (size_t)COL_MAX_INFO_LEN - 1 - r->infolen;

    if (st->written >= COL_MAX_INFO_LEN - 1)
        return;
    if (G_UNLIKELY(n > room)) {
        memcpy(r->infobuf + r->infolen, text, room);
        r->infolen += room;
        st->written += (guint32)room;
        return;
    }
    memcpy(r->infobuf + r->infolen, text, n); /* a literal's n: copied inline */
    r->infolen += n;
    st->written += (guint32)n;
}

SMTPX_INLINE void info_add(render_ctx *r, const char *text, size_t n)
{
    if (r->info)
        info_put(r, info_get(r), text, n);
}

/* A string, a number: the frequent texts put together without the cost of
 * g_vsnprintf (about 1,000 instructions a call); a literal without strlen */
#define info_addl(r, lit) info_add((r), "" lit, sizeof(lit) - 1)
static void info_adds(render_ctx *r, const char *text)
{
    if (r->info)
        info_add(r, text, strlen(text));
}

/* v in decimal, written backwards from end: where it starts */
static const char *uint_text(char *end, guint32 v)
{
    do {
        *--end = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    return end;
}

/* The separator before this frame's next Info text (info_sep) */
static void info_add_sep(render_ctx *r)
{
    if (*info_sep(r) != 0)
        info_addl(r, " | ");
}

static void info_addu(render_ctx *r, guint32 v)
{
    char buf[10];
    const char *s = uint_text(buf + sizeof buf, v);

    if (r->info)
        info_add(r, s, (size_t)(buf + sizeof buf - s));
}

static void info_addf(render_ctx *r, const char *fmt, ...) G_GNUC_PRINTF(2, 3);
static void info_addf(render_ctx *r, const char *fmt, ...)
{
    char buf[256];
    va_list ap;
    int n;

    if (!r->info)
        return;
    va_start(ap, fmt);
    n = g_vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (n >= (int)sizeof buf) { /* long: format again into the pool */
        char *big;
        va_start(ap, fmt);
        big = wmem_strdup_vprintf(r->pinfo->pool, fmt, ap);
        va_end(ap);
        info_add(r, big, strlen(big));
    } else if (n > 0) {
        info_add(r, buf, (size_t)n);
    }
}

static void info_flush(render_ctx *r)
{
    info_state *st = info_get(r);

    if (st->clear_pending) {
        /* the frame's first text replaces the column's (a pointer to a
         * copy in pinfo's pool, not a copy into the column) */
        st->clear_pending = FALSE;
        if (r->infolen > 0 && r->spare != NULL) { /* the text is in the pool already */
            r->infobuf[r->infolen] = 0;
            col_set_str(r->pinfo->cinfo, COL_INFO, r->infobuf);
        } else if (r->infolen > 0) {
            col_set_str(r->pinfo->cinfo, COL_INFO, smtpx_strndup(r->pinfo->pool, r->infobuf, r->infolen));
        } else
            col_clear(r->pinfo->cinfo, COL_INFO);
        if (r->spare != NULL) {
            r->infobuf = r->spare;
            r->spare = NULL;
        }
        r->infolen = 0;
        return;
    }
    if (r->infolen > 0) {
        r->infobuf[r->infolen] = 0;
        col_append_str(r->pinfo->cinfo, COL_INFO, r->infobuf);
        r->infolen = 0;
    }
}

/* "C: line" or "S: line" into the Info column.  A line of printable ASCII
 * other than backslash (nearly all of them) reads the same escaped as not,
 * so it is copied as it is instead of going through tvb_format_text's
 * escaping, a byte at a time into a pool string. */
#define info_line(r, prefix, off, len) info_line_n((r), " | " prefix, sizeof(" | " prefix) - 1, (off), (len))
static void info_line_n(render_ctx *r, const char *sep_prefix, size_t sep_prefix_len, guint32 off, guint32 len)
{
    const guint8 *p;
    info_state *st;

    if (!r->info)
        return;
    st = info_get(r);
    if (st->written >= COL_MAX_INFO_LEN - 1)
        return;
    if (st->started) /* as info_sep: " | " before the prefix */
        info_put(r, st, sep_prefix, sep_prefix_len);
    else
        info_put(r, st, sep_prefix + 3, sep_prefix_len - 3);
    st->started = TRUE;
    p = r->buf + off;
    /* plain (nearly always) and with room: checked as it is copied */
    if (len <= (size_t)COL_MAX_INFO_LEN - 1 - r->infolen && st->written < COL_MAX_INFO_LEN - 1 &&
        smtpx_plain_copy((guint8 *)r->infobuf + r->infolen, p, len)) {
        r->infolen += len;
        st->written += len;
    } else if (smtpx_plain_text(p, len)) {
        info_put(r, st, (const char *)p, len);
    } else {
        const char *text = tvb_format_text(r->pinfo->pool, r->tvb, off, len);
        info_put(r, st, text, strlen(text));
    }
}

/* ---- commands ---- */

static void command_details(render_ctx *r, proto_tree *t, guint32 off, const smtp_command *c)
{
    unsigned i;

    ADD_TEXT(r, t, hf_command_verb, off + c->verb_span.off, c->verb_span.len);
    if (c->arg.len > 0)
        ADD_TEXT(r, t, hf_command_parameter, off + c->arg.off, c->arg.len);
    if ((c->flags & SMTP_CMD_HAS_PATH) && c->path.len == 0) /* the null path reads <> */
        proto_tree_add_string(t, hf_command_address, r->tvb, off + c->path.off, 0, "<>");
    else if (c->flags & SMTP_CMD_HAS_PATH)
        ADD_TEXT(r, t, hf_command_address, off + c->path.off, c->path.len);
    for (i = 0; i < c->nparams; i++)
        ADD_TEXT(r, t, hf_command_esmtp, off + c->params[i].off, c->params[i].len);
    if (c->verb == SMTP_VERB_MAIL && c->size > 0)
        proto_tree_add_uint64(t, hf_command_size, r->tvb, off + c->arg.off, c->arg.len, c->size);
    if (c->verb == SMTP_VERB_BDAT && (c->flags & SMTP_CMD_BDAT_OK)) {
        proto_tree_add_uint64(t, hf_command_chunk_size, r->tvb, off + c->arg.off, c->arg.len, c->size);
        proto_tree_add_boolean(t, hf_command_last, r->tvb, off + c->arg.off, c->arg.len,
                               (c->flags & SMTP_CMD_BDAT_LAST) != 0);
    }
}

/* Links to the reply, or (LMTP end of data) to each per-recipient reply.
 * Once the whole capture has been seen (a visited frame), a command with no
 * reply is said to be unanswered. */
static void response_in(render_ctx *r, proto_tree *t, const smtpx_pair *p)
{
    guint32 last = 0;

    for (; p != NULL; p = p->next) {
        if (p->rsp_frame != 0 && p->rsp_frame != last) {
            proto_item *it = proto_tree_add_uint(t, hf_command_response_in, r->tvb, 0, 0, p->rsp_frame);
            proto_item_set_generated(it);
            last = p->rsp_frame;
        }
    }
}

/* A command with no reply in the whole capture: known once the capture has
 * been read (a visited frame); raised with or without a tree. */
static void unanswered(render_ctx *r, const smtpx_pair *p)
{
    if (p != NULL && p->rsp_frame == 0 && PINFO_FD_VISITED(r->pinfo))
        expert_add_info(r->pinfo, r->st != NULL ? r->last : NULL, &ei_never_answered);
}

/* The built-in dissector's field names, hidden, for old filters. */
static void legacy_command(render_ctx *r, proto_tree *t, guint32 off, guint32 len,
                           const smtp_command *c)
{
    proto_item_set_hidden(proto_tree_add_boolean(t, hf_legacy_req, r->tvb, off, 0, TRUE));
    proto_item_set_hidden(ADD_TEXT(r, t, hf_legacy_command_line, off, len));
    proto_item_set_hidden(ADD_TEXT(r, t, hf_legacy_req_command, off + c->verb_span.off, c->verb_span.len));
    if (c->arg.len > 0)
        proto_item_set_hidden(ADD_TEXT(r, t, hf_legacy_req_parameter, off + c->arg.off, c->arg.len));
}

/* The credentials tap and the tree's user/password items for an AUTH line. */
static void auth_items(render_ctx *r, proto_tree *t, const smtpx_unit *u, guint32 clen)
{
    const smtpx_authref *a = UNIT_AUTH(u);

    if (a == NULL)
        return;
    /* a user name whose exchange got no reply in the whole capture goes to
     * -z credentials here; the others with the reply that ends them */
    if (a->user != NULL && a->auth->result == NULL && PINFO_FD_VISITED(r->pinfo))
        smtpx_tap_credential(r->pinfo, a->user, "no reply in the capture", a->auth->mech_id);
    if (t == NULL)
        return;
    if (a->user != NULL)
        proto_item_set_generated(proto_tree_add_string(t, hf_auth_username, r->tvb, u->ev.off, clen, a->user));
    if (a->secret != NULL && smtpx_show_auth)
        proto_item_set_generated(proto_tree_add_string(t, hf_auth_password, r->tvb, u->ev.off, clen, a->secret));
}

/* Is this unit part of an NTLM exchange? */
static gboolean is_ntlm(const smtpx_unit *u)
{
    const smtpx_authref *a = UNIT_AUTH(u);
    return a != NULL && a->auth->mech_id == SMTP_MECH_NTLM;
}

/* An NTLM message (MS-NLMP), BASE64 at off..off+len of the call's bytes:
 * decoded into a data source of its own and handed to Wireshark's NTLMSSP
 * dissector, as the built-in SMTP dissector does, on every pass with or
 * without a tree (NTLMSSP keeps the challenge for the AUTHENTICATE message
 * and reports credentials).  An AUTHENTICATE message carries the challenge
 * responses, which are password equivalents for offline guessing: only with
 * the show_auth preference; otherwise its domain, user and host are shown
 * here.  Returns the message type (0: not NTLMSSP). */
static unsigned render_ntlm(render_ctx *r, proto_tree *t, const smtpx_unit *u, guint32 off, guint32 len)
{
    guint8 *raw;
    size_t n;
    smtp_ntlm_msg nm;
    tvbuff_t *nt;

    if (len == 0)
        return 0;
    raw = (guint8 *)wmem_alloc(r->pinfo->pool, len);
    n = smtp_base64_decode(r->buf + off, len, raw, len);
    if (n == (size_t)-1 || smtp_ntlm_parse(raw, n, &nm) == 0)
        return 0;
    if (nm.type == 3 && !smtpx_show_auth) {
        const smtpx_authref *a = UNIT_AUTH(u);
        if (r->info)
            info_addf(r, ", NTLMSSP_AUTH, User: %s", a != NULL && a->user != NULL ? a->user : "");
        if (t != NULL) {
            if (nm.domain.len > 0)
                proto_item_set_generated(proto_tree_add_string(t, hf_auth_domain, r->tvb, off, len,
                    smtpx_ntlm_name(r->pinfo->pool, raw, nm.domain.off, nm.domain.len, nm.unicode)));
            if (nm.host.len > 0)
                proto_item_set_generated(proto_tree_add_string(t, hf_auth_host, r->tvb, off, len,
                    smtpx_ntlm_name(r->pinfo->pool, raw, nm.host.off, nm.host.len, nm.unicode)));
        }
        return 3;
    }
    if (smtpx_ntlmssp_handle == NULL)
        return nm.type;
    nt = tvb_new_child_real_data(r->tvb, raw, (guint)n, (gint)n);
    add_new_data_source(r->pinfo, nt, "Decoded NTLMSSP");
    TRY {
        info_flush(r);
        call_dissector(smtpx_ntlmssp_handle, nt, r->pinfo, t);
    }
    CATCH_NONFATAL_ERRORS {
        /* a malformed message: said here; the frame's other lines go on */
        show_exception(nt, r->pinfo, t, EXCEPT_CODE, GET_MESSAGE);
    }
    ENDTRY;
    return nm.type;
}

static void render_command(render_ctx *r, const smtpx_unit *u, const smtp_command *pc)
{
    const guint8 *p = r->buf + u->ev.off;
    guint32 clen = content_len(p, u->ev.len);
    smtp_command c;
    smtp_auth_cmd a;
    proto_tree *t;
    guint32 shown = clen;

    if (r->st == NULL && u->ev.verb != SMTP_VERB_AUTH) {
        /* no tree: the Info column and the tap need no parse */
        info_line(r, "C: ", u->ev.off, clen);
        unanswered(r, u->pair);
        return;
    }
    if (pc != NULL)
        c = *pc; /* the engine's parse of this line, on the first pass */
    else
        smtp_parse_command(p, clen, &c);
    memset(&a, 0, sizeof a);
    if (c.verb == SMTP_VERB_AUTH) {
        /* AUTH mechanism [initial-response]: the response carries credentials */
        smtp_auth_parse(p + c.arg.off, c.arg.len, &a);
        if (a.has_initial && !smtpx_show_auth && a.mech != SMTP_MECH_NTLM) {
            shown = c.arg.off + a.name.off + a.name.len;
            c.arg.len = shown - c.arg.off;
        }
    }
    info_line(r, "C: ", u->ev.off, shown);
    if (r->info && shown < clen)
        info_addf(r, "%s", " (initial response hidden)");
    t = NULL;
    if (r->st != NULL) {
        r->last = ADD_TEXT(r, r->st, hf_command, u->ev.off, shown);
        if (shown < clen)
            proto_item_append_text(r->last, " (initial response hidden; see the show_auth preference)");
        t = proto_item_add_subtree(r->last, ett_command);
        if (r->want_cmd)
            command_details(r, t, u->ev.off, &c);
        if ((c.verb == SMTP_VERB_HELO || c.verb == SMTP_VERB_EHLO || c.verb == SMTP_VERB_LHLO) &&
            c.arg.len > 0)
            ADD_TEXT(r, t, hf_helo, u->ev.off + c.arg.off, c.arg.len);
        if (c.verb == SMTP_VERB_AUTH && a.name.len > 0)
            ADD_TEXT(r, t, hf_auth_mechanism, u->ev.off + c.arg.off + a.name.off, a.name.len);
    }
    if (c.verb == SMTP_VERB_AUTH && a.mech == SMTP_MECH_NTLM && a.initial.len > 0)
        render_ntlm(r, t, u, u->ev.off + c.arg.off + a.initial.off, a.initial.len);
    auth_items(r, t, u, clen);
    if (t == NULL) {
        unanswered(r, u->pair);
        return;
    }
    if (r->legacy)
        legacy_command(r, t, u->ev.off, shown, &c);
    unanswered(r, u->pair);
    response_in(r, t, u->pair);
}

static void render_sasl(render_ctx *r, const smtpx_unit *u)
{
    guint32 clen = content_len(r->buf + u->ev.off, u->ev.len);
    /* NTLM's messages carry no password: NTLMSSP (or render_ntlm) says
     * what they are; the others are hidden without show_auth */
    gboolean ntlm = is_ntlm(u);
    proto_tree *t = NULL;

    if (r->info) {
        if (smtpx_show_auth)
            info_line(r, "C: AUTH response: ", u->ev.off, clen);
        else
            info_addf(r, "%sC: AUTH response%s", info_sep(r),
                            ntlm ? "" : " (hidden)");
    }
    if (r->st != NULL) {
        r->last = proto_tree_add_none_format(r->st, hf_auth_response, r->tvb, u->ev.off, u->ev.len,
                                             "AUTH response: %u bytes%s", clen,
                                             smtpx_show_auth || ntlm ? "" : " (hidden; see the show_auth preference)");
        t = proto_item_add_subtree(r->last, ett_command);
        if (smtpx_show_auth)
            ADD_TEXT(r, t, hf_auth_data, u->ev.off, clen);
    }
    if (ntlm && render_ntlm(r, t, u, u->ev.off, clen) == 3 && !smtpx_show_auth && t != NULL)
        proto_item_append_text(r->last, ", NTLMSSP_AUTH (its challenge responses hidden; see the show_auth preference)");
    auth_items(r, t, u, clen);
    if (t == NULL) {
        unanswered(r, u->pair);
        return;
    }
    if (r->legacy)
        proto_item_set_hidden(proto_tree_add_boolean(t, hf_legacy_req, r->tvb, u->ev.off, 0, TRUE));
    unanswered(r, u->pair);
    response_in(r, t, u->pair);
}

/* ---- replies ---- */

/* A label put together piece by piece, then given to Wireshark as "%s":
 * glibc's vsnprintf costs about 1,700 instructions for the reply's
 * five-argument label and 600 for one string.  Kept whole up to twice
 * Wireshark's label length, so that a text too long for a label is still
 * longer than one, and is cut and marked [truncated] as before. */
typedef struct label_text {
    char s[2 * ITEM_LABEL_LENGTH];
    size_t n;
    gboolean plain; /* every piece is text that Wireshark would copy as it is */
} label_text;

#define LABEL_INIT(b) ((b).n = 0, (b).plain = TRUE)

/* Text of this plugin or of the knowledge base: printable ASCII without a
 * backslash (test_codes.c checks every text of the knowledge base). */
static void label_put(label_text *b, const char *t, size_t n)
{
    n = MIN(n, sizeof b->s - 1 - b->n);
    memcpy(b->s + b->n, t, n);
    b->n += n;
    b->s[b->n] = 0;
}

static void label_puts(label_text *b, const char *t)
{
    label_put(b, t, strlen(t));
}

/* Text from the capture: checked. */
static void label_puts_data(label_text *b, const char *t)
{
    size_t n = strlen(t);

    if (b->plain && !smtpx_plain_text((const guint8 *)t, (guint32)n))
        b->plain = FALSE;
    label_put(b, t, n);
}

static void label_putu(label_text *b, guint32 v)
{
    char buf[10];
    const char *s = uint_text(buf + sizeof buf, v);

    label_put(b, s, (size_t)(buf + sizeof buf - s));
}

/* " (t)" */
static void label_paren(label_text *b, const char *t)
{
    label_puts(b, " (");
    label_puts(b, t);
    label_puts(b, ")");
}

/* A label written straight into the item, as the _format calls with "%s"
 * would make it, without printf (glibc's vsnprintf costs 1,500 to 3,000
 * instructions for a label, and _format_value runs it twice in 4.0).  Only
 * for what those calls copy as it is: printable ASCII that fits a label
 * whole.  Anything else (a text to escape or to cut and mark [truncated])
 * still goes through the _format call, so that stays Wireshark's own.
 * value: the text is the value, after the field's name and ": "
 * (_format_value); otherwise it is the whole label. */
static gboolean label_direct_ok(int hf, const label_text *b, gboolean value)
{
#ifdef SMTPX_FORMAT_LABELS /* the reference build, whose output is compared with this one's */
    (void)hf;
    (void)b;
    (void)value;
    return FALSE;
#else
    size_t pre = value ? strlen(proto_registrar_get_nth(hf)->name) + 2 : 0;

    return b->plain && pre + b->n < ITEM_LABEL_LENGTH;
#endif
}

static proto_item *label_direct(proto_item *it, const label_text *b, gboolean value)
{
    field_info *fi = it != NULL ? PITEM_FINFO(it) : NULL;
    size_t pre = 0;
    char *d;

    /* a tree no one sees fakes items (the item may be its parent), and
     * Wireshark labels neither those nor hidden ones */
    if (fi == NULL || !PTREE_DATA(it)->visible || proto_item_is_hidden(it))
        return it;
    fi->rep = wmem_new(PNODE_POOL(it), item_label_t);
    d = fi->rep->representation;
    if (value) {
        pre = strlen(fi->hfinfo->name);
        memcpy(d, fi->hfinfo->name, pre);
        d[pre++] = ':';
        d[pre++] = ' ';
    }
    memcpy(d + pre, b->s, b->n);
    d[pre + b->n] = 0;
#if SMTPX_ITEM_LABEL_VALUE_POS
    /* a whole label's value starts after the field's name when the label
     * starts with it (and after its ": "), as Wireshark sets it */
    if (!value) {
        size_t nl = strlen(fi->hfinfo->name);
        if (strncmp(d, fi->hfinfo->name, nl) == 0) {
            pre = nl;
            if (d[pre] == ':' && d[pre + 1] == ' ')
                pre += 2;
        }
    }
    fi->rep->value_pos = pre;
    fi->rep->value_len = strlen(d) - pre;
#endif
    return it;
}

#ifdef SMTPX_LABEL_TRACE
/* Check builds: every label set through the functions below, as Wireshark
 * keeps it, on stderr (with -DSMTPX_FORMAT_LABELS: as Wireshark makes it),
 * so that the two builds' traces can be compared. */
static proto_item *label_trace(proto_item *it)
{
    field_info *fi = it != NULL ? PITEM_FINFO(it) : NULL;

    if (fi != NULL && fi->rep != NULL)
#if SMTPX_ITEM_LABEL_VALUE_POS
        fprintf(stderr, "label %s [%zu,%zu] %s\n", fi->hfinfo->abbrev, fi->rep->value_pos,
                fi->rep->value_len, fi->rep->representation);
#else
        fprintf(stderr, "label %s %s\n", fi->hfinfo->abbrev, fi->rep->representation);
#endif
    return it;
}
#else
#define label_trace(it) (it)
#endif

static proto_item *add_none_label(proto_tree *t, int hf, tvbuff_t *tvb, gint off, gint len,
                                  const label_text *b)
{
    if (label_direct_ok(hf, b, FALSE))
        return label_trace(label_direct(proto_tree_add_item(t, hf, tvb, off, len, ENC_NA), b, FALSE));
    return label_trace(proto_tree_add_none_format(t, hf, tvb, off, len, "%s", b->s));
}

static proto_item *add_uint_label(proto_tree *t, int hf, tvbuff_t *tvb, gint off, gint len,
                                  guint32 v, const label_text *b, gboolean value)
{
    if (label_direct_ok(hf, b, value))
        return label_trace(label_direct(proto_tree_add_uint(t, hf, tvb, off, len, v), b, value));
    if (value)
        return label_trace(proto_tree_add_uint_format_value(t, hf, tvb, off, len, v, "%s", b->s));
    return label_trace(proto_tree_add_uint_format(t, hf, tvb, off, len, v, "%s", b->s));
}

static proto_item *add_string_label(proto_tree *t, int hf, tvbuff_t *tvb, gint off, gint len,
                                    const char *v, const label_text *b)
{
    if (label_direct_ok(hf, b, TRUE))
        return label_trace(label_direct(proto_tree_add_string(t, hf, tvb, off, len, v), b, TRUE));
    return label_trace(proto_tree_add_string_format_value(t, hf, tvb, off, len, v, "%s", b->s));
}

/* The enhanced status: class, subject and detail one line each, with the
 * IANA title ("Class: Permanent Failure (5)", "Detail: Bad destination
 * mailbox address (1)"); the titles are also fields of their own, hidden. */
static void render_status(render_ctx *r, proto_tree *t, guint32 off, const smtp_reply_line *rl)
{
    const char *cls = smtp_status_class_name(rl->st_class);
    const char *sub = smtp_status_subject_name(rl->st_subject);
    const char *det = smtp_status_detail_name(rl->st_subject, rl->st_detail);
    guint32 so = off + rl->status.off, sl = rl->status.len;
    char text[SMTP_STATUS_TEXT_MAX];
    proto_item *it;
    proto_tree *st;

    /* the parser took digits and dots only, at most 3.999.999 */
    memcpy(text, r->buf + so, MIN(sl, sizeof text - 1));
    text[MIN(sl, sizeof text - 1)] = 0;
    if (det != NULL && r->visible) {
        label_text b; /* "%s (%s)" */
        LABEL_INIT(b);
        label_puts(&b, text);
        label_paren(&b, det);
        it = add_string_label(t, hf_reply_status, r->tvb, so, sl, text, &b);
    } else
        it = proto_tree_add_string(t, hf_reply_status, r->tvb, so, sl, text);
    st = proto_item_add_subtree(it, ett_reply_status);
    /* class and subject are named by their fields' value strings when the
     * label is shown; the detail's title depends on the subject too */
    proto_tree_add_uint(st, hf_reply_status_class, r->tvb, so, sl, rl->st_class);
    proto_tree_add_uint(st, hf_reply_status_subject, r->tvb, so, sl, rl->st_subject);
    if (r->visible) {
        label_text b; /* "%s (%u)" */
        LABEL_INIT(b);
        label_puts(&b, det ? det : "Unregistered");
        label_puts(&b, " (");
        label_putu(&b, rl->st_detail);
        label_puts(&b, ")");
        add_uint_label(st, hf_reply_status_detail, r->tvb, so, sl, rl->st_detail, &b, TRUE);
    } else
        proto_tree_add_uint(st, hf_reply_status_detail, r->tvb, so, sl, rl->st_detail);
    if (cls != NULL)
        proto_item_set_hidden(proto_tree_add_string(st, hf_reply_status_class_meaning, r->tvb, so, sl, cls));
    if (sub != NULL)
        proto_item_set_hidden(proto_tree_add_string(st, hf_reply_status_subject_meaning, r->tvb, so, sl, sub));
    if (det != NULL)
        proto_item_set_hidden(proto_tree_add_string(st, hf_reply_status_detail_meaning, r->tvb, so, sl, det));
}

/* A reply code's name and meaning for the command it answers, each made
 * once per code and command and kept for the process (a few dozen pairs
 * in real traffic; the table stops growing at REPLY_TEXTS_MAX, after which
 * texts are made each time into the caller's buffers): formatting the
 * meaning cost about 700 instructions a reply in a shown tree. */
#define REPLY_TEXTS_MAX 4096
typedef struct reply_texts {
    const char *name, *meaning;
} reply_texts;

static reply_texts reply_texts_of(unsigned code, smtp_verb ctx, char *name_buf, char *meaning_buf)
{
    static GHashTable *made;
    reply_texts t, *kept;
    gpointer key;
    size_t nl, ml;

    if (code > 999 || (unsigned)ctx >= SMTP_VERB_COUNT) {
        smtp_reply_format_name(code, ctx, name_buf, SMTP_REPLY_TEXT_MAX);
        smtp_reply_format_meaning(code, ctx, meaning_buf, SMTP_REPLY_TEXT_MAX);
        t.name = name_buf;
        t.meaning = meaning_buf;
        return t;
    }
    key = GUINT_TO_POINTER(code * SMTP_VERB_COUNT + (unsigned)ctx + 1u);
    if (made == NULL)
        made = g_hash_table_new(g_direct_hash, g_direct_equal);
    kept = (reply_texts *)g_hash_table_lookup(made, key);
    if (kept != NULL)
        return *kept;
    nl = MIN(smtp_reply_format_name(code, ctx, name_buf, SMTP_REPLY_TEXT_MAX), SMTP_REPLY_TEXT_MAX - 1);
    ml = MIN(smtp_reply_format_meaning(code, ctx, meaning_buf, SMTP_REPLY_TEXT_MAX), SMTP_REPLY_TEXT_MAX - 1);
    t.name = name_buf;
    t.meaning = meaning_buf;
    if (g_hash_table_size(made) >= REPLY_TEXTS_MAX)
        return t;
    kept = (reply_texts *)g_malloc(sizeof *kept + nl + 1 + ml + 1);
    kept->name = memcpy((char *)(kept + 1), name_buf, nl + 1);
    kept->meaning = memcpy((char *)(kept + 1) + nl + 1, meaning_buf, ml + 1);
    g_hash_table_insert(made, key, kept);
    return *kept;
}

/* Code, category, function and meaning, the meaning for the command the
 * reply answers (a generic one, with a note, when the code is unusual for
 * it).  Texts are made only when someone looks. */
static void render_code(render_ctx *r, proto_tree *t, guint32 off, unsigned code, smtp_verb ctx,
                        const char *name, const char *meaning)
{
    if (!r->visible) {
        /* a filter or a field printer: values only, no labels */
        proto_tree_add_uint(t, hf_reply_code, r->tvb, off, 3, code);
        proto_tree_add_uint(t, hf_reply_category, r->tvb, off, 1, code / 100);
        proto_tree_add_uint(t, hf_reply_function, r->tvb, off + 1, 1, (code / 10) % 10);
        if (proto_field_is_referenced(t, hf_reply_meaning)) {
            char nbuf[SMTP_REPLY_TEXT_MAX], mbuf[SMTP_REPLY_TEXT_MAX];
            reply_texts texts = reply_texts_of(code, ctx, nbuf, mbuf);
            if (texts.meaning[0] != 0)
                proto_tree_add_string(t, hf_reply_meaning, r->tvb, off, 3, texts.meaning);
        }
        return;
    }
    {
        label_text b; /* "%u (%s)" */
        LABEL_INIT(b);
        label_putu(&b, code);
        label_paren(&b, name);
        add_uint_label(t, hf_reply_code, r->tvb, off, 3, code, &b, TRUE);
    }
    proto_item_set_generated(proto_tree_add_uint(t, hf_reply_category, r->tvb, off, 1, code / 100));
    proto_item_set_generated(proto_tree_add_uint(t, hf_reply_function, r->tvb, off + 1, 1, (code / 10) % 10));
    if (meaning[0] != 0)
        proto_item_set_generated(proto_tree_add_string(t, hf_reply_meaning, r->tvb, off, 3, meaning));
}

static void render_pairing(render_ctx *r, proto_tree *t, const smtpx_pair *p, const smtp_event *ev)
{
    proto_item *it;
    nstime_t delta;

    if (p == NULL) {
        /* answers a command whose line was lost (the end of data) */
        if (ev->seq != 0)
            proto_item_set_generated(proto_tree_add_string(t, hf_reply_command, r->tvb, 0, 0,
                                                           smtp_verb_name((smtp_verb)ev->verb)));
        return;
    }
    it = proto_tree_add_string(t, hf_reply_command, r->tvb, 0, 0, p->verb);
    proto_item_set_generated(it);
    if (p->req_frame == 0)
        return;
    it = proto_tree_add_uint(t, hf_reply_request_in, r->tvb, 0, 0, p->req_frame);
    proto_item_set_generated(it);
    nstime_delta(&delta, &r->pinfo->abs_ts, &p->req_ts);
    it = proto_tree_add_time(t, hf_reply_time, r->tvb, 0, 0, &delta);
    proto_item_set_generated(it);
}

static void legacy_reply_line(render_ctx *r, proto_tree *t, guint32 off, guint32 len,
                              const smtp_reply_line *rl, int first)
{
    proto_item_set_hidden(ADD_TEXT(r, t, hf_legacy_response, off, len));
    if (first) /* the built-in gives the code once per reply */
        proto_item_set_hidden(proto_tree_add_uint(t, hf_legacy_response_code, r->tvb, off, 3, rl->code));
    if (rl->text.len > 0)
        proto_item_set_hidden(ADD_TEXT(r, t, hf_legacy_rsp_parameter, off + rl->text.off, rl->text.len));
}

/* One line of an EHLO reply after the first: an extension keyword with its
 * parameters; SIZE's limit and AUTH's mechanisms get their own fields. */
static void ehlo_extension(render_ctx *r, proto_tree *t, guint32 off, const guint8 *line,
                           const smtp_reply_line *rl)
{
    const guint8 *x = line + rl->text.off;
    guint32 n = rl->text.len, kw = 0, i;
    proto_item *it = ADD_TEXT(r, t, hf_ehlo_extension, off + rl->text.off, n);
    proto_tree *et = proto_item_add_subtree(it, ett_command);

    unsigned ext = smtp_ehlo_keyword(x, n); /* the knowledge base's keywords, any case */

    while (kw < n && x[kw] != ' ' && x[kw] != '=')
        kw++;
    if (ext == SMTP_EXT_SIZE) {
        guint64 v = 0;
        for (i = kw + 1; i < n && g_ascii_isdigit(x[i]) && v < G_GUINT64_CONSTANT(100000000000000000); i++)
            v = v * 10 + (guint64)(x[i] - '0');
        proto_tree_add_uint64(et, hf_ehlo_size, r->tvb, off + rl->text.off, n, v);
    } else if (ext == SMTP_EXT_AUTH) {
        i = kw;
        while (i < n) {
            guint32 w;
            while (i < n && (x[i] == ' ' || x[i] == '='))
                i++;
            w = i;
            while (w < n && x[w] != ' ')
                w++;
            if (w > i)
                ADD_TEXT(r, et, hf_ehlo_auth_mechanism, off + rl->text.off + i, w - i);
            i = w;
        }
    }
}

/* Adds every line of the reply; fills first with the first line. */
/* The reply's lines; the first one's parse is given. */
static void render_reply_lines(render_ctx *r, proto_tree *t, const smtpx_unit *u,
                               const smtp_reply_line *first)
{
    guint32 off = 0, n = u->ev.len;
    const guint8 *p = r->buf + u->ev.off;
    int i = 0;
    int ehlo = (u->ev.verb == SMTP_VERB_EHLO || u->ev.verb == SMTP_VERB_LHLO) && u->ev.code / 100 == 2;

    while (off < n) {
        smtp_line ln;
        long got;
        smtp_reply_line rl;
        int ok;
        if (r->hole_len > 0 && u->ev.off + off == r->hole_from) {
            /* whole lines of earlier segments, not kept: their bytes */
            if (r->want_lines)
                proto_item_set_generated(proto_tree_add_uint(t, hf_reply_lines_not_kept, r->tvb, r->hole_from,
                                                             r->hole_len, r->hole_len));
            off += r->hole_len;
            i++;
            continue;
        }
        got = smtp_frame_line(p + off, n - off, n - off, &ln);
        if (got <= 0)
            break;
        if (r->want_lines) {
            proto_item *li = ADD_TEXT(r, t, hf_reply_line, u->ev.off + off, ln.len);
            if (u->ev.nlines <= 1) /* the reply's own line says it already */
                proto_item_set_hidden(li);
        }
        if (i == 0) {
            rl = *first;
            ok = rl.code != 0;
        } else {
            ok = smtp_parse_reply_line(p + off, ln.len, &rl);
        }
        if (ok && r->legacy)
            legacy_reply_line(r, t, u->ev.off + off, ln.len, &rl, i == 0);
        if (ok && i > 0 && ehlo && rl.text.len > 0 && r->want_lines)
            ehlo_extension(r, t, u->ev.off + off, p + off, &rl);
        i++;
        off += (guint32)got;
    }
}

/* The command a reply's code is read for: a reply to BDAT LAST answers for
 * the whole message (RFC 3030 2), so where the knowledge base has words for
 * the end of data's reply (250: the message accepted) it reads as that;
 * "Answers command" still says BDAT. */
static smtp_verb reply_ctx(const smtp_event *ev)
{
    if (ev->verb == SMTP_VERB_BDAT && (ev->flags & SMTP_EVF_LAST) &&
        smtp_reply_has_context(ev->code, SMTP_VERB_EOD))
        return SMTP_VERB_EOD;
    return (smtp_verb)ev->verb;
}

static void reply_expert(render_ctx *r, const smtpx_unit *u, const char *name)
{
    unsigned d1 = u->ev.code / 100;
    const char *verb = u->pair ? u->pair->verb : "no command";
    char own[SMTP_REPLY_TEXT_MAX];

    if (d1 != 4 && d1 != 5)
        return;
    if (smtpx_expert_tap == 0) /* tap ids start at 1; 0: not found (yet) */
        smtpx_expert_tap = find_tap_id("expert");
    if (r->tree == NULL && (smtpx_expert_tap == 0 || !have_tap_listener(smtpx_expert_tap))) {
        /* no tree to show the text in and no expert tap to hand it to (the
         * packet list, tshark without -z expert): the frame's severity and
         * its Expert column are all that show, so the text is not made
         * (its formatting was about 2,000 instructions a negative reply).
         * Without an Expert column, what is left is the file's highest
         * severity (the GUI's status bar): once this plugin has raised one
         * as high, another changes nothing (about 1,000 instructions). */
        int severity = d1 == 4 ? SEVERITY_OF_ei_reply_transient : SEVERITY_OF_ei_reply_permanent;
        if (severity <= smtpx_quiet_severity && !col_get_writable(r->pinfo->cinfo, COL_EXPERT))
            return;
        expert_add_info(r->pinfo, NULL, d1 == 4 ? &ei_reply_transient : &ei_reply_permanent);
        if (severity > smtpx_quiet_severity)
            smtpx_quiet_severity = severity;
        return;
    }
    if (name == NULL) {
        char mbuf[SMTP_REPLY_TEXT_MAX];
        name = reply_texts_of(u->ev.code, reply_ctx(&u->ev), own, mbuf).name;
    }
    if (d1 == 4)
        expert_add_info_format(r->pinfo, r->last, &ei_reply_transient,
                               "Transient negative reply %u (%s) to %s", u->ev.code, name, verb);
    else
        expert_add_info_format(r->pinfo, r->last, &ei_reply_permanent,
                               "Permanent negative reply %u (%s) to %s", u->ev.code, name, verb);
}

static void queue_tap(render_ctx *r, const smtpx_unit *u, const guint8 *p, const smtp_reply_line *rl)
{
    smtpx_tap_reply *t;

    if (!have_tap_listener(smtpx_tap))
        return;
    t = wmem_new0(r->pinfo->pool, smtpx_tap_reply);
    t->code = u->ev.code;
    t->verb_id = u->ev.verb;
    if (u->pair != NULL) {
        t->verb = u->pair->verb;
        t->has_request = u->pair->req_frame != 0;
        t->req_ts = u->pair->req_ts;
        t->req_frame = u->pair->req_frame;
    }
    if (rl->status.len > 0) {
        t->status = smtpx_strndup(r->pinfo->pool, p + rl->status.off, rl->status.len);
        t->st_subject = rl->st_subject;
        t->st_detail = rl->st_detail;
    }
    tap_queue_packet(smtpx_tap, r->pinfo, t);
}

/* pp: the engine's parse of the first line (first pass), else NULL */
static void render_reply(render_ctx *r, const smtpx_unit *u, const smtp_parsed *pp)
{
    const guint8 *p = r->buf + u->ev.off;
    smtp_verb ctx;
    const smtpx_authref *auth = UNIT_AUTH(u);
    const guint8 *lf = memchr(p, '\n', u->ev.len);
    guint32 l1 = content_len(p, lf ? (guint32)(lf - p) + 1 : u->ev.len);
    smtp_reply_line own;
    const smtp_reply_line *first = &own;
    proto_tree *t;
    char name[SMTP_REPLY_TEXT_MAX], mbuf[SMTP_REPLY_TEXT_MAX];
    reply_texts texts;

    /* the first line parsed once: by the engine on the first pass, here on
     * later ones when anything reads it */
    if (pp != NULL) {
        first = &pp->reply;
    } else {
        memset(&own, 0, sizeof own);
        if ((r->st != NULL || have_tap_listener(smtpx_tap) ||
             (auth != NULL && auth->role == SMTPX_AUTH_CHALLENGE && is_ntlm(u))) &&
            !smtp_parse_reply_line(p, l1, &own))
            memset(&own, 0, sizeof own);
    }
    if (r->info) {
        info_line(r, "S: ", u->ev.off, l1);
        if (u->ev.nlines > 1) {
            info_addl(r, " (+");
            info_addu(r, u->ev.nlines - 1u);
            info_addl(r, " lines)");
        }
    }
    queue_tap(r, u, p, first);
    /* the reply that ends an AUTH exchange: -z credentials learns how */
    if (auth != NULL && auth->role == SMTPX_AUTH_END && auth->auth->user != NULL)
        smtpx_tap_credential(r->pinfo, auth->auth->user, auth->auth->result, auth->auth->mech_id);
    if (r->st == NULL) {
        if (auth != NULL && auth->role == SMTPX_AUTH_CHALLENGE && is_ntlm(u) && first->code != 0)
            render_ntlm(r, NULL, u, u->ev.off + first->text.off, first->text.len);
        if (u->ev.code / 100 == 4 || u->ev.code / 100 == 5) /* reply_expert's only ones */
            reply_expert(r, u, NULL);
        return;
    }
    ctx = reply_ctx(&u->ev);
    /* the code's name and meaning, for the labels, only when they are shown */
    if (r->visible) {
        texts = reply_texts_of(u->ev.code, ctx, name, mbuf);
    } else {
        name[0] = mbuf[0] = 0;
        texts.name = name;
        texts.meaning = mbuf;
    }
    if (r->visible) { /* the label only when shown; the line as it is when plain */
        const char *cat = smtp_category_name(u->ev.code / 100);
        const char *c1 = cat ? cat : "Unknown category";
        int n1 = (int)l1;
        const char *line = smtpx_plain_text(p, l1) ? (const char *)p
                         : tvb_format_text(r->pinfo->pool, r->tvb, u->ev.off, l1);
        label_text b; /* "Reply: %.*s (%s: %s)[, %u lines]" */
        if (line != (const char *)p)
            n1 = (int)strlen(line);
        LABEL_INIT(b);
        b.plain = line == (const char *)p; /* else escaped: Wireshark's own call */
        label_puts(&b, "Reply: ");
        label_put(&b, line, (size_t)n1);
        label_puts(&b, " (");
        label_puts(&b, c1);
        label_puts(&b, ": ");
        label_puts(&b, texts.name);
        label_puts(&b, ")");
        if (u->ev.nlines > 1) {
            label_puts(&b, ", ");
            label_putu(&b, u->ev.nlines);
            label_puts(&b, " lines");
        }
        r->last = add_none_label(r->st, hf_reply, r->tvb, u->ev.off, u->ev.len, &b);
    } else
        r->last = proto_tree_add_item(r->st, hf_reply, r->tvb, u->ev.off, u->ev.len, ENC_NA);
    t = proto_item_add_subtree(r->last, ett_reply);
    if (r->legacy)
        proto_item_set_hidden(proto_tree_add_boolean(t, hf_legacy_rsp, r->tvb, u->ev.off, 0, TRUE));
    render_code(r, t, u->ev.off, u->ev.code, ctx, texts.name, texts.meaning);
    if (r->want_lines || r->legacy)
        render_reply_lines(r, t, u, first);
    if (ctx == SMTP_VERB_CONNECT && u->ev.code == 220 && first->text.len > 0)
        ADD_TEXT(r, t, hf_greeting_host, u->ev.off + first->text.off, smtp_reply_domain(p + first->text.off, first->text.len).len);
    if (ctx == SMTP_VERB_EOD && u->pair != NULL && u->pair->addr != NULL)
        proto_item_set_generated(proto_tree_add_string(t, hf_reply_recipient, r->tvb, u->ev.off,
                                                       u->ev.len, u->pair->addr));
    if (first->status.len > 0 && r->want_status)
        render_status(r, t, u->ev.off, first);
    if (auth != NULL && auth->role == SMTPX_AUTH_CHALLENGE && is_ntlm(u) && first->text.len > 0)
        render_ntlm(r, t, u, u->ev.off + first->text.off, first->text.len);
    if (auth != NULL && auth->role == SMTPX_AUTH_END && auth->auth->result != NULL)
        proto_item_set_generated(proto_tree_add_string(t, hf_auth_result, r->tvb, u->ev.off, 3,
                                                       auth->auth->result));
    if (r->want_pairing)
        render_pairing(r, t, u->pair, &u->ev);
    reply_expert(r, u, texts.name[0] ? texts.name : NULL);
}

/* ---- message bytes ---- */

/* A message that came whole in this call (SMTPX_EVF_MSG_HERE): its units'
 * bytes put together again, in pinfo's pool, as the first pass collected
 * them (smtpx_message.c): DATA's body units before the end of data, then
 * without the dot-stuffing; BDAT's chunks up to the last. */
static const smtpx_message *message_here(render_ctx *r, const smtpx_call *call, guint32 at,
                                         smtpx_message *m)
{
    const smtpx_unit *end = &call->units[at];
    guint8 want = end->ev.type == SMTP_EV_EOD ? SMTP_EV_BODY : SMTP_EV_CHUNK;
    guint32 last = want == SMTP_EV_CHUNK ? at + 1 : at, i, n = 0;

    memset(m, 0, sizeof *m);
    for (i = 0; i < last; i++) {
        const smtp_event *ev = &call->units[i].ev;
        if (ev->type == want && ev->msg == end->ev.msg)
            n += ev->len;
    }
    m->data = (guint8 *)wmem_alloc(r->pinfo->pool, (gsize)n + 1);
    for (i = 0; i < last; i++) {
        const smtp_event *ev = &call->units[i].ev;
        if (ev->type == want && ev->msg == end->ev.msg && ev->len > 0) {
            tvb_memcpy(r->tvb, m->data + m->len, ev->off, ev->len);
            m->len += ev->len;
        }
    }
    if (want == SMTP_EV_BODY)
        m->len = (guint32)smtp_unstuff(m->data, m->data, m->len);
    m->data[m->len] = 0;
    if (m->len == 0)
        m->data = NULL;
    m->first_frame = r->pinfo->num;
    m->frames = 1;
    return m;
}

/* The whole message: an item holding its text (the built-in's smtp.message
 * is a string too), then IMF, with or without a tree, so that Export
 * Objects lists every message. */
static void render_message(render_ctx *r, const smtpx_call *call, guint32 at, dissector_handle_t imf)
{
    const smtpx_unit *u = &call->units[at];
    const smtpx_message *m = UNIT_MSG(u);
    smtpx_message here;
    tvbuff_t *t;
    gboolean want_imf;

    if (m == NULL && !(u->ev.flags & SMTPX_EVF_MSG_HERE))
        return;
    want_imf = imf != NULL && (r->tree != NULL || have_tap_listener(smtpx_imf_tap));
    if (r->st == NULL && !want_imf) {
        if (m != NULL && m->truncated)
            expert_add_info(r->pinfo, NULL, &ei_message_truncated);
        return;
    }
    if (m == NULL) /* made again only for those who look at it */
        m = message_here(r, call, at, &here);
    t = tvb_new_child_real_data(r->tvb, m->data ? m->data : (const guint8 *)"", m->len, m->len);
    add_new_data_source(r->pinfo, t, "SMTP message");
    {
        proto_item *it = NULL;
        if (r->st != NULL) {
            proto_tree *mt;
            it = add_text_z(r->pinfo->pool, r->st, hf_message, t, m->data ? m->data : (const guint8 *)"",
                            0, m->len, TRUE);
            proto_item_set_text(it, "Message: %u bytes in %u frame%s", m->len, m->frames,
                                m->frames == 1 ? "" : "s");
            proto_item_set_generated(it);
            mt = proto_item_add_subtree(it, ett_body);
            proto_item_set_generated(proto_tree_add_uint(mt, hf_message_length, r->tvb, 0, 0, m->len));
            proto_item_set_generated(proto_tree_add_uint(mt, hf_message_first_frame, r->tvb, 0, 0, m->first_frame));
            proto_item_set_generated(proto_tree_add_uint(mt, hf_message_frames, r->tvb, 0, 0, m->frames));
        }
        if (m->truncated)
            expert_add_info(r->pinfo, it, &ei_message_truncated);
    }
    if (!want_imf)
        return;
    /* IMF would write every header into the columns: the frame's columns
     * stay SMTP's, the same with or without a tree */
    info_flush(r);
    if (r->pinfo->cinfo != NULL) {
        gboolean was = col_get_writable(r->pinfo->cinfo, -1);
        col_set_writable(r->pinfo->cinfo, -1, FALSE);
        call_dissector(imf, t, r->pinfo, r->tree);
        col_set_writable(r->pinfo->cinfo, -1, was);
    } else {
        call_dissector(imf, t, r->pinfo, r->tree);
    }
}

static void render_body(render_ctx *r, const smtpx_unit *u, int hf, int hf_len, const char *what)
{
    proto_tree *t;

    if (r->info) { /* "[ | ]C: <what>, <n> bytes", put together here and added at once */
        char text[72], num[10];
        size_t n = 6, w = strlen(what), d;
        const char *digits = uint_text(num + sizeof num, u->ev.len);
        d = (size_t)(num + sizeof num - digits);
        if (w > sizeof text - 6 - 2 - sizeof num - 6)
            w = sizeof text - 6 - 2 - sizeof num - 6;
        memcpy(text, " | C: ", 6);
        memcpy(text + n, what, w);
        n += w;
        memcpy(text + n, ", ", 2);
        n += 2;
        memcpy(text + n, digits, d);
        n += d;
        memcpy(text + n, " bytes", 6);
        n += 6;
        if (*info_sep(r) != 0) /* the separator before it, if the frame has text before */
            info_add(r, text, n);
        else
            info_add(r, text + 3, n - 3);
    }
    if (r->st == NULL)
        return;
    if (r->visible) {
        label_text b; /* "%s: %u bytes" */
        LABEL_INIT(b);
        label_puts(&b, what);
        label_puts(&b, ": ");
        label_putu(&b, u->ev.len);
        label_puts(&b, " bytes");
        r->last = add_none_label(r->st, hf, r->tvb, u->ev.off, u->ev.len, &b);
    } else
        r->last = proto_tree_add_item(r->st, hf, r->tvb, u->ev.off, u->ev.len, ENC_NA);
    t = proto_item_add_subtree(r->last, ett_body);
    proto_tree_add_uint(t, hf_len, r->tvb, u->ev.off, u->ev.len, u->ev.len);
}

static void render_eod(render_ctx *r, const smtpx_unit *u)
{
    proto_tree *t;

    if (r->info) {
        if (*info_sep(r) != 0)
            info_addl(r, " | C: . (end of data)");
        else
            info_addl(r, "C: . (end of data)");
    }
    if (r->st == NULL) {
        unanswered(r, u->pair);
        return;
    }
    r->last = proto_tree_add_item(r->st, hf_eod, r->tvb, u->ev.off, u->ev.len, ENC_NA);
    t = proto_item_add_subtree(r->last, ett_command);
    unanswered(r, u->pair);
    response_in(r, t, u->pair);
}

static void render_fragment(render_ctx *r, const smtpx_unit *u)
{
    const char *why = smtp_anomaly_summary((smtp_anomaly)u->ev.code);

    if (r->info)
        info_addf(r, "%s%s: %s, %u bytes", info_sep(r),
                            u->ev.dir == SMTP_DIR_SERVER ? "S" : "C",
                            (u->ev.flags & SMTP_EVF_CONT) ? "continuation" : "unparsed", u->ev.len);
    if (r->st == NULL)
        return;
    r->last = proto_tree_add_item(r->st, hf_unparsed, r->tvb, u->ev.off, u->ev.len, ENC_NA);
    proto_item_append_text(r->last, " (%s)", (u->ev.flags & SMTP_EVF_CONT) ? "rest of a line shown in pieces" : why);
}

/* ---- transactions ---- */

/* The reply that ended a transaction: its first line and status, read
 * from the last reply before unit i of the call (where the first pass
 * found it). */
static void final_reply(render_ctx *r, proto_tree *tt, const smtpx_call *call, guint32 i)
{
    const smtpx_unit *u = NULL;
    const guint8 *p;
    const guint8 *lf;
    guint32 l1 = 0, j = i;
    smtp_reply_line first;

    while (j > 0 && u == NULL) {
        j--;
        if (call->units[j].ev.type == SMTP_EV_REPLY)
            u = &call->units[j];
    }
    if (u == NULL)
        return;
    p = r->buf + u->ev.off;
    while (l1 < u->ev.len && p[l1] != '\r' && p[l1] != '\n')
        l1++;
    proto_item_set_generated(proto_tree_add_string(tt, hf_txn_final_reply, r->tvb, 0, 0,
                                                   tvb_format_text(r->pinfo->pool, r->tvb, u->ev.off, l1)));
    if (r->parsed != NULL && u->ev.type == SMTP_EV_REPLY) {
        first = r->parsed[j].reply;
    } else {
        lf = memchr(p, '\n', u->ev.len);
        if (!smtp_parse_reply_line(p, content_len(p, lf ? (guint32)(lf - p) + 1 : u->ev.len), &first))
            return;
    }
    if (first.status.len > 0)
        proto_item_set_generated(proto_tree_add_string(tt, hf_txn_final_status, r->tvb, 0, 0,
            smtpx_strndup(r->pinfo->pool, p + first.status.off, first.status.len)));
}

/* "%u" or "%u %s": a code and its enhanced status, if any */
static void label_code_status(label_text *b, unsigned code, const char *status)
{
    label_putu(b, code);
    if (status[0] != 0) {
        label_puts(b, " ");
        label_puts_data(b, status);
    }
}

static void render_txn_end(render_ctx *r, const smtpx_call *call, guint32 at)
{
    const smtpx_unit *u = &call->units[at];
    const smtpx_txn *t = UNIT_TXN(u);
    proto_tree *tt;
    proto_item *it;
    guint32 i, n, listed, ok, bad;
    const char *outcome;

    if (t == NULL)
        return;
    outcome = smtp_txn_outcome_name((smtp_txn_outcome)t->outcome);
    ok = t->rcpt_ok;
    bad = t->rcpt_bad;
    n = ok + bad;
    listed = MIN(t->nlist, smtpx_max_summary_rcpts);
    if (r->info) {
        info_add_sep(r);
        info_addl(r, "[transaction ");
        info_addu(r, t->id);
        info_addl(r, ": ");
        info_adds(r, outcome);
        info_addl(r, "]");
    }
    if (r->st == NULL)
        return;
    if (!r->visible)
        it = proto_tree_add_uint(r->st, hf_txn, r->tvb, u->ev.off, 0, t->id);
    else {
        label_text b; /* "Transaction %u: %s, from <%s> to %u of %u recipient%s" */
        LABEL_INIT(b);
        label_puts(&b, "Transaction ");
        label_putu(&b, t->id);
        label_puts(&b, ": ");
        label_puts(&b, outcome);
        label_puts(&b, ", from <");
        label_puts_data(&b, t->sender ? t->sender : "");
        label_puts(&b, "> to ");
        label_putu(&b, ok);
        label_puts(&b, " of ");
        label_putu(&b, n);
        label_puts(&b, n == 1 ? " recipient" : " recipients");
        if (t->dlv != NULL) { /* LMTP: ", delivered to %u" */
            guint32 k, got = 0;
            for (k = 0; k < t->ndlv; k++)
                got += t->dlv[k].code / 100 == 2;
            label_puts(&b, ", delivered to ");
            label_putu(&b, got);
        }
        it = add_uint_label(r->st, hf_txn, r->tvb, u->ev.off, 0, t->id, &b, FALSE);
    }
    proto_item_set_generated(it);
    tt = proto_item_add_subtree(it, ett_txn);
    proto_item_set_generated(proto_tree_add_string(tt, hf_txn_outcome, r->tvb, 0, 0, outcome));
    if (t->sender != NULL) /* the null reverse path reads <> */
        proto_item_set_generated(proto_tree_add_string(tt, hf_txn_sender, r->tvb, 0, 0,
                                                       t->sender[0] ? t->sender : "<>"));
    if (t->helo != NULL)
        proto_item_set_generated(proto_tree_add_string(tt, hf_txn_helo, r->tvb, 0, 0, t->helo));
    proto_item_set_generated(proto_tree_add_boolean(tt, hf_txn_tls, r->tvb, 0, 0, t->tls));
    if (t->auth_user != NULL)
        proto_item_set_generated(proto_tree_add_string(tt, hf_txn_auth_user, r->tvb, 0, 0, t->auth_user));
    for (i = 0; i < listed; i++) {
        const smtpx_rcpt *rc = &t->list[i];
        const char *addr = rc->addr ? rc->addr : "";
        /* LMTP: the reply to the message for this recipient */
        const smtpx_delivery *dv = i < t->ndlv && t->dlv[i].code != 0 ? &t->dlv[i] : NULL;
        proto_tree *rt;
        if (!r->visible)
            it = proto_tree_add_string(tt, hf_txn_recipient, r->tvb, 0, 0, addr);
        else {
            label_text b; /* "%s (%u%s%s, %s)" */
            LABEL_INIT(b);
            label_puts_data(&b, addr);
            label_puts(&b, " (");
            label_code_status(&b, rc->code, rc->status);
            label_puts(&b, rc->code / 100 == 2 ? ", accepted" : rc->code / 100 == 4 ? ", deferred" : ", rejected");
            if (dv != NULL) { /* "; message: %u%s%s, delivered" */
                label_puts(&b, "; message: ");
                label_code_status(&b, dv->code, dv->status);
                label_puts(&b, dv->code / 100 == 2 ? ", delivered" : dv->code / 100 == 4 ? ", deferred" : ", not delivered");
            }
            label_puts(&b, ")");
            it = add_string_label(tt, hf_txn_recipient, r->tvb, 0, 0, addr, &b);
        }
        proto_item_set_generated(it);
        rt = proto_item_add_subtree(it, ett_txn_recipient);
        proto_item_set_generated(proto_tree_add_uint(rt, hf_txn_recipient_code, r->tvb, 0, 0, rc->code));
        if (rc->status[0] != 0)
            proto_item_set_generated(proto_tree_add_string(rt, hf_txn_recipient_status, r->tvb, 0, 0, rc->status));
        if (dv != NULL) {
            proto_item_set_generated(proto_tree_add_uint(rt, hf_txn_recipient_delivery, r->tvb, 0, 0, dv->code));
            if (dv->status[0] != 0)
                proto_item_set_generated(proto_tree_add_string(rt, hf_txn_recipient_delivery_status, r->tvb, 0, 0,
                                                               dv->status));
        }
        if (rc->code / 100 != 2)
            proto_item_set_generated(proto_tree_add_string(tt, hf_txn_rejected_recipient, r->tvb, 0, 0, addr));
        else if (dv != NULL && dv->code / 100 != 2)
            proto_item_set_generated(proto_tree_add_string(tt, hf_txn_undelivered_recipient, r->tvb, 0, 0, addr));
    }
    if (n > listed) /* only the first ones were kept */
        proto_item_set_generated(proto_tree_add_uint_format(tt, hf_txn_rcpt_unlisted, r->tvb, 0, 0,
            n - listed, "%u more recipient%s not listed (see the max_summary_recipients preference; "
            "each is in its RCPT command's frame)", n - listed, n - listed == 1 ? "" : "s"));
    proto_item_set_generated(proto_tree_add_uint(tt, hf_txn_rcpt_accepted, r->tvb, 0, 0, ok));
    proto_item_set_generated(proto_tree_add_uint(tt, hf_txn_rcpt_rejected, r->tvb, 0, 0, bad));
    if (t->size > 0)
        proto_item_set_generated(proto_tree_add_uint(tt, hf_txn_size, r->tvb, 0, 0, t->size));
    if (t->final_code != 0) {
        nstime_t d;
        proto_item_set_generated(proto_tree_add_uint(tt, hf_txn_final_code, r->tvb, 0, 0, t->final_code));
        final_reply(r, tt, call, at);
        nstime_delta(&d, &r->pinfo->abs_ts, &t->start_ts); /* this frame ends it */
        proto_item_set_generated(proto_tree_add_time(tt, hf_txn_duration, r->tvb, 0, 0, &d));
    }
    proto_item_set_generated(proto_tree_add_uint(tt, hf_txn_first_frame, r->tvb, 0, 0, t->first_frame));
}

/* smtp.transaction once per transaction the call's units belong to. */
static void render_txn_ids(render_ctx *r, const smtpx_call *call)
{
    guint32 i, j, seen[4], nseen = 0;

    for (i = 0; i < call->nunits; i++) {
        guint32 id = call->units[i].ev.txn;
        if (id == 0 || call->units[i].ev.type == SMTP_EV_ANOMALY)
            continue;
        for (j = 0; j < nseen && seen[j] != id; j++)
            ;
        if (j < nseen)
            continue;
        for (j = 0; j < call->nunits; j++) { /* its summary says it already */
            if (call->units[j].ev.type == SMTP_EV_TXN_END && call->units[j].ev.txn == id)
                break;
        }
        if (j < call->nunits)
            continue;
        if (nseen < G_N_ELEMENTS(seen))
            seen[nseen++] = id;
        proto_item_set_generated(proto_tree_add_uint(r->st, hf_txn, r->tvb, 0, 0, id));
    }
}

/* ---- TLS ---- */

/* The first TLS record after STARTTLS: from this frame on the conversation
 * is TLS's (later passes hand it to TLS directly, which gives the decrypted
 * SMTP back to us); on the first pass this frame's records go to TLS from
 * here. */
static void render_tls(render_ctx *r, const smtpx_unit *u, dissector_handle_t tls,
                       dissector_handle_t self)
{
    tvbuff_t *t;

    if (tls == NULL || PINFO_FD_VISITED(r->pinfo))
        return;
    ssl_starttls_post_ack(tls, r->pinfo, self);
    t = tvb_new_subset_length(r->tvb, u->ev.off, u->ev.len);
    /* TLS asks TCP for more of a record split across segments: it may, as
     * if TCP had called it (calling it uses one level of reassembly) */
    if (r->pinfo->can_desegment > 0)
        r->pinfo->can_desegment++;
    info_flush(r);
    call_dissector(tls, t, r->pinfo, r->tree);
    if (r->pinfo->desegment_len != 0)
        r->pinfo->desegment_offset += (int)u->ev.off;
}

/* ---- the call ---- */

static void render_unit(render_ctx *r, const smtpx_call *call, guint32 i,
                        dissector_handle_t imf, dissector_handle_t tls, dissector_handle_t self)
{
    const smtpx_unit *u = &call->units[i];

    switch (u->ev.type) {
    case SMTP_EV_COMMAND:
        render_command(r, u, r->parsed != NULL ? &r->parsed[i].cmd : NULL);
        break;
    case SMTP_EV_SASL:
        render_sasl(r, u);
        break;
    case SMTP_EV_REPLY:
        render_reply(r, u, r->parsed != NULL ? &r->parsed[i] : NULL);
        break;
    case SMTP_EV_BODY:
        render_body(r, u, hf_body, hf_body_length, "message body");
        break;
    case SMTP_EV_CHUNK:
        render_body(r, u, hf_chunk, hf_chunk_length, "BDAT chunk");
        render_message(r, call, i, imf);
        break;
    case SMTP_EV_EOD:
        render_eod(r, u);
        render_message(r, call, i, imf);
        break;
    case SMTP_EV_FRAGMENT:
        render_fragment(r, u);
        break;
    case SMTP_EV_TLS:
        if (u->ev.flags & SMTP_EVF_TLS_NEXT) {
            /* STARTTLS accepted: the next bytes tell whether TLS follows */
            if (r->st != NULL)
                r->last = proto_tree_add_item(r->st, hf_starttls, r->tvb, u->ev.off, 0, ENC_NA);
            break;
        }
        render_tls(r, u, tls, self);
        break;
    case SMTP_EV_ANOMALY:
        if (u->ev.code < SMTP_ANOMALY_COUNT)
            expert_add_info(r->pinfo, r->last, &ei_anomaly[u->ev.code]);
        break;
    case SMTP_EV_TXN_END:
        render_txn_end(r, call, i);
        break;
    default:
        break;
    }
}

/* Is one of the fields referenced (a filter, column, tap or field printer
 * primed it)?  What proto_field_is_referenced answers for a tree that is
 * not visible and fields that are not protocols, from each field's
 * header_field_info, looked up once (about 30 instructions a field and a
 * call otherwise: 22 fields a call). */
static gboolean any_wanted(int *const *ids, header_field_info **hfi, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++) {
        if (hfi[i] == NULL)
            hfi[i] = proto_registrar_get_nth((guint)*ids[i]);
        if (hfi[i]->ref_type != HF_REF_TYPE_NONE)
            return TRUE;
    }
    return FALSE;
}

#define ANY_WANTED(ids) any_wanted((ids), ids##_hfi, G_N_ELEMENTS(ids))

static void groups_wanted(render_ctx *r, proto_tree *tree)
{
    static int *const cmd[] = {
        &hf_command_verb, &hf_command_parameter, &hf_command_address, &hf_command_esmtp,
        &hf_command_size, &hf_command_chunk_size, &hf_command_last,
    };
    static int *const lines[] = {
        &hf_reply_line, &hf_ehlo_extension, &hf_ehlo_size, &hf_ehlo_auth_mechanism, &hf_reply_lines_not_kept,
    };
    static int *const status[] = {
        &hf_reply_status, &hf_reply_status_class, &hf_reply_status_subject, &hf_reply_status_detail,
        &hf_reply_status_class_meaning, &hf_reply_status_subject_meaning, &hf_reply_status_detail_meaning,
    };
    static int *const pairing[] = {
        &hf_reply_command, &hf_reply_request_in, &hf_reply_time,
    };
    static header_field_info *cmd_hfi[G_N_ELEMENTS(cmd)], *lines_hfi[G_N_ELEMENTS(lines)],
        *status_hfi[G_N_ELEMENTS(status)], *pairing_hfi[G_N_ELEMENTS(pairing)];

    if (tree == NULL || r->visible) {
        r->want_cmd = r->want_lines = r->want_status = r->want_pairing = r->visible;
        return;
    }
    r->want_cmd = ANY_WANTED(cmd);
    r->want_lines = ANY_WANTED(lines);
    r->want_status = ANY_WANTED(status);
    r->want_pairing = ANY_WANTED(pairing);
}

/* The built-in's field names are added when something uses them: a display
 * filter, colouring rule, custom column or tap primes them (and tshark 4.4+
 * primes its -T fields -e names).  A visible tree alone (tshark -V or
 * -T fields on 4.0/4.2) adds them only with the legacy_names preference:
 * they are hidden, and were a third of the plugin's cost there. */
static gboolean legacy_wanted(proto_tree *tree)
{
    static int *const ids[] = {
        &hf_legacy_req, &hf_legacy_rsp, &hf_legacy_req_command, &hf_legacy_req_parameter,
        &hf_legacy_response_code, &hf_legacy_rsp_parameter, &hf_legacy_response,
        &hf_legacy_command_line,
    };
    static header_field_info *ids_hfi[G_N_ELEMENTS(ids)];

    if (smtpx_legacy_always && tree != NULL && PTREE_DATA(tree)->visible)
        return TRUE; /* proto_field_is_referenced's answer for a visible tree */
    return ANY_WANTED(ids);
}

/* Where the call's data joins other segments': the bytes of earlier
 * segments it starts with (held), the unfinished unit it ends with (tail).
 * seg is the segment's own tvb, r->tvb the call's data (the two differ
 * when units read held bytes).  A segment that only continues an
 * unfinished unit shows the unit's bytes so far, where it started and
 * where it goes on, under one item. */
static void render_held(render_ctx *r, proto_tree *t, tvbuff_t *seg, const smtpx_call *call)
{
    gboolean whole = call->held_data == NULL; /* no unit here: all of it held on */
    tvbuff_t *at = whole ? seg : r->tvb;
    guint32 n = whole ? 0 : call->held;

    proto_item_set_generated(proto_tree_add_uint(t, hf_continued_from, at, 0, n, call->held_from));
    proto_item_set_generated(proto_tree_add_uint(t, hf_continued_bytes, at, 0, n, call->held));
}

static void render_tail(render_ctx *r, tvbuff_t *seg, const smtpx_call *call)
{
    guint32 len = tvb_captured_length(r->tvb);
    gboolean whole = call->held > 0 && call->held_data == NULL;

    if (r->st != NULL) {
        proto_item *it;
        proto_tree *t = NULL;
        if (whole) /* the unit's bytes so far: of earlier segments too */
            it = proto_tree_add_uint(r->st, hf_unfinished, seg, call->skip, len - call->skip,
                                     call->held + (len - call->skip));
        else
            it = proto_tree_add_uint(r->st, hf_unfinished, r->tvb, call->tail, len - (guint32)call->tail,
                                     len - (guint32)call->tail);
        if (whole || call->cont_in != 0)
            t = proto_item_add_subtree(it, ett_smtpx_join);
        if (whole)
            render_held(r, t, seg, call);
        if (call->cont_in != 0)
            proto_item_set_generated(proto_tree_add_uint(t, hf_continued_in, seg, 0, 0, call->cont_in));
    }
    if (r->info && call->nunits == 0)
        info_addf(r, "%s%s: [unfinished %s, continued in a later segment]", info_sep(r),
                  call->dir == SMTP_DIR_SERVER ? "S" : "C", call->dir == SMTP_DIR_SERVER ? "reply" : "line");
}

void smtpx_render_call(tvbuff_t *tvb, tvbuff_t *seg, packet_info *pinfo, proto_tree *tree,
                       const smtpx_call *call, const smtp_parsed *parsed, smtpx_info_state *ist,
                       dissector_handle_t imf_handle,
                       dissector_handle_t tls_handle, dissector_handle_t app_handle)
{
    render_ctx r;
    char infobuf[COL_MAX_INFO_LEN]; /* outside r: not zeroed on every call */
    guint32 len = tvb_captured_length(tvb), i;
    proto_item *top = NULL;

    /* a TLS record's first byte left to TCP's reassembly: shown in the
     * frame that completes the record (a later pass does not hand it to us) */
    if (call->nunits == 0 && call->skip == 0 && !call->gap && call->deseg == 0 && call->held == 0)
        return;
    memset(&r, 0, sizeof r);
    r.infobuf = infobuf;
    if (call->nunits > 0 && call->skip == 0 && !call->gap && call->units[0].ev.type == SMTP_EV_TLS &&
        !(call->units[0].ev.flags & SMTP_EVF_TLS_NEXT) && call->units[0].ev.off == 0) {
        /* the first TLS record: the frame is TLS's, as later passes show it */
        r.tvb = tvb;
        r.pinfo = pinfo;
        r.tree = tree;
        render_tls(&r, &call->units[0], tls_handle, app_handle);
        return;
    }
    r.tvb = tvb;
    r.pinfo = pinfo;
    r.tree = tree;
    r.ist = ist;
    /* the first pass's engine read the segment's bytes already */
    r.buf = !len ? NULL : call->seg_bytes != NULL && tvb == seg ? call->seg_bytes : tvb_get_ptr(tvb, 0, len);
    r.hole_from = call->hole_from;
    r.hole_len = call->hole_len;
    r.parsed = parsed;
    r.info = pinfo->cinfo != NULL && col_get_writable(pinfo->cinfo, COL_INFO);
    if (r.info && info_get(&r)->clear_pending) {
        /* the frame's first text: gathered where the column will keep it */
        r.spare = r.infobuf;
        r.infobuf = (char *)wmem_alloc(pinfo->pool, COL_MAX_INFO_LEN);
    }
    if (tree != NULL) {
        proto_item *mine;
        top = proto_tree_add_item(tree, proto_smtp_builtin, tvb, 0, -1, ENC_NA);
        r.st = proto_item_add_subtree(top, ett_smtpx);
        r.legacy = legacy_wanted(tree);
        r.visible = PTREE_DATA(tree)->visible ? TRUE : FALSE;
        groups_wanted(&r, tree);
        /* the filter "smtpx" selects what this plugin dissected */
        mine = proto_tree_add_item(r.st, proto_smtpx, tvb, 0, -1, ENC_NA);
        proto_item_set_hidden(mine);
    }
    r.last = top;
    if (call->skip > 0) {
        proto_item *it = NULL;
        if (r.st != NULL)
            it = proto_tree_add_item(r.st, hf_retransmitted, seg, 0, call->skip, ENC_NA);
        expert_add_info(pinfo, it, &ei_retransmitted);
        if (r.info && call->nunits == 0)
            info_addf(&r, "%sRetransmitted SMTP data", info_sep(&r));
    }
    if (call->gap)
        expert_add_info(pinfo, top, &ei_anomaly[SMTP_ANOMALY_UNSYNC]);
    if (r.st != NULL)
        render_txn_ids(&r, call);
    if (call->held_data != NULL && r.st != NULL)
        render_held(&r, r.st, seg, call);
    for (i = 0; i < call->nunits; i++) {
        const smtp_event *ev = &call->units[i].ev;
        /* spans index this tvb only: a record never reads past it */
        if (ev->off > len || ev->len > len - ev->off)
            continue;
        render_unit(&r, call, i, imf_handle, tls_handle, app_handle);
    }
    if (call->tail >= 0)
        render_tail(&r, seg, call);
    info_flush(&r);
}

void smtpx_render_close(tvbuff_t *tvb, packet_info *pinfo, proto_tree *tree,
                        const smtpx_call *call)
{
    render_ctx r;
    char infobuf[COL_MAX_INFO_LEN];
    guint32 i;

    memset(&r, 0, sizeof r);
    r.infobuf = infobuf;
    r.tvb = tvb;
    r.pinfo = pinfo;
    r.tree = tree;
    r.info = pinfo->cinfo != NULL && col_get_writable(pinfo->cinfo, COL_INFO);
    if (r.info)
        col_append_str(pinfo->cinfo, COL_INFO, " ");
    if (tree != NULL) {
        proto_item *top = proto_tree_add_item(tree, proto_smtp_builtin, tvb, 0, 0, ENC_NA);
        r.st = proto_item_add_subtree(top, ett_smtpx);
        proto_item_set_hidden(proto_tree_add_item(r.st, proto_smtpx, tvb, 0, 0, ENC_NA));
        proto_item_set_generated(proto_tree_add_item(r.st, hf_connection_closed, tvb, 0, 0, ENC_NA));
        r.last = top;
    }
    for (i = 0; i < call->nunits; i++)
        if (call->units[i].ev.type == SMTP_EV_TXN_END)
            render_txn_end(&r, call, i);
    info_flush(&r);
}
