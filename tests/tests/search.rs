//! TraceQL search (`GET /api/search`) end to end against the real binary. The same generated
//! traces (`search/data.rs`) are searched with the same query table (`search/table.rs`) in
//! three places: live in memory, replayed from the WAL after a `kill -9`, and from blocks only
//! after a restart with an empty WAL. Each answer is compared with the expected result written
//! as plain Rust: the traces and their order, every span set's spans and `matched`, the span
//! and trace summaries; plus `limit`, `spss`, time ranges, a bad query, and a second tenant
//! whose traces must never show up in the first one's answers (nor the reverse).

#[path = "search/answer.rs"]
mod answer;
#[path = "search/data.rs"]
mod data;
#[path = "search/table.rs"]
mod table;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use prost::Message;
use sextant_tests::{Auth, Options, Sextant, now_nanos, post_otlp, wait_until, wal_segments};

use answer::{Answer, GotTrace, ROOT_NOT_RECEIVED, parse_answer, render};
use data::{GTrace, MS, SEC, SEED_A, SEED_B, TraceId, Val, generate, requests};
use table::{Groups, Row, Scope, expected, rows};

const TENANT_A: &str = "search-a";
const TENANT_B: &str = "search-b";
const TRACES_A: usize = 90;
const TRACES_B: usize = 12;
/// Enough for every trace and every span of a span set.
const LIMIT: u32 = 1000;
const SPSS: u32 = 100;
/// A WAL segment holding no record is its header alone (`store::wal::frame`).
const WAL_HEADER_BYTES: u64 = 16;

/// One tenant's traces and its read-only key.
struct Side {
    auth: Auth,
    traces: Vec<GTrace>,
}

struct World {
    a: Side,
    b: Side,
    /// The search range covering everything: unix seconds.
    range: (u64, u64),
}

impl World {
    fn span_count(&self) -> usize {
        [&self.a, &self.b]
            .iter()
            .flat_map(|s| &s.traces)
            .map(|t| t.spans.len())
            .sum()
    }
}

/// Create both tenants and send their traces (ten whole traces per request).
async fn load(server: &Sextant) -> World {
    let now = now_nanos();
    let a = generate(SEED_A, TRACES_A, now);
    let b = generate(SEED_B, TRACES_B, now);
    let keys_a = server.tenant(TENANT_A).await;
    let keys_b = server.tenant(TENANT_B).await;
    let url = format!("{}/v1/traces", server.otlp_http_url());
    for (auth, traces) in [(&keys_a.write, &a), (&keys_b.write, &b)] {
        for request in requests(traces, 10) {
            let body = request.encode_to_vec();
            let resp = post_otlp(
                server.client(),
                &url,
                Some(auth),
                "application/x-protobuf",
                None,
                body,
            )
            .await;
            let status = resp.status();
            let text = resp.text().await.unwrap_or_default();
            assert_eq!(status, 200, "export for {} refused: {text}", auth.tenant);
        }
    }
    let earliest = a.iter().chain(&b).map(GTrace::start).min().expect("traces");
    World {
        a: Side {
            auth: keys_a.read,
            traces: a,
        },
        b: Side {
            auth: keys_b.read,
            traces: b,
        },
        range: (earliest / SEC - 600, now / SEC + 600),
    }
}

/// Trace idle, maximum life and block age of an hour: nothing completes or reaches a block
/// during the test (traces replayed from the WAL come back completed, waiting for a block).
fn long_idle() -> Options {
    Options::new()
        .env("SEXTANT_INGESTER__TRACE_IDLE", "1h")
        .env("SEXTANT_INGESTER__TRACE_MAX_LIVE", "1h")
        .env("SEXTANT_BLOCK__MAX_BLOCK_AGE", "1h")
}

/// The per-tenant gauge `gauge` (`sextant_live_traces`, `sextant_completed_traces`).
async fn traces(server: &Sextant, gauge: &str, tenant: &str) -> f64 {
    server.metric(gauge, &[("tenant", tenant)]).await
}

async fn blocks_written(server: &Sextant, tenant: &str) -> f64 {
    server
        .metric("sextant_blocks_written_total", &[("tenant", tenant)])
        .await
}

/// Block folders of `tenant` on the local block storage.
fn block_dirs(server: &Sextant, tenant: &str) -> usize {
    let dir = server.data_dir().join("blocks").join(tenant).join("blocks");
    std::fs::read_dir(dir).map_or(0, |d| d.count())
}

