/* smtpx.h: what the glue's files share.  SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef SMTPX_H
#define SMTPX_H

#include "smtpx_compat.h"

#include <epan/packet.h>
#include <epan/expert.h>

#include "smtp_session.h"

void proto_register_smtpx(void);
void proto_reg_handoff_smtpx(void);

/* One AUTH exchange: what the client's messages carried and how it ended. */
typedef struct smtpx_auth {
    const char *mech;      /* as sent */
    guint8 mech_id;        /* smtp_mech */
    const char *user;      /* decoded user name, NULL if none seen */
    guint32 user_frame;    /* where the user name was */
    const char *result;    /* "succeeded", "failed", "cancelled"; NULL: no reply (yet) */
    guint32 result_frame;  /* the reply that ended it */
} smtpx_auth;

/* A command and the reply that answers it.  While the command waits for
 * its reply the conversation's ring holds one (packet-smtpx.c); it is freed
 * once answered (or forgotten), and what rendering needs of it is kept in
 * the records of the two frames.  Rendering gets one made from a frame's
 * record for the call (pinfo's pool): a command's holds rsp_frame (and
 * next, an LMTP end of data's per-recipient replies), a reply's verb,
 * req_frame, req_ts and addr. */
typedef struct smtpx_pair {
    guint32 seq;       /* the engine's command number */
    guint32 req_frame; /* 0 when the command was not seen */
    guint32 rsp_frame; /* 0 until answered */
    guint16 verb_id;   /* smtp_verb */
    guint16 lmtp_index; /* LMTP end of data: which accepted recipient (0, 1, ...) */
    nstime_t req_ts;
    const char *verb;  /* as the user reads it: "MAIL", "<connect>", "XYZZY" */
    const char *addr;  /* MAIL/RCPT: the address */
    guint32 txn;       /* mail transaction, 0 none */
    guint8 owns_addr;  /* RCPT: addr is the pair's until the transaction lists it */
    struct smtpx_pair *next; /* LMTP end of data: the next recipient's pair */
    guint8 *rsp_slot;  /* where the command's frame record keeps rsp_frame, NULL
                          until it is made (and for the connection's pair) */
} smtpx_pair;

/* A recipient of a transaction and the code its RCPT got. */
typedef struct smtpx_rcpt {
    const char *addr;
    guint16 code;
    char status[10];       /* enhanced status of its reply ("d.ddd.ddd" at
                              most, smtp_parse_status), "" if none */
} smtpx_rcpt;

/* LMTP: the reply to the message for one recipient (code 0: none seen). */
typedef struct smtpx_delivery {
    guint16 code;
    char status[10];
} smtpx_delivery;

/* A mail transaction, as the frame that ends it summarises it. */
typedef struct smtpx_txn {
    guint32 id;
    guint32 first_frame;
    nstime_t start_ts;     /* the duration ends at the frame that ends it */
    const char *sender;
    smtpx_rcpt *list;      /* while the transaction is open: the first
                              max_summary_recipients (LMTP: all, its replies
                              are matched with them) in the live scope, room
                              for 4, then doubled at each power of 2; once
                              ended: the same, in one block with the
                              transaction's strings (smtpx_track.c) */
    guint32 nlist;
    guint32 rcpt_ok, rcpt_bad; /* RCPTs answered 2xx / otherwise, all of them */
    guint32 size;          /* message bytes (0 if none) */
    guint16 outcome;       /* smtp_txn_outcome */
    guint16 final_code;    /* of the reply that ended it, 0 if none: that reply
                              is the last before the end in the same call (its
                              line and status are read from there) */
    gboolean tls;          /* inside TLS */
    const char *helo;      /* the client's HELO/EHLO name at the time */
    const char *auth_user; /* the AUTH user at the time, NULL if none */
    smtpx_delivery *dlv;   /* LMTP: per listed recipient, the reply to the
                              message (NULL until the first such reply; in the
                              live scope while open, then in the file's) */
    guint32 ndlv;          /* its entries: the recipients listed then */
} smtpx_txn;

/* A whole message (DATA, dot-stuffing removed, or BDAT chunks), kept
 * with the unit that completes it, for IMF. */
typedef struct smtpx_message {
    guint8 *data;        /* len bytes and a NUL after them; NULL when empty */
    guint32 len;
    guint32 first_frame; /* frame with its first byte */
    guint32 frames;      /* frames that carried it */
    gboolean truncated;  /* longer than the max_message preference */
} smtpx_message;

/* What an AUTH command or response carried, or how the exchange a reply
 * ends came out. */
