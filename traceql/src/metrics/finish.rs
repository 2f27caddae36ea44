//! From accumulated state to series: functions' values, second stages, arithmetic, ordering.

use sextant_model::{MetricSeries, Sample};

use super::acc::{Ex, State, quantile};
use super::labels::{LabelVal, Labels, to_otlp};
use super::{Acc, CMetrics, Compiled, Func, MetricsOutput, collect};
use crate::ast::{ArithOp, CmpOp, MetricsExpr, MetricsPipeline, RootExpr, SecondStage, Static};

/// A series during evaluation: one value per sample of the grid, NaN where there is none.
#[derive(Debug, Clone)]
pub(crate) struct Series {
    pub(crate) labels: Labels,
    pub(crate) values: Vec<f64>,
    pub(crate) exemplars: Vec<Ex>,
}

/// What an arithmetic operand evaluates to.
enum Operand {
    Number(f64),
    Set(Vec<Series>),
}

pub(super) fn finish(c: &Compiled, accs: Vec<Acc>, truncated: bool) -> MetricsOutput {
    let RootExpr::Metrics(m) = &c.query.root else {
        unreachable!("only metrics queries compile")
    };
    let mut asts = Vec::new();
    collect(&m.expr, &mut asts);
    let mut parts = asts.into_iter().zip(&c.pipelines).zip(accs);
    let n = c.grid.len();
    let set = match eval(c, &m.expr, &mut parts) {
        Operand::Number(x) => vec![Series {
            labels: Vec::new(),
            values: vec![finite(x); n],
            exemplars: Vec::new(),
        }],
        Operand::Set(s) => s,
    };
    let mut set = stages(set, &m.stages);
    set.sort_by(|a, b| a.labels.cmp(&b.labels));
    let series = set
        .into_iter()
        .filter_map(|s| {
            let samples: Vec<Sample> = s
                .values
                .iter()
                .enumerate()
                .filter(|(_, v)| v.is_finite())
                .map(|(i, v)| Sample {
                    timestamp_ms: c.grid.timestamp_ms(i),
                    value: *v,
                })
                .collect();
            (!samples.is_empty()).then(|| MetricSeries {
                labels: to_otlp(&s.labels),
                samples,
                exemplars: s.exemplars.iter().map(Ex::to_model).collect(),
            })
        })
        .collect();
    MetricsOutput { series, truncated }
}

type Parts<'a, I> = &'a mut I;

fn eval<'c, I>(c: &'c Compiled, e: &MetricsExpr, parts: Parts<'_, I>) -> Operand
where
    I: Iterator<Item = ((&'c MetricsPipeline, &'c CMetrics), Acc)>,
{
    match e {
        MetricsExpr::Number(s) => Operand::Number(number(s)),
        MetricsExpr::Pipeline(_) => {
            let ((ast, p), acc) = parts.next().expect("one accumulator per pipeline");
            Operand::Set(stages(pipeline_series(c, ast, p, acc), &ast.stages))
        }
        MetricsExpr::Binary { op, lhs, rhs } => {
            let l = eval(c, lhs, parts);
            let r = eval(c, rhs, parts);
            arith(*op, l, r, c.exemplars)
        }
    }
}

fn number(s: &Static) -> f64 {
    match s {
        Static::Int(i) => *i as f64,
        Static::Float(f) => *f,
        Static::Duration(d) => *d as f64 / 1e9,
        _ => f64::NAN,
    }
}

fn finite(v: f64) -> f64 {
    if v.is_finite() { v } else { f64::NAN }
}

/// The series of one pipeline's function, before its second stages.
fn pipeline_series(c: &Compiled, ast: &MetricsPipeline, p: &CMetrics, acc: Acc) -> Vec<Series> {
    let map = match acc {
        Acc::Compare(acc) => {
            let Func::Compare(spec) = &p.function else {
                unreachable!("compare accumulators go with compare()")
            };
            return acc.series(spec);
        }
        Acc::Series(map) => map,
    };
    let name = ast.function.name();
    let mut out = Vec::new();
    for (key, s) in map {
        let mut labels: Labels =
            p.by.iter()
                .map(|(k, _)| k.clone())
                .zip(key.iter().cloned())
                .collect();
        let exemplars = s.exemplars.into_sorted();
        match (&p.function, &s.state) {
            (Func::Quantile(_, qs), State::Quantile { buckets, duration }) => {
                let scale = if *duration { 1e-9 } else { 1.0 };
                for q in qs {
                    let mut labels = labels.clone();
                    labels.push(("p".to_owned(), LabelVal::Float(*q)));
                    out.push(Series {
                        labels,
                        values: buckets.iter().map(|b| quantile(b, *q) * scale).collect(),
                        exemplars: exemplars.clone(),
                    });
                }
            }
            (function, state) => {
                if let Func::Histogram(_) = function {
                    let bound = key.last().cloned().unwrap_or(LabelVal::Nil);
                    labels.push(("__bucket".to_owned(), bound));
                }
                if labels.is_empty() {
                    labels.push(("__name__".to_owned(), LabelVal::Str(name.to_owned())));
                }
                let scale = match function {
                    Func::Rate => 1.0 / c.grid.step_seconds(),
                    _ => 1.0,
                };
                out.push(Series {
                    labels,
                    values: state.values(scale).into_iter().map(finite).collect(),
                    exemplars,
                });
            }
        }
    }
    out
}

