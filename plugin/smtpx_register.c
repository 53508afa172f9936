/* smtpx_register.c: the preferences and the ports the plugin takes over.
 *
 * smtpx.tcp.port is the set of TCP ports the plugin dissects, as a user of
 * Wireshark expects from a port preference: a port taken out of it goes back
 * to the built-in SMTP dissector (when the built-in's own smtp.tcp.port has
 * it), not to raw TCP.  It is an ordinary range preference, applied here
 * (smtpx_prefs_apply), rather than the Decode As range that
 * dissector_add_uint_range_with_preference() makes: with that one,
 * -o smtpx.tcp.port:2525 left the plugin on 25 and 587 as well, and
 * tshark -G defaultprefs did not list it.
 *
 * The TCP ports hold the plugin's own handle while SMTP-Analysis is
 * enabled and the built-in SMTP handle while it is not: a disabled
 * protocol's own handle in a dissector table dissects nothing (epan skips
 * it and TCP falls back to raw data), on every release 4.0 - 4.6, so
 * --disable-protocol smtpx (or Enabled Protocols) would otherwise leave
 * SMTP undissected.  The handle sits in the table itself rather than
 * behind a handle that calls it, which cost a second dissector call on
 * every segment (about 190 instructions each).
 *
 * The ports are set when a dissection session starts (the init routines:
 * a file opened, a redissection after Enabled Protocols or a preference
 * changed) and when the port preference changes, not at the handoff: by
 * then tshark has applied -d, and a port whose handle Decode As changed
 * (its handle is not the table's default for it) is left alone, whatever
 * it was changed to.  Ports are given back (to the built-in when its
 * smtp.tcp.port has them) only where the plugin's own entry still is.
 *
 * Inside TLS on port 465 a small front handle makes the same choice on
 * each call (TLS keeps its own table).  Its protocol, smtpx.front, is
 * registered in name only under the built-in SMTP: enabled with it, never
 * a layer of its own, and with a name of its own in Decode As lists (a
 * handle of the built-in protocol there would duplicate "SMTP"; a handle
 * without protocol crashes 4.0's Decode As list).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "smtpx.h"

#include <epan/prefs.h>
#include <epan/range.h>

/* Declared in packet-tls-utils.h, which needs libgcrypt's headers; the same
 * prototype in 4.0 - 4.6. */
WS_DLL_PUBLIC void ssl_dissector_add(guint port, dissector_handle_t handle);

#define SMTPX_TCP_PORTS "24,25,587"
#define SMTPX_TLS_PORT  465

smtpx_pref_bool smtpx_reassemble_body = TRUE;
smtpx_pref_bool smtpx_show_auth = FALSE;
smtpx_pref_bool smtpx_legacy_always = FALSE;
guint smtpx_max_message = 64u * 1024u * 1024u;
guint smtpx_max_line = 16384;
guint smtpx_max_pending = 100000;
guint smtpx_max_summary_rcpts = 1000;

static range_t *smtpx_tcp_ports;      /* the preference */
static range_t *ports_in_table;       /* where tcp_placed is in tcp.port now, NULL: not yet set */
static dissector_handle_t tcp_placed;  /* plugin_tcp, or builtin_smtp while disabled */
static dissector_handle_t front_tls;    /* NULL before the handoff */
static dissector_handle_t plugin_tcp, plugin_tls, builtin_smtp;
static int proto_front = -1;

gboolean smtpx_enabled_now = TRUE;

static void apply_ports(void);

/* A new dissection session (the init routines) */
void smtpx_enabled_refresh(void)
{
    static protocol_t *proto; /* looked up once: a protocol is never unregistered */

    if (proto == NULL)
        proto = find_protocol_by_id(proto_smtpx);
    smtpx_enabled_now = proto_is_protocol_enabled(proto);
    apply_ports();
}

static int front(dissector_handle_t plugin, tvbuff_t *tvb, packet_info *pinfo,
                 proto_tree *tree, void *data)
{
    /* TCP's reassembly is for the dissector right above it; calling a
     * dissector uses up one level, so hand the level this front got on to
     * the one it calls (as TCP proxies like SOCKS do). */
    pinfo->can_desegment = pinfo->saved_can_desegment;
    if (smtpx_enabled())
        return call_dissector_only(plugin, tvb, pinfo, tree, data);
    if (builtin_smtp != NULL)
        return call_dissector_only(builtin_smtp, tvb, pinfo, tree, data);
    return 0;
}

