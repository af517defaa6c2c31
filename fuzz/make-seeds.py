#!/usr/bin/env python3
"""Write the seed corpora in seeds/<target>/ from real bytes.

Sources: the MS-SSTP section 4.7 vectors (as in sstp-proto's tests) and, when tshark and the
conformance fixture are there, the decrypted byte streams of a real sstp-server <-> sstpc
session (shared/testbed/conformance/fixtures/sstpd-sstpc-basic). Re-run after changing it:
    python3 fuzz/make-seeds.py [FIXTURE_DIR]
"""
import os
import shutil
import struct
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = os.path.join(HERE, "seeds")
FIXTURE = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
    HERE, "..", "..", "shared", "testbed", "conformance", "fixtures", "sstpd-sstpc-basic")
if not os.path.isdir(FIXTURE):
    FIXTURE = "/work/shared/testbed/conformance/fixtures/sstpd-sstpc-basic"


def h(s):
    return bytes.fromhex("".join(s.split()))


SPEC = {
    "connect-request": h("10 01 00 0E 00 01 00 01 00 01 00 06 00 01"),
    "ack-sha256": h("""10 01 00 30 00 02 00 01 00 04 00 28 00 00 00 02
        41 2B 48 9A EB D7 EC C7 D0 89 66 F2 6B E7 CD 72
        B2 31 A0 E9 21 0D 7C 91 B3 08 86 2B 03 44 C4 35"""),
    "ack-sha1": h("""10 01 00 30 00 02 00 01 00 04 00 28 00 00 00 01
        0F 1A 2D 58 D4 A3 E3 00 0F AD 3C E4 90 6E 07 B7
        07 AA 9E 44 1C CE AC 5C BD 7B 2C C1 C9 D8 6C DF"""),
    "call-connected-sha256": h("""10 01 00 70 00 04 00 01 00 03 00 68 00 00 00 02
        41 2B 48 9A EB D7 EC C7 D0 89 66 F2 6B E7 CD 72
        B2 31 A0 E9 21 0D 7C 91 B3 08 86 2B 03 44 C4 35
        79 93 EF 31 4C 49 3D AC E9 F0 2D 60 E7 E6 1C 84
        B6 69 0A AF E9 D7 AE EA 92 CB BE 8A D5 99 42 2D
        52 A6 8E FD 8C FF BF 52 77 0B 8F 0F E8 EC 73 71
        65 83 AF 6D 61 1E B6 D1 79 B3 B2 08 40 98 54 49"""),
    "disconnect-status": h("10 01 00 14 00 06 00 01 00 02 00 0C 00 00 00 00 00 00 00 00"),
    "abort-value-not-supported": h("10 01 00 14 00 05 00 01 00 02 00 0C 00 00 00 04 00 00 00 04"),
    "nak": h("10 01 00 16 00 03 00 01 00 02 00 0E 00 00 00 01 00 00 00 04 00 01"),
    "echo-request": h("10 01 00 08 00 08 00 00"),
    "data-lcp": h("10 00 00 0A FF 03 C0 21 01 02"),
}


def fcs16(data):
    fcs = 0xFFFF
    for b in data:
        fcs ^= b
        for _ in range(8):
            fcs = (fcs >> 1) ^ 0x8408 if fcs & 1 else fcs >> 1
    return fcs


def hdlc(frame):
    raw = frame + struct.pack("<H", fcs16(frame) ^ 0xFFFF)
    out = bytearray([0x7E])
    for b in raw:
        if b < 0x20 or b in (0x7D, 0x7E):
            out += bytes([0x7D, b ^ 0x20])
        else:
            out.append(b)
    out.append(0x7E)
    return bytes(out)


def packets(stream):
    out = []
    while len(stream) >= 4:
        n = struct.unpack(">H", stream[2:4])[0] & 0x0FFF
        if n < 4 or n > len(stream):
            break
        out.append(stream[:n])
        stream = stream[n:]
    return out


def capture():
    """(client->server bytes, server->client bytes) of the fixture session, or None."""
    if not shutil.which("tshark") or not os.path.isdir(FIXTURE):
        return None
    r = subprocess.run(
        ["tshark", "-r", os.path.join(FIXTURE, "sstp.pcapng"), "-o",
         "tls.keylog_file:" + os.path.join(FIXTURE, "tls-keys.log"), "-q", "-z",
         "follow,tls,raw,0"], capture_output=True, text=True, check=False)
    c, s = bytearray(), bytearray()
    started = False
    for line in r.stdout.splitlines():
        if line.startswith("Node 1:"):
            started = True
            continue
        if not started or line.startswith("="):
            continue
        if line.startswith("\t"):
            c += bytes.fromhex(line.strip())
        elif line.strip():
            s += bytes.fromhex(line.strip())
    return (bytes(c), bytes(s)) if c and s else None


