//! Sending one pre-encoded export request over OTLP gRPC or OTLP/HTTP.

use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use anyhow::Context;
use bytes::{Buf, BufMut, Bytes};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use prost::Message;
use sextant_model::otlp::ExportTraceServiceResponse;
use tonic::codec::{Codec, CompressionEncoding, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::transport::Channel;

use super::{LoadgenArgs, Protocol};

const EXPORT_PATH: &str = "/opentelemetry.proto.collector.trace.v1.TraceService/Export";

/// What the server said about one request.
#[derive(Debug)]
pub(super) enum Outcome {
    /// Acknowledged; `rejected` spans were refused individually (OTLP partial success).
    Accepted {
        rejected: u64,
    },
    Failed(String),
}

#[derive(Clone)]
pub(super) enum Sender {
    Grpc {
        channels: Arc<Vec<tonic::client::Grpc<Channel>>>,
        next: Arc<AtomicUsize>,
        metadata: Arc<Vec<(String, String)>>,
    },
    Http {
        client: Box<Client<HttpConnector, Full<Bytes>>>,
        url: Arc<str>,
        headers: Arc<Vec<(String, String)>>,
        gzip: bool,
    },
}

impl std::fmt::Debug for Sender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Grpc { .. } => "Sender::Grpc",
            Self::Http { .. } => "Sender::Http",
        })
    }
}

impl Sender {
    pub(super) async fn new(args: &LoadgenArgs) -> anyhow::Result<Self> {
        let mut headers = Vec::new();
        if let Some(tenant) = &args.tenant {
            headers.push(("x-scope-orgid".to_string(), tenant.clone()));
        }
        for header in &args.headers {
            let (name, value) = header
                .split_once(':')
                .with_context(|| format!("--header {header:?} is not `Name: value`"))?;
            headers.push((name.trim().to_ascii_lowercase(), value.trim().to_string()));
        }
        match args.protocol {
            Protocol::Grpc => {
                let endpoint = args
                    .endpoint
                    .clone()
                    .unwrap_or("http://127.0.0.1:4317".into());
                // A few HTTP/2 connections, so one connection's ordering does not cap throughput.
                let mut channels = Vec::new();
                for _ in 0..args.concurrency.clamp(1, 4) {
                    let channel = tonic::transport::Endpoint::from_shared(endpoint.clone())?
                        .tcp_nodelay(true)
                        .connect()
                        .await
                        .with_context(|| format!("cannot connect to {endpoint}"))?;
                    let mut grpc = tonic::client::Grpc::new(channel)
                        .max_decoding_message_size(usize::MAX)
                        .max_encoding_message_size(usize::MAX);
                    if args.gzip {
                        grpc = grpc.send_compressed(CompressionEncoding::Gzip);
                    }
                    channels.push(grpc);
                }
                Ok(Self::Grpc {
                    channels: Arc::new(channels),
                    next: Arc::new(AtomicUsize::new(0)),
                    metadata: Arc::new(headers),
                })
            }
            Protocol::Http => {
                let endpoint = args
                    .endpoint
                    .clone()
                    .unwrap_or("http://127.0.0.1:4318".into());
                let mut connector = HttpConnector::new();
                connector.set_nodelay(true);
                let client = Client::builder(TokioExecutor::new())
                    .pool_max_idle_per_host(args.concurrency)
                    .build(connector);
                Ok(Self::Http {
                    client: Box::new(client),
                    url: format!("{}/v1/traces", endpoint.trim_end_matches('/')).into(),
                    headers: Arc::new(headers),
                    gzip: args.gzip,
                })
            }
        }
    }

    pub(super) async fn send(&self, body: Bytes) -> Outcome {
        match self {
            Self::Grpc {
                channels,
                next,
                metadata,
            } => {
                let mut grpc =
                    channels[next.fetch_add(1, Ordering::Relaxed) % channels.len()].clone();
                if let Err(err) = grpc.ready().await {
                    return Outcome::Failed(format!("channel not ready: {err}"));
                }
                let mut request = tonic::Request::new(body);
                for (name, value) in metadata.iter() {
                    match (
                        tonic::metadata::MetadataKey::from_bytes(name.as_bytes()),
                        value.parse(),
                    ) {
                        (Ok(key), Ok(value)) => {
                            request.metadata_mut().insert(key, value);
                        }
                        _ => return Outcome::Failed(format!("invalid metadata {name}")),
                    }
                }
                let path = http::uri::PathAndQuery::from_static(EXPORT_PATH);
                match grpc.unary(request, path, RawCodec).await {
                    Ok(response) => accepted(response.into_inner()),
                    Err(status) => {
                        Outcome::Failed(format!("{:?}: {}", status.code(), status.message()))
                    }
                }
            }
            Self::Http {
                client,
                url,
                headers,
                gzip,
            } => {
                let mut builder = http::Request::post(url.as_ref())
                    .header(http::header::CONTENT_TYPE, "application/x-protobuf");
                for (name, value) in headers.iter() {
                    builder = builder.header(name.as_str(), value.as_str());
                }
                let body = if *gzip {
                    builder = builder.header(http::header::CONTENT_ENCODING, "gzip");
                    let mut enc =
                        flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
                    if enc.write_all(&body).is_err() {
                        return Outcome::Failed("gzip failed".into());
                    }
                    match enc.finish() {
                        Ok(v) => Bytes::from(v),
                        Err(err) => return Outcome::Failed(format!("gzip failed: {err}")),
                    }
                } else {
                    body
                };
                let request = match builder.body(Full::new(body)) {
                    Ok(r) => r,
                    Err(err) => return Outcome::Failed(format!("bad request: {err}")),
                };
                match client.request(request).await {
                    Ok(response) => {
                        let status = response.status();
                        let body = match response.into_body().collect().await {
                            Ok(b) => b.to_bytes(),
                            Err(err) => return Outcome::Failed(format!("reading response: {err}")),
                        };
                        if status.is_success() {
                            accepted(body)
                        } else {
                            Outcome::Failed(format!("HTTP {status}"))
                        }
                    }
                    Err(err) => Outcome::Failed(format!("HTTP error: {err}")),
                }
            }
        }
    }
}

fn accepted(body: Bytes) -> Outcome {
    match ExportTraceServiceResponse::decode(body) {
        Ok(response) => Outcome::Accepted {
            rejected: response
                .partial_success
                .map(|p| p.rejected_spans.max(0) as u64)
                .unwrap_or(0),
        },
        Err(err) => Outcome::Failed(format!("undecodable response: {err}")),
    }
}

/// A gRPC codec that sends and receives already-encoded protobuf bytes.
#[derive(Debug, Clone, Copy, Default)]
struct RawCodec;

impl Codec for RawCodec {
    type Encode = Bytes;
    type Decode = Bytes;
    type Encoder = RawCodec;
    type Decoder = RawCodec;
    fn encoder(&mut self) -> Self::Encoder {
        RawCodec
    }
    fn decoder(&mut self) -> Self::Decoder {
        RawCodec
    }
}

impl Encoder for RawCodec {
    type Item = Bytes;
    type Error = tonic::Status;
    fn encode(&mut self, item: Bytes, dst: &mut EncodeBuf<'_>) -> Result<(), Self::Error> {
        dst.put(item);
        Ok(())
    }
}

impl Decoder for RawCodec {
    type Item = Bytes;
    type Error = tonic::Status;
    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Bytes>, Self::Error> {
        Ok(Some(src.copy_to_bytes(src.remaining())))
    }
}
