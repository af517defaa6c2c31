#!/bin/bash
# The GNOME / nm-connection-editor tier: builds nm-plugin/editor and checks it for real.
#
#   nm-plugin/editor/tests/run.sh [OUT_DIR]      (default nm-plugin/editor/build/test-out)
#
# 1. `make install DESTDIR=` puts the three libraries in libnm's plugin directory.
# 2. nmcli path: import/export through the installed shim in a process without GTK.
# 3. GTK3 and GTK4 harnesses (harness.py) under Xvfb: every widget, round trips, validation,
#    .pbk / .sstp import, export -> import identity; a screenshot of each editor.
# 4. Real nm-connection-editor (GTK3) on a private system bus without NetworkManager, read
#    through the AT-SPI tree: SSTP is in its type chooser, Create… embeds our editor, Save stays
#    disabled with our validation message; --import of a .pbk opens our editor filled in, of an
#    IKEv2 .pbk shows its import error; screenshots.
# Needs: make, gcc, pkg-config, libnm-dev, libgtk-3-dev, libgtk-4-dev, libnma-dev,
# libnma-gtk4-dev, xvfb, imagemagick, network-manager-gnome, at-spi2-core, dbus, python3-gi,
# gir1.2-nm-1.0, gir1.2-gtk-3.0, gir1.2-gtk-4.0, gir1.2-atspi-2.0 (tests/install-deps.sh).
# Ends with "gnome-editor: N passed, M failed"; exits non-zero when anything failed.
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
EDITOR=$(dirname "$HERE")
OUT=${1:-$EDITOR/build/test-out}
PY=/usr/bin/python3 # Debian's python3 has gi; a pyenv one may not
rm -rf "$OUT" && mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
PASSED=0
FAILED=0

note() { printf '%s\n' "$*"; }
ok() { PASSED=$((PASSED + 1)); note "ok   $*"; }
fail() { FAILED=$((FAILED + 1)); note "FAIL $*"; }
# run a checker; add up its "N passed, M failed" line
tally() {
	local log=$1
	shift
	"$@" >"$log" 2>"$log.stderr"
	local rc=$?
	cat "$log"
	local line
	line=$(grep -E '[0-9]+ passed, [0-9]+ failed' "$log" | tail -1)
	if [[ $line =~ ([0-9]+)\ passed,\ ([0-9]+)\ failed ]]; then
		PASSED=$((PASSED + BASH_REMATCH[1] - 1)) # the run itself counts one below
		FAILED=$((FAILED + BASH_REMATCH[2]))
	fi
	if [ $rc -eq 0 ] && [ -n "$line" ]; then ok "$(basename "$log" .log) exited 0"; else
		fail "$(basename "$log" .log) exited $rc"
		tail -20 "$log.stderr"
	fi
}

# ---- 1. build and install
# -Werror here: a new compiler warning fails the tier (the Makefile's default does not)
if nice make -s -C "$EDITOR" CFLAGS="-O2 -g -Werror" >"$OUT/make.log" 2>&1; then ok "make -C nm-plugin/editor (-Wall -Wextra -Werror)"; else
	fail "make -C nm-plugin/editor"
	cat "$OUT/make.log"
	note "gnome-editor: $PASSED passed, $FAILED failed"
	exit 1
fi
ROOT=$OUT/root
make -s -C "$EDITOR" install DESTDIR="$ROOT" >>"$OUT/make.log" 2>&1
PLUGINDIR=$(pkg-config --variable=libdir libnm)/NetworkManager
for f in libnm-vpn-plugin-sstp-rs.so libnm-vpn-plugin-sstp-rs-editor.so libnm-gtk4-vpn-plugin-sstp-rs-editor.so; do
	if [ -f "$ROOT$PLUGINDIR/$f" ] && [ "$(stat -c %a "$ROOT$PLUGINDIR/$f")" = 644 ]; then
		ok "installed $PLUGINDIR/$f (0644)"
	else fail "installed $PLUGINDIR/$f"; fi
done
NAME=$EDITOR/../data/nm-sstp-service.name
if grep -qx 'plugin=libnm-vpn-plugin-sstp-rs.so' "$NAME"; then ok "the .name file names the shim by its bare name"; else
	fail "the .name file has no plugin=libnm-vpn-plugin-sstp-rs.so"
fi
# the shipped .name file, with plugin= pointing at the DESTDIR copy (libnm resolves a bare
# name against its own plugin directory, which a test must not write to)
mkdir -p "$OUT/vpn"
sed "s|^plugin=.*|plugin=$ROOT$PLUGINDIR/libnm-vpn-plugin-sstp-rs.so|" "$NAME" >"$OUT/vpn/nm-sstp-service.name"
NAMEFILE=$OUT/vpn/nm-sstp-service.name

# ---- 2. the nmcli path, no GTK
tally "$OUT/nogtk.log" $PY "$HERE/nogtk_check.py" "$NAMEFILE" "$HERE/data" "$OUT"

# ---- 3. and 4. under Xvfb, with a private session bus (AT-SPI) and system bus
XPID=
SYSPID=
cleanup() {
	[ -n "$SYSPID" ] && kill "$SYSPID" 2>/dev/null
	[ -n "$XPID" ] && kill "$XPID" 2>/dev/null
}
trap cleanup EXIT
Xvfb -displayfd 5 -screen 0 1000x1000x24 -nolisten tcp 5>"$OUT/display" 2>"$OUT/xvfb.log" &
XPID=$!
for _ in $(seq 100); do [ -s "$OUT/display" ] && break; sleep 0.1; done
if [ ! -s "$OUT/display" ]; then
	fail "Xvfb did not start"
	note "gnome-editor: $PASSED passed, $FAILED failed"
	exit 1