/// Wait until `gauge` counts every trace of both tenants, with no block written.
async fn wait_all_in_memory(server: &Sextant, world: &World, gauge: &str) {
    for (tenant, n) in [
        (TENANT_A, world.a.traces.len()),
        (TENANT_B, world.b.traces.len()),
    ] {
        wait_until(Duration::from_secs(20), gauge, async || {
            traces(server, gauge, tenant).await == n as f64
        })
        .await;
        assert_eq!(blocks_written(server, tenant).await, 0.0, "{tenant}");
        assert_eq!(block_dirs(server, tenant), 0, "{tenant} has blocks");
    }
}

/// (1) Everything live in memory.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn search_over_live_traces() {
    let server = Sextant::start(long_idle()).await;
    let world = load(&server).await;
    wait_all_in_memory(&server, &world, "sextant_live_traces").await;
    run_all("live", &server, &world).await;
}

/// (2) Everything replayed from the WAL after a `kill -9`, nothing in blocks.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn search_over_traces_replayed_from_the_wal() {
    let mut server = Sextant::start(long_idle()).await;
    let world = load(&server).await;
    server.kill9().await;
    server.restart().await;
    let spans = world.span_count() as f64;
    wait_until(Duration::from_secs(20), "the WAL replay", async || {
        server.metric("sextant_wal_replay_spans_total", &[]).await == spans
    })
    .await;
    // Replayed traces are complete, held in memory until a block is due (in an hour).
    wait_all_in_memory(&server, &world, "sextant_completed_traces").await;
    run_all("wal", &server, &world).await;
}

/// (3) Everything in blocks, the WAL empty, then a restart that replays nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn search_over_blocks_only() {
    let mut server = Sextant::start(Options::new().fast_blocks()).await;
    let world = load(&server).await;
    let wal_empty = |server: &Sextant| {
        wal_segments(server.data_dir())
            .iter()
            .all(|p| std::fs::metadata(p).map_or(true, |m| m.len() <= WAL_HEADER_BYTES))
    };
    wait_until(
        Duration::from_secs(30),
        "every trace in a block and every WAL record released",
        async || {
            server.traces_in_memory().await == 0.0
                && server.metric("sextant_wal_released_bytes_total", &[]).await > 0.0
                && wal_empty(&server)
        },
    )
    .await;
    for tenant in [TENANT_A, TENANT_B] {
        assert!(blocks_written(&server, tenant).await >= 1.0, "{tenant}");
        assert!(
            block_dirs(&server, tenant) >= 1,
            "no block folder of {tenant}"
        );
    }
    server.restart().await;
    assert_eq!(
        server.metric("sextant_wal_replay_records_total", &[]).await,
        0.0,
        "the restart replayed WAL records"
    );
    assert_eq!(server.traces_in_memory().await, 0.0);
    run_all("blocks", &server, &world).await;
}

/// The table over both tenants, then ordering, limit, spss, time ranges and bad queries.
async fn run_all(phase: &str, server: &Sextant, world: &World) {
    let n_rows = run_table(phase, server, &world.a, &world.b, world.range).await;
    assert!(n_rows >= 30, "{n_rows} queries");
    run_table(phase, server, &world.b, &world.a, world.range).await;
    extras(phase, server, world).await;
}

/// Every row of the table over `side`; `other` is the other tenant. Returns the row count.
async fn run_table(
    phase: &str,
    server: &Sextant,
    side: &Side,
    other: &Side,
    range: (u64, u64),
) -> usize {
    let table = rows(&side.traces);
    for row in &table {
        let what = format!("{phase}, tenant {}, {}", side.auth.tenant, row.q);
        let answer = search(server, &side.auth, &row.q, range, LIMIT, SPSS).await;
        check(&what, row, &side.traces, &other.traces, &answer);
        if row.q == "{}" {
            assert!(answer.inspected_bytes > 0, "{what}: inspectedBytes 0");
            assert!(
                answer.inspected_traces >= answer.traces.len() as u64,
                "{what}: inspectedTraces {} below the {} traces returned",
                answer.inspected_traces,
                answer.traces.len()
            );
        }
    }
    table.len()
}

