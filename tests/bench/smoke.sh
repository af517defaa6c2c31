#!/usr/bin/env bash
# The benchmark of the README, run as a user would (`make bench`), but 1 run x 0.5 s per cell
# so that every CI run shows it still works on a fresh machine: both clients connect, every
# frame each way arrives intact (sstp-bench exits 1 otherwise) and every row of the table has
# a figure. The figures themselves are printed, never asserted: speed is read from a full
# `make bench`, not from a test (README, "Performance"). Arguments go to sstp-bench.
set -euo pipefail
cd "$(dirname "$0")/../.."
out=$(mktemp)
trap 'rm -f "$out"' EXIT
rc=0
make -s bench BENCH_ARGS="--runs 1 --secs ${BENCH_SMOKE_SECS:-0.5} $*" >"$out" || rc=$?
cat "$out"
fail() { echo "bench smoke: $*" >&2; exit 1; }
# A client that moved nothing (or a cell that was not measured) would read 0.
positive() { awk -v v="$1" 'BEGIN { exit !(v > 0) }'; }
[ "$rc" = 0 ] || fail "sstp-bench exited with $rc (a run failed, see above)"
# Both clients' columns and the ratio: "<metric>  <ours> [..]  <sstpc> [..]  <ratio>x".
num='[0-9]+[.]?[0-9]*'
for row in "up 1400 B frames, MB/s" "down 1400 B frames, MB/s" "up 64 B frames, MB/s" \
    "down 64 B frames, MB/s" "cycles/byte up 1400 B" "cycles/byte down 1400 B" \
    "cycles/byte up 64 B" "cycles/byte down 64 B" "peak RSS (VmHWM), MiB" \
    "time to Call Connected, ms"; do
    line=$(grep -F -- "$row" "$out" | head -n1) || fail "no row \"$row\""
    rest=${line#"$row"}
    [[ $rest =~ ^\ +($num)\ \[$num-$num\]\ +($num)\ \[$num-$num\]\ +($num)x$ ]] ||
        fail "row \"$row\" lacks a figure for each client and the ratio: $line"
    for v in "${BASH_REMATCH[1]}" "${BASH_REMATCH[2]}"; do
        positive "$v" || fail "row \"$row\" reads $v: $line"
    done
done
for row in "ceiling: raw pty copy, MB/s" "ceiling: pty into the pump" "ceiling: bulk TLS loopback"; do
    line=$(grep -F -- "$row" "$out" | head -n1) || fail "no row \"$row\""
    [[ ${line#"$row"} =~ ^\ +($num)\ \[ ]] || fail "row \"$row\" has no figure: $line"
    positive "${BASH_REMATCH[1]}" || fail "row \"$row\" reads 0: $line"
done
grep -qE '^ours up 1400 B: [0-9]+% of the raw pty ceiling' "$out" || fail "no share of the pty ceiling"
echo "bench smoke: the table is complete (figures from 1 short run each, not a measurement)"
