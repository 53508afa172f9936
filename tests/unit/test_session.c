/* test_session.c: the session engine, as transcript tables.
 * SPDX-License-Identifier: GPL-2.0-or-later */
#include "runner.h"
#include "smtp_codes.h"
#include "smtp_session.h"
#include "transcript.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STEPS(...) ((const char *const[]){ __VA_ARGS__, NULL })

#define GREET "S: 220 mx.example.org ESMTP ready\r\n"
#define GREET_LOG "REPLY s code=220 lines=1 answers=1/<connect> len=32 greeting\n"
#define EHLO "C: EHLO client.example.org\r\n"
#define EHLO_REPLY "S: 250-mx.example.org\r\n250-PIPELINING\r\n250-CHUNKING\r\n250 8BITMIME\r\n"
#define EHLO_LOG "COMMAND c seq=2 verb=EHLO len=25\n" \
                 "REPLY s code=250 lines=4 answers=2/EHLO len=64\n"

static const struct table {
    const char *name;
    uint32_t max_line;
    const char *const *steps;
    const char *want;
} tables[] = {
{ "greeting and multi-line EHLO", 0,
  STEPS(GREET, EHLO, EHLO_REPLY, "C: QUIT\r\n", "S: 221 2.0.0 Bye\r\n"),
  GREET_LOG EHLO_LOG
  "COMMAND c seq=3 verb=QUIT len=6\n"
  "REPLY s code=221 lines=1 answers=3/QUIT len=15\n" },

{ "LHLO and XCLIENT in any case", 0,
  STEPS("S: 220 lmtp\r\n", "C: lhlo client\r\n", "S: 250 ok\r\n",
        "C: xclient NAME=x ADDR=192.0.2.1\r\n", "S: 220 again\r\n"),
  "REPLY s code=220 lines=1 answers=1/<connect> len=10 greeting\n"
  "COMMAND c seq=2 verb=LHLO len=13\n"
  "REPLY s code=250 lines=1 answers=2/LHLO len=8\n"
  "COMMAND c seq=3 verb=XCLIENT len=31\n"
  "REPLY s code=220 lines=1 answers=3/XCLIENT len=11\n" },

{ "transactions: rejected MAIL, RSET abort, pipelined QUIT and MAIL after the dot", 0,
  STEPS(GREET,
        "C: MAIL FROM:<spam@x>\r\n", "S: 554 5.7.1 go away\r\n",
        "C: MAIL FROM:<a@x>\r\nRCPT TO:<b@x>\r\nRSET\r\n",
        "S: 250 ok\r\n250 ok\r\n250 reset\r\n",
        "C: MAIL FROM:<a@x>\r\nRCPT TO:<b@x>\r\nDATA\r\n",
        "S: 250 ok\r\n250 ok\r\n354 go\r\n",
        "C: hi\r\n.\r\nMAIL FROM:<c@x>\r\nRCPT TO:<d@x>\r\nDATA\r\n",
        "S: 250 queued\r\n250 ok\r\n451 4.3.0 try later\r\n",
        "S: 554 no valid recipients\r\n",
        "C: QUIT\r\n", "S: 221 bye\r\n"),
  GREET_LOG
  "COMMAND c seq=2 verb=MAIL len=20\n"
  "REPLY s code=554 lines=1 answers=2/MAIL len=19\n"
  "ANOMALY s REPLY_NOT_ALLOWED\n"
  "TXN_END s txn=1 by=2 rejected at MAIL\n"
  "COMMAND c seq=3 verb=MAIL len=17\n"
  "COMMAND c seq=4 verb=RCPT len=15\n"
  "COMMAND c seq=5 verb=RSET len=6\n"
  "TXN_END c txn=2 by=5 aborted by RSET\n"
  "REPLY s code=250 lines=1 answers=3/MAIL len=8\n"
  "REPLY s code=250 lines=1 answers=4/RCPT len=8\n"
  "REPLY s code=250 lines=1 answers=5/RSET len=11\n"
  "COMMAND c seq=6 verb=MAIL len=17\n"
  "COMMAND c seq=7 verb=RCPT len=15\n"
  "COMMAND c seq=8 verb=DATA len=6\n"
  "REPLY s code=250 lines=1 answers=6/MAIL len=8\n"
  "REPLY s code=250 lines=1 answers=7/RCPT len=8\n"
  "REPLY s code=354 lines=1 answers=8/DATA len=8\n"
  "BODY c msg=8 len=4 first\n"
  "EOD c seq=9 msg=8 len=3 clean\n"
  "COMMAND c seq=10 verb=MAIL len=17\n"
  "COMMAND c seq=11 verb=RCPT len=15\n"
  "COMMAND c seq=12 verb=DATA len=6\n"
  "REPLY s code=250 lines=1 answers=9/<end-of-data> len=12\n"
  "TXN_END s txn=3 by=9 delivered\n"
  "REPLY s code=250 lines=1 answers=10/MAIL len=8\n"
  "REPLY s code=451 lines=1 answers=11/RCPT len=21\n"
  "REPLY s code=554 lines=1 answers=12/DATA len=25\n"
  "TXN_END s txn=4 by=12 deferred at RCPT\n"
  "COMMAND c seq=13 verb=QUIT len=6\n"
  "REPLY s code=221 lines=1 answers=13/QUIT len=9\n" },

{ "LMTP: one reply per accepted recipient after the dot", 0,
  STEPS("S: 220 lmtp ready\r\n", "C: LHLO c\r\n", "S: 250 lmtp\r\n",
        "C: MAIL FROM:<a@x>\r\nRCPT TO:<b@x>\r\nRCPT TO:<nobody@x>\r\nRCPT TO:<c@x>\r\nDATA\r\n",
        "S: 250 ok\r\n250 ok\r\n550 5.1.1 unknown\r\n250 ok\r\n354 go\r\n",
        "C: hi\r\n.\r\nQUIT\r\n",
        "S: 250 2.0.0 <b@x> saved\r\n452 4.2.2 <c@x> mailbox full\r\n221 bye\r\n"),
  "REPLY s code=220 lines=1 answers=1/<connect> len=16 greeting\n"
  "COMMAND c seq=2 verb=LHLO len=8\n"
  "REPLY s code=250 lines=1 answers=2/LHLO len=10\n"
  "COMMAND c seq=3 verb=MAIL len=17\n"
  "COMMAND c seq=4 verb=RCPT len=15\n"
  "ANOMALY c PIPELINING_UNADVERTISED\n"
  "COMMAND c seq=5 verb=RCPT len=20\n"
  "COMMAND c seq=6 verb=RCPT len=15\n"
  "COMMAND c seq=7 verb=DATA len=6\n"
  "REPLY s code=250 lines=1 answers=3/MAIL len=8\n"
  "REPLY s code=250 lines=1 answers=4/RCPT len=8\n"
  "REPLY s code=550 lines=1 answers=5/RCPT len=19\n"
  "REPLY s code=250 lines=1 answers=6/RCPT len=8\n"
  "REPLY s code=354 lines=1 answers=7/DATA len=8\n"
  "BODY c msg=7 len=4 first\n"
  "EOD c seq=8 msg=7 len=3 replies=2 clean\n"
  "COMMAND c seq=10 verb=QUIT len=6\n"
  "REPLY s code=250 lines=1 answers=8/<end-of-data> len=23\n"
  "REPLY s code=452 lines=1 answers=9/<end-of-data> len=30\n"
  "TXN_END s txn=1 by=9 delivered to some recipients\n"
  "REPLY s code=221 lines=1 answers=10/QUIT len=9\n" },

{ "pipelining and BDAT the server did not advertise", 0,
  STEPS(GREET, "C: EHLO c\r\n", "S: 250-mx\r\n250 8BITMIME\r\n",
        "C: MAIL FROM:<a@x>\r\nRCPT TO:<b@x>\r\n", "S: 250 ok\r\n250 ok\r\n",
        "C: BDAT 2 LAST\r\nhi", "S: 250 queued\r\n",
        "C: RCPT TO:<c@x>\r\n", "S: 503 5.5.1 need MAIL\r\n"),
  GREET_LOG
  "COMMAND c seq=2 verb=EHLO len=8\n"
  "REPLY s code=250 lines=2 answers=2/EHLO len=22\n"
  "COMMAND c seq=3 verb=MAIL len=17\n"
  "COMMAND c seq=4 verb=RCPT len=15\n"
  "ANOMALY c PIPELINING_UNADVERTISED\n"
  "REPLY s code=250 lines=1 answers=3/MAIL len=8\n"
  "REPLY s code=250 lines=1 answers=4/RCPT len=8\n"
  "COMMAND c seq=5 verb=BDAT len=13\n"
  "ANOMALY c CHUNKING_UNADVERTISED\n"
  "CHUNK c seq=5 msg=5 len=2 first last\n"
  "REPLY s code=250 lines=1 answers=5/BDAT len=12 last\n"
  "TXN_END s txn=1 by=5 delivered\n"
  "COMMAND c seq=6 verb=RCPT len=15\n"
  "ANOMALY c OUT_OF_SEQUENCE\n"
  "REPLY s code=503 lines=1 answers=6/RCPT len=21\n" },

{ "smuggling forms made with bare CRs", 0,
  STEPS(GREET, "C: MAIL FROM:<a@x>\r\n", "S: 250 ok\r\n", "C: RCPT TO:<b@x>\r\n", "S: 250 ok\r\n",
        "C: DATA\r\n", "S: 354 go\r\n",
        "C: one\r.\rMAIL FROM:<evil@x>\r\n", "C: two\r.\n", "C: three\r\n.\r\n",
        "S: 250 queued\r\n"),
  GREET_LOG
  "COMMAND c seq=2 verb=MAIL len=17\n"
  "REPLY s code=250 lines=1 answers=2/MAIL len=8\n"
  "COMMAND c seq=3 verb=RCPT len=15\n"
  "REPLY s code=250 lines=1 answers=3/RCPT len=8\n"
  "COMMAND c seq=4 verb=DATA len=6\n"
  "REPLY s code=354 lines=1 answers=4/DATA len=8\n"
  "BODY c msg=4 len=39 first\n"
  "ANOMALY c SMUGGLING\n"
  "ANOMALY c SMUGGLING\n"
  "ANOMALY c BARE_LF\n"
  "EOD c seq=5 msg=4 len=3 clean\n"
  "REPLY s code=250 lines=1 answers=5/<end-of-data> len=12\n"
  "TXN_END s txn=1 by=5 delivered\n" },

{ "pipelined transaction, DATA with dot-stuffing", 0,
  STEPS(GREET, EHLO, EHLO_REPLY,
        "C: MAIL FROM:<alice@example.org>\r\nRCPT TO:<bob@example.net>\r\n"
        "RCPT TO:<carol@example.net>\r\nDATA\r\n",
        "S: 250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n550 5.1.1 No such user\r\n354 Go ahead\r\n",
        "C: Subject: test\r\n\r\n..leading dot\r\n.\r\n",
        "S: 250 2.0.0 Ok: queued as 1234\r\n",
        "C: QUIT\r\n"),
  GREET_LOG EHLO_LOG
  "COMMAND c seq=3 verb=MAIL len=31\n"
  "COMMAND c seq=4 verb=RCPT len=27\n"
  "COMMAND c seq=5 verb=RCPT len=29\n"
  "COMMAND c seq=6 verb=DATA len=6\n"
  "REPLY s code=250 lines=1 answers=3/MAIL len=14\n"
  "REPLY s code=250 lines=1 answers=4/RCPT len=14\n"
  "REPLY s code=550 lines=1 answers=5/RCPT len=24\n"
  "REPLY s code=354 lines=1 answers=6/DATA len=14\n"
  "BODY c msg=6 len=32 first\n"
  "EOD c seq=7 msg=6 len=3\n"
  "REPLY s code=250 lines=1 answers=7/<end-of-data> len=30\n"
  "TXN_END s txn=1 by=7 delivered to some recipients\n"
  "COMMAND c seq=8 verb=QUIT len=6\n" },

{ "body cut right before and right after the dot", 0,
  STEPS(GREET, "C: DATA\r\n", "S: 354 go\r\n", "C: line one\r\n", "C: .", "C: .x\r\n",
        "C: \r\n", "C: .", "C: \r\n", "S: 250 ok\r\n"),
  GREET_LOG
  "COMMAND c seq=2 verb=DATA len=6\n"
  "ANOMALY c OUT_OF_SEQUENCE\n"
  "REPLY s code=354 lines=1 answers=2/DATA len=8\n"
  "BODY c msg=2 len=17 first\n"
  "EOD c seq=3 msg=2 len=3\n"
  "REPLY s code=250 lines=1 answers=3/<end-of-data> len=8\n" },

{ "empty message", 0,
  STEPS(GREET, "C: DATA\r\n", "S: 354 go\r\n", "C: .\r\nQUIT\r\n"),
  GREET_LOG
  "COMMAND c seq=2 verb=DATA len=6\n"
  "ANOMALY c OUT_OF_SEQUENCE\n"
  "REPLY s code=354 lines=1 answers=2/DATA len=8\n"
  "EOD c seq=3 msg=2 len=3 clean\n"
  "COMMAND c seq=4 verb=QUIT len=6\n" },

{ "rejected DATA stays in command mode", 0,
  STEPS(GREET, "C: MAIL FROM:<>\r\nRCPT TO:<x@y>\r\nDATA\r\n",
        "S: 250 ok\r\n550 5.1.1 unknown\r\n554 5.5.1 No valid recipients\r\n",
        "C: Subject: not a body\r\nRSET\r\n", "S: 500 what\r\n250 ok\r\n"),
  GREET_LOG
  "COMMAND c seq=2 verb=MAIL len=14\n"
  "COMMAND c seq=3 verb=RCPT len=15\n"
  "COMMAND c seq=4 verb=DATA len=6\n"
  "REPLY s code=250 lines=1 answers=2/MAIL len=8\n"
  "REPLY s code=550 lines=1 answers=3/RCPT len=19\n"
  "REPLY s code=554 lines=1 answers=4/DATA len=31\n"
  "TXN_END s txn=1 by=4 rejected at RCPT\n"
  "COMMAND c seq=5 verb=<unknown> len=21\n"
  "ANOMALY c NOT_A_COMMAND\n"
  "COMMAND c seq=6 verb=RSET len=6\n"
  "REPLY s code=500 lines=1 answers=5/<unknown> len=10\n"
  "REPLY s code=250 lines=1 answers=6/RSET len=8\n" },

{ "BDAT chunks with binary bytes, BDAT 0 LAST", 0,
  STEPS(GREET, "C: MAIL FROM:<a@b>\r\nBDAT 12\r\n\x01\r\n.\r\n\xff\x80z\r\n.BDAT 0 LAST\r\n",
        "S: 250 ok\r\n250 2.0.0 12 octets\r\n250 2.0.0 queued\r\n", "C: QUIT\r\n"),
  GREET_LOG
  "COMMAND c seq=2 verb=MAIL len=17\n"
  "COMMAND c seq=3 verb=BDAT len=9\n"
  "CHUNK c seq=3 msg=3 len=12 first\n"
  "COMMAND c seq=4 verb=BDAT len=13\n"
  "CHUNK c seq=4 msg=3 len=0 last\n"
  "REPLY s code=250 lines=1 answers=2/MAIL len=8\n"
  "REPLY s code=250 lines=1 answers=3/BDAT len=21\n"
  "REPLY s code=250 lines=1 answers=4/BDAT len=18 last\n"
  "TXN_END s txn=1 by=4 delivered\n"
  "COMMAND c seq=5 verb=QUIT len=6\n" },

{ "BDAT LAST with data, then a second message", 0,
  STEPS(GREET, "C: BDAT 5 LAST\r\nhello", "S: 250 ok\r\n", "C: BDAT 3\r\nabc", "C: BDAT 2 LAST\r\nde",
        "S: 250 ok\r\n250 ok\r\n"),
  GREET_LOG
  "COMMAND c seq=2 verb=BDAT len=13\n"
  "CHUNK c seq=2 msg=2 len=5 first last\n"
  "REPLY s code=250 lines=1 answers=2/BDAT len=8 last\n"
  "COMMAND c seq=3 verb=BDAT len=8\n"
  "CHUNK c seq=3 msg=3 len=3 first\n"
  "COMMAND c seq=4 verb=BDAT len=13\n"
  "CHUNK c seq=4 msg=3 len=2 last\n"
  "REPLY s code=250 lines=1 answers=3/BDAT len=8\n"
  "REPLY s code=250 lines=1 answers=4/BDAT len=8 last\n" },

{ "BDAT with a bad size", 0,
  STEPS(GREET, "C: BDAT 99999999999999999999\r\nNOOP\r\n"),
  GREET_LOG
  "COMMAND c seq=2 verb=BDAT len=27 badargs\n"
  "ANOMALY c BDAT_SIZE\n"
  "COMMAND c seq=3 verb=NOOP len=6\n" },

{ "AUTH PLAIN", 0,
  STEPS(GREET, "C: AUTH PLAIN\r\n", "S: 334 \r\n", "C: AGFsaWNlAHNlY3JldA==\r\n",
        "S: 235 2.7.0 Authentication successful\r\n", "C: NOOP\r\n"),
  GREET_LOG
  "COMMAND c seq=2 verb=AUTH len=12\n"
  "REPLY s code=334 lines=1 answers=2/AUTH len=6\n"
  "SASL c seq=3 len=22\n"
  "REPLY s code=235 lines=1 answers=3/<auth-response> len=37\n"
  "COMMAND c seq=4 verb=NOOP len=6\n" },

{ "AUTH LOGIN", 0,
  STEPS(GREET, "C: AUTH LOGIN\r\n", "S: 334 VXNlcm5hbWU6\r\n", "C: YWxpY2U=\r\n",
        "S: 334 UGFzc3dvcmQ6\r\n", "C: c2VjcmV0\r\n", "S: 235 ok\r\n", "C: QUIT\r\n"),
  GREET_LOG
  "COMMAND c seq=2 verb=AUTH len=12\n"
  "REPLY s code=334 lines=1 answers=2/AUTH len=18\n"
  "SASL c seq=3 len=10\n"
  "REPLY s code=334 lines=1 answers=3/<auth-response> len=18\n"
  "SASL c seq=4 len=10\n"
  "REPLY s code=235 lines=1 answers=4/<auth-response> len=8\n"
  "COMMAND c seq=5 verb=QUIT len=6\n" },

{ "AUTH cancelled with *", 0,
  STEPS(GREET, "C: AUTH LOGIN\r\n", "S: 334 VXNlcm5hbWU6\r\n", "C: *\r\n",
        "S: 501 5.7.0 Authentication cancelled\r\n", "C: QUIT\r\n"),
  GREET_LOG
  "COMMAND c seq=2 verb=AUTH len=12\n"
  "REPLY s code=334 lines=1 answers=2/AUTH len=18\n"
  "SASL c seq=3 len=3\n"
  "REPLY s code=501 lines=1 answers=3/<auth-response> len=36\n"
  "COMMAND c seq=4 verb=QUIT len=6\n" },

{ "STARTTLS", 0,
  STEPS(GREET, EHLO, EHLO_REPLY, "C: STARTTLS\r\n", "S: 220 2.0.0 Ready to start TLS\r\n"),
  GREET_LOG EHLO_LOG
  "COMMAND c seq=3 verb=STARTTLS len=10\n"
  "REPLY s code=220 lines=1 answers=3/STARTTLS len=30\n"
  "TLS s next\n" },

{ "STARTTLS refused", 0,
  STEPS(GREET, "C: STARTTLS\r\n", "S: 454 4.7.0 TLS not available\r\n", "C: QUIT\r\n"),
  GREET_LOG
  "COMMAND c seq=2 verb=STARTTLS len=10\n"
  "REPLY s code=454 lines=1 answers=2/STARTTLS len=29\n"
  "COMMAND c seq=3 verb=QUIT len=6\n" },

{ "outcomes: deferred at MAIL, rejected and deferred after data, deferred at DATA", 0,
  STEPS(GREET, "C: MAIL FROM:<a@x>\r\n", "S: 451 4.3.0 try later\r\n",
        "C: MAIL FROM:<a@x>\r\n", "S: 250 ok\r\n", "C: RCPT TO:<b@x>\r\n", "S: 250 ok\r\n",
        "C: DATA\r\n", "S: 354 go\r\n", "C: hi\r\n.\r\n", "S: 554 5.7.1 spam\r\n",
        "C: MAIL FROM:<a@x>\r\n", "S: 250 ok\r\n", "C: RCPT TO:<b@x>\r\n", "S: 250 ok\r\n",
        "C: DATA\r\n", "S: 354 go\r\n", "C: hi\r\n.\r\n", "S: 451 4.3.0 later\r\n",
        "C: MAIL FROM:<a@x>\r\n", "S: 250 ok\r\n", "C: RCPT TO:<b@x>\r\n", "S: 250 ok\r\n",
        "C: DATA\r\n", "S: 452 4.3.1 no space\r\n"),
  "REPLY s code=220 lines=1 answers=1/<connect> len=32 greeting\n"
  "COMMAND c seq=2 verb=MAIL len=17\n"
  "REPLY s code=451 lines=1 answers=2/MAIL len=21\n"
  "TXN_END s txn=1 by=2 deferred at MAIL\n"
  "COMMAND c seq=3 verb=MAIL len=17\n"
  "REPLY s code=250 lines=1 answers=3/MAIL len=8\n"
  "COMMAND c seq=4 verb=RCPT len=15\n"
  "REPLY s code=250 lines=1 answers=4/RCPT len=8\n"
  "COMMAND c seq=5 verb=DATA len=6\n"
  "REPLY s code=354 lines=1 answers=5/DATA len=8\n"
  "BODY c msg=5 len=4 first\n"
  "EOD c seq=6 msg=5 len=3 clean\n"
  "REPLY s code=554 lines=1 answers=6/<end-of-data> len=16\n"
  "TXN_END s txn=2 by=6 rejected after data\n"
  "COMMAND c seq=7 verb=MAIL len=17\n"
  "REPLY s code=250 lines=1 answers=7/MAIL len=8\n"
  "COMMAND c seq=8 verb=RCPT len=15\n"
  "REPLY s code=250 lines=1 answers=8/RCPT len=8\n"
  "COMMAND c seq=9 verb=DATA len=6\n"
  "REPLY s code=354 lines=1 answers=9/DATA len=8\n"
  "BODY c msg=9 len=4 first\n"
  "EOD c seq=10 msg=9 len=3 clean\n"
  "REPLY s code=451 lines=1 answers=10/<end-of-data> len=17\n"
  "TXN_END s txn=3 by=10 deferred after data\n"
  "COMMAND c seq=11 verb=MAIL len=17\n"
  "REPLY s code=250 lines=1 answers=11/MAIL len=8\n"
  "COMMAND c seq=12 verb=RCPT len=15\n"
  "REPLY s code=250 lines=1 answers=12/RCPT len=8\n"
  "COMMAND c seq=13 verb=DATA len=6\n"
  "REPLY s code=452 lines=1 answers=13/DATA len=20\n"
  "ANOMALY s REPLY_NOT_ALLOWED\n"
  "TXN_END s txn=4 by=13 deferred at DATA\n" },

{ "outcomes: every recipient deferred, one refused and one deferred", 0,
  STEPS(GREET, "C: MAIL FROM:<>\r\n", "S: 250 ok\r\n", "C: RCPT TO:<b@x>\r\n",
        "S: 450 4.2.0 greylisted\r\n", "C: RSET\r\n", "S: 250 ok\r\n",
        "C: MAIL FROM:<a@x>\r\n", "S: 250 ok\r\n", "C: RCPT TO:<b@x>\r\n", "S: 550 5.1.1 no\r\n",
        "C: RCPT TO:<c@x>\r\n", "S: 452 4.2.2 full\r\n", "C: RSET\r\n", "S: 250 ok\r\n"),
  "REPLY s code=220 lines=1 answers=1/<connect> len=32 greeting\n"
  "COMMAND c seq=2 verb=MAIL len=14\n"
  "REPLY s code=250 lines=1 answers=2/MAIL len=8\n"
  "COMMAND c seq=3 verb=RCPT len=15\n"
  "REPLY s code=450 lines=1 answers=3/RCPT len=22\n"
  "COMMAND c seq=4 verb=RSET len=6\n"
  "TXN_END c txn=1 by=4 deferred at RCPT\n"
  "REPLY s code=250 lines=1 answers=4/RSET len=8\n"
  "COMMAND c seq=5 verb=MAIL len=17\n"
  "REPLY s code=250 lines=1 answers=5/MAIL len=8\n"
  "COMMAND c seq=6 verb=RCPT len=15\n"
  "REPLY s code=550 lines=1 answers=6/RCPT len=14\n"
  "COMMAND c seq=7 verb=RCPT len=15\n"
  "REPLY s code=452 lines=1 answers=7/RCPT len=16\n"
  "COMMAND c seq=8 verb=RSET len=6\n"
  "TXN_END c txn=2 by=8 rejected at RCPT\n"
  "REPLY s code=250 lines=1 answers=8/RSET len=8\n" },

{ "two BDAT LAST messages pipelined: both end", 0,
  STEPS(GREET, EHLO, EHLO_REPLY,
        "C: MAIL FROM:<a@x>\r\nRCPT TO:<b@x>\r\nBDAT 2 LAST\r\nhiMAIL FROM:<a@x>\r\nRCPT TO:<c@x>\r\nBDAT 3 LAST\r\nyo!",
        "S: 250 ok\r\n250 ok\r\n250 2.0.0 first\r\n250 ok\r\n250 ok\r\n550 5.7.1 second\r\n"),
  "REPLY s code=220 lines=1 answers=1/<connect> len=32 greeting\n"
  "COMMAND c seq=2 verb=EHLO len=25\n"
  "REPLY s code=250 lines=4 answers=2/EHLO len=64\n"
  "COMMAND c seq=3 verb=MAIL len=17\n"
  "COMMAND c seq=4 verb=RCPT len=15\n"
  "COMMAND c seq=5 verb=BDAT len=13\n"
  "CHUNK c seq=5 msg=5 len=2 first last\n"
  "COMMAND c seq=6 verb=MAIL len=17\n"
  "COMMAND c seq=7 verb=RCPT len=15\n"
  "COMMAND c seq=8 verb=BDAT len=13\n"
  "CHUNK c seq=8 msg=8 len=3 first last\n"
  "REPLY s code=250 lines=1 answers=3/MAIL len=8\n"
  "REPLY s code=250 lines=1 answers=4/RCPT len=8\n"
  "REPLY s code=250 lines=1 answers=5/BDAT len=17 last\n"
  "TXN_END s txn=1 by=5 delivered\n"
  "REPLY s code=250 lines=1 answers=6/MAIL len=8\n"
  "REPLY s code=250 lines=1 answers=7/RCPT len=8\n"
  "REPLY s code=550 lines=1 answers=8/BDAT len=18 last\n"
  "TXN_END s txn=2 by=8 rejected after data\n" },

{ "STARTTLS accepted, then clear text", 0,
  STEPS(GREET, "C: STARTTLS\r\n", "S: 220 go ahead\r\n", "C: EHLO x\r\n", "S: 250 ok\r\n"),
  "REPLY s code=220 lines=1 answers=1/<connect> len=32 greeting\n"
  "COMMAND c seq=2 verb=STARTTLS len=10\n"
  "REPLY s code=220 lines=1 answers=2/STARTTLS len=14\n"
  "TLS s next\n"
  "ANOMALY c STARTTLS_CLEARTEXT\n"
  "COMMAND c seq=3 verb=EHLO len=8\n"
  "REPLY s code=250 lines=1 answers=3/EHLO len=8\n" },

{ "STARTTLS, TLS records, then the decrypted session", 0,
  STEPS(GREET, "C: STARTTLS\r\n", "S: 220 go ahead\r\n", "C: \x16\x03\x01\x02\x00hello",
        "S: \x16\x03\x03\x00\x10world", "Ct: EHLO x\r\n", "St: 250 ok\r\n"),
  "REPLY s code=220 lines=1 answers=1/<connect> len=32 greeting\n"
  "COMMAND c seq=2 verb=STARTTLS len=10\n"
  "REPLY s code=220 lines=1 answers=2/STARTTLS len=14\n"
  "TLS s next\n"
  "TLS c len=4\n"
  "TLS s len=3\n"
  "COMMAND c seq=3 verb=EHLO len=8\n"
  "REPLY s code=250 lines=1 answers=3/EHLO len=8\n" },

{ "AUTH LOGIN, client side only: the responses are never commands", 0,
  STEPS("C: EHLO x\r\n", "C: AUTH LOGIN\r\n", "C: dXNlcg==\r\n", "C: UVVJVA==\r\n", "C: QUIT\r\n"),
  "COMMAND c seq=2 verb=EHLO len=8\n"
  "COMMAND c seq=3 verb=AUTH len=12\n"
  "SASL c seq=4 len=10\n"
  "SASL c seq=5 len=10\n"
  "COMMAND c seq=6 verb=QUIT len=6\n" },

{ "AUTH LOGIN answered before the 334s arrive", 0,
  STEPS(GREET, "C: AUTH LOGIN\r\ndXNlcg==\r\ncGFzcw==\r\n", "S: 334 VXNlcm5hbWU6\r\n334 UGFzc3dvcmQ6\r\n235 2.7.0 ok\r\n",
        "C: NOOP\r\n"),
  "REPLY s code=220 lines=1 answers=1/<connect> len=32 greeting\n"
  "COMMAND c seq=2 verb=AUTH len=12\n"
  "SASL c seq=3 len=10\n"
  "SASL c seq=4 len=10\n"
  "REPLY s code=334 lines=1 answers=2/AUTH len=18\n"
  "REPLY s code=334 lines=1 answers=3/<auth-response> len=18\n"
  "REPLY s code=235 lines=1 answers=4/<auth-response> len=14\n"
  "COMMAND c seq=5 verb=NOOP len=6\n" },

{ "AUTH PLAIN with a TAB and an initial response; unknown mechanism ends at a command", 0,
  STEPS(GREET, "C: AUTH PLAIN\tAHVzZXIAcGFzcw==\r\n", "S: 235 ok\r\n",
        "C: AUTH X-FOO\r\n", "C: YWJj\r\n", "C: NOOP\r\n", "S: 334 \r\n535 no\r\n250 ok\r\n"),
  "REPLY s code=220 lines=1 answers=1/<connect> len=32 greeting\n"
  "COMMAND c seq=2 verb=AUTH len=29\n"
  "REPLY s code=235 lines=1 answers=2/AUTH len=8\n"
  "COMMAND c seq=3 verb=AUTH len=12\n"
  "SASL c seq=4 len=6\n"
  "COMMAND c seq=5 verb=NOOP len=6\n"
  "REPLY s code=334 lines=1 answers=3/AUTH len=6\n"
  "REPLY s code=535 lines=1 answers=4/<auth-response> len=8\n"
  "REPLY s code=250 lines=1 answers=5/NOOP len=8\n" },

{ "reply with no pending command", 0,
  STEPS(GREET, "C: NOOP\r\n", "S: 250 ok\r\n250 extra\r\n"),
  GREET_LOG
  "COMMAND c seq=2 verb=NOOP len=6\n"
  "REPLY s code=250 lines=1 answers=2/NOOP len=8\n"
  "REPLY s code=250 lines=1 answers=none len=11\n"
  "ANOMALY s REPLY_UNPAIRED\n" },

{ "replies with no command: reported once a run, again after a command", 0,
  STEPS(GREET, "C: NOOP\r\n", "S: 250 ok\r\n250 a\r\n250 b\r\n", "C: NOOP\r\n", "S: 250 ok\r\n250 c\r\n"),
  GREET_LOG
  "COMMAND c seq=2 verb=NOOP len=6\n"
  "REPLY s code=250 lines=1 answers=2/NOOP len=8\n"
  "REPLY s code=250 lines=1 answers=none len=7\n"
  "ANOMALY s REPLY_UNPAIRED\n"
  "REPLY s code=250 lines=1 answers=none len=7\n"
  "COMMAND c seq=3 verb=NOOP len=6\n"
  "REPLY s code=250 lines=1 answers=3/NOOP len=8\n"
  "REPLY s code=250 lines=1 answers=none len=7\n"
  "ANOMALY s REPLY_UNPAIRED\n" },

{ "unsolicited 421", 0,
  STEPS(GREET, "S: 421 4.4.2 mx.example.org Timeout\r\n"),
  GREET_LOG
  "REPLY s code=421 lines=1 answers=none len=34\n" },

{ "554 as greeting", 0,
  STEPS("S: 554 5.7.1 No SMTP service here\r\n", "C: QUIT\r\n", "S: 221 bye\r\n"),
  "REPLY s code=554 lines=1 answers=1/<connect> len=32 greeting\n"
  "COMMAND c seq=2 verb=QUIT len=6\n"
  "REPLY s code=221 lines=1 answers=2/QUIT len=9\n" },

{ "capture starts mid-body: resync at a lone dot", 0,
  STEPS("C: some body text\r\nmore\r\n.\r\nMAIL FROM:<a@b>\r\n",
        "S: 250 2.0.0 queued\r\n250 2.1.0 ok\r\n"),
  "FRAGMENT c UNSYNC len=16\n"
  "ANOMALY c UNSYNC\n"
  "FRAGMENT c UNSYNC len=6\n"
  "EOD c seq=2 msg=0 len=3\n"
  "COMMAND c seq=3 verb=MAIL len=17\n"
  "REPLY s code=250 lines=1 answers=2/<end-of-data> len=18\n"
  "REPLY s code=250 lines=1 answers=3/MAIL len=14\n" },

{ "capture starts mid-session: resync at a plausible command", 0,
  STEPS("C: Content-Type: text/plain\r\nhello there\r\nEHLO\r\nRSET\r\n", "S: 250 ok\r\n"),
  "FRAGMENT c UNSYNC len=26\n"
  "ANOMALY c UNSYNC\n"
  "FRAGMENT c UNSYNC len=13\n"
  "FRAGMENT c UNSYNC len=6\n"
  "COMMAND c seq=2 verb=RSET len=6\n"
  "REPLY s code=250 lines=1 answers=2/RSET len=8\n" },

{ "server capture starts mid-session", 0,
  STEPS("S: ello world\r\n250 2.1.5 Ok\r\n", "C: DATA\r\n", "S: 354 go\r\n", "C: x\r\n.\r\n",
        "S: 250 queued\r\n"),
  "FRAGMENT s UNSYNC len=12\n"
  "ANOMALY s UNSYNC\n"
  "REPLY s code=250 lines=1 answers=none len=14 unsync\n"
  "ANOMALY s UNSYNC\n"
  "COMMAND c seq=2 verb=DATA len=6\n"
  "ANOMALY c OUT_OF_SEQUENCE\n"
  "REPLY s code=354 lines=1 answers=2/DATA len=8\n"
  "BODY c msg=2 len=3 first\n"
  "EOD c seq=3 msg=2 len=3 clean\n"
  "REPLY s code=250 lines=1 answers=3/<end-of-data> len=12\n" },

{ "overlong lines are cut", 64,
  STEPS(GREET,
        "C: NOOP aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\nNOOP\r\n",
        "S: 250 xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\r\n250 ok\r\n250 ok\r\n"),
  GREET_LOG
  "COMMAND c seq=2 verb=NOOP len=64\n"
  "ANOMALY c LINE_CUT\n"
  "FRAGMENT c LINE_CUT len=39 cont\n"
  "COMMAND c seq=3 verb=NOOP len=6\n"
  "FRAGMENT s LINE_CUT len=64\n"
  "ANOMALY s LINE_CUT\n"
  "FRAGMENT s LINE_CUT len=38 cont\n"
  "REPLY s code=250 lines=1 answers=2/NOOP len=8\n"
  "REPLY s code=250 lines=1 answers=3/NOOP len=8\n" },

{ "bare LF and bare CR", 0,
  STEPS(GREET, "C: NOOP\nNO\rOP\r\n", "S: 250 ok\n250 o\rk\r\n"),
  GREET_LOG
  "COMMAND c seq=2 verb=NOOP len=5\n"
  "ANOMALY c BARE_LF\n"
  "COMMAND c seq=3 verb=<unknown> len=7\n"
  "ANOMALY c NOT_A_COMMAND\n"
  "ANOMALY c BARE_CR\n"
  "REPLY s code=250 lines=1 answers=2/NOOP len=7\n"
  "ANOMALY s BARE_LF\n"
  "REPLY s code=250 lines=1 answers=3/<unknown> len=9\n"
  "ANOMALY s BARE_CR\n" },

{ "smuggling forms inside DATA", 0,
  STEPS(GREET, "C: DATA\r\n", "S: 354 go\r\n", "C: a\r\nb\n.\nc\r\nd\n.\r\ne\r\n.\r\n", "S: 250 ok\r\n"),
  GREET_LOG
  "COMMAND c seq=2 verb=DATA len=6\n"
  "ANOMALY c OUT_OF_SEQUENCE\n"
  "REPLY s code=354 lines=1 answers=2/DATA len=8\n"
  "BODY c msg=2 len=18 first\n"
  "ANOMALY c BARE_LF\n"
  "ANOMALY c SMUGGLING\n"
  "ANOMALY c SMUGGLING\n"
  "EOD c seq=3 msg=2 len=3\n"
  "REPLY s code=250 lines=1 answers=3/<end-of-data> len=8\n" },

/* what the first lines of a reply showed outlives the feeds that framed
 * them: byte by byte, the engine goes on from the lines framed before
 * (SMTP_FEED_RESUME) and must keep their flags and code */
{ "a reply's anomalies in lines framed by earlier feeds", 0,
  STEPS(GREET, "C: NOOP\r\n", "S: 250-a\n250-b\rc\r\n251 d\r\n"),
  GREET_LOG
  "COMMAND c seq=2 verb=NOOP len=6\n"
  "REPLY s code=250 lines=3 answers=2/NOOP len=22\n"
  "ANOMALY s MULTILINE_MISMATCH\n"
  "ANOMALY s BARE_LF\n"
  "ANOMALY s BARE_CR\n" },

{ "reply framing anomalies", 0,
  STEPS(GREET, "C: NOOP\r\nNOOP\r\nNOOP\r\nNOOP\r\n",
        "S: 250-a\r\n251 b\r\n250-a\r\nbogus\r\n550 2.1.1 odd\r\n650 x\r\n"),
  GREET_LOG
  "COMMAND c seq=2 verb=NOOP len=6\n"
  "COMMAND c seq=3 verb=NOOP len=6\n"
  "COMMAND c seq=4 verb=NOOP len=6\n"
  "COMMAND c seq=5 verb=NOOP len=6\n"
  "REPLY s code=250 lines=2 answers=2/NOOP len=14\n"
  "ANOMALY s MULTILINE_MISMATCH\n"
  "REPLY s code=250 lines=1 answers=3/NOOP len=7\n"
  "ANOMALY s MULTILINE_UNTERM\n"
  "FRAGMENT s REPLY_SYNTAX len=7\n"
  "ANOMALY s REPLY_SYNTAX\n"
  "REPLY s code=550 lines=1 answers=4/NOOP len=15\n"
  "ANOMALY s STATUS_CLASS\n"
  "ANOMALY s REPLY_NOT_ALLOWED\n"
  "REPLY s code=650 lines=1 answers=5/NOOP len=7\n"
  "ANOMALY s REPLY_CODE_RANGE\n"
  "ANOMALY s REPLY_NOT_ALLOWED\n" },

{ "FLUSH emits partial lines", 0,
  STEPS(GREET, "C: NOOP\r\nQUI", "C!: ", "C: T\r\nNOOP\r\n", "S!: 250 ok\r\n250 o", "S: k\r\n250 ok\r\n"),
  GREET_LOG
  "COMMAND c seq=2 verb=NOOP len=6\n"
  "COMMAND c seq=3 verb=<unknown> len=3\n"
  "ANOMALY c UNKNOWN_COMMAND\n"
  "ANOMALY c LINE_PARTIAL\n"
  "FRAGMENT c LINE_CUT len=3 cont\n"
  "COMMAND c seq=4 verb=NOOP len=6\n"
  "REPLY s code=250 lines=1 answers=2/NOOP len=8\n"
  "FRAGMENT s LINE_PARTIAL len=5\n"
  "ANOMALY s LINE_PARTIAL\n"
  "FRAGMENT s LINE_CUT len=3 cont\n"
  "REPLY s code=250 lines=1 answers=3/<unknown> len=8\n" },

{ "gap in the command stream", 0,
  STEPS(GREET, "C: MAIL FROM:<a@b>\r\nRCPT T", "G: c 50", "C: xyz\r\nRCPT TO:<c@d>\r\n",
        "S: 250 ok\r\n", "G: s 9", "S: 250 ok\r\n"),
  GREET_LOG
  "COMMAND c seq=2 verb=MAIL len=17\n"
  "GAP c lost=50\n"
  "FRAGMENT c UNSYNC len=5\n"
  "ANOMALY c UNSYNC\n"
  "COMMAND c seq=3 verb=RCPT len=15\n"
  "REPLY s code=250 lines=1 answers=2/MAIL len=8\n"
  "GAP s lost=9\n"
  "REPLY s code=250 lines=1 answers=3/RCPT len=8\n" },

{ "a bare-LF end of data the server took (SMTP smuggling), then a lost one", 0,
  STEPS(GREET, "C: MAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\n", "S: 250 ok\r\n250 ok\r\n354 go\r\n",
        "C: hello\n.\n", "S: 250 queued\r\n", "C: MAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\n",
        "S: 250 ok\r\n250 ok\r\n354 go\r\n", "C: line\r\n", "G: c 5", "S: 250 queued\r\n"),
  GREET_LOG
  "COMMAND c seq=2 verb=MAIL len=17\n"
  "COMMAND c seq=3 verb=RCPT len=15\n"
  "COMMAND c seq=4 verb=DATA len=6\n"
  "REPLY s code=250 lines=1 answers=2/MAIL len=8\n"
  "REPLY s code=250 lines=1 answers=3/RCPT len=8\n"
  "REPLY s code=354 lines=1 answers=4/DATA len=8\n"
  "BODY c msg=4 len=8 first\n"
  "ANOMALY c BARE_LF\n"
  "ANOMALY c SMUGGLING\n"
  "REPLY s code=250 lines=1 answers=5/<end-of-data> len=12 lookalike\n"
  "ANOMALY s LOOKALIKE_ACCEPTED\n"
  "TXN_END s txn=1 by=5 delivered\n"
  "COMMAND c seq=6 verb=MAIL len=17\n"
  "COMMAND c seq=7 verb=RCPT len=15\n"
  "COMMAND c seq=8 verb=DATA len=6\n"
  "REPLY s code=250 lines=1 answers=6/MAIL len=8\n"
  "REPLY s code=250 lines=1 answers=7/RCPT len=8\n"
  "REPLY s code=354 lines=1 answers=8/DATA len=8\n"
  "BODY c msg=8 len=6 first\n"
  "GAP c lost=5\n"
  "REPLY s code=250 lines=1 answers=9/<end-of-data> len=12\n"
  "ANOMALY s UNSYNC\n"
  "TXN_END s txn=2 by=9 delivered\n" },

{ "gap inside a BDAT chunk and a DATA body", 0,
  STEPS(GREET, "C: BDAT 10 LAST\r\nabc", "G: c 4", "C: def", "C: NOOP\r\n",
        "S: 250 ok\r\n250 ok\r\n", "C: DATA\r\n", "S: 354 go\r\n", "C: line1\r\nli", "G: c 100",
        "C: ne9\r\n.\r\n", "S: 250 ok\r\n"),
  GREET_LOG
  "COMMAND c seq=2 verb=BDAT len=14\n"
  "CHUNK c seq=2 msg=2 len=3 first\n"
  "GAP c lost=4\n"
  "CHUNK c seq=2 msg=2 len=3 last\n"
  "COMMAND c seq=3 verb=NOOP len=6\n"
  "REPLY s code=250 lines=1 answers=2/BDAT len=8 last\n"
  "REPLY s code=250 lines=1 answers=3/NOOP len=8\n"
  "COMMAND c seq=4 verb=DATA len=6\n"
  "ANOMALY c OUT_OF_SEQUENCE\n"
  "REPLY s code=354 lines=1 answers=4/DATA len=8\n"
  "BODY c msg=4 len=9 first\n"
  "GAP c lost=100\n"
  "BODY c msg=4 len=5\n"
  "EOD c seq=5 msg=4 len=3\n"
  "REPLY s code=250 lines=1 answers=5/<end-of-data> len=8\n" },

{ "one-sided client capture", 0,
  STEPS("C: EHLO x\r\nMAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\nSubject: x\r\n\r\nhello\r\n.\r\nQUIT\r\n"),
  "COMMAND c seq=2 verb=EHLO len=8\n"
  "COMMAND c seq=3 verb=MAIL len=17\n"
  "COMMAND c seq=4 verb=RCPT len=15\n"
  "COMMAND c seq=5 verb=DATA len=6\n"
  "BODY c msg=5 len=21 first\n"
  "EOD c seq=6 msg=5 len=3 clean\n"
  "COMMAND c seq=7 verb=QUIT len=6\n" },

{ "client does not wait for 354", 0,
  STEPS(GREET, "C: DATA\r\nSubject: x\r\n\r\nhi\r\n.\r\n", "S: 354 go\r\n250 ok\r\n"),
  GREET_LOG
  "COMMAND c seq=2 verb=DATA len=6\n"
  "ANOMALY c OUT_OF_SEQUENCE\n"
  "BODY c msg=2 len=18 first\n"
  "ANOMALY c BODY_BEFORE_354\n"
  "EOD c seq=3 msg=2 len=3 clean\n"
  "REPLY s code=354 lines=1 answers=2/DATA len=8\n"
  "REPLY s code=250 lines=1 answers=3/<end-of-data> len=8\n" },

{ "DATA rejected after the client started the body", 0,
  STEPS(GREET, "C: DATA\r\nSubject: x\r\n", "S: 554 no\r\n", "C: RSET\r\n", "S: 250 ok\r\n"),
  GREET_LOG
  "COMMAND c seq=2 verb=DATA len=6\n"
  "ANOMALY c OUT_OF_SEQUENCE\n"
  "BODY c msg=2 len=12 first\n"
  "ANOMALY c BODY_BEFORE_354\n"
  "REPLY s code=554 lines=1 answers=2/DATA len=8\n"
  "COMMAND c seq=3 verb=RSET len=6\n"
  "REPLY s code=250 lines=1 answers=3/RSET len=8\n" },

{ "bare LF and smuggling forms across feeds", 0,
  STEPS(GREET, "C: DATA\r\n", "S: 354 go\r\n", "C: x\ny", "C: \r\n.", "C: \n.\r", "C: \n.\r\n"),
  GREET_LOG
  "COMMAND c seq=2 verb=DATA len=6\n"
  "ANOMALY c OUT_OF_SEQUENCE\n"
  "REPLY s code=354 lines=1 answers=2/DATA len=8\n"
  "BODY c msg=2 len=10 first\n"
  "ANOMALY c BARE_LF\n"
  "ANOMALY c SMUGGLING\n"
  "ANOMALY c SMUGGLING\n"
  "EOD c seq=3 msg=2 len=3\n" },

{ "command after QUIT", 0,
  STEPS(GREET, "C: QUIT\r\nNOOP\r\n"),
  GREET_LOG
  "COMMAND c seq=2 verb=QUIT len=6\n"
  "COMMAND c seq=3 verb=NOOP len=6\n"
  "ANOMALY c DATA_AFTER_QUIT\n" },
};

