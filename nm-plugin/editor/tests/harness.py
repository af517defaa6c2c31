#!/usr/bin/python3
"""GTK3 / GTK4 harness for the sstp-rs editor plugin.

Loads the plugin the way nm-connection-editor and GNOME Settings do
(NM.VpnPluginInfo -> load_editor_plugin -> get_editor), shows the editor in a window under
Xvfb, drives every widget, and checks what update_connection writes. Prints one line per
check and exits non-zero when one fails.

usage: harness.py 3.0|4.0 NAME_FILE DATA_DIR OUT_DIR
"""
import os
import subprocess
import sys
import tempfile

import gi

GTK = sys.argv[1]
NAME_FILE, DATA_DIR, OUT_DIR = sys.argv[2:5]
gi.require_version("Gtk", GTK)
gi.require_version("NM", "1.0")
from gi.repository import GLib, Gtk, NM  # noqa: E402

GLib.set_prgname("sstp-rs-editor-harness")

SERVICE = "org.freedesktop.NetworkManager.sstp"
passed = 0
failed = 0


def check(cond, what):
    global passed, failed
    if cond:
        passed += 1
        print(f"ok   gtk{GTK[0]}: {what}")
    else:
        failed += 1
        print(f"FAIL gtk{GTK[0]}: {what}")


def pump(seconds=0.3):
    ctx = GLib.MainContext.default()
    end = GLib.get_monotonic_time() + int(seconds * 1e6)
    while GLib.get_monotonic_time() < end:
        while ctx.pending():
            ctx.iteration(False)
        GLib.usleep(10000)


def children(w):
    if GTK == "4.0":
        c = w.get_first_child()
        while c is not None:
            yield c
            c = c.get_next_sibling()
    elif isinstance(w, Gtk.Container):
        yield from w.get_children()


def walk(w):
    yield w
    for c in children(w):
        yield from walk(c)


def by_name(root):
    return {w.get_name(): w for w in walk(root)}


def get_text(w):
    return w.get_text()


def set_text(w, t):
    w.set_text(t)


def get_check(w):
    return w.get_active()


def set_check(w, v):
    w.set_active(v)


def new_conn(data, secrets=None, cid="Office"):
    c = NM.SimpleConnection.new()
    s_con = NM.SettingConnection.new()
    s_con.set_property("id", cid)
    s_con.set_property("uuid", NM.utils_uuid_generate())
    s_con.set_property("type", "vpn")
    s_vpn = NM.SettingVpn.new()
    s_vpn.set_property("service-type", SERVICE)
    for k, v in data.items():
        s_vpn.add_data_item(k, v)
    for k, v in (secrets or {}).items():
        s_vpn.add_secret(k, v)
    c.add_setting(s_con)
    c.add_setting(s_vpn)
    return c


def data_of(c):
    s = c.get_setting_vpn()
    return {k: s.get_data_item(k) for k in s.get_data_keys() or []}


def secrets_of(c):
    s = c.get_setting_vpn()
    out = {}
    s.foreach_secret(lambda k, v, *_: out.__setitem__(k, v), None)
    return out


def shot(name):
    path = os.path.join(OUT_DIR, name)
    r = subprocess.run(["import", "-window", "root", path], capture_output=True)
    check(r.returncode == 0 and os.path.getsize(path) > 1000, f"screenshot {path}")


# ---------------------------------------------------------------- the plugin
info = NM.VpnPluginInfo.new_from_file(NAME_FILE)
plugin = info.load_editor_plugin()
check(plugin is not None, "plugin loads through NM.VpnPluginInfo")
check(plugin.props.service == SERVICE, f"service is {SERVICE}")
check(plugin.props.name == "Secure Socket Tunneling Protocol (SSTP)", f"name is '{plugin.props.name}'")
caps = plugin.get_capabilities()
check(caps & NM.VpnEditorPluginCapability.IMPORT and caps & NM.VpnEditorPluginCapability.EXPORT,
      "capabilities include IMPORT and EXPORT")

