//! An independent reader of Tempo's search JSON (`SearchResponse` in jsonpb style), and its
//! inverse for the checker's own test: the JSON a correct server would send for a row.

use std::collections::BTreeMap;

use anyhow::{Context, bail, ensure};
use serde_json::{Map, Value as Json};

use super::data::{GTrace, MS, SpanId, TraceId, Val};
use super::table::{Row, Scope, expected};

/// What `rootServiceName` says of a trace whose root span never arrived.
pub(crate) const ROOT_NOT_RECEIVED: &str = "<root span not yet received>";

#[derive(Debug)]
pub(crate) struct Answer {
    pub(crate) traces: Vec<GotTrace>,
    pub(crate) inspected_traces: u64,
    pub(crate) inspected_bytes: u64,
}

#[derive(Debug)]
pub(crate) struct GotTrace {
    pub(crate) id: TraceId,
    pub(crate) root_service: String,
    pub(crate) root_name: String,
    pub(crate) start: u64,
    pub(crate) duration_ms: u64,
    pub(crate) sets: Vec<GotSet>,
    pub(crate) stats: BTreeMap<String, (u64, u64)>,
}

#[derive(Debug)]
pub(crate) struct GotSet {
    pub(crate) spans: Vec<GotSpan>,
    pub(crate) matched: u64,
    pub(crate) attrs: BTreeMap<String, Val>,
}

#[derive(Debug)]
pub(crate) struct GotSpan {
    pub(crate) id: SpanId,
    pub(crate) name: String,
    pub(crate) start: u64,
    pub(crate) duration: u64,
    pub(crate) attrs: BTreeMap<String, Val>,
}

/// Reads Tempo's search JSON: absent fields are zero or empty (jsonpb omits them), present
/// ones must have their exact type (64-bit integers as strings, `matched` and `durationMs` as
/// numbers).
pub(crate) fn parse_answer(body: &[u8]) -> anyhow::Result<Answer> {
    let doc: Json = serde_json::from_slice(body)?;
    let doc = doc.as_object().context("answer is not an object")?;
    let metrics = match doc.get("metrics") {
        None => &Map::new(),
        Some(m) => m.as_object().context("metrics is not an object")?,
    };
    let traces = array(doc, "traces")?
        .iter()
        .map(parse_trace)
        .collect::<anyhow::Result<_>>()?;
    Ok(Answer {
        traces,
        inspected_traces: number(metrics, "inspectedTraces")?,
        inspected_bytes: u64_string(metrics, "inspectedBytes")?,
    })
}

fn parse_trace(t: &Json) -> anyhow::Result<GotTrace> {
    let t = t.as_object().context("trace is not an object")?;
    let text = string(t, "traceID")?;
    ensure!(
        !text.is_empty() && !text.starts_with('0') && text.len() <= 32,
        "traceID {text:?} is not hex with leading zeros stripped"
    );
    let bytes = hex::decode(format!("{text:0>32}")).with_context(|| format!("traceID {text:?}"))?;
    let mut stats = BTreeMap::new();
    if let Some(s) = t.get("serviceStats") {
        for (svc, v) in s.as_object().context("serviceStats is not an object")? {
            let v = v.as_object().context("service stats is not an object")?;
            stats.insert(
                svc.clone(),
                (number(v, "spanCount")?, number(v, "errorCount")?),
            );
        }
    }
    Ok(GotTrace {
        id: bytes.try_into().expect("32 hex digits"),
        root_service: string(t, "rootServiceName")?,
        root_name: string(t, "rootTraceName")?,
        start: u64_string(t, "startTimeUnixNano")?,
        duration_ms: number(t, "durationMs")?,
        sets: array(t, "spanSets")?
            .iter()
            .map(parse_set)
            .collect::<anyhow::Result<_>>()
            .with_context(|| format!("trace {text}"))?,
        stats,
    })
}

fn parse_set(s: &Json) -> anyhow::Result<GotSet> {
    let s = s.as_object().context("span set is not an object")?;
    Ok(GotSet {
        spans: array(s, "spans")?
            .iter()
            .map(parse_span)
            .collect::<anyhow::Result<_>>()?,
        matched: number(s, "matched")?,
        attrs: attributes(s)?,
    })
}

fn parse_span(s: &Json) -> anyhow::Result<GotSpan> {
    let s = s.as_object().context("span is not an object")?;
    let id = string(s, "spanID")?;
    ensure!(id.len() == 16, "spanID {id:?} is not 16 hex digits");
    let bytes = hex::decode(&id).with_context(|| format!("spanID {id:?}"))?;
    Ok(GotSpan {
        id: bytes.try_into().expect("16 hex digits"),
        name: string(s, "name")?,
        start: u64_string(s, "startTimeUnixNano")?,
        duration: u64_string(s, "durationNanos")?,
        attrs: attributes(s).with_context(|| format!("span {id}"))?,
    })
}

