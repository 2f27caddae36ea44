//! A [`FetchRequest`] compiled against block format v1: which columns it needs, which row groups
//! its statistics rule out, and which rows of a decoded batch pass it.

use std::cmp::Ordering;
use std::collections::HashMap;

use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int32Type, Int64Type, UInt64Type};
use arrow_array::{Array, RecordBatch};
use parquet::file::metadata::RowGroupMetaData;
use prost::Message;
use regex::Regex;
use sextant_model::otlp::{KeyValue, ResourceSpans, any_value::Value};
use sextant_model::{
    AttributeRef, AttributeScope, Condition, FetchOp, FetchRequest, Intrinsic, Static,
};

use super::prune::{self, Bounds, Stat};
use super::schema;
use crate::error::{Error, Result};

/// A request ready to run: regular expressions compiled, columns resolved.
#[derive(Debug)]
pub(crate) struct Plan {
    request: FetchRequest,
    /// Per condition, per operand: the anchored regex of a `Regex`/`NotRegex` string operand.
    regexes: Vec<Vec<Option<Regex>>>,
    /// False when every trace of the block is known to lie within the range: the trace time
    /// columns are then neither read nor checked.
    check_range: bool,
}

/// A field value as read from a row.
#[derive(Debug, Clone, Copy)]
enum Val<'a> {
    Str(&'a str),
    Int(i64),
    Float(f64),
    Bool(bool),
    Status(i32),
    Kind(i32),
    /// An array, map or bytes value (or an empty `AnyValue`): it exists and **may match**
    /// every comparison, since TraceQL compares array items (`{ .tags = "a" }` matches
    /// `["a", "b"]`) and the pre-filter must never rule out a match.
    Other,
}

impl Plan {
    pub(crate) fn new(request: &FetchRequest) -> Result<Self> {
        let mut regexes = Vec::with_capacity(request.conditions.len());
        for c in &request.conditions {
            if c.op == FetchOp::Exists && !c.operands.is_empty() {
                return Err(invalid("exists takes no operands"));
            }
            if c.op != FetchOp::Exists && c.operands.is_empty() {
                return Err(invalid(format!("{:?} needs an operand", c.op)));
            }
            let mut compiled = Vec::with_capacity(c.operands.len());
            for operand in &c.operands {
                compiled.push(match (c.op, operand) {
                    (FetchOp::Regex | FetchOp::NotRegex, Static::Str(re)) => Some(
                        Regex::new(&format!("^(?:{re})$"))
                            .map_err(|e| invalid(format!("bad regular expression {re:?}: {e}")))?,
                    ),
                    _ => None,
                });
            }
            regexes.push(compiled);
        }
        Ok(Self {
            request: request.clone(),
            regexes,
            check_range: true,
        })
    }

    /// Skips the time check: the caller knows the block lies within the range.
    pub(crate) fn block_within_range(&mut self) {
        self.check_range = false;
    }

