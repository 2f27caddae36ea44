//! TraceQL metrics over live traces and blocks ([`MetricsQuerier`] for [`Pipeline`]).
//!
//! A metrics query reads every trace that can contribute to its time window — memory first,
//! then each block the catalog lists for the window, pre-filtered by the store on the query's
//! conditions — and feeds each to the evaluator ([`sextant_traceql::Metrics`]), off the async
//! executor. The evaluator turns the matching spans into series on the query's time grid.
//! Blocks decode only the parts of each span the query reads ([`sextant_traceql::Needs`]):
//! `{ } | rate() by (resource.service.name)` leaves attributes, events and links undecoded.
//!
//! Spans are counted once across memory and blocks: a flush registers its block before the
//! traces leave memory, so a trace can be in both; spans of a block trace already seen in
//! memory are left out. Two blocks holding the same span (a client retry after a lost answer,
//! before compaction) count it twice, as Tempo does before compaction.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use sextant_model::otlp::TracesData;
use sextant_model::{
    Error as ModelError, Limits, MetricsQuerier, MetricsRequest, MetricsResponse, Progress,
    SearchMetrics, TenantId, TraceId,
};
use sextant_store::{Projection, TraceSelect};
use sextant_traceql::{Grid, Metrics, RootExpr, TraceView};

use crate::Pipeline;
use crate::querier;
use crate::search::{Budget, blocking, with_timeout};

#[async_trait]
impl MetricsQuerier for Pipeline {
    async fn query_range(
        &self,
        tenant: &TenantId,
        request: MetricsRequest,
        progress: &dyn Progress,
    ) -> sextant_model::Result<MetricsResponse> {
        let limits = self.tenants.limits(tenant);
        if request.end <= request.start {
            return Err(ModelError::bad_request(
                "invalid time range: end must be after start",
            ));
        }
        let span = Duration::from_nanos(request.end - request.start);
        if span > limits.max_metrics_duration {
            return Err(ModelError::bad_request(format!(
                "metrics query time range exceeds the maximum allowed duration of {}",
                humantime::format_duration(limits.max_metrics_duration)
            )));
        }
        let query = sextant_traceql::parse(&request.query)
            .map_err(|e| ModelError::bad_request(format!("invalid TraceQL query: {e}")))?;
        if !matches!(query.root, RootExpr::Metrics(_)) {
            return Err(ModelError::bad_request(
                "not a metrics query: end the query with a metrics function such as `| rate()`",
            ));
        }
        let cap = usize::try_from(limits.max_metrics_series).unwrap_or(usize::MAX);
        let max_series = match request.max_series as usize {
            0 => cap,
            asked => asked.min(cap),
        };
        let grid = Grid::new(request.start, request.end, request.step, request.instant);
        let eval = Metrics::new(&query, grid, max_series, request.exemplars as usize)
            .map_err(|e| ModelError::bad_request(format!("invalid TraceQL query: {e}")))?;
        // Blocks decode only the span parts the query reads.
        let needs = query.needs();
        let projection = Projection {
            span_attributes: needs.span_attributes,
            events: needs.events,
            links: needs.links,
            status_message: needs.status_message,
            trace_state: false,
        };
        let mut response = with_timeout(
            &limits,
            "metrics",
            self.run_metrics(tenant, eval, projection, &limits, progress),
        )
        .await?;
        if response.partial {
            response.message = format!(
                "the query produced more than {max_series} series; the answer holds the first {max_series}"
            );
        }
        Ok(response)
    }
}

impl Pipeline {
    async fn run_metrics(
        &self,
        tenant: &TenantId,
        eval: Metrics,
        projection: Projection,
        limits: &Limits,
        progress: &dyn Progress,
    ) -> sextant_model::Result<MetricsResponse> {
        let fetch = Arc::new(eval.fetch_request());
        let window = fetch.range;
        let budget = Budget::new(limits.max_search_bytes);
        let mut metrics = SearchMetrics::default();

        // Memory is snapshotted before the blocks are listed (see the module doc).
        let live = self.ingester.snapshot(tenant, Some(window));
        metrics.total_jobs += 1;
        let blocks = self.blocks_for(tenant, window, &mut metrics).await?;

        let (mut eval, seen, m) = blocking(move || {
            let mut eval = eval;
            let mut m = SearchMetrics::default();
            let mut seen: HashMap<TraceId, HashSet<Vec<u8>>> = HashMap::new();
            for (id, segments) in live {
                let Some(lookup) = querier::merge(segments) else {
                    continue;
                };
                m.inspected_bytes += lookup.inspected_bytes;
                observe(&mut eval, &lookup.trace, &mut m)?;
                seen.insert(id, span_ids(&lookup.trace));
            }
            Ok((eval, seen, m))
        })
        .await?;
        budget.spend(m.inspected_bytes, "metrics")?;
        metrics.add(&m);
        metrics.completed_jobs += 1;
        progress.report(&metrics, Vec::new());
        let seen = Arc::new(seen);

        if let Some(flusher) = &self.flusher {
            for meta in &blocks {
                let result = flusher
                    .search_block(meta, &fetch, &TraceSelect::Projected(projection))
                    .await
                    .map_err(ModelError::from)?;
                metrics.backend_bytes += result.fetched_bytes;
                metrics.backend_reads +=
                    (result.row_groups_read + result.row_groups_fetched) as u64;
                let examined = result.examined_otlp_bytes;
                budget.spend(examined, "metrics")?;
                let seen = Arc::clone(&seen);
                let (back, m) = blocking(move || {
                    let mut eval = eval;
                    let mut m = SearchMetrics {
                        inspected_bytes: examined,
                        ..SearchMetrics::default()
                    };
                    for (id, mut trace) in result.traces {
                        if let Some(known) = seen.get(&id) {
                            drop_spans(&mut trace, known);
                        }
                        observe(&mut eval, &trace, &mut m)?;
                    }
                    Ok((eval, m))
                })
                .await?;
                eval = back;
                metrics.add(&m);
                metrics.completed_jobs += 1;
                progress.report(&metrics, Vec::new());
            }
        }

        let output = blocking(move || Ok(eval.finish())).await?;
        Ok(MetricsResponse {
            series: output.series,
            metrics,
            partial: output.truncated,
            message: String::new(),
        })
    }
}

/// Feeds one trace to the evaluator.
fn observe(
    eval: &mut Metrics,
    trace: &TracesData,
    metrics: &mut SearchMetrics,
) -> sextant_model::Result<()> {
    let view = TraceView::new(trace);
    if view.is_empty() {
        return Ok(());
    }
    metrics.inspected_traces = metrics.inspected_traces.saturating_add(1);
    metrics.inspected_spans += view.len() as u64;
    eval.observe(&view)
        .map_err(|e| ModelError::bad_request(format!("cannot evaluate the query: {e}")))
}

/// The span IDs of a trace.
fn span_ids(trace: &TracesData) -> HashSet<Vec<u8>> {
    trace
        .resource_spans
        .iter()
        .flat_map(|rs| &rs.scope_spans)
        .flat_map(|ss| &ss.spans)
        .map(|s| s.span_id.clone())
        .collect()
}

/// Removes the spans already counted.
fn drop_spans(trace: &mut TracesData, known: &HashSet<Vec<u8>>) {
    for rs in &mut trace.resource_spans {
        for ss in &mut rs.scope_spans {
            ss.spans.retain(|s| !known.contains(&s.span_id));
        }
        rs.scope_spans.retain(|ss| !ss.spans.is_empty());
    }
    trace.resource_spans.retain(|rs| !rs.scope_spans.is_empty());
}
