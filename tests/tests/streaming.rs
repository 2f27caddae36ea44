//! `tempopb.StreamingQuerier` end to end: a tonic client (hand-written messages, no generated
//! code shared with the server) against the real binary, on the http port (h2c) and on the
//! OTLP gRPC port. One tenant's traces sit in several blocks (sent in batches, each flushed
//! before the next) so a search has several units of work. Streaming search: several
//! messages, `metrics` in each, no trace twice, and the union equal to `/api/search` for the
//! same query, trace by trace. Streaming metrics: progress messages, then the series of
//! `/api/metrics/query_range`. Authentication: none, Basic, Bearer, another tenant's header.

#[expect(
    dead_code,
    reason = "the shared generator has helpers only search.rs uses"
)]
#[path = "search/data.rs"]
mod data;
#[expect(
    dead_code,
    reason = "the metrics generator has helpers only metrics.rs uses"
)]
#[path = "metrics/world.rs"]
mod world;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use prost::Message;
use serde_json::Value as Json;
use sextant_tests::{
    Auth, Options, QueryRangeRequest, RangeAnswer, SearchRequest, SearchResponse, Sextant,
    StreamingQuerier, TraceSearchMetadata, now_nanos, parse_range, post_otlp, range_from_proto,
    wait_until,
};

use data::{GTrace, SEC, SEED_A, SEED_B, generate, requests};

const TENANT_A: &str = "stream-a";
const TENANT_B: &str = "stream-b";
/// Batches of A's search traces, each flushed to its own block before the next is sent.
const BATCHES: usize = 4;
const TRACES_PER_BATCH: usize = 12;

/// A span of a span set: ID (hex), name, start, duration.
type SpanView = (String, String, u64, u64);

/// A search result trace in a form both the JSON and the protobuf answers reduce to.
#[derive(Clone, Debug, PartialEq, Eq)]
struct TraceView {
    root_service: String,
    root_name: String,
    start: u64,
    duration_ms: u64,
    /// (span ID, name, start, duration) of every span of every set, and each set's `matched`.
    sets: BTreeSet<(Vec<SpanView>, u64)>,
    stats: BTreeMap<String, (u64, u64)>,
}

/// Trace IDs as 32 lowercase hex digits (search answers may strip leading zeros).
fn id32(id: &str) -> String {
    format!("{:0>32}", id.to_ascii_lowercase())
}

fn view_of_proto(t: &TraceSearchMetadata) -> (String, TraceView) {
    let sets = t
        .span_sets
        .iter()
        .map(|s| {
            let mut spans: Vec<_> = s
                .spans
                .iter()
                .map(|x| {
                    (
                        x.span_id.to_ascii_lowercase(),
                        x.name.clone(),
                        x.start_time_unix_nano,
                        x.duration_nanos,
                    )
                })
                .collect();
            spans.sort();
            (spans, u64::from(s.matched))
        })
        .collect();
    let stats = t
        .service_stats
        .iter()
        .map(|(k, v)| {
            (
                k.clone(),
                (u64::from(v.span_count), u64::from(v.error_count)),
            )
        })
        .collect();
    (
        id32(&t.trace_id),
        TraceView {
            root_service: t.root_service_name.clone(),
            root_name: t.root_trace_name.clone(),
            start: t.start_time_unix_nano,
            duration_ms: u64::from(t.duration_ms),
            sets,
            stats,
        },
    )
}

fn view_of_json(t: &Json) -> (String, TraceView) {
    let s = |v: &Json, k: &str| v.get(k).and_then(Json::as_str).unwrap_or("").to_owned();
    let n64 = |v: &Json, k: &str| {
        v.get(k)
            .and_then(Json::as_str)
            .map_or(0, |x| x.parse::<u64>().expect("decimal"))
    };
    let n32 = |v: &Json, k: &str| v.get(k).and_then(Json::as_u64).unwrap_or(0);
    let list = |v: &Json, k: &str| {
        v.get(k)
            .and_then(Json::as_array)
            .cloned()
            .unwrap_or_default()
    };
    let sets = list(t, "spanSets")
        .iter()
        .map(|set| {
            let mut spans: Vec<_> = list(set, "spans")
                .iter()
                .map(|x| {
                    (
                        s(x, "spanID").to_ascii_lowercase(),
                        s(x, "name"),
                        n64(x, "startTimeUnixNano"),
                        n64(x, "durationNanos"),
                    )
                })
                .collect();
            spans.sort();
            (spans, n32(set, "matched"))
        })
        .collect();
    let stats = t
        .get("serviceStats")
        .and_then(Json::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), (n32(v, "spanCount"), n32(v, "errorCount"))))
                .collect()
        })
        .unwrap_or_default();
    (
        id32(&s(t, "traceID")),
        TraceView {
            root_service: s(t, "rootServiceName"),
            root_name: s(t, "rootTraceName"),
            start: n64(t, "startTimeUnixNano"),
            duration_ms: n32(t, "durationMs"),
            sets,
            stats,
        },
    )
}

