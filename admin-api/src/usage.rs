//! Metered usage of a tenant per UTC day.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::{Path, Query, State};
use serde::{Deserialize, Serialize};
use sextant_tenancy::{UsageRow, UsageStore, UtcDay};
use utoipa::{IntoParams, ToSchema};

use crate::error::{AdminError, ErrorBody, FieldDetail, Result};
use crate::keys::existing_tenant;
use crate::state::AdminState;
use crate::views::path_tenant;

/// The longest range one request covers, in days.
pub(crate) const MAX_DAYS: i32 = 366;
/// The range without `from`: the last 30 UTC days.
const DEFAULT_DAYS: i32 = 30;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct UsageParams {
    /// First UTC day, `YYYY-MM-DD` (default: 29 days before `to`).
    from: Option<String>,
    /// Last UTC day, inclusive (default: today).
    to: Option<String>,
}

/// Spans and bytes discarded for one reason.
#[derive(Debug, Default, Clone, Copy, Serialize, ToSchema)]
pub(crate) struct Discarded {
    pub(crate) spans: u64,
    pub(crate) bytes: u64,
}

/// One UTC day.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct DayUsage {
    /// `YYYY-MM-DD`.
    pub(crate) day: String,
    /// Decompressed bytes accepted (what quotas count).
    pub(crate) accepted_bytes: u64,
    pub(crate) accepted_spans: u64,
    /// By reason: `rate_limited`, `trace_too_large`, `quota_exceeded`, ...
    pub(crate) discarded: BTreeMap<String, Discarded>,
    /// Query-API requests.
    pub(crate) queries: u64,
    /// Bytes in blocks that day (a level, not a sum).
    pub(crate) stored_bytes: u64,
    /// Blocks that day (a level).
    pub(crate) stored_blocks: u64,
}

/// Sums over the range; `stored_*` are the level of the last day with usage.
#[derive(Debug, Default, Serialize, ToSchema)]
pub(crate) struct UsageTotals {
    pub(crate) accepted_bytes: u64,
    pub(crate) accepted_spans: u64,
    pub(crate) discarded: BTreeMap<String, Discarded>,
    pub(crate) queries: u64,
    pub(crate) stored_bytes: u64,
    pub(crate) stored_blocks: u64,
}

/// A tenant's usage over a range of UTC days.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct UsageReport {
    pub(crate) tenant: String,
    pub(crate) from: String,
    pub(crate) to: String,
    /// The days with usage, oldest first.
    pub(crate) days: Vec<DayUsage>,
    pub(crate) totals: UsageTotals,
}

fn day_view(row: &UsageRow) -> DayUsage {
    DayUsage {
        day: row.day.to_string(),
        accepted_bytes: row.accepted_bytes,
        accepted_spans: row.accepted_spans,
        discarded: row
            .discarded
            .iter()
            .map(|(reason, (spans, bytes))| {
                (
                    reason.as_str().to_owned(),
                    Discarded {
                        spans: *spans,
                        bytes: *bytes,
                    },
                )
            })
            .collect(),
        queries: row.queries,
        stored_bytes: row.stored_bytes,
        stored_blocks: row.stored_blocks,
    }
}

fn day_param(name: &str, text: Option<&str>, details: &mut Vec<FieldDetail>) -> Option<UtcDay> {
    let text = text.filter(|t| !t.is_empty())?;
    match text.parse::<UtcDay>() {
        Ok(day) => Some(day),
        Err(_) => {
            details.push(FieldDetail::new(name, "must be a date YYYY-MM-DD"));
            None
        }
    }
}

/// Usage per UTC day: accepted bytes and spans, discards by reason, queries and stored data.
#[utoipa::path(
    get,
    path = "/admin/api/v1/tenants/{id}/usage",
    tag = "usage",
    params(("id" = String, Path, description = "Tenant ID"), UsageParams),
    responses(
        (status = 200, description = "Usage per day and totals", body = UsageReport),
        (status = 400, description = "Invalid range", body = ErrorBody),
        (status = 404, description = "No such tenant", body = ErrorBody),
    )
)]
pub(crate) async fn get(
    State(state): State<AdminState>,
    Path(id): Path<String>,
    Query(params): Query<UsageParams>,
) -> Result<Json<UsageReport>> {
    let tenant = path_tenant(&id)?;
    let mut details = Vec::new();
    let from = day_param("from", params.from.as_deref(), &mut details);
    let to = day_param("to", params.to.as_deref(), &mut details);
    if !details.is_empty() {
        return Err(AdminError::Validation(details));
    }
    let to = to.unwrap_or_else(|| UtcDay::of(state.now()));
    let from = from.unwrap_or(UtcDay(to.0 - (DEFAULT_DAYS - 1)));
    if from > to {
        return Err(AdminError::invalid("from", "must not be after to"));
    }
    if to.0 - from.0 >= MAX_DAYS {
        return Err(AdminError::invalid(
            "from",
            format!("the range is at most {MAX_DAYS} days"),
        ));
    }
    existing_tenant(&state, &tenant).await?;
    let rows = state.db.usage(&tenant, from, to).await?;
    let mut totals = UsageTotals::default();
    for row in &rows {
        totals.accepted_bytes = totals.accepted_bytes.saturating_add(row.accepted_bytes);
        totals.accepted_spans = totals.accepted_spans.saturating_add(row.accepted_spans);
        totals.queries = totals.queries.saturating_add(row.queries);
        totals.stored_bytes = row.stored_bytes;
        totals.stored_blocks = row.stored_blocks;
        for (reason, (spans, bytes)) in &row.discarded {
            let slot = totals
                .discarded
                .entry(reason.as_str().to_owned())
                .or_default();
            slot.spans = slot.spans.saturating_add(*spans);
            slot.bytes = slot.bytes.saturating_add(*bytes);
        }
    }
    Ok(Json(UsageReport {
        tenant: tenant.to_string(),
        from: from.to_string(),
        to: to.to_string(),
        days: rows.iter().map(day_view).collect(),
        totals,
    }))
}