with tempfile.NamedTemporaryFile(suffix=".pem", delete=False) as f:
    f.write(b"-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n")
    PEM = f.name
PEM2 = PEM + ".2"
with open(PEM2, "w") as f:
    f.write("x\n")

# every field the editor shows, plus keys it must keep untouched
FULL = {
    "gateway": "vpn.example.com:4443",
    "connection-type": "tls",
    "user": "alice",
    "domain": "CORP",
    "tls-user-cert": PEM,
    "tls-user-key": PEM2,
    "tls-ca-cert": PEM,
    "tls-identity": "alice@corp",
    "ca-cert": PEM,
    "ignore-cert-warn": "yes",
    "cert-sha256": "ab" * 32,
    "outer-tls-min-version": "1.2",
    "outer-tls-max-version": "1.3",
    "outer-tls-ciphers": "ECDHE+AESGCM:TLS_AES_256_GCM_SHA384",
    "proxy-server": "proxy.example.com",
    "proxy-port": "3128",
    "proxy-user": "bob",
    "refuse-pap": "yes",
    "refuse-chap": "yes",
    "refuse-eap": "yes",
    "mtu": "1300",
    "password-flags": "0",
    "proxy-password-flags": "1",
    "tls-user-key-secret-flags": "0",
    # not on the form: kept as they are
    "lcp-echo-interval": "30",
    "require-mppe": "yes",
}
SECRETS = {"password": "pa55", "tls-user-key-secret": "k3y"}

win = Gtk.Window(title=f"sstp-rs editor (GTK {GTK[0]})")
win.set_default_size(760, 900)

# ---------------------------------------------------------------- round trip: settings -> widgets -> settings
conn = new_conn(FULL, SECRETS)
editor = plugin.get_editor(conn)
check(type(editor).__name__ == f"SstpRsEditorGtk{GTK[0]}", f"editor type {type(editor).__name__}")
widget = editor.get_widget()
if GTK == "4.0":
    win.set_child(widget)
    win.present()
else:
    win.add(widget)
    win.show_all()
pump(1.0)
w = by_name(widget)

out = new_conn({})
check(editor.update_connection(out), "update_connection accepts a full profile")
want = dict(FULL)
want.pop("lcp-echo-interval")  # the new connection had none: the editor does not invent it
want.pop("require-mppe")
got = data_of(out)
check(got == want, "round trip of every vpn.data field (settings -> widgets -> settings)")
if got != want:
    for k in sorted(set(got) | set(want)):
        if got.get(k) != want.get(k):
            print(f"     {k}: got {got.get(k)!r} want {want.get(k)!r}")
check(secrets_of(out) == SECRETS, "secrets saved for 'this user'/'all users' storage")

same = NM.SimpleConnection.new_clone(conn)
check(editor.update_connection(same) and data_of(same) == FULL,
      "keys not on the form (lcp-echo-interval, require-mppe) are kept")

# the storage menu: "ask every time" (2) and "not required" (4) keep the flag, drop the secret
for flags in ("2", "4", "1", "0"):
    c = new_conn({"gateway": "vpn.example.com", "password-flags": flags}, {"password": "pw"})
    o = new_conn({})
    plugin.get_editor(c).update_connection(o)
    keep = flags in ("0", "1")
    check(data_of(o).get("password-flags") == flags
          and (secrets_of(o).get("password") == "pw") == keep,
          f"password-flags={flags}: flag kept, secret {'kept' if keep else 'dropped'}")

# widgets show the settings
check(get_text(w["gateway"]) == "vpn.example.com:4443", "gateway entry shows the setting")
check(get_text(w["password"]) == "pa55", "password entry shows the secret")
check(get_check(w["ignore-cert-warn"]), "ignore-cert-warn is checked")
check(not get_check(w["refuse-pap"]) and get_check(w["refuse-mschap"]),
      "Allow PAP unchecked (refuse-pap=yes), Allow MSCHAP checked")
