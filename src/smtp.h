/* smtp.h: the SMTP engine's public surface.
 *
 * Sans-I/O: the caller feeds the bytes of each direction of one SMTP
 * connection; the engine frames them into commands, replies, message body
 * and BDAT chunks, pairs replies with the commands they answer (also when
 * pipelined), tracks the session's modes and writes events into an array the
 * caller provides.  Spans are offsets into the caller's buffer; the engine
 * keeps no pointer into it.  No allocation, no I/O, no epan or GLib.
 *
 * Copyright the SMTP plugin authors.  SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef SMTP_H
#define SMTP_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Direction of a byte stream. */
enum { SMTP_DIR_CLIENT = 0, SMTP_DIR_SERVER = 1 };

/* Verb flags used in smtp_verbs.def. */
#define SMTP_VF_TXN   0x1u /* part of a mail transaction */
#define SMTP_VF_RESET 0x2u /* ends any mail transaction */
#define SMTP_VF_NOARG 0x4u /* takes no argument */

typedef enum smtp_verb {
#define SMTP_VERB(id, name, flags) SMTP_VERB_##id,
#include "smtp_verbs.def"
#undef SMTP_VERB
    SMTP_VERB_COUNT
} smtp_verb;

typedef enum smtp_anomaly {
    SMTP_ANOMALY_NONE = 0,
#define SMTP_ANOMALY(id, name, group, sev, summary) SMTP_ANOMALY_##id,
#include "smtp_anomalies.def"
#undef SMTP_ANOMALY
    SMTP_ANOMALY_COUNT
} smtp_anomaly;

/* How a mail transaction ended (SMTP_EV_TXN_END): smtp_outcomes.def. */
typedef enum smtp_txn_outcome {
#define SMTP_OUTCOME(id, name, description) SMTP_TXN_##id,
#include "smtp_outcomes.def"
#undef SMTP_OUTCOME
    SMTP_TXN_OUTCOME_COUNT
} smtp_txn_outcome;

/* Returned by the framers when the buffer ends inside a unit. */
#define SMTP_NEED_MORE (-2L)

#ifdef __cplusplus
}
#endif

#endif /* SMTP_H */
