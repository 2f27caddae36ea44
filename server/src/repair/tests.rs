use std::time::{Duration, SystemTime};

use futures::TryStreamExt;
use sextant_model::otlp::{ResourceSpans, ScopeSpans, Span, TracesData};
use sextant_model::{BlockCatalog, BlockMeta, TenantId, TimeRange, TraceId};
use sextant_store::object_store::local::LocalFileSystem;
use sextant_store::object_store::memory::InMemory;
use sextant_store::object_store::path::Path;
use sextant_store::object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use sextant_store::{
    BlockFile, BlockId, BlockInfo, BlockOptions, BlockPath, write_block, write_block_from,
};
use sextant_tenancy::{Database, SqliteStore};

use super::{Action, RepairOptions, repair, run_with};
use crate::config::{Config, Overrides};

const HOUR: Duration = Duration::from_secs(3600);

fn tenant(id: &str) -> TenantId {
    TenantId::new(id).unwrap()
}

fn block(n: u8) -> BlockId {
    BlockId::from_bytes([n; 16])
}

fn trace(seed: u8) -> (TraceId, TracesData) {
    let id = TraceId([seed; 16]);
    let span = Span {
        trace_id: id.0.to_vec(),
        span_id: vec![seed; 8],
        name: format!("op-{seed}"),
        start_time_unix_nano: 1_000_000 + u64::from(seed),
        end_time_unix_nano: 2_000_000 + u64::from(seed),
        ..Span::default()
    };
    let data = TracesData {
        resource_spans: vec![ResourceSpans {
            scope_spans: vec![ScopeSpans {
                spans: vec![span],
                ..ScopeSpans::default()
            }],
            ..ResourceSpans::default()
        }],
    };
    (id, data)
}

/// A complete block of `tenant` with one trace.
async fn complete(store: &dyn ObjectStore, tenant: &TenantId, id: BlockId) -> BlockInfo {
    let prefix = BlockPath::block_prefix(tenant, id);
    write_block(
        store,
        &prefix,
        &id.to_string(),
        tenant,
        vec![trace(id.as_bytes()[0])],
        &BlockOptions::default(),
    )
    .await
    .unwrap()
}

/// What a flush that crashed after its first object leaves: `data.parquet` only.
async fn incomplete(store: &dyn ObjectStore, tenant: &TenantId, id: BlockId) {
    let path = BlockPath::new(tenant.clone(), id, BlockFile::Data).to_path();
    store
        .put(&path, PutPayload::from_static(b"PAR1 half a block"))
        .await
        .unwrap();
}

async fn put(store: &dyn ObjectStore, key: &str) {
    store
        .put(&Path::from(key), PutPayload::from_static(b"x"))
        .await
        .unwrap();
}

async fn keys(store: &dyn ObjectStore) -> Vec<String> {
    let mut keys: Vec<String> = store
        .list(None)
        .map_ok(|o| o.location.to_string())
        .try_collect()
        .await
        .unwrap();
    keys.sort();
    keys
}

fn options() -> RepairOptions {
    RepairOptions {
        dry_run: false,
        min_age: HOUR,
        tenant: None,
        remove_missing: false,
        // Two hours ahead: every object written by the test counts as old.
        now: SystemTime::now() + 2 * HOUR,
    }
}

fn registered(t: &str, id: BlockId) -> Action {
    Action::Registered {
        tenant: tenant(t),
        block: id.to_string(),
    }
}

async fn catalog() -> Database {
    Database::Sqlite(SqliteStore::open_in_memory().await.unwrap())
}

#[tokio::test]
async fn registers_complete_blocks_the_catalog_lacks_then_does_nothing() {
    let store = InMemory::new();
    let catalog = catalog().await;
    let acme = tenant("acme");
    let info = complete(&store, &acme, block(1)).await;
    complete(&store, &tenant("globex"), block(2)).await;

    let report = repair(&store, &catalog, &options()).await;
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    assert_eq!(
        report.actions,
        vec![registered("acme", block(1)), registered("globex", block(2))]
    );
    assert_eq!(report.checked, 2);

    let visible = catalog
        .candidates(&acme, TimeRange::new(0, u64::MAX))
        .await
        .unwrap();
    assert_eq!(visible, vec![info.to_block_meta().unwrap()]);

    let again = repair(&store, &catalog, &options()).await;
    assert!(again.actions.is_empty(), "{:?}", again.actions);
    assert!(again.errors.is_empty());
    assert_eq!(again.checked, 2);
}

