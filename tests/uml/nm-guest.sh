# NetworkManager end-to-end scenarios (nm-*), sourced by guest-main.sh inside the UML guest.
# Uses guest-main.sh's helpers (res/pass/fail/info, SRV, alive, ...) and run.sh's certificates.
#
# Topology: netns srv (vs 192.0.2.1/24, sstpd 0.7.2 :443, its pppd 10.77.0.1, ms-dns 10.77.0.53
# and 10.77.0.1) <-> veth <-> root netns (nm0 192.0.2.2/24, managed by NetworkManager).
# NetworkManager 1.42 (Debian) runs in the root netns with a real dbus-daemon --system and
# systemd-udevd. Our files are installed where the packages put them (in the guest's RAM
# overlay only): /usr/lib/NetworkManager/{nm-sstp-service,nm-sstp-auth-dialog,sstp-helper,
# libsstp_rs_pppd.so}, nm-plugin/data/nm-sstp-service.name in /usr/lib/NetworkManager/VPN/
# (alone: tmpfs over it), nm-plugin/data/nm-sstp-service.conf in /usr/share/dbus-1/system.d/.
#
# Scenarios:
#   nm-up      nmcli add + up (activated, address on ppp, VPN DNS in NM's resolv.conf, host
#              route to the DNS server, ping), /etc/resolv.conf untouched, down (routes as
#              before, nothing left, within 3 s); ipv6.method auto activates; a keyfile profile
#              exactly as network-manager-sstp writes it activates unchanged
#   nm-secrets nmcli --ask (password typed at the prompt, headless) and passwd-file
#   nm-fail    wrong password -> login failure reported; server down -> fails in time, reason
#              in NM's log
#   nm-repeat  NM_REPEAT_N (10) up/down cycles, all activated
#   nm-import  our editor plugin (nm-plugin/editor, `make -C nm-plugin/editor` first) installed
#              in libnm's plugin directory: nmcli imports a Windows phonebook SSTP entry and
#              refuses an IKEv2 one with our message; the imported profile, completed with
#              user/password/CA, activates; nmcli export -> import gives the same vpn.data and
#              that profile activates too (password by passwd-file: exports hold no secrets)

NM_BIN=/usr/lib/NetworkManager
NM_USER=alice
NM_PASS=test-pass-123
NM_LOG=$OUT/nm.log

nm_install() {
    local rel
    rel=$(dirname "$HELPER_SRC")
    for f in nm-sstp-service nm-sstp-auth-dialog; do
        [ -x "$rel/$f" ] || { fail "no $rel/$f (cargo build --release)"; exit 1; }
        cp "$rel/$f" "$NM_BIN/$f"
    done
    cp "$HELPER" "$NM_BIN/sstp-helper"
    cp "$PLUGIN" "$NM_BIN/libsstp_rs_pppd.so"
    local data=$HERE/../../nm-plugin/data
    for d in /usr/lib/NetworkManager/VPN /etc/NetworkManager/VPN /etc/NetworkManager/system-connections \
             /var/lib/NetworkManager /etc/NetworkManager/conf.d /etc/NetworkManager/dnsmasq.d; do
        mkdir -p "$d"; mount -t tmpfs -o mode=0755 nm-tmpfs "$d"
    done
    chmod 700 /etc/NetworkManager/system-connections
    cp "$data/nm-sstp-service.name" /usr/lib/NetworkManager/VPN/
    cp "$data/nm-sstp-service.conf" /usr/share/dbus-1/system.d/nm-sstp-service.conf
    # Debian's ip-up.d scripts, as installed (our ipparam must make them leave resolv.conf alone)
    cp -a /etc/ppp/ip-up.d /etc/ppp/ip-up.d.keep 2>/dev/null
    cp /etc/resolv.conf /tmp/resolv.conf.before 2>/dev/null || : > /tmp/resolv.conf.before
    {
        echo "nm-sstp-service: $(sha256sum < $NM_BIN/nm-sstp-service | cut -c1-16)"
        echo "NetworkManager: $(dpkg-query -W -f '${Version}' network-manager)"
        cat /usr/lib/NetworkManager/VPN/nm-sstp-service.name
    } >> "$OUT/versions.txt"
}

