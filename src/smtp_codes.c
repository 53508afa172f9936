/* smtp_codes.c: lookups over the X-macro tables.  SPDX-License-Identifier: GPL-2.0-or-later */
#include "smtp_codes.h"

#include <stddef.h>

static const struct {
    const char *name;
    unsigned flags;
} verbs[SMTP_VERB_COUNT] = {
#define SMTP_VERB(id, name, flags) { name, flags },
#include "smtp_verbs.def"
#undef SMTP_VERB
};

typedef struct reply_entry {
    uint16_t code;
    uint16_t ctx; /* smtp_verb, or REPLY_ANY */
    const char *name;
    const char *meaning;
} reply_entry;

#define REPLY_ANY 0xffffu
#define SMTP_VERB_ANY REPLY_ANY

static const reply_entry replies[] = {
#define SMTP_REPLY(code, ctx, name, meaning) { code, SMTP_VERB_##ctx, name, meaning },
#include "smtp_codes.def"
#undef SMTP_REPLY
};
#define N_REPLIES (sizeof replies / sizeof replies[0])

static const struct { uint8_t cls; const char *title; } status_classes[] = {
#define SMTP_STATUS_CLASS(c, t, r) { c, t },
#define SMTP_STATUS_SUBJECT(s, t, r)
#define SMTP_STATUS_DETAIL(s, d, t, b, r)
#include "smtp_status.def"
#undef SMTP_STATUS_CLASS
#undef SMTP_STATUS_SUBJECT
#undef SMTP_STATUS_DETAIL
};

static const struct { uint16_t subject; const char *title; } status_subjects[] = {
#define SMTP_STATUS_CLASS(c, t, r)
#define SMTP_STATUS_SUBJECT(s, t, r) { s, t },
#define SMTP_STATUS_DETAIL(s, d, t, b, r)
#include "smtp_status.def"
#undef SMTP_STATUS_CLASS
#undef SMTP_STATUS_SUBJECT
#undef SMTP_STATUS_DETAIL
};

static const struct { uint16_t subject, detail; const char *title; } status_details[] = {
#define SMTP_STATUS_CLASS(c, t, r)
#define SMTP_STATUS_SUBJECT(s, t, r)
#define SMTP_STATUS_DETAIL(s, d, t, b, r) { s, d, t },
#include "smtp_status.def"
#undef SMTP_STATUS_CLASS
#undef SMTP_STATUS_SUBJECT
#undef SMTP_STATUS_DETAIL
};

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

static const struct { const char *name, *summary; } anomalies[SMTP_ANOMALY_COUNT] = {
    { "none", "No anomaly" },
#define SMTP_ANOMALY(id, name, group, sev, summary) { name, summary },
#include "smtp_anomalies.def"
#undef SMTP_ANOMALY
};

const char *smtp_verb_name(smtp_verb v)
{
    return (unsigned)v < SMTP_VERB_COUNT ? verbs[v].name : verbs[SMTP_VERB_UNKNOWN].name;
}

unsigned smtp_verb_flags(smtp_verb v)
{
    return (unsigned)v < SMTP_VERB_COUNT ? verbs[v].flags : 0;
}

/* The entry for (code, ctx), else (code, ANY), else NULL. */
static const reply_entry *find_reply(unsigned code, smtp_verb ctx)
{
    const reply_entry *generic = NULL;
    size_t i;

    for (i = 0; i < N_REPLIES; i++) {
        if (replies[i].code != code)
            continue;
        if (replies[i].ctx == (unsigned)ctx)
            return &replies[i];
        if (replies[i].ctx == REPLY_ANY && generic == NULL)
            generic = &replies[i];
    }
    return generic;
}

const char *smtp_reply_name(unsigned code, smtp_verb ctx)
{
    const reply_entry *e = find_reply(code, ctx);
    return e ? e->name : NULL;
}

const char *smtp_reply_meaning(unsigned code, smtp_verb ctx)
{
    const reply_entry *e = find_reply(code, ctx);
    return e ? e->meaning : NULL;
}

