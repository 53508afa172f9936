/* test_codes.c: the knowledge base lookups.
 * SPDX-License-Identifier: GPL-2.0-or-later */
#include "runner.h"
#include "smtp_codes.h"

#include <stdio.h>
#include <string.h>

#define SMTP_VERB_ANY (-1)

static const struct {
    unsigned code;
    int ctx; /* smtp_verb, or SMTP_VERB_ANY */
    const char *ctxname;
    const char *name, *meaning;
} table[] = {
#define SMTP_REPLY(code, ctx, name, meaning) { code, SMTP_VERB_##ctx, #ctx, name, meaning },
#include "smtp_codes.def"
#undef SMTP_REPLY
};
#define NTABLE (sizeof table / sizeof table[0])
#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

static const char *const verb_names[SMTP_VERB_COUNT] = {
#define SMTP_VERB(id, name, flags) name,
#include "smtp_verbs.def"
#undef SMTP_VERB
};

/* The digit tables as the test reads them, to build the expected generic
 * wording of codes only extensions define. */
static const struct { unsigned d; const char *name, *shortname, *says; } cats[] = {
#define SMTP_CATEGORY(d, name, shortname, says) { d, name, shortname, says },
#define SMTP_FUNCTION(d, name, shortname)
#include "smtp_categories.def"
#undef SMTP_CATEGORY
#undef SMTP_FUNCTION
};
static const struct { unsigned d; const char *name, *shortname; } funcs[] = {
#define SMTP_CATEGORY(d, name, shortname, says)
#define SMTP_FUNCTION(d, name, shortname) { d, name, shortname },
#include "smtp_categories.def"
#undef SMTP_CATEGORY
#undef SMTP_FUNCTION
};

/* Codes no RFC defines for every command: their generic (ANY) wording is
 * built from the category and function. */
static const unsigned built_codes[] = { 235, 253, 334, 422, 432, 454, 458, 459, 523, 524, 525, 534, 535, 538 };

/* The wording a code gets from its digits: 0 when they are out of range. */
static int built_wording(unsigned code, char *name, char *meaning, size_t size)
{
    size_t c, f;
    for (c = 0; c < COUNT(cats) && cats[c].d != code / 100; c++)
        ;
    for (f = 0; f < COUNT(funcs) && funcs[f].d != (code / 10) % 10; f++)
        ;
    if (code >= 1000 || c == COUNT(cats) || f == COUNT(funcs))
        return 0;
    snprintf(name, size, "%s, %s", cats[c].shortname, funcs[f].shortname);
    snprintf(meaning, size, "%s, %s: %s (RFC 5321 4.2.1)", cats[c].name, funcs[f].name, cats[c].says);
    return 1;
}

/* Entry index of (code, ctx) exactly, or -1. */
static long entry_of(unsigned code, int ctx)
{
    size_t i;
    for (i = 0; i < NTABLE; i++) {
        if (table[i].code == code && table[i].ctx == ctx)
            return (long)i;
    }
    return -1;
}