    /// Names of the top-level columns the pre-filter reads.
    pub(crate) fn columns(&self) -> Vec<&'static str> {
        let mut out = vec![schema::TRACE_ID];
        if self.check_range {
            out.extend([schema::TRACE_START, schema::TRACE_DURATION]);
        }
        for c in &self.request.conditions {
            let needed: &[&'static str] = match &c.attribute {
                AttributeRef::Intrinsic(i) => match i {
                    Intrinsic::Name => &[schema::NAME],
                    Intrinsic::Status => &[schema::STATUS_CODE],
                    Intrinsic::StatusMessage => &[schema::STATUS_MESSAGE],
                    Intrinsic::Kind => &[schema::KIND],
                    Intrinsic::Duration => &[schema::DURATION],
                    Intrinsic::TraceDuration => &[schema::TRACE_DURATION],
                    Intrinsic::RootServiceName => &[schema::ROOT_SERVICE_NAME],
                    Intrinsic::RootName => &[schema::ROOT_SPAN_NAME],
                    Intrinsic::ServiceName => &[schema::SERVICE_NAME],
                    Intrinsic::TraceId => &[schema::TRACE_ID],
                    Intrinsic::SpanId => &[schema::SPAN_ID],
                },
                AttributeRef::Attribute { scope, .. } => match scope {
                    AttributeScope::Span => &[schema::ATTRIBUTES],
                    AttributeScope::Resource => &[schema::RESOURCE],
                    AttributeScope::Any => &[schema::ATTRIBUTES, schema::RESOURCE],
                },
            };
            for name in needed {
                if !out.contains(name) {
                    out.push(name);
                }
            }
        }
        out
    }

    /// False when the row group's statistics prove no row of it passes.
    pub(crate) fn row_group_may_match(&self, rg: &RowGroupMetaData) -> bool {
        let stats = |path: &str| prune::column_bounds(rg, path);
        // Time range: a trace ends at most max(start) + max(duration) after the epoch.
        let range = self.request.range;
        if let (Bounds::Range(Stat::U(min_start), Stat::U(max_start)), dur) =
            (stats(schema::TRACE_START), stats(schema::TRACE_DURATION))
        {
            if min_start > range.end {
                return false;
            }
            if let Bounds::Range(_, Stat::U(max_dur)) = dur
                && max_start.saturating_add(max_dur) < range.start
            {
                return false;
            }
        }
        let conditions = &self.request.conditions;
        if conditions.is_empty() {
            return true;
        }
        let ruled_out = |c: &Condition| prune::condition_ruled_out(c, &stats);
        if self.request.all_conditions {
            !conditions.iter().any(ruled_out)
        } else {
            !conditions.iter().all(ruled_out)
        }
    }

    /// Which rows of `batch` (holding at least [`Plan::columns`]) pass the request.
    pub(crate) fn evaluate(&self, batch: &RecordBatch) -> Result<Vec<bool>> {
        let n = batch.num_rows();
        let col = |name: &'static str| {
            batch.column_by_name(name).ok_or(Error::BlockFormat {
                reason: format!("missing column {name}"),
            })
        };
        let mut pass = vec![true; n];
        if self.check_range {
            let trace_start = col(schema::TRACE_START)?.as_primitive::<UInt64Type>();
            let trace_duration = col(schema::TRACE_DURATION)?.as_primitive::<UInt64Type>();
            let range = self.request.range;
            for (r, p) in pass.iter_mut().enumerate() {
                let start = trace_start.value(r);
                *p = start <= range.end
                    && start.saturating_add(trace_duration.value(r)) >= range.start;
            }
        }
        if self.request.conditions.is_empty() {
            return Ok(pass);
        }
        let all = self.request.all_conditions;
        let mut any_holds = vec![false; n];
        let mut every_holds = vec![true; n];
        let mut resources = ResourceCache::default();
        for (ci, c) in self.request.conditions.iter().enumerate() {
            let holds = self.condition_rows(ci, c, batch, &mut resources)?;
            for r in 0..n {
                any_holds[r] |= holds[r];
                every_holds[r] &= holds[r];
            }
        }
        for r in 0..n {
            pass[r] &= if all { every_holds[r] } else { any_holds[r] };
        }
        Ok(pass)
    }

    fn condition_rows(
        &self,
        ci: usize,
        c: &Condition,
        batch: &RecordBatch,
        resources: &mut ResourceCache,
    ) -> Result<Vec<bool>> {
        let n = batch.num_rows();
        let col = |name: &'static str| {
            batch.column_by_name(name).ok_or(Error::BlockFormat {
                reason: format!("missing column {name}"),
            })
        };
        let test = |v: Option<Val<'_>>| self.holds(ci, c, v);
        let mut out = Vec::with_capacity(n);
        match &c.attribute {
            AttributeRef::Intrinsic(i) => match i {
                Intrinsic::Name
                | Intrinsic::StatusMessage
                | Intrinsic::RootServiceName
                | Intrinsic::RootName
                | Intrinsic::ServiceName => {
                    let name = match i {
                        Intrinsic::Name => schema::NAME,
                        Intrinsic::StatusMessage => schema::STATUS_MESSAGE,
                        Intrinsic::RootServiceName => schema::ROOT_SERVICE_NAME,
                        Intrinsic::RootName => schema::ROOT_SPAN_NAME,
                        _ => schema::SERVICE_NAME,
                    };
                    let a = col(name)?.as_string::<i32>();
                    out.extend((0..n).map(|r| test(Some(Val::Str(a.value(r))))));
                }
                Intrinsic::Status => {
                    let a = col(schema::STATUS_CODE)?.as_primitive::<Int32Type>();
                    out.extend((0..n).map(|r| {
                        let code = if a.is_null(r) { 0 } else { a.value(r) };
                        test(Some(Val::Status(code)))
                    }));
                }
                Intrinsic::Kind => {
                    let a = col(schema::KIND)?.as_primitive::<Int32Type>();
                    out.extend((0..n).map(|r| test(Some(Val::Kind(a.value(r))))));
                }
                Intrinsic::Duration => {
                    let a = col(schema::DURATION)?.as_primitive::<Int64Type>();
                    // Stored wrapping: an end before the start reads as a huge unsigned value,
                    // as `end - start` would in u64; compare as the signed difference the
                    // engine sees (i64), the same bits.
                    out.extend((0..n).map(|r| test(Some(Val::Int(a.value(r))))));
                }
                Intrinsic::TraceDuration => {
                    let a = col(schema::TRACE_DURATION)?.as_primitive::<UInt64Type>();
                    out.extend((0..n).map(|r| test(Some(u64_val(a.value(r))))));
                }
                Intrinsic::TraceId => {
                    let a = col(schema::TRACE_ID)?.as_fixed_size_binary();
                    out.extend((0..n).map(|r| {
                        let hex = hex::encode(a.value(r));
                        test(Some(Val::Str(&hex)))
                    }));
                }
                Intrinsic::SpanId => {
                    let a = col(schema::SPAN_ID)?.as_binary::<i32>();
                    out.extend((0..n).map(|r| {
                        let hex = hex::encode(a.value(r));
                        test(Some(Val::Str(&hex)))
                    }));
                }
            },
            AttributeRef::Attribute { scope, key } => {
                out.resize(n, false);
                if matches!(scope, AttributeScope::Span | AttributeScope::Any) {
                    self.span_attribute_rows(ci, c, key, col(schema::ATTRIBUTES)?, &mut out)?;
                }
                if matches!(scope, AttributeScope::Resource | AttributeScope::Any) {
                    let a = col(schema::RESOURCE)?.as_binary::<i32>();
                    for (r, o) in out.iter_mut().enumerate() {
                        if *o {
                            continue;
                        }
                        let attrs = resources.get(a.value(r))?;
                        *o = self.holds_in(ci, c, key, attrs);
                    }
                }
            }
        }
        Ok(out)
    }

    fn span_attribute_rows(
        &self,
        ci: usize,
        c: &Condition,
        key: &str,
        column: &dyn Array,
        out: &mut [bool],
    ) -> Result<()> {
        let attrs = SpanAttributes::new(column)?;
        for (r, o) in out.iter_mut().enumerate() {
            let mut found = false;
            for i in attrs.entries(r) {
                if attrs.key(i) != key {
                    continue;
                }
                found = true;
                let v = attrs.value(i);
                if self.holds(ci, c, v) {
                    *o = true;
                    break;
                }
            }
            if !found && self.holds(ci, c, None) {
                *o = true;
            }
        }
        Ok(())
    }

    /// The condition on a list of OTLP attributes (a resource's).
    fn holds_in(&self, ci: usize, c: &Condition, key: &str, attrs: &[KeyValue]) -> bool {
        let mut found = false;
        for kv in attrs.iter().filter(|kv| kv.key == key) {
            found = true;
            let v = kv.value.as_ref().map(|v| match &v.value {
                Some(Value::StringValue(s)) => Val::Str(s),
                Some(Value::IntValue(i)) => Val::Int(*i),
                Some(Value::DoubleValue(d)) => Val::Float(*d),
                Some(Value::BoolValue(b)) => Val::Bool(*b),
                _ => Val::Other,
            });
            if self.holds(ci, c, v) {
                return true;
            }
        }
        !found && self.holds(ci, c, None)
    }

    /// The condition on one value (`None`: the field has no value).
    fn holds(&self, ci: usize, c: &Condition, v: Option<Val<'_>>) -> bool {
        let one = |k: usize, operand: &Static| -> bool {
            match (operand, v) {
                (Static::Nil, v) => match c.op {
                    FetchOp::Eq => v.is_none(),
                    FetchOp::Ne => v.is_some(),
                    _ => false,
                },
                (_, None) => false,
                (_, Some(Val::Other)) => true,
                (_, Some(v)) => match c.op {
                    FetchOp::Regex | FetchOp::NotRegex => match (v, &self.regexes[ci][k]) {
                        (Val::Str(s), Some(re)) => re.is_match(s) == (c.op == FetchOp::Regex),
                        _ => false,
                    },
                    op => match compare(v, operand) {
                        None => false,
                        Some((ord, orderable)) => match op {
                            FetchOp::Eq => ord == Ordering::Equal,
                            FetchOp::Ne => ord != Ordering::Equal,
                            FetchOp::Gt => orderable && ord == Ordering::Greater,
                            FetchOp::Ge => orderable && ord != Ordering::Less,
                            FetchOp::Lt => orderable && ord == Ordering::Less,
                            FetchOp::Le => orderable && ord != Ordering::Greater,
                            _ => false,
                        },
                    },
                },
            }
        };
        match c.op {
            FetchOp::Exists => v.is_some(),
            FetchOp::Ne | FetchOp::NotRegex => {
                c.operands.iter().enumerate().all(|(k, o)| one(k, o))
            }
            _ => c.operands.iter().enumerate().any(|(k, o)| one(k, o)),
        }
    }
}

