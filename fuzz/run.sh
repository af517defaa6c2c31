#!/usr/bin/env bash
# Fuzz every target for SECONDS each (default 30) and print the executions per target.
# With FUZZ_RUNS=N set, every target runs exactly N inputs instead (no time limit); this is
# how the README's figures were made: FUZZ_RUNS=10000000 bash fuzz/run.sh
# Starts from the committed seeds (fuzz/seeds/<target>/) and the local working corpus
# (fuzz/corpus/<target>/, git-ignored, where new inputs go), so the committed seeds stay as
# they are. Crashes are written to fuzz/artifacts/<target>/ and make this script exit non-zero.
#
# Needs cargo-fuzz (`cargo install cargo-fuzz`). On a stable toolchain, RUSTC_BOOTSTRAP=1
# unlocks the nightly flags cargo-fuzz passes (-Zsanitizer=address etc.).
set -euo pipefail
SECONDS_EACH=${1:-30}
cd "$(dirname "$0")"
export RUSTC_BOOTSTRAP=1
TARGETS=$(cargo fuzz list)
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
cargo fuzz build -O >/dev/null
status=0
summary=""
for t in $TARGETS; do
    mkdir -p "corpus/$t" "artifacts/$t"
    log="$WORK/$t.log"
    if [ -n "${FUZZ_RUNS:-}" ]; then limit=(-runs="$FUZZ_RUNS"); else limit=(-max_total_time="$SECONDS_EACH"); fi
    t0=$(date +%s)
    if cargo fuzz run -O "$t" "corpus/$t" "seeds/$t" -- \
        "${limit[@]}" -print_final_stats=1 -timeout=10 >"$log" 2>&1; then
        res=ok
    else
        res=FAILED
        status=1
        tail -n 40 "$log"
    fi
    execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo 0)
    cov=$(grep -o 'cov: [0-9]*' "$log" | tail -n 1 || true)
    summary+=$(printf '%-14s %-6s %12s execs in %ss  %s' "$t" "$res" "$execs" "$(( $(date +%s) - t0 ))" "$cov")$'\n'
done
printf '%s' "$summary"
exit $status
