//! TraceQL metrics (`GET /api/metrics/query_range`, `GET /api/metrics/query`) end to end
//! against the real binary. Two tenants send seeded spans spread over one hour
//! (`metrics/world.rs`, the same services in both, so a leak changes the numbers); a table of
//! metrics queries (`metrics/table.rs`) is asked of the first tenant and every answer is compared
//! series by series, label by label, sample by sample with values computed from the spans
//! (`metrics/expect.rs`): live in memory, and from blocks only after a restart with an empty
//! WAL. Also instant queries, exemplars, the parameter forms (seconds, nanoseconds, RFC 3339,
//! step durations), bad queries and the per-tenant `max_metrics_duration` set with the CLI.

#[expect(
    dead_code,
    reason = "the shared generator has helpers only search.rs uses"
)]
#[path = "search/data.rs"]
mod data;
#[path = "metrics/expect.rs"]
mod expect;
#[path = "metrics/table.rs"]
mod table;
#[path = "metrics/world.rs"]
mod world;

use std::collections::BTreeMap;
use std::time::Duration;

use prost::Message;
use sextant_tests::{
    Auth, Label, Labels, Options, RangeAnswer, Sextant, now_nanos, parse_instant, parse_range,
    post_otlp, wait_until, wal_segments,
};

use data::{GTrace, requests};
use expect::{By, Density, Grid, check_exact, check_top, check_within, counts, normalise};
use table::{Want, rows};
use world::{MINUTES, MSpan, SEED_A, SEED_B, STEP, World, base_for, generate};

const TENANT_A: &str = "metrics-a";
const TENANT_B: &str = "metrics-b";
/// A WAL segment holding no record is its header alone (`store::wal::frame`).
const WAL_HEADER_BYTES: u64 = 16;

struct Side {
    auth: Auth,
    world: World,
}

struct Both {
    a: Side,
    b: Side,
}

impl Both {
    /// The query range: unix seconds a little inside the hour, so alignment must round it out.
    fn range(&self) -> (u64, u64) {
        (
            self.a.world.base + 5,
            self.a.world.base + MINUTES * STEP - 5,
        )
    }
}