nm_net_setup() {
    ip netns add srv || { fail "netns"; exit 1; }
    ip link add nm0 type veth peer name vs netns srv
    SRV ip link set lo up
    SRV ip addr add 192.0.2.1/24 dev vs; SRV ip link set vs up
    SRV ip addr add 10.77.0.53/32 dev lo
    if [ "${DELAY_MS:-0}" != 0 ]; then SRV tc qdisc add dev vs root netem delay "${DELAY_MS}ms"; fi
}

nm_sstpd_start() {
    printf '%s\n' "name sstpd" auth require-mschap-v2 refuse-pap refuse-chap refuse-mschap refuse-eap \
        nobsdcomp nodeflate novj nologfd "logfile $OUT/pppd-server.log" debug nodefaultroute \
        "ms-dns 10.77.0.53" "ms-dns 10.77.0.1" "ms-wins 10.77.0.54" > /tmp/options.sstpd
    cp /tmp/options.sstpd "$OUT/options.sstpd"
    # the same sstpd 0.7.2 fixes as guest-main.sh's sstpd_start (its functions, same switches):
    # without the fd-reuse fix every activation after the first one in a guest fails; the PAP
    # fix changes nothing for MS-CHAPv2 and keeps the server copy identical to the other scenarios
    if [ "${SSTPD_PAP_FIX:-1}" = 1 ]; then sstpd_pap_fix; fi
    if [ "${SSTPD_REUSE_FIX:-1}" = 1 ]; then sstpd_reuse_fix; fi
    "${IN_SRV[@]}" "$VENV/bin/sstpd" -l 192.0.2.1 -p 443 -c "$OUT/server.pem" -k "$OUT/server.key" \
        --pppd-config /tmp/options.sstpd --local 10.77.0.1 --remote 10.77.0.0/24 -v "${SSTPD_LOGLEVEL:-10}" \
        >> "$OUT/sstpd.log" 2>&1 &
    SSTPD_PID=$!
    local i
    for i in $(seq 200); do SRV ss -Htln "sport = :443" | grep -q . && return 0; sleep 0.1; done
    fail "sstpd did not start"; exit 1
}

nm_start() {
    mkdir -p /run/udev /run/dbus /run/NetworkManager
    # guest-main.sh runs chrooted below a PID 1 outside the chroot: without this, udevadm
    # says "Running in chroot, ignoring request" and NM waits forever for udev
    export SYSTEMD_IGNORE_CHROOT=1
    /lib/systemd/systemd-udevd --daemon > "$OUT/udevd.log" 2>&1
    udevadm trigger --action=add --type=subsystems; udevadm trigger --action=add --type=devices
    udevadm settle -t 30
    # no ModemManager (D-Bus activated by NM otherwise): it probes new ttys
    rm -f /usr/share/dbus-1/system-services/org.freedesktop.ModemManager1.service
    dbus-daemon --system || { fail "dbus-daemon --system"; exit 1; }
    local i
    for i in $(seq 50); do [ -S /run/dbus/system_bus_socket ] && break; sleep 0.1; done
    cat > /run/nm-test.conf <<'CONF'
[main]
plugins=keyfile
dns=default
rc-manager=unmanaged
systemd-resolved=false
hostname-mode=none
no-auto-default=*
auth-polkit=root-only
[keyfile]
unmanaged-devices=except:interface-name:nm0
[connectivity]
enabled=false
[logging]
level=DEBUG
domains=ALL,VPN_PLUGIN:DEBUG
CONF
    NetworkManager --debug --config=/run/nm-test.conf > "$NM_LOG" 2>&1 &
    NM_PID=$!
    if nm-online -s -q -t 60; then info "NetworkManager $(dpkg-query -W -f '${Version}' network-manager) up"
    else fail "NetworkManager did not come up"; tail -20 "$NM_LOG"; exit 1; fi
    nmcli connection add type ethernet ifname nm0 con-name base autoconnect no \
        ipv4.method manual ipv4.addresses 192.0.2.2/24 ipv4.gateway 192.0.2.254 ipv4.dns 192.0.2.254 \
        ipv6.method disabled > /dev/null
    nmcli connection up base > /dev/null || { fail "base ethernet connection did not activate"; exit 1; }
}

