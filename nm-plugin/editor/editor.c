/* SPDX-License-Identifier: GPL-2.0-or-later
 *
 * The sstp-rs connection editor: one source, built twice, for GTK3
 * (libnm-vpn-plugin-sstp-rs-editor.so, nm-connection-editor) and for GTK4
 * (libnm-gtk4-vpn-plugin-sstp-rs-editor.so, GNOME Settings). The form is built in code from
 * the FIELDS table below, which is also the single source of truth for loading, saving and
 * validating: every vpn.data / vpn.secrets key the editor handles is one row.
 *
 * Each input widget is named after its key (gtk_widget_set_name) and each field has an error
 * label named "<key>-error" right under it; tests find them by those names.
 */
#include <errno.h>
#include <gtk/gtk.h>
#include <libnma/nma-ui-utils.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sstp-rs.h"

#if GTK_CHECK_VERSION(4, 0, 0)
/* A GType name of its own per GTK build. */
#define SstpRsEditor SstpRsEditorGtk4
#define SstpRsEditorClass SstpRsEditorGtk4Class
#define entry_get_text(w) gtk_editable_get_text(GTK_EDITABLE(w))
#define entry_set_text(w, t) gtk_editable_set_text(GTK_EDITABLE(w), (t))
#define check_get(w) gtk_check_button_get_active(GTK_CHECK_BUTTON(w))
#define check_set(w, v) gtk_check_button_set_active(GTK_CHECK_BUTTON(w), (v))
#define box_append(b, c) gtk_box_append(GTK_BOX(b), (c))
#define box_append_expand(b, c) gtk_box_append(GTK_BOX(b), (c)) /* hexpand does it */
#define expander_set_child(e, c) gtk_expander_set_child(GTK_EXPANDER(e), (c))
#define add_css_class(w, c) gtk_widget_add_css_class((w), (c))
#define label_set_wrap(l) gtk_label_set_wrap(GTK_LABEL(l), TRUE)
#define remove_css_class(w, c) gtk_widget_remove_css_class((w), (c))
#else
#define SstpRsEditor SstpRsEditorGtk3
#define SstpRsEditorClass SstpRsEditorGtk3Class
#define entry_get_text(w) gtk_entry_get_text(GTK_ENTRY(w))
#define entry_set_text(w, t) gtk_entry_set_text(GTK_ENTRY(w), (t))
#define check_get(w) gtk_toggle_button_get_active(GTK_TOGGLE_BUTTON(w))
#define check_set(w, v) gtk_toggle_button_set_active(GTK_TOGGLE_BUTTON(w), (v))
#define box_append(b, c) gtk_box_pack_start(GTK_BOX(b), (c), FALSE, FALSE, 0)
#define box_append_expand(b, c) gtk_box_pack_start(GTK_BOX(b), (c), TRUE, TRUE, 0)
#define expander_set_child(e, c) gtk_container_add(GTK_CONTAINER(e), (c))
#define label_set_wrap(l) gtk_label_set_line_wrap(GTK_LABEL(l), TRUE)
#define add_css_class(w, c) gtk_style_context_add_class(gtk_widget_get_style_context(w), (c))
#define remove_css_class(w, c) gtk_style_context_remove_class(gtk_widget_get_style_context(w), (c))
#endif

/* ------------------------------------------------------------------ the form */

typedef enum {
    K_TEXT,     /* free text */
    K_PASSWORD, /* a secret with the libnma storage menu (this user / all users / ask / none) */
    K_CHECK,    /* yes when checked, key removed when not */
    K_REFUSE,   /* "Allow X": unchecked writes refuse-x=yes */
    K_CHOICE,   /* a combo box; ids in choices[] (even: id, odd: label) */
} Kind;

typedef enum {
    V_NONE,
    V_GATEWAY, /* required, host[:port] */
    V_HOST,    /* optional host name, no port */
    V_PORT,    /* optional 1..65535 */
    V_FILE,    /* optional readable file */
    V_MTU,     /* optional 576..65535 */
    V_SHA256,  /* optional 64 hex digits, ':' allowed */
} Check;

typedef enum { P_GENERAL, P_TLS_LOGIN, P_ADVANCED } Page;

typedef struct {
    const char *key;
    const char *label;
    Kind kind;
    Check check;
    Page page;
    const char *const *choices;
    const char *tooltip;
} Field;

