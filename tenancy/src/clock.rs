//! The wall clock lease expiry is measured against, injectable so tests control time.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A source of the current time.
pub type Clock = Arc<dyn Fn() -> SystemTime + Send + Sync>;

/// The system clock.
pub fn system_clock() -> Clock {
    Arc::new(SystemTime::now)
}

/// A clock that moves only when told to, for tests.
#[derive(Debug, Clone)]
pub struct ManualClock {
    unix_millis: Arc<AtomicU64>,
}

impl ManualClock {
    /// A clock stopped at `unix_millis` milliseconds after the epoch.
    pub fn new(unix_millis: u64) -> Self {
        Self {
            unix_millis: Arc::new(AtomicU64::new(unix_millis)),
        }
    }

    pub fn now(&self) -> SystemTime {
        UNIX_EPOCH + Duration::from_millis(self.unix_millis.load(Ordering::SeqCst))
    }

    /// Moves the clock forward.
    pub fn advance(&self, by: Duration) {
        let ms = u64::try_from(by.as_millis()).unwrap_or(u64::MAX);
        self.unix_millis.fetch_add(ms, Ordering::SeqCst);
    }

    /// This clock as a [`Clock`] for a store.
    pub fn clock(&self) -> Clock {
        let this = self.clone();
        Arc::new(move || this.now())
    }
}
