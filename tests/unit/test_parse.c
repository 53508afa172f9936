/* test_parse.c: command, reply line and status code parsers.
 * SPDX-License-Identifier: GPL-2.0-or-later */
#include "runner.h"
#include "smtp_auth.h"
#include "smtp_codes.h"
#include "smtp_parse.h"

#include <string.h>

static const uint8_t *cur_line;

static void cmd(const char *s, smtp_command *c)
{
    size_t n = strlen(s);
    memset(c, 0xa5, sizeof *c);
    cur_line = guard_copy(s, n);
    smtp_parse_command(cur_line, n, c);
}

/* The text of span sp of the last parsed line, as a C string. */
static const char *span(smtp_span sp)
{
    static char buf[4][256];
    static int k;
    char *b = buf[k++ & 3];
    size_t n = sp.len < 255 ? sp.len : 255;
    memcpy(b, cur_line + sp.off, n);
    b[n] = 0;
    return b;
}

static void cmd_case(const char *s, smtp_verb verb, unsigned flags)
{
    smtp_command c;
    t_begin(s);
    cmd(s, &c);
    CHECK_EQ(c.verb, verb);
    CHECK_EQ(c.flags, flags);
}

static void bdat_case(const char *s, unsigned flags, uint64_t size)
{
    smtp_command c;
    t_begin(s);
    cmd(s, &c);
    CHECK_EQ(c.verb, SMTP_VERB_BDAT);
    CHECK_EQ(c.flags, flags);
    CHECK(c.size == size);
}

static void reply_case(const char *s, int ok, unsigned code, char sep, const char *text,
                       const char *status)
{
    smtp_reply_line r;
    size_t n = strlen(s);
    t_begin(s);
    memset(&r, 0xa5, sizeof r);
    cur_line = guard_copy(s, n);
    CHECK_EQ(smtp_parse_reply_line(cur_line, n, &r), ok);
    if (!ok)
        return;
    CHECK_EQ(r.code, code);
    CHECK_EQ(r.sep, sep);
    CHECK_STR(span(r.text), text);
    CHECK_STR(span(r.status), status);
}

static void status_case(const char *s, size_t want, unsigned cls, unsigned subj, unsigned det)
{
    uint8_t c = 0;
    uint16_t su = 0, de = 0;
    size_t n = strlen(s);
    t_begin(s);
    CHECK_EQ(smtp_parse_status(guard_copy(s, n), n, &c, &su, &de), want);
    if (want) {
        CHECK_EQ(c, cls);
        CHECK_EQ(su, subj);
        CHECK_EQ(de, det);
    }
}

/* A SASL message: BASE64 text decoded, then what mechanism mech's message
 * step carries ("" when none). */
static void sasl_case(smtp_mech mech, unsigned step, const char *b64, const char *user,
                      const char *secret)
{
    uint8_t raw[256];
    size_t n = smtp_base64_decode((const uint8_t *)b64, strlen(b64), raw, sizeof raw);
    smtp_sasl_info info;
    char u[256] = "", sec[256] = "";

    CHECK(n != (size_t)-1);
    if (n == (size_t)-1)
        return;
    smtp_sasl_message(mech, step, raw, n, &info);
    if (info.has_user)
        memcpy(u, raw + info.user.off, info.user.len), u[info.user.len] = 0;
    if (info.has_secret)
        memcpy(sec, raw + info.secret.off, info.secret.len), sec[info.secret.len] = 0;
    CHECK_STR(u, user);
    CHECK_STR(sec, secret);
}

/* An NTLM AUTHENTICATE message (MS-NLMP 2.2.1.3): 64-byte header, then
 * domain, user and workstation, UTF-16LE when unicode; hdr 52 drops the
 * session key and flags fields (old clients). */
static size_t ntlm_auth_msg(uint8_t *m, int unicode, size_t hdr, const char *dom,
                            const char *user, const char *host)
{
    const char *names[3] = { dom, user, host };
    size_t at = hdr, i, k;

    memset(m, 0, hdr);
    memcpy(m, "NTLMSSP", 8);
    m[8] = 3;
    for (i = 0; i < 3; i++) {
        size_t l = strlen(names[i]) * (unicode ? 2 : 1);
        uint8_t *f = m + 28 + 8 * i;
        f[0] = (uint8_t)l, f[2] = (uint8_t)l, f[4] = (uint8_t)at;
        for (k = 0; k < strlen(names[i]); k++) {
            m[at++] = (uint8_t)names[i][k];
            if (unicode)
                m[at++] = 0;
        }
    }
    m[12] = 24, m[14] = 24, m[16] = (uint8_t)at; /* LM response: 24 zero bytes */
    memset(m + at, 0, 24);
    at += 24;
    if (hdr >= 64)
        m[60] = unicode ? 0x01 : 0x02; /* NEGOTIATE_UNICODE / NEGOTIATE_OEM */
    return at;
}

