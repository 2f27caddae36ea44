//! TraceQL metrics answers in one comparable form, read from Tempo's JSON
//! (`/api/metrics/query_range`, `/api/metrics/query`) as strictly as Grafana's protobuf-JSON
//! decoder (known fields only, 64-bit integers as decimal strings), and from the gRPC
//! `QueryRangeResponse`.

use std::collections::BTreeMap;

use anyhow::{Context, bail, ensure};
use serde_json::{Map, Value as Json};
use sextant_model::otlp::KeyValue;
use sextant_model::otlp::any_value::Value;

use crate::tempopb::QueryRangeResponse;

/// A label value; doubles are kept as their `{:.9e}` text so labels compare and sort.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Label {
    Str(String),
    Int(i64),
    Double(String),
    Bool(bool),
    /// `"value": {}`: the by() field was nil.
    Nil,
}

impl Label {
    pub fn str(s: &str) -> Self {
        Self::Str(s.to_owned())
    }

    pub fn double(v: f64) -> Self {
        Self::Double(format!("{v:.9e}"))
    }
}

pub type Labels = BTreeMap<String, Label>;

/// One exemplar: its labels (`trace:id`, `span:id`), value and time.
#[derive(Clone, Debug, PartialEq)]
pub struct GotExemplar {
    pub labels: Labels,
    pub value: f64,
    pub timestamp_ms: i64,
}

/// One series: labels, samples by timestamp (ms), exemplars.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct GotSeries {
    pub labels: Labels,
    pub samples: BTreeMap<i64, f64>,
    pub exemplars: Vec<GotExemplar>,
}

/// A range answer.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RangeAnswer {
    /// In the order received.
    pub series: Vec<GotSeries>,
    pub partial: bool,
    pub message: String,
}

impl RangeAnswer {
    /// The series by labels; panics on two series with the same labels.
    pub fn by_labels(&self, what: &str) -> BTreeMap<Labels, GotSeries> {
        let mut out = BTreeMap::new();
        for s in &self.series {
            let prev = out.insert(s.labels.clone(), s.clone());
            assert!(
                prev.is_none(),
                "{what}: two series with labels {:?}",
                s.labels
            );
        }
        out
    }
}

/// The fields of Tempo's `SearchMetrics` and their JSON types (true: 64-bit, a decimal string).
const METRICS_FIELDS: &[(&str, bool)] = &[
    ("inspectedTraces", false),
    ("inspectedBytes", true),
    ("totalBlocks", false),
    ("completedJobs", false),
    ("totalJobs", false),
    ("totalBlockBytes", true),
    ("inspectedSpans", true),
    ("backendReads", true),
    ("backendBytes", true),
];