static void pairs_follow_the_rule(void)
{
    size_t i;
    int v;
    char want[2 * SMTP_REPLY_TEXT_MAX], got[SMTP_REPLY_TEXT_MAX];

    t_begin("every (code, command) pair: its own context entry, else the generic one");
    for (i = 0; i < NTABLE; i++) {
        if (table[i].ctx != SMTP_VERB_ANY)
            continue;
        for (v = 0; v < SMTP_VERB_COUNT; v++) {
            long own = entry_of(table[i].code, v);
            size_t e = own >= 0 ? (size_t)own : i, len;
            int ok = CHECK_STR(smtp_reply_name(table[i].code, (smtp_verb)v), table[e].name);
            ok &= CHECK_STR(smtp_reply_meaning(table[i].code, (smtp_verb)v), table[e].meaning);
            snprintf(want, sizeof want, "%s%s%s", table[e].meaning,
                     smtp_reply_allowed(table[i].code, (smtp_verb)v) ? "" : "; unusual as a reply to ",
                     smtp_reply_allowed(table[i].code, (smtp_verb)v) ? "" : verb_names[v]);
            len = smtp_reply_format_meaning(table[i].code, (smtp_verb)v, got, sizeof got);
            ok &= CHECK_STR(got, want);
            ok &= CHECK_EQ(len, strlen(want));
            ok &= CHECK(len < SMTP_REPLY_TEXT_MAX);
            len = smtp_reply_format_name(table[i].code, (smtp_verb)v, got, sizeof got);
            ok &= CHECK_STR(got, table[e].name);
            ok &= CHECK_EQ(len, strlen(table[e].name));
            if (!ok)
                t_note("  code %u answering %s\n", table[i].code, verb_names[v]);
        }
    }

    t_begin("one generic entry per code, first; no (code, command) twice");
    for (i = 0; i < NTABLE; i++) {
        size_t j, any = 0;
        for (j = 0; j < NTABLE; j++) {
            if (table[j].code != table[i].code)
                continue;
            any += table[j].ctx == SMTP_VERB_ANY;
            if (j < i && table[j].ctx == table[i].ctx && !CHECK(0))
                t_note("  code %u, %s twice\n", table[i].code, table[i].ctxname);
        }
        if (!CHECK_EQ(any, 1))
            t_note("  code %u\n", table[i].code);
        if (table[i].ctx != SMTP_VERB_ANY && !CHECK(i > 0 && table[i - 1].code == table[i].code))
            t_note("  code %u, %s: not after the generic entry\n", table[i].code, table[i].ctxname);
    }

    t_begin("context entries: for commands that may get the code, with their own wording");
    for (i = 0; i < NTABLE; i++) {
        long any = entry_of(table[i].code, SMTP_VERB_ANY);
        if (table[i].ctx == SMTP_VERB_ANY)
            continue;
        if (!CHECK(smtp_reply_allowed(table[i].code, (smtp_verb)table[i].ctx)) ||
            !CHECK(any >= 0 && strcmp(table[any].meaning, table[i].meaning) != 0))
            t_note("  code %u, %s\n", table[i].code, table[i].ctxname);
    }

    t_begin("generic wording of codes only extensions define: category and function");
    for (i = 0; i < COUNT(built_codes); i++) {
        char name[SMTP_REPLY_TEXT_MAX], meaning[SMTP_REPLY_TEXT_MAX];
        CHECK(built_wording(built_codes[i], name, meaning, sizeof name));
        if (!CHECK_STR(smtp_reply_name(built_codes[i], SMTP_VERB_UNKNOWN), name) ||
            !CHECK_STR(smtp_reply_meaning(built_codes[i], SMTP_VERB_UNKNOWN), meaning))
            t_note("  code %u\n", built_codes[i]);
    }
    for (i = 0; i < NTABLE; i++) { /* and every generic entry citing 4.2.1 is one */
        char name[SMTP_REPLY_TEXT_MAX], meaning[SMTP_REPLY_TEXT_MAX];
        size_t n = strlen(table[i].meaning), k = strlen("(RFC 5321 4.2.1)");
        if (n < k || strcmp(table[i].meaning + n - k, "(RFC 5321 4.2.1)") != 0)
            continue;
        CHECK_EQ(table[i].ctx, SMTP_VERB_ANY);
        CHECK(built_wording(table[i].code, name, meaning, sizeof name));
        if (!CHECK_STR(table[i].name, name) || !CHECK_STR(table[i].meaning, meaning))
            t_note("  code %u\n", table[i].code);
    }
}

