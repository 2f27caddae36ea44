//! The planner: lowers a search query to the storage pre-filter ([`FetchRequest`]).
//!
//! The store may return more than the query matches, never less, and returns whole traces of
//! the spans that pass; so the request only has to be a **superset** condition for "some span
//! of this trace takes part in a match". Only the first stage's spanset expression matters
//! (later stages only narrow). Dropping a conjunct of an AND is always safe; an OR is kept only
//! when every side contributes a condition. Everything this module cannot lower exactly (event,
//! link and instrumentation fields, arithmetic, `!`, arrays, negative durations) is dropped.

use sextant_model::otlp::{SpanKind, StatusCode};
use sextant_model::{self as model, AttributeRef, Condition, FetchOp, FetchRequest, TimeRange};

use crate::ast::*;

/// Conditions a matching span (of a trace that can match) meets.
#[derive(Debug, Clone, PartialEq)]
enum Plan {
    /// Every condition holds (none: no restriction).
    All(Vec<Condition>),
    /// At least one holds; never empty.
    Any(Vec<Condition>),
}

impl Plan {
    fn none() -> Plan {
        Plan::All(Vec::new())
    }

    /// An AND's score: how many conditions it narrows by (an OR counts less than one).
    fn score(&self) -> usize {
        match self {
            Plan::All(v) => 2 * v.len(),
            Plan::Any(_) => 1,
        }
    }

    /// Something every matching span meets, as alternatives (for an OR), or `None` when it
    /// does not narrow anything.
    fn alternatives(self) -> Option<Vec<Condition>> {
        match self {
            // A conjunction implies any one of its conditions.
            Plan::All(v) => v.into_iter().next().map(|c| vec![c]),
            Plan::Any(v) => Some(v),
        }
    }

    fn and(self, other: Plan) -> Plan {
        match (self, other) {
            (Plan::All(mut a), Plan::All(b)) => {
                a.extend(b);
                Plan::All(a)
            }
            (Plan::All(a), any @ Plan::Any(_)) | (any @ Plan::Any(_), Plan::All(a)) => {
                if a.is_empty() { any } else { Plan::All(a) }
            }
            (any @ Plan::Any(_), Plan::Any(_)) => any,
        }
    }

    fn or(self, other: Plan) -> Plan {
        match (self.alternatives(), other.alternatives()) {
            (Some(mut a), Some(b)) => {
                a.extend(b);
                Plan::Any(a)
            }
            _ => Plan::none(),
        }
    }
}

/// The storage pre-filter for `query` over `range`.
pub(crate) fn fetch_request(query: &Query, range: TimeRange) -> FetchRequest {
    let plan = match &query.root {
        RootExpr::Pipeline(p) => pipeline(p),
        RootExpr::Metrics(m) => metrics(&m.expr).unwrap_or_else(Plan::none),
        RootExpr::ScalarPipelineFilter(_) => Plan::none(),
    };
    let mut request = FetchRequest::all(range);
    match plan {
        Plan::All(conditions) => request.conditions = conditions,
        Plan::Any(conditions) => {
            request.conditions = conditions;
            request.all_conditions = false;
        }
    }
    request
}

/// Spans of any of the metrics pipelines take part (a `compare()` selection is a subset of its
/// base pipeline's spans): the OR of their plans, unrestricted as soon as one side is. `None`
/// when the expression reads no spans (numbers only).
fn metrics(e: &MetricsExpr) -> Option<Plan> {
    match e {
        MetricsExpr::Pipeline(p) => Some(pipeline(&p.pipeline)),
        MetricsExpr::Number(_) => None,
        MetricsExpr::Binary { lhs, rhs, .. } => match (metrics(lhs), metrics(rhs)) {
            (Some(l), Some(r)) => Some(l.or(r)),
            (one, None) | (None, one) => one,
        },
    }
}

fn pipeline(p: &Pipeline) -> Plan {
    match p.stages.first() {
        Some(Stage::Spanset(e)) => spanset(e),
        _ => Plan::none(),
    }
}

fn spanset(e: &SpansetExpr) -> Plan {
    match e {
        SpansetExpr::Filter(None) => Plan::none(),
        SpansetExpr::Filter(Some(f)) => filter(f),
        SpansetExpr::Wrapped(p) => pipeline(p),
        SpansetExpr::Binary { op, lhs, rhs } => match op {
            SpansetOp::Or => spanset(lhs).or(spanset(rhs)),
            // The result holds only B spans, whatever A is.
            SpansetOp::NotChild
            | SpansetOp::NotParent
            | SpansetOp::NotDescendant
            | SpansetOp::NotAncestor
            | SpansetOp::NotSibling => spanset(rhs),
            // Both sides must be non-empty: the conditions of one side are enough.
            _ => {
                let (l, r) = (spanset(lhs), spanset(rhs));
                if l.score() > r.score() { l } else { r }
            }
        },
    }
}

fn filter(f: &FieldExpr) -> Plan {
    match f {
        FieldExpr::Binary {
            op: BinaryOp::And,
            lhs,
            rhs,
        } => filter(lhs).and(filter(rhs)),
        FieldExpr::Binary {
            op: BinaryOp::Or,
            lhs,
            rhs,
        } => filter(lhs).or(filter(rhs)),
        FieldExpr::Binary { op, lhs, rhs } => {
            condition(*op, lhs, rhs).map_or_else(Plan::none, |c| Plan::All(vec![c]))
        }
        _ => Plan::none(),
    }
}

