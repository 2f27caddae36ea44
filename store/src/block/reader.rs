//! `find_trace`: bloom filter → footer → the one row group that can hold the trace → its rows.

use std::collections::HashMap;
use std::ops::Range;
use std::sync::Arc;

use arrow_array::Array;
use arrow_array::cast::AsArray;
use bytes::{Buf, Bytes};
use object_store::path::Path;
use object_store::{GetOptions, GetRange, ObjectStore, ObjectStoreExt};
use parking_lot::Mutex;
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::{
    ArrowReaderMetadata, ArrowReaderOptions, ParquetRecordBatchReaderBuilder, RowSelection,
    RowSelector,
};
use parquet::file::metadata::{ParquetMetaData, ParquetMetaDataReader};
use parquet::file::reader::{ChunkReader, Length};
use sextant_model::TraceId;
use sextant_model::otlp::TracesData;

use super::bloom::TraceBloom;
use super::decode::{Grouper, append_spans};
use super::{BLOOM_FILE, DATA_FILE, FORMAT_VERSION, FORMAT_VERSION_KEY, META_FILE};
use crate::block::writer::BlockInfo;
use crate::error::{Error, Result};

/// How much of the file end the first footer request fetches.
const FOOTER_GUESS: u64 = 64 * 1024;

/// In-memory caches of bloom filters and Parquet footers, each bounded by bytes.
#[derive(Debug)]
pub struct BlockCaches {
    blooms: Mutex<Lru<Arc<TraceBloom>>>,
    footers: Mutex<Lru<Footer>>,
}

#[derive(Debug, Clone)]
pub(crate) struct Footer {
    pub(crate) metadata: ArrowReaderMetadata,
}

impl BlockCaches {
    pub fn new(bloom_bytes: usize, footer_bytes: usize) -> Self {
        Self {
            blooms: Mutex::new(Lru::new(bloom_bytes)),
            footers: Mutex::new(Lru::new(footer_bytes)),
        }
    }

    /// Bytes held by the bloom and footer caches.
    pub fn held_bytes(&self) -> (usize, usize) {
        (self.blooms.lock().held, self.footers.lock().held)
    }
}

impl Default for BlockCaches {
    /// 256 MiB of bloom filters, 256 MiB of footers.
    fn default() -> Self {
        Self::new(256 << 20, 256 << 20)
    }
}

/// A small least-recently-used map bounded by the sum of its entries' sizes.
#[derive(Debug)]
struct Lru<V> {
    entries: HashMap<String, (V, usize, u64)>,
    held: usize,
    budget: usize,
    tick: u64,
}

impl<V: Clone> Lru<V> {
    fn new(budget: usize) -> Self {
        Self {
            entries: HashMap::new(),
            held: 0,
            budget,
            tick: 0,
        }
    }

    fn get(&mut self, key: &str) -> Option<V> {
        self.tick += 1;
        let tick = self.tick;
        self.entries.get_mut(key).map(|(v, _, t)| {
            *t = tick;
            v.clone()
        })
    }

    fn insert(&mut self, key: String, value: V, size: usize) {
        if size > self.budget {
            return;
        }
        self.tick += 1;
        if let Some((_, old, _)) = self.entries.insert(key, (value, size, self.tick)) {
            self.held -= old;
        }
        self.held += size;
        while self.held > self.budget {
            let Some(oldest) = self
                .entries
                .iter()
                .min_by_key(|(_, (_, _, t))| *t)
                .map(|(k, _)| k.clone())
            else {
                break;
            };
            if let Some((_, size, _)) = self.entries.remove(&oldest) {
                self.held -= size;
            }
        }
    }
}

/// Reads a block's `meta.json`, refusing other format versions.
pub async fn read_block_info(store: &dyn ObjectStore, prefix: &Path) -> Result<BlockInfo> {
    let path = prefix.clone().join(META_FILE);
    let bytes = get_all(store, &path).await?;
    BlockInfo::from_json(&bytes)
}

async fn get_all(store: &dyn ObjectStore, path: &Path) -> Result<Bytes> {
    let result = store
        .get(path)
        .await
        .map_err(|e| Error::object_store(format!("get {path}"), e))?;
    result
        .bytes()
        .await
        .map_err(|e| Error::object_store(format!("read {path}"), e))
}

