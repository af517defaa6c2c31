#!/usr/bin/env bash
# Replay the committed seed corpus (fuzz/seeds/<target>/) of every target once (no fuzzing): a regression check for CI.
# Needs cargo-fuzz; RUSTC_BOOTSTRAP=1 lets a stable toolchain build with its nightly flags.
set -euo pipefail
cd "$(dirname "$0")"
export RUSTC_BOOTSTRAP=1
LOGS=$(mktemp -d)
trap 'rm -rf "$LOGS"' EXIT
status=0
for t in $(cargo fuzz list); do
    n=$(find "seeds/$t" -type f | wc -l)
    if cargo fuzz run -O "$t" "seeds/$t" -- -runs=0 >"$LOGS/$t.log" 2>&1; then
        echo "$t: $n inputs replayed, ok"
    else
        echo "$t: FAILED replaying $n inputs"
        tail -n 40 "$LOGS/$t.log"
        status=1
    fi
done
exit $status
