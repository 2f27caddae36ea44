//! Edge tests in-process: the routers with small fakes behind the ports.

use std::collections::HashMap;
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use axum::Router;
use axum::body::Body;
use http::{Request, StatusCode};
use http_body_util::BodyExt;
use prost::Message;
use sextant_model::otlp::{
    AnyValue, ExportTraceServiceResponse, KeyValue, Resource, ResourceSpans, ScopeSpans, Span,
    SpanKind, TracesData, any_value,
};
use sextant_model::{
    Authenticator, Error, ErrorKind, Identity, IngestSink, KeyIdentity, Limits, Payload,
    PayloadFormat, PeriodUsage, PushOutcome, SearchRequest, SearchResponse, TagNamesRequest,
    TagNamesResponse, TagValuesRequest, TagValuesResponse, TenantDirectory, TenantId, TenantStatus,
    TimeRange, TraceId, TraceLookup, TraceReader, TraceSearcher, UsageDelta, UsageMeter,
};
use tower::ServiceExt;

use crate::{
    AuthMode, BuildInfo, GatewayConfig, GatewayMetrics, GatewayPorts, GatewayState, ManualClock,
    RetryInfo, RpcStatus,
};

mod auth_tests;
mod grpc_tests;
mod limit_tests;
mod metrics_tests;
mod query_tests;
mod search_answer_tests;
mod search_tests;
mod streaming_tests;

pub(crate) const TRACE_HEX: &str = "0102030405060708090a0b0c0d0e0f10";

/// Records pushes and answers with a preset result.
#[derive(Default)]
pub(crate) struct FakeSink {
    pub(crate) answer: Mutex<Option<Result<PushOutcome, Error>>>,
    pub(crate) pushes: Mutex<Vec<(TenantId, Payload)>>,
}

#[async_trait]
impl IngestSink for FakeSink {
    async fn push(
        &self,
        tenant: &TenantId,
        payload: Payload,
    ) -> sextant_model::Result<PushOutcome> {
        self.pushes.lock().unwrap().push((tenant.clone(), payload));
        self.answer
            .lock()
            .unwrap()
            .clone()
            .unwrap_or(Ok(PushOutcome::default()))
    }
}

/// Serves fixed traces (for any tenant, or for one tenant) and records the range it was asked
/// for.
#[derive(Default)]
pub(crate) struct FakeReader {
    traces: HashMap<TraceId, TraceLookup>,
    tenant_traces: HashMap<(TenantId, TraceId), TraceLookup>,
    error: Option<Error>,
    seen: Mutex<Vec<(TenantId, Option<TimeRange>)>>,
}

#[async_trait]
impl TraceReader for FakeReader {
    async fn trace_by_id(
        &self,
        tenant: &TenantId,
        id: TraceId,
        range: Option<TimeRange>,
    ) -> sextant_model::Result<Option<TraceLookup>> {
        self.seen.lock().unwrap().push((tenant.clone(), range));
        if let Some(err) = &self.error {
            return Err(err.clone());
        }
        Ok(self
            .tenant_traces
            .get(&(tenant.clone(), id))
            .or_else(|| self.traces.get(&id))
            .cloned())
    }
}

/// Answers of one kind: per tenant, else a fallback, else the empty answer.
pub(crate) struct Canned<T> {
    pub(crate) by_tenant: Mutex<HashMap<TenantId, Result<T, Error>>>,
    pub(crate) fallback: Mutex<Option<Result<T, Error>>>,
}

impl<T> Default for Canned<T> {
    fn default() -> Self {
        Self {
            by_tenant: Mutex::default(),
            fallback: Mutex::default(),
        }
    }
}

impl<T: Clone + Default> Canned<T> {
    pub(crate) fn set(&self, answer: Result<T, Error>) {
        *self.fallback.lock().unwrap() = Some(answer);
    }

    pub(crate) fn set_for(&self, tenant: &str, answer: Result<T, Error>) {
        self.by_tenant.lock().unwrap().insert(tid(tenant), answer);
    }

    fn answer(&self, tenant: &TenantId) -> Result<T, Error> {
        if let Some(answer) = self.by_tenant.lock().unwrap().get(tenant) {
            return answer.clone();
        }
        self.fallback
            .lock()
            .unwrap()
            .clone()
            .unwrap_or_else(|| Ok(T::default()))
    }
}

