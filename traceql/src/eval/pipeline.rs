//! Pipelines compiled for evaluation: spanset expressions over a domain of spans, scalar
//! filters with aggregates, `by()`, `coalesce()`.

use std::collections::HashMap;

use super::expr::{Ctx, Expr, Field};
use super::structural;
use super::value::{Val, arith, compare, group_key};
use crate::ast::*;
use crate::error::EvalError;
use crate::view::TraceView;

/// A spanset during evaluation: span indices (ascending) and its attributes.
#[derive(Debug, Clone)]
pub(crate) struct Set {
    pub(crate) spans: Vec<usize>,
    pub(crate) attributes: Vec<(String, Static)>,
}

#[derive(Debug)]
pub(crate) struct CPipeline {
    stages: Vec<CStage>,
}

#[derive(Debug)]
enum CStage {
    Spanset(CSpanset),
    Scalar(CScalarFilter),
    /// `(attribute key, expression)` per field.
    By(Vec<(String, Expr)>),
    /// Selected fields are reported per span at the end; the stage keeps every span.
    Select,
    Coalesce,
}

#[derive(Debug)]
enum CSpanset {
    /// `None`: `{}`.
    Filter(Option<Filter>),
    Wrapped(Box<CPipeline>),
    Binary(SpansetOp, Box<CSpanset>, Box<CSpanset>),
}

/// `{ expr }`: true on a span when it holds for some event (link) of it, when it reads events
/// (links).
#[derive(Debug)]
struct Filter {
    expr: Expr,
    events: bool,
    links: bool,
}

#[derive(Debug)]
struct CScalarFilter {
    op: CmpOp,
    lhs: CScalar,
    rhs: CScalar,
}

#[derive(Debug)]
enum CScalar {
    /// Key (`count()`), function, argument.
    Aggregate(String, AggFn, Option<Expr>),
    Const(Val<'static>),
    Binary(ArithOp, Box<CScalar>, Box<CScalar>),
}

#[derive(Debug, Clone, Copy)]
enum AggFn {
    Count,
    Avg,
    Min,
    Max,
    Sum,
}

impl CPipeline {
    pub(crate) fn compile(p: &Pipeline) -> Result<CPipeline, EvalError> {
        let mut stages = Vec::with_capacity(p.stages.len());
        for s in &p.stages {
            stages.push(match s {
                Stage::Spanset(e) => CStage::Spanset(CSpanset::compile(e)?),
                Stage::ScalarFilter(f) => CStage::Scalar(CScalarFilter {
                    op: f.op,
                    lhs: CScalar::compile(&f.lhs)?,
                    rhs: CScalar::compile(&f.rhs)?,
                }),
                Stage::By(fields) => CStage::By(
                    fields
                        .iter()
                        .map(|f| Ok((format!("by({f})"), Expr::compile(f)?)))
                        .collect::<Result<_, EvalError>>()?,
                ),
                Stage::Select(_) => CStage::Select,
                Stage::Coalesce => CStage::Coalesce,
            });
        }
        Ok(CPipeline { stages })
    }

    /// Calls `f` on every field a spanset filter reads, in query order (nested pipelines
    /// included).
    pub(crate) fn filter_fields<'e>(&'e self, f: &mut dyn FnMut(&'e Field)) {
        for s in &self.stages {
            if let CStage::Spanset(e) = s {
                e.filter_fields(f);
            }
        }
    }

