#!/usr/bin/python3
"""List the SSTP control messages in a capture's decrypted TLS streams.

usage: tshark -r CAP -o tls.keylog_file:KEYS -q -z follow,tls,raw,N ... | sstp-capture.py

Reads tshark's "follow,tls,raw" output (one or more streams), joins each
direction's decrypted bytes, finds the client by its SSTP_DUPLEX_POST request,
skips the HTTP head of both directions and walks the SSTP packets (MS-SSTP
2.2.1: version 0x10, C bit, 12-bit length; control messages carry their type
in the next two bytes). Prints one line per control message:
    STREAM<TAB>client|server<TAB>0xTTTT
and, if a direction's bytes do not parse as SSTP, a line
    STREAM<TAB>client|server<TAB>DESYNC at byte OFFSET
so the caller can fail with the reason. A packet cut off at the end of the
capture is not an error.

Why not tshark's own SSTP dissector (-Y sstp): it loses its place when an SSTP
packet spans TLS records that span TCP segments (the helper packs many frames
into one 16 KiB record), and then reports nothing for the rest of the stream,
although the decrypted stream itself is complete.
"""
import sys


def parse_follow(lines):
    """Yield (stream_index, [(is_tab_indented, bytes), ...]) per follow block."""
    stream, chunks, in_block = 0, [], False
    for line in lines:
        line = line.rstrip("\n")
        if line.startswith("====="):
            if in_block:
                yield stream, chunks
                stream, chunks = stream + 1, []
            in_block = not in_block
            continue
        if not in_block or not line.strip():
            continue
        if line.startswith(("Follow:", "Filter:", "Node ")):
            continue
        tab = line.startswith("\t")
        try:
            chunks.append((tab, bytes.fromhex(line.strip())))
        except ValueError:
            continue


def control_messages(data):
    """Yield message types, or ('DESYNC', offset) once the bytes stop being SSTP."""
    head = data.find(b"\r\n\r\n")
    if head < 0:
        return
    off = head + 4
    while off + 4 <= len(data):
        if data[off] != 0x10 or data[off + 1] & 0xFE:
            yield ("DESYNC", off)
            return
        length = ((data[off + 2] & 0x0F) << 8) | data[off + 3]
        if length < 4:
            yield ("DESYNC", off)
            return
        if off + length > len(data):
            return  # cut off by the end of the capture
        if data[off + 1] & 0x01:
            if length < 8:
                yield ("DESYNC", off)
                return
            yield int.from_bytes(data[off + 4:off + 6], "big")
        off += length


def main():
    for stream, chunks in parse_follow(sys.stdin):
        sides = {True: bytearray(), False: bytearray()}
        for tab, b in chunks:
            sides[tab] += b
        client_tab = None
        for tab in (True, False):
            if bytes(sides[tab]).startswith(b"SSTP_DUPLEX_POST"):
                client_tab = tab
        if client_tab is None:
            continue
        for tab in (client_tab, not client_tab):
            who = "client" if tab == client_tab else "server"
            for m in control_messages(bytes(sides[tab])):
                if isinstance(m, tuple):
                    print(f"{stream}\t{who}\tDESYNC at byte {m[1]}")
                else:
                    print(f"{stream}\t{who}\t0x{m:04x}")


if __name__ == "__main__":
    main()
