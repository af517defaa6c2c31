#!/bin/bash
# End-to-end tests in user-mode-linux: real Debian pppd + kernel PPP in a UML
# guest, real SSTP servers (sstp-server 0.7.2 from PyPI, SoftEther from Debian 12),
# our sstp-helper + pppd plugin as the client (or Debian's sstpc: CLIENT=sstpc).
#
# usage (host, root): tests/uml/run.sh SCENARIO [SCENARIO...]
#   scenarios: mschap pap fast lostlcp repeat softether relay route proxy ipv6 reconnect crash demo
#              connect-time (ours and sstpc, CONNECT_N connects each)   (all = every one of them)
#              nm-up nm-secrets nm-fail nm-repeat nm-import   (NetworkManager, nm-guest.sh)
#              trixie   (Debian 13 root, ppp 2.5.2, plugin built for 2.5.2: trixie.sh, own env knobs)
# env:
#   CLIENT=ours|sstpc   client under test (default ours)
#   SSTP_HELPER=PATH    helper binary   (default $REPO/target/release/sstp-helper)
#   SSTP_PLUGIN=PATH    pppd plugin     (default $REPO/target/release/libsstp_rs_pppd.so)
#   REPEAT_N=20         cycles of "repeat";  FAST_N=3 connects of "fast"
#   CONNECT_N=20        connects per client of "connect-time"
#   DELAY_MS=20         netem delay on each end of the veth (fast always uses 0)
#   RETRIES             connect attempts (default 1 for ours, 5 for the flaky sstpc)
#   HELPER_LOGLEVEL     --log-level for the helper (default debug; info for demo)
#   XFER=0              skip the 10 MiB transfer of mschap/pap (XFER_MB=10 size)
#   TIMEOUT=S           wall-clock limit per scenario (default depends on scenario)
#   KEEP=1              keep the bulky artefacts of passing runs (pcap, key logs, keys, binaries)
#   TB_DEBUG=1          set -x in the guest, console log printed on the host
# Output: tests/uml/out/<scenario>/ (results.txt, guest.log, client.log, sstpd.log,
# pppd-*.log, sstp.pcapng, keys.log ...). Exit 0 only if every scenario passed.
set -u
HERE=$(cd "$(dirname "$(readlink -f "$0")")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
ALL="mschap pap fast lostlcp repeat softether relay route proxy ipv6 reconnect crash demo connect-time"
NM_SCENS="nm-up nm-secrets nm-fail nm-repeat nm-import"   # NetworkManager end to end: nm-guest.sh
OTHER_SCENS="trixie"   # own driver: trixie.sh (Debian 13 root, ppp 2.5.2)
CACHE=$REPO/.cache
VENV=$CACHE/sstpd-venv

die() { echo "run.sh: $*" >&2; exit 2; }
usage() { sed -n '2,23p' "$0" | sed 's/^# \{0,1\}//'; exit 2; }
[ $# -ge 1 ] || usage
case "$1" in -h|--help) usage ;; esac
[ "$(id -u)" = 0 ] || die "must run as root (UML, netns, pppd)"
command -v linux.uml >/dev/null || die "linux.uml not found: apt-get install user-mode-linux"
command -v pppd >/dev/null || die "pppd not found: apt-get install ppp"
case "$HERE" in *[!A-Za-z0-9._/-]*) die "odd characters in $HERE (hostfs paths go on the kernel command line)";; esac

SCENS=()
for s in "$@"; do
    if [ "$s" = all ]; then SCENS+=($ALL); continue; fi
    case " $ALL $NM_SCENS $OTHER_SCENS " in *" $s "*) SCENS+=("$s") ;; *) die "unknown scenario '$s' (known: $ALL $NM_SCENS $OTHER_SCENS)";; esac
done
ONLY_OTHER=1
for s in "${SCENS[@]}"; do case " $OTHER_SCENS " in *" $s "*) ;; *) ONLY_OTHER=0 ;; esac; done