async fn extras(phase: &str, server: &Sextant, world: &World) {
    let a = &world.a;
    let table = rows(&a.traces);
    let row = |q: &str| table.iter().find(|r| r.q == q).expect("row in the table");

    // `limit`: the latest-starting traces, the tie (traces 0 and 1) broken by ID.
    for (q, limit) in [("{}", 5), ("{ status = error }", 3), ("{}", 1)] {
        let want: Vec<TraceId> = expected(row(q), &a.traces)
            .iter()
            .take(limit)
            .map(|(t, _)| t.id)
            .collect();
        let got = search(server, &a.auth, q, world.range, limit as u32, SPSS).await;
        let got: Vec<TraceId> = got.traces.iter().map(|t| t.id).collect();
        assert_eq!(hexes(&got), hexes(&want), "{phase}: {q} with limit={limit}");
    }
    assert_eq!(expected(row("{}"), &a.traces)[0].0.id, a.traces[1].id);

    // `spss=1`: one span per span set, `matched` still counts all.
    let q = r#"{ resource.service.name = "db" }"#;
    let answer = search(server, &a.auth, q, world.range, LIMIT, 1).await;
    let want = expected(row(q), &a.traces);
    assert_eq!(answer.traces.len(), want.len(), "{phase}: {q} spss=1");
    for (got, (t, groups)) in answer.traces.iter().zip(&want) {
        let all = &groups[0].1;
        let matched: u64 = got.sets.iter().map(|s| s.matched).sum();
        assert_eq!(matched, all.len() as u64, "{phase}: {q} spss=1 matched");
        for set in &got.sets {
            assert_eq!(set.spans.len(), 1, "{phase}: {q} spss=1 spans per set");
            let i = t.index_of(&set.spans[0].id).expect("a span of the trace");
            assert!(
                all.contains(&i),
                "{phase}: {q} spss=1 returned a non-matching span"
            );
        }
    }

    // Bad TraceQL: 400 with a plain-text reason.
    for q in [r#"{ span.x = }"#, r#"{ .a = "b""#, "{ kind = sideways }"] {
        let (status, content_type, body) =
            search_raw(server, &a.auth, q, world.range, LIMIT, SPSS).await;
        assert_eq!(
            status,
            400,
            "{phase}: {q}: {}",
            String::from_utf8_lossy(&body)
        );
        assert!(
            content_type.starts_with("text/plain"),
            "{phase}: {q}: content-type {content_type:?}"
        );
        assert!(!body.is_empty(), "{phase}: {q}: empty 400 body");
    }

    // A range two days ago holds nothing.
    let now = now_nanos() / SEC;
    let past = (now - 3 * 86_400, now - 2 * 86_400);
    let answer = search(server, &a.auth, "{}", past, LIMIT, SPSS).await;
    assert!(
        answer.traces.is_empty(),
        "{phase}: a range two days ago found traces"
    );

    // A range around a run of traces (at least 1 s clear of its neighbours) finds just them.
    let (window, inside) = window(&a.traces);
    let answer = search(server, &a.auth, "{}", window, LIMIT, SPSS).await;
    let what = format!("{phase}: {{}} in {window:?}");
    check(&what, row("{}"), &inside, &world.b.traces, &answer);
}

/// A range (unix seconds) around the 31st to 46th earliest traces, more than a second clear of
/// their neighbours, and the traces that overlap it.
fn window(traces: &[GTrace]) -> ((u64, u64), Vec<GTrace>) {
    let mut by_start: Vec<&GTrace> = traces.iter().collect();
    by_start.sort_by_key(|t| t.start());
    let (first, last) = (by_start[30], by_start[45]);
    let window = (first.start() / SEC - 1, last.end().div_ceil(SEC) + 1);
    let inside = traces
        .iter()
        .filter(|t| t.start() <= window.1 * SEC && t.end() >= window.0 * SEC)
        .cloned()
        .collect();
    (window, inside)
}

fn hexes(ids: &[TraceId]) -> Vec<String> {
    ids.iter().map(hex::encode).collect()
}

