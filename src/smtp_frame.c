/* smtp_frame.c: line and reply framing.  SPDX-License-Identifier: GPL-2.0-or-later */
#include "smtp_frame.h"
#include "smtp_parse.h"

#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

size_t smtp_first_cr_lf(const uint8_t *p, size_t n, size_t limit)
{
    size_t i;
#ifdef __SSE2__
    const __m128i cr = _mm_set1_epi8('\r'), lf = _mm_set1_epi8('\n');
    unsigned m;

    if (n >= 16) {
        for (i = 0; i + 16 <= n && i < limit; i += 16) {
            __m128i v = _mm_loadu_si128((const __m128i *)(const void *)(p + i));
            m = (unsigned)_mm_movemask_epi8(_mm_or_si128(_mm_cmpeq_epi8(v, cr), _mm_cmpeq_epi8(v, lf)));
            if (m != 0)
                return i + (size_t)__builtin_ctz(m);
        }
        if (i >= limit)
            return SMTP_SCAN_LONG;
        if (i < n) { /* the last n - i bytes: the top ones of a load that ends at p + n */
            __m128i v = _mm_loadu_si128((const __m128i *)(const void *)(p + n - 16));
            m = (unsigned)_mm_movemask_epi8(_mm_or_si128(_mm_cmpeq_epi8(v, cr), _mm_cmpeq_epi8(v, lf)));
            m >>= 16 - (n - i);
            if (m != 0)
                return i + (size_t)__builtin_ctz(m);
        }
        return n;
    }
#endif
    for (i = 0; i < n; i++) {
        if (i >= limit)
            return SMTP_SCAN_LONG;
        if (p[i] == '\r' || p[i] == '\n')
            return i;
    }
    return n;
}

long smtp_frame_line(const uint8_t *buf, size_t n, size_t max, smtp_line *out)
{
#if SMTP_PLANT_BUG == 1
    /* planted bug for the fuzzers (tests/fuzz, tests/tools/fuzz.sh --plant 1):
     * an off-by-one in the line framer that frames every reply line */
    size_t scan = n < max ? n : max + 1;
#else
    size_t scan = n < max ? n : max;
#endif
    const uint8_t *lf;
    size_t content;

    {
        /* the usual line: its first CR or LF ends it, a CRLF (or a bare
         * LF, with no CR before it): what the two scans below would find */
        size_t k = smtp_first_cr_lf(buf, scan, 64); /* SMTP_SCAN_LONG is past scan */
        if (k < scan && buf[k] == '\n') {
            out->flags = SMTP_LINE_BARE_LF;
            out->eol = 1;
            out->len = (uint32_t)k;
            return (long)(k + 1);
        }
        if (k < scan && k + 1 < scan && buf[k + 1] == '\n') { /* buf[k] is a CR */
            out->flags = 0;
            out->eol = 2;
            out->len = (uint32_t)k;
            return (long)(k + 2);
        }
    }
    lf = memchr(buf, '\n', scan);
    out->flags = 0;
    if (lf == NULL) {
        if (n < max)
            return SMTP_NEED_MORE;
        out->len = (uint32_t)max;
        out->eol = 0;
        out->flags = SMTP_LINE_CUT;
        if (memchr(buf, '\r', max) != NULL)
            out->flags |= SMTP_LINE_BARE_CR;
        return (long)max;
    }
    content = (size_t)(lf - buf);
    if (content > 0 && buf[content - 1] == '\r') {
        out->eol = 2;
        content--;
    } else {
        out->eol = 1;
        out->flags |= SMTP_LINE_BARE_LF;
    }
    if (content > 0 && memchr(buf, '\r', content) != NULL)
        out->flags |= SMTP_LINE_BARE_CR;
    out->len = (uint32_t)content;
    return (long)(content + out->eol);
}

/* Adds one line's flags to the reply's. */
static void note_line(smtp_reply_frame *out, const smtp_line *ln)
{
    if (ln->flags & SMTP_LINE_BARE_LF)
        out->flags |= SMTP_REPLY_BARE_LF;
    if (ln->flags & SMTP_LINE_BARE_CR)
        out->flags |= SMTP_REPLY_BARE_CR;
    if ((size_t)ln->len + 2 > 512)
        out->flags |= SMTP_REPLY_LONG_LINE;
}

long smtp_frame_reply_from(const uint8_t *buf, size_t n, size_t max_line,
                           size_t max_reply, smtp_reply_frame *out, size_t *from)
{
    size_t off = *from;
    smtp_line ln;
    smtp_reply_line rl;

    if (off == 0 || off > n || out->nlines == 0) {
        off = 0;
        memset(out, 0, sizeof *out);
    }
    *from = 0;
    for (;;) {
        long r = smtp_frame_line(buf + off, n - off, max_line, &ln);
        int ok;

        if (r == SMTP_NEED_MORE) {
            *from = off;
            return SMTP_NEED_MORE;
        }
        ok = !(ln.flags & SMTP_LINE_CUT) && smtp_parse_reply_line(buf + off, ln.len, &rl);
        if (out->nlines == 0) {
            if (!ok) {
                out->flags |= (ln.flags & SMTP_LINE_CUT) ? SMTP_REPLY_CUT : SMTP_REPLY_NOT_REPLY;
                out->nlines = 1;
                note_line(out, &ln);
                out->len = (uint32_t)r;
                return r;
            }
            out->code = rl.code;
            out->first = rl;
        } else if (!ok) {
            out->flags |= SMTP_REPLY_UNTERM;
            break;
        } else if (rl.code != out->code) {
            out->flags |= SMTP_REPLY_MISMATCH;
        }
        note_line(out, &ln);
        out->nlines++;
        off += (size_t)r;
        if (rl.sep != '-')
            break;
        if (off >= max_reply || out->nlines == UINT16_MAX) {
            out->flags |= SMTP_REPLY_UNTERM;
            break;
        }
        if (off == n) {
            *from = off;
            return SMTP_NEED_MORE;
        }
    }
    out->len = (uint32_t)off;
    return (long)off;
}

long smtp_frame_reply(const uint8_t *buf, size_t n, size_t max_line,
                      size_t max_reply, smtp_reply_frame *out)
{
    size_t from = 0;

    return smtp_frame_reply_from(buf, n, max_line, max_reply, out, &from);
}

size_t smtp_unstuffed_len(const uint8_t *src, size_t n)
{
    size_t i = 0, o = n;

    while (i < n) { /* the lines as smtp_unstuff goes through them */
        const uint8_t *lf;
        if (src[i] == '.') {
            i++;
            o--;
        }
        lf = i < n ? (const uint8_t *)memchr(src + i, '\n', n - i) : NULL;
        i = lf ? (size_t)(lf - src) + 1 : n;
    }
    return o;
}

size_t smtp_unstuff(uint8_t *dst, const uint8_t *src, size_t n)
{
    size_t i = 0, o = 0;

    while (i < n) {
        const uint8_t *lf;
        size_t end;
        if (src[i] == '.')
            i++;
        lf = i < n ? (const uint8_t *)memchr(src + i, '\n', n - i) : NULL;
        end = lf ? (size_t)(lf - src) + 1 : n;
        memmove(dst + o, src + i, end - i); /* dst may be src */
        o += end - i;
        i = end;
    }
    return o;
}
