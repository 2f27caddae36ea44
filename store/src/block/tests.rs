use std::sync::Arc;
use std::time::Instant;

use object_store::memory::InMemory;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use proptest::prelude::*;
use prost::Message;
use sextant_model::otlp::{ResourceSpans, ScopeSpans, TracesData};
use sextant_model::{TenantId, TraceId};

use super::testgen::{realistic, trace};
use super::writer::encode_block;
use super::*;
use crate::error::Error;

pub(super) fn tenant() -> TenantId {
    TenantId::new("acme").unwrap()
}

fn prefix(id: &str) -> Path {
    Path::from(format!("acme/blocks/{id}"))
}

/// The trace as (resource, scope, span) encodings, sorted and regrouped: equal for two
/// `TracesData` exactly when they hold the same spans under the same resources and scopes.
pub(super) fn canonical(data: &TracesData) -> Vec<u8> {
    let mut triples = Vec::new();
    for rs in &data.resource_spans {
        let r = ResourceSpans {
            scope_spans: Vec::new(),
            ..rs.clone()
        }
        .encode_to_vec();
        for ss in &rs.scope_spans {
            let s = ScopeSpans {
                spans: Vec::new(),
                ..ss.clone()
            }
            .encode_to_vec();
            for span in &ss.spans {
                triples.push((r.clone(), s.clone(), span.encode_to_vec()));
            }
        }
    }
    triples.sort();
    let mut out = Vec::new();
    for (r, s, span) in triples {
        out.extend_from_slice(&(r.len() as u32).to_le_bytes());
        out.extend(r);
        out.extend_from_slice(&(s.len() as u32).to_le_bytes());
        out.extend(s);
        out.extend_from_slice(&(span.len() as u32).to_le_bytes());
        out.extend(span);
    }
    out
}

async fn write(
    store: &dyn ObjectStore,
    id: &str,
    traces: Vec<(TraceId, TracesData)>,
    options: &BlockOptions,
) -> BlockInfo {
    write_block(store, &prefix(id), id, &tenant(), traces, options)
        .await
        .unwrap()
}

pub(super) fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn every_field_reads_back(traces in prop::collection::vec(trace(), 1..6), rg in 1usize..8) {
        runtime().block_on(async {
            let store = InMemory::new();
            let options = BlockOptions { row_group_spans: rg, ..BlockOptions::default() };
            let info = write(&store, "b1", traces.clone(), &options).await;
            prop_assert_eq!(info.trace_count as usize, traces.len());
            let caches = BlockCaches::default();
            for (id, data) in &traces {
                let (found, _) = find_trace(&store, &prefix("b1"), *id, &caches)
                    .await
                    .unwrap()
                    .expect("trace is in the block");
                prop_assert_eq!(canonical(&found), canonical(data));
            }
            Ok(())
        })?;
    }
}

#[tokio::test]
async fn realistic_traces_read_back_exactly() {
    let store = InMemory::new();
    let traces = realistic(3, 3_000);
    let options = BlockOptions {
        row_group_spans: 500,
        ..BlockOptions::default()
    };
    let info = write(&store, "b1", traces.clone(), &options).await;
    assert_eq!(info.span_count, 3_000);
    assert!(info.row_groups.len() >= 5, "{:?}", info.row_groups.len());
    let caches = BlockCaches::default();
    for (id, data) in &traces {
        let (found, _) = find_trace(&store, &prefix("b1"), *id, &caches)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(canonical(&found), canonical(data));
    }
}

#[tokio::test]
async fn writes_are_deterministic() {
    let options = BlockOptions {
        row_group_spans: 300,
        ..BlockOptions::default()
    };
    let a = encode_block("b", "acme", realistic(9, 2_000), &options).unwrap();
    let b = encode_block("b", "acme", realistic(9, 2_000), &options).unwrap();
    assert_eq!(a.data, b.data);
    assert_eq!(a.bloom, b.bloom);
    assert_eq!(a.info, b.info);
    // Through the store too: a second write leaves the same bytes.
    let store = InMemory::new();
    write(&store, "b", realistic(9, 2_000), &options).await;
    let first = store
        .get(&prefix("b").join(DATA_FILE))
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    write(&store, "b", realistic(9, 2_000), &options).await;
    let second = store
        .get(&prefix("b").join(DATA_FILE))
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(first, second);
    assert_eq!(first.as_ref(), a.data.as_slice());
}