/// Compare an answer to `row` over `traces` (the tenant's) with the expected result.
fn check(what: &str, row: &Row, traces: &[GTrace], other: &[GTrace], answer: &Answer) {
    let got_ids: Vec<TraceId> = answer.traces.iter().map(|t| t.id).collect();
    let leaked: Vec<&TraceId> = got_ids
        .iter()
        .filter(|id| other.iter().any(|t| t.id == **id))
        .collect();
    assert!(
        leaked.is_empty(),
        "{what}: the other tenant's traces came back: {leaked:02x?}"
    );
    let want = expected(row, traces);
    let want_ids: Vec<TraceId> = want.iter().map(|(t, _)| t.id).collect();
    let (got_set, want_set): (BTreeSet<_>, BTreeSet<_>) =
        (got_ids.iter().collect(), want_ids.iter().collect());
    let missing: Vec<String> = want_set.difference(&got_set).map(hex::encode).collect();
    let extra: Vec<String> = got_set.difference(&want_set).map(hex::encode).collect();
    assert!(
        missing.is_empty() && extra.is_empty() && got_ids.len() == want_ids.len(),
        "{what}: {} traces returned, {} expected; missing {missing:?}, unexpected {extra:?}",
        got_ids.len(),
        want_ids.len()
    );
    assert_eq!(
        hexes(&got_ids),
        hexes(&want_ids),
        "{what}: traces not latest start first, ties by ID"
    );
    for (got, (t, groups)) in answer.traces.iter().zip(&want) {
        let what = format!("{what}, trace {}", hex::encode(t.id));
        check_trace(&what, row, t, groups, got);
    }
}

fn check_trace(what: &str, row: &Row, t: &GTrace, groups: &Groups, got: &GotTrace) {
    match t.root() {
        Some(root) => {
            assert_eq!(got.root_service, root.service, "{what}: rootServiceName");
            assert_eq!(got.root_name, root.name, "{what}: rootTraceName");
        }
        None => {
            assert_eq!(
                got.root_service, ROOT_NOT_RECEIVED,
                "{what}: rootServiceName"
            );
            assert_eq!(got.root_name, "", "{what}: rootTraceName");
        }
    }
    assert_eq!(got.start, t.start(), "{what}: startTimeUnixNano");
    assert_eq!(got.duration_ms, t.duration() / MS, "{what}: durationMs");
    assert_eq!(got.stats, t.service_stats(), "{what}: serviceStats");

    let mut got_groups: BTreeMap<Option<String>, (BTreeSet<usize>, u64)> = BTreeMap::new();
    for set in &got.sets {
        assert_eq!(
            set.spans.len() as u64,
            set.matched,
            "{what}: a span set of {} spans says matched {} (spss is {SPSS})",
            set.spans.len(),
            set.matched
        );
        let key = match row.by {
            None => None,
            Some(by) => match set.attrs.get(by) {
                Some(Val::Str(v)) => Some(v.clone()),
                other => panic!("{what}: span set attribute {by:?} is {other:?}"),
            },
        };
        let entry = got_groups.entry(key).or_default();
        entry.1 += set.matched;
        for s in &set.spans {
            let i = t
                .index_of(&s.id)
                .unwrap_or_else(|| panic!("{what}: span {} not in the trace", hex::encode(s.id)));
            let span = &t.spans[i];
            assert_eq!(
                (s.name.as_str(), s.start, s.duration),
                (span.name.as_str(), span.start, span.duration()),
                "{what}: span {} summary",
                hex::encode(s.id)
            );
            for (key, scope) in &row.select {
                let want = match scope {
                    Scope::Span => t.span_attr(i, key),
                    Scope::Resource => t.resource_attr(i, key),
                };
                if let Some(want) = want {
                    assert_eq!(
                        s.attrs.get(*key),
                        Some(want),
                        "{what}: selected {key} of span {}",
                        hex::encode(s.id)
                    );
                }
            }
            let fresh = entry.0.insert(i);
            assert!(
                fresh || row.by.is_none(),
                "{what}: span {i} twice in a group"
            );
        }
    }
    let want_groups: BTreeMap<Option<String>, (BTreeSet<usize>, u64)> = groups
        .iter()
        .map(|(k, s)| (k.clone(), (s.clone(), s.len() as u64)))
        .collect();
    let name = |m: &BTreeMap<Option<String>, (BTreeSet<usize>, u64)>| -> Vec<String> {
        m.iter()
            .map(|(k, (s, n))| {
                let ids: Vec<String> = s.iter().map(|&i| t.spans[i].name.clone()).collect();
                format!("{k:?}: matched {n}, spans {ids:?}")
            })
            .collect()
    };
    assert_eq!(
        name(&got_groups),
        name(&want_groups),
        "{what}: span sets (left: answer, right: expected)"
    );
    assert_eq!(got_groups, want_groups, "{what}: span sets by index");
}