check(w["connection-type"].get_active_id() == "tls", "login type shows EAP-TLS")
check(w["outer-tls-max-version"].get_active_id() == "1.3", "TLS max version shows 1.3")
check(w["tls-user-cert"].is_sensitive(), "EAP-TLS fields are editable with login type EAP-TLS")

# ---------------------------------------------------------------- driving the widgets
changed = []
editor.connect("changed", lambda *_: changed.append(1))
set_text(w["gateway"], "[2001:db8::1]:443")
check(len(changed) > 0, "typing emits 'changed'")
set_text(w["user"], "carol")
set_text(w["password"], "n3w")
set_text(w["domain"], "")
w["connection-type"].set_active_id("password")
check(not w["tls-user-cert"].is_sensitive(), "EAP-TLS fields are greyed out with login type Password")
set_text(w["ca-cert"], "")
set_check(w["ignore-cert-warn"], False)
set_text(w["cert-sha256"], ":".join(["AB"] * 32))
w["outer-tls-min-version"].set_active_id("1.3")
w["outer-tls-max-version"].set_active_id("")
set_text(w["proxy-server"], "10.0.0.8")
set_text(w["proxy-port"], "8080")
set_text(w["proxy-user"], "")
set_text(w["proxy-password"], "pp")
for k in ("refuse-pap", "refuse-chap", "refuse-mschap", "refuse-eap"):
    set_check(w[k], True)
set_check(w["refuse-mschapv2"], False)
set_text(w["mtu"], "")
pump(0.2)
out = new_conn({})
check(editor.update_connection(out), "update_connection after driving every widget")
d = data_of(out)
expect = {
    "gateway": "[2001:db8::1]:443",
    "user": "carol",
    "connection-type": "password",
    "cert-sha256": ":".join(["AB"] * 32),
    "outer-tls-min-version": "1.3",
    "proxy-server": "10.0.0.8",
    "proxy-port": "8080",
    "refuse-mschapv2": "yes",
}
for k, v in expect.items():
    check(d.get(k) == v, f"widget -> {k}={v}")
for k in ("domain", "ca-cert", "ignore-cert-warn", "outer-tls-max-version", "proxy-user",
          "refuse-pap", "refuse-chap", "refuse-mschap", "refuse-eap", "mtu"):
    check(k not in d, f"cleared widget -> no {k}")
check(secrets_of(out).get("password") == "n3w", "new password saved")
check(secrets_of(out).get("proxy-password") == "pp" and d.get("proxy-password-flags") == "1",
      "proxy password handed over with its 'this user' (agent-owned, flags 1) storage")

# and back: a new editor shows what was saved
ed2 = plugin.get_editor(out)
w2 = by_name(ed2.get_widget())
check(get_text(w2["gateway"]) == "[2001:db8::1]:443" and get_text(w2["user"]) == "carol"
      and get_check(w2["refuse-mschap"]) is True and get_check(w2["refuse-mschapv2"]) is False
      and w2["outer-tls-min-version"].get_active_id() == "1.3",
      "a new editor shows the saved values (widgets -> settings -> widgets)")
out2 = new_conn({})
check(ed2.update_connection(out2) and data_of(out2) == d, "second round trip is identical")

# ---------------------------------------------------------------- the "…" file choosers
from gi.repository import Gio  # noqa: E402


def file_dialogs():
    return [t for t in Gtk.Window.list_toplevels() if isinstance(t, Gtk.FileChooserDialog) and t.get_visible()]


for key in ("ca-cert", "tls-user-cert", "tls-user-key", "tls-ca-cert"):
    check(isinstance(w.get(key + "-browse"), Gtk.Button), f"{key} has a browse button")
