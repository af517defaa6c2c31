#!/bin/bash
# Runs inside the UML guest (chroot into the overlay built by guest-init.sh).
# One scenario per boot; parameters in /out/params.env (written by run.sh).
#
# Topology:
#   netns srv: vs 192.0.2.1/24  SSTP server (sstpd 0.7.2 or SoftEther) :443
#                               sstpd's pppd: ppp0 10.77.0.1 <-> 10.77.0.x
#   netns cli: vc 192.0.2.2/24  client (our sstp-helper + stock pppd, or sstpc)
#   veth vs<->vc, netem delay DELAY_MS on both ends (0 = no qdisc)
#
# Results: one line per assertion in /out/results.txt ("PASS ...", "FAIL ...",
# "XFAIL ..." = known failure of the reference client sstpc, "INFO ..."), and a
# final "END" line when the scenario ran to completion. run.sh adds host-side
# checks (TLS capture decrypted with the client's key log) and decides.
set -u
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin LANG=C HOME=/root
OUT=/out
. "$OUT/params.env"
[ "${TB_DEBUG:-0}" = 1 ] && set -x
HERE=$TB_HERE
T0=$EPOCHREALTIME

SRV_IP=192.0.2.1
CLI_IP=192.0.2.2
PPP_LOCAL=10.77.0.1
USER_NAME=alice
PASSWORD=test-pass-123
OPTS_MSCHAP="refuse-eap refuse-pap refuse-chap refuse-mschap noipdefault nodefaultroute"
OPTS_PAP="refuse-eap refuse-chap refuse-mschap refuse-mschap-v2 noipdefault nodefaultroute"
# extra pppd options for the client's pppd (debug log into /out)
OPTS_EXTRA=${PPPD_EXTRA-debug logfile /out/pppd-client.log}

ts()   { date +%T.%3N; }
log()  { echo "[$(ts)] $*"; }
res()  { echo "$*" >> "$OUT/results.txt"; log "$*"; }
pass() { res "PASS $*"; }
fail() { res "FAIL $*"; }
info() { res "INFO $*"; }
# a failure the reference client sstpc is known for: XFAIL with sstpc, FAIL otherwise
fail_or_xfail() { if [ "$CLIENT" = sstpc ]; then res "XFAIL $* (known sstpc 1.0.18 behaviour)"; else fail "$*"; fi; }
el()   { awk -v a="$1" -v b="$2" 'BEGIN{printf "%.2f", b-a}'; }
CLI()  { ip netns exec cli "$@"; }
SRV()  { ip netns exec srv "$@"; }
# iproute2's "ip netns exec" forks and waits, and a shell function run with &
# is a subshell: a background process whose pid we signal and wait for is
# started as a simple command with nsenter (which execs), so $! is its pid.
IN_SRV=(nsenter --net=/run/netns/srv --)
IN_CLI=(nsenter --net=/run/netns/cli --)

finish() {
    log "finishing"
    [ -n "${CPID:-}" ] && kill -KILL "$CPID" 2>/dev/null
    [ -n "${SSTPD_PID:-}" ] && kill "$SSTPD_PID" 2>/dev/null
    [ -n "${SQUID_PID:-}" ] && kill "$SQUID_PID" 2>/dev/null
    [ "${SOFTETHER_STARTED:-0}" = 1 ] && SRV /usr/libexec/softether/vpnserver/vpnserver stop >/dev/null 2>&1
    [ "${SOFTETHER_STARTED:-0}" = 1 ] && { mkdir -p "$OUT/softether-logs"; cp -r /var/log/softether/. "$OUT/softether-logs/" 2>/dev/null; }
    [ -n "${DUMP_PID:-}" ] && { kill -TERM "$DUMP_PID" 2>/dev/null; sleep 1; }
    ps -eo pid,ppid,etimes,args > "$OUT/ps-final.txt" 2>&1
    info "guest scenario time $(el "$T0" "$EPOCHREALTIME") s"
}
trap finish EXIT

# ------------------------------------------------------------------ versions
versions() {
    {
        echo "kernel: $(uname -r)"
        echo "pppd: $(pppd --version 2>&1)"
        dpkg-query -W -f '${Package} ${Version}\n' ppp sstp-client openssl iproute2 2>&1
        [ -x "${VENV:-/nonexistent}/bin/pip" ] && echo "sstp-server: $("$VENV/bin/pip" show sstp-server 2>/dev/null | sed -n 's/^Version: //p')"
        echo "sstp-pppd-plugin (server side binding check): $(ls /usr/lib/pppd/*/sstp-pppd-plugin.so 2>&1)"
        if [ "$CLIENT" = ours ]; then
            echo "sstp-helper: $HELPER sha256 $(sha256sum < "$HELPER" | cut -c1-16) (copied from $HELPER_SRC)"
            echo "plugin: $PLUGIN sha256 $(sha256sum < "$PLUGIN" | cut -c1-16) (copied from $PLUGIN_SRC)"
        else
            echo "sstpc: $(sstpc --version 2>&1 | head -1)"
        fi
    } > "$OUT/versions.txt" 2>&1
}

# ------------------------------------------------------------------ network
net_setup() {   # $1 = netem delay in ms (0 = none)
    local d=$1
    ip netns add srv && ip netns add cli || { fail "netns setup"; exit 1; }
    ip link add vs netns srv type veth peer name vc netns cli
    SRV ip link set lo up; CLI ip link set lo up
    SRV ip addr add $SRV_IP/24 dev vs; SRV ip link set vs up
    CLI ip addr add $CLI_IP/24 dev vc; CLI ip link set vc up
    if [ "$d" != 0 ]; then
        SRV tc qdisc add dev vs root netem delay "${d}ms" && CLI tc qdisc add dev vc root netem delay "${d}ms" \
            || { fail "netem delay ${d}ms"; exit 1; }
    fi
    local rtt
    rtt=$(CLI python3 "$HERE/icmp-ping.py" $SRV_IP 1 2>&1 | sed -n 's/.*time=\([0-9.]*\) ms/\1/p')
    if [ -n "$rtt" ]; then
        info "veth srv $SRV_IP <-> cli $CLI_IP up, netem delay ${d} ms each way, bare RTT ${rtt} ms"
    else
        fail "bare veth ping $CLI_IP -> $SRV_IP"; exit 1
    fi
}

capture_start() {
    "${IN_SRV[@]}" dumpcap -q -i vs -f "tcp port 443" -w "$OUT/sstp.pcapng" > "$OUT/dumpcap.log" 2>&1 &
    DUMP_PID=$!
    local i
    for i in $(seq 50); do [ -s "$OUT/sstp.pcapng" ] && break; sleep 0.1; done
}
capture_stop() {
    [ -n "${DUMP_PID:-}" ] || return
    # (SIGINT is ignored by background jobs of a script: use SIGTERM)
    local i
    sleep 0.5; kill -TERM "$DUMP_PID" 2>/dev/null
    for i in $(seq 50); do alive "$DUMP_PID" || break; sleep 0.1; done
    kill -KILL "$DUMP_PID" 2>/dev/null; wait "$DUMP_PID" 2>/dev/null; DUMP_PID=
}

# ------------------------------------------------------------------ sstpd
sstpd_start() {   # $1 = mschap | pap
    local auth
    if [ "$1" = pap ]; then
        auth="require-pap refuse-chap refuse-mschap refuse-mschap-v2 refuse-eap"
    else
        auth="require-mschap-v2 refuse-pap refuse-chap refuse-mschap refuse-eap"
    fi
    printf '%s\n' "name sstpd" auth $auth nobsdcomp nodeflate novj nologfd \
        "logfile $OUT/pppd-server.log" debug nodefaultroute ${SSTPD_PPP_EXTRA:-} > /tmp/options.sstpd
    cp /tmp/options.sstpd "$OUT/options.sstpd"
    if [ -z "${SSTPD_PATCHED:-}" ]; then   # once per boot (a restarted sstpd is already patched)
        if [ "$1" = pap ] && [ "${SSTPD_PAP_FIX:-1}" = 1 ]; then sstpd_pap_fix; fi
        if [ "${SSTPD_REUSE_FIX:-1}" = 1 ]; then sstpd_reuse_fix; fi
        SSTPD_PATCHED=1
    fi
    # sstpd verifies the compound MAC only if this works (it asks pppd at start-up)
    if pppd plugin sstp-pppd-plugin.so notty dryrun >/dev/null 2>&1; then
        info "server pppd loads sstp-pppd-plugin.so: sstpd will verify the crypto binding's compound MAC"
    else
        fail "server pppd cannot load sstp-pppd-plugin.so (sstpd would not verify the binding)"
    fi
    "${IN_SRV[@]}" env SSLKEYLOGFILE="$OUT/server-keys.log" "$VENV/bin/sstpd" -l "${SSTPD_LISTEN:-$SRV_IP}" -p "${SSTPD_PORT:-443}" \
        -c "$OUT/server.pem" -k "$OUT/server.key" --pppd-config /tmp/options.sstpd ${SSTPD_PPPD:+--pppd "$SSTPD_PPPD"} \
        --local $PPP_LOCAL --remote 10.77.0.0/24 -v "${SSTPD_LOGLEVEL:-10}" >> "$OUT/sstpd.log" 2>&1 &
    SSTPD_PID=$!
    local i
    for i in $(seq 200); do
        SRV ss -Htln "sport = :${SSTPD_PORT:-443}" | grep -q . && break
        kill -0 "$SSTPD_PID" 2>/dev/null || break
        sleep 0.1
    done
    if SRV ss -Htln "sport = :${SSTPD_PORT:-443}" | grep -q .; then
        info "sstpd $("$VENV/bin/pip" show sstp-server 2>/dev/null | sed -n 's/^Version: //p') listening on ${SSTPD_LISTEN:-$SRV_IP}:${SSTPD_PORT:-443} ($1)"
    else
        fail "sstpd did not start (see sstpd.log)"; tail -20 "$OUT/sstpd.log"; exit 1
    fi
}

