//! The control plane at run time: an in-memory snapshot of tenants, keys, admin tokens and
//! limits that answers every request without the database, kept fresh in the background, plus
//! usage metering and last-use bookkeeping written back in batches.
//!
//! Freshness: a task polls [`TenantStore::revision`] every `refresh_interval` and reloads the
//! snapshot when it moved; on Postgres a second task LISTENs on `sextant_tenancy` (a trigger
//! NOTIFYs on every revision change) and wakes the first at once, reconnecting after a loss.
//! Fail static: when the database cannot be reached the last snapshot keeps answering (known
//! keys work, unknown ones are refused) and [`ControlPlane::status`] carries the error until a
//! check succeeds again.
//!
//! Shutdown: [`ControlPlane::close`] stops the background tasks and flushes usage and key
//! last-use times; dropping the last handle without it stops the tasks but flushes nothing.

mod meter;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError, RwLock, Weak};
use std::time::{Duration, SystemTime};

use sextant_model::{
    Authenticator, GeneratorSettings, Identity, KeyIdentity, Limits, PeriodUsage, ReadinessProbe,
    TenantDirectory, TenantId, TenantStatus, UsageDelta, UsageMeter,
};
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;

use crate::auth::{authenticate, authenticate_admin};
use crate::clock::Clock;
use crate::database::Database;
use crate::error::{Error, Result};
use crate::keys::{KEY_PREFIX, Pepper};
use crate::store::TenantStore;
use crate::tenant::Snapshot;
use crate::usage::{UsageStore, UtcDay};
use meter::Meter;

/// The Postgres channel the revision trigger notifies.
pub(crate) const CHANNEL: &str = "sextant_tenancy";

/// Settings of a [`ControlPlane`].
#[derive(Debug, Clone)]
pub struct ControlPlaneConfig {
    /// The configured limits; a tenant's overrides replace them field by field.
    pub defaults: Limits,
    /// The key pepper (digests of keys and admin tokens).
    pub pepper: Pepper,
    /// How often the revision is polled (default 1 s).
    pub refresh_interval: Duration,
    /// How often usage is written to the database (default 10 s).
    pub usage_flush_interval: Duration,
    /// How often key last-use times are written (default 60 s).
    pub last_used_flush_interval: Duration,
}

impl ControlPlaneConfig {
    /// `defaults` and `pepper` with the default intervals.
    pub fn new(defaults: Limits, pepper: Pepper) -> Self {
        Self {
            defaults,
            pepper,
            refresh_interval: Duration::from_secs(1),
            usage_flush_interval: Duration::from_secs(10),
            last_used_flush_interval: Duration::from_secs(60),
        }
    }
}

/// What the control plane is serving, for `/ready` and logs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ControlPlaneStatus {
    /// The revision of the snapshot being served.
    pub revision: u64,
    /// When that snapshot was loaded.
    pub loaded_at: SystemTime,
    /// The last database error, until a check succeeds again; the snapshot is then possibly
    /// stale (fail static).
    pub db_error: Option<String>,
    /// Whether a Postgres LISTEN connection is up (always false on SQLite).
    pub listening: bool,
    /// Revision checks completed since start (polls and notifications).
    pub checks: u64,
}

/// A snapshot with the effective limits of each of its tenants worked out once.
#[derive(Debug)]
struct Loaded {
    snapshot: Snapshot,
    limits: HashMap<TenantId, Arc<Limits>>,
    defaults: Arc<Limits>,
    /// Generator settings of the tenants with a processor on, shared per snapshot.
    generators: HashMap<TenantId, Arc<GeneratorSettings>>,
}