fn attributes(obj: &Map<String, Json>) -> anyhow::Result<BTreeMap<String, Val>> {
    let mut out = BTreeMap::new();
    for kv in array(obj, "attributes")? {
        let kv = kv.as_object().context("attribute is not an object")?;
        let key = string(kv, "key")?;
        let value = kv.get("value").context("attribute without value")?;
        let value = any_value(value).with_context(|| format!("attribute {key}"))?;
        ensure!(
            out.insert(key.clone(), value).is_none(),
            "attribute {key} twice"
        );
    }
    Ok(out)
}

fn any_value(v: &Json) -> anyhow::Result<Val> {
    let v = v.as_object().context("value is not an object")?;
    ensure!(v.len() == 1, "value with {} fields: {v:?}", v.len());
    let (kind, inner) = v.iter().next().expect("one field");
    Ok(match kind.as_str() {
        "stringValue" => Val::Str(inner.as_str().context("stringValue")?.to_owned()),
        "intValue" => Val::Int(inner.as_str().context("intValue not a string")?.parse()?),
        "doubleValue" => Val::Double(inner.as_f64().context("doubleValue not a number")?),
        "boolValue" => Val::Bool(inner.as_bool().context("boolValue")?),
        "arrayValue" => {
            let inner = inner.as_object().context("arrayValue")?;
            let items: Vec<Val> = array(inner, "values")?
                .iter()
                .map(any_value)
                .collect::<anyhow::Result<_>>()?;
            if items.iter().all(|i| matches!(i, Val::Str(_))) {
                Val::StrArr(
                    items
                        .into_iter()
                        .map(|i| match i {
                            Val::Str(s) => s,
                            _ => unreachable!("checked"),
                        })
                        .collect(),
                )
            } else if items.iter().all(|i| matches!(i, Val::Int(_))) {
                Val::IntArr(
                    items
                        .into_iter()
                        .map(|i| match i {
                            Val::Int(n) => n,
                            _ => unreachable!("checked"),
                        })
                        .collect(),
                )
            } else {
                bail!("mixed array {items:?}")
            }
        }
        other => bail!("unexpected value kind {other:?}"),
    })
}

fn array<'a>(obj: &'a Map<String, Json>, key: &str) -> anyhow::Result<&'a [Json]> {
    match obj.get(key) {
        None => Ok(&[]),
        Some(v) => Ok(v
            .as_array()
            .with_context(|| format!("{key} is not an array"))?),
    }
}

fn string(obj: &Map<String, Json>, key: &str) -> anyhow::Result<String> {
    match obj.get(key) {
        None => Ok(String::new()),
        Some(v) => Ok(v
            .as_str()
            .with_context(|| format!("{key} is not a string: {v}"))?
            .to_owned()),
    }
}

/// A 64-bit integer, which jsonpb writes as a string.
fn u64_string(obj: &Map<String, Json>, key: &str) -> anyhow::Result<u64> {
    match obj.get(key) {
        None => Ok(0),
        Some(v) => v
            .as_str()
            .with_context(|| format!("{key} is not a string: {v}"))?
            .parse()
            .with_context(|| format!("{key}: {v}")),
    }
}

/// A 32-bit integer, which jsonpb writes as a number.
fn number(obj: &Map<String, Json>, key: &str) -> anyhow::Result<u64> {
    match obj.get(key) {
        None => Ok(0),
        Some(v) => v
            .as_u64()
            .with_context(|| format!("{key} is not a non-negative integer: {v}")),
    }
}

