/* smtp_parse.c: command and reply line parsers.  SPDX-License-Identifier: GPL-2.0-or-later */
#include "smtp_parse.h"

#include <stddef.h>
#include <string.h>

#define VERB_MAX 16

static const struct {
    const char *name;
    uint8_t len;
    uint8_t flags;
} verb_table[SMTP_VERB_COUNT] = {
#define SMTP_VERB(id, name, flags) { name, (uint8_t)(sizeof(name) - 1), (uint8_t)(flags) },
#include "smtp_verbs.def"
#undef SMTP_VERB
};

static int is_alpha(uint8_t c) { return (c | 0x20) >= 'a' && (c | 0x20) <= 'z'; }
static int is_digit(uint8_t c) { return c >= '0' && c <= '9'; }
static uint8_t to_upper(uint8_t c) { return (c >= 'a' && c <= 'z') ? (uint8_t)(c - 32) : c; }

/* Up to 8 bytes upper-cased into one word (the rest zero). */
static uint64_t verb_word(const uint8_t *s, size_t len)
{
    uint8_t up[8] = {0};
    uint64_t w;
    size_t i;

    for (i = 0; i < len && i < 8; i++)
        up[i] = to_upper(s[i]);
    memcpy(&w, up, sizeof w);
    return w;
}

/* A verb of len (1..8) bytes by its word (verb_word): the hash table's. */
static smtp_verb verb_of_word(uint64_t w, size_t len)
{
    enum { SLOTS = 64 };
    static uint64_t words[SMTP_VERB_COUNT];
    static uint8_t slot[SLOTS]; /* verb + 1, 0: empty */
    static int ready;
    unsigned h;
    size_t i;

    _Static_assert((int)SMTP_VERB_COUNT < (int)SLOTS, "smtp_verbs.def: more verbs than the hash table's slots");
    if (!ready) { /* made once (dissection runs in one thread) */
        for (i = 0; i < SMTP_VERB_COUNT; i++) {
            if (verb_table[i].len > 8 || verb_table[i].name[0] == '<')
                continue;
            words[i] = verb_word((const uint8_t *)verb_table[i].name, verb_table[i].len);
            for (h = (unsigned)((words[i] * UINT64_C(0x9E3779B97F4A7C15)) >> 58); slot[h] != 0;
                 h = (h + 1) % SLOTS)
                ;
            slot[h] = (uint8_t)(i + 1);
        }
        ready = 1;
    }
    for (h = (unsigned)((w * UINT64_C(0x9E3779B97F4A7C15)) >> 58); slot[h] != 0; h = (h + 1) % SLOTS) {
        i = slot[h] - 1u;
        if (words[i] == w && verb_table[i].len == len)
            return (smtp_verb)i;
    }
    return SMTP_VERB_UNKNOWN;
}

smtp_verb smtp_verb_lookup(const uint8_t *s, size_t len)
{
    uint8_t up[VERB_MAX];
    size_t i;

    if (len == 0 || len > VERB_MAX || !is_alpha(s[0]))
        return SMTP_VERB_UNKNOWN;
    if (len <= 8) /* every command verb: its word looked up in a small hash table */
        return verb_of_word(verb_word(s, len), len);
    for (i = 0; i < len; i++)
        up[i] = to_upper(s[i]);
    for (i = 0; i < SMTP_VERB_COUNT; i++) {
        if (verb_table[i].len == len && memcmp(verb_table[i].name, up, len) == 0)
            return (smtp_verb)i;
    }
    return SMTP_VERB_UNKNOWN;
}

/* Case-insensitive prefix test against an upper-case literal. */
static int has_prefix_n(const uint8_t *s, size_t len, const char *upper, size_t n)
{
    size_t i;
    if (len < n)
        return 0;
    for (i = 0; i < n; i++) {
        if (to_upper(s[i]) != (uint8_t)upper[i])
            return 0;
    }
    return 1;
}

/* ... of a literal, its length known */
#define has_prefix(s, len, lit) has_prefix_n((s), (len), "" lit, sizeof(lit) - 1)

static size_t skip_spaces(const uint8_t *s, size_t i, size_t len)
{
    while (i < len && (s[i] == ' ' || s[i] == '\t'))
        i++;
    return i;
}

static size_t skip_word(const uint8_t *s, size_t i, size_t len)
{
#if defined(__GNUC__) && defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    /* 8 bytes at a time: a byte that is a space or a tab is a zero byte
     * after the xor; the lowest flagged byte is the first (a borrow only
     * flags bytes above a zero one) */
    const uint64_t ones = UINT64_C(0x0101010101010101), high = ones * 0x80;
    while (len - i >= 8 && i < len) {
        uint64_t w, sp, tb, z;
        memcpy(&w, s + i, 8);
        sp = w ^ (ones * ' ');
        tb = w ^ (ones * '\t');
        z = (((sp - ones) & ~sp) | ((tb - ones) & ~tb)) & high;
        if (z != 0)
            return i + (size_t)(__builtin_ctzll(z) >> 3);
        i += 8;
    }
#endif
    while (i < len && s[i] != ' ' && s[i] != '\t')
        i++;
    return i;
}

