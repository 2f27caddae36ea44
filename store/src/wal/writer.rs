//! The writer thread: group commit.
//!
//! Appenders queue a request with a oneshot reply and wait. The thread takes one request,
//! drains whatever else is queued (up to [`MAX_GROUP_BYTES`]), encodes it all into one buffer,
//! writes it, fsyncs once, and only then answers every waiter. Segment roll-over happens here,
//! between records. A failed write or fsync fails every waiter of the group and poisons the WAL:
//! nothing after it is acknowledged, since it could not be promised durable.

use std::fs::File;
use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc::Receiver;

use bytes::Bytes;
use tokio::sync::oneshot;

use super::frame::{FRAME_HEADER_LEN, SEGMENT_HEADER_LEN, encode_frame};
use super::segment::{SegmentEntry, create_segment, open_reader, segment_path, sync_file};
use super::{Shared, WalPosition};
use crate::error::{Error, Result};

/// A group stops draining the queue once it holds this many payload bytes.
const MAX_GROUP_BYTES: usize = 16 * 1024 * 1024;

pub(crate) enum Request {
    Append {
        payloads: Vec<Bytes>,
        reply: oneshot::Sender<Result<Vec<WalPosition>>>,
    },
    Close {
        reply: oneshot::Sender<Result<()>>,
    },
    /// Start a new segment if the current one holds records; answers the active segment.
    Roll {
        reply: oneshot::Sender<Result<u64>>,
    },
}

struct Append {
    payloads: Vec<Bytes>,
    reply: oneshot::Sender<Result<Vec<WalPosition>>>,
}

pub(crate) struct Writer {
    shared: Arc<Shared>,
    requests: Receiver<Request>,
    file: File,
    seq: u64,
    size: u64,
    buf: Vec<u8>,
}

impl Writer {
    pub(crate) fn new(
        shared: Arc<Shared>,
        requests: Receiver<Request>,
        file: File,
        seq: u64,
    ) -> Self {
        Self {
            shared,
            requests,
            file,
            seq,
            size: SEGMENT_HEADER_LEN as u64,
            buf: Vec::new(),
        }
    }

    /// Serves requests until a close request (or until every sender is gone).
    pub(crate) fn run(mut self) {
        loop {
            let Ok(first) = self.requests.recv() else {
                let _ = self.finish();
                return;
            };
            #[cfg(test)]
            drop(self.shared.test_gate.lock());

            let mut group = Vec::new();
            let mut group_bytes = 0;
            let mut close = None;
            let mut roll = None;
            let mut next = Some(first);
            while let Some(request) = next.take() {
                match request {
                    Request::Append { payloads, reply } => {
                        group_bytes += payloads.iter().map(Bytes::len).sum::<usize>();
                        group.push(Append { payloads, reply });
                    }
                    Request::Close { reply } => {
                        close = Some(reply);
                        break;
                    }
                    Request::Roll { reply } => {
                        roll = Some(reply);
                        break;
                    }
                }
                if group_bytes < MAX_GROUP_BYTES {
                    next = self.requests.try_recv().ok();
                }
            }
            if !group.is_empty() {
                self.commit(group);
            }
            if let Some(reply) = roll {
                let _ = reply.send(self.roll_if_used());
            }
            if let Some(reply) = close {
                let _ = reply.send(self.finish());
                return;
            }
        }
    }

    fn commit(&mut self, group: Vec<Append>) {
        if self.shared.failed.get().is_some() {
            for append in group {
                let _ = append.reply.send(Err(Error::Failed));
            }
            return;
        }
        match self.write_group(&group) {
            Ok(positions) => {
                for (append, positions) in group.into_iter().zip(positions) {
                    let _ = append.reply.send(Ok(positions));
                }
            }
            Err(error) => {
                tracing::error!(%error, segment = self.seq, "write-ahead log write failed, refusing further appends");
                let _ = self.shared.failed.set(error.to_string());
                for append in group {
                    let _ = append.reply.send(Err(Error::Failed));
                }
            }
        }
    }

    fn write_group(&mut self, group: &[Append]) -> Result<Vec<Vec<WalPosition>>> {
        let segment_bytes = self.shared.config.segment_bytes;
        let mut out = Vec::with_capacity(group.len());
        let mut records = 0u64;
        let mut payload_bytes = 0u64;
        self.buf.clear();
        for append in group {
            let mut positions = Vec::with_capacity(append.payloads.len());
            for payload in &append.payloads {
                let frame_len = (FRAME_HEADER_LEN + payload.len()) as u64;
                let end = self.size + self.buf.len() as u64;
                if end > SEGMENT_HEADER_LEN as u64 && end + frame_len > segment_bytes {
                    self.flush()?;
                    self.roll()?;
                }
                positions.push(WalPosition {
                    segment: self.seq,
                    offset: self.size + self.buf.len() as u64,
                });
                encode_frame(payload, &mut self.buf);
                records += 1;
                payload_bytes += payload.len() as u64;
            }
            out.push(positions);
        }
        self.flush()?;
        let metrics = &self.shared.metrics;
        metrics.appends.inc_by(records);
        metrics.appended_bytes.inc_by(payload_bytes);
        metrics.group_commit_records.observe(records as f64);
        Ok(out)
    }

    /// Writes the buffer to the active segment and fsyncs it (when configured).
    fn flush(&mut self) -> Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let context = || format!("writing wal segment {}", self.seq);
        self.file
            .write_all(&self.buf)
            .map_err(|e| Error::io(context(), e))?;
        let written = self.buf.len() as u64;
        self.buf.clear();
        self.size += written;
        self.shared.grew(self.seq, self.size, written);
        if self.shared.config.fsync {
            sync_file(&self.file, &self.shared.metrics).map_err(|e| Error::io(context(), e))?;
        }
        Ok(())
    }

    /// Starts the next segment when the current one holds records, so that all of it can be
    /// released; returns the segment taking appends afterwards.
    fn roll_if_used(&mut self) -> Result<u64> {
        if self.shared.failed.get().is_some() {
            return Err(Error::Failed);
        }
        if self.size > SEGMENT_HEADER_LEN as u64 {
            self.roll()?;
        }
        Ok(self.seq)
    }

    /// Starts the next segment; the current one is already written and synced.
    fn roll(&mut self) -> Result<()> {
        let seq = self.seq + 1;
        let dir = &self.shared.config.dir;
        let file = create_segment(dir, seq, self.shared.config.fsync, &self.shared.metrics)?;
        let path = segment_path(dir, seq);
        let reader = open_reader(&path)?;
        {
            let mut segments = self.shared.segments.lock();
            segments.map.insert(
                seq,
                SegmentEntry {
                    path,
                    size: SEGMENT_HEADER_LEN as u64,
                    reader,
                },
            );
            segments.active = seq;
            let metrics = &self.shared.metrics;
            metrics.segments.set(segments.map.len() as i64);
            let header = SEGMENT_HEADER_LEN as u64;
            let total = self.shared.disk_bytes.fetch_add(header, Ordering::SeqCst) + header;
            metrics.bytes.set(total as i64);
        }
        tracing::debug!(segment = seq, "started a write-ahead log segment");
        self.file = file;
        self.seq = seq;
        self.size = SEGMENT_HEADER_LEN as u64;
        Ok(())
    }

    /// Final fsync at close, whatever `fsync` says.
    fn finish(&mut self) -> Result<()> {
        if self.shared.failed.get().is_some() {
            return Err(Error::Failed);
        }
        sync_file(&self.file, &self.shared.metrics)
            .map_err(|e| Error::io(format!("fsyncing wal segment {} at close", self.seq), e))
    }
}