# processes of ours in the root netns (sstpd's pppd lives in netns srv). A process whose
# network namespace cannot be read any more is exiting (or a zombie): not a leftover. Without
# that, sstpd's own pppd ending a call just then counted as ours.
nm_leftovers() {
    local p me ns
    me=$(readlink /proc/self/ns/net)
    for p in $(pgrep -x pppd) $(pgrep -x sstp-helper) $(pgrep -x nm-sstp-service); do
        ns=$(readlink "/proc/$p/ns/net" 2>/dev/null) || continue
        [ "$ns" = "$me" ] || continue
        echo "$p:$(cat "/proc/$p/comm" 2>/dev/null || echo gone)"
        ps -o pid=,ppid=,stat=,etimes=,args= -p "$p" >> "$OUT/leftovers.txt" 2>/dev/null
    done
}

nm_add() {   # $1 name, $2 ipv6 method, $3 password-flags, [$4 password]
    local data="gateway = 192.0.2.1, connection-type = password, user = $NM_USER, password-flags = $3, ca-cert = $OUT/ca.pem, refuse-eap = yes"
    if [ -n "${4:-}" ]; then
        nmcli connection add type vpn vpn-type sstp con-name "$1" autoconnect no ipv6.method "$2" \
            vpn.data "$data" vpn.secrets "password = $4" > /dev/null
    else
        nmcli connection add type vpn vpn-type sstp con-name "$1" autoconnect no ipv6.method "$2" \
            vpn.data "$data" > /dev/null
    fi
}

# nmcli connection up; sets UP_RC UP_S, output in $OUT/up-$1.txt
nm_up() {
    local name=$1; shift
    local t0=$EPOCHREALTIME
    timeout 100 nmcli connection up "$name" "$@" > "$OUT/up-$name.txt" 2>&1; UP_RC=$?
    UP_S=$(el "$t0" "$EPOCHREALTIME")
}

# nmcli connection down; checks routes and leftovers; $1 name, $2 label
nm_down_check() {
    local name=$1 label=$2 t0 i left
    # --wait 0: nmcli returns once NetworkManager has taken the request, and the clock starts
    # there. Timing the default wait instead measured nmcli too: in one CI run it returned
    # 7 s after NetworkManager had disposed of the connection (2.4 s after the request).
    nmcli --wait 0 connection down "$name" > "$OUT/down-$name.txt" 2>&1
    t0=$EPOCHREALTIME
    for i in $(seq 150); do [ -z "$(nm_leftovers | grep -v nm-sstp-service)" ] && break; sleep 0.1; done
    local gone_s; gone_s=$(el "$t0" "$EPOCHREALTIME")
    sleep 1
    left=$(nm_leftovers | tr '\n' ' ')
    local active; active=$(nmcli -t -f NAME connection show --active | grep -cxF "$name")
    ip -4 route | sort > /tmp/routes.after
    # Bound: NetworkManager's vpn-pre-down dispatcher runs before it asks the plugin to stop
    # (3.2 s in one CI run, with no script to run), then the helper's own worst case for a
    # clean stop, the 5 s Call Disconnect Ack wait (MS-SSTP DISCONNECT_STATE_TIMER_1) + 1 s TLS
    # close, and the guest's own polling. 6 s failed twice on a slow nested host while the
    # helper stopped within 1.6 s of its SIGTERM; the helper's stop alone is bounded tighter in
    # the SIGTERM check of guest-main.sh (5 s) and in helper_faults (2 s).
    if awk -v s="$gone_s" 'BEGIN{exit !(s<=12)}' && [ -z "$left" ] && [ "$active" = 0 ]; then
        pass "$label: nmcli connection down: sstp-helper and pppd gone $gone_s s after the request, connection inactive, nothing left (nm-sstp-service exited too)"
    else
        fail "$label: after nmcli connection down ($gone_s s): left: ${left:-none}; still active: $active"
    fi
    if diff -u /tmp/routes.before /tmp/routes.after > "$OUT/routes-diff-$name.txt"; then
        pass "$label: routes back as before ($(wc -l < /tmp/routes.after) IPv4 routes)"
    else
        fail "$label: routes differ after down: $(tr '\n' ' ' < "$OUT/routes-diff-$name.txt" | cut -c1-300)"
    fi
    ip link show 2>/dev/null | grep -q ': ppp' && fail "$label: a ppp interface is still there"
    grep -q "sstpd.*CALL_DISCONNECT) received\|CALL_DISCONNECT) received" "$OUT/sstpd.log" 2>/dev/null \
        && info "sstpd log has Call Disconnect from the client"
}

