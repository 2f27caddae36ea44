//! Tempo's query API (tempo-spec §3.1–3.3, §3.8): echo, build info and trace by ID (v1 and v2,
//! JSON or protobuf). Errors are plain text with Tempo's status codes.

use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use http::{HeaderMap, StatusCode, header};
use prost::Message;
use serde::Deserialize;
use sextant_model::{TimeRange, TraceId, TraceLookup, UsageDelta};

use crate::GatewayState;
use crate::error::GatewayError;
use crate::mapping;
use crate::tempo_json;
use crate::tempopb::{PartialStatus, Trace, TraceByIdMetrics, TraceByIdResponse};
use crate::tenant::TenantSet;

const PROTOBUF: &str = "application/protobuf";

/// `GET /api/echo`: Grafana's health check.
pub(crate) async fn echo() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        "echo",
    )
}

/// `GET /api/status/buildinfo`.
pub(crate) async fn buildinfo(State(state): State<GatewayState>) -> impl IntoResponse {
    let b = &state.build;
    Json(serde_json::json!({
        "version": b.version,
        "revision": b.revision,
        "branch": b.branch,
        "buildUser": b.build_user,
        "buildDate": b.build_date,
        "goVersion": b.go_version,
    }))
}

/// `start`/`end` as sent; parsed by [`time_range`] so that errors can say what was wrong.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct RangeParams {
    start: Option<String>,
    end: Option<String>,
}

fn parse_seconds(name: &str, value: Option<&str>) -> Result<u64, GatewayError> {
    match value.map(str::trim) {
        None | Some("") => Ok(0),
        Some(v) => v.parse::<u64>().map_err(|_| {
            GatewayError::BadParameter(format!(
                "invalid {name} {:?}: expected unix seconds",
                v.chars().take(40).collect::<String>()
            ))
        }),
    }
}

/// The range to search: only when both `start` and `end` are given and non-zero (Grafana sends
/// them only then); `end` must be after `start`.
pub(crate) fn time_range(params: &RangeParams) -> Result<Option<TimeRange>, GatewayError> {
    parse_range(params.start.as_deref(), params.end.as_deref())
}

/// [`time_range`] from the raw `start` and `end` values.
pub(crate) fn parse_range(
    start: Option<&str>,
    end: Option<&str>,
) -> Result<Option<TimeRange>, GatewayError> {
    let start = parse_seconds("start", start)?;
    let end = parse_seconds("end", end)?;
    if start == 0 || end == 0 {
        return Ok(None);
    }
    if end <= start {
        return Err(GatewayError::BadParameter(format!(
            "invalid time range: end ({end}) must be after start ({start})"
        )));
    }
    Ok(Some(TimeRange::from_unix_seconds(start, end)))
}

fn wants_protobuf(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|v| v.split(';').next().unwrap_or_default().trim() == PROTOBUF)
}

/// Parses the request and looks the trace up in every tenant named (`a|b`), concatenating what
/// each has and summing the bytes inspected; `Err` is the finished answer for a bad request, a
/// failed lookup in any tenant, or a trace no tenant has (404 with an empty body).
async fn lookup(
    state: &GatewayState,
    tenants: &TenantSet,
    id: &str,
    params: &RangeParams,
) -> Result<TraceLookup, Response> {
    let bad = |err: GatewayError| mapping::query_error_response(&err.into());
    let trace_id = TraceId::parse_hex(id.trim())
        .map_err(|e| bad(GatewayError::BadParameter(e.to_string())))?;
    let range = time_range(params).map_err(bad)?;
    let mut merged: Option<TraceLookup> = None;
    for tenant in tenants.iter() {
        let found = state
            .reader
            .trace_by_id(tenant, trace_id, range)
            .await
            .map_err(|err| mapping::query_error_response(&err))?;
        if let Some(found) = found {
            match &mut merged {
                None => merged = Some(found),
                Some(all) => {
                    all.trace.resource_spans.extend(found.trace.resource_spans);
                    all.inspected_bytes += found.inspected_bytes;
                }
            }
        }
    }
    merged.ok_or_else(|| StatusCode::NOT_FOUND.into_response())
}

/// Counts one query-API request in the usage of each tenant it reads (a federated `a|b` query
/// counts once for each). Usage only: no quota reads it.
pub(crate) fn count_query(state: &GatewayState, tenants: &TenantSet) {
    let now = state.clock.now();
    let delta = UsageDelta {
        queries: 1,
        ..UsageDelta::default()
    };
    for tenant in tenants.iter() {
        state.usage.record(tenant, now, &delta);
    }
}

/// `GET /api/traces/{id}`: `tempopb.Trace` (protobuf) or `{"batches":[...]}`; 404 with an empty
/// body when unknown.
pub(crate) async fn trace_v1(
    State(state): State<GatewayState>,
    Extension(tenants): Extension<TenantSet>,
    Path(id): Path<String>,
    Query(params): Query<RangeParams>,
    headers: HeaderMap,
) -> Response {
    count_query(&state, &tenants);
    let found = match lookup(&state, &tenants, &id, &params).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    if wants_protobuf(&headers) {
        let body = Trace {
            resource_spans: found.trace.resource_spans,
        }
        .encode_to_vec();
        ([(header::CONTENT_TYPE, PROTOBUF)], body).into_response()
    } else {
        let body = tempo_json::trace_v1(&found.trace.resource_spans);
        ([(header::CONTENT_TYPE, "application/json")], body).into_response()
    }
}

/// `GET /api/v2/traces/{id}`: `tempopb.TraceByIDResponse`. An unknown trace is answered 404
/// (Tempo answers 200 with an empty `trace`); Grafana then falls back to v1, which also answers
/// 404, and reports the trace as not found — one extra round trip, same outcome.
pub(crate) async fn trace_v2(
    State(state): State<GatewayState>,
    Extension(tenants): Extension<TenantSet>,
    Path(id): Path<String>,
    Query(params): Query<RangeParams>,
    headers: HeaderMap,
) -> Response {
    count_query(&state, &tenants);
    let found = match lookup(&state, &tenants, &id, &params).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    // The ports report no partial traces yet, so the status is always COMPLETE.
    if wants_protobuf(&headers) {
        let body = v2_protobuf(found);
        ([(header::CONTENT_TYPE, PROTOBUF)], body).into_response()
    } else {
        let body = tempo_json::trace_v2(&found.trace.resource_spans, found.inspected_bytes, None);
        ([(header::CONTENT_TYPE, "application/json")], body).into_response()
    }
}

/// Always sets `trace`, even when empty: Grafana dereferences it without a nil check.
pub(crate) fn v2_protobuf(found: TraceLookup) -> Vec<u8> {
    TraceByIdResponse {
        trace: Some(Trace {
            resource_spans: found.trace.resource_spans,
        }),
        metrics: Some(TraceByIdMetrics {
            inspected_bytes: found.inspected_bytes,
        }),
        status: PartialStatus::Complete as i32,
        message: String::new(),
    }
    .encode_to_vec()
}