static const char *const CONNECTION_TYPES[] = {
    "password", "Password", "tls", "Certificate (EAP-TLS)", NULL,
};
static const char *const TLS_VERSIONS[] = {
    "", "Default", "1.2", "TLS 1.2", "1.3", "TLS 1.3", NULL,
};

static const Field FIELDS[] = {
    {"gateway", "_Gateway:", K_TEXT, V_GATEWAY, P_GENERAL, NULL,
     "SSTP server: host, host:port or [IPv6]:port (port 443 by default)"},
    {"connection-type", "_Login with:", K_CHOICE, V_NONE, P_GENERAL, CONNECTION_TYPES,
     "Certificate (EAP-TLS) logins need pppd >= 2.5; the service refuses them for now"},
    {"user", "_User name:", K_TEXT, V_NONE, P_GENERAL, NULL, NULL},
    {"password", "_Password:", K_PASSWORD, V_NONE, P_GENERAL, NULL, NULL},
    {"domain", "_NT domain:", K_TEXT, V_NONE, P_GENERAL, NULL,
     "Optional: the user name becomes DOMAIN\\user"},

    {"tls-user-cert", "User _certificate:", K_TEXT, V_FILE, P_TLS_LOGIN, NULL, "PEM file"},
    {"tls-user-key", "Private _key:", K_TEXT, V_FILE, P_TLS_LOGIN, NULL, "PEM file"},
    {"tls-user-key-secret", "Key pass_word:", K_PASSWORD, V_NONE, P_TLS_LOGIN, NULL, NULL},
    {"tls-ca-cert", "CA for EAP-_TLS:", K_TEXT, V_FILE, P_TLS_LOGIN, NULL, "PEM file"},
    {"tls-identity", "_Identity:", K_TEXT, V_NONE, P_TLS_LOGIN, NULL, NULL},

    {"ca-cert", "_CA certificate:", K_TEXT, V_FILE, P_ADVANCED, NULL,
     "PEM file; empty: the system's trusted CAs"},
    {"ignore-cert-warn", "_Ignore certificate warnings", K_CHECK, V_NONE, P_ADVANCED, NULL,
     "Do not verify the server certificate (insecure)"},
    {"cert-sha256", "Server certificate _SHA-256:", K_TEXT, V_SHA256, P_ADVANCED, NULL,
     "Optional pin of the server certificate (64 hex digits)"},
    {"outer-tls-min-version", "TLS mi_nimum version:", K_CHOICE, V_NONE, P_ADVANCED, TLS_VERSIONS, NULL},
    {"outer-tls-max-version", "TLS ma_ximum version:", K_CHOICE, V_NONE, P_ADVANCED, TLS_VERSIONS, NULL},
    {"outer-tls-ciphers", "TLS ciphers:", K_TEXT, V_NONE, P_ADVANCED, NULL,
     "OpenSSL cipher list for TLS 1.2 and/or TLS_... suites for 1.3; empty: OpenSSL's defaults"},
    {"proxy-server", "HTTP p_roxy:", K_TEXT, V_HOST, P_ADVANCED, NULL, "Proxy host name or address"},
    {"proxy-port", "Proxy p_ort:", K_TEXT, V_PORT, P_ADVANCED, NULL, "1-65535 (default 8080)"},
    {"proxy-user", "Proxy us_er:", K_TEXT, V_NONE, P_ADVANCED, NULL, NULL},
    {"proxy-password", "Proxy pass_word:", K_PASSWORD, V_NONE, P_ADVANCED, NULL, NULL},
    {"refuse-pap", "Allow _PAP", K_REFUSE, V_NONE, P_ADVANCED, NULL, NULL},
    {"refuse-chap", "Allow C_HAP", K_REFUSE, V_NONE, P_ADVANCED, NULL, NULL},
    {"refuse-mschap", "Allow _MSCHAP", K_REFUSE, V_NONE, P_ADVANCED, NULL, NULL},
    {"refuse-mschapv2", "Allow MSCHAP_v2", K_REFUSE, V_NONE, P_ADVANCED, NULL, NULL},
    {"refuse-eap", "Allow _EAP", K_REFUSE, V_NONE, P_ADVANCED, NULL, NULL},
    {"mtu", "_MTU:", K_TEXT, V_MTU, P_ADVANCED, NULL, "576-65535; empty: 1400"},
};
#define N_FIELDS G_N_ELEMENTS(FIELDS)

