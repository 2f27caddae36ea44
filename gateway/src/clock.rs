//! The edge's clock: wall time for usage days and quota resets, monotonic time for token buckets.
//! A trait so tests drive both by hand.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

/// Where the edge reads the time.
pub trait Clock: Send + Sync + 'static {
    /// Wall-clock time: the UTC day and month of usage, and when quotas reset.
    fn now(&self) -> SystemTime;
    /// Monotonic time since a fixed origin of this clock: token buckets.
    fn monotonic(&self) -> Duration;
}

/// The system's clocks.
#[derive(Debug, Clone, Copy)]
pub struct SystemClock {
    origin: Instant,
}

impl Default for SystemClock {
    fn default() -> Self {
        Self {
            origin: Instant::now(),
        }
    }
}

impl Clock for SystemClock {
    fn now(&self) -> SystemTime {
        SystemTime::now()
    }

    fn monotonic(&self) -> Duration {
        self.origin.elapsed()
    }
}

/// A clock that moves only when told to: wall and monotonic time advance together.
#[derive(Debug)]
pub struct ManualClock {
    wall: Mutex<SystemTime>,
    monotonic_nanos: AtomicU64,
}

impl ManualClock {
    /// A clock whose wall time starts at `wall`.
    pub fn new(wall: SystemTime) -> Self {
        Self {
            wall: Mutex::new(wall),
            monotonic_nanos: AtomicU64::new(0),
        }
    }

    /// Moves both clocks forward.
    pub fn advance(&self, by: Duration) {
        let mut wall = self
            .wall
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *wall += by;
        let nanos = u64::try_from(by.as_nanos()).unwrap_or(u64::MAX);
        self.monotonic_nanos.fetch_add(nanos, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> SystemTime {
        *self
            .wall
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn monotonic(&self) -> Duration {
        Duration::from_nanos(self.monotonic_nanos.load(Ordering::SeqCst))
    }
}

const DAY_SECS: u64 = 86_400;

/// Days since 1970-01-01 of a civil date (proleptic Gregorian), `month` 1..=12.
pub(crate) fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The civil (year, month) of a day since 1970-01-01.
fn year_month_of(days: i64) -> (i64, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, u32::try_from(month).unwrap_or(1))
}

fn unix_secs(t: SystemTime) -> u64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Time from `now` to the next 00:00 UTC.
pub(crate) fn until_next_utc_day(now: SystemTime) -> Duration {
    let next = (unix_secs(now) / DAY_SECS + 1) * DAY_SECS;
    (SystemTime::UNIX_EPOCH + Duration::from_secs(next))
        .duration_since(now)
        .unwrap_or_default()
}

/// Time from `now` to the first day of the next UTC month, 00:00.
pub(crate) fn until_next_utc_month(now: SystemTime) -> Duration {
    let days = i64::try_from(unix_secs(now) / DAY_SECS).unwrap_or(i64::MAX);
    let (year, month) = year_month_of(days);
    let (year, month) = if month == 12 {
        (year + 1, 1)
    } else {
        (year, month + 1)
    };
    let next_days = u64::try_from(days_from_civil(year, month, 1)).unwrap_or(0);
    (SystemTime::UNIX_EPOCH + Duration::from_secs(next_days * DAY_SECS))
        .duration_since(now)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(secs)
    }

    #[test]
    fn civil_dates_round_trip() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        // 2024-02-29 (leap day) = 19782.
        assert_eq!(days_from_civil(2024, 2, 29), 19_782);
        for days in [0, 59, 60, 11_016, 11_017, 19_782, 19_783, 20_000, 47_482] {
            let (y, m) = year_month_of(days);
            assert!(days_from_civil(y, m, 1) <= days);
            let (ny, nm) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
            assert!(days_from_civil(ny, nm, 1) > days);
        }
    }

    #[test]
    fn resets_are_at_utc_midnight_and_month_start() {
        // 2026-01-31T23:59:30Z = 1769903970.
        let now = at(1_769_903_970);
        assert_eq!(until_next_utc_day(now), Duration::from_secs(30));
        assert_eq!(until_next_utc_month(now), Duration::from_secs(30));
        // 2024-02-15T12:00:00Z = 1707998400 → 2024-03-01T00:00:00Z = 1709251200.
        let now = at(1_707_998_400);
        assert_eq!(until_next_utc_day(now), Duration::from_secs(12 * 3600));
        assert_eq!(
            until_next_utc_month(now),
            Duration::from_secs(1_709_251_200 - 1_707_998_400)
        );
        // 2025-12-10T00:00:00Z = 1765324800 → 2026-01-01 = 1767225600.
        let now = at(1_765_324_800);
        assert_eq!(until_next_utc_day(now), Duration::from_secs(86_400));
        assert_eq!(
            until_next_utc_month(now),
            Duration::from_secs(1_767_225_600 - 1_765_324_800)
        );
    }

    #[test]
    fn manual_clock_moves_both_times() {
        let clock = ManualClock::new(at(100));
        clock.advance(Duration::from_millis(1500));
        assert_eq!(clock.monotonic(), Duration::from_millis(1500));
        assert_eq!(clock.now(), at(100) + Duration::from_millis(1500));
    }
}
