//! Per-series accumulators: one small value per sample, sparse log2 histograms for quantiles,
//! and a bounded, order-independent choice of exemplars.

use std::collections::BTreeMap;

use sextant_model::Exemplar;
use sextant_model::otlp::{AnyValue, KeyValue, any_value::Value};

use crate::eval::expr::hex_lower;

/// What one series accumulates, one entry per sample of the grid.
#[derive(Debug, Clone)]
pub(crate) enum State {
    /// `rate`, `count_over_time`, a histogram bucket, a `compare()` count.
    Count(Vec<f64>),
    /// NaN: no value yet.
    Min(Vec<f64>),
    Max(Vec<f64>),
    Sum(Vec<f64>),
    /// Sum and count.
    Avg(Vec<(f64, u64)>),
    /// log2 bucket exponent → count, per sample; `duration`: the values were durations (ns).
    Quantile {
        buckets: Vec<BTreeMap<i32, u64>>,
        duration: bool,
    },
}

impl State {
    pub(crate) fn add(&mut self, i: usize, v: f64) {
        match self {
            State::Count(c) => c[i] += 1.0,
            State::Min(m) => m[i] = if m[i].is_nan() { v } else { m[i].min(v) },
            State::Max(m) => m[i] = if m[i].is_nan() { v } else { m[i].max(v) },
            State::Sum(s) => s[i] = if s[i].is_nan() { v } else { s[i] + v },
            State::Avg(a) => {
                a[i].0 += v;
                a[i].1 += 1;
            }
            State::Quantile { buckets, .. } => *buckets[i].entry(bucket_exp(v)).or_default() += 1,
        }
    }

    pub(crate) fn merge(&mut self, other: State) {
        let nan_merge = |a: &mut Vec<f64>, b: Vec<f64>, f: fn(f64, f64) -> f64| {
            for (x, y) in a.iter_mut().zip(b) {
                if x.is_nan() {
                    *x = y;
                } else if !y.is_nan() {
                    *x = f(*x, y);
                }
            }
        };
        match (self, other) {
            (State::Count(a), State::Count(b)) => a.iter_mut().zip(b).for_each(|(x, y)| *x += y),
            (State::Min(a), State::Min(b)) => nan_merge(a, b, f64::min),
            (State::Max(a), State::Max(b)) => nan_merge(a, b, f64::max),
            (State::Sum(a), State::Sum(b)) => nan_merge(a, b, |x, y| x + y),
            (State::Avg(a), State::Avg(b)) => a.iter_mut().zip(b).for_each(|(x, y)| {
                x.0 += y.0;
                x.1 += y.1;
            }),
            (
                State::Quantile { buckets, duration },
                State::Quantile {
                    buckets: other,
                    duration: d,
                },
            ) => {
                *duration |= d;
                for (a, b) in buckets.iter_mut().zip(other) {
                    for (e, n) in b {
                        *a.entry(e).or_default() += n;
                    }
                }
            }
            _ => unreachable!("series of one pipeline share their function"),
        }
    }

    /// The value per sample, NaN where there is none. `Count` is scaled by `scale` (rate).
    pub(crate) fn values(&self, scale: f64) -> Vec<f64> {
        match self {
            State::Count(c) => c.iter().map(|n| n * scale).collect(),
            State::Min(v) | State::Max(v) | State::Sum(v) => v.clone(),
            State::Avg(a) => a
                .iter()
                .map(|(s, n)| if *n == 0 { f64::NAN } else { s / *n as f64 })
                .collect(),
            State::Quantile { .. } => unreachable!("quantiles are read with quantile()"),
        }
    }
}

/// The log2 bucket of `v`: the exponent `e` of its upper bound `2^e` (`v ≤ 1`: bucket 1,
/// `e = 0`).
pub(crate) fn bucket_exp(v: f64) -> i32 {
    if v.is_nan() || v <= 1.0 {
        return 0;
    }
    let mut e = v.log2().ceil() as i32;
    while e > 0 && 2f64.powi(e - 1) >= v {
        e -= 1;
    }
    while 2f64.powi(e) < v {
        e += 1;
    }
    e
}

