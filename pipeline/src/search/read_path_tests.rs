//! The search read path over real blocks: pushes flushed into blocks by the pipeline's own
//! background loop, on a local-filesystem object store behind a counting decorator, registered
//! in the SQLite block catalog. Each test asserts what a query reads, not only what it answers.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use parking_lot::Mutex;
use prometheus_client::registry::Registry;
use prost::Message;
use sextant_model::otlp::{
    Event, InstrumentationScope, Resource, ResourceSpans, ScopeSpans, Span, Status, StatusCode,
    TracesData, any_value,
};
use sextant_model::{
    BlockCatalog, BlockMeta, ErrorKind, IngestSink, Limits, Payload, PayloadFormat, SearchQuery,
    SearchRequest, SearchResponse, ServiceStats, TagNamesRequest, TagRef, TagScope, TagValue,
    TagValueType, TagValuesRequest, TenantDirectory, TenantId, TimeRange, TraceId, TraceReader,
    TraceSearcher,
};
use sextant_store::object_store::ObjectStore;
use sextant_store::object_store::local::LocalFileSystem;
use sextant_store::{BlockId, BlockInfo, BlockPath, WalConfig};
use sextant_tenancy::{Database, DatabaseOptions};
use tokio_util::sync::CancellationToken;

use super::INTRINSIC_TAGS;
use super::counting::CountingStore;
use crate::testdata::{kv, s};
use crate::{BlockConfig, IngesterConfig, Pipeline, PipelineConfig};

const TENANT: &str = "acme";
pub(super) const BLOCKS: u8 = 4;
/// Blocks 0 and 1 hold traces from about six hours ago; 2 and 3 from the last half hour.
pub(super) const OLD_BLOCKS: u8 = 2;
pub(super) const TRACES_PER_BLOCK: u16 = 900;
/// Ninety traces of four spans per row group: ten row groups per block.
const ROW_GROUP_SPANS: usize = 360;
pub(super) const MINUTE: u64 = 60_000_000_000;
pub(super) const HOUR: u64 = 60 * MINUTE;

/// Limits a test can change between queries.
struct SwitchLimits(Mutex<Arc<Limits>>);

impl SwitchLimits {
    fn set(&self, limits: Limits) {
        *self.0.lock() = Arc::new(limits);
    }
}

impl TenantDirectory for SwitchLimits {
    fn limits(&self, _tenant: &TenantId) -> Arc<Limits> {
        Arc::clone(&self.0.lock())
    }
}

pub(super) fn tenant() -> TenantId {
    TenantId::new(TENANT).unwrap()
}

fn now_nanos() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
}

/// A deterministic stream of bytes that zstd cannot shrink (xorshift).
pub(super) struct Noise(pub(super) u64);

impl Noise {
    fn hex(&mut self, len: usize) -> String {
        let mut out = String::with_capacity(len);
        while out.len() < len {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            out.push_str(&format!("{:016x}", self.0));
        }
        out.truncate(len);
        out
    }
}

pub(super) fn trace_id(block: u8, i: u16) -> TraceId {
    let mut id = [0u8; 16];
    id[0] = 0xab;
    id[1] = block;
    id[2..4].copy_from_slice(&i.to_be_bytes());
    id[15] = 1;
    TraceId(id)
}

fn span_id(trace: &TraceId, n: u8) -> Vec<u8> {
    let mut id = trace.0[..8].to_vec();
    id[7] = n + 1;
    id
}

/// Customer IDs follow trace-ID order, so each row group holds a narrow, disjoint band of them.
fn customer(block: u8, i: u16) -> String {
    format!(
        "cust-{:05}",
        u32::from(block) * u32::from(TRACES_PER_BLOCK) + u32::from(i)
    )
}

/// Start of trace `i` of `block`, relative to `now`.
pub(super) fn trace_start(now: u64, block: u8, i: u16) -> u64 {
    let base = if block < OLD_BLOCKS {
        now - 6 * HOUR + u64::from(block) * 10 * MINUTE
    } else {
        now - 30 * MINUTE + u64::from(block - OLD_BLOCKS) * 10 * MINUTE
    };
    base + u64::from(i) * 1_000_000
}