typedef enum smtpx_authref_role {
    SMTPX_AUTH_CLIENT = 0, /* the AUTH command or a client response */
    SMTPX_AUTH_CHALLENGE,  /* a 334 reply */
    SMTPX_AUTH_END         /* the reply that ends the exchange */
} smtpx_authref_role;

typedef struct smtpx_authref {
    smtpx_auth *auth;      /* the exchange */
    guint8 role;           /* smtpx_authref_role */
    const char *user;      /* the user name this line carried, NULL if none */
    const char *secret;    /* its password/token, only with show_auth */
} smtpx_authref;

/* One engine event as saved on the first pass for later rendering. */
#if defined(__GNUC__)
#define SMTPX_NOINLINE __attribute__((noinline)) /* the rare path, out of the callers' code */
#define SMTPX_INLINE static inline __attribute__((always_inline)) /* small, on a hot path */
#else
#define SMTPX_NOINLINE
#define SMTPX_INLINE static inline
#endif

/* A growing array of one call's entries in pinfo's pool: a wmem_array costs
 * about 100 instructions to make and 80 an append, more than the plugin's
 * own work on many units. */
typedef struct smtpx_vec {
    wmem_allocator_t *pool;
    guint8 *p;
    guint32 n, cap;
} smtpx_vec;
void smtpx_vec_grow(smtpx_vec *v, size_t size);
/* Room for at least k more elements after the n there are. */
void smtpx_vec_reserve_more(smtpx_vec *v, size_t size, guint32 k);
static inline void smtpx_vec_reserve(smtpx_vec *v, size_t size, guint32 k)
{
    if (v->cap - v->n < k)
        smtpx_vec_reserve_more(v, size, k);
}
static inline void *smtpx_vec_push(smtpx_vec *v, size_t size)
{
    if (v->n == v->cap)
        smtpx_vec_grow(v, size);
    return v->p + (size_t)v->n++ * size;
}

typedef struct smtpx_unit {
    smtp_event ev;         /* off is relative to the tvb of its call */
    smtpx_pair *pair;      /* COMMAND, SASL, EOD, REPLY */
    void *data;            /* by type: see the accessors below */
} smtpx_unit;

/* EOD, last CHUNK: the completed message, NULL if none or if its flags
 * have SMTPX_EVF_MSG_HERE */
#define UNIT_MSG(u)  ((smtpx_message *)(u)->data)
/* EOD, last CHUNK (a flag of the glue's in ev.flags, beside the engine's
 * SMTP_EVF_*): the whole message came in this call, in its BODY (or CHUNK)
 * units of the same msg up to this one, and within the max_message
 * preference: nothing is kept, rendering puts it together again from the
 * call's bytes (most messages fit in one segment) */
#define SMTPX_EVF_MSG_HERE 0x8000u
/* TXN_END: the transaction it ends */
#define UNIT_TXN(u)  ((smtpx_txn *)(u)->data)
/* COMMAND, SASL, REPLY: the AUTH exchange it belongs to or ends */
#define UNIT_AUTH(u) ((smtpx_authref *)(u)->data)

/* What one call of the dissector found in its tvb, as rendering reads it.
 * A frame can be handed to the dissector several times (TLS records; a
 * reassembly by TCP, which the plugin asks for only when a TLS record's
 * first byte comes alone after STARTTLS: lines cut across segments it
 * holds itself, see held), and not always the same way on later passes: its record
 * (packet-smtpx.c keeps it packed, a few bytes a unit, and unpacks it into
 * this form in pinfo's pool for each rendering) is found again by the
 * stream position and length of the data it was made from, never by the
 * order of the calls (on the first pass TCP may hand over a reassembly
 * with the start of the next PDU, later passes without it), and its spans
 * are checked against the tvb it is rendered with. */
