//! The data of the tag tests: tenant B's traces (attribute names and values tenant A never
//! uses) and what any tenant's traces hold: tag names per scope, typed tag values.

use std::collections::{BTreeMap, BTreeSet};

use sextant_tests::{random_span_id, random_trace_id};

use crate::data::{Attrs, Code, GSpan, GTrace, Kind, MS, SEC, Val};

/// How many traces tenant B sends.
pub(crate) const TRACES_B: usize = 8;

/// Tempo's intrinsic tag names (tempo-spec §3.5).
pub(crate) const INTRINSICS: &str = "duration name status statusMessage kind rootServiceName \
    rootName traceDuration event:name event:timeSinceStart link:spanID link:traceID \
    instrumentation:name instrumentation:version trace:id span:id span:parentID span:status \
    span:statusMessage span:duration span:name span:kind trace:rootName trace:rootService \
    trace:duration";

/// Tenant B: a ledger calling billing, with attribute names and values A never uses (but
/// `service.name`, whose values differ).
pub(crate) fn ledger_traces(now: u64) -> Vec<GTrace> {
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

/// Names per scope (`resource`, `span`, `event`, `link`) over the spans of `only` (all: None);
/// scopes without names left out, as the v2 answer leaves them out.
pub(crate) fn names(traces: &[GTrace], only: Option<&str>) -> BTreeMap<String, BTreeSet<String>> {
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
pub(crate) fn names_v2(
    traces: &[GTrace],
    only: Option<&str>,
) -> BTreeMap<String, BTreeSet<String>> {
    let mut out = names(traces, only);
    out.insert(
        "intrinsic".into(),
        INTRINSICS.split_whitespace().map(str::to_owned).collect(),
    );
    out
}

/// v1's default: resource and span names together.
pub(crate) fn names_v1(traces: &[GTrace]) -> Vec<String> {
    let all = names(traces, None);
    let set: BTreeSet<String> = ["resource", "span"]
        .iter()
        .flat_map(|s| all[*s].clone())
        .collect();
    set.into_iter().collect()
}

pub(crate) type Typed = BTreeSet<(String, String)>;

/// The typed values of span attribute `key`.
pub(crate) fn span_values(traces: &[GTrace], key: &str) -> Typed {
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

pub(crate) fn strings<'a>(values: impl IntoIterator<Item = &'a str>) -> Typed {
    values
        .into_iter()
        .map(|v| ("string".to_owned(), v.to_owned()))
        .collect()
}

pub(crate) fn services(traces: &[GTrace]) -> BTreeSet<&'static str> {
    traces
        .iter()
        .flat_map(|t| &t.spans)
        .map(|s| s.service)
        .collect()
}

pub(crate) fn span_names<'a>(traces: &'a [GTrace], only: Option<&str>) -> BTreeSet<&'a str> {
    let spans = traces.iter().flat_map(|t| &t.spans);
    spans
        .filter(|s| only.is_none_or(|o| s.service == o))
        .map(|s| s.name.as_str())
        .collect()
}

/// The (root span name, root service) of every trace whose root was sent.
pub(crate) fn roots(traces: &[GTrace]) -> (BTreeSet<&str>, BTreeSet<&str>) {
    traces
        .iter()
        .filter_map(GTrace::root)
        .map(|r| (r.name.as_str(), r.service))
        .unzip()
}

pub(crate) fn keywords(words: &[&str]) -> Typed {
    words
        .iter()
        .map(|w| ("keyword".to_owned(), (*w).to_owned()))
        .collect()
}
