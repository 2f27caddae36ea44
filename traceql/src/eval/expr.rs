//! Field expressions compiled for evaluation (regexes built once), and how each field reads its
//! value from a span.

use std::borrow::Cow;

use regex::Regex;
use sextant_model::otlp::KeyValue;

use super::value::{Val, arith, compare, negate, regex_match};
use crate::ast::{
    Attribute, BinaryOp, CmpOp, FieldExpr, Intrinsic, Kind, Scope, Static, Status, UnaryOp,
};
use crate::error::EvalError;
use crate::validate::compile_regex;
use crate::view::TraceView;

/// A field a value is read from.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Field {
    Intrinsic(Intrinsic),
    Attribute(Attribute),
}

impl Field {
    /// Reads an event's fields (so a filter binds each event in turn).
    fn on_event(&self) -> bool {
        match self {
            Field::Intrinsic(i) => {
                matches!(i, Intrinsic::EventName | Intrinsic::EventTimeSinceStart)
            }
            Field::Attribute(a) => a.scope == Scope::Event,
        }
    }

    fn on_link(&self) -> bool {
        match self {
            Field::Intrinsic(i) => matches!(i, Intrinsic::LinkTraceId | Intrinsic::LinkSpanId),
            Field::Attribute(a) => a.scope == Scope::Link,
        }
    }
}

/// A compiled field expression.
#[derive(Debug)]
pub(crate) enum Expr {
    Const(Val<'static>),
    Field(Field),
    /// `e != nil` (true) / `e = nil` (false).
    Exists(Box<Expr>, bool),
    Not(Box<Expr>),
    Neg(Box<Expr>),
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    Cmp(CmpOp, Box<Expr>, Box<Expr>),
    Regex {
        value: Box<Expr>,
        res: Vec<Regex>,
        negate: bool,
    },
    Arith(crate::ast::ArithOp, Box<Expr>, Box<Expr>),
}

/// Where a field is read: a span, and the event and link bound while testing a filter.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ctx<'v, 'a> {
    pub(crate) view: &'v TraceView<'a>,
    pub(crate) span: usize,
    pub(crate) event: Option<usize>,
    pub(crate) link: Option<usize>,
}

impl<'v, 'a> Ctx<'v, 'a> {
    pub(crate) fn span(view: &'v TraceView<'a>, span: usize) -> Self {
        Ctx {
            view,
            span,
            event: None,
            link: None,
        }
    }
}

impl Expr {
    /// Compiles; fails only on a regex that does not compile (validation rejects those first).
    pub(crate) fn compile(e: &FieldExpr) -> Result<Expr, EvalError> {
        Ok(match e {
            FieldExpr::Static(s) => Expr::Const(Val::from_static(s)),
            FieldExpr::Intrinsic(i) => Expr::Field(Field::Intrinsic(*i)),
            FieldExpr::Attribute(a) => Expr::Field(Field::Attribute(a.clone())),
            FieldExpr::Unary { op, expr } => {
                let inner = Box::new(Expr::compile(expr)?);
                match op {
                    UnaryOp::Not => Expr::Not(inner),
                    UnaryOp::Neg => Expr::Neg(inner),
                }
            }
            FieldExpr::Binary { op, lhs, rhs } => {
                let nil = |e: &FieldExpr| matches!(e, FieldExpr::Static(Static::Nil));
                match op {
                    BinaryOp::Cmp(c @ (CmpOp::Eq | CmpOp::Ne)) if nil(rhs) || nil(lhs) => {
                        let other = if nil(rhs) { lhs } else { rhs };
                        Expr::Exists(Box::new(Expr::compile(other)?), *c == CmpOp::Ne)
                    }
                    BinaryOp::Cmp(c) => Expr::Cmp(
                        *c,
                        Box::new(Expr::compile(lhs)?),
                        Box::new(Expr::compile(rhs)?),
                    ),
                    BinaryOp::And => {
                        Expr::And(Box::new(Expr::compile(lhs)?), Box::new(Expr::compile(rhs)?))
                    }
                    BinaryOp::Or => {
                        Expr::Or(Box::new(Expr::compile(lhs)?), Box::new(Expr::compile(rhs)?))
                    }
                    BinaryOp::Arith(a) => Expr::Arith(
                        *a,
                        Box::new(Expr::compile(lhs)?),
                        Box::new(Expr::compile(rhs)?),
                    ),
                    BinaryOp::Regex | BinaryOp::NotRegex => {
                        let patterns: Vec<&str> = match &**rhs {
                            FieldExpr::Static(Static::String(p)) => vec![p.as_str()],
                            FieldExpr::Static(Static::Array(items)) => items
                                .iter()
                                .filter_map(|i| match i {
                                    Static::String(p) => Some(p.as_str()),
                                    _ => None,
                                })
                                .collect(),
                            other => {
                                return Err(EvalError::new(format!(
                                    "the right side of a regex match must be a string: {other}"
                                )));
                            }
                        };
                        let mut res = Vec::with_capacity(patterns.len());
                        for p in patterns {
                            res.push(compile_regex(p).map_err(|e| {
                                EvalError::new(format!("invalid regex {p:?}: {e}"))
                            })?);
                        }
                        Expr::Regex {
                            value: Box::new(Expr::compile(lhs)?),
                            res,
                            negate: *op == BinaryOp::NotRegex,
                        }
                    }
                }
            }
        })
    }

