#!/usr/bin/env bash
# Install what the tests need, then run every tier. Root, Debian 12. About 17 minutes (993 s measured).
#   1. cargo fmt --check, clippy -D warnings, unit + integration tests, rustdoc  (~3 min)
#      fuzz: replay of the committed seeds, then a bounded run of every target     (~3 min)
#   2. release build                                                             (~1 min)
#   3. end to end in user-mode-linux with real pppd + kernel PPP against
#      sstp-server 0.7.2 (verifies the crypto binding) and SoftEther, and
#      NetworkManager 1.42 + dbus driving our NM service, connect time vs sstpc (~14.5 min)
set -euo pipefail
cd "$(dirname "$(readlink -f "$0")")/.."
t0=$(date +%s)
step() { printf '\n=== %s (%ds)\n' "$*" $(( $(date +%s) - t0 )); }

step "dependencies"
bash tests/install-deps.sh

step "format"
cargo fmt --all -- --check
step "clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings
step "unit and integration tests"
cargo test --workspace --locked 2>&1 | tee target/unit-tests.log | grep -E '^test result|FAILED|panicked' || true
if grep -qE 'FAILED|^error' target/unit-tests.log || ! grep -q '^test result' target/unit-tests.log; then
    echo "unit tests failed"; exit 1
fi
step "rustdoc"
RUSTDOCFLAGS=-Dwarnings cargo doc --workspace --no-deps --locked -q

step "fuzz: replay the seed corpus, then ${FUZZ_SECONDS:-20} s per target"
command -v cargo-fuzz >/dev/null || cargo install --locked -q cargo-fuzz
bash fuzz/replay.sh
bash fuzz/run.sh "${FUZZ_SECONDS:-20}"

step "release build"
cargo build --release --locked --workspace

step "end to end (user-mode-linux)"
bash tests/uml/run.sh ${UML_SCENARIOS:-mschap pap fast repeat softether relay route ipv6 reconnect crash connect-time nm-up nm-secrets nm-fail nm-repeat}

passed=$(grep -hE '^test result: ok' target/unit-tests.log | awk '{s+=$4} END {print s+0}')
step "all tiers passed"
echo "unit: $passed passed, 0 failed"
