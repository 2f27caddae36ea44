//! The one place that maps [`ErrorKind`]s to HTTP statuses and gRPC codes (DESIGN §4), and
//! renders error bodies: `google.rpc.Status` for OTLP, plain text for Tempo's query API.

use std::time::Duration;

use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::{HeaderValue, StatusCode, header};
use prost::Message;
use sextant_model::{Error, ErrorKind};

use crate::rpc_status::RpcStatus;

/// What a client sees instead of an internal error's message.
pub(crate) const INTERNAL_MESSAGE: &str = "internal error";

/// Put on a response whose error detail must be logged (with the request id) but not shown.
#[derive(Debug, Clone)]
pub(crate) struct InternalDetail(pub(crate) String);

/// How an OTLP/HTTP request was encoded; responses use the same encoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Encoding {
    Protobuf,
    Json,
}

impl Encoding {
    pub(crate) fn content_type(self) -> &'static str {
        match self {
            Self::Protobuf => "application/x-protobuf",
            Self::Json => "application/json",
        }
    }
}

pub(crate) fn http_status(kind: ErrorKind) -> StatusCode {
    match kind {
        ErrorKind::BadRequest => StatusCode::BAD_REQUEST,
        ErrorKind::Unauthenticated => StatusCode::UNAUTHORIZED,
        ErrorKind::Forbidden => StatusCode::FORBIDDEN,
        ErrorKind::NotFound => StatusCode::NOT_FOUND,
        ErrorKind::Conflict => StatusCode::CONFLICT,
        ErrorKind::PreconditionFailed => StatusCode::PRECONDITION_FAILED,
        ErrorKind::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        ErrorKind::QueryLimit => StatusCode::UNPROCESSABLE_ENTITY,
        ErrorKind::RateLimited | ErrorKind::QuotaExceeded => StatusCode::TOO_MANY_REQUESTS,
        ErrorKind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        ErrorKind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

pub(crate) fn grpc_code(kind: ErrorKind) -> tonic::Code {
    use tonic::Code;
    match kind {
        ErrorKind::BadRequest | ErrorKind::TooLarge | ErrorKind::QueryLimit => {
            Code::InvalidArgument
        }
        ErrorKind::Unauthenticated => Code::Unauthenticated,
        ErrorKind::Forbidden => Code::PermissionDenied,
        ErrorKind::NotFound => Code::NotFound,
        ErrorKind::Conflict => Code::Aborted,
        ErrorKind::PreconditionFailed => Code::FailedPrecondition,
        ErrorKind::RateLimited | ErrorKind::QuotaExceeded => Code::ResourceExhausted,
        ErrorKind::Unavailable => Code::Unavailable,
        ErrorKind::Internal => Code::Internal,
    }
}

/// The retry hint a client gets: rate limits and overload always carry one (1 s when the port
/// gave none), a quota only when the port computed the time to its reset.
fn retry_hint(err: &Error) -> Option<Duration> {
    match err.kind {
        ErrorKind::RateLimited | ErrorKind::Unavailable => {
            Some(err.retry_after.unwrap_or(Duration::from_secs(1)))
        }
        ErrorKind::QuotaExceeded => err.retry_after,
        _ => None,
    }
}

/// Whole seconds, rounded up, at least 1.
pub(crate) fn retry_after_seconds(d: Duration) -> u64 {
    let secs = d.as_secs() + u64::from(d.subsec_nanos() > 0);
    secs.max(1)
}

/// The message a client may see.
fn public_message(err: &Error) -> &str {
    if err.kind == ErrorKind::Internal {
        INTERNAL_MESSAGE
    } else {
        &err.message
    }
}

/// `google.rpc.Status` for an error: the gRPC code number, the public message and, where a
/// retry can succeed (rate limit, overload), a `RetryInfo` detail. A quota gets none, so
/// clients that honour RetryInfo only (the Collector) do not retry until the reset.
pub(crate) fn rpc_status(err: &Error) -> RpcStatus {
    let status = RpcStatus::new(grpc_code(err.kind), public_message(err));
    match (err.kind, retry_hint(err)) {
        (ErrorKind::RateLimited | ErrorKind::Unavailable, Some(delay)) => {
            status.with_retry_info(delay)
        }
        _ => status,
    }
}

/// Headers every error answer carries regardless of its body.
fn add_error_headers(response: &mut Response, err: &Error) {
    let headers = response.headers_mut();
    if err.kind == ErrorKind::Unauthenticated {
        headers.insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"sextant\", Bearer"),
        );
    }
    if let Some(delay) = retry_hint(err) {
        headers.insert(
            header::RETRY_AFTER,
            HeaderValue::from(retry_after_seconds(delay)),
        );
    }
    if err.kind == ErrorKind::Internal {
        response
            .extensions_mut()
            .insert(InternalDetail(err.message.clone()));
    }
}