/* 70 pipelined NOOPs: the queue keeps the newest 64; the replies left
 * without a command are reported once, at the first. */
static void queue_overflow(void)
{
    enum { N = 70, QMAX = 64 }; /* the runner's max_pending */
    char *c = malloc(3 + 6 * N + 1), *s = malloc(3 + 8 * N + 1);
    char *want = malloc(200 * N), *w = want;
    const char *steps[4];
    int i;

    strcpy(c, "C: ");
    strcpy(s, "S: ");
    for (i = 0; i < N; i++) {
        strcat(c, "NOOP\r\n");
        strcat(s, "250 ok\r\n");
    }
    steps[0] = GREET;
    steps[1] = c;
    steps[2] = s;
    steps[3] = NULL;
    w += sprintf(w, GREET_LOG);
    for (i = 0; i < N; i++) {
        w += sprintf(w, "COMMAND c seq=%d verb=NOOP len=6\n", i + 2);
        if (i >= QMAX)
            w += sprintf(w, "ANOMALY c QUEUE_OVERFLOW\n");
    }
    for (i = 0; i < N; i++) {
        if (i < QMAX)
            w += sprintf(w, "REPLY s code=250 lines=1 answers=%d/NOOP len=8\n",
                         i + 2 + (N - QMAX));
        else
            w += sprintf(w, "REPLY s code=250 lines=1 answers=none len=8\n%s",
                         i == QMAX ? "ANOMALY s REPLY_UNPAIRED\n" : ""); /* once a run */
    }
    transcript_check("queue overflow: 70 pipelined NOOPs", steps, 0, want);
    free(c);
    free(s);
    free(want);
}

