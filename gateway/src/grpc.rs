//! OTLP gRPC `TraceService/Export`, served with tonic's server machinery and a codec that keeps
//! the message as raw bytes, so the request reaches the same OTLP core as OTLP/HTTP
//! ([`crate::otlp::export`]) without a second decode here.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use bytes::{Buf, BufMut, Bytes};
use http::{HeaderMap, StatusCode, header};
use http_body_util::BodyExt;
use prost::Message;
use sextant_model::{PayloadFormat, TenantId};
use tonic::codec::{Codec, CompressionEncoding, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::server::{Grpc, UnaryService};

use crate::GatewayState;
use crate::mapping::{self, InternalDetail};
use crate::otlp;

/// The OTLP trace export method.
pub(crate) const EXPORT_PATH: &str = "/opentelemetry.proto.collector.trace.v1.TraceService/Export";

/// A codec whose messages are already-encoded protobuf bytes, in both directions.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct RawCodec;

/// Writes an already-encoded message.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct RawEncoder;

/// Yields a message's bytes undecoded.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct RawDecoder;

impl Codec for RawCodec {
    type Encode = Bytes;
    type Decode = Bytes;
    type Encoder = RawEncoder;
    type Decoder = RawDecoder;

    fn encoder(&mut self) -> Self::Encoder {
        RawEncoder
    }

    fn decoder(&mut self) -> Self::Decoder {
        RawDecoder
    }
}

impl Encoder for RawEncoder {
    type Item = Bytes;
    type Error = tonic::Status;

    fn encode(&mut self, item: Bytes, dst: &mut EncodeBuf<'_>) -> Result<(), Self::Error> {
        dst.put_slice(&item);
        Ok(())
    }
}

impl Decoder for RawDecoder {
    type Item = Bytes;
    type Error = tonic::Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Bytes>, Self::Error> {
        Ok(Some(src.copy_to_bytes(src.remaining())))
    }
}

/// Whether a request is gRPC (`application/grpc` or `application/grpc+<codec>`; not gRPC-Web).
pub(crate) fn is_grpc(headers: &HeaderMap) -> bool {
    let Some(ct) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let essence = ct.split(';').next().unwrap_or_default().trim();
    essence == "application/grpc" || essence.starts_with("application/grpc+")
}

/// What the method did, for metrics and the log; `None` if tonic refused the request before
/// the method ran (message over the size limit, bad framing).
type Outcome = Arc<Mutex<Option<(tonic::Code, Option<String>)>>>;

/// The tower service behind [`EXPORT_PATH`].
#[derive(Clone, Debug)]
pub(crate) struct ExportService {
    pub(crate) state: GatewayState,
}

impl tower::Service<http::Request<Body>> for ExportService {
    type Response = Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<Body>) -> Self::Future {
        let state = self.state.clone();
        Box::pin(async move { Ok(handle(state, request).await) })
    }
}

async fn handle(state: GatewayState, request: http::Request<Body>) -> Response {
    if !is_grpc(request.headers()) {
        // The path is a gRPC method; on the shared :3200 port a plain HTTP request to it is a
        // client mistake, not an export.
        return (
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "this path serves gRPC only: expected content-type application/grpc",
        )
            .into_response();
    }
    // Set by the authentication layer; without it the request was never authorised.
    let Some(tenant) = request.extensions().get::<TenantId>().cloned() else {
        let err = sextant_model::Error::new(
            sextant_model::ErrorKind::Unauthenticated,
            "the request was not authenticated",
        );
        return mapping::grpc_status(&err).into_http::<Body>();
    };
    let cap = state.config.max_body();
    let received = Arc::new(AtomicU64::new(0));
    let counter = received.clone();
    let request = request.map(|body| {
        Body::new(body.map_frame(move |frame| {
            if let Some(data) = frame.data_ref() {
                counter.fetch_add(data.len() as u64, Ordering::Relaxed);
            }
            frame
        }))
    });
    let outcome: Outcome = Arc::default();
    let method = ExportMethod {
        state: state.clone(),
        tenant: tenant.clone(),
        outcome: outcome.clone(),
    };
    let mut grpc = Grpc::new(RawCodec)
        .accept_compressed(CompressionEncoding::Gzip)
        .accept_compressed(CompressionEncoding::Zstd)
        .send_compressed(CompressionEncoding::Gzip)
        .send_compressed(CompressionEncoding::Zstd)
        .max_decoding_message_size(cap)
        .max_encoding_message_size(usize::MAX);
    let response = grpc.unary(method, request).await;
    state.metrics.received(
        tenant.as_str(),
        "otlp_grpc",
        received.load(Ordering::Relaxed),
    );

    let taken = outcome
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .take();
    let (code, detail, mut response) = match taken {
        Some((code, detail)) => (code, detail, response.map(Body::new)),
        None => {
            let code = tonic::Status::from_header_map(response.headers())
                .map_or(tonic::Code::Ok, |s| s.code());
            // tonic refuses a message over the limit with OUT_OF_RANGE (declared length) or
            // RESOURCE_EXHAUSTED (decompressed length); both would invite a retry. DESIGN §4
            // says INVALID_ARGUMENT: the same request can never succeed.
            if matches!(
                code,
                tonic::Code::OutOfRange | tonic::Code::ResourceExhausted
            ) {
                let err = sextant_model::Error::new(
                    sextant_model::ErrorKind::TooLarge,
                    format!("request message exceeds the limit of {cap} bytes"),
                );
                let status = mapping::grpc_status(&err);
                (status.code(), None, status.into_http::<Body>())
            } else {
                (code, None, response.map(Body::new))
            }
        }
    };
    state.metrics.observe_grpc("TraceService/Export", code);
    if let Some(detail) = detail {
        response.extensions_mut().insert(InternalDetail(detail));
    }
    response
}

/// The unary method: raw request bytes in, encoded `ExportTraceServiceResponse` out.
struct ExportMethod {
    state: GatewayState,
    tenant: TenantId,
    outcome: Outcome,
}

impl UnaryService<Bytes> for ExportMethod {
    type Response = Bytes;
    type Future =
        Pin<Box<dyn Future<Output = Result<tonic::Response<Bytes>, tonic::Status>> + Send>>;

    fn call(&mut self, request: tonic::Request<Bytes>) -> Self::Future {
        let state = self.state.clone();
        let tenant = self.tenant.clone();
        let outcome = self.outcome.clone();
        Box::pin(async move {
            let result = otlp::export(
                &state,
                &tenant,
                PayloadFormat::OtlpProtobuf,
                request.into_inner(),
            )
            .await;
            let (code, detail, answer) = match result {
                Ok(response) => (
                    tonic::Code::Ok,
                    None,
                    Ok(tonic::Response::new(Bytes::from(response.encode_to_vec()))),
                ),
                Err(err) => {
                    let status = mapping::grpc_status(&err);
                    let detail = (err.kind == sextant_model::ErrorKind::Internal)
                        .then(|| err.message.clone());
                    (status.code(), detail, Err(status))
                }
            };
            *outcome
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner) = Some((code, detail));
            answer
        })
    }
}
