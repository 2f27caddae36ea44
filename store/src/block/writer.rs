//! `write_block`: traces to `data.parquet`, `bloom.bin`, then `meta.json` last.

use std::time::Duration;

use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, Encoding, ZstdLevel};
use parquet::file::metadata::KeyValue;
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::schema::types::ColumnPath;
use serde::{Deserialize, Serialize};
use sextant_model::otlp::TracesData;
use sextant_model::{BlockMeta, BlockState, TenantId, TimeRange, TraceId};

use super::bloom::TraceBloom;
use super::encode::Rows;
use super::{
    BLOOM_FILE, DATA_FILE, FORMAT_VERSION, FORMAT_VERSION_KEY, META_FILE, OTLP_BYTES_KEY, schema,
};
use crate::error::{Error, Result};

/// How blocks are written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BlockOptions {
    /// Target spans per row group; a row group always holds whole traces, so it may run over
    /// by one trace. A trace-by-ID lookup reads one row group, so smaller means cheaper lookups
    /// and a larger footer.
    pub row_group_spans: usize,
    /// zstd level of every column.
    pub zstd_level: i32,
    /// False-positive rate of the trace-ID bloom filter.
    pub bloom_false_positive: f64,
}

impl Default for BlockOptions {
    fn default() -> Self {
        Self {
            row_group_spans: 20_000,
            zstd_level: 9,
            bloom_false_positive: 0.01,
        }
    }
}

/// One row group as `meta.json` records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RowGroupInfo {
    pub spans: u64,
    /// Hex trace IDs of the first and last rows (rows are sorted by trace ID).
    pub first_trace_id: String,
    pub last_trace_id: String,
    /// Compressed bytes of the row group's column chunks.
    pub bytes: u64,
    /// OTLP protobuf bytes of its spans (0 in blocks written before this was recorded).
    #[serde(default)]
    pub otlp_bytes: u64,
}

/// The content of `meta.json`, written after every other object of the block.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockInfo {
    pub format_version: u32,
    pub block_id: String,
    pub tenant: String,
    /// Earliest span start and latest span end, unix nanoseconds.
    pub start_unix_nano: u64,
    pub end_unix_nano: u64,
    pub span_count: u64,
    pub trace_count: u64,
    pub data_bytes: u64,
    pub bloom_bytes: u64,
    pub meta_bytes: u64,
    pub row_groups: Vec<RowGroupInfo>,
    /// For a compaction's output, the IDs of the blocks it replaces (empty for a flush). Lets
    /// `sextant store repair` recognise an output left unregistered by a crash while its
    /// inputs are still live, and delete it rather than register the same spans twice.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub compacted_from: Vec<String>,
}

impl BlockInfo {
    /// Bytes of every object of the block.
    pub fn total_bytes(&self) -> u64 {
        self.data_bytes + self.bloom_bytes + self.meta_bytes
    }

    /// The catalog's view of this block (a fresh, live, level-0 block).
    pub fn to_block_meta(&self) -> Result<BlockMeta> {
        let tenant = TenantId::new(&self.tenant).map_err(|e| Error::BlockFormat {
            reason: format!("bad tenant in meta.json: {e}"),
        })?;
        Ok(BlockMeta {
            tenant,
            block_id: self.block_id.clone(),
            range: TimeRange::new(self.start_unix_nano, self.end_unix_nano),
            size_bytes: self.total_bytes(),
            span_count: self.span_count,
            trace_count: self.trace_count,
            compaction_level: 0,
            format_version: self.format_version,
            state: BlockState::Live,
        })
    }

    /// Parses `meta.json`, refusing other format versions.
    pub fn from_json(bytes: &[u8]) -> Result<Self> {
        #[derive(Deserialize)]
        struct Version {
            format_version: u32,
        }
        let version: Version = serde_json::from_slice(bytes).map_err(|e| Error::BlockFormat {
            reason: format!("bad meta.json: {e}"),
        })?;
        if version.format_version != FORMAT_VERSION {
            return Err(Error::UnsupportedBlockVersion {
                what: "meta.json",
                version: version.format_version,
            });
        }
        serde_json::from_slice(bytes).map_err(|e| Error::BlockFormat {
            reason: format!("bad meta.json: {e}"),
        })
    }
}

/// The three objects of a block, built in memory.
#[derive(Debug)]
pub(crate) struct EncodedBlock {
    pub(crate) data: Vec<u8>,
    pub(crate) bloom: Vec<u8>,
    pub(crate) info: BlockInfo,
}

