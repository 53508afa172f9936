/* smtpx_fields.c: header fields, subtrees and expert infos.
 * Field names live under "smtp." and never reuse a name of the built-in SMTP
 * dissector (a type clash would break the display filter engine).
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "smtpx.h"

#include "smtp_codes.h"

int proto_smtpx = -1;
int proto_smtp_builtin = -1;

int hf_command = -1, hf_command_verb = -1, hf_command_parameter = -1,
    hf_command_address = -1, hf_command_esmtp = -1, hf_command_size = -1,
    hf_command_chunk_size = -1, hf_command_last = -1, hf_command_response_in = -1;
int hf_reply = -1, hf_reply_code = -1, hf_reply_category = -1, hf_reply_function = -1,
    hf_reply_meaning = -1, hf_reply_line = -1, hf_reply_status = -1,
    hf_reply_status_class = -1, hf_reply_status_subject = -1, hf_reply_status_detail = -1,
    hf_reply_status_class_meaning = -1, hf_reply_status_subject_meaning = -1,
    hf_reply_status_detail_meaning = -1, hf_reply_command = -1,
    hf_reply_request_in = -1, hf_reply_time = -1;
int hf_auth_response = -1, hf_auth_data = -1, hf_body = -1, hf_body_length = -1,
    hf_eod = -1, hf_chunk = -1, hf_chunk_length = -1, hf_unparsed = -1,
    hf_starttls = -1, hf_retransmitted = -1, hf_message = -1, hf_message_length = -1,
    hf_message_first_frame = -1, hf_message_frames = -1;

int hf_txn = -1, hf_txn_outcome = -1, hf_txn_sender = -1, hf_txn_recipient = -1,
    hf_txn_rejected_recipient = -1, hf_txn_rcpt_accepted = -1, hf_txn_rcpt_rejected = -1,
    hf_txn_size = -1, hf_txn_final_code = -1, hf_txn_final_reply = -1, hf_txn_duration = -1,
    hf_txn_first_frame = -1, hf_reply_recipient = -1;
int hf_helo = -1, hf_greeting_host = -1, hf_ehlo_extension = -1, hf_ehlo_size = -1,
    hf_ehlo_auth_mechanism = -1, hf_auth_mechanism = -1, hf_auth_username = -1;
int hf_legacy_req = -1, hf_legacy_rsp = -1, hf_legacy_req_command = -1,
    hf_legacy_req_parameter = -1, hf_legacy_response_code = -1, hf_legacy_rsp_parameter = -1,
    hf_legacy_response = -1, hf_legacy_command_line = -1;

gint ett_smtpx = -1, ett_command = -1, ett_reply = -1, ett_reply_status = -1, ett_body = -1,
    ett_txn = -1;

expert_field ei_anomaly[SMTP_ANOMALY_COUNT];
expert_field ei_reply_transient = EI_INIT, ei_reply_permanent = EI_INIT,
    ei_retransmitted = EI_INIT, ei_message_truncated = EI_INIT, ei_never_answered = EI_INIT;

static const value_string reply_code_vals[] = {
#define SMTP_REPLY(code, ctx, name, meaning) { code, name },
#include "smtp_codes.def"
#undef SMTP_REPLY
    { 0, NULL }
};

static const value_string category_vals[] = {
    { 1, "Positive Preliminary" },
    { 2, "Positive Completion" },
    { 3, "Positive Intermediate" },
    { 4, "Transient Negative Completion" },
    { 5, "Permanent Negative Completion" },
    { 0, NULL }
};

static const value_string function_vals[] = {
    { 0, "Syntax" }, { 1, "Information" }, { 2, "Connections" },
    { 3, "Unspecified" }, { 4, "Unspecified" }, { 5, "Mail system" },
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

#define FIELD(id, name, abbrev, type, base, strings, blurb) \
    { &id, { name, abbrev, type, base, strings, 0x0, blurb, HFILL } }

static hf_register_info hf[] = {
    FIELD(hf_command, "Command", "smtp.command", FT_STRING, BASE_NONE, NULL,
          "A command line from the client"),
    FIELD(hf_command_verb, "Verb", "smtp.command.verb", FT_STRING, BASE_NONE, NULL,
          "The command verb as sent"),
    FIELD(hf_command_parameter, "Parameter", "smtp.command.parameter", FT_STRING, BASE_NONE, NULL,
          "Everything after the verb"),
    FIELD(hf_command_address, "Address", "smtp.command.address", FT_STRING, BASE_NONE, NULL,
          "MAIL FROM / RCPT TO path without angle brackets (empty for the null path <>)"),
    FIELD(hf_command_esmtp, "ESMTP parameter", "smtp.command.esmtp_parameter", FT_STRING, BASE_NONE, NULL,
          "A MAIL/RCPT parameter such as SIZE=1024, BODY=8BITMIME or NOTIFY=FAILURE"),
    FIELD(hf_command_size, "Declared message size", "smtp.command.size", FT_UINT64, BASE_DEC, NULL,
          "MAIL FROM SIZE= parameter (RFC 1870)"),
    FIELD(hf_command_chunk_size, "Chunk size", "smtp.command.chunk_size", FT_UINT64, BASE_DEC, NULL,
          "BDAT chunk size in bytes (RFC 3030)"),
    FIELD(hf_command_last, "Last chunk", "smtp.command.last", FT_BOOLEAN, BASE_NONE, NULL,
          "BDAT ... LAST"),
    { &hf_command_response_in, { "Response in", "smtp.command.response_in", FT_FRAMENUM, BASE_NONE,
          FRAMENUM_TYPE(FT_FRAMENUM_RESPONSE), 0x0, "The frame with the reply to this command", HFILL } },
    FIELD(hf_reply, "Reply", "smtp.reply", FT_NONE, BASE_NONE, NULL,
          "A complete reply from the server"),
    FIELD(hf_reply_code, "Code", "smtp.reply.code", FT_UINT32, BASE_DEC, VALS(reply_code_vals),
          "Three-digit reply code"),
    FIELD(hf_reply_category, "Category", "smtp.reply.category", FT_UINT8, BASE_DEC, VALS(category_vals),
          "First digit of the reply code (RFC 5321 4.2.1)"),
    FIELD(hf_reply_function, "Function", "smtp.reply.function", FT_UINT8, BASE_DEC, VALS(function_vals),
          "Second digit of the reply code (RFC 5321 4.2.1)"),
    FIELD(hf_reply_meaning, "Meaning", "smtp.reply.meaning", FT_STRING, BASE_NONE, NULL,
          "What the reply code means, for the command it answers"),
    FIELD(hf_reply_line, "Line", "smtp.reply.line", FT_STRING, BASE_NONE, NULL,
          "One line of the reply, without CRLF"),
    FIELD(hf_reply_status, "Enhanced status", "smtp.reply.status", FT_STRING, BASE_NONE, NULL,
          "RFC 3463 enhanced status code of the reply's first line"),
    FIELD(hf_reply_status_class, "Class", "smtp.reply.status.class", FT_UINT8, BASE_DEC,
          VALS(status_class_vals), "Enhanced status class"),
    FIELD(hf_reply_status_subject, "Subject", "smtp.reply.status.subject", FT_UINT16, BASE_DEC,
          VALS(status_subject_vals), "Enhanced status subject"),
    FIELD(hf_reply_status_detail, "Detail", "smtp.reply.status.detail", FT_UINT16, BASE_DEC, NULL,
          "Enhanced status detail"),
    FIELD(hf_reply_status_class_meaning, "Class meaning", "smtp.reply.status.class.meaning",
          FT_STRING, BASE_NONE, NULL, "Title of the status class (IANA registry)"),
    FIELD(hf_reply_status_subject_meaning, "Subject meaning", "smtp.reply.status.subject.meaning",
          FT_STRING, BASE_NONE, NULL, "Title of the status subject (IANA registry)"),
    FIELD(hf_reply_status_detail_meaning, "Detail meaning", "smtp.reply.status.detail.meaning",
          FT_STRING, BASE_NONE, NULL, "Title of the status code X.subject.detail (IANA registry)"),
    FIELD(hf_reply_command, "Command", "smtp.reply.command", FT_STRING, BASE_NONE, NULL,
          "Verb of the command this reply answers (<connect> for the greeting)"),
    { &hf_reply_request_in, { "Request in", "smtp.reply.request_in", FT_FRAMENUM, BASE_NONE,
          FRAMENUM_TYPE(FT_FRAMENUM_REQUEST), 0x0, "The frame with the command this reply answers", HFILL } },
    FIELD(hf_reply_time, "Time", "smtp.reply.time", FT_RELATIVE_TIME, BASE_NONE, NULL,
          "Seconds from the command to the end of its reply"),
    FIELD(hf_auth_response, "AUTH response", "smtp.auth.response", FT_NONE, BASE_NONE, NULL,
          "A client line of an AUTH exchange (RFC 4954)"),
    FIELD(hf_auth_data, "AUTH data", "smtp.auth.data", FT_STRING, BASE_NONE, NULL,
          "The AUTH response line (shown only with the preference turned on)"),
    FIELD(hf_body, "Message body", "smtp.body", FT_NONE, BASE_NONE, NULL,
          "Bytes of the message after DATA (still dot-stuffed)"),
    FIELD(hf_body_length, "Length", "smtp.body.length", FT_UINT32, BASE_DEC, NULL,
          "Message bytes in this frame"),
    FIELD(hf_eod, "End of data", "smtp.end_of_data", FT_NONE, BASE_NONE, NULL,
          "The line with a single dot that ends the message"),
    FIELD(hf_chunk, "BDAT chunk", "smtp.chunk", FT_NONE, BASE_NONE, NULL,
          "Bytes of a BDAT chunk (RFC 3030)"),
    FIELD(hf_chunk_length, "Length", "smtp.chunk.length", FT_UINT32, BASE_DEC, NULL,
          "Chunk bytes in this frame"),
    FIELD(hf_unparsed, "Unparsed data", "smtp.unparsed", FT_BYTES, BASE_NONE, NULL,
          "Bytes that form no command or reply"),
    FIELD(hf_starttls, "TLS starts", "smtp.starttls", FT_NONE, BASE_NONE, NULL,
          "From here on the connection carries TLS"),
    FIELD(hf_retransmitted, "Retransmitted data", "smtp.retransmitted", FT_NONE, BASE_NONE, NULL,
          "Bytes already seen in an earlier segment"),
    FIELD(hf_txn, "Transaction", "smtp.transaction", FT_UINT32, BASE_DEC, NULL,
          "Mail transaction (1, 2, ... per connection) the frame belongs to"),
    FIELD(hf_txn_outcome, "Outcome", "smtp.transaction.outcome", FT_STRING, BASE_NONE, NULL,
          "How the transaction ended: delivered, rejected at MAIL, all recipients rejected, "
          "rejected at DATA, rejected after data, aborted by RSET / a new MAIL / QUIT"),
    FIELD(hf_txn_sender, "Sender", "smtp.transaction.sender", FT_STRING, BASE_NONE, NULL,
          "MAIL FROM address"),
    FIELD(hf_txn_recipient, "Recipient", "smtp.transaction.recipient", FT_STRING, BASE_NONE, NULL,
          "Each RCPT TO address, with the code it got"),
    FIELD(hf_txn_rejected_recipient, "Rejected recipient", "smtp.transaction.rejected_recipient",
          FT_STRING, BASE_NONE, NULL, "RCPT TO address the server did not accept"),
    FIELD(hf_txn_rcpt_accepted, "Recipients accepted", "smtp.transaction.recipients_accepted",
          FT_UINT32, BASE_DEC, NULL, NULL),
    FIELD(hf_txn_rcpt_rejected, "Recipients rejected", "smtp.transaction.recipients_rejected",
          FT_UINT32, BASE_DEC, NULL, NULL),
    FIELD(hf_txn_size, "Message size", "smtp.transaction.size", FT_UINT32, BASE_DEC, NULL,
          "Bytes of the message (after removing the dot-stuffing)"),
    FIELD(hf_txn_final_code, "Final code", "smtp.transaction.final_code", FT_UINT32, BASE_DEC, NULL,
          "Code of the reply that ended the transaction"),
    FIELD(hf_txn_final_reply, "Final reply", "smtp.transaction.final_reply", FT_STRING, BASE_NONE, NULL,
          "First line of the reply that ended the transaction"),
    FIELD(hf_txn_duration, "Duration", "smtp.transaction.duration", FT_RELATIVE_TIME, BASE_NONE, NULL,
          "Time from MAIL to the reply that ended the transaction"),
    { &hf_txn_first_frame, { "MAIL in", "smtp.transaction.first_frame", FT_FRAMENUM, BASE_NONE,
          NULL, 0x0, "Frame with the MAIL command that opened the transaction", HFILL } },
    FIELD(hf_reply_recipient, "Recipient", "smtp.reply.recipient", FT_STRING, BASE_NONE, NULL,
          "LMTP: the recipient this reply after the end of data is for"),
    FIELD(hf_helo, "Client name", "smtp.helo", FT_STRING, BASE_NONE, NULL,
          "HELO/EHLO/LHLO argument"),
    FIELD(hf_greeting_host, "Server name", "smtp.greeting.host", FT_STRING, BASE_NONE, NULL,
          "First word of the 220 greeting"),
    FIELD(hf_ehlo_extension, "EHLO extension", "smtp.ehlo.extension", FT_STRING, BASE_NONE, NULL,
          "An extension the server advertises (keyword and parameters)"),
    FIELD(hf_ehlo_size, "Maximum message size", "smtp.ehlo.size", FT_UINT64, BASE_DEC, NULL,
          "SIZE extension limit (RFC 1870; 0 means no fixed limit)"),
    FIELD(hf_ehlo_auth_mechanism, "AUTH mechanism offered", "smtp.ehlo.auth_mechanism",
          FT_STRING, BASE_NONE, NULL, "A SASL mechanism the server offers"),
    FIELD(hf_auth_mechanism, "AUTH mechanism", "smtp.auth.mechanism", FT_STRING, BASE_NONE, NULL,
          "The SASL mechanism the client chose"),
    FIELD(hf_auth_username, "Username", "smtp.auth.username", FT_STRING, BASE_NONE, NULL,
          "User name decoded from the AUTH exchange (PLAIN, LOGIN, CRAM-MD5, XOAUTH2)"),
    /* the built-in dissector's names, same types, hidden: old filters and
     * colouring rules keep working */
    FIELD(hf_legacy_req, "Request", "smtp.req", FT_BOOLEAN, BASE_NONE, NULL, NULL),
    FIELD(hf_legacy_rsp, "Response", "smtp.rsp", FT_BOOLEAN, BASE_NONE, NULL, NULL),
    FIELD(hf_legacy_req_command, "Command", "smtp.req.command", FT_STRING, BASE_NONE, NULL, NULL),
    FIELD(hf_legacy_req_parameter, "Request parameter", "smtp.req.parameter", FT_STRING, BASE_NONE, NULL, NULL),
    FIELD(hf_legacy_response_code, "Response code", "smtp.response.code", FT_UINT32, BASE_DEC, NULL, NULL),
    FIELD(hf_legacy_rsp_parameter, "Response parameter", "smtp.rsp.parameter", FT_STRING, BASE_NONE, NULL, NULL),
    FIELD(hf_legacy_response, "Response", "smtp.response", FT_STRING, BASE_NONE, NULL, NULL),
    FIELD(hf_legacy_command_line, "Command Line", "smtp.command_line", FT_STRING, BASE_NONE, NULL, NULL),
    FIELD(hf_message, "Message", "smtp.message", FT_NONE, BASE_NONE, NULL,
          "The whole message, handed to IMF"),
    FIELD(hf_message_length, "Length", "smtp.message.length", FT_UINT32, BASE_DEC, NULL,
          "Message bytes (DATA: after removing the dot-stuffing)"),
    { &hf_message_first_frame, { "First frame", "smtp.message.first_frame", FT_FRAMENUM, BASE_NONE,
          NULL, 0x0, "Frame with the message's first byte", HFILL } },
    FIELD(hf_message_frames, "Frames", "smtp.message.frames", FT_UINT32, BASE_DEC, NULL,
          "Frames that carried the message"),
};

