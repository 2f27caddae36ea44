//! Compaction against the real binary: the load generator writes many small blocks (a block
//! is cut every 200 ms), the compactor merges them while ingest goes on, and in the end there
//! are fewer blocks, no more bytes per span than were written, and every trace is returned
//! exactly once with all of its spans.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::Value as Json;
use sextant_tests::{Options, Sextant, sextant_bin, wait_until};

const TENANT: &str = "compacted";

/// Live blocks and their bytes for the tenant, from the catalog gauges.
async fn live_blocks(server: &Sextant) -> (f64, f64) {
    let labels = [("tenant", TENANT), ("state", "live")];
    (
        server.metric("sextant_catalog_blocks", &labels).await,
        server.metric("sextant_catalog_bytes", &labels).await,
    )
}

/// Every trace of the tenant as `/api/search` finds it: trace ID → spans matched by `{ }`.
async fn all_traces(server: &Sextant, authorization: &str) -> BTreeMap<String, u64> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    let url = format!(
        "{}/api/search?q=%7B%7D&limit=100000&spss=1&start={}&end={}",
        server.http_url(),
        now - 3600,
        now + 3600
    );
    let resp = server
        .client()
        .get(&url)
        .header("authorization", authorization)
        .send()
        .await
        .expect("search");
    assert_eq!(resp.status(), 200, "search");
    let body: Json = resp.json().await.expect("search json");
    let mut found = BTreeMap::new();
    assert!(
        body["traces"].as_array().is_some_and(|t| !t.is_empty()),
        "search found nothing: {body}"
    );
    for t in body["traces"].as_array().expect("traces") {
        let id = t["traceID"].as_str().expect("traceID").to_owned();
        let matched: u64 = t["spanSets"]
            .as_array()
            .map(|sets| sets.iter().filter_map(|s| s["matched"].as_u64()).sum())
            .unwrap_or(0);
        assert!(
            found.insert(id.clone(), matched).is_none(),
            "trace {id} returned twice by one search"
        );
    }
    found
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compaction_merges_small_blocks_and_keeps_every_span_exactly_once() {
    let server = Sextant::start(
        Options::new()
            .fast_blocks()
            .env("SEXTANT_CATALOG__METRICS_INTERVAL", "50ms")
            .env("SEXTANT_GATEWAY__MAX_SEARCH_LIMIT", "100000")
            .env("SEXTANT_COMPACTOR__INTERVAL", "300ms")
            .env("SEXTANT_COMPACTOR__GRACE_PERIOD", "100ms"),
    )
    .await;
    let keys = server.tenant(TENANT).await;

    // About 4 s of load at 1000 spans/s: a block every 200 ms.
    let out = tokio::process::Command::new(sextant_bin())
        .args([
            "loadgen",
            "--endpoint",
            &server.otlp_http_url(),
            "--protocol",
            "http",
            "--header",
            &format!("authorization: {}", keys.write.basic()),
            "--rate",
            "1000",
            "--count",
            "4000",
            "--duration",
            "30s",
            "--concurrency",
            "2",
            "--no-baseline",
            "--json",
        ])
        .kill_on_drop(true)
        .output()
        .await
        .expect("run loadgen");
    assert!(
        out.status.success(),
        "loadgen failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary: Json = serde_json::from_slice(&out.stdout).expect("loadgen json");
    let acked = summary["acknowledged_spans"].as_u64().expect("acked");
    assert_eq!(acked, 4000, "loadgen: {summary}");
    server.wait_all_in_blocks(Duration::from_secs(20)).await;

    let written_blocks = server
        .metric("sextant_blocks_written_total", &[("tenant", TENANT)])
        .await;
    let written_bytes = server
        .metric("sextant_block_bytes_written_total", &[("tenant", TENANT)])
        .await;
    assert!(
        written_blocks >= 6.0,
        "only {written_blocks} blocks written: not many small blocks"
    );

    // Compaction settles: fewer live blocks than were written, and no input left behind.
    wait_until(
        Duration::from_secs(30),
        "compaction to merge the blocks",
        async || {
            let (blocks, _) = live_blocks(&server).await;
            blocks > 0.0 && blocks * 2.0 <= written_blocks
        },
    )
    .await;

    let (blocks, bytes) = live_blocks(&server).await;
    let before = written_bytes / acked as f64;
    let after = bytes / acked as f64;
    assert!(
        after <= before,
        "bytes per span rose with compaction: {before:.1} written, {after:.1} after \
         ({written_blocks} blocks → {blocks})"
    );

    // Every trace once, with every span: the spans found add up to what was acknowledged.
    let traces = all_traces(&server, &keys.read.basic()).await;
    let spans: u64 = traces.values().sum();
    assert_eq!(
        spans,
        acked,
        "{} traces hold {spans} spans after compaction, {acked} were acknowledged",
        traces.len()
    );
    // And a second look (after any pending deletions) finds the same.
    assert_eq!(all_traces(&server, &keys.read.basic()).await, traces);
}