#[tokio::test]
async fn leaves_young_complete_blocks_to_their_writer() {
    let store = InMemory::new();
    let catalog = catalog().await;
    complete(&store, &tenant("acme"), block(20)).await;
    let young = RepairOptions {
        now: SystemTime::now(),
        ..options()
    };
    let report = repair(&store, &catalog, &young).await;
    assert!(
        matches!(
            report.actions.as_slice(),
            [Action::SkippedYoung { objects: 3, .. }]
        ),
        "{:?}",
        report.actions
    );
    assert!(catalog.list_blocks(None).await.unwrap().is_empty());
}

#[tokio::test]
async fn deletes_old_orphans_and_keeps_young_ones() {
    let store = InMemory::new();
    let catalog = catalog().await;
    let acme = tenant("acme");
    incomplete(&store, &acme, block(3)).await;
    let bloom = BlockPath::new(acme.clone(), block(3), BlockFile::Bloom).to_path();
    store
        .put(&bloom, PutPayload::from_static(b"bloom"))
        .await
        .unwrap();

    // Written just now: a flush may be in progress.
    let young = RepairOptions {
        now: SystemTime::now(),
        ..options()
    };
    let report = repair(&store, &catalog, &young).await;
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    assert!(
        matches!(
            report.actions.as_slice(),
            [Action::SkippedYoung { objects: 2, .. }]
        ),
        "{:?}",
        report.actions
    );
    assert_eq!(keys(&store).await.len(), 2);

    let report = repair(&store, &catalog, &options()).await;
    assert_eq!(
        report.actions,
        vec![Action::RemovedOrphan {
            tenant: acme.clone(),
            block: block(3).to_string(),
            objects: 2,
        }]
    );
    assert!(keys(&store).await.is_empty());
    assert!(catalog.list_blocks(None).await.unwrap().is_empty());

    let again = repair(&store, &catalog, &options()).await;
    assert!(again.actions.is_empty(), "{:?}", again.actions);
}

#[tokio::test]
async fn reports_missing_blocks_and_removes_them_only_when_asked() {
    let store = InMemory::new();
    let catalog = catalog().await;
    let acme = tenant("acme");
    let gone = complete(&store, &acme, block(4)).await;
    catalog
        .register(gone.to_block_meta().unwrap())
        .await
        .unwrap();
    // Registered, but only data.parquet is left of the second block.
    let half = complete(&store, &acme, block(5)).await;
    catalog
        .register(half.to_block_meta().unwrap())
        .await
        .unwrap();
    for file in [BlockFile::Meta, BlockFile::Bloom] {
        store
            .delete(&BlockPath::new(acme.clone(), block(5), file).to_path())
            .await
            .unwrap();
    }
    for file in BlockFile::ALL {
        store
            .delete(&BlockPath::new(acme.clone(), block(4), file).to_path())
            .await
            .unwrap();
    }

    let report = repair(&store, &catalog, &options()).await;
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    let missing = |id: u8, removed| Action::Missing {
        tenant: acme.clone(),
        block: block(id).to_string(),
        retired: false,
        removed,
    };
    assert_eq!(report.actions, vec![missing(5, false), missing(4, false)]);
    assert_eq!(catalog.list_blocks(Some(&acme)).await.unwrap().len(), 2);
    assert_eq!(
        keys(&store).await.len(),
        1,
        "objects of a registered block stay"
    );

    let remove = RepairOptions {
        remove_missing: true,
        ..options()
    };
    let report = repair(&store, &catalog, &remove).await;
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    assert_eq!(
        report.actions,
        vec![
            missing(5, true),
            Action::RemovedOrphan {
                tenant: acme.clone(),
                block: block(5).to_string(),
                objects: 1,
            },
            missing(4, true),
        ]
    );
    assert!(catalog.list_blocks(None).await.unwrap().is_empty());
    assert!(keys(&store).await.is_empty());

    let again = repair(&store, &catalog, &remove).await;
    assert!(again.actions.is_empty(), "{:?}", again.actions);
}