/* Decimal number of up to 19 digits filling the whole span. */
static int parse_u64(const uint8_t *s, size_t len, uint64_t *v)
{
    size_t i;
    uint64_t r = 0;
    if (len == 0 || len > 19)
        return 0;
    for (i = 0; i < len; i++) {
        if (!is_digit(s[i]))
            return 0;
        r = r * 10 + (uint64_t)(s[i] - '0');
    }
    *v = r;
    return 1;
}

/* ESMTP parameters: space-separated words from i on. */
static void parse_params(const uint8_t *s, size_t i, size_t len, smtp_command *out)
{
    for (;;) {
        size_t end;
        i = skip_spaces(s, i, len);
        if (i >= len || out->nparams == SMTP_MAX_PARAMS)
            return;
        end = skip_word(s, i, len);
        out->params[out->nparams].off = (uint32_t)i;
        out->params[out->nparams].len = (uint32_t)(end - i);
        if (out->verb == SMTP_VERB_MAIL && has_prefix(s + i, end - i, "SIZE="))
            (void)parse_u64(s + i + 5, end - i - 5, &out->size);
        out->nparams++;
        i = end;
    }
}

/* MAIL FROM:<path> params / RCPT TO:<path> params */
static void parse_path_command(const uint8_t *s, size_t len, const char *kw, size_t kwlen, smtp_command *out)
{
    size_t i = out->arg.off, end = out->arg.off + out->arg.len;

    if (!has_prefix_n(s + i, end - i, kw, kwlen)) {
        out->flags |= SMTP_CMD_BAD_ARGS;
        return;
    }
    i = skip_spaces(s, i + kwlen, end);
    if (i < end && s[i] == '<') {
        const uint8_t *gt = memchr(s + i, '>', end - i);
        if (gt == NULL) {
            out->flags |= SMTP_CMD_BAD_ARGS;
            return;
        }
        out->path.off = (uint32_t)(i + 1);
        out->path.len = (uint32_t)((size_t)(gt - s) - i - 1);
        i = (size_t)(gt - s) + 1;
    } else {
        size_t w = skip_word(s, i, end);
        if (w == i) {
            out->flags |= SMTP_CMD_BAD_ARGS;
            return;
        }
        out->path.off = (uint32_t)i;
        out->path.len = (uint32_t)(w - i);
        i = w;
    }
    out->flags |= SMTP_CMD_HAS_PATH;
    parse_params(s, i, end, out);
    (void)len;
}

static void parse_bdat(const uint8_t *s, smtp_command *out)
{
    size_t i = out->arg.off, end = out->arg.off + out->arg.len;
    size_t w = skip_word(s, i, end);
    uint64_t v;

    if (!parse_u64(s + i, w - i, &v) || v > ((uint64_t)1 << 62)) {
        out->flags |= SMTP_CMD_BAD_ARGS;
        return;
    }
    out->size = v;
    out->flags |= SMTP_CMD_BDAT_OK;
    i = skip_spaces(s, w, end);
    if (i < end) {
        w = skip_word(s, i, end);
        if (w - i == 4 && has_prefix(s + i, 4, "LAST") && skip_spaces(s, w, end) == end) {
            out->flags |= SMTP_CMD_BDAT_LAST;
        } else {
            /* a server refuses "BDAT 5 X" without reading a chunk */
            out->flags |= SMTP_CMD_BAD_ARGS;
            out->flags &= ~SMTP_CMD_BDAT_OK;
        }
    }
}

static int plausible_verb_word(const uint8_t *s, size_t len)
{
    size_t i;
    if (len == 0 || len > VERB_MAX || !is_alpha(s[0]))
        return 0;
    for (i = 1; i < len; i++) {
        if (!is_alpha(s[i]) && !is_digit(s[i]) && s[i] != '-' && s[i] != '_')
            return 0;
    }
    return 1;
}

static void check_args(const uint8_t *line, smtp_command *out)
{
    unsigned vf = verb_table[out->verb].flags;

    if ((vf & SMTP_VF_NOARG) && out->arg.len > 0)
        out->flags |= SMTP_CMD_BAD_ARGS;
    switch (out->verb) {
    case SMTP_VERB_MAIL:
        parse_path_command(line, out->arg.off + out->arg.len, "FROM:", 5, out);
        break;
    case SMTP_VERB_RCPT:
        parse_path_command(line, out->arg.off + out->arg.len, "TO:", 3, out);
        break;
    case SMTP_VERB_BDAT:
        parse_bdat(line, out);
        break;
    case SMTP_VERB_HELO:
    case SMTP_VERB_EHLO:
    case SMTP_VERB_LHLO:
    case SMTP_VERB_AUTH:
        if (out->arg.len == 0)
            out->flags |= SMTP_CMD_BAD_ARGS;
        break;
    default:
        break;
    }
}

