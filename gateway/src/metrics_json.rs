//! TraceQL metrics answers in Tempo's protobuf-JSON dialect (tempo-spec §3.6), for Grafana's
//! strict `jsonpb` decoder, which refuses unknown fields: only fields of Tempo's
//! `QueryRangeResponse{series=1, metrics=2, status=3, message=4}`,
//! `TimeSeries{labels=1, samples=2, exemplars=4}`, `Sample{value=1, timestamp_ms=2}`,
//! `Exemplar{labels=1, value=2, timestamp_ms=3}`, `QueryInstantResponse{series=1, metrics=2,
//! status=3, message=4}`, `InstantSeries{labels=1, value=2}` and the seven fields of
//! `SearchMetrics` Grafana's proto knows.
//!
//! Departures from plain jsonpb, each one valid protobuf-JSON:
//! - a sample's (and an instant series') `value` is written even when 0;
//! - `series` and `metrics` are always written;
//! - no NaN or infinity ever appears: a sample or exemplar with a non-finite value is left
//!   out, a non-finite double label is written as its text (`stringValue` `NaN`, `+Inf`,
//!   `-Inf`);
//! - a label whose value is nil is written `"value":{}`;
//! - an instant series without a sample is left out.

use sextant_model::otlp::{AnyValue, KeyValue, any_value};
use sextant_model::{Exemplar, MetricSeries, MetricsResponse, Sample, SearchMetrics};

use crate::tempo_json::{Obj, double, write_key_value};

/// `QueryRangeResponse`.
pub(crate) fn query_range(response: &MetricsResponse) -> String {
    let mut out = String::new();
    let mut o = Obj::open(&mut out);
    o.array("series", &response.series, write_series);
    o.key("metrics");
    write_metrics(o.out, &response.metrics);
    write_status(&mut o, response);
    o.close();
    out
}

/// `QueryInstantResponse`: each series' single value (the last sample's).
pub(crate) fn query_instant(response: &MetricsResponse) -> String {
    let with_value: Vec<(&MetricSeries, f64)> = response
        .series
        .iter()
        .filter_map(|s| instant_value(s).map(|v| (s, v)))
        .collect();
    let mut out = String::new();
    let mut o = Obj::open(&mut out);
    o.array("series", &with_value, |out, (series, value)| {
        let mut s = Obj::open(out);
        s.list("labels", &series.labels, write_label);
        s.raw("value", &double(*value));
        s.close();
    });
    o.key("metrics");
    write_metrics(o.out, &response.metrics);
    write_status(&mut o, response);
    o.close();
    out
}

/// The value an instant series reports: its last finite sample.
pub(crate) fn instant_value(series: &MetricSeries) -> Option<f64> {
    series
        .samples
        .iter()
        .rev()
        .map(|s| s.value)
        .find(|v| v.is_finite())
}

fn write_status(o: &mut Obj<'_>, response: &MetricsResponse) {
    if response.partial {
        o.raw("status", "\"PARTIAL\"");
        o.string("message", &response.message);
    }
}

fn write_series(out: &mut String, series: &MetricSeries) {
    let samples: Vec<&Sample> = series
        .samples
        .iter()
        .filter(|s| s.value.is_finite())
        .collect();
    let exemplars: Vec<&Exemplar> = series
        .exemplars
        .iter()
        .filter(|e| e.value.is_finite())
        .collect();
    let mut o = Obj::open(out);
    o.list("labels", &series.labels, write_label);
    o.list("samples", &samples, |out, s| {
        let mut o = Obj::open(out);
        o.raw("timestampMs", &format!("\"{}\"", s.timestamp_ms));
        o.raw("value", &double(s.value));
        o.close();
    });
    o.list("exemplars", &exemplars, |out, e| {
        let mut o = Obj::open(out);
        o.list("labels", &e.labels, write_label);
        o.raw("value", &double(e.value));
        if e.timestamp_ms != 0 {
            o.raw("timestampMs", &format!("\"{}\"", e.timestamp_ms));
        }
        o.close();
    });
    o.close();
}

/// A label: like any OTLP `KeyValue`, but the value is always present (`{}` when nil) and a
/// non-finite double is written as text.
fn write_label(out: &mut String, kv: &KeyValue) {
    match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
        None => {
            let mut o = Obj::open(out);
            o.string("key", &kv.key);
            o.raw("value", "{}");
            o.close();
        }
        Some(any_value::Value::DoubleValue(d)) if !d.is_finite() => {
            let text = if d.is_nan() {
                "NaN"
            } else if *d > 0.0 {
                "+Inf"
            } else {
                "-Inf"
            };
            let as_text = KeyValue {
                key: kv.key.clone(),
                value: Some(AnyValue {
                    value: Some(any_value::Value::StringValue(text.to_owned())),
                }),
            };
            write_key_value(out, &as_text);
        }
        Some(_) => write_key_value(out, kv),
    }
}

/// `SearchMetrics` with the seven fields Grafana's proto declares.
fn write_metrics(out: &mut String, m: &SearchMetrics) {
    let mut o = Obj::open(out);
    crate::search_json::search_metrics_fields(&mut o, m);
    o.close();
}

#[cfg(test)]
mod tests {
    use super::*;

    fn label(key: &str, value: Option<any_value::Value>) -> KeyValue {
        KeyValue {
            key: key.into(),
            value: value.map(|v| AnyValue { value: Some(v) }),
        }
    }

    #[test]
    fn empty_answers_keep_series_and_metrics() {
        let empty = MetricsResponse::default();
        assert_eq!(query_range(&empty), r#"{"series":[],"metrics":{}}"#);
        assert_eq!(query_instant(&empty), r#"{"series":[],"metrics":{}}"#);
    }

    #[test]
    fn zero_values_nil_labels_and_non_finite_numbers() {
        let answer = MetricsResponse {
            series: vec![
                MetricSeries {
                    labels: vec![
                        label("span.x", None),
                        label("p", Some(any_value::Value::DoubleValue(f64::NAN))),
                        label("q", Some(any_value::Value::DoubleValue(f64::NEG_INFINITY))),
                    ],
                    samples: vec![
                        Sample {
                            timestamp_ms: 1000,
                            value: 0.0,
                        },
                        Sample {
                            timestamp_ms: 2000,
                            value: f64::INFINITY,
                        },
                    ],
                    exemplars: vec![Exemplar {
                        labels: vec![],
                        value: f64::NAN,
                        timestamp_ms: 1000,
                    }],
                },
                MetricSeries::default(),
            ],
            ..Default::default()
        };
        let range = query_range(&answer);
        assert_eq!(
            range,
            concat!(
                r#"{"series":[{"labels":[{"key":"span.x","value":{}},"#,
                r#"{"key":"p","value":{"stringValue":"NaN"}},"#,
                r#"{"key":"q","value":{"stringValue":"-Inf"}}],"#,
                r#""samples":[{"timestampMs":"1000","value":0}]},{}],"metrics":{}}"#
            )
        );
        let instant = query_instant(&answer);
        assert!(instant.contains(r#""value":0}]"#), "{instant}");
        assert!(!instant.contains("{}]"), "no sample, no series: {instant}");
        for text in [range, instant] {
            serde_json::from_str::<serde_json::Value>(&text).unwrap();
        }
    }
}
