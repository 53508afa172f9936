/* transcript.h: runs client/server transcripts through a session and renders
 * the events as a canonical text log.
 * SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef TEST_TRANSCRIPT_H
#define TEST_TRANSCRIPT_H

#include <stddef.h>
#include <stdint.h>

/* Steps, one string each:
 *   "C: bytes"   client bytes       "S: bytes"   server bytes
 *   "C!: bytes"  client bytes fed with SMTP_FEED_FLUSH (also "S!:")
 *   "Ct: bytes"  client bytes out of TLS: SMTP_FEED_DECRYPTED (also "St:", "C!t:")
 *   "G: c 100"   100 client bytes lost (smtp_session_gap; also "G: s n")
 *
 * The log has one line per event; offsets are left out (they are checked
 * instead: unit events of a direction must tile its stream, every span must
 * lie in the buffer fed).  Streaming events are coalesced, so the log does
 * not depend on how the bytes were cut: BODY runs of one message, CHUNK runs
 * of one BDAT and continuation FRAGMENT runs become one line each, anomalies
 * raised inside the run following it.
 *
 *   COMMAND c seq=2 verb=EHLO len=13 [badargs]
 *   SASL c seq=5 len=30
 *   REPLY s code=250 lines=3 answers=2/EHLO len=55 [greeting] [unsync]
 *   BODY c msg=5 len=120 [first]
 *   EOD c seq=6 msg=5 len=3
 *   CHUNK c seq=7 msg=7 len=10 [first] [last]
 *   FRAGMENT c UNSYNC len=12 [cont]
 *   TLS s next                (STARTTLS accepted)
 *   TLS c len=40              (TLS records)
 *   ANOMALY s REPLY_UNPAIRED
 *   GAP c lost=100
 *   REST c=3 s=0             (bytes still buffered at the end, if any)
 */
enum { MODE_WHOLE, MODE_BYTES, MODE_SPLIT };

typedef struct run_opts {
    int mode;
    size_t split_step, split_at; /* MODE_SPLIT: step split_step cut at split_at */
    size_t evcap;                /* event array size */
    uint32_t max_line;           /* 0: engine default */
    uint32_t max_pending;        /* 0: 64 (the queue grows with realloc) */
} run_opts;

/* Runs the steps; returns the log (malloc'd) and sets *err (static text) on
 * the first invariant failure, else NULL. */
char *transcript_run(const char *const *steps, const run_opts *o, const char **err);

/* Runs all modes (whole, byte by byte, every split point, small event array)
 * and compares every log with want (want NULL: print the log).  One test case. */
void transcript_check(const char *name, const char *const *steps, uint32_t max_line,
                      const char *want);

#endif
