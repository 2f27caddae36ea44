//! The one OTLP core: every transport (OTLP/HTTP protobuf and JSON, OTLP gRPC) hands the raw,
//! decompressed request bytes to [`export`], which applies the tenant's quotas and ingest rate
//! (both counted in decompressed bytes), pushes them to the ingest port, meters the usage and
//! builds the `ExportTraceServiceResponse`.
//!
//! Order, cheapest refusal first: quota (a tenant at or over its daily or monthly quota is
//! refused until the UTC reset; the batch that crosses the line is still accepted, so a tenant
//! overshoots by at most one batch), then a batch larger than the burst (413, never retryable),
//! then the token bucket (429 with the wait). Refused requests take no tokens after the check
//! that refused them and are metered as discarded bytes with zero spans. An accepted request is
//! metered with all its decompressed bytes (spans rejected individually included, since they were
//! received) and the pipeline's per-reason discard counts; a 503 from the pipeline is metered
//! as discarded `unavailable` bytes.

use std::time::SystemTime;

use bytes::Bytes;
use prost::Message;
use sextant_model::otlp::{ExportTracePartialSuccess, ExportTraceServiceResponse};
use sextant_model::{
    Discard, DiscardReason, Error, ErrorKind, Limits, Payload, PayloadFormat, PeriodUsage,
    PushOutcome, TenantId, UsageDelta,
};

use crate::GatewayState;
use crate::clock::{until_next_utc_day, until_next_utc_month};
use crate::limiter::Admission;
use crate::mapping::Encoding;
use crate::metrics::RefusalReason;

/// Pushes one export request to the ingest port, within the tenant's limits.
pub(crate) async fn export(
    state: &GatewayState,
    tenant: &TenantId,
    format: PayloadFormat,
    body: Bytes,
) -> sextant_model::Result<ExportTraceServiceResponse> {
    let bytes = body.len() as u64;
    admit(state, tenant, bytes)?;
    let result = state.ingest.push(tenant, Payload { format, body }).await;
    let delta = match &result {
        Ok(outcome) => Some(UsageDelta {
            accepted_bytes: bytes,
            accepted_spans: outcome.accepted_spans,
            queries: 0,
            discarded: outcome
                .discarded
                .iter()
                .map(|&(reason, spans)| Discard {
                    reason,
                    spans,
                    bytes: 0,
                })
                .collect(),
        }),
        Err(err) if err.kind == ErrorKind::Unavailable => {
            Some(discarded(DiscardReason::Unavailable, bytes))
        }
        Err(_) => None,
    };
    if let Some(delta) = delta {
        state.usage.record(tenant, state.clock.now(), &delta);
    }
    Ok(export_response(&result?))
}

fn discarded(reason: DiscardReason, bytes: u64) -> UsageDelta {
    UsageDelta {
        discarded: vec![Discard {
            reason,
            spans: 0,
            bytes,
        }],
        ..Default::default()
    }
}

/// Quota, burst and rate checks for `bytes` decompressed bytes; a refusal is metered.
fn admit(state: &GatewayState, tenant: &TenantId, bytes: u64) -> sextant_model::Result<()> {
    let limits = state.tenants.limits(tenant);
    let now = state.clock.now();
    let refused = |reason: RefusalReason, discard: DiscardReason, err: Error| {
        state.metrics.refused(tenant.as_str(), reason, bytes);
        state.usage.record(tenant, now, &discarded(discard, bytes));
        Err(err)
    };
    if limits.daily_ingest_bytes > 0 || limits.monthly_ingest_bytes > 0 {
        let usage = state.usage.usage(tenant, now);
        if let Some(err) = quota_refusal(&limits, usage, now) {
            return refused(
                RefusalReason::QuotaExceeded,
                DiscardReason::QuotaExceeded,
                err,
            );
        }
    }
    let (rate, burst) = (limits.ingestion_rate_bytes, limits.ingestion_burst_bytes);
    match state.limiters.ingest.admit(tenant, rate, burst, bytes) {
        Admission::Allowed => Ok(()),
        Admission::TooLarge => {
            let burst = if burst == 0 { rate } else { burst };
            let err = Error::new(
                ErrorKind::TooLarge,
                format!(
                    "batch size ({bytes} bytes) exceeds the ingestion burst of {burst} bytes: send smaller batches"
                ),
            );
            refused(
                RefusalReason::BatchTooLarge,
                DiscardReason::RateLimited,
                err,
            )
        }
        Admission::Wait(wait) => {
            let err = Error::new(
                ErrorKind::RateLimited,
                format!(
                    "ingestion rate limit ({rate} bytes per second) exceeded while adding {bytes} bytes"
                ),
            )
            .with_retry_after(wait);
            refused(RefusalReason::RateLimited, DiscardReason::RateLimited, err)
        }
    }
}

