//! Tenant deletion in the background: a tenant the admin API put in status `deleting` is, once
//! it has been deleting for `tenant_deletion.delay`, removed from object storage (every object
//! under its prefix) and then from the database (keys, block catalog rows, leases and the
//! tenant row) — after which its ID may be created again. Usage and audit rows are kept: they
//! are the operator's billing and compliance records.
//!
//! The delay lets data the ingesters still hold for the tenant drain first: while a tenant is
//! deleting, its ingest is refused and flushes of its traces are dropped (`pipeline`), so after
//! the delay nothing of it remains in memory or the WAL to be written back. One worker per
//! tenant at a time, under the compactor's lease `compaction/<tenant>`, so no compaction of
//! the tenant writes objects while they are being deleted.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use prometheus_client::metrics::counter::Counter;
use prometheus_client::registry::Registry;
use serde::{Deserialize, Serialize};
use sextant_model::{Lease, TenantId, TenantStatus};
use sextant_store::object_store::ObjectStore;
use sextant_tenancy::{Database, TenantQuery, TenantStore};
use tokio_util::sync::CancellationToken;

/// `tenant_deletion:` in the configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TenantDeletionConfig {
    /// How often deleting tenants are looked for.
    #[serde(with = "humantime_serde")]
    pub interval: Duration,
    /// How long a tenant stays in `deleting` before its data is removed: longer than a trace
    /// can stay in an ingester (trace idle + block age + flush retries).
    #[serde(with = "humantime_serde")]
    pub delay: Duration,
    /// How long the deletion lease lasts unless renewed.
    #[serde(with = "humantime_serde")]
    pub lease_ttl: Duration,
}

impl Default for TenantDeletionConfig {
    fn default() -> Self {
        Self {
            interval: Duration::from_secs(30),
            delay: Duration::from_secs(600),
            lease_ttl: Duration::from_secs(300),
        }
    }
}

#[derive(Debug, Clone, Default)]
struct DeletionMetrics {
    tenants: Counter,
    objects: Counter,
    failures: Counter,
}

/// Removes deleting tenants' data.
#[derive(Debug)]
pub(crate) struct TenantDeleter {
    db: Arc<Database>,
    store: Arc<dyn ObjectStore>,
    config: TenantDeletionConfig,
    holder: String,
    metrics: DeletionMetrics,
}

impl TenantDeleter {
    pub(crate) fn new(
        db: Arc<Database>,
        store: Arc<dyn ObjectStore>,
        config: TenantDeletionConfig,
        holder: String,
        registry: &mut Registry,
    ) -> Self {
        let metrics = DeletionMetrics::default();
        registry.register(
            "sextant_deleted_tenants",
            "Tenants whose data was removed after deletion",
            metrics.tenants.clone(),
        );
        registry.register(
            "sextant_deleted_tenant_objects",
            "Objects removed from storage for deleted tenants",
            metrics.objects.clone(),
        );
        registry.register(
            "sextant_tenant_deletion_failures",
            "Failed attempts to remove a deleted tenant's data (retried)",
            metrics.failures.clone(),
        );
        Self {
            db,
            store,
            config,
            holder,
            metrics,
        }
    }