fi
export DISPLAY=:$(cat "$OUT/display")
# (without the send_type/eavesdrop rules libnm's NMClient waits 25 s and gives up)
cat >"$OUT/system-bus.conf" <<CONF
<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-BUS Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path=$OUT/system_bus_socket</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <allow own="*"/>
    <allow send_type="method_call"/>
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
  </policy>
</busconfig>
CONF
dbus-daemon --config-file="$OUT/system-bus.conf" --fork --print-pid >"$OUT/system-bus.pid"
SYSPID=$(cat "$OUT/system-bus.pid")
export DBUS_SYSTEM_BUS_ADDRESS=unix:path=$OUT/system_bus_socket
export NM_VPN_PLUGIN_DIR=$OUT/vpn # nm-connection-editor reads .name files from here first

tally "$OUT/gtk3.log" env NO_AT_BRIDGE=1 GTK_A11Y=none $PY "$HERE/harness.py" 3.0 "$NAMEFILE" "$HERE/data" "$OUT"
tally "$OUT/gtk4.log" env NO_AT_BRIDGE=1 GTK_A11Y=none GSK_RENDERER=cairo $PY "$HERE/harness.py" 4.0 "$NAMEFILE" "$HERE/data" "$OUT"

# the same harness against an AddressSanitizer build of the three libraries: no memory error
# in the C code along every path above (leak checks off: Python and GTK keep their own;
# G_SLICE=always-malloc so GLib 2.74 frees objects where ASan sees it)
ASAN_LIB=$(gcc -print-file-name=libasan.so)
if nice make -s -C "$EDITOR" B="$OUT/asan" CFLAGS="-O1 -g -fsanitize=address -fno-omit-frame-pointer" \
	LDFLAGS="-fsanitize=address" >"$OUT/make-asan.log" 2>&1 && [ -e "$ASAN_LIB" ]; then
	sed "s|^plugin=.*|plugin=$OUT/asan/libnm-vpn-plugin-sstp-rs.so|" "$NAME" >"$OUT/asan.name"
	for v in 3 4; do
		env NO_AT_BRIDGE=1 GTK_A11Y=none GSK_RENDERER=cairo G_SLICE=always-malloc ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 \
			LD_PRELOAD="$ASAN_LIB" $PY "$HERE/harness.py" $v.0 "$OUT/asan.name" "$HERE/data" "$OUT/asan" \
			>"$OUT/asan-gtk$v.log" 2>&1
		rc=$?
		if [ $rc -eq 0 ] && ! grep -q "ERROR: AddressSanitizer" "$OUT/asan-gtk$v.log"; then
			ok "GTK$v harness on the ASan build: $(grep -E 'passed, [0-9]+ failed' "$OUT/asan-gtk$v.log"), no ASan report"
		else
			fail "GTK$v harness on the ASan build (exit $rc)"
			grep -A20 "ERROR: AddressSanitizer" "$OUT/asan-gtk$v.log" | head -40
		fi
	done
	env G_SLICE=always-malloc ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 LD_PRELOAD="$ASAN_LIB" \
		$PY "$HERE/nogtk_check.py" "$OUT/asan.name" "$HERE/data" "$OUT/asan" >"$OUT/asan-nogtk.log" 2>&1
	if [ $? -eq 0 ] && ! grep -q "ERROR: AddressSanitizer" "$OUT/asan-nogtk.log"; then
		ok "import of 65 random/mangled files on the ASan build: no ASan report"
	else fail "import on the ASan build"; grep -A20 "ERROR: AddressSanitizer" "$OUT/asan-nogtk.log" | head -40; fi
else
	fail "AddressSanitizer build (see $OUT/make-asan.log)"
fi

# nm-connection-editor: a session bus of its own for AT-SPI; SIGKILL afterwards (its modal
# dialogs ignore SIGTERM).
nmce() {
	local mode=$1
	shift
	MODE=$mode dbus-run-session -- bash -c '
		nm-connection-editor "$@" >"$OUT/nmce-$MODE.log" 2>&1 & p=$!
		'"$PY"' "$HERE/nmce_check.py" "$MODE" "$OUT/nmce-$MODE.png"; rc=$?
		kill -9 $p; exit $rc' nmce "$@"
}
export OUT HERE
tally "$OUT/nmce-chooser-check.log" nmce chooser --create
tally "$OUT/nmce-editor-check.log" nmce editor --create --type=vpn:org.freedesktop.NetworkManager.sstp
tally "$OUT/nmce-import-check.log" nmce import --import="$HERE/data/office-sstp.pbk"
tally "$OUT/nmce-import-bad-check.log" nmce import-bad --import="$HERE/data/ikev2.pbk"
if grep -q "Cannot save connection due to error" "$OUT/nmce-import.log"; then
	fail "nm-connection-editor finds the imported profile invalid: $(grep "Cannot save" "$OUT/nmce-import.log" | head -1)"
else ok "nm-connection-editor accepts the imported profile (no 'Cannot save' in its log)"; fi
for m in chooser editor; do
	if grep -q "Cannot save connection due to error: Invalid setting VPN: Gateway: a gateway is required" "$OUT/nmce-$m.log"; then
		ok "nm-connection-editor ($m) logs our validation error for the empty gateway"
	else fail "nm-connection-editor ($m) did not log our validation error"; fi
	if grep -qi "cannot load\|could not load\|invalid service" "$OUT/nmce-$m.log"; then
		fail "nm-connection-editor ($m) reports a plugin load error: $(grep -i "load\|invalid service" "$OUT/nmce-$m.log" | head -1)"
	else ok "nm-connection-editor ($m) reports no plugin load error"; fi
done

note "artifacts (screenshots, exports, logs): $OUT"
note "gnome-editor: $PASSED passed, $FAILED failed"
[ "$FAILED" -eq 0 ]
