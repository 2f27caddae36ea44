//! Compaction, retention and deletion against real components: object_store's in-memory
//! store and the SQLite catalog and leases (in memory) from `sextant-tenancy`.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use futures::TryStreamExt;
use object_store::memory::InMemory;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use sextant_model::otlp::{ResourceSpans, ScopeSpans, Span, TracesData};
use sextant_model::{BlockCatalog, BlockMeta, Lease, Limits, TenantDirectory, TenantId, TraceId};
use sextant_tenancy::{Database, SqliteStore};

use super::*;
use crate::block::write_block;
use crate::block::{BlockCaches, find_trace};

const TEN_YEARS: Duration = Duration::from_secs(3650 * 86_400);

struct Directory(Duration);

impl TenantDirectory for Directory {
    fn limits(&self, _tenant: &TenantId) -> Arc<Limits> {
        Arc::new(Limits {
            block_retention: self.0,
            ..Limits::default()
        })
    }
}

#[derive(Clone)]
struct Env {
    store: Arc<dyn ObjectStore>,
    db: Arc<Database>,
}

async fn env() -> Env {
    let db = Database::Sqlite(SqliteStore::open_in_memory().await.expect("catalog"));
    Env {
        store: Arc::new(InMemory::new()),
        db: Arc::new(db),
    }
}

fn config(grace: Duration, ttl: Duration) -> CompactorConfig {
    CompactorConfig {
        interval: Duration::from_millis(10),
        grace_period: grace,
        lease_ttl: ttl,
        ..CompactorConfig::default()
    }
}

fn compactor(env: &Env, holder: &str, config: CompactorConfig) -> Compactor {
    Compactor::new(CompactorParts {
        store: env.store.clone(),
        catalog: env.db.clone(),
        lease: env.db.clone(),
        tenants: Arc::new(Directory(TEN_YEARS)),
        holder: holder.to_owned(),
        config,
        block_options: BlockOptions {
            row_group_spans: 50,
            ..BlockOptions::default()
        },
        metrics: CompactionMetrics::unregistered(),
    })
}

fn tenant(name: &str) -> TenantId {
    TenantId::new(name).expect("tenant")
}

/// Writes and registers a level-0 block, as the flusher does.
async fn input(env: &Env, t: &TenantId, n: u8, traces: Vec<(TraceId, TracesData)>) -> BlockMeta {
    let id = BlockId::from_bytes([n; 16]);
    let info = write_block(
        env.store.as_ref(),
        &BlockPath::block_prefix(t, id),
        &id.to_string(),
        t,
        traces,
        &BlockOptions::default(),
    )
    .await
    .expect("write input");
    let meta = info.to_block_meta().expect("meta");
    env.db.register(meta.clone()).await.expect("register");
    meta
}

fn span_ids(data: &TracesData) -> Vec<Vec<u8>> {
    data.resource_spans
        .iter()
        .flat_map(|rs| &rs.scope_spans)
        .flat_map(|ss| &ss.spans)
        .map(|s| s.span_id.clone())
        .collect()
}

type Truth = BTreeMap<TraceId, BTreeSet<Vec<u8>>>;

fn add_truth(truth: &mut Truth, traces: &[(TraceId, TracesData)]) {
    for (id, data) in traces {
        truth.entry(*id).or_default().extend(span_ids(data));
    }
}

/// Three blocks: seed 1's traces with each multi-resource trace split across the first two
/// blocks, seed 2's in the second, seed 3's in the third. No span is in two blocks.
async fn three_inputs(env: &Env, t: &TenantId) -> Truth {
    let mut a = Vec::new();
    let mut b = sextant_model::synth::traces(2, 120, 60_000_000_000);
    for (id, mut data) in sextant_model::synth::traces(1, 120, 60_000_000_000) {
        if data.resource_spans.len() > 1 {
            let rest = data.resource_spans.split_off(1);
            b.push((
                id,
                TracesData {
                    resource_spans: rest,
                },
            ));
        }
        a.push((id, data));
    }
    let c = sextant_model::synth::traces(3, 120, 60_000_000_000);
    let mut truth = Truth::new();
    for (n, traces) in [(1, a), (2, b), (3, c)] {
        add_truth(&mut truth, &traces);
        input(env, t, n, traces).await;
    }
    truth
}