/* N pipelined RCPTs (SMTP) or N LMTP recipients, each refused when its
 * number is a multiple of 10, run whole through a queue that grows: every
 * reply pairs with its own command and the transaction ends right. */
static void many_recipients(int n, int lmtp)
{
    enum { PER = 5000 }; /* lines per step */
    int nsteps = 2 * (n / PER + 1) + 8, k = 0, i, ok = 0;
    const char **steps = calloc((size_t)nsteps, sizeof *steps);
    char **own = calloc((size_t)nsteps, sizeof *own);
    char *log, *w;
    const char *err = NULL;
    run_opts o;
    char want[256], name[96];

    for (i = 0; i < n; i++)
        ok += i % 10 != 9;
    steps[k++] = GREET;
    steps[k++] = lmtp ? "C: LHLO x\r\nMAIL FROM:<a@x>\r\n" : "C: EHLO x\r\nMAIL FROM:<a@x>\r\n";
    for (i = 0; i < n; i += PER) { /* the RCPTs, then DATA */
        int j;
        w = own[k] = malloc(PER * 32 + 16);
        w += sprintf(w, "C: ");
        for (j = i; j < n && j < i + PER; j++)
            w += sprintf(w, "RCPT TO:<u%d@x>\r\n", j);
        steps[k] = own[k];
        k++;
    }
    steps[k++] = "C: DATA\r\n";
    steps[k++] = "S: 250-x\r\n250 PIPELINING\r\n250 ok\r\n";
    for (i = 0; i < n; i += PER) {
        int j;
        w = own[k] = malloc(PER * 16 + 16);
        w += sprintf(w, "S: ");
        for (j = i; j < n && j < i + PER; j++)
            w += sprintf(w, j % 10 == 9 ? "550 5.1.1 no\r\n" : "250 ok\r\n");
        steps[k] = own[k];
        k++;
    }
    steps[k++] = "S: 354 go\r\n";
    steps[k++] = "C: hi\r\n.\r\n";
    /* LMTP: one reply per accepted recipient; the last one defers */
    w = own[k] = malloc((size_t)ok * 16 + 32);
    w += sprintf(w, "S: ");
    for (i = 0; i < (lmtp ? ok : 1); i++)
        w += sprintf(w, lmtp && i == ok - 1 ? "452 4.2.2 full\r\n" : "250 ok\r\n");
    steps[k] = own[k];
    k++;
    steps[k] = NULL;
    memset(&o, 0, sizeof o);
    o.mode = MODE_WHOLE;
    o.evcap = 64;
    o.max_pending = 1000000;
    snprintf(name, sizeof name, "%d pipelined recipients%s", n, lmtp ? " (LMTP)" : "");
    t_begin(name);
    log = transcript_run(steps, &o, &err);
    CHECK(err == NULL);
    CHECK(strstr(log, "QUEUE_OVERFLOW") == NULL);
    CHECK(strstr(log, "REPLY_UNPAIRED") == NULL);
    /* commands: greeting 1, HELO 2, MAIL 3, RCPT i at 4 + i, DATA n + 4,
     * end of data n + 5 (and on, one per accepted recipient in LMTP) */
    snprintf(want, sizeof want, "REPLY s code=550 lines=1 answers=%d/RCPT len=14\n", 4 + 9);
    CHECK(strstr(log, want) != NULL);
    snprintf(want, sizeof want, "REPLY s code=250 lines=1 answers=%d/RCPT len=8\n", 4 + n - 2);
    CHECK(strstr(log, want) != NULL);
    snprintf(want, sizeof want, "REPLY s code=354 lines=1 answers=%d/DATA len=8\n", n + 4);
    CHECK(strstr(log, want) != NULL);
    snprintf(want, sizeof want, "TXN_END s txn=1 by=%d delivered to some recipients\n",
             lmtp ? n + 5 + ok - 1 : n + 5);
    CHECK(strstr(log, want) != NULL);
    if (lmtp) { /* the last recipient's reply */
        snprintf(want, sizeof want, "REPLY s code=452 lines=1 answers=%d/<end-of-data> len=16\n",
                 n + 5 + ok - 1);
        CHECK(strstr(log, want) != NULL);
    }
    free(log);
    for (i = 0; i < nsteps; i++)
        free(own[i]);
    free(own);
    free(steps);
}

