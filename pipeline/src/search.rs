//! Search and tag discovery over live traces and blocks ([`TraceSearcher`] for [`Pipeline`]).
//!
//! A search parses and plans the TraceQL once, then works source by source, newest first: the
//! traces in memory (live, completed, being flushed), then the blocks the catalog lists for the
//! range, latest end first. Each block is pre-filtered by the store (only the columns the plan
//! names, row groups ruled out by statistics skipped) and the returned traces are evaluated
//! exactly, off the async executor. Results of one trace found in several places are merged.
//! Once `limit` traces are known, blocks that end before the `limit`-th start time are skipped:
//! none of their traces can start later.
//!
//! Every query stops with [`ErrorKind::QueryLimit`](sextant_model::ErrorKind::QueryLimit) when
//! it has examined more than the tenant's `max_search_bytes` or run longer than its
//! `search_timeout`.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use sextant_model::otlp::{AnyValue, ArrayValue, KeyValue, StatusCode, TracesData, any_value};
use sextant_model::{
    Error as ModelError, ErrorKind, FetchRequest, Limits, SearchMetrics, SearchQuery,
    SearchRequest, SearchResponse, SpanSet, SpanSummary, TagNamesRequest, TagNamesResponse, TagRef,
    TagScope, TagValue, TagValueType, TagValuesRequest, TagValuesResponse, TenantId, TimeRange,
    TraceId, TraceSearcher, TraceSummary,
};
use sextant_traceql::{FieldExpr, Intrinsic, Kind, Search, Static, Status, TraceView};

use crate::Pipeline;
use crate::querier;

/// Without `start`/`end`, blocks of this last stretch of time are searched (and all of memory).
const RECENT: Duration = Duration::from_secs(3600);

/// Shown as the root service of a trace whose root span has not arrived.
const NO_ROOT: &str = "<root span not yet received>";

/// Tempo's list of intrinsic tag names (`/api/v2/search/tags`, scope `intrinsic`).
const INTRINSIC_TAGS: [&str; 25] = [
    "duration",
    "event:name",
    "event:timeSinceStart",
    "instrumentation:name",
    "instrumentation:version",
    "kind",
    "link:spanID",
    "link:traceID",
    "name",
    "rootName",
    "rootServiceName",
    "span:duration",
    "span:id",
    "span:kind",
    "span:name",
    "span:parentID",
    "span:status",
    "span:statusMessage",
    "status",
    "statusMessage",
    "trace:duration",
    "trace:id",
    "trace:rootName",
    "trace:rootService",
    "traceDuration",
];

#[async_trait]
impl TraceSearcher for Pipeline {
    async fn search(
        &self,
        tenant: &TenantId,
        request: SearchRequest,
    ) -> sextant_model::Result<SearchResponse> {
        let limits = self.tenants.limits(tenant);
        check_range(request.range, &limits)?;
        let query = match &request.query {
            SearchQuery::TraceQl(text) => {
                let text = if text.trim().is_empty() { "{}" } else { text };
                sextant_traceql::parse(text)
                    .map_err(|e| ModelError::bad_request(format!("invalid TraceQL query: {e}")))?
            }
            SearchQuery::Tags(pairs) => sextant_traceql::tag_query(pairs)
                .map_err(|e| ModelError::bad_request(format!("invalid tags: {e}")))?,
        };
        let search = Search::new(&query)
            .map_err(|e| ModelError::bad_request(format!("invalid TraceQL query: {e}")))?;
        let tag_search = matches!(request.query, SearchQuery::Tags(_));
        let job = SearchJob {
            search: Arc::new(search),
            request,
            tag_search,
        };
        with_timeout(&limits, "search", self.run_search(tenant, job, &limits)).await
    }

