//! Traces on their way into blocks: the OpenTelemetry Python SDK's exporters and an OTLP/JSON
//! sender against the real binary with blocks on S3 (a real `moto_server`) and on local disk.
//! Every trace must read back identically, span for span, once its block is written and the
//! WAL released, and again after a SIGTERM and a restart that replays nothing (so the reads
//! come from blocks). And a read of an acknowledged trace must never miss while it moves from
//! memory and WAL into a block.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use prost::Message;
use sextant_tests::{
    Auth, Expected, Moto, Options, ReadApi, Sextant, assert_all_readable, assert_same_spans,
    attr_str, flatten, post_otlp, request, trace,
};

const TENANT: &str = "blocks-e2e";
const BUCKET: &str = "sextant-blocks";

/// Send with every SDK exporter on both ports and with the OTLP/JSON script, with `auth`'s
/// key as Basic auth; the expected traces of `TENANT`.
async fn send_with_sdks(server: &Sextant, auth: &Auth) -> Expected {
    let authorization = auth.basic();
    let grpc = server.otlp_grpc_url();
    let http_port = server.http_url();
    let otlp_http = server.otlp_http_url();
    let runs: [(&str, Vec<&str>); 3] = [
        (
            "send_traces.py",
            vec![
                "--exporter",
                "grpc",
                "--endpoint",
                &grpc,
                "--authorization",
                &authorization,
            ],
        ),
        (
            "send_traces.py",
            vec![
                "--exporter",
                "http",
                "--endpoint",
                &http_port,
                "--authorization",
                &authorization,
                "--compression",
                "gzip",
            ],
        ),
        (
            "send_otlp_json.py",
            vec!["--endpoint", &otlp_http, "--authorization", &authorization],
        ),
    ];
    let mut expected = Expected::default();
    for (script, args) in &runs {
        expected.add_script(script, args).await;
    }
    assert!(
        expected.trace_ids.len() >= 8,
        "the scripts sent too few traces"
    );
    expected
}

/// The block IDs that have a `meta.json` among `keys` (paths relative to the storage root).
fn complete_blocks(keys: &[String]) -> BTreeMap<String, Vec<String>> {
    let mut blocks: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for key in keys {
        let rest = key
            .strip_prefix(&format!("{TENANT}/blocks/"))
            .unwrap_or_else(|| panic!("object {key:?} outside {TENANT}/blocks/"));
        let (block, file) = rest
            .split_once('/')
            .unwrap_or_else(|| panic!("object {key:?} not inside a block folder"));
        blocks
            .entry(block.to_owned())
            .or_default()
            .push(file.to_owned());
    }
    for (block, files) in &mut blocks {
        files.sort();
        assert_eq!(
            files,
            &["bloom.bin", "data.parquet", "meta.json"],
            "block {block} is incomplete"
        );
    }
    blocks
}

/// Every file under `dir`, as paths relative to it with `/` separators.
fn files_under(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for entry in entries {
            let path = entry.expect("dir entry").path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let rel = path.strip_prefix(dir).expect("under dir");
                out.push(rel.to_string_lossy().replace('\\', "/"));
            }
        }
    }
    out.sort();
    out
}