/* ------------------------------------------------------------------ the editor type */

typedef struct {
    GObject parent;
    GtkWidget *widget; /* owned (ref-sunk); handed out transfer-none */
    GtkWidget *inputs[N_FIELDS];
    GtkWidget *errors[N_FIELDS];
    GtkWidget *tls_box;
    GtkSizeGroup *labels; /* the label column of the three grids lines up */
    GtkWidget *auth_row;
    char *messages[N_FIELDS]; /* current validation message per field, NULL when valid */
} SstpRsEditor;

typedef struct {
    GObjectClass parent;
} SstpRsEditorClass;

static GType sstp_rs_editor_get_type(void);
static void sstp_rs_editor_interface_init(NMVpnEditorInterface *iface);

G_DEFINE_TYPE_EXTENDED(SstpRsEditor,
                       sstp_rs_editor,
                       G_TYPE_OBJECT,
                       0,
                       G_IMPLEMENT_INTERFACE(NM_TYPE_VPN_EDITOR, sstp_rs_editor_interface_init))

/* ------------------------------------------------------------------ validation */

static gboolean
parse_uint(const char *s, guint64 min, guint64 max)
{
    guint64 v;
    return g_ascii_string_to_unsigned(s, 10, min, max, &v, NULL);
}

static gboolean
valid_host(const char *h)
{
    if (!*h)
        return FALSE;
    for (const char *p = h; *p; p++)
        if (g_ascii_isspace(*p) || *p == '/' || *p == '@' || *p == '[' || *p == ']')
            return FALSE;
    return TRUE;
}

/* NULL when valid, else a message (static or g_strdup'ed into *owned). */
static const char *
check_value(Check check, const char *v, char **owned)
{
    switch (check) {
    case V_NONE:
        return NULL;
    case V_GATEWAY: {
        if (!*v)
            return "a gateway is required";
        const char *port = NULL;
        g_autofree char *host = NULL;
        if (*v == '[') {
            const char *end = strchr(v, ']');
            if (!end || end == v + 1)
                return "write an IPv6 address as [address] or [address]:port";
            host = g_strndup(v + 1, end - v - 1);
            if (end[1] == ':')
                port = end + 2;
            else if (end[1])
                return "write an IPv6 address as [address] or [address]:port";
            if (!g_hostname_is_ip_address(host))
                return "not an IPv6 address between [ ]";
        } else if (strchr(v, ':') && strchr(v, ':') != strrchr(v, ':')) {
            if (!g_hostname_is_ip_address(v))
                return "not a host name or address";
        } else {
            const char *colon = strchr(v, ':');
            host = colon ? g_strndup(v, colon - v) : g_strdup(v);
            if (colon)
                port = colon + 1;
            if (!valid_host(host))
                return "not a host name or address";
        }
        if (port && !parse_uint(port, 1, 65535))
            return "the port must be a number from 1 to 65535";
        return NULL;
    }
    case V_HOST:
        if (*v && !valid_host(v))
            return "not a host name or address";
        if (*v && strchr(v, ':') && !g_hostname_is_ip_address(v))
            return "give the port in the port field";
        return NULL;
    case V_PORT:
        if (*v && !parse_uint(v, 1, 65535))
            return "the port must be a number from 1 to 65535";
        return NULL;
    case V_MTU:
        if (*v && !parse_uint(v, 576, 65535))
            return "the MTU must be a number from 576 to 65535";
        return NULL;
    case V_SHA256: {
        guint n = 0;
        for (const char *p = v; *p; p++) {
            if (g_ascii_isxdigit(*p))
                n++;
            else if (*p != ':')
                return "64 hexadecimal digits (':' allowed)";
        }
        if (*v && n != 64)
            return "64 hexadecimal digits (':' allowed)";
        return NULL;
    }
    case V_FILE:
        if (!*v)
            return NULL;
        if (access(v, R_OK) != 0) {
            *owned = g_strdup_printf("cannot read this file: %s", g_strerror(errno));
            return *owned;
        }
        if (g_file_test(v, G_FILE_TEST_IS_DIR))
            return "this is a directory, not a file";
        return NULL;
    }
    return NULL;
}