    async fn tag_names(
        &self,
        tenant: &TenantId,
        request: TagNamesRequest,
    ) -> sextant_model::Result<TagNamesResponse> {
        let limits = self.tenants.limits(tenant);
        check_range(request.range, &limits)?;
        let scopes: Vec<TagScope> = if request.scopes.is_empty() {
            TagScope::ALL.to_vec()
        } else {
            request.scopes.clone()
        };
        let wanted: Vec<TagScope> = scopes
            .iter()
            .copied()
            .filter(|s| *s != TagScope::Intrinsic)
            .collect();
        let mut names: BTreeMap<TagScope, BTreeSet<String>> = BTreeMap::new();
        let mut metrics = SearchMetrics::default();
        if !wanted.is_empty() {
            let filter = request.query.as_deref().and_then(lenient_search);
            let collector = Collect::Names(wanted.clone());
            let found = with_timeout(
                &limits,
                "tag names",
                self.collect(tenant, request.range, filter, None, collector, &limits),
            )
            .await?;
            metrics = found.metrics;
            if let Collected::Names(n) = found.collected {
                names = n;
            }
        }
        let limit = request.limit as usize;
        let mut out = Vec::new();
        for scope in scopes {
            let mut list: Vec<String> = if scope == TagScope::Intrinsic {
                INTRINSIC_TAGS.iter().map(|s| (*s).to_string()).collect()
            } else {
                names
                    .remove(&scope)
                    .unwrap_or_default()
                    .into_iter()
                    .collect()
            };
            if limit > 0 {
                list.truncate(limit);
            }
            out.push((scope, list));
        }
        Ok(TagNamesResponse {
            scopes: out,
            metrics,
        })
    }

    async fn tag_values(
        &self,
        tenant: &TenantId,
        request: TagValuesRequest,
    ) -> sextant_model::Result<TagValuesResponse> {
        let limits = self.tenants.limits(tenant);
        check_range(request.range, &limits)?;
        let fields = match &request.tag {
            TagRef::Name(name) => {
                if let Some(values) = virtual_values_v1(name) {
                    return Ok(TagValuesResponse {
                        values,
                        metrics: SearchMetrics::default(),
                    });
                }
                v1_tag_fields(name)
                    .map_err(|e| ModelError::bad_request(format!("invalid tag name: {e}")))?
            }
            TagRef::Identifier(text) => {
                let field = sextant_traceql::parse_identifier(text)
                    .map_err(|e| ModelError::bad_request(format!("invalid tag {text:?}: {e}")))?;
                if let Some(values) = keyword_values(&field) {
                    return Ok(TagValuesResponse {
                        values,
                        metrics: SearchMetrics::default(),
                    });
                }
                vec![field]
            }
        };
        let as_strings = matches!(request.tag, TagRef::Name(_));
        let filter = request.query.as_deref().and_then(lenient_search);
        let pushdown = exists_condition(&fields);
        let collector = Collect::Values {
            fields,
            as_strings,
            limit: request.limit as usize,
        };
        let found = with_timeout(
            &limits,
            "tag values",
            self.collect(tenant, request.range, filter, pushdown, collector, &limits),
        )
        .await?;
        let values = match found.collected {
            Collected::Values(v) => v.into_iter().collect(),
            Collected::Names(_) => Vec::new(),
        };
        Ok(TagValuesResponse {
            values,
            metrics: found.metrics,
        })
    }
}

/// One search in progress.
struct SearchJob {
    search: Arc<Search>,
    request: SearchRequest,
    tag_search: bool,
}

/// A matching trace while results are being gathered: its summary and latest span end.
#[derive(Debug, Clone)]
struct Found {
    summary: TraceSummary,
    end: u64,
    has_root: bool,
}