fn resource_spans(service: &str, spans: Vec<Span>) -> ResourceSpans {
    ResourceSpans {
        resource: Some(Resource {
            attributes: vec![
                kv("service.name", s(service)),
                kv("deployment.environment", s("prod")),
            ],
            ..Default::default()
        }),
        scope_spans: vec![ScopeSpans {
            scope: Some(InstrumentationScope {
                name: "lib".into(),
                version: "1.0".into(),
                ..Default::default()
            }),
            spans,
            schema_url: String::new(),
        }],
        schema_url: String::new(),
    }
}

/// One span of a generated trace: `n` 0 is the root (service `frontend`, with the customer ID),
/// 1 and 3 are `cart`, 2 is `payments` (an error in every seventh trace).
fn make_span(
    id: &TraceId,
    n: u8,
    start: u64,
    customer: &str,
    error: bool,
    noise: &mut Noise,
) -> Span {
    let mut span = Span {
        trace_id: id.0.to_vec(),
        span_id: span_id(id, n),
        name: if n == 0 {
            "GET /checkout".into()
        } else {
            format!("step-{n}")
        },
        start_time_unix_nano: start + u64::from(n) * 100_000,
        end_time_unix_nano: start + u64::from(n) * 100_000 + 500_000,
        attributes: vec![kv(
            "http.status_code",
            any_value::Value::IntValue(if error { 500 } else { 200 }),
        )],
        events: vec![Event {
            time_unix_nano: start + u64::from(n) * 100_000 + 1,
            name: "log".into(),
            attributes: vec![kv("payload", s(&noise.hex(160)))],
            dropped_attributes_count: 0,
        }],
        ..Default::default()
    };
    if n == 0 {
        span.attributes.push(kv("customer.id", s(customer)));
    } else {
        span.parent_span_id = span_id(id, 0);
    }
    if n == 2 {
        span.attributes
            .push(kv("retry", any_value::Value::BoolValue(error)));
        if error {
            span.status = Some(Status {
                message: "declined".into(),
                code: StatusCode::Error as i32,
            });
        }
    }
    span
}

fn service_of(n: u8) -> &'static str {
    match n {
        0 => "frontend",
        2 => "payments",
        _ => "cart",
    }
}

/// Spans `ns` of trace `i` of `block`, grouped by service.
pub(super) fn trace_parts(
    now: u64,
    block: u8,
    i: u16,
    ns: &[u8],
    noise: &mut Noise,
) -> Vec<ResourceSpans> {
    let id = trace_id(block, i);
    let start = trace_start(now, block, i);
    let error = i.is_multiple_of(7);
    let mut by_service: BTreeMap<&str, Vec<Span>> = BTreeMap::new();
    for &n in ns {
        by_service.entry(service_of(n)).or_default().push(make_span(
            &id,
            n,
            start,
            &customer(block, i),
            error,
            noise,
        ));
    }
    by_service
        .into_iter()
        .map(|(service, spans)| resource_spans(service, spans))
        .collect()
}

pub(super) fn all_spans(data: &TracesData) -> impl Iterator<Item = &Span> {
    data.resource_spans
        .iter()
        .flat_map(|r| &r.scope_spans)
        .flat_map(|s| &s.spans)
}

/// What the block writer records as a span's OTLP size: the span as a field of `ScopeSpans`.
fn otlp_size(span: &Span) -> u64 {
    let len = span.encoded_len();
    (len + prost::length_delimiter_len(len) + 1) as u64
}

pub(super) async fn push(p: &Pipeline, data: &TracesData) {
    let payload = Payload {
        format: PayloadFormat::OtlpProtobuf,
        body: Bytes::from(data.encode_to_vec()),
    };
    let out = p.push(&tenant(), payload).await.unwrap();
    assert_eq!(out.rejected_spans, 0, "{}", out.message);
}

