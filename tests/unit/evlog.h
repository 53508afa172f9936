/* evlog.h: the canonical event log shared by the unit tests' transcript
 * driver (transcript.c) and the session fuzzer (tests/fuzz/fuzz_session.c).
 *
 * It checks each event the engine emits, and keeps a log that does not
 * depend on how the bytes were cut: streaming events (BODY runs of one
 * message, CHUNK runs of one BDAT, continuation FRAGMENT runs) are coalesced
 * into one record, and anomalies raised inside such a run are listed after
 * it in stream order.  Offsets are dropped; lengths are kept per unit.
 * SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef TEST_EVLOG_H
#define TEST_EVLOG_H

#include "smtp_session.h"

#include <stddef.h>
#include <stdint.h>

/* One past the last smtp_event_type: the range comes from the enum. */
#define EVLOG_EV_COUNT SMTP_EV_COUNT

/* a record type of the log's own, outside the engine's range */
#define EVLOG_GAP 100

typedef struct evlog_rec {
    smtp_event e;  /* off and len zeroed; GAP: seq = bytes lost */
    uint64_t len;  /* coalesced length (0 for anomalies) */
    uint64_t at;   /* stream offset */
} evlog_rec;

typedef struct evlog {
    evlog_rec *r;
    size_t n, cap;
    uint64_t unit_end[2]; /* where the next unit event of each direction must begin */
} evlog;

/* Checks one event fed to direction dir from a buffer of buflen bytes whose
 * first byte is at stream offset base, and advances unit_end.  Returns a
 * description of the first broken invariant (static text), or NULL. */
const char *evlog_check(evlog *l, int dir, const smtp_event *e, size_t buflen, uint64_t base);

/* Appends an event seen at stream offset at. */
void evlog_add(evlog *l, const smtp_event *e, uint64_t at);

/* Notes lost bytes of dir; the stream resumes at offset resume. */
void evlog_gap(evlog *l, int dir, uint64_t lost, uint64_t resume);

/* Index of the first record where a and b differ, or -1 when equal. */
long evlog_diff(const evlog *a, const evlog *b);

/* The log as text, one line per record (see transcript.h); rest_c / rest_s
 * are the bytes still buffered at the end.  malloc'd. */
char *evlog_render(const evlog *l, size_t rest_c, size_t rest_s);

void evlog_free(evlog *l);

#endif
