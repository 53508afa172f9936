/* smtp_frame.h: where does the next line or reply end.
 *
 * Stateless, like picohttpparser: each call scans the buffer from its start,
 * except that a multi-line reply framed in pieces can go on from the lines
 * an earlier call framed (smtp_frame_reply_from, as picohttpparser's
 * last_len).
 * A line ends at LF; a CR just before the LF belongs to the terminator.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef SMTP_FRAME_H
#define SMTP_FRAME_H

#include "smtp.h"
#include "smtp_parse.h"

#define SMTP_LINE_BARE_LF 0x1u /* terminated by LF alone */
#define SMTP_LINE_BARE_CR 0x2u /* a CR not followed by LF inside the line */
#define SMTP_LINE_CUT     0x4u /* no LF within the limit: a piece of a longer line */

typedef struct smtp_line {
    uint32_t len;   /* content bytes, terminator excluded */
    uint8_t  eol;   /* terminator bytes: 0 (cut), 1 (LF) or 2 (CRLF) */
    uint8_t  flags; /* SMTP_LINE_* */
} smtp_line;

/* Frames the first line of buf[0..n).  Returns the bytes it takes
 * (len + eol), or SMTP_NEED_MORE when no LF is in the buffer and n < max.
 * With no LF in the first max bytes it returns max and sets SMTP_LINE_CUT.
 * max must be at least 1. */
long smtp_frame_line(const uint8_t *buf, size_t n, size_t max, smtp_line *out);

/* Where the first CR or LF of p[0, n) is (n if none), looked for in about
 * the first limit bytes only: SMTP_SCAN_LONG when none is there (a long
 * line, for memchr).  16 bytes at a time with SSE2, never reading past
 * p + n. */
#define SMTP_SCAN_LONG ((size_t)-1)
size_t smtp_first_cr_lf(const uint8_t *p, size_t n, size_t limit);

#define SMTP_REPLY_NOT_REPLY  0x1u /* first line has no reply code: the unit is that line */
#define SMTP_REPLY_UNTERM     0x2u /* ended before a final line (next line has no code, or limits) */
#define SMTP_REPLY_MISMATCH   0x4u /* lines carry different codes */
#define SMTP_REPLY_BARE_LF    0x8u /* some line ends in a bare LF */
#define SMTP_REPLY_BARE_CR    0x10u
#define SMTP_REPLY_CUT        0x20u /* the unit is a piece of an overlong line */
#define SMTP_REPLY_LONG_LINE  0x40u /* some line is over 512 bytes with its CRLF */

typedef struct smtp_reply_frame {
    uint32_t len;    /* bytes of the whole reply */
    uint16_t nlines; /* lines in it */
    uint16_t code;   /* code of the first line (0 when NOT_REPLY) */
    uint8_t  flags;  /* SMTP_REPLY_* */
    smtp_reply_line first; /* the first line parsed (code 0 when NOT_REPLY or CUT) */
} smtp_reply_frame;

/* Frames one complete reply at the start of buf[0..n): lines sharing the
 * reply-line syntax, all but the last with '-' after the code.  Returns the
 * bytes it takes or SMTP_NEED_MORE.  max_line bounds one line (see
 * smtp_frame_line) and max_reply the whole reply, beyond which it is cut
 * with SMTP_REPLY_UNTERM. */
long smtp_frame_reply(const uint8_t *buf, size_t n, size_t max_line,
                      size_t max_reply, smtp_reply_frame *out);

/* The same, going on from *from: when *from > 0, buf[0..*from) are whole
 * lines of the reply that an earlier call on the same bytes framed (it
 * returned SMTP_NEED_MORE) and *out is what that call left in it; framing
 * resumes at the next line.  On SMTP_NEED_MORE, *from is where the lines
 * framed so far end (0: none) and *out holds them; otherwise *from is 0.
 * The result is the one smtp_frame_reply gives on the whole buffer, with
 * each byte framed once however the reply was cut. */
long smtp_frame_reply_from(const uint8_t *buf, size_t n, size_t max_line,
                           size_t max_reply, smtp_reply_frame *out, size_t *from);

/* Copies src[0..n) of a DATA body into dst without the dot-stuffing
 * (RFC 5321 4.5.2: a leading "." of a line is removed); returns the length
 * written (at most n).  dst may be src (in place); they may not overlap
 * otherwise. */
size_t smtp_unstuff(uint8_t *dst, const uint8_t *src, size_t n);
/* The length smtp_unstuff would write, without writing it. */
size_t smtp_unstuffed_len(const uint8_t *src, size_t n);

#endif /* SMTP_FRAME_H */
