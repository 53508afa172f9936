/* plugin.c: the plugin's entry points.  SPDX-License-Identifier: GPL-2.0-or-later */
#include "smtpx_compat.h"
#include <epan/proto.h>

#include "smtpx.h"

#ifndef SMTPX_VERSION
#define SMTPX_VERSION "0.0.0"
#endif

WS_DLL_PUBLIC_DEF const gchar plugin_version[] = SMTPX_VERSION;
WS_DLL_PUBLIC_DEF const int plugin_want_major = WIRESHARK_VERSION_MAJOR;
WS_DLL_PUBLIC_DEF const int plugin_want_minor = WIRESHARK_VERSION_MINOR;

WS_DLL_PUBLIC void plugin_register(void);
WS_DLL_PUBLIC uint32_t plugin_describe(void);

void plugin_register(void)
{
    static proto_plugin plug;

    plug.register_protoinfo = proto_register_smtpx;
    plug.register_handoff = proto_reg_handoff_smtpx;
    proto_register_plugin(&plug);
}

/* Looked up from Wireshark 4.4 on: this is a dissector plugin (1 << 0). */
uint32_t plugin_describe(void)
{
    return 1u << 0;
}
