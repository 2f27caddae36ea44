#!/usr/bin/env bash
# Authentication + rate-limiting overhead (issue #4's figure): alternates scripts/bench-ingest.sh
# with AUTH_MODE=none and AUTH_MODE=keys ROUNDS times (ABBA order) on the same release binary and prints the
# acknowledged spans/s of each run and the ratio keys/none of the medians.
#
# Usage: scripts/bench-auth.sh [grpc|http] [duration] [rounds]
# Never run in CI; results go to BENCHMARKS.md by hand.
set -euo pipefail
cd "$(dirname "$0")/.."
protocol=${1:-grpc}
duration=${2:-15s}
rounds=${3:-3}
target=${CARGO_TARGET_DIR:-target}
if [ -z "${SEXTANT_BIN:-}" ]; then
  cargo build --release -p sextant >&2
  export SEXTANT_BIN=$target/release/sextant
fi
results=$(mktemp)
trap 'rm -f "$results"' EXIT
for round in $(seq 1 "$rounds"); do
  # ABBA order, so a drift of the machine over the runs (disk, page cache) favours neither.
  if [ $((round % 2)) = 1 ]; then order="none keys"; else order="keys none"; fi
  for mode in $order; do
    AUTH_MODE=$mode scripts/bench-ingest.sh "$protocol" "$duration" \
      | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["auth_mode"], d["acknowledged_spans_per_second"], d["server_cpu_cores"])' \
      | tee -a "$results" >&2
  done
done
python3 - "$results" <<'PY'
import statistics, sys
runs = {}
for line in open(sys.argv[1]):
    mode, rate, cpu = line.split()
    runs.setdefault(mode, []).append((float(rate), float(cpu)))
med = {m: statistics.median(r for r, _ in v) for m, v in runs.items()}
per_core = {m: statistics.median(r / c for r, c in v) for m, v in runs.items()}
print(f"none: median {med['none']:.0f} spans/s ({per_core['none']:.0f} per server core)")
print(f"keys: median {med['keys']:.0f} spans/s ({per_core['keys']:.0f} per server core)")
print(f"ratio keys/none: {med['keys'] / med['none']:.3f} (per core {per_core['keys'] / per_core['none']:.3f})")
PY