/* A session whose transaction 1 awaits its final reply while transaction
 * 2 is open. */
static void two_transactions(smtp_session *s)
{
    static const char cli[] = "MAIL FROM:<a@x>\r\nRCPT TO:<b@x>\r\nDATA\r\n";
    static const char body[] = "hi\r\n.\r\nMAIL FROM:<c@x>\r\n";
    static const char *const feeds[4] = { "220 x\r\n", cli, "250 a\r\n250 b\r\n354 c\r\n", body };
    smtp_event ev[SMTP_EVENTS_MIN];
    size_t nev, i;
    int need;

    smtp_session_init(s, NULL);
    for (i = 0; i < 4; i++)
        smtp_session_feed(s, i % 2 ? SMTP_DIR_CLIENT : SMTP_DIR_SERVER, (const uint8_t *)feeds[i],
                          strlen(feeds[i]), 0, ev, SMTP_EVENTS_MIN, &nev, &need);
}

/* FIN or RST with transactions open or awaiting their final reply. */
static void session_close(void)
{
    smtp_session s;
    smtp_event ev[SMTP_EVENTS_MIN];
    size_t nev, n;
    int need;

    t_begin("session close");
    two_transactions(&s);
    /* transaction 1 awaits its final reply, transaction 2 is open */
    n = smtp_session_close(&s, SMTP_DIR_SERVER, SMTP_CLOSE_RESET, ev, SMTP_EVENTS_MIN);
    CHECK_EQ(n, 2);
    CHECK_EQ(ev[0].type, SMTP_EV_TXN_END);
    CHECK_EQ(ev[0].txn, 1);
    CHECK_EQ(ev[0].code, SMTP_TXN_RESET);
    CHECK_EQ(ev[1].txn, 2);
    CHECK_EQ(ev[1].code, SMTP_TXN_RESET);
    CHECK_EQ(smtp_session_close(&s, SMTP_DIR_SERVER, 0, ev, SMTP_EVENTS_MIN), 0);
    /* the client half-closes: only the open transaction ends */
    two_transactions(&s);
    n = smtp_session_close(&s, SMTP_DIR_CLIENT, SMTP_CLOSE_HALF, ev, SMTP_EVENTS_MIN);
    CHECK_EQ(n, 1);
    CHECK_EQ(ev[0].txn, 2);
    CHECK_EQ(ev[0].code, SMTP_TXN_CLOSED);
    smtp_session_feed(&s, SMTP_DIR_SERVER, (const uint8_t *)"250 ok\r\n", 8, 0, ev, SMTP_EVENTS_MIN, &nev, &need);
    CHECK_EQ(nev, 2);
    CHECK_EQ(ev[1].type, SMTP_EV_TXN_END);
    CHECK_EQ(ev[1].txn, 1);
    CHECK_EQ(ev[1].code, SMTP_TXN_DELIVERED);
    CHECK_STR(smtp_txn_outcome_name(SMTP_TXN_CLOSED), "connection closed");
}