static const char *
field_text(SstpRsEditor *self, guint i)
{
    return entry_get_text(self->inputs[i]);
}

/* Re-check every field; show each message next to its field. TRUE when all are valid. */
static gboolean
validate_all(SstpRsEditor *self)
{
    gboolean ok = TRUE;

    for (guint i = 0; i < N_FIELDS; i++) {
        char *owned = NULL;
        const char *msg = NULL;
        if (FIELDS[i].kind == K_TEXT) {
            g_autofree char *v = g_strstrip(g_strdup(field_text(self, i)));
            msg = check_value(FIELDS[i].check, v, &owned);
        }
        g_free(self->messages[i]);
        self->messages[i] = msg ? g_strdup(msg) : NULL;
        g_free(owned);
        if (!self->errors[i])
            continue;
        gtk_label_set_text(GTK_LABEL(self->errors[i]), self->messages[i] ? self->messages[i] : "");
        gtk_widget_set_visible(self->errors[i], self->messages[i] != NULL);
        if (self->messages[i]) {
            add_css_class(self->inputs[i], "error");
            ok = FALSE;
        } else {
            remove_css_class(self->inputs[i], "error");
        }
    }
    return ok;
}

static void
update_sensitivity(SstpRsEditor *self)
{
    for (guint i = 0; i < N_FIELDS; i++) {
        if (strcmp(FIELDS[i].key, "connection-type") == 0) {
            const char *id = gtk_combo_box_get_active_id(GTK_COMBO_BOX(self->inputs[i]));
            gtk_widget_set_sensitive(self->tls_box, id && strcmp(id, "tls") == 0);
        }
    }
}

static void
on_changed(GtkWidget *w, gpointer user_data)
{
    SstpRsEditor *self = user_data;
    (void) w;
    update_sensitivity(self);
    validate_all(self);
    g_signal_emit_by_name(self, "changed");
}

/* ------------------------------------------------------------------ building */

static GtkWidget *
new_grid(void)
{
    GtkWidget *grid = gtk_grid_new();
    gtk_grid_set_row_spacing(GTK_GRID(grid), 6);
    gtk_grid_set_column_spacing(GTK_GRID(grid), 12);
    return grid;
}

static GtkWidget *
new_label(const char *text, float xalign)
{
    GtkWidget *l = gtk_label_new_with_mnemonic(text);
    gtk_label_set_xalign(GTK_LABEL(l), xalign);
    return l;
}

/* "…" next to a certificate field: a file chooser (a portal's where there is one). */
static void
on_browse_response(GtkNativeDialog *native, int response, gpointer user_data)
{
    GtkWidget *entry = user_data;

    if (response == GTK_RESPONSE_ACCEPT) {
        g_autoptr(GFile) file = gtk_file_chooser_get_file(GTK_FILE_CHOOSER(native));
        g_autofree char *path = file ? g_file_get_path(file) : NULL;
        if (path)
            entry_set_text(entry, path);
    }
    gtk_native_dialog_destroy(native);
    g_object_unref(native);
}

static void
on_browse(GtkButton *button, gpointer user_data)
{
    GtkWidget *entry = user_data;
#if GTK_CHECK_VERSION(4, 0, 0)
    GtkRoot *root = gtk_widget_get_root(GTK_WIDGET(button));
    GtkWindow *parent = GTK_IS_WINDOW(root) ? GTK_WINDOW(root) : NULL;
#else
    GtkWidget *top = gtk_widget_get_toplevel(GTK_WIDGET(button));
    GtkWindow *parent = GTK_IS_WINDOW(top) ? GTK_WINDOW(top) : NULL;
#endif
    GtkFileChooserNative *native = gtk_file_chooser_native_new("Choose a certificate or key file",
                                                               parent,
                                                               GTK_FILE_CHOOSER_ACTION_OPEN,
                                                               "_Open",
                                                               "_Cancel");
    const char *cur = entry_get_text(entry);

    gtk_native_dialog_set_modal(GTK_NATIVE_DIALOG(native), TRUE);
    if (cur && *cur) {
        g_autoptr(GFile) file = g_file_new_for_path(cur);
        gtk_file_chooser_set_file(GTK_FILE_CHOOSER(native), file, NULL);
    }
    g_signal_connect(native, "response", G_CALLBACK(on_browse_response), entry);
    gtk_native_dialog_show(GTK_NATIVE_DIALOG(native));
}