static void domain_case(const char *text, const char *want)
{
    smtp_span s = smtp_reply_domain((const uint8_t *)text, strlen(text));
    char got[64] = "";

    CHECK_EQ(s.off, 0);
    if (s.len < sizeof got)
        memcpy(got, text, s.len), got[s.len] = 0;
    CHECK_STR(got, want);
}

static void ntlm_tests(void)
{
    uint8_t m[256];
    smtp_ntlm_msg nm;
    smtp_sasl_info info;
    size_t n;

    t_begin("ntlm");
    n = ntlm_auth_msg(m, 1, 64, "DOM", "alice", "WS1");
    CHECK_EQ(smtp_ntlm_parse(m, n, &nm), 3);
    CHECK(nm.unicode);
    CHECK_EQ(nm.domain.off, 64), CHECK_EQ(nm.domain.len, 6);
    CHECK_EQ(nm.user.off, 70), CHECK_EQ(nm.user.len, 10);
    CHECK_EQ(nm.host.off, 80), CHECK_EQ(nm.host.len, 6);
    CHECK(smtp_sasl_message(SMTP_MECH_NTLM, 2, m, n, &info));
    CHECK(info.has_user && !info.has_secret);
    CHECK_EQ(info.user.off, 70);
    n = ntlm_auth_msg(m, 0, 64, "DOM", "bob", "");
    CHECK_EQ(smtp_ntlm_parse(m, n, &nm), 3);
    CHECK(!nm.unicode);
    CHECK_EQ(nm.user.len, 3);
    CHECK_EQ(nm.host.len, 0);
    n = ntlm_auth_msg(m, 1, 52, "D", "u", "h"); /* no flags: taken as OEM */
    CHECK_EQ(smtp_ntlm_parse(m, n, &nm), 3);
    CHECK(!nm.unicode);
    CHECK_EQ(nm.user.off, 54);
    /* a name outside the message, a short message, another signature */
    n = ntlm_auth_msg(m, 1, 64, "DOM", "alice", "WS1");
    CHECK_EQ(smtp_ntlm_parse(m, 75, &nm), 0);
    /* the domain, inside, was read before the user, outside: not kept */
    CHECK_EQ(nm.type, 0);
    CHECK_EQ(nm.domain.len, 0), CHECK_EQ(nm.user.len, 0), CHECK_EQ(nm.host.len, 0);
    CHECK(!nm.unicode);
    CHECK(!smtp_sasl_message(SMTP_MECH_NTLM, 2, m, 75, &info));
    CHECK_EQ(smtp_ntlm_parse(m, 40, &nm), 0);
    m[8] = 1;
    CHECK_EQ(smtp_ntlm_parse(m, 12, &nm), 1);
    CHECK(!smtp_sasl_message(SMTP_MECH_NTLM, 1, m, 12, &info));
    m[8] = 2;
    CHECK_EQ(smtp_ntlm_parse(m, 12, &nm), 2);
    m[8] = 4;
    CHECK_EQ(smtp_ntlm_parse(m, n, &nm), 0);
    m[0] = 'X';
    CHECK_EQ(smtp_ntlm_parse(m, n, &nm), 0);
}

