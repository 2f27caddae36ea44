//! Usage counters in memory: what was persisted when the process started, what it recorded
//! since, and what it has not written yet. Quotas read the first two; flushes take the third.

use std::collections::{BTreeMap, HashMap};

use sextant_model::{PeriodUsage, TenantId, UsageDelta};

use crate::usage::{UsageRow, UtcDay};

#[derive(Debug)]
pub(super) struct Meter {
    /// The day the persisted totals were read for.
    base_day: UtcDay,
    /// Persisted totals of `base_day` and its month, per tenant, read at start and after every
    /// flush.
    base: HashMap<TenantId, PeriodUsage>,
    /// Accepted bytes recorded by this process and not yet in `base`, per tenant and day.
    recorded: HashMap<TenantId, BTreeMap<UtcDay, u64>>,
    /// Not yet written.
    pending: HashMap<(TenantId, UtcDay), UsageRow>,
}

impl Meter {
    pub(super) fn new(base_day: UtcDay, totals: Vec<(TenantId, PeriodUsage)>) -> Self {
        Self {
            base_day,
            base: totals.into_iter().collect(),
            recorded: HashMap::new(),
            pending: HashMap::new(),
        }
    }

    pub(super) fn record(&mut self, tenant: &TenantId, day: UtcDay, delta: &UsageDelta) {
        let nothing = delta.accepted_bytes == 0
            && delta.accepted_spans == 0
            && delta.queries == 0
            && delta.discarded.iter().all(|d| d.spans == 0 && d.bytes == 0);
        if nothing {
            return;
        }
        if delta.accepted_bytes > 0 {
            let slot = self
                .recorded
                .entry(tenant.clone())
                .or_default()
                .entry(day)
                .or_default();
            *slot = slot.saturating_add(delta.accepted_bytes);
        }
        let mut row = UsageRow::empty(tenant.clone(), day);
        row.accepted_bytes = delta.accepted_bytes;
        row.accepted_spans = delta.accepted_spans;
        row.queries = delta.queries;
        for d in &delta.discarded {
            let slot = row.discarded.entry(d.reason).or_default();
            slot.0 = slot.0.saturating_add(d.spans);
            slot.1 = slot.1.saturating_add(d.bytes);
        }
        self.pending
            .entry((tenant.clone(), day))
            .or_insert_with(|| UsageRow::empty(tenant.clone(), day))
            .add(&row);
    }

    pub(super) fn usage(&self, tenant: &TenantId, day: UtcDay) -> PeriodUsage {
        let month = day.month_start();
        let base = self.base.get(tenant).copied().unwrap_or_default();
        let mut usage = PeriodUsage::default();
        if self.base_day == day {
            usage.day_bytes = base.day_bytes;
        }
        if self.base_day.month_start() == month && self.base_day <= day {
            usage.month_bytes = base.month_bytes;
        }
        if let Some(days) = self.recorded.get(tenant) {
            usage.day_bytes = usage
                .day_bytes
                .saturating_add(days.get(&day).copied().unwrap_or(0));
            let month_sum = days
                .range(month..=day)
                .fold(0u64, |sum, (_, b)| sum.saturating_add(*b));
            usage.month_bytes = usage.month_bytes.saturating_add(month_sum);
        }
        usage
    }

    /// The rows not yet written, leaving none.
    pub(super) fn take_pending(&mut self) -> Vec<UsageRow> {
        let mut rows: Vec<UsageRow> = std::mem::take(&mut self.pending).into_values().collect();
        rows.sort_by(|a, b| (&a.tenant, a.day).cmp(&(&b.tenant, b.day)));
        rows
    }

    /// Puts back rows whose write failed, adding what was recorded meanwhile.
    pub(super) fn restore(&mut self, rows: Vec<UsageRow>) {
        for row in rows {
            self.pending
                .entry((row.tenant.clone(), row.day))
                .or_insert_with(|| UsageRow::empty(row.tenant.clone(), row.day))
                .add(&row);
        }
    }

    /// Replaces the base by freshly read stored totals of `day` (everything written so far, by
    /// every process); from then on only what is not yet written counts on top of it.
    pub(super) fn rebase(&mut self, day: UtcDay, totals: Vec<(TenantId, PeriodUsage)>) {
        self.base_day = day;
        self.base = totals.into_iter().collect();
        self.recorded.clear();
        for ((tenant, row_day), row) in &self.pending {
            if row.accepted_bytes > 0 {
                let slot = self
                    .recorded
                    .entry(tenant.clone())
                    .or_default()
                    .entry(*row_day)
                    .or_default();
                *slot = slot.saturating_add(row.accepted_bytes);
            }
        }
    }

