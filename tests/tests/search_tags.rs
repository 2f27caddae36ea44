//! Tag discovery end to end against the real binary: tag names (`/api/search/tags`,
//! `/api/v2/search/tags`) and tag values (`/api/search/tag/{tag}/values`, v2) of two tenants
//! with disjoint attributes, checked against what was sent: live in memory, then from blocks
//! only after a restart with an empty WAL, with the same expectations. Also tenant isolation
//! and `a|b` federation, per-tenant search limits set through the real CLI, and the requests
//! Grafana's Tempo datasource sends, decoded as strictly as Grafana's Go structs do.

#[expect(
    dead_code,
    reason = "the shared generator has helpers only search.rs uses"
)]
#[path = "search/data.rs"]
mod data;
#[path = "search_tags/expect.rs"]
mod expect;
#[path = "search_tags/wire.rs"]
mod wire;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use prost::Message;
use serde_json::Value as Json;
use sextant_tests::{
    Auth, Options, Sextant, TENANT_HEADER, now_nanos, post_otlp, wait_until, wal_segments,
};

use data::{GTrace, SEC, SEED_A, generate, requests};
use expect::{
    TRACES_B, Typed, keywords, ledger_traces, names, names_v1, names_v2, roots, services,
    span_names, span_values, strings,
};
use wire::{
    decode_names_v1, decode_names_v2, decode_search, decode_values_v1, decode_values_v2, get,
    names_v1_of, names_v2_of, sorted, values_v1_of, values_v2_of,
};

const TENANT_A: &str = "tags-a";
const TENANT_B: &str = "tags-b";
const TRACES_A: usize = 40;
/// A WAL segment holding no record is its header alone (`store::wal::frame`).
const WAL_HEADER_BYTES: u64 = 16;

/// One tenant: its read key, its traces, one service to filter by and one attribute per type.
struct Side {
    auth: Auth,
    traces: Vec<GTrace>,
    service: &'static str,
    int_key: &'static str,
    float_key: &'static str,
    bool_key: &'static str,
}

struct World {
    a: Side,
    b: Side,
    /// A key of A that may also read B.
    fed: Auth,
    /// Unix seconds covering everything sent.
    range: (u64, u64),
}

/// Create both tenants and a federated key, and send the traces.
async fn load(server: &Sextant) -> World {
    let now = now_nanos();
    let a = generate(SEED_A, TRACES_A, now);
    let b = ledger_traces(now);
    let keys_a = server.tenant(TENANT_A).await;
    let keys_b = server.tenant(TENANT_B).await;
    let fed = server
        .create_key(TENANT_A, "traces:read", &["--read-tenants", TENANT_B])
        .await;
    server.wait_key_accepted(&fed).await;
    for (auth, traces) in [(&keys_a.write, &a), (&keys_b.write, &b)] {
        send(server, auth, traces).await;
    }
    let earliest = a.iter().chain(&b).map(GTrace::start).min().expect("traces");
    let side = |auth, traces, service, int_key, float_key, bool_key| Side {
        auth,
        traces,
        service,
        int_key,
        float_key,
        bool_key,
    };
    World {
        a: side(
            keys_a.read,
            a,
            "api",
            "http.status_code",
            "load.ratio",
            "cache.hit",
        ),
        b: side(
            keys_b.read,
            b,
            "ledger",
            "ledger.entries",
            "ledger.amount",
            "ledger.settled",
        ),
        fed,
        range: (earliest / SEC - 600, now / SEC + 600),
    }
}