typedef struct smtpx_call {
    struct smtpx_call *next; /* unused (NULL) */
    guint32 nunits;
    guint32 skip;         /* leading bytes seen before (retransmission) */
    gint32 tail;          /* where an unfinished unit starts that the next
                             segment continues, -1 if none: offset in the
                             call's data */
    guint32 held;         /* bytes of earlier segments that start this call's
                             data (an unfinished unit they held): the data is
                             then those bytes and this tvb's from skip on */
    guint32 held_from;    /* the frame the first of them came in */
    const guint8 *held_data; /* those bytes, when a unit reads them (else NULL) */
    guint32 hole_from;    /* of those, bytes not kept (a reply of many lines cut
                             across segments: its first line is kept, the
                             lines after it that came in earlier segments are
                             not), as zeros in the data rendering gets: */
    guint32 hole_len;     /* [hole_from, hole_from + hole_len), 0: none */
    guint32 cont_in;      /* the frame continuing the tail, 0 while unknown */
    gint32 deseg;         /* where TCP is asked to reassemble from, -1 if not
                             (a TLS record's first byte alone after STARTTLS:
                             TLS takes its records through TCP) */
    guint8 dir;           /* SMTP_DIR_* */
    guint8 gap;           /* lost bytes precede this data */
    guint8 tls;           /* made from decrypted TLS data */
    smtpx_unit *units;    /* nunits of them: after the call in the same
                             allocation (smtpx_call_new), or on the first
                             pass where the engine's run put them */
    const guint8 *seg_bytes; /* first pass, no held bytes: the segment's
                                bytes as the engine read them, else NULL */
} smtpx_call;

/* A call with room for n units, in scope. */
smtpx_call *smtpx_call_new(wmem_allocator_t *scope, const smtpx_call *head, guint32 n);

/* What a conversation keeps whether its SMTP goes on or is over (first pass). */
typedef struct smtpx_conn {
    guint8 parked;            /* 0 in an smtpx_conv, 1 in an smtpx_parked */
    guint8 completeness;      /* TCP's completeness bits seen */
    guint8 next_seq_valid[2];
    guint32 srv_port;
    guint32 next_seq[2];      /* TCP sequence number expected next, per direction */
    address srv_addr;
    const char *helo;         /* last HELO/EHLO/LHLO argument */
    const char *auth_user;    /* user of the last AUTH that succeeded */
} smtpx_conn;

/* The plugin's per-conversation state: bounded by what is pending. */
typedef struct smtpx_conv {
    smtpx_conn conn;          /* first: a parked one starts the same way */
    smtp_session sess;
    smtpx_pair **ring;        /* pairs of waiting commands, by command number
                                 modulo ring_cap (>= the engine's queue) */
    guint32 ring_cap;
    smtpx_vec *dead;          /* pairs to free once the call's record is made
                                 (pinfo's pool; NULL outside a call: at once) */
    /* the message being received (the open transaction's), first pass only */
    guint8 *msg_data;
    guint32 msg_len, msg_cap, msg_id, msg_first_frame, msg_last_frame, msg_frames;
    gboolean msg_truncated;
    guint32 msg_call;         /* the call all its bytes came in, 0 if several */
    const guint8 *msg_defer;  /* while all of them came in this call: the call's
                                 bytes they are, not copied (msg_data empty) */
    guint32 msg_defer_len;    /* msg_len when so, else 0 */
    guint32 msg_done_len;     /* length of the last message completed */
    /* transactions not yet ended (the open one and one awaiting its reply) */
    smtpx_txn *txns[4];
    /* AUTH exchange in progress */
    guint8 auth_mech, auth_step;
    guint8 call_dir;          /* the direction of the current call's data (SMTP_DIR_*) */
    struct smtpx_auth *auth;  /* its record, NULL when none */
    /* per direction, an unfinished unit at the end of the last segment:
     * its bytes, kept until the next segment completes it (bounded by the
     * engine's line and reply limits), the frame of its first byte, and
     * the slot of that segment's record where the continuing frame goes */
    guint8 *held[2];
    guint32 held_len[2], held_cap[2], held_from[2];
    guint8 *held_slot[2];
} smtpx_conv;

/* A conversation whose SMTP is over (QUIT answered, nothing open), parked
 * in its place until more of it comes, if ever (packet-smtpx.c): what the
 * first pass needs to go on, in a tenth of the room. */
typedef struct smtpx_parked {
    smtpx_conn conn;          /* parked: 1 */
    guint8 sess[];            /* smtp_session_park's bytes */
} smtpx_parked;

/* The plugin's memory for the capture file's lifetime (packet-smtpx.c):
 * an allocator of its own, made when a file's dissection starts and
 * destroyed when it ends, so that its state does not sit between TCP's and
 * other dissectors' in wmem_file_scope() (TCP walks lists of its own there
 * on every segment).  The call records have slabs of their own there. */
wmem_allocator_t *smtpx_scope(void);
/* The state of conversations still going on (smtpx_conv, pairs of
 * commands waiting, the engine's queue, held bytes, an open transaction's
 * list of recipients and their addresses): most of it is freed as
 * sessions end, and its holes stay among its own kind instead of between
 * the records and summaries kept to the end.  An allocator of its own
 * (smtpx_live.c); smtpx_live_reset frees all of it (the file is closed). */
