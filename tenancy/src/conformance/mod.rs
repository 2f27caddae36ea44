//! The conformance suite of the [`BlockCatalog`] and [`Lease`] ports and of [`TenantStore`],
//! [`AdminStore`], [`UsageStore`] and [`AuditStore`]: every implementation (SQLite in memory and on file,
//! Postgres) runs these same functions against a fresh store each.
//!
//! Use: build a [`Harness`] over a new, empty store whose lease clock is the harness's
//! [`ManualClock`], then call each `pub async fn` (see [`CASES`] for the list).

use std::sync::Arc;
use std::time::Duration;

use sextant_model::{BlockCatalog, BlockMeta, BlockState, ErrorKind, Lease, TenantId, TimeRange};

use crate::admin::AdminStore;
use crate::audit::AuditStore;
use crate::clock::ManualClock;
use crate::database::Database;
use crate::store::TenantStore;
use crate::usage::UsageStore;

mod admin;
mod admin_api;
mod retirement;
mod tenants;
pub use admin::*;
pub use admin_api::*;
pub use retirement::*;
pub use tenants::*;

/// A fresh store under test, seen through the ports.
#[derive(Clone)]
pub struct Harness {
    pub catalog: Arc<dyn BlockCatalog>,
    pub lease: Arc<dyn Lease>,
    pub tenants: Arc<dyn TenantStore>,
    pub admin: Arc<dyn AdminStore>,
    pub usage: Arc<dyn UsageStore>,
    pub audit: Arc<dyn AuditStore>,
    /// The same store as a [`Database`], for [`crate::bootstrap`].
    pub db: Arc<Database>,
    /// The clock the store's leases are measured against.
    pub clock: ManualClock,
}

impl std::fmt::Debug for Harness {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Harness")
            .field("clock", &self.clock)
            .finish_non_exhaustive()
    }
}

/// The names of the cases, so an implementation can check it runs them all.
pub const CASES: &[&str] = &[
    "candidates_overlap_inclusively",
    "register_is_idempotent",
    "register_conflicts_on_different_contents",
    "register_refuses_out_of_range_values",
    "tenants_are_isolated",
    "swap_replaces_inputs_with_outputs",
    "failed_swap_changes_nothing",
    "concurrent_registrations",
    "concurrent_swaps_of_the_same_inputs",
    "lease_is_exclusive_until_expiry",
    "lease_tokens_fence_stale_holders",
    "live_blocks_in_start_order",
    "retire_hides_blocks_and_records_when",
    "swap_records_when_inputs_retire",
    "forget_removes_only_retired_blocks",
    "tenant_create_list_get",
    "tenant_duplicate_conflicts",
    "tenant_status_changes",
    "limit_overrides_round_trip",
    "key_authenticates_until_revoked",
    "key_expires",
    "key_creation_checks_tenants",
    "listed_keys_hold_no_secret",
    "keys_are_isolated_by_tenant",
    "touch_key_records_last_use",
    "snapshot_revision_bumps_on_every_mutation",
    "snapshot_is_consistent_under_writes",
    "admin_user_passwords",
    "admin_tokens_authenticate_until_revoked",
    "admin_token_expires",
    "supplied_admin_token_is_recorded_once",
    "is_empty_until_anything_exists",
    "bootstrap_runs_once",
    "bootstrap_with_supplied_token",
    "usage_adds_up",
    "usage_period_totals",
    "usage_write_is_all_or_nothing",
    "tenant_versions_and_generator_settings",
    "tenant_update_sets_fields_in_one_change",
    "tenant_update_refuses_a_stale_version",
    "tenant_deleting_is_final",
    "tenant_pages_filter_by_status",
    "purge_only_a_deleting_tenant",
    "purge_removes_everything_but_usage_and_audit",
    "audit_log_reads_newest_first",
    "audit_log_is_append_only",
    "usage_counts_queries_and_sets_storage_levels",
    "audited_mutations_append_with_the_change_or_not_at_all",
];