static void
add_field(SstpRsEditor *self, GtkWidget *grid, int *row, guint i, NMSettingVpn *s_vpn)
{
    const Field *f = &FIELDS[i];
    const char *value = s_vpn ? nm_setting_vpn_get_data_item(s_vpn, f->key) : NULL;
    GtkWidget *w = NULL;
    GtkWidget *label = NULL;

    switch (f->kind) {
    case K_TEXT:
    case K_PASSWORD:
        w = gtk_entry_new();
        gtk_widget_set_hexpand(w, TRUE);
        label = new_label(f->label, 0.0);
        if (f->kind == K_PASSWORD) {
            const char *secret = s_vpn ? nm_setting_vpn_get_secret(s_vpn, f->key) : NULL;
            gtk_entry_set_visibility(GTK_ENTRY(w), FALSE);
            entry_set_text(w, secret ? secret : "");
            nma_utils_setup_password_storage(w, 0, s_vpn ? NM_SETTING(s_vpn) : NULL, f->key,
                                             TRUE, FALSE);
        } else {
            entry_set_text(w, value ? value : "");
        }
        g_signal_connect_object(w, "changed", G_CALLBACK(on_changed), self, 0);
        break;
    case K_CHECK:
    case K_REFUSE: {
        gboolean yes = value && (g_ascii_strcasecmp(value, "yes") == 0
                                 || g_ascii_strcasecmp(value, "true") == 0
                                 || strcmp(value, "1") == 0
                                 || g_ascii_strcasecmp(value, "on") == 0);
        w = gtk_check_button_new_with_mnemonic(f->label);
        check_set(w, f->kind == K_CHECK ? yes : !yes);
        g_signal_connect_object(w, "toggled", G_CALLBACK(on_changed), self, 0);
        break;
    }
    case K_CHOICE:
        w = gtk_combo_box_text_new();
        label = new_label(f->label, 0.0);
        for (const char *const *c = f->choices; *c; c += 2)
            gtk_combo_box_text_append(GTK_COMBO_BOX_TEXT(w), c[0], c[1]);
        if (!value || !gtk_combo_box_set_active_id(GTK_COMBO_BOX(w), value))
            gtk_combo_box_set_active(GTK_COMBO_BOX(w), 0);
        g_signal_connect_object(w, "changed", G_CALLBACK(on_changed), self, 0);
        break;
    }
    gtk_widget_set_name(w, f->key);
    if (f->tooltip)
        gtk_widget_set_tooltip_text(w, f->tooltip);
    if (label) {
        GtkWidget *cell = w;
        if (f->check == V_FILE) {
            /* the entry and a browse button side by side in the field's cell */
            g_autofree char *name = g_strconcat(f->key, "-browse", NULL);
            GtkWidget *browse = gtk_button_new_with_label("…");
            gtk_widget_set_name(browse, name);
            gtk_widget_set_tooltip_text(browse, "Choose a file");
            g_signal_connect(browse, "clicked", G_CALLBACK(on_browse), w);
            cell = gtk_box_new(GTK_ORIENTATION_HORIZONTAL, 6);
            box_append_expand(cell, w);
            box_append(cell, browse);
        }
        gtk_label_set_mnemonic_widget(GTK_LABEL(label), w);
        gtk_grid_attach(GTK_GRID(grid), label, 0, *row, 1, 1);
        gtk_grid_attach(GTK_GRID(grid), cell, 1, *row, 1, 1);
    } else if (f->kind == K_REFUSE) {
        /* "Authentication:" and the Allow-X boxes side by side on one row */
        if (i == 0 || FIELDS[i - 1].kind != K_REFUSE) {
            GtkWidget *l = new_label("Authentication:", 0.0);
            gtk_size_group_add_widget(self->labels, l);
            gtk_grid_attach(GTK_GRID(grid), l, 0, *row, 1, 1);
            self->auth_row = gtk_box_new(GTK_ORIENTATION_HORIZONTAL, 12);
            gtk_widget_set_name(self->auth_row, "auth-methods");
            gtk_grid_attach(GTK_GRID(grid), self->auth_row, 1, *row, 1, 1);
        } else {
            (*row)--;
        }
        box_append(self->auth_row, w);
    } else {
        gtk_grid_attach(GTK_GRID(grid), w, 1, *row, 1, 1);
    }
    if (label)
        gtk_size_group_add_widget(self->labels, label);
    self->inputs[i] = w;
    if (f->check != V_NONE) {
        g_autofree char *name = g_strconcat(f->key, "-error", NULL);
        GtkWidget *err = new_label("", 0.0);
        gtk_widget_set_name(err, name);
        add_css_class(err, "error");
        label_set_wrap(err);
#if !GTK_CHECK_VERSION(4, 0, 0)
        gtk_widget_set_no_show_all(err, TRUE); /* hosts may show_all() the page */
#endif
        /* right under the field; the row takes no space while the label is hidden */
        (*row)++;
        gtk_grid_attach(GTK_GRID(grid), err, 1, *row, 1, 1);
        self->errors[i] = err;
    }
    (*row)++;
}