#[tokio::test]
async fn format_version_is_recorded_and_checked() {
    let store = InMemory::new();
    let info = write(&store, "b1", realistic(1, 200), &BlockOptions::default()).await;
    assert_eq!(info.format_version, FORMAT_VERSION);
    let read = read_block_info(&store, &prefix("b1")).await.unwrap();
    assert_eq!(read, info);
    assert!(info.meta_bytes > 0);

    // meta.json of another version is refused.
    let mut json: serde_json::Value = serde_json::to_value(&info).unwrap();
    json["format_version"] = 2.into();
    store
        .put(
            &prefix("b1").join(META_FILE),
            PutPayload::from(serde_json::to_vec(&json).unwrap()),
        )
        .await
        .unwrap();
    let err = read_block_info(&store, &prefix("b1")).await.unwrap_err();
    assert!(
        matches!(err, Error::UnsupportedBlockVersion { version: 2, .. }),
        "{err}"
    );

    // data.parquet of another version is refused: rewrite its footer's key-value metadata.
    let data = store
        .get(&prefix("b1").join(DATA_FILE))
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let needle = FORMAT_VERSION_KEY;
    let at = data
        .windows(needle.len())
        .rposition(|w| w == needle.as_bytes())
        .expect("version key in footer");
    let mut patched = data.to_vec();
    // The value follows the key (thrift: field header, length, then "1").
    let value_at = at
        + needle.len()
        + patched[at + needle.len()..]
            .iter()
            .position(|b| *b == b'1')
            .unwrap();
    patched[value_at] = b'7';
    store
        .put(&prefix("b1").join(DATA_FILE), PutPayload::from(patched))
        .await
        .unwrap();
    let (id, _) = &realistic(1, 200)[0];
    let err = find_trace(&store, &prefix("b1"), *id, &BlockCaches::default())
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::UnsupportedBlockVersion { version: 7, .. }),
        "{err}"
    );
}

#[tokio::test]
async fn bloom_negative_never_touches_the_data_file() {
    let store = InMemory::new();
    let traces = realistic(5, 2_000);
    write(&store, "b1", traces.clone(), &BlockOptions::default()).await;
    // Without the data file, any read of it fails: the lookups below prove they made none.
    store.delete(&prefix("b1").join(DATA_FILE)).await.unwrap();
    let caches = BlockCaches::default();
    let mut rejected = 0;
    for n in 0..1_000u64 {
        let mut id = [0xAB; 16];
        id[8..].copy_from_slice(&n.to_be_bytes());
        if let Ok(None) = find_trace(&store, &prefix("b1"), TraceId(id), &caches).await {
            rejected += 1;
        }
    }
    assert!(
        rejected >= 950,
        "bloom rejected {rejected} of 1000 absent ids"
    );
    // A present ID does reach the (missing) data file.
    let err = find_trace(&store, &prefix("b1"), traces[0].0, &caches)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), sextant_model::ErrorKind::NotFound);
}

#[tokio::test]
async fn lookup_reads_one_row_group_and_ids_between_groups_read_none() {
    let store = InMemory::new();
    let mut traces = realistic(11, 5_000);
    traces.sort_by_key(|(id, _)| id.0);
    let options = BlockOptions {
        row_group_spans: 1_000,
        ..BlockOptions::default()
    };
    let info = write(&store, "b1", traces.clone(), &options).await;
    assert!(info.row_groups.len() >= 4);
    let caches = BlockCaches::default();
    let largest = info.row_groups.iter().map(|g| g.bytes).max().unwrap();
    // Warm the bloom filter and footer caches.
    find_trace(&store, &prefix("b1"), traces[0].0, &caches)
        .await
        .unwrap()
        .unwrap();
    for (id, data) in traces.iter().step_by(37) {
        let (found, inspected) = find_trace(&store, &prefix("b1"), *id, &caches)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(canonical(&found), canonical(data));
        assert!(
            inspected <= largest,
            "{inspected} bytes read, largest row group {largest}"
        );
        assert!(inspected > 0);
    }
    // An ID strictly between two row groups: no row group can hold it.
    for pair in info.row_groups.windows(2) {
        let last = TraceId::parse_hex(&pair[0].last_trace_id).unwrap();
        let next = TraceId::parse_hex(&pair[1].first_trace_id).unwrap();
        let mut between = last;
        between.0[15] = between.0[15].wrapping_add(1);
        if between.0 <= last.0 || between.0 >= next.0 {
            continue;
        }
        // Whatever the bloom filter says, nothing is found and no row group is fetched.
        let found = find_trace(&store, &prefix("b1"), between, &caches)
            .await
            .unwrap();
        assert!(found.is_none());
    }
    // Row groups are cut at trace boundaries: no trace ID ends one group and starts the next.
    for pair in info.row_groups.windows(2) {
        assert!(pair[0].last_trace_id < pair[1].first_trace_id);
    }
}