static int front_tls_dissect(tvbuff_t *tvb, packet_info *pinfo, proto_tree *tree, void *data)
{
    return front(plugin_tls, tvb, pinfo, tree, data);
}

/* The handle the TCP ports get now */
static dissector_handle_t tcp_handle_now(void)
{
    return smtpx_enabled_now || builtin_smtp == NULL ? plugin_tcp : builtin_smtp;
}

/* Whether port's entry in tcp.port is h as this plugin put it there: h is
 * both its handle and its default (Decode As changes only the handle). */
static gboolean entry_is(guint32 port, dissector_handle_t h)
{
    return h != NULL && dissector_get_uint_handle(find_dissector_table("tcp.port"), port) == h &&
           dissector_get_default_uint_handle("tcp.port", port) == h;
}

/* A port of the set as it was: its entry goes when the port leaves the set
 * (the built-in dissector gets it back if its own port preference has it)
 * or when the handle for the ports changes (port_added puts the new one). */
static void port_removed(guint32 port, gpointer unused _U_)
{
    range_t *builtin_ports;
    gboolean stays = value_is_in_range(smtpx_tcp_ports, port);

    if ((stays && tcp_placed == tcp_handle_now()) || !entry_is(port, tcp_placed))
        return;
    dissector_delete_uint("tcp.port", port, tcp_placed);
    if (stays)
        return;
    builtin_ports = builtin_smtp != NULL ? prefs_get_range_value("smtp", "tcp.port") : NULL;
    if (builtin_ports != NULL && value_is_in_range(builtin_ports, port))
        dissector_add_uint("tcp.port", port, builtin_smtp);
}

/* A port of the set as it is: the handle for now, unless it is there
 * already or Decode As gave the port another. */
static void port_added(guint32 port, gpointer unused _U_)
{
    dissector_table_t table = find_dissector_table("tcp.port");
    dissector_handle_t now = tcp_handle_now();

    if (dissector_get_uint_handle(table, port) == now ||
        dissector_get_uint_handle(table, port) != dissector_get_default_uint_handle("tcp.port", port))
        return;
    dissector_add_uint("tcp.port", port, now);
}

/* Makes tcp.port hold the handle for now on exactly the ports of the
 * preference (but those Decode As changed). */
static void apply_ports(void)
{
    if (front_tls == NULL)
        return; /* before the handoff */
    if (ports_in_table != NULL && tcp_placed == tcp_handle_now() &&
        ranges_are_equal(ports_in_table, smtpx_tcp_ports))
        return;
    if (ports_in_table != NULL)
        range_foreach(ports_in_table, port_removed, NULL);
    range_foreach(smtpx_tcp_ports, port_added, NULL);
    if (ports_in_table != NULL)
        wmem_free(wmem_epan_scope(), ports_in_table);
    ports_in_table = range_copy(wmem_epan_scope(), smtpx_tcp_ports);
    tcp_placed = tcp_handle_now();
}

static void clamp(guint *value, guint lo, guint hi)
{
    if (*value < lo)
        *value = lo;
    else if (*value > hi)
        *value = hi;
}

/* Preferences changed (preferences file, -o, the dialog). */
static void smtpx_prefs_apply(void)
{
    clamp(&smtpx_max_line, SMTPX_MAX_LINE_MIN, SMTPX_MAX_LINE_MAX);
    clamp(&smtpx_max_message, SMTPX_MAX_MESSAGE_MIN, SMTPX_MAX_MESSAGE_MAX);
    clamp(&smtpx_max_pending, SMTPX_MAX_PENDING_MIN, SMTPX_MAX_PENDING_MAX);
    clamp(&smtpx_max_summary_rcpts, 0, SMTPX_MAX_SUMMARY_RCPTS_MAX);
    apply_ports();
}

#define STR_(x) #x
#define STR(x) STR_(x)