    /// Forgets recorded days before last month: no quota reads them any more.
    pub(super) fn prune(&mut self, today: UtcDay) {
        let keep_from = UtcDay(today.month_start().0 - 1).month_start();
        for days in self.recorded.values_mut() {
            days.retain(|day, _| *day >= keep_from);
        }
        self.recorded.retain(|_, days| !days.is_empty());
    }
}

#[cfg(test)]
mod tests {
    use sextant_model::{Discard, DiscardReason};

    use super::*;

    fn t(s: &str) -> TenantId {
        TenantId::new(s).unwrap()
    }

    fn day(s: &str) -> UtcDay {
        s.parse().unwrap()
    }

    fn accepted(bytes: u64) -> UsageDelta {
        UsageDelta {
            accepted_bytes: bytes,
            accepted_spans: 1,
            queries: 0,
            discarded: Vec::new(),
        }
    }

    #[test]
    fn quota_reads_add_the_persisted_base_and_what_was_recorded() {
        let base = PeriodUsage {
            day_bytes: 100,
            month_bytes: 1_000,
        };
        let mut m = Meter::new(day("2026-03-15"), vec![(t("aaa"), base)]);
        assert_eq!(m.usage(&t("aaa"), day("2026-03-15")), base);
        assert_eq!(
            m.usage(&t("bbb"), day("2026-03-15")),
            PeriodUsage::default()
        );
        m.record(&t("aaa"), day("2026-03-15"), &accepted(5));
        assert_eq!(
            m.usage(&t("aaa"), day("2026-03-15")),
            PeriodUsage {
                day_bytes: 105,
                month_bytes: 1_005
            }
        );
        // The next day: the day starts over, the month keeps counting.
        m.record(&t("aaa"), day("2026-03-16"), &accepted(7));
        assert_eq!(
            m.usage(&t("aaa"), day("2026-03-16")),
            PeriodUsage {
                day_bytes: 7,
                month_bytes: 1_012
            }
        );
        // The next month starts from nothing.
        m.record(&t("aaa"), day("2026-04-01"), &accepted(3));
        assert_eq!(
            m.usage(&t("aaa"), day("2026-04-01")),
            PeriodUsage {
                day_bytes: 3,
                month_bytes: 3
            }
        );
        m.prune(day("2026-05-02"));
        assert_eq!(m.usage(&t("aaa"), day("2026-04-01")).day_bytes, 3);
        assert_eq!(m.usage(&t("aaa"), day("2026-03-16")).day_bytes, 0, "pruned");
    }

    #[test]
    fn pending_rows_merge_and_survive_a_failed_write() {
        let mut m = Meter::new(day("2026-03-15"), Vec::new());
        let d = day("2026-03-15");
        m.record(&t("aaa"), d, &accepted(5));
        m.record(
            &t("aaa"),
            d,
            &UsageDelta {
                accepted_bytes: 0,
                accepted_spans: 0,
                queries: 0,
                discarded: vec![Discard {
                    reason: DiscardReason::RateLimited,
                    spans: 0,
                    bytes: 40,
                }],
            },
        );
        m.record(&t("aaa"), d, &UsageDelta::default());
        let rows = m.take_pending();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].accepted_bytes, 5);
        assert_eq!(rows[0].discarded[&DiscardReason::RateLimited], (0, 40));
        assert!(m.take_pending().is_empty());
        m.record(&t("aaa"), d, &accepted(1));
        m.restore(rows);
        let rows = m.take_pending();
        assert_eq!(rows.len(), 1);
        assert_eq!((rows[0].accepted_bytes, rows[0].accepted_spans), (6, 2));
    }

    #[test]
    fn queries_are_counted_and_flushed_but_are_no_ingest() {
        let mut m = Meter::new(day("2026-03-15"), Vec::new());
        let d = day("2026-03-15");
        let query = UsageDelta {
            queries: 1,
            ..UsageDelta::default()
        };
        m.record(&t("aaa"), d, &query);
        m.record(&t("aaa"), d, &query);
        m.record(&t("bbb"), d, &query);
        assert_eq!(m.usage(&t("aaa"), d), PeriodUsage::default(), "no quota");
        let rows = m.take_pending();
        let counted: Vec<(&str, u64, u64)> = rows
            .iter()
            .map(|r| (r.tenant.as_str(), r.queries, r.accepted_bytes))
            .collect();
        assert_eq!(counted, [("aaa", 2, 0), ("bbb", 1, 0)]);
    }
}
