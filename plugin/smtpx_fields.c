/* smtpx_fields.c: header fields, subtrees and expert infos.
 * The fields themselves are declared in smtpx_fields.def, the glue's expert
 * infos in smtpx_experts.def: this file expands them and holds the value
 * strings they name.  Field names live under "smtp."; a name the built-in
 * SMTP dissector registers too has its type and meaning.
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "smtpx.h"

#include "smtp_codes.h"

#include <epan/unit_strings.h>

int proto_smtpx = -1;
int proto_smtp_builtin = -1;

#define HF(id, label, abbrev, type, display, strings, blurb) int id = -1;
#define ETT(id) gint id = -1;
#include "smtpx_fields.def"
#undef HF
#undef ETT

#define EI(id, abbrev, group, severity, summary) expert_field id = EI_INIT;
#include "smtpx_experts.def"
#undef EI
expert_field ei_anomaly[SMTP_ANOMALY_COUNT];

static const value_string reply_code_vals[] = {
#define SMTP_REPLY(code, ctx, name, meaning) { code, name },
#include "smtp_codes.def"
#undef SMTP_REPLY
    { 0, NULL }
};

static const value_string category_vals[] = {
#define SMTP_CATEGORY(digit, name, short_name, blurb) { digit, name },
#define SMTP_FUNCTION(digit, name, short_name)
#include "smtp_categories.def"
#undef SMTP_CATEGORY
#undef SMTP_FUNCTION
    { 0, NULL }
};

static const value_string function_vals[] = {
#define SMTP_CATEGORY(digit, name, short_name, blurb)
#define SMTP_FUNCTION(digit, name, short_name) { digit, name },
#include "smtp_categories.def"
#undef SMTP_CATEGORY
#undef SMTP_FUNCTION
    { 0, NULL }
};

static const value_string status_class_vals[] = {
#define SMTP_STATUS_CLASS(c, t, r) { c, t },
#define SMTP_STATUS_SUBJECT(s, t, r)
#define SMTP_STATUS_DETAIL(s, d, t, b, r)
#include "smtp_status.def"
#undef SMTP_STATUS_CLASS
#undef SMTP_STATUS_SUBJECT
#undef SMTP_STATUS_DETAIL
    { 0, NULL }
};

static const value_string status_subject_vals[] = {
#define SMTP_STATUS_CLASS(c, t, r)
#define SMTP_STATUS_SUBJECT(s, t, r) { s, t },
#define SMTP_STATUS_DETAIL(s, d, t, b, r)
#include "smtp_status.def"
#undef SMTP_STATUS_CLASS
#undef SMTP_STATUS_SUBJECT
#undef SMTP_STATUS_DETAIL
    { 0, NULL }
};

static hf_register_info hf[] = {
#define HF(id, label, abbrev, type, display, strings, blurb) \
    { &id, { label, abbrev, type, display, strings, 0x0, blurb, HFILL } },
#define ETT(id)
#include "smtpx_fields.def"
#undef HF
#undef ETT
};

static gint *ett[] = {
#define HF(id, label, abbrev, type, display, strings, blurb)
#define ETT(id) &id,
#include "smtpx_fields.def"
#undef HF
#undef ETT
};

/* Expert infos: one per engine anomaly (SMTP_ANOMALY_NONE is no anomaly
 * and has none), names and texts from smtp_anomalies.def, then the glue's
 * own from smtpx_experts.def. */
static ei_register_info ei[] = {
#define SMTP_ANOMALY(id, name, group, sev, summary) \
    { &ei_anomaly[SMTP_ANOMALY_##id], { "smtp." name, PI_##group, PI_##sev, summary, EXPFILL } },
#include "smtp_anomalies.def"
#undef SMTP_ANOMALY
#define EI(id, abbrev, group, severity, summary) \
    { &id, { abbrev, PI_##group, PI_##severity, summary, EXPFILL } },
#include "smtpx_experts.def"
#undef EI
};

void smtpx_register_fields(void)
{
    expert_module_t *em;
    int i;

    for (i = 0; i < SMTP_ANOMALY_COUNT; i++) {
        expert_field init = EI_INIT;
        ei_anomaly[i] = init;
    }
    proto_register_field_array(proto_smtp_builtin, hf, array_length(hf));
    proto_register_subtree_array(ett, array_length(ett));
    em = expert_register_protocol(proto_smtpx);
    expert_register_field_array(em, ei, array_length(ei));
}
