//! OTLP traces to Arrow record batches of schema v1: flatten, sort, compute the per-trace
//! columns, and cut row groups at trace boundaries.

use std::collections::HashMap;
use std::sync::Arc;

use arrow_array::builder::{
    BinaryBuilder, BooleanBuilder, FixedSizeBinaryBuilder, Float64Builder, Int32Builder,
    Int64Builder, StringBuilder, UInt32Builder, UInt64Builder,
};
use arrow_array::{ArrayRef, ListArray, RecordBatch, StructArray};
use arrow_buffer::OffsetBuffer;
use prost::Message;
use sextant_model::TraceId;
use sextant_model::otlp::{
    AnyValue, KeyValue, ResourceSpans, ScopeSpans, Span, TracesData, any_value::Value,
};

use super::schema;
use crate::error::{Error, Result};

/// One span with the interned resource and scope it came with.
pub(crate) struct Row {
    pub(crate) trace_id: TraceId,
    resource: usize,
    scope: usize,
    pub(crate) span: Span,
}

/// Flattened, sorted spans of a block plus the interned resources and scopes.
pub(crate) struct Rows {
    pub(crate) rows: Vec<Row>,
    resources: Vec<(Vec<u8>, String)>,
    scopes: Vec<Vec<u8>>,
}

impl Rows {
    /// Flattens and sorts by (trace ID, start time, span ID); ties keep input order.
    pub(crate) fn new(traces: Vec<(TraceId, TracesData)>) -> Self {
        let mut resources: Vec<(Vec<u8>, String)> = Vec::new();
        let mut resource_ix: HashMap<Vec<u8>, usize> = HashMap::new();
        let mut scopes: Vec<Vec<u8>> = Vec::new();
        let mut scope_ix: HashMap<Vec<u8>, usize> = HashMap::new();
        let mut rows = Vec::new();
        for (trace_id, data) in traces {
            for rs in data.resource_spans {
                let service = rs
                    .resource
                    .as_ref()
                    .and_then(|r| string_attr(&r.attributes, "service.name"))
                    .unwrap_or_default();
                let shell = ResourceSpans {
                    resource: rs.resource,
                    scope_spans: Vec::new(),
                    schema_url: rs.schema_url,
                }
                .encode_to_vec();
                let resource = *resource_ix.entry(shell.clone()).or_insert_with(|| {
                    resources.push((shell, service));
                    resources.len() - 1
                });
                for ss in rs.scope_spans {
                    let shell = ScopeSpans {
                        scope: ss.scope,
                        spans: Vec::new(),
                        schema_url: ss.schema_url,
                    }
                    .encode_to_vec();
                    let scope = *scope_ix.entry(shell.clone()).or_insert_with(|| {
                        scopes.push(shell);
                        scopes.len() - 1
                    });
                    rows.extend(ss.spans.into_iter().map(|span| Row {
                        trace_id,
                        resource,
                        scope,
                        span,
                    }));
                }
            }
        }
        rows.sort_by(|a, b| {
            (a.trace_id.0, a.span.start_time_unix_nano, &a.span.span_id).cmp(&(
                b.trace_id.0,
                b.span.start_time_unix_nano,
                &b.span.span_id,
            ))
        });
        Self {
            rows,
            resources,
            scopes,
        }
    }

    /// Row ranges of whole traces, each about `target` rows (a trace is never split).
    pub(crate) fn row_groups(&self, target: usize) -> Vec<std::ops::Range<usize>> {
        let mut groups = Vec::new();
        let mut start = 0;
        for (i, row) in self.rows.iter().enumerate() {
            let trace_starts = i > 0 && self.rows[i - 1].trace_id != row.trace_id;
            if trace_starts && i - start >= target {
                groups.push(start..i);
                start = i;
            }
        }
        if start < self.rows.len() {
            groups.push(start..self.rows.len());
        }
        groups
    }

