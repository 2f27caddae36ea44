//! Catalog size as metrics: `sextant_catalog_blocks{tenant,state}` and
//! `sextant_catalog_bytes{tenant,state}`, read from the catalog at start and then on an
//! interval, so they are right from the first scrape after a restart and include what other
//! processes (compaction, retention, repair) changed.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use sextant_tenancy::{Database, StorageLevel, TenantStats, UsageStore, UtcDay};
use tokio_util::sync::CancellationToken;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CatalogLabels {
    tenant: String,
    state: &'static str,
}

/// The catalog gauges.
#[derive(Debug, Clone, Default)]
pub(crate) struct CatalogMetrics {
    blocks: Family<CatalogLabels, Gauge>,
    bytes: Family<CatalogLabels, Gauge>,
    /// Series set by the last refresh, so a tenant that left the catalog loses its series.
    shown: Arc<parking_lot::Mutex<HashSet<CatalogLabels>>>,
}

impl CatalogMetrics {
    pub(crate) fn register(registry: &mut Registry) -> Self {
        let metrics = Self::default();
        registry.register(
            "sextant_catalog_blocks",
            "Blocks in the block catalog, by tenant and state (live, retired)",
            metrics.blocks.clone(),
        );
        registry.register(
            "sextant_catalog_bytes",
            "Bytes of the blocks in the block catalog, by tenant and state (live, retired)",
            metrics.bytes.clone(),
        );
        metrics
    }

    /// Sets every gauge from one reading of the catalog.
    pub(crate) fn set(&self, stats: &[TenantStats]) {
        let mut now = HashSet::new();
        for s in stats {
            for (state, blocks, bytes) in [
                ("live", s.live_blocks, s.live_bytes),
                ("retired", s.retired_blocks, s.retired_bytes),
            ] {
                let labels = CatalogLabels {
                    tenant: s.tenant.as_str().to_owned(),
                    state,
                };
                self.blocks
                    .get_or_create(&labels)
                    .set(i64::try_from(blocks).unwrap_or(i64::MAX));
                self.bytes
                    .get_or_create(&labels)
                    .set(i64::try_from(bytes).unwrap_or(i64::MAX));
                now.insert(labels);
            }
        }
        let mut shown = self.shown.lock();
        for gone in shown.difference(&now) {
            self.blocks.remove(gone);
            self.bytes.remove(gone);
        }
        *shown = now;
    }

    /// Reads the catalog once; a failure is logged and the gauges keep their values.
    pub(crate) async fn refresh(&self, catalog: &Database) {
        match catalog.stats().await {
            Ok(stats) => {
                self.set(&stats);
                record_storage(catalog, &stats).await;
            }
            Err(err) => tracing::warn!(error = %err, "cannot read catalog stats for metrics"),
        }
    }

    /// Refreshes every `interval` until `shutdown` (the first refresh is the caller's).
    pub(crate) async fn run(
        self,
        catalog: Arc<Database>,
        interval: Duration,
        shutdown: CancellationToken,
    ) {
        let mut ticker = tokio::time::interval(interval.max(Duration::from_millis(1)));
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ticker.tick().await;
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = ticker.tick() => self.refresh(&catalog).await,
            }
        }
    }
}

/// Today's stored bytes and blocks per tenant (live blocks), for the usage report: the level
/// last seen in a day is that day's.
async fn record_storage(catalog: &Database, stats: &[TenantStats]) {
    let day = UtcDay::of(SystemTime::now());
    let levels: Vec<StorageLevel> = stats
        .iter()
        .map(|s| StorageLevel {
            tenant: s.tenant.clone(),
            day,
            bytes: s.live_bytes,
            blocks: s.live_blocks,
        })
        .collect();
    if levels.is_empty() {
        return;
    }
    if let Err(err) = catalog.record_storage(&levels).await {
        tracing::warn!(error = %err, "cannot record stored bytes for the usage report");
    }
}

#[cfg(test)]
mod tests {
    use sextant_model::{BlockCatalog, BlockMeta, BlockState, TenantId, TimeRange};

    use super::*;

    fn block(tenant: &str, id: &str, size: u64) -> BlockMeta {
        BlockMeta {
            tenant: TenantId::new(tenant).unwrap(),
            block_id: id.to_owned(),
            range: TimeRange::new(1, 2),
            size_bytes: size,
            span_count: 1,
            trace_count: 1,
            compaction_level: 0,
            format_version: 1,
            state: BlockState::Live,
        }
    }

    fn scrape(registry: &Registry) -> String {
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, registry).unwrap();
        text
    }

    #[tokio::test]
    async fn gauges_follow_the_catalog() {
        let catalog = Database::Sqlite(
            sextant_tenancy::SqliteStore::open_in_memory()
                .await
                .unwrap(),
        );
        let mut registry = Registry::default();
        let metrics = CatalogMetrics::register(&mut registry);
        catalog.register(block("acme", "a", 100)).await.unwrap();
        catalog.register(block("acme", "b", 50)).await.unwrap();
        catalog.register(block("globex", "c", 7)).await.unwrap();
        metrics.refresh(&catalog).await;
        let text = scrape(&registry);
        assert!(
            text.contains(r#"sextant_catalog_blocks{tenant="acme",state="live"} 2"#),
            "{text}"
        );
        assert!(text.contains(r#"sextant_catalog_bytes{tenant="acme",state="live"} 150"#));
        assert!(text.contains(r#"sextant_catalog_bytes{tenant="acme",state="retired"} 0"#));
        assert!(text.contains(r#"sextant_catalog_blocks{tenant="globex",state="live"} 1"#));
        // Today's storage level reaches the usage report.
        let today = UtcDay::of(SystemTime::now());
        let usage = catalog
            .usage(&TenantId::new("acme").unwrap(), today, today)
            .await
            .unwrap();
        assert_eq!(
            (usage[0].stored_bytes, usage[0].stored_blocks),
            (150, 2),
            "{usage:?}"
        );

        catalog
            .remove(&TenantId::new("globex").unwrap(), "c")
            .await
            .unwrap();
        metrics.refresh(&catalog).await;
        let text = scrape(&registry);
        assert!(!text.contains("globex"), "{text}");
        assert!(text.contains(r#"sextant_catalog_blocks{tenant="acme",state="live"} 2"#));
    }
}
