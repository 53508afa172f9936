/* smtp_codes.c: lookups over the X-macro tables.  SPDX-License-Identifier: GPL-2.0-or-later */
#include "smtp_codes.h"

#include <stddef.h>
#include <string.h>

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

static const struct { uint8_t digit; const char *name, *shortname, *says; } categories[] = {
#define SMTP_CATEGORY(d, name, shortname, says) { d, name, shortname, says },
#define SMTP_FUNCTION(d, name, shortname)
#include "smtp_categories.def"
#undef SMTP_CATEGORY
#undef SMTP_FUNCTION
};

static const struct { uint8_t digit; const char *name, *shortname; } functions[] = {
#define SMTP_CATEGORY(d, name, shortname, says)
#define SMTP_FUNCTION(d, name, shortname) { d, name, shortname },
#include "smtp_categories.def"
#undef SMTP_CATEGORY
#undef SMTP_FUNCTION
};

#define SMTP_ALLOWED_MAX 16
static const struct {
    uint16_t verb;                    /* smtp_verb, or REPLY_ANY */
    uint16_t codes[SMTP_ALLOWED_MAX]; /* up to the first 0 */
} allowed[] = {
#define SMTP_ALLOWED(verb, source, ...) { SMTP_VERB_##verb, { __VA_ARGS__ } },
#include "smtp_allowed.def"
#undef SMTP_ALLOWED
};

static const struct { const char *name, *description; } outcomes[] = {
#define SMTP_OUTCOME(id, name, description) { name, description },
#include "smtp_outcomes.def"
#undef SMTP_OUTCOME
};

static const struct { const char *keyword; uint8_t len; } ehlo_keywords[SMTP_EXT_KEYWORDS] = {
#define SMTP_EHLO_KEYWORD(id, kw, rfc) { kw, (uint8_t)(sizeof kw - 1) },
#include "smtp_ehlo.def"
#undef SMTP_EHLO_KEYWORD
};
_Static_assert(SMTP_EXT_KEYWORDS <= 31, "smtp_ehlo.def: at most 31 keywords, one int bit each");

const char *smtp_verb_name(smtp_verb v)
{
    return (unsigned)v < SMTP_VERB_COUNT ? verbs[v].name : verbs[SMTP_VERB_UNKNOWN].name;
}

unsigned smtp_verb_flags(smtp_verb v)
{
    return (unsigned)v < SMTP_VERB_COUNT ? verbs[v].flags : 0;
}

/* The entry for (code, ctx), else (code, ANY), else NULL.  smtp_codes.def
 * lists codes in ascending order, a code's entries together (the unit tests
 * check): the first entry of a code by bisection, then its run. */
static const reply_entry *find_reply(unsigned code, smtp_verb ctx)
{
    const reply_entry *generic = NULL;
    size_t lo = 0, hi = N_REPLIES, i;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (replies[mid].code < code)
            lo = mid + 1;
        else
            hi = mid;
    }
    for (i = lo; i < N_REPLIES && replies[i].code == code; i++) {
        if (replies[i].ctx == (unsigned)ctx)
            return &replies[i];
        if (replies[i].ctx == REPLY_ANY && generic == NULL)
            generic = &replies[i];
    }
    return generic;
}

