/* transcript.c: the session transcript driver.
 * SPDX-License-Identifier: GPL-2.0-or-later */
#include "transcript.h"
#include "runner.h"
#include "smtp_codes.h"
#include "smtp_session.h"

#include <stdarg.h>
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

enum { REC_GAP = 100 };

typedef struct rec {
    smtp_event e;
    uint64_t len; /* coalesced length */
    uint64_t at;  /* stream offset */
} rec;

typedef struct run {
    smtp_session s;
    const run_opts *o;
    smtp_event *ev;
    uint8_t *rest[2];
    size_t nrest[2];
    uint64_t pos[2];      /* stream offset of the next byte the engine gets */
    uint64_t unit_end[2]; /* where the next unit event must begin */
    rec *log;
    size_t nlog, caplog;
    const char *err;
} run;

static char errbuf[512];

static void fail(run *r, const char *fmt, ...)
{
    va_list ap;
    if (r->err)
        return;
    va_start(ap, fmt);
    vsnprintf(errbuf, sizeof errbuf, fmt, ap);
    va_end(ap);
    r->err = errbuf;
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
    default:
        return 0;
    }
}

static int streaming(uint8_t type)
{
    return type == SMTP_EV_BODY || type == SMTP_EV_CHUNK || type == SMTP_EV_FRAGMENT;
}

static void log_event(run *r, const smtp_event *e, uint64_t at)
{
    size_t i, j;
    rec *x;

    if (e->type == SMTP_EV_BODY || e->type == SMTP_EV_CHUNK || e->type == SMTP_EV_FRAGMENT) {
        i = r->nlog;
        while (i > 0 && r->log[i - 1].e.type == SMTP_EV_ANOMALY && r->log[i - 1].e.dir == e->dir)
            i--;
        if (i > 0 && mergeable(&r->log[i - 1].e, e)) {
            r->log[i - 1].len += e->len;
            r->log[i - 1].e.flags |= e->flags;
            return;
        }
    }
    if (r->nlog == r->caplog) {
        r->caplog = r->caplog ? 2 * r->caplog : 64;
        r->log = realloc(r->log, r->caplog * sizeof *r->log);
    }
    /* anomalies found inside a streamed unit are listed in stream order:
     * the order they are raised in depends on where the bytes were cut */
    j = r->nlog;
    if (e->type == SMTP_EV_ANOMALY) {
        size_t h = j;
        while (h > 0 && r->log[h - 1].e.type == SMTP_EV_ANOMALY && r->log[h - 1].e.dir == e->dir)
            h--;
        if (h > 0 && streaming(r->log[h - 1].e.type)) {
            while (j > h && (r->log[j - 1].at > at ||
                             (r->log[j - 1].at == at && r->log[j - 1].e.code > e->code)))
                j--;
            memmove(&r->log[j + 1], &r->log[j], (r->nlog - j) * sizeof *r->log);
        }
    }
    r->nlog++;
    x = &r->log[j];
    x->e = *e;
    x->len = e->len;
    x->at = at;
}