impl Pipeline {
    async fn run_search(
        &self,
        tenant: &TenantId,
        job: SearchJob,
        limits: &Limits,
    ) -> sextant_model::Result<SearchResponse> {
        let limit = job.request.limit.max(1) as usize;
        let spss = job.request.spans_per_spanset as usize;
        let block_range = job.request.range.unwrap_or_else(recent);
        let mut fetch = job.search.fetch_request(block_range);
        add_duration_conditions(&mut fetch, &job.request);
        let fetch = Arc::new(fetch);
        let mut found: HashMap<TraceId, Found> = HashMap::new();
        let mut metrics = SearchMetrics::default();
        let budget = Budget::new(limits.max_search_bytes);

        // Memory first: the newest data.
        let live = self.ingester.snapshot(tenant, job.request.range);
        metrics.total_jobs += 1;
        if !live.is_empty() {
            let search = Arc::clone(&job.search);
            let request = job.request.clone();
            let tag_search = job.tag_search;
            let (traces, m) = blocking(move || {
                let mut m = SearchMetrics::default();
                let mut out = Vec::new();
                for (_, segments) in live {
                    let Some(lookup) = querier::merge(segments) else {
                        continue;
                    };
                    m.inspected_bytes += lookup.inspected_bytes;
                    if let Some(f) =
                        evaluate(&search, &lookup.trace, &request, tag_search, spss, &mut m)?
                    {
                        out.push(f);
                    }
                }
                Ok((out, m))
            })
            .await?;
            budget.spend(m.inspected_bytes, "search")?;
            metrics.add(&m);
            merge_found(&mut found, traces);
        }
        metrics.completed_jobs += 1;

        // Then blocks, latest end first.
        if let Some(flusher) = &self.flusher {
            let mut blocks = flusher
                .candidates(tenant, block_range)
                .await
                .map_err(ModelError::from)?;
            blocks.sort_by(|a, b| {
                b.range
                    .end
                    .cmp(&a.range.end)
                    .then(a.block_id.cmp(&b.block_id))
            });
            metrics.total_blocks = blocks.len() as u32;
            metrics.total_block_bytes = blocks.iter().map(|b| b.size_bytes).sum();
            metrics.total_jobs += blocks.len() as u32;
            for meta in blocks {
                if found.len() >= limit && nth_start(&found, limit) > meta.range.end {
                    metrics.completed_jobs += 1;
                    continue;
                }
                let result = flusher
                    .search_block(&meta, &fetch)
                    .await
                    .map_err(ModelError::from)?;
                metrics.backend_bytes += result.fetched_bytes;
                metrics.backend_reads +=
                    (result.row_groups_read + result.row_groups_fetched) as u64;
                let examined = result.examined_otlp_bytes;
                budget.spend(examined, "search")?;
                let search = Arc::clone(&job.search);
                let request = job.request.clone();
                let tag_search = job.tag_search;
                let (traces, m) = blocking(move || {
                    let mut m = SearchMetrics {
                        inspected_bytes: examined,
                        ..SearchMetrics::default()
                    };
                    let mut out = Vec::new();
                    for (_, trace) in result.traces {
                        if let Some(f) =
                            evaluate(&search, &trace, &request, tag_search, spss, &mut m)?
                        {
                            out.push(f);
                        }
                    }
                    Ok((out, m))
                })
                .await?;
                metrics.add(&m);
                metrics.completed_jobs += 1;
                merge_found(&mut found, traces);
                trim_found(&mut found, limit);
            }
        }

        let mut traces: Vec<TraceSummary> = found.into_values().map(|f| f.summary).collect();
        sort_traces(&mut traces);
        traces.truncate(limit);
        Ok(SearchResponse { traces, metrics })
    }

    /// Walks the spans of traces in `range` (matching `filter`, when given) and collects tag
    /// names or values.
    async fn collect(
        &self,
        tenant: &TenantId,
        range: Option<TimeRange>,
        filter: Option<Search>,
        pushdown: Option<sextant_model::Condition>,
        collector: Collect,
        limits: &Limits,
    ) -> sextant_model::Result<CollectOutcome> {
        let block_range = range.unwrap_or_else(recent);
        let filter = filter.map(Arc::new);
        let mut fetch = match &filter {
            Some(search) => search.fetch_request(block_range),
            None => FetchRequest::all(block_range),
        };
        if let Some(condition) = pushdown
            && (fetch.all_conditions || fetch.conditions.is_empty())
        {
            fetch.conditions.push(condition);
            fetch.all_conditions = true;
        }
        let budget = Budget::new(limits.max_search_bytes);
        let state = Arc::new(parking_lot::Mutex::new(CollectState::new(collector)));
        let mut metrics = SearchMetrics::default();

        let live = self.ingester.snapshot(tenant, range);
        metrics.total_jobs += 1;
        if !live.is_empty() {
            let (filter, state2) = (filter.clone(), Arc::clone(&state));
            let m = blocking(move || {
                let mut m = SearchMetrics::default();
                let mut state = state2.lock();
                for (_, segments) in live {
                    let Some(lookup) = querier::merge(segments) else {
                        continue;
                    };
                    m.inspected_bytes += lookup.inspected_bytes;
                    state.visit(&lookup.trace, filter.as_deref(), &mut m)?;
                }
                Ok(m)
            })
            .await?;
            budget.spend(m.inspected_bytes, "tag")?;
            metrics.add(&m);
        }
        metrics.completed_jobs += 1;

        if let Some(flusher) = &self.flusher {
            let mut blocks = flusher
                .candidates(tenant, block_range)
                .await
                .map_err(ModelError::from)?;
            blocks.sort_by(|a, b| {
                b.range
                    .end
                    .cmp(&a.range.end)
                    .then(a.block_id.cmp(&b.block_id))
            });
            metrics.total_blocks = blocks.len() as u32;
            metrics.total_block_bytes = blocks.iter().map(|b| b.size_bytes).sum();
            metrics.total_jobs += blocks.len() as u32;
            let fetch = Arc::new(fetch);
            for meta in blocks {
                if state.lock().full() {
                    break;
                }
                let result = flusher
                    .search_block(&meta, &fetch)
                    .await
                    .map_err(ModelError::from)?;
                metrics.backend_bytes += result.fetched_bytes;
                metrics.backend_reads +=
                    (result.row_groups_read + result.row_groups_fetched) as u64;
                let examined = result.examined_otlp_bytes;
                budget.spend(examined, "tag")?;
                let (filter, state2) = (filter.clone(), Arc::clone(&state));
                let m = blocking(move || {
                    let mut m = SearchMetrics {
                        inspected_bytes: examined,
                        ..SearchMetrics::default()
                    };
                    let mut state = state2.lock();
                    for (_, trace) in result.traces {
                        state.visit(&trace, filter.as_deref(), &mut m)?;
                    }
                    Ok(m)
                })
                .await?;
                metrics.add(&m);
                metrics.completed_jobs += 1;
            }
        }
        let state = Arc::try_unwrap(state)
            .map(parking_lot::Mutex::into_inner)
            .map_err(|_| ModelError::internal("tag collection still shared"))?;
        Ok(CollectOutcome {
            collected: state.finish(),
            metrics,
        })
    }
}