/* The cases issue 7 names, and one of each kind of context entry. */
static const struct {
    unsigned code;
    smtp_verb verb;
    const char *name, *meaning; /* meaning: smtp_reply_format_meaning */
} wordings[] = {
#define TEMP_MAIL_SYSTEM "Transient Negative Completion, Mail system: not accepted and nothing was done, " \
    "but the condition is temporary and the client may retry (RFC 5321 4.2.1)"
#define PERM_UNSPEC "Permanent Negative Completion, Unspecified: not accepted and nothing was done; " \
    "the client should not repeat the same request (RFC 5321 4.2.1)"
#define PERM_CONN "Permanent Negative Completion, Connections: not accepted and nothing was done; " \
    "the client should not repeat the same request (RFC 5321 4.2.1)"
    { 454, SMTP_VERB_RCPT, "temporary failure, mail system", TEMP_MAIL_SYSTEM "; unusual as a reply to RCPT" },
    { 454, SMTP_VERB_MAIL, "temporary failure, mail system", TEMP_MAIL_SYSTEM "; unusual as a reply to MAIL" },
    { 454, SMTP_VERB_EOD, "temporary failure, mail system", TEMP_MAIL_SYSTEM "; unusual as a reply to <end-of-data>" },
    { 454, SMTP_VERB_UNKNOWN, "temporary failure, mail system", TEMP_MAIL_SYSTEM },
    { 454, SMTP_VERB_STARTTLS, "TLS not available", "TLS not available due to a temporary reason (RFC 3207)" },
    { 454, SMTP_VERB_AUTH, "temporary authentication failure", "AUTH failed because of a temporary server problem (RFC 4954)" },
    { 454, SMTP_VERB_SASL, "temporary authentication failure", "AUTH failed because of a temporary server problem (RFC 4954)" },
    { 521, SMTP_VERB_EOD, "server does not accept mail",
      "Server does not accept mail: the host never accepts mail (RFC 7504); unusual as a reply to <end-of-data>" },
    { 521, SMTP_VERB_HELO, "server does not accept mail",
      "Server does not accept mail: the host never accepts mail (RFC 7504); unusual as a reply to HELO" },
    { 521, SMTP_VERB_CONNECT, "server does not accept mail",
      "The host never accepts mail; sent at connection opening instead of 220 (RFC 7504)" },
    { 220, SMTP_VERB_CONNECT, "service ready",
      "Greeting: the server is ready; the first word after the code is the server name (RFC 5321)" },
    { 220, SMTP_VERB_STARTTLS, "ready to start TLS",
      "STARTTLS accepted; the client must start the TLS handshake next (RFC 3207)" },
    { 220, SMTP_VERB_EHLO, "service ready", "Service ready (RFC 5321); unusual as a reply to EHLO" },
    { 220, SMTP_VERB_UNKNOWN, "service ready", "Service ready (RFC 5321)" },
    { 554, SMTP_VERB_CONNECT, "no SMTP service here", "As the greeting: the server refuses the session (RFC 5321)" },
    { 554, SMTP_VERB_RCPT, "transaction failed", "Transaction failed; permanent failure (RFC 5321); unusual as a reply to RCPT" },
    { 554, SMTP_VERB_EOD, "transaction failed", "Transaction failed; permanent failure (RFC 5321)" },
    { 554, SMTP_VERB_DATA, "transaction failed", "DATA refused, for example no valid recipients (RFC 5321, RFC 2920)" },
    { 221, SMTP_VERB_QUIT, "service closing channel", "Reply to QUIT; the server closes the connection (RFC 5321)" },
    { 221, SMTP_VERB_DATA, "service closing channel",
      "Service closing transmission channel: the server closes the connection (RFC 5321); unusual as a reply to DATA" },
    { 235, SMTP_VERB_AUTH, "authentication succeeded", "The AUTH exchange completed successfully (RFC 4954)" },
    { 235, SMTP_VERB_SASL, "authentication succeeded", "The AUTH exchange completed successfully (RFC 4954)" },
    { 235, SMTP_VERB_MAIL, "success, unspecified",
      "Positive Completion, Unspecified: the requested action was completed (RFC 5321 4.2.1); unusual as a reply to MAIL" },
    { 334, SMTP_VERB_AUTH, "authentication challenge", "AUTH in progress: server challenge, the client must answer (RFC 4954)" },
    { 334, SMTP_VERB_DATA, "intermediate, unspecified",
      "Positive Intermediate, Unspecified: the command was accepted; the action waits for more information "
      "(RFC 5321 4.2.1); unusual as a reply to DATA" },
    { 432, SMTP_VERB_SASL, "password transition needed", "AUTH: the user must transition to the selected mechanism (RFC 4954)" },
    { 534, SMTP_VERB_AUTH, "authentication mechanism too weak", "The AUTH mechanism is weaker than policy allows (RFC 4954)" },
    { 535, SMTP_VERB_SASL, "authentication credentials invalid", "AUTH failed: bad credentials (RFC 4954)" },
    { 535, SMTP_VERB_RCPT, "permanent failure, unspecified", PERM_UNSPEC "; unusual as a reply to RCPT" },
    { 538, SMTP_VERB_AUTH, "encryption required for mechanism", "The AUTH mechanism needs encryption; historical (RFC 4954)" },
    { 458, SMTP_VERB_ETRN, "unable to queue messages", "ETRN: cannot start the queue run for the node (RFC 1985)" },
    { 459, SMTP_VERB_ETRN, "node not allowed", "ETRN: node refused (RFC 1985)" },
    { 459, SMTP_VERB_HELO, "temporary failure, mail system", TEMP_MAIL_SYSTEM "; unusual as a reply to HELO" },
    { 253, SMTP_VERB_ETRN, "pending messages started", "ETRN: queue run started, with the message count (RFC 1985, RFC 5248)" },
    { 253, SMTP_VERB_UNKNOWN, "success, mail system",
      "Positive Completion, Mail system: the requested action was completed (RFC 5321 4.2.1)" },
    { 523, SMTP_VERB_AUTH, "encryption needed", "An external privacy layer (TLS) is needed for this AUTH mechanism (RFC 5248)" },
    { 524, SMTP_VERB_SASL, "encryption required for mechanism",
      "Registered with X.7.11: encryption required for the AUTH mechanism (RFC 5248)" },
    { 525, SMTP_VERB_AUTH, "user account disabled", "The authenticated account is disabled (RFC 5248)" },
    { 525, SMTP_VERB_RCPT, "permanent failure, connections", PERM_CONN "; unusual as a reply to RCPT" },
    { 214, SMTP_VERB_HELP, "help message", "Human-readable help text, the reply to HELP (RFC 5321)" },
    { 214, SMTP_VERB_NOOP, "help message", "Help message for a human reader: how to use the server or what a "
      "non-standard command means (RFC 5321); unusual as a reply to NOOP" },
    { 354, SMTP_VERB_DATA, "start mail input",
      "DATA accepted; the client sends the message and ends it with <CRLF>.<CRLF> (RFC 5321)" },
    { 354, SMTP_VERB_BDAT, "start mail input",
      "Start mail input; end with <CRLF>.<CRLF> (RFC 5321); unusual as a reply to BDAT" },
    { 452, SMTP_VERB_RCPT, "insufficient system storage",
      "Requested action not taken: insufficient system storage, or too many recipients (RFC 5321)" },
    { 452, SMTP_VERB_MAIL, "insufficient system storage",
      "Requested action not taken: insufficient system storage (RFC 5321, RFC 1870)" },
    { 552, SMTP_VERB_MAIL, "exceeded storage allocation", "Requested mail action aborted: exceeded storage "
      "allocation, or message larger than the fixed maximum (RFC 5321, RFC 1870)" },
    { 552, SMTP_VERB_RCPT, "exceeded storage allocation",
      "Requested mail action aborted: exceeded storage allocation, or too many recipients (RFC 5321)" },
    { 552, SMTP_VERB_DATA, "exceeded storage allocation",
      "Requested mail action aborted: exceeded storage allocation (RFC 5321); unusual as a reply to DATA" },
    { 500, SMTP_VERB_AUTH, "command unrecognized or line too long", "Syntax error, command unrecognized, or the "
      "AUTH line with its initial response is longer than the server accepts (RFC 5321, RFC 4954)" },
    { 500, SMTP_VERB_SASL, "authentication exchange line too long",
      "The AUTH client response was longer than the server accepts (RFC 4954)" },
    { 500, SMTP_VERB_MAIL, "syntax error, command unrecognized",
      "Syntax error, command unrecognized, or command line too long (RFC 5321)" },
    { 250, SMTP_VERB_BDAT, "chunk accepted", "The BDAT chunk was received and accepted (RFC 3030)" },
    { 250, SMTP_VERB_RCPT, "OK", "Requested mail action okay, completed (RFC 5321)" },
    { 250, SMTP_VERB_QUIT, "OK", "Requested mail action okay, completed (RFC 5321); unusual as a reply to QUIT" },
    /* the end of data's 250 is the message's acceptance; a BDAT chunk's is
     * the chunk's (the plugin reads a BDAT LAST's reply as the end of data's) */
    { 250, SMTP_VERB_EOD, "message accepted", "The message was accepted: the server now takes responsibility "
      "for delivering it or for reporting its failure (RFC 5321 4.1.1.4, 6.1)" },
    { 250, SMTP_VERB_BDAT, "chunk accepted", "The BDAT chunk was received and accepted (RFC 3030)" },
    { 250, SMTP_VERB_RCPT, "OK", "Requested mail action okay, completed (RFC 5321)" },
    { 501, SMTP_VERB_SASL, "authentication cancelled or bad response",
      "AUTH cancelled with \"*\" or undecodable BASE64 response (RFC 4954)" },
    { 421, SMTP_VERB_UNKNOWN, "service not available",
      "The service is shutting down and will close the connection; may come unsolicited (RFC 5321)" },
    { 421, SMTP_VERB_QUIT, "service not available",
      "The service is shutting down and will close the connection; may come unsolicited (RFC 5321)" },
    { 550, SMTP_VERB_XCLIENT, "mailbox unavailable", /* no row for XCLIENT: anything goes */
      "Requested action not taken: mailbox unavailable (not found, no access) or rejected for policy reasons (RFC 5321)" },
    /* codes the table does not list: from the digits */
    { 257, SMTP_VERB_NOOP, "success, mail system",
      "Positive Completion, Mail system: the requested action was completed (RFC 5321 4.2.1); unusual as a reply to NOOP" },
    { 557, SMTP_VERB_UNKNOWN, "permanent failure, mail system", "Permanent Negative Completion, Mail system: not accepted "
      "and nothing was done; the client should not repeat the same request (RFC 5321 4.2.1)" },
    { 150, SMTP_VERB_UNKNOWN, "preliminary, mail system",
      "Positive Preliminary, Mail system: a category SMTP does not use (RFC 5321 4.2.1)" },
    { 521, SMTP_VERB_SASL, "server does not accept mail",
      "Server does not accept mail: the host never accepts mail (RFC 7504); unusual as a reply to <auth-response>" },
#undef TEMP_MAIL_SYSTEM
#undef PERM_UNSPEC
#undef PERM_CONN
};

