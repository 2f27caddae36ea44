//! The OTLP/HTTP JSON mapping, decoded into the model's prost messages.
//!
//! The mapping is protobuf-JSON with OTLP's exceptions: field names in lowerCamelCase (the proto
//! snake_case names are accepted too), trace and span ids as hex rather than base64, 64-bit
//! integers as strings or numbers, enums as integers or value names, `bytesValue` as base64,
//! non-finite doubles as `"NaN"`/`"Infinity"`/`"-Infinity"`, `null` as the default value, and
//! unknown fields ignored. The payload is untrusted: nothing here may panic, and attribute values
//! nested deeper than [`MAX_VALUE_DEPTH`] are refused. (serde_json stops at 128 levels of JSON
//! first, about 40 levels of values, since each value level takes three; the explicit limit keeps
//! the guarantee should that limit ever be lifted.)
//!
//! Private mirror structs with serde derive do the walking (faster than building a
//! `serde_json::Value` tree first); they are moved, not copied, into the model types.

mod scalars;

use std::cell::Cell;

use serde::Deserialize;
use serde::de::{self, Deserializer};
use sextant_model::otlp::{self, any_value};

use crate::error::{Error, Result};
use scalars::{Base64, Double, Enum, HexId, Int, KindNames, StatusNames};

/// The deepest nesting of array and kvlist attribute values accepted.
pub const MAX_VALUE_DEPTH: u32 = 64;

/// Decodes an OTLP/JSON `ExportTraceServiceRequest`.
pub fn decode_otlp_json(bytes: &[u8]) -> Result<otlp::TracesData> {
    DEPTH.with(|d| d.set(0));
    // serde's derived structs would also take a JSON array; a request is an object.
    if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(Error::decode("json", "expected a JSON object"));
    }
    let data: JTracesData = serde_json::from_slice(bytes).map_err(|e| Error::decode("json", e))?;
    Ok(data.into())
}

thread_local! {
    /// Current `AnyValue` nesting while deserializing on this thread.
    static DEPTH: Cell<u32> = const { Cell::new(0) };
}