    /// Runs the stages on `input`; spansets that end up empty are dropped.
    pub(crate) fn run(&self, view: &TraceView<'_>, input: Vec<Set>) -> Vec<Set> {
        let mut sets = input;
        for stage in &self.stages {
            sets = match stage {
                CStage::Spanset(e) => sets
                    .into_iter()
                    .filter_map(|s| {
                        let mut domain = vec![false; view.len()];
                        for i in &s.spans {
                            domain[*i] = true;
                        }
                        let out = e.eval(view, &domain);
                        let spans: Vec<usize> = (0..view.len()).filter(|i| out[*i]).collect();
                        (!spans.is_empty()).then_some(Set {
                            spans,
                            attributes: s.attributes,
                        })
                    })
                    .collect(),
                CStage::Scalar(f) => sets
                    .into_iter()
                    .filter_map(|mut s| {
                        let mut attrs = Vec::new();
                        let l = f.lhs.eval(view, &s.spans, &mut attrs);
                        let r = f.rhs.eval(view, &s.spans, &mut attrs);
                        if !compare(f.op, &l, &r) {
                            return None;
                        }
                        for (k, v) in attrs {
                            if !s.attributes.iter().any(|(x, _)| *x == k) {
                                s.attributes.push((k, v));
                            }
                        }
                        Some(s)
                    })
                    .collect(),
                CStage::By(fields) => sets
                    .into_iter()
                    .flat_map(|s| group(view, s, fields))
                    .collect(),
                CStage::Select => sets,
                CStage::Coalesce => {
                    let mut spans: Vec<usize> = sets.into_iter().flat_map(|s| s.spans).collect();
                    spans.sort_unstable();
                    spans.dedup();
                    if spans.is_empty() {
                        Vec::new()
                    } else {
                        vec![Set {
                            spans,
                            attributes: Vec::new(),
                        }]
                    }
                }
            };
            if sets.is_empty() {
                break;
            }
        }
        sets
    }
}

/// Splits a spanset by the values of the `by()` fields, groups in order of first appearance
/// in start order. Spans where a field is nil group together, without an attribute for that
/// field (they are kept: a search result should not lose spans to grouping).
fn group(view: &TraceView<'_>, s: Set, fields: &[(String, Expr)]) -> Vec<Set> {
    let mut order: Vec<Set> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    let mut by_start = s.spans.clone();
    by_start.sort_by_key(|i| (view.span(*i).start_time_unix_nano, *i));
    for &i in &by_start {
        let cx = Ctx::span(view, i);
        let values: Vec<Val<'_>> = fields.iter().map(|(_, e)| e.eval(&cx)).collect();
        let key = values
            .iter()
            .map(group_key)
            .collect::<Vec<_>>()
            .join("\u{0}");
        let slot = *index.entry(key).or_insert_with(|| {
            let mut attributes = s.attributes.clone();
            for ((name, _), v) in fields.iter().zip(&values) {
                let v = v.to_static();
                if v != Static::Nil && !attributes.iter().any(|(k, _)| k == name) {
                    attributes.push((name.clone(), v));
                }
            }
            order.push(Set {
                spans: Vec::new(),
                attributes,
            });
            order.len() - 1
        });
        order[slot].spans.push(i);
    }
    for g in &mut order {
        g.spans.sort_unstable();
    }
    order
}

impl CSpanset {
    fn compile(e: &SpansetExpr) -> Result<CSpanset, EvalError> {
        Ok(match e {
            SpansetExpr::Filter(None) => CSpanset::Filter(None),
            SpansetExpr::Filter(Some(f)) => {
                let expr = Expr::compile(f)?;
                let (events, links) = expr.binds();
                CSpanset::Filter(Some(Filter {
                    expr,
                    events,
                    links,
                }))
            }
            SpansetExpr::Wrapped(p) => CSpanset::Wrapped(Box::new(CPipeline::compile(p)?)),
            SpansetExpr::Binary { op, lhs, rhs } => CSpanset::Binary(
                *op,
                Box::new(CSpanset::compile(lhs)?),
                Box::new(CSpanset::compile(rhs)?),
            ),
        })
    }

    fn filter_fields<'e>(&'e self, f: &mut dyn FnMut(&'e Field)) {
        match self {
            CSpanset::Filter(None) => {}
            CSpanset::Filter(Some(x)) => x.expr.fields(f),
            CSpanset::Wrapped(p) => p.filter_fields(f),
            CSpanset::Binary(_, a, b) => {
                a.filter_fields(f);
                b.filter_fields(f);
            }
        }
    }

