//! Per-tenant token buckets (governor's GCRA) for the ingest rate in decompressed bytes and the
//! query rate in requests. A tenant's bucket is rebuilt when its limits change: the limits are
//! compared on every request, which costs a map lookup and two integer comparisons.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use governor::clock::Clock as GovernorClock;
use governor::middleware::NoOpMiddleware;
use governor::state::{InMemoryState, NotKeyed};
use governor::{Quota, RateLimiter};
use sextant_model::TenantId;

use crate::clock::Clock;

/// Most cells a bucket refills per second. Governor keeps the refill interval of one cell in
/// whole nanoseconds, so at high byte rates one cell stands for several bytes; with at least
/// 1 µs per cell the rounding is under 0.1 %.
const MAX_CELLS_PER_SECOND: u64 = 1_000_000;

/// Most tenants with a bucket. In modes `none` and `trusted-header` any valid tenant id can be
/// named; past this many the buckets are dropped and start full again (a brief over-admission
/// rather than unbounded memory).
const MAX_BUCKETS: usize = 100_000;

/// Governor's view of our clock: the monotonic time since the clock's origin.
#[derive(Clone)]
struct MonotonicClock(Arc<dyn Clock>);

impl GovernorClock for MonotonicClock {
    type Instant = Duration;

    fn now(&self) -> Duration {
        self.0.monotonic()
    }
}

type Limiter = RateLimiter<NotKeyed, InMemoryState, MonotonicClock, NoOpMiddleware<Duration>>;

/// One tenant's bucket and the limits it was built from.
struct Bucket {
    rate: u64,
    burst: u64,
    /// Units (bytes or requests) per governor cell.
    unit: u64,
    cells_in_burst: u32,
    limiter: Arc<Limiter>,
}

/// What a bucket says about a request of some size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Admission {
    /// Allowed; the tokens are taken.
    Allowed,
    /// The bucket is short: the wait until it would hold enough.
    Wait(Duration),
    /// Larger than the burst: no wait will ever admit it.
    TooLarge,
}

/// Token buckets keyed by tenant. A rate of 0 means no limit.
pub(crate) struct TenantBuckets {
    clock: MonotonicClock,
    buckets: Mutex<HashMap<TenantId, Arc<Bucket>>>,
}

impl std::fmt::Debug for TenantBuckets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TenantBuckets").finish_non_exhaustive()
    }
}