impl Harness {
    /// A harness over `db`, whose clock must be `clock`'s.
    pub fn new(db: Database, clock: ManualClock) -> Self {
        let db = Arc::new(db);
        Self {
            catalog: Arc::clone(&db) as Arc<dyn BlockCatalog>,
            lease: Arc::clone(&db) as Arc<dyn Lease>,
            tenants: Arc::clone(&db) as Arc<dyn TenantStore>,
            admin: Arc::clone(&db) as Arc<dyn AdminStore>,
            usage: Arc::clone(&db) as Arc<dyn UsageStore>,
            audit: Arc::clone(&db) as Arc<dyn AuditStore>,
            db,
            clock,
        }
    }
}

/// A tenant for tests.
pub fn tenant(name: &str) -> TenantId {
    TenantId::new(name).expect("valid test tenant")
}

/// A live level-0 block with counts derived from its range.
pub fn block(tenant_id: &TenantId, id: &str, start: u64, end: u64) -> BlockMeta {
    BlockMeta {
        tenant: tenant_id.clone(),
        block_id: id.to_owned(),
        range: TimeRange::new(start, end),
        size_bytes: 1_000 + end - start,
        span_count: 10,
        trace_count: 2,
        compaction_level: 0,
        format_version: 1,
        state: BlockState::Live,
    }
}

async fn ids(h: &Harness, t: &TenantId, start: u64, end: u64) -> Vec<String> {
    let mut ids: Vec<String> = h
        .catalog
        .candidates(t, TimeRange::new(start, end))
        .await
        .expect("candidates")
        .into_iter()
        .map(|b| {
            assert_eq!(&b.tenant, t, "candidate of another tenant");
            assert_eq!(b.state, BlockState::Live, "retired candidate");
            b.block_id
        })
        .collect();
    ids.sort();
    ids
}

fn kind<T: std::fmt::Debug>(r: sextant_model::Result<T>) -> ErrorKind {
    r.expect_err("expected an error").kind
}

pub async fn candidates_overlap_inclusively(h: &Harness) {
    let t = tenant("tenant-a");
    for b in [
        block(&t, "a", 100, 200),
        block(&t, "b", 200, 300),
        block(&t, "c", 301, 400),
        block(&t, "point", 250, 250),
    ] {
        h.catalog.register(b).await.expect("register");
    }
    assert_eq!(ids(h, &t, 0, 99).await, Vec::<String>::new());
    assert_eq!(ids(h, &t, 0, 100).await, ["a"]);
    assert_eq!(ids(h, &t, 200, 200).await, ["a", "b"]);
    assert_eq!(ids(h, &t, 250, 250).await, ["b", "point"]);
    assert_eq!(ids(h, &t, 300, 300).await, ["b"]);
    assert_eq!(ids(h, &t, 300, 301).await, ["b", "c"]);
    assert_eq!(ids(h, &t, 401, 500).await, Vec::<String>::new());
    assert_eq!(ids(h, &t, 0, u64::MAX).await, ["a", "b", "c", "point"]);
    assert_eq!(ids(h, &t, 400, u64::MAX).await, ["c"]);
    // The full metadata comes back as registered.
    let got = h
        .catalog
        .candidates(&t, TimeRange::new(150, 150))
        .await
        .expect("candidates");
    assert_eq!(got, vec![block(&t, "a", 100, 200)]);
}

pub async fn register_is_idempotent(h: &Harness) {
    let t = tenant("tenant-a");
    let b = block(&t, "b1", 10, 20);
    h.catalog.register(b.clone()).await.expect("register");
    h.catalog.register(b.clone()).await.expect("register again");
    assert_eq!(ids(h, &t, 0, 100).await, ["b1"]);
    // Re-registering a block that compaction has since retired does not revive it.
    h.catalog
        .swap(&t, &["b1".to_owned()], vec![block(&t, "m1", 10, 20)])
        .await
        .expect("swap");
    h.catalog
        .register(b)
        .await
        .expect("register retired block again");
    assert_eq!(ids(h, &t, 0, 100).await, ["m1"]);
}

