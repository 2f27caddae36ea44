//! Expected TraceQL metrics answers, computed in plain Rust from the generated spans, and the
//! comparisons of an answer with them: series by labels, samples by timestamp.

use std::collections::BTreeMap;

use sextant_tests::{GotSeries, Label, Labels};

use super::world::MSpan;

/// Tempo's time grid: the range aligned to the step, one sample per step at `start + i·step`
/// covering the spans that started in `(t − step, t]`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Grid {
    /// Unix seconds, aligned.
    pub(crate) start: u64,
    pub(crate) end: u64,
    pub(crate) step: u64,
}

impl Grid {
    /// The grid of a query from `start` to `end` (unix seconds) by `step` seconds.
    pub(crate) fn new(start: u64, end: u64, step: u64) -> Self {
        Self {
            start: start / step * step,
            end: end.div_ceil(step) * step,
            step,
        }
    }

    /// The sample timestamps in ms.
    pub(crate) fn points(&self) -> Vec<i64> {
        (self.start..=self.end)
            .step_by(self.step as usize)
            .map(|t| t as i64 * 1000)
            .collect()
    }

    /// The sample (ms) that counts a span starting at `ns`, if on the grid.
    fn slot(&self, ns: u64) -> Option<i64> {
        let step = self.step * 1_000_000_000;
        let t = ns.div_ceil(step) * step / 1_000_000;
        let ms = |s: u64| s * 1000;
        (t > ms(self.start) && t <= ms(self.end)).then_some(t as i64)
    }
}

/// How a by() or an ungrouped query labels a span's series.
#[derive(Clone, Copy, Debug)]
pub(crate) enum By {
    /// No by(): the single label `__name__` = the function.
    Name(&'static str),
    Service,
    Route,
    ServiceRoute,
}

impl By {
    fn labels(self, s: &MSpan) -> Labels {
        let service = || ("resource.service.name".to_owned(), Label::str(s.service));
        let route = || {
            let v = s.route.map_or(Label::Nil, Label::str);
            ("span.http.route".to_owned(), v)
        };
        match self {
            By::Name(f) => Labels::from([("__name__".to_owned(), Label::str(f))]),
            By::Service => Labels::from([service()]),
            By::Route => Labels::from([route()]),
            By::ServiceRoute => Labels::from([service(), route()]),
        }
    }
}

pub(crate) type Values = BTreeMap<Labels, BTreeMap<i64, f64>>;

/// The spans matching `filter`, by series and sample.
pub(crate) fn groups(
    spans: &[MSpan],
    grid: Grid,
    filter: impl Fn(&MSpan) -> bool,
    by: By,
) -> BTreeMap<Labels, BTreeMap<i64, Vec<&MSpan>>> {
    let mut out: BTreeMap<Labels, BTreeMap<i64, Vec<&MSpan>>> = BTreeMap::new();
    for s in spans.iter().filter(|s| filter(s)) {
        if let Some(t) = grid.slot(s.start) {
            out.entry(by.labels(s))
                .or_default()
                .entry(t)
                .or_default()
                .push(s);
        }
    }
    out
}

/// One value per sample that has spans, from those spans.
pub(crate) fn per_sample(
    spans: &[MSpan],
    grid: Grid,
    filter: impl Fn(&MSpan) -> bool,
    by: By,
    f: impl Fn(&[&MSpan]) -> f64,
) -> Values {
    groups(spans, grid, filter, by)
        .into_iter()
        .map(|(labels, samples)| {
            let values = samples.iter().map(|(t, s)| (*t, f(s))).collect();
            (labels, values)
        })
        .collect()
}

/// Span counts per sample, 0 at every grid point without spans.
pub(crate) fn counts(
    spans: &[MSpan],
    grid: Grid,
    filter: impl Fn(&MSpan) -> bool,
    by: By,
) -> Values {
    let mut out = per_sample(spans, grid, filter, by, |s| s.len() as f64);
    for values in out.values_mut() {
        for t in grid.points() {
            values.entry(t).or_insert(0.0);
        }
    }
    out
}

pub(crate) fn map_values(values: Values, f: impl Fn(f64) -> f64) -> Values {
    values
        .into_iter()
        .map(|(l, v)| (l, v.into_iter().map(|(t, x)| (t, f(x))).collect()))
        .collect()
}

/// The durations' q-quantile, as bounds: Tempo's log2-bucket estimate lies in the power-of-two
/// bucket of the exact quantile, so within half and twice the exact values around its rank.
pub(crate) fn quantile_bounds(spans: &[&MSpan], q: f64) -> (f64, f64) {
    let mut v: Vec<f64> = spans.iter().map(|s| s.seconds()).collect();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    let rank = q * (n - 1) as f64;
    let lo = (rank.floor() as usize).min(((q * n as f64).ceil() as usize).saturating_sub(1));
    let hi = (rank.ceil() as usize)
        .max((q * n as f64).ceil() as usize)
        .min(n - 1);
    (v[lo] / 2.0, v[hi] * 2.0)
}

/// The histogram bucket of a duration: `2^ceil(log2(ns))` ns, in seconds.
pub(crate) fn bucket(ns: u64) -> f64 {
    ns.next_power_of_two() as f64 / 1e9
}

/// How samples may be absent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Density {
    /// A sample at every grid point (`rate`).
    Full,
    /// A missing sample stands for 0 (counts).
    ZeroOptional,
    /// Exactly the expected samples (`_over_time` of a field, filtered, divided).
    Sparse,
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * b.abs().max(1.0)
}