void smtp_parse_command(const uint8_t *line, size_t len, smtp_command *out)
{
    size_t vend, a, e;

    memset(out, 0, offsetof(smtp_command, params)); /* params: as many as nparams says */
    vend = skip_word(line, 0, len);
    out->verb_span.len = (uint32_t)vend;
    a = skip_spaces(line, vend, len);
    e = len;
    while (e > a && (line[e - 1] == ' ' || line[e - 1] == '\t'))
        e--;
    out->arg.off = (uint32_t)a;
    out->arg.len = (uint32_t)(e - a);
    if (vend > 0 && vend <= 8 && is_alpha(line[0])) {
        /* the usual verb: checked and upper-cased in one pass */
        uint8_t up[8] = { 0 };
        uint64_t w;
        size_t i;
        for (i = 0; i < vend; i++) {
            uint8_t c = line[i];
            if (!is_alpha(c) && !is_digit(c) && c != '-' && c != '_') {
                out->flags |= SMTP_CMD_NOT_COMMAND;
                return;
            }
            up[i] = to_upper(c);
        }
        memcpy(&w, up, sizeof w);
        out->verb = verb_of_word(w, vend);
    } else if (!plausible_verb_word(line, vend)) {
        out->flags |= SMTP_CMD_NOT_COMMAND;
        return;
    } else
        out->verb = smtp_verb_lookup(line, vend);
    if (out->verb != SMTP_VERB_UNKNOWN)
        check_args(line, out);
}

int smtp_command_plausible(const smtp_command *cmd)
{
    return cmd->verb != SMTP_VERB_UNKNOWN &&
           !(cmd->flags & (SMTP_CMD_NOT_COMMAND | SMTP_CMD_BAD_ARGS));
}

size_t smtp_parse_status(const uint8_t *s, size_t len, uint8_t *cls,
                         uint16_t *subject, uint16_t *detail)
{
    size_t i = 0, part;
    unsigned v[3] = {0, 0, 0};

    if (len == 0 || !is_digit(s[0]))
        return 0;
    /* the usual shape, one digit each: "d.d.d" then the end, a space or a tab */
    if (len >= 5 && s[1] == '.' && is_digit(s[2]) && s[3] == '.' && is_digit(s[4]) &&
        (len == 5 || s[5] == ' ' || s[5] == '\t')) {
        if (s[0] != '2' && s[0] != '4' && s[0] != '5')
            return 0;
        *cls = (uint8_t)(s[0] - '0');
        *subject = (uint16_t)(s[2] - '0');
        *detail = (uint16_t)(s[4] - '0');
        return 5;
    }
    for (part = 0; part < 3; part++) {
        size_t start = i;
        size_t maxd = part == 0 ? 1 : 3;
        while (i < len && is_digit(s[i]) && i - start < maxd)
            v[part] = v[part] * 10 + (unsigned)(s[i++] - '0');
        if (i == start || (i < len && is_digit(s[i])))
            return 0;
        if (part < 2) {
            if (i >= len || s[i] != '.')
                return 0;
            i++;
        }
    }
    if (i < len && s[i] != ' ' && s[i] != '\t')
        return 0;
    if (v[0] != 2 && v[0] != 4 && v[0] != 5)
        return 0;
    *cls = (uint8_t)v[0];
    *subject = (uint16_t)v[1];
    *detail = (uint16_t)v[2];
    return i;
}

int smtp_parse_reply_line(const uint8_t *line, size_t len, smtp_reply_line *out)
{
    size_t t;

    memset(out, 0, sizeof *out);
    if (len < 3 || !is_digit(line[0]) || !is_digit(line[1]) || !is_digit(line[2]))
        return 0;
    if (len > 3 && line[3] != ' ' && line[3] != '-')
        return 0;
    out->code = (uint16_t)((line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0'));
    out->sep = len > 3 ? (char)line[3] : 0;
    t = len > 3 ? 4 : 3;
    out->text.off = (uint32_t)t;
    out->text.len = (uint32_t)(len - t);
    {
        size_t sl = smtp_parse_status(line + t, len - t, &out->st_class,
                                      &out->st_subject, &out->st_detail);
        if (sl > 0) {
            out->status.off = (uint32_t)t;
            out->status.len = (uint32_t)sl;
        }
    }
    return 1;
}

smtp_span smtp_reply_domain(const uint8_t *text, size_t n)
{
    smtp_span s;
    size_t w = 0;

    while (w < n && text[w] != ' ' && text[w] != '\t')
        w++;
    s.off = 0;
    s.len = (uint32_t)w;
    return s;
}
