//! `kill -9` at every step of a block flush, against the real binary: a debug build aborts at
//! a named failpoint (`SEXTANT_FAILPOINTS`) after the block's objects are written, after the
//! block is registered in the catalog, or right after WAL segments were released. Restarted
//! without the failpoint on the same data dir, every acknowledged trace reads back with every
//! span exactly once through all four read APIs — and again after a further flush, a SIGTERM
//! and another restart.

use std::os::unix::process::ExitStatusExt;
use std::time::{Duration, Instant};

use prost::Message;
use sextant_model::otlp::TracesData;
use sextant_tests::{
    Auth, Expected, Moto, Options, ReadApi, Sextant, assert_all_readable, attr_str, request, trace,
    wait_until,
};

const TENANTS: [&str; 2] = ["crash-a", "crash-b"];
/// Upper bound on the requests sent before the failpoint must have fired.
const MAX_REQUESTS: usize = 2000;

/// A 3-span trace of about 3 KiB, so that 64 KiB WAL segments roll over every ~20 requests.
fn padded_trace() -> TracesData {
    let (_, mut spans) = trace(3);
    for span in &mut spans {
        let pad: String = (0..1000)
            .map(|_| char::from(b'a' + rand::random::<u8>() % 26))
            .collect();
        span.attributes.push(attr_str("pad", &pad));
    }
    request("crash-svc", spans)
}

fn options() -> Options {
    Options::new()
        .fast_blocks()
        .env("SEXTANT_WAL__SEGMENT_BYTES", (64 * 1024).to_string())
        .env("SEXTANT_WAL__MAX_BYTES", (64 << 20).to_string())
}

/// Send traces until the server dies at the failpoint; what it acknowledged, per tenant.
async fn send_until_abort(
    server: &mut Sextant,
    auths: &[Auth; 2],
    failpoint: &str,
) -> [Expected; 2] {
    let url = format!("{}/v1/traces", server.otlp_http_url());
    let client = server.client().clone();
    let mut acked = [Expected::default(), Expected::default()];
    let deadline = Instant::now() + Duration::from_secs(20);
    for i in 0..MAX_REQUESTS {
        assert!(
            Instant::now() < deadline,
            "failpoint {failpoint} not reached within 20 s ({i} requests)"
        );
        let data = padded_trace();
        let sent = client
            .post(&url)
            .header("content-type", "application/x-protobuf")
            .header("authorization", auths[i % 2].basic())
            .body(data.encode_to_vec())
            .send()
            .await;
        match sent {
            Ok(resp) if resp.status() == 200 => acked[i % 2].add_request(&data),
            Ok(resp) => panic!(
                "push answered {} before the failpoint: {}",
                resp.status(),
                resp.text().await.unwrap_or_default()
            ),
            // The process is gone (or going): nothing more is acknowledged.
            Err(_) => break,
        }
        // Pace the sender so that flushes happen while traces keep arriving.
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let status = server.wait_exit().await;
    assert_eq!(
        status.signal(),
        Some(6),
        "sextant should have aborted (SIGABRT) at failpoint {failpoint}, exited with {status}\n{}",
        server.stderr_tail()
    );
    assert!(
        server
            .stderr_tail()
            .contains(&format!("failpoint {failpoint} reached")),
        "the abort was not at failpoint {failpoint}\n{}",
        server.stderr_tail()
    );
    let total: usize = acked.iter().map(|e| e.trace_ids.len()).sum();
    assert!(
        total >= 5,
        "only {total} traces acknowledged before the abort"
    );
    acked
}

async fn assert_exactly_once(
    server: &Sextant,
    auths: &[Auth; 2],
    acked: &[Expected; 2],
    when: &str,
) {
    for (auth, expected) in auths.iter().zip(acked) {
        assert_all_readable(server, Some(auth), expected, &ReadApi::ALL, when).await;
    }
}

async fn crash_at(failpoint: &str, options: impl Fn() -> Options) {
    let dir = tempfile::Builder::new()
        .prefix("sextant-crash-")
        .tempdir()
        .expect("temp data dir");
    let mut server = Sextant::start(
        options()
            .env("SEXTANT_FAILPOINTS", failpoint)
            .data_dir(dir.path()),
    )
    .await;
    // Keys live in the data dir's database: they stay valid for the next process on it.
    let auths = [
        server.tenant(TENANTS[0]).await.rw,
        server.tenant(TENANTS[1]).await.rw,
    ];
    let acked = send_until_abort(&mut server, &auths, failpoint).await;

    let mut server = Sextant::start(options().data_dir(dir.path())).await;
    assert_exactly_once(
        &server,
        &auths,
        &acked,
        &format!("after abort at {failpoint}"),
    )
    .await;
    server.wait_all_in_blocks(Duration::from_secs(20)).await;
    assert_exactly_once(
        &server,
        &auths,
        &acked,
        &format!("after abort at {failpoint}, all flushed"),
    )
    .await;

    // One more trace per tenant, flushed; then SIGTERM and a restart.
    let mut acked = acked;
    let url = format!("{}/v1/traces", server.otlp_http_url());
    for (auth, expected) in auths.iter().zip(acked.iter_mut()) {
        let data = padded_trace();
        let resp = sextant_tests::post_otlp(
            server.client(),
            &url,
            Some(auth),
            "application/x-protobuf",
            None,
            data.encode_to_vec(),
        )
        .await;
        assert_eq!(resp.status(), 200, "push after the restart");
        expected.add_request(&data);
    }
    wait_until(
        Duration::from_secs(10),
        "the new traces to be in blocks",
        async || server.traces_in_memory().await == 0.0,
    )
    .await;
    server.restart().await;
    assert_exactly_once(
        &server,
        &auths,
        &acked,
        &format!("after abort at {failpoint}, flush, SIGTERM and restart"),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn abort_after_block_objects_written_reads_back_every_acked_span_once() {
    crash_at("flush.after_objects", options).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn abort_after_block_registered_reads_back_every_acked_span_once() {
    crash_at("flush.after_register", options).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn abort_after_wal_release_reads_back_every_acked_span_once() {
    crash_at("flush.after_wal_release", options).await;
}

/// The same on S3: the block's objects outlive the abort in the bucket (`moto_server` keeps
/// running across both processes).
async fn crash_on_s3_at(failpoint: &str) {
    let moto = Moto::start().await;
    moto.create_bucket("sextant-crash").await;
    let endpoint = moto.endpoint();
    crash_at(failpoint, || {
        options().s3(&endpoint, "s3://sextant-crash/blocks")
    })
    .await;
    assert!(
        moto.list_keys("sextant-crash", "blocks/")
            .await
            .iter()
            .any(|k| k.ends_with("/meta.json")),
        "no block in the bucket"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn abort_after_block_objects_written_on_s3_reads_back_every_acked_span_once() {
    crash_on_s3_at("flush.after_objects").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn abort_after_block_registered_on_s3_reads_back_every_acked_span_once() {
    crash_on_s3_at("flush.after_register").await;
}
