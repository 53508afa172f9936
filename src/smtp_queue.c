/* smtp_queue.c: the ring of commands awaiting replies.
 * SPDX-License-Identifier: GPL-2.0-or-later */
#include "smtp_session_int.h"

#include <string.h>

/* ---- the queue of commands awaiting replies ---- */

static smtp_pending *qbuf_(smtp_session *s)
{
    return s->_qext != NULL ? s->_qext : s->_qin;
}

/* The i-th waiting command, oldest first. */
smtp_pending *sx_qat(smtp_session *s, uint32_t i)
{
    return &qbuf_(s)[(s->_qhead + i) % s->_qcap];
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

uint32_t sx_push(smtp_session *s, sink *o, smtp_verb verb, size_t off, size_t len)
{
    uint32_t seq = s->_next_seq++;
    s->_flags &= (uint16_t)~F_UNPAIRED; /* a reply with no command is news again */
    if (s->_next_seq == 0)
        s->_next_seq = 1;
    if (s->_qlen == s->_qcap && !grow_queue(s)) {
        s->_qhead = (s->_qhead + 1) % s->_qcap;
        s->_qlen--;
        if (!o->overflow_said)
            sx_anomaly(o, SMTP_DIR_CLIENT, SMTP_ANOMALY_QUEUE_OVERFLOW, off, len);
        o->overflow_said = 1;
    }
    {
        smtp_pending *p = sx_qat(s, s->_qlen);
        memset(p, 0, sizeof *p);
        p->seq = seq;
        p->txn = s->_txn;
        p->verb = (uint16_t)verb;
    }
    s->_qlen++;
    return seq;
}

/* The command pushed last. */
smtp_pending *sx_newest(smtp_session *s)
{
    return sx_qat(s, s->_qlen - 1);
}

const smtp_pending *sx_peek(smtp_session *s)
{
    return s->_qlen ? sx_qat(s, 0) : NULL;
}

void sx_pop(smtp_session *s)
{
    if (s->_qlen) {
        s->_qhead = (s->_qhead + 1) % s->_qcap;
        s->_qlen--;
    }
}
