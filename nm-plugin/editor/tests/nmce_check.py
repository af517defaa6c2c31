#!/usr/bin/python3
"""Checks a running nm-connection-editor through the accessibility (AT-SPI) tree.

usage: nmce_check.py chooser|editor|import|import-bad SCREENSHOT

chooser: `nm-connection-editor --create` shows the connection type chooser; its VPN list
         has our plugin's name.
editor:  `nm-connection-editor --create --type=vpn:org.freedesktop.NetworkManager.sstp` shows
         our GTK3 editor: its field labels are in the tree, the empty gateway's message is next
         to the field, and Save is disabled.
import:  `nm-connection-editor --import=office-sstp.pbk` opens our editor on the imported entry
         with its gateway filled in.
import-bad: `--import=ikev2.pbk` shows nm-connection-editor's import error, no editor.
Waits up to 90 s for the window (nm-connection-editor is slow to start without NetworkManager).
"""
import subprocess
import sys
import time

import gi

gi.require_version("Atspi", "2.0")
from gi.repository import Atspi  # noqa: E402

MODE, SHOT = sys.argv[1], sys.argv[2]
NAME = "Secure Socket Tunneling Protocol (SSTP)"
passed = failed = 0


def check(cond, what):
    global passed, failed
    if cond:
        passed += 1
        print(f"ok   nm-connection-editor: {what}")
    else:
        failed += 1
        print(f"FAIL nm-connection-editor: {what}")


def walk(a, depth=0):
    if a is None or depth > 60:
        return
    try:
        n = a.get_child_count()
    except Exception:  # an object that went away while walking
        return
    yield a
    for i in range(n):
        try:
            c = a.get_child_at_index(i)
        except Exception:
            continue
        yield from walk(c, depth + 1)


def app():
    d = Atspi.get_desktop(0)
    for i in range(d.get_child_count()):
        a = d.get_child_at_index(i)
        if a is not None and a.get_name() == "nm-connection-editor":
            return a
    return None


def nodes():
    a = app()
    out = []
    for x in walk(a) if a else []:
        try:
            out.append((x, x.get_role_name(), (x.get_name() or "").strip()))
        except Exception:
            pass
    return out


def wait_for(pred, seconds):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        ns = nodes()
        if pred(ns):
            return ns
        time.sleep(1)
    return nodes()


def names(ns, role=None):
    return {n for _, r, n in ns if role is None or r == role}


def screenshot(path):
    time.sleep(2)
    r = subprocess.run(["import", "-window", "root", path], capture_output=True)
    check(r.returncode == 0, f"screenshot {path}")


def editor_checks(shot):
    labels = ["Gateway:", "Login with:", "User name:", "Password:", "NT domain:",
              "User certificate:", "Private key:", "Key password:", "CA for EAP-TLS:", "Identity:",
              "CA certificate:", "Ignore certificate warnings", "Server certificate SHA-256:",
              "TLS minimum version:", "TLS maximum version:", "TLS ciphers:", "HTTP proxy:", "Proxy port:",
              "Proxy user:", "Proxy password:", "Authentication:", "Allow PAP", "Allow CHAP",
              "Allow MSCHAP", "Allow MSCHAPv2", "Allow EAP", "MTU:"]
    ns = wait_for(lambda ns: "Gateway:" in names(ns), 90)
    present = names(ns)
    missing = [lab for lab in labels if lab not in present]
    check(not missing, f"our GTK3 editor is embedded: all {len(labels)} field labels are in the tree"
          + (f" (missing: {missing})" if missing else ""))
    check("a gateway is required" in names(ns, "label"),
          "the empty gateway's message 'a gateway is required' is next to the field")
    saves = [o for o, r, n in ns if r == "push button" and n.replace("_", "") == "Save"]
    check(len(saves) == 1, "the editor window has a Save button")
    if saves:
        st = saves[0].get_state_set()
        check(not st.contains(Atspi.StateType.SENSITIVE), "Save is disabled while the gateway is missing")
    frames = {n for _, r, n in ns if r in ("frame", "dialog") and n}
    check(any("VPN" in f for f in frames), f"editor window title: {sorted(frames)}")
    screenshot(shot)


def field_text(ns, label):
    """Text of the entry a label is the mnemonic label of (AT-SPI relation LABEL_FOR)."""
    for obj, r, n in ns:
        if r == "label" and n == label:
            for rel in obj.get_relation_set() or []:
                if rel.get_relation_type() == Atspi.RelationType.LABEL_FOR and rel.get_n_targets():
                    t = rel.get_target(0)
                    return t.get_text(0, -1)
    return None


def press(ns, role, name):
    for obj, r, n in ns:
        if r == role and n.replace("_", "") == name:
            obj.do_action(0)
            return True
    return False


if MODE == "chooser":
    ns = wait_for(lambda ns: any(r == "combo box" for _, r, _ in ns), 90)
    check(any(r == "combo box" for _, r, _ in ns), "the connection type chooser is shown")
    items = sorted({n for _, r, n in ns if r == "menu item" and n})
    check(NAME in items, f"the type list has '{NAME}' (among {len(items)} types)")
    check(press(ns, "menu item", NAME), "choosing it in the list")
    ns = wait_for(lambda ns: any(r == "combo box" and n == NAME for _, r, n in ns), 20)
    check(any(r == "combo box" and n == NAME for _, r, n in ns), "the chooser shows it as selected")
    screenshot(SHOT)
    check(press(ns, "push button", "Create…"), "pressing Create…")
    editor_checks(SHOT.replace(".png", "-editor.png"))
elif MODE == "editor":
    editor_checks(SHOT)
elif MODE == "import":
    # nm-connection-editor --import=office-sstp.pbk: our plugin reads it, the editor opens filled in
    ns = wait_for(lambda ns: any(r == "frame" and n == "Editing Office SSTP" for _, r, n in ns), 90)
    frames = {n for _, r, n in ns if r in ("frame", "dialog", "alert") and n}
    check("Editing Office SSTP" in frames, f"the imported entry opens in the editor: {sorted(frames)}")
    check(field_text(ns, "Gateway:") == "vpn.example.com",
          f"its gateway field holds the phonebook's PhoneNumber: {field_text(ns, 'Gateway:')!r}")
    check("a gateway is required" not in names(ns, "label"), "no validation message")
    screenshot(SHOT)
elif MODE == "import-bad":
    # an IKEv2 phonebook: no plugin takes it, so nm-connection-editor shows its import error
    ns = wait_for(lambda ns: any(r == "alert" for _, r, _ in ns), 90)
    labels = names(ns, "label")
    check("Error importing connection" in labels, f"an error is shown: {sorted(n for n in labels if n)}")
    check(not any(r == "frame" and n.startswith("Editing") for _, r, n in ns), "no editor opens")
    screenshot(SHOT)
else:
    sys.exit(f"unknown mode {MODE}")

print(f"nm-connection-editor {MODE}: {passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
