//! Usage per tenant and UTC day as the store keeps it: accepted bytes and spans, query
//! requests, and discarded spans and bytes by reason (counters, written in batches by the
//! control plane's meter), and the bytes and blocks stored (a level, set from the catalog).

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use sextant_model::{DiscardReason, PeriodUsage, TenantId};

use crate::error::{Error, Result};

/// A UTC calendar day, as days since 1970-01-01; prints as `YYYY-MM-DD`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct UtcDay(pub i32);

impl UtcDay {
    /// The UTC day containing `t` (times before the epoch count as day 0).
    pub fn of(t: SystemTime) -> Self {
        let secs = t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        Self(i32::try_from(secs / 86_400).unwrap_or(i32::MAX))
    }

    /// The day `year-month-day`, or `None` when it is not a calendar date.
    pub fn from_ymd(year: i32, month: u32, day: u32) -> Option<Self> {
        if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
            return None;
        }
        // Days from civil, after Howard Hinnant's public-domain algorithm.
        let y = i64::from(year) - i64::from(month <= 2);
        let era = y.div_euclid(400);
        let yoe = y - era * 400;
        let m = i64::from(month);
        let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        i32::try_from(era * 146_097 + doe - 719_468).ok().map(Self)
    }

    /// `(year, month, day)`.
    pub fn ymd(self) -> (i32, u32, u32) {
        let z = i64::from(self.0) + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z - era * 146_097;
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let d = doy - (153 * mp + 2) / 5 + 1;
        let m = if mp < 10 { mp + 3 } else { mp - 9 };
        let y = yoe + era * 400 + i64::from(m <= 2);
        (y as i32, m as u32, d as u32)
    }

    /// The first day of this day's month.
    pub fn month_start(self) -> Self {
        let (y, m, _) = self.ymd();
        Self::from_ymd(y, m, 1).expect("the first of a month is a date")
    }

    /// The first moment of the next day: when a daily quota resets.
    pub fn next_midnight(self) -> SystemTime {
        let secs = u64::try_from(i64::from(self.0) + 1).unwrap_or(0) * 86_400;
        UNIX_EPOCH + Duration::from_secs(secs)
    }
}

fn days_in_month(year: i32, month: u32) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        _ => 28,
    }
}

impl std::fmt::Display for UtcDay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (y, m, d) = self.ymd();
        write!(f, "{y:04}-{m:02}-{d:02}")
    }
}

impl std::str::FromStr for UtcDay {
    type Err = Error;

    /// Parses `YYYY-MM-DD`.
    fn from_str(s: &str) -> Result<Self> {
        let bad = || Error::Invalid(format!("{s:?} is not a date (YYYY-MM-DD)"));
        let mut parts = s.split('-');
        let (Some(y), Some(m), Some(d), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(bad());
        };
        if y.len() != 4 || m.len() != 2 || d.len() != 2 {
            return Err(bad());
        }
        let digits = |p: &str| p.bytes().all(|b| b.is_ascii_digit());
        if !(digits(y) && digits(m) && digits(d)) {
            return Err(bad());
        }
        let (y, m, d) = (
            y.parse().map_err(|_| bad())?,
            m.parse().map_err(|_| bad())?,
            d.parse().map_err(|_| bad())?,
        );
        Self::from_ymd(y, m, d).ok_or_else(bad)
    }
}

/// One tenant's usage on one UTC day (or, when written, an amount to add to it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageRow {
    pub tenant: TenantId,
    pub day: UtcDay,
    pub accepted_bytes: u64,
    pub accepted_spans: u64,
    /// Query-API requests.
    pub queries: u64,
    /// Bytes stored in blocks that day: a level, set by [`UsageStore::record_storage`] and
    /// ignored by [`UsageStore::add_usage`].
    pub stored_bytes: u64,
    /// Blocks stored that day: a level like `stored_bytes`.
    pub stored_blocks: u64,
    /// `(spans, bytes)` discarded, by reason.
    pub discarded: BTreeMap<DiscardReason, (u64, u64)>,
}

/// What one tenant stores on one UTC day: the level [`UsageStore::record_storage`] sets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StorageLevel {
    pub tenant: TenantId,
    pub day: UtcDay,
    pub bytes: u64,
    pub blocks: u64,
}

