/* smtp_codes.h: the knowledge base: verbs, reply codes, enhanced status
 * codes, anomalies.  All strings are static; lookups never fail hard: an
 * unknown value gives NULL (or a generic text where stated).
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
 * (SMTP_VERB_UNKNOWN when not known).  NULL when the code is not listed. */
const char *smtp_reply_name(unsigned code, smtp_verb ctx);
const char *smtp_reply_meaning(unsigned code, smtp_verb ctx);

/* Whether RFC 5321 4.3.2 (with RFC 3207, 4954, 3030, 1985 for their
 * commands) lists the code as a reply to the command.  Codes any command
 * may get (421, 500, 501, and 530 when TLS or AUTH is required) are always
 * allowed; commands without a table (unknown ones) allow everything. */
int smtp_reply_allowed(unsigned code, smtp_verb verb);

/* Names of the first digit (category) and second digit (function) of a
 * reply code, per RFC 5321 4.2.1.  NULL for digits outside the table. */
const char *smtp_category_name(unsigned digit);
const char *smtp_function_name(unsigned digit);

/* RFC 3463 / IANA registry titles; NULL when not registered. */
const char *smtp_status_class_name(unsigned cls);
const char *smtp_status_subject_name(unsigned subject);
const char *smtp_status_detail_name(unsigned subject, unsigned detail);

/* How a mail transaction ended, as a person says it ("delivered"). */
const char *smtp_txn_outcome_name(smtp_txn_outcome t);

/* Anomalies: expert field name suffix and summary. */
const char *smtp_anomaly_name(smtp_anomaly a);
const char *smtp_anomaly_summary(smtp_anomaly a);

/* Iteration over the reply table, for building value_strings:
 * returns the number of entries; entry i's code and ANY-context name. */
size_t smtp_reply_table_size(void);
int smtp_reply_table_entry(size_t i, unsigned *code, const char **name, int *is_generic);

#endif /* SMTP_CODES_H */
