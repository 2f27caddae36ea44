//! Record batches of schema v1 back to OTLP: rows of one trace regrouped by resource and scope.

use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int32Type, Int64Type, UInt32Type, UInt64Type};
use arrow_array::{
    Array, BinaryArray, BooleanArray, Float64Array, Int64Array, ListArray, RecordBatch,
    StringArray, UInt32Array,
};
use prost::Message;
use sextant_model::otlp::{
    AnyValue, KeyValue, ResourceSpans, ScopeSpans, Span, Status, TracesData, any_value::Value,
};

use super::schema;
use crate::error::{Error, Result};

/// Appends the spans of `batch`'s rows to `out`, grouping them by resource and scope in the
/// order they first appear. The columns a [`Projection`](super::Projection) may leave out can
/// be absent from `batch`: the spans then have those parts empty.
pub(crate) fn append_spans(batch: &RecordBatch, out: &mut Grouper) -> Result<()> {
    let col = |name: &'static str| {
        batch.column_by_name(name).ok_or(Error::BlockFormat {
            reason: format!("missing column {name}"),
        })
    };
    let opt = |name: &'static str| batch.column_by_name(name);
    let trace_id = col(schema::TRACE_ID)?.as_fixed_size_binary();
    let trace_start = col(schema::TRACE_START)?.as_primitive::<UInt64Type>();
    let resource = col(schema::RESOURCE)?.as_binary::<i32>();
    let scope = col(schema::SCOPE)?.as_binary::<i32>();
    let span_id = col(schema::SPAN_ID)?.as_binary::<i32>();
    let parent_pos = col(schema::PARENT_POS)?.as_primitive::<Int32Type>();
    let parent_id = col(schema::PARENT_SPAN_ID)?.as_binary::<i32>();
    let start_offset = col(schema::START_OFFSET)?.as_primitive::<Int64Type>();
    let duration = col(schema::DURATION)?.as_primitive::<Int64Type>();
    let name = col(schema::NAME)?.as_string::<i32>();
    let kind = col(schema::KIND)?.as_primitive::<Int32Type>();
    let flags = col(schema::FLAGS)?.as_primitive::<UInt32Type>();
    let status_code = col(schema::STATUS_CODE)?.as_primitive::<Int32Type>();
    let span_trace_id = col(schema::SPAN_TRACE_ID)?.as_binary::<i32>();
    // Optional parts: absent when the projection leaves them out.
    let trace_state = opt(schema::TRACE_STATE).map(|c| c.as_string::<i32>());
    let status_message = opt(schema::STATUS_MESSAGE).map(|c| c.as_string::<i32>());
    let attributes = opt(schema::ATTRIBUTES).map(|c| Attributes::new(c.as_list::<i32>()));
    let dropped_attrs = opt(schema::DROPPED_ATTRIBUTES).map(|c| c.as_primitive::<UInt32Type>());
    let events = opt(schema::EVENTS).map(|c| c.as_binary::<i32>());
    let dropped_events = opt(schema::DROPPED_EVENTS).map(|c| c.as_primitive::<UInt32Type>());
    let links = opt(schema::LINKS).map(|c| c.as_binary::<i32>());
    let dropped_links = opt(schema::DROPPED_LINKS).map(|c| c.as_primitive::<UInt32Type>());
    let count = |column: Option<&UInt32Array>, row: usize| column.map_or(0, |c| c.value(row));
    let text = |column: Option<&StringArray>, row: usize| {
        column.map_or_else(String::new, |c| c.value(row).to_owned())
    };

    // Row index of the first row of the current trace, for parent positions.
    let mut trace_first = 0;
    for row in 0..batch.num_rows() {
        if row > 0 && trace_id.value(row) != trace_id.value(row - 1) {
            trace_first = row;
        }
        let parent_span_id = match parent_pos.value(row) {
            p if p >= 0 => {
                let at = trace_first + p as usize;
                if at >= batch.num_rows() {
                    return Err(Error::BlockFormat {
                        reason: format!("parent position {p} out of range"),
                    });
                }
                span_id.value(at).to_vec()
            }
            _ if parent_id.is_null(row) => Vec::new(),
            _ => parent_id.value(row).to_vec(),
        };
        let start = trace_start
            .value(row)
            .wrapping_add(start_offset.value(row) as u64);
        let attrs = match &attributes {
            Some(a) => a.of(row)?,
            None => Vec::new(),
        };
        let shell = |column: Option<&BinaryArray>, what: &str| -> Result<Span> {
            match column {
                Some(c) if !c.is_null(row) => {
                    Span::decode(c.value(row)).map_err(|e| Error::BlockFormat {
                        reason: format!("bad {what}: {e}"),
                    })
                }
                _ => Ok(Span::default()),
            }
        };
        let span = Span {
            trace_id: if span_trace_id.is_null(row) {
                trace_id.value(row).to_vec()
            } else {
                span_trace_id.value(row).to_vec()
            },
            span_id: span_id.value(row).to_vec(),
            trace_state: text(trace_state, row),
            parent_span_id,
            flags: flags.value(row),
            name: name.value(row).to_owned(),
            kind: kind.value(row),
            start_time_unix_nano: start,
            end_time_unix_nano: start.wrapping_add(duration.value(row) as u64),
            attributes: attrs,
            dropped_attributes_count: count(dropped_attrs, row),
            events: shell(events, "events")?.events,
            dropped_events_count: count(dropped_events, row),
            links: shell(links, "links")?.links,
            dropped_links_count: count(dropped_links, row),
            status: (!status_code.is_null(row)).then(|| Status {
                message: text(status_message, row),
                code: status_code.value(row),
            }),
        };
        out.push(resource.value(row), scope.value(row), span)?;
    }
    Ok(())
}

