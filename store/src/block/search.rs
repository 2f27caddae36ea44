//! `search_block`: a [`FetchRequest`] over one block, as a pre-filter.
//!
//! 1. The block's time range (from the catalog) against the request's: no overlap, no reads.
//! 2. The footer (cached): row groups whose statistics rule out the time range or an
//!    AND-condition (every condition, for OR) are skipped.
//! 3. Pass one fetches only the column chunks the conditions need, of the remaining row groups,
//!    and finds the rows that pass.
//! 4. Pass two fetches the other column chunks of only the row groups holding a passing row,
//!    and decodes only the rows of the traces those rows belong to. With
//!    [`TraceSelect::Projected`] it fetches and decodes only the columns of the parts asked for.

use std::collections::{BTreeSet, HashSet};
use std::ops::Range;

use arrow_array::cast::AsArray;
use bytes::Bytes;
use object_store::ObjectStore;
use object_store::path::Path;
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::{
    ArrowReaderMetadata, ParquetRecordBatchReaderBuilder, RowSelection, RowSelector,
};
use sextant_model::otlp::TracesData;
use sextant_model::{
    AttributeRef, AttributeScope, BlockMeta, FetchRequest, Intrinsic, Static, TraceId,
};

use super::DATA_FILE;
use super::decode::{Grouper, append_spans};
use super::filter::{Plan, ValueSet, attribute_values};
use super::projection::Projection;
use super::reader::{BlockCaches, Sparse, cached_footer};
use super::schema;
use crate::error::{Error, Result};

/// Which of the traces passing the pre-filter pass two reads and returns. A search that needs
/// only the newest matches asks for those, so broad queries do not decode whole blocks; the
/// traces left out are listed in [`BlockSearchResult::skipped`] with their start times, for a
/// later call with [`TraceSelect::Only`] if the caller needs them after all.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum TraceSelect {
    /// Every passing trace.
    #[default]
    All,
    /// Every passing trace, like [`TraceSelect::All`], with only the parts of each span the
    /// projection names (the rest empty), so pass two neither fetches nor decodes the others.
    Projected(Projection),
    /// The `keep` latest-starting passing traces that start at or after `floor` (ties by trace
    /// ID ascending), plus every passing trace in `also`.
    Newest {
        keep: usize,
        floor: u64,
        also: HashSet<TraceId>,
    },
    /// Only these traces (when they pass).
    Only(HashSet<TraceId>),
    /// No traces: the distinct values of this field on the passing spans, in
    /// [`BlockSearchResult::values`] (tag values without decoding whole traces). Span and
    /// resource attributes, span and service names; other fields give none.
    Values(AttributeRef),
}

/// What [`search_block`] found in one block.
#[derive(Debug, Default)]
pub struct BlockSearchResult {
    /// Every span of each trace holding a span that passed the pre-filter, in trace-ID order.
    pub traces: Vec<(TraceId, TracesData)>,
    /// The trace and span ID of every span that passed the pre-filter.
    pub matched_spans: Vec<(TraceId, Vec<u8>)>,
    /// Uncompressed bytes of the column chunks decoded.
    pub inspected_bytes: u64,
    /// OTLP protobuf bytes of the spans examined: every span of each row group whose condition
    /// columns were read (Tempo's `inspectedBytes`). Blocks that predate the footer entry
    /// count the uncompressed column bytes instead.
    pub examined_otlp_bytes: u64,
    /// Bytes fetched from the object store (the footer only on a cache miss).
    pub fetched_bytes: u64,
    /// Row groups whose conditions' columns were read (pass one).
    pub row_groups_read: usize,
    /// Row groups the statistics ruled out.
    pub row_groups_skipped: usize,
    /// Row groups read whole for the traces they return (pass two).
    pub row_groups_fetched: usize,
    /// Passing traces that [`TraceSelect`] left out, with their start times (unix ns).
    pub skipped: Vec<(TraceId, u64)>,
    /// With [`TraceSelect::Values`]: the field's distinct values, first seen first.
    pub values: Vec<Static>,
}

/// Whether a block can hold spans of `request` at all, from its catalog entry alone.
pub fn block_overlaps(meta: &BlockMeta, request: &FetchRequest) -> bool {
    meta.range.overlaps(&request.range)
}

