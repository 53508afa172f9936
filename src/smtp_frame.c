/* smtp_frame.c: line and reply framing.  SPDX-License-Identifier: GPL-2.0-or-later */
#include "smtp_frame.h"
#include "smtp_parse.h"

#include <string.h>

long smtp_frame_line(const uint8_t *buf, size_t n, size_t max, smtp_line *out)
{
#if SMTP_PLANT_BUG == 1
    /* planted bug for the fuzzers (tests/fuzz, tests/tools/fuzz.sh --plant 1):
     * an off-by-one in the line framer that frames every reply line */
    size_t scan = n < max ? n : max + 1;
#else
    size_t scan = n < max ? n : max;
#endif
    const uint8_t *lf = memchr(buf, '\n', scan);
    size_t content;

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
