//! `compare({selection}, topN, start, end)`: the attribute values of the selected spans
//! against those of the rest of the base pipeline's spans.

use std::collections::HashMap;

use super::acc::{Ex, Exemplars};
use super::finish::Series;
use super::labels::LabelVal;
use super::{Budget, Compiled};
use crate::ast::{FieldExpr, Intrinsic, Pipeline, SpansetExpr, Stage};
use crate::error::EvalError;
use crate::eval::expr::{Ctx, Expr};
use crate::eval::pipeline::{CPipeline, Set};
use crate::eval::value::Val;
use crate::view::TraceView;

/// Tempo's default `topN`.
const DEFAULT_TOP_N: usize = 10;
/// The intrinsics whose values are compared, with the attributes.
const INTRINSICS: [Intrinsic; 4] = [
    Intrinsic::Name,
    Intrinsic::Status,
    Intrinsic::Kind,
    Intrinsic::StatusMessage,
];
const SIDES: [&str; 2] = ["baseline", "selection"];

#[derive(Debug)]
pub(crate) struct CompareSpec {
    selection: CPipeline,
    top_n: usize,
    /// Selected spans also start within `[start, end]` (Unix ns).
    window: Option<(u64, u64)>,
    intrinsics: Vec<(String, Expr)>,
}

impl CompareSpec {
    pub(crate) fn compile(
        filter: &SpansetExpr,
        top_n: Option<i64>,
        window: Option<(i64, i64)>,
    ) -> Result<CompareSpec, EvalError> {
        let selection = CPipeline::compile(&Pipeline {
            stages: vec![Stage::Spanset(filter.clone())],
        })?;
        let clamp = |t: i64| u64::try_from(t).unwrap_or(0);
        Ok(CompareSpec {
            selection,
            top_n: top_n
                .and_then(|n| usize::try_from(n).ok())
                .unwrap_or(DEFAULT_TOP_N),
            window: window.map(|(s, e)| (clamp(s), clamp(e))),
            intrinsics: INTRINSICS
                .iter()
                .map(|i| {
                    Ok((
                        i.text().to_owned(),
                        Expr::compile(&FieldExpr::Intrinsic(*i))?,
                    ))
                })
                .collect::<Result<_, EvalError>>()?,
        })
    }
}

/// Counts per sample, by side (0: baseline, 1: selection); empty until the first count.
type Sides = [Vec<f64>; 2];

#[derive(Debug, Default)]
pub(crate) struct CompareAcc {
    keys: HashMap<String, KeyAcc>,
    exemplars: [Exemplars; 2],
}

#[derive(Debug, Default)]
struct KeyAcc {
    totals: Sides,
    values: HashMap<LabelVal, Sides>,
}

fn bump(sides: &mut Sides, side: usize, sample: usize, n: usize, by: f64) {
    if sides[side].is_empty() {
        sides[side] = vec![0.0; n];
    }
    sides[side][sample] += by;
}