/// Records every search, tag-names and tag-values request (tenant + request) and answers from
/// its canned answers.
#[derive(Default)]
pub(crate) struct FakeSearcher {
    pub(crate) search_answers: Canned<SearchResponse>,
    pub(crate) tag_name_answers: Canned<TagNamesResponse>,
    pub(crate) tag_value_answers: Canned<TagValuesResponse>,
    pub(crate) searches: Mutex<Vec<(TenantId, SearchRequest)>>,
    pub(crate) tag_name_requests: Mutex<Vec<(TenantId, TagNamesRequest)>>,
    pub(crate) tag_value_requests: Mutex<Vec<(TenantId, TagValuesRequest)>>,
    /// Reported to the progress listener, in order, before the search answers.
    pub(crate) progress_steps: Mutex<
        Vec<(
            sextant_model::SearchMetrics,
            Vec<sextant_model::TraceSummary>,
        )>,
    >,
}

/// Records metrics queries and hands out canned answers.
#[derive(Default)]
pub(crate) struct FakeMetricsQuerier {
    pub(crate) answers: Canned<sextant_model::MetricsResponse>,
    pub(crate) requests: Mutex<Vec<(TenantId, sextant_model::MetricsRequest)>>,
    /// Reported to the progress listener, in order, before the query answers.
    pub(crate) progress_steps: Mutex<Vec<sextant_model::SearchMetrics>>,
}

#[async_trait]
impl sextant_model::MetricsQuerier for FakeMetricsQuerier {
    async fn query_range(
        &self,
        tenant: &TenantId,
        request: sextant_model::MetricsRequest,
        progress: &dyn sextant_model::Progress,
    ) -> sextant_model::Result<sextant_model::MetricsResponse> {
        self.requests
            .lock()
            .unwrap()
            .push((tenant.clone(), request));
        let steps = self.progress_steps.lock().unwrap().clone();
        for metrics in steps {
            progress.report(&metrics, Vec::new());
            tokio::task::yield_now().await;
        }
        self.answers.answer(tenant)
    }
}

#[async_trait]
impl TraceSearcher for FakeSearcher {
    async fn search_with_progress(
        &self,
        tenant: &TenantId,
        request: SearchRequest,
        progress: &dyn sextant_model::Progress,
    ) -> sextant_model::Result<SearchResponse> {
        self.searches
            .lock()
            .unwrap()
            .push((tenant.clone(), request));
        let steps = self.progress_steps.lock().unwrap().clone();
        for (metrics, settled) in steps {
            progress.report(&metrics, settled);
            tokio::task::yield_now().await;
        }
        self.search_answers.answer(tenant)
    }

    async fn tag_names(
        &self,
        tenant: &TenantId,
        request: TagNamesRequest,
    ) -> sextant_model::Result<TagNamesResponse> {
        self.tag_name_requests
            .lock()
            .unwrap()
            .push((tenant.clone(), request));
        self.tag_name_answers.answer(tenant)
    }

    async fn tag_values(
        &self,
        tenant: &TenantId,
        request: TagValuesRequest,
    ) -> sextant_model::Result<TagValuesResponse> {
        self.tag_value_requests
            .lock()
            .unwrap()
            .push((tenant.clone(), request));
        self.tag_value_answers.answer(tenant)
    }
}

/// Secrets → identities, and tenant statuses.
#[derive(Default)]
pub(crate) struct FakeAuth {
    pub(crate) keys: HashMap<String, Identity>,
    pub(crate) statuses: HashMap<TenantId, TenantStatus>,
}

impl Authenticator for FakeAuth {
    fn authenticate(&self, secret: &str) -> sextant_model::Result<Identity> {
        self.keys
            .get(secret)
            .cloned()
            .ok_or_else(|| Error::new(ErrorKind::Unauthenticated, "invalid credentials"))
    }

    fn tenant_status(&self, tenant: &TenantId) -> Option<TenantStatus> {
        self.statuses.get(tenant).copied()
    }
}

/// Limits per tenant, the defaults otherwise; changeable while the app runs.
#[derive(Default)]
pub(crate) struct FakeTenants {
    pub(crate) limits: Mutex<HashMap<TenantId, Arc<Limits>>>,
}

