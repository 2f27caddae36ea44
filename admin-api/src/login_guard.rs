//! Sign-in protection. A password check is Argon2id at OWASP's parameters (tens of
//! milliseconds of CPU and ~19 MiB each), so unbounded sign-in attempts would be both a
//! password-guessing oracle and a way to exhaust the process: at most [`MAX_CONCURRENT_CHECKS`]
//! checks run at once (the rest are answered 429 at once), and a user name with
//! [`MAX_FAILURES`] failed attempts within [`FAILURE_WINDOW`] is refused (429 with
//! `Retry-After`) until the window has passed, without a check. Per process: behind a load
//! balancer every replica keeps its own count.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use tokio::sync::{Semaphore, SemaphorePermit};

use crate::error::AdminError;

pub(crate) const MAX_CONCURRENT_CHECKS: usize = 2;
pub(crate) const MAX_FAILURES: u32 = 5;
pub(crate) const FAILURE_WINDOW: Duration = Duration::from_secs(15 * 60);
/// Names tracked at most; past this, windows that have ended are forgotten first.
const MAX_TRACKED: usize = 10_000;

#[derive(Debug, Clone, Copy)]
struct Failures {
    count: u32,
    since: SystemTime,
}

#[derive(Debug)]
pub(crate) struct LoginGuard {
    checks: Semaphore,
    failures: Mutex<HashMap<String, Failures>>,
}

impl Default for LoginGuard {
    fn default() -> Self {
        Self {
            checks: Semaphore::new(MAX_CONCURRENT_CHECKS),
            failures: Mutex::new(HashMap::new()),
        }
    }
}

impl LoginGuard {
    /// Admits one password check for `user` at `now`, or says why not.
    pub(crate) fn admit(
        &self,
        user: &str,
        now: SystemTime,
    ) -> Result<SemaphorePermit<'_>, AdminError> {
        if let Some(f) = self.lock().get(user).copied()
            && f.count >= MAX_FAILURES
        {
            let ends = f.since + FAILURE_WINDOW;
            if ends > now {
                let left = ends.duration_since(now).unwrap_or_default();
                return Err(AdminError::TooManyRequests {
                    message: "too many failed sign-ins for this user; try again later".into(),
                    retry_after_secs: left.as_secs().max(1),
                });
            }
        }
        self.checks
            .try_acquire()
            .map_err(|_| AdminError::TooManyRequests {
                message: "too many sign-ins at once; try again shortly".into(),
                retry_after_secs: 1,
            })
    }

    pub(crate) fn failed(&self, user: &str, now: SystemTime) {
        let mut failures = self.lock();
        if failures.len() >= MAX_TRACKED && !failures.contains_key(user) {
            failures.retain(|_, f| f.since + FAILURE_WINDOW > now);
            if failures.len() >= MAX_TRACKED {
                // Still full of live windows: make room rather than grow without bound.
                if let Some(oldest) = failures
                    .iter()
                    .min_by_key(|(_, f)| f.since)
                    .map(|(k, _)| k.clone())
                {
                    failures.remove(&oldest);
                }
            }
        }
        let entry = failures.entry(user.to_owned()).or_insert(Failures {
            count: 0,
            since: now,
        });
        if entry.since + FAILURE_WINDOW <= now {
            *entry = Failures {
                count: 0,
                since: now,
            };
        }
        entry.count += 1;
    }

    pub(crate) fn succeeded(&self, user: &str) {
        self.lock().remove(user);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Failures>> {
        self.failures
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_user_is_locked_after_failures_until_the_window_ends() {
        let guard = LoginGuard::default();
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        for _ in 0..MAX_FAILURES {
            drop(guard.admit("alice", t0).expect("admitted"));
            guard.failed("alice", t0);
        }
        let Err(AdminError::TooManyRequests {
            retry_after_secs, ..
        }) = guard.admit("alice", t0 + Duration::from_secs(60))
        else {
            panic!("not locked");
        };
        assert_eq!(retry_after_secs, FAILURE_WINDOW.as_secs() - 60);
        // Another user is not affected; the window's end unlocks.
        assert!(guard.admit("bob", t0).is_ok());
        assert!(guard.admit("alice", t0 + FAILURE_WINDOW).is_ok());
        // Success clears the count.
        guard.failed("carol", t0);
        guard.succeeded("carol");
        assert!(guard.lock().get("carol").is_none());
    }

    #[test]
    fn concurrent_checks_are_bounded() {
        let guard = LoginGuard::default();
        let now = SystemTime::UNIX_EPOCH;
        let held: Vec<_> = (0..MAX_CONCURRENT_CHECKS)
            .map(|_| guard.admit("x", now).expect("admitted"))
            .collect();
        assert!(matches!(
            guard.admit("y", now),
            Err(AdminError::TooManyRequests { .. })
        ));
        drop(held);
        assert!(guard.admit("y", now).is_ok());
    }
}
