use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use sextant_model::{BlockCatalog, BlockState, ErrorKind, Lease};

use super::*;
use crate::TenantStats;
use crate::clock::ManualClock;
use crate::conformance::{Harness, block, tenant};

fn harness(store: SqliteStore) -> Harness {
    let clock = ManualClock::new(1_700_000_000_000);
    Harness::new(
        crate::Database::Sqlite(store.with_clock(clock.clock())),
        clock,
    )
}

async fn in_memory() -> Harness {
    harness(SqliteStore::open_in_memory().await.expect("open in memory"))
}

async fn on_file(dir: &Path) -> Harness {
    harness(
        SqliteStore::open(&dir.join("catalog.db"))
            .await
            .expect("open file"),
    )
}

macro_rules! conformance {
    ($($case:ident),* $(,)?) => {
        mod memory {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    crate::conformance::$case(&super::in_memory().await).await;
                }
            )*
        }
        mod file {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let dir = tempfile::tempdir().expect("tempdir");
                    crate::conformance::$case(&super::on_file(dir.path()).await).await;
                }
            )*
        }
        #[test]
        fn every_case_runs() {
            let ran = [$(stringify!($case)),*];
            assert_eq!(ran.as_slice(), crate::conformance::CASES);
        }
    };
}

conformance!(
    candidates_overlap_inclusively,
    register_is_idempotent,
    register_conflicts_on_different_contents,
    register_refuses_out_of_range_values,
    tenants_are_isolated,
    swap_replaces_inputs_with_outputs,
    failed_swap_changes_nothing,
    concurrent_registrations,
    concurrent_swaps_of_the_same_inputs,
    lease_is_exclusive_until_expiry,
    lease_tokens_fence_stale_holders,
    live_blocks_in_start_order,
    retire_hides_blocks_and_records_when,
    swap_records_when_inputs_retire,
    forget_removes_only_retired_blocks,
    tenant_create_list_get,
    tenant_duplicate_conflicts,
    tenant_status_changes,
    limit_overrides_round_trip,
    key_authenticates_until_revoked,
    key_expires,
    key_creation_checks_tenants,
    listed_keys_hold_no_secret,
    keys_are_isolated_by_tenant,
    touch_key_records_last_use,
    snapshot_revision_bumps_on_every_mutation,
    snapshot_is_consistent_under_writes,
    admin_user_passwords,
    admin_tokens_authenticate_until_revoked,
    admin_token_expires,
    supplied_admin_token_is_recorded_once,
    is_empty_until_anything_exists,
    bootstrap_runs_once,
    bootstrap_with_supplied_token,
    usage_adds_up,
    usage_period_totals,
    usage_write_is_all_or_nothing,
    tenant_versions_and_generator_settings,
    tenant_update_sets_fields_in_one_change,
    tenant_update_refuses_a_stale_version,
    tenant_deleting_is_final,
    tenant_pages_filter_by_status,
    purge_only_a_deleting_tenant,
    purge_removes_everything_but_usage_and_audit,
    audit_log_reads_newest_first,
    audit_log_is_append_only,
    usage_counts_queries_and_sets_storage_levels,
    audited_mutations_append_with_the_change_or_not_at_all,
);

#[tokio::test]
async fn data_survives_reopen() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("catalog.db");
    let t = tenant("tenant-a");
    let clock = ManualClock::new(1_000_000);
    let guard = {
        let store = SqliteStore::open(&path)
            .await
            .expect("open")
            .with_clock(clock.clock());
        store
            .register(block(&t, "b1", 10, 20))
            .await
            .expect("register");
        store
            .register(block(&t, "b2", 30, 40))
            .await
            .expect("register");
        store
            .swap(&t, &["b2".to_owned()], vec![block(&t, "m", 30, 40)])
            .await
            .expect("swap");
        let guard = store
            .acquire("compact/tenant-a", "w1", Duration::from_secs(60))
            .await
            .expect("acquire")
            .expect("free");
        store.close().await;
        guard
    };
    let store = SqliteStore::open(&path)
        .await
        .expect("reopen")
        .with_clock(clock.clock());
    let blocks = store.list_blocks(Some(&t)).await.expect("list");
    let states: Vec<(&str, BlockState)> = blocks
        .iter()
        .map(|b| (b.block_id.as_str(), b.state))
        .collect();
    assert_eq!(
        states,
        [
            ("b1", BlockState::Live),
            ("b2", BlockState::Retired),
            ("m", BlockState::Live)
        ]
    );
    // The lease is still held after the reopen, and tokens keep growing.
    let r = store
        .acquire("compact/tenant-a", "w2", Duration::from_secs(60))
        .await;
    assert_eq!(r.expect("acquire"), None);
    assert!(
        store
            .renew(&guard, Duration::from_secs(60))
            .await
            .expect("renew")
    );
    let versions: Vec<(i64,)> =
        sqlx::query_as("SELECT version FROM sextant_migrations ORDER BY version")
            .fetch_all(&store.pool)
            .await
            .expect("versions");
    let expected: Vec<(i64,)> = crate::migrate::SQLITE
        .iter()
        .map(|m| (m.version,))
        .collect();
    assert_eq!(versions, expected, "migrations applied once");
}

#[tokio::test]
async fn refuses_a_newer_schema() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("catalog.db");
    let store = SqliteStore::open(&path).await.expect("open");
    sqlx::query(
        "INSERT INTO sextant_migrations (version, description, checksum) VALUES (99, 'future', 0)",
    )
    .execute(&store.pool)
    .await
    .expect("insert");
    store.close().await;
    let err = SqliteStore::open(&path).await.expect_err("newer schema");
    assert!(
        matches!(
            err,
            Error::SchemaTooNew {
                found: 99,
                supported
            } if Some(supported) == crate::migrate::SQLITE.last().map(|m| m.version)
        ),
        "{err}"
    );
    assert!(err.to_string().contains("newer than this binary"), "{err}");
}

