#!/usr/bin/env bash
# Build everything and run the whole chain once: a local SSTP server (sstp-server 0.7.2) and
# our sstp-helper + stock pppd inside user-mode-linux, ending with a ping through the tunnel.
set -euo pipefail
cd "$(dirname "$(readlink -f "$0")")/.."
bash tests/install-deps.sh
cargo build --release --workspace
exec bash tests/uml/run.sh demo
