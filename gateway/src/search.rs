//! Tempo's search and tag routes (tempo-spec §3.4, §3.5): `/api/search`, `/api/search/tags`,
//! `/api/v2/search/tags`, `/api/search/tag/{tag}/values` and `/api/v2/search/tag/{tag}/values`.
//! Parameters are parsed in [`crate::search_params`], answers rendered in [`crate::search_json`];
//! here each request is put to the [`TraceSearcher`](sextant_model::TraceSearcher) port once per
//! tenant named (`a|b`) and the answers are merged.

use axum::Extension;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use http::header;
use sextant_model::{
    Error, SearchMetrics, SearchRequest, SearchResponse, TagNamesRequest, TagNamesResponse,
    TagScope, TagValue, TagValuesRequest, TagValuesResponse, TraceSummary,
};

use crate::GatewayState;
use crate::error::GatewayError;
use crate::mapping;
use crate::query;
use crate::search_json;
use crate::search_params::{self, Params, SearchBounds, TagApi};
use crate::tenant::TenantSet;

/// The query string as pairs; a string that does not decode is a 400 like any bad parameter.
pub(crate) type RawQuery = Result<Query<Vec<(String, String)>>, QueryRejection>;

pub(crate) fn params(raw: RawQuery) -> Result<Params, GatewayError> {
    raw.map(|Query(pairs)| Params(pairs)).map_err(|rejection| {
        GatewayError::BadParameter(format!("invalid query string: {}", rejection.body_text()))
    })
}

fn bad_request(err: GatewayError) -> Response {
    mapping::query_error_response(&err.into())
}

fn port_error(err: &Error) -> Response {
    mapping::query_error_response(err)
}

