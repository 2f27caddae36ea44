//! Grafana's Tempo datasource replayed against the real binary: one test per row of the
//! checklist "What a backend must serve for Grafana's Tempo datasource to work fully"
//! (reference/grafana-datasource.md, rows 1–12), each sending the paths, parameters, headers
//! and gRPC metadata Grafana sends, and decoding the answer the way Grafana does (protobuf for
//! trace by ID, Go structs with exact JSON types for search, protobuf-JSON without unknown
//! fields for metrics). Values are checked against the data sent, not only shapes.

#[expect(
    dead_code,
    reason = "the shared generator has helpers only search.rs uses"
)]
#[path = "search/data.rs"]
mod data;
#[expect(dead_code, reason = "grafana.rs needs only the plain counts")]
#[path = "metrics/expect.rs"]
mod expect;
#[expect(
    dead_code,
    reason = "the metrics generator has helpers only metrics.rs uses"
)]
#[path = "metrics/world.rs"]
mod world;

use std::collections::{BTreeMap, BTreeSet};

use prost::Message;
use serde_json::{Map, Value as Json};
use sextant_model::otlp::TracesData;
use sextant_model::otlp::any_value::Value;
use sextant_tests::{
    Auth, Label, Labels, Options, QueryRangeRequest, ReadApi, SearchRequest, Sextant,
    StreamingQuerier, TraceByIdResponse, assert_same_spans, flatten, now_nanos, parse_instant,
    parse_range, post_otlp, range_from_proto,
};

use data::{Code, GTrace, MS, SEC, SEED_A, generate, requests};
use expect::{By, Density, Grid, check_exact, counts, map_values, normalise};
use world::{MINUTES, STEP, World};

const TENANT: &str = "grafana";
const USER_AGENT: &str = "Grafana/12.2.0";
/// Grafana's default step for these tests' panels.
const STEP_30S: u64 = 30;

/// A server with one tenant holding search traces (the last few minutes) and an hour of
/// metrics spans ending ten minutes before them.
struct G {
    server: Sextant,
    auth: Auth,
    traces: Vec<GTrace>,
    metrics: World,
    /// Unix seconds around the search traces.
    range: (u64, u64),
}

impl G {
    async fn start() -> Self {
        let server = Sextant::start(
            Options::new()
                .env("SEXTANT_INGESTER__TRACE_IDLE", "1h")
                .env("SEXTANT_INGESTER__TRACE_MAX_LIVE", "1h")
                .env("SEXTANT_BLOCK__MAX_BLOCK_AGE", "1h"),
        )
        .await;
        let now = now_nanos();
        let traces = generate(SEED_A, 20, now);
        let metrics = world::generate(world::SEED_A, world::base_for(now) - 600);
        let keys = server.tenant(TENANT).await;
        let url = format!("{}/v1/traces", server.otlp_http_url());
        for request in requests(&traces, 10)
            .into_iter()
            .chain(requests(&metrics.traces, 50))
        {
            let resp = post_otlp(
                server.client(),
                &url,
                Some(&keys.write),
                "application/x-protobuf",
                None,
                request.encode_to_vec(),
            )
            .await;
            assert_eq!(resp.status(), 200, "export refused");
        }
        let earliest = traces.iter().map(GTrace::start).min().expect("traces");
        let g = Self {
            server,
            auth: keys.read,
            traces,
            metrics,
            range: (earliest / SEC - 60, now / SEC + 60),
        };
        // Searchable before any test looks.
        let n = g.traces.len() + g.metrics.traces.len();
        let server = &g.server;
        sextant_tests::wait_until(
            std::time::Duration::from_secs(20),
            "every trace live",
            async || {
                server
                    .metric("sextant_live_traces", &[("tenant", TENANT)])
                    .await
                    == n as f64
            },
        )
        .await;
        g
    }

