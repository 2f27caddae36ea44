//! The write-ahead log: one per process, the durability promise of ingest (DESIGN §3).
//!
//! Records are framed with length + CRC32C (`frame.rs` documents the bytes) in
//! numbered segment files under one directory. `append` answers only once its record is written
//! and fsynced, by a writer thread that commits everything queued with one write and one fsync.
//! `open` replays every segment: a torn tail at the end of the last segment is truncated, damage
//! anywhere else is skipped by resynchronising on the next valid frame, counted and logged; a bad
//! WAL never crashes the process. Appends always go to a new segment, so segment numbers (and
//! hence [`WalPosition`]s, from which block IDs are derived) never repeat: the segment with the
//! highest number ever used is never deleted (it is, or was, the one being written).

mod config;
mod frame;
mod metrics;
mod replay;
mod segment;
mod writer;

#[cfg(test)]
mod scan_tests;
#[cfg(test)]
mod tests;

use std::fs::{self, File};
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, mpsc};
use std::thread::JoinHandle;

use bytes::Bytes;
use parking_lot::Mutex;
use tokio::sync::oneshot;

pub use config::WalConfig;
pub use frame::{
    FRAME_HEADER_LEN, FRAME_MAGIC, HeaderState, MAX_RECORD_BYTES, SEGMENT_HEADER_LEN,
    SEGMENT_MAGIC, SEGMENT_VERSION, ScanResult, ScannedRecord, scan_segment,
};
pub use metrics::WalMetrics;

use crate::error::{Error, Result};
use frame::{parse_frame_header, payload_matches};
use segment::{SegmentEntry, Segments, create_segment, open_reader, segment_path};
use writer::{Request, Writer};

/// Where a record's frame starts. Orders by append order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct WalPosition {
    pub segment: u64,
    pub offset: u64,
}

/// What `Wal::open` found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReplayStats {
    /// Segment files scanned.
    pub segments: u64,
    /// Intact records handed to `on_record`.
    pub records: u64,
    /// Payload bytes of those records.
    pub bytes: u64,
    /// Damaged regions skipped (each followed by a valid record, or the end of a segment that
    /// is not the last).
    pub corrupt_regions: u64,
    pub corrupt_bytes_skipped: u64,
    /// Bytes cut from the end of the last segment (a write the crash interrupted).
    pub torn_tail_bytes_truncated: u64,
}

/// State shared by the `Wal` handle and its writer thread.
pub(crate) struct Shared {
    config: WalConfig,
    metrics: WalMetrics,
    segments: Mutex<Segments>,
    disk_bytes: AtomicU64,
    /// Why the writer stopped accepting appends, after a failed write or fsync.
    failed: OnceLock<String>,
    /// Held by a test to stop the writer after it took its first request.
    #[cfg(test)]
    test_gate: Mutex<()>,
    /// Append requests handed to the writer so far.
    #[cfg(test)]
    test_queued: AtomicU64,
}

impl Shared {
    /// The writer wrote `written` more bytes into segment `seq`, now `size` long.
    fn grew(&self, seq: u64, size: u64, written: u64) {
        // Under the lock, so `release_before` sees sizes and the total agree.
        let mut segments = self.segments.lock();
        if let Some(entry) = segments.map.get_mut(&seq) {
            entry.size = size;
        }
        let total = self.disk_bytes.fetch_add(written, Ordering::SeqCst) + written;
        self.metrics.bytes.set(total as i64);
    }
}

/// The write-ahead log. `Send + Sync`; share it as `Arc<Wal>`.
pub struct Wal {
    shared: Arc<Shared>,
    requests: mpsc::Sender<Request>,
    closed: AtomicBool,
    writer: Mutex<Option<JoinHandle<()>>>,
    /// Advisory lock on `<dir>/LOCK`: one writer per directory.
    _lock: File,
}

impl std::fmt::Debug for Wal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Wal")
            .field("dir", &self.shared.config.dir)
            .field("disk_bytes", &self.disk_bytes())
            .field("closed", &self.closed.load(Ordering::SeqCst))
            .finish_non_exhaustive()
    }
}