nm_check_up() {   # $1 name, $2 label
    local name=$1 label=$2 ifc addr
    if [ "$UP_RC" = 0 ]; then
        pass "$label: nmcli connection up $name in $UP_S s: $(head -1 "$OUT/up-$name.txt")"
    else
        fail "$label: nmcli connection up $name rc=$UP_RC: $(tr '\n' ' ' < "$OUT/up-$name.txt" | cut -c1-300)"
        return 1
    fi
    local st; st=$(nmcli -g GENERAL.STATE connection show "$name" 2>/dev/null)
    [ "$st" = activated ] && pass "$label: GENERAL.STATE $st" || fail "$label: GENERAL.STATE '$st'"
    ifc=$(ip -4 -o addr show | awk '$2 ~ /^ppp/ {print $2; exit}')
    addr=$(ip -4 -o addr show | awk '$2 ~ /^ppp/ {print $4, $5, $6; exit}')
    case "$addr" in 10.77.0.*" peer 10.77.0.1/32") pass "$label: address on $ifc: $addr" ;;
        *) fail "$label: no 10.77.0.x address on a ppp interface ($addr)";; esac
    nmcli -f GENERAL,VPN,IP4,IP6 connection show "$name" > "$OUT/state-$name.txt" 2>&1
    ip -4 route > "$OUT/routes-up-$name.txt"
    if grep -q '^nameserver 10.77.0.53' /run/NetworkManager/resolv.conf; then
        pass "$label: VPN DNS in NM's resolv.conf: $(grep '^nameserver' /run/NetworkManager/resolv.conf | tr '\n' ' ')"
    else
        fail "$label: no 10.77.0.53 in /run/NetworkManager/resolv.conf: $(tr '\n' ' ' < /run/NetworkManager/resolv.conf)"
    fi
    if ip -4 route get 10.77.0.53 | grep -q "dev $ifc"; then
        pass "$label: DNS server reached through the tunnel: $(ip -4 route get 10.77.0.53 | head -1)"
    else
        fail "$label: route to the DNS server: $(ip -4 route get 10.77.0.53 | head -1)"
    fi
    if ip -4 route | grep -q '^192.0.2.1 via\|^192.0.2.1 dev'; then
        pass "$label: NM's host route to the SSTP server: $(ip -4 route | grep '^192.0.2.1 ' | head -1)"
    else
        info "$label: no host route to 192.0.2.1 (on-link anyway)"
    fi
    local out
    if out=$(python3 "$HERE/icmp-ping.py" 10.77.0.1 3 2>&1); then
        pass "$label: ping 10.77.0.1 through the tunnel: $(echo "$out" | sed -n 's/.*time=//p' | tr '\n' ' ')"
    else
        fail "$label: ping 10.77.0.1 through the tunnel: $(echo "$out" | tail -1)"
    fi
    if cmp -s /etc/resolv.conf /tmp/resolv.conf.before; then
        pass "$label: /etc/resolv.conf untouched"
    else
        fail "$label: /etc/resolv.conf changed: $(tr '\n' ' ' < /etc/resolv.conf)"
    fi
    local p
    for p in $(pgrep -x pppd) $(pgrep -x sstp-helper); do
        [ -n "$(ip netns identify "$p" 2>/dev/null)" ] && continue
        if tr '\0' ' ' < /proc/$p/cmdline | grep -q "$NM_PASS"; then
            fail "$label: the password is on the command line of $(cat /proc/$p/comm)"
        fi
        tr '\0' ' ' < /proc/$p/cmdline >> "$OUT/cmdlines-$name.txt"; echo >> "$OUT/cmdlines-$name.txt"
    done
    grep -q "ipparam nm-sstp-service-" "$OUT/cmdlines-$name.txt" 2>/dev/null \
        && pass "$label: pppd runs with $(grep -o 'ipparam nm-sstp-service-[0-9]*' "$OUT/cmdlines-$name.txt" | head -1), no secret in any argv"
}