/// Applies second stages in order; series left without values are dropped.
fn stages(mut set: Vec<Series>, stages: &[SecondStage]) -> Vec<Series> {
    // Ties in topk/bottomk go to the series first in label order.
    set.sort_by(|a, b| a.labels.cmp(&b.labels));
    for stage in stages {
        match stage {
            SecondStage::TopK(k) => top(&mut set, *k, true),
            SecondStage::BottomK(k) => top(&mut set, *k, false),
            SecondStage::Filter(op, threshold) => {
                let t = number(threshold);
                for s in &mut set {
                    for v in &mut s.values {
                        if !v.is_nan() && !holds(*op, *v, t) {
                            *v = f64::NAN;
                        }
                    }
                }
            }
        }
    }
    set.retain(|s| s.values.iter().any(|v| !v.is_nan()));
    set
}

fn holds(op: CmpOp, v: f64, t: f64) -> bool {
    match op {
        CmpOp::Eq => v == t,
        CmpOp::Ne => v != t,
        CmpOp::Gt => v > t,
        CmpOp::Ge => v >= t,
        CmpOp::Lt => v < t,
        CmpOp::Le => v <= t,
    }
}

/// At each sample, keeps the `k` largest (`largest`) or smallest present values.
fn top(set: &mut [Series], k: i64, largest: bool) {
    let k = usize::try_from(k).unwrap_or(0);
    let n = set.iter().map(|s| s.values.len()).max().unwrap_or(0);
    for i in 0..n {
        let mut present: Vec<(f64, usize)> = set
            .iter()
            .enumerate()
            .filter_map(|(j, s)| s.values.get(i).filter(|v| !v.is_nan()).map(|v| (*v, j)))
            .collect();
        present.sort_by(|a, b| {
            let o = a.0.total_cmp(&b.0);
            (if largest { o.reverse() } else { o }).then(a.1.cmp(&b.1))
        });
        for (_, j) in present.into_iter().skip(k) {
            set[j].values[i] = f64::NAN;
        }
    }
}

fn apply(op: ArithOp, a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        return f64::NAN;
    }
    finite(match op {
        ArithOp::Add => a + b,
        ArithOp::Sub => a - b,
        ArithOp::Mul => a * b,
        ArithOp::Div => a / b,
        ArithOp::Mod => a % b,
        ArithOp::Pow => a.powf(b),
    })
}

fn without_name(labels: &Labels) -> Labels {
    labels
        .iter()
        .filter(|(k, _)| k != "__name__")
        .cloned()
        .collect()
}

fn arith(op: ArithOp, l: Operand, r: Operand, limit: usize) -> Operand {
    let scalar = |mut set: Vec<Series>, f: &dyn Fn(f64) -> f64| {
        for s in &mut set {
            s.values.iter_mut().for_each(|v| *v = f(*v));
        }
        Operand::Set(set)
    };
    match (l, r) {
        (Operand::Number(a), Operand::Number(b)) => Operand::Number(apply(op, a, b)),
        (Operand::Set(set), Operand::Number(b)) => scalar(set, &|v| apply(op, v, b)),
        (Operand::Number(a), Operand::Set(set)) => scalar(set, &|v| apply(op, a, v)),
        (Operand::Set(l), Operand::Set(r)) => {
            let mut r: Vec<(Labels, Series)> = r
                .into_iter()
                .map(|s| (without_name(&s.labels), s))
                .collect();
            let mut out = Vec::new();
            for ls in l {
                let key = without_name(&ls.labels);
                let Some(pos) = r.iter().position(|(k, _)| *k == key) else {
                    continue;
                };
                let (_, rs) = r.swap_remove(pos);
                let values = ls
                    .values
                    .iter()
                    .zip(&rs.values)
                    .map(|(a, b)| apply(op, *a, *b))
                    .collect();
                let mut exemplars = ls.exemplars;
                exemplars.extend(rs.exemplars);
                exemplars.sort_by_key(Ex::key);
                exemplars.dedup_by_key(|e| e.key());
                exemplars.truncate(limit);
                out.push(Series {
                    labels: key,
                    values,
                    exemplars,
                });
            }
            Operand::Set(out)
        }
    }
}
