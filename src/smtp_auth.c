/* smtp_auth.c: AUTH command, BASE64 and SASL client messages.
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "smtp_auth.h"

#include <string.h>

static int is_ws(uint8_t c)
{
    return c == ' ' || c == '\t';
}

static uint8_t upper(uint8_t c)
{
    return (c >= 'a' && c <= 'z') ? (uint8_t)(c - 32) : c;
}

smtp_mech smtp_mech_lookup(const uint8_t *p, size_t n)
{
    static const struct {
        const char *name;
        smtp_mech mech;
    } mechs[] = {
        { "PLAIN", SMTP_MECH_PLAIN },         { "LOGIN", SMTP_MECH_LOGIN },
        { "CRAM-MD5", SMTP_MECH_CRAM_MD5 },   { "XOAUTH2", SMTP_MECH_XOAUTH2 },
        { "OAUTHBEARER", SMTP_MECH_OAUTHBEARER }, { "NTLM", SMTP_MECH_NTLM },
    };
    size_t i, k;

    for (i = 0; i < sizeof mechs / sizeof mechs[0]; i++) {
        if (strlen(mechs[i].name) != n)
            continue;
        for (k = 0; k < n && upper(p[k]) == (uint8_t)mechs[i].name[k]; k++)
            ;
        if (k == n)
            return mechs[i].mech;
    }
    return SMTP_MECH_OTHER;
}

void smtp_auth_parse(const uint8_t *arg, size_t n, smtp_auth_cmd *out)
{
    size_t i = 0, w;

    memset(out, 0, sizeof *out);
    while (i < n && is_ws(arg[i]))
        i++;
    w = i;
    while (w < n && !is_ws(arg[w]))
        w++;
    out->name.off = (uint32_t)i;
    out->name.len = (uint32_t)(w - i);
    out->mech = smtp_mech_lookup(arg + i, w - i);
    while (w < n && is_ws(arg[w]))
        w++;
    if (w < n) {
        size_t e = n;
        while (e > w && is_ws(arg[e - 1]))
            e--;
        out->has_initial = 1;
        out->initial.off = (uint32_t)w;
        out->initial.len = (uint32_t)(e - w);
    }
}

unsigned smtp_auth_responses(smtp_mech mech, int has_initial)
{
    unsigned ir = has_initial ? 1u : 0u;

    switch (mech) {
    case SMTP_MECH_PLAIN:       /* [IR] or 334 + credentials */
    case SMTP_MECH_XOAUTH2:
    case SMTP_MECH_OAUTHBEARER:
        return 1u - ir;
    case SMTP_MECH_LOGIN:       /* user name, password */
        return 2u - ir;
    case SMTP_MECH_CRAM_MD5:    /* challenge, then user SP digest */
        return 1u;
    case SMTP_MECH_NTLM:        /* negotiate, challenge, authenticate */
        return 2u - ir;
    default:
        return SMTP_AUTH_UNKNOWN;
    }
}

static int b64_value(uint8_t c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

size_t smtp_base64_decode(const uint8_t *in, size_t n, uint8_t *out, size_t cap)
{
    size_t i, o = 0, pad = 0;
    uint32_t acc = 0;
    unsigned bits = 0;

    while (n > 0 && in[n - 1] == '=' && pad < 2) {
        n--;
        pad++;
    }
    for (i = 0; i < n; i++) {
        int v = b64_value(in[i]);
        if (v < 0)
            return (size_t)-1;
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (o >= cap)
                return (size_t)-1;
            out[o++] = (uint8_t)(acc >> bits);
            acc &= (1u << bits) - 1u;
        }
    }
    if (bits >= 6) /* a lone sixth bit group is no BASE64 */
        return (size_t)-1;
    return o;
}

static void set_span(smtp_span *s, size_t off, size_t len)
{
    s->off = (uint32_t)off;
    s->len = (uint32_t)len;
}

/* PLAIN: [authzid] NUL authcid NUL passwd (RFC 4616).  Two fields are
 * taken as authcid NUL passwd; a message without NUL carries no user. */
static int plain_message(const uint8_t *m, size_t n, smtp_sasl_info *out)
{
    const uint8_t *z1 = memchr(m, 0, n), *z2;
    size_t a, b;

    if (z1 == NULL) {
        if (n > 0) {
            set_span(&out->secret, 0, n);
            out->has_secret = 1;
        }
        return out->has_secret;
    }
    a = (size_t)(z1 - m);
    z2 = memchr(z1 + 1, 0, n - a - 1);
    if (z2 == NULL) {
        set_span(&out->user, 0, a);
        set_span(&out->secret, a + 1, n - a - 1);
    } else {
        b = (size_t)(z2 - m);
        set_span(&out->user, a + 1, b - a - 1);
        set_span(&out->secret, b + 1, n - b - 1);
    }
    out->has_user = out->user.len > 0;
    out->has_secret = 1;
    return 1;
}

/* A "key=value" attribute of an OAuth message whose pairs are separated
 * by ^A (RFC 7628); value span of the first key found. */
static int oauth_attr(const uint8_t *m, size_t n, const char *key, smtp_span *val)
{
    size_t kl = strlen(key), i = 0;

    while (i < n) {
        const uint8_t *e = memchr(m + i, 1, n - i);
        size_t end = e ? (size_t)(e - m) : n;
        if (end - i > kl && memcmp(m + i, key, kl) == 0) {
            set_span(val, i + kl, end - i - kl);
            return 1;
        }
        i = end + 1;
    }
    return 0;
}