scen_nm_up() {
    ip -4 route | sort > /tmp/routes.before
    nm_add sstp-pw disabled 0 "$NM_PASS"
    nm_up sstp-pw
    nm_check_up sstp-pw "password profile" && nm_down_check sstp-pw "password profile"

    nm_add sstp-v6 auto 0 "$NM_PASS"
    nm_up sstp-v6
    if [ "$UP_RC" = 0 ]; then
        pass "ipv6.method auto: activated in $UP_S s ($(nmcli -g IP6.ADDRESS connection show sstp-v6 | head -1))"
        nm_down_check sstp-v6 "ipv6.method auto"
    else
        fail "ipv6.method auto: rc=$UP_RC $(tr '\n' ' ' < "$OUT/up-sstp-v6.txt" | cut -c1-200)"
    fi

    # exactly the keys network-manager-sstp writes (testbed sample), test addresses
    cat > /etc/NetworkManager/system-connections/sstp-ca.nmconnection <<KEYFILE
[connection]
id=sstp-ca
uuid=5dab5a8c-8c40-4847-baa0-bafd38af1afc
type=vpn
autoconnect=false

[vpn]
ca-cert=$OUT/ca.pem
connection-type=password
gateway=192.0.2.1
password-flags=0
refuse-eap=yes
user=$NM_USER
service-type=org.freedesktop.NetworkManager.sstp

[vpn-secrets]
password=$NM_PASS

[ipv4]
method=auto

[ipv6]
addr-gen-mode=default
method=disabled

[proxy]
KEYFILE
    chmod 600 /etc/NetworkManager/system-connections/sstp-ca.nmconnection
    nmcli connection reload
    nm_up sstp-ca
    nm_check_up sstp-ca "network-manager-sstp keyfile" && nm_down_check sstp-ca "network-manager-sstp keyfile"
}

scen_nm_secrets() {
    ip -4 route | sort > /tmp/routes.before
    nm_add sstp-ask disabled 2
    # passwd-file
    printf 'vpn.secrets.password:%s\n' "$NM_PASS" > /tmp/pw-file
    nm_up sstp-ask passwd-file /tmp/pw-file
    nm_check_up sstp-ask "passwd-file" && nm_down_check sstp-ask "passwd-file"
    # --ask on a pty, no DISPLAY: nmcli runs our dialog with --external-ui-mode and prompts
    local t0=$EPOCHREALTIME rc
    env -u DISPLAY python3 "$HERE/nm-ask.py" "$NM_PASS" 100 nmcli --ask connection up sstp-ask \
        > "$OUT/ask-transcript.txt" 2>&1; rc=$?
    UP_RC=$rc; UP_S=$(el "$t0" "$EPOCHREALTIME")
    cp "$OUT/ask-transcript.txt" "$OUT/up-sstp-ask.txt"
    if grep -q 'typed the answer' "$OUT/ask-transcript.txt"; then
        pass "nmcli --ask: prompted on the terminal: $(grep -m1 -i 'password' "$OUT/ask-transcript.txt" | tr -d '\r')"
    else
        fail "nmcli --ask: no password prompt: $(tr '\n' ' ' < "$OUT/ask-transcript.txt" | cut -c1-300)"
    fi
    nm_check_up sstp-ask "nmcli --ask" && nm_down_check sstp-ask "nmcli --ask"
}