/// The span attributes column of a batch: one list of key/value entries per row.
struct SpanAttributes<'a> {
    offsets: &'a [i32],
    keys: &'a arrow_array::StringArray,
    str_v: &'a arrow_array::StringArray,
    int_v: &'a arrow_array::Int64Array,
    double_v: &'a arrow_array::Float64Array,
    bool_v: &'a arrow_array::BooleanArray,
    any_v: &'a arrow_array::BinaryArray,
}

impl<'a> SpanAttributes<'a> {
    fn new(column: &'a dyn Array) -> Result<Self> {
        let list = column.as_list::<i32>();
        let entries = list.values().as_struct();
        let field = |name: &str| {
            entries.column_by_name(name).ok_or(Error::BlockFormat {
                reason: format!("missing attribute field {name}"),
            })
        };
        Ok(Self {
            offsets: list.value_offsets(),
            keys: field(schema::ATTR_KEY)?.as_string::<i32>(),
            str_v: field(schema::ATTR_STR)?.as_string::<i32>(),
            int_v: field(schema::ATTR_INT)?.as_primitive::<Int64Type>(),
            double_v: field(schema::ATTR_DOUBLE)?.as_primitive::<Float64Type>(),
            bool_v: field(schema::ATTR_BOOL)?.as_boolean(),
            any_v: field(schema::ATTR_ANY)?.as_binary::<i32>(),
        })
    }

