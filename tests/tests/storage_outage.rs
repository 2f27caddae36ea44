//! Object storage going away under load, against the real binary with blocks on S3 (a real
//! `moto_server` behind a TCP proxy the test cuts, so the bucket survives the outage): ingest
//! keeps acknowledging until the WAL byte cap, then answers 503 with `Retry-After` (gRPC
//! UNAVAILABLE) and `/ready` says why; flushes fail and are counted; once storage is back the
//! blocks are written, the WAL shrinks, the server is ready and ingesting again, and nothing
//! acknowledged was lost.

use std::time::Duration;

use prost::Message;
use sextant_model::otlp::TracesData;
use sextant_tests::{
    Auth, Expected, Moto, Options, OtlpGrpc, ReadApi, Sextant, TcpProxy, assert_all_readable,
    attr_str, post_otlp, request, trace, wait_until,
};

const TENANT: &str = "outage";
const BUCKET: &str = "sextant-outage";
const SEGMENT_BYTES: u64 = 64 * 1024;
const WAL_CAP: u64 = 256 * 1024;
/// Upper bound on the requests sent into the outage (the cap must be hit well before).
const MAX_REQUESTS: usize = 400;

/// A 3-span trace of about 6 KiB (two 1000-byte attributes per span, under the 2048-byte
/// attribute limit so nothing is truncated).
fn padded_trace() -> TracesData {
    let (_, mut spans) = trace(3);
    for (i, span) in spans.iter_mut().enumerate() {
        for k in 0..2 {
            let pad: String = (0..1000)
                .map(|j| {
                    char::from(b'a' + ((i + k + j + rand::random::<u8>() as usize) % 26) as u8)
                })
                .collect();
            span.attributes.push(attr_str(&format!("pad.{k}"), &pad));
        }
    }
    request("outage-svc", spans)
}

/// POST one trace over OTLP HTTP; the response.
async fn push(server: &Sextant, auth: &Auth, data: &TracesData) -> reqwest::Response {
    post_otlp(
        server.client(),
        &format!("{}/v1/traces", server.otlp_http_url()),
        Some(auth),
        "application/x-protobuf",
        None,
        data.encode_to_vec(),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_outage_keeps_ingest_up_to_the_wal_cap_and_loses_nothing() {
    let moto = Moto::start().await;
    moto.create_bucket(BUCKET).await;
    let moto_addr = format!("127.0.0.1:{}", moto.port()).parse().expect("addr");
    let proxy = TcpProxy::start(moto_addr).await;
    let server = Sextant::start(
        Options::new()
            .fast_blocks()
            .s3(&proxy.url(), &format!("s3://{BUCKET}/outage"))
            .env("SEXTANT_WAL__SEGMENT_BYTES", SEGMENT_BYTES.to_string())
            .env("SEXTANT_WAL__MAX_BYTES", WAL_CAP.to_string()),
    )
    .await;
    let auth = server.tenant(TENANT).await.rw;
    let mut acked = Expected::default();

    // Storage up: blocks are written.
    for _ in 0..5 {
        let data = padded_trace();
        let resp = push(&server, &auth, &data).await;
        assert_eq!(resp.status(), 200, "push with storage up");
        acked.add_request(&data);
    }
    server.wait_all_in_blocks(Duration::from_secs(10)).await;
    let blocks_before = server
        .metric("sextant_blocks_written_total", &[("tenant", TENANT)])
        .await;
    assert!(blocks_before >= 1.0, "no block written with storage up");
    let objects_before = moto.list_keys(BUCKET, "outage/").await.len();

    // Storage down: ingest continues until the WAL cap, then 503 with Retry-After.
    proxy.cut();
    let errors_before = server
        .metric("sextant_block_flushes_total", &[("result", "error")])
        .await;
    let mut accepted_in_outage = 0;
    let mut refusal = None;
    for _ in 0..MAX_REQUESTS {
        let data = padded_trace();
        let resp = push(&server, &auth, &data).await;
        match resp.status().as_u16() {
            200 => {
                acked.add_request(&data);
                accepted_in_outage += 1;
            }
            503 => {
                let retry_after = resp
                    .headers()
                    .get("retry-after")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned);
                refusal = Some((retry_after, resp.text().await.unwrap_or_default()));
                break;
            }
            other => panic!(
                "push during the outage answered {other}: {}",
                resp.text().await.unwrap_or_default()
            ),
        }
    }
    let (retry_after, body) = refusal.unwrap_or_else(|| {
        panic!("{MAX_REQUESTS} pushes (~{} KiB) accepted with storage down and a {WAL_CAP}-byte WAL cap", MAX_REQUESTS * 6)
    });
    assert!(
        accepted_in_outage >= 10,
        "only {accepted_in_outage} pushes accepted during the outage before the cap"
    );
    let retry_after = retry_after.unwrap_or_else(|| panic!("503 without Retry-After: {body}"));
    assert!(
        retry_after.trim().parse::<u64>().is_ok(),
        "Retry-After {retry_after:?} is not a number of seconds"
    );
    let (status, why) = server.ready().await;
    assert_eq!(
        status, 503,
        "/ready with the WAL at its cap answered {status}: {why}"
    );
    assert!(
        why.to_lowercase().contains("cap"),
        "/ready does not name the WAL cap: {why}"
    );
    let mut grpc = OtlpGrpc::connect(server.addrs().otlp_grpc).await;
    let refused = grpc
        .export(Some(&auth), padded_trace())
        .await
        .expect_err("gRPC push accepted at the WAL cap");
    assert_eq!(
        refused.code(),
        tonic::Code::Unavailable,
        "gRPC push at the WAL cap: {refused:?}"
    );
    wait_until(
        Duration::from_secs(10),
        "failed flushes to be counted",
        async || {
            server
                .metric("sextant_block_flushes_total", &[("result", "error")])
                .await
                > errors_before
        },
    )
    .await;
    assert_eq!(
        moto.list_keys(BUCKET, "outage/").await.len(),
        objects_before,
        "objects appeared in the bucket while the proxy was cut"
    );

    // Storage back: everything flushes, the WAL shrinks, ready and ingesting again.
    proxy.restore();
    server.wait_ready(Duration::from_secs(20)).await;
    wait_until(
        Duration::from_secs(20),
        "the WAL to shrink below its cap",
        async || (server.metric("sextant_wal_bytes", &[]).await as u64) < WAL_CAP,
    )
    .await;
    let data = padded_trace();
    let resp = push(&server, &auth, &data).await;
    assert_eq!(resp.status(), 200, "push after storage came back");
    acked.add_request(&data);
    grpc.export(Some(&auth), {
        let data = padded_trace();
        acked.add_request(&data);
        data
    })
    .await
    .unwrap_or_else(|s| panic!("gRPC push after storage came back: {s:?}"));
    server.wait_all_in_blocks(Duration::from_secs(20)).await;
    assert!(
        server
            .metric("sextant_blocks_written_total", &[("tenant", TENANT)])
            .await
            > blocks_before,
        "no block written after storage came back"
    );
    assert!(
        moto.list_keys(BUCKET, "outage/").await.len() > objects_before,
        "no new objects in the bucket after storage came back"
    );
    assert_all_readable(
        &server,
        Some(&auth),
        &acked,
        &[ReadApi::V1Proto, ReadApi::V2Json],
        "after the outage",
    )
    .await;
}