    /// The record batch of the rows in `range`, which must hold whole traces.
    pub(crate) fn batch(&self, range: std::ops::Range<usize>) -> Result<RecordBatch> {
        let rows = &self.rows[range];
        let n = rows.len();
        let mut trace_id = FixedSizeBinaryBuilder::with_capacity(n, 16);
        let mut trace_start = UInt64Builder::with_capacity(n);
        let mut trace_duration = UInt64Builder::with_capacity(n);
        let mut root_service = StringBuilder::new();
        let mut root_name = StringBuilder::new();
        let mut service = StringBuilder::new();
        let mut resource = BinaryBuilder::new();
        let mut scope = BinaryBuilder::new();
        let mut span_id = BinaryBuilder::new();
        let mut parent_pos = Int32Builder::with_capacity(n);
        let mut parent_id = BinaryBuilder::new();
        let mut start_offset = Int64Builder::with_capacity(n);
        let mut duration = Int64Builder::with_capacity(n);
        let mut name = StringBuilder::new();
        let mut kind = Int32Builder::with_capacity(n);
        let mut flags = UInt32Builder::with_capacity(n);
        let mut trace_state = StringBuilder::new();
        let mut status_code = Int32Builder::with_capacity(n);
        let mut status_message = StringBuilder::new();
        let mut attrs = AttrBuilder::default();
        let mut dropped_attrs = UInt32Builder::with_capacity(n);
        let mut events = BinaryBuilder::new();
        let mut dropped_events = UInt32Builder::with_capacity(n);
        let mut links = BinaryBuilder::new();
        let mut dropped_links = UInt32Builder::with_capacity(n);
        let mut span_trace_id = BinaryBuilder::new();

        let mut at = 0;
        while at < n {
            let id = rows[at].trace_id;
            let end = at + rows[at..].partition_point(|r| r.trace_id == id);
            let trace = &rows[at..end];
            let facts = TraceFacts::new(trace, &self.resources);
            for (pos, row) in trace.iter().enumerate() {
                let span = &row.span;
                trace_id
                    .append_value(id.0)
                    .map_err(|e| Error::arrow("append trace id", e))?;
                trace_start.append_value(facts.start);
                trace_duration.append_value(facts.duration);
                root_service.append_value(&facts.root_service);
                root_name.append_value(&facts.root_name);
                let (res_bytes, res_service) = &self.resources[row.resource];
                service.append_value(res_service);
                resource.append_value(res_bytes);
                scope.append_value(&self.scopes[row.scope]);
                span_id.append_value(&span.span_id);
                match facts.parents[pos] {
                    Some(p) => {
                        parent_pos.append_value(p as i32);
                        parent_id.append_null();
                    }
                    None if span.parent_span_id.is_empty() => {
                        parent_pos.append_value(-1);
                        parent_id.append_null();
                    }
                    None => {
                        parent_pos.append_value(-1);
                        parent_id.append_value(&span.parent_span_id);
                    }
                }
                start_offset
                    .append_value(span.start_time_unix_nano.wrapping_sub(facts.start) as i64);
                duration.append_value(
                    span.end_time_unix_nano
                        .wrapping_sub(span.start_time_unix_nano) as i64,
                );
                name.append_value(&span.name);
                kind.append_value(span.kind);
                flags.append_value(span.flags);
                trace_state.append_value(&span.trace_state);
                match &span.status {
                    Some(status) => {
                        status_code.append_value(status.code);
                        status_message.append_value(&status.message);
                    }
                    None => {
                        status_code.append_null();
                        status_message.append_value("");
                    }
                }
                attrs.push_span(&span.attributes);
                dropped_attrs.append_value(span.dropped_attributes_count);
                if span.events.is_empty() {
                    events.append_null();
                } else {
                    let shell = Span {
                        events: span.events.clone(),
                        ..Default::default()
                    };
                    events.append_value(shell.encode_to_vec());
                }
                dropped_events.append_value(span.dropped_events_count);
                if span.links.is_empty() {
                    links.append_null();
                } else {
                    let shell = Span {
                        links: span.links.clone(),
                        ..Default::default()
                    };
                    links.append_value(shell.encode_to_vec());
                }
                dropped_links.append_value(span.dropped_links_count);
                if span.trace_id.as_slice() == id.0.as_slice() {
                    span_trace_id.append_null();
                } else {
                    span_trace_id.append_value(&span.trace_id);
                }
            }
            at = end;
        }

        let columns: Vec<ArrayRef> = vec![
            Arc::new(trace_id.finish()),
            Arc::new(trace_start.finish()),
            Arc::new(trace_duration.finish()),
            Arc::new(root_service.finish()),
            Arc::new(root_name.finish()),
            Arc::new(service.finish()),
            Arc::new(resource.finish()),
            Arc::new(scope.finish()),
            Arc::new(span_id.finish()),
            Arc::new(parent_pos.finish()),
            Arc::new(parent_id.finish()),
            Arc::new(start_offset.finish()),
            Arc::new(duration.finish()),
            Arc::new(name.finish()),
            Arc::new(kind.finish()),
            Arc::new(flags.finish()),
            Arc::new(trace_state.finish()),
            Arc::new(status_code.finish()),
            Arc::new(status_message.finish()),
            attrs.finish()?,
            Arc::new(dropped_attrs.finish()),
            Arc::new(events.finish()),
            Arc::new(dropped_events.finish()),
            Arc::new(links.finish()),
            Arc::new(dropped_links.finish()),
            Arc::new(span_trace_id.finish()),
        ];
        RecordBatch::try_new(schema::schema(), columns)
            .map_err(|e| Error::arrow("build record batch", e))
    }
}

