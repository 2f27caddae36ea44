//! What a test sent and expects to read back, the check that every trace does (through all
//! four read APIs, each span exactly once), and options and waits for tests over blocks.

use std::collections::BTreeMap;
use std::time::Duration;

use sextant_model::otlp::TracesData;

use crate::auth::Auth;
use crate::client::ReadApi;
use crate::python::{run_script, sent};
use crate::server::{Options, Sextant, wait_until};
use crate::spans::{FlatSpan, SpanKey, assert_same_spans, flatten, spans_of};

/// Traces sent under one tenant and acknowledged: the expected spans and the trace IDs.
#[derive(Clone, Debug, Default)]
pub struct Expected {
    pub spans: BTreeMap<SpanKey, FlatSpan>,
    pub trace_ids: Vec<Vec<u8>>,
}

impl Expected {
    /// Run a sender script from `tests/python/` and expect what it says it sent.
    pub async fn add_script(&mut self, script: &str, args: &[&str]) {
        let output = run_script(script, args).await;
        let sent = sent(&output).unwrap_or_else(|e| panic!("{script} {args:?}: {e:#}"));
        let flat = flatten(&sent.data);
        for id in &sent.trace_ids {
            assert!(
                flat.keys().any(|(t, _)| t == id),
                "{script} {args:?}: trace {} listed but no span recorded",
                hex::encode(id)
            );
        }
        self.spans.extend(flat);
        self.trace_ids.extend(sent.trace_ids);
    }

    /// Expect every trace of an acknowledged request.
    pub fn add_request(&mut self, data: &TracesData) {
        let flat = flatten(data);
        for (trace_id, _) in flat.keys() {
            if !self.trace_ids.contains(trace_id) {
                self.trace_ids.push(trace_id.clone());
            }
        }
        self.spans.extend(flat);
    }

    /// The number of expected spans.
    pub fn span_count(&self) -> usize {
        self.spans.len()
    }
}

/// Read every expected trace through each of `apis` and compare span by span (a missing
/// trace, a missing, changed, extra or duplicated span fails).
pub async fn assert_all_readable(
    server: &Sextant,
    auth: Option<&Auth>,
    expected: &Expected,
    apis: &[ReadApi],
    when: &str,
) {
    for trace_id in &expected.trace_ids {
        let want = spans_of(&expected.spans, trace_id);
        for api in apis {
            let got = server
                .read_trace(*api, auth, trace_id)
                .await
                .unwrap_or_else(|| {
                    panic!(
                        "{when}: trace {} not found via {api:?} (tenant {:?})",
                        hex::encode(trace_id),
                        auth.map(|a| &a.tenant)
                    )
                });
            let what = format!("{when}: trace {} via {api:?}", hex::encode(trace_id));
            assert_same_spans(&what, &want, &got);
        }
    }
}

impl Options {
    /// Short intervals so that traces complete and become blocks within a fraction of a
    /// second: trace idle 100 ms, sweep 20 ms, block age 200 ms, flush retries 50–200 ms.
    pub fn fast_blocks(self) -> Self {
        self.env("SEXTANT_INGESTER__TRACE_IDLE", "100ms")
            .env("SEXTANT_INGESTER__SWEEP_INTERVAL", "20ms")
            .env("SEXTANT_BLOCK__MAX_BLOCK_AGE", "200ms")
            .env("SEXTANT_BLOCK__FLUSH_RETRY_MIN", "50ms")
            .env("SEXTANT_BLOCK__FLUSH_RETRY_MAX", "200ms")
    }

    /// No compactor: for tests that compare the set of blocks across a restart (compaction
    /// would legitimately replace them).
    pub fn without_compaction(self) -> Self {
        self.env("SEXTANT_COMPACTOR__ENABLED", "false")
    }

    /// Blocks on S3 at `url` (`s3://bucket/prefix`) served by `endpoint` (`http://…`), with
    /// test credentials, path-style over plain HTTP, short request timeouts and retries.
    pub fn s3(self, endpoint: &str, url: &str) -> Self {
        self.env("SEXTANT_STORAGE__URL", url)
            .env("SEXTANT_STORAGE__S3__ENDPOINT", endpoint)
            .env("SEXTANT_STORAGE__S3__REGION", "us-east-1")
            .env("SEXTANT_STORAGE__S3__ALLOW_HTTP", "true")
            .env("SEXTANT_STORAGE__S3__ACCESS_KEY_ID", "test")
            .env("SEXTANT_STORAGE__S3__SECRET_ACCESS_KEY", "test")
            .env("SEXTANT_STORAGE__RETRIES", "1")
            .env("SEXTANT_STORAGE__REQUEST_TIMEOUT", "2s")
            .env("SEXTANT_STORAGE__RETRY_BACKOFF", "50ms")
    }
}

impl Sextant {
    /// Traces in memory, live or completed and waiting for a block (all tenants).
    pub async fn traces_in_memory(&self) -> f64 {
        let text = self.metrics_text().await;
        crate::probes::metric_sum(&text, "sextant_live_traces", &[])
            + crate::probes::metric_sum(&text, "sextant_completed_traces", &[])
    }

    /// Wait until no trace is left in memory (every trace completed and written to a block).
    pub async fn wait_all_in_blocks(&self, timeout: Duration) {
        wait_until(
            timeout,
            "every trace to leave memory for a block",
            async || self.traces_in_memory().await == 0.0,
        )
        .await;
    }
}