    /// The headers Grafana's HTTP client sends: tenant, Basic auth, its user agent, `accept`.
    async fn get(
        &self,
        path: &str,
        params: &[(&str, String)],
        accept: &str,
    ) -> (u16, String, Vec<u8>) {
        let base = format!("{}{path}", self.server.http_url());
        let url = if params.is_empty() {
            reqwest::Url::parse(&base).expect("url")
        } else {
            reqwest::Url::parse_with_params(&base, params).expect("url")
        };
        let resp = self
            .server
            .client()
            .get(url.clone())
            .header("x-scope-orgid", TENANT)
            .header("authorization", self.auth.basic())
            .header("user-agent", USER_AGENT)
            .header("accept", accept)
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
        (status, ct, resp.bytes().await.expect("body").to_vec())
    }

    async fn json(&self, path: &str, params: &[(&str, String)]) -> Json {
        let (status, ct, body) = self.get(path, params, "application/json").await;
        let text = String::from_utf8_lossy(&body);
        assert_eq!(status, 200, "GET {path} {params:?}: {text}");
        assert!(
            ct.starts_with("application/json"),
            "GET {path}: content-type {ct}"
        );
        serde_json::from_slice(&body).unwrap_or_else(|e| panic!("GET {path}: {e}: {text}"))
    }

    /// gRPC metadata as Grafana sends it: the datasource headers lowercased, Basic auth.
    fn metadata(&self) -> Vec<(&'static str, String)> {
        vec![
            ("x-scope-orgid", TENANT.to_owned()),
            ("authorization", self.auth.basic()),
            ("user-agent", USER_AGENT.to_owned()),
        ]
    }

    fn range_params(&self) -> Vec<(&'static str, String)> {
        vec![
            ("start", self.range.0.to_string()),
            ("end", self.range.1.to_string()),
        ]
    }

    /// The metrics hour (unix seconds) and its grid at Grafana's 30 s step.
    fn metrics_range(&self) -> ((u64, u64), Grid) {
        let r = (self.metrics.base, self.metrics.base + MINUTES * STEP);
        (r, Grid::new(r.0, r.1, STEP_30S))
    }

    fn services(&self) -> BTreeSet<String> {
        let search = self
            .traces
            .iter()
            .flat_map(|t| t.spans.iter().map(|s| s.service));
        let metrics = self.metrics.spans.iter().map(|s| s.service);
        search.chain(metrics).map(str::to_owned).collect()
    }
}

fn obj<'a>(v: &'a Json, what: &str) -> &'a Map<String, Json> {
    v.as_object()
        .unwrap_or_else(|| panic!("{what}: not an object: {v}"))
}

fn decimal(v: Option<&Json>, what: &str) -> u64 {
    let s = v
        .and_then(Json::as_str)
        .unwrap_or_else(|| panic!("{what}: want a decimal string, got {v:?}"));
    s.parse().unwrap_or_else(|e| panic!("{what}: {s:?}: {e}"))
}

fn uint32(v: Option<&Json>, what: &str) -> u64 {
    let n = v
        .and_then(Json::as_u64)
        .unwrap_or_else(|| panic!("{what}: want a JSON number, got {v:?}"));
    assert!(n <= u64::from(u32::MAX), "{what}: {n} over uint32");
    n
}

fn string<'a>(v: Option<&'a Json>, what: &str) -> &'a str {
    v.and_then(Json::as_str)
        .unwrap_or_else(|| panic!("{what}: want a string, got {v:?}"))
}

/// Grafana's `KeyValue`: a key and exactly one typed value.
fn check_attribute(kv: &Json, what: &str) {
    let kv = obj(kv, what);
    string(kv.get("key"), what);
    let value = obj(kv.get("value").unwrap_or(&Json::Null), what);
    assert_eq!(value.len(), 1, "{what}: {value:?}");
    let (k, x) = value.iter().next().expect("one");
    let ok = match k.as_str() {
        "stringValue" | "bytesValue" => x.is_string(),
        "intValue" => x.as_str().is_some_and(|s| s.parse::<i64>().is_ok()),
        "doubleValue" => x.is_number(),
        "boolValue" => x.is_boolean(),
        "arrayValue" | "kvlistValue" => x.is_object(),
        _ => false,
    };
    assert!(ok, "{what}: attribute value {value:?}");
}