/// Runs `request` over the block in `prefix` (its folder) as a pre-filter: every span that
/// matches is in a returned trace, perhaps with some that do not (see `sextant_model::fetch`).
pub async fn search_block(
    store: &dyn ObjectStore,
    prefix: &Path,
    meta: &BlockMeta,
    request: &FetchRequest,
    caches: &BlockCaches,
) -> Result<BlockSearchResult> {
    search_block_select(store, prefix, meta, request, caches, &TraceSelect::All).await
}

/// [`search_block`] returning only the passing traces `select` chooses.
pub async fn search_block_select(
    store: &dyn ObjectStore,
    prefix: &Path,
    meta: &BlockMeta,
    request: &FetchRequest,
    caches: &BlockCaches,
    select: &TraceSelect,
) -> Result<BlockSearchResult> {
    let mut plan = Plan::new(request)?;
    let mut result = BlockSearchResult::default();
    if !block_overlaps(meta, request) {
        return Ok(result);
    }
    if request.range.start <= meta.range.start && meta.range.end <= request.range.end {
        plan.block_within_range();
    }
    let data_path = prefix.clone().join(DATA_FILE);
    let (footer, fetched) = cached_footer(store, &data_path, caches).await?;
    result.fetched_bytes += fetched;
    let metadata = footer.metadata;
    let parquet = metadata.metadata().clone();
    let descr = parquet.file_metadata().schema_descr_ptr();

    let candidates: Vec<usize> = (0..parquet.num_row_groups())
        .filter(|&rg| plan.row_group_may_match(parquet.row_group(rg)))
        .collect();
    result.row_groups_skipped = parquet.num_row_groups() - candidates.len();
    result.row_groups_read = candidates.len();
    if candidates.is_empty() {
        return Ok(result);
    }

    // Pass one: the conditions' columns of the candidate row groups.
    let arrow_schema = schema::schema();
    let mut columns = plan.columns();
    let values_of = match select {
        TraceSelect::Values(attribute) => Some(attribute.clone()),
        _ => None,
    };
    let with_starts = !matches!(
        select,
        TraceSelect::All | TraceSelect::Projected(_) | TraceSelect::Values(_)
    );
    if with_starts && !columns.contains(&schema::TRACE_START) {
        columns.push(schema::TRACE_START);
    }
    if let Some(attribute) = &values_of {
        for name in value_columns(attribute) {
            if !columns.contains(name) {
                columns.push(name);
            }
        }
    }
    let roots: Vec<usize> = columns
        .iter()
        .filter_map(|name| arrow_schema.index_of(name).ok())
        .collect();
    let leaves: Vec<usize> = (0..descr.num_columns())
        .filter(|&leaf| roots.contains(&descr.get_column_root_idx(leaf)))
        .collect();
    let mut wanted = Vec::new();
    for &rg in &candidates {
        for &leaf in &leaves {
            wanted.push((rg, leaf));
        }
    }
    let mut chunks = fetch(store, &data_path, &metadata, &wanted, &mut result).await?;
    for &(rg, leaf) in &wanted {
        let c = parquet.row_group(rg).column(leaf);
        result.inspected_bytes += c.uncompressed_size().max(0) as u64;
    }
    let otlp = row_group_otlp_bytes(&parquet);
    for &rg in &candidates {
        result.examined_otlp_bytes += match otlp.as_ref().and_then(|v| v.get(rg)) {
            Some(&bytes) => bytes,
            None => parquet.row_group(rg).total_byte_size().max(0) as u64,
        };
    }
    let first_chunks = chunks.clone();
    let (plan_meta, plan_cands) = (metadata.clone(), candidates.clone());
    let mask_roots = roots.clone();
    let (mut matches, values) = tokio::task::spawn_blocking(move || {
        first_pass(
            &plan,
            first_chunks,
            plan_meta,
            &plan_cands,
            &mask_roots,
            values_of.as_ref(),
        )
    })
    .await
    .map_err(|_| Error::Task {
        context: "search row groups",
    })??;
    if matches!(select, TraceSelect::Values(_)) {
        result.values = values.values;
        return Ok(result);
    }
    result.skipped = choose(&mut matches, select);

    // Pass two: the other columns (of the projection, if any) of the row groups with a
    // passing row.
    let hit: Vec<&RowGroupHits> = matches.iter().filter(|m| !m.traces.is_empty()).collect();
    result.row_groups_fetched = hit.len();
    if hit.is_empty() {
        return Ok(result);
    }
    let projection = match select {
        TraceSelect::Projected(projection) => *projection,
        _ => Projection::ALL,
    };
    let decode_roots: Option<Vec<usize>> = projection.columns().map(|names| {
        names
            .iter()
            .filter_map(|name| arrow_schema.index_of(name).ok())
            .collect()
    });
    let decoded: Vec<usize> = (0..descr.num_columns())
        .filter(|&leaf| {
            decode_roots
                .as_ref()
                .is_none_or(|roots| roots.contains(&descr.get_column_root_idx(leaf)))
        })
        .collect();
    let mut wanted = Vec::new();
    for m in &hit {
        for &leaf in decoded.iter().filter(|l| !leaves.contains(l)) {
            wanted.push((m.row_group, leaf));
        }
    }
    chunks.extend(fetch(store, &data_path, &metadata, &wanted, &mut result).await?);
    // Pass two decodes its chunks of those row groups, including any pass one read.
    for m in &hit {
        for &leaf in &decoded {
            let c = parquet.row_group(m.row_group).column(leaf);
            result.inspected_bytes += c.uncompressed_size().max(0) as u64;
        }
    }
    let hits: Vec<RowGroupHits> = matches
        .into_iter()
        .filter(|m| !m.traces.is_empty())
        .collect();
    let (traces, matched) =
        tokio::task::spawn_blocking(move || second_pass(chunks, metadata, hits, decode_roots))
            .await
            .map_err(|_| Error::Task {
                context: "read matching traces",
            })??;
    result.traces = traces;
    result.matched_spans = matched;
    Ok(result)
}