impl CompareAcc {
    pub(crate) fn observe(
        &mut self,
        spec: &CompareSpec,
        c: &Compiled,
        budget: &mut Budget,
        trace: &TraceView<'_>,
        spans: &[usize],
    ) {
        let all = Set {
            spans: (0..trace.len()).collect(),
            attributes: Vec::new(),
        };
        let mut selected = vec![false; trace.len()];
        for set in spec.selection.run(trace, vec![all]) {
            for i in set.spans {
                selected[i] = true;
            }
        }
        let n = c.grid.len();
        for &i in spans {
            let span = trace.span(i);
            let start = span.start_time_unix_nano;
            let Some(sample) = c.grid.index(start) else {
                continue;
            };
            let in_window = spec.window.is_none_or(|(s, e)| (s..=e).contains(&start));
            let side = usize::from(selected[i] && in_window);
            let mut add = |key: &str, v: LabelVal| {
                if v == LabelVal::Nil {
                    return;
                }
                let k = match self.keys.get_mut(key) {
                    Some(k) => k,
                    None => self.keys.entry(key.to_owned()).or_default(),
                };
                bump(&mut k.totals, side, sample, n, 1.0);
                let sides = match k.values.get_mut(&v) {
                    Some(s) => s,
                    None if budget.admit(1) => k.values.entry(v).or_default(),
                    None => return,
                };
                bump(sides, side, sample, n, 1.0);
            };
            for kv in &span.attributes {
                let v = LabelVal::from_val(&Val::from_any(kv.value.as_ref()));
                add(&format!("span.{}", kv.key), v);
            }
            if let Some(r) = trace.resource(i) {
                for kv in &r.attributes {
                    let v = LabelVal::from_val(&Val::from_any(kv.value.as_ref()));
                    add(&format!("resource.{}", kv.key), v);
                }
            }
            let cx = Ctx::span(trace, i);
            for (key, e) in &spec.intrinsics {
                add(key, LabelVal::from_val(&e.eval(&cx)));
            }
            let duration = span.end_time_unix_nano.saturating_sub(start) as f64 / 1e9;
            self.exemplars[side].offer(
                c.exemplars,
                sample,
                Ex::new(&span.trace_id, &span.span_id, start, duration),
            );
        }
    }

    pub(crate) fn merge(&mut self, other: CompareAcc, limit: usize, budget: &mut Budget) {
        let add = |a: &mut Sides, b: Sides| {
            for (x, y) in a.iter_mut().zip(b) {
                if x.is_empty() {
                    *x = y;
                } else {
                    x.iter_mut().zip(y).for_each(|(p, q)| *p += q);
                }
            }
        };
        let mut keys: Vec<_> = other.keys.into_iter().collect();
        keys.sort_by(|a, b| a.0.cmp(&b.0));
        for (key, theirs) in keys {
            let mine = self.keys.entry(key).or_default();
            add(&mut mine.totals, theirs.totals);
            let mut values: Vec<_> = theirs.values.into_iter().collect();
            values.sort_by(|a, b| a.0.cmp(&b.0));
            for (v, sides) in values {
                if let Some(m) = mine.values.get_mut(&v) {
                    add(m, sides);
                } else if budget.admit(1) {
                    mine.values.insert(v, sides);
                }
            }
        }
        for (mine, theirs) in self.exemplars.iter_mut().zip(other.exemplars) {
            mine.merge(limit, theirs);
        }
    }

    /// Per key and side: the `topN` values by total count, then the side's totals.
    pub(crate) fn series(self, spec: &CompareSpec) -> Vec<Series> {
        let mut out = Vec::new();
        let exemplars = self.exemplars.map(Exemplars::into_sorted);
        for (key, k) in self.keys {
            for (side, name) in SIDES.iter().enumerate() {
                let mut values: Vec<(f64, &LabelVal, &Vec<f64>)> = k
                    .values
                    .iter()
                    .filter(|(_, s)| !s[side].is_empty())
                    .map(|(v, s)| (s[side].iter().sum(), v, &s[side]))
                    .collect();
                values.sort_by(|a, b| b.0.total_cmp(&a.0).then_with(|| a.1.cmp(b.1)));
                for (_, v, counts) in values.into_iter().take(spec.top_n) {
                    out.push(Series {
                        labels: vec![
                            ("__meta_type".to_owned(), LabelVal::Str((*name).to_owned())),
                            (key.clone(), v.clone()),
                        ],
                        values: counts.clone(),
                        exemplars: Vec::new(),
                    });
                }
                if !k.totals[side].is_empty() {
                    out.push(Series {
                        labels: vec![
                            (
                                "__meta_type".to_owned(),
                                LabelVal::Str(format!("{name}_total")),
                            ),
                            (key.clone(), LabelVal::Nil),
                        ],
                        values: k.totals[side].clone(),
                        exemplars: exemplars[side].clone(),
                    });
                }
            }
        }
        out
    }
}