#[tokio::test]
async fn empty_block_round_trips() {
    let store = InMemory::new();
    let info = write(&store, "e", Vec::new(), &BlockOptions::default()).await;
    assert_eq!(info.span_count, 0);
    let found = find_trace(
        &store,
        &prefix("e"),
        TraceId([1; 16]),
        &BlockCaches::default(),
    )
    .await
    .unwrap();
    assert!(found.is_none());
}

/// Prints size and speed on loadgen-shaped data; asserts only the size ceiling (the floor of
/// DESIGN.md §10), never a timing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn measure_size_and_speed() {
    let spans = 200_000;
    let traces = realistic(42, spans);
    let otlp_bytes: usize = traces.iter().map(|(_, t)| t.encoded_len()).sum();
    let ids: Vec<TraceId> = traces.iter().map(|(id, _)| *id).collect();
    let store = Arc::new(InMemory::new());
    for (row_group_spans, zstd_level) in [(10_000, 3), (50_000, 3), (20_000, 9)] {
        let options = BlockOptions {
            row_group_spans,
            zstd_level,
            ..BlockOptions::default()
        };
        let started = Instant::now();
        let encoded = encode_block("m", "acme", traces.clone(), &options).unwrap();
        let secs = started.elapsed().as_secs_f64();
        print_column_sizes(&encoded.data, spans);
        let info = write(store.as_ref(), "m", traces.clone(), &options).await;
        let per_span = info.total_bytes() as f64 / spans as f64;
        println!(
            "row_group_spans={row_group_spans} zstd={zstd_level}: {spans} spans, otlp {:.0} B/span, block {} bytes = {per_span:.1} B/span (data {}, bloom {}), {} row groups, encode {:.0} spans/s (one core, debug-ish build)",
            otlp_bytes as f64 / spans as f64,
            info.total_bytes(),
            encoded.info.data_bytes,
            info.bloom_bytes,
            info.row_groups.len(),
            spans as f64 / secs,
        );
        assert!(
            per_span <= 90.0,
            "{per_span} bytes per span is over the floor"
        );
        let caches = BlockCaches::default();
        let mut latencies = Vec::new();
        let mut inspected_total = 0;
        for id in ids.iter().step_by(ids.len() / 200) {
            let started = Instant::now();
            let (_, inspected) = find_trace(store.as_ref(), &prefix("m"), *id, &caches)
                .await
                .unwrap()
                .unwrap();
            latencies.push(started.elapsed());
            inspected_total += inspected;
        }
        latencies.sort();
        println!(
            "  find_trace in memory: p50 {:?}, p99 {:?}, {} bytes inspected per lookup",
            latencies[latencies.len() / 2],
            latencies[latencies.len() * 99 / 100],
            inspected_total / latencies.len() as u64,
        );
    }
}

fn print_column_sizes(data: &[u8], spans: usize) {
    use parquet::file::reader::{FileReader, SerializedFileReader};
    let reader = SerializedFileReader::new(bytes::Bytes::copy_from_slice(data)).unwrap();
    let md = reader.metadata();
    let mut sizes: Vec<(String, i64)> = Vec::new();
    for rg in md.row_groups() {
        for (i, c) in rg.columns().iter().enumerate() {
            if sizes.len() <= i {
                sizes.push((c.column_path().string(), 0));
            }
            sizes[i].1 += c.compressed_size();
        }
    }
    for (name, size) in sizes {
        println!("    {name:40} {:6.2} B/span", size as f64 / spans as f64);
    }
}
