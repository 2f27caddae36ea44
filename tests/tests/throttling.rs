//! Per-tenant ingest limits against the real binary, seen by clients that follow the retry rules
//! of the real world (DESIGN §4): the Python SDK's gRPC exporter retries RESOURCE_EXHAUSTED, its
//! HTTP exporter retries 429/5xx only, and the Collector retries RESOURCE_EXHAUSTED only when a
//! RetryInfo says when. A rate limit must throttle without losing a span; a batch larger than
//! the burst must be refused once, for good (413 / INVALID_ARGUMENT); a used-up daily quota must
//! make the Collector drop (no RetryInfo) and tell HTTP clients to come back at UTC midnight.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use prost::Message;
use serde_json::Value as Json;
use sextant_model::otlp::TracesData;
use sextant_model::otlp::any_value::Value;
use sextant_tests::{
    Auth, Expected, Options, OtlpGrpc, ReadApi, Sextant, assert_all_readable, attr_str, kv,
    post_otlp, request, run_script, sent, trace,
};

const PROTO: &str = "application/x-protobuf";
const REFUSED: &str = "sextant_gateway_refused_requests_total";

/// A tenant created with the CLI whose limits are set before its keys exist, so that once the
/// server accepts the keys its snapshot holds the limits too.
struct Limited {
    id: String,
    /// `traces:write` (what an exporter gets).
    write: Auth,
    /// `traces:read`.
    read: Auth,
}

async fn limited_tenant(server: &Sextant, id: &str, limits: &[&str]) -> Limited {
    server.cli_ok(&["tenant", "create", id]).await;
    let mut args = vec!["limits", "set", id];
    args.extend_from_slice(limits);
    server.cli_ok(&args).await;
    let shown = server.cli_ok(&["limits", "show", id]).await;
    assert!(
        shown.contains("(override)"),
        "limits show {id} marks no override:\n{shown}"
    );
    let write = server.create_key(id, "traces:write", &[]).await;
    let read = server.create_key(id, "traces:read", &[]).await;
    server.wait_key_accepted(&read).await;
    server.wait_key_accepted(&write).await;
    Limited {
        id: id.to_owned(),
        write,
        read,
    }
}

async fn refused(server: &Sextant, tenant: &str, reason: &str) -> f64 {
    server
        .metric(REFUSED, &[("tenant", tenant), ("reason", reason)])
        .await
}

/// One trace of `spans` spans, each with a `pad` attribute of `pad` letters (under the
/// 2048-byte attribute limit, so the stored spans equal the sent ones).
fn padded(spans: usize, pad: usize) -> TracesData {
    let (_, mut all) = trace(spans);
    for s in &mut all {
        let text: String = (0..pad)
            .map(|_| char::from(b'a' + rand::random::<u8>() % 26))
            .collect();
        s.attributes.push(attr_str("pad", &text));
    }
    request("throttled", all)
}

/// The exports of a `throttled_send.py` run.
fn exports(output: &Json) -> &Vec<Json> {
    output["exports"]
        .as_array()
        .unwrap_or_else(|| panic!("no exports in {output}"))
}

