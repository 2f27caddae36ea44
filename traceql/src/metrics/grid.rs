//! The time grid of a metrics query: where the samples fall and which span starts each covers.

use sextant_model::TimeRange;

const MS: u64 = 1_000_000;
const SECOND: u64 = 1_000 * MS;
const MINUTE: u64 = 60 * SECOND;
const HOUR: u64 = 60 * MINUTE;

/// The time grid of one metrics query, in Unix nanoseconds after alignment.
///
/// Sample `i` carries the timestamp `start + i·step` and covers the span starts in
/// `(timestamp − step, timestamp]`; an instant query has one sample at `end` covering
/// `(start, end]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Grid {
    pub start: u64,
    pub end: u64,
    pub step: u64,
    pub instant: bool,
}

impl Grid {
    /// Tempo's alignment. A range query with step 0 takes [`Grid::default_step`]; `start` is
    /// rounded down and `end` up to multiples of the step (an `end` before `start` is taken as
    /// `start`), giving `(end − start) / step + 1` samples. An instant query is not aligned: one
    /// sample at `end` covering `(start, end]`, with `step = end − start`.
    pub fn new(start: u64, end: u64, step: u64, instant: bool) -> Grid {
        let end = end.max(start);
        if instant {
            return Grid {
                start,
                end,
                step: end - start,
                instant: true,
            };
        }
        let step = if step == 0 {
            Grid::default_step(start, end)
        } else {
            step
        };
        let aligned_start = start / step * step;
        let aligned_end = end.div_ceil(step).saturating_mul(step);
        Grid {
            start: aligned_start,
            end: aligned_end.max(aligned_start),
            step,
            instant: false,
        }
    }

    /// About 240 samples over the range. The baseline is `(end − start) / 240`:
    /// - from 1s up, it is rounded down to a multiple of the largest of 1h, 5m, 1m, 15s, 5s and
    ///   1s that is not above it (1h range → 15s, 24h → 5m, 5m → 1s);
    /// - below 1s, ranges under a minute round it down to a multiple of 50ms, never below 50ms
    ///   (30s → 100ms); longer ranges take 1s.
    pub fn default_step(start: u64, end: u64) -> u64 {
        let range = end.saturating_sub(start);
        let baseline = range / 240;
        const UNITS: [u64; 6] = [HOUR, 5 * MINUTE, MINUTE, 15 * SECOND, 5 * SECOND, SECOND];
        if let Some(unit) = UNITS.iter().find(|u| **u <= baseline) {
            return baseline / unit * unit;
        }
        if range < MINUTE {
            (baseline / (50 * MS) * (50 * MS)).max(50 * MS)
        } else {
            SECOND
        }
    }

    /// The span starts the samples cover, `(first − step, last]`, as a closed range for the
    /// store's pre-filter (its start one nanosecond early: the store may return more).
    pub fn window(&self) -> TimeRange {
        if self.instant {
            return TimeRange::new(self.start, self.end);
        }
        TimeRange::new(self.start.saturating_sub(self.step), self.end)
    }

    /// The number of samples (at least one).
    pub fn len(&self) -> usize {
        if self.instant || self.step == 0 {
            return 1;
        }
        usize::try_from((self.end - self.start) / self.step).map_or(usize::MAX, |n| n + 1)
    }

    /// Never: a grid has at least one sample.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// Unix nanoseconds of sample `i`.
    pub fn timestamp(&self, i: usize) -> u64 {
        if self.instant {
            return self.end;
        }
        self.start + i as u64 * self.step
    }

    /// The sample a span starting at `start_ns` falls in; `None` outside the grid.
    pub fn index(&self, start_ns: u64) -> Option<usize> {
        if self.instant {
            return (start_ns > self.start && start_ns <= self.end).then_some(0);
        }
        if self.step == 0 || start_ns > self.end {
            return None;
        }
        // Sample i covers (start + (i−1)·step, start + i·step].
        let offset = i128::from(start_ns) - i128::from(self.start) + i128::from(self.step) - 1;
        if offset < 0 {
            return None;
        }
        usize::try_from(offset as u128 / u128::from(self.step)).ok()
    }

    /// The step in seconds (rate's divisor).
    pub(crate) fn step_seconds(&self) -> f64 {
        self.step as f64 / 1e9
    }

    /// Milliseconds of sample `i`, as the output carries them.
    pub(crate) fn timestamp_ms(&self, i: usize) -> i64 {
        i64::try_from(self.timestamp(i) / MS).unwrap_or(i64::MAX)
    }
}
