/* transcript.c: the session transcript driver.
 * SPDX-License-Identifier: GPL-2.0-or-later */
#include "transcript.h"
#include "evlog.h"
#include "runner.h"
#include "smtp_codes.h"
#include "smtp_session.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct run {
    smtp_session s;
    const run_opts *o;
    smtp_event *ev;
    smtp_parsed *parsed; /* the engine's parse of COMMAND and REPLY events */
    uint8_t *rest[2];
    size_t nrest[2];
    uint64_t pos[2]; /* stream offset of the next byte the engine gets */
    evlog log;
    const char *err;
    void *queue;     /* the session's grown queue storage */
    int decrypted;   /* the step's bytes come out of TLS */
} run;

/* The session's grow function: realloc, remembering the block to free. */
static void *grow_queue(void *ctx, void *old, size_t bytes)
{
    run *r = ctx;
    void *p = realloc(old, bytes);
    if (p != NULL)
        r->queue = p;
    return p;
}

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

static int same_span(smtp_span a, smtp_span b)
{
    return a.off == b.off && a.len == b.len;
}

static int same_command(const smtp_command *a, const smtp_command *b)
{
    unsigned i;

    if (a->verb != b->verb || a->flags != b->flags || a->nparams != b->nparams || a->size != b->size ||
        !same_span(a->verb_span, b->verb_span) || !same_span(a->arg, b->arg) || !same_span(a->path, b->path))
        return 0;
    for (i = 0; i < a->nparams && i < SMTP_MAX_PARAMS; i++)
        if (!same_span(a->params[i], b->params[i]))
            return 0;
    return 1;
}

static int same_reply(const smtp_reply_line *a, const smtp_reply_line *b)
{
    return a->code == b->code && a->sep == b->sep && same_span(a->text, b->text) &&
           same_span(a->status, b->status) && a->st_class == b->st_class &&
           a->st_subject == b->st_subject && a->st_detail == b->st_detail;
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
        size_t got = smtp_session_feed_parsed(&r->s, dir, p + off, len - off,
                                              (flush ? SMTP_FEED_FLUSH : 0) |
                                                  (r->decrypted ? SMTP_FEED_DECRYPTED : 0) |
                                                  /* the rest is what the last feed left */
                                                  (off == 0 && r->nrest[dir] ? SMTP_FEED_RESUME : 0),
                                              r->ev, r->parsed, r->o->evcap, &nev, &need);
        if (got > len - off)
            fail(r, "consumed %zu of %zu", got, len - off);
        if (nev > r->o->evcap)
            fail(r, "nev %zu > cap %zu", nev, r->o->evcap);
        if (need != 0 && need != 1)
            fail(r, "need_more not set");
        if (smtp_session_pending(&r->s) > smtp_session_queue_capacity(&r->s))
            fail(r, "queue %u", smtp_session_pending(&r->s));
        if (r->err)
            break;
        for (k = 0; k < nev; k++) {
            const char *bad = evlog_check(&r->log, dir, &r->ev[k], len - off, r->pos[dir]);
            if (bad)
                fail(r, "%s", bad);
            evlog_add(&r->log, &r->ev[k], r->pos[dir] + r->ev[k].off);
            if (r->ev[k].type == SMTP_EV_COMMAND) {
                /* the engine's parse is the line's, as a caller would make it */
                smtp_command again;
                size_t cl = r->ev[k].len;
                const uint8_t *line = p + off + r->ev[k].off;
                if (cl > 0 && line[cl - 1] == '\n')
                    cl--;
                if (cl > 0 && line[cl - 1] == '\r')
                    cl--;
                smtp_parse_command(line, cl, &again);
                if (!same_command(&again, &r->parsed[k].cmd))
                    fail(r, "COMMAND event %zu: the engine's parse differs from the line's", k);
            } else if (r->ev[k].type == SMTP_EV_REPLY) {
                /* the first line's parse is the line's */
                smtp_reply_line again;
                const uint8_t *line = p + off + r->ev[k].off;
                const uint8_t *lf = memchr(line, '\n', r->ev[k].len);
                size_t l1 = lf ? (size_t)(lf - line) : r->ev[k].len;
                if (l1 > 0 && line[l1 - 1] == '\r')
                    l1--;
                if (!smtp_parse_reply_line(line, l1, &again) || !same_reply(&again, &r->parsed[k].reply))
                    fail(r, "REPLY event %zu: the engine's parse of its first line differs", k);
            }
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

char *transcript_run(const char *const *steps, const run_opts *o, const char **err)
{
    run r;
    size_t i;
    char *out;
    smtp_config cfg;

    memset(&r, 0, sizeof r);
    r.o = o;
    r.ev = calloc(o->evcap, sizeof *r.ev);
    r.parsed = calloc(o->evcap, sizeof *r.parsed);
    memset(&cfg, 0, sizeof cfg);
    cfg.max_line = o->max_line ? o->max_line : 16384;
    cfg.max_reply = 65536;
    cfg.max_pending = o->max_pending ? o->max_pending : 64;
    cfg.grow = grow_queue;
    cfg.grow_ctx = &r;
    smtp_session_init(&r.s, &cfg);
    for (i = 0; steps[i] != NULL && !r.err; i++) {
        const char *st = steps[i];
        int dir, flush = 0;
        if (st[0] == 'G' && st[1] == ':') {
            unsigned long lost = strtoul(st + 5, NULL, 10);
            dir = st[3] == 's' ? SMTP_DIR_SERVER : SMTP_DIR_CLIENT;
            r.pos[dir] += r.nrest[dir] + lost;
            r.nrest[dir] = 0;
            smtp_session_gap(&r.s, dir, lost);
            evlog_gap(&r.log, dir, lost, r.pos[dir]);
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
        r.decrypted = *st == 't';
        if (r.decrypted)
            st++;
        if (st[0] != ':' || (st[1] != ' ' && st[1] != 0)) {
            fail(&r, "bad step \"%s\"", steps[i]);
            break;
        }
        st += st[1] ? 2 : 1;
        feed_step(&r, dir, (const uint8_t *)st, strlen(st), flush, i);
    }
    out = evlog_render(&r.log, r.nrest[0], r.nrest[1]);
    *err = r.err;
    free(r.ev);
    free(r.parsed);
    free(r.queue);
    evlog_free(&r.log);
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
