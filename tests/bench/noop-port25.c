/* noop-port25.c: a dissector plugin that takes TCP port 25 and does nothing
 * with it (no column, no tree, no state): the floor the packet list of the
 * smtpx plugin is measured against (tests/bench/bench-tshark.py, "noop").
 * Built by the benchmark with the installed Wireshark's headers.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#define WS_BUILD_DLL
#include <epan/packet.h>
#include <epan/proto.h>
#include <ws_version.h>

WS_DLL_PUBLIC_DEF const gchar plugin_version[] = "0.0.0";
WS_DLL_PUBLIC_DEF const int plugin_want_major = WIRESHARK_VERSION_MAJOR;
WS_DLL_PUBLIC_DEF const int plugin_want_minor = WIRESHARK_VERSION_MINOR;

WS_DLL_PUBLIC void plugin_register(void);
WS_DLL_PUBLIC guint32 plugin_describe(void);

static int proto_noop = -1;

/* every byte taken, nothing done */
static int dissect_noop(tvbuff_t *tvb, packet_info *pinfo _U_, proto_tree *tree _U_, void *data _U_)
{
    return (int)tvb_captured_length(tvb);
}

static void register_noop(void)
{
    proto_noop = proto_register_protocol("Nothing on port 25 (benchmark floor)", "NOOP25", "noop25");
}

static void handoff_noop(void)
{
    dissector_add_uint("tcp.port", 25, create_dissector_handle(dissect_noop, proto_noop));
}

void plugin_register(void)
{
    static proto_plugin plug;

    plug.register_protoinfo = register_noop;
    plug.register_handoff = handoff_noop;
    proto_register_plugin(&plug);
}

/* looked up from Wireshark 4.4 on: a dissector plugin */
guint32 plugin_describe(void)
{
    return 1u << 0;
}
