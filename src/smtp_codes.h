/* smtp_codes.h: the knowledge base: lookups over the X-macro tables.
 *
 *   smtp_verbs.def       commands and pseudo-commands
 *   smtp_codes.def       reply codes: generic and per-command wording
 *   smtp_allowed.def     which codes the standards list per command; greeting codes
 *   smtp_categories.def  names of a code's first and second digit
 *   smtp_status.def      RFC 3463 enhanced status codes (IANA registry, generated)
 *   smtp_outcomes.def    how a mail transaction ends
 *   smtp_ehlo.def        EHLO keywords
 *   smtp_anomalies.def   anomalies (expert infos)
 *
 * All strings are static, except those written into a caller's buffer; no
 * lookup allocates or fails hard: an unknown value gives NULL (or a generic
 * text where stated).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef SMTP_CODES_H
#define SMTP_CODES_H

#include "smtp.h"

/* The verb as written in smtp_verbs.def ("MAIL", "<connect>"). */
const char *smtp_verb_name(smtp_verb v);
unsigned smtp_verb_flags(smtp_verb v);

/* Reply code knowledge, for the code as answer to command ctx
 * (SMTP_VERB_UNKNOWN when not known): the (code, ctx) entry of
 * smtp_codes.def when there is one, else the code's generic (ANY) entry;
 * never the wording of another command.  NULL when the code is not listed.
 * Static strings. */
const char *smtp_reply_name(unsigned code, smtp_verb ctx);
const char *smtp_reply_meaning(unsigned code, smtp_verb ctx);
/* Whether smtp_codes.def has an entry for the code as answer to ctx itself
 * (not only the code's generic one). */
int smtp_reply_has_context(unsigned code, smtp_verb ctx);

/* The same texts for any code, written into the caller's buf (size bytes,
 * always NUL-terminated when size > 0, truncated to fit).  A code the table
 * does not list is described from its category and function
 * (smtp_categories.def); a code whose first digit is not 1-5 or whose
 * second digit is not 0-5 gets "".  smtp_reply_format_meaning adds
 * "; unusual as a reply to <verb>" when smtp_reply_allowed(code, ctx) is 0.
 * Return the length of the whole text (as snprintf): >= size means it was
 * cut.  SMTP_REPLY_TEXT_MAX bytes always suffice. */
#define SMTP_REPLY_TEXT_MAX 256
size_t smtp_reply_format_name(unsigned code, smtp_verb ctx, char *buf, size_t size);
size_t smtp_reply_format_meaning(unsigned code, smtp_verb ctx, char *buf, size_t size);

/* Whether the reply codes of smtp_allowed.def list the code for the command:
 * RFC 5321 4.3.2, with RFC 3207, 4954, 3030, 1985 and RFC 5248 for their
 * commands.  Codes any command may get (421, 500, 501, and 530 when TLS or
 * AUTH is required) are always allowed; commands without a row (unknown
 * ones) allow everything. */
int smtp_reply_allowed(unsigned code, smtp_verb verb);

/* Whether the code may open a session (the CONNECT row of smtp_allowed.def:
 * 220, 421, 554, 521). */
int smtp_reply_is_greeting(unsigned code);

/* Names of the first digit (category) and second digit (function) of a
 * reply code, per RFC 5321 4.2.1 (smtp_categories.def): "Positive
 * Completion", "Mail system".  The short forms are "success", "mail
 * system".  NULL for digits outside the table. */
const char *smtp_category_name(unsigned digit);
const char *smtp_category_short(unsigned digit);
const char *smtp_function_name(unsigned digit);
const char *smtp_function_short(unsigned digit);

/* RFC 3463 / IANA registry titles; NULL when not registered. */
const char *smtp_status_class_name(unsigned cls);
const char *smtp_status_subject_name(unsigned subject);
const char *smtp_status_detail_name(unsigned subject, unsigned detail);

/* How a mail transaction ended, as a person says it ("delivered").
 * Superseded by smtp_outcome_name once smtp.h's enum expands
 * smtp_outcomes.def. */
const char *smtp_txn_outcome_name(smtp_txn_outcome t);

/* Outcomes as listed in smtp_outcomes.def, by position (the enum value):
 * name ("deferred at RCPT") and one-sentence description.  NULL when id is
 * not below smtp_outcome_count(). */
const char *smtp_outcome_name(unsigned id);
const char *smtp_outcome_description(unsigned id);
unsigned smtp_outcome_count(void);

/* EHLO keywords (smtp_ehlo.def): one bit each, SMTP_EXT_PIPELINING ... */
enum {
#define SMTP_EHLO_KEYWORD(id, kw, rfc) SMTP_EXT_BIT_##id,
#include "smtp_ehlo.def"
#undef SMTP_EHLO_KEYWORD
    SMTP_EXT_KEYWORDS
};
enum {
#define SMTP_EHLO_KEYWORD(id, kw, rfc) SMTP_EXT_##id = 1 << SMTP_EXT_BIT_##id,
#include "smtp_ehlo.def"
#undef SMTP_EHLO_KEYWORD
    SMTP_EXT_NONE = 0
};

/* The keyword of one EHLO reply line: p/n is the line's text after the code
 * and its separator ("pipelining", "SIZE 10240000", "AUTH=LOGIN PLAIN"),
 * without CRLF.  The keyword runs to the first space, tab or "=" (the old
 * AUTH=... form) or to the end; it is matched without regard to case.
 * Returns its SMTP_EXT_* bit, or 0 (unknown keyword, or the keyword is
 * followed by anything else).  Reads only p[0..n-1]. */
unsigned smtp_ehlo_keyword(const uint8_t *p, size_t n);

/* The keyword of a single SMTP_EXT_* bit ("8BITMIME"), NULL for anything
 * else (0, several bits, unknown bits). */
const char *smtp_ehlo_keyword_name(unsigned ext);

/* Anomalies: expert field name suffix and summary. */
const char *smtp_anomaly_name(smtp_anomaly a);
const char *smtp_anomaly_summary(smtp_anomaly a);

/* Iteration over the reply table, for building value_strings: the number
 * of entries; entry i's code, name and whether it is the code's generic
 * (ANY) entry.  Returns 0 when i is past the end. */
size_t smtp_reply_table_size(void);
int smtp_reply_table_entry(size_t i, unsigned *code, const char **name, int *is_generic);

#endif /* SMTP_CODES_H */
