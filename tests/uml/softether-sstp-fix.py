#!/usr/bin/python3
"""Make Debian 12's SoftEther vpnserver answer SSTP (patches a COPY of the binary).

usage: softether-sstp-fix.py IN_BINARY OUT_BINARY

Debian 12 ships softether-vpnserver 5.01.9674+git20200806+8181039+dfsg2-2+b2, a
snapshot with an upstream bug in ProtoHandleConnection() (src/Cedar/Proto.c,
fixed upstream by commit 5611156c, Dec 2020): when the HTTPS listener hands over
an SSTP_DUPLEX_POST naming the protocol "SSTP", the container lookup loop never
records the match and the function returns false. The client gets a TLS session
but never the HTTP 200 and is dropped about 16 s later.

The fix replaces the 65-byte lookup loop at file offset 0x3a00f..0x3a04f so that
a name match jumps to the common code at 0x3a0a9 with the container in %rax.
The loop index lives in %r13 and the container in %r12 (callee-saved, both set
again before any other use), %rbx keeps the socket pointer. The input bytes are
checked first: any other build is refused. The harness applies this only to the
guest's overlay copy of vpnserver, never to the installed file.
"""
import hashlib
import sys

OFF = 0x3A00F
ORIG = bytes.fromhex(
    "488b4708" "31db" "4889c2" "4885c0" "7528" "eb31" "90"
    "488b5210" "89d8" "4889ee" "488b04c2" "488b38" "e89b1b1300"
    "85c0" "7417" "498b5708" "83c301" "4885d2" "740b" "3b5a08" "72d6"
    "660f1f440000")
NEW = bytes.fromhex(
    "498b5708"      # mov 0x8(%r15),%rdx      proto->Containers
    "4531ed"        # xor %r13d,%r13d         i = 0
    "4885d2"        # test %rdx,%rdx
    "7435"          # je  3a050               no list: return false
    "443b6a08"      # cmp 0x8(%rdx),%r13d     i < num_item ?
    "732f"          # jae 3a050               not found: return false
    "488b5210"      # mov 0x10(%rdx),%rdx     list->p
    "4e8b24ea"      # mov (%rdx,%r13,8),%r12  tmp = p[i]
    "498b3c24"      # mov (%r12),%rdi         tmp->Name
    "4889ee"        # mov %rbp,%rsi           protocol
    "e89b1b1300"    # call StrCmp             (same call site as before)
    "85c0"          # test %eax,%eax
    "740a"          # je  3a043               match
    "4183c501"      # add $0x1,%r13d
    "498b5708"      # mov 0x8(%r15),%rdx
    "ebd8"          # jmp 3a01b
    "4c89e0"        # mov %r12,%rax           found: container
    "eb61"          # jmp 3a0a9               common path
    "9090909090909090")
assert len(ORIG) == len(NEW) == 0x3A050 - OFF


def main() -> int:
    src, dst = sys.argv[1], sys.argv[2]
    data = bytearray(open(src, "rb").read())
    cur = bytes(data[OFF:OFF + len(ORIG)])
    if cur == NEW:
        print("already patched")
    elif cur != ORIG:
        print("unexpected bytes at 0x%x: not the Debian 12 build this patch is for" % OFF)
        return 1
    else:
        data[OFF:OFF + len(NEW)] = NEW
        print("patched ProtoHandleConnection() lookup loop at 0x%x" % OFF)
    with open(dst, "wb") as f:
        f.write(data)
    print("sha256 in : %s" % hashlib.sha256(open(src, "rb").read()).hexdigest())
    print("sha256 out: %s" % hashlib.sha256(bytes(data)).hexdigest())
    return 0


if __name__ == "__main__":
    sys.exit(main())
