/* evlog.c: the canonical event log (see evlog.h).
 * SPDX-License-Identifier: GPL-2.0-or-later */
#include "evlog.h"
#include "smtp_codes.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const anomaly_ids[SMTP_ANOMALY_COUNT] = {
    "NONE",
#define SMTP_ANOMALY(id, name, group, sev, summary) #id,
#include "smtp_anomalies.def"
#undef SMTP_ANOMALY
};

static const char *anomaly_id(unsigned a)
{
    return a < SMTP_ANOMALY_COUNT ? anomaly_ids[a] : "?";
}

static char errbuf[512];

const char *evlog_check(evlog *l, int dir, const smtp_event *e, size_t buflen, uint64_t base)
{
    uint64_t abs = base + e->off;

    if ((uint64_t)e->off + e->len > buflen) {
        snprintf(errbuf, sizeof errbuf, "event type %u span %u+%u outside the %zu bytes fed",
                 e->type, e->off, e->len, buflen);
        return errbuf;
    }
    if (e->dir != dir) {
        snprintf(errbuf, sizeof errbuf, "event type %u has dir %u, fed %d", e->type, e->dir, dir);
        return errbuf;
    }
    if (e->type >= EVLOG_EV_COUNT) {
        snprintf(errbuf, sizeof errbuf, "event type %u", e->type);
        return errbuf;
    }
    switch (e->type) {
    case SMTP_EV_ANOMALY:
        if (e->code == 0 || e->code >= SMTP_ANOMALY_COUNT) {
            snprintf(errbuf, sizeof errbuf, "anomaly code %u", e->code);
            return errbuf;
        }
        break;
    case SMTP_EV_TXN_END:
        if (e->txn == 0 || e->code == 0 || e->code >= SMTP_TXN_OUTCOME_COUNT) {
            snprintf(errbuf, sizeof errbuf, "transaction end txn %u outcome %u", e->txn, e->code);
            return errbuf;
        }
        /* TXN_END, like the announcement of TLS, is a point between units */
        /* fall through */
    case SMTP_EV_TLS:
        if (e->type == SMTP_EV_TLS && !(e->flags & SMTP_EVF_TLS_NEXT))
            goto unit; /* TLS records: a unit */
        if (e->len != 0 || abs != l->unit_end[dir]) {
            snprintf(errbuf, sizeof errbuf, "event type %u at %llu len %u, units end at %llu",
                     e->type, (unsigned long long)abs, e->len,
                     (unsigned long long)l->unit_end[dir]);
            return errbuf;
        }
        break;
    default:
    unit:
        /* unit events tile the stream */
        if (abs != l->unit_end[dir]) {
            snprintf(errbuf, sizeof errbuf,
                     "%s event type %u at stream offset %llu, previous unit ended at %llu",
                     dir ? "server" : "client", e->type, (unsigned long long)abs,
                     (unsigned long long)l->unit_end[dir]);
            return errbuf;
        }
        l->unit_end[dir] = abs + e->len;
        break;
    }
    return NULL;
}

static int streaming(unsigned type)
{
    return type == SMTP_EV_BODY || type == SMTP_EV_CHUNK || type == SMTP_EV_FRAGMENT ||
           type == SMTP_EV_TLS;
}

static int mergeable(const smtp_event *a, const smtp_event *b)
{
    if (a->type != b->type || a->dir != b->dir)
        return 0;
    switch (a->type) {
    case SMTP_EV_BODY:
        return a->msg == b->msg && !(b->flags & SMTP_EVF_FIRST);
    case SMTP_EV_CHUNK:
        return a->seq == b->seq && a->msg == b->msg && !(a->flags & SMTP_EVF_LAST) &&
               !(b->flags & SMTP_EVF_FIRST);
    case SMTP_EV_FRAGMENT:
        return (a->flags & SMTP_EVF_CONT) && (b->flags & SMTP_EVF_CONT) && a->code == b->code;
    case SMTP_EV_TLS:
        return !((a->flags | b->flags) & SMTP_EVF_TLS_NEXT);
    default:
        return 0;
    }
}

