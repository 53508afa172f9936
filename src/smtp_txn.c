/* smtp_txn.c: mail transactions, from MAIL to the reply that ends them, and
 * how they ended (smtp_outcomes.def).
 * SPDX-License-Identifier: GPL-2.0-or-later */
#include "smtp_session_int.h"
#include "smtp_codes.h"

#include <string.h>

/* ---- mail transactions ---- */

static void txn_emit(sink *o, int dir, uint32_t txn, smtp_txn_outcome outcome, uint32_t seq,
                     size_t off)
{
    smtp_event *e = sx_emit(o, SMTP_EV_TXN_END, dir, off, 0);
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
void sx_txn_message_sent(smtp_session *s, smtp_pending *final)
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
void sx_txn_command(smtp_session *s, sink *o, smtp_event *ev, size_t end)
{
    unsigned vf = smtp_verb_flags((smtp_verb)ev->verb);

    if (ev->verb == SMTP_VERB_MAIL) {
        uint32_t id = ++s->_txn_last;
        if (id == 0)
            id = s->_txn_last = 1;
        ev->txn = id;
        if (s->_txn != 0) {
            /* nested: the server decides; a 503 leaves the open one open */
            sx_newest(s)->flags |= PF_NESTED;
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
void sx_txn_reply(smtp_session *s, sink *o, const smtp_event *ev, const smtp_pending *cmd,
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

    sx_sink_init(&o, ev, NULL, cap);
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
        const smtp_pending *q = sx_qat(s, i);
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
    s->_flags |= F_CLOSED;
    s->_rcpt_ok = s->_rcpt_bad = s->_rcpt_tmp = 0;
    return o.n;
}
