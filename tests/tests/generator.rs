//! The metrics generator end to end (issue #8): a three-service shop traced with the real
//! OpenTelemetry SDK (`tests/python/shop_app.py`) sends to the real binary; the generator turns
//! each tenant's spans into Tempo's span-metrics and service-graph series and remote-writes
//! them to a real Prometheus — the tenant's own target, else the server's default one. Every
//! figure is computed here from the shop's arguments (requests, failing requests, exact span
//! durations) and read back from Prometheus' HTTP API: the exact series of each tenant, their
//! values and histogram buckets, exemplars naming the shop's traces, and no series in another
//! tenant's Prometheus. When the target goes down, ingest is untouched, the bounded queue
//! sheds its oldest requests, and once the target is back the cumulative counters catch up.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::json;
use sextant_tests::{
    Options, PromSample, Prometheus, Sextant, TenantKeys, metric_sum, run_script, wait_until,
};

/// How long generated figures may take to reach Prometheus.
const ARRIVAL: Duration = Duration::from_secs(60);
/// How long tenant settings may take to reach the server's snapshot.
const PROPAGATION: Duration = Duration::from_secs(15);
/// Tempo's default span-metrics latency buckets, as the generator writes `le`.
const LATENCY_BUCKETS: [&str; 15] = [
    "0.002", "0.004", "0.008", "0.016", "0.032", "0.064", "0.128", "0.256", "0.512", "1.024",
    "2.048", "4.096", "8.192", "16.384", "+Inf",
];
/// Tempo's default service-graph buckets.
const GRAPH_BUCKETS: [&str; 9] = [
    "0.1", "0.2", "0.4", "0.8", "1.6", "3.2", "6.4", "12.8", "+Inf",
];
/// The shop's span durations in seconds (tests/python/shop_app.py).
const CHECKOUT: f64 = 0.3;
const ITEMS_CALL: f64 = 0.25;
const ITEMS_HANDLER: f64 = 0.2;
const SELECT: f64 = 0.05;

/// A series' labels without `__name__` or any other `__`-prefixed (internal) label.
type Labels = BTreeMap<String, String>;
/// Series by labels → value.
type Figures = BTreeMap<Labels, f64>;