# sstpd 0.7.2 + Debian's sstp-pppd-plugin with PAP: the plugin reports
# authentication without MPPE keys, sstpd logs "missing master send and/or
# receive key", ignores the message and then waits for the HLAK forever (the
# call never reaches Call Connected: no data flows). MS-SSTP 3.2.5.2 says the
# HLAK is then 32 zero octets. Fix the guest's overlay copy of ppp.py (the
# cached venv on the host is untouched) so that it uses empty keys -> zero HLAK
# and really verifies the compound MAC. SSTPD_PAP_FIX=0 runs 0.7.2 as is.
sstpd_pap_fix() {
    local f; f=$(ls "$VENV"/lib/python3*/site-packages/sstpd/ppp.py | head -1)
    python3 - "$f" <<'EOPY'
import sys
p = sys.argv[1]
s = open(p).read()
old = """                    "SSTP API message - missing master send and/or receive key."
                )
                return
"""
new = """                    "SSTP API message - missing master send and/or receive key."
                )
                self.sstp.logger.info("harness fix: no MPPE keys, HLAK = 32 zero octets (MS-SSTP 3.2.5.2)")
                self.master_send_key = self.master_send_key or b""
                self.master_recv_key = self.master_recv_key or b""
"""
if s.count(old) != 1:
    sys.exit("sstpd ppp.py: expected code not found (not 0.7.2?)")
open(p, "w").write(s.replace(old, new))
EOPY
    if [ $? = 0 ]; then
        info "sstpd PAP fix applied in the guest overlay: no MPPE keys -> zero HLAK (MS-SSTP 3.2.5.2); 0.7.2 as released stalls the call"
    else
        fail "could not apply the sstpd PAP fix"
    fi
}

# sstpd 0.7.2 serves only the first call of its life reliably: when a call ends,
# PPPDProtocol.connection_lost closes the pty master but not the asyncio read and
# write pipe transports on it, so the selector keeps the stale fd. The next call's
# openpty() reuses that fd number, connect_read_pipe then only swaps the callback
# (no epoll registration), and the new pppd's output is never read: the client's
# LCP times out. Any client hits this on the second connect to the same server.
# Close the transports first (guest overlay copy only). SSTPD_REUSE_FIX=0 disables.
sstpd_reuse_fix() {
    local f; f=$(ls "$VENV"/lib/python3*/site-packages/sstpd/ppp.py | head -1)
    python3 - "$f" <<'EOPY'
import sys
p = sys.argv[1]
s = open(p).read()
old = """        else:
            self.pty_file.close()
"""
new = """        else:
            for t in (self.read_transport, self.write_transport):
                if t is not None:
                    t.close()
            self.pty_file.close()
"""
if s.count(old) != 1:
    sys.exit("sstpd ppp.py: expected code not found (not 0.7.2?)")
open(p, "w").write(s.replace(old, new))
EOPY
    if [ $? = 0 ]; then
        info "sstpd fd-reuse fix applied in the guest overlay: pty transports closed at the end of a call (0.7.2 as released never reads the next call's pppd)"
    else
        fail "could not apply the sstpd fd-reuse fix"
    fi
}

# ------------------------------------------------------------------ SoftEther
VPNCMD() { SRV vpncmd 127.0.0.1:5555 /SERVER "$@" </dev/null; }
softether_start() {
    local bin=/usr/libexec/softether/vpnserver/vpnserver
    [ -x $bin ] || { fail "softether-vpnserver not installed"; exit 1; }
    # patch the overlay copy (guest RAM); the host's file is never written
    if python3 "$HERE/softether-sstp-fix.py" $bin /tmp/vpnserver.patched > "$OUT/softether-patch.log" 2>&1; then
        cat /tmp/vpnserver.patched > $bin && rm -f /tmp/vpnserver.patched
        info "SoftEther $(dpkg-query -W -f '${Version}' softether-vpnserver): SSTP fix (upstream 5611156c) applied to the guest copy"
    else
        fail "patching vpnserver: $(tail -1 "$OUT/softether-patch.log")"; exit 1
    fi
    mkdir -p /run/softether /var/log/softether /var/lib/softether
    SRV $bin start > "$OUT/vpnserver-start.log" 2>&1 || { fail "vpnserver start"; exit 1; }
    SOFTETHER_STARTED=1
    local i
    for i in $(seq 300); do SRV ss -Htln "sport = :5555" | grep -q . && break; sleep 0.1; done
    SRV ss -Htln "sport = :5555" | grep -q . || { fail "vpnserver not listening on 5555 after 30 s (see vpnserver-start.log)"; exit 1; }
    for i in $(seq 20); do VPNCMD /CMD ServerInfoGet >/dev/null 2>&1 && break; sleep 0.5; done
    # the harness' own certificate (CN/SAN 192.0.2.1, signed by the throwaway CA)
    cp "$OUT/server.pem" "$OUT/server.key" /tmp/
    {
        VPNCMD /CMD ProtoOptionsSet SSTP /NAME:Enabled /VALUE:True
        (cd /tmp && VPNCMD /CMD ServerCertSet /LOADCERT:server.pem /LOADKEY:server.key)
        VPNCMD /HUB:DEFAULT /CMD UserCreate $USER_NAME /GROUP:none /REALNAME:none /NOTE:none
        VPNCMD /HUB:DEFAULT /CMD UserPasswordSet $USER_NAME /PASSWORD:$PASSWORD
        VPNCMD /HUB:DEFAULT /CMD SecureNatEnable
        VPNCMD /HUB:DEFAULT /CMD DhcpSet /START:192.168.30.10 /END:192.168.30.200 /MASK:255.255.255.0 \
            /EXPIRE:7200 /GW:192.168.30.1 /DNS:192.168.30.1 /DNS2:none /DOMAIN:sstp.test /LOG:yes /PUSHROUTE:none
        VPNCMD /CMD ProtoOptionsGet SSTP
        (cd /tmp && VPNCMD /CMD ServerCertGet current.pem)
    } > "$OUT/softether-setup.txt" 2>&1
    local ok
    ok=$(grep -c 'The command completed successfully' "$OUT/softether-setup.txt")
    if [ "$ok" -ge 8 ] && openssl x509 -in /tmp/current.pem -noout -subject 2>/dev/null | grep -q 192.0.2.1; then
        info "SoftEther configured by vpncmd ($ok commands ok): SSTP on, user $USER_NAME, SecureNAT DHCP 192.168.30.0/24, server cert = harness cert"
    else
        fail "SoftEther configuration ($ok of 8 vpncmd commands ok, see softether-setup.txt)"; exit 1
    fi
    for i in $(seq 100); do SRV ss -Htln "sport = :443" | grep -q . && break; sleep 0.1; done
}

# ------------------------------------------------------------------ client
CPID=
client_start() {   # $1 = log file, rest = pppd options
    local logf=$1; shift
    if [ "$CLIENT" = ours ]; then
        printf '%s' "$PASSWORD" > /tmp/pw.txt; chmod 600 /tmp/pw.txt
        # HELPER_ARGS: extra helper options; SERVER_ARG: what the helper is told to connect to
        CMDLINE="$HELPER --user $USER_NAME --password-file /tmp/pw.txt --ca-cert $OUT/ca.pem --plugin $PLUGIN --log-level $HELPER_LOGLEVEL ${HELPER_ARGS:-}${HELPER_ARGS:+ }${SERVER_ARG:-$SRV_IP} -- $*"
        echo "# (netns cli) SSLKEYLOGFILE=$OUT/keys.log $CMDLINE" > "$logf"
        # the variables ride on nsenter's environment: no env(1) exec before the helper,
        # which sstpc does not pay either (an exec costs tens of ms in UML)
        CSTART=$EPOCHREALTIME
        SSLKEYLOGFILE="$OUT/keys.log" RUST_BACKTRACE=1 "${IN_CLI[@]}" \
            "$HELPER" --user $USER_NAME --password-file /tmp/pw.txt --ca-cert "$OUT/ca.pem" \
            --plugin "$PLUGIN" --log-level "$HELPER_LOGLEVEL" ${HELPER_ARGS:-} "${SERVER_ARG:-$SRV_IP}" -- "$@" >> "$logf" 2>&1 &
    else
        CMDLINE="sstpc --log-stderr --log-level 4 --ca-cert $OUT/ca.pem --user $USER_NAME --password *** $SRV_IP $*"
        echo "# (netns cli) $CMDLINE" > "$logf"
        CSTART=$EPOCHREALTIME
        "${IN_CLI[@]}" sstpc --log-stderr --log-level 4 --ca-cert "$OUT/ca.pem" --user $USER_NAME --password "$PASSWORD" \
            $SRV_IP "$@" >> "$logf" 2>&1 &
    fi
    CPID=$!
    CLOG=$logf
}

