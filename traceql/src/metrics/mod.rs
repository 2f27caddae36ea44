//! The metrics engine: a metrics query compiled once ([`Metrics`]), fed one trace at a time,
//! split for parallel work ([`Metrics::fork`], [`Metrics::merge`]) and turned into series
//! ([`Metrics::finish`]), with Tempo's semantics (`reference/tempo-spec.md` §3.6, §7.5).
//!
//! Choices where Tempo leaves room:
//! - A span counts once per metrics pipeline however many of its spansets hold it; its sample
//!   is chosen by its start time ([`Grid::index`]).
//! - Durations (`duration`, `traceDuration`, duration arithmetic) are reported in seconds;
//!   as `by()` labels they are integer nanoseconds. Spans whose field is nil or not a number
//!   are skipped by the `_over_time` functions.
//! - `quantile_over_time` reads log2 buckets (upper bound `2^⌈log2 v⌉`, durations in ns, values
//!   `≤ 1` in bucket 1 = `[0, 1]`) and interpolates linearly inside the bucket that holds rank
//!   `q · n`. The exact nearest-rank quantile lies in that same bucket, so for values above 1
//!   the answer is within a factor of 2 of it (and within its bucket `[b/2, b]`).
//! - `__name__` (the function's name) labels only a series that would otherwise have no labels:
//!   no `by()`, and not a quantile (`p`) or histogram (`__bucket`) series.
//! - `histogram_over_time` gives one count series per bucket, labelled `__bucket` = the bucket's
//!   upper bound (seconds for durations).
//! - Arithmetic between two series sets matches series whose labels are equal once `__name__`
//!   is removed; the result carries those labels and the exemplars of both sides. With a number,
//!   a series keeps its labels. A number on its own (`2 + 3`) is one series without labels
//!   holding the constant at every sample. NaN and infinite results are dropped.
//! - `compare()` counts (per sample, not per second) the values of the span attributes
//!   (`span.<key>`), resource attributes (`resource.<key>`) and the intrinsics `name`, `status`,
//!   `kind` and `statusMessage` of every base span; array, map and bytes values are left out.
//!   Per key and side the `topN` values with the largest totals (ties: smaller value first)
//!   are emitted; the others are left out (no `__meta_error` series). The exemplars of a side
//!   go with its `_total` series.
//! - `max_series` counts the series as they first appear (each `by()` group of a quantile counts
//!   once per quantile; each `compare()` value counts, its totals do not); spans of series
//!   beyond it are dropped and the answer is marked truncated.
//! - Memory: per series one value per sample (`Grid::len`), a sparse bucket map per sample for
//!   quantiles, and at most the exemplar limit of exemplars; the caller bounds the grid (Tempo's
//!   `max_metrics_duration`) and `max_series` bounds the series.
//! - The hint `with(exemplars=false)` or `=0` turns exemplars off; `=n` lowers the limit to `n`.

mod acc;
mod compare;
mod finish;
mod grid;
mod labels;

use std::collections::HashMap;
use std::sync::Arc;

use sextant_model::{FetchRequest, MetricSeries};

use crate::ast::*;
use crate::error::{Error, EvalError, ValidateError};
use crate::eval::expr::{Ctx, Expr};
use crate::eval::pipeline::{CPipeline, Set};
use crate::eval::value::Val;
use crate::view::TraceView;
use acc::{Ex, Exemplars, State, bucket_exp};
use compare::{CompareAcc, CompareSpec};
pub use grid::Grid;
use labels::LabelVal;

/// A compiled metrics query with its accumulated state.
#[derive(Debug)]
pub struct Metrics {
    compiled: Arc<Compiled>,
    /// One per metrics pipeline, in query order (left to right).
    accs: Vec<Acc>,
    budget: Budget,
    spans: u64,
}

/// The result of a metrics query.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MetricsOutput {
    /// Sorted by labels; samples and exemplars oldest first.
    pub series: Vec<MetricSeries>,
    /// `max_series` cut the series.
    pub truncated: bool,
}

#[derive(Debug)]
struct Compiled {
    query: Query,
    grid: Grid,
    max_series: usize,
    exemplars: usize,
    pipelines: Vec<CMetrics>,
}

