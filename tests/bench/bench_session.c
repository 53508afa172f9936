/* bench_session.c: feeds a canned realistic session through the engine N
 * times and prints throughput and event counts.
 *
 *   bench_session [iterations] [segment]
 *
 * segment > 0 feeds each direction in pieces of that many bytes, the way a
 * desegmenting caller would (unconsumed rest fed again with the next piece).
 * SPDX-License-Identifier: GPL-2.0-or-later */
#define _POSIX_C_SOURCE 199309L
#include "smtp_session.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct step {
    int dir;
    uint8_t *b;
    size_t n;
} step;

static step steps[32];
static size_t nsteps;

static void add(int dir, const char *s, size_t n)
{
    steps[nsteps].dir = dir;
    steps[nsteps].b = malloc(n);
    memcpy(steps[nsteps].b, s, n);
    steps[nsteps].n = n;
    nsteps++;
}

#define ADD(dir, s) add(dir, s, strlen(s))

static void build(void)
{
    char *body = malloc(70000), *p = body;
    size_t line = 0;
    int i;

    ADD(SMTP_DIR_SERVER, "220 mx.example.org ESMTP Postfix\r\n");
    ADD(SMTP_DIR_CLIENT, "EHLO client.example.net\r\n");
    ADD(SMTP_DIR_SERVER, "250-mx.example.org\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n"
                         "250-ETRN\r\n250-STARTTLS\r\n250-ENHANCEDSTATUSCODES\r\n250-8BITMIME\r\n"
                         "250-DSN\r\n250-SMTPUTF8\r\n250 CHUNKING\r\n");
    {
        char cmds[1024];
        strcpy(cmds, "MAIL FROM:<sender@example.net> SIZE=65536 BODY=8BITMIME\r\n");
        for (i = 0; i < 5; i++)
            sprintf(cmds + strlen(cmds), "RCPT TO:<rcpt%d@example.org> NOTIFY=SUCCESS,FAILURE\r\n", i);
        strcat(cmds, "DATA\r\n");
        ADD(SMTP_DIR_CLIENT, cmds);
    }
    ADD(SMTP_DIR_SERVER, "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n250 2.1.5 Ok\r\n250 2.1.5 Ok\r\n"
                         "250 2.1.5 Ok\r\n250 2.1.5 Ok\r\n354 End data with <CR><LF>.<CR><LF>\r\n");
    /* 64 kB of 76-character lines, every 20th dot-stuffed */
    p += sprintf(p, "From: sender@example.net\r\nTo: rcpt0@example.org\r\nSubject: bench\r\n\r\n");
    while ((size_t)(p - body) < 65536) {
        int k;
        if (line % 20 == 19)
            *p++ = '.';
        for (k = 0; k < 76; k++)
            *p++ = (char)('A' + (line + (size_t)k) % 26);
        *p++ = '\r';
        *p++ = '\n';
        line++;
    }
    p += sprintf(p, ".\r\n");
    add(SMTP_DIR_CLIENT, body, (size_t)(p - body));
    free(body);
    ADD(SMTP_DIR_SERVER, "250 2.0.0 Ok: queued as 4Xyz12AbC\r\n");
    ADD(SMTP_DIR_CLIENT, "QUIT\r\n");
    ADD(SMTP_DIR_SERVER, "221 2.0.0 Bye\r\n");
}

int main(int argc, char **argv)
{
    long iters = argc > 1 ? atol(argv[1]) : 2000;
    size_t seg = argc > 2 ? (size_t)atol(argv[2]) : 0;
    smtp_event ev[256];
    uint8_t *rest = malloc(1 << 17);
    uint64_t bytes = 0, events = 0, per_type[16] = { 0 };
    struct timespec t0, t1;
    double secs;
    long it;
    size_t i;

    build();
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (it = 0; it < iters; it++) {
        smtp_session s;
        size_t nrest[2] = { 0, 0 };
        uint8_t *rb[2];
        rb[0] = rest;
        rb[1] = rest + (1 << 16);
        smtp_session_init(&s, NULL);
        for (i = 0; i < nsteps; i++) {
            const step *st = &steps[i];
            size_t at = 0;
            while (at < st->n) {
                size_t piece = seg ? (st->n - at < seg ? st->n - at : seg) : st->n - at;
                const uint8_t *buf = st->b + at;
                size_t len = piece, off = 0;
                if (nrest[st->dir]) {
                    memcpy(rb[st->dir] + nrest[st->dir], buf, piece);
                    buf = rb[st->dir];
                    len = nrest[st->dir] + piece;
                }
                while (off < len) {
                    size_t nev, k;
                    int need;
                    size_t got = smtp_session_feed(&s, st->dir, buf + off, len - off, 0, ev,
                                                   sizeof ev / sizeof ev[0], &nev, &need);
                    events += nev;
                    for (k = 0; k < nev; k++)
                        per_type[ev[k].type & 15]++;
                    off += got;
                    if (need)
                        break;
                }
                memmove(rb[st->dir], buf + off, len - off);
                nrest[st->dir] = len - off;
                bytes += piece;
                at += piece;
            }
        }
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    printf("iterations %ld, segment %zu, session %llu bytes\n", iters, seg,
           (unsigned long long)(bytes / (uint64_t)(iters ? iters : 1)));
    printf("bytes %llu in %.3f s: %.1f MB/s\n", (unsigned long long)bytes, secs,
           secs > 0 ? (double)bytes / secs / 1e6 : 0.0);
    printf("events %llu (%.1f per session): command %llu reply %llu body %llu eod %llu anomaly %llu\n",
           (unsigned long long)events, (double)events / (double)(iters ? iters : 1),
           (unsigned long long)per_type[SMTP_EV_COMMAND], (unsigned long long)per_type[SMTP_EV_REPLY],
           (unsigned long long)per_type[SMTP_EV_BODY], (unsigned long long)per_type[SMTP_EV_EOD],
           (unsigned long long)per_type[SMTP_EV_ANOMALY]);
    for (i = 0; i < nsteps; i++)
        free(steps[i].b);
    free(rest);
    return 0;
}
