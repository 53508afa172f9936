/* fuzz_parse.c: libFuzzer target for the stateless parts: command and reply
 * line parsers, status codes, line and reply framing, dot-unstuffing.  The
 * first byte picks the framing limits; the rest is the input.
 * SPDX-License-Identifier: GPL-2.0-or-later */
#include "smtp_frame.h"
#include "smtp_parse.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(c) do { if (!(c)) { fprintf(stderr, "invariant failed: %s (line %d)\n", #c, __LINE__); abort(); } } while (0)

static void span_in(smtp_span s, size_t len)
{
    CHECK((uint64_t)s.off + s.len <= len);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    smtp_command c;
    smtp_reply_line rl;
    smtp_line ln;
    smtp_reply_frame rf;
    size_t max_line, max_reply, len, i;
    uint8_t *p;
    long r;

    if (size < 1)
        return 0;
    /* 0x3f: lines may pass RFC 5321's 512 bytes (SMTP_REPLY_LONG_LINE) */
    max_line = (data[0] & 0x3f) == 0x3f ? 1000 : 1 + (size_t)(data[0] & 0x3f) * 3;
    max_reply = max_line + (size_t)(data[0] >> 6) * 50;
    len = size - 1;
    p = malloc(len ? len : 1);
    if (p == NULL)
        abort();
    memcpy(p, data + 1, len);

    smtp_parse_command(p, len, &c);
    span_in(c.verb_span, len);
    span_in(c.arg, len);
    span_in(c.path, len);
    CHECK(c.nparams <= SMTP_MAX_PARAMS);
    for (i = 0; i < c.nparams; i++)
        span_in(c.params[i], len);
    CHECK((unsigned)c.verb < SMTP_VERB_COUNT);
    CHECK(c.verb == smtp_verb_lookup(p, c.verb_span.len) || (c.flags & SMTP_CMD_NOT_COMMAND));
    if (c.flags & SMTP_CMD_NOT_COMMAND)
        CHECK(c.verb == SMTP_VERB_UNKNOWN);
    if (c.verb == SMTP_VERB_BDAT && (c.flags & SMTP_CMD_BDAT_OK))
        CHECK(c.size <= ((uint64_t)1 << 62));
    (void)smtp_command_plausible(&c);

    if (smtp_parse_reply_line(p, len, &rl)) {
        CHECK(len >= 3 && rl.code <= 999);
        CHECK(rl.sep == 0 || rl.sep == ' ' || rl.sep == '-');
        span_in(rl.text, len);
        span_in(rl.status, len);
        if (rl.status.len)
            CHECK(rl.st_class == 2 || rl.st_class == 4 || rl.st_class == 5);
        {
            /* the domain a greeting starts with: inside the text, no blank */
            smtp_span d = smtp_reply_domain(p + rl.text.off, rl.text.len);
            CHECK(d.off == 0 && d.len <= rl.text.len);
            CHECK(memchr(p + rl.text.off, ' ', d.len) == NULL);
        }
    }
    {
        uint8_t cls;
        uint16_t su, de;
        size_t sl = smtp_parse_status(p, len, &cls, &su, &de);
        CHECK(sl <= len && (sl == 0 || sl >= 5));
        if (sl)
            CHECK(su <= 999 && de <= 999);
    }

    {
        /* the first CR or LF, 16 bytes at a time: where a byte-by-byte
         * scan finds it, or SMTP_SCAN_LONG when none is in the first limit
         * bytes; limits below, at and above the buffer's length, 16-byte
         * steps and not */
        const size_t limits[] = { 0, 1, 15, 16, 17, 64, 128, 1000, len };
        size_t ref = 0, li;
        while (ref < len && p[ref] != '\r' && p[ref] != '\n')
            ref++;
        for (li = 0; li < sizeof limits / sizeof limits[0]; li++) {
            size_t got = smtp_first_cr_lf(p, len, limits[li]);
            if (got == SMTP_SCAN_LONG)
                CHECK(ref >= limits[li]);
            else
                CHECK(got == ref);
        }
    }

    r = smtp_frame_line(p, len, max_line, &ln);
    if (r == SMTP_NEED_MORE) {
        CHECK(len < max_line && memchr(p, '\n', len) == NULL);
    } else {
        CHECK(r > 0 && (size_t)r <= len && (size_t)r <= max_line);
        CHECK((long)ln.len + ln.eol == r);
        CHECK(ln.eol <= 2 && ((ln.eol == 0) == ((ln.flags & SMTP_LINE_CUT) != 0)));
    }

    r = smtp_frame_reply(p, len, max_line, max_reply, &rf);
    if (r != SMTP_NEED_MORE) {
        CHECK(r > 0 && (size_t)r <= len);
        CHECK(rf.len == (uint32_t)r && rf.nlines >= 1);
        CHECK((size_t)r <= max_reply + max_line);
        /* a complete reply frames the same once more bytes follow it */
        if ((size_t)r < len && !(rf.flags & (SMTP_REPLY_UNTERM | SMTP_REPLY_CUT))) {
            smtp_reply_frame again;
            long r2 = smtp_frame_reply(p, (size_t)r, max_line, max_reply, &again);
            CHECK(r2 == r && again.nlines == rf.nlines && again.flags == rf.flags);
        }
    } else {
        CHECK(len < max_reply + max_line);
    }
    {
        /* framed in pieces, going on from where the last piece's framing
         * stopped (smtp_frame_reply_from), a reply frames as it does
         * whole: the buffer grows by step bytes at a time */
        size_t step = 1 + (len > 0 ? p[len - 1] % 61 : 0), n = 0, from = 0;
        smtp_reply_frame part;
        long rp = SMTP_NEED_MORE;

        memset(&part, 0x5a, sizeof part); /* nothing read from it before it is set */
        while (rp == SMTP_NEED_MORE && n < len) {
            n = n + step < len ? n + step : len;
            rp = smtp_frame_reply_from(p, n, max_line, max_reply, &part, &from);
            CHECK(rp != SMTP_NEED_MORE || from <= n);
        }
        CHECK(rp == r);
        if (r != SMTP_NEED_MORE)
            CHECK(part.len == rf.len && part.nlines == rf.nlines && part.code == rf.code &&
                  part.flags == rf.flags && part.first.code == rf.first.code &&
                  part.first.sep == rf.first.sep && part.first.status.len == rf.first.status.len);
    }

    {
        /* dot-unstuffing of a DATA body: the leading "." of every line
         * dropped, as a byte-by-byte reference says; the output buffer
         * exactly as long as the input, so writing past it shows */
        uint8_t *u = malloc(len ? len : 1);
        size_t un, k, o = 0;
        int start = 1;

        CHECK(u != NULL);
        un = smtp_unstuff(u, p, len);
        CHECK(un <= len);
        for (k = 0; k < len; k++) {
            if (start && p[k] == '.') {
                start = 0;
                continue;
            }
            CHECK(o < un && u[o] == p[k]);
            o++;
            start = p[k] == '\n';
        }
        CHECK(o == un);
        CHECK(smtp_unstuffed_len(p, len) == un);
        free(u);
    }
    free(p);
    return 0;
}