/// Row 1: "Save & test" — `GET /api/echo`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn row_01_echo() {
    let g = G::start().await;
    let (status, _, body) = g.get("/api/echo", &[], "*/*").await;
    assert_eq!((status, body.as_slice()), (200, b"echo".as_slice()));
    // A new datasource tests before its tenant has data, or without credentials.
    let resp = g
        .server
        .client()
        .get(format!("{}/api/echo", g.server.http_url()))
        .send()
        .await
        .expect("echo");
    assert_eq!(resp.status(), 200, "anonymous echo");
}

/// Row 2: `GET /api/status/buildinfo` — a semver of at least 2.7.0 (metrics streaming).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn row_02_buildinfo() {
    let g = G::start().await;
    let v = g.json("/api/status/buildinfo", &[]).await;
    let info = obj(&v, "buildinfo");
    for k in [
        "version",
        "revision",
        "branch",
        "buildUser",
        "buildDate",
        "goVersion",
    ] {
        string(info.get(k), &format!("buildinfo.{k}"));
    }
    let version = string(info.get("version"), "version");
    let parts: Vec<u64> = version
        .trim_start_matches('v')
        .split(['.', '-', '+'])
        .take(3)
        .map(|p| {
            p.parse()
                .unwrap_or_else(|_| panic!("not semver: {version}"))
        })
        .collect();
    assert!(
        parts.len() == 3 && parts >= vec![2, 7, 0],
        "version {version}"
    );
}

/// Row 3: trace by ID, v2, `Accept: application/protobuf`, decoded as `TraceByIDResponse`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn row_03_trace_v2_protobuf() {
    let g = G::start().await;
    let t = &g.traces[2];
    let want = flatten(&TracesData {
        resource_spans: t.to_otlp(),
    });
    let lower = hex::encode(t.id);
    let shifted = vec![
        ("start", (t.start() / SEC - 1800).to_string()),
        ("end", (t.end() / SEC + 1800).to_string()),
    ];
    for (id, params) in [
        (lower.clone(), vec![]),
        (lower.to_ascii_uppercase(), vec![]),
        (lower.clone(), shifted),
    ] {
        let what = format!("v2 {id} {params:?}");
        let path = format!("/api/v2/traces/{id}");
        let (status, _, body) = g.get(&path, &params, "application/protobuf").await;
        assert_eq!(status, 200, "{what}: {}", String::from_utf8_lossy(&body));
        let resp = TraceByIdResponse::decode(body.as_slice())
            .unwrap_or_else(|e| panic!("{what}: not a TraceByIDResponse: {e}"));
        assert_eq!(resp.status, 0, "{what}: not COMPLETE: {}", resp.message);
        let trace = resp
            .trace
            .unwrap_or_else(|| panic!("{what}: no trace field"));
        assert_same_spans(&what, &want, &trace);
        check_grafana_trace(&what, &trace);
    }
    // Unknown: v2 answers 404 (then v1 too) or an empty trace.
    let missing = "0123456789abcdef0123456789abcdef";
    let (status, _, body) = g
        .get(
            &format!("/api/v2/traces/{missing}"),
            &[],
            "application/protobuf",
        )
        .await;
    match status {
        404 => {
            let (v1, _, _) = g
                .get(
                    &format!("/api/traces/{missing}"),
                    &[],
                    "application/protobuf",
                )
                .await;
            assert_eq!(v1, 404, "v1 fallback of a missing trace");
        }
        200 => {
            let resp = TraceByIdResponse::decode(body.as_slice()).expect("TraceByIDResponse");
            let n = resp.trace.map_or(0, |t| t.resource_spans.len());
            assert_eq!(n, 0, "a missing trace has spans");
        }
        other => panic!("missing trace: {other}"),
    }
}