void smtpx_register_prefs(void)
{
    module_t *m = prefs_register_protocol(proto_smtpx, smtpx_prefs_apply);

    /* The front handles' protocol: a name only, enabled with the built-in
     * SMTP protocol, never itself in Enabled Protocols. */
    proto_front = proto_register_protocol_in_name_only("SMTP (SMTP-Analysis when enabled)",
        "SMTP-Front", "smtpx.front", proto_smtp_builtin, FT_PROTOCOL);

    range_convert_str(wmem_epan_scope(), &smtpx_tcp_ports, SMTPX_TCP_PORTS, 65535);
    prefs_register_range_preference(m, "tcp.port", "TCP ports",
        "The TCP ports SMTP-Analysis dissects (default " SMTPX_TCP_PORTS "; 24 is LMTP). "
        "A port taken out goes back to the built-in SMTP dissector if its smtp.tcp.port "
        "has it. SMTP on port " STR(SMTPX_TLS_PORT) " inside TLS is always dissected.",
        &smtpx_tcp_ports, 65535);
    prefs_register_bool_preference(m, "reassemble_body", "Reassemble the message body",
        "Reassemble DATA and BDAT messages and hand them to the IMF dissector "
        "(File > Export Objects > IMF). Needs TCP's \"Allow subdissector to reassemble "
        "TCP streams\".", &smtpx_reassemble_body);
    prefs_register_bool_preference(m, "show_auth", "Show AUTH responses",
        "Show the client's AUTH lines and the decoded passwords in the tree. Off by default "
        "since captures get shared.", &smtpx_show_auth);
    prefs_register_bool_preference(m, "legacy_names", "Always add the built-in's field names",
        "The built-in SMTP dissector's field names (smtp.req, smtp.req.command, smtp.req.parameter, "
        "smtp.command_line, smtp.rsp, smtp.response, smtp.response.code, smtp.rsp.parameter) are "
        "added, hidden, to every frame that a display filter, colouring rule, custom column or "
        "tap uses them in; tshark 4.4 and later also for -T fields -e. Turn this on for tshark "
        "4.0 and 4.2 -T fields -e with those names, or to see them in PDML/JSON output: it "
        "makes -T fields and -V a few per cent slower.", &smtpx_legacy_always);
    prefs_register_uint_preference(m, "max_message", "Longest message kept",
        "Bytes of one message kept for IMF; the rest is not kept (an expert info says so). "
        "From " STR(SMTPX_MAX_MESSAGE_MIN) " to " STR(SMTPX_MAX_MESSAGE_MAX)
        "; a value outside is taken as the nearest bound.",
        10, &smtpx_max_message);
    prefs_register_uint_preference(m, "max_line", "Longest line buffered",
        "A command or reply line longer than this many bytes is shown in pieces. "
        "A line cut across TCP segments is held until the segment that completes it "
        "(at most this many bytes; a multi-line reply four times that). "
        "From " STR(SMTPX_MAX_LINE_MIN) " to " STR(SMTPX_MAX_LINE_MAX)
        "; a value outside is taken as the nearest bound.",
        10, &smtpx_max_line);
    prefs_register_uint_preference(m, "max_pending", "Commands awaiting replies",
        "How many commands of one connection may await their replies (pipelining); "
        "beyond that the oldest is forgotten (an expert info says so). "
        "From " STR(SMTPX_MAX_PENDING_MIN) " to " STR(SMTPX_MAX_PENDING_MAX)
        "; a value outside is taken as the nearest bound.",
        10, &smtpx_max_pending);
    prefs_register_uint_preference(m, "max_summary_recipients", "Recipients listed in a transaction's summary",
        "The summary of a transaction (in the frame that ends it) lists this many recipients "
        "with their replies; the counts always cover all of them, and every recipient stays in "
        "its RCPT command's frame. A mail to 100,000 recipients would otherwise put 100,000 "
        "items in one frame's tree. From 0 to " STR(SMTPX_MAX_SUMMARY_RCPTS_MAX)
        "; a value above is taken as the bound.",
        10, &smtpx_max_summary_rcpts);
}

void smtpx_register_ports(void)
{
    plugin_tcp = find_dissector("smtpx");
    plugin_tls = find_dissector("smtpx.tls");
    builtin_smtp = proto_smtp_builtin != proto_smtpx ? find_dissector("smtp") : NULL;
    front_tls = register_dissector("smtpx.front.tls", front_tls_dissect, proto_front);
    /* Decode As offers the plugin itself: -d tcp.port==N,smtpx.  The ports
     * get their handles when a dissection session starts (apply_ports). */
    dissector_add_for_decode_as("tcp.port", plugin_tcp);
    ssl_dissector_add(SMTPX_TLS_PORT, front_tls);
}