static void auth_tests(void)
{
    smtp_auth_cmd a;
    uint8_t out[16];

    t_begin("auth");
    smtp_auth_parse((const uint8_t *)"PLAIN\tAGE=", 10, &a);
    CHECK_EQ(a.mech, SMTP_MECH_PLAIN);
    CHECK_EQ(a.name.len, 5);
    CHECK(a.has_initial);
    CHECK_EQ(a.initial.off, 6);
    CHECK_EQ(a.initial.len, 4);
    smtp_auth_parse((const uint8_t *)"cram-md5", 8, &a);
    CHECK_EQ(a.mech, SMTP_MECH_CRAM_MD5);
    CHECK(!a.has_initial);
    smtp_auth_parse((const uint8_t *)"X-FOO  =  ", 10, &a);
    CHECK_EQ(a.mech, SMTP_MECH_OTHER);
    CHECK(a.has_initial);
    CHECK_EQ(a.initial.len, 1);
    CHECK_EQ(smtp_auth_responses(SMTP_MECH_PLAIN, 1), 0);
    CHECK_EQ(smtp_auth_responses(SMTP_MECH_PLAIN, 0), 1);
    CHECK_EQ(smtp_auth_responses(SMTP_MECH_LOGIN, 0), 2);
    CHECK_EQ(smtp_auth_responses(SMTP_MECH_LOGIN, 1), 1);
    CHECK_EQ(smtp_auth_responses(SMTP_MECH_OTHER, 0), SMTP_AUTH_UNKNOWN);
    /* BASE64 */
    CHECK_EQ(smtp_base64_decode((const uint8_t *)"YWJj", 4, out, sizeof out), 3);
    CHECK_EQ(smtp_base64_decode((const uint8_t *)"YWI=", 4, out, sizeof out), 2);
    CHECK_EQ(smtp_base64_decode((const uint8_t *)"YWI", 3, out, sizeof out), 2);
    CHECK_EQ(smtp_base64_decode((const uint8_t *)"YQ", 2, out, sizeof out), 1);
    CHECK_EQ(smtp_base64_decode((const uint8_t *)"Y", 1, out, sizeof out), (size_t)-1);
    CHECK_EQ(smtp_base64_decode((const uint8_t *)"YW J", 4, out, sizeof out), (size_t)-1);
    CHECK_EQ(smtp_base64_decode((const uint8_t *)"YWJjYWJj", 8, out, 5), (size_t)-1);
    CHECK_EQ(smtp_base64_decode((const uint8_t *)"", 0, out, sizeof out), 0);
    /* what each mechanism's messages carry: never the secret as the user */
    sasl_case(SMTP_MECH_PLAIN, 1, "AHVzZXIAcGFzcw==", "user", "pass");       /* \0user\0pass */
    sasl_case(SMTP_MECH_PLAIN, 1, "YWRtaW4AdXNlcgBwYXNz", "user", "pass"); /* admin\0user\0pass */
    sasl_case(SMTP_MECH_PLAIN, 1, "dXNlcgBwYXNz", "user", "pass");         /* user\0pass */
    sasl_case(SMTP_MECH_PLAIN, 1, "c2VjcmV0", "", "secret");               /* no NUL */
    sasl_case(SMTP_MECH_LOGIN, 1, "dXNlcg==", "user", "");
    sasl_case(SMTP_MECH_LOGIN, 2, "cGFzcw==", "", "pass");
    sasl_case(SMTP_MECH_CRAM_MD5, 1, "dXNlciAwMTIzYWJj", "user", "0123abc");
    sasl_case(SMTP_MECH_XOAUTH2, 1, "dXNlcj1hQGIBYXV0aD1CZWFyZXIgdG9rAQE=", "a@b", "tok");
    sasl_case(SMTP_MECH_OAUTHBEARER, 1, "bixhPWFAYiwBYXV0aD1CZWFyZXIgdG9rAQE=", "a@b", "tok");
    sasl_case(SMTP_MECH_OTHER, 1, "dXNlcg==", "", "");
}

