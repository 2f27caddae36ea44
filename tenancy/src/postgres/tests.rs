//! The conformance suite against a real Postgres, each test in a fresh schema so the tests run
//! in parallel. Never skipped: `./scripts/test.sh` starts a throwaway Postgres on a free
//! loopback port and sets `SEXTANT_TEST_POSTGRES_URL`
//! (`postgres://postgres:<password>@127.0.0.1:<port>/postgres`); without it every test fails.

use std::str::FromStr;
use std::sync::atomic::{AtomicU32, Ordering};

use sqlx::postgres::PgConnectOptions;

use super::*;
use crate::clock::ManualClock;
use crate::conformance::Harness;

const URL_VAR: &str = "SEXTANT_TEST_POSTGRES_URL";

/// The test server's URL; a missing one is a failure, never a skip.
fn test_url() -> String {
    match std::env::var(URL_VAR) {
        Ok(url) if !url.trim().is_empty() => url,
        _ => panic!(
            "{URL_VAR} is not set: set SEXTANT_TEST_POSTGRES_URL or run ./scripts/test.sh \
             (it starts a throwaway PostgreSQL and sets it)"
        ),
    }
}

async fn harness() -> Harness {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let url = test_url();
    let schema = format!(
        "conformance_{}_{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::SeqCst),
        unix_millis(std::time::SystemTime::now())
    );
    let admin = PgPool::connect(&url)
        .await
        .unwrap_or_else(|e| panic!("connect to {URL_VAR}: {e}"));
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
        .execute(&admin)
        .await
        .expect("create schema");
    admin.close().await;
    let options = PgConnectOptions::from_str(&url)
        .expect("url")
        .options([("search_path", schema.as_str())]);
    let clock = ManualClock::new(1_700_000_000_000);
    let store = PostgresStore::connect(options, 4)
        .await
        .expect("open postgres store")
        .with_clock(clock.clock());
    Harness::new(crate::Database::Postgres(store), clock)
}

macro_rules! conformance {
    ($($case:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                crate::conformance::$case(&harness().await).await;
            }
        )*
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