pub async fn register_conflicts_on_different_contents(h: &Harness) {
    let t = tenant("tenant-a");
    let b = block(&t, "b1", 10, 20);
    h.catalog.register(b.clone()).await.expect("register");
    let mut other = b.clone();
    other.span_count += 1;
    assert_eq!(kind(h.catalog.register(other).await), ErrorKind::Conflict);
    let mut other = b.clone();
    other.range.end = 21;
    assert_eq!(kind(h.catalog.register(other).await), ErrorKind::Conflict);
    let got = h
        .catalog
        .candidates(&t, TimeRange::new(0, 100))
        .await
        .expect("candidates");
    assert_eq!(got, vec![b], "the original is unchanged");
}

pub async fn register_refuses_out_of_range_values(h: &Harness) {
    let t = tenant("tenant-a");
    let mut b = block(&t, "huge", 10, 20);
    b.range.end = u64::MAX;
    assert_eq!(kind(h.catalog.register(b).await), ErrorKind::BadRequest);
    let mut b = block(&t, "huge", 10, 20);
    b.size_bytes = i64::MAX as u64 + 1;
    assert_eq!(kind(h.catalog.register(b).await), ErrorKind::BadRequest);
    let b = block(&t, "backwards", 20, 10);
    assert_eq!(kind(h.catalog.register(b).await), ErrorKind::BadRequest);
    let mut b = block(&t, "max", 10, i64::MAX as u64);
    b.size_bytes = i64::MAX as u64;
    h.catalog.register(b.clone()).await.expect("i64::MAX fits");
    let got = h
        .catalog
        .candidates(&t, TimeRange::new(u64::MAX - 1, u64::MAX))
        .await
        .expect("candidates");
    assert_eq!(got, vec![b]);
}

pub async fn tenants_are_isolated(h: &Harness) {
    let a = tenant("tenant-a");
    let b = tenant("tenant-b");
    h.catalog
        .register(block(&a, "same", 10, 20))
        .await
        .expect("a");
    // The same block ID in another tenant is another block, even with other contents.
    h.catalog
        .register(block(&b, "same", 15, 40))
        .await
        .expect("b");
    h.catalog
        .register(block(&b, "only-b", 10, 20))
        .await
        .expect("b");
    assert_eq!(ids(h, &a, 0, 100).await, ["same"]);
    assert_eq!(ids(h, &b, 0, 100).await, ["only-b", "same"]);
    assert_eq!(
        ids(h, &tenant("tenant-c"), 0, 100).await,
        Vec::<String>::new()
    );
    // A swap cannot touch another tenant's block.
    let r = h
        .catalog
        .swap(&a, &["only-b".to_owned()], vec![block(&a, "m", 10, 20)])
        .await;
    assert_eq!(kind(r), ErrorKind::Conflict);
    assert_eq!(ids(h, &b, 0, 100).await, ["only-b", "same"]);
    // Nor register outputs into another tenant.
    let r = h
        .catalog
        .swap(&a, &["same".to_owned()], vec![block(&b, "m", 10, 20)])
        .await;
    assert_eq!(kind(r), ErrorKind::BadRequest);
    assert_eq!(ids(h, &a, 0, 100).await, ["same"]);
}

pub async fn swap_replaces_inputs_with_outputs(h: &Harness) {
    let t = tenant("tenant-a");
    for (id, s, e) in [("i1", 0, 10), ("i2", 5, 20), ("keep", 0, 30)] {
        h.catalog
            .register(block(&t, id, s, e))
            .await
            .expect("register");
    }
    let mut out = block(&t, "o1", 0, 20);
    out.compaction_level = 1;
    out.state = BlockState::Retired; // outputs are live whatever they say
    h.catalog
        .swap(&t, &["i1".to_owned(), "i2".to_owned()], vec![out.clone()])
        .await
        .expect("swap");
    assert_eq!(ids(h, &t, 0, 100).await, ["keep", "o1"]);
    let got = h
        .catalog
        .candidates(&t, TimeRange::new(15, 15))
        .await
        .expect("candidates");
    let o1 = got.iter().find(|b| b.block_id == "o1").expect("o1");
    assert_eq!(o1.compaction_level, 1);
    assert_eq!(o1.state, BlockState::Live);
    // Retirement without outputs (retention).
    h.catalog
        .swap(&t, &["keep".to_owned()], Vec::new())
        .await
        .expect("retire");
    assert_eq!(ids(h, &t, 0, 100).await, ["o1"]);
    // Retired inputs cannot be swapped again.
    let r = h
        .catalog
        .swap(&t, &["i1".to_owned()], vec![block(&t, "o2", 0, 10)])
        .await;
    assert_eq!(kind(r), ErrorKind::Conflict);
    assert_eq!(ids(h, &t, 0, 100).await, ["o1"]);
}