static void check_event(run *r, int dir, const smtp_event *e, size_t buflen, uint64_t base)
{
    uint64_t abs = base + e->off;

    if ((uint64_t)e->off + e->len > buflen)
        fail(r, "event type %u span %u+%u outside the %zu bytes fed", e->type, e->off, e->len, buflen);
    if (e->dir != dir)
        fail(r, "event type %u has dir %u, fed %d", e->type, e->dir, dir);
    switch (e->type) {
    case SMTP_EV_ANOMALY:
        if (e->code == 0 || e->code >= SMTP_ANOMALY_COUNT)
            fail(r, "anomaly code %u", e->code);
        break;
    case SMTP_EV_TXN_END:
        if (e->txn == 0 || e->code == 0 || e->code >= SMTP_TXN_OUTCOME_COUNT)
            fail(r, "transaction end txn %u outcome %u", e->txn, e->code);
        if (e->len != 0 || abs != r->unit_end[dir])
            fail(r, "TXN_END at %llu len %u, units end at %llu", (unsigned long long)abs, e->len,
                 (unsigned long long)r->unit_end[dir]);
        break;
    case SMTP_EV_TLS:
        if (e->len != 0 || abs != r->unit_end[dir])
            fail(r, "TLS at %llu len %u, units end at %llu", (unsigned long long)abs, e->len,
                 (unsigned long long)r->unit_end[dir]);
        break;
    default:
        if (e->type > SMTP_EV_TXN_END)
            fail(r, "event type %u", e->type);
        if (abs != r->unit_end[dir])
            fail(r, "%s event type %u at stream offset %llu, previous unit ended at %llu",
                 dir ? "server" : "client", e->type, (unsigned long long)abs,
                 (unsigned long long)r->unit_end[dir]);
        r->unit_end[dir] = abs + e->len;
        break;
    }
}

/* Feeds the rest of dir joined with bytes, the way a desegmenting caller does. */
static void feed(run *r, int dir, const uint8_t *bytes, size_t n, int flush)
{
    size_t len = r->nrest[dir] + n, off = 0;
    uint8_t *joined = calloc(len ? len : 1, 1);
    const uint8_t *p;

    if (r->nrest[dir])
        memcpy(joined, r->rest[dir], r->nrest[dir]);
    if (n)
        memcpy(joined + r->nrest[dir], bytes, n);
    p = guard_copy(joined, len);
    while (off < len) {
        size_t nev = 99999, k;
        int need = -1;
        size_t got = smtp_session_feed(&r->s, dir, p + off, len - off, flush ? SMTP_FEED_FLUSH : 0,
                                       r->ev, r->o->evcap, &nev, &need);
        if (got > len - off)
            fail(r, "consumed %zu of %zu", got, len - off);
        if (nev > r->o->evcap)
            fail(r, "nev %zu > cap %zu", nev, r->o->evcap);
        if (need != 0 && need != 1)
            fail(r, "need_more not set");
        if (smtp_session_pending(&r->s) > SMTP_PENDING_MAX)
            fail(r, "queue %u", smtp_session_pending(&r->s));
        if (r->err)
            break;
        for (k = 0; k < nev; k++) {
            check_event(r, dir, &r->ev[k], len - off, r->pos[dir]);
            log_event(r, &r->ev[k], r->pos[dir] + r->ev[k].off);
        }
        off += got;
        r->pos[dir] += got;
        if (need) {
            if (flush)
                fail(r, "need_more under SMTP_FEED_FLUSH");
            break;
        }
        if (got == 0) {
            fail(r, "no progress without need_more (%zu events)", nev);
            break;
        }
    }
    r->nrest[dir] = len - off;
    free(r->rest[dir]);
    r->rest[dir] = malloc(len - off + 1);
    memcpy(r->rest[dir], p + off, len - off);
    free(joined);
}

static void feed_step(run *r, int dir, const uint8_t *b, size_t n, int flush, size_t step)
{
    size_t i;

    switch (r->o->mode) {
    case MODE_BYTES:
        if (n == 0)
            feed(r, dir, b, 0, flush);
        for (i = 0; i < n; i++)
            feed(r, dir, b + i, 1, flush && i == n - 1);
        break;
    case MODE_SPLIT:
        if (step == r->o->split_step && r->o->split_at > 0 && r->o->split_at < n) {
            feed(r, dir, b, r->o->split_at, 0);
            feed(r, dir, b + r->o->split_at, n - r->o->split_at, flush);
            break;
        }
        /* fall through */
    default:
        feed(r, dir, b, n, flush);
        break;
    }
}