# nm-import installs the editor plugin (C, built with make, not cargo) in the guest
case " ${SCENS[*]} " in *" nm-import "*)
    nice make -s -C "$REPO/nm-plugin/editor" >/dev/null || die "make -C nm-plugin/editor failed (tests/install-deps.sh installs what it needs)" ;;
esac

CLIENT=${CLIENT:-ours}
case "$CLIENT" in ours|sstpc) ;; *) die "CLIENT must be ours or sstpc";; esac
HELPER_SRC=${SSTP_HELPER:-$REPO/target/release/sstp-helper}
PLUGIN_SRC=${SSTP_PLUGIN:-$REPO/target/release/libsstp_rs_pppd.so}
# trixie.sh checks its own binaries
if [ "$ONLY_OTHER" != 1 ]; then
    if [ "$CLIENT" = ours ] || [[ " $* " == *" connect-time "* ]]; then
        [ -x "$HELPER_SRC" ] || die "no helper at $HELPER_SRC (cargo build --release, or SSTP_HELPER=...)"
        [ -f "$PLUGIN_SRC" ] || die "no plugin at $PLUGIN_SRC (cargo build --release, or SSTP_PLUGIN=...)"
    fi
    if [ "$CLIENT" = sstpc ] || [[ " $* " == *" connect-time "* ]]; then
        command -v sstpc >/dev/null || die "sstpc not found: apt-get install sstp-client"
    fi
fi

# ---------------------------------------------------------------- sstp-server venv (cached)
find_python312() {
    local c
    for c in python3.12 python3.13 python3.14 python3; do
        command -v "$c" >/dev/null 2>&1 || continue
        if "$c" -c 'import sys; sys.exit(sys.version_info < (3, 12))' >/dev/null 2>&1; then echo "$c"; return 0; fi
    done
    if PYENV_VERSION=3.12.1 python3.12 -c 'import sys; sys.exit(sys.version_info < (3, 12))' >/dev/null 2>&1; then
        echo "PYENV_VERSION=3.12.1 python3.12"; return 0
    fi
    return 1
}
ensure_venv() {
    if [ -x "$VENV/bin/sstpd" ] && "$VENV/bin/python" -c 'import sstpd' >/dev/null 2>&1 \
        && [ "$("$VENV/bin/pip" show sstp-server 2>/dev/null | sed -n 's/^Version: //p')" = 0.7.2 ]; then
        return 0
    fi
    local py
    py=$(find_python312) || die "sstp-server 0.7.2 needs Python >= 3.12; none found (tried python3.12, python3.13, python3.14, python3, PYENV_VERSION=3.12.1 python3.12)"
    echo "run.sh: creating $VENV with $py and sstp-server==0.7.2 (once)"
    rm -rf "$VENV"; mkdir -p "$CACHE"
    env $py -m venv "$VENV" && "$VENV/bin/pip" install -q sstp-server==0.7.2 \
        || { rm -rf "$VENV"; die "could not create the sstp-server venv"; }
}

ensure_softether() {
    [ -x /usr/libexec/softether/vpnserver/vpnserver ] && command -v vpncmd >/dev/null && return 0
    echo "run.sh: installing Debian's softether-vpnserver (the guest patches a copy; the installed file is never changed)"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q softether-vpnserver softether-vpncmd > /dev/null \
        || die "apt-get install softether-vpnserver failed"
    # Debian's package starts the daemon where an init system exists; this harness runs it only in the guest
    if pid=$(pidof vpnserver); then echo "run.sh: note: a vpnserver is running on the host (pid $pid); not touching it"; fi
}