impl Wal {
    /// Creates the dir if needed, replays every segment in order calling `on_record` for each
    /// intact record (in append order), repairs a torn tail, and opens a new segment for
    /// appends. On an error, records already handed to `on_record` should be discarded.
    pub fn open(
        config: WalConfig,
        metrics: WalMetrics,
        mut on_record: impl FnMut(WalPosition, Bytes),
    ) -> Result<(Wal, ReplayStats)> {
        let problems = config.validate();
        if !problems.is_empty() {
            return Err(Error::Config { problems });
        }
        let dir = config.dir.clone();
        fs::create_dir_all(&dir)
            .map_err(|e| Error::io(format!("creating wal directory {}", dir.display()), e))?;
        let lock = lock_dir(&dir)?;

        let replayed = replay::replay(&dir, &metrics, &mut on_record)?;
        let active = replayed.next_seq;
        let file = create_segment(&dir, active, config.fsync, &metrics)?;
        let path = segment_path(&dir, active);
        let mut segments = Segments {
            map: replayed.segments,
            active,
        };
        segments.map.insert(
            active,
            SegmentEntry {
                reader: open_reader(&path)?,
                path,
                size: SEGMENT_HEADER_LEN as u64,
            },
        );
        for path in &replayed.empty {
            if let Err(error) = fs::remove_file(path) {
                tracing::warn!(%error, path = %path.display(), "could not delete an empty wal segment");
            }
        }

        let disk_bytes = segments.total_bytes();
        metrics.bytes.set(disk_bytes as i64);
        metrics.segments.set(segments.map.len() as i64);
        let shared = Arc::new(Shared {
            config,
            metrics,
            segments: Mutex::new(segments),
            disk_bytes: AtomicU64::new(disk_bytes),
            failed: OnceLock::new(),
            #[cfg(test)]
            test_gate: Mutex::new(()),
            #[cfg(test)]
            test_queued: AtomicU64::new(0),
        });
        let (requests, receiver) = mpsc::channel();
        let writer = Writer::new(Arc::clone(&shared), receiver, file, active);
        let handle = std::thread::Builder::new()
            .name("wal-writer".into())
            .spawn(move || writer.run())
            .map_err(|e| Error::io("starting the wal writer thread", e))?;
        let wal = Wal {
            shared,
            requests,
            closed: AtomicBool::new(false),
            writer: Mutex::new(Some(handle)),
            _lock: lock,
        };
        Ok((wal, replayed.stats))
    }

    /// Appends one record; resolves only after it is written and fsynced (when `fsync`).
    pub async fn append(&self, payload: Bytes) -> Result<WalPosition> {
        let positions = self.append_many(vec![payload]).await?;
        positions.into_iter().next().ok_or(Error::Closed)
    }

    /// Appends several records as one request (one waiter); positions in order.
    pub async fn append_many(&self, payloads: Vec<Bytes>) -> Result<Vec<WalPosition>> {
        if payloads.is_empty() {
            return Ok(Vec::new());
        }
        if let Some(payload) = payloads.iter().find(|p| p.len() > MAX_RECORD_BYTES) {
            return Err(Error::RecordTooLarge {
                len: payload.len() as u64,
                max: MAX_RECORD_BYTES as u64,
            });
        }
        if self.closed.load(Ordering::SeqCst) {
            return Err(Error::Closed);
        }
        if self.shared.failed.get().is_some() {
            return Err(Error::Failed);
        }
        let disk_bytes = self.disk_bytes();
        if disk_bytes >= self.max_bytes() {
            return Err(Error::OverCap {
                disk_bytes,
                max_bytes: self.max_bytes(),
            });
        }
        let (reply, answer) = oneshot::channel();
        self.requests
            .send(Request::Append { payloads, reply })
            .map_err(|_| Error::Closed)?;
        #[cfg(test)]
        self.shared.test_queued.fetch_add(1, Ordering::SeqCst);
        // A dropped reply means the writer stopped before this request (closed meanwhile).
        answer.await.map_err(|_| Error::Closed)?
    }

    /// Reads one record back with a positioned read.
    pub fn read(&self, pos: WalPosition) -> Result<Bytes> {
        let not_found = || Error::NotFound {
            segment: pos.segment,
            offset: pos.offset,
        };
        let corrupt = |reason| Error::Corrupt {
            segment: pos.segment,
            offset: pos.offset,
            reason,
        };
        let (reader, size) = {
            let segments = self.shared.segments.lock();
            let entry = segments.map.get(&pos.segment).ok_or_else(not_found)?;
            (Arc::clone(&entry.reader), entry.size)
        };
        let header_end = pos.offset.saturating_add(FRAME_HEADER_LEN as u64);
        if pos.offset < SEGMENT_HEADER_LEN as u64 || header_end > size {
            return Err(not_found());
        }
        let context = || format!("reading wal segment {}", pos.segment);
        let mut header = [0u8; FRAME_HEADER_LEN];
        reader
            .read_exact_at(&mut header, pos.offset)
            .map_err(|e| Error::io(context(), e))?;
        let (len, crc) =
            parse_frame_header(&header).map_err(|_| corrupt("invalid frame header"))?;
        if header_end + len as u64 > size {
            return Err(corrupt("frame runs past the end of the segment"));
        }
        let mut payload = vec![0u8; len];
        reader
            .read_exact_at(&mut payload, header_end)
            .map_err(|e| Error::io(context(), e))?;
        if !payload_matches(&header, &payload, crc) {
            return Err(corrupt("checksum mismatch"));
        }
        Ok(Bytes::from(payload))
    }