/// The common body: send through the SDKs, wait until every trace is in a block, read all back,
/// SIGTERM, restart with an empty WAL and read all back again. `objects` lists the storage.
async fn round_trip_through_blocks<F>(mut server: Sextant, objects: F)
where
    F: AsyncFn() -> Vec<String>,
{
    let auth = server.tenant(TENANT).await.rw;
    let expected = send_with_sdks(&server, &auth).await;
    server.wait_all_in_blocks(Duration::from_secs(20)).await;
    let written = server
        .metric("sextant_blocks_written_total", &[("tenant", TENANT)])
        .await;
    assert!(written >= 1.0, "no block written for {TENANT}");
    let blocks = complete_blocks(&objects().await);
    assert!(
        !blocks.is_empty(),
        "no {TENANT}/blocks/*/meta.json in the storage"
    );
    assert!(
        server
            .metric("sextant_store_backend_bytes", &[("tenant", TENANT)])
            .await
            > 0.0,
        "sextant_store_backend_bytes{{tenant={TENANT}}} is 0 with blocks written"
    );
    assert_all_readable(&server, Some(&auth), &expected, &ReadApi::ALL, "in blocks").await;

    let status = server.sigterm().await;
    assert!(
        status.success(),
        "SIGTERM: exited with {status}\n{}",
        server.stderr_tail()
    );
    server.restart().await;
    let replayed = server.metric("sextant_wal_replay_records_total", &[]).await;
    assert_eq!(
        replayed, 0.0,
        "the restart replayed WAL records (sextant_wal_replay_records_total, summed over its \
         series: {replayed}) although every trace was in a block before the SIGTERM"
    );
    assert_eq!(
        server.traces_in_memory().await,
        0.0,
        "traces in memory after a restart with an empty WAL"
    );
    assert_all_readable(
        &server,
        Some(&auth),
        &expected,
        &ReadApi::ALL,
        "after restart, from blocks only",
    )
    .await;
    let after = complete_blocks(&objects().await);
    assert_eq!(
        blocks.keys().collect::<Vec<_>>(),
        after.keys().collect::<Vec<_>>(),
        "the blocks changed over a restart with nothing new to flush"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sdk_traces_read_back_from_blocks_on_s3() {
    let moto = Moto::start().await;
    moto.create_bucket(BUCKET).await;
    let server = Sextant::start(
        Options::new()
            .fast_blocks()
            .without_compaction()
            .s3(&moto.endpoint(), &format!("s3://{BUCKET}/e2e")),
    )
    .await;
    round_trip_through_blocks(server, async || {
        moto.list_keys(BUCKET, "e2e/")
            .await
            .into_iter()
            .map(|k| k.strip_prefix("e2e/").expect("listed by prefix").to_owned())
            .collect()
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sdk_traces_read_back_from_blocks_on_local_disk() {
    let server = Sextant::start(Options::new().fast_blocks().without_compaction()).await;
    let root = server.data_dir().join("blocks");
    round_trip_through_blocks(server, async || files_under(&root)).await;
}

/// A trace acknowledged by the server and what it holds.
struct Acked {
    trace_id: Vec<u8>,
    spans: BTreeMap<sextant_tests::SpanKey, sextant_tests::FlatSpan>,
    /// `sextant_blocks_written_total` of the tenant when the ack arrived.
    blocks_at_ack: f64,
    reads: usize,
}

/// Reads during the move from memory and WAL to a block: a stream of traces while blocks are
/// cut every 200 ms, each acknowledged trace read again and again until blocks were written
/// well after it completed; no read may 404 or lack a span.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_traces_stay_readable_through_the_hand_over_to_blocks() {
    // Small WAL segments, so that segments roll over and are released during the run.
    let server = Sextant::start(
        Options::new()
            .fast_blocks()
            .env("SEXTANT_WAL__SEGMENT_BYTES", "65536"),
    )
    .await;
    let tenant = "hand-over";
    let auth = server.tenant(tenant).await.rw;
    let stop = Arc::new(AtomicBool::new(false));
    let acked: Arc<Mutex<Vec<Acked>>> = Arc::default();

    let sender = {
        let client = server.client().clone();
        let url = format!("{}/v1/traces", server.otlp_http_url());
        let metrics_url = format!("{}/metrics", server.internal_url());
        let stop = stop.clone();
        let acked = acked.clone();
        let auth = auth.clone();
        tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let (trace_id, mut spans) = trace(3);
                for span in &mut spans {
                    // About 3 KiB a trace, so that 64 KiB WAL segments roll over.
                    let pad: String = (0..1000)
                        .map(|_| char::from(b'a' + rand::random::<u8>() % 26))
                        .collect();
                    span.attributes.push(attr_str("pad", &pad));
                }
                let data = request("hand-over-svc", spans);
                let resp = post_otlp(
                    &client,
                    &url,
                    Some(&auth),
                    "application/x-protobuf",
                    None,
                    data.encode_to_vec(),
                )
                .await;
                assert_eq!(resp.status(), 200, "push refused");
                let text = client
                    .get(&metrics_url)
                    .send()
                    .await
                    .expect("metrics")
                    .text()
                    .await
                    .expect("metrics body");
                let blocks_at_ack = sextant_tests::metric_sum(
                    &text,
                    "sextant_blocks_written_total",
                    &[("tenant", tenant)],
                );
                acked.lock().expect("acked").push(Acked {
                    trace_id,
                    spans: flatten(&data),
                    blocks_at_ack,
                    reads: 0,
                });
                tokio::time::sleep(Duration::from_millis(25)).await;
            }
        })
    };

    // Keep reading until 60 traces were each read until at least two further blocks were
    // written after their ack (the first may have been cut before the trace completed).
    let deadline = Instant::now() + Duration::from_secs(25);
    let mut confirmed = 0;
    let mut reads = 0usize;
    let mut tracked: Vec<Acked> = Vec::new();
    while confirmed < 60 {
        assert!(
            Instant::now() < deadline,
            "only {confirmed} traces confirmed in blocks in time"
        );
        tracked.extend(acked.lock().expect("acked").drain(..));
        let blocks = server
            .metric("sextant_blocks_written_total", &[("tenant", tenant)])
            .await;
        let mut still = Vec::new();
        for mut a in tracked.drain(..) {
            let api = ReadApi::ALL[reads % ReadApi::ALL.len()];
            reads += 1;
            let got = server
                .read_trace(api, Some(&auth), &a.trace_id)
                .await
                .unwrap_or_else(|| {
                    panic!(
                        "acknowledged trace {} answered 404 via {api:?} after {} reads \
                         (blocks at ack {}, now {blocks})",
                        hex::encode(&a.trace_id),
                        a.reads,
                        a.blocks_at_ack
                    )
                });
            assert_same_spans(
                &format!(
                    "trace {} via {api:?} during the hand-over",
                    hex::encode(&a.trace_id)
                ),
                &a.spans,
                &got,
            );
            a.reads += 1;
            if blocks >= a.blocks_at_ack + 2.0 && a.reads >= 2 {
                confirmed += 1;
            } else {
                still.push(a);
            }
        }
        tracked = still;
    }
    stop.store(true, Ordering::Relaxed);
    sender.await.expect("sender task");
    assert!(
        server
            .metric("sextant_blocks_written_total", &[("tenant", tenant)])
            .await
            >= 3.0,
        "too few blocks written to cover a hand-over"
    );

    assert!(
        server.metric("sextant_wal_released_bytes_total", &[]).await > 0.0,
        "no WAL segment released while blocks were written"
    );

    // Everything still in flight: read once more after the last block.
    tracked.extend(acked.lock().expect("acked").drain(..));
    server.wait_all_in_blocks(Duration::from_secs(10)).await;
    let mut rest = Expected::default();
    for a in &tracked {
        rest.spans.extend(a.spans.clone());
        rest.trace_ids.push(a.trace_id.clone());
    }
    assert_all_readable(
        &server,
        Some(&auth),
        &rest,
        &[ReadApi::V1Proto],
        "after the last block",
    )
    .await;
}

/// A registered block whose objects vanished (a lost disk, a careless manual cleanup) is skipped
/// with a warning: lookups of the tenant's other traces, whose time ranges make that block a
/// candidate too, keep working, and its own traces read as not found rather than as an error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_block_whose_objects_vanished_does_not_break_other_lookups() {
    let server = Sextant::start(Options::new().fast_blocks()).await;
    let tenant = "lost-block";
    let auth = server.tenant(tenant).await.rw;
    let url = format!("{}/v1/traces", server.otlp_http_url());
    let blocks_dir = server.data_dir().join("blocks").join(tenant).join("blocks");
    let send = async |spans| {
        let resp = post_otlp(
            server.client(),
            &url,
            Some(&auth),
            "application/x-protobuf",
            None,
            request("lost-svc", spans).encode_to_vec(),
        )
        .await;
        assert_eq!(resp.status(), 200);
    };
    let block_dirs = || -> Vec<std::path::PathBuf> {
        std::fs::read_dir(&blocks_dir)
            .map(|d| d.flatten().map(|e| e.path()).collect())
            .unwrap_or_default()
    };

    let (lost, spans) = trace(2);
    send(spans).await;
    server.wait_all_in_blocks(Duration::from_secs(20)).await;
    let first = block_dirs();
    assert_eq!(first.len(), 1, "one block for the first trace: {first:?}");
    let (kept, spans) = trace(2);
    send(spans).await;
    server.wait_all_in_blocks(Duration::from_secs(20)).await;
    assert_eq!(block_dirs().len(), 2);

    std::fs::remove_dir_all(&first[0]).unwrap();
    for api in [ReadApi::V1Proto, ReadApi::V2Json] {
        assert!(
            server.read_trace(api, Some(&auth), &kept).await.is_some(),
            "the intact block's trace must still be readable ({api:?})"
        );
        assert!(
            server.read_trace(api, Some(&auth), &lost).await.is_none(),
            "the vanished block's trace reads as not found ({api:?})"
        );
    }
}
