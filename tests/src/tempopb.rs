//! A client of `tempopb.StreamingQuerier` written from Tempo's `tempo.proto` field numbers, with
//! no code shared with the server: the messages are hand-written prost structs, the calls go
//! through `tonic::client::Grpc` with the prost codec, as a generated client would send them.

use std::net::SocketAddr;

use sextant_model::otlp::KeyValue;

/// The streaming search method (Grafana's streaming search).
pub const SEARCH_PATH: &str = "/tempopb.StreamingQuerier/Search";
/// The streaming metrics method (Grafana's streaming TraceQL metrics).
pub const METRICS_QUERY_RANGE_PATH: &str = "/tempopb.StreamingQuerier/MetricsQueryRange";

/// `tempopb.SearchRequest`: the fields Grafana sets.
#[derive(Clone, PartialEq, prost::Message)]
pub struct SearchRequest {
    #[prost(uint32, tag = "4")]
    pub limit: u32,
    /// Unix seconds.
    #[prost(uint32, tag = "5")]
    pub start: u32,
    #[prost(uint32, tag = "6")]
    pub end: u32,
    #[prost(string, tag = "8")]
    pub query: String,
    #[prost(uint32, tag = "9")]
    pub spans_per_span_set: u32,
}

/// `tempopb.SearchResponse`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct SearchResponse {
    #[prost(message, repeated, tag = "1")]
    pub traces: Vec<TraceSearchMetadata>,
    #[prost(message, optional, tag = "2")]
    pub metrics: Option<SearchMetrics>,
}

/// `tempopb.TraceSearchMetadata`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct TraceSearchMetadata {
    #[prost(string, tag = "1")]
    pub trace_id: String,
    #[prost(string, tag = "2")]
    pub root_service_name: String,
    #[prost(string, tag = "3")]
    pub root_trace_name: String,
    #[prost(uint64, tag = "4")]
    pub start_time_unix_nano: u64,
    #[prost(uint32, tag = "5")]
    pub duration_ms: u32,
    /// Deprecated copy of `span_sets[0]`.
    #[prost(message, optional, tag = "6")]
    pub span_set: Option<SpanSet>,
    #[prost(message, repeated, tag = "7")]
    pub span_sets: Vec<SpanSet>,
    #[prost(btree_map = "string, message", tag = "8")]
    pub service_stats: std::collections::BTreeMap<String, ServiceStats>,
}

/// `tempopb.ServiceStats`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ServiceStats {
    #[prost(uint32, tag = "1")]
    pub span_count: u32,
    #[prost(uint32, tag = "2")]
    pub error_count: u32,
}

/// `tempopb.SpanSet`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct SpanSet {
    #[prost(message, repeated, tag = "1")]
    pub spans: Vec<Span>,
    #[prost(uint32, tag = "2")]
    pub matched: u32,
    #[prost(message, repeated, tag = "3")]
    pub attributes: Vec<KeyValue>,
}

/// `tempopb.Span` (a search result span).
#[derive(Clone, PartialEq, prost::Message)]
pub struct Span {
    #[prost(string, tag = "1")]
    pub span_id: String,
    #[prost(string, tag = "2")]
    pub name: String,
    #[prost(uint64, tag = "3")]
    pub start_time_unix_nano: u64,
    #[prost(uint64, tag = "4")]
    pub duration_nanos: u64,
    #[prost(message, repeated, tag = "5")]
    pub attributes: Vec<KeyValue>,
}

/// `tempopb.SearchMetrics`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct SearchMetrics {
    #[prost(uint32, tag = "1")]
    pub inspected_traces: u32,
    #[prost(uint64, tag = "2")]
    pub inspected_bytes: u64,
    #[prost(uint32, tag = "3")]
    pub total_blocks: u32,
    #[prost(uint32, tag = "4")]
    pub completed_jobs: u32,
    #[prost(uint32, tag = "5")]
    pub total_jobs: u32,
    #[prost(uint64, tag = "6")]
    pub total_block_bytes: u64,
    #[prost(uint64, tag = "7")]
    pub inspected_spans: u64,
}

