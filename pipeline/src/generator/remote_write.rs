//! Prometheus remote write 1.0 payloads: a protobuf `prometheus.WriteRequest` (field numbers of
//! Prometheus' `prompb/types.proto` and `remote.proto`), compressed with snappy's block format,
//! as sent with `Content-Encoding: snappy` and `X-Prometheus-Remote-Write-Version: 0.1.0`.
//! One time series per collected sample, its labels sorted by name with `__name__` among them;
//! a sample's exemplar carries the trace ID under `traceID` (Grafana's link to the trace).

use super::Sample;

/// `prometheus.WriteRequest`.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct WriteRequest {
    #[prost(message, repeated, tag = "1")]
    pub(crate) timeseries: Vec<TimeSeries>,
}

/// `prometheus.TimeSeries`.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct TimeSeries {
    #[prost(message, repeated, tag = "1")]
    pub(crate) labels: Vec<Label>,
    #[prost(message, repeated, tag = "2")]
    pub(crate) samples: Vec<RemoteSample>,
    #[prost(message, repeated, tag = "3")]
    pub(crate) exemplars: Vec<Exemplar>,
}

/// `prometheus.Label`.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct Label {
    #[prost(string, tag = "1")]
    pub(crate) name: String,
    #[prost(string, tag = "2")]
    pub(crate) value: String,
}

/// `prometheus.Sample`: a value at a time in unix milliseconds.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct RemoteSample {
    #[prost(double, tag = "1")]
    pub(crate) value: f64,
    #[prost(int64, tag = "2")]
    pub(crate) timestamp: i64,
}

/// `prometheus.Exemplar`.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct Exemplar {
    #[prost(message, repeated, tag = "1")]
    pub(crate) labels: Vec<Label>,
    #[prost(double, tag = "2")]
    pub(crate) value: f64,
    #[prost(int64, tag = "3")]
    pub(crate) timestamp: i64,
}

/// The `WriteRequest` of `samples`, all at `timestamp_ms`, with `external` labels added to
/// every series (a series' own label of the same name wins).
pub(crate) fn write_request(
    samples: &[Sample],
    timestamp_ms: i64,
    external: &[(String, String)],
) -> WriteRequest {
    let timeseries = samples
        .iter()
        .map(|s| {
            let mut labels: Vec<Label> = std::iter::once(("__name__".to_owned(), s.name.clone()))
                .chain(s.labels.iter().cloned())
                .map(|(name, value)| Label { name, value })
                .collect();
            for (name, value) in external {
                if !labels.iter().any(|l| &l.name == name) {
                    labels.push(Label {
                        name: name.clone(),
                        value: value.clone(),
                    });
                }
            }
            labels.sort_by(|a, b| a.name.cmp(&b.name));
            let exemplars = s
                .exemplar
                .iter()
                .map(|e| Exemplar {
                    labels: vec![Label {
                        name: "traceID".to_owned(),
                        value: e.trace_id.clone(),
                    }],
                    value: e.value,
                    timestamp: e
                        .at
                        .duration_since(std::time::UNIX_EPOCH)
                        .map_or(timestamp_ms, |d| {
                            i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
                        }),
                })
                .collect();
            TimeSeries {
                labels,
                samples: vec![RemoteSample {
                    value: s.value,
                    timestamp: timestamp_ms,
                }],
                exemplars,
            }
        })
        .collect();
    WriteRequest { timeseries }
}

/// The body to POST: the request's protobuf encoding in snappy's block format.
pub(crate) fn encode(request: &WriteRequest) -> Vec<u8> {
    use prost::Message;
    snap::raw::Encoder::new()
        .compress_vec(&request.encode_to_vec())
        .expect("snappy compresses any input that fits in memory")
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, SystemTime};

    use prost::Message;

    use super::super::Exemplar as SeriesExemplar;
    use super::*;

    #[test]
    fn samples_become_sorted_series_with_exemplars_in_a_snappy_body() {
        let at = SystemTime::UNIX_EPOCH + Duration::from_millis(1_700_000_000_123);
        let samples = vec![Sample {
            name: "traces_spanmetrics_calls_total".into(),
            labels: vec![
                ("service".into(), "api".into()),
                ("span_kind".into(), "SPAN_KIND_SERVER".into()),
            ],
            value: 3.0,
            exemplar: Some(SeriesExemplar {
                trace_id: "0707".into(),
                value: 0.25,
                at,
            }),
        }];
        let external = vec![
            ("service".to_owned(), "ignored".to_owned()),
            ("__metrics_gen_instance".to_owned(), "host-1".to_owned()),
        ];
        let body = encode(&write_request(&samples, 1_700_000_001_000, &external));
        let raw = snap::raw::Decoder::new().decompress_vec(&body).unwrap();
        let decoded = WriteRequest::decode(raw.as_slice()).unwrap();
        let series = &decoded.timeseries[0];
        let names: Vec<&str> = series.labels.iter().map(|l| l.name.as_str()).collect();
        assert_eq!(
            names,
            ["__metrics_gen_instance", "__name__", "service", "span_kind"]
        );
        assert_eq!(series.labels[2].value, "api", "the series' own label wins");
        assert_eq!(
            series.samples,
            vec![RemoteSample {
                value: 3.0,
                timestamp: 1_700_000_001_000
            }]
        );
        assert_eq!(series.exemplars[0].labels[0].name, "traceID");
        assert_eq!(series.exemplars[0].labels[0].value, "0707");
        assert_eq!(series.exemplars[0].timestamp, 1_700_000_000_123);
    }

    #[test]
    fn field_numbers_are_prometheus_ones() {
        // Label{name=1, value=2} inside TimeSeries.labels=1 inside WriteRequest.timeseries=1.
        let request = WriteRequest {
            timeseries: vec![TimeSeries {
                labels: vec![Label {
                    name: "a".into(),
                    value: "b".into(),
                }],
                samples: vec![],
                exemplars: vec![],
            }],
        };
        assert_eq!(
            request.encode_to_vec(),
            [0x0a, 0x08, 0x0a, 0x06, 0x0a, 0x01, b'a', 0x12, 0x01, b'b']
        );
    }
}
