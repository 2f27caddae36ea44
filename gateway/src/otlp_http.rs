//! OTLP/HTTP: `POST /v1/traces` (and `/otlp/v1/traces`) with protobuf or JSON bodies, gzip,
//! deflate, zstd or identity encoded.

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::{Extension, body::Body};
use bytes::Bytes;
use http::{HeaderMap, StatusCode, header};
use sextant_model::{PayloadFormat, TenantId};

use crate::GatewayState;
use crate::decompress::{self, ContentEncoding};
use crate::error::GatewayError;
use crate::mapping::{self, Encoding};
use crate::otlp;

/// Raw (as sent, before decompression) request body bytes, for the access log.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RequestBytes(pub(crate) u64);

/// The OTLP encoding named by `Content-Type` (parameters such as `charset` are ignored).
pub(crate) fn request_encoding(headers: &HeaderMap) -> Result<Encoding, GatewayError> {
    let raw = headers
        .get(header::CONTENT_TYPE)
        .map(|v| v.to_str().unwrap_or("\u{fffd}"))
        .unwrap_or_default();
    let essence = raw.split(';').next().unwrap_or_default().trim();
    match essence.to_ascii_lowercase().as_str() {
        "application/x-protobuf" | "application/protobuf" => Ok(Encoding::Protobuf),
        "application/json" => Ok(Encoding::Json),
        _ => Err(GatewayError::UnsupportedContentType(
            raw.chars().take(64).collect(),
        )),
    }
}

/// An error answer, with 415 instead of the kind's status for an unsupported media type.
fn refuse(err: GatewayError, encoding: Encoding) -> Response {
    let unsupported = matches!(
        err,
        GatewayError::UnsupportedContentType(_) | GatewayError::UnsupportedContentEncoding(_)
    );
    let mut response = mapping::otlp_error_response(&err.into(), encoding);
    if unsupported {
        *response.status_mut() = StatusCode::UNSUPPORTED_MEDIA_TYPE;
    }
    response
}

/// Middleware: checks the media type and encoding from the headers, reads the body with the
/// cap, decompresses it with the cap on the decompressed size and hands the handler the
/// decompressed bytes.
pub(crate) async fn limit_and_decompress(
    State(state): State<GatewayState>,
    request: Request,
    next: Next,
) -> Response {
    if request.method() != http::Method::POST {
        // Let the router answer 405 without looking at the body.
        return next.run(request).await;
    }
    let encoding = match request_encoding(request.headers()) {
        Ok(e) => e,
        Err(err) => return refuse(err, Encoding::Protobuf),
    };
    let content_encoding = match ContentEncoding::from_headers(request.headers()) {
        Ok(e) => e,
        Err(err) => return refuse(err, encoding),
    };
    let cap = state.config.max_body();
    let (mut parts, body) = request.into_parts();
    let raw = match decompress::read_capped(&parts.headers, body, cap).await {
        Ok(raw) => raw,
        Err(err) => return refuse(err, encoding),
    };
    let raw_len = raw.len() as u64;
    if let Some(tenant) = parts.extensions.get::<TenantId>() {
        state
            .metrics
            .received(tenant.as_str(), "otlp_http", raw_len);
    }
    let decoded = match decompress::decompress(content_encoding, raw, cap).await {
        Ok(decoded) => decoded,
        Err(err) => {
            let mut response = refuse(err, encoding);
            response.extensions_mut().insert(RequestBytes(raw_len));
            return response;
        }
    };
    parts.headers.remove(header::CONTENT_ENCODING);
    parts.headers.remove(header::CONTENT_LENGTH);
    let mut response = next
        .run(Request::from_parts(parts, Body::from(decoded)))
        .await;
    response.extensions_mut().insert(RequestBytes(raw_len));
    response
}

/// `POST /v1/traces`: the body is already decompressed and within the cap.
pub(crate) async fn export(
    State(state): State<GatewayState>,
    Extension(tenant): Extension<TenantId>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let encoding = match request_encoding(&headers) {
        Ok(e) => e,
        Err(err) => return refuse(err, Encoding::Protobuf),
    };
    let format = match encoding {
        Encoding::Protobuf => PayloadFormat::OtlpProtobuf,
        Encoding::Json => PayloadFormat::OtlpJson,
    };
    match otlp::export(&state, &tenant, format, body).await {
        Ok(response) => (
            [(header::CONTENT_TYPE, encoding.content_type())],
            otlp::encode_response(&response, encoding),
        )
            .into_response(),
        Err(err) => mapping::otlp_error_response(&err, encoding),
    }
}
