/* fuzz_session.c: libFuzzer target for the session engine.
 *
 * Input: a 4-byte header, then records.  Header: [0] max_line choice,
 * [1] options (bit 0-1 event array size, bit 2 max_reply small, bit 3 the
 * connection ends with a reset rather than the server's FIN), [2..3]
 * seed of the split points.  Each record is a chunk of one direction's
 * stream: 0x00, a record byte h (1..255), then the bytes up to the next
 * record; inside them 0x00 0x00 is a literal NUL byte, so the two cannot be
 * confused.  The control value is ctl = h - 1: bit 0 server, bit 1 feed the
 * chunk's end with SMTP_FEED_FLUSH, bit 2 a gap of (ctl >> 3) * 7 bytes
 * before it.  Bytes before the first record are a client chunk.
 * tests/tools/pcap2seed.py writes this format from a capture.
 *
 * The chunks are fed twice to two sessions the way a desegmenting caller
 * does (unconsumed bytes kept and fed again joined with the next ones):
 * once whole, once cut at pseudo-random points with a small event array.
 * Invariants are checked with abort(), and the two event logs, made
 * canonical by tests/unit/evlog.c as in the unit tests, must be equal.
 * The cut session is parked and brought back into a fresh one whenever it
 * can be (smtp_session_park), so the logs also say that parking loses
 * nothing.  At the end the connection closes (smtp_session_close) for both,
 * the cut one is parked if it can be (a closed session can, QUIT or not),
 * and both are fed the same few lines more: the logs must still be equal.
 * SPDX-License-Identifier: GPL-2.0-or-later */
#include "evlog.h"
#include "smtp_session.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(c) do { if (!(c)) { fprintf(stderr, "invariant failed: %s (line %d)\n", #c, __LINE__); abort(); } } while (0)

typedef struct feeder {
    smtp_session s;
    smtp_event *ev;
    size_t evcap;
    uint8_t *rest[2];
    size_t nrest[2];
    uint64_t pos[2];
    size_t max_buffer;
    evlog log;
    smtp_config cfg;
    int park;      /* park and unpark after every feed that allows it */
} feeder;

static void park_unpark(feeder *f)
{
    uint8_t parked[SMTP_PARKED_MAX];
    if (smtp_session_park(&f->s, parked)) {
        CHECK(smtp_session_queue_storage(&f->s) == NULL); /* no grow function here */
        memset(&f->s, 0xa5, sizeof f->s); /* nothing of the old one survives */
        smtp_session_init(&f->s, &f->cfg);
        smtp_session_unpark(&f->s, parked);
        CHECK(smtp_session_pending(&f->s) == 0);
    }
}

static void feed(feeder *f, int dir, const uint8_t *b, size_t n, int flush)
{
    size_t len = f->nrest[dir] + n, off = 0;
    uint8_t *buf = malloc(len ? len : 1);

    CHECK(buf);
    if (f->nrest[dir])
        memcpy(buf, f->rest[dir], f->nrest[dir]);
    if (n)
        memcpy(buf + f->nrest[dir], b, n);
    while (off < len) {
        size_t nev = (size_t)-1, k, left = len - off;
        int need = -1;
        /* a copy of exactly the bytes fed, so over-reads are caught */
        uint8_t *exact = malloc(left);
        size_t got;

        CHECK(exact);
        memcpy(exact, buf + off, left);
        /* the rest is what the last feed of dir left: the engine may go on
         * from what it framed of it */
        got = smtp_session_feed(&f->s, dir, exact, left,
                                (flush ? SMTP_FEED_FLUSH : 0) |
                                    (off == 0 && f->nrest[dir] ? SMTP_FEED_RESUME : 0),
                                f->ev, f->evcap, &nev, &need);
        free(exact);
        CHECK(got <= left);
        CHECK(nev <= f->evcap);
        CHECK(need == 0 || need == 1);
        CHECK(smtp_session_pending(&f->s) <= smtp_session_queue_capacity(&f->s));
        CHECK(!(need && flush));
        CHECK(need || got > 0);
        for (k = 0; k < nev; k++) {
            const smtp_event *e = &f->ev[k];
            const char *bad = evlog_check(&f->log, dir, e, left, f->pos[dir]);
            if (bad) {
                fprintf(stderr, "invariant failed: %s\n", bad);
                abort();
            }
            evlog_add(&f->log, e, f->pos[dir] + e->off);
        }
        off += got;
        f->pos[dir] += got;
        if (f->park)
            park_unpark(f);
        if (need)
            break;
    }
    f->nrest[dir] = len - off;
    /* buffering stays bounded: one line, or one multi-line reply */
    CHECK(f->nrest[dir] <= f->max_buffer);
    free(f->rest[dir]);
    f->rest[dir] = malloc(f->nrest[dir] + 1);
    CHECK(f->rest[dir]);
    memcpy(f->rest[dir], buf + off, f->nrest[dir]);
    free(buf);
}

static void gap(feeder *f, int dir, uint64_t lost)
{
    f->pos[dir] += f->nrest[dir] + lost;
    f->nrest[dir] = 0;
    smtp_session_gap(&f->s, dir, lost);
    evlog_gap(&f->log, dir, lost, f->pos[dir]);
}

static uint32_t rng_next(uint32_t *x)
{
    *x ^= *x << 13;
    *x ^= *x >> 17;
    *x ^= *x << 5;
    return *x;
}