/// `null` reads as the type's default, as protobuf-JSON does.
fn nullable<'de, D, T>(d: D) -> std::result::Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct JTracesData {
    #[serde(
        rename = "resourceSpans",
        alias = "resource_spans",
        deserialize_with = "nullable"
    )]
    resource_spans: Vec<JResourceSpans>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct JResourceSpans {
    #[serde(deserialize_with = "nullable")]
    resource: Option<JResource>,
    #[serde(
        rename = "scopeSpans",
        alias = "scope_spans",
        deserialize_with = "nullable"
    )]
    scope_spans: Vec<JScopeSpans>,
    #[serde(
        rename = "schemaUrl",
        alias = "schema_url",
        deserialize_with = "nullable"
    )]
    schema_url: String,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct JResource {
    #[serde(deserialize_with = "nullable")]
    attributes: Vec<JKeyValue>,
    #[serde(rename = "droppedAttributesCount", alias = "dropped_attributes_count")]
    dropped_attributes_count: Int<u32>,
    #[serde(
        rename = "entityRefs",
        alias = "entity_refs",
        deserialize_with = "nullable"
    )]
    entity_refs: Vec<JEntityRef>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct JEntityRef {
    #[serde(
        rename = "schemaUrl",
        alias = "schema_url",
        deserialize_with = "nullable"
    )]
    schema_url: String,
    #[serde(rename = "type", deserialize_with = "nullable")]
    r#type: String,
    #[serde(rename = "idKeys", alias = "id_keys", deserialize_with = "nullable")]
    id_keys: Vec<String>,
    #[serde(
        rename = "descriptionKeys",
        alias = "description_keys",
        deserialize_with = "nullable"
    )]
    description_keys: Vec<String>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct JScopeSpans {
    #[serde(deserialize_with = "nullable")]
    scope: Option<JScope>,
    #[serde(deserialize_with = "nullable")]
    spans: Vec<JSpan>,
    #[serde(
        rename = "schemaUrl",
        alias = "schema_url",
        deserialize_with = "nullable"
    )]
    schema_url: String,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct JScope {
    #[serde(deserialize_with = "nullable")]
    name: String,
    #[serde(deserialize_with = "nullable")]
    version: String,
    #[serde(deserialize_with = "nullable")]
    attributes: Vec<JKeyValue>,
    #[serde(rename = "droppedAttributesCount", alias = "dropped_attributes_count")]
    dropped_attributes_count: Int<u32>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct JSpan {
    #[serde(rename = "traceId", alias = "trace_id")]
    trace_id: HexId,
    #[serde(rename = "spanId", alias = "span_id")]
    span_id: HexId,
    #[serde(
        rename = "traceState",
        alias = "trace_state",
        deserialize_with = "nullable"
    )]
    trace_state: String,
    #[serde(rename = "parentSpanId", alias = "parent_span_id")]
    parent_span_id: HexId,
    flags: Int<u32>,
    #[serde(deserialize_with = "nullable")]
    name: String,
    kind: Enum<KindNames>,
    #[serde(rename = "startTimeUnixNano", alias = "start_time_unix_nano")]
    start_time_unix_nano: Int<u64>,
    #[serde(rename = "endTimeUnixNano", alias = "end_time_unix_nano")]
    end_time_unix_nano: Int<u64>,
    #[serde(deserialize_with = "nullable")]
    attributes: Vec<JKeyValue>,
    #[serde(rename = "droppedAttributesCount", alias = "dropped_attributes_count")]
    dropped_attributes_count: Int<u32>,
    #[serde(deserialize_with = "nullable")]
    events: Vec<JEvent>,
    #[serde(rename = "droppedEventsCount", alias = "dropped_events_count")]
    dropped_events_count: Int<u32>,
    #[serde(deserialize_with = "nullable")]
    links: Vec<JLink>,
    #[serde(rename = "droppedLinksCount", alias = "dropped_links_count")]
    dropped_links_count: Int<u32>,
    #[serde(deserialize_with = "nullable")]
    status: Option<JStatus>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct JEvent {
    #[serde(rename = "timeUnixNano", alias = "time_unix_nano")]
    time_unix_nano: Int<u64>,
    #[serde(deserialize_with = "nullable")]
    name: String,
    #[serde(deserialize_with = "nullable")]
    attributes: Vec<JKeyValue>,
    #[serde(rename = "droppedAttributesCount", alias = "dropped_attributes_count")]
    dropped_attributes_count: Int<u32>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct JLink {
    #[serde(rename = "traceId", alias = "trace_id")]
    trace_id: HexId,
    #[serde(rename = "spanId", alias = "span_id")]
    span_id: HexId,
    #[serde(
        rename = "traceState",
        alias = "trace_state",
        deserialize_with = "nullable"
    )]
    trace_state: String,
    #[serde(deserialize_with = "nullable")]
    attributes: Vec<JKeyValue>,
    #[serde(rename = "droppedAttributesCount", alias = "dropped_attributes_count")]
    dropped_attributes_count: Int<u32>,
    flags: Int<u32>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct JStatus {
    #[serde(deserialize_with = "nullable")]
    message: String,
    code: Enum<StatusNames>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct JKeyValue {
    #[serde(deserialize_with = "nullable")]
    key: String,
    value: Option<JAnyValue>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct JArrayValue {
    #[serde(deserialize_with = "nullable")]
    values: Vec<JAnyValue>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct JKeyValueList {
    #[serde(deserialize_with = "nullable")]
    values: Vec<JKeyValue>,
}

/// The fields of an `AnyValue`; the first one present wins.
#[derive(Deserialize, Default)]
#[serde(default)]
struct JAnyValueFields {
    #[serde(rename = "stringValue", alias = "string_value")]
    string_value: Option<String>,
    #[serde(rename = "boolValue", alias = "bool_value")]
    bool_value: Option<bool>,
    #[serde(rename = "intValue", alias = "int_value")]
    int_value: Option<Int<i64>>,
    #[serde(rename = "doubleValue", alias = "double_value")]
    double_value: Option<Double>,
    #[serde(rename = "arrayValue", alias = "array_value")]
    array_value: Option<JArrayValue>,
    #[serde(rename = "kvlistValue", alias = "kvlist_value")]
    kvlist_value: Option<JKeyValueList>,
    #[serde(rename = "bytesValue", alias = "bytes_value")]
    bytes_value: Option<Base64>,
}

/// An `AnyValue`, with the nesting depth checked on the way in.
#[derive(Default)]
struct JAnyValue(Option<any_value::Value>);

impl<'de> Deserialize<'de> for JAnyValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct Guard;
        impl Drop for Guard {
            fn drop(&mut self) {
                DEPTH.with(|c| c.set(c.get().saturating_sub(1)));
            }
        }
        let depth = DEPTH.with(|c| {
            let v = c.get().saturating_add(1);
            c.set(v);
            v
        });
        let _guard = Guard;
        if depth > MAX_VALUE_DEPTH {
            return Err(de::Error::custom(format_args!(
                "attribute values nested deeper than {MAX_VALUE_DEPTH} levels"
            )));
        }
        let Some(f) = Option::<JAnyValueFields>::deserialize(d)? else {
            return Ok(Self(None));
        };
        use any_value::Value as V;
        let value = if let Some(s) = f.string_value {
            Some(V::StringValue(s))
        } else if let Some(b) = f.bool_value {
            Some(V::BoolValue(b))
        } else if let Some(i) = f.int_value {
            Some(V::IntValue(i.0))
        } else if let Some(x) = f.double_value {
            Some(V::DoubleValue(x.0))
        } else if let Some(a) = f.array_value {
            Some(V::ArrayValue(otlp::ArrayValue {
                values: a.values.into_iter().map(Into::into).collect(),
            }))
        } else if let Some(kv) = f.kvlist_value {
            Some(V::KvlistValue(otlp::KeyValueList {
                values: kv.values.into_iter().map(Into::into).collect(),
            }))
        } else {
            f.bytes_value.map(|b| V::BytesValue(b.0))
        };
        Ok(Self(value))
    }
}

impl From<JTracesData> for otlp::TracesData {
    fn from(d: JTracesData) -> Self {
        Self {
            resource_spans: d.resource_spans.into_iter().map(Into::into).collect(),
        }
    }
}

impl From<JResourceSpans> for otlp::ResourceSpans {
    fn from(r: JResourceSpans) -> Self {
        Self {
            resource: r.resource.map(|r| otlp::Resource {
                attributes: kvs(r.attributes),
                dropped_attributes_count: r.dropped_attributes_count.0,
                entity_refs: r
                    .entity_refs
                    .into_iter()
                    .map(|e| otlp::EntityRef {
                        schema_url: e.schema_url,
                        r#type: e.r#type,
                        id_keys: e.id_keys,
                        description_keys: e.description_keys,
                    })
                    .collect(),
            }),
            scope_spans: r.scope_spans.into_iter().map(Into::into).collect(),
            schema_url: r.schema_url,
        }
    }
}

impl From<JScopeSpans> for otlp::ScopeSpans {
    fn from(s: JScopeSpans) -> Self {
        Self {
            scope: s.scope.map(|s| otlp::InstrumentationScope {
                name: s.name,
                version: s.version,
                attributes: kvs(s.attributes),
                dropped_attributes_count: s.dropped_attributes_count.0,
            }),
            spans: s.spans.into_iter().map(Into::into).collect(),
            schema_url: s.schema_url,
        }
    }
}

impl From<JSpan> for otlp::Span {
    fn from(s: JSpan) -> Self {
        Self {
            trace_id: s.trace_id.0,
            span_id: s.span_id.0,
            trace_state: s.trace_state,
            parent_span_id: s.parent_span_id.0,
            flags: s.flags.0,
            name: s.name,
            kind: s.kind.0,
            start_time_unix_nano: s.start_time_unix_nano.0,
            end_time_unix_nano: s.end_time_unix_nano.0,
            attributes: kvs(s.attributes),
            dropped_attributes_count: s.dropped_attributes_count.0,
            events: s
                .events
                .into_iter()
                .map(|e| otlp::Event {
                    time_unix_nano: e.time_unix_nano.0,
                    name: e.name,
                    attributes: kvs(e.attributes),
                    dropped_attributes_count: e.dropped_attributes_count.0,
                })
                .collect(),
            dropped_events_count: s.dropped_events_count.0,
            links: s
                .links
                .into_iter()
                .map(|l| otlp::Link {
                    trace_id: l.trace_id.0,
                    span_id: l.span_id.0,
                    trace_state: l.trace_state,
                    attributes: kvs(l.attributes),
                    dropped_attributes_count: l.dropped_attributes_count.0,
                    flags: l.flags.0,
                })
                .collect(),
            dropped_links_count: s.dropped_links_count.0,
            status: s.status.map(|st| otlp::Status {
                message: st.message,
                code: st.code.0,
            }),
        }
    }
}

impl From<JKeyValue> for otlp::KeyValue {
    fn from(kv: JKeyValue) -> Self {
        Self {
            key: kv.key,
            value: kv.value.map(Into::into),
        }
    }
}

impl From<JAnyValue> for otlp::AnyValue {
    fn from(v: JAnyValue) -> Self {
        Self { value: v.0 }
    }
}

fn kvs(v: Vec<JKeyValue>) -> Vec<otlp::KeyValue> {
    v.into_iter().map(Into::into).collect()
}