fn json(body: String) -> Response {
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// `GET /api/search`.
pub(crate) async fn search(
    State(state): State<GatewayState>,
    Extension(tenants): Extension<TenantSet>,
    raw: RawQuery,
) -> Response {
    query::count_query(&state, &tenants);
    let bounds = search_bounds(&state, &tenants);
    let request = match params(raw).and_then(|p| search_params::search_request(&p, &bounds)) {
        Ok(request) => request,
        Err(err) => return bad_request(err),
    };
    match search_answer(&state, &tenants, request).await {
        Ok(answer) => json(search_json::search(&answer)),
        Err(err) => port_error(&err),
    }
}

/// The limits a search of these tenants is checked against.
pub(crate) fn search_bounds(state: &GatewayState, tenants: &TenantSet) -> SearchBounds {
    let max_spss = tenants
        .iter()
        .map(|t| state.tenants.limits(t).max_spans_per_span_set)
        .min()
        .unwrap_or(0);
    SearchBounds {
        default_limit: state.config.default_search_limit,
        max_limit: state.config.max_search_limit,
        default_spss: state.config.default_spans_per_span_set,
        max_spss,
    }
}

/// Searches every tenant named and merges the answers.
pub(crate) async fn search_answer(
    state: &GatewayState,
    tenants: &TenantSet,
    request: SearchRequest,
) -> Result<SearchResponse, Error> {
    let limit = request.limit;
    let mut answers = Vec::with_capacity(tenants.len());
    for tenant in tenants.iter() {
        answers.push(state.searcher.search(tenant, request.clone()).await?);
    }
    Ok(merge_search(answers, limit))
}

/// `GET /api/search/tags`.
pub(crate) async fn tag_names_v1(
    State(state): State<GatewayState>,
    Extension(tenants): Extension<TenantSet>,
    raw: RawQuery,
) -> Response {
    tag_names(&state, &tenants, raw, TagApi::V1).await
}

/// `GET /api/v2/search/tags`.
pub(crate) async fn tag_names_v2(
    State(state): State<GatewayState>,
    Extension(tenants): Extension<TenantSet>,
    raw: RawQuery,
) -> Response {
    tag_names(&state, &tenants, raw, TagApi::V2).await
}

async fn tag_names(
    state: &GatewayState,
    tenants: &TenantSet,
    raw: RawQuery,
    api: TagApi,
) -> Response {
    query::count_query(state, tenants);
    let request = match params(raw).and_then(|p| search_params::tag_names_request(&p, api)) {
        Ok(request) => request,
        Err(err) => return bad_request(err),
    };
    let merged = match tag_names_answer(state, tenants, request).await {
        Ok(merged) => merged,
        Err(err) => return port_error(&err),
    };
    json(match api {
        TagApi::V1 => search_json::tag_names_v1(&v1_names(merged.scopes), &merged.metrics),
        TagApi::V2 => search_json::tag_names_v2(&merged.scopes, &merged.metrics),
    })
}

/// Asks every tenant named for tag names and merges the answers, keeping only the scopes asked
/// for (whatever the port added).
pub(crate) async fn tag_names_answer(
    state: &GatewayState,
    tenants: &TenantSet,
    request: TagNamesRequest,
) -> Result<TagNamesResponse, Error> {
    let mut answers = Vec::with_capacity(tenants.len());
    for tenant in tenants.iter() {
        answers.push(state.searcher.tag_names(tenant, request.clone()).await?);
    }
    let mut merged = merge_tag_names(answers, request.limit);
    if !request.scopes.is_empty() {
        merged
            .scopes
            .retain(|(scope, _)| request.scopes.contains(scope));
    }
    Ok(merged)
}

/// v1's flat list: every scope's names, sorted, without duplicates.
pub(crate) fn v1_names(scopes: Vec<(TagScope, Vec<String>)>) -> Vec<String> {
    let mut names: Vec<String> = scopes.into_iter().flat_map(|(_, names)| names).collect();
    names.sort();
    names.dedup();
    names
}

/// `GET /api/search/tag/{tag}/values`.
pub(crate) async fn tag_values_v1(
    State(state): State<GatewayState>,
    Extension(tenants): Extension<TenantSet>,
    Path(tag): Path<String>,
    raw: RawQuery,
) -> Response {
    tag_values(&state, &tenants, tag, raw, TagApi::V1).await
}

/// `GET /api/v2/search/tag/{tag}/values`.
pub(crate) async fn tag_values_v2(
    State(state): State<GatewayState>,
    Extension(tenants): Extension<TenantSet>,
    Path(tag): Path<String>,
    raw: RawQuery,
) -> Response {
    tag_values(&state, &tenants, tag, raw, TagApi::V2).await
}

async fn tag_values(
    state: &GatewayState,
    tenants: &TenantSet,
    tag: String,
    raw: RawQuery,
    api: TagApi,
) -> Response {
    query::count_query(state, tenants);
    let request = match params(raw).and_then(|p| search_params::tag_values_request(tag, &p, api)) {
        Ok(request) => request,
        Err(err) => return bad_request(err),
    };
    let merged = match tag_values_answer(state, tenants, request).await {
        Ok(merged) => merged,
        Err(err) => return port_error(&err),
    };
    json(match api {
        TagApi::V1 => search_json::tag_values_v1(&v1_values(merged.values), &merged.metrics),
        TagApi::V2 => search_json::tag_values_v2(&merged.values, &merged.metrics),
    })
}

/// Asks every tenant named for tag values and merges the answers.
pub(crate) async fn tag_values_answer(
    state: &GatewayState,
    tenants: &TenantSet,
    request: TagValuesRequest,
) -> Result<TagValuesResponse, Error> {
    let limit = request.limit;
    let mut answers = Vec::with_capacity(tenants.len());
    for tenant in tenants.iter() {
        answers.push(state.searcher.tag_values(tenant, request.clone()).await?);
    }
    Ok(merge_tag_values(answers, limit))
}

/// v1's untyped list: the values' texts, sorted, without duplicates.
pub(crate) fn v1_values(values: Vec<TagValue>) -> Vec<String> {
    let mut values: Vec<String> = values.into_iter().map(|v| v.value).collect();
    values.sort();
    values.dedup();
    values
}

/// The `limit` newest traces of all answers (latest start first, ties by trace ID ascending),
/// a trace found in several tenants combined into one; metrics summed.
pub(crate) fn merge_search(answers: Vec<SearchResponse>, limit: u32) -> SearchResponse {
    let mut metrics = SearchMetrics::default();
    let mut traces: Vec<TraceSummary> = Vec::new();
    for answer in answers {
        metrics.add(&answer.metrics);
        for trace in answer.traces {
            match traces.iter_mut().find(|t| t.trace_id == trace.trace_id) {
                Some(seen) => combine(seen, trace),
                None => traces.push(trace),
            }
        }
    }
    traces.sort_by(|a, b| {
        b.start_time_unix_nano
            .cmp(&a.start_time_unix_nano)
            .then_with(|| a.trace_id.cmp(&b.trace_id))
    });
    traces.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
    SearchResponse { traces, metrics }
}

/// One trace as two tenants saw it: the wider time span, the root from whichever has it, all
/// span sets, the service counts summed.
fn combine(into: &mut TraceSummary, other: TraceSummary) {
    let end = |t: &TraceSummary| t.start_time_unix_nano.saturating_add(t.duration_nanos);
    let last_end = end(into).max(end(&other));
    into.start_time_unix_nano = into.start_time_unix_nano.min(other.start_time_unix_nano);
    into.duration_nanos = last_end - into.start_time_unix_nano;
    if into.root_trace_name.is_empty() && !other.root_trace_name.is_empty() {
        into.root_service_name = other.root_service_name;
        into.root_trace_name = other.root_trace_name;
    }
    into.span_sets.extend(other.span_sets);
    for (service, stats) in other.service_stats {
        let entry = into.service_stats.entry(service).or_default();
        entry.span_count = entry.span_count.saturating_add(stats.span_count);
        entry.error_count = entry.error_count.saturating_add(stats.error_count);
    }
}

fn truncate<T>(items: &mut Vec<T>, limit: u32) {
    if limit > 0 {
        items.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
    }
}

/// Per scope (in Tempo's order), the union of the names, sorted, at most `limit` (0: all).
pub(crate) fn merge_tag_names(answers: Vec<TagNamesResponse>, limit: u32) -> TagNamesResponse {
    let mut metrics = SearchMetrics::default();
    let mut by_scope: Vec<(TagScope, Vec<String>)> = Vec::new();
    for answer in answers {
        metrics.add(&answer.metrics);
        for (scope, names) in answer.scopes {
            match by_scope.iter_mut().find(|(s, _)| *s == scope) {
                Some((_, all)) => all.extend(names),
                None => by_scope.push((scope, names)),
            }
        }
    }
    by_scope.sort_by_key(|(scope, _)| TagScope::ALL.iter().position(|s| s == scope));
    for (_, names) in &mut by_scope {
        names.sort();
        names.dedup();
        truncate(names, limit);
    }
    TagNamesResponse {
        scopes: by_scope,
        metrics,
    }
}

/// The union of the values, sorted by type then value, at most `limit` (0: all).
pub(crate) fn merge_tag_values(answers: Vec<TagValuesResponse>, limit: u32) -> TagValuesResponse {
    let mut metrics = SearchMetrics::default();
    let mut values: Vec<TagValue> = Vec::new();
    for answer in answers {
        metrics.add(&answer.metrics);
        values.extend(answer.values);
    }
    values.sort();
    values.dedup();
    truncate(&mut values, limit);
    TagValuesResponse { values, metrics }
}