impl FakeTenants {
    pub(crate) fn set(&self, tenant: &str, limits: Limits) {
        self.limits
            .lock()
            .unwrap()
            .insert(tid(tenant), Arc::new(limits));
    }
}

impl TenantDirectory for FakeTenants {
    fn limits(&self, tenant: &TenantId) -> Arc<Limits> {
        self.limits
            .lock()
            .unwrap()
            .get(tenant)
            .cloned()
            .unwrap_or_default()
    }
}

/// Records usage deltas and answers preset period usage.
#[derive(Default)]
pub(crate) struct FakeUsage {
    pub(crate) recorded: Mutex<Vec<(TenantId, SystemTime, UsageDelta)>>,
    pub(crate) usage: Mutex<HashMap<TenantId, PeriodUsage>>,
}

impl UsageMeter for FakeUsage {
    fn record(&self, tenant: &TenantId, at: SystemTime, delta: &UsageDelta) {
        self.recorded
            .lock()
            .unwrap()
            .push((tenant.clone(), at, delta.clone()));
    }

    fn usage(&self, tenant: &TenantId, _now: SystemTime) -> PeriodUsage {
        self.usage
            .lock()
            .unwrap()
            .get(tenant)
            .copied()
            .unwrap_or_default()
    }
}

pub(crate) fn tid(s: &str) -> TenantId {
    TenantId::new(s).unwrap()
}

