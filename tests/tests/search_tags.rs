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

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use prost::Message;
use serde_json::Value as Json;
use sextant_tests::{
    Auth, Options, Sextant, TENANT_HEADER, now_nanos, post_otlp, random_span_id, random_trace_id,
    wait_until, wal_segments,
};

use data::{Attrs, Code, GSpan, GTrace, Kind, MS, SEC, SEED_A, Val, generate, requests};

const TENANT_A: &str = "tags-a";
const TENANT_B: &str = "tags-b";
const TRACES_A: usize = 40;
const TRACES_B: usize = 8;
/// A WAL segment holding no record is its header alone (`store::wal::frame`).
const WAL_HEADER_BYTES: u64 = 16;
/// Tempo's intrinsic tag names (tempo-spec §3.5).
const INTRINSICS: [&str; 25] = [
    "duration",
    "name",
    "status",
    "statusMessage",
    "kind",
    "rootServiceName",
    "rootName",
    "traceDuration",
    "event:name",
    "event:timeSinceStart",
    "link:spanID",
    "link:traceID",
    "instrumentation:name",
    "instrumentation:version",
    "trace:id",
    "span:id",
    "span:parentID",
    "span:status",
    "span:statusMessage",
    "span:duration",
    "span:name",
    "span:kind",
    "trace:rootName",
    "trace:rootService",
    "trace:duration",
];

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

/// Tenant B: a ledger calling billing, with attribute names and values A never uses (but
/// `service.name`, whose values differ).
fn ledger_traces(now: u64) -> Vec<GTrace> {
    let id8 = || -> [u8; 8] { random_span_id().try_into().expect("8 bytes") };
    (0..TRACES_B)
        .map(|i| {
            let start = now - 20 * SEC + i as u64 * SEC;
            let root_id = id8();
            let span = |id, parent, service, name: &str, kind, attrs: Attrs| GSpan {
                id,
                parent,
                service,
                name: name.to_owned(),
                kind,
                code: if i % 3 == 0 { Code::Error } else { Code::Ok },
                message: String::new(),
                start,
                end: start + (10 + i as u64) * MS,
                attrs,
                events: Vec::new(),
                links: Vec::new(),
            };
            let root = span(
                root_id,
                None,
                "ledger",
                "post entry",
                Kind::Server,
                Attrs::from([
                    ("ledger.entries", Val::Int(100 + i as i64 % 3)),
                    ("ledger.amount", Val::Double(0.5 + (i % 2) as f64)),
                    ("ledger.settled", Val::Bool(i % 2 == 0)),
                ]),
            );
            let card = if i % 2 == 0 { "visa" } else { "amex" };
            let child = span(
                id8(),
                Some(root_id),
                "billing",
                "charge card",
                Kind::Client,
                Attrs::from([("billing.card", Val::str(card))]),
            );
            let resource = |svc, k, v| Attrs::from([("service.name", Val::str(svc)), (k, v)]);
            GTrace {
                id: random_trace_id().try_into().expect("16 bytes"),
                spans: vec![root, child],
                resources: BTreeMap::from([
                    ("ledger", resource("ledger", "ledger.shard", Val::str("s1"))),
                    (
                        "billing",
                        resource("billing", "billing.region", Val::str("mars")),
                    ),
                ]),
            }
        })
        .collect()
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

// ---- What the data holds, computed from the traces sent. ----

/// Names per scope (`resource`, `span`, `event`, `link`) over the spans of `only` (all: None);
/// scopes without names left out, as the v2 answer leaves them out.
fn names(traces: &[GTrace], only: Option<&str>) -> BTreeMap<String, BTreeSet<String>> {
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut add = |scope: &str, keys: Vec<&str>| {
        let set = out.entry(scope.to_owned()).or_default();
        set.extend(keys.into_iter().map(str::to_owned));
    };
    for t in traces {
        for s in t
            .spans
            .iter()
            .filter(|s| only.is_none_or(|o| s.service == o))
        {
            add("resource", t.resources[s.service].keys().copied().collect());
            add("span", s.attrs.keys().copied().collect());
            add(
                "event",
                s.events
                    .iter()
                    .flat_map(|e| e.attrs.keys().copied())
                    .collect(),
            );
            if !s.links.is_empty() {
                add("link", vec!["link.kind"]);
            }
        }
    }
    out.retain(|_, names| !names.is_empty());
    out
}

/// With the intrinsic scope, as `/api/v2/search/tags` lists it.
fn names_v2(traces: &[GTrace], only: Option<&str>) -> BTreeMap<String, BTreeSet<String>> {
    let mut out = names(traces, only);
    out.insert(
        "intrinsic".into(),
        INTRINSICS.iter().map(|s| (*s).to_owned()).collect(),
    );
    out
}

/// v1's default: resource and span names together.
fn names_v1(traces: &[GTrace]) -> Vec<String> {
    let all = names(traces, None);
    let set: BTreeSet<String> = ["resource", "span"]
        .iter()
        .flat_map(|s| all[*s].clone())
        .collect();
    set.into_iter().collect()
}

type Typed = BTreeSet<(String, String)>;

/// The typed values of span attribute `key`.
fn span_values(traces: &[GTrace], key: &str) -> Typed {
    let mut out = Typed::new();
    for v in traces
        .iter()
        .flat_map(|t| &t.spans)
        .filter_map(|s| s.attrs.get(key))
    {
        out.insert(match v {
            Val::Str(s) => ("string".into(), s.clone()),
            Val::Int(i) => ("int".into(), i.to_string()),
            Val::Double(d) => ("float".into(), d.to_string()),
            Val::Bool(b) => ("bool".into(), b.to_string()),
            other => panic!("array value {other:?} of {key}"),
        });
    }
    out
}

fn strings<'a>(values: impl IntoIterator<Item = &'a str>) -> Typed {
    values
        .into_iter()
        .map(|v| ("string".to_owned(), v.to_owned()))
        .collect()
}