    /// Deletes whole segments all of whose records lie before `pos` (their data is durable
    /// elsewhere); never the segment being written. Returns the bytes freed.
    pub fn release_before(&self, pos: WalPosition) -> Result<u64> {
        let mut freed = 0;
        let mut segments = self.shared.segments.lock();
        let active = segments.active;
        let doomed: Vec<u64> = segments
            .map
            .iter()
            .filter(|(seq, entry)| {
                **seq != active
                    && (**seq < pos.segment || (**seq == pos.segment && pos.offset >= entry.size))
            })
            .map(|(seq, _)| *seq)
            .collect();
        let mut result = Ok(());
        for seq in doomed {
            let Some(entry) = segments.map.get(&seq) else {
                continue;
            };
            match fs::remove_file(&entry.path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => {
                    result = Err(Error::io(format!("deleting wal segment {seq}"), e));
                    break;
                }
            }
            freed += entry.size;
            segments.map.remove(&seq);
            tracing::debug!(segment = seq, "released a write-ahead log segment");
        }
        let total = self.shared.disk_bytes.fetch_sub(freed, Ordering::SeqCst) - freed;
        self.shared.metrics.bytes.set(total as i64);
        self.shared.metrics.segments.set(segments.map.len() as i64);
        result.map(|()| freed)
    }

    /// Bytes of all segments on disk.
    pub fn disk_bytes(&self) -> u64 {
        self.shared.disk_bytes.load(Ordering::SeqCst)
    }

    pub fn max_bytes(&self) -> u64 {
        self.shared.config.max_bytes
    }

    /// Whether appends are being refused for the byte cap (for `/ready`).
    pub fn is_over_cap(&self) -> bool {
        self.disk_bytes() >= self.max_bytes()
    }

    /// Why the WAL refuses appends after a failed write or fsync, if it does (for `/ready`).
    pub fn failure(&self) -> Option<String> {
        self.shared.failed.get().cloned()
    }

    /// The segment currently taking appends (never released).
    pub fn active_segment(&self) -> u64 {
        self.shared.segments.lock().active
    }

    /// Closes the segment taking appends if it holds any record and starts a new one, so that
    /// every record written so far can be released; returns the new active segment. Records
    /// appended concurrently may land on either side.
    pub async fn roll(&self) -> Result<u64> {
        if self.closed.load(Ordering::SeqCst) {
            return Err(Error::Closed);
        }
        let (reply, answer) = oneshot::channel();
        self.requests
            .send(Request::Roll { reply })
            .map_err(|_| Error::Closed)?;
        answer.await.map_err(|_| Error::Closed)?
    }

    /// Writes and fsyncs everything queued, then stops the writer thread; later appends fail
    /// with [`Error::Closed`]. Idempotent.
    pub async fn close(&self) -> Result<()> {
        if self.closed.swap(true, Ordering::SeqCst) {
            return Ok(());
        }
        let (reply, answer) = oneshot::channel();
        if self.requests.send(Request::Close { reply }).is_err() {
            return Ok(());
        }
        answer.await.unwrap_or(Ok(()))
    }
}

impl Drop for Wal {
    fn drop(&mut self) {
        if !self.closed.swap(true, Ordering::SeqCst) {
            let (reply, _answer) = oneshot::channel();
            let _ = self.requests.send(Request::Close { reply });
        }
        if let Some(handle) = self.writer.get_mut().take() {
            let _ = handle.join();
        }
    }
}

fn lock_dir(dir: &Path) -> Result<File> {
    let path = dir.join("LOCK");
    let file = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| Error::io(format!("opening {}", path.display()), e))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(Error::Locked {
            dir: dir.to_path_buf(),
        }),
        Err(std::fs::TryLockError::Error(e)) => {
            Err(Error::io(format!("locking {}", path.display()), e))
        }
    }
}