/// One compiled metrics pipeline.
#[derive(Debug)]
struct CMetrics {
    pipeline: CPipeline,
    function: Func,
    /// Label key and field of each `by()` entry.
    by: Vec<(String, Expr)>,
}

#[derive(Debug)]
enum Func {
    Rate,
    Count,
    Min(Expr),
    Max(Expr),
    Sum(Expr),
    Avg(Expr),
    Quantile(Expr, Vec<f64>),
    Histogram(Expr),
    Compare(CompareSpec),
}

/// What one pipeline accumulates.
#[derive(Debug)]
enum Acc {
    /// Series by their `by()` values (and, for histograms, the bucket bound last).
    Series(HashMap<Vec<LabelVal>, SeriesAcc>),
    Compare(CompareAcc),
}

#[derive(Debug)]
struct SeriesAcc {
    state: State,
    exemplars: Exemplars,
}

/// The series limit shared by the pipelines of one accumulator.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Budget {
    max: usize,
    used: usize,
    pub(crate) truncated: bool,
}

impl Budget {
    fn new(max: usize) -> Budget {
        Budget {
            max,
            used: 0,
            truncated: false,
        }
    }

    /// Takes room for `cost` new series, or marks the result truncated.
    pub(crate) fn admit(&mut self, cost: usize) -> bool {
        if self.max != 0 && self.used + cost > self.max {
            self.truncated = true;
            return false;
        }
        self.used += cost;
        true
    }
}

impl Metrics {
    /// Validates ([`Query::validate`]) and compiles a metrics query; refuses other queries.
    /// `max_series` (0: unlimited) bounds the distinct series kept; `exemplars` is the most
    /// exemplars per series (0: none), which the hint `with(exemplars=...)` can lower.
    pub fn new(
        query: &Query,
        grid: Grid,
        max_series: usize,
        exemplars: usize,
    ) -> Result<Metrics, Error> {
        query.validate()?;
        let RootExpr::Metrics(m) = &query.root else {
            return Err(Error::Validate(ValidateError::Invalid(
                "not a metrics query: it needs a metrics function such as rate()".to_owned(),
            )));
        };
        let mut pipelines = Vec::new();
        collect(&m.expr, &mut pipelines);
        let pipelines = pipelines
            .into_iter()
            .map(CMetrics::compile)
            .collect::<Result<Vec<_>, EvalError>>()
            .map_err(|e| Error::Validate(ValidateError::Invalid(e.message().to_owned())))?;
        let exemplars = match query.hints.iter().rev().find(|h| h.name == "exemplars") {
            Some(Hint {
                value: Static::Bool(false),
                ..
            }) => 0,
            Some(Hint {
                value: Static::Int(n),
                ..
            }) => exemplars.min(usize::try_from(*n).unwrap_or(0)),
            _ => exemplars,
        };
        let compiled = Arc::new(Compiled {
            query: query.clone(),
            grid,
            max_series,
            exemplars,
            pipelines,
        });
        Ok(Metrics::empty(compiled))
    }

    fn empty(compiled: Arc<Compiled>) -> Metrics {
        let accs = compiled
            .pipelines
            .iter()
            .map(|p| match &p.function {
                Func::Compare(_) => Acc::Compare(CompareAcc::default()),
                _ => Acc::Series(HashMap::new()),
            })
            .collect();
        let budget = Budget::new(compiled.max_series);
        Metrics {
            compiled,
            accs,
            budget,
            spans: 0,
        }
    }

    /// The grid the query was compiled for.
    pub fn grid(&self) -> Grid {
        self.compiled.grid
    }

    /// The store pre-filter over [`Grid::window`]: a superset of the traces with spans that
    /// any of the pipelines counts.
    pub fn fetch_request(&self) -> FetchRequest {
        crate::plan::fetch_request(&self.compiled.query, self.compiled.grid.window())
    }

    /// An empty accumulator for the same query, to [`merge`](Metrics::merge) later.
    pub fn fork(&self) -> Metrics {
        Metrics::empty(Arc::clone(&self.compiled))
    }