static void named_wordings(void)
{
    size_t i;
    char buf[SMTP_REPLY_TEXT_MAX];

    t_begin("wordings by command (issue 7)");
    for (i = 0; i < COUNT(wordings); i++) {
        int ok = 1;
        ok &= CHECK_EQ(smtp_reply_format_name(wordings[i].code, wordings[i].verb, buf, sizeof buf),
                       strlen(wordings[i].name));
        ok &= CHECK_STR(buf, wordings[i].name);
        ok &= CHECK_EQ(smtp_reply_format_meaning(wordings[i].code, wordings[i].verb, buf, sizeof buf),
                       strlen(wordings[i].meaning));
        ok &= CHECK_STR(buf, wordings[i].meaning);
        if (entry_of(wordings[i].code, SMTP_VERB_ANY) >= 0)
            ok &= CHECK_STR(smtp_reply_name(wordings[i].code, wordings[i].verb), wordings[i].name);
        else
            ok &= CHECK(smtp_reply_name(wordings[i].code, wordings[i].verb) == NULL);
        if (!ok)
            t_note("  row %zu: code %u answering %s\n", i, wordings[i].code, smtp_verb_name(wordings[i].verb));
    }

    t_begin("codes out of range have no wording");
    {
        static const unsigned bad[] = { 0, 99, 199, 260, 600, 999, 1000, 2500, 0xffffffffu };
        for (i = 0; i < COUNT(bad); i++) {
            memcpy(buf, "xyz", 4);
            CHECK_EQ(smtp_reply_format_name(bad[i], SMTP_VERB_MAIL, buf, sizeof buf), 0);
            CHECK_STR(buf, "");
            memcpy(buf, "xyz", 4);
            CHECK_EQ(smtp_reply_format_meaning(bad[i], SMTP_VERB_MAIL, buf, sizeof buf), 0);
            CHECK_STR(buf, "");
            CHECK(smtp_reply_name(bad[i], SMTP_VERB_UNKNOWN) == NULL);
            CHECK(smtp_reply_meaning(bad[i], SMTP_VERB_UNKNOWN) == NULL);
        }
        CHECK(smtp_reply_name(299, SMTP_VERB_UNKNOWN) == NULL);
        CHECK(smtp_reply_meaning(557, SMTP_VERB_EHLO) == NULL);
    }

    t_begin("an entry of the command's own, not only the generic one");
    CHECK(smtp_reply_has_context(250, SMTP_VERB_EOD));
    CHECK(smtp_reply_has_context(552, SMTP_VERB_EOD));
    CHECK(smtp_reply_has_context(250, SMTP_VERB_BDAT));
    CHECK(!smtp_reply_has_context(550, SMTP_VERB_EOD));
    CHECK(!smtp_reply_has_context(250, SMTP_VERB_RCPT));
    CHECK(!smtp_reply_has_context(557, SMTP_VERB_EOD));
    CHECK(!smtp_reply_has_context(0, SMTP_VERB_EOD));

    t_begin("SMTP_REPLY_TEXT_MAX holds every wording");
    {
        unsigned code, longest = 0;
        int v;
        for (code = 0; code < 1000; code++) {
            for (v = 0; v < SMTP_VERB_COUNT; v++) {
                size_t n = smtp_reply_format_meaning(code, (smtp_verb)v, buf, sizeof buf);
                size_t m = smtp_reply_format_name(code, (smtp_verb)v, buf, sizeof buf);
                if (n > longest)
                    longest = (unsigned)n;
                if (m > longest)
                    longest = (unsigned)m;
            }
        }
        CHECK(longest < SMTP_REPLY_TEXT_MAX);
        CHECK(longest > 150); /* the loop did see the long ones */
    }

    t_begin("formatting into short buffers");
    {
        const char *full = "Requested mail action okay, completed (RFC 5321); unusual as a reply to QUIT";
        memcpy(buf, "xyz", 4);
        CHECK_EQ(smtp_reply_format_meaning(250, SMTP_VERB_QUIT, buf, 0), strlen(full));
        CHECK_STR(buf, "xyz");
        CHECK_EQ(smtp_reply_format_meaning(250, SMTP_VERB_QUIT, buf, 1), strlen(full));
        CHECK_STR(buf, "");
        CHECK_EQ(smtp_reply_format_meaning(250, SMTP_VERB_QUIT, buf, 10), strlen(full));
        CHECK_STR(buf, "Requested");
        CHECK_EQ(smtp_reply_format_meaning(250, SMTP_VERB_QUIT, buf, strlen(full)), strlen(full));
        CHECK_EQ(strlen(buf), strlen(full) - 1);
        CHECK(strncmp(buf, full, strlen(full) - 1) == 0);
        CHECK_EQ(smtp_reply_format_meaning(250, SMTP_VERB_QUIT, buf, strlen(full) + 1), strlen(full));
        CHECK_STR(buf, full);
        CHECK_EQ(smtp_reply_format_name(454, SMTP_VERB_RCPT, buf, 5), strlen("temporary failure, mail system"));
        CHECK_STR(buf, "temp");
        CHECK_EQ(smtp_reply_format_name(454, SMTP_VERB_RCPT, buf, 0), strlen("temporary failure, mail system"));
    }
}