/// Refuses a range longer than the tenant may search.
fn check_range(range: Option<TimeRange>, limits: &Limits) -> sextant_model::Result<()> {
    if let Some(r) = range {
        let span = Duration::from_nanos(r.end.saturating_sub(r.start));
        if span > limits.max_search_duration {
            return Err(ModelError::bad_request(format!(
                "range specified by start and end ({}) exceeds the maximum allowed search duration ({})",
                humantime::format_duration(span),
                humantime::format_duration(limits.max_search_duration)
            )));
        }
    }
    Ok(())
}

/// The last [`RECENT`] stretch of time up to now.
fn recent() -> TimeRange {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    TimeRange::new(now.saturating_sub(RECENT.as_nanos() as u64), now)
}

/// Runs a query under the tenant's `search_timeout`.
async fn with_timeout<T>(
    limits: &Limits,
    what: &str,
    work: impl std::future::Future<Output = sextant_model::Result<T>>,
) -> sextant_model::Result<T> {
    match tokio::time::timeout(limits.search_timeout, work).await {
        Ok(result) => result,
        Err(_) => Err(ModelError::new(
            ErrorKind::QueryLimit,
            format!(
                "{what} query stopped after {} (the tenant's search_timeout); narrow the time range or the query",
                humantime::format_duration(limits.search_timeout)
            ),
        )),
    }
}

/// CPU-bound work off the async executor.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> sextant_model::Result<T> + Send + 'static,
) -> sextant_model::Result<T> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| ModelError::internal(format!("search task failed: {e}")))?
}

/// The bytes a query may still examine.
struct Budget {
    max: u64,
    spent: std::sync::atomic::AtomicU64,
}

impl Budget {
    fn new(max: u64) -> Self {
        Self {
            max,
            spent: std::sync::atomic::AtomicU64::new(0),
        }
    }

    fn spend(&self, bytes: u64, what: &str) -> sextant_model::Result<()> {
        let spent = self
            .spent
            .fetch_add(bytes, std::sync::atomic::Ordering::Relaxed)
            + bytes;
        if self.max > 0 && spent > self.max {
            return Err(ModelError::new(
                ErrorKind::QueryLimit,
                format!(
                    "{what} query stopped: it examined more than {} bytes (the tenant's max_search_bytes); narrow the time range or the query",
                    self.max
                ),
            ));
        }
        Ok(())
    }
}