/// What the rows of one trace share, computed at write time for TraceQL.
struct TraceFacts {
    start: u64,
    duration: u64,
    root_service: String,
    root_name: String,
    /// For each row of the trace, the row index of its parent within the trace.
    parents: Vec<Option<usize>>,
}

impl TraceFacts {
    fn new(trace: &[Row], resources: &[(Vec<u8>, String)]) -> Self {
        let start = trace
            .iter()
            .map(|r| r.span.start_time_unix_nano)
            .min()
            .unwrap_or(0);
        let end = trace
            .iter()
            .map(|r| r.span.end_time_unix_nano)
            .max()
            .unwrap_or(0);
        let mut by_id: HashMap<&[u8], usize> = HashMap::with_capacity(trace.len());
        for (i, row) in trace.iter().enumerate() {
            by_id.entry(row.span.span_id.as_slice()).or_insert(i);
        }
        let parents = trace
            .iter()
            .map(|r| {
                if r.span.parent_span_id.is_empty() {
                    None
                } else {
                    by_id.get(r.span.parent_span_id.as_slice()).copied()
                }
            })
            .collect();
        // The root is the first span without a parent (an empty or all-zero parent ID, as
        // TraceQL's engine sees it); failing that, the earliest span.
        let root = trace
            .iter()
            .find(|r| r.span.parent_span_id.iter().all(|b| *b == 0))
            .or(trace.first());
        let (root_service, root_name) = root
            .map(|r| (resources[r.resource].1.clone(), r.span.name.clone()))
            .unwrap_or_default();
        Self {
            start,
            duration: end.saturating_sub(start),
            root_service,
            root_name,
            parents,
        }
    }
}

/// Builds the `attributes` list column: typed values, with an encoded `AnyValue` fallback.
#[derive(Default)]
struct AttrBuilder {
    offsets: Vec<i32>,
    key: StringBuilder,
    str: StringBuilder,
    int: Int64Builder,
    double: Float64Builder,
    bool: BooleanBuilder,
    any: BinaryBuilder,
}

impl AttrBuilder {
    fn push_span(&mut self, attributes: &[KeyValue]) {
        if self.offsets.is_empty() {
            self.offsets.push(0);
        }
        for kv in attributes {
            self.key.append_value(&kv.key);
            let (mut s, mut i, mut d, mut b, mut a) = (None, None, None, None, None);
            match &kv.value {
                // An absent value: every typed column null.
                None => {}
                Some(AnyValue { value: None }) => a = Some(Vec::new()),
                Some(AnyValue { value: Some(value) }) => match value {
                    Value::StringValue(v) => s = Some(v.as_str()),
                    Value::IntValue(v) => i = Some(*v),
                    Value::DoubleValue(v) => d = Some(*v),
                    Value::BoolValue(v) => b = Some(*v),
                    Value::ArrayValue(_) | Value::KvlistValue(_) | Value::BytesValue(_) => {
                        a = kv.value.as_ref().map(Message::encode_to_vec);
                    }
                },
            }
            self.str.append_option(s);
            self.int.append_option(i);
            self.double.append_option(d);
            self.bool.append_option(b);
            self.any.append_option(a);
        }
        let last = self.offsets.last().copied().unwrap_or(0);
        self.offsets.push(last + attributes.len() as i32);
    }

    fn finish(mut self) -> Result<ArrayRef> {
        if self.offsets.is_empty() {
            self.offsets.push(0);
        }
        let children: Vec<ArrayRef> = vec![
            Arc::new(self.key.finish()),
            Arc::new(self.str.finish()),
            Arc::new(self.int.finish()),
            Arc::new(self.double.finish()),
            Arc::new(self.bool.finish()),
            Arc::new(self.any.finish()),
        ];
        let values = StructArray::try_new(schema::attribute_fields(), children, None)
            .map_err(|e| Error::arrow("build attributes", e))?;
        let list = ListArray::try_new(
            schema::attribute_item(),
            OffsetBuffer::new(self.offsets.into()),
            Arc::new(values),
            None,
        )
        .map_err(|e| Error::arrow("build attributes list", e))?;
        Ok(Arc::new(list))
    }
}

fn string_attr(attributes: &[KeyValue], key: &str) -> Option<String> {
    attributes.iter().find(|kv| kv.key == key).and_then(|kv| {
        match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
            Some(Value::StringValue(s)) => Some(s.clone()),
            _ => None,
        }
    })
}
