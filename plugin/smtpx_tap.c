/* smtpx_tap.c: the tap of completed replies, a statistics tree
 * (-z smtp,tree; Statistics > SMTP) and a service response time table
 * (-z smtp,srt) built on the plugin's pairing.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "smtpx.h"

#include "smtp_auth.h"

#include <stdio.h>
#include <string.h>

#include <epan/stats_tree.h>
#include <epan/srt_table.h>
#include <epan/tap.h>

#include "smtp_codes.h"

int smtpx_tap = -1;
static int credentials_tap = -1;

/* Wireshark's tap-credentials.h is not installed by the -dev packages; its
 * record has had this layout from 3.2 through 4.6. */
typedef struct smtpx_credential {
    unsigned num;
    unsigned username_num;
    unsigned password_hf_id;
    char *username;
    const char *proto;
    char *info;
} smtpx_credential;

/* One record per AUTH attempt.  Its info text says how the attempt came
 * out when the caller knows it (the reply that ends the exchange: 235
 * succeeded, 535 and other failures failed, 501 to "*" cancelled), and
 * where to find the password. */
void smtpx_tap_credential(packet_info *pinfo, const char *user, const char *result, guint mech)
{
    smtpx_credential *c;
    /* NTLM sends no password: its challenge responses stand for it */
    const char *pw = mech == SMTP_MECH_NTLM
                         ? (smtpx_show_auth ? "NTLM: the challenge responses are in ntlmssp.auth.ntresponse"
                                            : "NTLM: challenge responses hidden: see smtpx.show_auth")
                         : smtpx_show_auth ? "password: smtp.auth.password"
                                           : "password hidden: see smtpx.show_auth";

    if (credentials_tap < 0)
        credentials_tap = find_tap_id("credentials");
    if (credentials_tap < 0 || !have_tap_listener(credentials_tap) || user == NULL)
        return;
    c = wmem_new0(pinfo->pool, smtpx_credential);
    c->num = pinfo->num;
    c->username_num = pinfo->num;
    c->password_hf_id = (unsigned)hf_auth_password;
    c->username = wmem_strdup(pinfo->pool, user);
    c->proto = "SMTP";
    c->info = result != NULL ? wmem_strdup_printf(pinfo->pool, "AUTH %s (%s)", result, pw)
                             : wmem_strdup_printf(pinfo->pool, "AUTH (%s)", pw);
    tap_queue_packet(credentials_tap, pinfo, c);
}

/* ---- statistics tree ---- */

static const char *const node_category = "Replies by category and code";
static const char *const node_status = "Replies by enhanced status";
static const char *const node_command = "Commands by verb and reply category";
static int st_category = -1, st_status = -1, st_command = -1;

static void tree_init(stats_tree *st)
{
    st_category = stats_tree_create_node(st, node_category, 0, STAT_DT_INT, TRUE);
    st_status = stats_tree_create_node(st, node_status, 0, STAT_DT_INT, TRUE);
    st_command = stats_tree_create_node(st, node_command, 0, STAT_DT_INT, TRUE);
}

static const char *category_label(unsigned code)
{
    const char *c = smtp_category_name(code / 100);
    return c ? c : "Out of range";
}

static tap_packet_status tree_packet(stats_tree *st, packet_info *pinfo, epan_dissect_t *edt,
                                     const void *data, tap_flags_t flags)
{
    const smtpx_tap_reply *t = (const smtpx_tap_reply *)data;
    char buf[96];
    int id;

    tick_stat_node(st, node_category, 0, FALSE);
    id = tick_stat_node(st, category_label(t->code), st_category, TRUE);
    snprintf(buf, sizeof buf, "%u", t->code);
    tick_stat_node(st, buf, id, FALSE);

    tick_stat_node(st, node_status, 0, FALSE);
    if (t->status != NULL) {
        const char *d = smtp_status_detail_name(t->st_subject, t->st_detail);
        snprintf(buf, sizeof buf, "%s %s", t->status, d ? d : "(not registered)");
        tick_stat_node(st, buf, st_status, FALSE);
    } else {
        tick_stat_node(st, "none", st_status, FALSE);
    }

    tick_stat_node(st, node_command, 0, FALSE);
    id = tick_stat_node(st, t->verb ? t->verb : "<none>", st_command, TRUE);
    tick_stat_node(st, category_label(t->code), id, FALSE);
    return TAP_PACKET_REDRAW;
}

/* ---- service response time ----
 *
 * One row per command verb answered in the capture, numbered 0, 1, 2, ...
 * in the order their first replies come, so that the index has no holes
 * whatever the capture holds; replies to verbs the engine does not know
 * share one row, "(other)".  The table is made with a row for every verb
 * of smtp_verbs.def and "(other)" (their most), unnamed; a row gets its name
 * with its first call, and rows without calls are not shown (tshark prints
 * only rows with calls, Wireshark's dialog hides them).  A reset keeps the
 * names, so a retap numbers the rows as before.  The -z filter itself never
 * reaches this code (tshark hands it to the tap listener only), so tshark's
 * "Filter:" line stays empty. */

#define SRT_ROWS (SMTP_VERB_COUNT)  /* every verb but UNKNOWN, then "(other)" */

static void srt_init(struct register_srt *srt, GArray *srt_array)
{
    init_srt_table("SMTP commands", "SMTP", srt_array, SRT_ROWS, "Command", NULL, NULL);
}

/* The row of a verb: the one named after it, else the first unnamed one,
 * named now. */
static int srt_row(srt_stat_table *table, unsigned verb_id)
{
    const char *name = (verb_id == SMTP_VERB_UNKNOWN || verb_id >= SMTP_VERB_COUNT)
                           ? "(other)" : smtp_verb_name((smtp_verb)verb_id);
    int i;

    for (i = 0; i < table->num_procs; i++) {
        if (table->procedures[i].procedure == NULL) {
            init_srt_table_row(table, i, name);
            return i;
        }
        if (strcmp(table->procedures[i].procedure, name) == 0)
            return i;
    }
    return -1; /* cannot happen: a row for every verb */
}

static tap_packet_status srt_packet(void *pss, packet_info *pinfo, epan_dissect_t *edt,
                                    const void *data, tap_flags_t flags)
{
    srt_data_t *d = (srt_data_t *)pss;
    const smtpx_tap_reply *t = (const smtpx_tap_reply *)data;
    srt_stat_table *table;
    int row;

    if (!t->has_request)
        return TAP_PACKET_DONT_REDRAW;
    table = g_array_index(d->srt_array, srt_stat_table *, 0);
    row = srt_row(table, t->verb_id);
    if (row < 0)
        return TAP_PACKET_DONT_REDRAW;
    add_srt_table_data(table, row, &t->req_ts, pinfo);
    return TAP_PACKET_REDRAW;
}

void smtpx_register_taps(void)
{
    smtpx_tap = register_tap("smtpx");
    /* -z smtp,tree and -z smtp,srt: named after the protocol users know */
    stats_tree_register_plugin("smtpx", "smtp", "SMTP/Replies and commands", 0,
                               tree_packet, tree_init, NULL);
    register_srt_table(proto_smtp_builtin, "smtpx", 1, srt_packet, srt_init, NULL);
}
