//! Real OpenTelemetry clients against the real binary: the Python SDK's gRPC exporter (on the
//! otlp-grpc port and on the http port), its HTTP protobuf exporter (otlp-http and http ports)
//! and a hand-built OTLP/JSON sender. Every trace must read back by ID through all four read
//! APIs with every span, attribute, event and link intact — live, and again after a SIGTERM and
//! a restart on the same data dir (from the WAL). The clients authenticate as a tenant's
//! write-only key (Basic and Bearer); reads use its read key, and neither another tenant nor
//! `single-tenant` (the bootstrap key) sees the tenant's traces.

use std::time::Duration;

use sextant_tests::{
    Expected, Options, ReadApi, Sextant, assert_all_readable, assert_same_spans, flatten,
    wait_until,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sdk_and_json_clients_round_trip_live_and_after_restart() {
    let mut server = Sextant::start(Options::new()).await;
    let keys = server.tenant("otel-e2e").await;
    // Basic auth with the write-only key, and once the key as a bearer token.
    let basic = keys.write.basic();
    let bearer = keys.write.bearer();
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
                "--authorization",
                &basic,
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
                "--authorization",
                &bearer,
            ],
        ),
        (
            "send_traces.py",
            vec![
                "--exporter",
                "http",
                "--endpoint",
                &otlp_http,
                "--authorization",
                &basic,
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
                "--authorization",
                &bearer,
                "--compression",
                "gzip",
            ],
        ),
        (
            "send_otlp_json.py",
            vec!["--endpoint", &otlp_http, "--authorization", &basic],
        ),
    ];
    for (script, args) in &runs {
        tenanted.add_script(script, args).await;
    }
    // The key printed on the first start writes to `single-tenant`.
    let single = server.single();
    let mut single_sent = Expected::default();
    single_sent
        .add_script(
            "send_traces.py",
            &[
                "--exporter",
                "http",
                "--endpoint",
                &otlp_http,
                "--authorization",
                &single.basic(),
            ],
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
                .read_trace(ReadApi::V1Proto, Some(&keys.read), &first)
                .await
                .is_some()
        },
    )
    .await;
    assert_all_readable(&server, Some(&keys.read), &tenanted, &ReadApi::ALL, "live").await;
    assert_all_readable(
        &server,
        Some(&keys.rw),
        &tenanted,
        &[ReadApi::V1Json],
        "live, read+write key",
    )
    .await;
    assert_all_readable(
        &server,
        Some(&single),
        &single_sent,
        &ReadApi::ALL,
        "live, single-tenant",
    )
    .await;

    // Tenants are isolated: another tenant's key, and single-tenant's, see none of it, and
    // otel-e2e sees nothing of single-tenant.
    let other = server.tenant("someone-else").await;
    for api in ReadApi::ALL {
        assert!(
            server
                .read_trace(api, Some(&other.rw), &first)
                .await
                .is_none(),
            "{api:?}: trace of tenant otel-e2e visible to tenant someone-else"
        );
        assert!(
            server
                .read_trace(api, Some(&single), &first)
                .await
                .is_none(),
            "{api:?}: trace of tenant otel-e2e visible to single-tenant"
        );
        assert!(
            server
                .read_trace(api, Some(&keys.read), &single_sent.trace_ids[0])
                .await
                .is_none(),
            "{api:?}: trace of single-tenant visible to otel-e2e"
        );
    }
    // Without credentials a read is refused, not answered as "not found".
    let url = format!("{}/api/traces/{}", server.http_url(), hex::encode(&first));
    let resp = server.client().get(&url).send().await.expect("send");
    assert_eq!(resp.status(), 401, "GET {url} without credentials");

    let status = server.sigterm().await;
    assert!(
        status.success(),
        "SIGTERM: sextant exited with {status}\n{}",
        server.stderr_tail()
    );
    server.restart().await;
    assert_all_readable(
        &server,
        Some(&keys.read),
        &tenanted,
        &ReadApi::ALL,
        "after restart",
    )
    .await;
    assert_all_readable(
        &server,
        Some(&single),
        &single_sent,
        &ReadApi::ALL,
        "after restart, single-tenant",
    )
    .await;
}

/// One trace split over requests on different transports, one request sent twice: every read
/// returns each span once, live and after a restart (WAL replay of the duplicate record).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trace_split_over_requests_and_resent_reads_back_merged_once() {
    let mut server = Sextant::start(Options::new()).await;
    let auth = server.tenant("merge-test").await.rw;
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
            Some(&auth),
            "application/x-protobuf",
            None,
            prost::Message::encode_to_vec(&first),
        )
        .await;
        assert_eq!(resp.status(), 200, "first half over HTTP");
    }
    let mut grpc = sextant_tests::OtlpGrpc::connect(server.addrs().otlp_grpc).await;
    grpc.export(Some(&auth), second)
        .await
        .unwrap_or_else(|s| panic!("second half over gRPC: {s:?}"));

    for when in ["live", "after restart"] {
        if when == "after restart" {
            server.restart().await;
        }
        for api in ReadApi::ALL {
            let got = server
                .read_trace(api, Some(&auth), &trace_id)
                .await
                .unwrap_or_else(|| panic!("{when}: merged trace not found via {api:?}"));
            assert_same_spans(&format!("{when}: merged trace via {api:?}"), &want, &got);
        }
    }
}
