#!/usr/bin/env bash
# Rate-limit accuracy over time: a release `sextant serve` (auth.mode keys) with one tenant
# limited to RATE decompressed bytes/s (burst BURST), fed flat out by `sextant loadgen` with that
# tenant's key for DURATION. Prints the bytes the server accepted (sextant_received_bytes_total)
# against what the token bucket allows (burst + rate × elapsed) and the refused requests.
#
# Usage: scripts/bench-ratelimit.sh [rate-bytes] [burst-bytes] [duration]
# Never run in CI; results go to BENCHMARKS.md by hand.
set -euo pipefail
cd "$(dirname "$0")/.."
rate=${1:-2000000}
burst=${2:-4000000}
duration=${3:-30s}
target=${CARGO_TARGET_DIR:-target}
if [ -n "${SEXTANT_BIN:-}" ]; then
  bin=$SEXTANT_BIN
else
  cargo build --release -p sextant >&2
  bin=$target/release/sextant
fi
data=$(mktemp -d)
out=$(mktemp)
cleanup() { [ -n "${pid:-}" ] && kill -9 "$pid" 2>/dev/null || true; rm -rf "$data" "$out"; }
trap cleanup EXIT
SEXTANT_LOG__LEVEL=warn SEXTANT_AUTH__REFRESH_INTERVAL=50ms \
SEXTANT_LIMITS__MAX_TRACES_PER_TENANT=10000000 \
  "$bin" serve --data-dir "$data" --http-addr 127.0.0.1:0 --otlp-grpc-addr 127.0.0.1:0 \
  --otlp-http-addr 127.0.0.1:0 --internal-addr 127.0.0.1:0 >"$out" 2>"$data/server.log" &
pid=$!
for _ in $(seq 1 600); do
  [ "$(grep -c '^listening' "$out" || true)" -ge 4 ] && break
  sleep 0.1
done
addr() { awk -v n="$1" '$1=="listening" && $2==n {print $3}' "$out"; }
internal=$(addr internal)
until curl -sf "http://$internal/ready" >/dev/null; do sleep 0.1; done
"$bin" tenant create limited --data-dir "$data" >/dev/null
"$bin" limits set limited --ingestion-rate-bytes "$rate" --ingestion-burst-bytes "$burst" \
  --data-dir "$data" >/dev/null
key=$("$bin" key create --tenant limited --scopes traces:write --data-dir "$data" 2>/dev/null)
sleep 0.5   # two snapshot refreshes
received() {
  curl -sf "http://$internal/metrics" |
    awk '/^sextant_received_bytes_total\{/ && /tenant="limited"/ {s += $2} END {print s + 0}'
}
before=$(received); t0=$(date +%s.%N)
"$bin" loadgen --protocol grpc --endpoint "http://$(addr otlp-grpc)" --duration "$duration" \
  --concurrency 4 --header "Authorization: Bearer $key" --json > "$data/loadgen.json"
t1=$(date +%s.%N); after=$(received)
python3 - "$data/loadgen.json" "$before" "$after" "$t0" "$t1" "$rate" "$burst" <<'PY'
import json, sys
summary = json.load(open(sys.argv[1]))
before, after, t0, t1, rate, burst = map(float, sys.argv[2:])
elapsed = summary["seconds"]
accepted = after - before
allowed = burst + rate * elapsed
print(json.dumps({
    "rate_bytes_per_s": rate,
    "burst_bytes": burst,
    "seconds": elapsed,
    "accepted_bytes": accepted,
    "allowed_bytes": allowed,
    "accepted_over_allowed": accepted / allowed,
    "accepted_rate_after_burst": (accepted - burst) / elapsed,
    "rate_error": ((accepted - burst) / elapsed - rate) / rate,
    "requests": summary["requests"],
    "failed_requests": summary["failed_requests"],
}, indent=2))
PY
