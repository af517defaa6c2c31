#!/usr/bin/env bash
# Install what building and testing need on Debian 12 (root). Idempotent; quiet when all is there.
#   build:   a Rust toolchain (cargo) must already be on PATH; pkg-config, libssl-dev, ppp-dev
#   run:     ppp (pppd 2.4.9)
#   e2e:     user-mode-linux (kernel with PPP), iproute2, iputils-ping, socat, procps, kmod,
#            openssl, tshark (decrypts the capture to check Call Disconnect),
#            sstp-client (its pppd plugin lets sstp-server verify the crypto binding),
#            softether-vpnserver (the second real server), python3 >= 3.12 for sstp-server (PyPI)
#   proxy:   squid (started in the foreground by tests/tests/net.rs; never as a service)
#   nm e2e:  network-manager, dbus-daemon, udev (run inside the guest, never started on the host)
#   gnome:   the C editor plugin (make, gcc, libnm-dev, libgtk-3-dev, libgtk-4-dev, libnma-dev,
#            libnma-gtk4-dev) and its tests (xvfb, imagemagick for screenshots,
#            network-manager-gnome for nm-connection-editor, at-spi2-core and gir1.2-atspi-2.0
#            to read its accessibility tree, python3-gi + gir1.2-{nm-1.0,gtk-3.0,gtk-4.0})
#   trixie:  debootstrap (the Debian 13 root for the pppd 2.5.2 scenario)
#   packages: rpm (rpmbuild, rpm -qpl), lintian, rpmlint
set -euo pipefail
PKGS=(pkg-config libssl-dev ppp ppp-dev user-mode-linux iproute2 iputils-ping socat procps
      kmod openssl tshark sstp-client softether-vpnserver psmisc network-manager dbus-daemon udev
      make gcc libnm-dev libgtk-3-dev libgtk-4-dev libnma-dev libnma-gtk4-dev xvfb imagemagick
      network-manager-gnome at-spi2-core gir1.2-atspi-2.0 python3-gi gir1.2-nm-1.0
      gir1.2-gtk-3.0 gir1.2-gtk-4.0 fonts-dejavu-core
      squid debootstrap rpm lintian rpmlint)
missing=()
for p in "${PKGS[@]}"; do
    dpkg-query -W -f '${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "install-deps: apt-get install ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections
    # Never let a package start its daemon on this host (NetworkManager would take over the
    # host's interfaces): the tests run every service inside the UML guest.
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
        trap 'rm -f /usr/sbin/policy-rc.d' EXIT
    fi
    apt-get -o DPkg::Lock::Timeout=900 update -qq
    apt-get -o DPkg::Lock::Timeout=900 install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
command -v cargo >/dev/null || { echo "install-deps: cargo not found (install Rust with rustup)" >&2; exit 1; }
