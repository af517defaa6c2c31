#!/bin/bash
# Debian 13 end to end in user-mode-linux: our sstp-helper + pppd plugin built for pppd 2.5,
# with trixie's ppp 2.5.2 and kernel PPP, against sstp-server 0.7.2 (PyPI) whose server pppd
# runs sstp-client's sstp-pppd-plugin (so sstpd verifies the crypto binding).
#
# usage (host, root): tests/uml/trixie.sh            (also: tests/uml/run.sh trixie)
# env:
#   SSTP_HELPER=PATH   helper   (default $REPO/target/release/sstp-helper)
#   SSTP_PLUGIN=PATH   plugin built for pppd 2.5.2
#                      (default $REPO/target/pppd-2.5.2/release/libsstp_rs_pppd.so, built by
#                      `PPPD_VERSION=2.5.2 CARGO_TARGET_DIR=target/pppd-2.5.2 cargo build --release -p sstp-pppd-plugin`)
#   PKG=FILE.deb       instead: install this .deb (TARGET=debian13 build) in the guest, connect
#                      with the installed files only, purge it, check nothing is left
#   TRIXIE_ROOT=/tmp/sstp-rs-trixie   TRIXIE_CACHE=/tmp/sstp-rs-trixie-cache   (both under /tmp)
#   SSTPD_HLAK_FIX=1   cut pppd 2.5's 20-byte MS-CHAPv2 keys to 16 in the guest's sstpd (0 = as released)
#   OUT_NAME=trixie    output dir name under tests/uml/out/
# The root is built once by debootstrap (minbase + ppp, sstp-client, python3-venv, ...; about
# 2 min and 300 MB, .debs cached) and booted read-only with a RAM overlay: runs never change it.
set -u
HERE=$(cd "$(dirname "$(readlink -f "$0")")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
ROOT=$(readlink -m "${TRIXIE_ROOT:-/tmp/sstp-rs-trixie}")
CACHE=$(readlink -m "${TRIXIE_CACHE:-/tmp/sstp-rs-trixie-cache}")
OUT=$HERE/out/${OUT_NAME:-trixie}
SSTPD_VERSION=0.7.2
PKGS=ppp,ppp-dev,sstp-client,libnm0,iproute2,iputils-ping,python3,python3-venv,openssl,kmod,procps,pkgconf
STAMP="suite=trixie pkgs=$PKGS sstpd=$SSTPD_VERSION prep=1"
die() { echo "trixie.sh: $*" >&2; exit 2; }
say() { echo "[$(date +%T)] trixie: $*"; }

[ "$(id -u)" = 0 ] || die "must run as root (debootstrap, chroot, UML)"
for d in "$ROOT" "$CACHE"; do case "$d" in /tmp/?*) ;; *) die "$d must be under /tmp" ;; esac; done
for c in debootstrap linux.uml chroot openssl; do
    command -v $c >/dev/null || die "$c not found (tests/install-deps.sh)"
done
case "$HERE$ROOT$OUT" in *[!A-Za-z0-9._/-]*) die "odd characters in paths (hostfs paths go on the kernel command line)";; esac

if [ -n "${PKG:-}" ]; then
    [ -f "$PKG" ] || die "no package at $PKG"
else
    HELPER_SRC=${SSTP_HELPER:-$REPO/target/release/sstp-helper}
    PLUGIN_SRC=${SSTP_PLUGIN:-$REPO/target/pppd-2.5.2/release/libsstp_rs_pppd.so}
    [ -x "$HELPER_SRC" ] || die "no helper at $HELPER_SRC (cargo build --release -p sstp-helper)"
    [ -f "$PLUGIN_SRC" ] || die "no plugin at $PLUGIN_SRC (PPPD_VERSION=2.5.2 CARGO_TARGET_DIR=target/pppd-2.5.2 cargo build --release -p sstp-pppd-plugin)"
    strings "$PLUGIN_SRC" | grep -qx 2.5.2 || die "$PLUGIN_SRC is not built for pppd 2.5.2 (no pppd_version \"2.5.2\" in it)"
fi

