//! Clients for the binary's APIs: OTLP over HTTP and gRPC, and the four trace-by-ID reads.

use std::io::Write;
use std::net::SocketAddr;

use prost::Message;
use serde_json::Value as Json;
use sextant_model::otlp::{ExportTraceServiceResponse, TracesData};

use crate::auth::Auth;
use crate::json::{Dialect, resource_spans_from_json};
use crate::server::Sextant;

/// The tenant header of the Tempo API and OTLP HTTP (gRPC metadata `x-scope-orgid`).
pub const TENANT_HEADER: &str = "X-Scope-OrgID";
/// The OTLP trace export method.
pub const EXPORT_PATH: &str = "/opentelemetry.proto.collector.trace.v1.TraceService/Export";

/// gzip-compress `body`.
pub fn gzip(body: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(body).expect("gzip in memory");
    enc.finish().expect("gzip in memory")
}

/// HTTP `deflate` (zlib format) compression of `body`.
pub fn deflate(body: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(body).expect("deflate in memory");
    enc.finish().expect("deflate in memory")
}

/// zstd compression of `body`.
pub fn zstd(body: &[u8]) -> Vec<u8> {
    zstd::encode_all(body, 1).expect("zstd in memory")
}

/// A gRPC client of `TraceService/Export` over h2c, with the prost codec on the model's types.
#[derive(Clone, Debug)]
pub struct OtlpGrpc {
    grpc: tonic::client::Grpc<tonic::transport::Channel>,
}

impl OtlpGrpc {
    /// Connect to `addr` (the otlp-grpc port or the http port).
    pub async fn connect(addr: SocketAddr) -> Self {
        let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
            .expect("endpoint url")
            .connect()
            .await
            .unwrap_or_else(|e| panic!("grpc connect {addr}: {e}"));
        let grpc = tonic::client::Grpc::new(channel)
            .max_encoding_message_size(64 << 20)
            .max_decoding_message_size(64 << 20);
        Self { grpc }
    }

    /// Call `Export` with `auth`'s key as Basic auth in the `authorization` metadata.
    pub async fn export(
        &mut self,
        auth: Option<&Auth>,
        request: TracesData,
    ) -> Result<ExportTraceServiceResponse, tonic::Status> {
        let headers: Vec<(&str, String)> = auth
            .map(|a| vec![("authorization", a.basic())])
            .unwrap_or_default();
        self.export_with(&headers, request).await
    }

    /// Call `Export` with exactly these metadata entries.
    pub async fn export_with(
        &mut self,
        metadata: &[(&str, String)],
        request: TracesData,
    ) -> Result<ExportTraceServiceResponse, tonic::Status> {
        self.grpc
            .ready()
            .await
            .map_err(|e| tonic::Status::unavailable(format!("channel not ready: {e}")))?;
        let mut req = tonic::Request::new(request);
        for (name, value) in metadata {
            let name = tonic::metadata::AsciiMetadataKey::from_bytes(name.as_bytes())
                .expect("metadata name");
            req.metadata_mut()
                .insert(name, value.parse().expect("ascii metadata value"));
        }
        let codec = tonic_prost::ProstCodec::<TracesData, ExportTraceServiceResponse>::default();
        let path = http::uri::PathAndQuery::from_static(EXPORT_PATH);
        self.grpc
            .unary(req, path, codec)
            .await
            .map(tonic::Response::into_inner)
    }
}

/// POST an OTLP body to `url` with a content type, an optional content encoding and
/// credentials (Basic auth).
pub async fn post_otlp(
    client: &reqwest::Client,
    url: &str,
    auth: Option<&Auth>,
    content_type: &str,
    encoding: Option<&str>,
    body: Vec<u8>,
) -> reqwest::Response {
    let mut req = client
        .post(url)
        .header("content-type", content_type)
        .body(body);
    if let Some(enc) = encoding {
        req = req.header("content-encoding", enc);
    }
    if let Some(a) = auth {
        req = req.header("authorization", a.basic());
    }
    req.send()
        .await
        .unwrap_or_else(|e| panic!("POST {url}: {e}"))
}

/// The four ways to read a trace by ID.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReadApi {
    /// `GET /api/traces/{id}`, JSON `{"batches": [...]}`.
    V1Json,
    /// `GET /api/traces/{id}` with `Accept: application/protobuf`: `TracesData`.
    V1Proto,
    /// `GET /api/v2/traces/{id}`, JSON `{"trace": {"resourceSpans": [...]}, ...}`.
    V2Json,
    /// `GET /api/v2/traces/{id}` with `Accept: application/protobuf`: `TraceByIDResponse`.
    V2Proto,
}