/// Looks a trace up in one block. Returns the trace's spans regrouped by resource and scope,
/// and the bytes fetched from the store for it (bloom filter and footer count only on a cache
/// miss). Reads at most one row group, and nothing of `data.parquet` when the bloom filter
/// says no.
pub async fn find_trace(
    store: &dyn ObjectStore,
    prefix: &Path,
    trace_id: TraceId,
    caches: &BlockCaches,
) -> Result<Option<(TracesData, u64)>> {
    let mut inspected = 0u64;
    let bloom_path = prefix.clone().join(BLOOM_FILE);
    // Bound first: a guard in the match scrutinee would live through the insert below.
    let cached = caches.blooms.lock().get(bloom_path.as_ref());
    let bloom = match cached {
        Some(bloom) => bloom,
        None => {
            let bytes = get_all(store, &bloom_path).await?;
            inspected += bytes.len() as u64;
            let bloom = Arc::new(TraceBloom::decode(&bytes)?);
            caches
                .blooms
                .lock()
                .insert(bloom_path.to_string(), bloom.clone(), bytes.len());
            bloom
        }
    };
    if !bloom.may_contain(&trace_id) {
        return Ok(None);
    }

    let data_path = prefix.clone().join(DATA_FILE);
    let (footer, fetched) = cached_footer(store, &data_path, caches).await?;
    inspected += fetched;

    let metadata = footer.metadata.metadata().clone();
    let Some(row_group) = candidate_row_group(&metadata, &trace_id) else {
        return Ok(None);
    };
    let ranges: Vec<Range<u64>> = metadata
        .row_group(row_group)
        .columns()
        .iter()
        .map(|c| {
            let (start, len) = c.byte_range();
            start..start + len
        })
        .collect();
    let chunks = store
        .get_ranges(&data_path, &ranges)
        .await
        .map_err(|e| Error::object_store(format!("get row group of {data_path}"), e))?;
    inspected += chunks.iter().map(|c| c.len() as u64).sum::<u64>();
    let sparse = Sparse {
        len: footer_file_len(&metadata, &ranges),
        chunks: ranges.iter().map(|r| r.start).zip(chunks).collect(),
    };
    let arrow_metadata = footer.metadata.clone();
    let found = tokio::task::spawn_blocking(move || {
        read_trace(sparse, arrow_metadata, row_group, trace_id)
    })
    .await
    .map_err(|_| Error::Task {
        context: "decode row group",
    })??;
    Ok(found.map(|trace| (trace, inspected)))
}

/// The footer of `data_path`, from the cache or the store; also the bytes fetched for it.
pub(crate) async fn cached_footer(
    store: &dyn ObjectStore,
    data_path: &Path,
    caches: &BlockCaches,
) -> Result<(Footer, u64)> {
    let cached = caches.footers.lock().get(data_path.as_ref());
    if let Some(footer) = cached {
        return Ok((footer, 0));
    }
    let (footer, fetched) = read_footer(store, data_path).await?;
    let size = footer.metadata.metadata().memory_size();
    caches
        .footers
        .lock()
        .insert(data_path.to_string(), footer.clone(), size);
    Ok((footer, fetched))
}

/// A length large enough for the reader's bounds checks: the end of the last column chunk.
pub(crate) fn footer_file_len(_metadata: &ParquetMetaData, ranges: &[Range<u64>]) -> u64 {
    ranges.iter().map(|r| r.end).max().unwrap_or(0)
}

/// The row group whose trace-ID statistics can hold `id`; rows are sorted and row groups hold
/// whole traces, so at most one can.
fn candidate_row_group(metadata: &ParquetMetaData, id: &TraceId) -> Option<usize> {
    metadata.row_groups().iter().position(|rg| {
        let stats = rg.column(0).statistics();
        match stats.and_then(|s| Some((s.min_bytes_opt()?, s.max_bytes_opt()?))) {
            Some((min, max)) => min <= id.0.as_slice() && id.0.as_slice() <= max,
            // No statistics: cannot rule it out.
            None => true,
        }
    })
}