/// A tenant at or over its daily or monthly quota (0 = none) is refused until the quota resets;
/// the hint is the time to the later reset when both are used up.
pub(crate) fn quota_refusal(limits: &Limits, usage: PeriodUsage, now: SystemTime) -> Option<Error> {
    let monthly =
        limits.monthly_ingest_bytes > 0 && usage.month_bytes >= limits.monthly_ingest_bytes;
    let daily = limits.daily_ingest_bytes > 0 && usage.day_bytes >= limits.daily_ingest_bytes;
    let (message, wait) = if monthly {
        (
            format!(
                "monthly ingest quota of {} bytes is used up until the start of the next UTC month",
                limits.monthly_ingest_bytes
            ),
            until_next_utc_month(now),
        )
    } else if daily {
        (
            format!(
                "daily ingest quota of {} bytes is used up until 00:00 UTC",
                limits.daily_ingest_bytes
            ),
            until_next_utc_day(now),
        )
    } else {
        return None;
    };
    Some(Error::new(ErrorKind::QuotaExceeded, message).with_retry_after(wait))
}

/// `partial_success` is set only when spans were rejected or there is a message (a warning), as
/// the OTLP specification asks.
pub(crate) fn export_response(outcome: &PushOutcome) -> ExportTraceServiceResponse {
    let partial = outcome.rejected_spans > 0 || !outcome.message.is_empty();
    ExportTraceServiceResponse {
        partial_success: partial.then(|| ExportTracePartialSuccess {
            rejected_spans: i64::try_from(outcome.rejected_spans).unwrap_or(i64::MAX),
            error_message: outcome.message.clone(),
        }),
    }
}

/// The response in the request's encoding. OTLP/JSON is protobuf-JSON: `rejectedSpans` is an
/// int64 and therefore a string; zero and empty fields are omitted.
pub(crate) fn encode_response(response: &ExportTraceServiceResponse, encoding: Encoding) -> Bytes {
    match encoding {
        Encoding::Protobuf => response.encode_to_vec().into(),
        Encoding::Json => {
            // Written by hand to keep the fields in `.proto` order.
            let mut out = String::from("{");
            if let Some(partial) = &response.partial_success {
                out.push_str("\"partialSuccess\":{");
                let mut fields = Vec::new();
                if partial.rejected_spans != 0 {
                    fields.push(format!("\"rejectedSpans\":\"{}\"", partial.rejected_spans));
                }
                if !partial.error_message.is_empty() {
                    fields.push(format!(
                        "\"errorMessage\":{}",
                        serde_json::Value::from(partial.error_message.as_str())
                    ));
                }
                out.push_str(&fields.join(","));
                out.push('}');
            }
            out.push('}');
            out.into()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partial_success_only_when_something_to_say() {
        let full = export_response(&PushOutcome {
            accepted_spans: 3,
            ..Default::default()
        });
        assert_eq!(full.partial_success, None);
        assert_eq!(encode_response(&full, Encoding::Json).as_ref(), b"{}");
        assert!(encode_response(&full, Encoding::Protobuf).is_empty());

        let warn = export_response(&PushOutcome {
            accepted_spans: 3,
            rejected_spans: 0,
            message: "w".into(),
            ..Default::default()
        });
        assert_eq!(
            encode_response(&warn, Encoding::Json).as_ref(),
            br#"{"partialSuccess":{"errorMessage":"w"}}"#
        );
    }
}
