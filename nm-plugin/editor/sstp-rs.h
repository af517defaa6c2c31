/* SPDX-License-Identifier: GPL-2.0-or-later
 * Shared between the GTK-free editor plugin (plugin.c) and the GTK3/GTK4 editor (editor.c). */
#ifndef SSTP_RS_H
#define SSTP_RS_H

#include <NetworkManager.h>

/* Must equal service= in nm-plugin/data/nm-sstp-service.name (libnm checks it). */
#define SSTP_RS_SERVICE "org.freedesktop.NetworkManager.sstp"
#define SSTP_RS_NAME "Secure Socket Tunneling Protocol (SSTP)"
#define SSTP_RS_DESCRIPTION "Compatible with Microsoft and other SSTP VPN servers (sstp-rs)."

/* The editor libraries, loaded from the directory of the shim. */
#define SSTP_RS_EDITOR_GTK3 "libnm-vpn-plugin-sstp-rs-editor.so"
#define SSTP_RS_EDITOR_GTK4 "libnm-gtk4-vpn-plugin-sstp-rs-editor.so"
#define SSTP_RS_EDITOR_FACTORY "nm_vpn_editor_factory_sstp_rs"

typedef NMVpnEditor *(*SstpRsEditorFactory)(NMVpnEditorPlugin *plugin,
                                            NMConnection *connection,
                                            GError **error);

NMVpnEditor *nm_vpn_editor_factory_sstp_rs(NMVpnEditorPlugin *plugin,
                                           NMConnection *connection,
                                           GError **error);

#endif
