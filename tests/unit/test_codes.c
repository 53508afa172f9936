/* test_codes.c: the knowledge base lookups.
 * SPDX-License-Identifier: GPL-2.0-or-later */
#include "runner.h"
#include "smtp_codes.h"

#include <string.h>

#define SMTP_VERB_ANY SMTP_VERB_UNKNOWN

static const struct {
    unsigned code;
    smtp_verb ctx;
    const char *ctxname;
    const char *name, *meaning;
} table[] = {
#define SMTP_REPLY(code, ctx, name, meaning) { code, SMTP_VERB_##ctx, #ctx, name, meaning },
#include "smtp_codes.def"
#undef SMTP_REPLY
};
#define NTABLE (sizeof table / sizeof table[0])

void tests_codes(void)
{
    size_t i;
    int a;

    t_begin("every code of smtp_codes.def resolves");
    for (i = 0; i < NTABLE; i++) {
        if (!CHECK_STR(smtp_reply_name(table[i].code, table[i].ctx), table[i].name) ||
            !CHECK_STR(smtp_reply_meaning(table[i].code, table[i].ctx), table[i].meaning))
            t_note("  entry %zu: code %u\n", i, table[i].code);
        /* every listed code has a generic entry for unknown contexts */
        CHECK(smtp_reply_name(table[i].code, SMTP_VERB_NOOP) != NULL);
    }

    t_begin("reply table iteration");
    CHECK_EQ(smtp_reply_table_size(), NTABLE);
    for (i = 0; i < NTABLE; i++) {
        unsigned code = 0;
        const char *name = NULL;
        int generic = -1;
        CHECK_EQ(smtp_reply_table_entry(i, &code, &name, &generic), 1);
        CHECK_EQ(code, table[i].code);
        CHECK_STR(name, table[i].name);
        CHECK_EQ(generic, strcmp(table[i].ctxname, "ANY") == 0);
    }
    {
        unsigned code = 0;
        const char *name = NULL;
        int generic = 0;
        CHECK_EQ(smtp_reply_table_entry(NTABLE, &code, &name, &generic), 0);
    }

    t_begin("context wording");
    CHECK_STR(smtp_reply_name(220, SMTP_VERB_STARTTLS), "ready to start TLS");
    CHECK_STR(smtp_reply_name(220, SMTP_VERB_CONNECT), "service ready");
    CHECK_STR(smtp_reply_name(220, SMTP_VERB_UNKNOWN), "service ready");
    CHECK_STR(smtp_reply_name(454, SMTP_VERB_STARTTLS), "TLS not available");
    CHECK_STR(smtp_reply_name(454, SMTP_VERB_AUTH), "temporary authentication failure");
    CHECK_STR(smtp_reply_name(454, SMTP_VERB_MAIL), "temporary failure");
    CHECK_STR(smtp_reply_name(554, SMTP_VERB_CONNECT), "no SMTP service here");
    CHECK_STR(smtp_reply_name(554, SMTP_VERB_DATA), "transaction failed");
    CHECK_STR(smtp_reply_name(554, SMTP_VERB_EOD), "transaction failed");
    CHECK_STR(smtp_reply_name(250, SMTP_VERB_BDAT), "chunk accepted");
    CHECK_STR(smtp_reply_name(250, SMTP_VERB_RCPT), "OK");
    CHECK_STR(smtp_reply_name(501, SMTP_VERB_SASL), "authentication cancelled or bad response");
    CHECK_STR(smtp_reply_meaning(421, SMTP_VERB_UNKNOWN),
              "The service is shutting down and will close the connection; may come unsolicited (RFC 5321)");
    CHECK(smtp_reply_name(299, SMTP_VERB_UNKNOWN) == NULL);
    CHECK(smtp_reply_meaning(299, SMTP_VERB_EHLO) == NULL);
    CHECK(smtp_reply_name(0, SMTP_VERB_UNKNOWN) == NULL);
    CHECK(smtp_reply_name(1000, SMTP_VERB_UNKNOWN) == NULL);

    t_begin("category and function names");
    CHECK(smtp_category_name(0) == NULL);
    CHECK_STR(smtp_category_name(1), "Positive Preliminary");
    CHECK_STR(smtp_category_name(2), "Positive Completion");
    CHECK_STR(smtp_category_name(3), "Positive Intermediate");
    CHECK_STR(smtp_category_name(4), "Transient Negative Completion");
    CHECK_STR(smtp_category_name(5), "Permanent Negative Completion");
    CHECK(smtp_category_name(6) == NULL);
    CHECK(smtp_category_name(99) == NULL);
    CHECK_STR(smtp_function_name(0), "Syntax");
    CHECK_STR(smtp_function_name(1), "Information");
    CHECK_STR(smtp_function_name(2), "Connections");
    CHECK_STR(smtp_function_name(5), "Mail system");
    CHECK(smtp_function_name(6) == NULL);

    t_begin("enhanced status titles");
    CHECK_STR(smtp_status_class_name(2), "Success");
    CHECK_STR(smtp_status_class_name(4), "Persistent Transient Failure");
    CHECK_STR(smtp_status_class_name(5), "Permanent Failure");
    CHECK(smtp_status_class_name(3) == NULL);
    CHECK(smtp_status_class_name(6) == NULL);
    CHECK_STR(smtp_status_subject_name(1), "Addressing Status");
    CHECK_STR(smtp_status_subject_name(7), "Security or Policy Status");
    CHECK(smtp_status_subject_name(8) == NULL);
    CHECK(smtp_status_subject_name(9) == NULL);
    CHECK_STR(smtp_status_detail_name(1, 1), "Bad destination mailbox address");
    CHECK_STR(smtp_status_detail_name(1, 10), "Recipient address has null MX");
    CHECK_STR(smtp_status_detail_name(7, 27), "Sender address has null MX");
    CHECK_STR(smtp_status_detail_name(7, 12), "A password transition is needed");
    CHECK_STR(smtp_status_detail_name(0, 0), "Other undefined Status");
    CHECK(smtp_status_detail_name(9, 9) == NULL);
    CHECK(smtp_status_detail_name(1, 99) == NULL);

    t_begin("verb names and flags");
    CHECK_STR(smtp_verb_name(SMTP_VERB_EHLO), "EHLO");
    CHECK_STR(smtp_verb_name(SMTP_VERB_STARTTLS), "STARTTLS");
    CHECK_STR(smtp_verb_name(SMTP_VERB_CONNECT), "<connect>");
    CHECK_STR(smtp_verb_name(SMTP_VERB_SASL), "<auth-response>");
    CHECK_STR(smtp_verb_name(SMTP_VERB_COUNT), "<unknown>");
    CHECK_STR(smtp_verb_name((smtp_verb)-1), "<unknown>");
    CHECK_EQ(smtp_verb_flags(SMTP_VERB_DATA), SMTP_VF_TXN | SMTP_VF_NOARG);
    CHECK_EQ(smtp_verb_flags(SMTP_VERB_RSET), SMTP_VF_RESET | SMTP_VF_NOARG);
    CHECK_EQ(smtp_verb_flags(SMTP_VERB_COUNT), 0);

    t_begin("anomaly names");
    for (a = 1; a < SMTP_ANOMALY_COUNT; a++) {
        const char *n = smtp_anomaly_name((smtp_anomaly)a);
        const char *s = smtp_anomaly_summary((smtp_anomaly)a);
        CHECK(n != NULL && *n != 0 && strcmp(n, "none") != 0);
        CHECK(s != NULL && *s != 0);
    }
    CHECK_STR(smtp_anomaly_name(SMTP_ANOMALY_SMUGGLING), "data.smuggling");
    CHECK_STR(smtp_anomaly_name(SMTP_ANOMALY_REPLY_UNPAIRED), "reply.no_command");
    CHECK_STR(smtp_anomaly_name(SMTP_ANOMALY_NONE), "none");
    CHECK_STR(smtp_anomaly_name(SMTP_ANOMALY_COUNT), "none");
    CHECK_STR(smtp_anomaly_summary(SMTP_ANOMALY_BARE_LF), "Line ends in a bare LF, not CRLF");
}