pub async fn failed_swap_changes_nothing(h: &Harness) {
    let t = tenant("tenant-a");
    for (id, s, e) in [("i1", 0, 10), ("i2", 5, 20), ("x", 50, 60)] {
        h.catalog
            .register(block(&t, id, s, e))
            .await
            .expect("register");
    }
    let before = ids(h, &t, 0, 100).await;
    // An input that does not exist, listed after live ones.
    let r = h
        .catalog
        .swap(
            &t,
            &["i1".to_owned(), "i2".to_owned(), "missing".to_owned()],
            vec![block(&t, "o1", 0, 20)],
        )
        .await;
    assert_eq!(kind(r), ErrorKind::Conflict);
    assert_eq!(ids(h, &t, 0, 100).await, before);
    // An output that clashes with an existing, different block, after the inputs were retired.
    let mut clash = block(&t, "x", 50, 60);
    clash.span_count = 999;
    let r = h
        .catalog
        .swap(
            &t,
            &["i1".to_owned(), "i2".to_owned()],
            vec![block(&t, "o1", 0, 20), clash],
        )
        .await;
    assert_eq!(kind(r), ErrorKind::Conflict);
    assert_eq!(ids(h, &t, 0, 100).await, before);
    // Malformed swaps are refused before anything happens.
    let r = h
        .catalog
        .swap(&t, &["i1".to_owned(), "i1".to_owned()], Vec::new())
        .await;
    assert_eq!(kind(r), ErrorKind::BadRequest);
    let r = h
        .catalog
        .swap(&t, &["i1".to_owned()], vec![block(&t, "i1", 0, 10)])
        .await;
    assert_eq!(kind(r), ErrorKind::BadRequest);
    assert_eq!(ids(h, &t, 0, 100).await, before);
    // The same swap without the problems succeeds afterwards.
    h.catalog
        .swap(
            &t,
            &["i1".to_owned(), "i2".to_owned()],
            vec![block(&t, "o1", 0, 20)],
        )
        .await
        .expect("swap");
    assert_eq!(ids(h, &t, 0, 100).await, ["o1", "x"]);
}