# a process that runs (not a zombie); builtins only, as wait_ip_up calls it every 50 ms
alive() {
    local s
    [ -n "$1" ] && read -r s 2>/dev/null < "/proc/$1/stat" || return 1
    s=${s##*) }
    [ -n "$s" ] && [ "${s:0:1}" != Z ]
}

# "ip -ts monitor address" in netns cli, started before a client (connect-time): the kernel
# reports the moment an address appears on ppp, so UP_S is exact instead of "the first poll
# after it" (each poll forks ip and awk, which in UML took up to 0.9 s after the address
# appeared), and wait_ip_up watches the file with shell builtins, taking no CPU from the
# client in the one-CPU guest.
ipmon_start() {
    IPMON_FILE=/tmp/ipmon.txt; : > "$IPMON_FILE"
    "${IN_CLI[@]}" ip -ts -o -4 monitor address >> "$IPMON_FILE" 2>/dev/null &
    IPMON_PID=$!
}
ipmon_stop() {
    [ -n "${IPMON_PID:-}" ] && { kill "$IPMON_PID" 2>/dev/null; wait "$IPMON_PID" 2>/dev/null; }
    IPMON_PID= IPMON_FILE=
}
# the monitor's first "ppp... inet PFX..." line, in IPMON_LINE (builtins only)
ipmon_seen() {   # $1 = address prefix
    local l
    while IFS= read -r l; do
        [[ $l == *" ppp"*" inet $1"* ]] && { IPMON_LINE=$l; return 0; }
    done < "$IPMON_FILE"
    return 1
}
# epoch seconds of IPMON_LINE's "[2026-12-02T15:48:18.286552]" (local time, as ip prints it)
ipmon_time() { local t=${IPMON_LINE%%]*}; date -d "${t#[}" +%s.%N; }
# sleep without a fork: a read that times out on a fifo nobody writes
mkfifo /tmp/nap.fifo 2>/dev/null; exec {NAP_FD}<>/tmp/nap.fifo
nap() { read -r -t "$1" -u "$NAP_FD" _ || :; }

