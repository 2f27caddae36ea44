//! Record batches of schema v1 back to OTLP: rows of one trace regrouped by resource and scope.

use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int32Type, Int64Type, UInt32Type, UInt64Type};
use arrow_array::{Array, RecordBatch};
use prost::Message;
use sextant_model::otlp::{
    AnyValue, KeyValue, ResourceSpans, ScopeSpans, Span, Status, TracesData, any_value::Value,
};

use super::schema;
use crate::error::{Error, Result};

/// Appends the spans of `batch`'s rows to `out`, grouping them by resource and scope in the
/// order they first appear.
pub(crate) fn append_spans(batch: &RecordBatch, out: &mut Grouper) -> Result<()> {
    let col = |name: &'static str| {
        batch.column_by_name(name).ok_or(Error::BlockFormat {
            reason: format!("missing column {name}"),
        })
    };
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
    let trace_state = col(schema::TRACE_STATE)?.as_string::<i32>();
    let status_code = col(schema::STATUS_CODE)?.as_primitive::<Int32Type>();
    let status_message = col(schema::STATUS_MESSAGE)?.as_string::<i32>();
    let attributes = col(schema::ATTRIBUTES)?.as_list::<i32>();
    let dropped_attrs = col(schema::DROPPED_ATTRIBUTES)?.as_primitive::<UInt32Type>();
    let events = col(schema::EVENTS)?.as_binary::<i32>();
    let dropped_events = col(schema::DROPPED_EVENTS)?.as_primitive::<UInt32Type>();
    let links = col(schema::LINKS)?.as_binary::<i32>();
    let dropped_links = col(schema::DROPPED_LINKS)?.as_primitive::<UInt32Type>();
    let span_trace_id = col(schema::SPAN_TRACE_ID)?.as_binary::<i32>();

    let entries = attributes.values().as_struct();
    let key = entries.column(0).as_string::<i32>();
    let str_v = entries.column(1).as_string::<i32>();
    let int_v = entries.column(2).as_primitive::<Int64Type>();
    let double_v = entries.column(3).as_primitive::<Float64Type>();
    let bool_v = entries.column(4).as_boolean();
    let any_v = entries.column(5).as_binary::<i32>();

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
        let range =
            attributes.value_offsets()[row] as usize..attributes.value_offsets()[row + 1] as usize;
        let mut attrs = Vec::with_capacity(range.len());
        for i in range {
            let value = if !str_v.is_null(i) {
                Some(any(Value::StringValue(str_v.value(i).to_owned())))
            } else if !int_v.is_null(i) {
                Some(any(Value::IntValue(int_v.value(i))))
            } else if !double_v.is_null(i) {
                Some(any(Value::DoubleValue(double_v.value(i))))
            } else if !bool_v.is_null(i) {
                Some(any(Value::BoolValue(bool_v.value(i))))
            } else if !any_v.is_null(i) {
                Some(
                    AnyValue::decode(any_v.value(i)).map_err(|e| Error::BlockFormat {
                        reason: format!("bad attribute value: {e}"),
                    })?,
                )
            } else {
                None
            };
            attrs.push(KeyValue {
                key: key.value(i).to_owned(),
                value,
            });
        }
        let shell = |column: &arrow_array::BinaryArray, what: &str| -> Result<Span> {
            if column.is_null(row) {
                return Ok(Span::default());
            }
            Span::decode(column.value(row)).map_err(|e| Error::BlockFormat {
                reason: format!("bad {what}: {e}"),
            })
        };
        let span = Span {
            trace_id: if span_trace_id.is_null(row) {
                trace_id.value(row).to_vec()
            } else {
                span_trace_id.value(row).to_vec()
            },
            span_id: span_id.value(row).to_vec(),
            trace_state: trace_state.value(row).to_owned(),
            parent_span_id,
            flags: flags.value(row),
            name: name.value(row).to_owned(),
            kind: kind.value(row),
            start_time_unix_nano: start,
            end_time_unix_nano: start.wrapping_add(duration.value(row) as u64),
            attributes: attrs,
            dropped_attributes_count: dropped_attrs.value(row),
            events: shell(events, "events")?.events,
            dropped_events_count: dropped_events.value(row),
            links: shell(links, "links")?.links,
            dropped_links_count: dropped_links.value(row),
            status: (!status_code.is_null(row)).then(|| Status {
                message: status_message.value(row).to_owned(),
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