void evlog_add(evlog *l, const smtp_event *e, uint64_t at)
{
    size_t i, j;
    evlog_rec *x;

    if (streaming(e->type)) {
        i = l->n;
        while (i > 0 && l->r[i - 1].e.type == SMTP_EV_ANOMALY && l->r[i - 1].e.dir == e->dir)
            i--;
        if (i > 0 && mergeable(&l->r[i - 1].e, e)) {
            l->r[i - 1].len += e->len;
            l->r[i - 1].e.flags |= e->flags;
            return;
        }
    }
    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 64;
        l->r = realloc(l->r, l->cap * sizeof *l->r);
        if (l->r == NULL)
            abort();
    }
    /* anomalies found inside a streamed unit are listed in stream order:
     * the order they are raised in depends on where the bytes were cut */
    j = l->n;
    if (e->type == SMTP_EV_ANOMALY) {
        size_t h = j;
        while (h > 0 && l->r[h - 1].e.type == SMTP_EV_ANOMALY && l->r[h - 1].e.dir == e->dir)
            h--;
        if (h > 0 && streaming(l->r[h - 1].e.type)) {
            while (j > h && (l->r[j - 1].at > at ||
                             (l->r[j - 1].at == at && l->r[j - 1].e.code > e->code)))
                j--;
            memmove(&l->r[j + 1], &l->r[j], (l->n - j) * sizeof *l->r);
        }
    }
    l->n++;
    x = &l->r[j];
    memset(x, 0, sizeof *x);
    x->e.type = e->type;
    x->e.dir = e->dir;
    x->e.flags = e->flags;
    x->e.seq = e->seq;
    x->e.msg = e->msg;
    x->e.verb = e->verb;
    x->e.code = e->code;
    x->e.nlines = e->nlines;
    x->e.txn = e->txn;
    /* anomaly spans may follow the cut (BODY_BEFORE_354 covers the first
     * piece of body): only the units' lengths are kept */
    x->len = e->type == SMTP_EV_ANOMALY ? 0 : e->len;
    x->at = at;
}

void evlog_gap(evlog *l, int dir, uint64_t lost, uint64_t resume)
{
    smtp_event g;

    l->unit_end[dir] = resume;
    memset(&g, 0, sizeof g);
    g.type = EVLOG_GAP;
    g.dir = (uint8_t)dir;
    g.seq = (uint32_t)lost;
    evlog_add(l, &g, resume);
}

static int rec_equal(const evlog_rec *a, const evlog_rec *b)
{
    return a->e.type == b->e.type && a->e.dir == b->e.dir && a->e.flags == b->e.flags &&
           a->e.seq == b->e.seq && a->e.msg == b->e.msg && a->e.verb == b->e.verb &&
           a->e.code == b->e.code && a->e.nlines == b->e.nlines && a->e.txn == b->e.txn &&
           a->len == b->len;
}

long evlog_diff(const evlog *a, const evlog *b)
{
    size_t i;

    for (i = 0; i < a->n && i < b->n; i++)
        if (!rec_equal(&a->r[i], &b->r[i]))
            return (long)i;
    return a->n == b->n ? -1 : (long)i;
}