static void feeder_init(feeder *f, const smtp_config *cfg, size_t evcap)
{
    memset(f, 0, sizeof *f);
    smtp_session_init(&f->s, cfg);
    f->evcap = evcap;
    f->ev = malloc(evcap * sizeof *f->ev);
    CHECK(f->ev);
    f->max_buffer = (size_t)cfg->max_reply + cfg->max_line;
    f->cfg = *cfg;
}

static void feeder_free(feeder *f)
{
    free(f->ev);
    free(f->rest[0]);
    free(f->rest[1]);
    evlog_free(&f->log);
}

static void same_logs(feeder *whole, feeder *cut)
{
    long d = evlog_diff(&whole->log, &cut->log);
    if (d >= 0) {
        char *a = evlog_render(&whole->log, whole->nrest[0], whole->nrest[1]);
        char *b = evlog_render(&cut->log, cut->nrest[0], cut->nrest[1]);
        fprintf(stderr, "event logs differ at record %ld\n---- fed whole\n%s---- fed cut\n%s", d, a, b);
        abort();
    }
    CHECK(whole->nrest[0] == cut->nrest[0] && whole->nrest[1] == cut->nrest[1]);
}

/* The connection ends: the transactions it cuts off, logged. */
static void close_session(feeder *f, unsigned how)
{
    smtp_event ev[SMTP_PENDING_INLINE + 2]; /* one a message awaiting its reply, and the open one */
    size_t n = smtp_session_close(&f->s, SMTP_DIR_SERVER, how, ev, sizeof ev / sizeof ev[0]), k;

    CHECK(n < sizeof ev / sizeof ev[0]);
    for (k = 0; k < n; k++) {
        CHECK(ev[k].type == SMTP_EV_TXN_END);
        evlog_add(&f->log, &ev[k], f->pos[SMTP_DIR_SERVER]);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const uint32_t max_lines[8] = { 64, 65, 66, 100, 128, 512, 1000, 16384 };
    static const size_t caps[4] = { SMTP_EVENTS_MIN, SMTP_EVENTS_MIN + 1, 24, 64 };
    smtp_config cfg;
    feeder whole, cut;
    uint32_t seed;
    uint8_t *chunk;
    size_t i;

    if (size < 4)
        return 0;
    memset(&cfg, 0, sizeof cfg); /* no grow function: the inline queue only */
    cfg.max_line = max_lines[data[0] & 7];
    cfg.max_reply = (data[1] & 4) ? cfg.max_line + 200 : 65536;
    seed = ((uint32_t)data[2] << 8 | data[3]) + 1;
    feeder_init(&whole, &cfg, 4096);
    feeder_init(&cut, &cfg, caps[data[1] & 3]);
    cut.park = 1;
    chunk = malloc(size);
    CHECK(chunk);

    i = 4;
    while (i < size) {
        unsigned ctl = 0;
        size_t n = 0, at;
        int dir, flush;

        if (data[i] == 0 && i + 1 < size && data[i + 1] != 0) {
            ctl = data[i + 1] - 1u;
            i += 2;
        }
        while (i < size) {
            if (data[i] == 0) {
                if (i + 1 < size && data[i + 1] == 0) {
                    chunk[n++] = 0;
                    i += 2;
                    continue;
                }
                break;
            }
            chunk[n++] = data[i++];
        }
        if (i + 1 == size && data[i] == 0)
            i++;
        dir = (ctl & 1) ? SMTP_DIR_SERVER : SMTP_DIR_CLIENT;
        flush = (ctl & 2) != 0;
        if (ctl & 4) {
            gap(&whole, dir, (uint64_t)(ctl >> 3) * 7);
            gap(&cut, dir, (uint64_t)(ctl >> 3) * 7);
        }
        feed(&whole, dir, chunk, n, flush);
        /* the same bytes cut at pseudo-random points */
        for (at = 0; at < n || (n == 0 && at == 0);) {
            size_t piece = n - at, r = rng_next(&seed);
            if ((r & 3) != 0)
                piece = 1 + (r >> 8) % (((r >> 4) & 1) ? 4 : 80);
            if (piece > n - at)
                piece = n - at;
            feed(&cut, dir, chunk + at, piece, flush && at + piece == n);
            at += piece;
            if (n == 0)
                break;
        }
    }

    /* the same events, however the bytes were cut */
    same_logs(&whole, &cut);

    /* then the connection ends (the server's FIN, or a reset): a closed
     * session parks, QUIT or not; the cut one is parked and brought back,
     * and both go on alike with a few more lines */
    {
        static const char more_c[] = "NOOP\r\nMAIL FROM:<a@x>\r\n", more_s[] = "250 ok\r\n250 ok\r\n";
        unsigned how = (data[1] & 8) ? SMTP_CLOSE_RESET : 0;
        close_session(&whole, how);
        close_session(&cut, how);
        park_unpark(&cut);
        feed(&whole, SMTP_DIR_CLIENT, (const uint8_t *)more_c, sizeof more_c - 1, 0);
        feed(&cut, SMTP_DIR_CLIENT, (const uint8_t *)more_c, sizeof more_c - 1, 0);
        feed(&whole, SMTP_DIR_SERVER, (const uint8_t *)more_s, sizeof more_s - 1, 0);
        feed(&cut, SMTP_DIR_SERVER, (const uint8_t *)more_s, sizeof more_s - 1, 0);
        same_logs(&whole, &cut);
    }
    free(chunk);
    feeder_free(&whole);
    feeder_free(&cut);
    return 0;
}