static GtkWidget *
build_page(SstpRsEditor *self, Page page, NMSettingVpn *s_vpn)
{
    GtkWidget *grid = new_grid();
    int row = 0;
    for (guint i = 0; i < N_FIELDS; i++)
        if (FIELDS[i].page == page)
            add_field(self, grid, &row, i, s_vpn);
    return grid;
}

static gboolean
has_advanced_values(NMSettingVpn *s_vpn)
{
    if (!s_vpn)
        return FALSE;
    for (guint i = 0; i < N_FIELDS; i++)
        if (FIELDS[i].page == P_ADVANCED && nm_setting_vpn_get_data_item(s_vpn, FIELDS[i].key))
            return TRUE;
    return FALSE;
}

static void
build(SstpRsEditor *self, NMConnection *connection)
{
    NMSettingVpn *s_vpn = connection ? nm_connection_get_setting_vpn(connection) : NULL;
    GtkWidget *box = gtk_box_new(GTK_ORIENTATION_VERTICAL, 12);
    GtkWidget *title;

    gtk_widget_set_name(box, "sstp-rs-editor");
    self->labels = gtk_size_group_new(GTK_SIZE_GROUP_HORIZONTAL);
#if GTK_CHECK_VERSION(4, 0, 0)
    gtk_widget_set_margin_start(box, 12);
    gtk_widget_set_margin_end(box, 12);
    gtk_widget_set_margin_top(box, 12);
    gtk_widget_set_margin_bottom(box, 12);
#else
    gtk_container_set_border_width(GTK_CONTAINER(box), 12);
#endif
    title = new_label("<b>General</b>", 0.0);
    gtk_label_set_use_markup(GTK_LABEL(title), TRUE);
    box_append(box, title);
    box_append(box, build_page(self, P_GENERAL, s_vpn));

    self->tls_box = gtk_box_new(GTK_ORIENTATION_VERTICAL, 6);
    title = new_label("<b>Certificate login (EAP-TLS)</b>", 0.0);
    gtk_label_set_use_markup(GTK_LABEL(title), TRUE);
    box_append(self->tls_box, title);
    box_append(self->tls_box, build_page(self, P_TLS_LOGIN, s_vpn));
    box_append(box, self->tls_box);

    GtkWidget *expander = gtk_expander_new_with_mnemonic("_Advanced");
    gtk_widget_set_name(expander, "advanced");
    gtk_expander_set_expanded(GTK_EXPANDER(expander),
                              has_advanced_values(s_vpn) || g_getenv("SSTP_RS_EDITOR_EXPAND"));
    expander_set_child(expander, build_page(self, P_ADVANCED, s_vpn));
    box_append(box, expander);

    self->widget = g_object_ref_sink(box);
#if !GTK_CHECK_VERSION(4, 0, 0)
    gtk_widget_show_all(box);
#endif
    update_sensitivity(self);
    validate_all(self);
}

/* ------------------------------------------------------------------ NMVpnEditor */

static GObject *
get_widget(NMVpnEditor *editor)
{
    return G_OBJECT(((SstpRsEditor *) editor)->widget);
}