async fn read_footer(store: &dyn ObjectStore, path: &Path) -> Result<(Footer, u64)> {
    let options = GetOptions {
        range: Some(GetRange::Suffix(FOOTER_GUESS)),
        ..Default::default()
    };
    let result = store
        .get_opts(path, options)
        .await
        .map_err(|e| Error::object_store(format!("get footer of {path}"), e))?;
    let file_len = result.meta.size;
    let tail = result
        .bytes()
        .await
        .map_err(|e| Error::object_store(format!("read footer of {path}"), e))?;
    let mut fetched = tail.len() as u64;
    if tail.len() < 8 || &tail[tail.len() - 4..] != b"PAR1" {
        return Err(Error::BlockFormat {
            reason: format!("{path} is not a parquet file"),
        });
    }
    let mut len = [0u8; 4];
    len.copy_from_slice(&tail[tail.len() - 8..tail.len() - 4]);
    let metadata_len = u32::from_le_bytes(len) as u64;
    let needed = metadata_len + 8;
    let metadata_bytes = if needed <= tail.len() as u64 {
        tail.slice(tail.len() - needed as usize..tail.len() - 8)
    } else if needed <= file_len {
        let bytes = store
            .get_range(path, file_len - needed..file_len - 8)
            .await
            .map_err(|e| Error::object_store(format!("get footer of {path}"), e))?;
        fetched += bytes.len() as u64;
        bytes
    } else {
        return Err(Error::BlockFormat {
            reason: format!("{path} footer length {metadata_len} is past the file start"),
        });
    };
    let metadata = ParquetMetaDataReader::decode_metadata(&metadata_bytes)
        .map_err(|e| Error::parquet(format!("decode footer of {path}"), e))?;
    check_version(&metadata)?;
    let metadata = ArrowReaderMetadata::try_new(Arc::new(metadata), ArrowReaderOptions::new())
        .map_err(|e| Error::parquet(format!("read schema of {path}"), e))?;
    Ok((Footer { metadata }, fetched))
}

fn check_version(metadata: &ParquetMetaData) -> Result<()> {
    let version = metadata
        .file_metadata()
        .key_value_metadata()
        .and_then(|kvs| kvs.iter().find(|kv| kv.key == FORMAT_VERSION_KEY))
        .and_then(|kv| kv.value.as_deref());
    match version {
        Some(v) if v == FORMAT_VERSION.to_string() => Ok(()),
        Some(v) => Err(Error::UnsupportedBlockVersion {
            what: "data.parquet",
            version: v.parse().unwrap_or(u32::MAX),
        }),
        None => Err(Error::BlockFormat {
            reason: format!("data.parquet has no {FORMAT_VERSION_KEY}"),
        }),
    }
}

/// Decodes the trace's rows from one fetched row group: first the trace-ID column alone to
/// find the rows, then every column of only those rows.
fn read_trace(
    sparse: Sparse,
    metadata: ArrowReaderMetadata,
    row_group: usize,
    trace_id: TraceId,
) -> Result<Option<TracesData>> {
    let descr = metadata.metadata().file_metadata().schema_descr_ptr();
    let ids = ParquetRecordBatchReaderBuilder::new_with_metadata(sparse.clone(), metadata.clone())
        .with_row_groups(vec![row_group])
        .with_projection(ProjectionMask::leaves(&descr, [0]))
        .with_batch_size(64 * 1024)
        .build()
        .map_err(|e| Error::parquet("read trace ids", e))?;
    let mut matched: Option<Range<usize>> = None;
    let mut offset = 0usize;
    for batch in ids {
        let batch = batch.map_err(|e| Error::arrow("read trace ids", e))?;
        let column = batch.column(0).as_fixed_size_binary();
        for i in 0..column.len() {
            if column.value(i) == trace_id.0.as_slice() {
                let row = offset + i;
                matched = Some(match matched {
                    Some(r) => r.start..row + 1,
                    None => row..row + 1,
                });
            }
        }
        offset += batch.num_rows();
    }
    let Some(rows) = matched else {
        return Ok(None);
    };
    let selection = RowSelection::from(vec![
        RowSelector::skip(rows.start),
        RowSelector::select(rows.len()),
    ]);
    let reader = ParquetRecordBatchReaderBuilder::new_with_metadata(sparse, metadata)
        .with_row_groups(vec![row_group])
        .with_row_selection(selection)
        .with_batch_size(rows.len())
        .build()
        .map_err(|e| Error::parquet("read trace rows", e))?;
    let mut grouper = Grouper::default();
    for batch in reader {
        let batch = batch.map_err(|e| Error::arrow("read trace rows", e))?;
        append_spans(&batch, &mut grouper)?;
    }
    Ok((!grouper.is_empty()).then(|| grouper.finish()))
}