/* Direct API checks the tables do not reach. */
static void session_api(void)
{
    smtp_session s;
    smtp_event ev[SMTP_EVENTS_MIN];
    size_t nev = 7, got;
    int need = 7;
    smtp_config cfg = { 10, 5, 0, NULL, NULL };
    static const uint8_t greet[] = "220 hi\r\nSTARTTLS";

    t_begin("session api");
    smtp_session_init(&s, NULL);
    CHECK_EQ(smtp_session_pending(&s), 1);
    CHECK(!smtp_session_in_tls(&s));
    got = smtp_session_feed(&s, SMTP_DIR_SERVER, greet, 8, 0, ev, SMTP_EVENTS_MIN, &nev, &need);
    CHECK_EQ(got, 8);
    CHECK_EQ(nev, 1);
    CHECK_EQ(need, 0);
    CHECK_EQ(smtp_session_pending(&s), 0);
    got = smtp_session_feed(&s, SMTP_DIR_CLIENT, greet + 8, 8, 0, ev, SMTP_EVENTS_MIN, &nev, &need);
    CHECK_EQ(got, 0);
    CHECK_EQ(nev, 0);
    CHECK_EQ(need, 1);
    got = smtp_session_feed(&s, SMTP_DIR_CLIENT, (const uint8_t *)"STARTTLS\r\n", 10, 0, ev,
                            SMTP_EVENTS_MIN, &nev, &need);
    CHECK_EQ(got, 10);
    CHECK_EQ(smtp_session_pending(&s), 1);
    got = smtp_session_feed(&s, SMTP_DIR_SERVER, (const uint8_t *)"220 go\r\n", 8, 0, ev,
                            SMTP_EVENTS_MIN, &nev, &need);
    CHECK_EQ(got, 8);
    CHECK_EQ(nev, 2);
    CHECK_EQ(ev[1].type, SMTP_EV_TLS);
    CHECK_EQ(ev[1].flags, SMTP_EVF_TLS_NEXT);
    CHECK_EQ(ev[1].off, 8);
    CHECK(!smtp_session_in_tls(&s)); /* not before the handshake is seen */
    CHECK_EQ(smtp_session_pending(&s), 0);
    got = smtp_session_feed(&s, SMTP_DIR_CLIENT, (const uint8_t *)"\x16\x03\x01\x00", 4, 0, ev,
                            SMTP_EVENTS_MIN, &nev, &need);
    CHECK_EQ(got, 4);
    CHECK_EQ(nev, 1);
    CHECK_EQ(ev[0].type, SMTP_EV_TLS);
    CHECK_EQ(ev[0].flags, 0);
    CHECK_EQ(ev[0].len, 4);
    CHECK(smtp_session_in_tls(&s));

    /* a config below the minimum is raised to 64 */
    smtp_session_init(&s, &cfg);
    {
        uint8_t line[70];
        memset(line, 'a', sizeof line);
        got = smtp_session_feed(&s, SMTP_DIR_CLIENT, line, 63, 0, ev, SMTP_EVENTS_MIN, &nev, &need);
        CHECK_EQ(got, 0);
        CHECK_EQ(need, 1);
        got = smtp_session_feed(&s, SMTP_DIR_CLIENT, line, 70, 0, ev, SMTP_EVENTS_MIN, &nev, &need);
        CHECK_EQ(got, 70);
        CHECK_EQ(ev[0].type, SMTP_EV_FRAGMENT);
        CHECK_EQ(ev[0].len, 64);
    }
}