static void legality(void)
{
    static const struct { unsigned code; smtp_verb verb; int allowed; } cases[] = {
        { 421, SMTP_VERB_QUIT, 1 }, { 500, SMTP_VERB_CONNECT, 1 }, { 501, SMTP_VERB_DATA, 1 },
        { 530, SMTP_VERB_MAIL, 1 }, { 220, SMTP_VERB_CONNECT, 1 }, { 554, SMTP_VERB_CONNECT, 1 },
        { 521, SMTP_VERB_CONNECT, 1 }, { 521, SMTP_VERB_EOD, 0 }, { 250, SMTP_VERB_CONNECT, 0 },
        { 454, SMTP_VERB_RCPT, 0 }, { 454, SMTP_VERB_STARTTLS, 1 }, { 454, SMTP_VERB_AUTH, 1 },
        { 454, SMTP_VERB_SASL, 1 }, { 556, SMTP_VERB_RCPT, 1 }, { 556, SMTP_VERB_MAIL, 0 },
        { 354, SMTP_VERB_DATA, 1 }, { 354, SMTP_VERB_BDAT, 0 }, { 503, SMTP_VERB_BDAT, 1 },
        { 503, SMTP_VERB_SASL, 0 }, { 503, SMTP_VERB_AUTH, 1 }, { 525, SMTP_VERB_AUTH, 1 },
        { 422, SMTP_VERB_SASL, 1 }, { 221, SMTP_VERB_QUIT, 1 }, { 250, SMTP_VERB_QUIT, 0 },
        { 214, SMTP_VERB_HELP, 1 }, { 214, SMTP_VERB_NOOP, 0 }, { 253, SMTP_VERB_ETRN, 1 },
        { 253, SMTP_VERB_VRFY, 0 }, { 252, SMTP_VERB_VRFY, 1 }, { 251, SMTP_VERB_EXPN, 0 },
        { 554, SMTP_VERB_EHLO, 1 }, { 554, SMTP_VERB_HELO, 0 }, { 550, SMTP_VERB_EOD, 1 },
        { 450, SMTP_VERB_MAIL, 0 }, { 550, SMTP_VERB_UNKNOWN, 1 }, { 299, SMTP_VERB_XCLIENT, 1 },
        { 250, SMTP_VERB_RSET, 1 }, { 252, SMTP_VERB_RSET, 0 }, { 999, SMTP_VERB_NOOP, 0 },
        { 250, SMTP_VERB_COUNT, 1 },
    };
    size_t i;
    unsigned c;

    t_begin("replies the standards list per command");
    for (i = 0; i < COUNT(cases); i++) {
        if (!CHECK_EQ(smtp_reply_allowed(cases[i].code, cases[i].verb), cases[i].allowed))
            t_note("  code %u answering %s\n", cases[i].code, smtp_verb_name(cases[i].verb));
    }

    t_begin("greeting codes");
    for (c = 0; c < 1000; c++) {
        int want = c == 220 || c == 421 || c == 521 || c == 554;
        if (!CHECK_EQ(smtp_reply_is_greeting(c), want))
            t_note("  code %u\n", c);
    }
    CHECK_EQ(smtp_reply_is_greeting(220 + 65536), 0);
}