    /// The entry indexes of row `r`.
    fn entries(&self, r: usize) -> std::ops::Range<usize> {
        self.offsets[r] as usize..self.offsets[r + 1] as usize
    }

    fn key(&self, i: usize) -> &'a str {
        self.keys.value(i)
    }

    /// Entry `i`'s value (`Other` for arrays, maps and bytes; `None` for no value).
    fn value(&self, i: usize) -> Option<Val<'a>> {
        if !self.str_v.is_null(i) {
            Some(Val::Str(self.str_v.value(i)))
        } else if !self.int_v.is_null(i) {
            Some(Val::Int(self.int_v.value(i)))
        } else if !self.double_v.is_null(i) {
            Some(Val::Float(self.double_v.value(i)))
        } else if !self.bool_v.is_null(i) {
            Some(Val::Bool(self.bool_v.value(i)))
        } else if !self.any_v.is_null(i) {
            Some(Val::Other)
        } else {
            None
        }
    }

    /// Entry `i`'s array, map or bytes value, decoded.
    fn any(&self, i: usize) -> Result<sextant_model::otlp::AnyValue> {
        sextant_model::otlp::AnyValue::decode(self.any_v.value(i)).map_err(|e| Error::BlockFormat {
            reason: format!("bad attribute value: {e}"),
        })
    }
}