/// What Grafana's `TraceToFrame` needs: a resource with attributes incl. `service.name`, roots
/// with an empty parent.
fn check_grafana_trace(what: &str, trace: &TracesData) {
    assert!(!trace.resource_spans.is_empty(), "{what}: no resourceSpans");
    for rs in &trace.resource_spans {
        let resource = rs.resource.as_ref().expect("resource");
        let service = resource
            .attributes
            .iter()
            .find(|kv| kv.key == "service.name");
        assert!(
            matches!(
                service
                    .and_then(|kv| kv.value.as_ref())
                    .and_then(|v| v.value.as_ref()),
                Some(Value::StringValue(_))
            ),
            "{what}: a resource without service.name"
        );
        for span in rs.scope_spans.iter().flat_map(|s| &s.spans) {
            assert!(
                span.parent_span_id.is_empty() || span.parent_span_id.len() == 8,
                "{what}: parent_span_id {:?}",
                span.parent_span_id
            );
            assert!(
                span.parent_span_id != [0; 8],
                "{what}: a root with an all-zero parent"
            );
            assert_eq!((span.trace_id.len(), span.span_id.len()), (16, 8), "{what}");
        }
    }
}

/// Row 4: trace by ID, v1 (Grafana's fallback), protobuf `tempopb.Trace`; and its JSON form.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn row_04_trace_v1_fallback() {
    let g = G::start().await;
    let t = &g.traces[3];
    let want = flatten(&TracesData {
        resource_spans: t.to_otlp(),
    });
    let path = format!("/api/traces/{}", hex::encode(t.id));
    let (status, _, body) = g.get(&path, &[], "application/protobuf").await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let trace = TracesData::decode(body.as_slice()).expect("tempopb.Trace");
    assert_same_spans("v1 protobuf", &want, &trace);
    check_grafana_trace("v1 protobuf", &trace);
    let json = g
        .server
        .read_trace(ReadApi::V1Json, Some(&g.auth), &t.id)
        .await
        .expect("v1 JSON");
    assert_same_spans("v1 JSON (batches)", &want, &json);
}

/// Row 5: `/api/search` as Grafana ≥ 12.2 sends it and decodes it (exact JSON types).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn row_05_search() {
    let g = G::start().await;
    let q = "{ status = error }";
    let mut params = vec![
        ("q", q.to_owned()),
        ("limit", "20".to_owned()),
        ("spss", "3".to_owned()),
    ];
    params.extend(g.range_params());
    let v = g.json("/api/search", &params).await;
    let top = obj(&v, "search");
    sextant_tests::check_search_metrics(top.get("metrics").expect("metrics")).expect("metrics");
    let traces = top["traces"].as_array().expect("traces list");
    let want: BTreeMap<String, &GTrace> = g
        .traces
        .iter()
        .filter(|t| t.spans.iter().any(|s| s.code == Code::Error))
        .map(|t| (hex::encode(t.id), t))
        .collect();
    assert!(
        !want.is_empty() && want.len() <= 20,
        "data: {} error traces",
        want.len()
    );
    let mut got = BTreeSet::new();
    for t in traces {
        let t = obj(t, "trace");
        let id = format!("{:0>32}", string(t.get("traceID"), "traceID"));
        let sent = want
            .get(&id)
            .unwrap_or_else(|| panic!("search: unexpected trace {id}"));
        got.insert(id.clone());
        let what = format!("trace {id}");
        string(t.get("rootServiceName"), &what);
        if let Some(n) = t.get("rootTraceName") {
            string(Some(n), &what);
        }
        assert_eq!(
            decimal(t.get("startTimeUnixNano"), &what),
            sent.start(),
            "{what}"
        );
        let ms = t.get("durationMs").map_or(0, |d| uint32(Some(d), &what));
        assert_eq!(ms, sent.duration() / MS, "{what}: durationMs");
        let sets = t
            .get("spanSets")
            .and_then(Json::as_array)
            .expect("spanSets");
        assert!(!sets.is_empty(), "{what}: no span set");
        for set in sets.iter().chain(t.get("spanSet")) {
            let set = obj(set, &what);
            let matched = uint32(set.get("matched"), &what);
            let spans = set.get("spans").and_then(Json::as_array).expect("spans");
            assert!(
                matched as usize >= spans.len() && spans.len() <= 3,
                "{what}: spss"
            );
            for s in spans {
                let s = obj(s, &what);
                let sid = string(s.get("spanID"), &what);
                let span = sent
                    .spans
                    .iter()
                    .find(|x| hex::encode(x.id) == sid)
                    .unwrap_or_else(|| panic!("{what}: span {sid} not in the trace"));
                assert_eq!(span.code, Code::Error, "{what}: span {sid} does not match");
                assert_eq!(decimal(s.get("startTimeUnixNano"), &what), span.start);
                assert_eq!(decimal(s.get("durationNanos"), &what), span.duration());
                for kv in s
                    .get("attributes")
                    .and_then(Json::as_array)
                    .into_iter()
                    .flatten()
                {
                    check_attribute(kv, &what);
                }
            }
            for kv in set
                .get("attributes")
                .and_then(Json::as_array)
                .into_iter()
                .flatten()
            {
                check_attribute(kv, &what);
            }
        }
        if let Some(stats) = t.get("serviceStats") {
            for (svc, st) in obj(stats, &what) {
                let st = obj(st, &what);
                let spans = uint32(st.get("spanCount"), &what);
                let want_n = sent.spans.iter().filter(|s| s.service == svc).count();
                assert_eq!(spans as usize, want_n, "{what}: serviceStats.{svc}");
                if let Some(e) = st.get("errorCount") {
                    uint32(Some(e), &what);
                }
            }
        }
    }
    assert_eq!(
        got,
        want.keys().cloned().collect(),
        "search: the error traces"
    );

    // The legacy tags search of older Grafana: same shape, decodes.
    let mut params = vec![
        ("tags", "service.name=api".to_owned()),
        ("minDuration", "1ms".to_owned()),
        ("maxDuration", "10s".to_owned()),
        ("limit", "20".to_owned()),
    ];
    params.extend(g.range_params());
    let v = g.json("/api/search", &params).await;
    let n = v["traces"].as_array().map_or(0, Vec::len);
    assert!(n > 0, "legacy tags search found nothing: {v}");
}