/// An OTLP/HTTP error answer: `google.rpc.Status` in the request's encoding.
pub(crate) fn otlp_error_response(err: &Error, encoding: Encoding) -> Response {
    let status = rpc_status(err);
    let body: Bytes = match encoding {
        Encoding::Protobuf => status.encode_to_vec().into(),
        Encoding::Json => status.to_json().into(),
    };
    let mut response = (
        http_status(err.kind),
        [(header::CONTENT_TYPE, encoding.content_type())],
        body,
    )
        .into_response();
    add_error_headers(&mut response, err);
    response
}

/// A query API error answer: plain text with Tempo's status codes.
pub(crate) fn query_error_response(err: &Error) -> Response {
    let mut response = (
        http_status(err.kind),
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        public_message(err).to_owned(),
    )
        .into_response();
    add_error_headers(&mut response, err);
    response
}

/// A gRPC status for an error, with `google.rpc.Status` (and its RetryInfo) in
/// `grpc-status-details-bin`, and the RetryInfo again in the `google.rpc.retryinfo-bin` trailer:
/// the Collector reads the former, the OpenTelemetry Python exporter only the latter.
pub(crate) fn grpc_status(err: &Error) -> tonic::Status {
    let status = rpc_status(err);
    let mut metadata = tonic::metadata::MetadataMap::new();
    if let Some(info) = status
        .details
        .iter()
        .find(|d| d.type_url == crate::rpc_status::RETRY_INFO_TYPE_URL)
    {
        metadata.insert_bin(
            RETRY_INFO_TRAILER,
            tonic::metadata::MetadataValue::from_bytes(&info.value),
        );
    }
    tonic::Status::with_details_and_metadata(
        grpc_code(err.kind),
        status.message.clone(),
        status.encode_to_vec().into(),
        metadata,
    )
}

/// The binary trailer some gRPC clients read RetryInfo from (the serialized message).
const RETRY_INFO_TRAILER: &str = "google.rpc.retryinfo-bin";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_rounds_up() {
        assert_eq!(retry_after_seconds(Duration::ZERO), 1);
        assert_eq!(retry_after_seconds(Duration::from_millis(1)), 1);
        assert_eq!(retry_after_seconds(Duration::from_millis(1001)), 2);
        assert_eq!(retry_after_seconds(Duration::from_secs(7)), 7);
    }

    #[test]
    fn retry_info_travels_in_both_places_a_grpc_client_looks() {
        let limited = Error::new(ErrorKind::RateLimited, "slow down")
            .with_retry_after(Duration::from_millis(1500));
        let status = grpc_status(&limited);
        let trailer = status
            .metadata()
            .get_bin(RETRY_INFO_TRAILER)
            .expect("retryinfo trailer")
            .to_bytes()
            .expect("binary value");
        let info = crate::rpc_status::RetryInfo::decode(trailer.as_ref()).expect("RetryInfo");
        let delay = info.retry_delay.expect("retry_delay");
        assert_eq!((delay.seconds, delay.nanos), (1, 500_000_000));
        let details = RpcStatus::decode(status.details()).expect("google.rpc.Status");
        assert_eq!(details.details.len(), 1);

        let quota = Error::new(ErrorKind::QuotaExceeded, "used up")
            .with_retry_after(Duration::from_secs(3600));
        let status = grpc_status(&quota);
        assert!(status.metadata().get_bin(RETRY_INFO_TRAILER).is_none());
        let details = RpcStatus::decode(status.details()).expect("google.rpc.Status");
        assert!(details.details.is_empty(), "a quota carries no RetryInfo");
    }
}