    /// Sweeps every `interval` until shutdown.
    pub(crate) async fn run(self, shutdown: CancellationToken) {
        let mut tick = tokio::time::interval(self.config.interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tick.tick() => {}
            }
            if let Err(err) = self.sweep(SystemTime::now()).await {
                self.metrics.failures.inc();
                tracing::warn!(
                    error = format!("{err:#}"),
                    "tenant deletion sweep failed; retrying"
                );
            }
        }
    }

    /// Removes every tenant that has been deleting for at least the delay; how many.
    pub(crate) async fn sweep(&self, now: SystemTime) -> anyhow::Result<usize> {
        let mut removed = 0;
        let mut after: Option<TenantId> = None;
        loop {
            let page = self
                .db
                .list_tenants_page(&TenantQuery {
                    status: Some(TenantStatus::Deleting),
                    after: after.clone(),
                    limit: 100,
                })
                .await?;
            for tenant in &page.tenants {
                let since = now
                    .duration_since(tenant.updated_at)
                    .unwrap_or(Duration::ZERO);
                if since >= self.config.delay && self.remove(&tenant.id).await? {
                    removed += 1;
                }
            }
            match page.next {
                Some(next) => after = Some(next),
                None => return Ok(removed),
            }
        }
    }

    /// Objects first, then the rows: a crash in between leaves the tenant `deleting`, and the
    /// next sweep finishes it.
    async fn remove(&self, tenant: &TenantId) -> anyhow::Result<bool> {
        let name = format!("compaction/{tenant}");
        let Some(guard) = self
            .db
            .acquire(&name, &self.holder, self.config.lease_ttl)
            .await?
        else {
            return Ok(false);
        };
        let objects = sextant_store::delete_tenant_objects(self.store.as_ref(), tenant).await?;
        self.metrics.objects.inc_by(objects);
        if !self.db.renew(&guard, self.config.lease_ttl).await? {
            anyhow::bail!("lost the lease {name} while deleting objects");
        }
        // The purge removes the tenant's leases, ours included.
        let purged = self.db.purge_tenant(tenant).await?;
        if purged {
            self.metrics.tenants.inc();
            tracing::info!(tenant = %tenant, objects, "deleted tenant's data removed");
        }
        Ok(purged)
    }
}

#[cfg(test)]
mod tests {
    use sextant_store::object_store::memory::InMemory;
    use sextant_store::object_store::path::Path;
    use sextant_store::object_store::{ObjectStoreExt, PutPayload};
    use sextant_tenancy::{Database, SqliteStore, TenantUpdate};

    use super::*;

    async fn put(store: &InMemory, key: &str) {
        store
            .put(&Path::from(key), PutPayload::from_static(b"x"))
            .await
            .unwrap();
    }

    async fn keys(store: &InMemory) -> Vec<String> {
        use futures::TryStreamExt;
        let mut keys: Vec<String> = store
            .list(None)
            .map_ok(|m| m.location.to_string())
            .try_collect()
            .await
            .unwrap();
        keys.sort();
        keys
    }

    #[tokio::test]
    async fn a_deleting_tenant_is_removed_after_the_delay_and_no_other() {
        let db = Arc::new(Database::Sqlite(
            SqliteStore::open_in_memory().await.unwrap(),
        ));
        let store = Arc::new(InMemory::new());
        for id in ["gone", "gone-2", "kept"] {
            db.create_tenant(&TenantId::new(id).unwrap(), id)
                .await
                .unwrap();
        }
        for key in [
            "gone/blocks/b1/meta.json",
            "gone/blocks/b1/data.parquet",
            "gone-2/blocks/b2/meta.json",
            "kept/blocks/b3/meta.json",
        ] {
            put(&store, key).await;
        }
        let gone = TenantId::new("gone").unwrap();
        let deleting = db
            .update_tenant(
                &gone,
                TenantUpdate {
                    status: Some(TenantStatus::Deleting),
                    ..TenantUpdate::default()
                },
                None,
            )
            .await
            .unwrap();
        let config = TenantDeletionConfig {
            delay: Duration::from_secs(60),
            ..TenantDeletionConfig::default()
        };
        let deleter = TenantDeleter::new(
            Arc::clone(&db),
            Arc::clone(&store) as Arc<dyn ObjectStore>,
            config,
            "test".into(),
            &mut Registry::default(),
        );

        // Within the delay nothing happens.
        let early = deleting.updated_at + Duration::from_secs(30);
        assert_eq!(deleter.sweep(early).await.unwrap(), 0);
        assert_eq!(keys(&store).await.len(), 4);

        // After it, the tenant's objects and row go; the others' stay.
        let late = deleting.updated_at + Duration::from_secs(61);
        assert_eq!(deleter.sweep(late).await.unwrap(), 1);
        assert_eq!(
            keys(&store).await,
            ["gone-2/blocks/b2/meta.json", "kept/blocks/b3/meta.json"]
        );
        assert!(db.get_tenant(&gone).await.unwrap().is_none());
        assert!(
            db.get_tenant(&TenantId::new("gone-2").unwrap())
                .await
                .unwrap()
                .is_some()
        );
        // The ID may be used again.
        db.create_tenant(&gone, "again").await.unwrap();
        assert_eq!(deleter.sweep(late).await.unwrap(), 0);
    }
}