# ---------------------------------------------------------------- the root (cached)
mirror() {
    local code; code=$(. /etc/os-release && echo "$VERSION_CODENAME")
    apt-get indextargets --format '$(SITE) $(RELEASE)' | awk -v c="$code" '$2==c {print $1; exit}'
}
build_root() {
    local new=$ROOT.new m t0=$SECONDS
    rm -rf "$new"; mkdir -p "$CACHE/debs" "$CACHE/wheels"
    m=$(mirror); [ -n "$m" ] || m=http://deb.debian.org/debian
    say "debootstrap --variant=minbase trixie $new (once; log $CACHE/debootstrap.log)"
    debootstrap --variant=minbase --cache-dir="$CACHE/debs" --include="$PKGS" trixie "$new" "$m" \
        > "$CACHE/debootstrap.log" 2>&1 || { tail -15 "$CACHE/debootstrap.log"; die "debootstrap failed"; }
    rm -f "$new"/var/cache/apt/archives/*.deb
    printf '#!/bin/sh\nexit 101\n' > "$new/usr/sbin/policy-rc.d"; chmod 755 "$new/usr/sbin/policy-rc.d"
    say "sstp-server $SSTPD_VERSION: wheel for CPython 3.13 via the host's pip, offline venv in the root"
    ls "$CACHE"/wheels/sstp_server-$SSTPD_VERSION-cp313-*.whl >/dev/null 2>&1 || \
        python3 -m pip download -q --no-cache-dir --no-deps --only-binary=:all: --implementation cp \
            --python-version 3.13 --platform manylinux_2_28_x86_64 -d "$CACHE/wheels" "sstp-server==$SSTPD_VERSION" \
        || die "pip download sstp-server failed"
    mkdir -p "$new/opt/wheels"; cp "$CACHE"/wheels/sstp_server-$SSTPD_VERSION-cp313-*.whl "$new/opt/wheels/"
    local CH=(chroot "$new" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8)
    "${CH[@]}" python3 -m venv /opt/sstpd-venv > "$CACHE/venv.log" 2>&1 \
        && "${CH[@]}" /opt/sstpd-venv/bin/pip install -q --no-index --find-links /opt/wheels \
            "sstp-server==$SSTPD_VERSION" >> "$CACHE/venv.log" 2>&1 || { tail "$CACHE/venv.log"; die "sstpd venv"; }
    echo "$STAMP" > "$new/.sstp-rs-stamp"
    rm -rf "$ROOT"; mv "$new" "$ROOT"
    say "root ready in $((SECONDS - t0)) s: $(du -sh "$ROOT" | cut -f1)"
}
[ "$(cat "$ROOT/.sstp-rs-stamp" 2>/dev/null)" = "$STAMP" ] || build_root
cp "$HERE/trixie-guest.sh" "$ROOT/sstp-rs-init.sh"; chmod 755 "$ROOT/sstp-rs-init.sh"

# ---------------------------------------------------------------- one run
rm -rf "$OUT"; mkdir -p "$OUT/bin" || die "cannot create $OUT"
d=$OUT
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=sstp-rs test CA (throwaway)" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -keyout "$d/ca.key" -out "$d/ca.pem" 2>/dev/null || die "openssl CA"
openssl req -newkey rsa:2048 -nodes -subj "/CN=192.0.2.1" -keyout "$d/server.key" -out "$d/server.csr" 2>/dev/null
printf '%s\n' "basicConstraints=critical,CA:FALSE" "keyUsage=critical,digitalSignature,keyEncipherment" \
    "extendedKeyUsage=serverAuth" "subjectAltName=IP:192.0.2.1" > "$d/server.ext"
openssl x509 -req -in "$d/server.csr" -CA "$d/ca.pem" -CAkey "$d/ca.key" -CAcreateserial -days 2 \
    -extfile "$d/server.ext" -out "$d/server.pem" 2>/dev/null || die "openssl server cert"
rm -f "$d/server.csr" "$d/ca.srl" "$d/ca.key"
PASSWORD=$(openssl rand -hex 12)
{
    printf 'PASSWORD=%q\nSSTPD_HLAK_FIX=%q\n' "$PASSWORD" "${SSTPD_HLAK_FIX:-1}"
    if [ -n "${PKG:-}" ]; then
        cp "$PKG" "$OUT/bin/"; printf 'PKG=%q\n' "/out/bin/$(basename "$PKG")"
    else
        cp "$HELPER_SRC" "$OUT/bin/sstp-helper"; cp "$PLUGIN_SRC" "$OUT/bin/libsstp_rs_pppd.so"
        printf 'HELPER=/out/bin/sstp-helper\nPLUGIN=/out/bin/libsstp_rs_pppd.so\n'
    fi
} > "$OUT/params.env"
chmod 600 "$OUT/params.env"

MARK=$(mktemp /tmp/sstp-rs-trixie-mark.XXXXXX); sleep 1
say "booting UML on $ROOT (ro + RAM overlay) -> ${OUT#$REPO/}"
state=$(mktemp -d /dev/shm/sstp-trixie.XXXXXX) || die mktemp
t0=$SECONDS
TMPDIR=$state HOME=$state timeout -k 10 "${TIMEOUT:-300}" linux.uml mem=1024M root=/dev/root \
    rootfstype=hostfs rootflags="$ROOT" ro init=/sstp-rs-init.sh uml_dir="$state" umid="sstpt$$" \
    con=null ssl=null con0=fd:0,fd:1 quiet TB_HERE="$HERE" TB_OUT="$OUT" \
    </dev/null > "$OUT/console.log" 2>&1
rc=$?
rm -rf "$state"
rm -f "$OUT/params.env"   # holds the run's throwaway password
touch "$OUT/results.txt"
[ $rc = 124 ] || [ $rc = 137 ] && echo "FAIL the run hit the ${TIMEOUT:-300} s limit" >> "$OUT/results.txt"
grep -qx END "$OUT/results.txt" || echo "FAIL the guest did not finish (see guest.log, console.log)" >> "$OUT/results.txt"
# the root must be untouched by the guest (hostfs ro + overlay): the next run starts clean
changed=$(find "$ROOT" -xdev -newer "$MARK" 2>/dev/null | head -5 | tr '\n' ' ')
rm -f "$MARK"
[ -z "$changed" ] && echo "PASS the cached root is unchanged by the run (read-only hostfs + RAM overlay)" >> "$OUT/results.txt" \
    || echo "FAIL the guest changed the cached root: $changed" >> "$OUT/results.txt"
[ -z "${KEEP:-}" ] && rm -rf "$OUT/bin"
echo "--- ${OUT_NAME:-trixie} ($((SECONDS - t0)) s) ---"
grep -v '^END$' "$OUT/results.txt"
! grep -q '^FAIL' "$OUT/results.txt" && grep -q '^PASS' "$OUT/results.txt"