int smtp_reply_allowed(unsigned code, smtp_verb verb)
{
    static const struct { uint16_t verb; uint16_t codes[16]; } table[] = {
        { SMTP_VERB_CONNECT, { 220, 554, 521 } },
        { SMTP_VERB_EHLO, { 250, 504, 550, 502, 554 } },
        { SMTP_VERB_HELO, { 250, 504, 550, 502 } },
        { SMTP_VERB_LHLO, { 250, 504, 550, 502 } },
        { SMTP_VERB_MAIL, { 250, 552, 451, 452, 550, 553, 503, 455, 555 } },
        { SMTP_VERB_RCPT, { 250, 251, 550, 551, 552, 553, 450, 451, 452, 503, 455, 555, 556 } },
        { SMTP_VERB_DATA, { 354, 503, 554, 451 } },
        { SMTP_VERB_EOD, { 250, 552, 554, 451, 452, 450, 550 } },
        { SMTP_VERB_BDAT, { 250, 552, 554, 451, 452, 450, 550, 503 } },
        { SMTP_VERB_RSET, { 250 } },
        { SMTP_VERB_VRFY, { 250, 251, 252, 550, 551, 553, 502, 504 } },
        { SMTP_VERB_EXPN, { 250, 252, 550, 502, 504 } },
        { SMTP_VERB_HELP, { 211, 214, 502, 504 } },
        { SMTP_VERB_NOOP, { 250 } },
        { SMTP_VERB_QUIT, { 221 } },
        { SMTP_VERB_STARTTLS, { 220, 454, 503 } },
        { SMTP_VERB_AUTH, { 235, 334, 432, 454, 503, 504, 534, 535, 538 } },
        { SMTP_VERB_SASL, { 235, 334, 432, 454, 534, 535, 538 } },
        { SMTP_VERB_ETRN, { 250, 251, 252, 253, 458, 459 } },
    };
    size_t i, j;

    if (code == 421 || code == 500 || code == 501 || code == 530)
        return 1;
    for (i = 0; i < COUNT(table); i++) {
        if (table[i].verb != (uint16_t)verb)
            continue;
        for (j = 0; j < COUNT(table[i].codes) && table[i].codes[j] != 0; j++) {
            if (table[i].codes[j] == code)
                return 1;
        }
        return 0;
    }
    return 1;
}

const char *smtp_category_name(unsigned digit)
{
    static const char *const names[] = {
        NULL,
        "Positive Preliminary",
        "Positive Completion",
        "Positive Intermediate",
        "Transient Negative Completion",
        "Permanent Negative Completion",
    };
    return digit < COUNT(names) ? names[digit] : NULL;
}

const char *smtp_function_name(unsigned digit)
{
    static const char *const names[] = {
        "Syntax", "Information", "Connections", "Unspecified", "Unspecified", "Mail system",
    };
    return digit < COUNT(names) ? names[digit] : NULL;
}

const char *smtp_status_class_name(unsigned cls)
{
    size_t i;
    for (i = 0; i < COUNT(status_classes); i++) {
        if (status_classes[i].cls == cls)
            return status_classes[i].title;
    }
    return NULL;
}

const char *smtp_status_subject_name(unsigned subject)
{
    size_t i;
    for (i = 0; i < COUNT(status_subjects); i++) {
        if (status_subjects[i].subject == subject)
            return status_subjects[i].title;
    }
    return NULL;
}

const char *smtp_status_detail_name(unsigned subject, unsigned detail)
{
    size_t i;
    for (i = 0; i < COUNT(status_details); i++) {
        if (status_details[i].subject == subject && status_details[i].detail == detail)
            return status_details[i].title;
    }
    return NULL;
}

const char *smtp_txn_outcome_name(smtp_txn_outcome t)
{
    static const char *const names[SMTP_TXN_OUTCOME_COUNT] = {
        "unfinished at capture end",
        "delivered",
        "rejected at MAIL",
        "all recipients rejected",
        "rejected at DATA",
        "rejected after data",
        "aborted by RSET",
        "aborted by a new MAIL",
        "aborted by QUIT",
    };
    return (unsigned)t < SMTP_TXN_OUTCOME_COUNT ? names[t] : names[0];
}

const char *smtp_anomaly_name(smtp_anomaly a)
{
    return (unsigned)a < SMTP_ANOMALY_COUNT ? anomalies[a].name : anomalies[0].name;
}

const char *smtp_anomaly_summary(smtp_anomaly a)
{
    return (unsigned)a < SMTP_ANOMALY_COUNT ? anomalies[a].summary : anomalies[0].summary;
}

size_t smtp_reply_table_size(void)
{
    return N_REPLIES;
}

int smtp_reply_table_entry(size_t i, unsigned *code, const char **name, int *is_generic)
{
    if (i >= N_REPLIES)
        return 0;
    *code = replies[i].code;
    *name = replies[i].name;
    *is_generic = replies[i].ctx == REPLY_ANY;
    return 1;
}
