//! An independent reader of the two JSON dialects of the OTLP trace model, written from their
//! specifications so that the server's encoder is checked against something other than itself:
//! - Tempo's protobuf-JSON (trace-by-ID responses): IDs base64, 64-bit integers as strings,
//!   enums as names — read strictly;
//! - OTLP/JSON (ingest): IDs hex, 64-bit integers as strings or numbers, enums as numbers.
//!
//! Unknown fields are errors in both, so a misspelt or legacy field name fails a test.

use anyhow::{Context, Result, anyhow, bail, ensure};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Map, Value as Json};
use sextant_model::otlp::{
    AnyValue, ArrayValue, EntityRef, Event, InstrumentationScope, KeyValue, KeyValueList, Link,
    Resource, ResourceSpans, ScopeSpans, Span, SpanKind, Status, StatusCode, TracesData,
    any_value::Value,
};

/// Which JSON mapping a document follows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dialect {
    /// Tempo's query responses (gogo jsonpb): base64 IDs, int64 as strings, enum names.
    Tempo,
    /// OTLP/JSON as clients send it: hex IDs, int64 as string or number, enum numbers.
    Otlp,
}

/// Read a list of `ResourceSpans` (the value of `batches` or `resourceSpans`).
pub fn resource_spans_from_json(list: &Json, dialect: Dialect) -> Result<TracesData> {
    let r = Reader { dialect };
    let list = list.as_array().context("resource spans: not an array")?;
    let resource_spans = list
        .iter()
        .enumerate()
        .map(|(i, rs)| {
            r.resource_spans(rs)
                .with_context(|| format!("resourceSpans[{i}]"))
        })
        .collect::<Result<_>>()?;
    Ok(TracesData { resource_spans })
}

struct Reader {
    dialect: Dialect,
}

fn object<'a>(v: &'a Json, allowed: &[&str]) -> Result<&'a Map<String, Json>> {
    let m = v
        .as_object()
        .ok_or_else(|| anyhow!("expected an object, got {v}"))?;
    for k in m.keys() {
        ensure!(allowed.contains(&k.as_str()), "unknown field {k:?}");
    }
    Ok(m)
}

fn list<'a>(m: &'a Map<String, Json>, key: &str) -> Result<&'a [Json]> {
    match m.get(key) {
        None => Ok(&[]),
        Some(v) => Ok(v
            .as_array()
            .with_context(|| format!("{key}: not an array"))?),
    }
}

fn string(m: &Map<String, Json>, key: &str) -> Result<String> {
    match m.get(key) {
        None => Ok(String::new()),
        Some(v) => Ok(v
            .as_str()
            .with_context(|| format!("{key}: not a string"))?
            .to_owned()),
    }
}

fn u32_field(m: &Map<String, Json>, key: &str) -> Result<u32> {
    match m.get(key) {
        None => Ok(0),
        Some(v) => {
            let n = v
                .as_u64()
                .with_context(|| format!("{key}: not a 32-bit number: {v}"))?;
            Ok(u32::try_from(n).with_context(|| format!("{key}: out of range"))?)
        }
    }
}

impl Reader {
    fn resource_spans(&self, v: &Json) -> Result<ResourceSpans> {
        let m = object(v, &["resource", "scopeSpans", "schemaUrl"])?;
        let resource = match m.get("resource") {
            None => None,
            Some(r) => Some(self.resource(r).context("resource")?),
        };
        let scope_spans = list(m, "scopeSpans")?
            .iter()
            .enumerate()
            .map(|(i, s)| {
                self.scope_spans(s)
                    .with_context(|| format!("scopeSpans[{i}]"))
            })
            .collect::<Result<_>>()?;
        Ok(ResourceSpans {
            resource,
            scope_spans,
            schema_url: string(m, "schemaUrl")?,
        })
    }

    fn resource(&self, v: &Json) -> Result<Resource> {
        let m = object(v, &["attributes", "droppedAttributesCount", "entityRefs"])?;
        let entity_refs = list(m, "entityRefs")?
            .iter()
            .map(|e| {
                let m = object(e, &["schemaUrl", "type", "idKeys", "descriptionKeys"])?;
                let strings = |key: &str| -> Result<Vec<String>> {
                    list(m, key)?
                        .iter()
                        .map(|s| s.as_str().map(str::to_owned).context("not a string"))
                        .collect()
                };
                Ok(EntityRef {
                    schema_url: string(m, "schemaUrl")?,
                    r#type: string(m, "type")?,
                    id_keys: strings("idKeys")?,
                    description_keys: strings("descriptionKeys")?,
                })
            })
            .collect::<Result<_>>()?;
        Ok(Resource {
            attributes: self.attributes(m)?,
            dropped_attributes_count: u32_field(m, "droppedAttributesCount")?,
            entity_refs,
        })
    }

