#!/usr/bin/python3
"""Tiny modprobe for the UML guest (the host may have no kmod installed).

usage: modload.py MODDIR NAME [NAME...]
Loads each module and its dependencies (from MODDIR/modules.dep, deepest first)
with finit_module(2). Modules built into the kernel (MODDIR/modules.builtin) and
modules already loaded are skipped. Exit status 1 if any module failed.
"""
import ctypes
import errno
import os
import sys

SYS_FINIT_MODULE = 313  # x86_64 (UML uses the host architecture's numbers)


def main() -> int:
    moddir, names = sys.argv[1], sys.argv[2:]
    deps, by_name = {}, {}
    with open(os.path.join(moddir, "modules.dep")) as f:
        for line in f:
            path, _, rest = line.partition(":")
            deps[path] = rest.split()
            by_name[os.path.basename(path)[:-3].replace("-", "_")] = path
    builtin = set()
    try:
        with open(os.path.join(moddir, "modules.builtin")) as f:
            builtin = {os.path.basename(l.strip())[:-3].replace("-", "_") for l in f}
    except OSError:
        pass
    loaded = set()
    with open("/proc/modules") as f:
        loaded = {l.split()[0] for l in f}
    libc = ctypes.CDLL(None, use_errno=True)
    rc = 0

    def load(path: str) -> bool:
        name = os.path.basename(path)[:-3].replace("-", "_")
        if name in loaded:
            return True
        for d in reversed(deps.get(path, [])):
            if not load(d):
                return False
        fd = os.open(os.path.join(moddir, path), os.O_RDONLY | os.O_CLOEXEC)
        try:
            r = libc.syscall(SYS_FINIT_MODULE, fd, b"", 0)
            e = ctypes.get_errno()
        finally:
            os.close(fd)
        if r != 0 and e != errno.EEXIST:
            print("modload: %s: %s" % (name, os.strerror(e)), file=sys.stderr)
            return False
        loaded.add(name)
        return True

    for n in names:
        n = n.replace("-", "_")
        if n in builtin or n in loaded:
            continue
        if n not in by_name:
            print("modload: %s: not found in %s" % (n, moddir), file=sys.stderr)
            rc = 1
            continue
        if not load(by_name[n]):
            rc = 1
    return rc


if __name__ == "__main__":
    sys.exit(main())