struct World {
    a: Auth,
    b: Auth,
    a_traces: Vec<GTrace>,
    b_traces: Vec<GTrace>,
    metrics_spans: usize,
    metrics_base: u64,
    /// Unix seconds covering everything sent.
    range: (u64, u64),
}

async fn send(server: &Sextant, auth: &Auth, traces: &[GTrace]) {
    let url = format!("{}/v1/traces", server.otlp_http_url());
    for request in requests(traces, 20) {
        let resp = post_otlp(
            server.client(),
            &url,
            Some(auth),
            "application/x-protobuf",
            None,
            request.encode_to_vec(),
        )
        .await;
        let status = resp.status();
        let text = resp.text().await.unwrap_or_default();
        assert_eq!(status, 200, "export for {} refused: {text}", auth.tenant);
    }
}

async fn blocks_written(server: &Sextant, tenant: &str) -> f64 {
    server
        .metric("sextant_blocks_written_total", &[("tenant", tenant)])
        .await
}

/// A's traces in `BATCHES` blocks (and its metrics spans in more), B's in one.
async fn load(server: &Sextant) -> World {
    let now = now_nanos();
    let a_traces = generate(SEED_A, BATCHES * TRACES_PER_BATCH, now);
    let b_traces = generate(SEED_B, 10, now);
    // Ten minutes clear of the search traces, which start in the last five minutes.
    let metrics = world::generate(world::SEED_A, world::base_for(now) - 600);
    let keys_a = server.tenant(TENANT_A).await;
    let keys_b = server.tenant(TENANT_B).await;
    let batches = a_traces
        .chunks(TRACES_PER_BATCH)
        .chain([metrics.traces.as_slice()]);
    for (i, batch) in batches.enumerate() {
        send(server, &keys_a.write, batch).await;
        wait_until(
            Duration::from_secs(30),
            &format!("block {} of {TENANT_A}", i + 1),
            async || blocks_written(server, TENANT_A).await > i as f64,
        )
        .await;
    }
    send(server, &keys_b.write, &b_traces).await;
    server.wait_all_in_blocks(Duration::from_secs(30)).await;
    assert!(blocks_written(server, TENANT_A).await >= (BATCHES + 1) as f64);
    World {
        a: keys_a.read,
        b: keys_b.read,
        a_traces,
        b_traces,
        metrics_spans: metrics.spans.len(),
        metrics_base: metrics.base,
        range: (metrics.base - 60, now / SEC + 60),
    }
}

/// `/api/search` over HTTP: the traces by 32-hex ID.
async fn http_search(
    server: &Sextant,
    auth: &Auth,
    req: &SearchRequest,
) -> BTreeMap<String, TraceView> {
    let params = [
        ("q", req.query.clone()),
        ("limit", req.limit.to_string()),
        ("spss", req.spans_per_span_set.to_string()),
        ("start", req.start.to_string()),
        ("end", req.end.to_string()),
    ];
    let url =
        reqwest::Url::parse_with_params(&format!("{}/api/search", server.http_url()), &params)
            .expect("url");
    let resp = server
        .client()
        .get(url.clone())
        .header("authorization", auth.basic())
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET {url}: {e}"));
    let status = resp.status();
    let body = resp.text().await.expect("body");
    assert_eq!(status, 200, "GET {url}: {body}");
    let doc: Json = serde_json::from_str(&body).expect("json");
    let traces = doc["traces"].as_array().cloned().unwrap_or_default();
    let out: BTreeMap<String, TraceView> = traces.iter().map(view_of_json).collect();
    assert_eq!(out.len(), traces.len(), "GET {url}: a trace twice");
    out
}