    fn scope_spans(&self, v: &Json) -> Result<ScopeSpans> {
        let m = object(v, &["scope", "spans", "schemaUrl"])?;
        let scope = match m.get("scope") {
            None => None,
            Some(s) => {
                let sm = object(
                    s,
                    &["name", "version", "attributes", "droppedAttributesCount"],
                )
                .context("scope")?;
                Some(InstrumentationScope {
                    name: string(sm, "name")?,
                    version: string(sm, "version")?,
                    attributes: self.attributes(sm)?,
                    dropped_attributes_count: u32_field(sm, "droppedAttributesCount")?,
                })
            }
        };
        let spans = list(m, "spans")?
            .iter()
            .enumerate()
            .map(|(i, s)| self.span(s).with_context(|| format!("spans[{i}]")))
            .collect::<Result<_>>()?;
        Ok(ScopeSpans {
            scope,
            spans,
            schema_url: string(m, "schemaUrl")?,
        })
    }

    fn span(&self, v: &Json) -> Result<Span> {
        let m = object(
            v,
            &[
                "traceId",
                "spanId",
                "traceState",
                "parentSpanId",
                "flags",
                "name",
                "kind",
                "startTimeUnixNano",
                "endTimeUnixNano",
                "attributes",
                "droppedAttributesCount",
                "events",
                "droppedEventsCount",
                "links",
                "droppedLinksCount",
                "status",
            ],
        )?;
        let kind = match m.get("kind") {
            None => 0,
            Some(k) => self
                .enumeration(k, |n| SpanKind::from_proto_name(n).map(|k| k as i32))
                .context("kind")?,
        };
        let status = match m.get("status") {
            None => None,
            Some(s) => {
                let sm = object(s, &["message", "code"]).context("status")?;
                let code = match sm.get("code") {
                    None => 0,
                    Some(c) => self
                        .enumeration(c, |n| StatusCode::from_proto_name(n).map(|c| c as i32))
                        .context("status.code")?,
                };
                Some(Status {
                    message: string(sm, "message")?,
                    code,
                })
            }
        };
        let events = list(m, "events")?
            .iter()
            .enumerate()
            .map(|(i, e)| self.event(e).with_context(|| format!("events[{i}]")))
            .collect::<Result<_>>()?;
        let links = list(m, "links")?
            .iter()
            .enumerate()
            .map(|(i, l)| self.link(l).with_context(|| format!("links[{i}]")))
            .collect::<Result<_>>()?;
        Ok(Span {
            trace_id: self.id(m, "traceId")?,
            span_id: self.id(m, "spanId")?,
            trace_state: string(m, "traceState")?,
            parent_span_id: self.id(m, "parentSpanId")?,
            flags: u32_field(m, "flags")?,
            name: string(m, "name")?,
            kind,
            start_time_unix_nano: self.u64_field(m, "startTimeUnixNano")?,
            end_time_unix_nano: self.u64_field(m, "endTimeUnixNano")?,
            attributes: self.attributes(m)?,
            dropped_attributes_count: u32_field(m, "droppedAttributesCount")?,
            events,
            dropped_events_count: u32_field(m, "droppedEventsCount")?,
            links,
            dropped_links_count: u32_field(m, "droppedLinksCount")?,
            status,
        })
    }

    fn event(&self, v: &Json) -> Result<Event> {
        let m = object(
            v,
            &[
                "timeUnixNano",
                "name",
                "attributes",
                "droppedAttributesCount",
            ],
        )?;
        Ok(Event {
            time_unix_nano: self.u64_field(m, "timeUnixNano")?,
            name: string(m, "name")?,
            attributes: self.attributes(m)?,
            dropped_attributes_count: u32_field(m, "droppedAttributesCount")?,
        })
    }

    fn link(&self, v: &Json) -> Result<Link> {
        let m = object(
            v,
            &[
                "traceId",
                "spanId",
                "traceState",
                "attributes",
                "droppedAttributesCount",
                "flags",
            ],
        )?;
        Ok(Link {
            trace_id: self.id(m, "traceId")?,
            span_id: self.id(m, "spanId")?,
            trace_state: string(m, "traceState")?,
            attributes: self.attributes(m)?,
            dropped_attributes_count: u32_field(m, "droppedAttributesCount")?,
            flags: u32_field(m, "flags")?,
        })
    }