fn everything() -> TimeRange {
    TimeRange::new(0, u64::MAX)
}

/// A pipeline that cuts completed traces into blocks within milliseconds, with its loop running.
pub(super) struct Fixture {
    _dir: tempfile::TempDir,
    pub(super) pipeline: Arc<Pipeline>,
    /// Every read the pipeline makes goes through this.
    store: CountingStore,
    /// The same objects, uncounted.
    raw: Arc<dyn ObjectStore>,
    catalog: Arc<Database>,
    limits: Arc<SwitchLimits>,
    pub(super) shutdown: CancellationToken,
    pub(super) now: u64,
}

impl Fixture {
    pub(super) async fn open() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let objects = dir.path().join("objects");
        std::fs::create_dir_all(&objects).unwrap();
        let raw: Arc<dyn ObjectStore> =
            Arc::new(LocalFileSystem::new_with_prefix(&objects).unwrap());
        let store = CountingStore::new(Arc::clone(&raw));
        // A file, not `sqlite::memory:`: a query cut short by `search_timeout` may take the
        // pool's one connection with it, and an in-memory database dies with its connection
        // (the next query then finds no `blocks` table).
        let url = format!("sqlite://{}", dir.path().join("catalog.db").display());
        let catalog = Arc::new(
            Database::connect(
                &url,
                &DatabaseOptions {
                    migrate: true,
                    ..DatabaseOptions::default()
                },
            )
            .await
            .unwrap(),
        );
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
                flush_retry_max: Duration::from_millis(100),
                row_group_spans: ROW_GROUP_SPANS,
                zstd_level: 3,
                ..BlockConfig::default()
            },
        };
        let limits = Arc::new(SwitchLimits(Mutex::new(Arc::new(Limits::default()))));
        let pipeline = Pipeline::open(
            config,
            Arc::clone(&limits) as Arc<dyn TenantDirectory>,
            Some(crate::BlockBackend {
                store: Arc::new(store.clone()),
                catalog: Arc::clone(&catalog) as Arc<dyn BlockCatalog>,
            }),
            &mut Registry::default(),
        )
        .unwrap();
        let shutdown = CancellationToken::new();
        tokio::spawn(Arc::clone(&pipeline).run(shutdown.clone()));
        Fixture {
            _dir: dir,
            pipeline,
            store,
            raw,
            catalog,
            limits,
            shutdown,
            now: now_nanos(),
        }
    }

    /// The fixture with [`BLOCKS`] blocks of generated traces, each pushed and flushed on its
    /// own; returns them with what was pushed into each.
    pub(super) async fn with_blocks() -> (Fixture, Vec<(BlockMeta, BlockInfo, TracesData)>) {
        let f = Fixture::open().await;
        let mut noise = Noise(0x9e37_79b9_7f4a_7c15);
        let mut blocks = Vec::new();
        for block in 0..BLOCKS {
            let data = TracesData {
                resource_spans: (0..TRACES_PER_BLOCK)
                    .flat_map(|i| trace_parts(f.now, block, i, &[0, 1, 2, 3], &mut noise))
                    .collect(),
            };
            push(&f.pipeline, &data).await;
            let listed = f.wait_for_blocks(usize::from(block) + 1).await;
            let known: BTreeSet<String> = blocks
                .iter()
                .map(|(m, _, _): &(BlockMeta, BlockInfo, TracesData)| m.block_id.clone())
                .collect();
            let meta = listed
                .into_iter()
                .find(|m| !known.contains(&m.block_id))
                .unwrap();
            let info = f.block_info(&meta).await;
            blocks.push((meta, info, data));
        }
        f.store.reset();
        (f, blocks)
    }

    /// Waits until the catalog lists `n` blocks and nothing is left in memory.
    pub(super) async fn wait_for_blocks(&self, n: usize) -> Vec<BlockMeta> {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let listed = self
                .catalog
                .candidates(&tenant(), everything())
                .await
                .unwrap();
            if listed.len() == n
                && self
                    .pipeline
                    .ingester()
                    .snapshot(&tenant(), None)
                    .is_empty()
            {
                return listed;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {n} blocks and nothing in memory"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    async fn block_info(&self, meta: &BlockMeta) -> BlockInfo {
        sextant_store::read_block_info(self.raw.as_ref(), &prefix(meta))
            .await
            .unwrap()
    }

    async fn search(
        &self,
        query: &str,
        range: TimeRange,
        limit: u32,
    ) -> sextant_model::Result<SearchResponse> {
        self.pipeline
            .search(
                &tenant(),
                SearchRequest {
                    query: SearchQuery::TraceQl(query.into()),
                    range: Some(range),
                    min_duration: None,
                    max_duration: None,
                    limit,
                    spans_per_spanset: 3,
                },
            )
            .await
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

fn prefix(meta: &BlockMeta) -> sextant_store::object_store::path::Path {
    BlockPath::block_prefix(&meta.tenant, BlockId::parse(&meta.block_id).unwrap())
}

fn block_key(meta: &BlockMeta) -> String {
    format!("{}/", prefix(meta))
}

/// Every trace's OTLP bytes per row group of a block, from what was pushed and the row groups'
/// trace-ID bounds in `meta.json`.
fn row_group_otlp(info: &BlockInfo, pushed: &TracesData) -> Vec<u64> {
    info.row_groups
        .iter()
        .map(|rg| {
            let (first, last) = (
                TraceId::parse_hex(&rg.first_trace_id).unwrap(),
                TraceId::parse_hex(&rg.last_trace_id).unwrap(),
            );
            all_spans(pushed)
                .filter(|s| {
                    let id = TraceId::from_slice(&s.trace_id).unwrap();
                    first <= id && id <= last
                })
                .map(otlp_size)
                .sum()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_selective_attribute_query_reads_a_small_fraction_of_the_blocks() {
    let (f, blocks) = Fixture::with_blocks().await;
    for (_, info, pushed) in &blocks {
        assert!(
            info.row_groups.len() >= 10,
            "{} row groups",
            info.row_groups.len()
        );
        // The writer's per-row-group figure is what the pushed spans add up to.
        let expected = row_group_otlp(info, pushed);
        let recorded: Vec<u64> = info.row_groups.iter().map(|rg| rg.otlp_bytes).collect();
        assert_eq!(recorded, expected);
    }
    let total_bytes: u64 = blocks.iter().map(|(m, _, _)| m.size_bytes).sum();
    let (target_block, target) = (2u8, 57u16);
    let wanted = trace_id(target_block, target);
    let query = format!(
        r#"{{ span.customer.id = "{}" }}"#,
        customer(target_block, target)
    );
    let range = TimeRange::new(f.now - 7 * HOUR, f.now);

    // Cold: the footers are read once, then cached.
    for run in ["cold", "warm"] {
        f.store.reset();
        let answer = f.search(&query, range, 20).await.unwrap();
        let ids: Vec<TraceId> = answer.traces.iter().map(|t| t.trace_id).collect();
        assert_eq!(ids, vec![wanted], "{run}");
        let read = f.store.total();
        let fraction = read.bytes as f64 / total_bytes as f64;
        println!(
            "{run}: read {} of {total_bytes} block bytes ({:.1} %) in {} requests",
            read.bytes,
            fraction * 100.0,
            read.requests()
        );
        let bound = if run == "cold" { 0.25 } else { 0.05 };
        assert!(fraction < bound, "{run}: read {fraction:.3} of the blocks");
        // The blocks that cannot hold the customer are read for their footer at most: one
        // request for the file's last 64 KiB, once.
        for (meta, info, _) in &blocks {
            let reads = f.store.under(&block_key(meta));
            assert!(reads.bytes < info.data_bytes / 4, "{run}: {reads:?}");
            if meta.block_id == blocks[usize::from(target_block)].0.block_id {
                continue;
            }
            let footer_only = if run == "cold" { 1 } else { 0 };
            assert_eq!(reads.requests(), footer_only, "{run}: {reads:?}");
            assert!(reads.bytes <= 64 * 1024, "{run}: {reads:?}");
        }
        // Exactly the one row group holding the customer was examined.
        let (_, info, pushed) = &blocks[usize::from(target_block)];
        let row_group = info
            .row_groups
            .iter()
            .position(|rg| {
                TraceId::parse_hex(&rg.first_trace_id).unwrap() <= wanted
                    && wanted <= TraceId::parse_hex(&rg.last_trace_id).unwrap()
            })
            .unwrap();
        let m = answer.metrics;
        assert_eq!(
            m.inspected_bytes,
            row_group_otlp(info, pushed)[row_group],
            "{run}"
        );
        assert_eq!(m.inspected_traces, 1, "{run}");
        assert_eq!(m.inspected_spans, 4, "{run}");
        assert_eq!(m.total_blocks, u32::from(BLOCKS), "{run}");
        assert_eq!(m.total_block_bytes, total_bytes, "{run}");
        assert_eq!(m.total_jobs, 1 + u32::from(BLOCKS), "{run}");
        assert_eq!(m.completed_jobs, m.total_jobs, "{run}");
        assert_eq!(m.backend_bytes, read.bytes, "{run}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_range_that_excludes_old_blocks_reads_none_of_their_objects() {
    let (f, blocks) = Fixture::with_blocks().await;
    let range = TimeRange::new(f.now - HOUR, f.now);
    let answer = f
        .search("{ span.http.status_code = 500 }", range, 1000)
        .await
        .unwrap();
    for (meta, _, _) in &blocks[..usize::from(OLD_BLOCKS)] {
        assert_eq!(
            f.store.under(&block_key(meta)),
            Default::default(),
            "{}",
            meta.block_id
        );
    }
    for (meta, _, _) in &blocks[usize::from(OLD_BLOCKS)..] {
        assert!(
            f.store.under(&block_key(meta)).requests() > 0,
            "{}",
            meta.block_id
        );
    }
    // Every seventh trace of the new blocks has the error, newest first.
    let mut expected: Vec<(u64, TraceId)> = (OLD_BLOCKS..BLOCKS)
        .flat_map(|b| {
            (0..TRACES_PER_BLOCK)
                .filter(|i| i.is_multiple_of(7))
                .map(move |i| (b, i))
        })
        .map(|(b, i)| (trace_start(f.now, b, i), trace_id(b, i)))
        .collect();
    expected.sort_by_key(|&(start, _)| std::cmp::Reverse(start));
    let got: Vec<(u64, TraceId)> = answer
        .traces
        .iter()
        .map(|t| (t.start_time_unix_nano, t.trace_id))
        .collect();
    assert_eq!(got, expected);
    for t in &answer.traces {
        assert_eq!(t.root_service_name, "frontend");
        assert_eq!(t.root_trace_name, "GET /checkout");
        assert_eq!(t.duration_nanos, 800_000);
        assert_eq!(
            t.service_stats,
            BTreeMap::from([
                (
                    "cart".to_string(),
                    ServiceStats {
                        span_count: 2,
                        error_count: 0
                    }
                ),
                (
                    "frontend".to_string(),
                    ServiceStats {
                        span_count: 1,
                        error_count: 0
                    }
                ),
                (
                    "payments".to_string(),
                    ServiceStats {
                        span_count: 1,
                        error_count: 1
                    }
                ),
            ])
        );
    }
    let new_bytes: u64 = blocks[usize::from(OLD_BLOCKS)..]
        .iter()
        .map(|(m, _, _)| m.size_bytes)
        .sum();
    assert_eq!(answer.metrics.total_blocks, u32::from(BLOCKS - OLD_BLOCKS));
    assert_eq!(answer.metrics.total_block_bytes, new_bytes);
    assert_eq!(
        answer.metrics.total_jobs,
        1 + u32::from(BLOCKS - OLD_BLOCKS)
    );
    assert_eq!(answer.metrics.completed_jobs, answer.metrics.total_jobs);

    // Only the limit newest come back; the rest of the new blocks may be skipped, never the
    // answer changed.
    let answer = f
        .search("{ span.http.status_code = 500 }", range, 3)
        .await
        .unwrap();
    let got: Vec<(u64, TraceId)> = answer
        .traces
        .iter()
        .map(|t| (t.start_time_unix_nano, t.trace_id))
        .collect();
    assert_eq!(got, expected[..3]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inspected_bytes_add_up_to_the_row_groups_examined() {
    let (f, blocks) = Fixture::with_blocks().await;
    // `{}` examines every row group of every block in the range.
    let answer = f.search("{}", everything_searchable(&f), 5).await.unwrap();
    let all_otlp: u64 = blocks
        .iter()
        .map(|(_, info, _)| info.row_groups.iter().map(|rg| rg.otlp_bytes).sum::<u64>())
        .sum();
    let pushed_otlp: u64 = blocks
        .iter()
        .flat_map(|(_, _, data)| all_spans(data))
        .map(otlp_size)
        .sum();
    assert_eq!(all_otlp, pushed_otlp);
    let m = answer.metrics;
    assert!(
        m.inspected_bytes > 0 && m.inspected_bytes <= pushed_otlp,
        "{m:?}"
    );
    // Blocks are searched newest first and skipped once the limit is met by newer traces:
    // whatever was examined is a whole number of blocks.
    let per_block: Vec<u64> = blocks
        .iter()
        .map(|(_, info, _)| info.row_groups.iter().map(|rg| rg.otlp_bytes).sum())
        .collect();
    let examined_blocks = (1..=per_block.len())
        .find(|&k| per_block[per_block.len() - k..].iter().sum::<u64>() == m.inspected_bytes);
    assert!(examined_blocks.is_some(), "{m:?} vs {per_block:?}");
    assert_eq!(m.inspected_spans, m.inspected_traces as u64 * 4);
    assert_eq!(m.completed_jobs, m.total_jobs);
    assert_eq!(m.total_jobs, 1 + u32::from(BLOCKS));
    let ids: Vec<TraceId> = answer.traces.iter().map(|t| t.trace_id).collect();
    let newest: Vec<TraceId> = (TRACES_PER_BLOCK - 5..TRACES_PER_BLOCK)
        .rev()
        .map(|i| trace_id(BLOCKS - 1, i))
        .collect();
    assert_eq!(ids, newest);
}

/// The widest range the default limits allow, covering every block.
pub(super) fn everything_searchable(f: &Fixture) -> TimeRange {
    TimeRange::new(f.now - 7 * HOUR, f.now)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limits_stop_queries_and_name_the_limit() {
    let (f, _blocks) = Fixture::with_blocks().await;
    let range = everything_searchable(&f);
    f.limits.set(Limits {
        max_search_bytes: 1_000,
        ..Limits::default()
    });
    let err = f.search("{}", range, 20).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::QueryLimit);
    assert!(err.message.contains("max_search_bytes"), "{}", err.message);
    let err = f
        .pipeline
        .tag_values(
            &tenant(),
            TagValuesRequest {
                tag: TagRef::Identifier("span.customer.id".into()),
                range: Some(range),
                query: None,
                limit: 0,
            },
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::QueryLimit);
    assert!(err.message.contains("max_search_bytes"), "{}", err.message);

    f.limits.set(Limits {
        search_timeout: Duration::from_nanos(1),
        ..Limits::default()
    });
    let err = f.search("{}", range, 20).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::QueryLimit);
    assert!(err.message.contains("search_timeout"), "{}", err.message);

    f.limits.set(Limits {
        max_search_duration: Duration::from_secs(3600),
        ..Limits::default()
    });
    f.store.reset();
    let err = f.search("{}", range, 20).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::BadRequest);
    assert!(
        err.message
            .starts_with("range specified by start and end (7h) exceeds"),
        "{}",
        err.message
    );
    // Refused before any read.
    assert_eq!(f.store.total(), Default::default());

    f.limits.set(Limits::default());
    let answer = f.search("{}", range, 20).await;
    assert!(answer.is_ok(), "{answer:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tag_names_and_values_over_blocks_are_exactly_what_was_pushed() {
    let (f, _blocks) = Fixture::with_blocks().await;
    let range = Some(everything_searchable(&f));
    let names = f
        .pipeline
        .tag_names(
            &tenant(),
            TagNamesRequest {
                scopes: Vec::new(),
                range,
                query: None,
                limit: 0,
            },
        )
        .await
        .unwrap();
    let strings = |v: &[&str]| v.iter().map(|s| (*s).to_string()).collect::<Vec<_>>();
    assert_eq!(
        names.scopes,
        vec![
            (
                TagScope::Resource,
                strings(&["deployment.environment", "service.name"])
            ),
            (
                TagScope::Span,
                strings(&["customer.id", "http.status_code", "retry"])
            ),
            (TagScope::Event, strings(&["payload"])),
            (TagScope::Link, vec![]),
            (TagScope::Instrumentation, vec![]),
            (TagScope::Intrinsic, strings(&INTRINSIC_TAGS)),
        ]
    );
    assert_eq!(names.metrics.total_blocks, u32::from(BLOCKS));

    let values = |tag: TagRef, limit: u32| {
        let pipeline = Arc::clone(&f.pipeline);
        async move {
            pipeline
                .tag_values(
                    &tenant(),
                    TagValuesRequest {
                        tag,
                        range,
                        query: None,
                        limit,
                    },
                )
                .await
                .unwrap()
                .values
        }
    };
    let typed = |t: TagValueType, v: &[&str]| -> Vec<TagValue> {
        v.iter()
            .map(|v| TagValue {
                value_type: t,
                value: (*v).to_string(),
            })
            .collect()
    };
    assert_eq!(
        values(TagRef::Identifier("resource.service.name".into()), 0).await,
        typed(TagValueType::String, &["cart", "frontend", "payments"])
    );
    assert_eq!(
        values(TagRef::Identifier("span.http.status_code".into()), 0).await,
        typed(TagValueType::Int, &["200", "500"])
    );
    assert_eq!(
        values(TagRef::Identifier("span.retry".into()), 0).await,
        typed(TagValueType::Bool, &["false", "true"])
    );
    // v1 names: span and resource attributes alike, every value a string.
    assert_eq!(
        values(TagRef::Name("http.status_code".into()), 0).await,
        typed(TagValueType::String, &["200", "500"])
    );
    let customers: BTreeSet<String> = (0..BLOCKS)
        .flat_map(|b| (0..TRACES_PER_BLOCK).map(move |i| customer(b, i)))
        .collect();
    let all = values(TagRef::Identifier("span.customer.id".into()), 0).await;
    assert_eq!(
        all.iter().map(|v| v.value.clone()).collect::<BTreeSet<_>>(),
        customers
    );
    assert_eq!(all.len(), customers.len());
    let capped = values(TagRef::Identifier("span.customer.id".into()), 7).await;
    assert_eq!(capped.len(), 7);
    assert!(
        capped.iter().all(|v| customers.contains(&v.value)),
        "{capped:?}"
    );
}
/// A trace whose first spans are in a block and whose later spans (and a client's retry of the
/// first ones) are still in memory is one result, each span counted once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trace_in_a_block_and_in_memory_is_one_result() {
    let f = Fixture::open().await;
    let mut noise = Noise(7);
    let (block, i) = (3u8, 0u16);
    let id = trace_id(block, i);
    let first = TracesData {
        resource_spans: trace_parts(f.now, block, i, &[0, 1], &mut noise),
    };
    push(&f.pipeline, &first).await;
    f.wait_for_blocks(1).await;
    // No more flushes: what comes next stays in memory.
    f.shutdown.cancel();
    let rest = TracesData {
        resource_spans: trace_parts(f.now, block, i, &[2, 3], &mut noise),
    };
    push(&f.pipeline, &rest).await;
    push(&f.pipeline, &first).await;
    let found = f
        .pipeline
        .trace_by_id(&tenant(), id, None)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(all_spans(&found.trace).count(), 4);
    assert_eq!(f.pipeline.ingester().snapshot(&tenant(), None).len(), 1);

    let range = TimeRange::new(f.now - HOUR, f.now);
    // Trace 0 is an error trace: every span has status code 500.
    for query in ["{}", "{ span.http.status_code = 500 }"] {
        let answer = f.search(query, range, 20).await.unwrap();
        assert_eq!(answer.traces.len(), 1, "{query}: {answer:?}");
        let t = &answer.traces[0];
        assert_eq!(t.trace_id, id);
        assert_eq!(t.root_service_name, "frontend", "{query}");
        assert_eq!(
            t.start_time_unix_nano,
            trace_start(f.now, block, i),
            "{query}"
        );
        assert_eq!(t.duration_nanos, 800_000, "{query}");
        assert_eq!(
            t.service_stats,
            BTreeMap::from([
                (
                    "cart".to_string(),
                    ServiceStats {
                        span_count: 2,
                        error_count: 0
                    }
                ),
                (
                    "frontend".to_string(),
                    ServiceStats {
                        span_count: 1,
                        error_count: 0
                    }
                ),
                (
                    "payments".to_string(),
                    ServiceStats {
                        span_count: 1,
                        error_count: 1
                    }
                ),
            ]),
            "{query}"
        );
        let listed: Vec<&Vec<u8>> = t
            .span_sets
            .iter()
            .flat_map(|s| s.spans.iter().map(|sp| &sp.span_id))
            .collect();
        let unique: BTreeSet<&Vec<u8>> = listed.iter().copied().collect();
        assert_eq!(
            listed.len(),
            unique.len(),
            "{query}: a span listed twice: {t:?}"
        );
        assert_eq!(t.span_sets.len(), 1, "{query}: {t:?}");
        assert_eq!(t.span_sets[0].matched, 4, "{query}");
        assert_eq!(t.span_sets[0].spans.len(), 3, "{query}");
    }
}

/// A query storage cannot narrow (arithmetic is not pushed down) with a small limit: each block
/// first reads only its newest traces, most of which do not match, so the search must go back
/// for older ones — and still return exactly the newest matches of all blocks.
#[tokio::test]
async fn a_small_limit_over_an_unnarrowed_query_reads_back_until_the_answer_is_exact() {
    let (f, _blocks) = Fixture::with_blocks().await;
    for limit in [1u32, 5, 40] {
        let answer = f
            .search(
                "{ span.http.status_code + 0 = 500 }",
                everything_searchable(&f),
                limit,
            )
            .await
            .unwrap();
        let mut expected: Vec<(u64, TraceId)> = (0..BLOCKS)
            .flat_map(|b| {
                (0..TRACES_PER_BLOCK)
                    .filter(|i| i.is_multiple_of(7))
                    .map(move |i| (b, i))
            })
            .map(|(b, i)| (trace_start(f.now, b, i), trace_id(b, i)))
            .collect();
        expected.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.0.cmp(&b.1.0)));
        expected.truncate(limit as usize);
        let got: Vec<(u64, TraceId)> = answer
            .traces
            .iter()
            .map(|t| (t.start_time_unix_nano, t.trace_id))
            .collect();
        assert_eq!(got, expected, "limit {limit}");
        // Far fewer traces evaluated than the blocks hold: only the newest candidates.
        let total = u32::from(BLOCKS) * u32::from(TRACES_PER_BLOCK);
        assert!(
            answer.metrics.inspected_traces < total / 2,
            "limit {limit}: {} of {total} traces evaluated",
            answer.metrics.inspected_traces
        );
    }
}