// ---- The HTTP call and an independent reader of the answer. ----

async fn search_raw(
    server: &Sextant,
    auth: &Auth,
    q: &str,
    (start, end): (u64, u64),
    limit: u32,
    spss: u32,
) -> (u16, String, Vec<u8>) {
    let url = reqwest::Url::parse_with_params(
        &format!("{}/api/search", server.http_url()),
        &[
            ("q", q.to_owned()),
            ("start", start.to_string()),
            ("end", end.to_string()),
            ("limit", limit.to_string()),
            ("spss", spss.to_string()),
        ],
    )
    .expect("search url");
    let resp = server
        .client()
        .get(url.clone())
        .header("authorization", auth.basic())
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET {url}: {e}"));
    let status = resp.status().as_u16();
    let content_type = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let body = resp.bytes().await.expect("search body").to_vec();
    (status, content_type, body)
}

async fn search(
    server: &Sextant,
    auth: &Auth,
    q: &str,
    range: (u64, u64),
    limit: u32,
    spss: u32,
) -> Answer {
    let (status, content_type, body) = search_raw(server, auth, q, range, limit, spss).await;
    let text = String::from_utf8_lossy(&body);
    assert_eq!(
        status, 200,
        "search {q:?} ({}) answered {status}: {text}",
        auth.tenant
    );
    assert!(
        content_type.starts_with("application/json"),
        "search {q:?}: content-type {content_type:?}"
    );
    parse_answer(&body).unwrap_or_else(|e| panic!("search {q:?}: {e:#}\nbody: {text}"))
}

#[test]
fn the_window_holds_a_run_of_traces_clear_of_the_others() {
    let traces = generate(SEED_A, TRACES_A, now_nanos());
    let ((start, end), inside) = window(&traces);
    assert_eq!(inside.len(), 16);
    // Each trace lies wholly inside or more than a second outside, so "overlaps the range"
    // and "starts in the range" agree, whichever way a server rounds the edges.
    for t in &traces {
        let within = t.start() >= start * SEC && t.end() <= end * SEC;
        let clear = t.end() + SEC < start * SEC || t.start() > end * SEC + SEC;
        assert!(
            within || clear,
            "trace {} at the window's edge",
            hex::encode(t.id)
        );
    }
}

#[test]
fn the_checker_accepts_the_expected_answer_and_rejects_changed_ones() {
    let now = now_nanos();
    let a = generate(SEED_A, TRACES_A, now);
    let b = generate(SEED_B, TRACES_B, now);
    let table = rows(&a);
    for row in &table {
        let answer = parse_answer(&render(row, &a)).expect("rendered answer parses");
        check(&row.q, row, &a, &b, &answer);
    }
    let fails = |q: &str, change: &dyn Fn(&mut Answer)| {
        let row = table.iter().find(|r| r.q == q).expect("row");
        let mut answer = parse_answer(&render(row, &a)).expect("parses");
        change(&mut answer);
        let run = std::panic::AssertUnwindSafe(|| check(q, row, &a, &b, &answer));
        std::panic::catch_unwind(run).is_err()
    };
    let db = r#"{ resource.service.name = "db" }"#;
    let by = "{ kind = server } | by(resource.service.name)";
    assert!(fails(db, &|a| a.traces.swap(0, 1)), "order");
    assert!(fails(db, &|a| drop(a.traces.pop())), "a missing trace");
    assert!(fails(db, &|a| a.traces[0].sets[0].matched += 1), "matched");
    assert!(fails(db, &|a| a.traces[0].start += 1), "start");
    assert!(fails(db, &|a| a.traces[0].stats.clear()), "service stats");
    assert!(
        fails(by, &|a| drop(a.traces[0].sets.pop())),
        "a missing group"
    );
    assert!(
        fails(db, &|a| a.traces[0].id = b[0].id),
        "another tenant's trace"
    );
    let select = table
        .iter()
        .find(|r| !r.select.is_empty())
        .expect("select row");
    assert!(
        fails(&select.q, &|a| a.traces[0].sets[0].spans[0].attrs.clear()),
        "select"
    );
}
