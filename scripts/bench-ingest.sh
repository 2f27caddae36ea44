#!/usr/bin/env bash
# Ingest benchmark (DESIGN.md §10): a release `sextant serve` on random loopback ports with the
# durable WAL on, fed by `sextant loadgen` flat out from pre-encoded payloads (100 spans/request,
# ~500 B/span). Prints loadgen's summary (acknowledged spans/s, its own CPU, the single-core prost
# decode baseline and the ratio) plus the server's CPU use and peak RSS.
#
# Usage: scripts/bench-ingest.sh [grpc|http] [duration] [concurrency]
# AUTH_MODE=keys (default) sends with the first start's API key (Bearer) through the per-tenant
# rate limiter (set high enough never to refuse); AUTH_MODE=none runs without credentials.
# Never run in CI; results go to BENCHMARKS.md by hand.
set -euo pipefail
cd "$(dirname "$0")/.."
protocol=${1:-grpc}
duration=${2:-20s}
concurrency=${3:-16}
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

# The default max_traces_per_tenant (10000, Tempo's) would reject most of a flat-out run's
# traces (~10k new traces/s with 5 s idle completion); the benchmark measures throughput.
SEXTANT_LIMITS__MAX_TRACES_PER_TENANT=${MAX_TRACES:-10000000} \
SEXTANT_LIMITS__INGESTION_RATE_BYTES=100000000000 \
SEXTANT_LIMITS__INGESTION_BURST_BYTES=100000000000 \
SEXTANT_LOG__LEVEL=warn \
SEXTANT_AUTH__MODE=${AUTH_MODE:-keys} \
SEXTANT_WAL__MAX_BYTES=${WAL_MAX_BYTES:-68719476736} \
SEXTANT_INGESTER__MAX_LIVE_BYTES=${MAX_LIVE_BYTES:-8589934592} \
  "$bin" serve --data-dir "$data" --http-addr 127.0.0.1:0 --otlp-grpc-addr 127.0.0.1:0 \
  --otlp-http-addr 127.0.0.1:0 --internal-addr 127.0.0.1:0 >"$out" 2>"$data/server.log" &
pid=$!
for _ in $(seq 1 600); do
  [ "$(grep -c '^listening' "$out" || true)" -ge 4 ] && break
  sleep 0.1
done
addr() { awk -v n="$1" '$1=="listening" && $2==n {print $3}' "$out"; }
internal=$(addr internal)
key=$(awk '$1=="bootstrap" && $2=="api-key" {print $3}' "$out")
auth_args=()
if [ "${AUTH_MODE:-keys}" = keys ]; then
  auth_args=(--header "Authorization: Bearer $key")
fi
until curl -sf "http://$internal/ready" >/dev/null; do sleep 0.1; done
case $protocol in
  grpc) endpoint="http://$(addr otlp-grpc)" ;;
  http) endpoint="http://$(addr otlp-http)" ;;
  *) echo "protocol must be grpc or http" >&2; exit 2 ;;
esac
ticks=$(getconf CLK_TCK)
cpu() { awk '{print $14 + $15}' "/proc/$pid/stat"; }
cpu0=$(cpu); t0=$(date +%s.%N)
"$bin" loadgen --protocol "$protocol" --endpoint "$endpoint" --duration "$duration" \
  --concurrency "$concurrency" "${auth_args[@]}" --json > "$data/loadgen.json"
cpu1=$(cpu); t1=$(date +%s.%N)
peak_kib=$(awk '/VmHWM/ {print $2}' "/proc/$pid/status")
wal_bytes=$(du -sb "$data/wal" | cut -f1)
python3 - "$data/loadgen.json" "$cpu0" "$cpu1" "$t0" "$t1" "$ticks" "$peak_kib" "$wal_bytes" <<'PY'
import json, sys
summary = json.load(open(sys.argv[1]))
cpu0, cpu1, t0, t1, ticks, peak_kib, wal = map(float, sys.argv[2:])
# The server is idle while loadgen runs its decode baseline after sending, so divide by the
# sending time only.
summary["server_cpu_cores"] = (cpu1 - cpu0) / ticks / summary["seconds"]
summary["auth_mode"] = __import__("os").environ.get("AUTH_MODE", "keys")
summary["server_peak_rss_mib"] = peak_kib / 1024
summary["wal_bytes_per_acknowledged_span"] = wal / max(summary["acknowledged_spans"], 1)
print(json.dumps(summary, indent=2))
PY