/// The OTLP bytes per row group the writer recorded, if it did (and the list fits the file).
fn row_group_otlp_bytes(parquet: &parquet::file::metadata::ParquetMetaData) -> Option<Vec<u64>> {
    let kvs = parquet.file_metadata().key_value_metadata()?;
    let text = kvs
        .iter()
        .find(|kv| kv.key == super::OTLP_BYTES_KEY)?
        .value
        .as_deref()?;
    let values: Vec<u64> = text
        .split(',')
        .map(str::parse)
        .collect::<std::result::Result<_, _>>()
        .ok()?;
    (values.len() == parquet.num_row_groups()).then_some(values)
}

/// Fetches the column chunks `(row group, leaf)` in one request and counts the bytes fetched.
async fn fetch(
    store: &dyn ObjectStore,
    path: &Path,
    metadata: &ArrowReaderMetadata,
    wanted: &[(usize, usize)],
    result: &mut BlockSearchResult,
) -> Result<Vec<(u64, Bytes)>> {
    let parquet = metadata.metadata();
    let ranges: Vec<Range<u64>> = wanted
        .iter()
        .map(|&(rg, leaf)| {
            let (start, len) = parquet.row_group(rg).column(leaf).byte_range();
            start..start + len
        })
        .collect();
    if ranges.is_empty() {
        return Ok(Vec::new());
    }
    let bytes = store
        .get_ranges(path, &ranges)
        .await
        .map_err(|e| Error::object_store(format!("get column chunks of {path}"), e))?;
    result.fetched_bytes += bytes.iter().map(|b| b.len() as u64).sum::<u64>();
    Ok(ranges.iter().map(|r| r.start).zip(bytes).collect())
}

fn sparse(chunks: Vec<(u64, Bytes)>) -> Sparse {
    let len = chunks
        .iter()
        .map(|(at, b)| at + b.len() as u64)
        .max()
        .unwrap_or(0);
    Sparse { len, chunks }
}

/// The passing rows of one row group, as the row ranges of their traces.
#[derive(Debug)]
struct RowGroupHits {
    row_group: usize,
    /// Row range of each trace holding a passing row, ascending.
    traces: Vec<Range<usize>>,
    /// The ID and start time of each of those traces (start 0 when not read).
    ids: Vec<(TraceId, u64)>,
    /// Passing rows, ascending.
    rows: BTreeSet<usize>,
}