fn labels(pairs: &[(&str, &str)]) -> Labels {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// What one run of the shop did.
struct Shop {
    prefix: String,
    trace_ids: BTreeSet<String>,
    requests: u64,
    errors: u64,
}

/// Run the shop for `keys`' tenant: `requests` checkouts, every `errors_every`-th failing.
async fn run_shop(
    server: &Sextant,
    keys: &TenantKeys,
    prefix: &str,
    requests: u64,
    errors_every: u64,
) -> Shop {
    let endpoint = server.otlp_http_url();
    let (requests_arg, every_arg) = (requests.to_string(), errors_every.to_string());
    let out = run_script(
        "shop_app.py",
        &[
            "--endpoint",
            &endpoint,
            "--tenant",
            &keys.id,
            "--key",
            &keys.write.key,
            "--requests",
            &requests_arg,
            "--errors-every",
            &every_arg,
            "--prefix",
            prefix,
        ],
    )
    .await;
    assert_eq!(out["exports_ok"], true, "shop_app: {out}");
    assert_eq!(out["requests"], requests, "shop_app: {out}");
    let errors = out["errors"].as_u64().expect("errors");
    let expected_errors = requests.checked_div(errors_every).unwrap_or(0);
    assert_eq!(errors, expected_errors, "shop_app counted failures: {out}");
    let trace_ids: BTreeSet<String> = out["trace_ids"]
        .as_array()
        .expect("trace_ids")
        .iter()
        .map(|t| t.as_str().expect("hex trace id").to_owned())
        .collect();
    assert_eq!(trace_ids.len() as u64, requests, "one trace per request");
    Shop {
        prefix: prefix.to_owned(),
        trace_ids,
        requests,
        errors,
    }
}

/// Turn on both processors for `tenant` (targeting `remote_write` when given) through the admin
/// API, and wait until the server runs them.
async fn enable_generator(server: &Sextant, tenant: &str, remote_write: Option<&str>) {
    let mut settings = json!({"processors": ["span-metrics", "service-graphs"]});
    if let Some(url) = remote_write {
        settings["remote_write"] = json!({ "url": url });
    }
    let url = format!(
        "{}/admin/api/v1/tenants/{tenant}/metrics-generator",
        server.http_url()
    );
    let resp = server
        .client()
        .put(&url)
        .header("authorization", format!("Bearer {}", server.admin_token()))
        .json(&settings)
        .send()
        .await
        .unwrap_or_else(|e| panic!("PUT {url}: {e}"));
    let status = resp.status();
    let body = resp.text().await.unwrap_or_default();
    assert_eq!(status, StatusCode::OK, "PUT {url}: {body}");
    for processor in ["span-metrics", "service-graphs"] {
        wait_until(
            PROPAGATION,
            &format!("{tenant}'s {processor} processor to run"),
            async || {
                server
                    .metric(
                        "sextant_generator_processors",
                        &[("tenant", tenant), ("processor", processor)],
                    )
                    .await
                    == 1.0
            },
        )
        .await;
    }
}

/// The server's generator metric `name` for `tenant` (and `extra` labels).
async fn generator_metric(
    server: &Sextant,
    name: &str,
    tenant: &str,
    extra: &[(&str, &str)],
) -> f64 {
    let mut want = vec![("tenant", tenant)];
    want.extend_from_slice(extra);
    server.metric(name, &want).await
}

/// The samples of `expr` by their visible labels; panics when two collapse into one.
async fn figures(prom: &Prometheus, expr: &str) -> Figures {
    let mut out = Figures::new();
    for PromSample { labels, value } in prom.query(expr).await {
        let visible: Labels = labels
            .iter()
            .filter(|(k, _)| !k.starts_with("__"))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        assert!(
            out.insert(visible, value).is_none(),
            "{expr}: two series differ only by internal labels ({labels:?})"
        );
    }
    out
}

/// The span-metrics series of one shop run: calls by (service, span name, kind, status).
fn expected_calls(shop: &Shop) -> Figures {
    let p = &shop.prefix;
    let (ok, failed) = (shop.requests - shop.errors, shop.errors);
    let frontend = format!("{p}frontend");
    let api = format!("{p}api");
    let mut out = Figures::new();
    let mut add = |service: &str, name: &str, kind: &str, status: &str, count: u64| {
        if count > 0 {
            out.insert(
                labels(&[
                    ("service", service),
                    ("span_name", name),
                    ("span_kind", kind),
                    ("status_code", status),
                ]),
                count as f64,
            );
        }
    };
    for (service, name, kind) in [
        (&frontend, "GET /checkout", "SPAN_KIND_SERVER"),
        (&frontend, "GET /items", "SPAN_KIND_CLIENT"),
        (&api, "GET /items", "SPAN_KIND_SERVER"),
    ] {
        add(service, name, kind, "STATUS_CODE_UNSET", ok);
        add(service, name, kind, "STATUS_CODE_ERROR", failed);
    }
    add(
        &api,
        "SELECT items",
        "SPAN_KIND_CLIENT",
        "STATUS_CODE_UNSET",
        shop.requests,
    );
    out
}

/// The duration of the spans a span-metrics series counts.
fn duration_of(series: &Labels) -> f64 {
    match (series["span_name"].as_str(), series["span_kind"].as_str()) {
        ("GET /checkout", _) => CHECKOUT,
        ("GET /items", "SPAN_KIND_CLIENT") => ITEMS_CALL,
        ("GET /items", _) => ITEMS_HANDLER,
        ("SELECT items", _) => SELECT,
        other => panic!("no span {other:?} in the shop"),
    }
}

/// The service-graph edges of one shop run, each with its total and failed count.
fn expected_edges(shop: &Shop) -> BTreeMap<Labels, (f64, f64)> {
    let p = &shop.prefix;
    let (n, e) = (shop.requests as f64, shop.errors as f64);
    BTreeMap::from([
        (
            labels(&[
                ("client", &format!("{p}frontend")),
                ("server", &format!("{p}api")),
            ]),
            (n, e),
        ),
        (
            labels(&[
                ("client", &format!("{p}api")),
                ("server", &format!("{p}db")),
                ("connection_type", "database"),
            ]),
            (n, 0.0),
        ),
        (
            labels(&[
                ("client", "user"),
                ("server", &format!("{p}frontend")),
                ("connection_type", "virtual_node"),
            ]),
            (n, e),
        ),
    ])
}

/// Assert that the `_bucket` series of a histogram named `name` with `series`' labels hold
/// `count` observations of `seconds` each in exactly the buckets `bounds`; a bound equal to
/// `seconds` is skipped (the comparison of two decimal fractions decides it, not the figure).
fn assert_buckets(
    buckets: &Figures,
    name: &str,
    series: &Labels,
    bounds: &[&str],
    seconds: f64,
    count: f64,
) {
    let got: BTreeMap<&str, f64> = buckets
        .iter()
        .filter(|(l, _)| {
            l.iter()
                .filter(|(k, _)| *k != "le")
                .all(|(k, v)| series.get(k) == Some(v))
        })
        .filter(|(l, _)| l.len() == series.len() + 1)
        .map(|(l, v)| (l["le"].as_str(), *v))
        .collect();
    let les: Vec<&str> = got.keys().copied().collect();
    let mut want_les = bounds.to_vec();
    want_les.sort_unstable();
    assert_eq!(les, want_les, "{name}_bucket{series:?}: le values");
    for (le, value) in got {
        let bound: f64 = le.parse().expect("le is a number");
        if (bound - seconds).abs() < 1e-9 {
            continue;
        }
        let want = if seconds <= bound { count } else { 0.0 };
        assert_eq!(
            value, want,
            "{name}_bucket{series:?} le={le} ({seconds} s each)"
        );
    }
}

/// Wait until `prom` holds `shop`'s full figures (every call counted, the virtual edge closed),
/// and until two more pushes of the tenant were accepted, so nothing is still on its way.
async fn wait_for_figures(server: &Sextant, prom: &Prometheus, tenant: &str, shop: &Shop) {
    let calls = expected_calls(shop);
    let virtual_edge = labels(&[
        ("client", "user"),
        ("server", &format!("{}frontend", shop.prefix)),
        ("connection_type", "virtual_node"),
    ]);
    let deadline = Instant::now() + ARRIVAL;
    loop {
        let got = figures(prom, "traces_spanmetrics_calls_total").await;
        let edges = figures(prom, "traces_service_graph_request_total").await;
        if got == calls && edges.get(&virtual_edge) == Some(&(shop.requests as f64)) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{tenant}: Prometheus did not get the shop's figures within {ARRIVAL:?}\n\
             calls want {calls:?}\ncalls got {got:?}\nedges got {edges:?}\n{}",
            server.stderr_tail()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let sent = "sextant_generator_remote_write_samples_sent_total";
    for _ in 0..2 {
        let before = generator_metric(server, sent, tenant, &[]).await;
        wait_until(
            ARRIVAL,
            &format!("{tenant}: another accepted push"),
            async || generator_metric(server, sent, tenant, &[]).await > before,
        )
        .await;
    }
}

/// Assert every generated series `prom` holds for `shop`, exactly.
async fn assert_figures(server: &Sextant, prom: &Prometheus, tenant: &str, shop: &Shop) {
    let n = shop.requests as f64;

    // Span metrics: exactly the expected series and counts; sizes counted for each.
    let calls = expected_calls(shop);
    assert_eq!(
        figures(prom, "traces_spanmetrics_calls_total").await,
        calls,
        "{tenant}: calls"
    );
    let sizes = figures(prom, "traces_spanmetrics_size_total").await;
    assert_eq!(
        sizes.keys().collect::<Vec<_>>(),
        calls.keys().collect::<Vec<_>>(),
        "{tenant}: size series"
    );
    assert!(
        sizes.values().all(|v| *v > 0.0),
        "{tenant}: sizes {sizes:?}"
    );

    // Latency histograms: counts, sums and every bucket from the exact durations.
    assert_eq!(
        figures(prom, "traces_spanmetrics_latency_count").await,
        calls,
        "{tenant}: latency counts"
    );
    let sums = figures(prom, "traces_spanmetrics_latency_sum").await;
    assert_eq!(
        sums.keys().collect::<Vec<_>>(),
        calls.keys().collect::<Vec<_>>()
    );
    let buckets = figures(prom, "traces_spanmetrics_latency_bucket").await;
    for (series, count) in &calls {
        let seconds = duration_of(series);
        let sum = sums[series];
        assert!(
            (sum - seconds * count).abs() < 1e-6,
            "{tenant}: latency sum of {series:?} is {sum}"
        );
        assert_buckets(
            &buckets,
            "traces_spanmetrics_latency",
            series,
            &LATENCY_BUCKETS,
            seconds,
            *count,
        );
    }
    assert_eq!(
        buckets.len(),
        calls.len() * LATENCY_BUCKETS.len(),
        "{tenant}: stray latency buckets"
    );

    // Service graph: exactly the three edges; failures only where requests failed.
    let edges = expected_edges(shop);
    let totals: Figures = edges
        .iter()
        .map(|(l, (total, _))| (l.clone(), *total))
        .collect();
    assert_eq!(
        figures(prom, "traces_service_graph_request_total").await,
        totals,
        "{tenant}: edges"
    );
    let failed = figures(prom, "traces_service_graph_request_failed_total").await;
    for (series, value) in &failed {
        let (_, want) = edges
            .get(series)
            .unwrap_or_else(|| panic!("{tenant}: failed count of an unknown edge {series:?}"));
        assert_eq!(value, want, "{tenant}: failed requests of {series:?}");
    }
    for (series, (_, want)) in &edges {
        if *want > 0.0 {
            assert!(
                failed.contains_key(series),
                "{tenant}: no failed count for {series:?}"
            );
        }
    }
    let p = &shop.prefix;
    let calls_edge = labels(&[
        ("client", &format!("{p}frontend")),
        ("server", &format!("{p}api")),
    ]);
    let db_edge = labels(&[
        ("client", &format!("{p}api")),
        ("server", &format!("{p}db")),
        ("connection_type", "database"),
    ]);
    let user_edge = labels(&[
        ("client", "user"),
        ("server", &format!("{p}frontend")),
        ("connection_type", "virtual_node"),
    ]);
    let server_side = figures(prom, "traces_service_graph_request_server_seconds_bucket").await;
    let client_side = figures(prom, "traces_service_graph_request_client_seconds_bucket").await;
    assert_buckets(
        &client_side,
        "client_seconds",
        &calls_edge,
        &GRAPH_BUCKETS,
        ITEMS_CALL,
        n,
    );
    assert_buckets(
        &server_side,
        "server_seconds",
        &calls_edge,
        &GRAPH_BUCKETS,
        ITEMS_HANDLER,
        n,
    );
    assert_buckets(
        &server_side,
        "server_seconds",
        &user_edge,
        &GRAPH_BUCKETS,
        CHECKOUT,
        n,
    );
    assert_buckets(
        &client_side,
        "client_seconds",
        &db_edge,
        &GRAPH_BUCKETS,
        SELECT,
        n,
    );
    for name in ["server", "client"] {
        let counts = figures(
            prom,
            &format!("traces_service_graph_request_{name}_seconds_count"),
        )
        .await;
        assert_eq!(counts, totals, "{tenant}: {name}_seconds counts");
    }

    // Exemplars on the latency buckets name the shop's traces.
    let exemplars = prom.exemplars("traces_spanmetrics_latency_bucket").await;
    let mut checkout_exemplars = 0;
    for series in &exemplars {
        for exemplar in &series.exemplars {
            let trace_id = exemplar
                .labels
                .get("traceID")
                .unwrap_or_else(|| panic!("{tenant}: exemplar without traceID: {exemplar:?}"));
            assert!(
                shop.trace_ids.contains(trace_id),
                "{tenant}: exemplar names trace {trace_id}, not one the shop sent"
            );
            if series.series.get("span_name").map(String::as_str) == Some("GET /checkout") {
                assert!(
                    (exemplar.value - CHECKOUT).abs() < 1e-9,
                    "{tenant}: checkout exemplar {exemplar:?}"
                );
                checkout_exemplars += 1;
            }
        }
    }
    assert!(
        checkout_exemplars > 0,
        "{tenant}: no exemplar on the checkout latency: {exemplars:?}"
    );

    // The server's own account of the tenant.
    let received = generator_metric(
        server,
        "sextant_generator_spans_received_total",
        tenant,
        &[],
    )
    .await;
    assert_eq!(received, 4.0 * n, "{tenant}: spans received");
    for lost in [
        "sextant_generator_spans_shed_total",
        "sextant_generator_spans_dropped_total",
        "sextant_generator_edges_expired_total",
    ] {
        let value = generator_metric(server, lost, tenant, &[]).await;
        assert_eq!(value, 0.0, "{tenant}: {lost}");
    }
    assert!(generator_metric(server, "sextant_generator_active_series", tenant, &[]).await > 0.0);
    let dropped = generator_metric(
        server,
        "sextant_generator_remote_write_samples_dropped_total",
        tenant,
        &[],
    )
    .await;
    assert_eq!(dropped, 0.0, "{tenant}: samples dropped with the target up");
}

/// The services a generated series names (`service`, `client`, `server`), but the virtual
/// `user` client, which every shop has.
fn services(series: &BTreeMap<String, String>) -> Vec<&str> {
    ["service", "client", "server"]
        .iter()
        .filter_map(|k| series.get(*k).map(|v| (*k, v.as_str())))
        .filter(|(k, v)| !(*k == "client" && *v == "user"))
        .map(|(_, v)| v)
        .collect()
}

/// Series that name a service without `prefix`.
fn not_prefixed<'a>(
    series: &'a [BTreeMap<String, String>],
    prefix: &str,
) -> Vec<&'a BTreeMap<String, String>> {
    series
        .iter()
        .filter(|s| services(s).iter().any(|v| !v.starts_with(prefix)))
        .collect()
}