pub async fn concurrent_registrations(h: &Harness) {
    const TASKS: usize = 8;
    const PER_TASK: usize = 25;
    let tenants = [tenant("tenant-a"), tenant("tenant-b")];
    let mut tasks = tokio::task::JoinSet::new();
    for task in 0..TASKS {
        let catalog = Arc::clone(&h.catalog);
        let tenants = tenants.clone();
        tasks.spawn(async move {
            for i in 0..PER_TASK {
                let t = &tenants[i % 2];
                // Each block is registered by two tasks (task and task ^ 1).
                let id = format!("b-{}-{i}", task / 2);
                let start = (i * 100) as u64;
                catalog
                    .register(block(t, &id, start, start + 50))
                    .await
                    .expect("concurrent register");
            }
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.expect("task");
    }
    let a = ids(h, &tenants[0], 0, u64::MAX).await;
    let b = ids(h, &tenants[1], 0, u64::MAX).await;
    assert_eq!(a.len() + b.len(), TASKS / 2 * PER_TASK);
    assert_eq!(a.len(), TASKS / 2 * PER_TASK.div_ceil(2));
}

pub async fn concurrent_swaps_of_the_same_inputs(h: &Harness) {
    let t = tenant("tenant-a");
    for id in ["i1", "i2"] {
        h.catalog
            .register(block(&t, id, 0, 10))
            .await
            .expect("register");
    }
    let mut tasks = tokio::task::JoinSet::new();
    for n in 0..4 {
        let catalog = Arc::clone(&h.catalog);
        let t = t.clone();
        tasks.spawn(async move {
            catalog
                .swap(
                    &t,
                    &["i1".to_owned(), "i2".to_owned()],
                    vec![block(&t, &format!("o{n}"), 0, 10)],
                )
                .await
        });
    }
    let mut ok = 0;
    while let Some(done) = tasks.join_next().await {
        match done.expect("task") {
            Ok(()) => ok += 1,
            Err(e) => assert_eq!(e.kind, ErrorKind::Conflict, "{e}"),
        }
    }
    assert_eq!(ok, 1, "exactly one compaction wins");
    let live = ids(h, &t, 0, 100).await;
    assert_eq!(live.len(), 1);
    assert!(live[0].starts_with('o'));
}

pub async fn lease_is_exclusive_until_expiry(h: &Harness) {
    let ttl = Duration::from_secs(10);
    let a = h
        .lease
        .acquire("compact/tenant-a", "worker-1", ttl)
        .await
        .expect("acquire")
        .expect("free lease");
    assert_eq!(a.name, "compact/tenant-a");
    assert_eq!(a.holder, "worker-1");
    // Held: neither another worker nor the holder itself acquires it again.
    for holder in ["worker-2", "worker-1"] {
        let r = h.lease.acquire("compact/tenant-a", holder, ttl).await;
        assert_eq!(r.expect("acquire"), None);
    }
    // Other names are independent.
    let other = h.lease.acquire("compact/tenant-b", "worker-2", ttl).await;
    assert!(other.expect("acquire").is_some());
    // Renewal extends the lease past the original expiry.
    h.clock.advance(Duration::from_secs(9));
    assert!(h.lease.renew(&a, ttl).await.expect("renew"));
    h.clock.advance(Duration::from_secs(9));
    let r = h.lease.acquire("compact/tenant-a", "worker-2", ttl).await;
    assert_eq!(r.expect("acquire"), None, "renewed lease still held");
    // Expiry is inclusive: at exactly the expiry time the lease is free.
    h.clock.advance(Duration::from_secs(1));
    assert!(
        !h.lease.renew(&a, ttl).await.expect("renew"),
        "expired lease renewed"
    );
    let b = h
        .lease
        .acquire("compact/tenant-a", "worker-2", ttl)
        .await
        .expect("acquire")
        .expect("expired lease is free");
    assert!(b.token > a.token);
    // Release frees it at once.
    h.lease.release(&b).await.expect("release");
    let c = h
        .lease
        .acquire("compact/tenant-a", "worker-3", ttl)
        .await
        .expect("acquire")
        .expect("released lease is free");
    assert!(c.token > b.token, "tokens grow across releases");
}

pub async fn lease_tokens_fence_stale_holders(h: &Harness) {
    let ttl = Duration::from_millis(500);
    let old = h
        .lease
        .acquire("retention/tenant-a", "worker-1", ttl)
        .await
        .expect("acquire")
        .expect("free");
    h.clock.advance(Duration::from_millis(600));
    let new = h
        .lease
        .acquire("retention/tenant-a", "worker-2", ttl)
        .await
        .expect("acquire")
        .expect("expired");
    // The old holder can neither renew nor release the new holder's lease.
    assert!(!h.lease.renew(&old, ttl).await.expect("renew"));
    h.lease
        .release(&old)
        .await
        .expect("stale release is a no-op");
    let r = h.lease.acquire("retention/tenant-a", "worker-3", ttl).await;
    assert_eq!(r.expect("acquire"), None, "stale release freed the lease");
    // A forged guard with the right token but another holder is refused as well.
    let forged = sextant_model::LeaseGuard {
        holder: "worker-9".to_owned(),
        ..new.clone()
    };
    assert!(!h.lease.renew(&forged, ttl).await.expect("renew"));
    assert!(h.lease.renew(&new, ttl).await.expect("renew"));
}