/// Tempo's JSON for the expected answer of `row`: what a correct server would send.
pub(crate) fn render(row: &Row, traces: &[GTrace]) -> Vec<u8> {
    use serde_json::json;
    fn value(v: &Val) -> Json {
        match v {
            Val::Str(s) => json!({ "stringValue": s }),
            Val::Int(i) => json!({ "intValue": i.to_string() }),
            Val::Double(d) => json!({ "doubleValue": d }),
            Val::Bool(b) => json!({ "boolValue": b }),
            Val::StrArr(xs) => {
                json!({ "arrayValue": { "values": xs.iter().map(|x| json!({ "stringValue": x })).collect::<Vec<_>>() } })
            }
            Val::IntArr(xs) => {
                json!({ "arrayValue": { "values": xs.iter().map(|x| json!({ "intValue": x.to_string() })).collect::<Vec<_>>() } })
            }
        }
    }
    let want = expected(row, traces);
    let out: Vec<Json> = want
        .iter()
        .map(|(t, groups)| {
            let sets: Vec<Json> = groups
                .iter()
                .map(|(key, set)| {
                    let spans: Vec<Json> = set
                        .iter()
                        .map(|&i| {
                            let s = &t.spans[i];
                            let attrs: Vec<Json> = row
                                .select
                                .iter()
                                .filter_map(|(k, scope)| {
                                    let v = match scope {
                                        Scope::Span => t.span_attr(i, k),
                                        Scope::Resource => t.resource_attr(i, k),
                                    }?;
                                    Some(json!({ "key": k, "value": value(v) }))
                                })
                                .collect();
                            json!({ "spanID": hex::encode(s.id), "name": s.name,
                                    "startTimeUnixNano": s.start.to_string(),
                                    "durationNanos": s.duration().to_string(),
                                    "attributes": attrs })
                        })
                        .collect();
                    let mut set = json!({ "spans": spans, "matched": set.len() });
                    if let (Some(by), Some(key)) = (row.by, key) {
                        set["attributes"] = json!([{ "key": by, "value": { "stringValue": key } }]);
                    }
                    set
                })
                .collect();
            let mut stats = Map::new();
            for (svc, (n, errors)) in t.service_stats() {
                // jsonpb leaves out zeros.
                let v = if errors == 0 {
                    json!({ "spanCount": n })
                } else {
                    json!({ "spanCount": n, "errorCount": errors })
                };
                stats.insert(svc, v);
            }
            let (root_service, root_name) = t
                .root()
                .map_or((ROOT_NOT_RECEIVED, ""), |r| (r.service, r.name.as_str()));
            json!({ "traceID": hex::encode(t.id).trim_start_matches('0'),
                    "rootServiceName": root_service, "rootTraceName": root_name,
                    "startTimeUnixNano": t.start().to_string(),
                    "durationMs": t.duration() / MS, "spanSets": sets, "serviceStats": stats })
        })
        .collect();
    let n = out.len();
    serde_json::to_vec(
        &json!({ "traces": out, "metrics": { "inspectedTraces": n, "inspectedBytes": "1" } }),
    )
    .expect("json")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_answer_reader_is_lenient_on_absence_and_strict_on_types() {
        let body = br#"{"traces":[{"traceID":"a0b1","rootServiceName":"frontend",
        "startTimeUnixNano":"1700000000000000000","durationMs":12,
        "spanSets":[{"spans":[{"spanID":"00000000000000ff","name":"x",
          "startTimeUnixNano":"1700000000000000001","durationNanos":"5",
          "attributes":[{"key":"n","value":{"intValue":"7"}},
                        {"key":"t","value":{"arrayValue":{"values":[{"stringValue":"a"}]}}}]}],
          "matched":3,"attributes":[{"key":"by(resource.service.name)","value":{"stringValue":"db"}}]}],
        "serviceStats":{"db":{"spanCount":2}}}],
        "metrics":{"inspectedTraces":4,"inspectedBytes":"99"}}"#;
        let a = parse_answer(body).expect("parses");
        assert_eq!((a.inspected_traces, a.inspected_bytes), (4, 99));
        let t = &a.traces[0];
        assert_eq!(hex::encode(t.id), format!("{:0>32}", "a0b1"));
        assert_eq!((t.root_name.as_str(), t.duration_ms), ("", 12));
        assert_eq!(t.stats["db"], (2, 0));
        let set = &t.sets[0];
        assert_eq!(set.matched, 3);
        assert_eq!(set.attrs["by(resource.service.name)"], Val::str("db"));
        assert_eq!(set.spans[0].attrs["n"], Val::Int(7));
        assert_eq!(set.spans[0].attrs["t"], Val::StrArr(vec!["a".into()]));
        assert!(parse_answer(br#"{}"#).expect("empty").traces.is_empty());
        for bad in [
            r#"{"traces":[{"traceID":"0a"}]}"#,
            r#"{"traces":[{"traceID":"a","startTimeUnixNano":17}]}"#,
            r#"{"traces":[{"traceID":"a","durationMs":"12"}]}"#,
            r#"{"traces":[{"traceID":"a","spanSets":[{"matched":"1"}]}]}"#,
            r#"{"traces":[{"traceID":"a","spanSets":[{"spans":[{"spanID":"ff"}]}]}]}"#,
            r#"{"traces":[{"traceID":"a","spanSets":[{"attributes":[{"key":"k","value":{"intValue":7}}]}]}]}"#,
            r#"{"metrics":{"inspectedBytes":5}}"#,
        ] {
            assert!(parse_answer(bad.as_bytes()).is_err(), "accepted {bad}");
        }
    }
}