fn generator_env(opts: Options) -> Options {
    opts.env("SEXTANT_GENERATOR__COLLECTION_INTERVAL", "100ms")
        .env("SEXTANT_GENERATOR__EDGE_WAIT", "1s")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_tenant_gets_exactly_its_series_in_its_own_prometheus() {
    let prom_a = Prometheus::start().await;
    let prom_b = Prometheus::start().await;
    let server = Sextant::start(generator_env(Options::new())).await;
    let keys_a = server.tenant("gen-a").await;
    let keys_b = server.tenant("gen-b").await;
    enable_generator(&server, "gen-a", Some(&prom_a.remote_write_url())).await;
    enable_generator(&server, "gen-b", Some(&prom_b.remote_write_url())).await;

    let (shop_a, shop_b) = tokio::join!(
        run_shop(&server, &keys_a, "", 12, 4),
        run_shop(&server, &keys_b, "b-", 7, 3),
    );
    assert_eq!((shop_a.errors, shop_b.errors), (3, 2));

    wait_for_figures(&server, &prom_a, "gen-a", &shop_a).await;
    wait_for_figures(&server, &prom_b, "gen-b", &shop_b).await;
    assert_figures(&server, &prom_a, "gen-a", &shop_a).await;
    assert_figures(&server, &prom_b, "gen-b", &shop_b).await;

    // Nothing of one tenant in the other's Prometheus, under any generated name.
    let every = r#"{__name__=~"traces_.+"}"#;
    let in_a = prom_a.series(every).await;
    assert!(!in_a.is_empty(), "no series in gen-a's Prometheus");
    let foreign: Vec<_> = in_a
        .iter()
        .filter(|s| services(s).iter().any(|v| v.starts_with("b-")))
        .collect();
    assert!(
        foreign.is_empty(),
        "gen-b's series in gen-a's Prometheus: {foreign:?}"
    );
    let in_b = prom_b.series(every).await;
    assert!(!in_b.is_empty(), "no series in gen-b's Prometheus");
    let foreign = not_prefixed(&in_b, "b-");
    assert!(
        foreign.is_empty(),
        "gen-a's series in gen-b's Prometheus: {foreign:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn global_default_target_is_used_without_a_tenant_target() {
    let global = Prometheus::start().await;
    let own = Prometheus::start().await;
    let server = Sextant::start(generator_env(Options::new()).env(
        "SEXTANT_GENERATOR__REMOTE_WRITE__URL",
        global.remote_write_url(),
    ))
    .await;
    let keys_default = server.tenant("gen-default").await;
    let keys_own = server.tenant("gen-own").await;
    enable_generator(&server, "gen-default", None).await;
    enable_generator(&server, "gen-own", Some(&own.remote_write_url())).await;

    let (shop_default, shop_own) = tokio::join!(
        run_shop(&server, &keys_default, "d-", 5, 0),
        run_shop(&server, &keys_own, "o-", 4, 2),
    );
    wait_for_figures(&server, &global, "gen-default", &shop_default).await;
    wait_for_figures(&server, &own, "gen-own", &shop_own).await;
    assert_figures(&server, &global, "gen-default", &shop_default).await;
    assert_figures(&server, &own, "gen-own", &shop_own).await;

    // The default target serves only the tenant without one of its own.
    let every = r#"{__name__=~"traces_.+"}"#;
    let at_global = global.series(every).await;
    let stray = not_prefixed(&at_global, "d-");
    assert!(
        stray.is_empty(),
        "series of another tenant at the default target: {stray:?}"
    );
    let at_own = own.series(every).await;
    let stray = not_prefixed(&at_own, "o-");
    assert!(
        stray.is_empty(),
        "series of another tenant at gen-own's target: {stray:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn target_down_then_up_loses_no_ingest_and_resumes() {
    const TENANT: &str = "gen-outage";
    const QUEUE: f64 = 3.0;
    let mut prom = Prometheus::start().await;
    let server = Sextant::start(
        Options::new()
            .env("SEXTANT_GENERATOR__COLLECTION_INTERVAL", "50ms")
            .env("SEXTANT_GENERATOR__EDGE_WAIT", "1s")
            .env("SEXTANT_GENERATOR__REMOTE_WRITE__QUEUE_REQUESTS", "3")
            .env("SEXTANT_GENERATOR__REMOTE_WRITE__MIN_BACKOFF", "20ms")
            .env("SEXTANT_GENERATOR__REMOTE_WRITE__MAX_BACKOFF", "200ms")
            .env("SEXTANT_GENERATOR__REMOTE_WRITE__TIMEOUT", "2s"),
    )
    .await;
    let keys = server.tenant(TENANT).await;
    enable_generator(&server, TENANT, Some(&prom.remote_write_url())).await;
    let checkouts =
        r#"traces_spanmetrics_calls_total{service="frontend",span_kind="SPAN_KIND_SERVER"}"#;
    let failed = "sextant_generator_remote_write_samples_failed_total";
    let dropped = "sextant_generator_remote_write_samples_dropped_total";
    let queue = "sextant_generator_remote_write_queue_length";

    // Up: the first batch arrives.
    let first = run_shop(&server, &keys, "", 10, 0).await;
    wait_until(ARRIVAL, "the first batch in Prometheus", async || {
        prom.query_sum(checkouts).await == first.requests as f64
    })
    .await;

    // Down: ingest goes on, sends fail and are retried, the queue stays within its bound and
    // sheds its oldest requests.
    prom.stop().await;
    let failed_before = generator_metric(&server, failed, TENANT, &[]).await;
    let second = run_shop(&server, &keys, "", 15, 0).await;
    for _ in 0..3 {
        assert_eq!(
            server.write_status(&keys.rw).await,
            200,
            "ingest while the target is down"
        );
    }
    let deadline = Instant::now() + ARRIVAL;
    let mut longest = 0.0_f64;
    loop {
        let text = server.metrics_text().await;
        let length = metric_sum(&text, queue, &[("tenant", TENANT)]);
        assert!(length <= QUEUE, "queue of {length} requests, bound {QUEUE}");
        longest = longest.max(length);
        let retried = metric_sum(&text, failed, &[("tenant", TENANT)]) > failed_before;
        let shed = metric_sum(
            &text,
            dropped,
            &[("tenant", TENANT), ("reason", "queue_full")],
        ) > 0.0;
        if retried && shed {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "within {ARRIVAL:?} of the outage: failed sends counted {retried}, queue_full drops {shed}\n{}",
            server.stderr_tail()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        longest >= 1.0,
        "no request ever waited while the target was down"
    );

    // Up again: the cumulative counters carry everything sent, the queue drains, nothing was
    // refused, and every trace sent during the outage reads back.
    prom.resume().await;
    let total = (first.requests + second.requests) as f64;
    wait_until(ARRIVAL, "both batches counted in Prometheus", async || {
        prom.query_sum(checkouts).await == total
    })
    .await;
    wait_until(ARRIVAL, "the queue to drain", async || {
        generator_metric(&server, queue, TENANT, &[]).await == 0.0
    })
    .await;
    assert_eq!(
        generator_metric(&server, dropped, TENANT, &[("reason", "rejected")]).await,
        0.0,
        "Prometheus refused a write after the outage\n{}",
        prom.log()
    );
    for id in &second.trace_ids {
        let id = hex::decode(id).expect("hex trace id");
        wait_until(
            PROPAGATION,
            "a trace sent during the outage to read back",
            async || server.read_status(&keys.rw, &id).await == 200,
        )
        .await;
    }
}