impl Loaded {
    fn new(snapshot: Snapshot, defaults: &Limits) -> Self {
        let limits = snapshot
            .tenants
            .values()
            .map(|t| (t.id.clone(), Arc::new(t.limits.apply(defaults))))
            .collect();
        let generators = snapshot
            .tenants
            .values()
            .filter(|t| !t.generator.processors.is_empty())
            .map(|t| (t.id.clone(), Arc::new(t.generator.clone())))
            .collect();
        Self {
            snapshot,
            limits,
            defaults: Arc::new(defaults.clone()),
            generators,
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The control plane of one process; see the module docs.
pub struct ControlPlane {
    db: Arc<Database>,
    cfg: ControlPlaneConfig,
    clock: Clock,
    loaded: RwLock<Arc<Loaded>>,
    status: Mutex<ControlPlaneStatus>,
    meter: Mutex<Meter>,
    last_used: Mutex<HashMap<String, SystemTime>>,
    /// Wakes the refresher at once (a notification arrived).
    wake: Arc<Notify>,
    shutdown: watch::Sender<bool>,
    tasks: Mutex<Vec<JoinHandle<()>>>,
    /// One flush at a time (the background task and `close`).
    flushing: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for ControlPlane {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ControlPlane")
            .field("db", &self.db.kind())
            .field("status", &*lock(&self.status))
            .finish_non_exhaustive()
    }
}

impl ControlPlane {
    /// Loads the first snapshot and this month's usage (failing when the database cannot be
    /// reached) and starts the background tasks on the current tokio runtime.
    pub async fn start(
        db: Arc<Database>,
        cfg: ControlPlaneConfig,
        clock: Clock,
    ) -> Result<Arc<ControlPlane>> {
        let snapshot = db.snapshot().await?;
        let now = clock();
        let today = UtcDay::of(now);
        let totals = db.all_period_totals(today).await?;
        let status = ControlPlaneStatus {
            revision: snapshot.revision,
            loaded_at: now,
            db_error: None,
            listening: false,
            checks: 0,
        };
        let (shutdown, _) = watch::channel(false);
        let cp = Arc::new(ControlPlane {
            loaded: RwLock::new(Arc::new(Loaded::new(snapshot, &cfg.defaults))),
            status: Mutex::new(status),
            meter: Mutex::new(Meter::new(today, totals)),
            last_used: Mutex::new(HashMap::new()),
            wake: Arc::new(Notify::new()),
            shutdown,
            tasks: Mutex::new(Vec::new()),
            flushing: tokio::sync::Mutex::new(()),
            db,
            cfg,
            clock,
        });
        let mut tasks = vec![
            tokio::spawn(refresher(Arc::downgrade(&cp), cp.shutdown.subscribe())),
            tokio::spawn(flusher(Arc::downgrade(&cp), cp.shutdown.subscribe())),
        ];
        if let Database::Postgres(pg) = &*cp.db {
            tasks.push(tokio::spawn(listener(
                pg.pool().clone(),
                Arc::downgrade(&cp),
                cp.shutdown.subscribe(),
            )));
        }
        *lock(&cp.tasks) = tasks;
        tracing::info!(
            db = cp.db.kind(),
            revision = cp.status().revision,
            "control plane started"
        );
        Ok(cp)
    }

    /// What is being served and whether the database answers.
    pub fn status(&self) -> ControlPlaneStatus {
        lock(&self.status).clone()
    }

    /// The snapshot being served.
    pub fn snapshot(&self) -> Snapshot {
        self.current().snapshot.clone()
    }

    /// Runs `f` on the snapshot being served, without copying it (a scrape reading every
    /// tenant's overrides need not clone every key).
    pub fn with_snapshot<R>(&self, f: impl FnOnce(&Snapshot) -> R) -> R {
        f(&self.current().snapshot)
    }

    fn current(&self) -> Arc<Loaded> {
        Arc::clone(&self.loaded.read().unwrap_or_else(PoisonError::into_inner))
    }

    /// Checks the revision now and reloads when it moved (as the background task does);
    /// returns the revision served. An admin API calls it after a change to read its own
    /// write at once.
    pub async fn refresh(&self) -> Result<u64> {
        let result = self.check().await;
        let mut status = lock(&self.status);
        status.checks += 1;
        match &result {
            Ok(revision) => {
                if status.db_error.take().is_some() {
                    tracing::info!(revision, "control-plane database reachable again");
                }
            }
            Err(e) => {
                if status.db_error.is_none() {
                    tracing::warn!(error = %e, "control-plane database unreachable; serving the last snapshot");
                }
                status.db_error = Some(e.to_string());
            }
        }
        result
    }

    async fn check(&self) -> Result<u64> {
        let served = self.current().snapshot.revision;
        let revision = self.db.revision().await?;
        if revision == served {
            return Ok(served);
        }
        let snapshot = self.db.snapshot().await?;
        let revision = snapshot.revision;
        let loaded = Arc::new(Loaded::new(snapshot, &self.cfg.defaults));
        {
            let mut current = self.loaded.write().unwrap_or_else(PoisonError::into_inner);
            // A slower concurrent reload must not put an older snapshot back.
            if current.snapshot.revision < revision {
                *current = loaded;
            }
        }
        let mut status = lock(&self.status);
        if status.revision < revision {
            status.revision = revision;
            status.loaded_at = (self.clock)();
            tracing::debug!(revision, "tenancy snapshot reloaded");
        }
        Ok(revision)
    }

    /// Writes the usage recorded since the last flush (on failure it is kept for the next),
    /// then re-reads today's stored totals, which include what other processes sharing the
    /// database wrote: quotas then count every process's traffic, not only this one's.
    pub async fn flush_usage(&self) -> Result<()> {
        let _one = self.flushing.lock().await;
        let rows = lock(&self.meter).take_pending();
        if !rows.is_empty()
            && let Err(e) = self.db.add_usage(&rows).await
        {
            lock(&self.meter).restore(rows);
            lock(&self.status).db_error = Some(e.to_string());
            return Err(e);
        }
        let today = UtcDay::of((self.clock)());
        match self.db.all_period_totals(today).await {
            Ok(totals) => {
                let mut meter = lock(&self.meter);
                meter.rebase(today, totals);
                meter.prune(today);
                Ok(())
            }
            Err(e) => {
                // The base read at start plus everything recorded since stays right for this
                // process; only other processes' traffic is missing until the next read.
                lock(&self.status).db_error = Some(e.to_string());
                Err(e)
            }
        }
    }

    /// Writes the keys' last-use times recorded since the last flush; those that fail are
    /// kept for the next.
    pub async fn flush_last_used(&self) -> Result<()> {
        let _one = self.flushing.lock().await;
        let used: Vec<(String, SystemTime)> = lock(&self.last_used).drain().collect();
        let mut first_error = None;
        let mut failed = Vec::new();
        for (key_id, at) in used {
            if let Err(e) = self.db.touch_key(&key_id, at).await {
                failed.push((key_id, at));
                first_error.get_or_insert(e);
            }
        }
        if !failed.is_empty() {
            let mut map = lock(&self.last_used);
            for (key_id, at) in failed {
                let slot = map.entry(key_id).or_insert(at);
                *slot = (*slot).max(at);
            }
        }
        match first_error {
            Some(e) => {
                lock(&self.status).db_error = Some(e.to_string());
                Err(e)
            }
            None => Ok(()),
        }
    }

    /// Stops the background tasks, then flushes usage and last-use times. Returns the first
    /// flush error (what could not be written is lost with the process).
    pub async fn close(&self) -> Result<()> {
        let _ = self.shutdown.send(true);
        let tasks: Vec<JoinHandle<()>> = lock(&self.tasks).drain(..).collect();
        for task in tasks {
            let _ = task.await;
        }
        let usage = self.flush_usage().await;
        let used = self.flush_last_used().await;
        tracing::info!("control plane closed");
        usage.and(used)
    }

    fn set_listening(&self, up: bool) {
        lock(&self.status).listening = up;
    }
}

impl Drop for ControlPlane {
    fn drop(&mut self) {
        let _ = self.shutdown.send(true);
    }
}

impl Authenticator for ControlPlane {
    fn authenticate(&self, secret: &str) -> sextant_model::Result<Identity> {
        let loaded = self.current();
        let now = (self.clock)();
        if secret.starts_with(KEY_PREFIX) {
            let principal = authenticate(&loaded.snapshot, secret, &self.cfg.pepper, now)?;
            {
                let mut used = lock(&self.last_used);
                let slot = used.entry(principal.key_id.clone()).or_insert(now);
                *slot = (*slot).max(now);
            }
            return Ok(Identity::Key(KeyIdentity {
                key_id: principal.key_id,
                tenant: principal.tenant,
                status: principal.status,
                write: principal.scopes.write,
                read: principal.scopes.read,
                read_tenants: principal.read_tenants,
            }));
        }
        let token = authenticate_admin(&loaded.snapshot, secret, &self.cfg.pepper, now)?;
        Ok(Identity::Admin { name: token.name })
    }

    fn tenant_status(&self, tenant: &TenantId) -> Option<TenantStatus> {
        self.current()
            .snapshot
            .tenants
            .get(tenant)
            .map(|t| t.status)
    }
}

impl TenantDirectory for ControlPlane {
    fn limits(&self, tenant: &TenantId) -> Arc<Limits> {
        let loaded = self.current();
        loaded
            .limits
            .get(tenant)
            .map_or_else(|| Arc::clone(&loaded.defaults), Arc::clone)
    }

    fn is_deleting(&self, tenant: &TenantId) -> bool {
        self.current()
            .snapshot
            .tenants
            .get(tenant)
            .is_some_and(|t| t.status == TenantStatus::Deleting)
    }

    fn generator(&self, tenant: &TenantId) -> Option<Arc<GeneratorSettings>> {
        self.current().generators.get(tenant).cloned()
    }
}

impl UsageMeter for ControlPlane {
    fn record(&self, tenant: &TenantId, at: SystemTime, delta: &UsageDelta) {
        lock(&self.meter).record(tenant, UtcDay::of(at), delta);
    }

    fn usage(&self, tenant: &TenantId, now: SystemTime) -> PeriodUsage {
        lock(&self.meter).usage(tenant, UtcDay::of(now))
    }
}

impl ReadinessProbe for ControlPlane {
    /// Always ready: a control plane exists only once its first snapshot loaded, and an
    /// unreachable database is served from that snapshot (see [`ControlPlane::status`]).
    fn readiness(&self) -> std::result::Result<(), String> {
        Ok(())
    }
}

/// Polls the revision every `refresh_interval`, and at once when woken.
async fn refresher(cp: Weak<ControlPlane>, mut shutdown: watch::Receiver<bool>) {
    let (interval, wake) = match cp.upgrade() {
        Some(cp) => (cp.cfg.refresh_interval, Arc::clone(&cp.wake)),
        None => return,
    };
    let mut ticker = tokio::time::interval(interval.max(Duration::from_millis(1)));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticker.tick().await;
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            () = wake.notified() => {}
            _ = shutdown.changed() => return,
        }
        let Some(cp) = cp.upgrade() else { return };
        let _ = cp.refresh().await;
    }
}

/// Writes usage and last-use times on their intervals.
async fn flusher(cp: Weak<ControlPlane>, mut shutdown: watch::Receiver<bool>) {
    let (usage_every, used_every) = match cp.upgrade() {
        Some(cp) => (
            cp.cfg.usage_flush_interval.max(Duration::from_millis(1)),
            cp.cfg
                .last_used_flush_interval
                .max(Duration::from_millis(1)),
        ),
        None => return,
    };
    let mut usage = tokio::time::interval(usage_every);
    let mut used = tokio::time::interval(used_every);
    usage.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    used.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    usage.tick().await;
    used.tick().await;
    loop {
        tokio::select! {
            _ = usage.tick() => {
                let Some(cp) = cp.upgrade() else { return };
                if let Err(e) = cp.flush_usage().await {
                    tracing::warn!(error = %e, "usage flush failed; kept for the next");
                }
            }
            _ = used.tick() => {
                let Some(cp) = cp.upgrade() else { return };
                if let Err(e) = cp.flush_last_used().await {
                    tracing::warn!(error = %e, "key last-use flush failed; kept for the next");
                }
            }
            _ = shutdown.changed() => return,
        }
    }
}

/// LISTENs for revision changes on Postgres and wakes the refresher; after a lost connection
/// it reconnects (backing off) and wakes the refresher once to catch up on what it missed.
async fn listener(pool: sqlx::PgPool, cp: Weak<ControlPlane>, mut shutdown: watch::Receiver<bool>) {
    let wake = match cp.upgrade() {
        Some(cp) => Arc::clone(&cp.wake),
        None => return,
    };
    let mut backoff = Duration::from_millis(50);
    loop {
        match listen(&pool).await {
            Ok(mut listener) => {
                backoff = Duration::from_millis(50);
                if let Some(cp) = cp.upgrade() {
                    cp.set_listening(true);
                }
                wake.notify_one();
                loop {
                    tokio::select! {
                        message = listener.try_recv() => match message {
                            Ok(Some(_)) => wake.notify_one(),
                            Ok(None) | Err(_) => break,
                        },
                        _ = shutdown.changed() => return,
                    }
                }
                if let Some(cp) = cp.upgrade() {
                    cp.set_listening(false);
                }
                tracing::debug!("tenancy notification connection lost; reconnecting");
            }
            Err(e) => tracing::debug!(error = %e, "cannot listen for tenancy notifications"),
        }
        tokio::select! {
            () = tokio::time::sleep(backoff) => {}
            _ = shutdown.changed() => return,
        }
        backoff = (backoff * 2).min(Duration::from_secs(5));
    }
}

async fn listen(pool: &sqlx::PgPool) -> Result<sqlx::postgres::PgListener> {
    let mut listener = sqlx::postgres::PgListener::connect_with(pool)
        .await
        .map_err(Error::db("connect listener"))?;
    listener
        .listen(CHANNEL)
        .await
        .map_err(Error::db("listen"))?;
    Ok(listener)
}

#[cfg(test)]
mod tests;