void *smtpx_live_alloc(size_t n);
void *smtpx_live_alloc0(size_t n);
void *smtpx_live_realloc(void *p, size_t n);
void smtpx_live_free(void *p);
char *smtpx_live_strndup(const void *p, size_t n);
void smtpx_live_reset(void);

/* The frame's Info column as this plugin has written it in this
 * dissection of the frame, kept across the dissector's calls for it
 * (packet-smtpx.c): smtpx_frame_info gives the one of the frame being
 * dissected. */
typedef struct smtpx_info_state {
    gboolean started; /* something written: the next text needs " | " */
    guint32 written;  /* characters written by info_line */
    gboolean clear_pending; /* the frame's first call: the column is to be
                               cleared before anything is written to it (its
                               first text then replaces what TCP wrote) */
} smtpx_info_state;
smtpx_info_state *smtpx_frame_info(packet_info *pinfo);

/* Is SMTP-Analysis enabled (Enabled Protocols, --disable-protocol)?  Read
 * once per dissection of the file, by its init routine: a change of
 * Enabled Protocols dissects the file again (the GUI's redissection starts
 * a new dissection session, which runs the init routines), so the answer
 * holds for every frame of one dissection, at no cost per frame. */
extern gboolean smtpx_enabled_now;
/* The highest severity of an expert info raised without a tree in this
 * dissection of the file (0: none; smtpx_render.c), started again with it */
extern int smtpx_quiet_severity;
void smtpx_enabled_refresh(void);
static inline gboolean smtpx_enabled(void)
{
    return smtpx_enabled_now;
}

/* Preferences (smtpx_register.c) */
extern smtpx_pref_bool smtpx_reassemble_body;
extern smtpx_pref_bool smtpx_show_auth;
extern smtpx_pref_bool smtpx_legacy_always; /* the built-in's names on every visible tree */
extern guint smtpx_max_message;   /* bytes, SMTPX_MAX_MESSAGE_MIN .. _MAX */
extern guint smtpx_max_line;      /* bytes, SMTPX_MAX_LINE_MIN .. _MAX */
extern guint smtpx_max_pending;   /* commands, SMTPX_MAX_PENDING_MIN .. _MAX */
extern guint smtpx_max_summary_rcpts; /* recipients listed in a transaction's summary, .. _MAX */
/* Bytes that tvb_format_text gives back as they are (printable ASCII
 * without a backslash) */
gboolean smtpx_plain_text(const guint8 *p, guint32 len);
gboolean smtpx_plain_copy(guint8 *dst, const guint8 *p, guint32 len);
/* Every byte 0x01-0x7f (reads the same in UTF-8). */
gboolean smtpx_ascii_text(const guint8 *p, guint32 len);
/* n bytes and a NUL in scope (wmem_strndup copies a byte at a time) */
char *smtpx_strndup(wmem_allocator_t *scope, const void *p, size_t n);
/* Bytes of the tvb as printable text (as tvb_format_text), kept in scope
 * (smtpx_scope(); NULL: the live allocator) in exactly the room it needs. */
const char *smtpx_kept_text(wmem_allocator_t *scope, packet_info *pinfo, tvbuff_t *tvb, guint32 off,
                            guint32 len);
extern dissector_handle_t smtpx_ntlmssp_handle; /* Wireshark's NTLMSSP, NULL if none */
/* A name of an NTLM AUTHENTICATE message (UTF-16LE or OEM) as UTF-8. */
const char *smtpx_ntlm_name(wmem_allocator_t *scope, const guint8 *msg, guint32 off, guint32 len,
                            gboolean unicode);
extern int smtpx_imf_tap; /* IMF's Export Objects tap, 0 if none */
extern int smtpx_expert_tap; /* Wireshark's expert info tap, 0 until found */

/* Bounds of the numeric preferences: a value outside is taken as the
 * nearest bound when preferences are applied. */
#define SMTPX_MAX_LINE_MIN      64
#define SMTPX_MAX_LINE_MAX      1048576
#define SMTPX_MAX_MESSAGE_MIN   1024
#define SMTPX_MAX_MESSAGE_MAX   1073741824
#define SMTPX_MAX_PENDING_MIN   64
#define SMTPX_MAX_PENDING_MAX   10000000
#define SMTPX_MAX_SUMMARY_RCPTS_MAX 10000000

void smtpx_register_prefs(void);  /* from proto_register_smtpx() */
void smtpx_register_ports(void);  /* from proto_reg_handoff_smtpx() */