    /// Calls `f` on every field the expression reads, in order.
    pub(crate) fn fields<'e>(&'e self, f: &mut dyn FnMut(&'e Field)) {
        match self {
            Expr::Const(_) => {}
            Expr::Field(x) => f(x),
            Expr::Exists(e, _) | Expr::Not(e) | Expr::Neg(e) => e.fields(f),
            Expr::Regex { value, .. } => value.fields(f),
            Expr::And(a, b) | Expr::Or(a, b) | Expr::Cmp(_, a, b) | Expr::Arith(_, a, b) => {
                a.fields(f);
                b.fields(f);
            }
        }
    }

    /// (reads event fields, reads link fields)
    pub(crate) fn binds(&self) -> (bool, bool) {
        let (mut ev, mut link) = (false, false);
        self.fields(&mut |f| {
            ev |= f.on_event();
            link |= f.on_link();
        });
        (ev, link)
    }

    pub(crate) fn eval<'a>(&self, cx: &Ctx<'_, 'a>) -> Val<'a> {
        match self {
            Expr::Const(v) => v.clone(),
            Expr::Field(f) => read(f, cx),
            Expr::Exists(e, present) => Val::Bool(e.eval(cx).is_nil() != *present),
            Expr::Not(e) => match e.eval(cx) {
                Val::Bool(b) => Val::Bool(!b),
                _ => Val::Nil,
            },
            Expr::Neg(e) => negate(&e.eval(cx)),
            Expr::And(a, b) => {
                Val::Bool(a.eval(cx) == Val::Bool(true) && b.eval(cx) == Val::Bool(true))
            }
            Expr::Or(a, b) => {
                Val::Bool(a.eval(cx) == Val::Bool(true) || b.eval(cx) == Val::Bool(true))
            }
            Expr::Cmp(op, a, b) => Val::Bool(compare(*op, &a.eval(cx), &b.eval(cx))),
            Expr::Regex { value, res, negate } => {
                Val::Bool(regex_match(&value.eval(cx), res, *negate))
            }
            Expr::Arith(op, a, b) => arith(*op, &a.eval(cx), &b.eval(cx)),
        }
    }
}

fn hex_or_nil<'a>(bytes: &[u8]) -> Val<'a> {
    if bytes.is_empty() {
        Val::Nil
    } else {
        Val::Str(Cow::Owned(hex_lower(bytes)))
    }
}

pub(crate) fn hex_lower(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[(b >> 4) as usize] as char);
        s.push(DIGITS[(b & 15) as usize] as char);
    }
    s
}

/// The first value of `key` among `attrs` that has one.
fn attr<'a>(attrs: &'a [KeyValue], key: &str) -> Val<'a> {
    attrs
        .iter()
        .filter(|kv| kv.key == key)
        .map(|kv| Val::from_any(kv.value.as_ref()))
        .find(|v| !v.is_nil())
        .unwrap_or(Val::Nil)
}

pub(crate) fn status_of(code: i32) -> Option<Status> {
    match code {
        0 => Some(Status::Unset),
        1 => Some(Status::Ok),
        2 => Some(Status::Error),
        _ => None,
    }
}

pub(crate) fn kind_of(kind: i32) -> Option<Kind> {
    Kind::ALL.get(usize::try_from(kind).ok()?).copied()
}