fn attempts(export: &Json) -> &Vec<Json> {
    export["attempts"]
        .as_array()
        .unwrap_or_else(|| panic!("no attempts in {export}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_grpc_exporter_is_throttled_retries_and_delivers_every_span() {
    let server = Sextant::start(Options::new()).await;
    // Exports of ~7 KB against 5 KB/s with a 16 KB burst: two pass at once, the rest must wait.
    let t = limited_tenant(
        &server,
        "throttled-grpc",
        &[
            "--ingestion-rate-bytes",
            "5000",
            "--ingestion-burst-bytes",
            "16000",
        ],
    )
    .await;
    let endpoint = server.otlp_grpc_url();
    let authorization = t.write.basic();
    let args = [
        "--exporter",
        "grpc",
        "--endpoint",
        &endpoint,
        "--authorization",
        &authorization,
        "--exports",
        "6",
        "--spans",
        "10",
        "--pad-bytes",
        "600",
    ];
    let output = run_script("throttled_send.py", &args).await;
    let exports = exports(&output);
    assert_eq!(exports.len(), 6, "{output}");
    for (i, e) in exports.iter().enumerate() {
        assert_eq!(
            e["result"], "SUCCESS",
            "export {i} was not delivered in the end: {e}\nexporter log: {}",
            output["warnings"]
        );
        let bytes = e["bytes"].as_u64().expect("bytes");
        assert!(
            (5000..16000).contains(&bytes),
            "export {i} is {bytes} bytes: between the rate and the burst, please"
        );
    }
    let throttled: Vec<&Json> = exports
        .iter()
        .flat_map(attempts)
        .filter(|a| a["code"] == "RESOURCE_EXHAUSTED")
        .collect();
    assert!(
        !throttled.is_empty(),
        "6 exports of ~7 KB at 5 KB/s were never throttled: {output}"
    );
    for a in &throttled {
        let delay = a["retry_info_details"].as_f64().unwrap_or_else(|| {
            panic!("RESOURCE_EXHAUSTED for a rate limit without RetryInfo in grpc-status-details-bin: {a}")
        });
        assert!(
            delay > 0.0 && delay <= 4.0,
            "RetryInfo delay {delay}s for a bucket refilling 5 KB/s: {a}"
        );
        // The Python exporter reads RetryInfo only from this trailer; without it, it falls back
        // to its own exponential backoff and ignores the server's hint.
        assert!(
            a["retry_info_trailer"].as_f64().is_some(),
            "RESOURCE_EXHAUSTED without the google.rpc.retryinfo-bin trailer the Python exporter \
             honours (trailers {}): {a}",
            a["trailers"]
        );
    }
    // The exporter waited at least what the server asked before trying again.
    for e in exports {
        for pair in attempts(e).windows(2) {
            if let (Some(asked), Some(then), Some(next)) = (
                pair[0]["retry_info_trailer"].as_f64(),
                pair[0]["at"].as_f64(),
                pair[1]["at"].as_f64(),
            ) {
                assert!(
                    next - then >= asked - 0.05,
                    "the exporter retried after {:.3}s, the server asked for {asked:.3}s: {e}",
                    next - then
                );
            }
        }
    }
    assert_eq!(
        refused(&server, &t.id, "rate_limited").await,
        throttled.len() as f64,
        "{REFUSED}{{reason=rate_limited}} against the RESOURCE_EXHAUSTED answers the exporter saw"
    );

    // Every span of every export arrived, once.
    let sent = sent(&output).expect("the script's output");
    let mut expected = Expected::default();
    expected.add_request(&sent.data);
    assert_eq!(expected.span_count(), 60, "spans sent");
    assert_all_readable(
        &server,
        Some(&t.read),
        &expected,
        &[ReadApi::V1Proto, ReadApi::V2Json],
        "after throttling",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_http_exporter_waits_retry_after_and_delivers_every_span() {
    let server = Sextant::start(Options::new()).await;
    let t = limited_tenant(
        &server,
        "throttled-http",
        &[
            "--ingestion-rate-bytes",
            "5000",
            "--ingestion-burst-bytes",
            "16000",
        ],
    )
    .await;
    let endpoint = server.http_url();
    let authorization = t.write.basic();
    let args = [
        "--exporter",
        "http",
        "--endpoint",
        &endpoint,
        "--authorization",
        &authorization,
        "--exports",
        "5",
        "--spans",
        "10",
        "--pad-bytes",
        "600",
    ];
    let output = run_script("throttled_send.py", &args).await;
    let exports = exports(&output);
    for (i, e) in exports.iter().enumerate() {
        assert_eq!(
            e["result"], "SUCCESS",
            "export {i} was not delivered in the end: {e}\nexporter log: {}",
            output["warnings"]
        );
        for pair in attempts(e).windows(2) {
            let retry_after: f64 = pair[0]["retry_after"]
                .as_str()
                .unwrap_or_else(|| panic!("export {i}: a retried answer without Retry-After: {e}"))
                .parse()
                .unwrap_or_else(|_| panic!("export {i}: Retry-After is not seconds: {e}"));
            assert_eq!(pair[0]["code"], 429, "export {i}: retried after {e}");
            let waited = pair[1]["at"].as_f64().expect("at") - pair[0]["at"].as_f64().expect("at");
            assert!(
                waited >= retry_after - 0.05,
                "export {i}: retried after {waited:.3}s, Retry-After said {retry_after}s: {e}"
            );
        }
    }
    let throttled = exports
        .iter()
        .flat_map(attempts)
        .filter(|a| a["code"] == 429)
        .count();
    assert!(
        throttled > 0,
        "5 exports of ~7 KB at 5 KB/s were never throttled: {output}"
    );
    assert_eq!(
        refused(&server, &t.id, "rate_limited").await,
        throttled as f64,
        "{REFUSED}{{reason=rate_limited}} against the 429 answers the exporter saw"
    );
    let sent = sent(&output).expect("the script's output");
    let mut expected = Expected::default();
    expected.add_request(&sent.data);
    assert_eq!(expected.span_count(), 50, "spans sent");
    assert_all_readable(
        &server,
        Some(&t.read),
        &expected,
        &[ReadApi::V1Json],
        "after throttling over HTTP",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_over_the_burst_is_refused_once_and_not_retried() {
    let server = Sextant::start(Options::new()).await;
    let t = limited_tenant(
        &server,
        "burst-limited",
        &[
            "--ingestion-rate-bytes",
            "10000",
            "--ingestion-burst-bytes",
            "20000",
        ],
    )
    .await;
    let authorization = t.write.basic();
    // One export of ~30 KB: over the 20 KB burst, so no wait could ever admit it.
    for (exporter, endpoint, want) in [
        ("http", server.otlp_http_url(), Json::from(413)),
        ("http", server.http_url(), Json::from(413)),
        (
            "grpc",
            server.otlp_grpc_url(),
            Json::from("INVALID_ARGUMENT"),
        ),
    ] {
        let before = refused(&server, &t.id, "batch_too_large").await;
        let args = [
            "--exporter",
            exporter,
            "--endpoint",
            &endpoint,
            "--authorization",
            &authorization,
            "--exports",
            "1",
            "--spans",
            "10",
            "--pad-bytes",
            "3000",
        ];
        let output = run_script("throttled_send.py", &args).await;
        let export = &exports(&output)[0];
        assert!(
            export["bytes"].as_u64().expect("bytes") > 20000,
            "the export is not over the burst: {export}"
        );
        assert_eq!(
            export["result"], "FAILURE",
            "{exporter} {endpoint}: a batch over the burst was accepted: {export}"
        );
        let codes: Vec<&Json> = attempts(export).iter().map(|a| &a["code"]).collect();
        assert_eq!(
            codes,
            vec![&want],
            "{exporter} {endpoint}: one refusal and no retry expected\nexporter log: {}",
            output["warnings"]
        );
        assert_eq!(
            refused(&server, &t.id, "batch_too_large").await,
            before + 1.0,
            "{exporter} {endpoint}: {REFUSED}{{reason=batch_too_large}} counts one request"
        );
    }

    // The same over raw gRPC on the http port, and a batch within the burst still passes.
    let mut grpc = OtlpGrpc::connect(server.addrs().http).await;
    let err = grpc
        .export(Some(&t.write), padded(10, 3000))
        .await
        .expect_err("gRPC batch over the burst accepted");
    assert_eq!(err.code(), tonic::Code::InvalidArgument, "{err:?}");
    assert!(
        retry_delay(&err).is_none(),
        "a batch over the burst carries RetryInfo, inviting a retry that cannot succeed: {err:?}"
    );
    grpc.export(Some(&t.write), padded(3, 600))
        .await
        .unwrap_or_else(|s| panic!("a small batch after the big one: {s:?}"));
}

/// `google.rpc.Status` with its details.
#[derive(Clone, PartialEq, prost::Message)]
struct RpcStatus {
    #[prost(int32, tag = "1")]
    code: i32,
    #[prost(string, tag = "2")]
    message: String,
    #[prost(message, repeated, tag = "3")]
    details: Vec<ProtoAny>,
}

/// `google.protobuf.Any`.
#[derive(Clone, PartialEq, prost::Message)]
struct ProtoAny {
    #[prost(string, tag = "1")]
    type_url: String,
    #[prost(bytes = "vec", tag = "2")]
    value: Vec<u8>,
}

/// `google.rpc.RetryInfo`.
#[derive(Clone, PartialEq, prost::Message)]
struct RetryInfo {
    #[prost(message, optional, tag = "1")]
    retry_delay: Option<ProtoDuration>,
}

/// `google.protobuf.Duration`.
#[derive(Clone, PartialEq, prost::Message)]
struct ProtoDuration {
    #[prost(int64, tag = "1")]
    seconds: i64,
    #[prost(int32, tag = "2")]
    nanos: i32,
}

/// The RetryInfo delay of a gRPC status (from `grpc-status-details-bin`), as the Collector
/// reads it.
fn retry_delay(status: &tonic::Status) -> Option<Duration> {
    let details = RpcStatus::decode(status.details()).ok()?;
    details
        .details
        .iter()
        .find(|d| d.type_url == "type.googleapis.com/google.rpc.RetryInfo")
        .and_then(|d| RetryInfo::decode(d.value.as_slice()).ok())
        .and_then(|info| info.retry_delay)
        .map(|d| Duration::new(d.seconds.max(0) as u64, d.nanos.max(0) as u32))
}

/// What became of one export under the Collector's rule.
#[derive(Debug)]
enum Outcome {
    Sent {
        attempts: u32,
        /// The RetryInfo delays waited before the retries.
        waits: Vec<Duration>,
    },
    Dropped {
        status: tonic::Status,
        attempts: u32,
    },
}

/// Exports like the Collector's OTLP exporter: retry UNAVAILABLE (and the other transient codes)
/// with backoff, RESOURCE_EXHAUSTED only when the status carries RetryInfo, waiting its delay;
/// drop on anything else, or once `give_up` has passed.
async fn export_like_collector(
    grpc: &mut OtlpGrpc,
    auth: &Auth,
    data: &TracesData,
    give_up: Duration,
) -> Outcome {
    let start = Instant::now();
    let mut attempts = 0;
    let mut waits = Vec::new();
    let mut backoff = Duration::from_millis(100);
    loop {
        attempts += 1;
        let status = match grpc.export(Some(auth), data.clone()).await {
            Ok(_) => return Outcome::Sent { attempts, waits },
            Err(status) => status,
        };
        let wait = match status.code() {
            tonic::Code::ResourceExhausted => retry_delay(&status),
            tonic::Code::Unavailable
            | tonic::Code::Cancelled
            | tonic::Code::DeadlineExceeded
            | tonic::Code::Aborted
            | tonic::Code::OutOfRange
            | tonic::Code::DataLoss => Some(retry_delay(&status).unwrap_or(backoff)),
            _ => None,
        };
        let Some(wait) = wait else {
            return Outcome::Dropped { status, attempts };
        };
        if start.elapsed() + wait > give_up {
            return Outcome::Dropped { status, attempts };
        }
        // The client's own back-off, as the server asked: not a synchronisation sleep.
        tokio::time::sleep(wait).await;
        waits.push(wait);
        backoff = (backoff * 2).min(Duration::from_secs(5));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn collector_rule_recovers_from_the_rate_limit_with_retry_info() {
    let server = Sextant::start(Options::new()).await;
    let t = limited_tenant(
        &server,
        "collector-rate",
        &[
            "--ingestion-rate-bytes",
            "10000",
            "--ingestion-burst-bytes",
            "20000",
        ],
    )
    .await;
    let mut grpc = OtlpGrpc::connect(server.addrs().otlp_grpc).await;
    let mut expected = Expected::default();
    let mut retries = 0;
    for i in 0..8 {
        let data = padded(10, 600);
        match export_like_collector(&mut grpc, &t.write, &data, Duration::from_secs(20)).await {
            Outcome::Sent { attempts, waits } => {
                for w in &waits {
                    assert!(
                        *w > Duration::ZERO && *w <= Duration::from_secs(3),
                        "export {i}: RetryInfo delay {w:?} for a bucket refilling 10 KB/s"
                    );
                }
                retries += attempts - 1;
            }
            Outcome::Dropped { status, attempts } => panic!(
                "export {i} dropped after {attempts} attempts under a rate limit: {status:?} \
                 (RetryInfo: {:?})",
                retry_delay(&status)
            ),
        }
        expected.add_request(&data);
    }
    assert!(
        retries > 0,
        "8 exports of ~7 KB within a 20 KB burst at 10 KB/s were never throttled"
    );
    assert_eq!(
        refused(&server, &t.id, "rate_limited").await,
        f64::from(retries),
        "{REFUSED}{{reason=rate_limited}} against the retries"
    );
    assert_all_readable(
        &server,
        Some(&t.read),
        &expected,
        &[ReadApi::V1Proto],
        "after rate limiting",
    )
    .await;

    // OTLP/HTTP: 429 with Retry-After in whole seconds, within what the bucket needs.
    let url = format!("{}/v1/traces", server.otlp_http_url());
    let mut answer = None;
    for _ in 0..20 {
        let resp = post_otlp(
            server.client(),
            &url,
            Some(&t.write),
            PROTO,
            None,
            padded(10, 600).encode_to_vec(),
        )
        .await;
        match resp.status().as_u16() {
            200 => continue,
            429 => {
                answer = Some(
                    resp.headers()
                        .get("retry-after")
                        .map(|v| v.to_str().expect("ascii").to_owned()),
                );
                break;
            }
            other => panic!(
                "POST {url} under a rate limit answered {other}: {}",
                resp.text().await.unwrap_or_default()
            ),
        }
    }
    let retry_after = answer
        .expect("20 quick posts of ~7 KB at 10 KB/s never answered 429")
        .expect("429 for a rate limit without Retry-After");
    let seconds: u64 = retry_after
        .parse()
        .unwrap_or_else(|_| panic!("Retry-After {retry_after:?} is not whole seconds"));
    assert!(
        (1..=3).contains(&seconds),
        "Retry-After {seconds}s for a bucket refilling 10 KB/s with a 7 KB request"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn collector_rule_drops_on_a_used_up_daily_quota() {
    let server = Sextant::start(Options::new()).await;
    let t = limited_tenant(
        &server,
        "collector-quota",
        &["--daily-ingest-bytes", "30000"],
    )
    .await;
    let mut grpc = OtlpGrpc::connect(server.addrs().otlp_grpc).await;
    let mut accepted = Expected::default();
    let mut dropped = None;
    for i in 0..20 {
        let data = padded(10, 600);
        match export_like_collector(&mut grpc, &t.write, &data, Duration::from_secs(20)).await {
            Outcome::Sent { attempts, .. } => {
                assert_eq!(
                    attempts, 1,
                    "export {i}: retried under a quota with the default rate"
                );
                accepted.add_request(&data);
            }
            Outcome::Dropped { status, attempts } => {
                dropped = Some((i, status, attempts, data));
                break;
            }
        }
    }
    let (i, status, attempts, lost) =
        dropped.expect("20 exports of ~7 KB never ran into a 30 KB daily quota");
    assert!(
        i >= 4,
        "the quota refused export {i}, after only ~{} KB",
        i * 7
    );
    assert_eq!(
        status.code(),
        tonic::Code::ResourceExhausted,
        "a used-up quota: {status:?}"
    );
    assert_eq!(
        retry_delay(&status),
        None,
        "RESOURCE_EXHAUSTED for a used-up quota must carry no RetryInfo (the Collector would \
         retry until midnight): {status:?}"
    );
    assert_eq!(attempts, 1, "the Collector's rule drops at once");
    assert!(
        refused(&server, &t.id, "quota_exceeded").await >= 1.0,
        "{REFUSED}{{reason=quota_exceeded}} not counted"
    );
    let lost_id = flat_trace_id(&lost);
    for api in [ReadApi::V1Proto, ReadApi::V2Json] {
        assert!(
            server
                .read_trace(api, Some(&t.read), &lost_id)
                .await
                .is_none(),
            "{api:?}: the trace refused under the quota is readable"
        );
    }
    assert_all_readable(
        &server,
        Some(&t.read),
        &accepted,
        &[ReadApi::V1Proto],
        "before the quota ran out",
    )
    .await;

    // OTLP/HTTP: 429 with Retry-After = the seconds to the next UTC midnight.
    for base in [server.otlp_http_url(), server.http_url()] {
        let url = format!("{base}/v1/traces");
        let resp = post_otlp(
            server.client(),
            &url,
            Some(&t.write),
            PROTO,
            None,
            padded(2, 100).encode_to_vec(),
        )
        .await;
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("clock")
            .as_secs();
        let to_midnight = 86_400 - now % 86_400;
        assert_eq!(resp.status(), 429, "POST {url} over the daily quota");
        let retry_after: u64 = resp
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("POST {url}: 429 for a quota without Retry-After seconds"));
        assert!(
            retry_after.abs_diff(to_midnight) <= 5,
            "POST {url}: Retry-After {retry_after}s, next UTC midnight in {to_midnight}s"
        );
    }
    // Still refused on the gRPC port of the http listener, whatever the batch.
    let (_, mut spans) = trace(1);
    spans[0]
        .attributes
        .push(kv("bytes", Value::BytesValue(vec![1; 100])));
    let mut grpc = OtlpGrpc::connect(server.addrs().http).await;
    let err = grpc
        .export(Some(&t.write), request("q", spans))
        .await
        .expect_err("export over the quota accepted");
    assert_eq!(err.code(), tonic::Code::ResourceExhausted, "{err:?}");
    assert_eq!(
        retry_delay(&err),
        None,
        "quota refusal with RetryInfo: {err:?}"
    );
}

fn flat_trace_id(data: &TracesData) -> Vec<u8> {
    data.resource_spans[0].scope_spans[0].spans[0]
        .trace_id
        .clone()
}
