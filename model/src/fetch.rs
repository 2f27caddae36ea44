//! What a search asks of storage: a time range and conditions on span fields, independent of
//! TraceQL. The TraceQL planner lowers a query to a [`FetchRequest`]; the store evaluates it as a
//! **pre-filter** over its blocks (reading only the columns the conditions name and skipping row
//! groups whose statistics rule them out); the TraceQL engine then evaluates the query exactly on
//! what the store returned.
//!
//! # Contract
//!
//! - The store may return **more** spans than the conditions match, never fewer. Whatever a
//!   store cannot evaluate (an unsupported attribute shape, a comparison it has no column for)
//!   counts as "may match".
//! - The store returns **whole traces**: every span of each trace holding at least one span that
//!   passes, so structural operators (`>>`, `~`, `<`) and trace-level intrinsics can be evaluated
//!   on the result. Every column of those spans is returned; there is no "fetch only" request,
//!   so [`FetchOp::Exists`] is a real filter (the field has a value), not a column hint.
//! - A span passes when its trace overlaps [`FetchRequest::range`] (trace start to trace end,
//!   both ends inclusive) and, with [`FetchRequest::all_conditions`], every condition holds on
//!   it; without it, at least one does. No conditions means every span of the range.
//!
//! # Semantics of one condition
//!
//! [`Condition`] holds on a span when the field named by `attribute` has a value `v` and:
//!
//! - `Eq`, `Gt`, `Ge`, `Lt`, `Le`, `Regex`: `v op operand` holds for **any** operand (so `Eq`
//!   with several operands is "in").
//! - `Ne`, `NotRegex`: `v op operand` holds for **every** operand ("not in").
//! - `Exists`: no operands; the field has a value.
//! - An operand of [`Static::Nil`]: `Eq nil` holds when the field has **no** value, `Ne nil` when
//!   it has one.
//!
//! Values compare within a family only, a comparison across families being false (also for
//! `Ne`): numbers ([`Static::Int`], [`Static::Float`], [`Static::Duration`] in nanoseconds,
//! compared as numbers with each other), strings (byte-wise order; regular expressions match
//! the whole string, `^(?:re)$`), booleans (`Eq`/`Ne` only), statuses and kinds (`Eq`/`Ne`
//! only).
//!
//! Attribute values that are arrays, maps or bytes (or an `AnyValue` without a value) exist
//! and **may match every comparison**: TraceQL compares arrays item by item (`{ .tags = "a" }`
//! matches `["a", "b"]`, `!=` holds when no item equals), which a store need not model, so a
//! span holding such a value under the key passes every operator except `Eq nil`. Row-group
//! statistics of scalar values must not rule such spans out either.

use crate::TimeRange;
use crate::otlp::{SpanKind, StatusCode};

/// A storage search: which spans (and so which traces) a query needs.
#[derive(Debug, Clone, PartialEq)]
pub struct FetchRequest {
    /// Traces overlapping this range (inclusive).
    pub range: TimeRange,
    pub conditions: Vec<Condition>,
    /// `true`: a span must meet every condition (AND); `false`: at least one (OR).
    pub all_conditions: bool,
}

impl FetchRequest {
    /// Every span of traces overlapping `range`.
    pub fn all(range: TimeRange) -> Self {
        Self {
            range,
            conditions: Vec::new(),
            all_conditions: true,
        }
    }

    /// Adds a condition (builder style).
    pub fn with(mut self, condition: Condition) -> Self {
        self.conditions.push(condition);
        self
    }
}

/// One comparison of a span field with constants.
#[derive(Debug, Clone, PartialEq)]
pub struct Condition {
    pub attribute: AttributeRef,
    pub op: FetchOp,
    pub operands: Vec<Static>,
}

impl Condition {
    pub fn new(attribute: AttributeRef, op: FetchOp, operands: Vec<Static>) -> Self {
        Self {
            attribute,
            op,
            operands,
        }
    }

    /// `attribute = operand`.
    pub fn eq(attribute: AttributeRef, operand: Static) -> Self {
        Self::new(attribute, FetchOp::Eq, vec![operand])
    }

    /// `attribute` has a value.
    pub fn exists(attribute: AttributeRef) -> Self {
        Self::new(attribute, FetchOp::Exists, Vec::new())
    }
}

/// The field a condition is about.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum AttributeRef {
    Intrinsic(Intrinsic),
    Attribute { scope: AttributeScope, key: String },
}

impl AttributeRef {
    /// `span.<key>`.
    pub fn span(key: impl Into<String>) -> Self {
        Self::Attribute {
            scope: AttributeScope::Span,
            key: key.into(),
        }
    }

    /// `resource.<key>`.
    pub fn resource(key: impl Into<String>) -> Self {
        Self::Attribute {
            scope: AttributeScope::Resource,
            key: key.into(),
        }
    }

    /// `.<key>`: a span or a resource attribute.
    pub fn any(key: impl Into<String>) -> Self {
        Self::Attribute {
            scope: AttributeScope::Any,
            key: key.into(),
        }
    }
}

/// Where a named attribute is looked up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AttributeScope {
    /// The span's own attributes.
    Span,
    /// The attributes of the span's resource.
    Resource,
    /// Either (TraceQL's unscoped `.key`): holds when it holds on the span's or the resource's.
    Any,
}

/// Fields every span has (or its trace has), named by TraceQL intrinsics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Intrinsic {
    /// `name`: the span name (string).
    Name,
    /// `status`: [`Static::Status`]; a span without a status is `Unset`.
    Status,
    /// `statusMessage` (string; empty without a status).
    StatusMessage,
    /// `kind`: [`Static::Kind`].
    Kind,
    /// `duration`: end − start in nanoseconds (a number).
    Duration,
    /// `traceDuration`: the trace's latest end − earliest start (a number).
    TraceDuration,
    /// `rootServiceName`: `service.name` of the trace's root span (string).
    RootServiceName,
    /// `rootName`: the name of the trace's root span (string).
    RootName,
    /// `resource.service.name` as a string (empty when absent or not a string).
    ServiceName,
    /// `trace:id`: lower-case hex (string).
    TraceId,
    /// `span:id`: lower-case hex (string).
    SpanId,
}

/// How a field is compared with the operands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FetchOp {
    Eq,
    Ne,
    Gt,
    Ge,
    Lt,
    Le,
    /// The whole string matches the regular expression (Rust `regex` syntax).
    Regex,
    NotRegex,
    /// The field has a value; takes no operands.
    Exists,
}

/// A constant operand.
#[derive(Debug, Clone, PartialEq)]
pub enum Static {
    Str(String),
    Int(i64),
    Float(f64),
    Bool(bool),
    /// Nanoseconds.
    Duration(u64),
    Status(StatusCode),
    Kind(SpanKind),
    /// No value: `= nil` / `!= nil`.
    Nil,
}
