//! The data pipeline: the distributor (decode, validate, truncate, regroup by trace), the
//! ingester (WAL append, live traces, completion), the querier (merge live, WAL and blocks) and
//! the metrics generator. Implements the model's `IngestSink` and `TraceReader`; knows nothing
//! of HTTP serving, gRPC or SQL (the generator's remote write is an HTTP client).
//!
//! A push is acknowledged only after its WAL record is fsynced; from then on its spans are
//! readable by trace id (live or completed traces in memory, rebuilt from the WAL after a
//! restart). Decoding and validation run off the async executor; memory is bounded by
//! `max_inflight_bytes` (requests being processed) and `max_live_bytes` (traces held), and both
//! answer `Unavailable` with a retry hint when full. The decoders of untrusted bytes are public
//! for the fuzz targets and must never panic.

mod config;
mod distributor;
mod error;
mod failpoint;
mod flusher;
mod generator;
mod ingester;
mod metrics;
mod metrics_query;
mod pipeline;
#[cfg(test)]
mod proptests;
mod querier;
mod search;
#[cfg(test)]
mod testdata;

pub use config::{BlockConfig, IngesterConfig, PipelineConfig};
pub use distributor::{MAX_VALUE_DEPTH, decode_otlp_json, decode_otlp_protobuf};
pub use error::{Error, Result};
pub use flusher::BlockBackend;
pub use generator::{
    CountedRequests, Feed, Generator, GeneratorConfig, RemoteWriteConfig, count_requests,
};
pub use pipeline::Pipeline;
pub use sextant_store::{ReplayStats, StorageConfig, WalConfig};