/// Writes one block under `prefix` (the block's folder, e.g. `<tenant>/blocks/<block-id>`):
/// `data.parquet`, `bloom.bin`, then `meta.json`. The same input gives byte-identical objects,
/// so a re-flush of the same traces overwrites the block instead of adding another.
pub async fn write_block(
    store: &dyn ObjectStore,
    prefix: &Path,
    block_id: &str,
    tenant: &TenantId,
    traces: Vec<(TraceId, TracesData)>,
    options: &BlockOptions,
) -> Result<BlockInfo> {
    write_block_from(store, prefix, block_id, tenant, traces, options, Vec::new()).await
}

/// [`write_block`] for a compaction's output: `meta.json` names the blocks it replaces.
pub async fn write_block_from(
    store: &dyn ObjectStore,
    prefix: &Path,
    block_id: &str,
    tenant: &TenantId,
    traces: Vec<(TraceId, TracesData)>,
    options: &BlockOptions,
    compacted_from: Vec<String>,
) -> Result<BlockInfo> {
    let started = std::time::Instant::now();
    let (block_id_owned, tenant_owned, options_owned) = (
        block_id.to_owned(),
        tenant.as_str().to_owned(),
        options.clone(),
    );
    let encoded = tokio::task::spawn_blocking(move || {
        encode_block(&block_id_owned, &tenant_owned, traces, &options_owned)
    })
    .await
    .map_err(|_| Error::Task {
        context: "encode block",
    })??;
    let encode_time = started.elapsed();
    let EncodedBlock {
        data,
        bloom,
        mut info,
    } = encoded;
    info.compacted_from = compacted_from;
    put(store, &prefix.clone().join(DATA_FILE), data).await?;
    put(store, &prefix.clone().join(BLOOM_FILE), bloom).await?;
    let meta = meta_json(&mut info)?;
    put(store, &prefix.clone().join(META_FILE), meta).await?;
    tracing::debug!(
        block_id,
        tenant = tenant.as_str(),
        spans = info.span_count,
        bytes = info.total_bytes(),
        encode_ms = duration_ms(encode_time),
        total_ms = duration_ms(started.elapsed()),
        "block written"
    );
    Ok(info)
}

fn duration_ms(d: Duration) -> u64 {
    d.as_millis() as u64
}

async fn put(store: &dyn ObjectStore, path: &Path, bytes: Vec<u8>) -> Result<()> {
    store
        .put(path, PutPayload::from(bytes))
        .await
        .map(|_| ())
        .map_err(|e| Error::object_store(format!("put {path}"), e))
}

/// `meta.json` bytes; `meta_bytes` is the length of the document itself.
fn meta_json(info: &mut BlockInfo) -> Result<Vec<u8>> {
    let encode = |info: &BlockInfo| {
        serde_json::to_vec_pretty(info).map_err(|e| Error::BlockFormat {
            reason: format!("encode meta.json: {e}"),
        })
    };
    // The length field changes the length; two rounds settle it (a digit more at most).
    for _ in 0..3 {
        let bytes = encode(info)?;
        if bytes.len() as u64 == info.meta_bytes {
            return Ok(bytes);
        }
        info.meta_bytes = bytes.len() as u64;
    }
    encode(info)
}

