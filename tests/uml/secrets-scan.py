#!/usr/bin/env python3
"""Host-side secrets check of a finished UML scenario (run.sh calls it for mschap).

While the tunnel was up, guest-main.sh copied every guest process's /proc/PID/cmdline and
/proc/PID/environ into OUT/secrets/. This script

1. recomputes the client's MPPE keys independently (RFC 2759 + RFC 3079) from the password
   and the MS-CHAPv2 Response in the capture (decrypted with the helper's TLS key log);
2. proves those keys are the real ones: HLAK = send key | receive key must reproduce the
   Compound MAC of the client's Call Connected in the same capture (MS-SSTP 3.2.5.2);
3. searches every snapshot and every client-side log for the password (ASCII and UTF-16LE),
   the NT password hash, the master key, both MPPE keys and the HLAK, raw and as hex.

Prints PASS/FAIL lines (run.sh appends them to results.txt). Exit 0 even on FAIL lines;
exit 2 when it could not run at all.
usage: secrets-scan.py OUTDIR PASSWORD
"""
import hashlib
import hmac
import os
import struct
import subprocess
import sys


def md4(data: bytes) -> bytes:
    """MD4 (RFC 1320); OpenSSL 3 hides it in the legacy provider, so it is written out here."""
    def f(x, y, z): return (x & y) | (~x & z)
    def g(x, y, z): return (x & y) | (x & z) | (y & z)
    def h(x, y, z): return x ^ y ^ z
    def rotl(v, s): v &= 0xFFFFFFFF; return ((v << s) | (v >> (32 - s))) & 0xFFFFFFFF
    msg = bytearray(data)
    bitlen = (8 * len(data)) & 0xFFFFFFFFFFFFFFFF
    msg.append(0x80)
    while len(msg) % 64 != 56:
        msg.append(0)
    msg += struct.pack('<Q', bitlen)
    a, b, c, d = 0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476
    for off in range(0, len(msg), 64):
        x = list(struct.unpack('<16I', msg[off:off + 64]))
        aa, bb, cc, dd = a, b, c, d
        for i in (0, 4, 8, 12):
            a = rotl(a + f(b, c, d) + x[i], 3)
            d = rotl(d + f(a, b, c) + x[i + 1], 7)
            c = rotl(c + f(d, a, b) + x[i + 2], 11)
            b = rotl(b + f(c, d, a) + x[i + 3], 19)
        for i in (0, 1, 2, 3):
            a = rotl(a + g(b, c, d) + x[i] + 0x5A827999, 3)
            d = rotl(d + g(a, b, c) + x[i + 4] + 0x5A827999, 5)
            c = rotl(c + g(d, a, b) + x[i + 8] + 0x5A827999, 9)
            b = rotl(b + g(c, d, a) + x[i + 12] + 0x5A827999, 13)
        for i in (0, 2, 1, 3):
            a = rotl(a + h(b, c, d) + x[i] + 0x6ED9EBA1, 3)
            d = rotl(d + h(a, b, c) + x[i + 8] + 0x6ED9EBA1, 9)
            c = rotl(c + h(d, a, b) + x[i + 4] + 0x6ED9EBA1, 11)
            b = rotl(b + h(c, d, a) + x[i + 12] + 0x6ED9EBA1, 15)
        a, b, c, d = (a + aa) & 0xFFFFFFFF, (b + bb) & 0xFFFFFFFF, (c + cc) & 0xFFFFFFFF, (d + dd) & 0xFFFFFFFF
    return struct.pack('<4I', a, b, c, d)


# RFC 3079 3.4
MAGIC1 = b"This is the MPPE Master Key"
MAGIC2 = (b"On the client side, this is the send key; "
          b"on the server side, it is the receive key.")
MAGIC3 = (b"On the client side, this is the receive key; "
          b"on the server side, it is the send key.")
PAD1 = b"\x00" * 40
PAD2 = b"\xf2" * 40


def mppe_keys(password: str, nt_response: bytes):
    pw_hash = md4(password.encode('utf-16-le'))
    pw_hash_hash = md4(pw_hash)
    master = hashlib.sha1(pw_hash_hash + nt_response + MAGIC1).digest()[:16]
    send = hashlib.sha1(master + PAD1 + MAGIC2 + PAD2).digest()[:16]   # client send
    recv = hashlib.sha1(master + PAD1 + MAGIC3 + PAD2).digest()[:16]   # client receive
    return pw_hash, master, send, recv


def tshark(pcap, keys, display_filter, fields):
    cmd = ['tshark', '-r', pcap, '-o', f'tls.keylog_file:{keys}', '-Y', display_filter, '-T', 'fields']
    for f in fields:
        cmd += ['-e', f]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    return [line.split('\t') for line in out.splitlines() if line.strip()]


def unhex(s):
    return bytes.fromhex(s.replace(':', ''))


