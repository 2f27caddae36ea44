//! End-to-end tests live in `tests/tests/`: they run the real `sextant` binary with real clients.
//!
//! This crate is their harness: [`Sextant`] starts `$SEXTANT_BIN serve` (default
//! `<target>/debug/sextant`) on random loopback ports with a temporary data dir, waits for its
//! `listening` lines and `/ready`, and can `kill -9`, SIGTERM and restart it on the same dir.
//! Beside it: OTLP clients over HTTP and gRPC ([`OtlpGrpc`], [`post_otlp`]), the four
//! trace-by-ID reads ([`ReadApi`]) decoded by an independent reader of Tempo's JSON dialect,
//! span builders, a span-by-span comparison ([`assert_same_spans`]), and a runner for the
//! Python OpenTelemetry clients in `tests/python/`, `/metrics` and `/ready` probes, a real S3
//! server ([`Moto`]), a real Prometheus that receives remote write and answers queries
//! ([`Prometheus`]), a TCP proxy a test can cut to make a service unreachable ([`TcpProxy`]),
//! and TLS material: a test CA, certificate files the binary reads and https clients that
//! trust the CA ([`TestCa`], [`TlsFiles`]); a `tempopb.StreamingQuerier` client on
//! hand-written messages ([`StreamingQuerier`]) and a strict reader of TraceQL metrics answers
//! ([`parse_range`]). It never mocks the server.
//!
//! Environment: `SEXTANT_BIN` (the binary), `SEXTANT_TEST_PYTHON` (a Python with
//! `tests/python/requirements.txt`, default `<root>/.venv/bin/python`), both set by
//! `./scripts/test.sh`, as are `SEXTANT_TEST_MOTO` (`moto_server`, default
//! `<root>/.venv/bin/moto_server`) and `SEXTANT_TEST_PROMETHEUS` (`prometheus`, which the script
//! installs with apt when missing; default: the first on `PATH`); `SEXTANT_TEST_ECHO=1` copies
//! the binary's stderr to the test output.

mod auth;
mod client;
mod expected;
mod json;
mod local;
mod moto;
mod probes;
mod prometheus;
mod proxy;
mod python;
mod series;
mod server;
mod spans;
mod tempopb;
mod tls;

pub use auth::{Auth, Bootstrap, CliOutput, TenantKeys, basic};
pub use client::{
    EXPORT_PATH, OtlpGrpc, ReadApi, TENANT_HEADER, TraceByIdResponse, deflate, gzip, post_otlp,
    zstd,
};
pub use expected::{Expected, assert_all_readable};
pub use json::{Dialect, resource_spans_from_json};
pub use moto::{Moto, moto_server};
pub use probes::metric_sum;
pub use prometheus::{PromExemplar, PromExemplars, PromSample, Prometheus, prometheus_bin};
pub use proxy::TcpProxy;
pub use python::{Sent, python, run_script, sent};
pub use series::{
    GotExemplar, GotSeries, Label, Labels, RangeAnswer, check_search_metrics, parse_instant,
    parse_range, range_from_proto,
};
pub use server::{Addrs, Options, Sextant, sextant_bin, wait_until, wal_segments, workspace_root};
pub use spans::{
    FlatSpan, SpanKey, assert_same_spans, attr_int, attr_str, flatten, kv, now_nanos,
    random_span_id, random_trace_id, request, resource_spans, span, spans_of, trace,
};
pub use tempopb::{
    Exemplar, METRICS_QUERY_RANGE_PATH, QueryRangeRequest, QueryRangeResponse, SEARCH_PATH, Sample,
    SearchMetrics, SearchRequest, SearchResponse, ServiceStats, Span as SearchSpan, SpanSet,
    StreamingQuerier, TimeSeries, TraceSearchMetadata,
};
pub use tls::{Leaf, TestCa, TlsFiles, write_atomic};