    fn enumeration(&self, v: &Json, by_name: impl Fn(&str) -> Option<i32>) -> Result<i32> {
        match (self.dialect, v) {
            (_, Json::String(name)) => {
                by_name(name).with_context(|| format!("unknown enum name {name:?}"))
            }
            (Dialect::Otlp, Json::Number(n)) => {
                let n = n.as_i64().context("enum number not an integer")?;
                Ok(i32::try_from(n)?)
            }
            _ => bail!("enum must be a name in {:?} JSON, got {v}", self.dialect),
        }
    }

    fn id(&self, m: &Map<String, Json>, key: &str) -> Result<Vec<u8>> {
        let Some(v) = m.get(key) else {
            return Ok(Vec::new());
        };
        let s = v.as_str().with_context(|| format!("{key}: not a string"))?;
        match self.dialect {
            Dialect::Tempo => STANDARD
                .decode(s)
                .with_context(|| format!("{key}: {s:?} is not base64")),
            Dialect::Otlp => hex::decode(s).with_context(|| format!("{key}: {s:?} is not hex")),
        }
    }

    fn u64_field(&self, m: &Map<String, Json>, key: &str) -> Result<u64> {
        match m.get(key) {
            None => Ok(0),
            Some(Json::String(s)) => s
                .parse()
                .with_context(|| format!("{key}: {s:?} is not a u64")),
            Some(Json::Number(n)) if self.dialect == Dialect::Otlp => n
                .as_u64()
                .with_context(|| format!("{key}: {n} is not a u64")),
            Some(v) => bail!(
                "{key}: 64-bit integers are strings in {:?} JSON, got {v}",
                self.dialect
            ),
        }
    }

    fn attributes(&self, m: &Map<String, Json>) -> Result<Vec<KeyValue>> {
        self.key_values(list(m, "attributes")?)
            .context("attributes")
    }

    fn key_values(&self, items: &[Json]) -> Result<Vec<KeyValue>> {
        items
            .iter()
            .map(|kv| {
                let m = object(kv, &["key", "value"])?;
                let key = string(m, "key")?;
                let value = match m.get("value") {
                    None => None,
                    Some(v) => Some(
                        self.any_value(v)
                            .with_context(|| format!("value of {key:?}"))?,
                    ),
                };
                Ok(KeyValue { key, value })
            })
            .collect()
    }

    fn any_value(&self, v: &Json) -> Result<AnyValue> {
        let m = object(
            v,
            &[
                "stringValue",
                "boolValue",
                "intValue",
                "doubleValue",
                "arrayValue",
                "kvlistValue",
                "bytesValue",
            ],
        )?;
        ensure!(m.len() <= 1, "AnyValue with more than one value: {v}");
        let Some((k, inner)) = m.iter().next() else {
            return Ok(AnyValue { value: None });
        };
        let value = match k.as_str() {
            "stringValue" => Value::StringValue(inner.as_str().context("stringValue")?.to_owned()),
            "boolValue" => Value::BoolValue(inner.as_bool().context("boolValue")?),
            "intValue" => match inner {
                Json::String(s) => Value::IntValue(s.parse().context("intValue")?),
                Json::Number(n) if self.dialect == Dialect::Otlp => {
                    Value::IntValue(n.as_i64().context("intValue")?)
                }
                _ => bail!(
                    "intValue must be a string in {:?} JSON, got {inner}",
                    self.dialect
                ),
            },
            "doubleValue" => Value::DoubleValue(match inner {
                Json::Number(n) => n.as_f64().context("doubleValue")?,
                Json::String(s) => s.parse().context("doubleValue")?,
                _ => bail!("doubleValue: {inner}"),
            }),
            "arrayValue" => {
                let am = object(inner, &["values"])?;
                let values = list(am, "values")?
                    .iter()
                    .map(|x| self.any_value(x))
                    .collect::<Result<_>>()?;
                Value::ArrayValue(ArrayValue { values })
            }
            "kvlistValue" => {
                let km = object(inner, &["values"])?;
                Value::KvlistValue(KeyValueList {
                    values: self.key_values(list(km, "values")?)?,
                })
            }
            "bytesValue" => {
                let s = inner.as_str().context("bytesValue")?;
                Value::BytesValue(STANDARD.decode(s).context("bytesValue: not base64")?)
            }
            _ => unreachable!("object() allowed only the names above"),
        };
        Ok(AnyValue { value: Some(value) })
    }
}

#[cfg(test)]
mod tests;
