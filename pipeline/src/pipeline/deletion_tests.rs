//! Flushes that must not write: a tenant being deleted (its completed traces are dropped, its
//! WAL records released, other tenants' traces written as usual), and a re-flush of a block
//! whose ID the catalog has forgotten (compacted or expired and deleted).

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use parking_lot::Mutex;
use prometheus_client::registry::Registry;
use prost::Message;
use sextant_model::{
    BlockCatalog, IngestSink, Limits, Payload, PayloadFormat, TenantDirectory, TenantId, TimeRange,
    TraceId, TraceReader,
};
use sextant_store::WalConfig;
use sextant_store::object_store::memory::InMemory;
use sextant_tenancy::{Database, DatabaseOptions};
use tokio_util::sync::CancellationToken;

use crate::testdata::{span, wrap};
use crate::{BlockBackend, BlockConfig, IngesterConfig, Pipeline, PipelineConfig};

/// Default limits; the tenants in the set are being deleted.
struct Deleting(Mutex<HashSet<TenantId>>, Arc<Limits>);

impl TenantDirectory for Deleting {
    fn limits(&self, _tenant: &TenantId) -> Arc<Limits> {
        Arc::clone(&self.1)
    }

    fn is_deleting(&self, tenant: &TenantId) -> bool {
        self.0.lock().contains(tenant)
    }
}

fn tenant(name: &str) -> TenantId {
    TenantId::new(name).unwrap()
}

#[tokio::test]
async fn a_deleting_tenants_traces_are_dropped_at_flush_and_others_written() {
    let dir = tempfile::tempdir().unwrap();
    let catalog = Arc::new(
        Database::connect(
            &format!("sqlite://{}", dir.path().join("catalog.db").display()),
            &DatabaseOptions::default(),
        )
        .await
        .unwrap(),
    );
    let tenants = Arc::new(Deleting(
        Mutex::new(HashSet::from([tenant("gone")])),
        Arc::new(Limits::default()),
    ));
    let config = PipelineConfig {
        ingester: IngesterConfig {
            trace_idle: Duration::from_millis(20),
            sweep_interval: Duration::from_millis(5),
            ..IngesterConfig::default()
        },
        wal: WalConfig {
            dir: dir.path().join("wal"),
            segment_bytes: 1 << 20,
            max_bytes: 1 << 30,
            fsync: false,
        },
        block: BlockConfig {
            max_block_age: Duration::from_millis(10),
            flush_retry_min: Duration::from_millis(10),
            ..BlockConfig::default()
        },
    };
    let pipeline = Pipeline::open(
        config,
        Arc::clone(&tenants) as Arc<dyn TenantDirectory>,
        Some(BlockBackend {
            store: Arc::new(InMemory::new()),
            catalog: Arc::clone(&catalog) as Arc<dyn BlockCatalog>,
        }),
        &mut Registry::default(),
    )
    .unwrap();
    let shutdown = CancellationToken::new();
    tokio::spawn(Arc::clone(&pipeline).run(shutdown.clone()));

    for (name, t) in [("gone", 1u8), ("kept", 2u8)] {
        let payload = Payload {
            format: PayloadFormat::OtlpProtobuf,
            body: Bytes::from(wrap(vec![span(t, 1, 1_000), span(t, 2, 2_000)]).encode_to_vec()),
        };
        pipeline.push(&tenant(name), payload).await.unwrap();
    }

    let everything = TimeRange::new(0, u64::MAX);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let kept = catalog
            .candidates(&tenant("kept"), everything)
            .await
            .unwrap();
        if !kept.is_empty() && pipeline.ingester.memory_bytes() == 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the kept tenant's block never came"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert!(
        catalog
            .candidates(&tenant("gone"), everything)
            .await
            .unwrap()
            .is_empty(),
        "a block was written for a tenant being deleted"
    );
    let gone = pipeline
        .trace_by_id(&tenant("gone"), TraceId([1; 16]), None)
        .await
        .unwrap();
    assert!(
        gone.is_none(),
        "the deleting tenant's trace is still served"
    );
    let kept = pipeline
        .trace_by_id(&tenant("kept"), TraceId([2; 16]), None)
        .await
        .unwrap();
    assert!(kept.is_some(), "the other tenant's trace is lost");
    shutdown.cancel();
}

