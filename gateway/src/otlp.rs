//! The one OTLP core: every transport (OTLP/HTTP protobuf and JSON, OTLP gRPC) hands the raw,
//! decompressed request bytes to [`export`], which pushes them to the ingest port and builds
//! the `ExportTraceServiceResponse`.

use bytes::Bytes;
use prost::Message;
use sextant_model::otlp::{ExportTracePartialSuccess, ExportTraceServiceResponse};
use sextant_model::{Payload, PayloadFormat, PushOutcome, TenantId};

use crate::GatewayState;
use crate::mapping::Encoding;

/// Pushes one export request to the ingest port.
pub(crate) async fn export(
    state: &GatewayState,
    tenant: &TenantId,
    format: PayloadFormat,
    body: Bytes,
) -> sextant_model::Result<ExportTraceServiceResponse> {
    let outcome = state.ingest.push(tenant, Payload { format, body }).await?;
    Ok(export_response(&outcome))
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
