#!/usr/bin/python3
"""Minimal ICMP echo client (the host root seen by the UML guest has no ping(8)).

usage: icmp-ping.py DEST [COUNT [TIMEOUT_S]]
DEST is IPv4 or IPv6 (a link-local one as fe80::1%ppp0).
Sends COUNT echo requests (default 3), one per second, waits up to TIMEOUT_S
(default 3) for each reply, prints one line per request and a summary line
"N/COUNT replies". Exit status 0 only if every request got its reply.
Needs root (raw socket).
"""
import os
import select
import socket
import struct
import sys
import time


def checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    s = (s >> 16) + (s & 0xFFFF)
    s += s >> 16
    return ~s & 0xFFFF


def main() -> int:
    dest = sys.argv[1]
    count = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    tmo = float(sys.argv[3]) if len(sys.argv) > 3 else 3.0
    v6 = ":" in dest
    if v6:
        # ICMPv6: the kernel fills in the checksum; replies come without the IP header
        sock = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
        target = socket.getaddrinfo(dest, None, socket.AF_INET6)[0][4]
        req, rep = 128, 129
    else:
        sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
        target = (dest, 0)
        req, rep = 8, 0
    plain = dest.split("%")[0]
    ident = os.getpid() & 0xFFFF
    got = 0
    for seq in range(1, count + 1):
        payload = struct.pack("!d", time.time()) + bytes(range(48))
        hdr = struct.pack("!BBHHH", req, 0, 0, ident, seq)
        pkt = struct.pack("!BBHHH", req, 0, 0 if v6 else checksum(hdr + payload), ident, seq) + payload
        t0 = time.monotonic()
        sock.sendto(pkt, target)
        ok = False
        while True:
            left = tmo - (time.monotonic() - t0)
            if left <= 0:
                break
            r, _, _ = select.select([sock], [], [], left)
            if not r:
                break
            data, addr = sock.recvfrom(2048)
            ihl = 0 if v6 else (data[0] & 0x0F) * 4
            if len(data) < ihl + 8:
                continue
            typ, _code, _ck, rid, rseq = struct.unpack("!BBHHH", data[ihl:ihl + 8])
            if typ == rep and rid == ident and rseq == seq and addr[0].split("%")[0] == plain:
                ok = True
                print("reply from %s: icmp_seq=%d time=%.1f ms" % (dest, seq, (time.monotonic() - t0) * 1000))
                break
        if ok:
            got += 1
        else:
            print("no reply from %s: icmp_seq=%d (timeout %.0f s)" % (dest, seq, tmo))
        if seq < count:
            time.sleep(max(0.0, 1.0 - (time.monotonic() - t0)))
    print("%d/%d replies" % (got, count))
    sys.stdout.flush()
    return 0 if got == count else 1


if __name__ == "__main__":
    sys.exit(main())
