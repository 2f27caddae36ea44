//! TraceQL metrics (Tempo's `/api/metrics/query_range` and `/api/metrics/query`): what the edge
//! asks of the read path and the time series it gets back, independent of HTTP, gRPC and JSON.
//! The edge parses parameters and renders Tempo's shapes; the pipeline reads spans; the TraceQL
//! crate turns spans into series.
//!
//! Time grid (Tempo's): the range is aligned to the step — start rounded down, end rounded up
//! to a multiple of `step` — and sample `i` carries the timestamp `start + i·step`, covering the
//! spans that started in `(timestamp − step, timestamp]`. An instant query is one sample at `end`
//! covering `(start, end]`.

use async_trait::async_trait;

use crate::otlp::KeyValue;
use crate::search::{SearchMetrics, TraceSummary};
use crate::{Result, TenantId};

/// One metrics query.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricsRequest {
    /// TraceQL with a metrics function (`{...} | rate() by (...)`).
    pub query: String,
    /// Unix nanoseconds, as the client gave them (alignment is the evaluator's).
    pub start: u64,
    pub end: u64,
    /// Nanoseconds; 0 chooses Tempo's default for the range (about 240 samples). Ignored for an
    /// instant query.
    pub step: u64,
    /// One value per series over the whole range (`/api/metrics/query`).
    pub instant: bool,
    /// The most exemplars returned (0: none).
    pub exemplars: u32,
    /// The most series returned (0: the tenant's `max_metrics_series`); beyond it the answer is
    /// cut and marked partial.
    pub max_series: u32,
}

/// The answer.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MetricsResponse {
    pub series: Vec<MetricSeries>,
    pub metrics: SearchMetrics,
    /// The series were cut at `max_series` (`status: PARTIAL`).
    pub partial: bool,
    /// Why the answer is partial; empty when complete.
    pub message: String,
}

/// One time series.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MetricSeries {
    /// Typed labels keyed by TraceQL text (`resource.service.name`), plus Tempo's special ones:
    /// `__name__` (the function, for an ungrouped series), `p` (quantile), `__bucket`
    /// (histogram), `__meta_type` and `__meta_error` (compare). A label whose value is nil has
    /// `value: None`.
    pub labels: Vec<KeyValue>,
    /// Oldest first; steps without a value (no spans for an `_over_time` of a field, filtered
    /// out by a second stage) are absent.
    pub samples: Vec<Sample>,
    /// Oldest first.
    pub exemplars: Vec<Exemplar>,
}

/// One point.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Sample {
    pub timestamp_ms: i64,
    pub value: f64,
}

/// A span behind a value: labels `trace:id` (hex) and `span:id` (hex).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Exemplar {
    pub labels: Vec<KeyValue>,
    pub value: f64,
    pub timestamp_ms: i64,
}

/// TraceQL metrics over one tenant's spans.
#[async_trait]
pub trait MetricsQuerier: Send + Sync + 'static {
    /// Errors: `BadRequest` for a query that does not parse, is not a metrics query, or a range
    /// over `max_metrics_duration` (Tempo's "metrics query time range exceeds the maximum
    /// allowed duration of …" text); `QueryLimit` when the byte budget or time runs out.
    /// `progress` hears after each unit of work (memory, each block) what has been done.
    async fn query_range(
        &self,
        tenant: &TenantId,
        request: MetricsRequest,
        progress: &dyn Progress,
    ) -> Result<MetricsResponse>;
}

/// Hears how a query advances, for streaming answers (gRPC `StreamingQuerier`).
pub trait Progress: Send + Sync {
    /// Called after each unit of work: the cost so far and, for a search, the traces that are
    /// now certain to be in the answer and were not reported before (each trace is reported at
    /// most once; the final answer holds every trace, reported or not).
    fn report(&self, metrics: &SearchMetrics, settled: Vec<TraceSummary>);
}

/// Progress nobody listens to.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoProgress;

impl Progress for NoProgress {
    fn report(&self, _metrics: &SearchMetrics, _settled: Vec<TraceSummary>) {}
}