scen_nm_fail() {
    nm_add sstp-bad disabled 0 wrong-password
    nm_up sstp-bad
    # nmcli's text for NM_ACTIVE_CONNECTION_STATE_REASON_LOGIN_FAILED is "Invalid secrets"
    # (NO_SECRETS is "No valid secrets"); NM's own log names it login-failed (checked below)
    if [ "$UP_RC" != 0 ] && grep -q 'Connection activation failed: Invalid secrets' "$OUT/up-sstp-bad.txt"; then
        pass "wrong password: nmcli rc=$UP_RC in $UP_S s (LOGIN_FAILED): $(tr '\n' ' ' < "$OUT/up-sstp-bad.txt" | cut -c1-200)"
    else
        fail "wrong password: nmcli rc=$UP_RC: $(tr '\n' ' ' < "$OUT/up-sstp-bad.txt" | cut -c1-200)"
    fi
    grep -q 'nm-sstp.*connect failed: authentication failed' "$NM_LOG" \
        && pass "wrong password: NM's log: $(grep -m1 'nm-sstp.*connect failed: authentication failed' "$NM_LOG" | cut -c1-200)" \
        || fail "wrong password: no 'connect failed: authentication failed' line from nm-sstp in nm.log"
    grep -q 'vpn.*failed: login-failed\|VPN plugin: failed: login-failed\|login-failed' "$NM_LOG" \
        && pass "wrong password: NM saw LOGIN_FAILED: $(grep -m1 'login-failed' "$NM_LOG" | cut -c1-160)" \
        || fail "wrong password: NM logged no login-failed"
    sleep 1
    [ -z "$(nm_leftovers)" ] && pass "wrong password: nothing left running" || fail "wrong password: left: $(nm_leftovers | tr '\n' ' ')"

    kill "$SSTPD_PID"; wait "$SSTPD_PID" 2>/dev/null; SSTPD_PID=
    nm_add sstp-down disabled 0 "$NM_PASS"
    nm_up sstp-down
    if [ "$UP_RC" != 0 ] && awk -v s="$UP_S" 'BEGIN{exit !(s<=60)}'; then
        pass "server down: nmcli failed (rc=$UP_RC) in $UP_S s: $(tr '\n' ' ' < "$OUT/up-sstp-down.txt" | cut -c1-200)"
    else
        fail "server down: nmcli rc=$UP_RC after $UP_S s"
    fi
    grep -q 'nm-sstp.*connect failed: cannot connect to 192.0.2.1' "$NM_LOG" \
        && pass "server down: reason in NM's log: $(grep -m1 'nm-sstp.*connect failed: cannot connect' "$NM_LOG" | cut -c1-200)" \
        || fail "server down: no 'connect failed: cannot connect' line in nm.log"
    sleep 1
    [ -z "$(nm_leftovers)" ] && pass "server down: nothing left running" || fail "server down: left: $(nm_leftovers | tr '\n' ' ')"
}

scen_nm_repeat() {
    local n=${NM_REPEAT_N:-10} ok=0 i
    ip -4 route | sort > /tmp/routes.before
    nm_add sstp-rep disabled 0 "$NM_PASS"
    : > /tmp/up-times
    for i in $(seq "$n"); do
        nm_up sstp-rep
        if [ "$UP_RC" = 0 ] && python3 "$HERE/icmp-ping.py" 10.77.0.1 1 > /dev/null 2>&1; then
            ok=$((ok + 1)); echo "$UP_S" >> /tmp/up-times
        else
            info "cycle $i: rc=$UP_RC $(tr '\n' ' ' < "$OUT/up-sstp-rep.txt" | cut -c1-160)"
        fi
        nmcli connection down sstp-rep > /dev/null 2>&1
        local j; for j in $(seq 50); do [ -z "$(nm_leftovers)" ] && break; sleep 0.1; done
    done
    info "up seconds min/median/max = $(sort -n /tmp/up-times | awk '{a[NR]=$1} END{if(NR) printf "%s/%s/%s", a[1], a[int((NR+1)/2)], a[NR]; else print "-"}')"
    [ "$ok" = "$n" ] && pass "repeat: $ok of $n up/down cycles activated" || fail "repeat: $ok of $n up/down cycles activated"
    sleep 1
    [ -z "$(nm_leftovers)" ] && pass "repeat: nothing left running" || fail "repeat: left: $(nm_leftovers | tr '\n' ' ')"
    ip -4 route | sort > /tmp/routes.after
    diff -q /tmp/routes.before /tmp/routes.after > /dev/null && pass "repeat: routes back as before" || fail "repeat: routes differ"
}

