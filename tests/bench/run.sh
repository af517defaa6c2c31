#!/usr/bin/env bash
# The data-plane benchmark: sstp-helper against Debian's sstpc on this host (root, for sstpc's
# socket in /var/run/sstpc). Builds the release binaries, then runs sstp-bench, which prints
# one table. Arguments go to sstp-bench (--runs N, --secs S, --clients ours,sstpc, --sizes ...).
# See "Performance" in the README.
set -euo pipefail
cd "$(dirname "$0")/../.."
if [ "$(id -u)" != 0 ]; then
    echo "bench: run as root (sstpc binds its plugin socket in /var/run/sstpc)" >&2
    exit 2
fi
command -v sstpc >/dev/null || { echo "bench: sstpc not found: run tests/install-deps.sh" >&2; exit 2; }
# Exactly as CI, the demo and the packages build it: cargo unifies features over the packages
# of one build, and `-p` or `--bins` select a different set, so any other selection can link a
# different helper from the one shipped (until 538fdc8, `-p` left out 0.3 MiB of peak RSS).
nice cargo build --release --locked -q --workspace
exec target/release/sstp-bench "$@"