/// The CPU part of writing a block: sort, encode Parquet and the bloom filter.
pub(crate) fn encode_block(
    block_id: &str,
    tenant: &str,
    traces: Vec<(TraceId, TracesData)>,
    options: &BlockOptions,
) -> Result<EncodedBlock> {
    let rows = Rows::new(traces);
    let groups = rows.row_groups(options.row_group_spans.max(1));
    let largest = groups.iter().map(|g| g.len()).max().unwrap_or(1);
    // OTLP protobuf bytes of each row group's spans, so a search can report the uncompressed
    // OTLP size of what it examined (Tempo's `inspectedBytes`) without decoding the spans.
    let otlp_bytes: Vec<u64> = groups
        .iter()
        .map(|g| {
            rows.rows[g.clone()]
                .iter()
                .map(|r| {
                    let len = prost::Message::encoded_len(&r.span);
                    (len + prost::length_delimiter_len(len) + 1) as u64
                })
                .sum()
        })
        .collect();
    let props = writer_properties(options, largest, &otlp_bytes);
    let mut data = Vec::new();
    let mut writer = ArrowWriter::try_new(&mut data, schema::schema(), Some(props))
        .map_err(|e| Error::parquet("start parquet writer", e))?;
    let mut bloom = TraceBloom::with_capacity(0, options.bloom_false_positive);
    let mut trace_count = 0u64;
    let mut row_groups = Vec::with_capacity(groups.len());
    for group in &groups {
        let batch = rows.batch(group.clone())?;
        writer
            .write(&batch)
            .map_err(|e| Error::parquet("write record batch", e))?;
        writer
            .flush()
            .map_err(|e| Error::parquet("flush row group", e))?;
        let slice = &rows.rows[group.clone()];
        row_groups.push(RowGroupInfo {
            spans: slice.len() as u64,
            first_trace_id: slice[0].trace_id.to_hex(),
            last_trace_id: slice[slice.len() - 1].trace_id.to_hex(),
            bytes: 0,
            otlp_bytes: otlp_bytes.get(row_groups.len()).copied().unwrap_or(0),
        });
    }
    let mut ids: Vec<TraceId> = rows.rows.iter().map(|r| r.trace_id).collect();
    ids.dedup();
    if !ids.is_empty() {
        bloom = TraceBloom::with_capacity(ids.len(), options.bloom_false_positive);
        for id in &ids {
            bloom.insert(id);
            trace_count += 1;
        }
    }
    let metadata = writer
        .close()
        .map_err(|e| Error::parquet("finish parquet file", e))?;
    for (info, rg) in row_groups.iter_mut().zip(metadata.row_groups()) {
        info.bytes = rg.compressed_size() as u64;
    }
    let start = rows
        .rows
        .iter()
        .map(|r| r.span.start_time_unix_nano)
        .min()
        .unwrap_or(0);
    let end = rows
        .rows
        .iter()
        .map(|r| r.span.end_time_unix_nano)
        .max()
        .unwrap_or(0);
    let bloom = bloom.encode();
    let info = BlockInfo {
        format_version: FORMAT_VERSION,
        block_id: block_id.to_owned(),
        tenant: tenant.to_owned(),
        start_unix_nano: start,
        end_unix_nano: end.max(start),
        span_count: rows.rows.len() as u64,
        trace_count,
        data_bytes: data.len() as u64,
        bloom_bytes: bloom.len() as u64,
        meta_bytes: 0,
        row_groups,
        compacted_from: Vec::new(),
    };
    Ok(EncodedBlock { data, bloom, info })
}

fn writer_properties(
    options: &BlockOptions,
    largest_group: usize,
    otlp_bytes: &[u64],
) -> WriterProperties {
    let level = ZstdLevel::try_new(options.zstd_level).unwrap_or_default();
    let mut builder = WriterProperties::builder()
        .set_compression(Compression::ZSTD(level))
        .set_max_row_group_row_count(Some(largest_group.max(1)))
        .set_max_row_group_bytes(None)
        .set_created_by(format!("sextant block format {FORMAT_VERSION}"))
        .set_key_value_metadata(Some(vec![
            KeyValue::new(FORMAT_VERSION_KEY.to_owned(), FORMAT_VERSION.to_string()),
            KeyValue::new(
                OTLP_BYTES_KEY.to_owned(),
                otlp_bytes
                    .iter()
                    .map(u64::to_string)
                    .collect::<Vec<_>>()
                    .join(","),
            ),
        ]))
        .set_statistics_enabled(EnabledStatistics::Chunk)
        .set_dictionary_page_size_limit(4 << 20);
    // Columns whose values are (nearly) unique per span: dictionaries only cost there.
    for column in [schema::SPAN_ID, schema::PARENT_SPAN_ID] {
        builder = builder
            .set_column_dictionary_enabled(ColumnPath::from(column), false)
            .set_column_statistics_enabled(ColumnPath::from(column), EnabledStatistics::None);
    }
    // Attribute values mix keys: a dictionary over all of them needs wide indices for every
    // value because of a few unique ones (request IDs, paths); zstd over plain values is smaller.
    for column in ["attributes.list.item.str", "attributes.list.item.int"] {
        builder = builder.set_column_dictionary_enabled(
            ColumnPath::from(column.split('.').map(str::to_owned).collect::<Vec<_>>()),
            false,
        );
    }
    for column in [schema::START_OFFSET, schema::DURATION] {
        builder = builder
            .set_column_dictionary_enabled(ColumnPath::from(column), false)
            .set_column_encoding(ColumnPath::from(column), Encoding::DELTA_BINARY_PACKED);
    }
    for column in [
        schema::EVENTS,
        schema::LINKS,
        schema::RESOURCE,
        schema::SCOPE,
    ] {
        builder = builder
            .set_column_statistics_enabled(ColumnPath::from(column), EnabledStatistics::None);
    }
    builder.build()
}