#[tokio::test]
async fn reports_conflicting_metadata_and_changes_nothing() {
    let store = InMemory::new();
    let catalog = catalog().await;
    let acme = tenant("acme");
    let info = complete(&store, &acme, block(6)).await;
    let other = BlockMeta {
        span_count: 99,
        ..info.to_block_meta().unwrap()
    };
    catalog.register(other.clone()).await.unwrap();
    let before = keys(&store).await;

    let report = repair(&store, &catalog, &options()).await;
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    match report.actions.as_slice() {
        [
            Action::Conflict {
                block: id, reason, ..
            },
        ] => {
            assert_eq!(id, &block(6).to_string());
            assert!(
                reason.contains("spans: catalog 99, meta.json 1"),
                "{reason}"
            );
        }
        other => panic!("expected one conflict, got {other:?}"),
    }
    assert_eq!(catalog.list_blocks(None).await.unwrap(), vec![other]);
    assert_eq!(keys(&store).await, before);
}

#[tokio::test]
async fn a_dry_run_changes_nothing_and_predicts_the_real_run() {
    let store = InMemory::new();
    let catalog = catalog().await;
    let acme = tenant("acme");
    complete(&store, &acme, block(7)).await;
    incomplete(&store, &acme, block(8)).await;
    let gone = complete(&InMemory::new(), &acme, block(9)).await;
    catalog
        .register(gone.to_block_meta().unwrap())
        .await
        .unwrap();
    let (keys_before, blocks_before) =
        (keys(&store).await, catalog.list_blocks(None).await.unwrap());
    let remove = RepairOptions {
        remove_missing: true,
        ..options()
    };

    let dry = repair(
        &store,
        &catalog,
        &RepairOptions {
            dry_run: true,
            ..remove.clone()
        },
    )
    .await;
    assert!(dry.errors.is_empty(), "{:?}", dry.errors);
    assert_eq!(dry.actions.len(), 3, "{:?}", dry.actions);
    assert!(dry.summary().contains("dry run"), "{}", dry.summary());
    assert_eq!(keys(&store).await, keys_before);
    assert_eq!(catalog.list_blocks(None).await.unwrap(), blocks_before);

    let real = repair(&store, &catalog, &remove).await;
    assert!(real.errors.is_empty(), "{:?}", real.errors);
    assert_eq!(real.actions, dry.actions);
    assert_eq!(
        real.summary(),
        "repair done: 3 blocks checked, 1 registered, 1 orphans removed, 0 young skipped, \
         1 missing, 0 conflicts, 0 skipped, 0 foreign keys, 0 errors"
    );
    let again = repair(&store, &catalog, &remove).await;
    assert!(again.actions.is_empty(), "{:?}", again.actions);
}

#[tokio::test]
async fn leaves_keys_outside_the_layout_alone() {
    let store = InMemory::new();
    let catalog = catalog().await;
    let acme = tenant("acme");
    let id = block(10);
    put(&store, "README").await;
    put(&store, "acme/notes.txt").await;
    put(&store, &format!("acme/blocks/{id}/extra.bin")).await;
    put(&store, "acme/blocks/not-a-block/data.parquet").await;
    put(&store, "NOT_A_TENANT/blocks/x").await;
    incomplete(&store, &acme, id).await;
    let foreign = vec![
        "NOT_A_TENANT".to_owned(),
        "README".to_owned(),
        format!("acme/blocks/{id}/extra.bin"),
        "acme/blocks/not-a-block/data.parquet".to_owned(),
        "acme/notes.txt".to_owned(),
    ];

    let report = repair(&store, &catalog, &options()).await;
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    let mut ignored: Vec<String> = report
        .actions
        .iter()
        .filter_map(|a| match a {
            Action::Foreign { key } => Some(key.clone()),
            _ => None,
        })
        .collect();
    ignored.sort();
    assert_eq!(ignored, foreign);
    assert!(report.actions.contains(&Action::RemovedOrphan {
        tenant: acme,
        block: id.to_string(),
        objects: 1,
    }));
    let mut left = keys(&store).await;
    left.sort();
    let mut expected = foreign.clone();
    expected[0] = "NOT_A_TENANT/blocks/x".to_owned();
    expected.sort();
    assert_eq!(left, expected, "only the orphan's block object was deleted");
}