/// Distinct values gathered from rows, in first-seen order.
#[derive(Debug, Default)]
pub(crate) struct ValueSet {
    seen: std::collections::HashSet<(u8, String)>,
    pub(crate) values: Vec<Static>,
}

impl ValueSet {
    fn add(&mut self, value: Static) {
        let key = match &value {
            Static::Str(s) => (0, s.clone()),
            Static::Int(i) => (1, i.to_string()),
            Static::Float(f) => (2, f.to_bits().to_string()),
            Static::Bool(b) => (3, b.to_string()),
            _ => return,
        };
        if self.seen.insert(key) {
            self.values.push(value);
        }
    }

    /// A scalar OTLP value, or each scalar item of an array.
    fn add_any(&mut self, value: &Value) {
        match value {
            Value::StringValue(s) => self.add(Static::Str(s.clone())),
            Value::IntValue(i) => self.add(Static::Int(*i)),
            Value::DoubleValue(d) => self.add(Static::Float(*d)),
            Value::BoolValue(b) => self.add(Static::Bool(*b)),
            Value::ArrayValue(items) => {
                for item in items.values.iter().filter_map(|v| v.value.as_ref()) {
                    if !matches!(item, Value::ArrayValue(_)) {
                        self.add_any(item);
                    }
                }
            }
            _ => {}
        }
    }
}

/// Adds the distinct values of `attribute` on the rows of `batch` that `pass` to `out`. Span
/// and resource attributes (an unscoped one: the span's value where the span has the key, else
/// the resource's, as the TraceQL engine reads it), span names and service names; other fields
/// add nothing.
pub(crate) fn attribute_values(
    batch: &RecordBatch,
    attribute: &AttributeRef,
    pass: &[bool],
    out: &mut ValueSet,
) -> Result<()> {
    let col = |name: &'static str| {
        batch.column_by_name(name).ok_or(Error::BlockFormat {
            reason: format!("missing column {name}"),
        })
    };
    let rows = (0..batch.num_rows()).filter(|&r| pass[r]);
    let (scope, key) = match attribute {
        AttributeRef::Intrinsic(i @ (Intrinsic::Name | Intrinsic::ServiceName)) => {
            let name = if *i == Intrinsic::Name {
                schema::NAME
            } else {
                schema::SERVICE_NAME
            };
            let a = col(name)?.as_string::<i32>();
            for r in rows {
                out.add(Static::Str(a.value(r).to_owned()));
            }
            return Ok(());
        }
        AttributeRef::Intrinsic(_) => return Ok(()),
        AttributeRef::Attribute { scope, key } => (*scope, key.as_str()),
    };
    let span_side = matches!(scope, AttributeScope::Span | AttributeScope::Any);
    let resource_side = matches!(scope, AttributeScope::Resource | AttributeScope::Any);
    let mut resources = ResourceCache::default();
    let resource_col = if resource_side {
        Some(col(schema::RESOURCE)?.as_binary::<i32>())
    } else {
        None
    };
    let attrs = if span_side {
        Some(SpanAttributes::new(col(schema::ATTRIBUTES)?)?)
    } else {
        None
    };
    for r in rows {
        let mut on_span = false;
        if let Some(attrs) = &attrs {
            for i in attrs.entries(r) {
                if attrs.key(i) != key {
                    continue;
                }
                on_span = true;
                match attrs.value(i) {
                    Some(Val::Str(v)) => out.add(Static::Str(v.to_owned())),
                    Some(Val::Int(v)) => out.add(Static::Int(v)),
                    Some(Val::Float(v)) => out.add(Static::Float(v)),
                    Some(Val::Bool(v)) => out.add(Static::Bool(v)),
                    Some(Val::Other) => {
                        if let Some(v) = attrs.any(i)?.value {
                            out.add_any(&v);
                        }
                    }
                    _ => {}
                }
            }
        }
        if on_span && scope == AttributeScope::Any {
            continue;
        }
        if let Some(a) = resource_col {
            for kv in resources.get(a.value(r))?.iter().filter(|kv| kv.key == key) {
                if let Some(v) = kv.value.as_ref().and_then(|v| v.value.as_ref()) {
                    out.add_any(v);
                }
            }
        }
    }
    Ok(())
}

