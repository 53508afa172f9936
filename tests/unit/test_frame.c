/* test_frame.c: smtp_frame_line and smtp_frame_reply.
 * SPDX-License-Identifier: GPL-2.0-or-later */
#include "runner.h"
#include "smtp_frame.h"

#include <stdlib.h>
#include <string.h>

static long fl(const char *s, size_t n, size_t max, smtp_line *out)
{
    memset(out, 0xa5, sizeof *out);
    return smtp_frame_line(guard_copy(s, n), n, max, out);
}

static long fr(const char *s, size_t n, size_t max_line, size_t max_reply, smtp_reply_frame *out)
{
    memset(out, 0xa5, sizeof *out);
    return smtp_frame_reply(guard_copy(s, n), n, max_line, max_reply, out);
}

#define L(s) s, (sizeof(s) - 1)

/* one complete line: bytes taken, content length, terminator, flags */
static void line_case(const char *name, const char *s, size_t n, size_t max,
                      long want_r, unsigned want_len, unsigned want_eol, unsigned want_flags)
{
    smtp_line ln;
    long r;
    t_begin(name);
    r = fl(s, n, max, &ln);
    CHECK_EQ(r, want_r);
    if (r >= 0) {
        CHECK_EQ(ln.len, want_len);
        CHECK_EQ(ln.eol, want_eol);
        CHECK_EQ(ln.flags, want_flags);
    }
}

/* every proper prefix of s needs more */
static void prefixes_need_more(const char *name, const char *s, size_t n, int reply)
{
    size_t k;
    t_begin(name);
    for (k = 0; k < n; k++) {
        if (reply) {
            smtp_reply_frame f;
            if (!CHECK_EQ(fr(s, k, 1024, 65536, &f), SMTP_NEED_MORE))
                t_note("  prefix length %zu\n", k);
        } else {
            smtp_line ln;
            if (!CHECK_EQ(fl(s, k, 1024, &ln), SMTP_NEED_MORE))
                t_note("  prefix length %zu\n", k);
        }
    }
}

static void reply_case(const char *name, const char *s, size_t n, size_t max_line, size_t max_reply,
                       long want_r, unsigned want_lines, unsigned want_code, unsigned want_flags)
{
    smtp_reply_frame f;
    long r;
    t_begin(name);
    r = fr(s, n, max_line, max_reply, &f);
    CHECK_EQ(r, want_r);
    if (r >= 0) {
        CHECK_EQ(f.len, (unsigned long)r);
        CHECK_EQ(f.nlines, want_lines);
        CHECK_EQ(f.code, want_code);
        CHECK_EQ(f.flags, want_flags);
    }
}

static void unstuff_case(const char *in, const char *want)
{
    uint8_t out[128], same[128];
    size_t n = smtp_unstuff(out, (const uint8_t *)in, strlen(in));
    CHECK_EQ(n, strlen(want));
    CHECK(n == strlen(want) && memcmp(out, want, n) == 0);
    /* in place, as a long message is kept */
    memcpy(same, in, strlen(in));
    n = smtp_unstuff(same, same, strlen(in));
    CHECK(n == strlen(want) && memcmp(same, want, n) == 0);
    /* and its length alone */
    CHECK_EQ(smtp_unstuffed_len((const uint8_t *)in, strlen(in)), strlen(want));
}

/* the first CR or LF: where, in a buffer of exactly n bytes (a copy on
 * the heap in the sanitizer build's eyes: no read past it) */
static void cr_lf_case(const char *name, const char *s, size_t n, size_t limit, size_t want)
{
    uint8_t *b = (uint8_t *)malloc(n ? n : 1);
    t_begin(name);
    memcpy(b, s, n);
    CHECK_EQ(smtp_first_cr_lf(b, n, limit), want);
    free(b);
}

