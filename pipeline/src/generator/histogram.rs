//! A Prometheus histogram with fixed upper bounds: an observation `v` counts in the first
//! bucket whose bound is `>= v` (`le` semantics) and in `+Inf`; the exported buckets are
//! cumulative. Negative durations count as 0, as Tempo does.

/// One histogram series.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Histogram {
    /// Per bucket (not cumulative), plus the `+Inf` overflow as the last slot.
    counts: Vec<u64>,
    sum: f64,
    count: u64,
}

impl Histogram {
    pub(crate) fn new(bounds: &[f64]) -> Self {
        Self {
            counts: vec![0; bounds.len() + 1],
            sum: 0.0,
            count: 0,
        }
    }

    /// Adds `weight` observations of `value` (weight 1 for one span).
    pub(crate) fn observe(&mut self, bounds: &[f64], value: f64, weight: u64) {
        let value = if value.is_finite() {
            value.max(0.0)
        } else {
            0.0
        };
        let slot = bounds.partition_point(|b| *b < value);
        self.counts[slot] += weight;
        self.sum += value * weight as f64;
        self.count += weight;
    }

    /// `(le, cumulative count)` per bucket, `+Inf` last.
    pub(crate) fn cumulative(&self, bounds: &[f64]) -> Vec<(f64, u64)> {
        let mut total = 0;
        bounds
            .iter()
            .copied()
            .chain(std::iter::once(f64::INFINITY))
            .zip(&self.counts)
            .map(|(le, n)| {
                total += n;
                (le, total)
            })
            .collect()
    }

    pub(crate) fn sum(&self) -> f64 {
        self.sum
    }

    pub(crate) fn count(&self) -> u64 {
        self.count
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    const BOUNDS: [f64; 3] = [0.1, 0.5, 1.0];

    #[test]
    fn observations_land_in_le_buckets() {
        let mut h = Histogram::new(&BOUNDS);
        for v in [0.05, 0.1, 0.3, 1.0, 7.0, -2.0] {
            h.observe(&BOUNDS, v, 1);
        }
        // 0.05, 0.1 and -2 (as 0) are ≤ 0.1; 0.3 ≤ 0.5; 1.0 ≤ 1.0; 7 only in +Inf.
        assert_eq!(
            h.cumulative(&BOUNDS),
            vec![(0.1, 3), (0.5, 4), (1.0, 5), (f64::INFINITY, 6)]
        );
        assert_eq!(h.count(), 6);
        assert!((h.sum() - (0.05 + 0.1 + 0.3 + 1.0 + 7.0)).abs() < 1e-12);
    }

    proptest! {
        #[test]
        fn the_inf_bucket_counts_everything(values in proptest::collection::vec(-1.0f64..20.0, 0..50)) {
            let mut h = Histogram::new(&BOUNDS);
            for v in &values {
                h.observe(&BOUNDS, *v, 2);
            }
            let buckets = h.cumulative(&BOUNDS);
            prop_assert_eq!(buckets.last().unwrap().1, 2 * values.len() as u64);
            prop_assert!(buckets.windows(2).all(|w| w[0].1 <= w[1].1));
            prop_assert_eq!(h.count(), 2 * values.len() as u64);
        }
    }
}