scen_nm_import() {
    local ed=$HERE/../../nm-plugin/editor data=$HERE/../../nm-plugin/editor/tests/data libdir f
    libdir=$(dirname "$(readlink -f "$(ls /usr/lib/*/libnm.so.0 | head -1)")")/NetworkManager
    mkdir -p "$libdir"
    for f in libnm-vpn-plugin-sstp-rs.so libnm-vpn-plugin-sstp-rs-editor.so libnm-gtk4-vpn-plugin-sstp-rs-editor.so; do
        [ -f "$ed/build/$f" ] || { fail "no $ed/build/$f (make -C nm-plugin/editor)"; return; }
        install -m 0644 "$ed/build/$f" "$libdir/$f"
    done
    info "editor plugin installed in $libdir (the .name file names it: $(grep '^plugin=' /usr/lib/NetworkManager/VPN/nm-sstp-service.name))"
    ip -4 route | sort > /tmp/routes.before

    if nmcli connection import type sstp file "$data/office-sstp.pbk" > "$OUT/import-pbk.txt" 2>&1; then
        pass "nmcli connection import type sstp file office-sstp.pbk: $(head -1 "$OUT/import-pbk.txt")"
    else
        fail "import of office-sstp.pbk: $(tr '\n' ' ' < "$OUT/import-pbk.txt" | cut -c1-300)"; return
    fi
    local svc vdata
    svc=$(nmcli -g vpn.service-type connection show "Office SSTP")
    vdata=$(nmcli -g vpn.data connection show "Office SSTP")
    [ "$svc" = org.freedesktop.NetworkManager.sstp ] && pass "imported: vpn.service-type $svc" \
        || fail "imported: vpn.service-type '$svc'"
    case ", $vdata," in *", gateway = vpn.example.com,"*) pass "imported: vpn.data $vdata" ;;
        *) fail "imported: no gateway = vpn.example.com in vpn.data '$vdata'" ;; esac

    if nmcli connection import type sstp file "$data/ikev2.pbk" > "$OUT/import-ikev2.txt" 2>&1; then
        fail "an IKEv2 phonebook was imported"
    elif grep -q "not an SSTP entry (VpnStrategy=7, IKEv2)" "$OUT/import-ikev2.txt"; then
        pass "IKEv2 phonebook refused: $(head -1 "$OUT/import-ikev2.txt")"
    else
        fail "IKEv2 phonebook: unexpected message: $(tr '\n' ' ' < "$OUT/import-ikev2.txt" | cut -c1-300)"
    fi

    # complete the imported profile for the test server and bring it up
    nmcli connection modify "Office SSTP" +vpn.data "gateway = 192.0.2.1, user = $NM_USER, ca-cert = $OUT/ca.pem, refuse-eap = yes, password-flags = 0" \
        vpn.secrets "password = $NM_PASS" ipv6.method disabled
    nm_up "Office SSTP"
    nm_check_up "Office SSTP" "imported .pbk profile" && nm_down_check "Office SSTP" "imported .pbk profile"

    # export, delete, import the export: the same vpn.data, and it activates again
    local before after
    before=$(nmcli -g vpn.data connection show "Office SSTP")
    if nmcli connection export "Office SSTP" "$OUT/office.sstp" > "$OUT/export.txt" 2>&1 && [ -s "$OUT/office.sstp" ]; then
        pass "nmcli connection export: $(grep -c = "$OUT/office.sstp") lines in office.sstp"
    else
        fail "nmcli connection export: $(tr '\n' ' ' < "$OUT/export.txt" | cut -c1-300)"; return
    fi
    grep -q "$NM_PASS" "$OUT/office.sstp" && fail "the export holds the password" || pass "the export holds no password"
    nmcli connection delete "Office SSTP" > /dev/null
    if nmcli connection import type sstp file "$OUT/office.sstp" > "$OUT/import-sstp.txt" 2>&1; then
        after=$(nmcli -g vpn.data connection show "Office SSTP")
        [ "$after" = "$before" ] && pass "export -> import: the same vpn.data" \
            || fail "export -> import: vpn.data differs: '$before' vs '$after'"
    else
        fail "import of our export: $(tr '\n' ' ' < "$OUT/import-sstp.txt" | cut -c1-300)"; return
    fi
    nmcli connection modify "Office SSTP" ipv6.method disabled
    printf 'vpn.secrets.password:%s\n' "$NM_PASS" > /tmp/pw-file
    nm_up "Office SSTP" passwd-file /tmp/pw-file
    nm_check_up "Office SSTP" "re-imported export" && nm_down_check "Office SSTP" "re-imported export"
}

scen_nm() {   # $1 = scenario
    nm_install
    nm_net_setup
    nm_sstpd_start
    nm_start
    case "$1" in
        nm-up) scen_nm_up ;;
        nm-secrets) scen_nm_secrets ;;
        nm-fail) scen_nm_fail ;;
        nm-repeat) scen_nm_repeat ;;
        nm-import) scen_nm_import ;;
        *) fail "unknown NM scenario $1"; exit 2 ;;
    esac
    nmcli connection down base > /dev/null 2>&1
    kill "$NM_PID" 2>/dev/null
    local i; for i in $(seq 50); do alive "$NM_PID" || break; sleep 0.1; done
    grep -E 'nm-sstp\[' "$NM_LOG" > "$OUT/nm-sstp-lines.txt" 2>/dev/null
}