    /// Evaluates every pipeline of the query on one trace and adds the spans they match whose
    /// start falls in the grid.
    pub fn observe(&mut self, trace: &TraceView<'_>) -> Result<(), EvalError> {
        if trace.is_empty() {
            return Ok(());
        }
        let c = &*self.compiled;
        for (p, acc) in c.pipelines.iter().zip(&mut self.accs) {
            let all = Set {
                spans: (0..trace.len()).collect(),
                attributes: Vec::new(),
            };
            let mut spans: Vec<usize> = p
                .pipeline
                .run(trace, vec![all])
                .into_iter()
                .flat_map(|s| s.spans)
                .collect();
            spans.sort_unstable();
            spans.dedup();
            spans.retain(|i| c.grid.index(trace.span(*i).start_time_unix_nano).is_some());
            if spans.is_empty() {
                continue;
            }
            self.spans += spans.len() as u64;
            match (acc, &p.function) {
                (Acc::Compare(acc), Func::Compare(spec)) => {
                    acc.observe(spec, c, &mut self.budget, trace, &spans);
                }
                (Acc::Series(series), _) => {
                    for i in spans {
                        p.observe_span(c, &mut self.budget, series, trace, i);
                    }
                }
                (Acc::Compare(_), _) => unreachable!("compare accumulators go with compare()"),
            }
        }
        Ok(())
    }

    /// Adds what `other` (a [`fork`](Metrics::fork) of the same query) accumulated.
    pub fn merge(&mut self, other: Metrics) {
        let limit = self.compiled.exemplars;
        self.spans += other.spans;
        self.budget.truncated |= other.budget.truncated;
        let c = &*self.compiled;
        for ((p, mine), theirs) in c.pipelines.iter().zip(&mut self.accs).zip(other.accs) {
            match (mine, theirs) {
                (Acc::Series(mine), Acc::Series(theirs)) => {
                    let mut theirs: Vec<_> = theirs.into_iter().collect();
                    // New series are admitted in label order, so which ones a limit keeps does
                    // not depend on hashing.
                    theirs.sort_by(|a, b| a.0.cmp(&b.0));
                    for (key, s) in theirs {
                        if let Some(m) = mine.get_mut(&key) {
                            m.state.merge(s.state);
                            m.exemplars.merge(limit, s.exemplars);
                        } else {
                            if self.budget.admit(p.cost()) {
                                mine.insert(key, s);
                            }
                        }
                    }
                }
                (Acc::Compare(mine), Acc::Compare(theirs)) => {
                    mine.merge(theirs, limit, &mut self.budget);
                }
                _ => unreachable!("forks share their pipelines"),
            }
        }
    }

    /// Spans counted so far (each time a pipeline counted one).
    pub fn spans_observed(&self) -> u64 {
        self.spans
    }

    /// Second stages, arithmetic and ordering: the series, and whether `max_series` cut them.
    pub fn finish(self) -> MetricsOutput {
        finish::finish(&self.compiled, self.accs, self.budget.truncated)
    }
}

fn collect<'a>(e: &'a MetricsExpr, out: &mut Vec<&'a MetricsPipeline>) {
    match e {
        MetricsExpr::Pipeline(p) => out.push(p),
        MetricsExpr::Number(_) => {}
        MetricsExpr::Binary { lhs, rhs, .. } => {
            collect(lhs, out);
            collect(rhs, out);
        }
    }
}

/// A field's value as a number: `(value in reporting units, raw for bucketing, is duration)`.
fn number(v: &Val<'_>) -> Option<(f64, f64, bool)> {
    match v {
        Val::Int(i) => Some((*i as f64, *i as f64, false)),
        Val::Float(f) if f.is_finite() => Some((*f, *f, false)),
        Val::Duration(d) => Some((*d as f64 / 1e9, *d as f64, true)),
        _ => None,
    }
}