/// Check a streamed search: several messages, metrics in each, no trace twice; the union.
fn union_of(
    what: &str,
    messages: &[SearchResponse],
    min_messages: usize,
) -> BTreeMap<String, TraceView> {
    assert!(
        messages.len() >= min_messages,
        "{what}: {} messages, want at least {min_messages}",
        messages.len()
    );
    let mut out = BTreeMap::new();
    let mut completed = 0;
    for (i, m) in messages.iter().enumerate() {
        let metrics = m
            .metrics
            .as_ref()
            .unwrap_or_else(|| panic!("{what}: message {i} has no metrics"));
        assert!(
            metrics.completed_jobs <= metrics.total_jobs,
            "{what}: message {i}: completedJobs {} > totalJobs {}",
            metrics.completed_jobs,
            metrics.total_jobs
        );
        assert!(
            metrics.completed_jobs >= completed,
            "{what}: message {i}: completedJobs went back from {completed} to {}",
            metrics.completed_jobs
        );
        completed = metrics.completed_jobs;
        assert!(
            m.encoded_len() < 4 << 20,
            "{what}: message {i} is over 4 MiB"
        );
        for t in &m.traces {
            let (id, view) = view_of_proto(t);
            assert!(
                out.insert(id.clone(), view).is_none(),
                "{what}: trace {id} sent twice (again in message {i})"
            );
        }
    }
    let last = messages
        .last()
        .and_then(|m| m.metrics.as_ref())
        .expect("a last message");
    assert!(
        last.total_jobs > 0 && last.completed_jobs == last.total_jobs,
        "{what}: the last message says {} of {} jobs",
        last.completed_jobs,
        last.total_jobs
    );
    out
}

fn assert_same(what: &str, got: &BTreeMap<String, TraceView>, want: &BTreeMap<String, TraceView>) {
    let g: BTreeSet<&String> = got.keys().collect();
    let w: BTreeSet<&String> = want.keys().collect();
    let missing: Vec<_> = w.difference(&g).collect();
    let extra: Vec<_> = g.difference(&w).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "{what}: streamed {} traces, HTTP {}; missing {missing:?}, extra {extra:?}",
        got.len(),
        want.len()
    );
    for (id, w) in want {
        assert_eq!(
            &got[id], w,
            "{what}: trace {id} (left: stream, right: HTTP)"
        );
    }
}

fn ids(traces: &[GTrace]) -> BTreeSet<String> {
    traces.iter().map(|t| hex::encode(t.id)).collect()
}

fn basic_md(auth: &Auth) -> Vec<(&'static str, String)> {
    vec![
        ("authorization", auth.basic()),
        ("x-scope-orgid", auth.tenant.clone()),
    ]
}

fn search_request(world: &World, query: &str, limit: u32) -> SearchRequest {
    SearchRequest {
        query: query.to_owned(),
        limit,
        spans_per_span_set: 3,
        start: world.range.0 as u32,
        end: world.range.1 as u32,
    }
}