/// Row 6: tag names v2 with Grafana's `limit=5000`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn row_06_tags_v2() {
    let g = G::start().await;
    for params in [vec![("limit", "5000".to_owned())], {
        let mut p = vec![("limit", "5000".to_owned())];
        p.extend(g.range_params());
        p
    }] {
        let v = g.json("/api/v2/search/tags", &params).await;
        let scopes = v["scopes"].as_array().expect("scopes");
        let mut by_name: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for s in scopes {
            let name = string(s.get("name"), "scope name");
            assert!(
                [
                    "resource",
                    "span",
                    "intrinsic",
                    "event",
                    "link",
                    "instrumentation"
                ]
                .contains(&name),
                "scope {name}"
            );
            let tags = s.get("tags").and_then(Json::as_array).expect("tags");
            by_name.insert(name, tags.iter().map(|t| string(Some(t), "tag")).collect());
        }
        let has = |scope: &str, tag: &str| by_name.get(scope).is_some_and(|t| t.contains(&tag));
        assert!(has("resource", "service.name"), "{v}");
        assert!(has("span", "http.route") && has("span", "db.system"), "{v}");
        assert!(
            has("intrinsic", "duration") && has("intrinsic", "status"),
            "{v}"
        );
    }
}

/// Row 7: tag values v2 — an identifier, an URL-encoded intrinsic, a `q` from the editor.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn row_07_tag_values_v2() {
    let g = G::start().await;
    let values = |v: &Json| -> BTreeSet<(String, String)> {
        v["tagValues"]
            .as_array()
            .expect("tagValues")
            .iter()
            .map(|x| {
                (
                    string(x.get("type"), "type").to_owned(),
                    string(x.get("value"), "value").to_owned(),
                )
            })
            .collect()
    };
    let v = g
        .json(
            "/api/v2/search/tag/resource.service.name/values",
            &[("limit", "5000".into())],
        )
        .await;
    let want: BTreeSet<(String, String)> = g
        .services()
        .into_iter()
        .map(|s| ("string".into(), s))
        .collect();
    assert_eq!(values(&v), want, "resource.service.name values");

    // `span:name` URL-encoded, filtered by the editor's other field.
    let q = r#"{resource.service.name="web"}"#;
    let v = g
        .json(
            "/api/v2/search/tag/span%3Aname/values",
            &[("limit", "5000".into()), ("q", q.into())],
        )
        .await;
    let want: BTreeSet<(String, String)> = g
        .metrics
        .traces
        .iter()
        .flat_map(|t| &t.spans)
        .filter(|s| s.service == "web")
        .map(|s| ("string".to_owned(), s.name.clone()))
        .collect();
    assert_eq!(values(&v), want, "span:name values of web");

    let v = g
        .json(
            "/api/v2/search/tag/status/values",
            &[("limit", "5000".into())],
        )
        .await;
    let got: BTreeSet<String> = values(&v)
        .into_iter()
        .map(|(t, x)| {
            assert_eq!(t, "keyword", "status values are keywords");
            x
        })
        .collect();
    let want: BTreeSet<String> = ["error", "ok", "unset"].map(String::from).into();
    assert_eq!(got, want);
}