static gint *ett[] = {
    &ett_smtpx, &ett_command, &ett_reply, &ett_reply_status, &ett_body, &ett_txn,
};

/* Expert infos: one per engine anomaly, names and texts from
 * smtp_anomalies.def, then the reply classes. */
static ei_register_info ei[] = {
    { &ei_anomaly[0], { "smtp.anomaly.none", PI_COMMENTS_GROUP, PI_COMMENT, "No anomaly", EXPFILL } },
#define SMTP_ANOMALY(id, name, group, sev, summary) \
    { &ei_anomaly[SMTP_ANOMALY_##id], { "smtp." name, PI_##group, PI_##sev, summary, EXPFILL } },
#include "smtp_anomalies.def"
#undef SMTP_ANOMALY
    { &ei_reply_transient, { "smtp.reply.transient_failure", PI_RESPONSE_CODE, PI_NOTE,
        "Transient negative reply (4yz)", EXPFILL } },
    { &ei_reply_permanent, { "smtp.reply.permanent_failure", PI_RESPONSE_CODE, PI_WARN,
        "Permanent negative reply (5yz)", EXPFILL } },
    { &ei_message_truncated, { "smtp.message.truncated", PI_UNDECODED, PI_WARN,
        "Message longer than the max_message preference: only its start is kept", EXPFILL } },
    { &ei_never_answered, { "smtp.command.unanswered", PI_SEQUENCE, PI_NOTE,
        "Command never answered in this capture", EXPFILL } },
    { &ei_retransmitted, { "smtp.retransmitted.data", PI_SEQUENCE, PI_NOTE,
        "Retransmitted SMTP bytes, dissected where first seen", EXPFILL } },
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