fn services(traces: &[GTrace]) -> BTreeSet<&'static str> {
    traces
        .iter()
        .flat_map(|t| &t.spans)
        .map(|s| s.service)
        .collect()
}

fn span_names<'a>(traces: &'a [GTrace], only: Option<&str>) -> BTreeSet<&'a str> {
    let spans = traces.iter().flat_map(|t| &t.spans);
    spans
        .filter(|s| only.is_none_or(|o| s.service == o))
        .map(|s| s.name.as_str())
        .collect()
}

fn keywords(words: &[&str]) -> Typed {
    words
        .iter()
        .map(|w| ("keyword".to_owned(), (*w).to_owned()))
        .collect()
}

// ---- HTTP and Grafana's strict decoding. ----

/// GET `path` with `params`, Basic auth and extra headers; (status, body).
async fn get(
    server: &Sextant,
    auth: &Auth,
    headers: &[(&str, &str)],
    path: &str,
    params: &[(&str, String)],
) -> (u16, String) {
    let url = reqwest::Url::parse_with_params(&format!("{}{path}", server.http_url()), params)
        .expect("url");
    let mut req = server
        .client()
        .get(url.clone())
        .header("authorization", auth.basic());
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = req
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET {url}: {e}"));
    let status = resp.status().as_u16();
    (status, resp.text().await.expect("body"))
}

/// The JSON of a 200 answer.
async fn ok_json(server: &Sextant, auth: &Auth, path: &str, params: &[(&str, String)]) -> Json {
    let (status, body) = get(server, auth, &[], path, params).await;
    assert_eq!(
        status, 200,
        "GET {path} {params:?} as {}: {body}",
        auth.tenant
    );
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("GET {path}: {e}: {body}"))
}

fn field<'a>(v: &'a Json, key: &str, what: &str) -> &'a Json {
    v.get(key)
        .unwrap_or_else(|| panic!("{what}: no {key:?} in {v}"))
}