static void bearer_token(const uint8_t *m, size_t n, smtp_sasl_info *out)
{
    smtp_span v;
    if (oauth_attr(m, n, "auth=", &v)) {
        const uint8_t *p = m + v.off;
        size_t k = 0;
        /* "Bearer TOKEN": the scheme is not secret */
        while (k < v.len && p[k] != ' ')
            k++;
        if (k < v.len)
            set_span(&out->secret, v.off + k + 1, v.len - k - 1);
        else
            out->secret = v;
        out->has_secret = 1;
    }
}

static uint32_t le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* A security buffer (length, allocated length, offset) at m[at]. */
static int ntlm_field(const uint8_t *m, size_t n, size_t at, smtp_span *out)
{
    uint32_t len = (uint32_t)m[at] | (uint32_t)m[at + 1] << 8, off = le32(m + at + 4);

    if (len == 0) {
        set_span(out, 0, 0);
        return 1;
    }
    if (off > n || len > n - off)
        return 0;
    set_span(out, off, len);
    return 1;
}

unsigned smtp_ntlm_parse(const uint8_t *m, size_t n, smtp_ntlm_msg *out)
{
    static const uint8_t sig[8] = { 'N', 'T', 'L', 'M', 'S', 'S', 'P', 0 };
    uint32_t type;

    memset(out, 0, sizeof *out);
    if (n < 12 || memcmp(m, sig, sizeof sig) != 0)
        return 0;
    type = le32(m + 8);
    if (type == 1 || type == 2) {
        out->type = type;
        return type;
    }
    /* AUTHENTICATE: LM response, NT response, domain, user, workstation
     * fields at 12, 20, 28, 36, 44; the flags at 60 when the header is the
     * full 64 bytes (the first payload starts at or after 64) */
    if (type != 3 || n < 52 || !ntlm_field(m, n, 28, &out->domain) ||
        !ntlm_field(m, n, 36, &out->user) || !ntlm_field(m, n, 44, &out->host)) {
        memset(out, 0, sizeof *out); /* no name of a message not taken */
        return 0;
    }
    if (n >= 64) {
        uint32_t first = (uint32_t)n;
        size_t at;
        for (at = 12; at <= 44; at += 8) {
            uint32_t len = (uint32_t)m[at] | (uint32_t)m[at + 1] << 8;
            if (len > 0 && le32(m + at + 4) < first)
                first = le32(m + at + 4);
        }
        out->unicode = first >= 64 ? (int)(le32(m + 60) & 1u) : 0;
    }
    out->type = 3;
    return 3;
}

int smtp_sasl_message(smtp_mech mech, unsigned step, const uint8_t *m, size_t n,
                      smtp_sasl_info *out)
{
    memset(out, 0, sizeof *out);
    switch (mech) {
    case SMTP_MECH_PLAIN:
        return step == 1 ? plain_message(m, n, out) : 0;
    case SMTP_MECH_LOGIN:
        if (step == 1) {
            set_span(&out->user, 0, n);
            out->has_user = n > 0;
        } else {
            set_span(&out->secret, 0, n);
            out->has_secret = 1;
        }
        return 1;
    case SMTP_MECH_CRAM_MD5: { /* user SP digest */
        size_t i = n;
        while (i > 0 && m[i - 1] != ' ')
            i--;
        if (i == 0) {
            set_span(&out->secret, 0, n);
            out->has_secret = n > 0;
            return out->has_secret;
        }
        set_span(&out->user, 0, i - 1);
        set_span(&out->secret, i, n - i);
        out->has_user = i > 1;
        out->has_secret = 1;
        return 1;
    }
    case SMTP_MECH_XOAUTH2: /* user=NAME ^A auth=Bearer TOKEN ^A ^A */
        if (oauth_attr(m, n, "user=", &out->user))
            out->has_user = out->user.len > 0;
        bearer_token(m, n, out);
        return out->has_user || out->has_secret;
    case SMTP_MECH_OAUTHBEARER: { /* n,a=NAME, ^A auth=Bearer TOKEN ^A ^A */
        /* the GS2 header ends at the first ^A: the user is only there */
        const uint8_t *hdr_end = memchr(m, 1, n);
        size_t hn = hdr_end ? (size_t)(hdr_end - m) : n;
        const uint8_t *a = hn > 2 ? memchr(m, ',', hn) : NULL;
        if (a != NULL && (size_t)(a - m) + 3 < hn && a[1] == 'a' && a[2] == '=') {
            size_t s = (size_t)(a - m) + 3, e = s;
            while (e < hn && m[e] != ',')
                e++;
            set_span(&out->user, s, e - s);
            out->has_user = e > s;
        }
        {
            /* key=value pairs come after the GS2 header's ^A, never in it */
            const uint8_t *k = memchr(m, 1, n);
            if (k != NULL) {
                size_t at = (size_t)(k - m) + 1;
                bearer_token(m + at, n - at, out);
                out->secret.off += (uint32_t)at;
            }
        }
        return out->has_user || out->has_secret;
    }
    case SMTP_MECH_NTLM: { /* the user of an AUTHENTICATE message (the
                            * domain and encoding: smtp_ntlm_parse) */
        smtp_ntlm_msg nm;
        if (smtp_ntlm_parse(m, n, &nm) != 3 || nm.user.len == 0)
            return 0;
        out->user = nm.user;
        out->has_user = 1;
        return 1;
    }
    default:
        return 0;
    }
}
