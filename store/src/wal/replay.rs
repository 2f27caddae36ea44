//! Replay at start: every segment in order, torn tail repair, corruption accounting.

use std::collections::BTreeMap;
use std::fs::{self, OpenOptions};
use std::path::{Path, PathBuf};

use bytes::Bytes;

use super::frame::{HeaderState, scan_segment};
use super::metrics::WalMetrics;
use super::segment::{SegmentEntry, list_segments, open_reader};
use super::{ReplayStats, WalPosition};
use crate::error::{Error, Result};

/// What replay leaves behind for `Wal::open`.
pub(crate) struct Replayed {
    pub(crate) stats: ReplayStats,
    /// Segments that hold records (or damage worth keeping), with their sizes after repair.
    pub(crate) segments: BTreeMap<u64, SegmentEntry>,
    /// Segments that hold nothing: deleted once the new segment exists, so the highest
    /// sequence number ever used stays on disk.
    pub(crate) empty: Vec<PathBuf>,
    /// The sequence number of the segment to create for appends.
    pub(crate) next_seq: u64,
}

pub(crate) fn replay(
    dir: &Path,
    metrics: &WalMetrics,
    on_record: &mut dyn FnMut(WalPosition, Bytes),
) -> Result<Replayed> {
    let listing = list_segments(dir)?;
    let mut out = Replayed {
        stats: ReplayStats::default(),
        segments: BTreeMap::new(),
        empty: Vec::new(),
        next_seq: listing.last().map_or(1, |(seq, _)| seq.saturating_add(1)),
    };
    let last_seq = listing.last().map(|(seq, _)| *seq);
    for (seq, path) in listing {
        replay_segment(
            seq,
            path,
            Some(seq) == last_seq,
            metrics,
            on_record,
            &mut out,
        )?;
    }
    let stats = &out.stats;
    tracing::info!(
        segments = stats.segments,
        records = stats.records,
        bytes = stats.bytes,
        corrupt_regions = stats.corrupt_regions,
        corrupt_bytes_skipped = stats.corrupt_bytes_skipped,
        torn_tail_bytes_truncated = stats.torn_tail_bytes_truncated,
        "replayed the write-ahead log"
    );
    Ok(out)
}

fn replay_segment(
    seq: u64,
    path: PathBuf,
    is_last: bool,
    metrics: &WalMetrics,
    on_record: &mut dyn FnMut(WalPosition, Bytes),
    out: &mut Replayed,
) -> Result<()> {
    let bytes = fs::read(&path).map_err(|e| Error::io(format!("reading wal segment {seq}"), e))?;
    let scan = scan_segment(&bytes);
    out.stats.segments += 1;
    if let HeaderState::UnsupportedVersion(version) = scan.header {
        return Err(Error::UnsupportedVersion {
            segment: seq,
            version,
        });
    }

    for record in &scan.records {
        let payload = &bytes[record.payload.clone()];
        out.stats.records += 1;
        out.stats.bytes += payload.len() as u64;
        on_record(
            WalPosition {
                segment: seq,
                offset: record.offset as u64,
            },
            Bytes::copy_from_slice(payload),
        );
    }
    metrics.replay_records.inc_by(scan.records.len() as u64);

    let mut corrupt = scan.corrupt.clone();
    let tail = scan.tail();
    let mut size = bytes.len() as u64;
    if !tail.is_empty() {
        if is_last {
            let torn = tail.len() as u64;
            tracing::warn!(
                segment = seq,
                offset = tail.start,
                bytes = torn,
                "truncating a torn write-ahead log tail"
            );
            out.stats.torn_tail_bytes_truncated += torn;
            metrics.replay_torn_tail_bytes.inc_by(torn);
            size = tail.start as u64;
        } else {
            corrupt.push(tail);
        }
    }
    for region in &corrupt {
        tracing::warn!(
            segment = seq,
            offset = region.start,
            bytes = region.len(),
            "skipped a corrupt write-ahead log region"
        );
        out.stats.corrupt_regions += 1;
        out.stats.corrupt_bytes_skipped += region.len() as u64;
        metrics.replay_corrupt_bytes.inc_by(region.len() as u64);
    }

    // Nothing but (at most) a header left: the segment holds nothing worth keeping.
    if scan.records.is_empty() && corrupt.is_empty() && size == scan.valid_end as u64 {
        out.empty.push(path);
        return Ok(());
    }
    if size < bytes.len() as u64 {
        truncate(&path, size)?;
    }
    let reader = open_reader(&path)?;
    out.segments
        .insert(seq, SegmentEntry { path, size, reader });
    Ok(())
}

fn truncate(path: &Path, len: u64) -> Result<()> {
    let context = || format!("truncating wal segment {}", path.display());
    let file = OpenOptions::new()
        .write(true)
        .open(path)
        .map_err(|e| Error::io(context(), e))?;
    file.set_len(len).map_err(|e| Error::io(context(), e))?;
    file.sync_all().map_err(|e| Error::io(context(), e))
}
