//! The issue's bad input table against the real binary, plus the small public endpoints
//! (anonymous). Requests carry valid credentials, so what is judged is the input; an
//! `X-Scope-OrgID` beside a key is checked too (malformed → 400, another tenant → 403).

use std::time::Duration;

use prost::Message;
use sextant_model::otlp::any_value::Value;
use sextant_model::otlp::{ExportTraceServiceResponse, Span, TracesData};
use sextant_tests::{
    Auth, Options, OtlpGrpc, ReadApi, Sextant, TENANT_HEADER, deflate, gzip, kv, post_otlp,
    random_trace_id, request, span, trace, wait_until, zstd,
};

const PROTO: &str = "application/x-protobuf";
const JSON: &str = "application/json";
/// A small body limit so that the oversize cases are cheap.
const SMALL_LIMIT: usize = 1 << 20;

/// (what, content type, content encoding, body, expected status).
type BadCase = (
    &'static str,
    &'static str,
    Option<&'static str>,
    Vec<u8>,
    u16,
);

async fn small_limit_server() -> Sextant {
    Sextant::start(Options::new().env(
        "SEXTANT_GATEWAY__MAX_REQUEST_BYTES",
        SMALL_LIMIT.to_string(),
    ))
    .await
}

fn valid_request() -> (Vec<u8>, TracesData) {
    let (trace_id, spans) = trace(3);
    (trace_id, request("bad-input", spans))
}