static void outcomes(void)
{
    static const char *const ids[] = {
#define SMTP_OUTCOME(id, name, description) #id,
#include "smtp_outcomes.def"
#undef SMTP_OUTCOME
    };
    static const struct { const char *id, *name; } want[] = {
        { "OPEN", "unfinished at capture end" },
        { "DELIVERED", "delivered" },
        { "DELIVERED_PARTIAL", "delivered to some recipients" },
        { "DEFERRED_MAIL", "deferred at MAIL" },
        { "DEFERRED_RCPT", "deferred at RCPT" },
        { "DEFERRED_DATA", "deferred at DATA" },
        { "DEFERRED_AFTER_DATA", "deferred after data" },
        { "REJECTED_MAIL", "rejected at MAIL" },
        { "REJECTED_RCPT", "rejected at RCPT" },
        { "REJECTED_DATA", "rejected at DATA" },
        { "REJECTED_AFTER_DATA", "rejected after data" },
        { "ABORTED_RSET", "aborted by RSET" },
        { "ABORTED_MAIL", "aborted by new MAIL" },
        { "ABORTED_QUIT", "aborted by QUIT" },
        { "CLOSED", "connection closed" },
        { "RESET", "connection reset" },
    };
    unsigned i;

    t_begin("transaction outcomes");
    CHECK_EQ(smtp_outcome_count(), COUNT(want));
    CHECK_EQ(COUNT(ids), COUNT(want));
    for (i = 0; i < COUNT(want) && i < COUNT(ids); i++) {
        const char *d = smtp_outcome_description(i);
        CHECK_STR(ids[i], want[i].id);
        CHECK_STR(smtp_outcome_name(i), want[i].name);
        CHECK(d != NULL && d[0] >= 'A' && d[0] <= 'Z');
    }
    CHECK(smtp_outcome_name(smtp_outcome_count()) == NULL);
    CHECK(smtp_outcome_description(smtp_outcome_count()) == NULL);
    CHECK(smtp_outcome_name(0xffffffffu) == NULL);
}