# ---------------------------------------------------------------- certificates
make_certs() {   # $1 = out dir: throwaway CA + server cert for 192.0.2.1 (+ 2001:db8::1, sstp.test)
    local d=$1
    openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=sstp-rs test CA (throwaway)" \
        -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
        -keyout "$d/ca.key" -out "$d/ca.pem" 2>/dev/null || return 1
    openssl req -newkey rsa:2048 -nodes -subj "/CN=192.0.2.1" -keyout "$d/server.key" -out "$d/server.csr" 2>/dev/null || return 1
    printf '%s\n' "basicConstraints=critical,CA:FALSE" "keyUsage=critical,digitalSignature,keyEncipherment" \
        "extendedKeyUsage=serverAuth" "subjectAltName=IP:192.0.2.1,IP:2001:db8::1,DNS:sstp.test" > "$d/server.ext"
    openssl x509 -req -in "$d/server.csr" -CA "$d/ca.pem" -CAkey "$d/ca.key" -CAcreateserial -days 2 \
        -extfile "$d/server.ext" -out "$d/server.pem" 2>/dev/null || return 1
    rm -f "$d/server.csr" "$d/ca.srl"
    openssl verify -CAfile "$d/ca.pem" "$d/server.pem" >/dev/null
}

# ---------------------------------------------------------------- host-side capture check
# Call Disconnect (SSTP message type 0x0006) sent by the client, from the capture
# decrypted with the client's TLS key log.
check_capture() {   # $1 = out dir; appends to results.txt
    local d=$1 keys n_conn n_disc
    [ -s "$d/sstp.pcapng" ] || { echo "FAIL no capture (sstp.pcapng)" >> "$d/results.txt"; return; }
    if [ "$CLIENT" = ours ]; then
        keys=$d/keys.log
        if [ ! -s "$keys" ]; then
            echo "FAIL helper wrote no TLS key log (SSLKEYLOGFILE=/out/keys.log)" >> "$d/results.txt"
            return
        fi
    else
        keys=$d/server-keys.log   # sstpc ignores SSLKEYLOGFILE; sstpd honours it
    fi
    # Each TCP stream's decrypted bytes, walked by sstp-capture.py. tshark's SSTP
    # dissector is turned off: it loses its place when an SSTP packet spans TLS
    # records and TCP segments, and then drops bytes from the follow output too.
    local n_streams i follow=()
    n_streams=$(tshark -r "$d/sstp.pcapng" -T fields -e tcp.stream 2> "$d/tshark.err" | sort -u | wc -l)
    for ((i = 0; i < n_streams; i++)); do follow+=(-z "follow,tls,raw,$i"); done
    tshark -r "$d/sstp.pcapng" -o "tls.keylog_file:$keys" --disable-protocol sstp -q "${follow[@]}" 2>> "$d/tshark.err" \
        | python3 "$HERE/sstp-capture.py" > "$d/sstp-control.tsv"
    if grep -q DESYNC "$d/sstp-control.tsv"; then
        echo "FAIL capture decrypted with $(basename "$keys"): not SSTP: $(grep -m1 DESYNC "$d/sstp-control.tsv" | tr '\t' ' ')" >> "$d/results.txt"
        return
    fi
    n_conn=$(awk -F'\t' '$2 == "client" && $3 == "0x0004"' "$d/sstp-control.tsv" | wc -l)
    n_disc=$(awk -F'\t' '$2 == "client" && $3 == "0x0006"' "$d/sstp-control.tsv" | wc -l)
    local s_disc c_ack
    s_disc=$(awk -F'\t' '$2 == "server" && $3 == "0x0006"' "$d/sstp-control.tsv" | wc -l)
    c_ack=$(awk -F'\t' '$2 == "client" && $3 == "0x0007"' "$d/sstp-control.tsv" | wc -l)
    if [ "$n_conn" -ge 1 ] && [ "$n_disc" -ge "$n_conn" ]; then
        echo "PASS capture decrypted with $(basename "$keys"): client sent $n_conn Call Connected (0x0004) and $n_disc Call Disconnect (0x0006)" >> "$d/results.txt"
    elif [ "${2:-}" = softether ] && [ "$n_conn" -ge 1 ] && [ $((n_disc + c_ack)) -ge "$n_conn" ]; then
        # SoftEther answers the client's LCP Terminate with its own Call Disconnect;
        # a client that acknowledges it (0x0007) has ended the call cleanly too
        echo "PASS capture decrypted with $(basename "$keys"): client sent $n_conn Call Connected (0x0004); SSTP call ended by Call Disconnect (client $n_disc x 0x0006, server $s_disc x 0x0006 acknowledged by the client $c_ack x 0x0007)" >> "$d/results.txt"
    elif [ "$CLIENT" = sstpc ]; then
        echo "XFAIL capture: client sent $n_conn Call Connected, $n_disc Call Disconnect (known sstpc 1.0.18 behaviour)" >> "$d/results.txt"
    else
        echo "FAIL capture decrypted with $(basename "$keys"): client sent $n_conn Call Connected (0x0004), $n_disc Call Disconnect (0x0006)" >> "$d/results.txt"
    fi
}

