//! Search and tag discovery (Tempo's `/api/search`, `/api/search/tags`, tag values): what the
//! edge asks of the read path, and the answers, independent of HTTP and JSON. The edge parses
//! and checks parameters, renders the answers in Tempo's JSON dialect, and merges the answers of
//! several tenants for `a|b`; the pipeline parses the TraceQL, plans and evaluates.

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;

use crate::metrics::{NoProgress, Progress};
use crate::otlp::KeyValue;
use crate::{Result, TenantId, TimeRange, TraceId};

/// What to search for.
#[derive(Debug, Clone, PartialEq)]
pub enum SearchQuery {
    /// A TraceQL spanset query (`q`). Empty text means `{}`.
    TraceQl(String),
    /// Tempo's tag search (`tags=k=v k2="v 2"`, logfmt already split): every pair must hold
    /// on some span of the trace. The well-known keys `service.name`, `name`, `root.service.name`,
    /// `root.name` match as case-sensitive substrings, `status.code` as `unset|ok|error`,
    /// `http.status_code` as an integer; any other key is an exact span or resource attribute.
    Tags(Vec<(String, String)>),
}

/// One search.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchRequest {
    pub query: SearchQuery,
    /// Traces overlapping this range. `None`: recent data only (live traces and blocks of the
    /// last hour), as Tempo without `start`/`end`.
    pub range: Option<TimeRange>,
    /// Traces whose duration is at least this (`minDuration`).
    pub min_duration: Option<Duration>,
    /// Traces whose duration is at most this (`maxDuration`).
    pub max_duration: Option<Duration>,
    /// The most traces returned (the edge applies the default and the maximum).
    pub limit: u32,
    /// The most spans returned per span set (`spss`).
    pub spans_per_spanset: u32,
}

/// The answer: the `limit` matching traces with the latest start, newest first, ties by trace
/// ID ascending.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SearchResponse {
    pub traces: Vec<TraceSummary>,
    pub metrics: SearchMetrics,
}

/// One matching trace.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TraceSummary {
    pub trace_id: TraceId,
    /// `service.name` of the root span, or `<root span not yet received>`.
    pub root_service_name: String,
    /// The root span's name; empty without a root span.
    pub root_trace_name: String,
    /// The earliest span start.
    pub start_time_unix_nano: u64,
    /// Latest span end − earliest span start.
    pub duration_nanos: u64,
    /// Never empty for a TraceQL search; empty for a tag search.
    pub span_sets: Vec<SpanSet>,
    /// Spans and error spans per `service.name`.
    pub service_stats: BTreeMap<String, ServiceStats>,
}

/// Spans of one trace that matched together.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SpanSet {
    /// At most `spans_per_spanset`, by start time.
    pub spans: Vec<SpanSummary>,
    /// How many spans matched (can exceed `spans.len()`).
    pub matched: u32,
    /// Values the whole span set shares: `by()` keys, aggregate results.
    pub attributes: Vec<KeyValue>,
}

/// One span of a span set.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SpanSummary {
    /// 8 bytes.
    pub span_id: Vec<u8>,
    pub name: String,
    pub start_time_unix_nano: u64,
    pub duration_nanos: u64,
    /// The attributes the query named (filters and `select()`), keyed by attribute name
    /// without scope (`http.method`, `service.name`); intrinsics by their TraceQL name.
    pub attributes: Vec<KeyValue>,
}

/// `errorCount`/`spanCount` of one service in a trace.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ServiceStats {
    pub span_count: u32,
    pub error_count: u32,
}

/// What answering cost (Tempo's `SearchMetrics`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SearchMetrics {
    /// Traces whose spans were evaluated.
    pub inspected_traces: u32,
    /// Uncompressed OTLP protobuf bytes of the spans examined.
    pub inspected_bytes: u64,
    pub inspected_spans: u64,
    /// Blocks overlapping the range.
    pub total_blocks: u32,
    /// Their stored size.
    pub total_block_bytes: u64,
    /// Units of work (one per block, one for live data) done / planned.
    pub completed_jobs: u32,
    pub total_jobs: u32,
    /// Object-store requests and bytes.
    pub backend_reads: u64,
    pub backend_bytes: u64,
}

impl SearchMetrics {
    /// Adds another tenant's or source's figures.
    pub fn add(&mut self, other: &SearchMetrics) {
        self.inspected_traces = self.inspected_traces.saturating_add(other.inspected_traces);
        self.inspected_bytes += other.inspected_bytes;
        self.inspected_spans += other.inspected_spans;
        self.total_blocks = self.total_blocks.saturating_add(other.total_blocks);
        self.total_block_bytes += other.total_block_bytes;
        self.completed_jobs = self.completed_jobs.saturating_add(other.completed_jobs);
        self.total_jobs = self.total_jobs.saturating_add(other.total_jobs);
        self.backend_reads += other.backend_reads;
        self.backend_bytes += other.backend_bytes;
    }
}