def main():
    if len(sys.argv) != 3:
        print(__doc__.strip().splitlines()[-1], file=sys.stderr)
        return 2
    out, password = sys.argv[1], sys.argv[2]
    pcap, keys = os.path.join(out, 'sstp.pcapng'), os.path.join(out, 'keys.log')
    snapdir = os.path.join(out, 'secrets')
    if not (os.path.isfile(pcap) and os.path.isfile(keys) and os.path.isdir(snapdir)):
        print("FAIL secrets scan: needs sstp.pcapng, keys.log and secrets/ in", out)
        return 0

    # the client's MS-CHAPv2 Response (CHAP code 2): value = PeerChallenge(16) Reserved(8) NT-Response(24) Flags(1)
    rows = tshark(pcap, keys, 'chap.code == 2 && ip.src == 192.0.2.2', ['chap.value'])
    vals = [unhex(r[0]) for r in rows if r and len(unhex(r[0])) == 49]
    if not vals:
        print("FAIL secrets scan: no MS-CHAPv2 Response from the client in the decrypted capture")
        return 0
    nt_response = vals[-1][24:48]
    pw_hash, master, send, recv = mppe_keys(password, nt_response)
    hlak = send + recv

    # the client's Call Connected (0x0004): recompute its Compound MAC with that HLAK
    rows = tshark(pcap, keys, 'sstp.messagetype == 0x0004 && ip.src == 192.0.2.2',
                  ['sstp.hash', 'sstp.nonce', 'sstp.cert_hash', 'sstp.compoundmac', 'sstp.dataunknown'])
    if not rows or len(rows[-1]) < 5:
        print("FAIL secrets scan: no Call Connected from the client in the decrypted capture")
        return 0
    hash_proto = int(rows[-1][0], 0)
    # Wireshark 3.4 shows a SHA-256 Compound MAC as "Unknown Data" (sstp.dataunknown)
    nonce, cert_hash = unhex(rows[-1][1]), unhex(rows[-1][2])
    cmac = unhex(rows[-1][3] or rows[-1][4])
    digest = hashlib.sha256 if hash_proto == 2 else hashlib.sha1
    hlen = digest().digest_size
    # header, type 0x0004, 1 attribute; attribute: reserved, id 3, length 0x68, 3 reserved, hash
    msg = bytes((0x10, 0x01, 0x00, 0x70, 0x00, 0x04, 0x00, 0x01, 0x00, 0x03, 0x00, 0x68,
                 0x00, 0x00, 0x00, hash_proto)) + nonce + cert_hash[:hlen]
    msg += bytes(0x70 - len(msg))
    cmk = hmac.new(hlak, b"SSTP inner method derived CMK" + bytes((hlen, 0)) + b"\x01", digest).digest()
    mine = hmac.new(cmk, msg, digest).digest()
    if hmac.compare_digest(mine, cmac[:hlen]):
        print(f"PASS secrets scan: MPPE keys recomputed from the password and the captured MS-CHAPv2 "
              f"Response reproduce the client's Compound MAC ({'SHA-256' if hash_proto == 2 else 'SHA-1'})")
    else:
        print("FAIL secrets scan: recomputed MPPE keys do not reproduce the captured Compound MAC "
              "(cannot trust the scan below)")
        return 0

    needles = {
        'password': [password.encode(), password.encode('utf-16-le')],
        'NT password hash': [pw_hash],
        'MPPE master key': [master],
        'MPPE send key': [send],
        'MPPE receive key': [recv],
        'HLAK': [hlak, recv + send],
    }
    for name, vs in list(needles.items()):
        for v in list(vs):
            if name != 'password':
                vs += [v.hex().encode(), v.hex().upper().encode(),
                       ':'.join(f'{b:02x}' for b in v).encode(), ' '.join(f'{b:02x}' for b in v).encode()]

    files = sorted(os.path.join(snapdir, f) for f in os.listdir(snapdir))
    nproc = len({os.path.basename(f).split('.')[0] for f in files})
    logs = [os.path.join(out, f) for f in sorted(os.listdir(out))
            if f.startswith(('client', 'pppd-client')) and f.endswith('.log')]
    logs += [os.path.join(out, 'keys.log'), os.path.join(out, 'guest.log')]
    hits = []
    for path in files + [p for p in logs if os.path.isfile(p)]:
        with open(path, 'rb') as fh:
            data = fh.read()
        for name, vs in needles.items():
            if any(v in data for v in vs):
                hits.append(f"{name} in {os.path.relpath(path, out)}")
    scanned = (f"{nproc} processes' cmdline+environ while connected, "
               f"{len([p for p in logs if os.path.isfile(p)])} client logs at debug level")
    if hits:
        print(f"FAIL secrets scan ({scanned}): " + '; '.join(hits))
    else:
        print(f"PASS secrets scan ({scanned}): no password, NT hash, master key, MPPE send/receive "
              f"key or HLAK (raw or hex)")
    return 0


if __name__ == '__main__':
    sys.exit(main())