async fn check_search(what: &str, server: &Sextant, client: &mut StreamingQuerier, world: &World) {
    for (query, limit) in [
        ("{}", 1000),
        ("{ status = error }", 1000),
        (r#"{ resource.service.name = "db" }"#, 1000),
        ("{}", 5),
    ] {
        let req = search_request(world, query, limit);
        let what = format!("{what}: Search {query} limit={limit}");
        let messages = client
            .search(&basic_md(&world.a), req.clone())
            .await
            .unwrap_or_else(|s| panic!("{what}: {s:?}"));
        let got = union_of(&what, &messages, 2);
        let want = http_search(server, &world.a, &req).await;
        assert!(!want.is_empty(), "{what}: HTTP found nothing");
        assert_same(&what, &got, &want);
        let theirs = ids(&world.b_traces);
        assert!(
            got.keys().all(|id| !theirs.contains(id)),
            "{what}: B's traces"
        );
    }
    // Everything A sent in the search data set is found.
    let req = search_request(world, "{}", 1000);
    let messages = client
        .search(&basic_md(&world.a), req)
        .await
        .expect("search");
    let got = union_of(what, &messages, 2);
    let mine = ids(&world.a_traces);
    assert!(
        mine.iter().all(|id| got.contains_key(id)),
        "{what}: a trace of A missing"
    );
}

async fn check_metrics(what: &str, server: &Sextant, client: &mut StreamingQuerier, world: &World) {
    let start = world.metrics_base;
    let end = world.metrics_base + world::MINUTES * world::STEP;
    let q = "{} | count_over_time() by (resource.service.name)";
    let req = QueryRangeRequest {
        query: q.to_owned(),
        start: start * SEC,
        end: end * SEC,
        step: world::STEP * SEC,
        exemplars: 20,
    };
    let what = format!("{what}: MetricsQueryRange {q}");
    let messages = client
        .metrics_query_range(&basic_md(&world.a), req)
        .await
        .unwrap_or_else(|s| panic!("{what}: {s:?}"));
    assert!(!messages.is_empty(), "{what}: no message");
    let (last, progress) = messages.split_last().expect("messages");
    for (i, m) in progress.iter().enumerate() {
        assert!(
            m.metrics.is_some(),
            "{what}: progress message {i} has no metrics"
        );
        assert!(
            m.series.is_empty(),
            "{what}: progress message {i} carries series"
        );
    }
    assert!(
        last.metrics.is_some(),
        "{what}: the final message has no metrics"
    );
    let got = range_from_proto(last);
    let params = [
        ("q", q.to_owned()),
        ("start", start.to_string()),
        ("end", end.to_string()),
        ("step", world::STEP.to_string()),
        ("exemplars", "20".to_owned()),
    ];
    let url = reqwest::Url::parse_with_params(
        &format!("{}/api/metrics/query_range", server.http_url()),
        &params,
    )
    .expect("url");
    let resp = server
        .client()
        .get(url.clone())
        .header("authorization", world.a.basic())
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET {url}: {e}"));
    let status = resp.status();
    let body = resp.text().await.expect("body");
    assert_eq!(status, 200, "{what}: HTTP {body}");
    let http: RangeAnswer = parse_range(&body).unwrap_or_else(|e| panic!("{what}: {e:#}"));
    // Samples exactly; exemplars may be other spans of the same series, as many.
    let samples = |a: &RangeAnswer| -> BTreeMap<_, _> {
        a.by_labels(&what)
            .into_iter()
            .map(|(l, s)| (l, (s.samples, s.exemplars.len())))
            .collect()
    };
    assert_eq!(
        samples(&got),
        samples(&http),
        "{what}: (left: stream, right: HTTP)"
    );
    assert_eq!(got.partial, http.partial, "{what}: status");
    // Independently: the counts add up to the metrics data set's spans (B's never counted).
    let total: f64 = got.series.iter().flat_map(|s| s.samples.values()).sum();
    assert_eq!(
        total as usize, world.metrics_spans,
        "{what}: total span count"
    );
    assert_eq!(
        got.series.len(),
        world::SERVICES.len(),
        "{what}: one series per service"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streaming_search_and_metrics() {
    let server = Sextant::start(Options::new().fast_blocks()).await;
    let world = load(&server).await;
    for (port, addr) in [
        ("http port", server.addrs().http),
        ("otlp-grpc port", server.addrs().otlp_grpc),
    ] {
        let mut client = StreamingQuerier::connect(addr).await;
        check_search(port, &server, &mut client, &world).await;
        check_metrics(port, &server, &mut client, &world).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streaming_authentication_and_tenants() {
    let server = Sextant::start(Options::new().fast_blocks()).await;
    let world = load(&server).await;
    let mut client = StreamingQuerier::connect(server.addrs().http).await;
    let req = search_request(&world, "{}", 1000);

    // No credential, a wrong key: Unauthenticated.
    for (what, md) in [
        ("no credential", vec![]),
        (
            "the tenant header alone",
            vec![("x-scope-orgid", TENANT_A.to_owned())],
        ),
        (
            "a wrong key",
            vec![(
                "authorization",
                Auth::new(TENANT_A, "sxt_nope_nope").basic(),
            )],
        ),
    ] {
        let err = client.search(&md, req.clone()).await.expect_err(what);
        assert_eq!(err.code(), tonic::Code::Unauthenticated, "{what}: {err:?}");
        let err = client
            .metrics_query_range(
                &md,
                QueryRangeRequest {
                    query: "{} | rate()".into(),
                    start: world.range.0 * SEC,
                    end: world.range.1 * SEC,
                    step: 60 * SEC,
                    exemplars: 0,
                },
            )
            .await
            .expect_err(what);
        assert_eq!(err.code(), tonic::Code::Unauthenticated, "{what}: {err:?}");
    }

    // Bearer works like Basic.
    let bearer = vec![("authorization", world.a.bearer())];
    let messages = client.search(&bearer, req.clone()).await.expect("bearer");
    let got = union_of("bearer", &messages, 1);
    assert_same("bearer", &got, &http_search(&server, &world.a, &req).await);

    // A's key naming B: refused, or at least none of B's traces.
    let md = vec![
        ("authorization", world.a.basic()),
        ("x-scope-orgid", TENANT_B.to_owned()),
    ];
    if let Ok(messages) = client.search(&md, req.clone()).await {
        let theirs = ids(&world.b_traces);
        for m in &messages {
            for t in &m.traces {
                assert!(
                    !theirs.contains(&id32(&t.trace_id)),
                    "A's key read B's trace {}",
                    t.trace_id
                );
            }
        }
    }
    // B reads B: exactly its traces, as over HTTP.
    let messages = client
        .search(&basic_md(&world.b), req.clone())
        .await
        .expect("B");
    let got = union_of("tenant B", &messages, 1);
    assert_eq!(
        got.keys().cloned().collect::<BTreeSet<_>>(),
        ids(&world.b_traces)
    );
    assert_same(
        "tenant B",
        &got,
        &http_search(&server, &world.b, &req).await,
    );

    client
        .search(&basic_md(&world.b), req)
        .await
        .expect("B again");
}