/// The attribute scopes Tempo groups tag names by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TagScope {
    Resource,
    Span,
    Event,
    Link,
    Instrumentation,
    /// Built-in fields (`duration`, `name`, `status`, ...).
    Intrinsic,
}

impl TagScope {
    /// In the order Tempo lists them.
    pub const ALL: [TagScope; 6] = [
        TagScope::Resource,
        TagScope::Span,
        TagScope::Event,
        TagScope::Link,
        TagScope::Instrumentation,
        TagScope::Intrinsic,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            TagScope::Resource => "resource",
            TagScope::Span => "span",
            TagScope::Event => "event",
            TagScope::Link => "link",
            TagScope::Instrumentation => "instrumentation",
            TagScope::Intrinsic => "intrinsic",
        }
    }
}

/// Tag names (`/api/search/tags`, `/api/v2/search/tags`).
#[derive(Debug, Clone, PartialEq)]
pub struct TagNamesRequest {
    /// The scopes wanted; empty means every scope.
    pub scopes: Vec<TagScope>,
    /// `None`: live traces and blocks of the last hour.
    pub range: Option<TimeRange>,
    /// Only tags of spans matching this TraceQL (possibly incomplete; what cannot be parsed is
    /// ignored).
    pub query: Option<String>,
    /// The most names per scope (0: no limit).
    pub limit: u32,
}

/// Tag names by scope, each list sorted and without duplicates.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TagNamesResponse {
    pub scopes: Vec<(TagScope, Vec<String>)>,
    pub metrics: SearchMetrics,
}

/// Which tag's values.
#[derive(Debug, Clone, PartialEq)]
pub enum TagRef {
    /// v1: a raw attribute name, looked up on spans and resources (`status.code` and `error`
    /// have virtual values).
    Name(String),
    /// v2: a TraceQL identifier (`resource.service.name`, `.foo`, `span:name`, `status`).
    Identifier(String),
}

/// Tag values (`/api/search/tag/{t}/values`, v2).
#[derive(Debug, Clone, PartialEq)]
pub struct TagValuesRequest {
    pub tag: TagRef,
    pub range: Option<TimeRange>,
    pub query: Option<String>,
    /// The most values (0: no limit).
    pub limit: u32,
}

/// The type of a tag value, as v2 names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TagValueType {
    String,
    Int,
    Float,
    Bool,
    Duration,
    /// Enumerations: `status`, `kind`.
    Keyword,
}

impl TagValueType {
    pub fn as_str(self) -> &'static str {
        match self {
            TagValueType::String => "string",
            TagValueType::Int => "int",
            TagValueType::Float => "float",
            TagValueType::Bool => "bool",
            TagValueType::Duration => "duration",
            TagValueType::Keyword => "keyword",
        }
    }
}

/// One distinct value, rendered as text (`"42"`, `"1.5"`, `"true"`, `"error"`, `"150ms"`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TagValue {
    pub value_type: TagValueType,
    pub value: String,
}

/// Distinct values, sorted by type then value.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TagValuesResponse {
    pub values: Vec<TagValue>,
    pub metrics: SearchMetrics,
}

/// Search and tag discovery over one tenant's traces.
#[async_trait]
pub trait TraceSearcher: Send + Sync + 'static {
    /// Errors: `BadRequest` for a query that does not parse or validate (the message says
    /// where and what was expected) or a range over `max_search_duration`; `QueryLimit` when
    /// the query's byte budget or time runs out.
    async fn search(&self, tenant: &TenantId, request: SearchRequest) -> Result<SearchResponse> {
        self.search_with_progress(tenant, request, &NoProgress)
            .await
    }
    /// [`search`](Self::search), telling `progress` after each unit of work which traces are
    /// settled (certain to be in the answer), for streaming.
    async fn search_with_progress(
        &self,
        tenant: &TenantId,
        request: SearchRequest,
        progress: &dyn Progress,
    ) -> Result<SearchResponse>;
    async fn tag_names(
        &self,
        tenant: &TenantId,
        request: TagNamesRequest,
    ) -> Result<TagNamesResponse>;
    async fn tag_values(
        &self,
        tenant: &TenantId,
        request: TagValuesRequest,
    ) -> Result<TagValuesResponse>;
}