fn invalid(reason: impl Into<String>) -> Error {
    Error::InvalidFetch {
        reason: reason.into(),
    }
}

fn u64_val(v: u64) -> Val<'static> {
    match i64::try_from(v) {
        Ok(i) => Val::Int(i),
        Err(_) => Val::Float(v as f64),
    }
}

/// `value` against `operand` within a family: the order, and whether the family is ordered.
fn compare(value: Val<'_>, operand: &Static) -> Option<(Ordering, bool)> {
    let num = |v: Val<'_>| match v {
        Val::Int(i) => Some(Num::I(i as i128)),
        Val::Float(f) => Some(Num::F(f)),
        _ => None,
    };
    let op_num = match operand {
        Static::Int(i) => Some(Num::I(*i as i128)),
        Static::Duration(d) => Some(Num::I(*d as i128)),
        Static::Float(f) => Some(Num::F(*f)),
        _ => None,
    };
    match (value, operand) {
        (Val::Str(a), Static::Str(b)) => Some((a.as_bytes().cmp(b.as_bytes()), true)),
        (Val::Bool(a), Static::Bool(b)) => Some((a.cmp(b), false)),
        (Val::Status(a), Static::Status(b)) => Some((a.cmp(&(*b as i32)), false)),
        (Val::Kind(a), Static::Kind(b)) => Some((a.cmp(&(*b as i32)), false)),
        _ => match (num(value), op_num) {
            (Some(a), Some(b)) => a.cmp(b).map(|o| (o, true)),
            _ => None,
        },
    }
}

#[derive(Clone, Copy)]
pub(super) enum Num {
    I(i128),
    F(f64),
}

impl Num {
    pub(super) fn cmp(self, other: Num) -> Option<Ordering> {
        match (self, other) {
            (Num::I(a), Num::I(b)) => Some(a.cmp(&b)),
            (Num::I(a), Num::F(b)) => (a as f64).partial_cmp(&b),
            (Num::F(a), Num::I(b)) => a.partial_cmp(&(b as f64)),
            (Num::F(a), Num::F(b)) => a.partial_cmp(&b),
        }
    }
}

/// Decoded resource attributes by the encoded resource bytes (they repeat across rows).
#[derive(Default)]
struct ResourceCache {
    decoded: HashMap<Vec<u8>, Vec<KeyValue>>,
}

impl ResourceCache {
    fn get(&mut self, bytes: &[u8]) -> Result<&[KeyValue]> {
        if !self.decoded.contains_key(bytes) {
            let rs = ResourceSpans::decode(bytes).map_err(|e| Error::BlockFormat {
                reason: format!("bad resource: {e}"),
            })?;
            let attrs = rs.resource.map(|r| r.attributes).unwrap_or_default();
            self.decoded.insert(bytes.to_vec(), attrs);
        }
        Ok(self
            .decoded
            .get(bytes)
            .map(Vec::as_slice)
            .unwrap_or_default())
    }
}