/// `field op static` (or `static op field`) as a storage condition, when it lowers exactly.
fn condition(op: BinaryOp, lhs: &FieldExpr, rhs: &FieldExpr) -> Option<Condition> {
    let (field, value, op) = match (lhs, rhs) {
        (FieldExpr::Static(s), other) => {
            let flipped = match op {
                BinaryOp::Cmp(c) => BinaryOp::Cmp(flip(c)),
                _ => return None,
            };
            (other, s, flipped)
        }
        (other, FieldExpr::Static(s)) => (other, s, op),
        _ => return None,
    };
    let attribute = attribute_ref(field)?;
    let fetch_op = match op {
        BinaryOp::Cmp(CmpOp::Eq) => FetchOp::Eq,
        BinaryOp::Cmp(CmpOp::Ne) => FetchOp::Ne,
        BinaryOp::Cmp(CmpOp::Gt) => FetchOp::Gt,
        BinaryOp::Cmp(CmpOp::Ge) => FetchOp::Ge,
        BinaryOp::Cmp(CmpOp::Lt) => FetchOp::Lt,
        BinaryOp::Cmp(CmpOp::Le) => FetchOp::Le,
        BinaryOp::Regex => FetchOp::Regex,
        BinaryOp::NotRegex => FetchOp::NotRegex,
        _ => return None,
    };
    if *value == Static::Nil {
        return match fetch_op {
            FetchOp::Eq => Some(Condition::new(
                attribute,
                FetchOp::Eq,
                vec![model::Static::Nil],
            )),
            FetchOp::Ne => Some(Condition::exists(attribute)),
            _ => None,
        };
    }
    if matches!(fetch_op, FetchOp::Regex | FetchOp::NotRegex) && !matches!(value, Static::String(_))
    {
        return None;
    }
    let is_hex = matches!(
        attribute,
        AttributeRef::Intrinsic(model::Intrinsic::TraceId | model::Intrinsic::SpanId)
    );
    if is_hex {
        // IDs compare as lower-case hex strings; only equality is meaningful.
        let Static::String(h) = value else {
            return None;
        };
        let lower_hex =
            h.len() % 2 == 0 && h.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        if !lower_hex || !matches!(fetch_op, FetchOp::Eq | FetchOp::Ne) {
            return None;
        }
    }
    Some(Condition::new(attribute, fetch_op, vec![operand(value)?]))
}

fn flip(c: CmpOp) -> CmpOp {
    match c {
        CmpOp::Gt => CmpOp::Lt,
        CmpOp::Ge => CmpOp::Le,
        CmpOp::Lt => CmpOp::Gt,
        CmpOp::Le => CmpOp::Ge,
        other => other,
    }
}

fn attribute_ref(f: &FieldExpr) -> Option<AttributeRef> {
    use model::Intrinsic as M;
    match f {
        FieldExpr::Attribute(a) if !a.parent => match a.scope {
            Scope::None => Some(AttributeRef::any(a.name.clone())),
            Scope::Span => Some(AttributeRef::span(a.name.clone())),
            Scope::Resource => Some(AttributeRef::resource(a.name.clone())),
            _ => None,
        },
        FieldExpr::Intrinsic(i) => Some(AttributeRef::Intrinsic(match i {
            Intrinsic::Name | Intrinsic::SpanName => M::Name,
            Intrinsic::Status | Intrinsic::SpanStatus => M::Status,
            Intrinsic::StatusMessage | Intrinsic::SpanStatusMessage => M::StatusMessage,
            Intrinsic::Kind | Intrinsic::SpanKind => M::Kind,
            Intrinsic::Duration | Intrinsic::SpanDuration => M::Duration,
            Intrinsic::TraceDuration | Intrinsic::TraceDurationScoped => M::TraceDuration,
            Intrinsic::RootServiceName | Intrinsic::TraceRootService => M::RootServiceName,
            Intrinsic::RootName | Intrinsic::TraceRootName => M::RootName,
            Intrinsic::TraceId => M::TraceId,
            Intrinsic::SpanId => M::SpanId,
            _ => return None,
        })),
        _ => None,
    }
}

fn operand(s: &Static) -> Option<model::Static> {
    Some(match s {
        Static::Bool(b) => model::Static::Bool(*b),
        Static::Int(i) => model::Static::Int(*i),
        Static::Float(f) => model::Static::Float(*f),
        Static::Duration(d) => model::Static::Duration(u64::try_from(*d).ok()?),
        Static::String(s) => model::Static::Str(s.clone()),
        Static::Status(s) => model::Static::Status(match s {
            Status::Ok => StatusCode::Ok,
            Status::Error => StatusCode::Error,
            Status::Unset => StatusCode::Unset,
        }),
        Static::Kind(k) => model::Static::Kind(match k {
            Kind::Unspecified => SpanKind::Unspecified,
            Kind::Internal => SpanKind::Internal,
            Kind::Server => SpanKind::Server,
            Kind::Client => SpanKind::Client,
            Kind::Producer => SpanKind::Producer,
            Kind::Consumer => SpanKind::Consumer,
        }),
        Static::Nil | Static::Array(_) => return None,
    })
}

#[cfg(test)]
mod tests;