void tests_frame(void)
{
    t_begin("unstuff");
    unstuff_case("", "");
    unstuff_case("a\r\n..b\r\n", "a\r\n.b\r\n");
    unstuff_case(".x\n.\n..\n", "x\n\n.\n");
    unstuff_case("no.dot.here", "no.dot.here");
    unstuff_case(".", "");
    unstuff_case("..a..b\r\n..c\r\n...\r\n.\r\nd.\r\n", ".a..b\r\n.c\r\n..\r\n\r\nd.\r\n");

    cr_lf_case("cr/lf: empty", "", 0, 64, 0);
    cr_lf_case("cr/lf: short, none", L("abc"), 64, 3);
    cr_lf_case("cr/lf: short, CR", L("ab\r\n"), 64, 2);
    cr_lf_case("cr/lf: short, LF", L("abc\n"), 64, 3);
    cr_lf_case("cr/lf: 16 bytes, none", L("0123456789abcdef"), 64, 16);
    cr_lf_case("cr/lf: 16 bytes, last", L("0123456789abcde\n"), 64, 15);
    cr_lf_case("cr/lf: 17 bytes, last in the tail", L("0123456789abcdef\r"), 64, 16);
    cr_lf_case("cr/lf: 31 bytes, in the tail", L("0123456789abcdef0123456789\r\nxyz"), 64, 26);
    cr_lf_case("cr/lf: tail overlaps a CR seen before", L("0123456789abcdef0123"), 64, 20);
    cr_lf_case("cr/lf: 40 bytes, LF first", L("0123456789abcdef0123456789abcdef01\n\r3456"), 64, 34);
    cr_lf_case("cr/lf: past the limit", L("0123456789abcdef0123456789abcdef0123456789\r\n"), 32, SMTP_SCAN_LONG);
    cr_lf_case("cr/lf: within the limit's step", L("0123456789abcdef0123456789abcdef0\n"), 32, SMTP_SCAN_LONG);
    cr_lf_case("cr/lf: tail within the limit", L("0123456789abcdef012\n"), 32, 19);

    char big[2048];

    line_case("line: CRLF", L("EHLO x\r\nNOOP\r\n"), 1024, 8, 6, 2, 0);
    line_case("line: empty CRLF", L("\r\n"), 1024, 2, 0, 2, 0);
    line_case("line: bare LF", L("abc\nxyz"), 1024, 4, 3, 1, SMTP_LINE_BARE_LF);
    line_case("line: lone LF", L("\n"), 1024, 1, 0, 1, SMTP_LINE_BARE_LF);
    line_case("line: bare CR inside", L("a\rb\r\n"), 1024, 5, 3, 2, SMTP_LINE_BARE_CR);
    line_case("line: bare CR and bare LF", L("a\rb\n"), 1024, 4, 3, 1,
              SMTP_LINE_BARE_CR | SMTP_LINE_BARE_LF);
    line_case("line: CR CR LF", L("ab\r\r\n"), 1024, 5, 3, 2, SMTP_LINE_BARE_CR);
    line_case("line: leading CR then LF is CRLF", L("\r\nx"), 1024, 2, 0, 2, 0);
    line_case("line: NUL byte inside", "a\0b\r\n", 5, 1024, 5, 3, 2, 0);
    line_case("line: cut at max", L("abcdefgh"), 4, 4, 4, 0, SMTP_LINE_CUT);
    line_case("line: cut with CR", L("ab\rdefgh"), 4, 4, 4, 0, SMTP_LINE_CUT | SMTP_LINE_BARE_CR);
    line_case("line: LF as last byte within max", L("abc\n"), 4, 4, 3, 1, SMTP_LINE_BARE_LF);
    line_case("line: CRLF ending exactly at max", L("ab\r\n"), 4, 4, 2, 2, 0);
    line_case("line: LF one past max is cut", L("abcd\n"), 4, 4, 4, 0, SMTP_LINE_CUT);
    /* lines of 16 bytes and more: the first CR or LF found 16 bytes at a time */
    line_case("line: 40 bytes CRLF", L("MAIL FROM:<someone@example.org> SIZE=12\r\nQUIT\r\n"), 1024, 41, 39, 2, 0);
    line_case("line: 40 bytes bare CR inside", L("MAIL FROM:<someone@example.\rorg> SIZE=\r\n"), 1024, 40, 38, 2,
              SMTP_LINE_BARE_CR);
    line_case("line: 40 bytes bare LF", L("MAIL FROM:<someone@example.org> SIZE=12\nx"), 1024, 40, 39, 1,
              SMTP_LINE_BARE_LF);
    line_case("line: CR last byte of 20, LF after", L("0123456789abcdefghi\r\n"), 1024, 21, 19, 2, 0);
    line_case("line: 80 bytes (past the short scan)",
              L("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcd\r\n"), 1024,
              80, 78, 2, 0);
    line_case("line: 80 bytes, bare CR past the short scan",
              L("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef01234\r6789abcd\r\n"), 1024,
              80, 78, 2, SMTP_LINE_BARE_CR);
    line_case("line: CR at max, LF past it", L("abc\r\n"), 4, 4, 4, 0, SMTP_LINE_CUT | SMTP_LINE_BARE_CR);
    line_case("line: n == max, no LF: cut", L("abcd"), 4, 4, 4, 0, SMTP_LINE_CUT);
    line_case("line: n == max - 1, no LF: need more", L("abc"), 4, SMTP_NEED_MORE, 0, 0, 0);
    line_case("line: empty buffer", "", 0, 4, SMTP_NEED_MORE, 0, 0, 0);
    line_case("line: max 1", L("ab"), 1, 1, 1, 0, SMTP_LINE_CUT);
    line_case("line: max 1, LF", L("\nab"), 1, 1, 0, 1, SMTP_LINE_BARE_LF);
    prefixes_need_more("line: every prefix needs more", L("MAIL FROM:<a@b.example> SIZE=10\r\n"), 0);

    reply_case("reply: one line", L("250 OK\r\n"), 1024, 65536, 8, 1, 250, 0);
    reply_case("reply: code alone", L("250\r\nxx"), 1024, 65536, 5, 1, 250, 0);
    reply_case("reply: multi-line",
               L("250-mx.example\r\n250-PIPELINING\r\n250 8BITMIME\r\n354 x\r\n"), 1024, 65536,
               46, 3, 250, 0);
    reply_case("reply: multi-line ends with code alone", L("250-a\r\n250\r\n"), 1024, 65536,
               12, 2, 250, 0);
    reply_case("reply: code mismatch", L("250-a\r\n251 b\r\n"), 1024, 65536, 14, 2, 250,
               SMTP_REPLY_MISMATCH);
    reply_case("reply: non-reply line ends multi-line", L("250-a\r\nhello\r\n"), 1024, 65536,
               7, 1, 250, SMTP_REPLY_UNTERM);
    reply_case("reply: 2500 line ends multi-line", L("250-a\r\n2500 b\r\n"), 1024, 65536,
               7, 1, 250, SMTP_REPLY_UNTERM);
    reply_case("reply: not a reply", L("hello world\r\n250 OK\r\n"), 1024, 65536, 13, 1, 0,
               SMTP_REPLY_NOT_REPLY);
    reply_case("reply: not a reply, bare LF", L("hello\n"), 1024, 65536, 6, 1, 0,
               SMTP_REPLY_NOT_REPLY | SMTP_REPLY_BARE_LF);
    reply_case("reply: bare LF in second line", L("250-a\r\n250 b\n"), 1024, 65536, 13, 2, 250,
               SMTP_REPLY_BARE_LF);
    reply_case("reply: bare CR", L("250 a\rb\r\n"), 1024, 65536, 9, 1, 250, SMTP_REPLY_BARE_CR);
    reply_case("reply: 25 is not a reply", L("25\r\n"), 1024, 65536, 4, 1, 0, SMTP_REPLY_NOT_REPLY);

    memset(big, 'x', sizeof big);
    memcpy(big, "250 ", 4);
    reply_case("reply: first line cut at max_line", big, 100, 64, 65536, 64, 1, 0, SMTP_REPLY_CUT);
    reply_case("reply: first line shorter than max_line needs more", big, 63, 64, 65536,
               SMTP_NEED_MORE, 0, 0, 0);
    memcpy(big + 598, "\r\n", 2);
    reply_case("reply: line over 512 bytes", big, 600, 16384, 65536, 600, 1, 250,
               SMTP_REPLY_LONG_LINE);
    memcpy(big + 88, "250 ", 4);
    reply_case("reply: 512 bytes with CRLF is fine", big + 88, 512, 16384, 65536, 512, 1, 250, 0);
    {
        /* a second line longer than max_line ends the reply */
        char two[200];
        memset(two, 'y', sizeof two);
        memcpy(two, "250-a\r\n250-", 11);
        reply_case("reply: overlong second line ends it", two, sizeof two, 64, 65536, 7, 1, 250,
                   SMTP_REPLY_UNTERM);
        reply_case("reply: second line short of max_line needs more", two, 7 + 63, 64, 65536,
                   SMTP_NEED_MORE, 0, 0, 0);
    }
    {
        /* max_reply: cut after the line that reaches it */
        char many[7 * 20 + 1];
        int i;
        for (i = 0; i < 20; i++)
            memcpy(many + 7 * i, "250-x\r\n", 7);
        reply_case("reply: max_reply reached", many, 7 * 20, 64, 64, 70, 10, 250, SMTP_REPLY_UNTERM);
        reply_case("reply: below max_reply needs more", many, 7 * 9, 64, 64, SMTP_NEED_MORE, 0, 0, 0);
    }
    prefixes_need_more("reply: every prefix of one line needs more", L("250 OK\r\n"), 1);
    prefixes_need_more("reply: every prefix of multi-line needs more",
                       L("250-mx\r\n250-SIZE 100\r\n250 HELP\r\n"), 1);
}