/// The fetched column chunks of one row group, served to the synchronous Parquet reader.
#[derive(Debug, Clone)]
pub(crate) struct Sparse {
    pub(crate) len: u64,
    pub(crate) chunks: Vec<(u64, Bytes)>,
}

impl Sparse {
    fn slice(&self, start: u64, len: u64) -> parquet::errors::Result<Bytes> {
        self.chunks
            .iter()
            .find(|(at, bytes)| *at <= start && start + len <= at + bytes.len() as u64)
            .map(|(at, bytes)| bytes.slice((start - at) as usize..(start - at + len) as usize))
            .ok_or_else(|| {
                parquet::errors::ParquetError::General(format!(
                    "bytes {start}..{} were not fetched",
                    start + len
                ))
            })
    }
}

impl Length for Sparse {
    fn len(&self) -> u64 {
        self.len
    }
}

impl ChunkReader for Sparse {
    type T = bytes::buf::Reader<Bytes>;

    fn get_read(&self, start: u64) -> parquet::errors::Result<Self::T> {
        let (at, bytes) = self
            .chunks
            .iter()
            .find(|(at, bytes)| *at <= start && start < at + bytes.len() as u64)
            .ok_or_else(|| {
                parquet::errors::ParquetError::General(format!("byte {start} was not fetched"))
            })?;
        Ok(bytes.slice((start - at) as usize..).reader())
    }

    fn get_bytes(&self, start: u64, length: usize) -> parquet::errors::Result<Bytes> {
        self.slice(start, length as u64)
    }
}

/// Every trace of a block, read whole (compaction): `data.parquet` is fetched in one request
/// and decoded row group by row group. Also returns the bytes fetched.
pub async fn read_block_traces(
    store: &dyn ObjectStore,
    prefix: &Path,
) -> Result<(Vec<(TraceId, TracesData)>, u64)> {
    let data_path = prefix.clone().join(DATA_FILE);
    let bytes = get_all(store, &data_path).await?;
    let fetched = bytes.len() as u64;
    let traces = tokio::task::spawn_blocking(move || decode_all(bytes))
        .await
        .map_err(|_| Error::Task {
            context: "decode block",
        })??;
    Ok((traces, fetched))
}

fn decode_all(bytes: Bytes) -> Result<Vec<(TraceId, TracesData)>> {
    let metadata = ArrowReaderMetadata::load(&bytes, ArrowReaderOptions::new())
        .map_err(|e| Error::parquet("read block footer", e))?;
    check_version(metadata.metadata())?;
    let mut out = Vec::new();
    for rg in 0..metadata.metadata().num_row_groups() {
        let rows = usize::try_from(metadata.metadata().row_group(rg).num_rows()).unwrap_or(0);
        // One batch per row group: row groups hold whole traces, so every trace is whole in it
        // and parent positions resolve.
        let reader =
            ParquetRecordBatchReaderBuilder::new_with_metadata(bytes.clone(), metadata.clone())
                .with_row_groups(vec![rg])
                .with_batch_size(rows.max(1))
                .build()
                .map_err(|e| Error::parquet("read block rows", e))?;
        for batch in reader {
            let batch = batch.map_err(|e| Error::arrow("read block rows", e))?;
            let ids = batch.column(0).as_fixed_size_binary().clone();
            let mut start = 0;
            while start < batch.num_rows() {
                let mut end = start + 1;
                while end < batch.num_rows() && ids.value(end) == ids.value(start) {
                    end += 1;
                }
                let id = TraceId(
                    ids.value(start)
                        .try_into()
                        .map_err(|_| Error::BlockFormat {
                            reason: "trace id is not 16 bytes".into(),
                        })?,
                );
                let mut grouper = Grouper::default();
                append_spans(&batch.slice(start, end - start), &mut grouper)?;
                out.push((id, grouper.finish()));
                start = end;
            }
        }
    }
    Ok(out)
}