static void
save_secret(SstpRsEditor *self, guint i, NMSettingVpn *s_vpn)
{
    const char *key = FIELDS[i].key;
    const char *secret = field_text(self, i);
    NMSettingSecretFlags flags = nma_utils_menu_to_secret_flags(self->inputs[i]);

    nm_setting_vpn_remove_secret(s_vpn, key);
    if (!(flags & (NM_SETTING_SECRET_FLAG_NOT_SAVED | NM_SETTING_SECRET_FLAG_NOT_REQUIRED))
        && secret && *secret)
        nm_setting_vpn_add_secret(s_vpn, key, secret);
    nm_setting_set_secret_flags(NM_SETTING(s_vpn), key, flags, NULL);
    nma_utils_update_password_storage(self->inputs[i], flags, NM_SETTING(s_vpn), key);
}

static gboolean
update_connection(NMVpnEditor *editor, NMConnection *connection, GError **error)
{
    SstpRsEditor *self = (SstpRsEditor *) editor;
    NMSettingVpn *s_vpn;

    if (!validate_all(self)) {
        for (guint i = 0; i < N_FIELDS; i++)
            if (self->messages[i]) {
                g_autofree char *label = g_strdup(FIELDS[i].label);
                char *w, *r;
                for (w = r = label; *r; r++) /* drop mnemonics and the trailing ':' */
                    if (*r != '_')
                        *w++ = *r;
                *w = '\0';
                if (w > label && w[-1] == ':')
                    w[-1] = '\0';
                g_set_error(error,
                            NM_CONNECTION_ERROR,
                            NM_CONNECTION_ERROR_INVALID_PROPERTY,
                            "%s: %s",
                            label,
                            self->messages[i]);
                return FALSE;
            }
    }

    s_vpn = nm_connection_get_setting_vpn(connection);
    if (!s_vpn) {
        s_vpn = NM_SETTING_VPN(nm_setting_vpn_new());
        nm_connection_add_setting(connection, NM_SETTING(s_vpn));
    }
    g_object_set(s_vpn, NM_SETTING_VPN_SERVICE_TYPE, SSTP_RS_SERVICE, NULL);

    /* Keys the form does not show (lcp-echo-*, require-mppe*, uuid, ...) are kept as they are. */
    for (guint i = 0; i < N_FIELDS; i++) {
        const Field *f = &FIELDS[i];
        GtkWidget *w = self->inputs[i];
        switch (f->kind) {
        case K_TEXT: {
            g_autofree char *v = g_strstrip(g_strdup(field_text(self, i)));
            if (*v)
                nm_setting_vpn_add_data_item(s_vpn, f->key, v);
            else
                nm_setting_vpn_remove_data_item(s_vpn, f->key);
            break;
        }
        case K_PASSWORD:
            save_secret(self, i, s_vpn);
            break;
        case K_CHECK:
        case K_REFUSE:
            if (check_get(w) == (f->kind == K_CHECK))
                nm_setting_vpn_add_data_item(s_vpn, f->key, "yes");
            else
                nm_setting_vpn_remove_data_item(s_vpn, f->key);
            break;
        case K_CHOICE: {
            const char *id = gtk_combo_box_get_active_id(GTK_COMBO_BOX(w));
            if (id && *id)
                nm_setting_vpn_add_data_item(s_vpn, f->key, id);
            else
                nm_setting_vpn_remove_data_item(s_vpn, f->key);
            break;
        }
        }
    }
    return TRUE;
}

static void
sstp_rs_editor_init(SstpRsEditor *self)
{
    (void) self;
}

static void
dispose(GObject *object)
{
    SstpRsEditor *self = (SstpRsEditor *) object;

    g_clear_object(&self->widget);
    g_clear_object(&self->labels);
    for (guint i = 0; i < N_FIELDS; i++)
        g_clear_pointer(&self->messages[i], g_free);
    G_OBJECT_CLASS(sstp_rs_editor_parent_class)->dispose(object);
}

static void
sstp_rs_editor_class_init(SstpRsEditorClass *klass)
{
    G_OBJECT_CLASS(klass)->dispose = dispose;
}

static void
sstp_rs_editor_interface_init(NMVpnEditorInterface *iface)
{
    iface->get_widget = get_widget;
    iface->update_connection = update_connection;
}

G_MODULE_EXPORT NMVpnEditor *
nm_vpn_editor_factory_sstp_rs(NMVpnEditorPlugin *plugin, NMConnection *connection, GError **error)
{
    SstpRsEditor *self;

    (void) plugin;
    (void) error;
    self = g_object_new(sstp_rs_editor_get_type(), NULL);
    build(self, connection);
    return NM_VPN_EDITOR(self);
}