static void ehlo_keywords(void)
{
    static const struct { const char *kw; unsigned id; } all[] = {
#define SMTP_EHLO_KEYWORD(id, kw, rfc) { kw, SMTP_EXT_##id },
#include "smtp_ehlo.def"
#undef SMTP_EHLO_KEYWORD
    };
    static const struct { const char *line; unsigned want; } lines[] = {
        { "PIPELINING", SMTP_EXT_PIPELINING },
        { "pipelining", SMTP_EXT_PIPELINING },
        { "PipeLining", SMTP_EXT_PIPELINING },
        { "chunking", SMTP_EXT_CHUNKING },
        { "CHUNKING", SMTP_EXT_CHUNKING },
        { "BINARYMIME", SMTP_EXT_BINARYMIME },
        { "SIZE 10240000", SMTP_EXT_SIZE },
        { "size", SMTP_EXT_SIZE },
        { "AUTH PLAIN LOGIN", SMTP_EXT_AUTH },
        { "AUTH=LOGIN PLAIN", SMTP_EXT_AUTH },
        { "auth\tplain", SMTP_EXT_AUTH },
        { "STARTTLS", SMTP_EXT_STARTTLS },
        { "8bitmime", SMTP_EXT_EIGHTBITMIME },
        { "SMTPUTF8", SMTP_EXT_SMTPUTF8 },
        { "DSN", SMTP_EXT_DSN },
        { "EnhancedStatusCodes", SMTP_EXT_ENHANCEDSTATUSCODES },
        { "mt-priority MIXER", SMTP_EXT_MT_PRIORITY },
        { "ETRN", SMTP_EXT_ETRN },
        { "", 0 },
        { " PIPELINING", 0 },
        { "PIPELININGX", 0 },
        { "PIPELININ", 0 },
        { "PIPELINING;", 0 },
        { "PIPE LINING", 0 },
        { "X-EXPS GSSAPI", 0 },
        { "mx.example Hello", 0 },
        { "8BITMIME8", 0 },
        { "SIZ", 0 },
        { "-", 0 },
    };
    size_t i, j;

    t_begin("EHLO keywords, whatever their case");
    for (i = 0; i < COUNT(lines); i++) {
        size_t n = strlen(lines[i].line);
        if (!CHECK_EQ(smtp_ehlo_keyword(guard_copy(lines[i].line, n), n), lines[i].want))
            t_note("  line \"%s\"\n", lines[i].line);
    }
    CHECK_EQ(smtp_ehlo_keyword(guard_copy("PIPELINING", 10), 8), 0); /* only n bytes count */
    CHECK_EQ(smtp_ehlo_keyword(guard_copy("SIZEX", 5), 4), SMTP_EXT_SIZE);
    CHECK_EQ(smtp_ehlo_keyword(NULL, 0), 0);

    t_begin("EHLO keyword table");
    CHECK_EQ(COUNT(all), SMTP_EXT_KEYWORDS);
    for (i = 0; i < COUNT(all); i++) {
        char lower[32];
        size_t n = strlen(all[i].kw);
        CHECK(n < sizeof lower);
        for (j = 0; j <= n && j < sizeof lower; j++)
            lower[j] = (char)(all[i].kw[j] >= 'A' && all[i].kw[j] <= 'Z' ? all[i].kw[j] + 32 : all[i].kw[j]);
        CHECK_EQ(all[i].id, 1u << i);
        CHECK_EQ(smtp_ehlo_keyword((const uint8_t *)all[i].kw, n), all[i].id);
        CHECK_EQ(smtp_ehlo_keyword((const uint8_t *)lower, n), all[i].id);
        CHECK_STR(smtp_ehlo_keyword_name(all[i].id), all[i].kw);
    }
    CHECK_STR(smtp_ehlo_keyword_name(SMTP_EXT_EIGHTBITMIME), "8BITMIME");
    CHECK_STR(smtp_ehlo_keyword_name(SMTP_EXT_MT_PRIORITY), "MT-PRIORITY");
    CHECK(smtp_ehlo_keyword_name(0) == NULL);
    CHECK(smtp_ehlo_keyword_name(SMTP_EXT_PIPELINING | SMTP_EXT_CHUNKING) == NULL);
    CHECK(smtp_ehlo_keyword_name(1u << 31) == NULL);
}

/* Printable ASCII without a backslash: what the plugin writes into a label
 * as it is (plugin/smtpx_render.c, label_put), without Wireshark's escaping. */
static int plain_text(const char *t)
{
    if (t == NULL)
        return 1;
    for (; *t; t++)
        if ((unsigned char)*t < 0x20 || (unsigned char)*t > 0x7e || *t == '\\')
            return 0;
    return 1;
}

static void check_plain(const char *what, unsigned a, unsigned b, const char *t)
{
    if (!CHECK(plain_text(t)))
        t_note("  %s %u %u: not plain text: %s\n", what, a, b, t);
}

