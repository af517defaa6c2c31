#!/usr/bin/python3
"""The nmcli path: import and export through the plugin in a process without GTK.

nmcli (`nmcli connection import type sstp file X`, `nmcli connection export`) loads only the
shim; it must work, and must not pull GTK in. usage: nogtk_check.py NAME_FILE DATA_DIR OUT_DIR
"""
import os
import sys

import gi

gi.require_version("NM", "1.0")
from gi.repository import GLib, NM  # noqa: E402

name_file, data_dir, out_dir = sys.argv[1:4]
passed = failed = 0


def check(cond, what):
    global passed, failed
    passed += bool(cond)
    failed += not cond
    print(("ok   " if cond else "FAIL ") + "no-GTK: " + what)


plugin = NM.VpnPluginInfo.new_from_file(name_file).load_editor_plugin()
c = plugin.import_(os.path.join(data_dir, "office-sstp.pbk"))
check(c.get_setting_vpn().get_data_item("gateway") == "vpn.example.com", "import of a .pbk")
c13 = plugin.import_(os.path.join(data_dir, "l2tp-then-sstp.pbk"))
check(c13.get_setting_vpn().get_data_item("gateway") == "branch.example.com",
      "VpnStrategy=13 (L2TP, then SSTP) is imported as SSTP")
path = os.path.join(out_dir, "nogtk.sstp")
check(plugin.export(path, c), "export")
back = plugin.import_(path)
check(back.get_setting_vpn().get_data_item("gateway") == "vpn.example.com" and back.get_id() == "Office SSTP",
      "export then import")
# untrusted files: random bytes, truncated and mangled phonebooks never crash, always an error
import random  # noqa: E402

rng = random.Random(8)
pbk = open(os.path.join(data_dir, "office-sstp.pbk"), "rb").read()
cases = [bytes(rng.getrandbits(8) for _ in range(rng.randint(0, 3000))) for _ in range(20)]
cases += [pbk[: rng.randint(0, len(pbk))] for _ in range(20)]
cases += [bytes(b if rng.random() > 0.02 else rng.getrandbits(8) for b in pbk) for _ in range(20)]
cases += [b"\xff\xfe" + bytes(rng.getrandbits(8) for _ in range(501)), b"[", b"[x]\nVpnStrategy=5\n",
          b"[sstp-rs]\n", b"[sstp-rs]\nname=x\n[vpn-data]\nuser=a\n"]
bad = 0
for i, data in enumerate(cases):
    path = os.path.join(out_dir, "garbage.pbk")
    with open(path, "wb") as f:
        f.write(data)
    try:
        c = plugin.import_(path)
        # a mangled phonebook may still hold a usable SSTP entry
        if not c.get_setting_vpn().get_data_item("gateway"):
            bad += 1
    except GLib.Error as e:
        if not e.message.startswith(path) and "is not valid" not in e.message:
            bad += 1
            print("     unexpected message:", e.message)
check(bad == 0, f"{len(cases)} random/truncated/mangled files: each an error naming the file, or a connection with a gateway")

maps = open("/proc/self/maps").read()
check("libgtk" not in maps and "libnma" not in maps, "no GTK or libnma library mapped into the process")
print(f"no-GTK: {passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
