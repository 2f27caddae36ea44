//! The shared vocabulary of Sextant: tenant and trace identifiers, the span model, time ranges,
//! limits, the error classification, and the ports (traits) through which the other crates talk
//! to each other.
//!
//! The span model is the OpenTelemetry trace data model itself ([`otlp`]): prost messages with
//! OTLP's field numbers, so nothing a client sent is lost between ingest, the WAL, blocks and the
//! query API. This crate does no IO and depends on no server, database or storage crate.

mod access;
mod error;
pub mod fetch;
mod generator;
mod ids;
mod limits;
pub mod metrics;
pub mod otlp;
mod ports;
pub mod search;
#[cfg(feature = "synth")]
pub mod synth;
mod time;

pub use access::{
    Authenticator, Discard, Identity, KeyIdentity, PeriodUsage, TenantStatus, UsageDelta,
    UsageMeter,
};
pub use error::{Error, ErrorKind, Result};
pub use fetch::{
    AttributeRef, AttributeScope, Condition, FetchOp, FetchRequest, Intrinsic, Static,
};
pub use generator::{
    DEFAULT_HISTOGRAM_BUCKETS, DEFAULT_MAX_ACTIVE_SERIES, FieldError, GeneratorProcessor,
    GeneratorSettings, RemoteWriteTarget,
};
pub use ids::{IdError, SpanId, TenantId, TraceId};
pub use limits::{DiscardReason, Limits};
pub use metrics::{
    Exemplar, MetricSeries, MetricsQuerier, MetricsRequest, MetricsResponse, NoProgress, Progress,
    Sample,
};
pub use ports::{
    BlockCatalog, BlockMeta, BlockState, IngestSink, Lease, LeaseGuard, Payload, PayloadFormat,
    PushOutcome, ReadinessProbe, TenantDirectory, TraceLookup, TraceReader,
};
pub use search::{
    SearchMetrics, SearchQuery, SearchRequest, SearchResponse, ServiceStats, SpanSet, SpanSummary,
    TagNamesRequest, TagNamesResponse, TagRef, TagScope, TagValue, TagValueType, TagValuesRequest,
    TagValuesResponse, TraceSearcher, TraceSummary,
};
pub use time::{TimeRange, UnixNanos};
