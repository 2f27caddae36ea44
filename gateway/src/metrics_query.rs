//! Tempo's TraceQL metrics routes (tempo-spec §3.6): `/api/metrics/query_range` and
//! `/api/metrics/query`. Parameters are parsed in [`crate::metrics_params`], answers rendered
//! in [`crate::metrics_json`]; the request goes to the
//! [`MetricsQuerier`](sextant_model::MetricsQuerier) port once per tenant named.
//!
//! Federation (`a|b`): each tenant is queried and the series are concatenated (a series of one
//! tenant is never summed with another's), metrics summed; the answer is partial when any
//! tenant's is.

use axum::Extension;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use http::header;
use sextant_model::{Error, MetricsRequest, MetricsResponse, NoProgress, Progress};

use crate::GatewayState;
use crate::mapping;
use crate::metrics_json;
use crate::metrics_params::{self, MetricsApi};
use crate::search::{RawQuery, params};
use crate::tenant::TenantSet;

/// `GET /api/metrics/query_range`.
pub(crate) async fn query_range(
    State(state): State<GatewayState>,
    Extension(tenants): Extension<TenantSet>,
    raw: RawQuery,
) -> Response {
    answer(&state, &tenants, raw, MetricsApi::Range).await
}

/// `GET /api/metrics/query`.
pub(crate) async fn query_instant(
    State(state): State<GatewayState>,
    Extension(tenants): Extension<TenantSet>,
    raw: RawQuery,
) -> Response {
    answer(&state, &tenants, raw, MetricsApi::Instant).await
}

async fn answer(
    state: &GatewayState,
    tenants: &TenantSet,
    raw: RawQuery,
    api: MetricsApi,
) -> Response {
    crate::query::count_query(state, tenants);
    let now = now_nanos(state);
    let request = match params(raw).and_then(|p| metrics_params::metrics_request(&p, api, now)) {
        Ok(request) => request,
        Err(err) => return mapping::query_error_response(&err.into()),
    };
    let instant = request.instant;
    match run(state, tenants, request, &NoProgress).await {
        Ok(answer) => {
            let body = if instant {
                metrics_json::query_instant(&answer)
            } else {
                metrics_json::query_range(&answer)
            };
            ([(header::CONTENT_TYPE, "application/json")], body).into_response()
        }
        Err(err) => mapping::query_error_response(&err),
    }
}

/// The gateway clock's now, in Unix nanoseconds.
pub(crate) fn now_nanos(state: &GatewayState) -> u64 {
    state
        .clock
        .now()
        .duration_since(std::time::SystemTime::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

/// Checks the range against every tenant's `max_metrics_duration` and queries each tenant;
/// `progress` hears the query of a single tenant only (a federated one answers at the end).
pub(crate) async fn run(
    state: &GatewayState,
    tenants: &TenantSet,
    request: MetricsRequest,
    progress: &dyn Progress,
) -> Result<MetricsResponse, Error> {
    for tenant in tenants.iter() {
        let max = state.tenants.limits(tenant).max_metrics_duration;
        metrics_params::check_duration(&request, max)?;
    }
    let progress: &dyn Progress = if tenants.len() == 1 {
        progress
    } else {
        &NoProgress
    };
    let mut merged = MetricsResponse::default();
    for tenant in tenants.iter() {
        let answer = state
            .metrics_querier
            .query_range(tenant, request.clone(), progress)
            .await?;
        merged.series.extend(answer.series);
        merged.metrics.add(&answer.metrics);
        if answer.partial {
            merged.partial = true;
            if !merged.message.is_empty() {
                merged.message.push_str("; ");
            }
            merged.message.push_str(&answer.message);
        }
    }
    Ok(merged)
}
