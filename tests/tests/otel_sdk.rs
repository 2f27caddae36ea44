//! Real OpenTelemetry clients against the real binary: the Python SDK's gRPC exporter (on the
//! otlp-grpc port and on the http port), its HTTP protobuf exporter (otlp-http and http ports)
//! and a hand-built OTLP/JSON sender. Every trace must read back by ID through all four read
//! APIs with every span, attribute, event and link intact — live, and again after a SIGTERM and
//! a restart on the same data dir (from the WAL).

use std::collections::BTreeMap;
use std::time::Duration;

use sextant_tests::{
    FlatSpan, Options, ReadApi, Sextant, SpanKey, assert_same_spans, flatten, run_script, sent,
    spans_of, wait_until,
};

/// Traces sent under one tenant: the expected spans and the trace IDs.
#[derive(Default)]
struct Expected {
    spans: BTreeMap<SpanKey, FlatSpan>,
    trace_ids: Vec<Vec<u8>>,
}

impl Expected {
    async fn add(&mut self, script: &str, args: &[&str]) {
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
}

/// Read every expected trace through every API and compare span by span.
async fn assert_all_readable(
    server: &Sextant,
    tenant: Option<&str>,
    expected: &Expected,
    when: &str,
) {
    for trace_id in &expected.trace_ids {
        let want = spans_of(&expected.spans, trace_id);
        for api in ReadApi::ALL {
            let got = server
                .read_trace(api, tenant, trace_id)
                .await
                .unwrap_or_else(|| {
                    panic!(
                        "{when}: trace {} not found via {api:?} (tenant {tenant:?})",
                        hex::encode(trace_id)
                    )
                });
            let what = format!("{when}: trace {} via {api:?}", hex::encode(trace_id));
            assert_same_spans(&what, &want, &got);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sdk_and_json_clients_round_trip_live_and_after_restart() {
    let mut server = Sextant::start(Options::new()).await;
    let tenant = "otel-e2e";
    let grpc = server.otlp_grpc_url();
    let http_port = server.http_url();
    let otlp_http = server.otlp_http_url();

    let mut tenanted = Expected::default();
    let runs: [(&str, Vec<&str>); 5] = [
        (
            "send_traces.py",
            vec![
                "--exporter",
                "grpc",
                "--endpoint",
                &grpc,
                "--tenant",
                tenant,
                "--compression",
                "gzip",
            ],
        ),
        (
            "send_traces.py",
            vec![
                "--exporter",
                "grpc",
                "--endpoint",
                &http_port,
                "--tenant",
                tenant,
            ],
        ),
        (
            "send_traces.py",
            vec![
                "--exporter",
                "http",
                "--endpoint",
                &otlp_http,
                "--tenant",
                tenant,
                "--compression",
                "deflate",
            ],
        ),
        (
            "send_traces.py",
            vec![
                "--exporter",
                "http",
                "--endpoint",
                &http_port,
                "--tenant",
                tenant,
                "--compression",
                "gzip",
            ],
        ),
        (
            "send_otlp_json.py",
            vec!["--endpoint", &otlp_http, "--tenant", tenant],
        ),
    ];
    for (script, args) in &runs {
        tenanted.add(script, args).await;
    }
    // Without a tenant header everything lands in `single-tenant`.
    let mut anonymous = Expected::default();
    anonymous
        .add(
            "send_traces.py",
            &["--exporter", "http", "--endpoint", &otlp_http],
        )
        .await;
    assert!(
        tenanted.trace_ids.len() >= 14,
        "the scripts sent too few traces"
    );

    // Acknowledged data is readable at once (DESIGN §10: within 1 s at worst).
    let first = tenanted.trace_ids[0].clone();
    wait_until(
        Duration::from_secs(2),
        "the first trace to be readable",
        async || {
            server
                .read_trace(ReadApi::V1Proto, Some(tenant), &first)
                .await
                .is_some()
        },
    )
    .await;
    assert_all_readable(&server, Some(tenant), &tenanted, "live").await;
    assert_all_readable(&server, None, &anonymous, "live, no tenant header").await;
    assert_all_readable(
        &server,
        Some("single-tenant"),
        &anonymous,
        "live, single-tenant",
    )
    .await;

    // Tenants are isolated: another tenant sees none of it.
    for api in ReadApi::ALL {
        assert!(
            server
                .read_trace(api, Some("someone-else"), &first)
                .await
                .is_none(),
            "{api:?}: trace of tenant {tenant} visible to tenant someone-else"
        );
        assert!(
            server.read_trace(api, None, &first).await.is_none(),
            "{api:?}: trace of tenant {tenant} visible without a tenant header"
        );
    }

    let status = server.sigterm().await;
    assert!(
        status.success(),
        "SIGTERM: sextant exited with {status}\n{}",
        server.stderr_tail()
    );
    server.restart().await;
    assert_all_readable(&server, Some(tenant), &tenanted, "after restart").await;
    assert_all_readable(&server, None, &anonymous, "after restart, no tenant header").await;
}

/// One trace split over requests on different transports, one request sent twice: every read
/// returns each span once, live and after a restart (WAL replay of the duplicate record).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trace_split_over_requests_and_resent_reads_back_merged_once() {
    let mut server = Sextant::start(Options::new()).await;
    let tenant = "merge-test";
    let (trace_id, spans) = sextant_tests::trace(6);
    let first = sextant_tests::request("front", spans[..3].to_vec());
    let second = sextant_tests::request("back", spans[3..].to_vec());
    let mut want = flatten(&first);
    want.extend(flatten(&second));

    let url = format!("{}/v1/traces", server.otlp_http_url());
    for _ in 0..2 {
        let resp = sextant_tests::post_otlp(
            server.client(),
            &url,
            Some(tenant),
            "application/x-protobuf",
            None,
            prost::Message::encode_to_vec(&first),
        )
        .await;
        assert_eq!(resp.status(), 200, "first half over HTTP");
    }
    let mut grpc = sextant_tests::OtlpGrpc::connect(server.addrs().otlp_grpc).await;
    grpc.export(Some(tenant), second)
        .await
        .unwrap_or_else(|s| panic!("second half over gRPC: {s:?}"));

    for when in ["live", "after restart"] {
        if when == "after restart" {
            server.restart().await;
        }
        for api in ReadApi::ALL {
            let got = server
                .read_trace(api, Some(tenant), &trace_id)
                .await
                .unwrap_or_else(|| panic!("{when}: merged trace not found via {api:?}"));
            assert_same_spans(&format!("{when}: merged trace via {api:?}"), &want, &got);
        }
    }
}