fn read<'a>(f: &Field, cx: &Ctx<'_, 'a>) -> Val<'a> {
    let view = cx.view;
    let span = view.span(cx.span);
    // The bound event (link), or when none is bound, each in turn until one gives a value.
    let events = || -> Box<dyn Iterator<Item = &'a sextant_model::otlp::Event>> {
        match cx.event {
            Some(e) => Box::new(span.events.get(e).into_iter()),
            None => Box::new(span.events.iter()),
        }
    };
    let links = || -> Box<dyn Iterator<Item = &'a sextant_model::otlp::Link>> {
        match cx.link {
            Some(l) => Box::new(span.links.get(l).into_iter()),
            None => Box::new(span.links.iter()),
        }
    };
    let first = |mut it: Box<dyn Iterator<Item = Val<'a>> + '_>| {
        it.find(|v| !v.is_nil()).unwrap_or(Val::Nil)
    };
    let root = view.root().map(|r| view.span(r));
    match f {
        Field::Attribute(a) => {
            if a.parent {
                return Val::Nil;
            }
            let resource = || {
                view.resource(cx.span)
                    .map_or(Val::Nil, |r| attr(&r.attributes, &a.name))
            };
            match a.scope {
                Scope::Span => attr(&span.attributes, &a.name),
                Scope::Resource => resource(),
                Scope::None => match attr(&span.attributes, &a.name) {
                    Val::Nil => resource(),
                    v => v,
                },
                Scope::Event => first(Box::new(events().map(|e| attr(&e.attributes, &a.name)))),
                Scope::Link => first(Box::new(links().map(|l| attr(&l.attributes, &a.name)))),
                Scope::Instrumentation => view
                    .scope(cx.span)
                    .map_or(Val::Nil, |s| attr(&s.attributes, &a.name)),
            }
        }
        Field::Intrinsic(i) => match i {
            Intrinsic::Duration | Intrinsic::SpanDuration => Val::Duration(
                span.end_time_unix_nano
                    .wrapping_sub(span.start_time_unix_nano) as i64,
            ),
            Intrinsic::Name | Intrinsic::SpanName => Val::Str(Cow::Borrowed(&span.name)),
            Intrinsic::Status | Intrinsic::SpanStatus => {
                let code = span.status.as_ref().map_or(0, |s| s.code);
                status_of(code).map_or(Val::Nil, Val::Status)
            }
            Intrinsic::StatusMessage | Intrinsic::SpanStatusMessage => Val::Str(Cow::Borrowed(
                span.status.as_ref().map_or("", |s| s.message.as_str()),
            )),
            Intrinsic::Kind | Intrinsic::SpanKind => kind_of(span.kind).map_or(Val::Nil, Val::Kind),
            Intrinsic::Parent => Val::Nil,
            Intrinsic::RootName | Intrinsic::TraceRootName => {
                root.map_or(Val::Nil, |r| Val::Str(Cow::Borrowed(&r.name)))
            }
            Intrinsic::RootServiceName | Intrinsic::TraceRootService => view
                .root()
                .and_then(|r| view.resource(r))
                .map_or(Val::Nil, |res| attr(&res.attributes, "service.name")),
            Intrinsic::TraceDuration | Intrinsic::TraceDurationScoped => {
                let d = view.end().saturating_sub(view.start());
                Val::Duration(i64::try_from(d).unwrap_or(i64::MAX))
            }
            Intrinsic::NestedSetLeft => Val::Int(view.nested(cx.span).0),
            Intrinsic::NestedSetRight => Val::Int(view.nested(cx.span).1),
            Intrinsic::NestedSetParent => Val::Int(view.nested(cx.span).2),
            Intrinsic::ChildCount | Intrinsic::SpanChildCount => {
                Val::Int(view.child_count(cx.span) as i64)
            }
            Intrinsic::TraceId => hex_or_nil(&span.trace_id),
            Intrinsic::SpanId => hex_or_nil(&span.span_id),
            Intrinsic::SpanParentId => hex_or_nil(&span.parent_span_id),
            Intrinsic::EventName => first(Box::new(
                events().map(|e| Val::Str(Cow::Borrowed(e.name.as_str()))),
            )),
            Intrinsic::EventTimeSinceStart => first(Box::new(events().map(|e| {
                Val::Duration(e.time_unix_nano.wrapping_sub(span.start_time_unix_nano) as i64)
            }))),
            Intrinsic::LinkTraceId => first(Box::new(links().map(|l| hex_or_nil(&l.trace_id)))),
            Intrinsic::LinkSpanId => first(Box::new(links().map(|l| hex_or_nil(&l.span_id)))),
            Intrinsic::InstrumentationName => view
                .scope(cx.span)
                .map_or(Val::Nil, |s| Val::Str(Cow::Borrowed(&s.name))),
            Intrinsic::InstrumentationVersion => view
                .scope(cx.span)
                .map_or(Val::Nil, |s| Val::Str(Cow::Borrowed(&s.version))),
        },
    }
}
