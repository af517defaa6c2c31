/* SPDX-License-Identifier: GPL-2.0-or-later
 *
 * libnm-vpn-plugin-sstp-rs.so: the GTK-free NMVpnEditorPlugin for sstp-rs.
 *
 * nmcli loads it for `connection import/export`; nm-connection-editor (GTK3) and
 * GNOME Settings (GTK4) load it and ask it for an editor, which it takes from
 * libnm-vpn-plugin-sstp-rs-editor.so or libnm-gtk4-vpn-plugin-sstp-rs-editor.so next to
 * itself, chosen by whether GTK3 is mapped into the process.
 *
 * Import reads a Windows phonebook (.pbk) entry of type SSTP or our own export format:
 *
 *     # sstp-rs VPN connection
 *     [sstp-rs]
 *     name=Office VPN
 *
 *     [vpn-data]
 *     gateway=vpn.example.com
 *     ...
 *
 * Export writes that format. Secrets are never written: only their *-flags.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <gmodule.h>
#include <string.h>

#include "sstp-rs.h"

#define EXPORT_GROUP "sstp-rs"
/* The error codes other VPN plugins use for import (libnm has no dedicated ones). */
#define ERR NM_CONNECTION_ERROR
#define ERR_NOT_MINE NM_CONNECTION_ERROR_INVALID_SETTING /* not our format: hosts try others */
#define ERR_INVALID NM_CONNECTION_ERROR_INVALID_PROPERTY /* ours, but unusable */
#define ERR_FAILED NM_CONNECTION_ERROR_FAILED
#define EXPORT_DATA_GROUP "vpn-data"

/* ------------------------------------------------------------------ plugin type */

enum { PROP_0, PROP_NAME, PROP_DESC, PROP_SERVICE };

typedef struct {
    GObject parent;
} SstpRsEditorPlugin;

typedef struct {
    GObjectClass parent;
} SstpRsEditorPluginClass;

GType sstp_rs_editor_plugin_get_type(void);
static void sstp_rs_editor_plugin_interface_init(NMVpnEditorPluginInterface *iface);

G_DEFINE_TYPE_WITH_CODE(SstpRsEditorPlugin,
                        sstp_rs_editor_plugin,
                        G_TYPE_OBJECT,
                        G_IMPLEMENT_INTERFACE(NM_TYPE_VPN_EDITOR_PLUGIN,
                                              sstp_rs_editor_plugin_interface_init))

/* ------------------------------------------------------------------ import */

/* VpnStrategy (RASENTRY dwVpnStrategy / MS-RRASM 2.2.2.2.11): the entries that use SSTP,
 * alone or as one of the protocols tried. */
static gboolean
is_sstp_strategy(const char *v)
{
    static const char *const sstp[] = {
        "5",  /* SSTP only */
        "6",  /* SSTP first */
        "12", /* PPTP, then SSTP */
        "13", /* L2TP, then SSTP */
        "14", /* IKEv2, then SSTP */
    };
    for (gsize i = 0; v && i < G_N_ELEMENTS(sstp); i++)
        if (strcmp(v, sstp[i]) == 0)
            return TRUE;
    return FALSE;
}

static const char *
strategy_name(const char *v)
{
    static const struct {
        const char *num, *name;
    } names[] = {
        {"0", "automatic"}, {"1", "PPTP"},        {"2", "PPTP first"}, {"3", "L2TP"},
        {"4", "L2TP first"}, {"7", "IKEv2"},      {"8", "IKEv2 first"}, {"9", "GRE"},
        {"15", "protocol list"},
    };
    for (gsize i = 0; i < G_N_ELEMENTS(names); i++)
        if (v && strcmp(v, names[i].num) == 0)
            return names[i].name;
    return "unknown";
}

