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
    Error as ModelError, ErrorKind, FetchRequest, Limits, Progress, SearchMetrics, SearchQuery,
    SearchRequest, SearchResponse, SpanSet, SpanSummary, TagNamesRequest, TagNamesResponse, TagRef,
    TagScope, TagValuesRequest, TagValuesResponse, TenantId, TimeRange, TraceId, TraceSearcher,
    TraceSummary,
};
use sextant_traceql::{Search, Static, TraceView};

use sextant_store::TraceSelect;

use crate::Pipeline;
use crate::querier;
use found::{Found, Settled, merge_found, nth_start, sort_traces, trim_found};

mod found;
mod tags;
use tags::{
    Collect, CollectOutcome, CollectState, Collected, INTRINSIC_TAGS, exists_condition,
    keyword_values, lenient_search, stored_fields, v1_tag_fields, virtual_values_v1,
};

/// Without `start`/`end`, blocks of this last stretch of time are searched (and all of memory).
const RECENT: Duration = Duration::from_secs(3600);

/// Shown as the root service of a trace whose root span has not arrived.
const NO_ROOT: &str = "<root span not yet received>";

#[async_trait]
impl TraceSearcher for Pipeline {
    async fn search_with_progress(
        &self,
        tenant: &TenantId,
        request: SearchRequest,
        progress: &dyn Progress,
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
        with_timeout(
            &limits,
            "search",
            self.run_search(tenant, job, &limits, progress),
        )
        .await
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
        let stored = if filter.is_none() {
            stored_fields(&fields)
        } else {
            None
        };
        let collector = Collect::Values {
            stored,
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

impl Pipeline {
    /// The blocks the catalog lists for `range`, latest end first (ties by block ID), counted
    /// into `metrics` (blocks, their bytes, one job each).
    pub(crate) async fn blocks_for(
        &self,
        tenant: &TenantId,
        range: TimeRange,
        metrics: &mut SearchMetrics,
    ) -> sextant_model::Result<Vec<sextant_model::BlockMeta>> {
        let mut blocks = match &self.flusher {
            Some(flusher) => flusher
                .candidates(tenant, range)
                .await
                .map_err(ModelError::from)?,
            None => Vec::new(),
        };
        blocks.sort_by(|a, b| {
            b.range
                .end
                .cmp(&a.range.end)
                .then(a.block_id.cmp(&b.block_id))
        });
        metrics.total_blocks = blocks.len() as u32;
        metrics.total_block_bytes = blocks.iter().map(|b| b.size_bytes).sum();
        metrics.total_jobs += blocks.len() as u32;
        Ok(blocks)
    }

    async fn run_search(
        &self,
        tenant: &TenantId,
        job: SearchJob,
        limits: &Limits,
        progress: &dyn Progress,
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
        let mut settled = Settled::default();

        // Memory first: the newest data.
        let live = self.ingester.snapshot(tenant, job.request.range);
        metrics.total_jobs += 1;
        // Then the blocks are listed, latest end first. In this order (a flush registers its
        // block before its traces leave memory) a trace being flushed meanwhile is found at
        // least once.
        let blocks = self.blocks_for(tenant, block_range, &mut metrics).await?;

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
            merge_found(&mut found, traces, spss);
        }
        metrics.completed_jobs += 1;
        let remaining_end = blocks.first().map(|b| b.range.end);
        progress.report(&metrics, settled.take(&found, limit, remaining_end));

        // Then blocks, latest end first.
        if let Some(flusher) = &self.flusher {
            for (i, meta) in blocks.iter().enumerate() {
                let remaining_end = blocks.get(i + 1).map(|b| b.range.end);
                if found.len() >= limit && nth_start(&found, limit) > meta.range.end {
                    metrics.completed_jobs += 1;
                    progress.report(&metrics, settled.take(&found, limit, remaining_end));
                    continue;
                }
                // Only traces that can still make the answer are read and evaluated: the
                // newest `limit` passing traces at or above the start of the `limit`-th match
                // known (ties kept), and every trace already found elsewhere, so its fragments
                // merge. The others wait in `pending` and are read in later rounds only while
                // they can still beat the floor.
                let mut select = TraceSelect::Newest {
                    keep: limit,
                    floor: floor(&found, limit),
                    also: found.keys().copied().collect(),
                };
                let mut pending: Vec<(TraceId, u64)> = Vec::new();
                let mut first = true;
                loop {
                    let result = flusher
                        .search_block(meta, &fetch, &select)
                        .await
                        .map_err(ModelError::from)?;
                    metrics.backend_bytes += result.fetched_bytes;
                    metrics.backend_reads +=
                        (result.row_groups_read + result.row_groups_fetched) as u64;
                    budget.spend(result.examined_otlp_bytes, "search")?;
                    // A later round examines the same row groups again: counted once.
                    let examined = if first { result.examined_otlp_bytes } else { 0 };
                    if first {
                        pending = result.skipped;
                        first = false;
                    }
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
                    merge_found(&mut found, traces, spss);
                    trim_found(&mut found, limit);
                    let floor = floor(&found, limit);
                    pending.retain(|(_, start)| *start >= floor);
                    if pending.is_empty() {
                        break;
                    }
                    pending.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.0.cmp(&b.0.0)));
                    let rest = pending.split_off(pending.len().min(limit.max(64)));
                    select = TraceSelect::Only(pending.iter().map(|(id, _)| *id).collect());
                    pending = rest;
                }
                metrics.completed_jobs += 1;
                progress.report(&metrics, settled.take(&found, limit, remaining_end));
            }
        }

        let mut traces: Vec<TraceSummary> = found.values().map(Found::summary).collect();
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
        let direct = match &collector {
            Collect::Values { stored, .. } => stored.clone(),
            Collect::Names(_) => None,
        };
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
            let blocks = self.blocks_for(tenant, block_range, &mut metrics).await?;
            let fetch = Arc::new(fetch);
            for meta in blocks {
                if state.lock().full() {
                    break;
                }
                // Plain values without a filter: the store reads just the field's columns.
                if let Some(fields) = &direct {
                    for field in fields {
                        let request = FetchRequest::all(block_range)
                            .with(sextant_model::Condition::exists(field.clone()));
                        let result = flusher
                            .search_block(&meta, &request, &TraceSelect::Values(field.clone()))
                            .await
                            .map_err(ModelError::from)?;
                        metrics.backend_bytes += result.fetched_bytes;
                        metrics.backend_reads += result.row_groups_read as u64;
                        budget.spend(result.examined_otlp_bytes, "tag")?;
                        metrics.inspected_bytes += result.examined_otlp_bytes;
                        state.lock().add_stored(&result.values);
                    }
                    metrics.completed_jobs += 1;
                    continue;
                }
                let result = flusher
                    .search_block(&meta, &fetch, &TraceSelect::All)
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

/// The start a trace must reach to make the answer: that of the `limit`-th newest trace found
/// so far, 0 while fewer are found.
fn floor(found: &HashMap<TraceId, Found>, limit: usize) -> u64 {
    if found.len() >= limit {
        nth_start(found, limit)
    } else {
        0
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
pub(crate) async fn with_timeout<T>(
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
pub(crate) async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> sextant_model::Result<T> + Send + 'static,
) -> sextant_model::Result<T> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| ModelError::internal(format!("search task failed: {e}")))?
}

/// The bytes a query may still examine.
pub(crate) struct Budget {
    max: u64,
    spent: std::sync::atomic::AtomicU64,
}

impl Budget {
    pub(crate) fn new(max: u64) -> Self {
        Self {
            max,
            spent: std::sync::atomic::AtomicU64::new(0),
        }
    }

    pub(crate) fn spend(&self, bytes: u64, what: &str) -> sextant_model::Result<()> {
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
    let root = view.root();
    let mut summary = TraceSummary {
        trace_id: TraceId(id),
        start_time_unix_nano: view.start(),
        duration_nanos: duration,
        ..TraceSummary::default()
    };
    match root {
        Some(r) => {
            summary.root_service_name = service_name(&view, r).to_string();
            summary.root_trace_name = view.span(r).name.clone();
        }
        None => summary.root_service_name = NO_ROOT.to_string(),
    }
    let mut found = Found::new(summary, view.end(), root.is_some());
    for i in 0..view.len() {
        let span = view.span(i);
        let error = span
            .status
            .as_ref()
            .is_some_and(|s| s.code == StatusCode::Error as i32);
        found.count_span(service_name(&view, i), span.span_id.clone(), error);
    }
    if !tag_search {
        for set in sets {
            let matched = set
                .spans
                .iter()
                .map(|m| view.span(m.index).span_id.clone())
                .collect();
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
            let set = SpanSet {
                spans,
                matched: set.spans.len() as u32,
                attributes: key_values(&set.attributes),
            };
            found.add_span_set(set, matched);
        }
    }
    Ok(Some(found))
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

#[cfg(test)]
mod counting;
#[cfg(test)]
mod metrics_tests;
#[cfg(test)]
mod progress_tests;
#[cfg(test)]
mod read_path_tests;
#[cfg(test)]
mod tests;