/// The expected `{} | rate() by (resource.service.name)` of the metrics hour at 30 s steps.
fn rate_by_service(g: &G, grid: Grid) -> expect::Values {
    map_values(counts(&g.metrics.spans, grid, |_| true, By::Service), |c| {
        c / STEP_30S as f64
    })
}

const RATE_Q: &str = "{} | rate() by (resource.service.name)";

/// Row 8: `/api/metrics/query_range` with `step=30s` and `exemplars`, strict protobuf-JSON.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn row_08_metrics_query_range() {
    let g = G::start().await;
    let ((start, end), grid) = g.metrics_range();
    let params = [
        ("q", RATE_Q.to_owned()),
        ("start", start.to_string()),
        ("end", end.to_string()),
        ("step", "30s".to_owned()),
        ("exemplars", "100".to_owned()),
    ];
    let (status, ct, body) = g
        .get("/api/metrics/query_range", &params, "application/json")
        .await;
    let text = String::from_utf8_lossy(&body);
    assert_eq!(status, 200, "{text}");
    assert!(ct.starts_with("application/json"), "content-type {ct}");
    let answer = parse_range(&text).unwrap_or_else(|e| panic!("{e:#}\n{text}"));
    let got = normalise("query_range", &answer.series, grid, false);
    check_exact(
        "query_range",
        &got,
        &rate_by_service(&g, grid),
        Density::Full,
        grid,
    );
    let traces: BTreeSet<String> = g.metrics.traces.iter().map(|t| hex::encode(t.id)).collect();
    let mut n = 0;
    for s in &answer.series {
        for e in &s.exemplars {
            n += 1;
            let Some(Label::Str(id)) = e.labels.get("trace:id") else {
                panic!("exemplar without trace:id: {e:?}")
            };
            assert!(
                traces.contains(&id.to_ascii_lowercase()),
                "exemplar of trace {id}"
            );
        }
    }
    assert!(n > 0, "no exemplar");
}

/// Row 9: `/api/metrics/query` (instant).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn row_09_metrics_query() {
    let g = G::start().await;
    let ((start, end), _) = g.metrics_range();
    let params = [
        (
            "q",
            "{} | count_over_time() by (resource.service.name)".to_owned(),
        ),
        ("start", start.to_string()),
        ("end", end.to_string()),
    ];
    let (status, _, body) = g
        .get("/api/metrics/query", &params, "application/json")
        .await;
    let text = String::from_utf8_lossy(&body);
    assert_eq!(status, 200, "{text}");
    let got: BTreeMap<Labels, f64> = parse_instant(&text)
        .unwrap_or_else(|e| panic!("{e:#}\n{text}"))
        .into_iter()
        .collect();
    let mut want: BTreeMap<Labels, f64> = BTreeMap::new();
    for s in &g.metrics.spans {
        let l = Labels::from([("resource.service.name".to_owned(), Label::str(s.service))]);
        *want.entry(l).or_default() += 1.0;
    }
    assert_eq!(got, want, "{text}");
}