static void render(run *r, char **out)
{
    size_t cap = 256 + r->nlog * 96, n = 0, i;
    char *s = malloc(cap);

#define P(...) (n += (size_t)snprintf(s + n, cap - n, __VA_ARGS__))
    for (i = 0; i < r->nlog; i++) {
        const smtp_event *e = &r->log[i].e;
        char d = e->dir ? 's' : 'c';
        unsigned fl = e->flags;
        switch (e->type) {
        case SMTP_EV_COMMAND:
            P("COMMAND %c seq=%u verb=%s len=%llu", d, e->seq, smtp_verb_name((smtp_verb)e->verb),
              (unsigned long long)r->log[i].len);
            break;
        case SMTP_EV_SASL:
            P("SASL %c seq=%u len=%llu", d, e->seq, (unsigned long long)r->log[i].len);
            break;
        case SMTP_EV_REPLY:
            P("REPLY %c code=%u lines=%u answers=", d, e->code, e->nlines);
            if (e->seq)
                P("%u/%s", e->seq, smtp_verb_name((smtp_verb)e->verb));
            else
                P("none");
            P(" len=%llu", (unsigned long long)r->log[i].len);
            break;
        case SMTP_EV_BODY:
            P("BODY %c msg=%u len=%llu", d, e->msg, (unsigned long long)r->log[i].len);
            break;
        case SMTP_EV_EOD:
            P("EOD %c seq=%u msg=%u len=%llu", d, e->seq, e->msg, (unsigned long long)r->log[i].len);
            if (e->nlines > 1)
                P(" replies=%u", e->nlines);
            break;
        case SMTP_EV_CHUNK:
            P("CHUNK %c seq=%u msg=%u len=%llu", d, e->seq, e->msg, (unsigned long long)r->log[i].len);
            break;
        case SMTP_EV_FRAGMENT:
            P("FRAGMENT %c %s len=%llu", d, anomaly_id(e->code), (unsigned long long)r->log[i].len);
            break;
        case SMTP_EV_TLS:
            P("TLS %c", d);
            break;
        case SMTP_EV_ANOMALY:
            P("ANOMALY %c %s", d, anomaly_id(e->code));
            break;
        case SMTP_EV_TXN_END:
            P("TXN_END %c txn=%u by=%u %s", d, e->txn, e->seq,
              smtp_txn_outcome_name((smtp_txn_outcome)e->code));
            break;
        case REC_GAP:
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
            fl &= ~(unsigned)(SMTP_EVF_GREETING | SMTP_EVF_UNSYNC);
        }
        if (e->type == SMTP_EV_BODY || e->type == SMTP_EV_CHUNK) {
            if (fl & SMTP_EVF_FIRST)
                P(" first");
            if (e->type == SMTP_EV_CHUNK && (fl & SMTP_EVF_LAST))
                P(" last");
            fl &= ~(unsigned)(SMTP_EVF_FIRST | (e->type == SMTP_EV_CHUNK ? SMTP_EVF_LAST : 0));
        }
        if (e->type == SMTP_EV_FRAGMENT && (fl & SMTP_EVF_CONT)) {
            P(" cont");
            fl &= ~SMTP_EVF_CONT;
        }
        if (fl && e->type != REC_GAP)
            P(" flags=0x%x", fl);
        P("\n");
        if (cap - n < 160) {
            cap *= 2;
            s = realloc(s, cap);
        }
    }
    if (r->nrest[0] || r->nrest[1])
        P("REST c=%zu s=%zu\n", r->nrest[0], r->nrest[1]);
#undef P
    *out = s;
}