# waits for an IPv4 address on a ppp interface in netns cli; sets PPPIF PPPADDR PPPPEER UP_S
# (with ipmon_start before the client: UP_S from the monitor, and no polling with ip)
wait_ip_up() {   # $1 = timeout s, $2 = address prefix to expect
    local tmo=$1 pfx=$2 line end up t=${EPOCHREALTIME/./}
    end=$(( 10#$t + tmo * 1000000 ))
    PPPIF= PPPADDR= PPPPEER=
    while t=${EPOCHREALTIME/./}; (( 10#$t < end )); do
        if [ -z "${IPMON_FILE:-}" ] || ipmon_seen "$pfx"; then
            up=$EPOCHREALTIME
            line=$(CLI ip -4 -o addr show 2>/dev/null | awk '$2 ~ /^ppp/ {print $2, $4, $6; exit}')
            if [ -n "$line" ]; then
                set -- $line
                PPPIF=$1 PPPADDR=${2%/*} PPPPEER=${3%/*}
                case "$PPPADDR" in "$pfx"*)
                    [ -n "${IPMON_FILE:-}" ] && up=$(ipmon_time)
                    UP_S=$(el "$CSTART" "$up"); return 0 ;;
                esac
            fi
        fi
        alive "$CPID" || return 1
        if [ -n "${IPMON_FILE:-}" ]; then nap 0.05; else sleep 0.2; fi
    done
    return 1
}

# pids of pppd / sstp-helper / sstpc that live in netns cli
cli_leftovers() {
    local p
    for p in $(pgrep -x pppd) $(pgrep -x sstp-helper) $(pgrep -x sstpc); do
        [ "$(ip netns identify "$p" 2>/dev/null)" = cli ] && echo "$p"
    done
}
kill_cli_leftovers() {
    local p
    [ -n "${CPID:-}" ] && kill -KILL "$CPID" 2>/dev/null
    for p in $(cli_leftovers); do kill -KILL "$p" 2>/dev/null; done
    [ -n "${CPID:-}" ] && wait "$CPID" 2>/dev/null
    CPID=
    sleep 0.5
}

# SIGTERM the client; sets STOP_S and STOP_RC (124 = still running after 10 s, then killed)
stop_client() {
    local t0=$EPOCHREALTIME i
    kill -TERM "$CPID" 2>/dev/null
    STOP_RC=124
    for i in $(seq 100); do alive "$CPID" || break; sleep 0.1; done
    STOP_S=$(el "$t0" "$EPOCHREALTIME")
    if alive "$CPID"; then kill -KILL "$CPID" 2>/dev/null; wait "$CPID" 2>/dev/null
    else wait "$CPID"; STOP_RC=$?; fi
    CPID=
}

# connect (with retries for the flaky sstpc); sets ATTEMPT; logs in $OUT/client.log
connect() {   # $1 = max attempts, $2 = wait s per attempt, $3 = address prefix, rest = pppd options
    local max=$1 wt=$2 pfx=$3; shift 3
    for ATTEMPT in $(seq "$max"); do
        : > "$OUT/pppd-client.log"
        client_start "$OUT/${CTAG:-client}.attempt$ATTEMPT.log" "$@"
        log "client started (attempt $ATTEMPT of $max): $CMDLINE"
        if wait_ip_up "$wt" "$pfx"; then
            return 0
        fi
        log "attempt $ATTEMPT: no address after $wt s (client alive: $(alive "$CPID" && echo yes || echo no))"
        tail -5 "$CLOG"
        cp "$OUT/pppd-client.log" "$OUT/pppd-${CTAG:-client}.attempt$ATTEMPT.log" 2>/dev/null
        kill_cli_leftovers
    done
    return 1
}

wait_log() {   # $1 file, $2 regex, $3 timeout s
    local i
    for i in $(seq $(( $3 * 10 ))); do grep -Eq "$2" "$1" 2>/dev/null && return 0; sleep 0.1; done
    return 1
}

# ------------------------------------------------------------------ checks
check_connected() {   # $1 = max attempts, $2 = label
    if [ -n "$PPPADDR" ]; then
        pass "$2: $CLIENT connected on attempt $ATTEMPT of $1 in $UP_S s: $PPPIF $PPPADDR peer $PPPPEER in netns cli"
    else
        fail "$2: $CLIENT did not connect in $1 attempt(s) (see client.log, pppd-client.log)"
        return 1
    fi
    if [ "$CLIENT" = ours ]; then
        if wait_log "$CLOG" "IP up with $PPPADDR" 5; then
            pass "helper progress line: $(grep -m1 "IP up with $PPPADDR" "$CLOG" | cut -c1-160)"
        else
            fail "helper printed no 'IP up with $PPPADDR' line"
        fi
    fi
}

check_binding() {   # $1 = expected number of valid bindings (default 1)
    local want=${1:-1} nvalid ninv
    wait_log "$OUT/sstpd.log" "Crypto Binding is (valid|invalid)" 5
    sleep 0.2
    nvalid=$(grep -c "Crypto Binding is valid" "$OUT/sstpd.log")
    ninv=$(grep -c "Crypto Binding is invalid" "$OUT/sstpd.log")
    if [ "$nvalid" -eq "$want" ] && [ "$ninv" -eq 0 ] && ! grep -q "No crypto binding needed" "$OUT/sstpd.log"; then
        pass "sstpd verified the crypto binding: $(grep -m1 'Crypto Binding is valid' "$OUT/sstpd.log" | cut -c1-160) (x$nvalid, 0 invalid)"
    else
        fail "crypto binding: $nvalid x valid (want $want), $ninv x invalid$(grep -q 'No crypto binding needed' "$OUT/sstpd.log" && echo ', NOT verified (no plugin)')"
    fi
}

check_ping() {   # $1 = destination, $2 = count
    local out
    PING_OK=0
    if out=$(CLI python3 "$HERE/icmp-ping.py" "$1" "$2" 2>&1); then
        PING_OK=1
        pass "ping -c $2 $1 through the tunnel: $(echo "$out" | sed -n 's/.*time=//p' | tr '\n' ' ')"
    else
        fail "ping -c $2 $1 through the tunnel: $(echo "$out" | tail -1)"
    fi
    echo "$out" >> "$OUT/ping.txt"
}

check_transfer() {   # 10 MiB client -> server through the tunnel, bytes compared
    local mb=${XFER_MB:-10} txs rxs t0 t1 rc
    head -c "${mb}M" /dev/urandom > /tmp/tx.bin
    txs=$(sha256sum < /tmp/tx.bin | cut -d' ' -f1)
    rm -f /tmp/rx.bin
    SRV timeout 150 socat -u TCP-LISTEN:5001,bind=$PPP_LOCAL,reuseaddr OPEN:/tmp/rx.bin,creat,trunc &
    local rxpid=$! i
    for i in $(seq 50); do SRV ss -Htln "sport = :5001" | grep -q . && break; sleep 0.1; done
    t0=$EPOCHREALTIME
    CLI timeout 120 socat -u OPEN:/tmp/tx.bin TCP:$PPP_LOCAL:5001,connect-timeout=10; rc=$?
    [ $rc = 0 ] || kill $rxpid 2>/dev/null
    wait $rxpid
    t1=$EPOCHREALTIME
    rxs=$(sha256sum < /tmp/rx.bin 2>/dev/null | cut -d' ' -f1)
    local secs; secs=$(el "$t0" "$t1")
    if [ $rc = 0 ] && [ "$txs" = "$rxs" ]; then
        pass "TCP transfer ${mb} MiB client -> 10.77.0.1:5001 through the tunnel, sha256 match ${txs:0:16}... ($secs s, $(awk -v m="$mb" -v s="$secs" 'BEGIN{printf "%.1f", m*8*1.048576/s}') Mbit/s)"
    else
        fail "TCP transfer ${mb} MiB: socat rc=$rc, sent ${txs:0:16} received ${rxs:0:16} ($(stat -c %s /tmp/rx.bin 2>/dev/null) bytes)"
    fi
    rm -f /tmp/tx.bin /tmp/rx.bin
}

check_teardown() {   # SIGTERM the client, check exit and leftovers; $1 = "server" to check sstpd's log
    local left
    stop_client
    if [ "$STOP_RC" = 124 ]; then
        fail_or_xfail "client still running 10 s after SIGTERM (killed)"
    elif awk -v s="$STOP_S" 'BEGIN{exit !(s<=5)}' && [ "$STOP_RC" = 0 ]; then
        pass "SIGTERM: client exited in $STOP_S s with code 0"
    else
        fail_or_xfail "SIGTERM: client exited in $STOP_S s with code $STOP_RC (want <= 5 s, code 0)"
    fi
    if [ "${1:-}" = server ]; then
        if wait_log "$OUT/sstpd.log" "CALL_DISCONNECT\) received" 3; then
            pass "sstpd received the client's Call Disconnect: $(grep -m1 'CALL_DISCONNECT) received' "$OUT/sstpd.log" | cut -c1-140)"
        else
            fail_or_xfail "sstpd logged no Call Disconnect from the client"
        fi
    fi
    sleep 1
    left=$(cli_leftovers | tr '\n' ' ')
    if [ -z "$left" ]; then
        pass "no pppd / sstp-helper / sstpc left in netns cli"
    else
        fail_or_xfail "left in netns cli: $(for p in $left; do echo -n "$p:$(cat /proc/$p/comm 2>/dev/null) "; done)"
        kill_cli_leftovers
    fi
    if CLI ip -o link show | grep -q ': ppp'; then
        fail_or_xfail "a ppp interface is still present in netns cli"
    else
        pass "no ppp interface left in netns cli"
    fi
}

# every guest process's cmdline and environ while the tunnel is up (the host scans
# them for the password and the MPPE keys afterwards: secrets-scan.py)
secrets_snapshot() {
    local d=$OUT/secrets p n=0
    mkdir -p "$d"
    for p in /proc/[0-9]*; do
        p=${p#/proc/}
        [ "$p" = $$ ] || [ "$p" = "$BASHPID" ] && continue
        cat "/proc/$p/cmdline" > "$d/$p.cmdline" 2>/dev/null || { rm -f "$d/$p.cmdline"; continue; }
        cat "/proc/$p/environ" > "$d/$p.environ" 2>/dev/null
        n=$((n + 1))
    done
    info "snapshot of $n processes' cmdline and environ while connected (helper at --log-level $HELPER_LOGLEVEL)"
}

# the helper's VmRSS (KiB), VmHWM (KiB) and open fds, every 0.5 s, until the sampler is stopped
mem_sampler_start() {   # $1 = pid
    ( while [ -d "/proc/$1" ]; do
          printf '%s\t%s\t%s\t%s\n' "$EPOCHREALTIME" \
              "$(awk '/^VmRSS/ {print $2}' "/proc/$1/status" 2>/dev/null)" \
              "$(awk '/^VmHWM/ {print $2}' "/proc/$1/status" 2>/dev/null)" \
              "$(ls "/proc/$1/fd" 2>/dev/null | wc -l)"
          sleep 0.5
      done ) > "$OUT/helper-mem.tsv" &
    SAMPLER_PID=$!
}
# flat = RSS at the end within 1 MiB of the first sample and the fd count unchanged
mem_sampler_check() {   # $1 = what ran meanwhile
    kill "$SAMPLER_PID" 2>/dev/null; wait "$SAMPLER_PID" 2>/dev/null
    local n first last fdmin fdmax hwm
    n=$(awk 'NF == 4 && $2 != ""' "$OUT/helper-mem.tsv" | wc -l)
    [ "$n" -ge 3 ] || { fail "helper memory: only $n samples (helper-mem.tsv)"; return; }
    read -r first last fdmin fdmax hwm < <(awk 'NF == 4 && $2 != "" {if (!f) f = $2; l = $2; h = $3;
        if (mn == "" || $4 < mn) mn = $4; if ($4 > mx) mx = $4} END {print f, l, mn, mx, h}' "$OUT/helper-mem.tsv")
    local series; series=$(awk 'NF == 4 && $2 != "" {printf "%s%d", (NR > 1 ? " " : ""), $2 / 1024 + 0.5}' "$OUT/helper-mem.tsv" | tr ' ' '\n' | uniq | tr '\n' ' ')
    if [ $((last - first)) -le 1024 ] && [ "$fdmin" = "$fdmax" ]; then
        pass "helper RSS flat during $1: $first KiB -> $last KiB (peak $hwm KiB), open fds $fdmin throughout, $n samples (MiB: $series)"
    else
        fail "helper RSS/fds not flat during $1: $first KiB -> $last KiB (peak $hwm KiB), fds $fdmin..$fdmax, $n samples"
    fi
}

# ------------------------------------------------------------------ scenarios
scen_sstpd_full() {   # mschap | pap
    local auth=$1 opts max
    [ "$auth" = pap ] && opts=$OPTS_PAP || opts=$OPTS_MSCHAP
    max=$RETRIES
    net_setup "$DELAY_MS"
    capture_start
    sstpd_start "$auth"
    connect "$max" 30 10.77.0. $opts $OPTS_EXTRA
    check_connected "$max" "$auth" || exit 1
    check_binding 1
    CLI ip -4 addr show dev "$PPPIF" > "$OUT/ppp-addr.txt"
    if grep -q "inet $PPPADDR peer $PPP_LOCAL" "$OUT/ppp-addr.txt"; then
        pass "ip -4 addr show $PPPIF (netns cli): $(grep -m1 inet "$OUT/ppp-addr.txt" | xargs)"
    else
        fail "ip -4 addr show $PPPIF: $(grep -m1 inet "$OUT/ppp-addr.txt" | xargs)"
    fi
    check_ping $PPP_LOCAL 3
    if [ "$CLIENT" = ours ] && [ "$HELPER_LOGLEVEL" = debug ]; then
        # pppd asked for ACCM 0 and the server acknowledged it: once pppd handed over its keys
        # (so LCP is up in it), the helper escapes only 7D/7E toward it. The kernel's ppp_async
        # drops unescaped control bytes outside its receive ACCM, so the ping above and the
        # transfer below (IP headers are full of bytes < 0x20) pass only if pppd took the map.
        if grep -q "pppd receives with ACCM 0" "$CLOG"; then
            pass "LCP agreed ACCM 0 for pppd: the helper writes control bytes to it unescaped from the keys on"
        else
            fail "the helper never switched to ACCM 0 escaping toward pppd (see $CLOG)"
        fi
    fi
    [ "$auth" = mschap ] && [ "$CLIENT" = ours ] && secrets_snapshot
    if [ "${XFER:-1}" = 1 ]; then
        if [ "$PING_OK" = 1 ]; then
            [ "$CLIENT" = ours ] && mem_sampler_start "$CPID"
            check_transfer
            [ "$CLIENT" = ours ] && mem_sampler_check "the ${XFER_MB:-10} MiB transfer"
        else
            fail "TCP transfer skipped: no ping through the tunnel"
        fi
    fi
    check_teardown server
    capture_stop
}

# --save-server-route: the server (203.0.113.1, on sstpd's loopback) is reached through a
# gateway (192.0.2.1 on the veth). Once the tunnel is up the default route is pointed into
# it, as pppd's defaultroute or NetworkManager would. Without the option that cuts the
# tunnel (its own TLS packets go into ppp0): shown first, as the control. With it, a host
# route pins the server to the gateway, the tunnel keeps working, and the route is gone
# after exit.
scen_route() {
    local far=203.0.113.1 rt
    net_setup "$DELAY_MS"
    SRV ip addr add $far/32 dev lo
    CLI ip route add default via $SRV_IP dev vc
    SSTPD_LISTEN=$far sstpd_start mschap
    SERVER_ARG=$far
    # control: no server route
    HELPER_ARGS="--host $SRV_IP"
    CTAG=client.control
    connect 1 30 10.77.0. $OPTS_MSCHAP $OPTS_EXTRA
    check_connected 1 "route control (no --save-server-route)" || exit 1
    CLI ip route replace default dev "$PPPIF"
    if CLI python3 "$HERE/icmp-ping.py" $PPP_LOCAL 2 > /dev/null 2>&1; then
        fail "control: the tunnel still works with the default route into it and no server route (the test proves nothing)"
    else
        pass "control: without --save-server-route, a default route into the tunnel cuts it (ping $PPP_LOCAL fails)"
    fi
    kill_cli_leftovers
    CLI ip route replace default via $SRV_IP dev vc
    # with the option
    HELPER_ARGS="--host $SRV_IP --save-server-route"
    CTAG=client
    connect 1 30 10.77.0. $OPTS_MSCHAP $OPTS_EXTRA
    check_connected 1 "route (--save-server-route)" || exit 1
    rt=$(CLI ip route show $far)
    if echo "$rt" | grep -q "via $SRV_IP dev vc"; then
        pass "while connected: ip route show $far (netns cli): $rt"
    else
        fail "while connected: no host route to $far via $SRV_IP dev vc (got: ${rt:-nothing})"
    fi
    if wait_log "$CLOG" "server route: added $far via $SRV_IP dev vc" 2; then
        pass "helper: $(grep -m1 'server route: added' "$CLOG" | cut -c1-160)"
    else
        fail "helper logged no 'server route: added $far via $SRV_IP dev vc'"
    fi
    CLI ip route replace default dev "$PPPIF"
    info "default route now: $(CLI ip route show default)"
    check_ping $PPP_LOCAL 3
    check_teardown server
    rt=$(CLI ip route show $far)
    if [ -z "$rt" ]; then
        pass "after exit: no route to $far left (ip route show $far is empty)"
    else
        fail "after exit: the route is still there: $rt"
    fi
    SERVER_ARG= HELPER_ARGS=
}

# HTTP proxy (issue 6): sstpd listens on 203.0.113.1:8443 (srv's loopback), which netns cli
# has no route to; Debian's squid in netns srv on 192.0.2.1:3128 with Digest authentication
# (digest_file_auth) is the only way there. First a wrong proxy password (exit 12, one clear
# ERROR line, no retry loop), then the real connection: 407 answered with Digest, the tunnel
# to the non-443 port, binding verified, ping, clean SIGTERM; squid's access.log shows the
# CONNECT line with the user.
scen_proxy() {
    local far=203.0.113.1 port=8443 sq=/tmp/squid i rc line
    net_setup "$DELAY_MS"
    SRV ip addr add $far/32 dev lo
    SSTPD_LISTEN=$far SSTPD_PORT=$port sstpd_start mschap
    if CLI python3 "$HERE/icmp-ping.py" $far 1 > /dev/null 2>&1; then
        fail "control: netns cli reaches $far directly (the test would prove nothing)"; exit 1
    else
        pass "control: netns cli has no route to $far; only the proxy can reach it"
    fi
    mkdir -p $sq && chmod 777 $sq
    printf 'alice:proxy-pass-456\n' > $sq/digest && chmod 644 $sq/digest
    cat > $sq/squid.conf <<EOSQ
http_port $SRV_IP:3128
pid_filename $sq/squid.pid
cache_log $sq/cache.log
access_log stdio:$sq/access.log
cache deny all
cache_mem 8 MB
coredump_dir $sq
shutdown_lifetime 0 seconds
logfile_rotate 0
auth_param digest program /usr/lib/squid/digest_file_auth $sq/digest
auth_param digest realm sstp-uml
acl authed proxy_auth REQUIRED
http_access allow authed
http_access deny all
EOSQ
    cp $sq/squid.conf "$OUT/squid.conf"
    "${IN_SRV[@]}" squid -N -f $sq/squid.conf > "$OUT/squid.stderr" 2>&1 &
    SQUID_PID=$!
    for i in $(seq 300); do SRV ss -Htln "sport = :3128" | grep -q . && break; alive "$SQUID_PID" || break; sleep 0.1; done
    if SRV ss -Htln "sport = :3128" | grep -q .; then
        info "squid $(squid -v | sed -n 's/.*Version //p' | head -1) listening on $SRV_IP:3128, Digest auth (digest_file_auth)"
    else
        fail "squid did not start: $(tail -3 "$OUT/squid.stderr" $sq/cache.log 2>/dev/null | tr '\n' ' ')"; exit 1
    fi
    printf 'proxy-pass-456\n' > /tmp/proxy-pw.txt; printf 'wrong-pass\n' > /tmp/proxy-bad.txt
    chmod 600 /tmp/proxy-pw.txt /tmp/proxy-bad.txt
    SERVER_ARG=$far:$port

    # wrong proxy password
    HELPER_ARGS="--host $SRV_IP --proxy http://$SRV_IP:3128 --proxy-user alice --proxy-password-file /tmp/proxy-bad.txt --reconnect"
    client_start "$OUT/client.badpw.log" $OPTS_MSCHAP
    for i in $(seq 300); do alive "$CPID" || break; sleep 0.1; done
    if alive "$CPID"; then
        fail "wrong proxy password: the helper still runs after 30 s"; kill_cli_leftovers
    else
        wait "$CPID"; rc=$?; CPID=
        line=$(grep ' ERROR ' "$OUT/client.badpw.log" | head -1)
        if [ "$rc" = 12 ] && [ "$(grep -c ' ERROR ' "$OUT/client.badpw.log")" = 1 ] \
            && echo "$line" | grep -q 'proxy authentication failed (wrong proxy user or password?)'; then
            pass "wrong proxy password (with --reconnect): exit 12, no retry: $(echo "$line" | cut -c1-160)"
        else
            fail "wrong proxy password: exit $rc, error line: ${line:-none}"
        fi
    fi

    # the real connection
    HELPER_ARGS="--host $SRV_IP --proxy http://$SRV_IP:3128 --proxy-user alice --proxy-password-file /tmp/proxy-pw.txt"
    CTAG=client
    connect 1 40 10.77.0. $OPTS_MSCHAP $OPTS_EXTRA
    check_connected 1 "proxy (squid Digest, server port $port)" || exit 1
    # the proxy password: in no process's cmdline or environ while connected, not in the log
    # (bash pattern matching, so no scanning process carries the needle in its own argv)
    local pw hits= n=0 c q
    pw=$(< /tmp/proxy-pw.txt)
    for q in /proc/[0-9]*; do
        c=$(tr '\0' ' ' < "$q/cmdline" 2>/dev/null; tr '\0' ' ' < "$q/environ" 2>/dev/null) || continue
        n=$((n + 1))
        [[ $c == *"$pw"* ]] && hits+=" ${q#/proc/}"
    done
    if [ -z "$hits" ] && ! grep -qF -- "$pw" "$CLOG"; then
        pass "proxy password in none of $n processes' cmdline/environ nor in the helper log (--log-level $HELPER_LOGLEVEL)"
    else
        fail "proxy password found: processes${hits:- none}; log: $(grep -cF -- "$pw" "$CLOG") lines"
    fi
    for line in "407, answering with Digest credentials for alice" "tunnel to $far:$port open"; do
        if grep -q "$line" "$CLOG"; then
            pass "helper: $(grep -m1 "$line" "$CLOG" | cut -c1-170)"
        else
            fail "helper logged no '$line'"
        fi
    done
    check_binding
    check_ping $PPP_LOCAL 3
    check_teardown server
    kill -TERM "$SQUID_PID" 2>/dev/null
    for i in $(seq 100); do alive "$SQUID_PID" || break; sleep 0.1; done
    kill -KILL "$SQUID_PID" 2>/dev/null; wait "$SQUID_PID" 2>/dev/null; SQUID_PID=
    cp $sq/access.log "$OUT/squid-access.log" 2>/dev/null; cp $sq/cache.log "$OUT/squid-cache.log" 2>/dev/null
    line=$(grep "CONNECT $far:$port" "$OUT/squid-access.log" | grep ' alice ' | grep -v '/407 ' | head -1)
    if [ -n "$line" ]; then
        pass "squid access.log: $(echo "$line" | cut -c1-170)"
    else
        fail "no authenticated 'CONNECT $far:$port' by alice in squid's access.log"
    fi
    SERVER_ARG= HELPER_ARGS=
}

# IPv6 outside and inside: the server name resolves (guest /etc/hosts) to two IPv6
# addresses only, the first of which never answers (on-link, no neighbour: EHOSTUNREACH
# after ~3 s); Happy Eyeballs must reach the second within the 250 ms stagger, not after
# the first has failed. sstpd listens on 2001:db8::1 only. Both pppds run +ipv6: IPv6CP
# gives ppp0 link-local addresses, and the client pings the server's through the tunnel.
scen_ipv6() {
    local dead=2001:db8::3 srv6=2001:db8::1 order t_start t_tcp dt ll peer
    net_setup "$DELAY_MS"
    SRV ip -6 addr add $srv6/64 dev vs nodad
    CLI ip -6 addr add 2001:db8::2/64 dev vc nodad
    printf '%s sstp.test\n' $dead $srv6 >> /etc/hosts
    order=$(CLI getent ahostsv6 sstp.test | awk '$2 == "STREAM" {print $1}' | tr '\n' ' ')
    info "sstp.test resolves (getaddrinfo order) to: $order"
    SSTPD_LISTEN=$srv6 SSTPD_PPP_EXTRA=+ipv6 sstpd_start mschap
    SERVER_ARG=sstp.test
    connect 1 30 10.77.0. $OPTS_MSCHAP +ipv6 $OPTS_EXTRA
    check_connected 1 "ipv6 (server sstp.test, IPv6 only)" || exit 1
    if grep -q "TCP connected to \[$srv6\]:443" "$CLOG"; then
        t_start=$(grep -m1 ' INFO  connecting to ' "$CLOG" | cut -d' ' -f1)
        t_tcp=$(grep -m1 'TCP connected to' "$CLOG" | cut -d' ' -f1)
        dt=$(python3 -c 'import sys, datetime as d; f = lambda s: d.datetime.fromisoformat(s.rstrip("Z")); print("%.2f" % (f(sys.argv[2]) - f(sys.argv[1])).total_seconds())' "$t_start" "$t_tcp")
        if [ "${order%% *}" = $dead ]; then
            if awk -v s="$dt" 'BEGIN{exit !(s < 1.5)}'; then
                pass "Happy Eyeballs: first address $dead never answered, connected to [$srv6]:443 after $dt s (stagger 250 ms, not after the first attempt's failure)"
            else
                fail "Happy Eyeballs: connected to [$srv6]:443 only after $dt s (the first address $dead should not delay it)"
            fi
        else
            pass "TCP connected to [$srv6]:443 after $dt s (resolver put $srv6 first: the stagger was not exercised)"
        fi
    else
        fail "no 'TCP connected to [$srv6]:443' in the client log"
    fi
    check_binding 1
    if wait_log "$CLOG" "IPv6 up on $PPPIF" 10; then
        pass "helper: $(grep -m1 "IPv6 up on $PPPIF" "$CLOG" | cut -c1-160)"
    else
        fail "helper logged no 'IPv6 up on $PPPIF'"
    fi
    ll=$(CLI ip -6 -o addr show dev "$PPPIF" scope link | awk '{print $4, $5, $6}' | head -1)
    peer=$(echo "$ll" | awk '$2 == "peer" {sub("/.*", "", $3); print $3}')
    if [ -n "$peer" ]; then
        pass "ip -6 addr show $PPPIF (netns cli): inet6 $ll"
        check_ping "$peer%$PPPIF" 3
    else
        fail "no IPv6 link-local address with a peer on $PPPIF: $(CLI ip -6 -o addr show dev "$PPPIF")"
    fi
    check_ping $PPP_LOCAL 2
    check_teardown server
    SERVER_ARG=
}

# --reconnect against the real server: sstpd is killed while the tunnel is up and started
# again; the helper must announce the retry, back off while nothing listens, and bring the
# tunnel up again by itself. Then a wrong password with --reconnect: exit 9 after one try.
scen_reconnect() {
    local n_up n_tcp rc
    net_setup "$DELAY_MS"
    sstpd_start mschap
    HELPER_ARGS="--reconnect --reconnect-max-delay 4"
    connect 1 30 10.77.0. $OPTS_MSCHAP $OPTS_EXTRA
    check_connected 1 "reconnect (first call)" || exit 1
    kill -KILL "$SSTPD_PID"; wait "$SSTPD_PID" 2>/dev/null
    info "sstpd killed (SIGKILL) while the tunnel was up"
    sleep 3
    sstpd_start mschap
    local i
    for i in $(seq 300); do
        [ "$(grep -c 'IP up with' "$CLOG")" -ge 2 ] && break
        alive "$CPID" || break
        sleep 0.1
    done
    n_up=$(grep -c 'IP up with' "$CLOG")
    if [ "$n_up" -ge 2 ] && grep -q 'reconnecting in' "$CLOG"; then
        pass "the helper reconnected by itself: $(grep 'reconnecting in' "$CLOG" | cut -d' ' -f2- | tr '\n' '|' | cut -c1-300) then $(grep 'IP up with' "$CLOG" | tail -1 | cut -d' ' -f2- | cut -c1-100)"
    else
        fail "no second 'IP up' after the server came back ($n_up IP up lines; client alive: $(alive "$CPID" && echo yes || echo no))"
    fi
    check_binding 2
    if grep -q ' ERROR ' "$CLOG"; then fail "ERROR line(s) in a run that recovered: $(grep ' ERROR ' "$CLOG" | head -2)"; fi
    wait_ip_up 10 10.77.0. && check_ping $PPP_LOCAL 2
    check_teardown server
    # a wrong password is never retried
    printf '%s' wrong-password > /tmp/pw-wrong.txt; chmod 600 /tmp/pw-wrong.txt
    CLOG=$OUT/client.wrongpw.log
    "${IN_CLI[@]}" timeout -k 5 60 "$HELPER" --user $USER_NAME --password-file /tmp/pw-wrong.txt --ca-cert "$OUT/ca.pem" \
        --plugin "$PLUGIN" --log-level "$HELPER_LOGLEVEL" --reconnect $SRV_IP -- $OPTS_MSCHAP > "$CLOG" 2>&1
    rc=$?
    n_tcp=$(grep -c 'TCP connected' "$CLOG")
    if [ "$rc" = 9 ] && [ "$n_tcp" = 1 ] && ! grep -q 'reconnecting in' "$CLOG"; then
        pass "wrong password with --reconnect: exit 9 after $n_tcp connection, no retry: $(grep -m1 ' ERROR ' "$CLOG" | cut -d' ' -f2- | cut -c1-160)"
    else
        fail "wrong password with --reconnect: exit $rc, $n_tcp TCP connections, retries: $(grep -c 'reconnecting in' "$CLOG")"
    fi
    HELPER_ARGS=
}

# SIGKILL pid $1 (a pppd) and wait up to 10 s for the client to exit; passes if it exits
# 11 with exactly one ERROR line matching the regex $3. $2 = what was killed (for the lines)
kill_and_expect_lost() {
    local p=$1 what=$2 want=$3 t0 secs rc err i
    t0=$EPOCHREALTIME
    kill -KILL "$p"
    for i in $(seq 100); do alive "$CPID" || break; sleep 0.1; done
    secs=$(el "$t0" "$EPOCHREALTIME")
    if alive "$CPID"; then fail "$what SIGKILLed: the helper still runs after $secs s"; kill_cli_leftovers; return; fi
    wait "$CPID"; rc=$?; CPID=
    err=$(grep ' ERROR ' "$CLOG" | cut -d' ' -f2-)
    if [ "$rc" = 11 ] && [ "$(grep -c ' ERROR ' "$CLOG")" = 1 ] && echo "$err" | grep -Eqi "$want"; then
        pass "$what SIGKILLed: helper exited $rc after $secs s: $err"
    else
        fail "$what SIGKILLed: exit $rc after $secs s, error line(s): ${err:-none} (want 11 and one line matching '$want')"
    fi
}
check_nothing_left() {
    sleep 1
    [ -z "$(cli_leftovers)" ] && pass "nothing left in netns cli" || { fail "left in netns cli: $(cli_leftovers | tr '\n' ' ')"; kill_cli_leftovers; }
    CLI ip -o link show | grep -q ': ppp' && fail "a ppp interface is left in netns cli"
}

# Crashes with the real pppd on either side while the tunnel is up:
# 1. the client's pppd is SIGKILLed: the helper must say so, end the SSTP call (Call
#    Disconnect or Abort reaches sstpd), exit 11 (lost), and leave nothing;
# 2. the server's pppd is SIGKILLed: sstpd sends Call Disconnect; the helper must
#    acknowledge it, exit 11 with a line that says the server disconnected, leave nothing.
scen_crash() {
    local p
    net_setup "$DELAY_MS"
    sstpd_start mschap
    CTAG=client.kill-client-pppd
    connect 1 30 10.77.0. $OPTS_MSCHAP $OPTS_EXTRA
    check_connected 1 "crash 1 (client pppd)" || exit 1
    p=$(for x in $(pgrep -x pppd); do [ "$(ip netns identify "$x")" = cli ] && echo "$x"; done | head -1)
    kill_and_expect_lost "$p" "client pppd" "pppd was killed by signal 9 \(SIGKILL\)"
    if wait_log "$OUT/sstpd.log" "\((CALL_DISCONNECT|CALL_ABORT)\) received" 5; then
        pass "sstpd: $(grep -E -m1 '\((CALL_DISCONNECT|CALL_ABORT)\) received' "$OUT/sstpd.log" | cut -c1-150)"
    else
        fail "sstpd got neither Call Disconnect nor Call Abort after the client's pppd died"
    fi
    check_nothing_left

    CTAG=client.kill-server-pppd
    connect 1 30 10.77.0. $OPTS_MSCHAP $OPTS_EXTRA
    check_connected 1 "crash 2 (server pppd)" || exit 1
    local before; before=$(grep -c 'CALL_DISCONNECT_ACK) received' "$OUT/sstpd.log")
    # the newest server pppd (an earlier call's may still be winding down)
    p=$(for x in $(pgrep -x pppd); do [ "$(ip netns identify "$x")" = srv ] && echo "$x"; done | sort -n | tail -1)
    kill_and_expect_lost "$p" "server pppd" "server disconnected"
    sleep 0.5
    if [ "$(grep -c 'CALL_DISCONNECT_ACK) received' "$OUT/sstpd.log")" -gt "$before" ]; then
        pass "sstpd received the client's Call Disconnect Ack for its Call Disconnect"
    else
        fail "sstpd logged no Call Disconnect Ack from the client"
    fi
    check_nothing_left
    CTAG=client
}

# The attack the crypto binding exists to stop: a TLS-terminating relay (socat, with its own
# CA and a certificate for the same name) between the client and the real sstpd. The client
# trusts the relay's CA (--ca-cert), so TLS succeeds and PPP authenticates through the relay;
# the binding then carries the hash of the relay's certificate, and sstpd must refuse the call.
scen_relay() {
    net_setup "$DELAY_MS"
    sstpd_start mschap
    local relay_port=4443
    "${IN_SRV[@]}" socat -d -d "OPENSSL-LISTEN:$relay_port,bind=$SRV_IP,reuseaddr,fork,cert=$OUT/relay/server.pem,key=$OUT/relay/server.key,verify=0" \
        "OPENSSL:$SRV_IP:443,verify=0" > "$OUT/relay.log" 2>&1 &
    RELAY_PID=$!
    local i
    for i in $(seq 50); do SRV ss -Htln "sport = :$relay_port" | grep -q . && break; sleep 0.1; done
    SRV ss -Htln "sport = :$relay_port" | grep -q . || { fail "socat relay did not start (relay.log)"; exit 1; }
    info "TLS-terminating relay (socat) on $SRV_IP:$relay_port -> sstpd $SRV_IP:443; relay certificate from its own CA, sha256 $(openssl x509 -in "$OUT/relay/server.pem" -noout -fingerprint -sha256 | cut -d= -f2 | tr -d : | cut -c1-16)..."
    printf '%s' "$PASSWORD" > /tmp/pw.txt; chmod 600 /tmp/pw.txt
    : > "$OUT/pppd-client.log"
    CLOG=$OUT/client.log
    CMDLINE="$HELPER --user $USER_NAME --password-file /tmp/pw.txt --ca-cert $OUT/relay/ca.pem --plugin $PLUGIN --log-level $HELPER_LOGLEVEL $SRV_IP:$relay_port -- $OPTS_MSCHAP $OPTS_EXTRA"
    echo "# (netns cli) $CMDLINE" > "$CLOG"
    local t0=$EPOCHREALTIME
    "${IN_CLI[@]}" timeout -k 5 90 $CMDLINE >> "$CLOG" 2>&1 &
    CPID=$!
    wait "$CPID"; local rc=$?
    CPID=
    local secs; secs=$(el "$t0" "$EPOCHREALTIME")
    if grep -q "TLS .*certificate accepted" "$CLOG" && grep -q "PPP authenticated" "$CLOG"; then
        pass "through the relay: TLS accepted (client trusts the relay CA) and PPP authenticated: the relay sees everything but the binding"
    else
        fail "through the relay: the client did not get as far as PPP authentication (see client.log)"
    fi
    if wait_log "$OUT/sstpd.log" "Certificate hash mismatch" 5; then
        pass "sstpd rejected the relayed call: $(grep -m1 'Certificate hash mismatch' "$OUT/sstpd.log" | cut -c1-200)"
    else
        fail "sstpd did not reject the relayed call (no 'Certificate hash mismatch' in sstpd.log)"
    fi
    if grep -q "Crypto Binding is valid\|Connection established" "$OUT/sstpd.log"; then
        fail "sstpd accepted a relayed call: $(grep -m1 'Crypto Binding is valid\|Connection established' "$OUT/sstpd.log")"
    fi
    local err; err=$(grep -m1 ' ERROR ' "$CLOG")
    if [ "$rc" != 0 ] && [ "$rc" != 124 ] && [ -n "$err" ] && awk -v s="$secs" 'BEGIN{exit !(s<=30)}'; then
        pass "client: exit code $rc after $secs s: ${err:0:220}"
    else
        fail "client: exit code $rc after $secs s, error line: ${err:-none} (want non-zero, one ERROR line, <= 30 s)"
    fi
    if CLI ip -4 -o addr show | grep -q ' ppp'; then fail "a ppp interface with an address exists after the rejected call"; fi
    sleep 1
    local left; left=$(cli_leftovers | tr '\n' ' ')
    [ -z "$left" ] && pass "no pppd / sstp-helper left in netns cli" || { fail "left in netns cli: $left"; kill_cli_leftovers; }
    kill "$RELAY_PID" 2>/dev/null
}

# sstpd's start-up race, made certain: its pppd starts 1 s late (a wrapper sleeps, then execs
# pppd), so the client's first LCP Configure-Request reaches the pty before that pppd sets up
# its tty (tcsetattr TCSAFLUSH), which discards it. The helper must notice that the server's
# PPP spoke without answering, and send the request again before pppd can answer the server;
# pppd itself must not have to wait for its 3 s restart timer, and the server's LCP must not
# restart.
scen_lostlcp() {
    net_setup "$DELAY_MS"
    printf '#!/bin/sh\nsleep 1\nexec /usr/sbin/pppd "$@"\n' > /tmp/slow-pppd
    chmod 755 /tmp/slow-pppd
    SSTPD_PPPD=/tmp/slow-pppd sstpd_start mschap
    connect 1 30 10.77.0. $OPTS_MSCHAP $OPTS_EXTRA
    check_connected 1 "lostlcp (sstpd's pppd 1 s late)" || exit 1
    check_binding 1
    local n
    n=$(grep -c "sending it again" "$CLOG")
    [ "$n" = 1 ] && pass "helper sent pppd's first LCP request once more: $(grep -m1 'sending it again' "$CLOG" | cut -c1-170)" \
        || fail "helper lines 'sending it again': $n (want 1)"
    n=$(grep -c 'sent \[LCP ConfReq' "$OUT/pppd-client.log")
    [ "$n" = 1 ] && pass "client pppd sent LCP Configure-Request once: no 3 s restart timer was needed" \
        || fail "client pppd sent LCP Configure-Request $n times (want 1; see pppd-client.log)"
    local rq sq
    rq=$(grep -c 'rcvd \[LCP ConfReq' "$OUT/pppd-server.log"); sq=$(grep -c 'sent \[LCP ConfReq' "$OUT/pppd-server.log")
    [ "$rq" = 1 ] && [ "$sq" = 1 ] && pass "server pppd received one LCP Configure-Request (the copy) and sent one: LCP did not restart" \
        || fail "server pppd: $rq LCP Configure-Request(s) received, $sq sent (want 1 and 1; see pppd-server.log)"
    # the copy must reach the server before pppd's Ack of the server's request: a server that
    # had the first copy after all would otherwise be Opened, and restart LCP on a second one
    local order
    order=$(grep -o -m2 'rcvd \[LCP Conf[A-Za-z]*' "$OUT/pppd-server.log" | sed 's/rcvd \[LCP //' | tr '\n' ' ')
    [ "$order" = "ConfReq ConfAck " ] && pass "server pppd received the copy before pppd's Ack of its own request (rcvd: $order)" \
        || fail "server pppd received, in order: $order(want the copy, ConfReq, before pppd's ConfAck)"
    check_ping $PPP_LOCAL 3
    check_teardown server
}

scen_fast() {
    local n=${FAST_N:-3} ok=0 i
    net_setup 0
    capture_start
    sstpd_start mschap
    connect 1 30 10.77.0. $OPTS_MSCHAP $OPTS_EXTRA
    check_connected 1 "fast (0 ms)" || exit 1
    ok=1
    check_binding 1
    check_ping $PPP_LOCAL 3
    check_teardown server
    # the last connect of ours asks for Deflate after "--" (the helper's own nodeflate comes
    # first): pppd must offer it, so the documented way back to compression works; sstpd
    # refuses it and the call goes on
    local more deflate_ok=
    for i in $(seq 2 "$n"); do
        CTAG=client.fast$i more=
        [ "$CLIENT" = ours ] && [ "$i" = "$n" ] && more="deflate 15"
        if connect 1 30 10.77.0. $OPTS_MSCHAP $OPTS_EXTRA $more; then
            if [ -n "$more" ]; then
                grep -q 'sent \[CCP ConfReq id=0x1 <deflate 15>' "$OUT/pppd-client.log" && deflate_ok=yes || deflate_ok=no
                cp "$OUT/pppd-client.log" "$OUT/pppd-$CTAG.log" 2>/dev/null
            fi
            stop_client
            if [ "$STOP_RC" = 0 ]; then ok=$((ok + 1)); else info "fast connect $i: exit code $STOP_RC after SIGTERM"; fi
        else
            info "fast connect $i: no address within 30 s (see $CTAG.attempt1.log, pppd-$CTAG.attempt1.log, sstpd.log)"
        fi
        kill_cli_leftovers
    done
    CTAG=client
    [ "$ok" = "$n" ] && pass "fast: $ok of $n connects at 0 ms succeeded on the first try" \
                     || fail "fast: $ok of $n connects at 0 ms succeeded on the first try"
    if [ -n "$deflate_ok" ] && [[ " $OPTS_EXTRA " == *" debug "* ]]; then
        [ "$deflate_ok" = yes ] && pass "fast: with \"-- deflate 15\" pppd offered Deflate (sent [CCP ConfReq <deflate 15>])" \
            || fail "fast: with \"-- deflate 15\" pppd did not offer Deflate (see pppd-client.fast$n.log)"
    fi
    capture_stop
}

scen_repeat() {
    local n=${REPEAT_N:-20} ok=0 i why
    net_setup "$DELAY_MS"
    sstpd_start mschap
    : > /tmp/up-times
    for i in $(seq "$n"); do
        why=
        : > "$OUT/pppd-client.log"
        client_start "$OUT/client.cycle$i.log" $OPTS_MSCHAP $OPTS_EXTRA
        if ! wait_ip_up 30 10.77.0.; then why="no IP within 30 s"
        elif ! CLI python3 "$HERE/icmp-ping.py" $PPP_LOCAL 1 > /dev/null 2>&1; then why="ping failed"
        fi
        stop_client
        [ -z "$why" ] && [ "$STOP_RC" != 0 ] && why="exit code $STOP_RC after SIGTERM ($STOP_S s)"
        [ -z "$why" ] && ! awk -v s="$STOP_S" 'BEGIN{exit !(s<=5)}' && why="exit took $STOP_S s"
        sleep 0.5
        [ -z "$why" ] && [ -n "$(cli_leftovers)" ] && why="processes left: $(cli_leftovers | tr '\n' ' ')"
        [ -z "$why" ] && CLI ip -o link show | grep -q ': ppp' && why="ppp interface left"
        if [ -z "$why" ]; then
            ok=$((ok + 1)); echo "$UP_S" >> /tmp/up-times
            log "cycle $i: ok (up in $UP_S s, $PPPADDR, exit in $STOP_S s)"
            rm -f "$OUT/client.cycle$i.log"
        else
            log "cycle $i: FAILED: $why"; info "cycle $i failed: $why (see client.cycle$i.log)"
            cp "$OUT/pppd-client.log" "$OUT/pppd-client.cycle$i.log" 2>/dev/null
        fi
        kill_cli_leftovers
    done
    res "INFO connect seconds min/median/max = $(sort -n /tmp/up-times | awk '{a[NR]=$1} END{if(NR) printf "%s/%s/%s", a[1], a[int((NR+1)/2)], a[NR]; else print "-"}')"
    echo "connects: $ok of $n succeeded" > "$OUT/repeat-count.txt"
    [ "$ok" = "$n" ] && pass "connects: $ok of $n succeeded" || fail "connects: $ok of $n succeeded"
    check_binding "$ok"
    local nd; nd=$(grep -c "CALL_DISCONNECT) received" "$OUT/sstpd.log")
    if [ "$nd" -ge "$ok" ]; then pass "sstpd received $nd Call Disconnect messages ($ok clean cycles)"
    else fail_or_xfail "sstpd received $nd Call Disconnect messages for $ok clean cycles"; fi
}

# Up to 10 s until no pppd of sstpd's is left in netns srv: sstpc 1.0.18 sends no Call
# Disconnect, and the server's pppd of that call lingers for seconds, slowing the next call's
# server side in the guest; each connect of connect-time starts from an idle server.
wait_server_calls_gone() {
    local i p left
    for i in $(seq 100); do
        left=
        for p in $(pgrep -x pppd); do
            [ "$(ip netns identify "$p" 2>/dev/null)" = srv ] && left=1 && break
        done
        [ -z "$left" ] && return 0
        sleep 0.1
    done
    log "server pppd still running 10 s after the client stopped"
}

# stdin: one time in seconds per line; prints "median min max" ("- - -" for none)
times_stats() {
    sort -n | awk '{a[NR]=$1} END{if(NR) printf "%.2f %.2f %.2f", (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2), a[1], a[NR]; else print "- - -"}'
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN{printf "%.2f", a/b}'; }

# connect-time: CONNECT_N connects of each client against the same sstpd in the same boot,
# the clients taking turns (ours, sstpc, ours, ...) so that a change of speed of the machine
# hits both alike; each from process start to an IPv4 address on ppp (wait_ip_up), then
# SIGTERM. Prints count, median, min and max per client. Ours must make N of N. A connect
# slower than 2.5 s keeps its client log (all of them with KEEP=1).
scen_connect_time() {
    local n=${CONNECT_N:-20} c i ok stats
    local -A OKS=([ours]=0 [sstpc]=0) STATS=()
    net_setup "$DELAY_MS"
    sstpd_start mschap
    : > /tmp/up-times-ours; : > /tmp/up-times-sstpc
    for i in $(seq "$n"); do
        for c in ours sstpc; do
            CLIENT=$c
            : > "$OUT/pppd-client.log"
            ipmon_start
            client_start "$OUT/client.$c.$i.log" $OPTS_MSCHAP $OPTS_EXTRA
            if wait_ip_up 20 10.77.0.; then
                OKS[$c]=$((OKS[$c] + 1)); echo "$UP_S" >> "/tmp/up-times-$c"
                log "$c connect $i: up in $UP_S s"
                if [ "${KEEP:-0}" != 1 ] && awk -v s="$UP_S" 'BEGIN{exit !(s<2.5)}'; then
                    rm -f "$OUT/client.$c.$i.log"
                else
                    cp "$OUT/pppd-client.log" "$OUT/pppd-client.$c.$i.log" 2>/dev/null
                fi
            else
                log "$c connect $i: no IP within 20 s (see client.$c.$i.log)"
                cp "$OUT/pppd-client.log" "$OUT/pppd-client.$c.$i.log" 2>/dev/null
            fi
            ipmon_stop
            stop_client
            kill_cli_leftovers
            wait_server_calls_gone
            sleep 0.5
        done
    done
    for c in ours sstpc; do
        ok=${OKS[$c]}
        stats=$(times_stats < "/tmp/up-times-$c")
        STATS[$c]=$stats
        set -- $stats
        info "connect-time $c: $ok of $n connects up; process start to IP up: median $1 s, min $2 s, max $3 s"
        echo "$c $ok $n $stats" >> "$OUT/connect-time.txt"
    done
    CLIENT=ours
    [ "${OKS[ours]}" = "$n" ] && pass "connect-time: ours $n of $n connects" || fail "connect-time: ours ${OKS[ours]} of $n connects"
    set -- ${STATS[ours]}; local mo=$1
    set -- ${STATS[sstpc]}; local ms=$1
    [ "$mo" != - ] && [ "$ms" != - ] || return 0
    info "connect-time: median ours / sstpc = $(ratio "$mo" "$ms") (target <= 0.80)"
    # sstpd's start-up race (docs/performance.md) costs a client pppd's 3 s restart timer; sstpc
    # does not recover from it early, so say how many of each client's connects took longer
    # than 3 s (a host stall is counted too: read the lists) and compare the medians of the
    # rest, the same filter for both: the race-free comparison.
    local slow nslow rest rests=() c2
    for c2 in ours sstpc; do
        slow=$(awk '$1 > 3' "/tmp/up-times-$c2" | sort -n | paste -sd' ')
        nslow=$(awk '$1 > 3' "/tmp/up-times-$c2" | wc -l)
        rest=$(awk '$1 <= 3' "/tmp/up-times-$c2" | times_stats)
        set -- $rest; rests+=("$1")
        info "connect-time $c2: $nslow of ${OKS[$c2]} connects over 3 s (${slow:-none}); median of the other $((OKS[$c2] - nslow)) ${1} s"
    done
    if [ "${rests[0]}" != - ] && [ "${rests[1]}" != - ]; then
        info "connect-time: connects of 3 s or less, median ours / sstpc = $(ratio "${rests[0]}" "${rests[1]}")"
    fi
}

scen_softether() {
    net_setup "$DELAY_MS"
    capture_start
    softether_start
    connect "$RETRIES" 45 192.168.30. $OPTS_MSCHAP $OPTS_EXTRA
    check_connected "$RETRIES" softether || exit 1
    CLI ip route add 192.168.30.0/24 dev "$PPPIF"
    check_ping 192.168.30.1 3
    VPNCMD /HUB:DEFAULT /CMD SessionList > "$OUT/softether-sessions.txt" 2>&1
    check_teardown
    capture_stop
}

scen_demo() {
    net_setup "$DELAY_MS"
    sstpd_start mschap
    {
        echo "== SSTP demo: sstpd 0.7.2 (netns srv, 192.0.2.1) <-> $CLIENT (netns cli, 192.0.2.2), ${DELAY_MS} ms each way"
        echo "\$ ${CMDLINE_PREVIEW:-}"
    } > "$OUT/demo.txt"
    connect "$RETRIES" 30 10.77.0. $OPTS_MSCHAP
    sed -i "2s|.*|\$ $CMDLINE|" "$OUT/demo.txt"
    check_connected "$RETRIES" demo || { sed 's/^/  | /' "$CLOG" >> "$OUT/demo.txt"; exit 1; }
    {
        echo "-- client progress (stderr):"; grep -v '^#' "$CLOG" | sed 's/^/  | /'
        DEMO_LINES=$(wc -l < "$CLOG")
        echo "\$ ip -4 addr show dev $PPPIF   (netns cli)"; CLI ip -4 addr show dev "$PPPIF" | sed 's/^/  | /'
        echo "\$ ping -c 3 $PPP_LOCAL   (through the tunnel)"
    } >> "$OUT/demo.txt"
    check_ping $PPP_LOCAL 3
    sed 's/^/  | /' "$OUT/ping.txt" >> "$OUT/demo.txt"
    check_teardown server
    {
        echo "\$ kill -TERM <helper>   -> exit code $STOP_RC after $STOP_S s"
        echo "-- client output after SIGTERM:"; sed -n "$((DEMO_LINES + 1)),\$p" "$CLOG" | sed 's/^/  | /'
        echo "-- server: $(grep -m1 'Crypto Binding is valid' "$OUT/sstpd.log" | cut -c1-120)"
        echo "-- server: $(grep -m1 'CALL_DISCONNECT) received' "$OUT/sstpd.log" | cut -c1-120)"
    } >> "$OUT/demo.txt"
}

# ------------------------------------------------------------------ main
log "scenario $SCEN, client $CLIENT, delay ${DELAY_MS} ms"
: > "$OUT/results.txt"
versions
case "$SCEN" in
    mschap)    scen_sstpd_full mschap ;;
    pap)       scen_sstpd_full pap ;;
    fast)      scen_fast ;;
    lostlcp)   scen_lostlcp ;;
    repeat)    scen_repeat ;;
    connect-time) scen_connect_time ;;
    softether) scen_softether ;;
    relay)     scen_relay ;;
    route)     scen_route ;;
    proxy)     scen_proxy ;;
    ipv6)      scen_ipv6 ;;
    reconnect) scen_reconnect ;;
    crash)     scen_crash ;;
    demo)      scen_demo ;;
    nm-*)      . "$HERE/nm-guest.sh"; scen_nm "$SCEN" ;;   # NetworkManager scenarios (nm-guest.sh)
    *)         fail "unknown scenario $SCEN"; exit 2 ;;
esac
# the client log of the (last) connection under a fixed name
[ -n "${CLOG:-}" ] && [ -f "$CLOG" ] && cp "$CLOG" "$OUT/client.log"
echo "END" >> "$OUT/results.txt"
exit 0