impl ReadApi {
    /// Every read API.
    pub const ALL: [ReadApi; 4] = [Self::V1Json, Self::V1Proto, Self::V2Json, Self::V2Proto];
}

/// `tempopb.TraceByIDResponse` (field numbers from Tempo's `tempo.proto`); the metrics message
/// is kept as raw bytes.
#[derive(Clone, PartialEq, prost::Message)]
pub struct TraceByIdResponse {
    #[prost(message, optional, tag = "1")]
    pub trace: Option<TracesData>,
    #[prost(bytes = "vec", tag = "2")]
    pub metrics: Vec<u8>,
    #[prost(int32, tag = "3")]
    pub status: i32,
    #[prost(string, tag = "4")]
    pub message: String,
}

impl Sextant {
    /// Read a trace by ID through `api` on the http port. `None` on 404; panics on any other
    /// non-200 answer or a body that does not parse.
    pub async fn read_trace(
        &self,
        api: ReadApi,
        auth: Option<&Auth>,
        trace_id: &[u8],
    ) -> Option<TracesData> {
        let id = hex::encode(trace_id);
        let (path, proto) = match api {
            ReadApi::V1Json => (format!("/api/traces/{id}"), false),
            ReadApi::V1Proto => (format!("/api/traces/{id}"), true),
            ReadApi::V2Json => (format!("/api/v2/traces/{id}"), false),
            ReadApi::V2Proto => (format!("/api/v2/traces/{id}"), true),
        };
        let url = format!("{}{path}", self.http_url());
        let mut req = self.client().get(&url);
        if proto {
            req = req.header("accept", "application/protobuf");
        }
        if let Some(a) = auth {
            req = req.header("authorization", a.basic());
        }
        let resp = req
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {url}: {e}"));
        let status = resp.status();
        let content_type = resp
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let body = resp.bytes().await.expect("read body");
        if status == 404 {
            return None;
        }
        assert_eq!(
            status,
            200,
            "GET {url} ({api:?}) answered {status}: {}",
            String::from_utf8_lossy(&body)
        );
        if proto {
            assert!(
                content_type.starts_with("application/protobuf"),
                "GET {url} ({api:?}): content-type {content_type:?}, want application/protobuf"
            );
        } else {
            assert!(
                content_type.starts_with("application/json"),
                "GET {url} ({api:?}): content-type {content_type:?}, want application/json"
            );
        }
        Some(decode_trace(api, &body).unwrap_or_else(|e| {
            panic!(
                "GET {url} ({api:?}): cannot decode body: {e:#}\nbody: {}",
                String::from_utf8_lossy(&body)
            )
        }))
    }
}

fn decode_trace(api: ReadApi, body: &[u8]) -> anyhow::Result<TracesData> {
    use anyhow::{Context, ensure};
    match api {
        ReadApi::V1Proto => Ok(TracesData::decode(body)?),
        ReadApi::V2Proto => {
            let resp = TraceByIdResponse::decode(body)?;
            ensure!(
                resp.status == 0,
                "status {} (not COMPLETE): {}",
                resp.status,
                resp.message
            );
            resp.trace.context("no trace field")
        }
        ReadApi::V1Json => {
            let doc: Json = serde_json::from_slice(body)?;
            let obj = doc.as_object().context("not an object")?;
            ensure!(
                obj.keys().all(|k| k == "batches"),
                "unexpected top-level fields: {:?}",
                obj.keys().collect::<Vec<_>>()
            );
            let batches = obj.get("batches").context("no batches field")?;
            resource_spans_from_json(batches, Dialect::Tempo)
        }
        ReadApi::V2Json => {
            let doc: Json = serde_json::from_slice(body)?;
            let obj = doc.as_object().context("not an object")?;
            for k in obj.keys() {
                ensure!(
                    ["trace", "metrics", "status", "message"].contains(&k.as_str()),
                    "unexpected top-level field {k:?}"
                );
            }
            if let Some(status) = obj.get("status") {
                ensure!(status == "COMPLETE", "status {status} (not COMPLETE)");
            }
            let trace = obj.get("trace").context("no trace field")?;
            let trace = trace.as_object().context("trace is not an object")?;
            ensure!(
                trace.keys().all(|k| k == "resourceSpans"),
                "unexpected fields in trace: {:?}",
                trace.keys().collect::<Vec<_>>()
            );
            let rs = trace
                .get("resourceSpans")
                .context("no trace.resourceSpans")?;
            resource_spans_from_json(rs, Dialect::Tempo)
        }
    }
}