impl TenantBuckets {
    pub(crate) fn new(clock: Arc<dyn Clock>) -> Self {
        Self {
            clock: MonotonicClock(clock),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes `amount` tokens from `tenant`'s bucket of `rate` per second and `burst` (a burst of
    /// 0 is taken as one second's worth). `rate` 0 or `amount` 0 always pass.
    pub(crate) fn admit(&self, tenant: &TenantId, rate: u64, burst: u64, amount: u64) -> Admission {
        if rate == 0 || amount == 0 {
            return Admission::Allowed;
        }
        let burst = if burst == 0 { rate } else { burst };
        if amount > burst {
            return Admission::TooLarge;
        }
        let bucket = self.bucket(tenant, rate, burst);
        let cells = amount
            .div_ceil(bucket.unit)
            .min(u64::from(bucket.cells_in_burst));
        let cells =
            NonZeroU32::new(u32::try_from(cells).unwrap_or(u32::MAX)).unwrap_or(NonZeroU32::MIN);
        match bucket.limiter.check_n(cells) {
            Ok(Ok(())) => Admission::Allowed,
            Ok(Err(not_until)) => Admission::Wait(not_until.wait_time_from(self.clock.now())),
            Err(_) => Admission::TooLarge,
        }
    }

    /// The tenant's bucket, built anew when absent or when its limits changed.
    fn bucket(&self, tenant: &TenantId, rate: u64, burst: u64) -> Arc<Bucket> {
        let mut buckets = self
            .buckets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(bucket) = buckets.get(tenant)
            && bucket.rate == rate
            && bucket.burst == burst
        {
            return bucket.clone();
        }
        let bucket = Arc::new(self.build(rate, burst));
        if buckets.len() >= MAX_BUCKETS && !buckets.contains_key(tenant) {
            buckets.clear();
        }
        buckets.insert(tenant.clone(), bucket.clone());
        bucket
    }

    fn build(&self, rate: u64, burst: u64) -> Bucket {
        let unit = rate.div_ceil(MAX_CELLS_PER_SECOND).max(1);
        let cells_per_second = rate / unit;
        let period_nanos = (1_000_000_000 / cells_per_second.max(1)).max(1);
        let cells_in_burst = u32::try_from((burst / unit).max(1)).unwrap_or(u32::MAX);
        let quota = Quota::with_period(Duration::from_nanos(period_nanos))
            .expect("the period is at least 1 ns")
            .allow_burst(NonZeroU32::new(cells_in_burst).unwrap_or(NonZeroU32::MIN));
        Bucket {
            rate,
            burst,
            unit,
            cells_in_burst,
            limiter: Arc::new(RateLimiter::direct_with_clock(quota, self.clock.clone())),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::SystemTime;

    use super::*;
    use crate::clock::ManualClock;

    fn setup() -> (Arc<ManualClock>, TenantBuckets, TenantId) {
        let clock = Arc::new(ManualClock::new(SystemTime::UNIX_EPOCH));
        let buckets = TenantBuckets::new(clock.clone());
        (clock, buckets, TenantId::new("aaa").unwrap())
    }

    #[test]
    fn burst_then_refill_at_the_rate() {
        let (clock, buckets, t) = setup();
        assert_eq!(buckets.admit(&t, 1000, 2000, 2000), Admission::Allowed);
        assert_eq!(
            buckets.admit(&t, 1000, 2000, 1),
            Admission::Wait(Duration::from_millis(1))
        );
        clock.advance(Duration::from_millis(500));
        assert_eq!(
            buckets.admit(&t, 1000, 2000, 501),
            Admission::Wait(Duration::from_millis(1))
        );
        assert_eq!(buckets.admit(&t, 1000, 2000, 500), Admission::Allowed);
        // Empty again: 1500 bytes need 1.5 s.
        assert_eq!(
            buckets.admit(&t, 1000, 2000, 1500),
            Admission::Wait(Duration::from_millis(1500))
        );
        clock.advance(Duration::from_secs(10));
        // Never more than the burst, however long idle.
        assert_eq!(buckets.admit(&t, 1000, 2000, 2000), Admission::Allowed);
        assert!(matches!(
            buckets.admit(&t, 1000, 2000, 1),
            Admission::Wait(_)
        ));
    }

    #[test]
    fn over_burst_is_too_large_and_zero_rate_is_unlimited() {
        let (_, buckets, t) = setup();
        assert_eq!(buckets.admit(&t, 1000, 2000, 2001), Admission::TooLarge);
        assert_eq!(buckets.admit(&t, 0, 0, u64::MAX), Admission::Allowed);
        // A burst of 0 is one second's worth.
        assert_eq!(buckets.admit(&t, 1000, 0, 1001), Admission::TooLarge);
        assert_eq!(buckets.admit(&t, 1000, 0, 1000), Admission::Allowed);
    }

    #[test]
    fn high_rates_are_accurate_over_a_second() {
        let (clock, buckets, t) = setup();
        let rate = 15_000_000;
        let burst = 20_000_000;
        assert_eq!(buckets.admit(&t, rate, burst, burst), Admission::Allowed);
        clock.advance(Duration::from_secs(1));
        assert_eq!(
            buckets.admit(&t, rate, burst, 14_990_000),
            Admission::Allowed
        );
        assert!(matches!(
            buckets.admit(&t, rate, burst, 100_000),
            Admission::Wait(_)
        ));
    }

    #[test]
    fn tenants_have_their_own_buckets_and_a_limit_change_rebuilds() {
        let (_, buckets, a) = setup();
        let b = TenantId::new("bbb").unwrap();
        assert_eq!(buckets.admit(&a, 10, 10, 10), Admission::Allowed);
        assert!(matches!(buckets.admit(&a, 10, 10, 1), Admission::Wait(_)));
        assert_eq!(buckets.admit(&b, 10, 10, 10), Admission::Allowed);
        // New limits: a fresh, full bucket.
        assert_eq!(buckets.admit(&a, 10, 20, 20), Admission::Allowed);
        assert!(matches!(buckets.admit(&a, 10, 20, 1), Admission::Wait(_)));
    }
}