/// The `q` quantile of one sample's buckets: the first bucket whose cumulative count reaches
/// `q · total`, interpolated linearly inside it (`[2^(e−1), 2^e]`; bucket 1 is `[0, 1]`).
/// NaN when the sample is empty.
pub(crate) fn quantile(buckets: &BTreeMap<i32, u64>, q: f64) -> f64 {
    let total: u64 = buckets.values().sum();
    if total == 0 {
        return f64::NAN;
    }
    let rank = q * total as f64;
    let mut before = 0u64;
    for (e, n) in buckets {
        let after = before + n;
        if *n > 0 && after as f64 >= rank {
            let upper = 2f64.powi(*e);
            let lower = if *e == 0 { 0.0 } else { upper / 2.0 };
            let frac = ((rank - before as f64) / *n as f64).clamp(0.0, 1.0);
            return lower + frac * (upper - lower);
        }
        before = after;
    }
    buckets
        .keys()
        .next_back()
        .map_or(f64::NAN, |e| 2f64.powi(*e))
}

/// A span behind a value.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Ex {
    pub(crate) start_ns: u64,
    pub(crate) trace_id: [u8; 16],
    pub(crate) span_id: [u8; 8],
    pub(crate) value: f64,
}

impl Ex {
    pub(crate) fn new(trace_id: &[u8], span_id: &[u8], start_ns: u64, value: f64) -> Ex {
        let mut t = [0u8; 16];
        let n = trace_id.len().min(16);
        t[16 - n..].copy_from_slice(&trace_id[trace_id.len() - n..]);
        let mut s = [0u8; 8];
        let n = span_id.len().min(8);
        s[8 - n..].copy_from_slice(&span_id[span_id.len() - n..]);
        Ex {
            start_ns,
            trace_id: t,
            span_id: s,
            value,
        }
    }

    pub(crate) fn key(&self) -> (u64, [u8; 16], [u8; 8]) {
        (self.start_ns, self.trace_id, self.span_id)
    }

    pub(crate) fn to_model(&self) -> Exemplar {
        let label = |key: &str, v: String| KeyValue {
            key: key.to_owned(),
            value: Some(AnyValue {
                value: Some(Value::StringValue(v)),
            }),
        };
        Exemplar {
            labels: vec![
                label("trace:id", hex_lower(&self.trace_id)),
                label("span:id", hex_lower(&self.span_id)),
            ],
            value: self.value,
            timestamp_ms: i64::try_from(self.start_ns / 1_000_000).unwrap_or(i64::MAX),
        }
    }
}

/// At most `limit` exemplars, at most one per sample. The samples kept are the ones first in
/// bit-reversed index order (spread over the range), and within a sample the earliest span
/// (then trace and span ID), so the choice does not depend on the order spans arrive in or on
/// how the work was split.
#[derive(Debug, Clone, Default)]
pub(crate) struct Exemplars {
    kept: BTreeMap<u32, Ex>,
}

impl Exemplars {
    pub(crate) fn offer(&mut self, limit: usize, sample: usize, ex: Ex) {
        if limit == 0 {
            return;
        }
        let priority = (sample as u32).reverse_bits();
        if let Some(cur) = self.kept.get_mut(&priority) {
            if ex.key() < cur.key() {
                *cur = ex;
            }
            return;
        }
        if self.kept.len() >= limit {
            match self.kept.last_key_value() {
                Some((last, _)) if *last > priority => {
                    self.kept.pop_last();
                }
                _ => return,
            }
        }
        self.kept.insert(priority, ex);
    }

    pub(crate) fn merge(&mut self, limit: usize, other: Exemplars) {
        for (priority, ex) in other.kept {
            self.offer(limit, priority.reverse_bits() as usize, ex);
        }
    }

    /// Oldest first.
    pub(crate) fn into_sorted(self) -> Vec<Ex> {
        let mut v: Vec<Ex> = self.kept.into_values().collect();
        v.sort_by_key(Ex::key);
        v
    }
}