    /// The spans of `domain` the expression selects.
    fn eval(&self, view: &TraceView<'_>, domain: &[bool]) -> Vec<bool> {
        match self {
            CSpanset::Filter(None) => domain.to_vec(),
            CSpanset::Filter(Some(f)) => (0..view.len())
                .map(|i| domain[i] && f.matches(view, i))
                .collect(),
            CSpanset::Wrapped(p) => {
                let input = Set {
                    spans: (0..view.len()).filter(|i| domain[*i]).collect(),
                    attributes: Vec::new(),
                };
                let mut out = vec![false; view.len()];
                for s in p.run(view, vec![input]) {
                    for i in s.spans {
                        out[i] = true;
                    }
                }
                out
            }
            CSpanset::Binary(op, a, b) => {
                let l = a.eval(view, domain);
                let r = b.eval(view, domain);
                structural::apply(*op, view, &l, &r)
            }
        }
    }
}

impl Filter {
    fn matches(&self, view: &TraceView<'_>, i: usize) -> bool {
        let span = view.span(i);
        let events: Vec<Option<usize>> = if self.events && !span.events.is_empty() {
            (0..span.events.len()).map(Some).collect()
        } else {
            vec![None]
        };
        let links: Vec<Option<usize>> = if self.links && !span.links.is_empty() {
            (0..span.links.len()).map(Some).collect()
        } else {
            vec![None]
        };
        events.iter().any(|&event| {
            links.iter().any(|&link| {
                let cx = Ctx {
                    view,
                    span: i,
                    event,
                    link,
                };
                self.expr.eval(&cx) == Val::Bool(true)
            })
        })
    }
}

impl CScalar {
    fn compile(e: &ScalarExpr) -> Result<CScalar, EvalError> {
        Ok(match e {
            ScalarExpr::Aggregate(a) => {
                let f = match a {
                    Aggregate::Count => AggFn::Count,
                    Aggregate::Avg(_) => AggFn::Avg,
                    Aggregate::Min(_) => AggFn::Min,
                    Aggregate::Max(_) => AggFn::Max,
                    Aggregate::Sum(_) => AggFn::Sum,
                };
                CScalar::Aggregate(a.to_string(), f, a.arg().map(Expr::compile).transpose()?)
            }
            ScalarExpr::Static(s) => CScalar::Const(Val::from_static(s)),
            ScalarExpr::Wrapped(..) => {
                return Err(EvalError::new("wrapped pipelines in a scalar filter"));
            }
            ScalarExpr::Binary { op, lhs, rhs } => CScalar::Binary(
                *op,
                Box::new(CScalar::compile(lhs)?),
                Box::new(CScalar::compile(rhs)?),
            ),
        })
    }

    /// The value over `spans`; each aggregate computed is added to `attrs`.
    fn eval(
        &self,
        view: &TraceView<'_>,
        spans: &[usize],
        attrs: &mut Vec<(String, Static)>,
    ) -> Val<'static> {
        match self {
            CScalar::Const(v) => v.clone(),
            CScalar::Binary(op, a, b) => {
                let l = a.eval(view, spans, attrs);
                let r = b.eval(view, spans, attrs);
                arith(*op, &l, &r)
            }
            CScalar::Aggregate(key, f, arg) => {
                let v = aggregate(view, spans, *f, arg.as_ref());
                let s = v.to_static();
                if s != Static::Nil && !attrs.iter().any(|(k, _)| k == key) {
                    attrs.push((key.clone(), s));
                }
                v
            }
        }
    }
}

/// An aggregate over the numeric values of `arg` on `spans` (nil and other values ignored).
/// Sums keep the operands' type (a float makes it a float); the average of durations is a
/// duration, of other numbers a float; without values the result is nil.
fn aggregate(view: &TraceView<'_>, spans: &[usize], f: AggFn, arg: Option<&Expr>) -> Val<'static> {
    let Some(arg) = arg else {
        return Val::Int(spans.len() as i64);
    };
    let values: Vec<Val<'static>> = spans
        .iter()
        .map(|i| arg.eval(&Ctx::span(view, *i)).into_owned())
        .filter(|v| matches!(v, Val::Int(_) | Val::Float(_) | Val::Duration(_)))
        .collect();
    let Some(first) = values.first().cloned() else {
        return Val::Nil;
    };
    let pick = |want: CmpOp| {
        values.iter().skip(1).fold(first.clone(), |best, v| {
            if compare(want, v, &best) {
                v.clone()
            } else {
                best
            }
        })
    };
    match f {
        AggFn::Count => Val::Int(spans.len() as i64),
        AggFn::Min => pick(CmpOp::Lt),
        AggFn::Max => pick(CmpOp::Gt),
        AggFn::Sum => sum(&values),
        AggFn::Avg => {
            let total = sum(&values);
            let n = values.len() as f64;
            match total {
                Val::Duration(d) => Val::Duration((d as f64 / n) as i64),
                Val::Int(i) => Val::Float(i as f64 / n),
                Val::Float(x) => Val::Float(x / n),
                _ => Val::Nil,
            }
        }
    }
}

fn sum(values: &[Val<'static>]) -> Val<'static> {
    let mut acc = Val::Int(0);
    let mut all_durations = true;
    for v in values {
        all_durations &= matches!(v, Val::Duration(_));
        // Integer overflow falls back to floats rather than failing.
        acc = match arith(ArithOp::Add, &acc, v) {
            Val::Nil => arith(ArithOp::Add, &to_float(&acc), &to_float(v)),
            x => x,
        };
    }
    match acc {
        Val::Float(f) if all_durations => Val::Duration(f as i64),
        other => other,
    }
}

fn to_float(v: &Val<'_>) -> Val<'static> {
    match v {
        Val::Int(i) | Val::Duration(i) => Val::Float(*i as f64),
        Val::Float(f) => Val::Float(*f),
        _ => Val::Nil,
    }
}