fn without_name(labels: &Labels) -> Labels {
    let mut l = labels.clone();
    l.remove("__name__");
    l
}

/// The answer's series by labels (optionally without `__name__`), each sample on the grid.
pub(crate) fn normalise(
    what: &str,
    got: &[GotSeries],
    grid: Grid,
    drop_name: bool,
) -> BTreeMap<Labels, BTreeMap<i64, f64>> {
    let points = grid.points();
    let mut out = BTreeMap::new();
    for s in got {
        for (t, v) in &s.samples {
            assert!(
                points.binary_search(t).is_ok(),
                "{what}: series {:?} has a sample at {t}, off the grid {grid:?}",
                s.labels
            );
            assert!(v.is_finite(), "{what}: {:?} at {t} is {v}", s.labels);
        }
        if s.samples.is_empty() {
            continue;
        }
        let labels = if drop_name {
            without_name(&s.labels)
        } else {
            s.labels.clone()
        };
        let prev = out.insert(labels, s.samples.clone());
        assert!(prev.is_none(), "{what}: two series labelled {:?}", s.labels);
    }
    out
}

fn same_labels<T, U>(what: &str, got: &BTreeMap<Labels, T>, want: &BTreeMap<Labels, U>) {
    let g: Vec<&Labels> = got.keys().collect();
    let w: Vec<&Labels> = want.keys().collect();
    assert_eq!(
        g, w,
        "{what}: series labels (left: answer, right: expected)"
    );
}

/// Compare exact values.
pub(crate) fn check_exact(
    what: &str,
    got: &BTreeMap<Labels, BTreeMap<i64, f64>>,
    want: &Values,
    density: Density,
    grid: Grid,
) {
    let want: Values = want
        .iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(l, v)| (l.clone(), v.clone()))
        .collect();
    same_labels(what, got, &want);
    for (labels, w) in &want {
        let g = &got[labels];
        let what = format!("{what}, series {labels:?}");
        match density {
            Density::Full => {
                let gt: Vec<&i64> = g.keys().collect();
                let pts = grid.points();
                assert_eq!(gt, pts.iter().collect::<Vec<_>>(), "{what}: timestamps");
            }
            Density::Sparse => {
                let gt: Vec<&i64> = g.keys().collect();
                let wt: Vec<&i64> = w.keys().collect();
                assert_eq!(gt, wt, "{what}: timestamps (left: answer, right: expected)");
            }
            Density::ZeroOptional => {}
        }
        for t in grid.points() {
            let (a, b) = (
                g.get(&t).copied().unwrap_or(0.0),
                w.get(&t).copied().unwrap_or(0.0),
            );
            assert!(
                close(a, b),
                "{what}: at {t} the answer is {a}, expected {b}"
            );
        }
    }
}

/// Compare estimates with bounds (quantiles).
pub(crate) fn check_within(
    what: &str,
    got: &BTreeMap<Labels, BTreeMap<i64, f64>>,
    want: &BTreeMap<Labels, BTreeMap<i64, (f64, f64)>>,
) {
    same_labels(what, got, want);
    for (labels, w) in want {
        let g = &got[labels];
        let what = format!("{what}, series {labels:?}");
        let gt: Vec<&i64> = g.keys().collect();
        let wt: Vec<&i64> = w.keys().collect();
        assert_eq!(gt, wt, "{what}: timestamps (left: answer, right: expected)");
        for (t, (lo, hi)) in w {
            let v = g[t];
            assert!(
                v >= lo * (1.0 - 1e-9) && v <= hi * (1.0 + 1e-9),
                "{what}: at {t} the answer is {v}, expected within [{lo}, {hi}]"
            );
        }
    }
}

/// `topk(n)` / `bottomk(n)` per timestamp over `base` (every series present at every point):
/// at each point exactly `min(n, series)` samples, each one of the n best (ties either way).
pub(crate) fn check_top(
    what: &str,
    got: &BTreeMap<Labels, BTreeMap<i64, f64>>,
    base: &Values,
    n: usize,
    top: bool,
    grid: Grid,
) {
    for labels in got.keys() {
        assert!(
            base.contains_key(labels),
            "{what}: unexpected series {labels:?}"
        );
    }
    for t in grid.points() {
        let here: Vec<(&Labels, f64)> = got
            .iter()
            .filter_map(|(l, s)| s.get(&t).map(|v| (l, *v)))
            .collect();
        let candidates: Vec<f64> = base.values().filter_map(|s| s.get(&t).copied()).collect();
        assert_eq!(
            here.len(),
            n.min(candidates.len()),
            "{what}: at {t}: {here:?} of candidates {candidates:?}"
        );
        for (labels, v) in here {
            let want = base[labels][&t];
            assert!(
                close(v, want),
                "{what}: {labels:?} at {t}: {v}, expected {want}"
            );
            let better = candidates
                .iter()
                .filter(|c| if top { **c > want } else { **c < want })
                .count();
            assert!(
                better < n,
                "{what}: {labels:?} at {t} ({want}) is not among the {n} of {candidates:?}"
            );
        }
    }
}