char *evlog_render(const evlog *l, size_t rest_c, size_t rest_s)
{
    size_t cap = 256 + l->n * 96, n = 0, i;
    char *s = malloc(cap);

    if (s == NULL)
        abort();
    s[0] = 0;
#define P(...) (n += (size_t)snprintf(s + n, cap - n, __VA_ARGS__))
    for (i = 0; i < l->n; i++) {
        const smtp_event *e = &l->r[i].e;
        unsigned long long len = (unsigned long long)l->r[i].len;
        char d = e->dir ? 's' : 'c';
        unsigned fl = e->flags;
        switch (e->type) {
        case SMTP_EV_COMMAND:
            P("COMMAND %c seq=%u verb=%s len=%llu", d, e->seq, smtp_verb_name((smtp_verb)e->verb), len);
            break;
        case SMTP_EV_SASL:
            P("SASL %c seq=%u len=%llu", d, e->seq, len);
            break;
        case SMTP_EV_REPLY:
            P("REPLY %c code=%u lines=%u answers=", d, e->code, e->nlines);
            if (e->seq)
                P("%u/%s", e->seq, smtp_verb_name((smtp_verb)e->verb));
            else
                P("none");
            P(" len=%llu", len);
            break;
        case SMTP_EV_BODY:
            P("BODY %c msg=%u len=%llu", d, e->msg, len);
            break;
        case SMTP_EV_EOD:
            P("EOD %c seq=%u msg=%u len=%llu", d, e->seq, e->msg, len);
            if (e->nlines > 1)
                P(" replies=%u", e->nlines);
            break;
        case SMTP_EV_CHUNK:
            P("CHUNK %c seq=%u msg=%u len=%llu", d, e->seq, e->msg, len);
            break;
        case SMTP_EV_FRAGMENT:
            P("FRAGMENT %c %s len=%llu", d, anomaly_id(e->code), len);
            break;
        case SMTP_EV_TLS:
            if (fl & SMTP_EVF_TLS_NEXT)
                P("TLS %c next", d);
            else
                P("TLS %c len=%llu", d, len);
            fl &= ~(unsigned)SMTP_EVF_TLS_NEXT;
            break;
        case SMTP_EV_ANOMALY:
            P("ANOMALY %c %s", d, anomaly_id(e->code));
            break;
        case SMTP_EV_TXN_END:
            P("TXN_END %c txn=%u by=%u %s", d, e->txn, e->seq,
              smtp_txn_outcome_name((smtp_txn_outcome)e->code));
            break;
        case EVLOG_GAP:
            P("GAP %c lost=%u", d, e->seq);
            break;
        default:
            P("EVENT? type=%u", e->type);
            break;
        }
        if (e->type == SMTP_EV_COMMAND && (fl & SMTP_EVF_BADARGS)) {
            P(" badargs");
            fl &= ~SMTP_EVF_BADARGS;
        }
        if (e->type == SMTP_EV_REPLY) {
            if (fl & SMTP_EVF_GREETING)
                P(" greeting");
            if (fl & SMTP_EVF_UNSYNC)
                P(" unsync");
            if (fl & SMTP_EVF_LAST)
                P(" last");
            if (fl & SMTP_EVF_LOOKALIKE)
                P(" lookalike");
            fl &= ~(unsigned)(SMTP_EVF_GREETING | SMTP_EVF_UNSYNC | SMTP_EVF_LAST | SMTP_EVF_LOOKALIKE);
        }
        if (e->type == SMTP_EV_BODY || e->type == SMTP_EV_CHUNK) {
            if (fl & SMTP_EVF_FIRST)
                P(" first");
            if (e->type == SMTP_EV_CHUNK && (fl & SMTP_EVF_LAST))
                P(" last");
            fl &= ~(unsigned)(SMTP_EVF_FIRST | (e->type == SMTP_EV_CHUNK ? SMTP_EVF_LAST : 0));
        }
        if (e->type == SMTP_EV_EOD && (fl & SMTP_EVF_CLEAN)) {
            P(" clean");
            fl &= ~(unsigned)SMTP_EVF_CLEAN;
        }
        if (e->type == SMTP_EV_FRAGMENT && (fl & SMTP_EVF_CONT)) {
            P(" cont");
            fl &= ~SMTP_EVF_CONT;
        }
        if (fl && e->type != EVLOG_GAP)
            P(" flags=0x%x", fl);
        P("\n");
        if (cap - n < 160) {
            cap *= 2;
            s = realloc(s, cap);
            if (s == NULL)
                abort();
        }
    }
    if (rest_c || rest_s)
        P("REST c=%zu s=%zu\n", rest_c, rest_s);
#undef P
    return s;
}

void evlog_free(evlog *l)
{
    free(l->r);
    memset(l, 0, sizeof *l);
}