/// `minDuration`/`maxDuration` as trace-duration conditions, when the plan is a conjunction.
fn add_duration_conditions(fetch: &mut FetchRequest, request: &SearchRequest) {
    use sextant_model::{AttributeRef, Condition, FetchOp, Intrinsic as FetchIntrinsic};
    if !(fetch.all_conditions || fetch.conditions.is_empty()) {
        return;
    }
    let field = AttributeRef::Intrinsic(FetchIntrinsic::TraceDuration);
    if let Some(min) = request.min_duration {
        fetch.conditions.push(Condition::new(
            field.clone(),
            FetchOp::Ge,
            vec![sextant_model::Static::Duration(min.as_nanos() as u64)],
        ));
        fetch.all_conditions = true;
    }
    if let Some(max) = request.max_duration {
        fetch.conditions.push(Condition::new(
            field,
            FetchOp::Le,
            vec![sextant_model::Static::Duration(max.as_nanos() as u64)],
        ));
        fetch.all_conditions = true;
    }
}

/// Evaluates the query on one trace; the trace's summary when it matches.
fn evaluate(
    search: &Search,
    trace: &TracesData,
    request: &SearchRequest,
    tag_search: bool,
    spss: usize,
    metrics: &mut SearchMetrics,
) -> sextant_model::Result<Option<Found>> {
    let view = TraceView::new(trace);
    if view.is_empty() {
        return Ok(None);
    }
    metrics.inspected_traces = metrics.inspected_traces.saturating_add(1);
    metrics.inspected_spans += view.len() as u64;
    let duration = view.end().saturating_sub(view.start());
    if request
        .min_duration
        .is_some_and(|min| u128::from(duration) < min.as_nanos())
        || request
            .max_duration
            .is_some_and(|max| u128::from(duration) > max.as_nanos())
    {
        return Ok(None);
    }
    let sets = search
        .evaluate(&view)
        .map_err(|e| ModelError::bad_request(format!("cannot evaluate the query: {e}")))?;
    if sets.is_empty() {
        return Ok(None);
    }
    let Some(first) = view.span(0).trace_id.get(..16) else {
        return Ok(None);
    };
    let mut id = [0u8; 16];
    id.copy_from_slice(first);
    let mut summary = TraceSummary {
        trace_id: TraceId(id),
        start_time_unix_nano: view.start(),
        duration_nanos: duration,
        ..TraceSummary::default()
    };
    let root = view.root();
    match root {
        Some(r) => {
            summary.root_service_name = service_name(&view, r).to_string();
            summary.root_trace_name = view.span(r).name.clone();
        }
        None => summary.root_service_name = NO_ROOT.to_string(),
    }
    for i in 0..view.len() {
        let stats = summary
            .service_stats
            .entry(service_name(&view, i).to_string())
            .or_default();
        stats.span_count += 1;
        if view
            .span(i)
            .status
            .as_ref()
            .is_some_and(|s| s.code == StatusCode::Error as i32)
        {
            stats.error_count += 1;
        }
    }
    if !tag_search {
        for set in sets {
            let matched = set.spans.len() as u32;
            let spans = set
                .spans
                .iter()
                .take(spss)
                .map(|m| {
                    let span = view.span(m.index);
                    SpanSummary {
                        span_id: span.span_id.clone(),
                        name: span.name.clone(),
                        start_time_unix_nano: span.start_time_unix_nano,
                        duration_nanos: span
                            .end_time_unix_nano
                            .saturating_sub(span.start_time_unix_nano),
                        attributes: key_values(&m.attributes),
                    }
                })
                .collect();
            summary.span_sets.push(SpanSet {
                spans,
                matched,
                attributes: key_values(&set.attributes),
            });
        }
    }
    Ok(Some(Found {
        end: view.end(),
        has_root: root.is_some(),
        summary,
    }))
}

/// `service.name` of a span's resource, empty when absent.
fn service_name<'a>(view: &TraceView<'a>, i: usize) -> &'a str {
    view.resource(i)
        .and_then(|r| r.attributes.iter().find(|kv| kv.key == "service.name"))
        .and_then(|kv| kv.value.as_ref())
        .and_then(|v| match &v.value {
            Some(any_value::Value::StringValue(s)) => Some(s.as_str()),
            _ => None,
        })
        .unwrap_or("")
}

fn key_values(attributes: &[(String, Static)]) -> Vec<KeyValue> {
    attributes
        .iter()
        .filter_map(|(key, value)| {
            any_value(value).map(|v| KeyValue {
                key: key.clone(),
                value: Some(v),
            })
        })
        .collect()
}

