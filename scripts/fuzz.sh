#!/usr/bin/env bash
# Builds one fuzz target with libFuzzer's coverage instrumentation (the flags cargo-fuzz uses,
# minus AddressSanitizer: the code under test is safe Rust, we hunt panics) and runs it.
# Usage: scripts/fuzz.sh wal_reader|otlp_protobuf|otlp_json|traceql_parse SECONDS
# Never run in CI. Findings go to fuzz/artifacts/<target>/.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
target=${1:?target}
seconds=${2:-600}
export CARGO_TARGET_DIR=${FUZZ_TARGET_DIR:-$PWD/target}
export RUSTC_BOOTSTRAP=1
export RUSTFLAGS="-Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
 -Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
 -Cllvm-args=-sanitizer-coverage-trace-compares --cfg fuzzing -Cdebug-assertions -Coverflow-checks"
# An explicit --target keeps the instrumentation flags off build scripts and proc macros.
host=$(rustc -vV | awk '/^host:/ {print $2}')
cargo build --release --target "$host" --bin "$target"
mkdir -p "corpus/$target" "artifacts/$target"
"$CARGO_TARGET_DIR/$host/release/$target" -max_total_time="$seconds" -rss_limit_mb=4096 \
  -artifact_prefix="artifacts/$target/" "corpus/$target"