def ipc_msgs():
    def b(x):
        return struct.pack(">H", len(x)) + x
    bodies = {
        "password-request": b"\x01",
        "password": b"\x02" + b(b"alice") + b(b"secret"),
        "auth-up-mschap": b"\x03" + b(bytes(range(16))) + b(bytes(range(16, 32))),
        "auth-up-pap": b"\x03" + b(b"") + b(b""),
        "auth-ack": b"\x04",
        "ip-up": b"\x05" + b(b"ppp0") + bytes([10, 77, 0, 2, 10, 77, 0, 1]) + b"\x01"
                 + bytes([10, 77, 0, 1]) + b"\x00" + struct.pack(">I", 1400),
        "ip6-up": b"\x06" + b(b"ppp0") + bytes(range(8)) + bytes(range(8, 16)),
        "error": b"\x07" + b(b"not ready"),
        "server-v4": b"\x08\x04" + bytes([192, 0, 2, 1]),
        "server-v6": b"\x08\x06" + bytes(16),
    }
    return {k: struct.pack(">I", len(v)) + v for k, v in bodies.items()}


def nm_profiles():
    """Auth-dialog records (libnm's DATA_KEY/DATA_VAL/SECRET_KEY/SECRET_VAL ... DONE format)
    for the profiles the NetworkManager tests use: password, TLS, proxy, bad values."""
    def rec(data, secrets):
        out = []
        for k, v in data.items():
            out += [f"DATA_KEY={k}", f"DATA_VAL={v}"]
        for k, v in secrets.items():
            out += [f"SECRET_KEY={k}", f"SECRET_VAL={v}"]
        return ("\n".join(out) + "\n\nDONE\n\nQUIT\n").encode()
    return {
        "password": rec({"gateway": "vpn.example.com:8443", "user": "alice",
                         "password-flags": "0", "ca-cert": "/etc/ssl/ca.pem",
                         "refuse-eap": "yes", "require-mppe": "yes", "mtu": "1400"},
                        {"password": "test-pass-123"}),
        "tls": rec({"gateway": "[2001:db8::1]:443", "connection-type": "tls",
                    "tls-user-cert": "/c.pem", "tls-user-key": "/k.pem",
                    "ignore-cert-warn": "yes"}, {"tls-user-key-password": "kpw12345"}),
        "proxy": rec({"gateway": "10.0.0.1", "user": "bob", "proxy-server": "proxy.lan",
                      "proxy-port": "3128", "proxy-user": "p", "proxy-password-flags": "2"},
                     {"password": "secret-1", "proxy-password": "proxy-pw-9"}),
        "bad": rec({"gateway": "host:0", "mtu": "x", "password-flags": "99",
                    "unknown-key": "1"}, {}),
    }


def main():
    seeds = {t: {} for t in
             ("wire_packet", "http_response", "hdlc_deframer", "ipc_decode", "client_state",
              "nm_settings")}
    for k, v in SPEC.items():
        seeds["wire_packet"][k] = v
    seeds["http_response"]["ok"] = (b"HTTP/1.1 200 OK\r\nServer: Microsoft-HTTPAPI/2.0\r\n"
                                    b"Content-Length: 18446744073709551615\r\n\r\n")
    seeds["http_response"]["404"] = b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"
    seeds["hdlc_deframer"]["lcp"] = hdlc(h("FF 03 C0 21 01 01 00 0A 05 06 12 34 56 78"))
    seeds["client_state"]["echo-then-disconnect"] = SPEC["echo-request"] + SPEC["disconnect-status"]
    seeds["ipc_decode"].update(ipc_msgs())
    seeds["nm_settings"].update(nm_profiles())
    cap = capture()
    if cap:
        c, s = cap
        end = s.find(b"\r\n\r\n") + 4
        seeds["http_response"]["sstpd"] = s[:end]
        sp, cp = packets(s[end:]), packets(c[c.find(b"\r\n\r\n") + 4:])
        for i, p in enumerate(sp):
            seeds["wire_packet"]["sstpd-%02d" % i] = p
        for i, p in enumerate(cp):
            seeds["wire_packet"]["sstpc-%02d" % i] = p
        frames = [p[4:] for p in sp + cp if p[1] & 1 == 0]
        seeds["hdlc_deframer"]["sstpd-session"] = b"".join(hdlc(f) for f in frames)
        for i, f in enumerate(frames[:8]):
            seeds["hdlc_deframer"]["frame-%02d" % i] = hdlc(f)
        # The server's bytes after its Call Connect Ack (the fuzz target sends its own).
        after_ack = b"".join(p for p in sp if not (p[1] & 1 and p[5] == 2))
        seeds["client_state"]["sstpd-session"] = after_ack
    else:
        print("note: no tshark or fixture; spec vectors only", file=sys.stderr)
    for t, files in seeds.items():
        d = os.path.join(CORPUS, t)
        os.makedirs(d, exist_ok=True)
        for name, data in files.items():
            with open(os.path.join(d, name), "wb") as f:
                f.write(data)
        print(f"{t}: {len(files)} seeds")


main()