# ---------------------------------------------------------------- one scenario
run_trixie() {
    local t0=$SECONDS rc
    echo "=== trixie (Debian 13, ppp 2.5.2, plugin built for 2.5.2) -> tests/uml/out/trixie"
    bash "$HERE/trixie.sh" 2>&1 | sed 's/^/  /'
    rc=${PIPESTATUS[0]}
    if [ "$rc" = 0 ]; then
        echo "=== trixie: PASS in $((SECONDS - t0)) s"; echo "PASS trixie $((SECONDS - t0))" >> "$SUMMARY"
    else
        echo "=== trixie: FAIL in $((SECONDS - t0)) s; logs in tests/uml/out/trixie"; echo "FAIL trixie $((SECONDS - t0))" >> "$SUMMARY"
    fi
    return "$rc"
}

run_one() {
    local scen=$1 out=$HERE/out/$1 tmo state rc t0 t1 delay
    [ "$scen" = trixie ] && { run_trixie; return; }
    rm -rf "$out"; mkdir -p "$out" || die "cannot create $out"
    case "$scen" in
        softether) ensure_softether ;;
        *) ensure_venv ;;
    esac
    make_certs "$out" || die "certificate generation failed"
    if [ "$scen" = relay ]; then
        # the relay's own CA and certificate (same name 192.0.2.1): the client is told to trust it
        mkdir -p "$out/relay" && make_certs "$out/relay" || die "relay certificate generation failed"
    fi
    local helper= plugin=
    if [ "$CLIENT" = ours ] || [ "$scen" = connect-time ]; then
        # pin the binaries under test (others may rebuild target/ while the guest runs)
        mkdir -p "$out/bin"
        cp "$HELPER_SRC" "$out/bin/sstp-helper" && cp "$PLUGIN_SRC" "$out/bin/libsstp_rs_pppd.so" || die "copying binaries"
        helper=/out/bin/sstp-helper plugin=/out/bin/libsstp_rs_pppd.so
    fi
    delay=${DELAY_MS:-20}; [ "$scen" = fast ] && delay=0
    local retries=${RETRIES:-}
    [ -n "$retries" ] || { [ "$CLIENT" = sstpc ] && retries=5 || retries=1; }
    local loglevel=${HELPER_LOGLEVEL:-debug}; [ "$scen" = demo ] && loglevel=${HELPER_LOGLEVEL:-info}
    case "$scen" in
        mschap|pap) tmo=420 ;; fast) tmo=240 ;; demo|relay|route|proxy|ipv6|reconnect|crash|lostlcp) tmo=180 ;; softether) tmo=360 ;;
        repeat) tmo=$((90 + ${REPEAT_N:-20} * 45)) ;;
        connect-time) tmo=$((120 + ${CONNECT_N:-20} * 2 * 30)) ;;
        nm-repeat) tmo=$((150 + ${NM_REPEAT_N:-10} * 30)) ;; nm-*) tmo=420 ;;
    esac
    tmo=${TIMEOUT:-$tmo}
    {
        for v in CLIENT KEEP REPEAT_N CONNECT_N FAST_N XFER XFER_MB TB_DEBUG PPPD_EXTRA NM_REPEAT_N SSTPD_LOGLEVEL SSTPD_PAP_FIX SSTPD_REUSE_FIX; do
            [ -n "${!v+set}" ] && printf '%s=%q\n' "$v" "${!v}"
        done
        printf '%s=%q\n' SCEN "$scen" DELAY_MS "$delay" RETRIES "$retries" VENV "$VENV" \
            HELPER "$helper" PLUGIN "$plugin" HELPER_SRC "$HELPER_SRC" PLUGIN_SRC "$PLUGIN_SRC" \
            HELPER_LOGLEVEL "$loglevel"
    } > "$out/params.env"

    echo "=== $scen (client: $CLIENT, delay ${delay} ms, limit ${tmo} s) -> ${out#$REPO/}"
    state=$(mktemp -d /dev/shm/sstp-uml.XXXXXX) || die mktemp
    t0=$EPOCHREALTIME
    # timeout signals its whole process group, i.e. every host process of this UML
    TMPDIR=$state HOME=$state timeout -k 10 "$tmo" linux.uml \
        mem=1024M root=/dev/root rootfstype=hostfs rootflags=/ rw \
        init="$HERE/guest-init.sh" uml_dir="$state" umid="sstp$$" \
        con=null ssl=null con0=fd:0,fd:1 quiet \
        TB_OUT="$out" TB_HERE="$HERE" TB_GUEST_TIMEOUT=$((tmo - 20)) \
        </dev/null > "$out/console.log" 2>&1
    rc=$?
    t1=$EPOCHREALTIME
    rm -rf "$state"
    local secs; secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.1f", b-a}')
    [ "${TB_DEBUG:-0}" = 1 ] && cat "$out/console.log"
    touch "$out/results.txt"
    [ $rc = 124 ] || [ $rc = 137 ] && echo "FAIL whole run hit the ${tmo} s limit" >> "$out/results.txt"
    grep -qx END "$out/results.txt" || echo "FAIL the guest did not finish the scenario (exit-status $(cat "$out/exit-status" 2>/dev/null || echo none); see guest.log, console.log)" >> "$out/results.txt"
    case "$scen" in mschap|pap|fast|softether) grep -qx END "$out/results.txt" && check_capture "$out" "$scen" ;; esac
    # mschap: no secret in any process's cmdline/environ or any client log (keys recomputed from the capture)
    if [ "$scen" = mschap ] && [ "$CLIENT" = ours ] && grep -qx END "$out/results.txt"; then
        python3 "$HERE/secrets-scan.py" "$out" test-pass-123 >> "$out/results.txt" 2>&1 \
            || echo "FAIL secrets-scan.py could not run" >> "$out/results.txt"
    fi

    grep -v '^END$' "$out/results.txt" | sed 's/^/  /'
    [ "$scen" = demo ] && [ -f "$out/demo.txt" ] && { echo "  ---- demo transcript ----"; sed 's/^/  /' "$out/demo.txt"; }
    local npass nfail nxfail
    npass=$(grep -c '^PASS' "$out/results.txt"); nfail=$(grep -c '^FAIL' "$out/results.txt")
    nxfail=$(grep -c '^XFAIL' "$out/results.txt")
    if [ "$nfail" = 0 ] && [ "$npass" -gt 0 ]; then
        echo "=== $scen: PASS ($npass checks passed$([ "$nxfail" -gt 0 ] && echo ", $nxfail known sstpc failures (XFAIL)")) in $secs s"
        echo "PASS $scen $secs" >> "$SUMMARY"
        if [ "${KEEP:-0}" != 1 ]; then
            rm -rf "$out/bin" "$out/sstp.pcapng" "$out/keys.log" "$out/server-keys.log" "$out/ca.key" "$out/server.key" "$out/relay"/*.key "$out/secrets"
        fi
        return 0
    fi
    echo "=== $scen: FAIL ($nfail failed, $npass passed) in $secs s; logs in ${out#$REPO/}"
    [ -s "$out/guest.log" ] || tail -20 "$out/console.log" | sed 's/^/  console| /'
    echo "FAIL $scen $secs" >> "$SUMMARY"
    return 1
}

SUMMARY=$(mktemp)
trap 'rm -f "$SUMMARY"' EXIT
RC=0
for s in "${SCENS[@]}"; do run_one "$s" || RC=1; done
if [ ${#SCENS[@]} -gt 1 ]; then echo "=== summary (client: $CLIENT)"; sed 's/^/  /' "$SUMMARY"; fi
exit $RC