/// A TraceQL value as an OTLP attribute value (`None` for nil).
fn any_value(value: &Static) -> Option<AnyValue> {
    use any_value::Value as V;
    let v = match value {
        Static::Nil => return None,
        Static::Bool(b) => V::BoolValue(*b),
        Static::Int(i) => V::IntValue(*i),
        Static::Float(f) => V::DoubleValue(*f),
        Static::Duration(d) => V::IntValue(*d),
        Static::String(s) => V::StringValue(s.clone()),
        Static::Status(s) => V::StringValue(s.keyword().to_string()),
        Static::Kind(k) => V::StringValue(k.keyword().to_string()),
        Static::Array(items) => V::ArrayValue(ArrayValue {
            values: items.iter().filter_map(any_value).collect(),
        }),
    };
    Some(AnyValue { value: Some(v) })
}

/// Adds newly found traces, merging ones already found elsewhere (another block, memory).
fn merge_found(found: &mut HashMap<TraceId, Found>, traces: Vec<Found>) {
    for f in traces {
        match found.get_mut(&f.summary.trace_id) {
            None => {
                found.insert(f.summary.trace_id, f);
            }
            Some(existing) => {
                let start = existing
                    .summary
                    .start_time_unix_nano
                    .min(f.summary.start_time_unix_nano);
                let end = existing.end.max(f.end);
                if !existing.has_root && f.has_root {
                    existing.summary.root_service_name = f.summary.root_service_name;
                    existing.summary.root_trace_name = f.summary.root_trace_name;
                    existing.has_root = true;
                }
                existing.summary.start_time_unix_nano = start;
                existing.end = end;
                existing.summary.duration_nanos = end - start;
                for (service, stats) in f.summary.service_stats {
                    let e = existing.summary.service_stats.entry(service).or_default();
                    e.span_count += stats.span_count;
                    e.error_count += stats.error_count;
                }
                let seen: BTreeSet<Vec<u8>> = existing
                    .summary
                    .span_sets
                    .iter()
                    .flat_map(|s| s.spans.iter().map(|sp| sp.span_id.clone()))
                    .collect();
                for set in f.summary.span_sets {
                    if set.spans.iter().all(|s| seen.contains(&s.span_id)) && !set.spans.is_empty()
                    {
                        continue;
                    }
                    existing.summary.span_sets.push(set);
                }
            }
        }
    }
}

/// Keeps memory bounded on broad queries: once far more than `limit` traces are known, only the
/// `limit` newest are kept (older ones can no longer make the answer). A trace split across
/// blocks whose older part was dropped comes back only with its newer spans; it then starts
/// later than it really does, which can only matter when it ties with the `limit`-th trace.
fn trim_found(found: &mut HashMap<TraceId, Found>, limit: usize) {
    if found.len() <= limit.saturating_mul(2).saturating_add(1_000) {
        return;
    }
    let mut order: Vec<(u64, TraceId)> = found
        .values()
        .map(|f| (f.summary.start_time_unix_nano, f.summary.trace_id))
        .collect();
    order.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.0.cmp(&b.1.0)));
    for (_, id) in order.into_iter().skip(limit) {
        found.remove(&id);
    }
}

/// The start time of the `n`-th newest trace found so far (`n` ≥ 1, `found.len()` ≥ n).
fn nth_start(found: &HashMap<TraceId, Found>, n: usize) -> u64 {
    let mut starts: Vec<u64> = found
        .values()
        .map(|f| f.summary.start_time_unix_nano)
        .collect();
    starts.sort_unstable_by(|a, b| b.cmp(a));
    starts.get(n - 1).copied().unwrap_or(0)
}

/// Newest first; ties by trace ID ascending.
fn sort_traces(traces: &mut [TraceSummary]) {
    traces.sort_by(|a, b| {
        b.start_time_unix_nano
            .cmp(&a.start_time_unix_nano)
            .then(a.trace_id.0.cmp(&b.trace_id.0))
    });
}

/// A tag-values `q`: what can be used of it, or nothing (an unusable `q` filters nothing, as
/// in Tempo).
fn lenient_search(q: &str) -> Option<Search> {
    let query = sextant_traceql::lenient_parse(q)?;
    Search::new(&query).ok()
}