w["connection-type"].set_active_id("tls")
w["ca-cert-browse"].emit("clicked")
pump(1.0)
dlgs = file_dialogs()
check(len(dlgs) == 1, "the browse button opens a file chooser")
if dlgs:
    dlgs[0].set_file(Gio.File.new_for_path(PEM2))
    pump(0.3)
    dlgs[0].response(Gtk.ResponseType.ACCEPT)
    pump(0.5)
    check(get_text(w["ca-cert"]) == PEM2, f"choosing a file fills in the field: {get_text(w['ca-cert'])!r}")
    check(not file_dialogs(), "the file chooser is gone")
set_text(w["ca-cert"], "")
w["connection-type"].set_active_id("password")

# ---------------------------------------------------------------- validation blocks saving
INVALID = [
    ("gateway", "", "Gateway", "a gateway is required"),
    ("gateway", "vpn.example.com:99999", "Gateway", "port"),
    ("gateway", "vpn example.com", "Gateway", "not a host"),
    ("proxy-port", "0", "Proxy port", "port"),
    ("proxy-port", "http", "Proxy port", "port"),
    ("proxy-server", "proxy.example.com:3128", "HTTP proxy", "port field"),
    ("ca-cert", "/nonexistent/ca.pem", "CA certificate", "cannot read"),
    ("tls-user-cert", "/nonexistent/user.pem", "User certificate", "cannot read"),
    ("tls-user-key", "/", "Private key", "directory"),
    ("tls-ca-cert", "/nonexistent/x.pem", "CA for EAP-TLS", "cannot read"),
    ("mtu", "100", "MTU", "576"),
    ("cert-sha256", "abc", "Server certificate SHA-256", "64 hexadecimal"),
]
if os.geteuid() == 0:
    unreadable = None  # root reads everything; a missing file stands in
else:
    unreadable = PEM2 + ".unreadable"
    open(unreadable, "w").close()
    os.chmod(unreadable, 0)
    INVALID.append(("ca-cert", unreadable, "CA certificate", "cannot read"))

ed3 = plugin.get_editor(out)
w3 = by_name(ed3.get_widget())
if GTK == "4.0":
    win.set_child(ed3.get_widget())
else:
    win.remove(widget)
    win.add(ed3.get_widget())
    win.show_all()
for key, bad, label, words in INVALID:
    good = get_text(w3[key])
    set_text(w3[key], bad)
    pump(0.05)
    err_label = w3[key + "-error"]
    try:
        ed3.update_connection(new_conn({}))
        check(False, f"{key}={bad!r} blocks saving")
    except GLib.Error as e:
        check(e.message.startswith(label + ":") and words in e.message,
              f"{key}={bad!r} blocks saving: '{e.message}'")
    check(words in err_label.get_text() and err_label.get_visible(),
          f"{key}={bad!r}: message next to the field: '{err_label.get_text()}'")
    set_text(w3[key], good)
    pump(0.05)
    check(err_label.get_text() == "" and ed3.update_connection(new_conn({})),
          f"{key} fixed: saving works again, message gone")

# a screenshot with one error showing and the advanced part open
set_text(w3["gateway"], "vpn.example.com:70000")
ed3.get_widget()  # transfer none: still ours
for x in walk(ed3.get_widget()):
    if x.get_name() == "advanced":
        x.set_expanded(True)
pump(1.5)
shot(f"editor-gtk{GTK[0]}.png")

# a tidy profile for the README screenshot (cropped to the window; no window manager here,
# so the window sits at 0,0)
ca = "/etc/ssl/certs/ca-certificates.crt"
tidy = new_conn({"gateway": "vpn.example.com", "user": "alice", "domain": "CORP",
                 "connection-type": "password", "ca-cert": ca if os.access(ca, os.R_OK) else "",
                 "outer-tls-min-version": "1.2", "refuse-pap": "yes", "refuse-chap": "yes",
                 "password-flags": "1"}, {"password": "secret"})
ed4 = plugin.get_editor(tidy)
if GTK == "4.0":
    win.set_child(ed4.get_widget())
else:
    win.remove(ed3.get_widget())
    win.add(ed4.get_widget())
    win.show_all()
