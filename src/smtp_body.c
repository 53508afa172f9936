/* smtp_body.c: the DATA body scanner (dot-stuffing, the end of data, bare
 * LF/CR and smuggling forms) and BDAT chunks.
 * SPDX-License-Identifier: GPL-2.0-or-later */
#include "smtp_session_int.h"
#include "smtp_frame.h"

#include <string.h>

void sx_start_message_body(smtp_session *s, uint32_t msg)
{
    s->_flags &= (uint16_t)~F_DATA_SPEC;
    s->_cmode = CM_DATA;
    s->_body = B_BOL | B_CRLF | B_FIRST;
    s->_msg = msg;
    s->_flags &= (uint16_t)~(F_BARE_LF_MSG | F_LOOKALIKE);
}


/* End-of-data look-alikes made with bare CRs inside the line p[i..end):
 * "\r.\r" and "\r.\n" (SMTP smuggling forms). */
static void body_bare_cr_dots(smtp_session *s, sink *o, const uint8_t *p, size_t i, size_t end)
{
    while (i < end) {
        const uint8_t *cr = memchr(p + i, '\r', end - i);
        size_t k;
        if (cr == NULL)
            return;
        k = (size_t)(cr - p);
        if (k + 1 < end && p[k + 1] == '.' && (k + 2 >= end || p[k + 2] == '\r')) {
            sx_anomaly(o, SMTP_DIR_CLIENT, SMTP_ANOMALY_SMUGGLING, k, k + 2 < end ? 3 : 2);
            s->_flags |= F_LOOKALIKE;
        }
        i = k + 1;
    }
}

/* DATA body bytes up to and including the end-of-data line. */
long sx_feed_body(smtp_session *s, sink *o, const uint8_t *p, size_t n, int flush)
{
    size_t i = 0;
    long result = -1;
    smtp_event *b = sx_emit(o, SMTP_EV_BODY, SMTP_DIR_CLIENT, 0, 0);
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
                sx_anomaly(o, SMTP_DIR_CLIENT, SMTP_ANOMALY_SMUGGLING, i, 3);
                s->_flags |= F_LOOKALIKE;
            } else if (rem >= 2 && p[i + 1] == '\n') {
                sx_anomaly(o, SMTP_DIR_CLIENT, SMTP_ANOMALY_SMUGGLING, i, 2);
                s->_flags |= F_LOOKALIKE;
            }
            s->_body |= B_DOTS; /* a line of the message that begins with a dot */
        }
        {
            /* the usual line: its first CR or LF is its CRLF (or a bare LF
             * with no CR before it): no bare CR to look for in it */
            size_t k = smtp_first_cr_lf(p + i, n - i, 128);
            if (k < n - i && (p[i + k] == '\n' || (k + 1 < n - i && p[i + k + 1] == '\n'))) {
                e = p[i + k] == '\n' ? i + k : i + k + 1;
                crlf = e > i ? p[e - 1] == '\r' : (s->_body & B_CR) != 0;
                if (!crlf && !(s->_flags & F_BARE_LF_MSG)) {
                    sx_anomaly(o, SMTP_DIR_CLIENT, SMTP_ANOMALY_BARE_LF, e, 1);
                    s->_flags |= F_BARE_LF_MSG;
                }
                s->_body = (uint8_t)((s->_body & (B_FIRST | B_DOTS)) | B_BOL | (crlf ? B_CRLF : 0));
                i = e + 1;
                continue;
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
            body_bare_cr_dots(s, o, p, i, end);
            s->_body = (uint8_t)((s->_body & (B_FIRST | B_DOTS)) | (p[end - 1] == '\r' ? B_CR : 0));
            i = end;
            break;
        }
        e = (size_t)(lf - p);
        crlf = e > i ? p[e - 1] == '\r' : (s->_body & B_CR) != 0;
        body_bare_cr_dots(s, o, p, i, (crlf && e > i) ? e - 1 : e);
        if (!crlf && !(s->_flags & F_BARE_LF_MSG)) {
            sx_anomaly(o, SMTP_DIR_CLIENT, SMTP_ANOMALY_BARE_LF, e, 1);
            s->_flags |= F_BARE_LF_MSG;
        }
        s->_body = (uint8_t)((s->_body & (B_FIRST | B_DOTS)) | B_BOL | (crlf ? B_CRLF : 0));
        i = e + 1;
    }
    if (i > 0 && (s->_body & B_FIRST) && (s->_flags & (F_DATA_SPEC | F_SEEN_SERVER)) ==
                     (F_DATA_SPEC | F_SEEN_SERVER))
        sx_anomaly(o, SMTP_DIR_CLIENT, SMTP_ANOMALY_BODY_BEFORE_354, 0, i);
    if (i > 0) {
        b->len = (uint32_t)i;
        if (s->_body & B_FIRST)
            b->flags |= SMTP_EVF_FIRST;
        s->_body &= (uint8_t)~B_FIRST;
    } else {
        o->n--;
    }
    if (result > 0) {
        smtp_event *e = sx_emit_eod(s, o, i, 3);
        if (!(s->_body & B_DOTS))
            e->flags |= SMTP_EVF_CLEAN;
        return result;
    }
    return i > 0 ? (long)i : SMTP_NEED_MORE;
}

long sx_feed_chunk(smtp_session *s, sink *o, size_t n)
{
    size_t k = s->_bdat_left < n ? (size_t)s->_bdat_left : n;
    smtp_event *e = sx_emit(o, SMTP_EV_CHUNK, SMTP_DIR_CLIENT, 0, k);

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
            if (s->_txn != 0 && s->_qlen > 0 && sx_qat(s, s->_qlen - 1)->seq == s->_bdat_seq)
                sx_txn_message_sent(s, sx_qat(s, s->_qlen - 1));
            else if (s->_txn != 0) { /* the BDAT's entry is gone (overflow) */
                s->_txn = 0;
                s->_rcpt_ok = s->_rcpt_bad = s->_rcpt_tmp = 0;
            }
        }
    }
    return (long)k;
}