impl CMetrics {
    fn compile(p: &MetricsPipeline) -> Result<CMetrics, EvalError> {
        let e = Expr::compile;
        let function = match &p.function {
            MetricsFunction::Rate => Func::Rate,
            MetricsFunction::CountOverTime => Func::Count,
            MetricsFunction::MinOverTime(f) => Func::Min(e(f)?),
            MetricsFunction::MaxOverTime(f) => Func::Max(e(f)?),
            MetricsFunction::SumOverTime(f) => Func::Sum(e(f)?),
            MetricsFunction::AvgOverTime(f) => Func::Avg(e(f)?),
            MetricsFunction::QuantileOverTime(f, qs) => Func::Quantile(e(f)?, qs.clone()),
            MetricsFunction::HistogramOverTime(f) => Func::Histogram(e(f)?),
            MetricsFunction::Compare {
                filter,
                top_n,
                window,
            } => Func::Compare(CompareSpec::compile(filter, *top_n, *window)?),
        };
        Ok(CMetrics {
            pipeline: CPipeline::compile(&p.pipeline)?,
            function,
            by: p
                .by
                .iter()
                .map(|f| Ok((f.to_string(), e(f)?)))
                .collect::<Result<_, EvalError>>()?,
        })
    }

    /// How many output series one accumulated series becomes.
    fn cost(&self) -> usize {
        match &self.function {
            Func::Quantile(_, qs) => qs.len().max(1),
            _ => 1,
        }
    }

    fn observe_span(
        &self,
        c: &Compiled,
        budget: &mut Budget,
        series: &mut HashMap<Vec<LabelVal>, SeriesAcc>,
        trace: &TraceView<'_>,
        i: usize,
    ) {
        let span = trace.span(i);
        let Some(sample) = c.grid.index(span.start_time_unix_nano) else {
            return;
        };
        let cx = Ctx::span(trace, i);
        let n = c.grid.len();
        let duration_s = span
            .end_time_unix_nano
            .saturating_sub(span.start_time_unix_nano) as f64
            / 1e9;
        // (value, raw value, is duration) of the function's field.
        let value = match &self.function {
            Func::Rate | Func::Count => Some((duration_s, duration_s, false)),
            Func::Min(e)
            | Func::Max(e)
            | Func::Sum(e)
            | Func::Avg(e)
            | Func::Quantile(e, _)
            | Func::Histogram(e) => match number(&e.eval(&cx)) {
                Some(v) => Some(v),
                None => return,
            },
            Func::Compare(_) => None,
        };
        let Some((value, raw, is_duration)) = value else {
            return;
        };
        let mut key: Vec<LabelVal> = self
            .by
            .iter()
            .map(|(_, e)| LabelVal::from_val(&e.eval(&cx)))
            .collect();
        if matches!(self.function, Func::Histogram(_)) {
            let bound = 2f64.powi(bucket_exp(raw));
            key.push(LabelVal::Float(if is_duration {
                bound / 1e9
            } else {
                bound
            }));
        }
        let entry = match series.get_mut(&key) {
            Some(s) => s,
            None => {
                if !budget.admit(self.cost()) {
                    return;
                }
                let state = match &self.function {
                    Func::Rate | Func::Count | Func::Histogram(_) => State::Count(vec![0.0; n]),
                    Func::Min(_) => State::Min(vec![f64::NAN; n]),
                    Func::Max(_) => State::Max(vec![f64::NAN; n]),
                    Func::Sum(_) => State::Sum(vec![f64::NAN; n]),
                    Func::Avg(_) => State::Avg(vec![(0.0, 0); n]),
                    Func::Quantile(..) => State::Quantile {
                        buckets: vec![Default::default(); n],
                        duration: false,
                    },
                    Func::Compare(_) => unreachable!("compare has its own accumulator"),
                };
                series.entry(key).or_insert(SeriesAcc {
                    state,
                    exemplars: Exemplars::default(),
                })
            }
        };
        if let State::Quantile { duration, .. } = &mut entry.state {
            *duration |= is_duration;
            entry.state.add(sample, raw);
        } else {
            entry.state.add(sample, value);
        }
        entry.exemplars.offer(
            c.exemplars,
            sample,
            Ex::new(
                &span.trace_id,
                &span.span_id,
                span.start_time_unix_nano,
                value,
            ),
        );
    }
}

#[cfg(test)]
mod tests;