/// Keeps in `hits` only the traces `select` wants; the passing traces left out, once each.
fn choose(hits: &mut [RowGroupHits], select: &TraceSelect) -> Vec<(TraceId, u64)> {
    let wanted: HashSet<TraceId> = match select {
        TraceSelect::All | TraceSelect::Projected(_) | TraceSelect::Values(_) => {
            return Vec::new();
        }
        TraceSelect::Only(ids) => ids.clone(),
        TraceSelect::Newest { keep, floor, also } => {
            let mut all: Vec<(TraceId, u64)> = hits.iter().flat_map(|h| h.ids.clone()).collect();
            // A trace split over two row groups: its earliest start counts.
            all.sort_by(|a, b| a.0.0.cmp(&b.0.0).then(a.1.cmp(&b.1)));
            all.dedup_by(|a, b| a.0 == b.0);
            all.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.0.cmp(&b.0.0)));
            let mut wanted: HashSet<TraceId> = all
                .iter()
                .filter(|(_, start)| start >= floor)
                .take(*keep)
                .map(|(id, _)| *id)
                .collect();
            wanted.extend(all.iter().map(|(id, _)| *id).filter(|id| also.contains(id)));
            wanted
        }
    };
    let mut skipped: Vec<(TraceId, u64)> = Vec::new();
    for hit in hits.iter_mut() {
        let mut traces = Vec::new();
        let mut ids = Vec::new();
        let mut rows = BTreeSet::new();
        for (range, (id, start)) in hit.traces.iter().zip(&hit.ids) {
            if wanted.contains(id) {
                rows.extend(hit.rows.range(range.clone()).copied());
                traces.push(range.clone());
                ids.push((*id, *start));
            } else {
                skipped.push((*id, *start));
            }
        }
        (hit.traces, hit.ids, hit.rows) = (traces, ids, rows);
    }
    skipped.sort_by(|a, b| a.0.0.cmp(&b.0.0).then(a.1.cmp(&b.1)));
    skipped.dedup_by(|a, b| a.0 == b.0);
    skipped
}

/// The columns [`attribute_values`] reads for `attribute`.
fn value_columns(attribute: &AttributeRef) -> &'static [&'static str] {
    match attribute {
        AttributeRef::Intrinsic(Intrinsic::Name) => &[schema::NAME],
        AttributeRef::Intrinsic(Intrinsic::ServiceName) => &[schema::SERVICE_NAME],
        AttributeRef::Intrinsic(_) => &[],
        AttributeRef::Attribute { scope, .. } => match scope {
            AttributeScope::Span => &[schema::ATTRIBUTES],
            AttributeScope::Resource => &[schema::RESOURCE],
            AttributeScope::Any => &[schema::ATTRIBUTES, schema::RESOURCE],
        },
    }
}

fn first_pass(
    plan: &Plan,
    chunks: Vec<(u64, Bytes)>,
    metadata: ArrowReaderMetadata,
    candidates: &[usize],
    roots: &[usize],
    values_of: Option<&AttributeRef>,
) -> Result<(Vec<RowGroupHits>, ValueSet)> {
    let mut values = ValueSet::default();
    let data = sparse(chunks);
    let descr = metadata.metadata().file_metadata().schema_descr_ptr();
    let mut out = Vec::with_capacity(candidates.len());
    for &rg in candidates {
        let rows = metadata.metadata().row_group(rg).num_rows().max(1) as usize;
        let reader =
            ParquetRecordBatchReaderBuilder::new_with_metadata(data.clone(), metadata.clone())
                .with_row_groups(vec![rg])
                .with_projection(ProjectionMask::roots(&descr, roots.iter().copied()))
                .with_batch_size(rows)
                .build()
                .map_err(|e| Error::parquet("read search columns", e))?;
        let mut hits = RowGroupHits {
            row_group: rg,
            traces: Vec::new(),
            ids: Vec::new(),
            rows: BTreeSet::new(),
        };
        let mut offset = 0usize;
        for batch in reader {
            let batch = batch.map_err(|e| Error::arrow("read search columns", e))?;
            let pass = plan.evaluate(&batch)?;
            if let Some(attribute) = values_of {
                attribute_values(&batch, attribute, &pass, &mut values)?;
                offset += batch.num_rows();
                continue;
            }
            let ids = batch
                .column_by_name(schema::TRACE_ID)
                .ok_or(Error::BlockFormat {
                    reason: "missing trace_id".into(),
                })?
                .as_fixed_size_binary();
            let starts = batch
                .column_by_name(schema::TRACE_START)
                .map(|c| c.as_primitive::<arrow_array::types::UInt64Type>().clone());
            let n = batch.num_rows();
            let mut start = 0;
            while start < n {
                let mut end = start + 1;
                while end < n && ids.value(end) == ids.value(start) {
                    end += 1;
                }
                let passing: Vec<usize> = (start..end).filter(|&r| pass[r]).collect();
                if !passing.is_empty() {
                    let id =
                        TraceId(
                            ids.value(start)
                                .try_into()
                                .map_err(|_| Error::BlockFormat {
                                    reason: "trace id is not 16 bytes".into(),
                                })?,
                        );
                    let trace_start = starts.as_ref().map_or(0, |s| s.value(start));
                    hits.ids.push((id, trace_start));
                    hits.traces.push(offset + start..offset + end);
                    hits.rows.extend(passing.into_iter().map(|r| offset + r));
                }
                start = end;
            }
            offset += n;
        }
        out.push(hits);
    }
    Ok((out, values))
}