/* Text of a file as UTF-8: phonebooks may be UTF-16LE (with BOM) or carry a UTF-8 BOM. */
static char *
read_text(const char *path, GError **error)
{
    char *raw = NULL;
    gsize len = 0;
    if (!g_file_get_contents(path, &raw, &len, error))
        return NULL;
    if (len >= 2 && (guchar) raw[0] == 0xff && (guchar) raw[1] == 0xfe) {
        char *u = g_convert(raw + 2, len - 2, "UTF-8", "UTF-16LE", NULL, NULL, NULL);
        g_free(raw);
        if (!u)
            g_set_error(error, ERR,
                        ERR_INVALID,
                        "%s: not valid UTF-16 text",
                        path);
        return u;
    }
    if (len >= 3 && (guchar) raw[0] == 0xef && (guchar) raw[1] == 0xbb && (guchar) raw[2] == 0xbf)
        memmove(raw, raw + 3, len - 2);
    if (!g_utf8_validate(raw, -1, NULL)) {
        g_free(raw);
        g_set_error(error, ERR,
                    ERR_NOT_MINE,
                    "%s: not a text file",
                    path);
        return NULL;
    }
    return raw;
}

static NMConnection *
new_connection(const char *id, NMSettingVpn **s_vpn_out)
{
    NMConnection *c = nm_simple_connection_new();
    NMSetting *s_con = nm_setting_connection_new();
    NMSetting *s_vpn = nm_setting_vpn_new();
    char *uuid = nm_utils_uuid_generate();

    g_object_set(s_con,
                 NM_SETTING_CONNECTION_ID,
                 id,
                 NM_SETTING_CONNECTION_UUID,
                 uuid,
                 NM_SETTING_CONNECTION_TYPE,
                 NM_SETTING_VPN_SETTING_NAME,
                 NULL);
    g_object_set(s_vpn, NM_SETTING_VPN_SERVICE_TYPE, SSTP_RS_SERVICE, NULL);
    nm_connection_add_setting(c, s_con);
    nm_connection_add_setting(c, s_vpn);
    g_free(uuid);
    *s_vpn_out = NM_SETTING_VPN(s_vpn);
    return c;
}

/* One phonebook entry: its name and its key=value lines (first value of a key wins). */
typedef struct {
    char *name;
    GHashTable *kv;
} PbkEntry;

static void
pbk_entry_free(gpointer p)
{
    PbkEntry *e = p;
    g_free(e->name);
    g_hash_table_unref(e->kv);
    g_free(e);
}

static NMConnection *
import_pbk(const char *path, const char *text, GError **error)
{
    g_autoptr(GPtrArray) entries = g_ptr_array_new_with_free_func(pbk_entry_free);
    g_auto(GStrv) lines = g_strsplit(text, "\n", -1);
    PbkEntry *cur = NULL;

    for (char **l = lines; *l; l++) {
        char *line = g_strstrip(*l);
        if (!*line || *line == ';' || *line == '#')
            continue;
        if (*line == '[') {
            char *end = strrchr(line, ']');
            if (!end)
                goto not_pbk;
            *end = '\0';
            cur = g_new0(PbkEntry, 1);
            cur->name = g_strdup(line + 1);
            cur->kv = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
            g_ptr_array_add(entries, cur);
            continue;
        }
        char *eq = strchr(line, '=');
        if (!eq || !cur)
            goto not_pbk;
        *eq = '\0';
        char *k = g_strstrip(line), *v = g_strstrip(eq + 1);
        if (!g_hash_table_contains(cur->kv, k))
            g_hash_table_insert(cur->kv, g_strdup(k), g_strdup(v));
    }

    PbkEntry *first_vpn = NULL;
    for (guint i = 0; i < entries->len; i++) {
        PbkEntry *e = entries->pdata[i];
        const char *strategy = g_hash_table_lookup(e->kv, "VpnStrategy");
        if (!g_hash_table_contains(e->kv, "PhoneNumber") && !strategy)
            continue;
        if (!first_vpn)
            first_vpn = e;
        if (!is_sstp_strategy(strategy))
            continue;

        const char *gw = g_hash_table_lookup(e->kv, "PhoneNumber");
        if (!gw || !*gw) {
            g_set_error(error, ERR,
                        ERR_INVALID,
                        "%s: SSTP entry '%s' has no PhoneNumber (server address)",
                        path,
                        e->name);
            return NULL;
        }
        NMSettingVpn *s_vpn;
        NMConnection *c = new_connection(e->name, &s_vpn);
        nm_setting_vpn_add_data_item(s_vpn, "gateway", gw);
        nm_setting_vpn_add_data_item(s_vpn, "connection-type", "password");
        /* Windows asks for the password at connect time; so do we by default. */
        nm_setting_set_secret_flags(NM_SETTING(s_vpn),
                                    "password",
                                    NM_SETTING_SECRET_FLAG_AGENT_OWNED,
                                    NULL);
        return c;
    }
    if (first_vpn) {
        const char *strategy = g_hash_table_lookup(first_vpn->kv, "VpnStrategy");
        g_set_error(error, ERR,
                    ERR_INVALID,
                    "%s: '%s' is not an SSTP entry (VpnStrategy=%s, %s)",
                    path,
                    first_vpn->name,
                    strategy ? strategy : "unset",
                    strategy ? strategy_name(strategy) : "automatic");
        return NULL;
    }
not_pbk:
    g_set_error(error, ERR,
                ERR_NOT_MINE,
                "%s: neither a Windows phonebook (.pbk) nor an sstp-rs export",
                path);
    return NULL;
}