/// `key` as the name part of a TraceQL identifier, quoted when it is not a plain name.
fn quote_name(key: &str) -> String {
    let plain = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '/' | ':'));
    if plain {
        key.to_string()
    } else {
        format!("\"{}\"", key.replace('\\', "\\\\").replace('"', "\\\""))
    }
}

/// The fields a v1 tag name reads, as in Tempo: `name` is the span name, `root.name` and
/// `root.service.name` the trace's root span name and service; any other name is a span or
/// resource attribute.
fn v1_tag_fields(name: &str) -> Result<Vec<FieldExpr>, sextant_traceql::Error> {
    let identifiers = match name {
        "name" => vec!["name".to_owned()],
        "root.name" => vec!["trace:rootName".to_owned()],
        "root.service.name" => vec!["trace:rootService".to_owned()],
        _ => {
            let key = quote_name(name);
            vec![format!("span.{key}"), format!("resource.{key}")]
        }
    };
    identifiers
        .iter()
        .map(|i| sextant_traceql::parse_identifier(i))
        .collect()
}

/// v1's virtual values: `status.code` and `error` are not attributes in OTLP.
fn virtual_values_v1(name: &str) -> Option<Vec<TagValue>> {
    let values: &[&str] = match name {
        "status.code" => &["error", "ok", "unset"],
        "error" => &["true"],
        _ => return None,
    };
    Some(
        values
            .iter()
            .map(|v| TagValue {
                value_type: TagValueType::String,
                value: (*v).to_string(),
            })
            .collect(),
    )
}

/// v2's enumerations: every value of `status` and `kind`, whatever the data holds.
fn keyword_values(field: &FieldExpr) -> Option<Vec<TagValue>> {
    let FieldExpr::Intrinsic(i) = field else {
        return None;
    };
    let words: Vec<&str> = match i {
        Intrinsic::Status | Intrinsic::SpanStatus => {
            Status::ALL.iter().map(|s| s.keyword()).collect()
        }
        Intrinsic::Kind | Intrinsic::SpanKind => Kind::ALL.iter().map(|k| k.keyword()).collect(),
        _ => return None,
    };
    let mut values: Vec<TagValue> = words
        .into_iter()
        .map(|w| TagValue {
            value_type: TagValueType::Keyword,
            value: w.to_string(),
        })
        .collect();
    values.sort();
    Some(values)
}

/// A storage condition that the tag has a value, when it is a plain span or resource attribute.
fn exists_condition(fields: &[FieldExpr]) -> Option<sextant_model::Condition> {
    use sextant_model::{AttributeRef, AttributeScope, Condition};
    let [FieldExpr::Attribute(a)] = fields else {
        return None;
    };
    if a.parent {
        return None;
    }
    let scope = match a.scope {
        sextant_traceql::Scope::None => AttributeScope::Any,
        sextant_traceql::Scope::Span => AttributeScope::Span,
        sextant_traceql::Scope::Resource => AttributeScope::Resource,
        _ => return None,
    };
    Some(Condition::exists(AttributeRef::Attribute {
        scope,
        key: a.name.clone(),
    }))
}

/// What a tag query collects.
enum Collect {
    Names(Vec<TagScope>),
    Values {
        fields: Vec<FieldExpr>,
        /// v1: every value as a string.
        as_strings: bool,
        limit: usize,
    },
}

enum Collected {
    Names(BTreeMap<TagScope, BTreeSet<String>>),
    Values(BTreeSet<TagValue>),
}

struct CollectOutcome {
    collected: Collected,
    metrics: SearchMetrics,
}

struct CollectState {
    collect: Collect,
    names: BTreeMap<TagScope, BTreeSet<String>>,
    values: BTreeSet<TagValue>,
}

impl CollectState {
    fn new(collect: Collect) -> Self {
        Self {
            collect,
            names: BTreeMap::new(),
            values: BTreeSet::new(),
        }
    }

    /// Enough values already (names are gathered whole: the limit applies per scope, sorted).
    fn full(&self) -> bool {
        match &self.collect {
            Collect::Values { limit, .. } => *limit > 0 && self.values.len() >= *limit,
            Collect::Names(_) => false,
        }
    }

