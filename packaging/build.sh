#!/bin/bash
# Build the distro packages of sstp-rs from this workspace (no debhelper, no cargo-deb):
#   packaging/build.sh deb   -> target/packages/sstp-rs_<ver>_amd64.deb (+ sstp-rs-gnome_... if
#                               the libnm plugins exist or can be built)
#   packaging/build.sh rpm   -> target/packages/sstp-rs-<ver>.x86_64.rpm (+ -gnome likewise)
#   packaging/build.sh lint  -> lintian / rpmlint on what was built (exit 1 on any error)
# env:
#   TARGET=debian12|debian13|fedora   layout (default: debian12 for deb, fedora for rpm)
#       debian12: programs in /usr/lib/NetworkManager, plugin in /usr/lib/pppd/<v>/
#       debian13: programs in /usr/libexec,            plugin in /usr/lib/pppd/<v>/
#       fedora:   programs in /usr/libexec,            plugin in /usr/lib64/pppd/<v>/
#   PPPD_VERSION=2.4.9   pppd the plugin is built for (default: debian12 -> what build.rs finds
#                        on this host, i.e. ppp-dev; debian13 -> 2.5.2; fedora -> 2.5.2)
#   EDITOR_DIR=DIR       where the built libnm plugins are (default: target/release, then
#                        nm-plugin/editor/build, which is built with make when the GTK/libnma
#                        dev files are there); all three libnm-*-sstp-rs*.so files are needed:
#                        the GTK-free one goes into the base package, the editors into -gnome
#   NO_BUILD=1           use the binaries already in the cargo target dir
# Needs: cargo, dpkg-deb, dpkg-shlibdeps (dpkg-dev), strip; rpmbuild (apt: rpm); lintian, rpmlint.
set -euo pipefail
HERE=$(cd "$(dirname "$(readlink -f "$0")")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
OUTDIR=$REPO/target/packages
die() { echo "packaging: $*" >&2; exit 1; }
say() { echo "packaging: $*"; }

KIND=${1:-}
case "$KIND" in deb|rpm|lint) ;; *) sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;; esac

VERSION=$(sed -n 's/^version = "\(.*\)"/\1/p' "$REPO/Cargo.toml" | head -1)
[ -n "$VERSION" ] || die "no workspace version in Cargo.toml"
DEBREV=1
PKG=sstp-rs
MAINT="sstp-rs maintainers <maintainers@users.noreply.github.com>"