/* Feeds text of dir; returns the events' fields, one line each. */
static void feed_log(smtp_session *s, int dir, const char *text, char *log, size_t cap)
{
    smtp_event ev[SMTP_EVENTS_MIN];
    size_t nev = 0, i, used = strlen(log);
    int need;

    smtp_session_feed(s, dir, (const uint8_t *)text, strlen(text), 0, ev, SMTP_EVENTS_MIN, &nev, &need);
    for (i = 0; i < nev && used < cap; i++)
        used += (size_t)snprintf(log + used, cap - used, "%u %u %u %u %u %u %u %u %u %u %u\n",
                                 ev[i].type, ev[i].dir, ev[i].flags, ev[i].off, ev[i].len, ev[i].seq,
                                 ev[i].msg, ev[i].verb, ev[i].code, ev[i].nlines, ev[i].txn);
}

/* a, and a session brought back from parked, fed the same steps (client
 * first) log the same events: returns a's log (static) */
static const char *unparked_goes_on(smtp_session *a, const uint8_t *parked, const char *const *steps,
                                    size_t n)
{
    static char la[4096];
    char lb[4096];
    smtp_session b;
    size_t i;

    smtp_session_init(&b, NULL);
    smtp_session_unpark(&b, parked);
    CHECK_EQ(smtp_session_pending(&b), 0);
    la[0] = lb[0] = 0;
    for (i = 0; i < n; i++) {
        int dir = i % 2 ? SMTP_DIR_SERVER : SMTP_DIR_CLIENT;
        feed_log(a, dir, steps[i], la, sizeof la);
        feed_log(&b, dir, steps[i], lb, sizeof lb);
    }
    CHECK_STR(lb, la);
    return la;
}