static NMConnection *
import_export_format(const char *path, GKeyFile *kf, GError **error)
{
    g_autofree char *name = g_key_file_get_string(kf, EXPORT_GROUP, "name", NULL);
    g_auto(GStrv) keys = g_key_file_get_keys(kf, EXPORT_DATA_GROUP, NULL, NULL);
    NMSettingVpn *s_vpn;

    if (!keys) {
        g_set_error(error, ERR,
                    ERR_INVALID,
                    "%s: no [" EXPORT_DATA_GROUP "] group",
                    path);
        return NULL;
    }
    NMConnection *c = new_connection(name && *name ? name : "SSTP VPN", &s_vpn);
    for (char **k = keys; *k; k++) {
        g_autofree char *v = g_key_file_get_string(kf, EXPORT_DATA_GROUP, *k, NULL);
        if (v && *v)
            nm_setting_vpn_add_data_item(s_vpn, *k, v);
    }
    if (!nm_setting_vpn_get_data_item(s_vpn, "gateway")) {
        g_object_unref(c);
        g_set_error(error, ERR,
                    ERR_INVALID,
                    "%s: no gateway in [" EXPORT_DATA_GROUP "]",
                    path);
        return NULL;
    }
    return c;
}

static NMConnection *
import_from_file(NMVpnEditorPlugin *plugin, const char *path, GError **error)
{
    g_autofree char *text = read_text(path, error);
    g_autoptr(GKeyFile) kf = g_key_file_new();

    (void) plugin;
    if (!text)
        return NULL;
    if (g_key_file_load_from_data(kf, text, -1, G_KEY_FILE_NONE, NULL)
        && g_key_file_has_group(kf, EXPORT_GROUP))
        return import_export_format(path, kf, error);
    return import_pbk(path, text, error);
}

/* ------------------------------------------------------------------ export */

static int
cmp_str(gconstpointer a, gconstpointer b)
{
    return strcmp(*(char *const *) a, *(char *const *) b);
}

static gboolean
export_to_file(NMVpnEditorPlugin *plugin, const char *path, NMConnection *connection, GError **error)
{
    NMSettingVpn *s_vpn = nm_connection_get_setting_vpn(connection);
    g_autoptr(GKeyFile) kf = g_key_file_new();
    guint n = 0;

    (void) plugin;
    if (!s_vpn) {
        g_set_error(error, ERR,
                    ERR_INVALID,
                    "not a VPN connection");
        return FALSE;
    }
    g_key_file_set_comment(kf, NULL, NULL, " sstp-rs VPN connection (no secrets)", NULL);
    g_key_file_set_string(kf, EXPORT_GROUP, "name", nm_connection_get_id(connection) ?: "");
    g_autofree const char **keys = nm_setting_vpn_get_data_keys(s_vpn, &n);
    if (keys)
        qsort(keys, n, sizeof *keys, cmp_str);
    for (guint i = 0; i < n; i++)
        g_key_file_set_string(kf, EXPORT_DATA_GROUP, keys[i],
                              nm_setting_vpn_get_data_item(s_vpn, keys[i]));
    if (n == 0)
        g_key_file_set_comment(kf, NULL, NULL, " (no data)", NULL);
    return g_key_file_save_to_file(kf, path, error);
}

