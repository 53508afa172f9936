/* smtpx_compat.h: the few epan differences between Wireshark 4.0 and 4.6,
 * mapped so that the rest of the glue is version-free.
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef SMTPX_COMPAT_H
#define SMTPX_COMPAT_H

#include <wireshark.h>
#include <stdbool.h>

#define SMTPX_WS_AT_LEAST(maj, min) \
    (WIRESHARK_VERSION_MAJOR > (maj) || \
     (WIRESHARK_VERSION_MAJOR == (maj) && WIRESHARK_VERSION_MINOR >= (min)))

/* Boolean preferences take bool * from 4.4, gboolean * before. */
#if SMTPX_WS_AT_LEAST(4, 4)
typedef bool smtpx_pref_bool;
#else
typedef gboolean smtpx_pref_bool;
#endif

/* A label (item_label_t) says where its value starts from 4.6 (custom
 * columns show that part); labels written by the plugin say it too. */
#define SMTPX_ITEM_LABEL_VALUE_POS SMTPX_WS_AT_LEAST(4, 6)

#endif /* SMTPX_COMPAT_H */