fn any(value: Value) -> AnyValue {
    AnyValue { value: Some(value) }
}

/// The attributes column and its entry fields.
struct Attributes<'a> {
    list: &'a ListArray,
    key: &'a StringArray,
    str_v: &'a StringArray,
    int_v: &'a Int64Array,
    double_v: &'a Float64Array,
    bool_v: &'a BooleanArray,
    any_v: &'a BinaryArray,
}

impl<'a> Attributes<'a> {
    fn new(list: &'a ListArray) -> Self {
        let entries = list.values().as_struct();
        Attributes {
            list,
            key: entries.column(0).as_string::<i32>(),
            str_v: entries.column(1).as_string::<i32>(),
            int_v: entries.column(2).as_primitive::<Int64Type>(),
            double_v: entries.column(3).as_primitive::<Float64Type>(),
            bool_v: entries.column(4).as_boolean(),
            any_v: entries.column(5).as_binary::<i32>(),
        }
    }

    /// The attributes of `row`, in order.
    fn of(&self, row: usize) -> Result<Vec<KeyValue>> {
        let offsets = self.list.value_offsets();
        let range = offsets[row] as usize..offsets[row + 1] as usize;
        let mut attrs = Vec::with_capacity(range.len());
        for i in range {
            let value = if !self.str_v.is_null(i) {
                Some(any(Value::StringValue(self.str_v.value(i).to_owned())))
            } else if !self.int_v.is_null(i) {
                Some(any(Value::IntValue(self.int_v.value(i))))
            } else if !self.double_v.is_null(i) {
                Some(any(Value::DoubleValue(self.double_v.value(i))))
            } else if !self.bool_v.is_null(i) {
                Some(any(Value::BoolValue(self.bool_v.value(i))))
            } else if !self.any_v.is_null(i) {
                Some(
                    AnyValue::decode(self.any_v.value(i)).map_err(|e| Error::BlockFormat {
                        reason: format!("bad attribute value: {e}"),
                    })?,
                )
            } else {
                None
            };
            attrs.push(KeyValue {
                key: self.key.value(i).to_owned(),
                value,
            });
        }
        Ok(attrs)
    }
}

/// Regroups spans under their resource and scope, in first-appearance order.
#[derive(Debug, Default)]
pub(crate) struct Grouper {
    resources: Vec<(Vec<u8>, ResourceSpans, Vec<Vec<u8>>)>,
}

impl Grouper {
    fn push(&mut self, resource: &[u8], scope: &[u8], span: Span) -> Result<()> {
        let r = match self.resources.iter().position(|(b, _, _)| b == resource) {
            Some(r) => r,
            None => {
                let rs = ResourceSpans::decode(resource).map_err(|e| Error::BlockFormat {
                    reason: format!("bad resource: {e}"),
                })?;
                self.resources.push((resource.to_vec(), rs, Vec::new()));
                self.resources.len() - 1
            }
        };
        let (_, rs, scope_keys) = &mut self.resources[r];
        let s = match scope_keys.iter().position(|b| b == scope) {
            Some(s) => s,
            None => {
                let ss = ScopeSpans::decode(scope).map_err(|e| Error::BlockFormat {
                    reason: format!("bad scope: {e}"),
                })?;
                scope_keys.push(scope.to_vec());
                rs.scope_spans.push(ss);
                rs.scope_spans.len() - 1
            }
        };
        rs.scope_spans[s].spans.push(span);
        Ok(())
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.resources.is_empty()
    }

    pub(crate) fn finish(self) -> TracesData {
        TracesData {
            resource_spans: self.resources.into_iter().map(|(_, rs, _)| rs).collect(),
        }
    }
}