int smtp_reply_has_context(unsigned code, smtp_verb ctx)
{
    const reply_entry *e = find_reply(code, ctx);
    return e != NULL && e->ctx == (unsigned)ctx;
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

static int row_has(size_t row, unsigned code)
{
    size_t j;
    for (j = 0; j < SMTP_ALLOWED_MAX && allowed[row].codes[j] != 0; j++) {
        if (allowed[row].codes[j] == code)
            return 1;
    }
    return 0;
}

/* The row of smtp_allowed.def for verb (REPLY_ANY: the ANY row), or -1:
 * the first row of each verb, found once (every reply asks). */
static long allowed_row(unsigned verb)
{
    static int16_t rows[SMTP_VERB_COUNT + 1]; /* the ANY row last */
    static int ready;
    unsigned k = verb == REPLY_ANY ? SMTP_VERB_COUNT : verb < SMTP_VERB_COUNT ? verb : SMTP_VERB_COUNT + 1;
    size_t i;

    if (!ready) { /* the same values whoever writes them */
        for (i = 0; i <= SMTP_VERB_COUNT; i++)
            rows[i] = -1;
        for (i = COUNT(allowed); i-- > 0;) {
            unsigned v = allowed[i].verb == REPLY_ANY ? SMTP_VERB_COUNT : allowed[i].verb;
            if (v <= SMTP_VERB_COUNT)
                rows[v] = (int16_t)i;
        }
        ready = 1;
    }
    return k <= SMTP_VERB_COUNT ? rows[k] : -1;
}

static int allowed_slow(unsigned code, unsigned verb)
{
    long any = allowed_row(REPLY_ANY), row;

    if (any >= 0 && row_has((size_t)any, code))
        return 1;
    row = allowed_row(verb);
    return row < 0 || row_has((size_t)row, code);
}

/* Every reply asks: the answers for codes below 1024 as a bit set per
 * verb, made once from the rows (the same values whoever writes them). */
#define ALLOWED_WORDS (1024 / 64)
static uint64_t allowed_bits[SMTP_VERB_COUNT][ALLOWED_WORDS];

static int allowed_ready;

/* The bit sets, made once (dissection runs in one thread). */
#if defined(__GNUC__)
__attribute__((noinline))
#endif
static void allowed_make(void)
{
    {
        long any = allowed_row(REPLY_ANY);
        unsigned k;
        for (k = 0; k < SMTP_VERB_COUNT; k++) {
            long rows[2];
            size_t i, j;
            rows[0] = any;
            rows[1] = allowed_row(k);
            if (rows[1] < 0) { /* no row: any code */
                memset(allowed_bits[k], 0xff, sizeof allowed_bits[k]);
                continue;
            }
            for (i = 0; i < 2; i++)
                for (j = 0; rows[i] >= 0 && j < SMTP_ALLOWED_MAX && allowed[rows[i]].codes[j] != 0; j++)
                    if (allowed[rows[i]].codes[j] < 64 * ALLOWED_WORDS)
                        allowed_bits[k][allowed[rows[i]].codes[j] / 64] |=
                            (uint64_t)1 << (allowed[rows[i]].codes[j] % 64);
        }
        allowed_ready = 1;
    }
}

int smtp_reply_allowed(unsigned code, smtp_verb verb)
{
    unsigned v = (unsigned)verb;

    if (v >= SMTP_VERB_COUNT || code >= 64 * ALLOWED_WORDS)
        return allowed_slow(code, v);
    if (!allowed_ready)
        allowed_make();
    return (int)((allowed_bits[v][code / 64] >> (code % 64)) & 1);
}

int smtp_reply_is_greeting(unsigned code)
{
    long row = allowed_row(SMTP_VERB_CONNECT);
    return row >= 0 && row_has((size_t)row, code);
}

static long category_index(unsigned digit)
{
    size_t i;
    for (i = 0; i < COUNT(categories); i++) {
        if (categories[i].digit == digit)
            return (long)i;
    }
    return -1;
}

static long function_index(unsigned digit)
{
    size_t i;
    for (i = 0; i < COUNT(functions); i++) {
        if (functions[i].digit == digit)
            return (long)i;
    }
    return -1;
}

const char *smtp_category_name(unsigned digit)
{
    long i = category_index(digit);
    return i < 0 ? NULL : categories[i].name;
}

const char *smtp_category_short(unsigned digit)
{
    long i = category_index(digit);
    return i < 0 ? NULL : categories[i].shortname;
}

const char *smtp_function_name(unsigned digit)
{
    long i = function_index(digit);
    return i < 0 ? NULL : functions[i].name;
}

const char *smtp_function_short(unsigned digit)
{
    long i = function_index(digit);
    return i < 0 ? NULL : functions[i].shortname;
}

/* Appends text to buf as far as it fits; *len counts all of it. */
static void put(char *buf, size_t size, size_t *len, const char *text)
{
    for (; *text != 0; text++, (*len)++) {
        if (*len + 1 < size)
            buf[*len] = *text;
    }
    if (size > 0)
        buf[*len < size ? *len : size - 1] = 0;
}

size_t smtp_reply_format_name(unsigned code, smtp_verb ctx, char *buf, size_t size)
{
    const reply_entry *e = find_reply(code, ctx);
    long c = code < 1000 ? category_index(code / 100) : -1, f = function_index((code / 10) % 10);
    size_t len = 0;

    if (size > 0)
        buf[0] = 0;
    if (e != NULL) {
        put(buf, size, &len, e->name);
    } else if (c >= 0 && f >= 0) {
        put(buf, size, &len, categories[c].shortname);
        put(buf, size, &len, ", ");
        put(buf, size, &len, functions[f].shortname);
    }
    return len;
}

size_t smtp_reply_format_meaning(unsigned code, smtp_verb ctx, char *buf, size_t size)
{
    const reply_entry *e = find_reply(code, ctx);
    long c = code < 1000 ? category_index(code / 100) : -1, f = function_index((code / 10) % 10);
    size_t len = 0;

    if (size > 0)
        buf[0] = 0;
    if (e != NULL) {
        put(buf, size, &len, e->meaning);
    } else if (c >= 0 && f >= 0) {
        put(buf, size, &len, categories[c].name);
        put(buf, size, &len, ", ");
        put(buf, size, &len, functions[f].name);
        put(buf, size, &len, ": ");
        put(buf, size, &len, categories[c].says);
        put(buf, size, &len, " (RFC 5321 4.2.1)");
    } else {
        return 0;
    }
    if (!smtp_reply_allowed(code, ctx)) {
        put(buf, size, &len, "; unusual as a reply to ");
        put(buf, size, &len, smtp_verb_name(ctx));
    }
    return len;
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

_Static_assert(sizeof outcomes / sizeof outcomes[0] == SMTP_TXN_OUTCOME_COUNT,
               "smtp_outcomes.def and the smtp_txn_outcome enum disagree");

const char *smtp_txn_outcome_name(smtp_txn_outcome t)
{
    return (unsigned)t < COUNT(outcomes) ? outcomes[t].name : outcomes[0].name;
}

const char *smtp_outcome_name(unsigned id)
{
    return id < COUNT(outcomes) ? outcomes[id].name : NULL;
}

const char *smtp_outcome_description(unsigned id)
{
    return id < COUNT(outcomes) ? outcomes[id].description : NULL;
}

unsigned smtp_outcome_count(void)
{
    return (unsigned)COUNT(outcomes);
}

static uint8_t upper(uint8_t c)
{
    return c >= 'a' && c <= 'z' ? (uint8_t)(c - ('a' - 'A')) : c;
}

/* ehlo-keyword = (ALPHA / DIGIT) *(ALPHA / DIGIT / "-"), RFC 5321 4.1.1.1 */
static int keyword_char(uint8_t c)
{
    return (c >= '0' && c <= '9') || (upper(c) >= 'A' && upper(c) <= 'Z') || c == '-';
}

unsigned smtp_ehlo_keyword(const uint8_t *p, size_t n)
{
    static uint32_t of_len[33]; /* the keywords of each length, a bit each */
    static int ready;
    size_t w = 0, i, j;
    uint32_t left;

    while (w < n && keyword_char(p[w]))
        w++;
    if (w == 0 || (w < n && p[w] != ' ' && p[w] != '\t' && p[w] != '='))
        return 0;
    if (!ready) { /* the same values whoever writes them */
        for (i = 0; i < COUNT(ehlo_keywords); i++)
            if (ehlo_keywords[i].len < COUNT(of_len))
                of_len[ehlo_keywords[i].len] |= 1u << i;
        ready = 1;
    }
    left = w < COUNT(of_len) ? of_len[w] : 0;
    for (i = 0; left != 0; i++, left >>= 1) {
        if (!(left & 1u))
            continue;
        for (j = 0; j < w && upper(p[j]) == (uint8_t)ehlo_keywords[i].keyword[j]; j++)
            ;
        if (j == w)
            return 1u << i;
    }
    return 0;
}

const char *smtp_ehlo_keyword_name(unsigned ext)
{
    size_t i;
    for (i = 0; i < COUNT(ehlo_keywords); i++) {
        if (ext == 1u << i)
            return ehlo_keywords[i].keyword;
    }
    return NULL;
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