fn str_list(v: &Json, what: &str) -> Vec<String> {
    let items = v
        .as_array()
        .unwrap_or_else(|| panic!("{what}: not a list: {v}"));
    let f = |x: &Json| {
        x.as_str()
            .unwrap_or_else(|| panic!("{what}: {x}"))
            .to_owned()
    };
    items.iter().map(f).collect()
}

/// `metrics` as Go decodes Tempo's `MetadataMetrics`/`SearchMetrics`: 64-bit counts as decimal
/// strings, 32-bit ones as numbers.
fn check_metrics(m: &Json, what: &str) {
    let m = m
        .as_object()
        .unwrap_or_else(|| panic!("{what}: metrics {m}"));
    for (k, v) in m {
        let ok = match k.as_str() {
            "inspectedBytes" | "totalBlockBytes" | "backendReads" | "backendBytes"
            | "inspectedSpans" => v.as_str().is_some_and(is_decimal),
            "inspectedTraces" | "totalBlocks" | "completedJobs" | "totalJobs" => {
                v.as_u64().is_some_and(|n| n <= u64::from(u32::MAX))
            }
            _ => true,
        };
        assert!(ok, "{what}: metrics.{k} = {v}");
    }
}

fn is_decimal(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

/// v1 `{"tagNames":[..],"metrics":{..}}`.
fn decode_names_v1(v: &Json, what: &str) -> Vec<String> {
    check_metrics(field(v, "metrics", what), what);
    str_list(field(v, "tagNames", what), what)
}

/// v2 `{"scopes":[{"name","tags"}],"metrics"}`: scope → names, each scope once and known.
fn decode_names_v2(v: &Json, what: &str) -> BTreeMap<String, BTreeSet<String>> {
    check_metrics(field(v, "metrics", what), what);
    let mut out = BTreeMap::new();
    for s in field(v, "scopes", what).as_array().expect("scopes list") {
        let name = field(s, "name", what)
            .as_str()
            .expect("scope name")
            .to_owned();
        let known = [
            "resource",
            "span",
            "event",
            "link",
            "instrumentation",
            "intrinsic",
        ];
        assert!(known.contains(&name.as_str()), "{what}: scope {name}");
        let tags = str_list(field(s, "tags", what), what);
        let set: BTreeSet<String> = tags.iter().cloned().collect();
        assert_eq!(set.len(), tags.len(), "{what}: duplicate tags in {name}");
        assert!(
            out.insert(name.clone(), set).is_none(),
            "{what}: scope {name} twice"
        );
    }
    out
}

/// v1 `{"tagValues":["a"],"metrics"}`.
fn decode_values_v1(v: &Json, what: &str) -> Vec<String> {
    check_metrics(field(v, "metrics", what), what);
    str_list(field(v, "tagValues", what), what)
}

/// v2 `{"tagValues":[{"type","value"}],"metrics"}`, types from Tempo's set.
fn decode_values_v2(v: &Json, what: &str) -> Typed {
    check_metrics(field(v, "metrics", what), what);
    let list = field(v, "tagValues", what)
        .as_array()
        .expect("tagValues list");
    let types = ["string", "int", "float", "bool", "duration", "keyword"];
    let mut out = Typed::new();
    for tv in list {
        let t = field(tv, "type", what).as_str().expect("type string");
        let value = field(tv, "value", what).as_str().expect("value string");
        assert!(types.contains(&t), "{what}: type {t}");
        assert!(
            out.insert((t.to_owned(), value.to_owned())),
            "{what}: {tv} twice"
        );
    }
    out
}

async fn names_v1_of(server: &Sextant, auth: &Auth, params: &[(&str, String)]) -> Vec<String> {
    let v = ok_json(server, auth, "/api/search/tags", params).await;
    decode_names_v1(&v, &format!("v1 tags {params:?}"))
}

async fn names_v2_of(
    server: &Sextant,
    auth: &Auth,
    params: &[(&str, String)],
) -> BTreeMap<String, BTreeSet<String>> {
    let v = ok_json(server, auth, "/api/v2/search/tags", params).await;
    decode_names_v2(&v, &format!("v2 tags {params:?}"))
}

async fn values_v1_of(server: &Sextant, auth: &Auth, tag: &str) -> Vec<String> {
    let v = ok_json(server, auth, &format!("/api/search/tag/{tag}/values"), &[]).await;
    decode_values_v1(&v, &format!("v1 values of {tag}"))
}

async fn values_v2_of(
    server: &Sextant,
    auth: &Auth,
    tag: &str,
    params: &[(&str, String)],
) -> Typed {
    let v = ok_json(
        server,
        auth,
        &format!("/api/v2/search/tag/{tag}/values"),
        params,
    )
    .await;
    decode_values_v2(&v, &format!("v2 values of {tag} {params:?}"))
}

fn sorted<T: Ord + Clone>(set: &BTreeSet<T>) -> Vec<T> {
    set.iter().cloned().collect()
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

/// `/api/search` as Grafana ≥ 12.2 decodes it; returns the number of traces.
fn decode_search(body: &str, what: &str) -> usize {
    let v: Json = serde_json::from_str(body).unwrap_or_else(|e| panic!("{what}: {e}"));
    check_metrics(field(&v, "metrics", what), what);
    let traces = field(&v, "traces", what).as_array().expect("traces list");
    let hex = |s: &Json| {
        s.as_str()
            .is_some_and(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_hexdigit()))
    };
    let dec = |s: Option<&Json>| s.is_none_or(|s| s.as_str().is_some_and(is_decimal));
    for t in traces {
        assert!(hex(field(t, "traceID", what)), "{what}: {t}");
        assert!(field(t, "rootServiceName", what).is_string(), "{what}: {t}");
        assert!(
            t.get("rootTraceName").is_none_or(Json::is_string),
            "{what}: {t}"
        );
        assert!(
            dec(Some(field(t, "startTimeUnixNano", what))),
            "{what}: {t}"
        );
        let ms = t.get("durationMs");
        assert!(
            ms.is_none_or(|d| d.as_u64().is_some_and(|d| d <= u64::from(u32::MAX))),
            "{what}: {t}"
        );
        let sets = t
            .get("spanSets")
            .map_or(vec![], |s| s.as_array().expect("spanSets").clone());
        for set in sets.iter().chain(t.get("spanSet")) {
            assert!(set.get("matched").is_none_or(Json::is_u64), "{what}: {set}");
            for s in set
                .get("spans")
                .and_then(Json::as_array)
                .into_iter()
                .flatten()
            {
                let id = field(s, "spanID", what);
                assert!(hex(id) && id.as_str().unwrap().len() == 16, "{what}: {s}");
                assert!(
                    dec(s.get("startTimeUnixNano")) && dec(s.get("durationNanos")),
                    "{what}: {s}"
                );
                for kv in s
                    .get("attributes")
                    .and_then(Json::as_array)
                    .into_iter()
                    .flatten()
                {
                    let value = field(kv, "value", what).as_object().expect("value object");
                    assert!(
                        field(kv, "key", what).is_string() && value.len() == 1,
                        "{what}: {kv}"
                    );
                    let ok = match value.iter().next() {
                        Some((k, x)) => match k.as_str() {
                            "stringValue" | "bytesValue" => x.is_string(),
                            "intValue" => x.as_str().is_some_and(|s| {
                                s.trim_start_matches('-')
                                    .bytes()
                                    .all(|b| b.is_ascii_digit())
                            }),
                            "doubleValue" => x.is_number(),
                            "boolValue" => x.is_boolean(),
                            "arrayValue" | "kvlistValue" => x.is_object(),
                            _ => false,
                        },
                        None => false,
                    };
                    assert!(ok, "{what}: attribute {kv}");
                }
            }
        }
    }
    traces.len()
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