async fn send(server: &Sextant, auth: &Auth, traces: &[GTrace]) {
    let url = format!("{}/v1/traces", server.otlp_http_url());
    for request in requests(traces, 25) {
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

async fn load(server: &Sextant) -> Both {
    let base = base_for(now_nanos());
    let a = generate(SEED_A, base);
    let b = generate(SEED_B, base);
    assert!(a.spans.len() > 300, "{} spans", a.spans.len());
    let keys_a = server.tenant(TENANT_A).await;
    let keys_b = server.tenant(TENANT_B).await;
    send(server, &keys_a.write, &a.traces).await;
    send(server, &keys_b.write, &b.traces).await;
    Both {
        a: Side {
            auth: keys_a.read,
            world: a,
        },
        b: Side {
            auth: keys_b.read,
            world: b,
        },
    }
}

/// GET `path` with Basic auth: (status, content type, body).
async fn get(
    server: &Sextant,
    auth: &Auth,
    path: &str,
    params: &[(&str, String)],
) -> (u16, String, String) {
    let url = reqwest::Url::parse_with_params(&format!("{}{path}", server.http_url()), params)
        .expect("url");
    let resp = server
        .client()
        .get(url.clone())
        .header("authorization", auth.basic())
        .header("accept", "application/json")
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET {url}: {e}"));
    let status = resp.status().as_u16();
    let ct = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    (status, ct, resp.text().await.expect("body"))
}

fn range_params(q: &str, (start, end): (u64, u64), step: &str) -> Vec<(&'static str, String)> {
    vec![
        ("q", q.to_owned()),
        ("start", start.to_string()),
        ("end", end.to_string()),
        ("step", step.to_owned()),
    ]
}

async fn query_range(
    server: &Sextant,
    auth: &Auth,
    params: &[(&str, String)],
    what: &str,
) -> RangeAnswer {
    let (status, ct, body) = get(server, auth, "/api/metrics/query_range", params).await;
    assert_eq!(status, 200, "{what}: {body}");
    assert!(
        ct.starts_with("application/json"),
        "{what}: content-type {ct}"
    );
    parse_range(&body).unwrap_or_else(|e| panic!("{what}: {e:#}\n{body}"))
}

fn check_row(what: &str, row: &table::Row, answer: &RangeAnswer, grid: Grid) {
    assert!(!answer.partial, "{what}: PARTIAL: {}", answer.message);
    let got = normalise(what, &answer.series, grid, row.drop_name);
    match &row.want {
        Want::Exact(want, density) => {
            let want: BTreeMap<Labels, BTreeMap<i64, f64>> = want
                .iter()
                .map(|(l, v)| {
                    let mut l = l.clone();
                    if row.drop_name {
                        l.remove("__name__");
                    }
                    (l, v.clone())
                })
                .collect();
            check_exact(what, &got, &want, *density, grid);
        }
        Want::Within(want) => check_within(what, &got, want),
        Want::Top { base, n, top } => check_top(what, &got, base, *n, *top, grid),
    }
}

async fn run_all(phase: &str, server: &Sextant, both: &Both) {
    let range = both.range();
    let grid = Grid::new(range.0, range.1, STEP);
    let a = &both.a;
    let table = rows(&a.world.spans, grid);
    assert!(table.len() >= 15, "{} rows", table.len());
    for row in &table {
        let what = format!("{phase}: {}", row.q);
        let answer = query_range(server, &a.auth, &range_params(&row.q, range, "60"), &what).await;
        check_row(&what, row, &answer, grid);
    }

    // The other tenant sees its own numbers (the same services, other counts).
    let b_table = rows(&both.b.world.spans, grid);
    for row in b_table.iter().take(4) {
        let what = format!("{phase}, tenant B: {}", row.q);
        let answer = query_range(
            server,
            &both.b.auth,
            &range_params(&row.q, range, "60"),
            &what,
        )
        .await;
        check_row(&what, row, &answer, grid);
    }

    // Parameter forms: RFC 3339, nanoseconds, fractional seconds, `1m` and `60s` steps.
    let row = &table[2];
    let forms = [
        (rfc3339(range.0), rfc3339(range.1), "1m".to_owned()),
        (
            (range.0 * 1_000_000_000).to_string(),
            (range.1 * 1_000_000_000).to_string(),
            "60s".to_owned(),
        ),
        (
            format!("{}.25", range.0),
            format!("{}.5", range.1),
            "60.0".to_owned(),
        ),
    ];
    for (start, end, step) in forms {
        let params = vec![
            ("q", row.q.clone()),
            ("start", start.clone()),
            ("end", end.clone()),
            ("step", step.clone()),
        ];
        let what = format!(
            "{phase}: {} with start={start} end={end} step={step}",
            row.q
        );
        check_row(
            &what,
            row,
            &query_range(server, &a.auth, &params, &what).await,
            grid,
        );
    }
    // `query` as Prometheus names it.
    let params = vec![
        ("query", row.q.clone()),
        ("start", range.0.to_string()),
        ("end", range.1.to_string()),
        ("step", "60".to_owned()),
    ];
    let what = format!("{phase}: {} as query=", row.q);
    check_row(
        &what,
        row,
        &query_range(server, &a.auth, &params, &what).await,
        grid,
    );

    // A five-minute step regroups the same spans.
    let grid5 = Grid::new(range.0, range.1, 300);
    let q = "{} | count_over_time() by (resource.service.name)";
    let what = format!("{phase}: {q} step=5m");
    let answer = query_range(server, &a.auth, &range_params(q, range, "5m"), &what).await;
    let want = counts(&a.world.spans, grid5, |_| true, By::Service);
    let got = normalise(&what, &answer.series, grid5, false);
    check_exact(&what, &got, &want, Density::ZeroOptional, grid5);

    compare(phase, server, a, range, grid).await;
    exemplars(phase, server, a, range, grid).await;
    instant(phase, server, a, range).await;
    errors(phase, server, &a.auth, range).await;
}

/// `compare()`: every series typed by `__meta_type`; the selection (error spans) and baseline
/// (the others) counts of each route and service value, per sample.
async fn compare(phase: &str, server: &Sextant, a: &Side, range: (u64, u64), grid: Grid) {
    let q = r#"{ resource.service.name != "db" } | compare({ status = error })"#;
    let what = format!("{phase}: {q}");
    let answer = query_range(server, &a.auth, &range_params(q, range, "60"), &what).await;
    let types = ["baseline", "selection", "baseline_total", "selection_total"];
    let mut seen = BTreeMap::new();
    for s in &answer.series {
        match s.labels.get("__meta_type") {
            Some(Label::Str(t)) if types.contains(&t.as_str()) => {
                *seen.entry(t.clone()).or_insert(0) += 1;
            }
            other => panic!("{what}: series {:?} has __meta_type {other:?}", s.labels),
        }
    }
    for t in types {
        assert!(seen.contains_key(t), "{what}: no {t} series ({seen:?})");
    }
    let keyed = |key: &str| -> Vec<_> {
        answer
            .series
            .iter()
            .filter(|s| {
                s.labels.len() == 2
                    && s.labels.contains_key(key)
                    && matches!(s.labels.get("__meta_type"), Some(Label::Str(t)) if t == "selection" || t == "baseline")
            })
            .cloned()
            .collect()
    };
    let side = |error: bool| if error { "selection" } else { "baseline" };
    for key in ["span.http.route", "resource.service.name"] {
        let mut want: expect::Values = BTreeMap::new();
        for error in [true, false] {
            let by_value = |s: &MSpan| -> Option<&'static str> {
                match key {
                    "span.http.route" => s.route,
                    _ => Some(s.service),
                }
            };
            for value in ["/a", "/b", "/c", "api", "web"] {
                let filter =
                    |s: &MSpan| s.service != "db" && s.error == error && by_value(s) == Some(value);
                for (_, samples) in counts(&a.world.spans, grid, filter, By::Name("x")) {
                    let labels = Labels::from([
                        ("__meta_type".to_owned(), Label::str(side(error))),
                        (key.to_owned(), Label::str(value)),
                    ]);
                    want.insert(labels, samples);
                }
            }
        }
        let got = normalise(&what, &keyed(key), grid, false);
        check_exact(
            &format!("{what}, {key}"),
            &got,
            &want,
            Density::ZeroOptional,
            grid,
        );
    }
}

/// Exemplars name real spans of the series they are attached to.
async fn exemplars(phase: &str, server: &Sextant, a: &Side, range: (u64, u64), grid: Grid) {
    let q = "{ status = error } | rate() by (resource.service.name)";
    let mut params = range_params(q, range, "60");
    params.push(("exemplars", "100".into()));
    let what = format!("{phase}: {q} with exemplars");
    let answer = query_range(server, &a.auth, &params, &what).await;
    let spans: BTreeMap<(String, String), &MSpan> = a
        .world
        .spans
        .iter()
        .map(|s| ((hex::encode(s.trace), hex::encode(s.id)), s))
        .collect();
    let mut seen = 0;
    for series in &answer.series {
        let Some(Label::Str(service)) = series.labels.get("resource.service.name") else {
            panic!("{what}: series {:?}", series.labels);
        };
        for e in &series.exemplars {
            seen += 1;
            let Some(Label::Str(trace)) = e.labels.get("trace:id") else {
                panic!("{what}: exemplar without trace:id: {e:?}");
            };
            assert!(
                trace.len() == 32 && trace.bytes().all(|b| b.is_ascii_hexdigit()),
                "{what}: trace:id {trace:?}"
            );
            let trace = trace.to_ascii_lowercase();
            let matching: Vec<&&MSpan> = spans
                .iter()
                .filter(|((t, _), s)| *t == trace && s.service == service && s.error)
                .map(|(_, s)| s)
                .collect();
            assert!(
                !matching.is_empty(),
                "{what}: exemplar trace {trace} has no error span of {service}"
            );
            if let Some(Label::Str(span)) = e.labels.get("span:id") {
                let s = spans
                    .get(&(trace.clone(), span.to_ascii_lowercase()))
                    .unwrap_or_else(|| panic!("{what}: exemplar span {span} not in {trace}"));
                assert!(
                    s.error && s.service == service,
                    "{what}: exemplar span {s:?}"
                );
            }
            let (lo, hi) = (
                (grid.start - grid.step) as i64 * 1000,
                grid.end as i64 * 1000,
            );
            assert!(
                (lo..=hi).contains(&e.timestamp_ms) && e.value.is_finite(),
                "{what}: exemplar {e:?}"
            );
        }
    }
    assert!(seen > 0, "{what}: no exemplar at all");
    // Without the parameter nothing asks for them: at most the server's default, still real.
}

/// `/api/metrics/query`: one value per series over (start, end].
async fn instant(phase: &str, server: &Sextant, a: &Side, range: (u64, u64)) {
    let in_range =
        |s: &MSpan| s.start > range.0 * 1_000_000_000 && s.start <= range.1 * 1_000_000_000;
    let by_service = |filter: &dyn Fn(&MSpan) -> bool| {
        let mut out: BTreeMap<Labels, f64> = BTreeMap::new();
        for s in a.world.spans.iter().filter(|s| in_range(s) && filter(s)) {
            let l = Labels::from([("resource.service.name".to_owned(), Label::str(s.service))]);
            *out.entry(l).or_default() += 1.0;
        }
        out
    };
    let errors = a
        .world
        .spans
        .iter()
        .filter(|s| in_range(s) && s.error)
        .count() as f64;
    let max = a
        .world
        .spans
        .iter()
        .filter(|s| in_range(s))
        .map(MSpan::seconds)
        .fold(0.0, f64::max);
    let name = |f: &str| Labels::from([("__name__".to_owned(), Label::str(f))]);
    let cases: Vec<(&str, BTreeMap<Labels, f64>)> = vec![
        (
            "{} | count_over_time() by (resource.service.name)",
            by_service(&|_| true),
        ),
        (
            r#"{ resource.service.name != "web" } | count_over_time() by (resource.service.name)"#,
            by_service(&|s| s.service != "web"),
        ),
        (
            "{ status = error } | count_over_time()",
            BTreeMap::from([(name("count_over_time"), errors)]),
        ),
        (
            "{} | max_over_time(duration)",
            BTreeMap::from([(name("max_over_time"), max)]),
        ),
    ];
    for (q, want) in cases {
        let params = [
            ("q", q.to_owned()),
            ("start", range.0.to_string()),
            ("end", range.1.to_string()),
        ];
        let (status, ct, body) = get(server, &a.auth, "/api/metrics/query", &params).await;
        let what = format!("{phase}: instant {q}");
        assert_eq!(status, 200, "{what}: {body}");
        assert!(ct.starts_with("application/json"), "{what}: {ct}");
        let got: BTreeMap<Labels, f64> = parse_instant(&body)
            .unwrap_or_else(|e| panic!("{what}: {e:#}\n{body}"))
            .into_iter()
            .collect();
        let keys = |m: &BTreeMap<Labels, f64>| m.keys().cloned().collect::<Vec<_>>();
        assert_eq!(keys(&got), keys(&want), "{what}: series\n{body}");
        for (l, w) in &want {
            let g = got[l];
            assert!(
                (g - w).abs() <= 1e-9 * w.abs().max(1.0),
                "{what}: {l:?} is {g}, expected {w}"
            );
        }
    }
}

/// Bad queries and ranges: 400 with a plain-text reason.
async fn errors(phase: &str, server: &Sextant, auth: &Auth, range: (u64, u64)) {
    let day = 86_400;
    let cases = [
        range_params("{ span.x = } | rate()", range, "60"),
        range_params("{} | rate(", range, "60"),
        range_params("{}", range, "60"),
        range_params("{ status = error }", range, "60"),
        range_params("{} | rate()", (range.1 - 2 * day, range.1), "3600"),
        range_params("{} | rate()", range, "sideways"),
        vec![
            ("q", "{} | rate()".to_owned()),
            ("start", "yesterday".into()),
            ("end", range.1.to_string()),
        ],
    ];
    for params in cases {
        let what = format!("{phase}: {params:?}");
        let (status, ct, body) = get(server, auth, "/api/metrics/query_range", &params).await;
        assert_eq!(status, 400, "{what}: {body}");
        assert!(ct.starts_with("text/plain"), "{what}: content-type {ct}");
        assert!(!body.is_empty(), "{what}: empty body");
        if params[1].1.parse::<u64>().is_ok_and(|s| range.1 - s > day) {
            assert!(
                body.contains("metrics query time range exceeds the maximum allowed duration of"),
                "{what}: {body}"
            );
        }
    }
    let params = [
        ("q", "{}".to_owned()),
        ("start", range.0.to_string()),
        ("end", range.1.to_string()),
    ];
    let (status, _, body) = get(server, auth, "/api/metrics/query", &params).await;
    assert_eq!(status, 400, "{phase}: instant of a search query: {body}");
}

fn long_idle() -> Options {
    Options::new()
        .env("SEXTANT_INGESTER__TRACE_IDLE", "1h")
        .env("SEXTANT_INGESTER__TRACE_MAX_LIVE", "1h")
        .env("SEXTANT_BLOCK__MAX_BLOCK_AGE", "1h")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_over_live_spans() {
    let server = Sextant::start(long_idle()).await;
    let both = load(&server).await;
    for side in [&both.a, &both.b] {
        let n = side.world.traces.len() as f64;
        let tenant = side.auth.tenant.clone();
        wait_until(Duration::from_secs(20), "every trace live", async || {
            server
                .metric("sextant_live_traces", &[("tenant", &tenant)])
                .await
                == n
        })
        .await;
    }
    run_all("live", &server, &both).await;

    // A per-tenant max_metrics_duration set with the CLI: A's hour is now too long, B's is not.
    server
        .cli_ok(&["limits", "set", TENANT_A, "--max-metrics-duration", "30m"])
        .await;
    let q = "{} | rate()";
    let params = range_params(q, both.range(), "60");
    let mut body = String::new();
    wait_until(Duration::from_secs(15), "the new limit", async || {
        let (status, _, b) = get(&server, &both.a.auth, "/api/metrics/query_range", &params).await;
        body = b;
        status == 400
    })
    .await;
    assert!(
        body.contains("metrics query time range exceeds the maximum allowed duration of"),
        "{body}"
    );
    let (status, _, body) = get(&server, &both.b.auth, "/api/metrics/query_range", &params).await;
    assert_eq!(status, 200, "tenant B under the default limit: {body}");
    let short = (both.range().1 - 1200, both.range().1);
    let (status, _, body) = get(
        &server,
        &both.a.auth,
        "/api/metrics/query_range",
        &range_params(q, short, "60"),
    )
    .await;
    assert_eq!(status, 200, "a 20-minute range: {body}");
}

/// Tempo's grammar reads `.99` as an attribute named `99` (its own parser tests refuse
/// `quantile_over_time(duration, .5)`), so `0.99` must be written; the answer is a 400 that
/// points at the argument, not a silent misreading.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_quantile_spelled_with_a_leading_dot_is_refused_as_tempo_refuses_it() {
    let server = Sextant::start(long_idle()).await;
    let both = load(&server).await;
    let q = "{} | quantile_over_time(duration, .99) by (resource.service.name)";
    let (status, _, body) = get(
        &server,
        &both.a.auth,
        "/api/metrics/query_range",
        &range_params(q, both.range(), "60"),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("quantile"), "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_over_blocks_only() {
    let mut server = Sextant::start(Options::new().fast_blocks()).await;
    let both = load(&server).await;
    let wal_empty = |server: &Sextant| {
        wal_segments(server.data_dir())
            .iter()
            .all(|p| std::fs::metadata(p).map_or(true, |m| m.len() <= WAL_HEADER_BYTES))
    };
    wait_until(
        Duration::from_secs(30),
        "every trace in a block, the WAL released",
        async || {
            server.traces_in_memory().await == 0.0
                && server.metric("sextant_wal_released_bytes_total", &[]).await > 0.0
                && wal_empty(&server)
        },
    )
    .await;
    server.restart().await;
    let replayed = server.metric("sextant_wal_replay_records_total", &[]).await;
    assert_eq!(replayed, 0.0, "the restart replayed WAL records");
    assert_eq!(server.traces_in_memory().await, 0.0);
    run_all("blocks", &server, &both).await;
}

/// The expected-value helpers agree with hand-counted data.
#[test]
fn the_generator_and_the_grid_agree() {
    let base = 1_800_000_000 / STEP * STEP;
    let w = generate(SEED_A, base);
    let grid = Grid::new(base + 5, base + MINUTES * STEP - 5, STEP);
    assert_eq!((grid.start, grid.end), (base, base + 3600));
    assert_eq!(grid.points().len(), 61);
    let c = counts(&w.spans, grid, |_| true, By::Service);
    let total: f64 = c.values().flat_map(|v| v.values()).sum();
    assert_eq!(total as usize, w.spans.len());
    // Distinct counts per minute, except where all three are zero.
    for t in grid.points() {
        let mut v: Vec<u64> = c.values().map(|s| s[&t] as u64).collect();
        v.sort_unstable();
        v.dedup();
        assert!(v.len() == 3 || v == [0], "at {t}: {v:?}");
    }
    assert_eq!(
        w.traces.iter().map(|t| t.spans.len()).sum::<usize>(),
        w.spans.len()
    );
    assert_eq!(expect::bucket(1_500_000), 2_097_152.0 / 1e9);
    let b = generate(SEED_B, base);
    assert_ne!(b.spans.len(), w.spans.len());
}

/// Unix seconds as RFC 3339 UTC (civil-from-days, proleptic Gregorian).
fn rfc3339(secs: u64) -> String {
    let (days, rem) = ((secs / 86_400) as i64, secs % 86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[test]
fn rfc3339_of_known_instants() {
    assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
    assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
    assert_eq!(rfc3339(1_700_000_000), "2023-11-14T22:13:20Z");
}
