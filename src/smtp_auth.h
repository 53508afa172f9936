/* smtp_auth.h: pure parsers for the AUTH exchange (RFC 4954): the AUTH
 * command's mechanism and initial response, BASE64, and what each SASL
 * mechanism's client messages carry (user name, secret).
 *
 * No allocation: outputs are spans into the caller's (decoded) buffer.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef SMTP_AUTH_H
#define SMTP_AUTH_H

#include "smtp_parse.h"

typedef enum smtp_mech {
    SMTP_MECH_OTHER = 0,
    SMTP_MECH_PLAIN,
    SMTP_MECH_LOGIN,
    SMTP_MECH_CRAM_MD5,
    SMTP_MECH_XOAUTH2,
    SMTP_MECH_OAUTHBEARER,
    SMTP_MECH_NTLM,
    SMTP_MECH_COUNT
} smtp_mech;

/* The arguments of an AUTH command (everything after the verb and its
 * white space): the mechanism name, then, after SP or HTAB, the initial
 * response. */
typedef struct smtp_auth_cmd {
    smtp_mech mech;
    smtp_span name;     /* the mechanism as sent */
    smtp_span initial;  /* the initial response (len 0 when none) */
    int has_initial;    /* an initial response was sent ("=" counts: empty) */
} smtp_auth_cmd;

void smtp_auth_parse(const uint8_t *arg, size_t n, smtp_auth_cmd *out);

/* The mechanism by name (any case); SMTP_MECH_OTHER when not known. */
smtp_mech smtp_mech_lookup(const uint8_t *p, size_t n);

/* How many client responses (lines after the AUTH command) the exchange
 * has when it succeeds, whatever the server side shows:
 * SMTP_AUTH_UNKNOWN for mechanisms whose length is not known. */
#define SMTP_AUTH_UNKNOWN 255u
unsigned smtp_auth_responses(smtp_mech mech, int has_initial);

/* Decodes BASE64 (RFC 4648, padding optional) into out[0..cap).  Returns
 * the decoded length, or (size_t)-1 when the input is not BASE64 or does
 * not fit. */
size_t smtp_base64_decode(const uint8_t *in, size_t n, uint8_t *out, size_t cap);

/* What a decoded client message of mechanism mech carries; step counts the
 * client's messages from 1 (the initial response is message 1).  Spans are
 * offsets into msg.  Returns 1 when anything was found. */
typedef struct smtp_sasl_info {
    smtp_span user;    /* authentication identity; len 0: none here */
    smtp_span secret;  /* password, digest or token; len 0: none here */
    int has_user, has_secret;
} smtp_sasl_info;

int smtp_sasl_message(smtp_mech mech, unsigned step, const uint8_t *msg, size_t n,
                      smtp_sasl_info *out);

/* NTLM (MS-NLMP 2.2.1): a decoded NTLMSSP message's type and, in an
 * AUTHENTICATE message, the domain, user and workstation names (spans into
 * msg; UTF-16LE when unicode is set, OEM otherwise).  The challenge
 * responses are not reported: they are password equivalents for offline
 * guessing. */
typedef struct smtp_ntlm_msg {
    unsigned type;   /* 1 NEGOTIATE, 2 CHALLENGE, 3 AUTHENTICATE; 0: not NTLMSSP */
    int unicode;
    smtp_span domain, user, host;  /* AUTHENTICATE only; len 0: absent */
} smtp_ntlm_msg;

/* Returns the message type (0 when msg is not an NTLMSSP message or a
 * name field points outside it). */
unsigned smtp_ntlm_parse(const uint8_t *msg, size_t n, smtp_ntlm_msg *out);

#endif /* SMTP_AUTH_H */