/* A session that is over parks in a few bytes and, brought
 * back, goes on as the original does (commands after QUIT, a transaction,
 * a reply no command asked for); one with anything open does not park. */
static void session_park(void)
{
    static const char *const before[] = { "220 x\r\n", "EHLO c\r\n", "250-x\r\n250 PIPELINING\r\n",
                                          "MAIL FROM:<a@x>\r\n", "250 ok\r\n", "QUIT\r\n", "221 bye\r\n" };
    static const char *const after[] = { "NOOP\r\nMAIL FROM:<a@x>\r\nRCPT TO:<b@x>\r\n",
                                         "250 ok\r\n250 ok\r\n250 ok\r\n", "QUIT\r\n",
                                         "221 bye\r\n250 late\r\n" };
    smtp_session a;
    uint8_t parked[SMTP_PARKED_MAX];
    char la[4096];
    size_t i;

    t_begin("session park");
    smtp_session_init(&a, NULL);
    la[0] = 0;
    for (i = 0; i < sizeof before / sizeof before[0]; i++) {
        /* not over before QUIT's reply: the greeting awaited, MAIL open, QUIT waiting */
        CHECK_EQ(smtp_session_park(&a, parked), 0);
        CHECK_EQ(smtp_session_over(&a), 0);
        feed_log(&a, i % 2 ? SMTP_DIR_CLIENT : SMTP_DIR_SERVER, before[i], la, sizeof la);
    }
    {   /* the MAIL transaction ended (by QUIT) */
        char end[16];
        snprintf(end, sizeof end, "\n%u ", (unsigned)SMTP_EV_TXN_END);
        CHECK(strstr(la, end) != NULL);
    }
    /* a 9-byte map of its 72 bytes and the 6 that are not zero: the two
     * sides synchronised, its facts (QUIT seen), the extensions advertised,
     * the next command number, the last transaction's */
    CHECK_EQ(smtp_session_over(&a), 1);
    CHECK_EQ(smtp_session_park(&a, parked), 15);
    CHECK(smtp_session_queue_storage(&a) == NULL);
    CHECK(strlen(unparked_goes_on(&a, parked, after, sizeof after / sizeof after[0])) > 200);

    /* no QUIT, a transaction open and a command waiting: parked once the
     * connection is closed (smtp_session_close ended them), not before */
    {
        static const char *const open[] = { "220 x\r\n", "EHLO c\r\n", "250 x\r\n",
                                            "MAIL FROM:<a@x>\r\n", "250 ok\r\n", "RCPT TO:<b@x>\r\n" };
        smtp_event ev[8];
        smtp_session_init(&a, NULL);
        la[0] = 0;
        for (i = 0; i < sizeof open / sizeof open[0]; i++)
            feed_log(&a, i % 2 ? SMTP_DIR_CLIENT : SMTP_DIR_SERVER, open[i], la, sizeof la);
        CHECK_EQ(smtp_session_park(&a, parked), 0);
        CHECK_EQ(smtp_session_over(&a), 0);
        CHECK_EQ(smtp_session_close(&a, SMTP_DIR_SERVER, 0, ev, 8), 1); /* the transaction ends */
        CHECK_EQ(smtp_session_over(&a), 1);
        CHECK(smtp_session_park(&a, parked) > 0);
        unparked_goes_on(&a, parked, after, sizeof after / sizeof after[0]);
    }
}

void tests_session(void)
{
    size_t i;
    for (i = 0; i < sizeof tables / sizeof tables[0]; i++)
        transcript_check(tables[i].name, tables[i].steps, tables[i].max_line, tables[i].want);
    queue_overflow();
    many_recipients(100, 0);
    many_recipients(1000, 0);
    many_recipients(100000, 0);
    many_recipients(100, 1);
    many_recipients(1000, 1);
    session_close();
    session_api();
    session_park();
}