fn is_decimal(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

fn known_fields(obj: &Map<String, Json>, allowed: &[&str], what: &str) -> anyhow::Result<()> {
    for k in obj.keys() {
        ensure!(
            allowed.contains(&k.as_str()),
            "{what}: unknown field {k:?} (Grafana's protobuf-JSON decoder rejects it)"
        );
    }
    Ok(())
}

/// `metrics` as Tempo's `SearchMetrics` in protobuf JSON: only its fields, with their types.
pub fn check_search_metrics(m: &Json) -> anyhow::Result<()> {
    let obj = m.as_object().context("metrics is not an object")?;
    for (k, v) in obj {
        if k == "additionalMetrics" {
            let extra = v
                .as_object()
                .context("additionalMetrics is not an object")?;
            for (name, n) in extra {
                ensure!(
                    n.as_str().is_some_and(|s| s.parse::<i64>().is_ok()),
                    "additionalMetrics.{name} is {n}, want an int64 as a string"
                );
            }
            continue;
        }
        let (_, wide) = METRICS_FIELDS
            .iter()
            .find(|(name, _)| name == k)
            .with_context(|| format!("metrics: unknown field {k:?}"))?;
        let ok = if *wide {
            v.as_str().is_some_and(is_decimal)
        } else {
            v.as_u64().is_some_and(|n| n <= u64::from(u32::MAX))
        };
        ensure!(ok, "metrics.{k} is {v}, of the wrong JSON type");
    }
    Ok(())
}

fn label_value(v: &Json) -> anyhow::Result<Label> {
    let obj = v.as_object().context("label value is not an object")?;
    if obj.is_empty() {
        return Ok(Label::Nil);
    }
    ensure!(obj.len() == 1, "label value with several fields: {v}");
    let (k, x) = obj.iter().next().expect("one field");
    Ok(match k.as_str() {
        "stringValue" => Label::Str(x.as_str().context("stringValue")?.to_owned()),
        "intValue" => Label::Int(
            x.as_str()
                .context("intValue is not a string")?
                .parse()
                .context("intValue")?,
        ),
        "doubleValue" => Label::double(x.as_f64().context("doubleValue is not a number")?),
        "boolValue" => Label::Bool(x.as_bool().context("boolValue")?),
        other => bail!("label value of unexpected kind {other:?}: {v}"),
    })
}

fn labels_of(v: Option<&Json>) -> anyhow::Result<Labels> {
    let mut out = Labels::new();
    let Some(v) = v else { return Ok(out) };
    for kv in v.as_array().context("labels is not a list")? {
        let obj = kv.as_object().context("label is not an object")?;
        known_fields(obj, &["key", "value"], "label")?;
        let key = obj.get("key").and_then(Json::as_str).context("label key")?;
        let value = match obj.get("value") {
            Some(v) => label_value(v)?,
            None => Label::Nil,
        };
        ensure!(
            out.insert(key.to_owned(), value).is_none(),
            "label {key:?} twice"
        );
    }
    Ok(out)
}

fn timestamp_ms(obj: &Map<String, Json>) -> anyhow::Result<i64> {
    let t = obj.get("timestampMs").context("no timestampMs")?;
    let s = t
        .as_str()
        .with_context(|| format!("timestampMs is {t}, want an int64 as a string"))?;
    ensure!(is_decimal(s), "timestampMs {s:?}");
    Ok(s.parse()?)
}

fn value(obj: &Map<String, Json>) -> anyhow::Result<f64> {
    let v = obj.get("value").context("no value")?;
    v.as_f64()
        .with_context(|| format!("value is {v}, not a number"))
}

/// The top-level fields shared by range and instant answers: `metrics`, `status`, `message`.
fn envelope(obj: &Map<String, Json>) -> anyhow::Result<(bool, String)> {
    known_fields(obj, &["series", "metrics", "status", "message"], "answer")?;
    if let Some(m) = obj.get("metrics") {
        check_search_metrics(m)?;
    }
    let partial = match obj.get("status") {
        None => false,
        Some(s) => match s.as_str() {
            Some("PARTIAL") => true,
            Some("COMPLETE") => false,
            _ => bail!("status {s}"),
        },
    };
    let message = match obj.get("message") {
        None => String::new(),
        Some(m) => m.as_str().context("message is not a string")?.to_owned(),
    };
    Ok((partial, message))
}

/// Reads a `/api/metrics/query_range` body as Grafana does, strictly.
pub fn parse_range(body: &str) -> anyhow::Result<RangeAnswer> {
    let doc: Json = serde_json::from_str(body).context("not JSON")?;
    let obj = doc.as_object().context("not an object")?;
    let (partial, message) = envelope(obj)?;
    let mut series = Vec::new();
    for s in obj
        .get("series")
        .map(|s| s.as_array().context("series is not a list"))
        .transpose()?
        .into_iter()
        .flatten()
    {
        let s = s.as_object().context("a series is not an object")?;
        known_fields(s, &["labels", "samples", "exemplars"], "series")?;
        let labels = labels_of(s.get("labels"))?;
        let mut samples = BTreeMap::new();
        let mut last = i64::MIN;
        for x in s
            .get("samples")
            .map(|x| x.as_array().context("samples is not a list"))
            .transpose()?
            .into_iter()
            .flatten()
        {
            let x = x.as_object().context("a sample is not an object")?;
            known_fields(x, &["timestampMs", "value"], "sample")?;
            let t = timestamp_ms(x)?;
            ensure!(
                t > last,
                "{labels:?}: samples not oldest first ({t} after {last})"
            );
            last = t;
            let v = value(x)?;
            samples.insert(t, v);
        }
        let mut exemplars = Vec::new();
        for e in s
            .get("exemplars")
            .map(|x| x.as_array().context("exemplars is not a list"))
            .transpose()?
            .into_iter()
            .flatten()
        {
            let e = e.as_object().context("an exemplar is not an object")?;
            known_fields(e, &["labels", "value", "timestampMs"], "exemplar")?;
            exemplars.push(GotExemplar {
                labels: labels_of(e.get("labels"))?,
                value: value(e)?,
                timestamp_ms: timestamp_ms(e)?,
            });
        }
        series.push(GotSeries {
            labels,
            samples,
            exemplars,
        });
    }
    Ok(RangeAnswer {
        series,
        partial,
        message,
    })
}

/// Reads a `/api/metrics/query` body strictly: each series' labels and value.
pub fn parse_instant(body: &str) -> anyhow::Result<Vec<(Labels, f64)>> {
    let doc: Json = serde_json::from_str(body).context("not JSON")?;
    let obj = doc.as_object().context("not an object")?;
    envelope(obj)?;
    let mut out = Vec::new();
    for s in obj
        .get("series")
        .map(|s| s.as_array().context("series is not a list"))
        .transpose()?
        .into_iter()
        .flatten()
    {
        let s = s.as_object().context("a series is not an object")?;
        known_fields(s, &["labels", "value"], "instant series")?;
        out.push((labels_of(s.get("labels"))?, value(s)?));
    }
    Ok(out)
}

fn proto_labels(kvs: &[KeyValue]) -> Labels {
    kvs.iter()
        .map(|kv| {
            let v = match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
                None => Label::Nil,
                Some(Value::StringValue(s)) => Label::Str(s.clone()),
                Some(Value::IntValue(i)) => Label::Int(*i),
                Some(Value::DoubleValue(d)) => Label::double(*d),
                Some(Value::BoolValue(b)) => Label::Bool(*b),
                Some(other) => panic!("label {} of unexpected kind {other:?}", kv.key),
            };
            (kv.key.clone(), v)
        })
        .collect()
}