impl UsageRow {
    /// Nothing yet for `tenant` on `day`.
    pub fn empty(tenant: TenantId, day: UtcDay) -> Self {
        Self {
            tenant,
            day,
            accepted_bytes: 0,
            accepted_spans: 0,
            queries: 0,
            stored_bytes: 0,
            stored_blocks: 0,
            discarded: BTreeMap::new(),
        }
    }

    /// Adds `other`'s counters (of the same tenant and day) to this row; the stored levels
    /// are not counters and stay as they are.
    pub fn add(&mut self, other: &UsageRow) {
        self.accepted_bytes = self.accepted_bytes.saturating_add(other.accepted_bytes);
        self.accepted_spans = self.accepted_spans.saturating_add(other.accepted_spans);
        self.queries = self.queries.saturating_add(other.queries);
        for (reason, (spans, bytes)) in &other.discarded {
            let slot = self.discarded.entry(*reason).or_default();
            slot.0 = slot.0.saturating_add(*spans);
            slot.1 = slot.1.saturating_add(*bytes);
        }
    }
}

/// A discard reason as stored.
pub(crate) fn parse_reason(s: &str) -> Option<DiscardReason> {
    DiscardReason::ALL.into_iter().find(|r| r.as_str() == s)
}

/// Usage per tenant and UTC day in the control-plane database.
#[async_trait]
pub trait UsageStore: Send + Sync + 'static {
    /// Adds every row's counters (accepted bytes and spans, queries, discards) to what is
    /// stored for its tenant and day, in one transaction (all or nothing). The rows' stored
    /// levels are ignored.
    async fn add_usage(&self, rows: &[UsageRow]) -> Result<()>;

    /// Sets (overwrites) the stored bytes and blocks of each row's tenant and day, creating
    /// the day's row when needed, in one transaction (all or nothing).
    async fn record_storage(&self, rows: &[StorageLevel]) -> Result<()>;

    /// `tenant`'s usage from `from` to `to` inclusive, ordered by day; days without usage are
    /// left out.
    async fn usage(&self, tenant: &TenantId, from: UtcDay, to: UtcDay) -> Result<Vec<UsageRow>>;

    /// Bytes accepted for `tenant` on `day` and in its month up to and including `day`.
    async fn period_totals(&self, tenant: &TenantId, day: UtcDay) -> Result<PeriodUsage>;

    /// [`UsageStore::period_totals`] of every tenant with usage this month, in one query.
    async fn all_period_totals(&self, day: UtcDay) -> Result<Vec<(TenantId, PeriodUsage)>>;
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn days_print_and_parse() {
        let cases = [
            (0, "1970-01-01"),
            (59, "1970-03-01"),
            (11_016, "2000-02-29"),
            (19_723, "2024-01-01"),
            (20_513, "2026-03-01"),
        ];
        for (days, text) in cases {
            assert_eq!(UtcDay(days).to_string(), text);
            assert_eq!(text.parse::<UtcDay>().unwrap(), UtcDay(days));
        }
        for bad in [
            "",
            "2024-1-01",
            "2024-02-30",
            "2023-02-29",
            "2024-13-01",
            "x024-01-01",
        ] {
            assert!(bad.parse::<UtcDay>().is_err(), "{bad}");
        }
        assert_eq!(UtcDay(20_513).month_start(), UtcDay(20_513));
        assert_eq!(
            "2024-02-29"
                .parse::<UtcDay>()
                .unwrap()
                .month_start()
                .to_string(),
            "2024-02-01"
        );
    }

    #[test]
    fn day_of_a_time() {
        let t = UNIX_EPOCH + Duration::from_secs(86_400 * 3 + 5);
        assert_eq!(UtcDay::of(t), UtcDay(3));
        assert_eq!(
            UtcDay(3).next_midnight(),
            UNIX_EPOCH + Duration::from_secs(86_400 * 4)
        );
    }

    #[test]
    fn reasons_round_trip() {
        for r in DiscardReason::ALL {
            assert_eq!(parse_reason(r.as_str()), Some(r));
        }
        assert_eq!(parse_reason("nope"), None);
    }

    proptest! {
        #[test]
        fn display_round_trips(days in 0i32..200_000) {
            let day = UtcDay(days);
            prop_assert_eq!(day.to_string().parse::<UtcDay>().unwrap(), day);
            let (y, m, d) = day.ymd();
            prop_assert_eq!(UtcDay::from_ymd(y, m, d), Some(day));
            prop_assert!(day.month_start() <= day);
            prop_assert_eq!(day.month_start().ymd().2, 1);
        }
    }
}
