//! What the generator reads of an OTLP `TracesData`, decoded without copying: the same field
//! numbers as `opentelemetry.proto.trace.v1`, only the fields the processors use (the rest —
//! events, links, scopes, array and map values — is skipped by the decoder), byte and string
//! fields as slices of the request's buffer. A span is kept as its encoded bytes until it is
//! read, so its size (`traces_spanmetrics_size_total`) is the length of those bytes.
//!
//! Field names follow the OTLP types' so the processors read either the same way; strings are
//! [`Bytes`], read with [`text`].

use std::borrow::Cow;

use bytes::Bytes;

/// `TracesData` (and `ExportTraceServiceRequest`: same field 1).
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct Request {
    #[prost(message, repeated, tag = "1")]
    pub(crate) resource_spans: Vec<ResourceSpans>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct ResourceSpans {
    #[prost(message, optional, tag = "1")]
    pub(crate) resource: Option<Resource>,
    #[prost(message, repeated, tag = "2")]
    pub(crate) scope_spans: Vec<ScopeSpans>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct Resource {
    #[prost(message, repeated, tag = "1")]
    pub(crate) attributes: Vec<KeyValue>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct ScopeSpans {
    /// Each span's encoded bytes (decode with [`Span`]).
    #[prost(bytes = "bytes", repeated, tag = "2")]
    pub(crate) spans: Vec<Bytes>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct Span {
    #[prost(bytes = "bytes", tag = "1")]
    pub(crate) trace_id: Bytes,
    #[prost(bytes = "bytes", tag = "2")]
    pub(crate) span_id: Bytes,
    #[prost(bytes = "bytes", tag = "4")]
    pub(crate) parent_span_id: Bytes,
    #[prost(bytes = "bytes", tag = "5")]
    pub(crate) name: Bytes,
    #[prost(int32, tag = "6")]
    pub(crate) kind: i32,
    #[prost(fixed64, tag = "7")]
    pub(crate) start_time_unix_nano: u64,
    #[prost(fixed64, tag = "8")]
    pub(crate) end_time_unix_nano: u64,
    #[prost(message, repeated, tag = "9")]
    pub(crate) attributes: Vec<KeyValue>,
    #[prost(message, optional, tag = "15")]
    pub(crate) status: Option<Status>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct Status {
    #[prost(bytes = "bytes", tag = "2")]
    pub(crate) message: Bytes,
    #[prost(int32, tag = "3")]
    pub(crate) code: i32,
}

#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct KeyValue {
    #[prost(bytes = "bytes", tag = "1")]
    pub(crate) key: Bytes,
    #[prost(message, optional, tag = "2")]
    pub(crate) value: Option<AnyValue>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct AnyValue {
    #[prost(oneof = "any_value::Value", tags = "1, 2, 3, 4")]
    pub(crate) value: Option<any_value::Value>,
}

pub(crate) mod any_value {
    use bytes::Bytes;

    /// The scalar values; arrays, maps and bytes (fields 5–7) are not labels and are skipped.
    #[derive(Clone, PartialEq, prost::Oneof)]
    #[expect(
        clippy::enum_variant_names,
        reason = "OTLP's own names, so code reads this and the OTLP type alike"
    )]
    pub(crate) enum Value {
        #[prost(bytes = "bytes", tag = "1")]
        StringValue(Bytes),
        #[prost(bool, tag = "2")]
        BoolValue(bool),
        #[prost(int64, tag = "3")]
        IntValue(i64),
        #[prost(double, tag = "4")]
        DoubleValue(f64),
    }
}

/// A string field's text: borrowed when it is valid UTF-8 (as OTLP requires), else with
/// replacement characters.
pub(crate) fn text(bytes: &Bytes) -> Cow<'_, str> {
    String::from_utf8_lossy(bytes)
}

#[cfg(test)]
mod tests {
    use prost::Message;
    use sextant_model::otlp;

    use super::*;

    #[test]
    fn reads_what_the_otlp_types_wrote_and_skips_the_rest() {
        let span = otlp::Span {
            trace_id: vec![1; 16],
            span_id: vec![2; 8],
            parent_span_id: vec![3; 8],
            name: "GET /items".into(),
            kind: 2,
            start_time_unix_nano: 10,
            end_time_unix_nano: 20,
            attributes: vec![
                otlp::KeyValue {
                    key: "n".into(),
                    value: Some(otlp::AnyValue {
                        value: Some(otlp::any_value::Value::IntValue(-4)),
                    }),
                },
                otlp::KeyValue {
                    key: "list".into(),
                    value: Some(otlp::AnyValue {
                        value: Some(otlp::any_value::Value::ArrayValue(
                            otlp::ArrayValue::default(),
                        )),
                    }),
                },
            ],
            events: vec![otlp::Event {
                name: "skipped".into(),
                ..Default::default()
            }],
            status: Some(otlp::Status {
                message: "boom".into(),
                code: 2,
            }),
            ..Default::default()
        };
        let data = otlp::TracesData {
            resource_spans: vec![otlp::ResourceSpans {
                scope_spans: vec![otlp::ScopeSpans {
                    spans: vec![span.clone()],
                    ..Default::default()
                }],
                ..Default::default()
            }],
        };
        let request = Request::decode(Bytes::from(data.encode_to_vec())).unwrap();
        let raw = &request.resource_spans[0].scope_spans[0].spans[0];
        assert_eq!(raw.len(), span.encoded_len(), "the span's own bytes");
        let read = Span::decode(raw.clone()).unwrap();
        assert_eq!(read.trace_id.as_ref(), [1; 16]);
        assert_eq!(read.parent_span_id.as_ref(), [3; 8]);
        assert_eq!(text(&read.name), "GET /items");
        assert_eq!(
            (
                read.kind,
                read.start_time_unix_nano,
                read.end_time_unix_nano
            ),
            (2, 10, 20)
        );
        assert_eq!(
            read.attributes[0].value.as_ref().unwrap().value,
            Some(any_value::Value::IntValue(-4))
        );
        assert_eq!(
            read.attributes[1].value.as_ref().unwrap().value,
            None,
            "arrays skipped"
        );
        let status = read.status.unwrap();
        assert_eq!((text(&status.message).as_ref(), status.code), ("boom", 2));
    }
}