/* Registration ids.  Header fields and subtrees are declared once, in
 * smtpx_fields.def; the plugin's own expert infos in smtpx_experts.def,
 * the engine's anomalies in smtp_anomalies.def (ei_anomaly[SMTP_ANOMALY_x];
 * SMTP_ANOMALY_NONE has no expert info). */
extern int proto_smtpx;
extern int proto_smtp_builtin;
#define HF(id, label, abbrev, type, display, strings, blurb) extern int id;
#define ETT(id) extern gint id;
#include "smtpx_fields.def"
#undef HF
#undef ETT
#define EI(id, abbrev, group, severity, summary) extern expert_field id;
#include "smtpx_experts.def"
#undef EI
/* and each one's severity: SEVERITY_OF_<id> */
enum {
#define EI(id, abbrev, group, severity, summary) SEVERITY_OF_##id = PI_##severity,
#include "smtpx_experts.def"
#undef EI
};
extern expert_field ei_anomaly[SMTP_ANOMALY_COUNT];

void smtpx_register_fields(void);

/* What the tap "smtpx" gets for each complete reply (smtpx_tap.c). */
typedef struct smtpx_tap_reply {
    guint16 code;
    guint16 verb_id;       /* smtp_verb of the command answered */
    const char *verb;      /* its name (NULL when no command) */
    gboolean has_request;  /* the command's frame is known: req_ts is valid */
    nstime_t req_ts;
    const char *status;    /* enhanced status of the first line, or NULL */
    guint16 st_subject, st_detail;
    guint32 req_frame;
} smtpx_tap_reply;

extern int smtpx_tap;
void smtpx_register_taps(void);
/* Feeds an AUTH attempt to tshark's -z credentials (Tools > Credentials):
 * the user name and, when the reply that ends the exchange is known,
 * its result ("succeeded", "failed", "cancelled"; NULL: not known). */
void smtpx_tap_credential(packet_info *pinfo, const char *user, const char *result, guint mech);

/* smtpx_render.c: tree items, Info column and message hand-off for one call. */
/* smtpx_message.c: feeds a unit's message bytes to the conversation's
 * collector; the unit that ends a message gets it (UNIT_MSG), or the flag
 * SMTPX_EVF_MSG_HERE; c->msg_done_len is then its length.  call: a number
 * of the first pass's call, the same for all units of a call (not 0). */
void smtpx_collect_message(smtpx_conv *c, packet_info *pinfo, const guint8 *buf, smtpx_unit *u,
                           guint32 call);
/* The end of a first-pass call (or its start, after a call an exception
 * cut short: drop set): a message whose bytes so far are this call's
 * keeps a copy of them now. */
void smtpx_message_call_end(smtpx_conv *c, gboolean drop);

/* The latest reply of a call, for the transaction it ends. */
typedef struct smtpx_last_reply {
    smtp_event ev;          /* type ANOMALY: none yet */
    smtp_reply_line first;  /* its first line, as the engine parsed it */
} smtpx_last_reply;

/* smtpx_track.c: what a unit tells transactions and AUTH exchanges;
 * parsed is the engine's parse of a COMMAND unit's line or a REPLY unit's
 * first line. */
void smtpx_track_unit(smtpx_conv *c, packet_info *pinfo, tvbuff_t *tvb, const guint8 *buf,
                      smtpx_unit *u, const smtp_parsed *parsed, smtpx_last_reply *last);
/* A transaction ends (tvb NULL: no reply in this data, e.g. a FIN). */
void smtpx_track_txn_end(smtpx_conv *c, packet_info *pinfo, tvbuff_t *tvb, smtpx_unit *u,
                         const smtpx_last_reply *last);

/* The transactions a FIN or RST frame ended (a postdissector's tree). */
void smtpx_render_close(tvbuff_t *tvb, packet_info *pinfo, proto_tree *tree,
                        const smtpx_call *call);
/* parsed: the first pass's parse of each COMMAND unit's line and REPLY
 * unit's first line (by unit index, meaningless for other units; parsed
 * itself NULL on later passes, which parse each line once themselves);
 * ist: the frame's Info state (smtpx_frame_info's) */
void smtpx_render_call(tvbuff_t *tvb, tvbuff_t *seg, packet_info *pinfo, proto_tree *tree,
                       const smtpx_call *call, const smtp_parsed *parsed, smtpx_info_state *ist,
                       dissector_handle_t imf_handle,
                       dissector_handle_t tls_handle, dissector_handle_t app_handle);

#endif /* SMTPX_H */
