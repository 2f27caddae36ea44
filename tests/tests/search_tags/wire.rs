//! The HTTP calls of the tag tests, and readers of the answers that are as strict as the Go
//! structs Grafana decodes them into (64-bit counts as decimal strings, 32-bit as numbers).

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value as Json;
use sextant_tests::{Auth, Sextant};

use crate::expect::Typed;

/// GET `path` with `params`, Basic auth and extra headers; (status, body).
pub(crate) async fn get(
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
pub(crate) async fn ok_json(
    server: &Sextant,
    auth: &Auth,
    path: &str,
    params: &[(&str, String)],
) -> Json {
    let (status, body) = get(server, auth, &[], path, params).await;
    assert_eq!(
        status, 200,
        "GET {path} {params:?} as {}: {body}",
        auth.tenant
    );
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("GET {path}: {e}: {body}"))
}

pub(crate) fn field<'a>(v: &'a Json, key: &str, what: &str) -> &'a Json {
    v.get(key)
        .unwrap_or_else(|| panic!("{what}: no {key:?} in {v}"))
}

pub(crate) fn str_list(v: &Json, what: &str) -> Vec<String> {
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
pub(crate) fn check_metrics(m: &Json, what: &str) {
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

pub(crate) fn is_decimal(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

/// v1 `{"tagNames":[..],"metrics":{..}}`.
pub(crate) fn decode_names_v1(v: &Json, what: &str) -> Vec<String> {
    check_metrics(field(v, "metrics", what), what);
    str_list(field(v, "tagNames", what), what)
}

/// v2 `{"scopes":[{"name","tags"}],"metrics"}`: scope → names, each scope once and known.
pub(crate) fn decode_names_v2(v: &Json, what: &str) -> BTreeMap<String, BTreeSet<String>> {
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
pub(crate) fn decode_values_v1(v: &Json, what: &str) -> Vec<String> {
    check_metrics(field(v, "metrics", what), what);
    str_list(field(v, "tagValues", what), what)
}

/// v2 `{"tagValues":[{"type","value"}],"metrics"}`, types from Tempo's set.
pub(crate) fn decode_values_v2(v: &Json, what: &str) -> Typed {
    check_metrics(field(v, "metrics", what), what);
    let list = field(v, "tagValues", what)
        .as_array()
        .expect("tagValues list");
    let types = ["string", "int", "float", "bool", "duration", "keyword"];
    let mut out = Typed::new();
    for tv in list {
        let t = field(tv, "type", what).as_str().expect("type string");
        // Proto-JSON leaves an empty value out; Go decodes it as "" (Grafana then skips it).
        let value = tv
            .get("value")
            .map_or(Some(""), Json::as_str)
            .expect("value string");
        assert!(types.contains(&t), "{what}: type {t}");
        assert!(
            out.insert((t.to_owned(), value.to_owned())),
            "{what}: {tv} twice"
        );
    }
    out
}

pub(crate) async fn names_v1_of(
    server: &Sextant,
    auth: &Auth,
    params: &[(&str, String)],
) -> Vec<String> {
    let v = ok_json(server, auth, "/api/search/tags", params).await;
    decode_names_v1(&v, &format!("v1 tags {params:?}"))
}

pub(crate) async fn names_v2_of(
    server: &Sextant,
    auth: &Auth,
    params: &[(&str, String)],
) -> BTreeMap<String, BTreeSet<String>> {
    let v = ok_json(server, auth, "/api/v2/search/tags", params).await;
    decode_names_v2(&v, &format!("v2 tags {params:?}"))
}

pub(crate) async fn values_v1_of(server: &Sextant, auth: &Auth, tag: &str) -> Vec<String> {
    let v = ok_json(server, auth, &format!("/api/search/tag/{tag}/values"), &[]).await;
    decode_values_v1(&v, &format!("v1 values of {tag}"))
}

pub(crate) async fn values_v2_of(
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

pub(crate) fn sorted<T: Ord + Clone>(set: &BTreeSet<T>) -> Vec<T> {
    set.iter().cloned().collect()
}

/// `/api/search` as Grafana ≥ 12.2 decodes it; returns the number of traces.
pub(crate) fn decode_search(body: &str, what: &str) -> usize {
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
