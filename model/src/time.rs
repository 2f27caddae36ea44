//! Time as the system keeps it: unix nanoseconds, and half-open ranges of them.

/// Nanoseconds since the unix epoch (OTLP's `fixed64` timestamps).
pub type UnixNanos = u64;

/// A closed time range `[start, end]` in unix nanoseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TimeRange {
    pub start: UnixNanos,
    pub end: UnixNanos,
}

impl TimeRange {
    pub fn new(start: UnixNanos, end: UnixNanos) -> Self {
        Self { start, end }
    }

    /// A range from unix seconds, as the query API takes them.
    pub fn from_unix_seconds(start: u64, end: u64) -> Self {
        Self {
            start: start.saturating_mul(1_000_000_000),
            end: end.saturating_mul(1_000_000_000),
        }
    }

    pub fn overlaps(&self, other: &TimeRange) -> bool {
        self.start <= other.end && other.start <= self.end
    }

    /// The smallest range covering both.
    pub fn union(&self, other: &TimeRange) -> TimeRange {
        TimeRange {
            start: self.start.min(other.start),
            end: self.end.max(other.end),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlap_is_inclusive() {
        let a = TimeRange::new(10, 20);
        assert!(a.overlaps(&TimeRange::new(20, 30)));
        assert!(a.overlaps(&TimeRange::new(0, 10)));
        assert!(!a.overlaps(&TimeRange::new(21, 30)));
        assert_eq!(a.union(&TimeRange::new(5, 15)), TimeRange::new(5, 20));
    }
}