#[tokio::test]
async fn refuses_an_edited_migration() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("catalog.db");
    let store = SqliteStore::open(&path).await.expect("open");
    sqlx::query("UPDATE sextant_migrations SET checksum = checksum + 1 WHERE version = 1")
        .execute(&store.pool)
        .await
        .expect("update");
    store.close().await;
    let err = SqliteStore::open(&path)
        .await
        .expect_err("edited migration");
    assert!(
        matches!(err, Error::MigrationChanged { version: 1 }),
        "{err}"
    );
}

#[tokio::test]
async fn a_file_that_is_not_a_database_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("catalog.db");
    std::fs::write(&path, vec![b'x'; 8192]).expect("write");
    let err = SqliteStore::open(&path).await.expect_err("garbage file");
    assert_eq!(err.kind(), ErrorKind::Internal, "{err}");
}

#[tokio::test]
async fn repair_and_retention_helpers() {
    let store = SqliteStore::open_in_memory().await.expect("open");
    let (a, b) = (tenant("tenant-a"), tenant("tenant-b"));
    assert!(store.tenants().await.expect("tenants").is_empty());
    assert!(store.stats().await.expect("stats").is_empty());
    for blk in [
        block(&a, "a1", 0, 10),
        block(&a, "a2", 5, 20),
        block(&b, "b1", 0, 10),
    ] {
        store.register(blk).await.expect("register");
    }
    store
        .swap(&a, &["a1".to_owned()], Vec::new())
        .await
        .expect("retire");
    assert_eq!(
        store.tenants().await.expect("tenants"),
        [a.clone(), b.clone()]
    );
    let all = store.list_blocks(None).await.expect("list");
    let names: Vec<_> = all
        .iter()
        .map(|m| (m.tenant.as_str(), m.block_id.as_str()))
        .collect();
    assert_eq!(
        names,
        [("tenant-a", "a1"), ("tenant-a", "a2"), ("tenant-b", "b1")]
    );
    let stats = store.stats().await.expect("stats");
    assert_eq!(
        stats,
        [
            TenantStats {
                tenant: a.clone(),
                live_blocks: 1,
                live_bytes: 1_015,
                retired_blocks: 1,
                retired_bytes: 1_010,
            },
            TenantStats {
                tenant: b.clone(),
                live_blocks: 1,
                live_bytes: 1_010,
                retired_blocks: 0,
                retired_bytes: 0,
            },
        ]
    );
    assert!(store.remove(&a, "a1").await.expect("remove"));
    assert!(!store.remove(&a, "a1").await.expect("remove again"));
    assert!(!store.remove(&b, "a2").await.expect("other tenant"));
    assert_eq!(store.list_blocks(Some(&a)).await.expect("list").len(), 1);
    // A removed block can be registered again (repair re-registering an orphan).
    store
        .register(block(&a, "a1", 0, 10))
        .await
        .expect("re-register");
    assert_eq!(store.list_blocks(Some(&a)).await.expect("list").len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_stores_on_one_file_share_it() {
    // As two processes would: each has its own pool; writes wait on the busy timeout.
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("catalog.db");
    let one = Arc::new(SqliteStore::open(&path).await.expect("open one"));
    let two = Arc::new(SqliteStore::open(&path).await.expect("open two"));
    let t = tenant("tenant-a");
    let mut tasks = tokio::task::JoinSet::new();
    for (n, store) in [one.clone(), two.clone(), one.clone(), two.clone()]
        .into_iter()
        .enumerate()
    {
        let t = t.clone();
        tasks.spawn(async move {
            for i in 0..20u64 {
                let id = format!("b{n}-{i}");
                store
                    .register(block(&t, &id, i, i + 1))
                    .await
                    .expect("register");
            }
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.expect("task");
    }
    assert_eq!(one.list_blocks(Some(&t)).await.expect("list").len(), 80);
    assert_eq!(two.list_blocks(Some(&t)).await.expect("list").len(), 80);
    // A lease taken through one store is seen by the other.
    let g = one
        .acquire("compact/tenant-a", "w1", Duration::from_secs(30))
        .await
        .expect("acquire");
    assert!(g.is_some());
    let r = two
        .acquire("compact/tenant-a", "w2", Duration::from_secs(30))
        .await;
    assert_eq!(r.expect("acquire"), None);
}

#[tokio::test]
async fn closed_store_is_unavailable() {
    let store = SqliteStore::open_in_memory().await.expect("open");
    store.close().await;
    let err = store
        .candidates(&tenant("tenant-a"), sextant_model::TimeRange::new(0, 1))
        .await
        .expect_err("closed");
    assert_eq!(err.kind, ErrorKind::Unavailable, "{err}");
}

#[tokio::test]
async fn a_locked_database_is_unavailable() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("catalog.db");
    let holder = SqliteStore::open(&path).await.expect("open holder");
    let config = SqliteConfig {
        busy_timeout: Duration::from_millis(50),
        ..SqliteConfig::default()
    };
    let other = SqliteStore::open_with(&path, &config)
        .await
        .expect("open other");
    let t = tenant("tenant-a");
    // Another writer holds the write lock longer than the busy timeout.
    let tx = holder
        .pool
        .begin_with("BEGIN IMMEDIATE")
        .await
        .expect("lock");
    let err = other
        .register(block(&t, "b1", 0, 1))
        .await
        .expect_err("locked");
    assert_eq!(err.kind, ErrorKind::Unavailable, "{err}");
    assert!(err.retry_after.is_some());
    drop(tx);
    other
        .register(block(&t, "b1", 0, 1))
        .await
        .expect("unlocked");
}