/// A block whose only span ended in 1970: past any retention.
async fn ancient(env: &Env, t: &TenantId) -> TraceId {
    let id = TraceId([7; 16]);
    let span = Span {
        trace_id: id.0.to_vec(),
        span_id: vec![1; 8],
        name: "ancient".into(),
        start_time_unix_nano: 1_000,
        end_time_unix_nano: 2_000,
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
    input(env, t, 9, vec![(id, data)]).await;
    id
}

/// Every trace of `truth` is readable through the catalog's live blocks with each of its spans
/// exactly once, and the live blocks hold no other span.
async fn assert_exactly_once(env: &Env, t: &TenantId, truth: &Truth, when: &str) {
    let live = env.db.live_blocks(t).await.expect("live");
    let total: u64 = live.iter().map(|m| m.span_count).sum();
    let expected: usize = truth.values().map(BTreeSet::len).sum();
    assert_eq!(total, expected as u64, "{when}: live span count");
    let caches = BlockCaches::default();
    for (id, spans) in truth {
        let mut found = Vec::new();
        for meta in &live {
            let prefix = BlockPath::block_prefix(t, BlockId::parse(&meta.block_id).unwrap());
            if let Some((data, _)) = find_trace(env.store.as_ref(), &prefix, *id, &caches)
                .await
                .unwrap_or_else(|e| panic!("{when}: read {}: {e}", meta.block_id))
            {
                found.extend(span_ids(&data));
            }
        }
        found.sort();
        let want: Vec<Vec<u8>> = spans.iter().cloned().collect();
        assert_eq!(found, want, "{when}: spans of trace {}", id.to_hex());
    }
}

/// The objects under the tenant are exactly the three files of each live block.
async fn assert_no_orphans(env: &Env, t: &TenantId, when: &str) {
    let listed: Vec<object_store::ObjectMeta> = env
        .store
        .list(Some(&BlockPath::tenant_prefix(t)))
        .try_collect()
        .await
        .expect("list");
    let mut objects: Vec<String> = listed.iter().map(|o| o.location.to_string()).collect();
    objects.sort();
    let mut expected: Vec<String> = Vec::new();
    for meta in env.db.live_blocks(t).await.expect("live") {
        for file in BlockFile::ALL {
            let block = BlockId::parse(&meta.block_id).unwrap();
            expected.push(BlockPath::new(t.clone(), block, file).to_string());
        }
    }
    expected.sort();
    assert_eq!(
        objects, expected,
        "{when}: objects besides the live blocks'"
    );
    assert!(
        env.db
            .retired(t, SystemTime::now())
            .await
            .expect("retired")
            .is_empty(),
        "{when}: retired rows left"
    );
}

/// Runs passes until no retired block is left (the grace period has passed for all).
async fn settle(c: &Compactor, env: &Env, t: &TenantId, truth: &Truth, when: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let report = c.run_once().await.expect("pass");
        assert_eq!(report.failures, 0, "{when}: {report:?}");
        assert_exactly_once(env, t, truth, when).await;
        let left = env.db.list_blocks(Some(t)).await.expect("list");
        if left
            .iter()
            .all(|m| m.state == sextant_model::BlockState::Live)
        {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{when}: retired blocks never deleted"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Fails once at one step, as a crash there would.
struct FailAt {
    step: Step,
    hit: AtomicBool,
}

impl Faults for FailAt {
    fn hit(&self, step: Step) -> Result<()> {
        if step == self.step && !self.hit.swap(true, Ordering::SeqCst) {
            return Err(Error::Injected { step: step.name() });
        }
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_at_any_step_leaves_every_span_visible_exactly_once() {
    for step in Step::ALL {
        let env = env().await;
        let t = tenant("tenant-a");
        let truth = three_inputs(&env, &t).await;
        let old = ancient(&env, &t).await;
        let faults = Arc::new(FailAt {
            step,
            hit: AtomicBool::new(false),
        });
        // No grace period, so one pass reaches every step, deletion included.
        let crashing = compactor(
            &env,
            "worker-1",
            config(Duration::ZERO, Duration::from_secs(10)),
        )
        .with_faults(faults.clone());
        let report = crashing.run_once().await.expect("pass");
        assert!(
            faults.hit.load(Ordering::SeqCst),
            "{}: never reached",
            step.name()
        );
        assert_eq!(report.failures, 1, "{}: {report:?}", step.name());
        assert_exactly_once(&env, &t, &truth, &format!("crash {}", step.name())).await;

        // A fresh instance, as after a restart.
        let after = compactor(
            &env,
            "worker-2",
            config(Duration::from_millis(30), Duration::from_secs(10)),
        );
        let when = format!("after crash {}", step.name());
        settle(&after, &env, &t, &truth, &when).await;
        let live = env.db.live_blocks(&t).await.expect("live");
        assert_eq!(live.len(), 1, "{when}: inputs compacted into one block");
        assert_eq!(live[0].compaction_level, 1);
        let prefix = BlockPath::block_prefix(&t, BlockId::parse(&live[0].block_id).unwrap());
        let gone = find_trace(env.store.as_ref(), &prefix, old, &BlockCaches::default())
            .await
            .expect("read");
        assert!(gone.is_none(), "{when}: the retired trace came back");
        assert_no_orphans(&env, &t, &when).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicate_spans_are_merged_away() {
    let env = env().await;
    let t = tenant("tenant-a");
    let traces = sextant_model::synth::traces(5, 200, 60_000_000_000);
    let mut truth = Truth::new();
    add_truth(&mut truth, &traces);
    // The same traces twice (a re-flush after a crash), and half of them a third time.
    let mut inputs = vec![
        input(&env, &t, 1, traces.clone()).await.block_id,
        input(&env, &t, 2, traces.clone()).await.block_id,
    ];
    let half: Vec<_> = traces[..traces.len() / 2].to_vec();
    let half_spans: usize = half.iter().map(|(_, d)| span_ids(d).len()).sum();
    inputs.push(input(&env, &t, 3, half).await.block_id);
    inputs.sort();
    let spans: usize = truth.values().map(BTreeSet::len).sum();
    let c = compactor(&env, "w", config(Duration::ZERO, Duration::from_secs(10)));
    let report = c.run_once().await.expect("pass");
    assert_eq!(report.compactions, 1);
    assert_eq!(report.compacted_blocks, 3);
    assert_eq!(report.duplicate_spans, (spans + half_spans) as u64);
    assert_exactly_once(&env, &t, &truth, "compacted").await;
    assert_no_orphans(&env, &t, "compacted").await;
    // The output's meta.json names what it replaced (for `sextant store repair`).
    let output = env.db.live_blocks(&t).await.expect("live");
    let prefix = BlockPath::block_prefix(&t, BlockId::parse(&output[0].block_id).expect("id"));
    let info = crate::read_block_info(env.store.as_ref(), &prefix)
        .await
        .expect("meta.json");
    assert_eq!(info.compacted_from, inputs);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tenants_are_never_merged() {
    let env = env().await;
    // `ab` is a prefix of `abc`: neither compaction nor deletion may mix them up.
    let (ab, abc) = (tenant("ab1"), tenant("ab1c"));
    let mut truths = Vec::new();
    for (t, seed) in [(&ab, 10), (&abc, 20)] {
        let mut truth = Truth::new();
        for n in 0..3u8 {
            let traces = sextant_model::synth::traces(seed + u64::from(n), 60, 1_000);
            add_truth(&mut truth, &traces);
            input(&env, t, n + 1, traces).await;
        }
        truths.push(truth);
    }
    let c = compactor(&env, "w", config(Duration::ZERO, Duration::from_secs(10)));
    let report = c.run_once().await.expect("pass");
    assert_eq!(report.compactions, 2, "{report:?}");
    for (t, truth) in [(&ab, &truths[0]), (&abc, &truths[1])] {
        let live = env.db.live_blocks(t).await.expect("live");
        assert_eq!(live.len(), 1);
        assert_exactly_once(&env, t, truth, t.as_str()).await;
        assert_no_orphans(&env, t, t.as_str()).await;
    }
    // The same input block IDs in both tenants gave different outputs.
    assert_ne!(
        env.db.live_blocks(&ab).await.unwrap()[0].block_id,
        env.db.live_blocks(&abc).await.unwrap()[0].block_id
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_retires_then_deletes_after_the_grace_period() {
    let env = env().await;
    let t = tenant("tenant-a");
    let old = ancient(&env, &t).await;
    let recent = sextant_model::synth::traces(4, 50, 1_000);
    let mut truth = Truth::new();
    add_truth(&mut truth, &recent);
    input(&env, &t, 1, recent).await;
    let grace = Duration::from_millis(200);
    let c = compactor(&env, "w", config(grace, Duration::from_secs(10)));
    let started = Instant::now();
    let report = c.run_once().await.expect("pass");
    assert_eq!(report.retired_blocks, 1);
    assert_eq!(
        report.compactions, 0,
        "one live block is left: nothing to merge"
    );
    assert_exactly_once(&env, &t, &truth, "retired").await;
    // Invisible at once, but its objects stay through the grace period.
    let ancient_prefix = BlockPath::block_prefix(&t, BlockId::from_bytes([9; 16]));
    let meta = ancient_prefix.clone().join(crate::block::META_FILE);
    if started.elapsed() < grace {
        env.store
            .head(&meta)
            .await
            .expect("kept during the grace period");
    }
    settle(&c, &env, &t, &truth, "deleted").await;
    assert!(
        env.store.head(&meta).await.is_err(),
        "deleted after the grace period"
    );
    assert_no_orphans(&env, &t, "deleted").await;
    let _ = old;
}

/// Blocks at a step until told to go on, saying when it got there.
struct Pause {
    step: Step,
    reached: mpsc::Sender<()>,
    go: Mutex<mpsc::Receiver<()>>,
}

impl Faults for Pause {
    fn hit(&self, step: Step) -> Result<()> {
        if step == self.step {
            let _ = self.reached.send(());
            let _ = self.go.lock().unwrap().recv();
        }
        Ok(())
    }
}

fn pause(step: Step) -> (Arc<Pause>, mpsc::Receiver<()>, mpsc::Sender<()>) {
    let (reached_tx, reached_rx) = mpsc::channel();
    let (go_tx, go_rx) = mpsc::channel();
    (
        Arc::new(Pause {
            step,
            reached: reached_tx,
            go: Mutex::new(go_rx),
        }),
        reached_rx,
        go_tx,
    )
}

async fn wait(rx: mpsc::Receiver<()>) -> mpsc::Receiver<()> {
    tokio::task::spawn_blocking(move || {
        rx.recv_timeout(Duration::from_secs(20))
            .expect("step reached");
        rx
    })
    .await
    .expect("wait")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_compactors_never_both_compact() {
    let env = env().await;
    let t = tenant("tenant-a");
    let truth = three_inputs(&env, &t).await;
    let (faults, reached, go) = pause(Step::AfterRead);
    let first = compactor(
        &env,
        "worker-1",
        config(Duration::ZERO, Duration::from_secs(30)),
    )
    .with_faults(faults);
    let running = tokio::spawn(async move { first.run_once().await });
    let _reached = wait(reached).await;
    // The first holds the tenant's lease in the middle of its compaction.
    let second = compactor(
        &env,
        "worker-2",
        config(Duration::ZERO, Duration::from_secs(30)),
    );
    let report = second.run_once().await.expect("pass");
    assert_eq!(report.tenants_skipped, 1, "{report:?}");
    assert_eq!(report.compactions, 0);
    go.send(()).unwrap();
    let report = running.await.unwrap().expect("pass");
    assert_eq!(report.compactions, 1, "{report:?}");
    assert_exactly_once(&env, &t, &truth, "after the race").await;
    assert_eq!(env.db.live_blocks(&t).await.unwrap().len(), 1);
    // Now free, the second finds nothing left to merge.
    let report = second.run_once().await.expect("pass");
    assert_eq!((report.tenants_skipped, report.compactions), (0, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_worker_whose_lease_lapsed_does_not_swap() {
    let env = env().await;
    let t = tenant("tenant-a");
    let truth = three_inputs(&env, &t).await;
    let before: Vec<String> = env
        .db
        .live_blocks(&t)
        .await
        .unwrap()
        .into_iter()
        .map(|m| m.block_id)
        .collect();
    let (faults, reached, go) = pause(Step::AfterWriteOutput);
    let ttl = Duration::from_millis(100);
    let slow = compactor(&env, "slow", config(Duration::ZERO, ttl)).with_faults(faults);
    let running = tokio::spawn(async move { slow.run_once().await });
    let _reached = wait(reached).await;
    // Its lease expires; another worker takes it over.
    let deadline = Instant::now() + Duration::from_secs(20);
    let taken = loop {
        if let Some(g) = env
            .db
            .acquire("compaction/tenant-a", "usurper", Duration::from_secs(30))
            .await
            .unwrap()
        {
            break g;
        }
        assert!(Instant::now() < deadline, "lease never expired");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    go.send(()).unwrap();
    let report = running.await.unwrap().expect("pass");
    assert_eq!((report.failures, report.compactions), (1, 0), "{report:?}");
    let after: Vec<String> = env
        .db
        .live_blocks(&t)
        .await
        .unwrap()
        .into_iter()
        .map(|m| m.block_id)
        .collect();
    assert_eq!(after, before, "the fenced worker changed the catalog");
    assert_exactly_once(&env, &t, &truth, "fenced").await;
    env.db.release(&taken).await.unwrap();
    let c = compactor(
        &env,
        "next",
        config(Duration::ZERO, Duration::from_secs(10)),
    );
    settle(&c, &env, &t, &truth, "after fencing").await;
    assert_no_orphans(&env, &t, "after fencing").await;
}

#[tokio::test]
async fn deleting_a_tenant_leaves_other_tenants_alone() {
    let store = InMemory::new();
    let keys = [
        "ab1/blocks/x/meta.json",
        "ab1/blocks/y/data.parquet",
        "ab1/other.txt",
        "ab1c/blocks/x/meta.json",
        "ab1-2/blocks/x/meta.json",
        "zz1/ab1/blocks/x/meta.json",
    ];
    for key in keys {
        store
            .put(
                &object_store::path::Path::from(key),
                PutPayload::from_static(b"x"),
            )
            .await
            .unwrap();
    }
    let deleted = delete_tenant_objects(&store, &tenant("ab1")).await.unwrap();
    assert_eq!(deleted, 3);
    let left: Vec<object_store::ObjectMeta> = store.list(None).try_collect().await.unwrap();
    let mut left: Vec<String> = left.iter().map(|o| o.location.to_string()).collect();
    left.sort();
    assert_eq!(
        left,
        [
            "ab1-2/blocks/x/meta.json",
            "ab1c/blocks/x/meta.json",
            "zz1/ab1/blocks/x/meta.json"
        ]
    );
    assert_eq!(
        delete_tenant_objects(&store, &tenant("ab1")).await.unwrap(),
        0
    );
}

#[test]
fn config_problems_are_all_reported() {
    assert!(CompactorConfig::default().problems("compactor.").is_empty());
    let bad = CompactorConfig {
        interval: Duration::ZERO,
        window: Duration::ZERO,
        lease_ttl: Duration::ZERO,
        max_inputs: 1,
        max_block_bytes: 0,
        ..CompactorConfig::default()
    };
    let problems = bad.problems("compactor.");
    assert_eq!(problems.len(), 5, "{problems:?}");
    assert!(problems[0].starts_with("compactor.interval"));
}