/// The real catalog, but every block of tenant `replayed` counts as forgotten: as if its
/// blocks had been flushed before, then compacted and deleted while a WAL replay waited.
struct ForgetsReplayed(Arc<Database>);

#[async_trait::async_trait]
impl BlockCatalog for ForgetsReplayed {
    async fn register(&self, block: sextant_model::BlockMeta) -> sextant_model::Result<()> {
        self.0.register(block).await
    }
    async fn candidates(
        &self,
        tenant: &TenantId,
        range: TimeRange,
    ) -> sextant_model::Result<Vec<sextant_model::BlockMeta>> {
        self.0.candidates(tenant, range).await
    }
    async fn swap(
        &self,
        tenant: &TenantId,
        inputs: &[String],
        outputs: Vec<sextant_model::BlockMeta>,
    ) -> sextant_model::Result<()> {
        self.0.swap(tenant, inputs, outputs).await
    }
    async fn live_blocks(
        &self,
        tenant: &TenantId,
    ) -> sextant_model::Result<Vec<sextant_model::BlockMeta>> {
        self.0.live_blocks(tenant).await
    }
    async fn retire(&self, tenant: &TenantId, ids: &[String]) -> sextant_model::Result<u64> {
        self.0.retire(tenant, ids).await
    }
    async fn retired(
        &self,
        tenant: &TenantId,
        before: std::time::SystemTime,
    ) -> sextant_model::Result<Vec<sextant_model::BlockMeta>> {
        self.0.retired(tenant, before).await
    }
    async fn forget(&self, tenant: &TenantId, block_id: &str) -> sextant_model::Result<bool> {
        self.0.forget(tenant, block_id).await
    }
    async fn is_forgotten(&self, tenant: &TenantId, block_id: &str) -> sextant_model::Result<bool> {
        Ok(tenant.as_str() == "replayed" || self.0.is_forgotten(tenant, block_id).await?)
    }
    async fn tenants_with_blocks(&self) -> sextant_model::Result<Vec<TenantId>> {
        self.0.tenants_with_blocks().await
    }
}

#[tokio::test]
async fn a_re_flush_of_a_forgotten_block_is_dropped_not_registered_again() {
    let dir = tempfile::tempdir().unwrap();
    let db = Arc::new(
        Database::connect(
            &format!("sqlite://{}", dir.path().join("catalog.db").display()),
            &DatabaseOptions::default(),
        )
        .await
        .unwrap(),
    );
    let catalog = Arc::new(ForgetsReplayed(Arc::clone(&db)));
    let tenants = Arc::new(Deleting(Mutex::default(), Arc::new(Limits::default())));
    let pipeline = Pipeline::open(
        PipelineConfig {
            wal: WalConfig {
                dir: dir.path().join("wal"),
                segment_bytes: 1 << 20,
                max_bytes: 1 << 30,
                fsync: false,
            },
            ..PipelineConfig::default()
        },
        tenants as Arc<dyn TenantDirectory>,
        Some(BlockBackend {
            store: Arc::new(InMemory::new()),
            catalog: catalog as Arc<dyn BlockCatalog>,
        }),
        &mut Registry::default(),
    )
    .unwrap();
    for (name, t) in [("replayed", 1u8), ("fresh", 2u8)] {
        let payload = Payload {
            format: PayloadFormat::OtlpProtobuf,
            body: Bytes::from(wrap(vec![span(t, 1, 1_000)]).encode_to_vec()),
        };
        pipeline.push(&tenant(name), payload).await.unwrap();
    }
    // Closing completes every trace and flushes it.
    pipeline.close().await.unwrap();
    let everything = TimeRange::new(0, u64::MAX);
    assert!(
        db.candidates(&tenant("replayed"), everything)
            .await
            .unwrap()
            .is_empty(),
        "a forgotten block was registered again"
    );
    assert_eq!(
        db.candidates(&tenant("fresh"), everything)
            .await
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        pipeline.ingester.memory_bytes(),
        0,
        "the dropped traces stay in memory"
    );
}