async fn send(server: &Sextant, auth: &Auth, traces: &[GTrace]) {
    let url = format!("{}/v1/traces", server.otlp_http_url());
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

// ---- The checks, the same in every phase. ----

async fn check_side(phase: &str, server: &Sextant, side: &Side, other: &Side, range: (u64, u64)) {
    let auth = &side.auth;
    let t = &side.traces;
    let what = |s: &str| format!("{phase}, {}: {s}", auth.tenant);
    let span_range = [("start", range.0.to_string()), ("end", range.1.to_string())];
    let now = now_nanos() / SEC;
    let past = [
        ("start", (now - 3 * 86_400).to_string()),
        ("end", (now - 2 * 86_400).to_string()),
    ];
    let all = names(t, None);

    // v1 names: resource + span by default, each scope alone, intrinsics, a bad scope.
    assert_eq!(
        names_v1_of(server, auth, &[]).await,
        names_v1(t),
        "{}",
        what("v1 tags")
    );
    assert_eq!(
        names_v1_of(server, auth, &span_range).await,
        names_v1(t),
        "{}",
        what("v1 range")
    );
    for scope in ["span", "resource"] {
        let got = names_v1_of(server, auth, &[("scope", scope.into())]).await;
        assert_eq!(
            got,
            sorted(&all[scope]),
            "{}",
            what(&format!("v1 scope={scope}"))
        );
    }
    let got = names_v1_of(server, auth, &[("scope", "intrinsic".into())]).await;
    assert_eq!(
        got,
        sorted(&names_v2(t, None)["intrinsic"]),
        "{}",
        what("v1 intrinsic")
    );
    let (status, body) = get(
        server,
        auth,
        &[],
        "/api/search/tags",
        &[("scope", "spam".into())],
    )
    .await;
    assert_eq!(
        (status, body.as_str()),
        (400, "invalid scope: spam"),
        "{}",
        what("bad scope")
    );
    assert!(
        names_v1_of(server, auth, &past).await.is_empty(),
        "{}",
        what("v1 past")
    );

    // v2 names: every scope with exact sets, a range, a past range, `q`, one scope.
    let want = names_v2(t, None);
    assert_eq!(
        names_v2_of(server, auth, &[]).await,
        want,
        "{}",
        what("v2 tags")
    );
    assert_eq!(
        names_v2_of(server, auth, &span_range).await,
        want,
        "{}",
        what("v2 range")
    );
    let only_intrinsic: BTreeMap<_, _> = want
        .iter()
        .filter(|(k, _)| *k == "intrinsic")
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    assert_eq!(
        names_v2_of(server, auth, &past).await,
        only_intrinsic,
        "{}",
        what("v2 past")
    );
    let q = format!("{{resource.service.name=\"{}\"}}", side.service);
    let filtered = names_v2(t, Some(side.service));
    assert_ne!(filtered, want, "the filter must make a difference");
    let got = names_v2_of(server, auth, &[("q", q.clone())]).await;
    assert_eq!(got, filtered, "{}", what(&format!("v2 tags q={q}")));
    let got = names_v2_of(server, auth, &[("scope", "span".into())]).await;
    assert_eq!(
        got,
        BTreeMap::from([("span".into(), all["span"].clone())]),
        "{}",
        what("v2 span")
    );

    // v1 values, the virtual `status.code`.
    let got = values_v1_of(server, auth, "service.name").await;
    let want_services: Vec<String> = services(t).into_iter().map(str::to_owned).collect();
    assert_eq!(got, want_services, "{}", what("v1 service.name values"));
    // v1 names Tempo reads from intrinsics: span names, the root span's name and service.
    let (root_names, root_services) = roots(t);
    for (tag, want) in [
        ("name", span_names(t, None)),
        ("root.name", root_names),
        ("root.service.name", root_services),
    ] {
        let want: Vec<&str> = want.into_iter().collect();
        let got = values_v1_of(server, auth, tag).await;
        assert_eq!(got, want, "{}", what(&format!("v1 {tag} values")));
    }
    let got = values_v2_of(server, auth, ".service.name", &[]).await;
    assert_eq!(got, strings(services(t)), "{}", what("v2 .service.name"));
    let got = values_v1_of(server, auth, "status.code").await;
    assert_eq!(
        got,
        ["error", "ok", "unset"],
        "{}",
        what("v1 status.code values")
    );

    // v2 values of each type, intrinsics, keyword enumerations.
    let svc = strings(services(t));
    let got = values_v2_of(server, auth, "resource.service.name", &[]).await;
    assert_eq!(got, svc, "{}", what("v2 service.name"));
    let got = values_v2_of(server, auth, "resource.service.name", &span_range).await;
    assert_eq!(got, svc, "{}", what("v2 service.name in range"));
    assert!(
        values_v2_of(server, auth, "resource.service.name", &past)
            .await
            .is_empty()
    );
    for (key, ty) in [
        (side.int_key, "int"),
        (side.float_key, "float"),
        (side.bool_key, "bool"),
    ] {
        let want = span_values(t, key);
        assert!(
            want.len() >= 2 && want.iter().all(|(t, _)| t == ty),
            "{key}: {want:?}"
        );
        let got = values_v2_of(server, auth, &format!("span.{key}"), &[]).await;
        assert_eq!(got, want, "{}", what(&format!("v2 span.{key}")));
    }
    let all_names = strings(span_names(t, None));
    for tag in ["span:name", "name"] {
        let got = values_v2_of(server, auth, tag, &[]).await;
        assert_eq!(got, all_names, "{}", what(tag));
    }
    let kinds = [
        "client",
        "consumer",
        "internal",
        "producer",
        "server",
        "unspecified",
    ];
    for (tag, want) in [
        ("status", keywords(&["error", "ok", "unset"])),
        ("kind", keywords(&kinds)),
    ] {
        assert_eq!(
            values_v2_of(server, auth, tag, &[]).await,
            want,
            "{}",
            what(tag)
        );
    }

    // v2 values under `q`, whole and as Grafana sends it while typing.
    let of_service = strings(span_names(t, Some(side.service)));
    assert!(
        of_service.len() < all_names.len(),
        "the filter must make a difference"
    );
    let typing = format!("{{ resource.service.name = \"{}\" && span.", side.service);
    for q in [q.clone(), typing] {
        let got = values_v2_of(server, auth, "name", &[("q", q.clone())]).await;
        assert_eq!(got, of_service, "{}", what(&format!("names with q={q}")));
    }
    for bad in ["span.", "resource.service.name = 1", "%7B%7D"] {
        let path = format!("/api/v2/search/tag/{bad}/values");
        let (status, body) = get(server, auth, &[], &path, &[]).await;
        assert_eq!(
            status,
            400,
            "{}: {body}",
            what(&format!("identifier {bad:?}"))
        );
    }

    // Never the other tenant's names or values; its header refused.
    let theirs = names(&other.traces, None);
    for (scope, mine) in names(t, None) {
        let shared: Vec<_> = theirs
            .get(&scope)
            .map_or(vec![], |o| o.intersection(&mine).collect());
        assert!(
            shared.iter().all(|n| *n == "service.name"),
            "data: {scope} {shared:?}"
        );
    }
    assert!(
        svc.is_disjoint(&strings(services(&other.traces))),
        "data: services overlap"
    );
    let foreign = [(TENANT_HEADER, other.auth.tenant.as_str())];
    for path in [
        "/api/search/tags",
        "/api/v2/search/tags",
        "/api/v2/search/tag/name/values",
    ] {
        let (status, body) = get(server, auth, &foreign, path, &[]).await;
        assert_eq!(
            status,
            403,
            "{}: {body}",
            what(&format!("{path} with the other's header"))
        );
    }
}

/// Grafana's requests (grafana-datasource.md §2.4, §2.6, §4): its headers, its parameters.
async fn check_grafana(phase: &str, server: &Sextant, side: &Side, range: (u64, u64)) {
    let auth = &side.auth;
    let headers = [
        (TENANT_HEADER, auth.tenant.as_str()),
        ("accept", "application/json"),
        ("user-agent", "Grafana/12.2.0"),
    ];
    let (start, end) = (range.0.to_string(), range.1.to_string());
    let builder = format!(
        "{{resource.service.name=\"{}\" && status=error}}",
        side.service
    );
    let p = |pairs: &[(&'static str, &str)]| -> Vec<(&'static str, String)> {
        pairs.iter().map(|(k, v)| (*k, (*v).to_owned())).collect()
    };
    let searches = [
        // Frontend ≤ 12.1: all five parameters; the backend (12.2+) the same here.
        p(&[
            ("q", "{}"),
            ("limit", "20"),
            ("spss", "3"),
            ("start", &start),
            ("end", &end),
        ]),
        p(&[
            ("q", &builder),
            ("limit", "20"),
            ("spss", "3"),
            ("start", &start),
            ("end", &end),
        ]),
        // Backend without a time range, and the legacy tags search.
        p(&[("q", "{ kind = server }"), ("limit", "20"), ("spss", "3")]),
        p(&[
            ("tags", "service.name=api"),
            ("minDuration", "1ms"),
            ("maxDuration", "10s"),
            ("limit", "20"),
            ("start", &start),
            ("end", &end),
        ]),
    ];
    for params in &searches {
        let (status, body) = get(server, auth, &headers, "/api/search", params).await;
        let what = format!("{phase}: Grafana search {params:?}");
        assert_eq!(status, 200, "{what}: {body}");
        let traces = decode_search(&body, &what);
        if params[0].1 == "{}" {
            assert_eq!(traces, side.traces.len().min(20), "{what}");
        }
    }
    let tag_requests = [
        ("/api/v2/search/tags".to_owned(), p(&[("limit", "5000")])),
        (
            "/api/v2/search/tags".to_owned(),
            p(&[("limit", "5000"), ("start", &start), ("end", &end)]),
        ),
        (
            "/api/v2/search/tag/resource.service.name/values".to_owned(),
            p(&[("limit", "5000")]),
        ),
        (
            "/api/v2/search/tag/span%3Aname/values".to_owned(),
            p(&[("limit", "5000"), ("q", &builder)]),
        ),
        (
            "/api/v2/search/tag/status/values".to_owned(),
            p(&[("limit", "5000"), ("q", "{}")]),
        ),
        ("/api/search/tags".to_owned(), p(&[("limit", "5000")])),
        (
            "/api/search/tag/service.name/values".to_owned(),
            p(&[("limit", "5000")]),
        ),
    ];
    for (path, params) in &tag_requests {
        let (status, body) = get(server, auth, &headers, path, params).await;
        let what = format!("{phase}: Grafana {path} {params:?}");
        assert_eq!(status, 200, "{what}: {body}");
        let v: Json = serde_json::from_str(&body).expect("json");
        let n = match (path.starts_with("/api/v2"), path.contains("/values")) {
            (true, true) => decode_values_v2(&v, &what).len(),
            (true, false) => decode_names_v2(&v, &what).len(),
            (false, true) => decode_values_v1(&v, &what).len(),
            (false, false) => decode_names_v1(&v, &what).len(),
        };
        assert!(n > 0, "{what}: empty answer {body}");
    }
}

/// Federation: a key of A allowed to read B, asking for `A|B`, gets the union.
async fn check_federation(phase: &str, server: &Sextant, world: &World) {
    let both = format!("{TENANT_A}|{TENANT_B}");
    let headers = [(TENANT_HEADER, both.as_str())];
    let (a, b) = (&world.a.traces, &world.b.traces);
    let (status, body) = get(server, &world.fed, &headers, "/api/search/tags", &[]).await;
    assert_eq!(status, 200, "{phase}: federated tags: {body}");
    let got = decode_names_v1(&serde_json::from_str(&body).expect("json"), "federated");
    let want: BTreeSet<String> = names_v1(a).into_iter().chain(names_v1(b)).collect();
    assert_eq!(got, sorted(&want), "{phase}: federated v1 tags");
    let path = "/api/v2/search/tag/resource.service.name/values";
    let (status, body) = get(server, &world.fed, &headers, path, &[]).await;
    assert_eq!(status, 200, "{phase}: federated values: {body}");
    let got = decode_values_v2(&serde_json::from_str(&body).expect("json"), "federated");
    let want: Typed = strings(services(a))
        .union(&strings(services(b)))
        .cloned()
        .collect();
    assert_eq!(got, want, "{phase}: federated service names");
    // Alone, the same key reads A only.
    let got = values_v2_of(server, &world.fed, "resource.service.name", &[]).await;
    assert_eq!(
        got,
        strings(services(a)),
        "{phase}: the federated key alone"
    );
}

async fn check_all(phase: &str, server: &Sextant, world: &World) {
    check_side(phase, server, &world.a, &world.b, world.range).await;
    check_side(phase, server, &world.b, &world.a, world.range).await;
    check_federation(phase, server, world).await;
    check_grafana(phase, server, &world.a, world.range).await;
}

// ---- The phases. ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tags_and_values_over_live_traces() {
    let server = Sextant::start(
        Options::new()
            .env("SEXTANT_INGESTER__TRACE_IDLE", "1h")
            .env("SEXTANT_INGESTER__TRACE_MAX_LIVE", "1h")
            .env("SEXTANT_BLOCK__MAX_BLOCK_AGE", "1h"),
    )
    .await;
    let world = load(&server).await;
    for (tenant, n) in [(TENANT_A, TRACES_A), (TENANT_B, TRACES_B)] {
        wait_until(Duration::from_secs(20), "every trace live", async || {
            server
                .metric("sextant_live_traces", &[("tenant", tenant)])
                .await
                == n as f64
        })
        .await;
        let blocks = server
            .metric("sextant_blocks_written_total", &[("tenant", tenant)])
            .await;
        assert_eq!(blocks, 0.0, "{tenant} wrote a block");
    }
    check_all("live", &server, &world).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tags_and_values_over_blocks_only() {
    let mut server = Sextant::start(Options::new().fast_blocks()).await;
    let world = load(&server).await;
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
    check_all("blocks", &server, &world).await;
}

// ---- Limits through the CLI. ----

/// `/api/search?q={}` over `range` (unix seconds) as `auth`: (status, body).
async fn search_all(server: &Sextant, auth: &Auth, (start, end): (u64, u64)) -> (u16, String) {
    let params = [
        ("q", "{}".into()),
        ("limit", "100".into()),
        ("start", start.to_string()),
        ("end", end.to_string()),
    ];
    get(server, auth, &[], "/api/search", &params).await
}

/// Poll until a search of `auth` over `range` answers `status` (the new limits reached the
/// server's snapshot); returns the body.
async fn wait_status(server: &Sextant, auth: &Auth, range: (u64, u64), status: u16) -> String {
    let mut last = String::new();
    wait_until(
        Duration::from_secs(15),
        &format!("a {status} for {}", auth.tenant),
        async || {
            let (got, body) = search_all(server, auth, range).await;
            last = body;
            got == status
        },
    )
    .await;
    last
}

/// The server still answers: `free` finds all its traces, `/ready` is 200.
async fn still_serving(server: &Sextant, free: &Auth, range: (u64, u64), n: usize, after: &str) {
    let (status, body) = search_all(server, free, range).await;
    assert_eq!(status, 200, "after {after}: {body}");
    assert_eq!(decode_search(&body, after), n, "after {after}");
    assert_eq!(server.ready().await.0, 200, "after {after}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn search_limits_set_through_the_cli() {
    let server = Sextant::start(Options::new()).await;
    let now = now_nanos();
    let traces = generate(SEED_A, 20, now);
    let range = (
        traces.iter().map(GTrace::start).min().expect("traces") / SEC - 60,
        now / SEC + 60,
    );
    let tight = server.tenant("tags-tight").await;
    let free = server.tenant("tags-free").await;
    for keys in [&tight, &free] {
        send(&server, &keys.write, &traces).await;
        wait_until(
            Duration::from_secs(20),
            "every trace searchable",
            async || {
                let (status, body) = search_all(&server, &keys.read, range).await;
                status == 200 && decode_search(&body, "wait") == traces.len()
            },
        )
        .await;
    }
    let (tight, free) = (tight.read, free.read);
    let n = traces.len();

    // A byte budget far below the data: 422 naming the limit, for searches and tag queries.
    server
        .cli_ok(&["limits", "set", "tags-tight", "--max-search-bytes", "100"])
        .await;
    let body = wait_status(&server, &tight, range, 422).await;
    assert!(body.contains("max_search_bytes"), "{body}");
    let (status, body) = get(&server, &tight, &[], "/api/v2/search/tags", &[]).await;
    assert!(
        status == 422 && body.contains("max_search_bytes"),
        "tags: {status} {body}"
    );
    let (status, body) = get(&server, &tight, &[], "/api/v2/search/tag/name/values", &[]).await;
    assert!(
        status == 422 && body.contains("max_search_bytes"),
        "values: {status} {body}"
    );
    still_serving(&server, &free, range, n, "max_search_bytes").await;
    let past = (now / SEC - 3 * 86_400, now / SEC - 2 * 86_400);
    let (status, body) = search_all(&server, &tight, past).await;
    assert_eq!(
        (status, decode_search(&body, "empty range")),
        (200, 0),
        "nothing to examine"
    );

    // A range longer than max_search_duration: 400 with the text Grafana recognises.
    server
        .cli_ok(&[
            "limits",
            "set",
            "tags-tight",
            "--clear",
            "max_search_bytes",
            "--max-search-duration",
            "1h",
        ])
        .await;
    let long = (now / SEC - 2 * 3600, now / SEC);
    let body = wait_status(&server, &tight, long, 400).await;
    for text in ["range specified by start and end", "exceeds"] {
        assert!(body.contains(text), "{body}");
    }
    let long_params = [("start", long.0.to_string()), ("end", long.1.to_string())];
    for path in [
        "/api/search/tags",
        "/api/v2/search/tags",
        "/api/v2/search/tag/name/values",
    ] {
        let (status, body) = get(&server, &tight, &[], path, &long_params).await;
        assert!(
            status == 400 && body.contains("exceeds"),
            "{path}: {status} {body}"
        );
    }
    let (status, body) = search_all(&server, &tight, range).await;
    assert_eq!(
        (status, decode_search(&body, "short range")),
        (200, n),
        "within the limits again"
    );
    still_serving(&server, &free, long, n, "max_search_duration").await;

    // A timeout no search can meet: 422 naming search_timeout.
    server
        .cli_ok(&["limits", "set", "tags-tight", "--search-timeout", "1ns"])
        .await;
    let body = wait_status(&server, &tight, range, 422).await;
    assert!(body.contains("search_timeout"), "{body}");
    still_serving(&server, &free, range, n, "search_timeout").await;
}