/// Row 10: gRPC `StreamingQuerier/Search` with Grafana's metadata, on the http port.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn row_10_grpc_search() {
    let g = G::start().await;
    let mut client = StreamingQuerier::connect(g.server.addrs().http).await;
    let req = SearchRequest {
        query: "{}".into(),
        limit: 20,
        spans_per_span_set: 3,
        start: g.range.0 as u32,
        end: g.range.1 as u32,
    };
    let messages = client
        .search(&g.metadata(), req)
        .await
        .unwrap_or_else(|s| panic!("Search: {s:?}"));
    assert!(!messages.is_empty(), "no message");
    let mut seen = BTreeSet::new();
    for m in &messages {
        let metrics = m.metrics.as_ref().expect("every message carries metrics");
        assert!(metrics.completed_jobs <= metrics.total_jobs);
        assert!(m.encoded_len() < 4 << 20);
        for t in &m.traces {
            assert!(
                seen.insert(format!("{:0>32}", t.trace_id)),
                "{} twice",
                t.trace_id
            );
        }
    }
    let want: BTreeSet<String> = g.traces.iter().map(|t| hex::encode(t.id)).collect();
    assert_eq!(seen, want, "the 20 traces of the last minutes");

    // Grafana's "Test" of streaming: `{}`, limit 1, the last 15 minutes.
    let now = (now_nanos() / SEC) as u32;
    let test = SearchRequest {
        query: "{}".into(),
        limit: 1,
        spans_per_span_set: 3,
        start: now - 900,
        end: now,
    };
    let messages = client
        .search(&g.metadata(), test)
        .await
        .expect("streaming test");
    let n: usize = messages.iter().map(|m| m.traces.len()).sum();
    assert_eq!(n, 1, "limit 1");
}

/// Row 11: gRPC `StreamingQuerier/MetricsQueryRange`, times and step in nanoseconds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn row_11_grpc_metrics_query_range() {
    let g = G::start().await;
    let ((start, end), grid) = g.metrics_range();
    let mut client = StreamingQuerier::connect(g.server.addrs().http).await;
    let req = QueryRangeRequest {
        query: RATE_Q.into(),
        start: start * SEC,
        end: end * SEC,
        step: STEP_30S * SEC,
        exemplars: 100,
    };
    let messages = client
        .metrics_query_range(&g.metadata(), req)
        .await
        .unwrap_or_else(|s| panic!("MetricsQueryRange: {s:?}"));
    let last = messages.last().expect("a message");
    assert!(
        messages.iter().all(|m| m.metrics.is_some()),
        "a message without metrics"
    );
    let answer = range_from_proto(last);
    let got = normalise("grpc query_range", &answer.series, grid, false);
    check_exact(
        "grpc query_range",
        &got,
        &rate_by_service(&g, grid),
        Density::Full,
        grid,
    );
}

/// Row 12: the legacy v1 tag endpoints of Grafana ≤ 12.1's fallback.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn row_12_legacy_v1_tags() {
    let g = G::start().await;
    let mut with_range = vec![
        ("scope", "resource".to_owned()),
        ("limit", "5000".to_owned()),
    ];
    with_range.extend(g.range_params());
    for params in [vec![("limit", "5000".to_owned())], with_range] {
        let v = g.json("/api/search/tags", &params).await;
        let names: Vec<&str> = v["tagNames"]
            .as_array()
            .expect("tagNames")
            .iter()
            .map(|x| string(Some(x), "tag name"))
            .collect();
        assert!(names.contains(&"service.name"), "{params:?}: {v}");
    }
    let v = g
        .json(
            "/api/search/tag/service.name/values",
            &[("limit", "5000".into())],
        )
        .await;
    let got: BTreeSet<String> = v["tagValues"]
        .as_array()
        .expect("tagValues")
        .iter()
        .map(|x| string(Some(x), "value").to_owned())
        .collect();
    assert_eq!(got, g.services());
}