#[tokio::test]
async fn skips_unsupported_versions_and_mismatched_meta() {
    let store = InMemory::new();
    let catalog = catalog().await;
    let acme = tenant("acme");
    // A block from a newer binary.
    let meta = BlockPath::new(acme.clone(), block(11), BlockFile::Meta).to_path();
    store
        .put(&meta, PutPayload::from_static(br#"{"format_version": 99}"#))
        .await
        .unwrap();
    // A folder whose meta.json describes another block (copied by hand).
    complete(&store, &acme, block(12)).await;
    let copied = store
        .get(&BlockPath::new(acme.clone(), block(12), BlockFile::Meta).to_path())
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let target = BlockPath::new(acme.clone(), block(13), BlockFile::Meta).to_path();
    store.put(&target, PutPayload::from(copied)).await.unwrap();
    catalog
        .register(
            complete(&InMemory::new(), &acme, block(12))
                .await
                .to_block_meta()
                .unwrap(),
        )
        .await
        .unwrap();
    let before = keys(&store).await;

    let report = repair(&store, &catalog, &options()).await;
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    let skipped: Vec<String> = report
        .actions
        .iter()
        .map(|a| match a {
            Action::Skipped { block, .. } => block.clone(),
            other => panic!("unexpected {other:?}"),
        })
        .collect();
    assert_eq!(skipped, vec![block(11).to_string(), block(13).to_string()]);
    assert_eq!(keys(&store).await, before);
    assert_eq!(catalog.list_blocks(None).await.unwrap().len(), 1);
}

#[tokio::test]
async fn only_the_given_tenant_is_repaired() {
    let store = InMemory::new();
    let catalog = catalog().await;
    complete(&store, &tenant("acme"), block(14)).await;
    complete(&store, &tenant("globex"), block(15)).await;
    put(&store, "README").await;
    let only = RepairOptions {
        tenant: Some(tenant("globex")),
        ..options()
    };
    let report = repair(&store, &catalog, &only).await;
    assert_eq!(report.actions, vec![registered("globex", block(15))]);
    assert!(
        catalog
            .list_blocks(Some(&tenant("acme")))
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn repairs_a_local_directory() {
    let dir = tempfile::tempdir().unwrap();
    let store = LocalFileSystem::new_with_prefix(dir.path()).unwrap();
    let catalog = catalog().await;
    let acme = tenant("acme");
    complete(&store, &acme, block(16)).await;
    incomplete(&store, &acme, block(17)).await;

    let report = repair(&store, &catalog, &options()).await;
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    assert_eq!(
        report.actions,
        vec![
            registered("acme", block(16)),
            Action::RemovedOrphan {
                tenant: acme.clone(),
                block: block(17).to_string(),
                objects: 1,
            },
        ]
    );
    assert_eq!(keys(&store).await.len(), 3);
    assert_eq!(catalog.list_blocks(None).await.unwrap().len(), 1);
    let again = repair(&store, &catalog, &options()).await;
    assert!(again.actions.is_empty(), "{:?}", again.actions);
    assert!(again.errors.is_empty(), "{:?}", again.errors);
}

#[test]
fn output_lines_say_what_happened() {
    let (t, b) = (tenant("acme"), block(1).to_string());
    let line = |action: Action| action.to_string();
    let id = &b;
    assert_eq!(
        line(registered("acme", block(1))),
        format!("registered acme/{id}")
    );
    assert_eq!(
        line(Action::RemovedOrphan {
            tenant: t.clone(),
            block: b.clone(),
            objects: 2
        }),
        format!("removed orphan acme/{id} (2 objects)")
    );
    assert_eq!(
        line(Action::SkippedYoung {
            tenant: t.clone(),
            block: b.clone(),
            objects: 1,
            age: Duration::from_millis(65_500),
        }),
        format!("skipped young acme/{id} (1 objects, newest 1m 5s old)")
    );
    let missing = |retired, removed| {
        line(Action::Missing {
            tenant: t.clone(),
            block: b.clone(),
            retired,
            removed,
        })
    };
    assert_eq!(missing(false, false), format!("missing acme/{id}"));
    assert_eq!(missing(true, false), format!("missing acme/{id} (retired)"));
    assert_eq!(
        missing(false, true),
        format!("missing acme/{id} (removed from the catalog)")
    );
    assert_eq!(
        line(Action::Conflict {
            tenant: t.clone(),
            block: b.clone(),
            reason: "spans: catalog 2, meta.json 1".into(),
        }),
        format!("conflict acme/{id}: spans: catalog 2, meta.json 1")
    );
    assert_eq!(
        line(Action::Foreign {
            key: "README".into()
        }),
        "ignored README: not a block object"
    );
}

/// The command's wiring: the configured data directory's blocks and catalog, as `serve` uses them.
#[tokio::test]
async fn runs_against_the_configured_data_directory() {
    let dir = tempfile::tempdir().unwrap();
    let overrides = Overrides {
        data_dir: Some(dir.path().to_owned()),
        ..Overrides::default()
    };
    let config = Config::load(None, std::iter::empty(), &overrides).unwrap();
    let blocks = dir.path().join("blocks");
    std::fs::create_dir_all(&blocks).unwrap();
    let store = LocalFileSystem::new_with_prefix(&blocks).unwrap();
    complete(&store, &tenant("acme"), block(30)).await;

    let refused = run_with(&config, &options()).await.unwrap_err().to_string();
    assert!(refused.contains("does not exist"), "{refused}");
    crate::control::open_database(&config, true)
        .await
        .unwrap()
        .close()
        .await;

    let report = run_with(&config, &options()).await.unwrap();
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    assert_eq!(report.actions, vec![registered("acme", block(30))]);
    let catalog = crate::control::open_database(&config, false).await.unwrap();
    assert_eq!(catalog.list_blocks(None).await.unwrap().len(), 1);
    assert!(config.database.url.contains(dir.path().to_str().unwrap()));
}

/// A compaction output left unregistered by a crash while its inputs are still live holds the
/// same spans as they do: repair deletes it. One whose inputs are gone is registered.
#[tokio::test]
async fn an_abandoned_compaction_output_is_removed_not_registered() {
    let store = InMemory::new();
    let catalog = catalog().await;
    let acme = tenant("acme");
    let inputs = [block(1), block(2)];
    for id in inputs {
        let info = complete(&store, &acme, id).await;
        catalog
            .register(info.to_block_meta().unwrap())
            .await
            .unwrap();
    }
    let output = |id: BlockId, from: Vec<String>| {
        let store = &store;
        let acme = acme.clone();
        async move {
            write_block_from(
                store,
                &BlockPath::block_prefix(&acme, id),
                &id.to_string(),
                &acme,
                vec![trace(1), trace(2)],
                &BlockOptions::default(),
                from,
            )
            .await
            .unwrap()
        }
    };
    output(block(3), inputs.iter().map(ToString::to_string).collect()).await;
    // The inputs of this one were compacted away long ago (not in the catalog).
    output(block(4), vec![block(8).to_string(), block(9).to_string()]).await;

    let report = repair(&store, &catalog, &options()).await;
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    assert_eq!(
        report.actions,
        vec![
            Action::RemovedOrphan {
                tenant: acme.clone(),
                block: block(3).to_string(),
                objects: 3,
            },
            registered("acme", block(4)),
        ]
    );
    let mut live: Vec<String> = catalog
        .candidates(&acme, TimeRange::new(0, u64::MAX))
        .await
        .unwrap()
        .into_iter()
        .map(|m| m.block_id)
        .collect();
    live.sort();
    assert_eq!(
        live,
        [block(1), block(2), block(4)].map(|b| b.to_string()),
        "the inputs stay, the abandoned output is gone"
    );
    assert!(
        !keys(&store)
            .await
            .iter()
            .any(|k| k.contains(&block(3).to_string())),
        "the abandoned output's objects remain"
    );
}