pub(crate) fn sample_trace() -> TracesData {
    let kv = |k: &str, v: any_value::Value| KeyValue {
        key: k.into(),
        value: Some(AnyValue { value: Some(v) }),
    };
    TracesData {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![kv(
                    "service.name",
                    any_value::Value::StringValue("api".into()),
                )],
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans {
                spans: vec![Span {
                    trace_id: TraceId::parse_hex(TRACE_HEX).unwrap().0.to_vec(),
                    span_id: vec![0xaa; 8],
                    name: "GET /".into(),
                    kind: SpanKind::Server as i32,
                    start_time_unix_nano: 1_700_000_000_000_000_000,
                    end_time_unix_nano: 1_700_000_000_500_000_000,
                    attributes: vec![kv("http.status_code", any_value::Value::IntValue(200))],
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

pub(crate) struct App {
    pub(crate) state: GatewayState,
    pub(crate) sink: Arc<FakeSink>,
    pub(crate) reader: Arc<FakeReader>,
    pub(crate) searcher: Arc<FakeSearcher>,
    pub(crate) metrics_querier: Arc<FakeMetricsQuerier>,
    pub(crate) tenants: Arc<FakeTenants>,
    pub(crate) usage: Arc<FakeUsage>,
    pub(crate) clock: Arc<ManualClock>,
}

/// 2024-02-15T12:00:00Z: the manual clock's start.
pub(crate) const START_UNIX: u64 = 1_707_998_400;

/// An app in auth mode `none` (the behaviour before authentication existed).
pub(crate) fn app_with(config: GatewayConfig, reader: FakeReader) -> App {
    app_full(AuthMode::None, FakeAuth::default(), config, reader)
}

pub(crate) fn app_full(
    mode: AuthMode,
    auth: FakeAuth,
    config: GatewayConfig,
    reader: FakeReader,
) -> App {
    let sink = Arc::new(FakeSink::default());
    let reader = Arc::new(reader);
    let searcher = Arc::new(FakeSearcher::default());
    let metrics_querier = Arc::new(FakeMetricsQuerier::default());
    let tenants = Arc::new(FakeTenants::default());
    let usage = Arc::new(FakeUsage::default());
    let clock = Arc::new(ManualClock::new(
        SystemTime::UNIX_EPOCH + Duration::from_secs(START_UNIX),
    ));
    let ports = GatewayPorts {
        ingest: sink.clone(),
        reader: reader.clone(),
        searcher: searcher.clone(),
        metrics_querier: metrics_querier.clone(),
        authenticator: Arc::new(auth),
        tenants: tenants.clone(),
        usage: usage.clone(),
    };
    let build = BuildInfo {
        version: "2.9.0".into(),
        revision: "abc123".into(),
        branch: "main".into(),
        build_date: "2026-01-01".into(),
        build_user: "ci".into(),
        go_version: "rustc 1.95".into(),
    };
    let state = GatewayState::new(
        ports,
        mode,
        config,
        build,
        Arc::new(GatewayMetrics::unregistered()),
    )
    .with_clock(clock.clone());
    App {
        state,
        sink,
        reader,
        searcher,
        metrics_querier,
        tenants,
        usage,
        clock,
    }
}

pub(crate) fn app() -> App {
    let mut reader = FakeReader::default();
    reader.traces.insert(
        TraceId::parse_hex(TRACE_HEX).unwrap(),
        TraceLookup {
            trace: sample_trace(),
            inspected_bytes: 1234,
        },
    );
    app_with(GatewayConfig::default(), reader)
}

impl App {
    fn router(&self) -> Router {
        crate::router(self.state.clone())
    }

    fn set_answer(&self, answer: Result<PushOutcome, Error>) {
        *self.sink.answer.lock().unwrap() = Some(answer);
    }
}

async fn send(router: Router, req: Request<Body>) -> (StatusCode, http::HeaderMap, bytes::Bytes) {
    let resp = router.oneshot(req).await.unwrap();
    let status = resp.status();
    let headers = resp.headers().clone();
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    (status, headers, body)
}

fn get(uri: &str) -> Request<Body> {
    Request::get(uri).body(Body::empty()).unwrap()
}

fn post_otlp(
    uri: &str,
    content_type: &str,
    encoding: Option<&str>,
    body: Vec<u8>,
) -> Request<Body> {
    let mut b = Request::post(uri).header("content-type", content_type);
    if let Some(enc) = encoding {
        b = b.header("content-encoding", enc);
    }
    b.body(Body::from(body)).unwrap()
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

#[tokio::test]
async fn request_id_is_generated_or_echoed() {
    let app = app();
    let (_, headers, _) = send(app.router(), get("/api/echo")).await;
    assert_eq!(headers["x-request-id"].len(), 32);
    let req = Request::get("/api/echo")
        .header("x-request-id", "abc-1")
        .body(Body::empty())
        .unwrap();
    let (_, headers, _) = send(app.router(), req).await;
    assert_eq!(headers["x-request-id"], "abc-1");
}

#[tokio::test]
async fn otlp_http_accepts_protobuf_and_json_on_both_paths() {
    let app = app();
    let body = sample_trace().encode_to_vec();
    for (path, ct, format) in [
        (
            "/v1/traces",
            "application/x-protobuf",
            PayloadFormat::OtlpProtobuf,
        ),
        (
            "/otlp/v1/traces",
            "application/json; charset=utf-8",
            PayloadFormat::OtlpJson,
        ),
    ] {
        let (status, headers, resp) =
            send(app.router(), post_otlp(path, ct, None, body.clone())).await;
        assert_eq!(status, 200, "{path}");
        let pushed = app.sink.pushes.lock().unwrap().pop().unwrap();
        assert_eq!(pushed.0.as_str(), TenantId::SINGLE_TENANT);
        assert_eq!(pushed.1.format, format);
        assert_eq!(pushed.1.body.as_ref(), body.as_slice());
        match format {
            PayloadFormat::OtlpProtobuf => {
                assert_eq!(headers["content-type"], "application/x-protobuf");
                assert!(resp.is_empty());
            }
            PayloadFormat::OtlpJson => {
                assert_eq!(headers["content-type"], "application/json");
                assert_eq!(resp.as_ref(), b"{}");
            }
        }
    }
}

#[tokio::test]
async fn every_content_encoding_is_accepted() {
    let app = app();
    let data = sample_trace().encode_to_vec();
    let zlib = {
        let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(&data).unwrap();
        e.finish().unwrap()
    };
    let raw_deflate = {
        let mut e = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(&data).unwrap();
        e.finish().unwrap()
    };
    for (enc, body) in [
        (Some("gzip"), gzip(&data)),
        (Some("deflate"), zlib),
        (Some("deflate"), raw_deflate),
        (Some("zstd"), zstd::encode_all(data.as_slice(), 1).unwrap()),
        (Some("identity"), data.clone()),
        (None, data.clone()),
    ] {
        let req = post_otlp("/v1/traces", "application/x-protobuf", enc, body);
        let (status, _, _) = send(app.router(), req).await;
        assert_eq!(status, 200, "{enc:?}");
        let pushed = app.sink.pushes.lock().unwrap().pop().unwrap();
        assert_eq!(pushed.1.body.as_ref(), data.as_slice(), "{enc:?}");
    }
}

#[tokio::test]
async fn bad_ingest_requests_are_refused_at_the_edge() {
    let config = GatewayConfig {
        max_request_bytes: 1000,
        ..Default::default()
    };
    let app = app_with(config, FakeReader::default());
    let cases: Vec<(&str, Request<Body>, StatusCode)> = vec![
        (
            "text content type",
            post_otlp("/v1/traces", "text/plain", None, vec![1]),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ),
        (
            "no content type",
            Request::post("/v1/traces").body(Body::from("x")).unwrap(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ),
        (
            "brotli",
            post_otlp("/v1/traces", "application/json", Some("br"), vec![1]),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ),
        ("GET", get("/v1/traces"), StatusCode::METHOD_NOT_ALLOWED),
        (
            "PUT",
            Request::put("/v1/traces").body(Body::empty()).unwrap(),
            StatusCode::METHOD_NOT_ALLOWED,
        ),
        (
            "raw over cap",
            post_otlp("/v1/traces", "application/x-protobuf", None, vec![0; 1001]),
            StatusCode::PAYLOAD_TOO_LARGE,
        ),
        (
            "decompressed over cap",
            post_otlp(
                "/v1/traces",
                "application/x-protobuf",
                Some("gzip"),
                gzip(&[0; 1001]),
            ),
            StatusCode::PAYLOAD_TOO_LARGE,
        ),
        (
            "corrupt gzip",
            post_otlp(
                "/v1/traces",
                "application/x-protobuf",
                Some("gzip"),
                b"nope".to_vec(),
            ),
            StatusCode::BAD_REQUEST,
        ),
        (
            "invalid tenant",
            Request::post("/v1/traces")
                .header("content-type", "application/x-protobuf")
                .header("x-scope-orgid", "Bad/Tenant")
                .body(Body::empty())
                .unwrap(),
            StatusCode::BAD_REQUEST,
        ),
        (
            "federated tenant",
            Request::post("/v1/traces")
                .header("content-type", "application/x-protobuf")
                .header("x-scope-orgid", "aaa|bbb")
                .body(Body::empty())
                .unwrap(),
            StatusCode::BAD_REQUEST,
        ),
    ];
    for (name, req, expected) in cases {
        let (status, _, _) = send(app.router(), req).await;
        assert_eq!(status, expected, "{name}");
    }
    assert!(app.sink.pushes.lock().unwrap().is_empty());
}

#[tokio::test]
async fn oversize_body_error_is_a_status_in_the_request_encoding() {
    let config = GatewayConfig {
        max_request_bytes: 10,
        ..Default::default()
    };
    let app = app_with(config, FakeReader::default());
    let req = post_otlp("/otlp/v1/traces", "application/json", None, vec![b' '; 11]);
    let (status, headers, body) = send(crate::otlp_http_router(app.state.clone()), req).await;
    assert_eq!(status, 413);
    assert_eq!(headers["content-type"], "application/json");
    assert_eq!(
        body.as_ref(),
        br#"{"code":3,"message":"request body exceeds the limit of 10 bytes"}"#
    );
}

#[tokio::test]
async fn gzip_bomb_is_refused_on_its_decompressed_size() {
    // 100 MiB of zeros compress to about 100 KiB; the default cap is 20 MiB.
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let zeros = vec![0u8; 1 << 20];
    for _ in 0..100 {
        e.write_all(&zeros).unwrap();
    }
    let bomb = e.finish().unwrap();
    assert!(bomb.len() < 1 << 20, "{}", bomb.len());
    let app = app();
    let req = post_otlp("/v1/traces", "application/x-protobuf", Some("gzip"), bomb);
    let (status, _, body) = send(app.router(), req).await;
    assert_eq!(status, 413);
    let rpc = RpcStatus::decode(body).unwrap();
    assert_eq!(rpc.code, tonic::Code::InvalidArgument as i32);
    assert!(app.sink.pushes.lock().unwrap().is_empty());
}

#[tokio::test]
async fn tenant_header_reaches_the_port() {
    let app = app();
    let req = Request::post("/v1/traces")
        .header("content-type", "application/x-protobuf")
        .header("x-scope-orgid", "acme")
        .body(Body::empty())
        .unwrap();
    let (status, _, _) = send(app.router(), req).await;
    assert_eq!(status, 200);
    assert_eq!(app.sink.pushes.lock().unwrap()[0].0.as_str(), "acme");
}

#[tokio::test]
async fn partial_success_in_both_encodings() {
    let app = app();
    app.set_answer(Ok(PushOutcome {
        accepted_spans: 1,
        rejected_spans: 2,
        message: "invalid span id".into(),
        ..Default::default()
    }));
    let req = post_otlp("/v1/traces", "application/json", None, b"{}".to_vec());
    let (status, _, body) = send(app.router(), req).await;
    assert_eq!(status, 200);
    assert_eq!(
        body.as_ref(),
        br#"{"partialSuccess":{"rejectedSpans":"2","errorMessage":"invalid span id"}}"#
    );
    let req = post_otlp("/v1/traces", "application/x-protobuf", None, vec![]);
    let (status, _, body) = send(app.router(), req).await;
    assert_eq!(status, 200);
    let resp = ExportTraceServiceResponse::decode(body).unwrap();
    let partial = resp.partial_success.unwrap();
    assert_eq!(
        (partial.rejected_spans, partial.error_message.as_str()),
        (2, "invalid span id")
    );
}

#[tokio::test]
async fn error_kinds_map_to_statuses_headers_and_bodies() {
    let secs = Duration::from_millis(2500);
    let cases = [
        (
            Error::bad_request("bad payload"),
            400,
            tonic::Code::InvalidArgument,
            None,
            false,
        ),
        (
            Error::new(ErrorKind::Unauthenticated, "no key"),
            401,
            tonic::Code::Unauthenticated,
            None,
            false,
        ),
        (
            Error::new(ErrorKind::Forbidden, "suspended"),
            403,
            tonic::Code::PermissionDenied,
            None,
            false,
        ),
        (
            Error::new(ErrorKind::NotFound, "gone"),
            404,
            tonic::Code::NotFound,
            None,
            false,
        ),
        (
            Error::new(ErrorKind::TooLarge, "batch over burst"),
            413,
            tonic::Code::InvalidArgument,
            None,
            false,
        ),
        (
            Error::new(ErrorKind::RateLimited, "slow down").with_retry_after(secs),
            429,
            tonic::Code::ResourceExhausted,
            Some("3"),
            true,
        ),
        (
            Error::new(ErrorKind::QuotaExceeded, "daily quota")
                .with_retry_after(Duration::from_secs(3600)),
            429,
            tonic::Code::ResourceExhausted,
            Some("3600"),
            false,
        ),
        (
            Error::unavailable("wal full", Duration::from_millis(10)),
            503,
            tonic::Code::Unavailable,
            Some("1"),
            true,
        ),
        (
            Error::internal("disk on fire at /var/x"),
            500,
            tonic::Code::Internal,
            None,
            false,
        ),
    ];
    for (err, http, code, retry_after, retry_info) in cases {
        let app = app();
        app.set_answer(Err(err.clone()));
        for ct in ["application/x-protobuf", "application/json"] {
            let req = post_otlp("/v1/traces", ct, None, vec![]);
            let (status, headers, body) = send(app.router(), req).await;
            assert_eq!(status.as_u16(), http, "{err:?}");
            assert_eq!(
                headers.get("retry-after").map(|v| v.to_str().unwrap()),
                retry_after,
                "{err:?}"
            );
            assert_eq!(headers.contains_key("www-authenticate"), http == 401);
            assert_eq!(headers["content-type"], ct);
            let rpc = if ct == "application/json" {
                let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
                assert_eq!(v["code"], code as i32);
                assert_eq!(v["details"].is_array(), retry_info, "{v}");
                RpcStatus {
                    code: v["code"].as_i64().unwrap() as i32,
                    message: v["message"].as_str().unwrap().to_owned(),
                    details: vec![],
                }
            } else {
                let rpc = RpcStatus::decode(body).unwrap();
                assert_eq!(rpc.details.len(), usize::from(retry_info));
                if retry_info {
                    let info = RetryInfo::decode(rpc.details[0].value.as_slice()).unwrap();
                    assert!(info.retry_delay.is_some());
                }
                rpc
            };
            assert_eq!(rpc.code, code as i32);
            if http == 500 {
                assert_eq!(rpc.message, "internal error");
            } else {
                assert_eq!(rpc.message, err.message);
            }
        }
    }
}