if [ "$KIND" = lint ]; then
    rc=0
    debs=("$OUTDIR"/*.deb); rpms=("$OUTDIR"/*.rpm)
    if [ -e "${debs[0]}" ]; then
        command -v lintian >/dev/null || die "lintian not found (apt-get install lintian)"
        # one at a time: lintian groups packages of the same name and version
        out=$(for d in "${debs[@]}"; do lintian --fail-on none --tag-display-limit 0 "$d" 2>&1; done \
            | grep -v 'running with root privileges') || true
        [ -z "$out" ] || echo "$out"
        e=$(grep -c '^E: ' <<<"$out" || true); w=$(grep -c '^W: ' <<<"$out" || true)
        echo "lintian: $e errors, $w warnings (${#debs[@]} packages)"
        [ "$e" = 0 ] && [ "$w" = 0 ] || rc=1
    fi
    if [ -e "${rpms[0]}" ]; then
        command -v rpmlint >/dev/null || die "rpmlint not found (apt-get install rpmlint)"
        for r in "${rpms[@]}"; do   # each with its own filters (unused filters are errors)
            case "$(basename "$r")" in *-gnome-*) rc_file=$HERE/rpmlintrc-gnome ;; *) rc_file=$HERE/rpmlintrc ;; esac
            out=$(rpmlint -r "$rc_file" "$r" 2>&1) || true
            echo "$out" | grep -E '^[^ ]+: [EW]: |packages and'
            grep -q ' 0 errors, 0 warnings' <<<"$out" || rc=1
        done
    fi
    exit $rc
fi

TARGET=${TARGET:-$([ "$KIND" = rpm ] && echo fedora || echo debian12)}
case "$TARGET" in
    debian12) LIBEXEC=/usr/lib/NetworkManager; PPPDIR=/usr/lib/pppd ;;
    debian13) LIBEXEC=/usr/libexec; PPPDIR=/usr/lib/pppd; : "${PPPD_VERSION:=2.5.2}"; DEBREV=1+deb13 ;;
    fedora)   LIBEXEC=/usr/libexec; PPPDIR=/usr/lib64/pppd; : "${PPPD_VERSION:=2.5.2}" ;;
    *) die "TARGET must be debian12, debian13 or fedora" ;;
esac
[ "$KIND" = rpm ] && [ "$TARGET" != fedora ] && die "rpm packages are for TARGET=fedora"
[ "$KIND" = deb ] && [ "$TARGET" = fedora ] && die "deb packages are for TARGET=debian12 or debian13"

# ---------------------------------------------------------------- build
# The plugin is built per pppd version (pppd_version strcmp, API differences), each version in
# its own target dir so switching versions does not rebuild everything else.
TGT=${CARGO_TARGET_DIR:-$REPO/target}
if [ -n "${PPPD_VERSION:-}" ]; then
    export PPPD_VERSION   # for the plugin's build.rs
    PTGT=$TGT/pppd-$PPPD_VERSION
else
    PTGT=$TGT
fi
if [ "${NO_BUILD:-0}" != 1 ]; then
    # the whole workspace, as the README's and CI's `cargo build --release`: the same feature
    # set, so the artefacts are shared instead of rebuilt
    say "cargo build --release --workspace (helper, NM service, auth dialog)"
    (cd "$REPO" && env -u PPPD_VERSION nice cargo build --locked --release --workspace)
    say "cargo build --release -p sstp-pppd-plugin (pppd ${PPPD_VERSION:-from build.rs})"
    if [ -n "${PPPD_VERSION:-}" ]; then
        (cd "$REPO" && CARGO_TARGET_DIR=$PTGT nice cargo build --locked --release -p sstp-pppd-plugin)
    else   # the host's pppd: the plugin of the workspace build above
        (cd "$REPO" && env -u PPPD_VERSION nice cargo build --locked --release -p sstp-pppd-plugin)
    fi
fi
BIN=$TGT/release
PLUGIN_SO=$PTGT/release/libsstp_rs_pppd.so
for f in "$BIN/sstp-helper" "$BIN/nm-sstp-service" "$BIN/nm-sstp-auth-dialog" "$PLUGIN_SO"; do
    [ -f "$f" ] || die "missing $f (build first, or drop NO_BUILD)"
done
# The version the plugin really carries (its exported pppd_version string): the package's
# directory and dependency follow it, and it must be the one asked for.
PV=$(strings -n 3 "$PLUGIN_SO" | grep -m1 -xE '2\.[0-9]+\.[0-9]+[0-9A-Za-z.~+-]*' || true)
[ -n "$PV" ] || die "cannot tell which pppd version $PLUGIN_SO is built for"
if [ -n "${PPPD_VERSION:-}" ] && [ "$PV" != "$PPPD_VERSION" ]; then
    die "$PLUGIN_SO is built for pppd $PV, not $PPPD_VERSION (rebuild without NO_BUILD)"
fi
say "layout $TARGET: programs in $LIBEXEC, plugin in $PPPDIR/$PV/"

# ---------------------------------------------------------------- staging tree
STAGE=$(mktemp -d "${TMPDIR:-/tmp}/sstp-rs-pkg.XXXXXX")
trap 'rm -rf "$STAGE"' EXIT
ROOT=$STAGE/root
install_strip() { # SRC DEST MODE
    install -D -m "$3" "$1" "$2"
    strip --remove-section=.comment --remove-section=.note --strip-unneeded "$2"
}
install_strip "$BIN/sstp-helper" "$ROOT/usr/sbin/sstp-helper" 755
install_strip "$PLUGIN_SO" "$ROOT$PPPDIR/$PV/sstp-rs-pppd.so" 644
install_strip "$BIN/nm-sstp-service" "$ROOT$LIBEXEC/nm-sstp-service" 755
install_strip "$BIN/nm-sstp-auth-dialog" "$ROOT$LIBEXEC/nm-sstp-auth-dialog" 755
install -d "$ROOT/usr/lib/NetworkManager/VPN"
sed -e "s#^program=.*#program=$LIBEXEC/nm-sstp-service#" \
    -e "s#^auth-dialog=.*#auth-dialog=$LIBEXEC/nm-sstp-auth-dialog#" \
    -e "s#^plugin=.*#plugin=libnm-vpn-plugin-sstp-rs.so#" \
    -e '/^properties=/d' \
    -e "s#^\(\# /usr/lib/NetworkManager/VPN/nm-sstp-service.name\).*#\1#" \
    "$REPO/nm-plugin/data/nm-sstp-service.name" > "$ROOT/usr/lib/NetworkManager/VPN/nm-sstp-service.name"
chmod 644 "$ROOT/usr/lib/NetworkManager/VPN/nm-sstp-service.name"
install -D -m 644 "$REPO/nm-plugin/data/nm-sstp-service.conf" "$ROOT/usr/share/dbus-1/system.d/nm-sstp-service.conf"
install -D -m 644 "$HERE/lintian/$PKG" "$ROOT/usr/share/lintian/overrides/$PKG"
# the no-manual-page overrides are for the /usr/libexec layout only
[ "$LIBEXEC" = /usr/libexec ] || sed -i '/^# Debian 13 layout/,$d' "$ROOT/usr/share/lintian/overrides/$PKG"
install -d "$ROOT/usr/share/man/man8"
gzip -9n < "$REPO/sstp-helper/man/sstp-helper.8" > "$ROOT/usr/share/man/man8/sstp-helper.8.gz"
chmod 644 "$ROOT/usr/share/man/man8/sstp-helper.8.gz"

# The libnm plugins (nm-plugin/editor, C, built with make). The GTK-free one goes into the base
# package: the .name file names it, and nmcli needs it for import/export without any GTK (as
# Debian splits network-manager-sstp). The GTK3 and GTK4 editors make the -gnome package.
SHIM=libnm-vpn-plugin-sstp-rs.so
EDITOR_LIBS=(libnm-vpn-plugin-sstp-rs-editor.so libnm-gtk4-vpn-plugin-sstp-rs-editor.so)
find_editor_dir() {
    local d l ok
    for d in ${EDITOR_DIR:-} "$BIN" "$REPO/nm-plugin/editor/build"; do
        ok=1; for l in "$SHIM" "${EDITOR_LIBS[@]}"; do [ -f "$d/$l" ] || ok=0; done
        [ $ok = 1 ] && { echo "$d"; return 0; }
    done
    return 0   # none: empty output (a non-zero status would end this set -e script)
}
EDIR=$(find_editor_dir)
if [ -z "$EDIR" ] && [ -z "${EDITOR_DIR:-}" ] && pkg-config --exists libnm gtk+-3.0 gtk4 libnma libnma-gtk4 2>/dev/null; then
    say "building the editor plugins (make -C nm-plugin/editor)"
    make -s -C "$REPO/nm-plugin/editor" >/dev/null || die "make -C nm-plugin/editor failed"
    EDIR=$(find_editor_dir)
fi
if [ "$TARGET" = fedora ]; then NMLIB=/usr/lib64/NetworkManager; else NMLIB=/usr/lib/x86_64-linux-gnu/NetworkManager; fi
GROOT=$STAGE/groot
if [ -n "$EDIR" ]; then
    install_strip "$EDIR/$SHIM" "$ROOT$NMLIB/$SHIM" 644
    for l in "${EDITOR_LIBS[@]}"; do install_strip "$EDIR/$l" "$GROOT$NMLIB/$l" 644; done
    install -D -m 644 "$HERE/lintian/$PKG-gnome" "$GROOT/usr/share/lintian/overrides/$PKG-gnome"
    say "libnm plugins from $EDIR: $SHIM in $PKG, the editors in the -gnome package"
else
    say "no libnm plugins ($SHIM ${EDITOR_LIBS[*]}) in ${EDITOR_DIR:-$BIN or nm-plugin/editor/build} and no GTK/libnma dev files to build them: $PKG without $SHIM, no -gnome package"
fi

mkdir -p "$OUTDIR"

# ---------------------------------------------------------------- .deb
doc_files() { # ROOT PKGNAME
    local d=$1/usr/share/doc/$2
    install -d "$d"
    sed -e "s/@YEAR@/$(date -u +%Y)/" "$HERE/copyright" > "$d/copyright"
    sed -e "s/@PKG@/$2/" -e "s/@VERSION@/$VERSION-$DEBREV/" -e "s/@MAINT@/$MAINT/" \
        -e "s/@DATE@/$(date -u -d "@${SOURCE_DATE_EPOCH:-$(git -C "$REPO" log -1 --format=%ct)}" -R)/" \
        "$HERE/changelog.in" | gzip -9n > "$d/changelog.Debian.gz"
    chmod 644 "$d/copyright" "$d/changelog.Debian.gz"
}
shlibdeps() { # ROOT -> "libc6 (>= ...), ..."
    local root=$1 w=$STAGE/shlibdeps files
    mkdir -p "$w/debian"
    printf 'Source: %s\n\nPackage: %s\nArchitecture: amd64\n' "$PKG" "$PKG" > "$w/debian/control"
    mapfile -t files < <(find "$root" -type f \( -name '*.so' -o -perm -u+x \))
    (cd "$w" && dpkg-shlibdeps -O --warnings=0 "${files[@]}" 2>/dev/null) | sed -n 's/^shlibs:Depends=//p'
}
build_deb() { # NAME ROOT DEPENDS DESCRIPTION-LINES...
    local name=$1 root=$2 deps=$3 size; shift 3
    doc_files "$root" "$name"
    install -d -m 755 "$root/DEBIAN"
    size=$(du -sk --exclude=DEBIAN "$root" | cut -f1)
    {
        echo "Package: $name"
        echo "Version: $VERSION-$DEBREV"
        echo "Architecture: amd64"
        echo "Maintainer: $MAINT"
        echo "Installed-Size: $size"
        echo "Depends: $deps"
        [ "$name" = "$PKG" ] && {
            echo "Recommends: network-manager"
            echo "Conflicts: network-manager-sstp"
            echo "Replaces: network-manager-sstp"
            echo "Provides: network-manager-sstp"
        }
        [ "$name" = "$PKG-gnome" ] && {
            echo "Conflicts: network-manager-sstp-gnome"
            echo "Replaces: network-manager-sstp-gnome"
            echo "Provides: network-manager-sstp-gnome"
        }
        echo "Section: net"
        echo "Priority: optional"
        echo "Homepage: https://github.com/sstp-rs/sstp-rs"
        printf '%s\n' "$@"
    } > "$root/DEBIAN/control"
    (cd "$root" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | sort -z | xargs -0 md5sum) > "$root/DEBIAN/md5sums"
    chmod 644 "$root/DEBIAN/control" "$root/DEBIAN/md5sums"
    find "$root" -type d -exec chmod 755 {} +
    local out=$OUTDIR/${name}_${VERSION}-${DEBREV}_amd64.deb
    dpkg-deb --root-owner-group -Zxz --build "$root" "$out" >/dev/null
    say "built $out ($(stat -c %s "$out") bytes)"
}

if [ "$KIND" = deb ]; then
    command -v dpkg-shlibdeps >/dev/null || die "dpkg-shlibdeps not found (apt-get install dpkg-dev)"
    # ppp: the plugin only loads into the exact upstream pppd version it was built for (strcmp of
    # pppd_version), whatever the Debian revision: the same range dh_ppp puts in ppp:Depends.
    PPPDEP="ppp (>= $PV), ppp (<< ${PV%.*}.$(( ${PV##*.} + 1 ))~)"
    DEPS="$(shlibdeps "$ROOT"), $PPPDEP"
    build_deb "$PKG" "$ROOT" "$DEPS" \
        "Description: SSTP VPN client (helper, pppd $PV plugin, NetworkManager service)" \
        " sstp-rs connects to Microsoft SSTP VPN servers: sstp-helper does TCP, TLS, HTTP" \
        " and SSTP and runs the system pppd with its plugin; the NetworkManager VPN" \
        " service and the auth dialog make it a drop-in for network-manager-sstp." \
        " ." \
        " This package is built for pppd $PV."
    if [ -n "$EDIR" ]; then
        GDEPS=$(shlibdeps "$GROOT"); GDEPS="${GDEPS:+$GDEPS, }$PKG (= $VERSION-$DEBREV)"
        build_deb "$PKG-gnome" "$GROOT" "$GDEPS" \
            "Description: SSTP VPN client - GNOME and nm-connection-editor plugins" \
            " The connection editor plugins of sstp-rs: the GTK3 and GTK4 editors used by" \
            " nm-connection-editor and GNOME Settings (import and export of Windows" \
            " phonebook files are in the base package, for nmcli too)."
    fi
    exit 0
fi

# ---------------------------------------------------------------- .rpm
command -v rpmbuild >/dev/null || die "rpmbuild not found (apt-get install rpm)"
TOP=$STAGE/rpm
mkdir -p "$TOP"/{BUILD,RPMS,SPECS,SRPMS,BUILDROOT}
doc_files "$ROOT" "$PKG"
rm -f "$ROOT/usr/share/doc/$PKG/changelog.Debian.gz"
rm -rf "$ROOT/usr/share/lintian"
if [ -n "$EDIR" ]; then
    doc_files "$GROOT" "$PKG-gnome"
    rm -f "$GROOT/usr/share/doc/$PKG-gnome/changelog.Debian.gz"
    rm -rf "$GROOT/usr/share/lintian"
fi
build_rpm() { # SUBPKG(""|gnome) ROOT
    local sub=$1 root=$2 name=$PKG${1:+-$1}
    sed -e "s/@NAME@/$name/g" -e "s/@VERSION@/$VERSION/g" -e "s/@PPPD_VERSION@/$PV/g" \
        -e "s#@STAGE@#$root#g" -e "s/@MAINT@/$MAINT/g" \
        -e "s/@DATE@/$(LC_ALL=C date -u -d "@${SOURCE_DATE_EPOCH:-$(git -C "$REPO" log -1 --format=%ct)}" '+%a %b %d %Y')/" \
        "$HERE/sstp-rs${sub:+-$sub}.spec.in" > "$TOP/SPECS/$name.spec"
    (cd "$root" && find . -type f -printf '/%P\n' | grep -vx "/usr/share/doc/$name/copyright" | sort) > "$TOP/$name.files"
    rpmbuild --quiet -bb --define "_topdir $TOP" --define "_filelist $TOP/$name.files" \
        --define "_build_id_links none" --define "__os_install_post %{nil}" \
        --define "_buildhost sstp-rs.build" --target x86_64-linux "$TOP/SPECS/$name.spec" >/dev/null
    local f; f=$(find "$TOP/RPMS" -name "$name-$VERSION-*.rpm" | head -1)
    [ -n "$f" ] || die "rpmbuild produced no $name rpm"
    cp "$f" "$OUTDIR/"
    say "built $OUTDIR/$(basename "$f") ($(stat -c %s "$f") bytes)"
}
build_rpm "" "$ROOT"
[ -n "$EDIR" ] && build_rpm gnome "$GROOT"
exit 0