type Found = (Vec<(TraceId, TracesData)>, Vec<(TraceId, Vec<u8>)>);

/// Decodes the traces of `hits`: every column, or only the root columns `roots`.
fn second_pass(
    chunks: Vec<(u64, Bytes)>,
    metadata: ArrowReaderMetadata,
    hits: Vec<RowGroupHits>,
    roots: Option<Vec<usize>>,
) -> Result<Found> {
    let data = sparse(chunks);
    let descr = metadata.metadata().file_metadata().schema_descr_ptr();
    let mask = match roots {
        Some(roots) => ProjectionMask::roots(&descr, roots),
        None => ProjectionMask::all(),
    };
    let mut traces = Vec::new();
    let mut matched = Vec::new();
    for hit in hits {
        let mut selectors = Vec::new();
        let mut at = 0;
        let mut selected = 0;
        for t in &hit.traces {
            if t.start > at {
                selectors.push(RowSelector::skip(t.start - at));
            }
            selectors.push(RowSelector::select(t.len()));
            selected += t.len();
            at = t.end;
        }
        let reader =
            ParquetRecordBatchReaderBuilder::new_with_metadata(data.clone(), metadata.clone())
                .with_row_groups(vec![hit.row_group])
                .with_row_selection(RowSelection::from(selectors))
                .with_projection(mask.clone())
                .with_batch_size(selected.max(1))
                .build()
                .map_err(|e| Error::parquet("read matching traces", e))?;
        let mut batches = Vec::new();
        for batch in reader {
            batches.push(batch.map_err(|e| Error::arrow("read matching traces", e))?);
        }
        // The batch size covers the selection: one batch, so traces are whole in it.
        if batches.len() != 1 {
            return Err(Error::BlockFormat {
                reason: format!("expected one batch per row group, got {}", batches.len()),
            });
        }
        let batch = batches.remove(0);
        let ids = batch
            .column_by_name(schema::TRACE_ID)
            .ok_or(Error::BlockFormat {
                reason: "missing trace_id".into(),
            })?
            .as_fixed_size_binary()
            .clone();
        let span_ids = batch
            .column_by_name(schema::SPAN_ID)
            .ok_or(Error::BlockFormat {
                reason: "missing span_id".into(),
            })?
            .as_binary::<i32>()
            .clone();
        let mut out_row = 0;
        for t in &hit.traces {
            let len = t.len();
            let id = TraceId(
                ids.value(out_row)
                    .try_into()
                    .map_err(|_| Error::BlockFormat {
                        reason: "trace id is not 16 bytes".into(),
                    })?,
            );
            let mut grouper = Grouper::default();
            append_spans(&batch.slice(out_row, len), &mut grouper)?;
            for row in t.clone() {
                if hit.rows.contains(&row) {
                    matched.push((id, span_ids.value(out_row + row - t.start).to_vec()));
                }
            }
            traces.push((id, grouper.finish()));
            out_row += len;
        }
    }
    Ok((traces, matched))
}