fn content_type(resp: &reqwest::Response) -> String {
    resp.headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

/// `google.rpc.Status` (code = 1, message = 2; details left out).
#[derive(Clone, PartialEq, prost::Message)]
struct RpcStatus {
    #[prost(int32, tag = "1")]
    code: i32,
    #[prost(string, tag = "2")]
    message: String,
}

async fn body_text(resp: reqwest::Response) -> String {
    let status = resp.status();
    format!("{status} {}", resp.text().await.unwrap_or_default())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_ingest_rejects_bad_requests_with_the_right_status() {
    let server = small_limit_server().await;
    let c = server.client();
    let auth = server.single();
    let other = server.tenant("bad-input-other").await.rw;
    let (_, data) = valid_request();
    let body = data.encode_to_vec();

    for base in [server.otlp_http_url(), server.http_url()] {
        let url = format!("{base}/v1/traces");
        let cases: Vec<BadCase> = vec![
            (
                "truncated protobuf",
                PROTO,
                None,
                body[..body.len() / 2].to_vec(),
                400,
            ),
            ("garbage protobuf", PROTO, None, vec![0xff; 64], 400),
            (
                "invalid JSON",
                JSON,
                None,
                br#"{"resourceSpans": ["#.to_vec(),
                400,
            ),
            (
                "JSON of the wrong shape",
                JSON,
                None,
                br#"{"resourceSpans": 5}"#.to_vec(),
                400,
            ),
            ("wrong content type", "text/plain", None, body.clone(), 415),
            (
                "gzip header on a plain body",
                PROTO,
                Some("gzip"),
                body.clone(),
                400,
            ),
            (
                "oversize body",
                PROTO,
                None,
                vec![0x0a; SMALL_LIMIT + 1024],
                413,
            ),
            // 64 MiB of zeros, about 64 KiB compressed: judged on the decompressed size.
            (
                "gzip bomb",
                PROTO,
                Some("gzip"),
                gzip(&vec![0; 64 << 20]),
                413,
            ),
            (
                "zstd bomb",
                PROTO,
                Some("zstd"),
                zstd(&vec![0; 64 << 20]),
                413,
            ),
        ];
        for (what, content_type, encoding, payload, want) in cases {
            let resp = post_otlp(c, &url, Some(&auth), content_type, encoding, payload).await;
            let got = resp.status().as_u16();
            assert_eq!(got, want, "POST {url} {what}: {}", body_text(resp).await);
        }
        // Error bodies are `google.rpc.Status` in the request's encoding (DESIGN §4).
        let resp = post_otlp(
            c,
            &url,
            Some(&auth),
            PROTO,
            None,
            body[..body.len() / 2].to_vec(),
        )
        .await;
        assert_eq!(
            content_type(&resp),
            PROTO,
            "400 to a protobuf request: content type"
        );
        let status = RpcStatus::decode(resp.bytes().await.expect("body"))
            .expect("400 body to a protobuf request is a google.rpc.Status");
        assert!(
            status.code != 0 && !status.message.is_empty(),
            "400 status body: {status:?}"
        );
        let resp = post_otlp(c, &url, Some(&auth), JSON, None, b"{".to_vec()).await;
        assert!(
            content_type(&resp).starts_with(JSON),
            "400 to a JSON request: content type"
        );
        let status: serde_json::Value = resp
            .json()
            .await
            .expect("400 body to a JSON request is JSON");
        assert!(
            status["message"].is_string(),
            "400 JSON status body without a message: {status}"
        );

        for method in [
            reqwest::Method::GET,
            reqwest::Method::PUT,
            reqwest::Method::DELETE,
        ] {
            let resp = c
                .request(method.clone(), &url)
                .header("content-type", PROTO)
                .header("authorization", auth.basic())
                .send()
                .await
                .expect("send");
            assert_eq!(
                resp.status(),
                405,
                "{method} {url}: {}",
                body_text(resp).await
            );
        }
        // X-Scope-OrgID beside a valid key: a malformed value is still a bad request (the same
        // ID rule in every mode), another tenant's ID is forbidden, the key's own is fine.
        let with_org = async |org: &str| {
            c.post(&url)
                .header("content-type", PROTO)
                .header("authorization", auth.basic())
                .header(TENANT_HEADER, org)
                .body(body.clone())
                .send()
                .await
                .expect("send")
        };
        for tenant in ["Bad Tenant!", "ab", "../etc", "UPPER", &"x".repeat(65)] {
            let resp = with_org(tenant).await;
            assert_eq!(
                resp.status(),
                400,
                "POST {url} X-Scope-OrgID {tenant:?}: {}",
                body_text(resp).await
            );
        }
        let resp = with_org(&other.tenant).await;
        assert_eq!(
            resp.status(),
            403,
            "POST {url} with single-tenant's key and X-Scope-OrgID: {}: {}",
            other.tenant,
            body_text(resp).await
        );
        let resp = with_org(&auth.tenant).await;
        assert_eq!(
            resp.status(),
            200,
            "POST {url} with X-Scope-OrgID naming the key's own tenant: {}",
            body_text(resp).await
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_rejects_a_message_over_the_limit() {
    let server = small_limit_server().await;
    let auth = server.tenant("grpc-limit").await.rw;
    for addr in [server.addrs().otlp_grpc, server.addrs().http] {
        let mut grpc = OtlpGrpc::connect(addr).await;
        let (_, mut spans) = trace(1);
        spans[0]
            .attributes
            .push(kv("big", Value::BytesValue(vec![7; SMALL_LIMIT + 1024])));
        let err = grpc
            .export(Some(&auth), request("big", spans))
            .await
            .expect_err("gRPC message over max_request_bytes accepted");
        assert_eq!(
            err.code(),
            tonic::Code::InvalidArgument,
            "gRPC {addr}: oversize message: {err:?}"
        );
        // The connection stays usable for the next, valid request.
        let (_, data) = valid_request();
        grpc.export(Some(&auth), data)
            .await
            .unwrap_or_else(|s| panic!("gRPC {addr}: valid request after an oversize one: {s:?}"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_ingest_accepts_every_encoding_and_path() {
    let server = Sextant::start(Options::new()).await;
    let c = server.client();
    let auth = server.tenant("enc-test").await.rw;
    let cases: [(String, &str, Option<&str>); 6] = [
        (format!("{}/v1/traces", server.otlp_http_url()), PROTO, None),
        (
            format!("{}/v1/traces", server.otlp_http_url()),
            PROTO,
            Some("gzip"),
        ),
        (
            format!("{}/v1/traces", server.otlp_http_url()),
            PROTO,
            Some("deflate"),
        ),
        (
            format!("{}/v1/traces", server.otlp_http_url()),
            PROTO,
            Some("zstd"),
        ),
        (
            format!("{}/v1/traces", server.http_url()),
            PROTO,
            Some("gzip"),
        ),
        (format!("{}/otlp/v1/traces", server.http_url()), PROTO, None),
    ];
    for (url, content_type, encoding) in cases {
        let (trace_id, data) = valid_request();
        let raw = data.encode_to_vec();
        let payload = match encoding {
            Some("gzip") => gzip(&raw),
            Some("deflate") => deflate(&raw),
            Some("zstd") => zstd(&raw),
            _ => raw,
        };
        let resp = post_otlp(c, &url, Some(&auth), content_type, encoding, payload).await;
        let ctype = resp
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        assert_eq!(
            resp.status(),
            200,
            "POST {url} {encoding:?}: {}",
            body_text(resp).await
        );
        assert!(
            ctype.starts_with(PROTO),
            "POST {url}: response content-type {ctype:?}"
        );
        let got = server
            .read_trace(ReadApi::V1Proto, Some(&auth), &trace_id)
            .await;
        assert!(
            got.is_some(),
            "trace sent to {url} with {encoding:?} not readable"
        );
    }
}

/// A request with one valid span, one with a zero span ID and one with a 15-byte trace ID.
fn partially_invalid() -> (Span, TracesData) {
    let good_trace = random_trace_id();
    let good = span(&good_trace, None, "valid");
    let mut zero_span = span(&good_trace, None, "zero span id");
    zero_span.span_id = vec![0; 8];
    let mut short_trace = span(&random_trace_id(), None, "15-byte trace id");
    short_trace.trace_id.truncate(15);
    (
        good.clone(),
        request("partial", vec![good, zero_span, short_trace]),
    )
}

async fn assert_only_valid_kept(server: &Sextant, auth: &Auth, good: &Span, via: &str) {
    let got = server
        .read_trace(ReadApi::V1Proto, Some(auth), &good.trace_id)
        .await
        .unwrap_or_else(|| {
            panic!("{via}: the valid span of a partially invalid request is missing")
        });
    let spans: Vec<&Span> = got
        .resource_spans
        .iter()
        .flat_map(|rs| &rs.scope_spans)
        .flat_map(|ss| &ss.spans)
        .collect();
    assert_eq!(
        spans.len(),
        1,
        "{via}: want only the valid span, got {spans:?}"
    );
    assert_eq!(spans[0].span_id, good.span_id, "{via}: wrong span kept");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_ids_get_partial_success_and_the_rest_is_kept() {
    let server = Sextant::start(Options::new()).await;
    let auth = server.tenant("partial-test").await.rw;

    let (good, data) = partially_invalid();
    let url = format!("{}/v1/traces", server.otlp_http_url());
    let resp = post_otlp(
        server.client(),
        &url,
        Some(&auth),
        PROTO,
        None,
        data.encode_to_vec(),
    )
    .await;
    assert_eq!(resp.status(), 200, "partially invalid request over HTTP");
    let answer = ExportTraceServiceResponse::decode(resp.bytes().await.expect("body"))
        .expect("protobuf ExportTraceServiceResponse");
    let partial = answer.partial_success.expect("HTTP: partial_success set");
    assert_eq!(partial.rejected_spans, 2, "HTTP: rejected count");
    assert!(
        !partial.error_message.is_empty(),
        "HTTP: partial_success without a message"
    );
    assert_only_valid_kept(&server, &auth, &good, "HTTP protobuf").await;

    let (good, data) = partially_invalid();
    let json_resp = server
        .client()
        .post(&url)
        .header("content-type", JSON)
        .header("authorization", auth.basic())
        .body(otlp_json_of(&data))
        .send()
        .await
        .expect("send");
    assert_eq!(json_resp.status(), 200, "partially invalid JSON request");
    let answer: serde_json::Value = json_resp.json().await.expect("JSON answer");
    let rejected = &answer["partialSuccess"]["rejectedSpans"];
    assert!(
        rejected == "2" || rejected == 2,
        "JSON: partialSuccess.rejectedSpans = {rejected}, want 2 (answer {answer})"
    );
    assert_only_valid_kept(&server, &auth, &good, "HTTP JSON").await;

    for addr in [server.addrs().otlp_grpc, server.addrs().http] {
        let (good, data) = partially_invalid();
        let mut grpc = OtlpGrpc::connect(addr).await;
        let answer = grpc
            .export(Some(&auth), data)
            .await
            .unwrap_or_else(|s| panic!("gRPC {addr}: partially invalid request failed: {s:?}"));
        let partial = answer.partial_success.expect("gRPC: partial_success set");
        assert_eq!(partial.rejected_spans, 2, "gRPC {addr}: rejected count");
        assert_only_valid_kept(&server, &auth, &good, "gRPC").await;
    }
}

/// OTLP/JSON of a request (hex IDs), enough for the partial-success case.
fn otlp_json_of(data: &TracesData) -> String {
    let spans: Vec<serde_json::Value> = data.resource_spans[0].scope_spans[0]
        .spans
        .iter()
        .map(|s| {
            serde_json::json!({
                "traceId": hex::encode(&s.trace_id),
                "spanId": hex::encode(&s.span_id),
                "name": s.name,
                "kind": s.kind,
                "startTimeUnixNano": s.start_time_unix_nano.to_string(),
                "endTimeUnixNano": s.end_time_unix_nano.to_string(),
            })
        })
        .collect();
    serde_json::json!({"resourceSpans": [{"scopeSpans": [{"spans": spans}]}]}).to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_accepts_a_5_mib_batch_and_rejects_bad_tenants() {
    let server = Sextant::start(Options::new()).await;
    let auth = server.tenant("big-batch").await.rw;
    let other = server.tenant("big-batch-other").await.rw;
    for addr in [server.addrs().otlp_grpc, server.addrs().http] {
        let mut grpc = OtlpGrpc::connect(addr).await;
        // 100 traces of 26 spans with ~2000-byte attributes (under max_attribute_bytes).
        let mut all = Vec::new();
        let mut ids = Vec::new();
        for _ in 0..100 {
            let (trace_id, mut spans) = trace(26);
            for s in &mut spans {
                s.attributes
                    .push(kv("payload", Value::StringValue("p".repeat(2000))));
            }
            ids.push(trace_id);
            all.extend(spans);
        }
        let data = request("big-batch", all);
        let size = data.encoded_len();
        assert!(size > 5 << 20, "batch is only {size} bytes");
        grpc.export(Some(&auth), data)
            .await
            .unwrap_or_else(|s| panic!("gRPC {addr}: {size}-byte batch refused: {s:?}"));
        for id in [&ids[0], &ids[50], &ids[99]] {
            let got = server
                .read_trace(ReadApi::V1Proto, Some(&auth), id)
                .await
                .unwrap_or_else(|| panic!("gRPC {addr}: trace of the big batch missing"));
            let n: usize = got
                .resource_spans
                .iter()
                .flat_map(|r| &r.scope_spans)
                .map(|s| s.spans.len())
                .sum();
            assert_eq!(n, 26, "gRPC {addr}: spans of a trace from the big batch");
        }

        // x-scope-orgid beside a valid key: malformed → INVALID_ARGUMENT, another tenant →
        // PERMISSION_DENIED.
        for (org, want) in [
            ("Bad Tenant!", tonic::Code::InvalidArgument),
            (other.tenant.as_str(), tonic::Code::PermissionDenied),
        ] {
            let (_, data) = valid_request();
            let err = grpc
                .export_with(
                    &[
                        ("authorization", auth.basic()),
                        ("x-scope-orgid", org.to_owned()),
                    ],
                    data,
                )
                .await
                .expect_err("gRPC: x-scope-orgid not matching the key accepted");
            assert_eq!(
                err.code(),
                want,
                "gRPC {addr}: x-scope-orgid {org:?}: {err:?}"
            );
        }
        let empty = || TracesData {
            resource_spans: vec![],
        };
        let err = grpc.export(Some(&auth), empty()).await.err();
        assert!(
            err.is_none(),
            "gRPC {addr}: an empty request must be accepted: {err:?}"
        );
        let err = grpc
            .export(None, empty())
            .await
            .expect_err("gRPC: an empty request without credentials accepted");
        assert_eq!(
            err.code(),
            tonic::Code::Unauthenticated,
            "gRPC {addr}: empty request without credentials: {err:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_api_and_public_endpoints() {
    let server = Sextant::start(Options::new()).await;
    let c = server.client();
    let http = server.http_url();
    let auth = server.tenant("reader").await.rw;

    // Unknown trace: 404 through every read API.
    for api in ReadApi::ALL {
        assert!(
            server
                .read_trace(api, Some(&auth), &random_trace_id())
                .await
                .is_none(),
            "{api:?}: unknown trace found"
        );
    }
    // Malformed trace IDs: 400.
    for id in [
        "zzzz",
        "0123456789abcdef0123456789abcdef0",
        "not-hex-at-all",
        "12 34",
    ] {
        for path in ["/api/traces/", "/api/v2/traces/"] {
            let url = format!("{http}{path}{id}");
            let resp = c
                .get(&url)
                .header("authorization", auth.basic())
                .send()
                .await
                .expect("send");
            assert_eq!(resp.status(), 400, "GET {url}: {}", body_text(resp).await);
        }
    }
    // Invalid X-Scope-OrgID beside a valid key on a read: 400.
    let url = format!("{http}/api/traces/{}", hex::encode(random_trace_id()));
    let resp = c
        .get(&url)
        .header("authorization", auth.basic())
        .header(TENANT_HEADER, "Bad Tenant!")
        .send()
        .await
        .expect("send");
    assert_eq!(
        resp.status(),
        400,
        "GET {url} with an invalid tenant: {}",
        body_text(resp).await
    );

    // Tempo's ID forms: upper case, and leading zero bytes left out; `start`/`end` in seconds.
    let (_, mut spans) = trace(1);
    let mut short_id = vec![0u8; 8];
    short_id.extend(&spans[0].trace_id[8..]);
    spans[0].trace_id = short_id.clone();
    let resp = post_otlp(
        c,
        &format!("{}/v1/traces", server.otlp_http_url()),
        Some(&auth),
        PROTO,
        None,
        request("ids", spans).encode_to_vec(),
    )
    .await;
    assert_eq!(resp.status(), 200, "trace with a short ID");
    let now = sextant_tests::now_nanos() / 1_000_000_000;
    let short_hex = hex::encode(&short_id[8..])
        .trim_start_matches('0')
        .to_owned();
    let forms = [
        (hex::encode_upper(&short_id), String::new(), 200),
        (short_hex.clone(), String::new(), 200),
        (
            hex::encode(&short_id),
            format!("?start={}&end={}", now - 60, now + 60),
            200,
        ),
        (
            hex::encode(&short_id),
            format!("?start={}&end={}", now + 60, now - 60),
            400,
        ),
        (hex::encode(&short_id), "?start=abc&end=5".to_owned(), 400),
    ];
    for (id, query, want) in forms {
        for path in ["/api/traces/", "/api/v2/traces/"] {
            let url = format!("{http}{path}{id}{query}");
            let resp = c
                .get(&url)
                .header("authorization", auth.basic())
                .send()
                .await
                .expect("send");
            assert_eq!(resp.status(), want, "GET {url}: {}", body_text(resp).await);
        }
    }

    // Echo and build info.
    let resp = c
        .get(format!("{http}/api/echo"))
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), 200, "/api/echo");
    assert_eq!(resp.text().await.expect("body"), "echo", "/api/echo body");
    let resp = c
        .get(format!("{http}/api/status/buildinfo"))
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), 200, "/api/status/buildinfo");
    let info: serde_json::Value = resp.json().await.expect("buildinfo JSON");
    let version = info["version"]
        .as_str()
        .unwrap_or_else(|| panic!("no version in {info}"));
    let parts: Vec<u64> = version
        .trim_start_matches('v')
        .split(['.', '-', '+'])
        .take(3)
        .map(|p| {
            p.parse()
                .unwrap_or_else(|_| panic!("version {version:?} is not semver"))
        })
        .collect();
    assert!(parts.len() == 3, "version {version:?} is not semver");
    assert!(
        (parts[0], parts[1]) >= (2, 7),
        "version {version} < 2.7: Grafana disables features"
    );

    // Probes and metrics on the internal listener only.
    let internal = server.internal_url();
    for path in ["/live", "/ready"] {
        let resp = c
            .get(format!("{internal}{path}"))
            .send()
            .await
            .expect("send");
        assert_eq!(resp.status(), 200, "{path}");
    }
    let metrics_auth = server.tenant("metrics-test").await.rw;
    let (trace_id, data) = valid_request();
    let resp = post_otlp(
        c,
        &format!("{}/v1/traces", server.otlp_http_url()),
        Some(&metrics_auth),
        PROTO,
        None,
        data.encode_to_vec(),
    )
    .await;
    assert_eq!(resp.status(), 200);
    assert!(
        server
            .read_trace(ReadApi::V1Json, Some(&metrics_auth), &trace_id)
            .await
            .is_some()
    );
    wait_until(
        Duration::from_secs(5),
        "sextant_received_spans_total on /metrics",
        async || {
            let text = c
                .get(format!("{internal}/metrics"))
                .send()
                .await
                .expect("send")
                .text()
                .await
                .unwrap_or_default();
            text.lines().any(|l| {
                l.starts_with("sextant_received_spans_total") && l.contains("metrics-test")
            })
        },
    )
    .await;
    let resp = c.get(format!("{http}/metrics")).send().await.expect("send");
    assert_ne!(
        resp.status(),
        200,
        "/metrics must not be served on the public http port"
    );
}