win.resize(700, 1) if GTK == "3.0" else win.set_default_size(700, -1)
pump(1.5)
if GTK == "4.0":
    ww, wh = win.get_width(), win.get_height()
else:
    ww, wh = win.get_size()
w4 = by_name(ed4.get_widget())
width = (lambda x: x.get_width()) if GTK == "4.0" else (lambda x: x.get_allocated_width())
gw, cw = width(w4["gateway"]), width(w4["ca-cert"])
check(gw > 200 and cw > 0.8 * gw - 60, f"layout: file fields as wide as the others (gateway {gw} px, CA file {cw} px)")
path = os.path.join(OUT_DIR, f"editor-gtk{GTK[0]}-profile.png")
r = subprocess.run(["import", "-window", "root", "-crop", f"{ww}x{wh}+0+0", "+repage", path],
                   capture_output=True)
check(r.returncode == 0 and os.path.getsize(path) > 1000, f"screenshot {path} ({ww}x{wh})")

# a host that keeps the widget after dropping the editor: edits must not reach the freed editor
import gc  # noqa: E402

ed5 = plugin.get_editor(tidy)
kept = ed5.get_widget()
w5 = by_name(kept)
del ed5
gc.collect()
set_text(w5["gateway"], "after.example.com")
set_check(w5["refuse-pap"], True)
pump(0.1)
check(get_text(w5["gateway"]) == "after.example.com", "editing a widget that outlived its editor is harmless")

# ---------------------------------------------------------------- import / export
pbk = os.path.join(DATA_DIR, "office-sstp.pbk")
c = plugin.import_(pbk)
check(c.get_id() == "Office SSTP" and data_of(c).get("gateway") == "vpn.example.com",
      f"import {os.path.basename(pbk)}: id '{c.get_id()}', gateway {data_of(c).get('gateway')}")
check(c.get_setting_vpn().get_service_type() == SERVICE, "imported connection has our service type")
check(c.verify(), "imported connection verifies")
c16 = plugin.import_(os.path.join(DATA_DIR, "utf16-sstp.pbk"))
check(data_of(c16).get("gateway") == "sstp.example.org" and c16.get_id() == "Büro",
      "import of a UTF-16LE phonebook: second entry (first SSTP one) 'Büro'")
for name, words in (("ikev2.pbk", "not an SSTP entry"), ("l2tp.pbk", "not an SSTP entry")):
    try:
        plugin.import_(os.path.join(DATA_DIR, name))
        check(False, f"import {name} is rejected")
    except GLib.Error as e:
        check(words in e.message, f"import {name} is rejected: '{e.message}'")
try:
    plugin.import_(os.path.join(DATA_DIR, "not-a-phonebook.ovpn"))
    check(False, "an OpenVPN file is rejected")
except GLib.Error as e:
    check("neither a Windows phonebook" in e.message, f"an OpenVPN file is rejected: '{e.message}'")

full = new_conn(FULL, SECRETS, cid="Work / VPN")
check(plugin.get_suggested_filename(full) == "Work___VPN.sstp",
      f"suggested file name '{plugin.get_suggested_filename(full)}'")
exp = os.path.join(OUT_DIR, f"export-gtk{GTK[0]}.sstp")
check(plugin.export(exp, full), "export")
text = open(exp).read()
check("pa55" not in text and "k3y" not in text, "export writes no secrets")
back = plugin.import_(exp)
check(back.get_id() == "Work / VPN" and data_of(back) == FULL, "export then import gives the same settings")
exp2 = exp + ".2"
plugin.export(exp2, back)
check(open(exp2).read() == text, "export of the import is byte-identical")
ours = plugin.import_(os.path.join(DATA_DIR, "sample.sstp"))
check(data_of(ours).get("gateway") == "vpn.example.net" and ours.get_id() == "Sample",
      "import of the committed sample.sstp")

print(f"gtk{GTK[0]}: {passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