    fn visit(
        &mut self,
        trace: &TracesData,
        filter: Option<&Search>,
        metrics: &mut SearchMetrics,
    ) -> sextant_model::Result<()> {
        let view = TraceView::new(trace);
        metrics.inspected_traces = metrics.inspected_traces.saturating_add(1);
        metrics.inspected_spans += view.len() as u64;
        let spans: Vec<usize> = match filter {
            Some(search) => {
                let sets = search.evaluate(&view).map_err(|e| {
                    ModelError::bad_request(format!("cannot evaluate the query: {e}"))
                })?;
                let set: BTreeSet<usize> = sets
                    .iter()
                    .flat_map(|s| s.spans.iter().map(|m| m.index))
                    .collect();
                set.into_iter().collect()
            }
            None => (0..view.len()).collect(),
        };
        match &self.collect {
            Collect::Names(scopes) => {
                for &i in &spans {
                    for scope in scopes {
                        let names = self.names.entry(*scope).or_default();
                        add_names(&view, i, *scope, names);
                    }
                }
            }
            Collect::Values {
                fields,
                as_strings,
                limit,
            } => {
                for &i in &spans {
                    for field in fields {
                        let value = view.value(i, field);
                        add_values(&value, *as_strings, &mut self.values);
                    }
                    if *limit > 0 && self.values.len() >= *limit {
                        break;
                    }
                }
            }
        }
        Ok(())
    }

    fn finish(self) -> Collected {
        match self.collect {
            Collect::Names(_) => Collected::Names(self.names),
            Collect::Values { limit, .. } => {
                let mut values = self.values;
                if limit > 0 {
                    while values.len() > limit {
                        values.pop_last();
                    }
                }
                Collected::Values(values)
            }
        }
    }
}

/// The attribute names of span `i` in `scope`.
fn add_names(view: &TraceView<'_>, i: usize, scope: TagScope, names: &mut BTreeSet<String>) {
    let mut add = |kvs: &[KeyValue]| {
        for kv in kvs {
            if !names.contains(&kv.key) {
                names.insert(kv.key.clone());
            }
        }
    };
    let span = view.span(i);
    match scope {
        TagScope::Resource => {
            if let Some(r) = view.resource(i) {
                add(&r.attributes);
            }
        }
        TagScope::Span => add(&span.attributes),
        TagScope::Event => {
            for e in &span.events {
                add(&e.attributes);
            }
        }
        TagScope::Link => {
            for l in &span.links {
                add(&l.attributes);
            }
        }
        TagScope::Instrumentation => {
            if let Some(s) = view.scope(i) {
                add(&s.attributes);
            }
        }
        TagScope::Intrinsic => {}
    }
}

fn add_values(value: &Static, as_strings: bool, out: &mut BTreeSet<TagValue>) {
    let (value_type, text) = match value {
        Static::Nil => return,
        Static::Array(items) => {
            for item in items {
                add_values(item, as_strings, out);
            }
            return;
        }
        Static::Bool(b) => (TagValueType::Bool, b.to_string()),
        Static::Int(i) => (TagValueType::Int, i.to_string()),
        Static::Float(f) => (TagValueType::Float, f.to_string()),
        Static::Duration(d) => (
            TagValueType::Duration,
            humantime::format_duration(Duration::from_nanos((*d).max(0) as u64)).to_string(),
        ),
        Static::String(s) => (TagValueType::String, s.clone()),
        Static::Status(s) => (TagValueType::Keyword, s.keyword().to_string()),
        Static::Kind(k) => (TagValueType::Keyword, k.keyword().to_string()),
    };
    let value_type = if as_strings {
        TagValueType::String
    } else {
        value_type
    };
    out.insert(TagValue {
        value_type,
        value: text,
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v1_tag_names_read_tempos_fields() {
        let fields = |name: &str| v1_tag_fields(name).expect("a field");
        let one = |id: &str| vec![sextant_traceql::parse_identifier(id).expect("identifier")];
        assert_eq!(fields("name"), one("name"));
        assert_eq!(fields("root.name"), one("trace:rootName"));
        assert_eq!(fields("root.service.name"), one("trace:rootService"));
        let both = |id: &str| {
            let mut f = one(&format!("span.{id}"));
            f.extend(one(&format!("resource.{id}")));
            f
        };
        assert_eq!(fields("service.name"), both("service.name"));
        assert_eq!(fields("http.status_code"), both("http.status_code"));
        assert_eq!(fields("a b"), both("\"a b\""));
    }
}