char *transcript_run(const char *const *steps, const run_opts *o, const char **err)
{
    run r;
    size_t i;
    char *out;
    smtp_config cfg;

    memset(&r, 0, sizeof r);
    r.o = o;
    r.ev = calloc(o->evcap, sizeof *r.ev);
    cfg.max_line = o->max_line;
    cfg.max_reply = 65536;
    smtp_session_init(&r.s, o->max_line ? &cfg : NULL);
    for (i = 0; steps[i] != NULL && !r.err; i++) {
        const char *st = steps[i];
        int dir, flush = 0;
        if (st[0] == 'G' && st[1] == ':') {
            smtp_event g;
            unsigned long lost = strtoul(st + 5, NULL, 10);
            dir = st[3] == 's' ? SMTP_DIR_SERVER : SMTP_DIR_CLIENT;
            r.pos[dir] += r.nrest[dir] + lost;
            r.unit_end[dir] = r.pos[dir];
            r.nrest[dir] = 0;
            smtp_session_gap(&r.s, dir, lost);
            memset(&g, 0, sizeof g);
            g.type = REC_GAP;
            g.dir = (uint8_t)dir;
            g.seq = (uint32_t)lost;
            log_event(&r, &g, r.pos[dir]);
            continue;
        }
        if (st[0] != 'C' && st[0] != 'S') {
            fail(&r, "bad step \"%s\"", st);
            break;
        }
        dir = st[0] == 'S' ? SMTP_DIR_SERVER : SMTP_DIR_CLIENT;
        st++;
        if (*st == '!') {
            flush = 1;
            st++;
        }
        if (st[0] != ':' || (st[1] != ' ' && st[1] != 0)) {
            fail(&r, "bad step \"%s\"", steps[i]);
            break;
        }
        st += st[1] ? 2 : 1;
        feed_step(&r, dir, (const uint8_t *)st, strlen(st), flush, i);
    }
    render(&r, &out);
    *err = r.err;
    free(r.ev);
    free(r.log);
    free(r.rest[0]);
    free(r.rest[1]);
    return out;
}

static int compare(const char *name, const char *mode, const char *got, const char *err,
                   const char *want)
{
    if (err) {
        t_check(0, err, __FILE__, __LINE__);
        t_note("  [%s] mode %s\n", name, mode);
        return 0;
    }
    if (strcmp(got, want) != 0) {
        t_check_str(got, want, "event log", __FILE__, __LINE__);
        t_note("  [%s] mode %s\n", name, mode);
        return 0;
    }
    t_check(1, "", __FILE__, __LINE__);
    return 1;
}

void transcript_check(const char *name, const char *const *steps, uint32_t max_line,
                      const char *want)
{
    run_opts o;
    const char *err;
    char *got, mode[64];
    size_t i, k;

    t_begin(name);
    memset(&o, 0, sizeof o);
    o.max_line = max_line;
    o.evcap = 4096;
    o.mode = MODE_WHOLE;
    got = transcript_run(steps, &o, &err);
    if (want == NULL) {
        printf("---- %s%s%s\n%s", name, err ? ": " : "", err ? err : "", got);
        free(got);
        t_check(0, "no expected log", __FILE__, __LINE__);
        return;
    }
    if (!compare(name, "whole", got, err, want)) {
        free(got);
        return;
    }
    free(got);

    o.evcap = SMTP_EVENTS_MIN;
    got = transcript_run(steps, &o, &err);
    compare(name, "whole, 16 events", got, err, want);
    free(got);

    o.evcap = 4096;
    o.mode = MODE_BYTES;
    got = transcript_run(steps, &o, &err);
    compare(name, "byte by byte", got, err, want);
    free(got);

    o.evcap = SMTP_EVENTS_MIN;
    got = transcript_run(steps, &o, &err);
    compare(name, "byte by byte, 16 events", got, err, want);
    free(got);

    o.evcap = 4096;
    o.mode = MODE_SPLIT;
    for (i = 0; steps[i] != NULL; i++) {
        size_t n = strlen(steps[i]);
        for (k = 1; k < n; k++) {
            int ok;
            o.split_step = i;
            o.split_at = k;
            got = transcript_run(steps, &o, &err);
            snprintf(mode, sizeof mode, "split step %zu at %zu", i, k);
            ok = compare(name, mode, got, err, want);
            free(got);
            if (!ok)
                return;
        }
    }
}
