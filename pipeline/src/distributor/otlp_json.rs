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

use std::cell::Cell;
use std::fmt;

use base64::Engine as _;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use serde::Deserialize;
use serde::de::{self, Deserializer, Visitor};
use sextant_model::otlp::{self, SpanKind, StatusCode, any_value};

use crate::error::{Error, Result};

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

/// An id in hex (OTLP/JSON's exception to protobuf-JSON's base64). The length is not checked
/// here: a wrong-length id rejects only its span, in validation.
#[derive(Default)]
struct HexId(Vec<u8>);

impl<'de> Deserialize<'de> for HexId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let s = Option::<std::borrow::Cow<'de, str>>::deserialize(d)?.unwrap_or_default();
        hex::decode(s.as_bytes())
            .map(HexId)
            .map_err(|e| de::Error::custom(format_args!("invalid hex id {:?}: {e}", Short(&s))))
    }
}

/// Base64 bytes (standard or URL-safe alphabet, padding optional).
#[derive(Default)]
struct Base64(Vec<u8>);

const LENIENT: GeneralPurposeConfig =
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent);
const STANDARD: GeneralPurpose = GeneralPurpose::new(&base64::alphabet::STANDARD, LENIENT);
const URL_SAFE: GeneralPurpose = GeneralPurpose::new(&base64::alphabet::URL_SAFE, LENIENT);

impl<'de> Deserialize<'de> for Base64 {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let s = Option::<std::borrow::Cow<'de, str>>::deserialize(d)?.unwrap_or_default();
        STANDARD
            .decode(s.as_bytes())
            .or_else(|_| URL_SAFE.decode(s.as_bytes()))
            .map(Base64)
            .map_err(|e| de::Error::custom(format_args!("invalid base64 bytesValue: {e}")))
    }
}

/// At most 40 characters of an offending input, for error messages.
struct Short<'a>(&'a str);

impl fmt::Debug for Short<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let end = self
            .0
            .char_indices()
            .nth(40)
            .map_or(self.0.len(), |(i, _)| i);
        fmt::Debug::fmt(&self.0[..end], f)
    }
}

/// An integer written as a JSON number or a decimal string (protobuf-JSON's 64-bit rule, which
/// parsers also accept for 32-bit fields).
#[derive(Default, Clone, Copy)]
struct Int<T>(T);

impl<'de, T> Deserialize<'de> for Int<T>
where
    T: TryFrom<u64> + TryFrom<i64> + std::str::FromStr + Default,
{
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V<T>(std::marker::PhantomData<T>);
        impl<T> Visitor<'_> for V<T>
        where
            T: TryFrom<u64> + TryFrom<i64> + std::str::FromStr + Default,
        {
            type Value = Int<T>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an integer as a number or a string")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> std::result::Result<Self::Value, E> {
                T::try_from(v)
                    .map(Int)
                    .map_err(|_| E::custom(format_args!("integer {v} out of range")))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> std::result::Result<Self::Value, E> {
                T::try_from(v)
                    .map(Int)
                    .map_err(|_| E::custom(format_args!("integer {v} out of range")))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> std::result::Result<Self::Value, E> {
                // Exponent notation of a whole number (`1e3`) is an integer to protobuf-JSON.
                #[expect(clippy::cast_possible_truncation, reason = "checked whole below")]
                let whole = v as i128;
                if v.fract() != 0.0 || !v.is_finite() || whole as f64 != v {
                    return Err(E::custom(format_args!("{v} is not an integer")));
                }
                if let Ok(u) = u64::try_from(whole) {
                    self.visit_u64(u)
                } else if let Ok(i) = i64::try_from(whole) {
                    self.visit_i64(i)
                } else {
                    Err(E::custom(format_args!("integer {v} out of range")))
                }
            }
            fn visit_str<E: de::Error>(self, v: &str) -> std::result::Result<Self::Value, E> {
                v.trim()
                    .parse::<T>()
                    .map(Int)
                    .map_err(|_| E::custom(format_args!("invalid integer string {:?}", Short(v))))
            }
            fn visit_unit<E: de::Error>(self) -> std::result::Result<Self::Value, E> {
                Ok(Int(T::default()))
            }
        }
        d.deserialize_any(V(std::marker::PhantomData))
    }
}

/// A double written as a number, a numeric string, or `"NaN"`, `"Infinity"`, `"-Infinity"`.
#[derive(Default, Clone, Copy)]
struct Double(f64);

impl<'de> Deserialize<'de> for Double {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Double;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a number or \"NaN\", \"Infinity\", \"-Infinity\"")
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> std::result::Result<Double, E> {
                Ok(Double(v))
            }
            #[expect(clippy::cast_precision_loss, reason = "JSON numbers are doubles")]
            fn visit_u64<E: de::Error>(self, v: u64) -> std::result::Result<Double, E> {
                Ok(Double(v as f64))
            }
            #[expect(clippy::cast_precision_loss, reason = "JSON numbers are doubles")]
            fn visit_i64<E: de::Error>(self, v: i64) -> std::result::Result<Double, E> {
                Ok(Double(v as f64))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> std::result::Result<Double, E> {
                match v {
                    "NaN" => Ok(Double(f64::NAN)),
                    "Infinity" => Ok(Double(f64::INFINITY)),
                    "-Infinity" => Ok(Double(f64::NEG_INFINITY)),
                    _ => v
                        .trim()
                        .parse()
                        .map(Double)
                        .map_err(|_| E::custom(format_args!("invalid double {:?}", Short(v)))),
                }
            }
        }
        d.deserialize_any(V)
    }
}

/// The value names an enum accepts besides its integers.
trait EnumNames {
    fn from_name(name: &str) -> Option<i32>;
}

#[derive(Default)]
struct KindNames;
impl EnumNames for KindNames {
    fn from_name(name: &str) -> Option<i32> {
        SpanKind::from_proto_name(name).map(|k| k as i32)
    }
}

#[derive(Default)]
struct StatusNames;
impl EnumNames for StatusNames {
    fn from_name(name: &str) -> Option<i32> {
        StatusCode::from_proto_name(name).map(|k| k as i32)
    }
}

/// An enum as an integer or its value name (`"SPAN_KIND_SERVER"`).
#[derive(Default)]
struct Enum<N>(i32, std::marker::PhantomData<N>);

impl<'de, N: EnumNames> Deserialize<'de> for Enum<N> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V<N>(std::marker::PhantomData<N>);
        impl<N: EnumNames> Visitor<'_> for V<N> {
            type Value = Enum<N>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an enum value as an integer or its name")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> std::result::Result<Self::Value, E> {
                i32::try_from(v)
                    .map(|v| Enum(v, std::marker::PhantomData))
                    .map_err(|_| E::custom(format_args!("enum value {v} out of range")))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> std::result::Result<Self::Value, E> {
                i32::try_from(v)
                    .map(|v| Enum(v, std::marker::PhantomData))
                    .map_err(|_| E::custom(format_args!("enum value {v} out of range")))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> std::result::Result<Self::Value, E> {
                N::from_name(v)
                    .or_else(|| v.parse().ok())
                    .map(|v| Enum(v, std::marker::PhantomData))
                    .ok_or_else(|| E::custom(format_args!("unknown enum value {:?}", Short(v))))
            }
            fn visit_unit<E: de::Error>(self) -> std::result::Result<Self::Value, E> {
                Ok(Enum(0, std::marker::PhantomData))
            }
        }
        d.deserialize_any(V(std::marker::PhantomData))
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