/// The gRPC answer in the same form.
pub fn range_from_proto(r: &QueryRangeResponse) -> RangeAnswer {
    RangeAnswer {
        series: r
            .series
            .iter()
            .map(|s| GotSeries {
                labels: proto_labels(&s.labels),
                samples: s
                    .samples
                    .iter()
                    .map(|x| (x.timestamp_ms, x.value))
                    .collect(),
                exemplars: s
                    .exemplars
                    .iter()
                    .map(|e| GotExemplar {
                        labels: proto_labels(&e.labels),
                        value: e.value,
                        timestamp_ms: e.timestamp_ms,
                    })
                    .collect(),
            })
            .collect(),
        partial: r.status == 1,
        message: r.message.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::{Label, parse_instant, parse_range};

    #[test]
    fn a_range_answer_is_read_strictly() {
        let body = r#"{"series":[{"labels":[{"key":"resource.service.name","value":{"stringValue":"api"}},
            {"key":"span.x","value":{}}],"samples":[{"timestampMs":"1000","value":0.5},
            {"timestampMs":"2000","value":0}],"exemplars":[{"labels":[{"key":"trace:id",
            "value":{"stringValue":"00ff"}}],"value":1.5,"timestampMs":"1500"}]}],
            "metrics":{"inspectedBytes":"10","completedJobs":2}}"#;
        let a = parse_range(body).expect("parses");
        let s = &a.series[0];
        assert_eq!(s.labels["resource.service.name"], Label::str("api"));
        assert_eq!(s.labels["span.x"], Label::Nil);
        assert_eq!(s.samples.len(), 2);
        assert_eq!(s.exemplars[0].timestamp_ms, 1500);
        for bad in [
            r#"{"series":[{"labels":[],"samples":[{"timestampMs":1000,"value":1}]}]}"#,
            r#"{"series":[{"labels":[],"samples":[{"timestampMs":"1000"}]}]}"#,
            r#"{"series":[{"labels":[],"promLabels":"{}"}]}"#,
            r#"{"series":[],"metrics":{"inspectedBytes":10}}"#,
            r#"{"series":[],"extra":1}"#,
            r#"{"series":[{"samples":[{"timestampMs":"2","value":1},{"timestampMs":"1","value":1}]}]}"#,
        ] {
            assert!(parse_range(bad).is_err(), "{bad}");
        }
        let i = parse_instant(r#"{"series":[{"labels":[],"value":3}]}"#).expect("instant");
        assert_eq!(i[0].1, 3.0);
    }
}