/// `tempopb.QueryRangeRequest`: the fields Grafana sets.
#[derive(Clone, PartialEq, prost::Message)]
pub struct QueryRangeRequest {
    #[prost(string, tag = "1")]
    pub query: String,
    /// Unix nanoseconds.
    #[prost(uint64, tag = "2")]
    pub start: u64,
    #[prost(uint64, tag = "3")]
    pub end: u64,
    /// Nanoseconds.
    #[prost(uint64, tag = "4")]
    pub step: u64,
    #[prost(uint32, tag = "16")]
    pub exemplars: u32,
}

/// `tempopb.QueryRangeResponse`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct QueryRangeResponse {
    #[prost(message, repeated, tag = "1")]
    pub series: Vec<TimeSeries>,
    #[prost(message, optional, tag = "2")]
    pub metrics: Option<SearchMetrics>,
    /// `PartialStatus`: 0 COMPLETE, 1 PARTIAL.
    #[prost(int32, tag = "3")]
    pub status: i32,
    #[prost(string, tag = "4")]
    pub message: String,
}

/// `tempopb.TimeSeries`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct TimeSeries {
    #[prost(message, repeated, tag = "1")]
    pub labels: Vec<KeyValue>,
    #[prost(message, repeated, tag = "2")]
    pub samples: Vec<Sample>,
    #[prost(message, repeated, tag = "4")]
    pub exemplars: Vec<Exemplar>,
}

/// `tempopb.Sample`.
#[derive(Clone, Copy, PartialEq, prost::Message)]
pub struct Sample {
    #[prost(double, tag = "1")]
    pub value: f64,
    #[prost(int64, tag = "2")]
    pub timestamp_ms: i64,
}

/// `tempopb.Exemplar`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Exemplar {
    #[prost(message, repeated, tag = "1")]
    pub labels: Vec<KeyValue>,
    #[prost(double, tag = "2")]
    pub value: f64,
    #[prost(int64, tag = "3")]
    pub timestamp_ms: i64,
}

/// A `StreamingQuerier` client over h2c (the http port or the otlp-grpc port).
#[derive(Clone, Debug)]
pub struct StreamingQuerier {
    grpc: tonic::client::Grpc<tonic::transport::Channel>,
}

impl StreamingQuerier {
    /// Connect to `addr` with HTTP/2 prior knowledge, as Grafana dials an `http://` URL.
    pub async fn connect(addr: SocketAddr) -> Self {
        let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
            .expect("endpoint url")
            .connect()
            .await
            .unwrap_or_else(|e| panic!("grpc connect {addr}: {e}"));
        // Grafana's default receive limit: every message must fit in 4 MiB.
        let grpc = tonic::client::Grpc::new(channel).max_decoding_message_size(4 << 20);
        Self { grpc }
    }

    /// `Search` with exactly these metadata entries; every message of the stream, in order.
    pub async fn search(
        &mut self,
        metadata: &[(&str, String)],
        request: SearchRequest,
    ) -> Result<Vec<SearchResponse>, tonic::Status> {
        self.stream(SEARCH_PATH, metadata, request).await
    }

    /// `MetricsQueryRange` with exactly these metadata entries; every message, in order.
    pub async fn metrics_query_range(
        &mut self,
        metadata: &[(&str, String)],
        request: QueryRangeRequest,
    ) -> Result<Vec<QueryRangeResponse>, tonic::Status> {
        self.stream(METRICS_QUERY_RANGE_PATH, metadata, request)
            .await
    }

    async fn stream<Req, Resp>(
        &mut self,
        path: &'static str,
        metadata: &[(&str, String)],
        request: Req,
    ) -> Result<Vec<Resp>, tonic::Status>
    where
        Req: prost::Message + Send + Sync + 'static,
        Resp: prost::Message + Default + Send + Sync + 'static,
    {
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
        let codec = tonic_prost::ProstCodec::<Req, Resp>::default();
        let path = http::uri::PathAndQuery::from_static(path);
        let mut stream = self
            .grpc
            .server_streaming(req, path, codec)
            .await?
            .into_inner();
        let mut messages = Vec::new();
        while let Some(message) = stream.message().await? {
            messages.push(message);
        }
        Ok(messages)
    }
}
