#!/bin/bash
# Package tests (host, root): build the .debs (and the .rpm), lint them, check the layout, then
#   - Debian 13: install sstp-rs_*+deb13_amd64.deb into the trixie UML bed (tests/uml/trixie.sh,
#     PKG mode), connect with the installed files only (no --plugin: the helper finds the plugin
#     in /usr/lib/pppd/2.5.2/), ping, binding, purge, and compare the file tree with before;
#   - Debian 12: `apt-get install -s` of the .deb on this host (dependencies resolve); install,
#     plugin load by pppd 2.4.9, purge and a file-tree comparison in a throwaway bookworm root
#     (debootstrap, cached in /tmp/sstp-rs-bookworm, used through an overlay); then the mschap
#     end-to-end scenario with SSTP_HELPER / SSTP_PLUGIN taken from the extracted package.
# usage: packaging/test-deb.sh [--no-e2e|--no-uml]
#   --no-e2e: build, lint, layout checks and the rpm root only;  --no-uml: also apt-get -s and the bookworm root
set -uo pipefail
HERE=$(cd "$(dirname "$(readlink -f "$0")")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
P=$REPO/target/packages
RC=0
pass() { echo "PASS $*"; }
fail() { echo "FAIL $*"; RC=1; }
[ "$(id -u)" = 0 ] || { echo "test-deb.sh: needs root (UML, apt-get -s)" >&2; exit 2; }

rm -rf "$P"
bash "$HERE/build.sh" deb || exit 1
TARGET=debian13 NO_BUILD=0 bash "$HERE/build.sh" deb || exit 1
bash "$HERE/build.sh" rpm || exit 1
bash "$HERE/build.sh" lint && pass "lintian and rpmlint clean" || fail "lintian / rpmlint"

D12=$(ls "$P"/sstp-rs_*_amd64.deb | grep -v +deb13 | head -1)
D13=$(ls "$P"/sstp-rs_*+deb13_amd64.deb | head -1)
RPM=$(ls "$P"/sstp-rs-[0-9]*.rpm | head -1)
layout() { # FILE EXPECTED-PATH...
    local f=$1 list; shift
    if [[ $f == *.rpm ]]; then list=$(rpm -qpl "$f" 2>/dev/null); else list=$(dpkg-deb -c "$f" | awk '{print $6}' | sed 's#^\.##'); fi
    for e in "$@"; do grep -qx "$e" <<<"$list" || { fail "$(basename "$f"): no $e"; return; }; done
    pass "$(basename "$f") layout: $*"
}
PV12=$(dpkg-query -W -f '${Version}' ppp | sed 's/-.*//')
layout "$D12" /usr/sbin/sstp-helper "/usr/lib/pppd/$PV12/sstp-rs-pppd.so" /usr/lib/NetworkManager/nm-sstp-service \
    /usr/lib/NetworkManager/nm-sstp-auth-dialog /usr/lib/NetworkManager/VPN/nm-sstp-service.name \
    /usr/share/dbus-1/system.d/nm-sstp-service.conf /usr/share/man/man8/sstp-helper.8.gz \
    /usr/share/doc/sstp-rs/copyright /usr/share/doc/sstp-rs/changelog.Debian.gz
layout "$D13" /usr/sbin/sstp-helper /usr/lib/pppd/2.5.2/sstp-rs-pppd.so /usr/libexec/nm-sstp-service \
    /usr/libexec/nm-sstp-auth-dialog /usr/lib/NetworkManager/VPN/nm-sstp-service.name
layout "$RPM" /usr/sbin/sstp-helper /usr/lib64/pppd/2.5.2/sstp-rs-pppd.so /usr/libexec/nm-sstp-service \
    /usr/libexec/nm-sstp-auth-dialog /usr/lib/NetworkManager/VPN/nm-sstp-service.name \
    /usr/share/dbus-1/system.d/nm-sstp-service.conf
dpkg-deb -f "$D12" Depends Conflicts Replaces Provides | sed 's/^/  /'
rpm -qp --requires "$RPM" 2>/dev/null | grep -E '^ppp' | sed 's/^/  rpm requires: /'

# The rpm into a throwaway rpm database (no Fedora here: --nodeps, the file side only).
R=$(mktemp -d /tmp/sstp-rs-rpmroot.XXXXXX)
if rpm --root "$R" --initdb 2>/dev/null && rpm --root "$R" -ivh --nodeps "$RPM" > "$R.log" 2>&1 \
        && [ -f "$R/usr/lib64/pppd/2.5.2/sstp-rs-pppd.so" ] && rpm --root "$R" -V --nodeps sstp-rs >> "$R.log" 2>&1 \
        && rpm --root "$R" -e --nodeps sstp-rs >> "$R.log" 2>&1 \
        && [ -z "$(find "$R" -path "$R/var" -prune -o -path "$R/usr/lib/sysimage" -prune -o -path "$R/root/.rpmdb" -prune -o -type f -print)" ]; then
    pass "rpm -ivh --nodeps into a throwaway rpm root, rpm -V clean, rpm -e leaves no file"
else
    fail "rpm install/verify/erase in a throwaway root: $(tail -3 "$R.log" | tr '\n' ' ')"
fi
rm -rf "$R" "$R.log"

[ "${1:-}" = --no-e2e ] && exit $RC

if apt-get install -s "$D12" > /tmp/sstp-rs-apt-sim.log 2>&1; then
    pass "apt-get install -s $(basename "$D12"): dependencies resolve on this Debian 12 host"
else
    fail "apt-get install -s: $(tail -3 /tmp/sstp-rs-apt-sim.log | tr '\n' ' ')"
fi

# Debian 12 throwaway root: a cached minbase bookworm root with ppp (debootstrap, once), used
# through an overlayfs so every run starts clean: install, pppd 2.4.9 loads the installed
# plugin, purge, the file tree is the one from before.
BROOT=/tmp/sstp-rs-bookworm; BSTAMP="suite=bookworm pkgs=ppp,libssl3,libnm0 prep=1"
if [ "$(cat "$BROOT/.sstp-rs-stamp" 2>/dev/null)" != "$BSTAMP" ]; then
    echo "test-deb: debootstrap --variant=minbase bookworm $BROOT (once)"
    m=$(apt-get indextargets --format '$(SITE) $(RELEASE)' | awk '$2=="bookworm" {print $1; exit}')
    rm -rf "$BROOT.new"; mkdir -p /tmp/sstp-rs-bookworm-cache/debs
    if debootstrap --variant=minbase --cache-dir=/tmp/sstp-rs-bookworm-cache/debs --include=ppp,libssl3,libnm0 \
            bookworm "$BROOT.new" "${m:-http://deb.debian.org/debian}" > /tmp/sstp-rs-bookworm-cache/debootstrap.log 2>&1; then
        rm -f "$BROOT.new"/var/cache/apt/archives/*.deb
        printf '#!/bin/sh\nexit 101\n' > "$BROOT.new/usr/sbin/policy-rc.d"; chmod 755 "$BROOT.new/usr/sbin/policy-rc.d"
        echo "$BSTAMP" > "$BROOT.new/.sstp-rs-stamp"; rm -rf "$BROOT"; mv "$BROOT.new" "$BROOT"
    else
        fail "debootstrap bookworm (log /tmp/sstp-rs-bookworm-cache/debootstrap.log)"
    fi
fi
if [ -d "$BROOT" ]; then
    T=$(mktemp -d /tmp/sstp-rs-root.XXXXXX); M=$T/merged
    mkdir -p "$T/upper" "$T/work" "$M"
    mount -t overlay overlay -o "lowerdir=$BROOT,upperdir=$T/upper,workdir=$T/work" "$M" \
        && mount --bind /dev "$M/dev" && mount -t proc proc "$M/proc"
    CH=(chroot "$M" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8)
    snap() { (cd "$M" && find . -xdev \( -path ./var/lib/dpkg -o -path ./var/log -o -path ./var/cache -o -path ./tmp \) -prune -o -print | sort); }
    snap > "$T/before.txt"
    cp "$D12" "$M/tmp/"
    if "${CH[@]}" dpkg -i "/tmp/$(basename "$D12")" > "$T/install.log" 2>&1; then
        pass "Debian 12 root: dpkg -i $(basename "$D12") ($("${CH[@]}" dpkg-query -W -f '${Version}' sstp-rs), ppp $("${CH[@]}" dpkg-query -W -f '${Version}' ppp))"
    else
        fail "Debian 12 root: dpkg -i: $(tail -3 "$T/install.log" | tr '\n' ' ')"
    fi
    out=$("${CH[@]}" pppd nodetach logfd 2 noauth notty dryrun plugin sstp-rs-pppd.so 2>&1)
    grep -q "Plugin sstp-rs-pppd.so loaded" <<<"$out" \
        && pass "Debian 12 root: pppd $PV12 loads the installed plugin by name from its plugin dir" \
        || fail "Debian 12 root: pppd did not load sstp-rs-pppd.so: $out"
    v=$("${CH[@]}" /usr/sbin/sstp-helper --version 2>&1)
    [ -n "$v" ] && pass "Debian 12 root: /usr/sbin/sstp-helper runs: $v" || fail "Debian 12 root: sstp-helper --version"
    "${CH[@]}" dpkg --purge sstp-rs > "$T/purge.log" 2>&1 || fail "Debian 12 root: dpkg --purge: $(tail -2 "$T/purge.log")"
    rm -f "$M/tmp/$(basename "$D12")"
    snap > "$T/after.txt"
    if diff "$T/before.txt" "$T/after.txt" > "$T/diff.txt"; then
        pass "Debian 12 root: dpkg --purge sstp-rs left nothing behind"
    else
        fail "Debian 12 root: left after purge: $(head -5 "$T/diff.txt" | tr '\n' ' ')"
    fi
    umount "$M/proc" "$M/dev" "$M"; rm -rf "$T"
fi

if [ "${1:-}" = --no-uml ]; then
    [ $RC = 0 ] && echo "test-deb: all passed (no UML runs)" || echo "test-deb: FAILED"
    exit $RC
fi

X=$(mktemp -d /tmp/sstp-rs-deb12.XXXXXX)
dpkg-deb -x "$D12" "$X"
if XFER=0 SSTP_HELPER="$X/usr/sbin/sstp-helper" SSTP_PLUGIN="$X/usr/lib/pppd/$PV12/sstp-rs-pppd.so" \
        bash "$REPO/tests/uml/run.sh" mschap; then
    pass "Debian 12 e2e (mschap) with the helper and plugin from $(basename "$D12")"
else
    fail "Debian 12 e2e with the packaged files"
fi
rm -rf "$X"

if PKG="$D13" OUT_NAME=trixie-pkg bash "$REPO/tests/uml/trixie.sh"; then
    pass "Debian 13: install, e2e with installed files only, purge: tests/uml/out/trixie-pkg/results.txt"
else
    fail "Debian 13 package run (tests/uml/out/trixie-pkg)"
fi
[ $RC = 0 ] && echo "test-deb: all passed" || echo "test-deb: FAILED"
exit $RC