/* Every text of the knowledge base that labels are made of. */
static void texts_are_plain(void)
{
    unsigned code, v, i, j;
    char buf[512];

    t_begin("knowledge base texts are printable ASCII without a backslash");
    CHECK(plain_text("Bad destination mailbox address (RFC 3463)") && !plain_text("a\\b") &&
          !plain_text("caf\xc3\xa9") && !plain_text("tab\there"));
    for (code = 0; code < 1000; code++) {
        for (v = 0; v <= SMTP_VERB_COUNT; v++) {
            CHECK(smtp_reply_format_name(code, (smtp_verb)v, buf, sizeof buf) < sizeof buf);
            check_plain("reply name", code, v, buf);
            CHECK(smtp_reply_format_meaning(code, (smtp_verb)v, buf, sizeof buf) < sizeof buf);
            check_plain("reply meaning", code, v, buf);
        }
    }
    for (i = 0; i < 10; i++) {
        check_plain("category", i, 0, smtp_category_name(i));
        check_plain("category short", i, 0, smtp_category_short(i));
        check_plain("function", i, 0, smtp_function_name(i));
        check_plain("function short", i, 0, smtp_function_short(i));
        check_plain("status class", i, 0, smtp_status_class_name(i));
        check_plain("status subject", i, 0, smtp_status_subject_name(i));
        for (j = 0; j < 1000; j++)
            check_plain("status detail", i, j, smtp_status_detail_name(i, j));
    }
    for (i = 0; i <= SMTP_TXN_OUTCOME_COUNT; i++)
        check_plain("outcome", i, 0, smtp_txn_outcome_name((smtp_txn_outcome)i));
    for (v = 0; v <= SMTP_VERB_COUNT; v++)
        check_plain("verb", v, 0, smtp_verb_name((smtp_verb)v));
}

void tests_codes(void)
{
    size_t i;
    int a;

    t_begin("every code of smtp_codes.def resolves");
    for (i = 0; i < NTABLE; i++) {
        if (!CHECK_STR(smtp_reply_name(table[i].code, (smtp_verb)(table[i].ctx < 0 ? SMTP_VERB_UNKNOWN : table[i].ctx)),
                       table[i].name) ||
            !CHECK_STR(smtp_reply_meaning(table[i].code,
                                          (smtp_verb)(table[i].ctx < 0 ? SMTP_VERB_UNKNOWN : table[i].ctx)),
                       table[i].meaning))
            t_note("  entry %zu: code %u\n", i, table[i].code);
    }

    t_begin("reply table iteration");
    CHECK_EQ(smtp_reply_table_size(), NTABLE);
    for (i = 0; i < NTABLE; i++) {
        unsigned code = 0;
        const char *name = NULL;
        int generic = -1;
        CHECK_EQ(smtp_reply_table_entry(i, &code, &name, &generic), 1);
        CHECK_EQ(code, table[i].code);
        /* ascending, a code's entries together: the lookup bisects */
        if (i > 0 && !CHECK(table[i - 1].code <= code))
            t_note("  smtp_codes.def is out of order at entry %zu (code %u)\n", i, code);
        CHECK_STR(name, table[i].name);
        CHECK_EQ(generic, strcmp(table[i].ctxname, "ANY") == 0);
    }
    {
        unsigned code = 0;
        const char *name = NULL;
        int generic = 0;
        CHECK_EQ(smtp_reply_table_entry(NTABLE, &code, &name, &generic), 0);
    }

    pairs_follow_the_rule();
    named_wordings();
    legality();
    outcomes();
    ehlo_keywords();
    texts_are_plain();

    t_begin("category and function names");
    CHECK(smtp_category_name(0) == NULL);
    CHECK_STR(smtp_category_name(1), "Positive Preliminary");
    CHECK_STR(smtp_category_name(2), "Positive Completion");
    CHECK_STR(smtp_category_name(3), "Positive Intermediate");
    CHECK_STR(smtp_category_name(4), "Transient Negative Completion");
    CHECK_STR(smtp_category_name(5), "Permanent Negative Completion");
    CHECK(smtp_category_name(6) == NULL);
    CHECK(smtp_category_name(99) == NULL);
    CHECK_STR(smtp_category_short(2), "success");
    CHECK_STR(smtp_category_short(4), "temporary failure");
    CHECK_STR(smtp_category_short(5), "permanent failure");
    CHECK(smtp_category_short(0) == NULL);
    CHECK(smtp_category_short(6) == NULL);
    CHECK_STR(smtp_function_name(0), "Syntax");
    CHECK_STR(smtp_function_name(1), "Information");
    CHECK_STR(smtp_function_name(2), "Connections");
    CHECK_STR(smtp_function_name(3), "Unspecified");
    CHECK_STR(smtp_function_name(4), "Unspecified");
    CHECK_STR(smtp_function_name(5), "Mail system");
    CHECK(smtp_function_name(6) == NULL);
    CHECK_STR(smtp_function_short(5), "mail system");
    CHECK(smtp_function_short(6) == NULL);

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
