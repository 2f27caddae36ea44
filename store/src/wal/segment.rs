//! Segment files: names, creation, fsync, and the table of segments on disk.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use super::frame::segment_header;
use super::metrics::WalMetrics;
use crate::error::{Error, Result};

const SEGMENT_SUFFIX: &str = ".wal";
const SEGMENT_DIGITS: usize = 20;

/// `<dir>/<seq, 20 digits>.wal`: names sort in sequence order.
pub(crate) fn segment_path(dir: &Path, seq: u64) -> PathBuf {
    dir.join(format!("{seq:0SEGMENT_DIGITS$}{SEGMENT_SUFFIX}"))
}

fn parse_segment_name(name: &str) -> Option<u64> {
    let digits = name.strip_suffix(SEGMENT_SUFFIX)?;
    if digits.len() != SEGMENT_DIGITS || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// The segment files in `dir`, in sequence order; other files are ignored.
pub(crate) fn list_segments(dir: &Path) -> Result<Vec<(u64, PathBuf)>> {
    let entries = fs::read_dir(dir)
        .map_err(|e| Error::io(format!("listing wal directory {}", dir.display()), e))?;
    let mut out = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| Error::io("listing wal directory", e))?;
        let name = entry.file_name();
        if let Some(seq) = name.to_str().and_then(parse_segment_name) {
            out.push((seq, entry.path()));
        }
    }
    out.sort_unstable_by_key(|(seq, _)| *seq);
    Ok(out)
}

/// `sync_data`, timed and counted.
pub(crate) fn sync_file(file: &File, metrics: &WalMetrics) -> io::Result<()> {
    let started = Instant::now();
    let result = file.sync_data();
    metrics
        .fsync_duration
        .observe(started.elapsed().as_secs_f64());
    metrics.fsyncs.inc();
    result
}

/// Fsyncs the directory so a created file's name survives a crash.
pub(crate) fn sync_dir(dir: &Path, metrics: &WalMetrics) -> Result<()> {
    let handle = File::open(dir)
        .map_err(|e| Error::io(format!("opening wal directory {}", dir.display()), e))?;
    let started = Instant::now();
    let result = handle.sync_all();
    metrics
        .fsync_duration
        .observe(started.elapsed().as_secs_f64());
    metrics.fsyncs.inc();
    result.map_err(|e| Error::io("fsyncing wal directory", e))
}

/// Creates segment `seq` with its header, durably when `fsync`; returns the file for appends.
pub(crate) fn create_segment(
    dir: &Path,
    seq: u64,
    fsync: bool,
    metrics: &WalMetrics,
) -> Result<File> {
    let path = segment_path(dir, seq);
    let context = || format!("creating wal segment {}", path.display());
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)
        .map_err(|e| Error::io(context(), e))?;
    file.write_all(&segment_header())
        .map_err(|e| Error::io(context(), e))?;
    if fsync {
        sync_file(&file, metrics).map_err(|e| Error::io(context(), e))?;
        sync_dir(dir, metrics)?;
    }
    Ok(file)
}

/// Opens a segment for positioned reads.
pub(crate) fn open_reader(path: &Path) -> Result<Arc<File>> {
    File::open(path)
        .map(Arc::new)
        .map_err(|e| Error::io(format!("opening wal segment {}", path.display()), e))
}

/// One segment file on disk.
#[derive(Debug)]
pub(crate) struct SegmentEntry {
    pub(crate) path: PathBuf,
    /// Bytes written (and, for the active segment, handed to the OS) so far.
    pub(crate) size: u64,
    /// Read handle shared by `Wal::read`.
    pub(crate) reader: Arc<File>,
}

/// The segments on disk and which one takes appends.
#[derive(Debug, Default)]
pub(crate) struct Segments {
    pub(crate) map: BTreeMap<u64, SegmentEntry>,
    pub(crate) active: u64,
}

impl Segments {
    pub(crate) fn total_bytes(&self) -> u64 {
        self.map.values().map(|s| s.size).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_sort() {
        let dir = Path::new("/x");
        let path = segment_path(dir, 42);
        assert_eq!(path, Path::new("/x/00000000000000000042.wal"));
        let name = path.file_name().unwrap().to_str().unwrap();
        assert_eq!(parse_segment_name(name), Some(42));
        assert_eq!(
            parse_segment_name(&format!("{:020}.wal", u64::MAX)),
            Some(u64::MAX)
        );
        for bad in [
            "42.wal",
            "0000000000000000004a.wal",
            "00000000000000000042",
            "LOCK",
        ] {
            assert_eq!(parse_segment_name(bad), None, "{bad}");
        }
    }
}
