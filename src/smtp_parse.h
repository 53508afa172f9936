/* smtp_parse.h: pure parsers for one command line or one reply line.
 *
 * Input is one line without its terminator.  Spans are offsets into it.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef SMTP_PARSE_H
#define SMTP_PARSE_H

#include "smtp.h"

typedef struct smtp_span {
    uint32_t off, len;
} smtp_span;

#define SMTP_MAX_PARAMS 16

#define SMTP_CMD_NOT_COMMAND 0x1u /* first word is not a plausible verb */
#define SMTP_CMD_BAD_ARGS    0x2u /* argument syntax does not fit the verb */
#define SMTP_CMD_HAS_PATH    0x4u /* MAIL/RCPT path found */
#define SMTP_CMD_BDAT_OK     0x8u /* BDAT arguments valid: a chunk of size bytes follows */
#define SMTP_CMD_BDAT_LAST   0x10u

typedef struct smtp_command {
    smtp_verb verb;       /* SMTP_VERB_UNKNOWN when not known */
    unsigned  flags;      /* SMTP_CMD_* */
    smtp_span verb_span;  /* the verb as sent */
    smtp_span arg;        /* everything after the verb and its spaces */
    smtp_span path;       /* MAIL/RCPT: between < and > (may be empty) */
    unsigned  nparams;
    uint64_t  size;       /* BDAT chunk size; MAIL SIZE= (0 if none) */
    smtp_span params[SMTP_MAX_PARAMS]; /* ESMTP parameters after the path: the
                                          first nparams are set, the others not */
} smtp_command;

/* Parses a client command line.  Never fails: every line becomes a command,
 * unknown or malformed ones flagged. */
void smtp_parse_command(const uint8_t *line, size_t len, smtp_command *out);

/* Recognises a command verb (any case) of len bytes; SMTP_VERB_UNKNOWN if
 * none.  Pseudo-verbs never match. */
smtp_verb smtp_verb_lookup(const uint8_t *s, size_t len);

/* True when the line is a known command with plausible arguments: what the
 * engine accepts as the first line after losing synchronisation. */
int smtp_command_plausible(const smtp_command *cmd);

typedef struct smtp_reply_line {
    uint16_t  code;      /* three digits as a number */
    char      sep;       /* '-' (more lines follow), ' ' or 0 (code alone) */
    smtp_span text;      /* after the separator */
    smtp_span status;    /* enhanced status code ("5.1.1"), len 0 if none */
    uint8_t   st_class;  /* 2, 4 or 5 */
    uint16_t  st_subject;
    uint16_t  st_detail;
} smtp_reply_line;

/* Parses a reply line.  Returns 1, or 0 when it does not start with three
 * digits followed by end of line, space or '-'. */
int smtp_parse_reply_line(const uint8_t *line, size_t len, smtp_reply_line *out);

/* Parses an RFC 3463 status code "c.sss.ddd" at the start of s, followed by
 * end or space.  Returns its length or 0. */
size_t smtp_parse_status(const uint8_t *s, size_t len, uint8_t *cls,
                         uint16_t *subject, uint16_t *detail);

/* The host name a greeting (220) or EHLO reply starts its text with (RFC
 * 5321 4.2: "220 domain SP text"): the span up to the first space or tab,
 * offsets into text. */
smtp_span smtp_reply_domain(const uint8_t *text, size_t n);

#endif /* SMTP_PARSE_H */