static char *
get_suggested_filename(NMVpnEditorPlugin *plugin, NMConnection *connection)
{
    const char *id = nm_connection_get_id(connection);
    char *name = g_strdup_printf("%s.sstp", id && *id ? id : "sstp-vpn");

    (void) plugin;
    for (char *p = name; *p; p++)
        if (*p == '/' || g_ascii_isspace(*p))
            *p = '_';
    return name;
}

/* ------------------------------------------------------------------ editor loading */

static NMVpnEditor *
get_editor(NMVpnEditorPlugin *plugin, NMConnection *connection, GError **error)
{
    gpointer gtk3_only = NULL;
    Dl_info info;
    static void *lib; /* loaded once per process and never unloaded, like the hosts do */
    SstpRsEditorFactory factory;

    /* gtk_container_add exists in GTK3 only: the host is nm-connection-editor or the like. */
    {
        GModule *self = g_module_open(NULL, 0);
        g_module_symbol(self, "gtk_container_add", &gtk3_only);
        g_module_close(self);
    }
    const char *file = gtk3_only ? SSTP_RS_EDITOR_GTK3 : SSTP_RS_EDITOR_GTK4;

    if (!lib) {
        if (!dladdr((void *) get_editor, &info) || !info.dli_fname) {
            g_set_error(error, ERR, ERR_FAILED,
                        "cannot find the directory of the sstp-rs plugin");
            return NULL;
        }
        g_autofree char *dir = g_path_get_dirname(info.dli_fname);
        g_autofree char *path = g_build_filename(dir, file, NULL);
        lib = dlopen(path, RTLD_LAZY | RTLD_LOCAL);
        if (!lib) {
            g_set_error(error, ERR, ERR_FAILED,
                        "cannot load the sstp-rs editor: %s", dlerror());
            return NULL;
        }
    }
    factory = (SstpRsEditorFactory) dlsym(lib, SSTP_RS_EDITOR_FACTORY);
    if (!factory) {
        g_set_error(error, ERR, ERR_FAILED,
                    "%s has no %s", file, SSTP_RS_EDITOR_FACTORY);
        return NULL;
    }
    return factory(plugin, connection, error);
}

static NMVpnEditorPluginCapability
get_capabilities(NMVpnEditorPlugin *plugin)
{
    (void) plugin;
    return NM_VPN_EDITOR_PLUGIN_CAPABILITY_IMPORT | NM_VPN_EDITOR_PLUGIN_CAPABILITY_EXPORT;
}

/* ------------------------------------------------------------------ GObject glue */

static void
get_property(GObject *object, guint prop_id, GValue *value, GParamSpec *pspec)
{
    switch (prop_id) {
    case PROP_NAME:
        g_value_set_string(value, SSTP_RS_NAME);
        break;
    case PROP_DESC:
        g_value_set_string(value, SSTP_RS_DESCRIPTION);
        break;
    case PROP_SERVICE:
        g_value_set_string(value, SSTP_RS_SERVICE);
        break;
    default:
        G_OBJECT_WARN_INVALID_PROPERTY_ID(object, prop_id, pspec);
        break;
    }
}

static void
sstp_rs_editor_plugin_init(SstpRsEditorPlugin *plugin)
{
    (void) plugin;
}

static void
sstp_rs_editor_plugin_class_init(SstpRsEditorPluginClass *klass)
{
    GObjectClass *object_class = G_OBJECT_CLASS(klass);

    object_class->get_property = get_property;
    g_object_class_override_property(object_class, PROP_NAME, NM_VPN_EDITOR_PLUGIN_NAME);
    g_object_class_override_property(object_class, PROP_DESC, NM_VPN_EDITOR_PLUGIN_DESCRIPTION);
    g_object_class_override_property(object_class, PROP_SERVICE, NM_VPN_EDITOR_PLUGIN_SERVICE);
}

static void
sstp_rs_editor_plugin_interface_init(NMVpnEditorPluginInterface *iface)
{
    iface->get_editor = get_editor;
    iface->get_capabilities = get_capabilities;
    iface->import_from_file = import_from_file;
    iface->export_to_file = export_to_file;
    iface->get_suggested_filename = get_suggested_filename;
}

G_MODULE_EXPORT NMVpnEditorPlugin *
nm_vpn_editor_plugin_factory(GError **error)
{
    (void) error;
    return g_object_new(sstp_rs_editor_plugin_get_type(), NULL);
}
