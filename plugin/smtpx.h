/* smtpx.h: what the glue's files share.  SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef SMTPX_H
#define SMTPX_H

#include "smtpx_compat.h"

#include <epan/packet.h>
#include <epan/expert.h>

#include "smtp_session.h"

void proto_register_smtpx(void);
void proto_reg_handoff_smtpx(void);

/* A command and the reply that answers it, shared by both frames. */
typedef struct smtpx_pair {
    guint32 seq;       /* the engine's command number */
    guint32 req_frame; /* 0 when the command was not seen */
    guint32 rsp_frame; /* 0 until answered */
    nstime_t req_ts;
    const char *verb;  /* as the user reads it: "MAIL", "<connect>", "XYZZY" */
    guint16 verb_id;   /* smtp_verb */
    guint16 code;      /* reply code, 0 until answered */
} smtpx_pair;

/* A whole message (DATA, dot-stuffing removed, or BDAT chunks), kept
 * with the unit that completes it, for IMF. */
typedef struct smtpx_message {
    guint8 *data;
    guint32 len;
    guint32 first_frame; /* frame with its first byte */
    guint32 frames;      /* frames that carried it */
    gboolean truncated;  /* longer than the max_message preference */
} smtpx_message;

/* One engine event as saved on the first pass for later rendering. */
typedef struct smtpx_unit {
    smtp_event ev;         /* off is relative to the tvb of its call */
    smtpx_pair *pair;      /* COMMAND, SASL, EOD, REPLY */
    smtpx_message *msg;    /* EOD, last CHUNK: the completed message */
} smtpx_unit;

/* What one call of the dissector found in its tvb. */
typedef struct smtpx_call {
    smtpx_unit *units;
    guint32 nunits;
    guint32 skip;         /* leading bytes seen before (retransmission) */
    gint32 deseg_offset;  /* where a desegmentation request starts, -1 if none */
    guint8 dir;           /* SMTP_DIR_* */
    guint8 gap;           /* lost bytes precede this data */
} smtpx_call;

/* The plugin's per-conversation state: bounded by what is pending. */
typedef struct smtpx_conv {
    smtp_session sess;
    address srv_addr;
    guint32 srv_port;
    guint32 next_seq[2];      /* TCP sequence number expected next, per direction */
    guint8 next_seq_valid[2];
    smtpx_pair *ring[SMTP_PENDING_MAX]; /* pairs by command number */
    /* the message being received (the open transaction's), first pass only */
    guint8 *msg_data;
    guint32 msg_len, msg_cap, msg_id, msg_first_frame, msg_last_frame, msg_frames;
    gboolean msg_truncated;
} smtpx_conv;

/* Preferences */
extern smtpx_pref_bool smtpx_reassemble_body;
extern smtpx_pref_bool smtpx_show_auth;
extern guint smtpx_max_message;
extern int smtpx_imf_tap; /* IMF's Export Objects tap, -1 if none */

/* Registration ids (smtpx_fields.c) */
extern int proto_smtpx;
extern int proto_smtp_builtin;
extern int hf_command, hf_command_verb, hf_command_parameter, hf_command_address,
    hf_command_esmtp, hf_command_size, hf_command_chunk_size, hf_command_last,
    hf_command_response_in;
extern int hf_reply, hf_reply_code, hf_reply_category, hf_reply_function,
    hf_reply_meaning, hf_reply_line, hf_reply_status, hf_reply_status_class,
    hf_reply_status_subject, hf_reply_status_detail, hf_reply_status_class_meaning,
    hf_reply_status_subject_meaning, hf_reply_status_detail_meaning,
    hf_reply_command, hf_reply_request_in, hf_reply_time;
extern int hf_auth_response, hf_auth_data, hf_body, hf_body_length, hf_eod,
    hf_chunk, hf_chunk_length, hf_unparsed, hf_starttls, hf_retransmitted,
    hf_message, hf_message_length, hf_message_first_frame, hf_message_frames;
extern gint ett_smtpx, ett_command, ett_reply, ett_reply_status, ett_body;
extern expert_field ei_anomaly[SMTP_ANOMALY_COUNT];
extern expert_field ei_reply_transient, ei_reply_permanent, ei_retransmitted,
    ei_message_truncated;

void smtpx_register_fields(void);

/* smtpx_render.c: tree items, Info column and message hand-off for one call. */
void smtpx_render_call(tvbuff_t *tvb, packet_info *pinfo, proto_tree *tree,
                       const smtpx_call *call, dissector_handle_t imf_handle,
                       dissector_handle_t tls_handle, dissector_handle_t app_handle);

#endif /* SMTPX_H */