void tests_parse(void)
{
    smtp_command c;

    /* verbs in any case */
    cmd_case("mail from:<a@b.example>", SMTP_VERB_MAIL, SMTP_CMD_HAS_PATH);
    cmd_case("StartTLS", SMTP_VERB_STARTTLS, 0);
    cmd_case("XCLIENT NAME=spike.example ADDR=192.0.2.1", SMTP_VERB_XCLIENT, 0);
    cmd_case("LHLO client.example", SMTP_VERB_LHLO, 0);
    cmd_case("eHlO client.example", SMTP_VERB_EHLO, 0);
    cmd_case("helo x", SMTP_VERB_HELO, 0);
    cmd_case("NOOP", SMTP_VERB_NOOP, 0);
    cmd_case("QUIT", SMTP_VERB_QUIT, 0);
    cmd_case("rset", SMTP_VERB_RSET, 0);
    cmd_case("DATA", SMTP_VERB_DATA, 0);
    cmd_case("DATA  \t", SMTP_VERB_DATA, 0);
    cmd_case("VRFY postmaster", SMTP_VERB_VRFY, 0);
    cmd_case("AUTH PLAIN AGFsaWNlAHNlY3JldA==", SMTP_VERB_AUTH, 0);
    cmd_case("ETRN example.org", SMTP_VERB_ETRN, 0);
    /* argument checks */
    cmd_case("STARTTLS now", SMTP_VERB_STARTTLS, SMTP_CMD_BAD_ARGS);
    cmd_case("DATA x", SMTP_VERB_DATA, SMTP_CMD_BAD_ARGS);
    cmd_case("QUIT please", SMTP_VERB_QUIT, SMTP_CMD_BAD_ARGS);
    cmd_case("EHLO", SMTP_VERB_EHLO, SMTP_CMD_BAD_ARGS);
    cmd_case("EHLO   ", SMTP_VERB_EHLO, SMTP_CMD_BAD_ARGS);
    cmd_case("AUTH", SMTP_VERB_AUTH, SMTP_CMD_BAD_ARGS);
    cmd_case("RCPT TO:", SMTP_VERB_RCPT, SMTP_CMD_BAD_ARGS);
    cmd_case("RCPT", SMTP_VERB_RCPT, SMTP_CMD_BAD_ARGS);
    cmd_case("MAIL FROM:<a@b", SMTP_VERB_MAIL, SMTP_CMD_BAD_ARGS);
    cmd_case("MAIL TO:<a@b>", SMTP_VERB_MAIL, SMTP_CMD_BAD_ARGS);
    cmd_case("RCPT FROM:<a@b>", SMTP_VERB_RCPT, SMTP_CMD_BAD_ARGS);
    /* garbage verbs */
    cmd_case("FOO bar", SMTP_VERB_UNKNOWN, 0);
    cmd_case("X-FOO", SMTP_VERB_UNKNOWN, 0);
    cmd_case("MAILX FROM:<a>", SMTP_VERB_UNKNOWN, 0);
    cmd_case("MAI", SMTP_VERB_UNKNOWN, 0);
    cmd_case("<connect>", SMTP_VERB_UNKNOWN, SMTP_CMD_NOT_COMMAND);
    cmd_case("123 abc", SMTP_VERB_UNKNOWN, SMTP_CMD_NOT_COMMAND);
    cmd_case("", SMTP_VERB_UNKNOWN, SMTP_CMD_NOT_COMMAND);
    cmd_case(" EHLO x", SMTP_VERB_UNKNOWN, SMTP_CMD_NOT_COMMAND);
    cmd_case("MAIL:FROM", SMTP_VERB_UNKNOWN, SMTP_CMD_NOT_COMMAND);
    cmd_case("\x01\x02\xff", SMTP_VERB_UNKNOWN, SMTP_CMD_NOT_COMMAND);
    cmd_case("ABCDEFGHIJKLMNOPQ", SMTP_VERB_UNKNOWN, SMTP_CMD_NOT_COMMAND);
    cmd_case("Subject: hello", SMTP_VERB_UNKNOWN, SMTP_CMD_NOT_COMMAND);
    cmd_case(".", SMTP_VERB_UNKNOWN, SMTP_CMD_NOT_COMMAND);

    /* paths and parameters */
    t_begin("MAIL with params");
    cmd("MAIL FROM:<a@b.example> SIZE=1000 BODY=8BITMIME", &c);
    CHECK_EQ(c.flags, SMTP_CMD_HAS_PATH);
    CHECK_STR(span(c.verb_span), "MAIL");
    CHECK_STR(span(c.arg), "FROM:<a@b.example> SIZE=1000 BODY=8BITMIME");
    CHECK_STR(span(c.path), "a@b.example");
    CHECK_EQ(c.nparams, 2);
    CHECK_STR(span(c.params[0]), "SIZE=1000");
    CHECK_STR(span(c.params[1]), "BODY=8BITMIME");
    CHECK(c.size == 1000);

    t_begin("MAIL null path");
    cmd("MAIL FROM:<>", &c);
    CHECK_EQ(c.flags, SMTP_CMD_HAS_PATH);
    CHECK_EQ(c.path.len, 0);
    CHECK_EQ(c.path.off, 11);
    CHECK_EQ(c.nparams, 0);

    t_begin("MAIL path after a space, lower-case size");
    cmd("MAIL FROM: <x@y> size=77", &c);
    CHECK_EQ(c.flags, SMTP_CMD_HAS_PATH);
    CHECK_STR(span(c.path), "x@y");
    CHECK_EQ(c.nparams, 1);
    CHECK(c.size == 77);

    t_begin("MAIL path without brackets");
    cmd("MAIL FROM:x@y SIZE=5", &c);
    CHECK_EQ(c.flags, SMTP_CMD_HAS_PATH);
    CHECK_STR(span(c.path), "x@y");
    CHECK_EQ(c.nparams, 1);
    CHECK(c.size == 5);

    t_begin("MAIL bad SIZE is ignored");
    cmd("MAIL FROM:<a> SIZE=abc", &c);
    CHECK_EQ(c.flags, SMTP_CMD_HAS_PATH);
    CHECK(c.size == 0);
    CHECK_EQ(c.nparams, 1);

    t_begin("RCPT with DSN params");
    cmd("RCPT TO:<b@c.example> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;b@c.example", &c);
    CHECK_EQ(c.verb, SMTP_VERB_RCPT);
    CHECK_EQ(c.flags, SMTP_CMD_HAS_PATH);
    CHECK_STR(span(c.path), "b@c.example");
    CHECK_EQ(c.nparams, 2);
    CHECK_STR(span(c.params[0]), "NOTIFY=SUCCESS,FAILURE");
    CHECK_STR(span(c.params[1]), "ORCPT=rfc822;b@c.example");
    CHECK(c.size == 0);

    t_begin("RCPT without brackets, trailing spaces");
    cmd("rcpt to:postmaster  ", &c);
    CHECK_EQ(c.flags, SMTP_CMD_HAS_PATH);
    CHECK_STR(span(c.path), "postmaster");
    CHECK_EQ(c.nparams, 0);

    t_begin("params beyond SMTP_MAX_PARAMS are dropped");
    cmd("MAIL FROM:<a> A B C D E F G H I J K L M N O P Q R", &c);
    CHECK_EQ(c.nparams, SMTP_MAX_PARAMS);
    CHECK_STR(span(c.params[15]), "P");

    /* BDAT */
    bdat_case("BDAT 100", SMTP_CMD_BDAT_OK, 100);
    bdat_case("bdat 0 last", SMTP_CMD_BDAT_OK | SMTP_CMD_BDAT_LAST, 0);
    bdat_case("BDAT 42 LAST", SMTP_CMD_BDAT_OK | SMTP_CMD_BDAT_LAST, 42);
    bdat_case("BDAT 42 LAST  ", SMTP_CMD_BDAT_OK | SMTP_CMD_BDAT_LAST, 42);
    bdat_case("BDAT 4611686018427387904", SMTP_CMD_BDAT_OK, (uint64_t)1 << 62);
    bdat_case("BDAT 4611686018427387905", SMTP_CMD_BAD_ARGS, 0);
    bdat_case("BDAT 9999999999999999999", SMTP_CMD_BAD_ARGS, 0);
    bdat_case("BDAT 99999999999999999999", SMTP_CMD_BAD_ARGS, 0);
    bdat_case("BDAT -5", SMTP_CMD_BAD_ARGS, 0);
    bdat_case("BDAT abc", SMTP_CMD_BAD_ARGS, 0);
    bdat_case("BDAT 12abc", SMTP_CMD_BAD_ARGS, 0);
    bdat_case("BDAT", SMTP_CMD_BAD_ARGS, 0);
    bdat_case("BDAT 10 MORE", SMTP_CMD_BAD_ARGS, 10);
    bdat_case("BDAT 10 LAST x", SMTP_CMD_BAD_ARGS, 10);
    bdat_case("BDAT 10 LASTX", SMTP_CMD_BAD_ARGS, 10);

    /* plausibility and lookup */
    t_begin("plausible");
    cmd("EHLO x", &c);
    CHECK(smtp_command_plausible(&c));
    cmd("FOO x", &c);
    CHECK(!smtp_command_plausible(&c));
    cmd("EHLO", &c);
    CHECK(!smtp_command_plausible(&c));
    cmd("hello world", &c);
    CHECK(!smtp_command_plausible(&c));
    cmd("BDAT 5 LAST", &c);
    CHECK(smtp_command_plausible(&c));
    t_begin("verb lookup");
    CHECK_EQ(smtp_verb_lookup((const uint8_t *)"starttls", 8), SMTP_VERB_STARTTLS);
    CHECK_EQ(smtp_verb_lookup((const uint8_t *)"<connect>", 9), SMTP_VERB_UNKNOWN);
    CHECK_EQ(smtp_verb_lookup((const uint8_t *)"<auth-response>", 15), SMTP_VERB_UNKNOWN);
    CHECK_EQ(smtp_verb_lookup((const uint8_t *)"MAIL", 0), SMTP_VERB_UNKNOWN);
    CHECK_EQ(smtp_verb_lookup((const uint8_t *)"MAILMAILMAILMAILM", 17), SMTP_VERB_UNKNOWN);
    CHECK_EQ(smtp_verb_lookup(guard_copy("xexps", 5), 5), SMTP_VERB_XEXPS);
    { /* every verb a client can send, in any case; not with a NUL after it */
        unsigned v;
        for (v = 0; v < SMTP_VERB_COUNT; v++) {
            const char *name = smtp_verb_name((smtp_verb)v);
            uint8_t low[32], odd[32];
            size_t n = strlen(name), i;
            if (name[0] == '<' || n + 1 > sizeof low)
                continue;
            for (i = 0; i < n; i++) {
                low[i] = (uint8_t)(name[i] >= 'A' && name[i] <= 'Z' ? name[i] + 32 : name[i]);
                odd[i] = i % 2 ? low[i] : (uint8_t)name[i];
            }
            low[n] = 0;
            if (!CHECK_EQ(smtp_verb_lookup((const uint8_t *)name, n), v) ||
                !CHECK_EQ(smtp_verb_lookup(low, n), v) || !CHECK_EQ(smtp_verb_lookup(odd, n), v) ||
                !CHECK_EQ(smtp_verb_lookup(low, n + 1), SMTP_VERB_UNKNOWN))
                t_note("  verb %s\n", name);
        }
    }

    /* reply lines */
    reply_case("250 OK", 1, 250, ' ', "OK", "");
    reply_case("250-x", 1, 250, '-', "x", "");
    reply_case("250", 1, 250, 0, "", "");
    reply_case("250 ", 1, 250, ' ', "", "");
    reply_case("999 odd", 1, 999, ' ', "odd", "");
    reply_case("2500", 0, 0, 0, NULL, NULL);
    reply_case("25", 0, 0, 0, NULL, NULL);
    reply_case("abc", 0, 0, 0, NULL, NULL);
    reply_case("", 0, 0, 0, NULL, NULL);
    reply_case("25a OK", 0, 0, 0, NULL, NULL);
    reply_case("250\tOK", 0, 0, 0, NULL, NULL);
    reply_case("550 5.1.1 User unknown", 1, 550, ' ', "5.1.1 User unknown", "5.1.1");
    reply_case("250 2.0.0", 1, 250, ' ', "2.0.0", "2.0.0");
    reply_case("451-4.7.12 Password transition", 1, 451, '-', "4.7.12 Password transition", "4.7.12");
    reply_case("550 5.1.1x nope", 1, 550, ' ', "5.1.1x nope", "");
    {
        smtp_reply_line r;
        t_begin("reply status fields");
        cur_line = guard_copy("556 5.1.10 null MX", 18);
        CHECK_EQ(smtp_parse_reply_line(cur_line, 18, &r), 1);
        CHECK_EQ(r.st_class, 5);
        CHECK_EQ(r.st_subject, 1);
        CHECK_EQ(r.st_detail, 10);
        CHECK_EQ(r.status.off, 4);
        CHECK_EQ(r.status.len, 6);
    }

    /* enhanced status codes */
    status_case("5.1.1", 5, 5, 1, 1);
    status_case("2.0.0", 5, 2, 0, 0);
    status_case("4.7.12", 6, 4, 7, 12);
    status_case("5.1.10", 6, 5, 1, 10);
    status_case("5.123.456", 9, 5, 123, 456);
    status_case("5.1.1 User unknown", 5, 5, 1, 1);
    status_case("5.1.1\tUser", 5, 5, 1, 1);
    status_case("6.1.1", 0, 0, 0, 0);
    status_case("3.1.1", 0, 0, 0, 0);
    status_case("5.1", 0, 0, 0, 0);
    status_case("5.1.", 0, 0, 0, 0);
    status_case("5.1.1x", 0, 0, 0, 0);
    status_case("5.1.1.", 0, 0, 0, 0);
    status_case("5.1000.1", 0, 0, 0, 0);
    status_case("5.1.1000", 0, 0, 0, 0);
    status_case("55.1.1", 0, 0, 0, 0);
    status_case(".1.1", 0, 0, 0, 0);
    status_case("5..1", 0, 0, 0, 0);
    status_case("5", 0, 0, 0, 0);
    status_case("", 0, 0, 0, 0);
    auth_tests();
    ntlm_tests();
    t_begin("reply domain");
    domain_case("mx.example.org ESMTP Postfix", "mx.example.org");
    domain_case("mx.example.org\tESMTP", "mx.example.org");
    domain_case("mx.example.org", "mx.example.org");
    domain_case("", "");
    domain_case(" ESMTP", "");
}
