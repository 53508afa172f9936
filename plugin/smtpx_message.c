/* smtpx_message.c: messages (DATA without the dot-stuffing, or BDAT chunks)
 * collected on the first pass, up to smtpx.max_message, and kept with the
 * unit that completes them for IMF and Export Objects on every pass.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "smtpx.h"

#include <string.h>

#include "smtp_auth.h"
#include "smtp_codes.h"
#include "smtp_frame.h"
#include "smtp_parse.h"

/* The buffer a message grows in is freed when the message ends: it lives
 * in wmem_file_scope(), whose freed room everyone reuses, not among the
 * plugin's kept state (smtpx_scope()), where it would leave holes. */
static void message_reset(smtpx_conv *c)
{
    if (c->msg_data != NULL)
        wmem_free(wmem_file_scope(), c->msg_data);
    c->msg_data = NULL;
    c->msg_len = c->msg_cap = c->msg_id = c->msg_frames = c->msg_last_frame = 0;
    c->msg_truncated = FALSE;
    c->msg_defer = NULL;
    c->msg_defer_len = 0;
}

/* Room for cap bytes or more in the message's buffer. */
static void message_room(smtpx_conv *c, guint32 need)
{
    if (need > c->msg_cap) {
        guint32 cap = c->msg_cap ? c->msg_cap : 4096;
        while (cap < need)
            cap = cap > G_MAXUINT32 / 2 ? G_MAXUINT32 : cap * 2;
        c->msg_data = (guint8 *)wmem_realloc(wmem_file_scope(), c->msg_data, cap);
        c->msg_cap = cap;
    }
}

/* The message's bytes still the call's are copied into its buffer. */
static void message_copy_deferred(smtpx_conv *c)
{
    if (c->msg_defer_len == 0)
        return;
    message_room(c, c->msg_len);
    memcpy(c->msg_data, c->msg_defer, c->msg_defer_len);
    c->msg_defer = NULL;
    c->msg_defer_len = 0;
}

void smtpx_message_call_end(smtpx_conv *c, gboolean drop)
{
    if (c->msg_defer_len == 0)
        return;
    if (drop) { /* their bytes are gone with the call: the message lacks them */
        c->msg_len = 0;
        c->msg_truncated = TRUE;
        c->msg_defer = NULL;
        c->msg_defer_len = 0;
        return;
    }
    message_copy_deferred(c);
}

static void message_append(smtpx_conv *c, packet_info *pinfo, guint32 id, const guint8 *p, guint32 n,
                           guint32 call)
{
    if (id != c->msg_id) {
        message_reset(c);
        c->msg_id = id;
        c->msg_first_frame = pinfo->num;
        c->msg_call = call;
    } else if (c->msg_call != call) {
        c->msg_call = 0;
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
    if (c->msg_call == call && c->msg_defer_len == c->msg_len &&
        (c->msg_len == 0 || c->msg_defer + c->msg_defer_len == p)) {
        /* all of it this call's bytes so far, one run of them: referred to,
         * copied only if the message goes on in a later call */
        if (c->msg_len == 0)
            c->msg_defer = p;
        c->msg_defer_len += n;
        c->msg_len += n;
        return;
    }
    message_copy_deferred(c);
    message_room(c, c->msg_len + n);
    memcpy(c->msg_data + c->msg_len, p, n);
    c->msg_len += n;
}

/* A message at least this long is kept in the buffer it grew in (made
 * exactly as long, dot-stuffing removed in place) instead of a copy: a 50
 * MB body would otherwise need its buffer, up to twice its size, and the
 * copy at once.  Buffers this large are allocations of their own, not
 * room among other chunks. */
#define KEEP_IN_PLACE (1024u * 1024u)

/* The message ends here: hands it to the unit that completes it, or
 * flags that unit when the call's bytes hold it all. */
static smtpx_message *message_finish(smtpx_conv *c, packet_info *pinfo, guint32 id, gboolean dot_stuffed,
                                     smtpx_unit *u, guint32 call)
{
    smtpx_message *m;

    if (id != c->msg_id) /* an empty message */
        message_append(c, pinfo, id, NULL, 0, call);
    if (c->msg_call == call && !c->msg_truncated) {
        /* only its length is needed now: the buffer is dropped anyway */
        const guint8 *data = c->msg_defer_len ? c->msg_defer : c->msg_data;
        c->msg_done_len = dot_stuffed && c->msg_len > 0
                              ? (guint32)smtp_unstuffed_len(data, c->msg_len) : c->msg_len;
        u->ev.flags |= SMTPX_EVF_MSG_HERE;
        message_reset(c);
        return NULL;
    }
    message_copy_deferred(c);
    m = wmem_new0(smtpx_scope(), smtpx_message);
    m->first_frame = c->msg_first_frame;
    m->frames = c->msg_frames;
    m->truncated = c->msg_truncated;
    /* a NUL after the bytes: the message's text item is made without a copy */
    if (c->msg_len >= KEEP_IN_PLACE) {
        m->len = dot_stuffed ? (guint32)smtp_unstuff(c->msg_data, c->msg_data, c->msg_len) : c->msg_len;
        m->data = (guint8 *)wmem_realloc(wmem_file_scope(), c->msg_data, m->len + 1);
        m->data[m->len] = 0;
        c->msg_data = NULL; /* the message's now */
    } else if (dot_stuffed && c->msg_len > 0) {
        m->data = (guint8 *)wmem_alloc(smtpx_scope(), c->msg_len + 1);
        m->len = (guint32)smtp_unstuff(m->data, c->msg_data, c->msg_len);
        m->data[m->len] = 0;
    } else if (c->msg_len > 0) {
        m->data = (guint8 *)wmem_alloc(smtpx_scope(), c->msg_len + 1);
        memcpy(m->data, c->msg_data, c->msg_len);
        m->len = c->msg_len;
        m->data[m->len] = 0;
    }
    c->msg_done_len = m->len;
    message_reset(c);
    return m;
}

/* Feeds message bytes of one unit to the collector. */
void smtpx_collect_message(smtpx_conv *c, packet_info *pinfo, const guint8 *buf, smtpx_unit *u,
                           guint32 call)
{
    const smtp_event *ev = &u->ev;

    if (!smtpx_reassemble_body || ev->msg == 0)
        return; /* msg 0: the capture missed the start of this message */
    switch (ev->type) {
    case SMTP_EV_BODY:
        message_append(c, pinfo, ev->msg, buf + ev->off, ev->len, call);
        break;
    case SMTP_EV_EOD:
        u->data = message_finish(c, pinfo, ev->msg, !(ev->flags & SMTP_EVF_CLEAN), u, call);
        break;
    case SMTP_EV_CHUNK:
        message_append(c, pinfo, ev->msg, buf + ev->off, ev->len, call);
        if (ev->flags & SMTP_EVF_LAST)
            u->data = message_finish(c, pinfo, ev->msg, FALSE, u, call);
        break;
    default:
        break;
    }
}
