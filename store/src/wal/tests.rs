use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use sextant_model::ErrorKind;

use super::segment::segment_path;
use super::*;

fn config(dir: &Path, segment_bytes: u64, max_bytes: u64) -> WalConfig {
    WalConfig {
        dir: dir.to_path_buf(),
        segment_bytes,
        max_bytes,
        fsync: true,
    }
}

fn payload(i: usize) -> Bytes {
    Bytes::from(format!("record {i:04} {}", "x".repeat(i % 23)))
}

type Replayed = Vec<(WalPosition, Bytes)>;

fn open(config: WalConfig) -> (Wal, ReplayStats, Replayed) {
    let mut records = Vec::new();
    let (wal, stats) = Wal::open(config, WalMetrics::unregistered(), |pos, bytes| {
        records.push((pos, bytes));
    })
    .expect("wal opens");
    (wal, stats, records)
}

fn payloads(records: &Replayed) -> Vec<Bytes> {
    records.iter().map(|(_, b)| b.clone()).collect()
}

fn segment_files(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "wal"))
        .collect();
    out.sort();
    out
}

/// Writes `n` records into one segment of a fresh WAL; returns the segment's bytes and the
/// positions.
async fn one_segment(n: usize) -> (Vec<u8>, Vec<WalPosition>) {
    let dir = tempfile::tempdir().unwrap();
    let (wal, _, _) = open(config(dir.path(), 1 << 20, 1 << 30));
    let mut positions = Vec::new();
    for i in 0..n {
        positions.push(wal.append(payload(i)).await.unwrap());
    }
    wal.close().await.unwrap();
    assert!(positions.iter().all(|p| p.segment == positions[0].segment));
    let bytes = std::fs::read(segment_path(dir.path(), positions[0].segment)).unwrap();
    (bytes, positions)
}

/// A fresh directory holding `bytes` as segment 1, opened without fsync.
fn open_copy(bytes: &[u8]) -> (tempfile::TempDir, Wal, ReplayStats, Replayed) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(segment_path(dir.path(), 1), bytes).unwrap();
    let mut config = config(dir.path(), 1 << 20, 1 << 30);
    config.fsync = false;
    let (wal, stats, records) = open(config);
    (dir, wal, stats, records)
}

#[tokio::test]
async fn round_trip_across_segments_and_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let (wal, stats, records) = open(config(dir.path(), 300, 1 << 30));
    assert_eq!(stats, ReplayStats::default());
    assert!(records.is_empty());

    let mut written = Vec::new();
    for i in 0..60 {
        written.push((wal.append(payload(i)).await.unwrap(), payload(i)));
    }
    let batch: Vec<Bytes> = (60..100).map(payload).collect();
    let positions = wal.append_many(batch.clone()).await.unwrap();
    written.extend(positions.into_iter().zip(batch));

    assert!(
        written.windows(2).all(|w| w[0].0 < w[1].0),
        "positions grow"
    );
    let segments: std::collections::BTreeSet<u64> =
        written.iter().map(|(p, _)| p.segment).collect();
    assert!(segments.len() >= 5, "rolled over: {segments:?}");
    for (pos, bytes) in &written {
        assert_eq!(&wal.read(*pos).unwrap(), bytes);
    }
    wal.close().await.unwrap();
    drop(wal);

    let (wal, stats, records) = open(config(dir.path(), 300, 1 << 30));
    assert_eq!(records, written);
    assert_eq!(stats.records, 100);
    assert_eq!(
        stats.corrupt_bytes_skipped + stats.torn_tail_bytes_truncated,
        0
    );
    let more = wal.append(payload(100)).await.unwrap();
    assert!(
        more > written.last().unwrap().0,
        "segment numbers keep increasing"
    );
    written.push((more, payload(100)));
    wal.close().await.unwrap();
    drop(wal);

    let (_wal, _, records) = open(config(dir.path(), 300, 1 << 30));
    assert_eq!(records, written);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_appends_share_one_fsync() {
    let dir = tempfile::tempdir().unwrap();
    let metrics = WalMetrics::unregistered();
    let (wal, _) = Wal::open(
        config(dir.path(), 1 << 20, 1 << 30),
        metrics.clone(),
        |_, _| {},
    )
    .unwrap();
    let wal = Arc::new(wal);
    let fsyncs_before = metrics.fsyncs();

    let gate = wal.shared.test_gate.lock();
    let tasks: Vec<_> = (0..50)
        .map(|i| {
            let wal = Arc::clone(&wal);
            tokio::spawn(async move { wal.append(payload(i)).await })
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(10);
    while wal.shared.test_queued.load(Ordering::SeqCst) < 50 {
        assert!(Instant::now() < deadline, "appends were not queued");
        // The test body runs outside the runtime's workers, which run the appends meanwhile.
        std::thread::yield_now();
    }
    drop(gate);

    let mut positions = Vec::new();
    for task in tasks {
        positions.push(task.await.unwrap().unwrap());
    }
    assert_eq!(metrics.appends(), 50);
    assert_eq!(metrics.fsyncs() - fsyncs_before, 1, "one group, one fsync");
    positions.sort();
    positions.dedup();
    assert_eq!(positions.len(), 50);
    for (i, pos) in positions.iter().enumerate() {
        assert!(wal.read(*pos).unwrap().starts_with(b"record "), "{i}");
    }
}

#[tokio::test]
async fn cap_refuses_appends_until_segments_are_released() {
    let dir = tempfile::tempdir().unwrap();
    let (wal, _, _) = open(config(dir.path(), 200, 1000));
    let mut last = None;
    let error = loop {
        match wal.append(payload(1)).await {
            Ok(pos) => last = Some(pos),
            Err(error) => break error,
        }
    };
    assert!(matches!(error, Error::OverCap { .. }), "{error:?}");
    assert_eq!(error.kind(), ErrorKind::Unavailable);
    assert!(wal.is_over_cap());
    assert!(wal.disk_bytes() >= wal.max_bytes());
    let model = sextant_model::Error::from(error);
    assert_eq!(model.kind, ErrorKind::Unavailable);
    assert_eq!(model.retry_after, Some(Duration::from_secs(1)));

    let freed = wal.release_before(last.unwrap()).unwrap();
    assert!(freed > 0);
    assert!(!wal.is_over_cap());
    wal.append(payload(2)).await.unwrap();
}

#[tokio::test]
async fn release_before_deletes_only_covered_inactive_segments() {
    let dir = tempfile::tempdir().unwrap();
    let (wal, _, _) = open(config(dir.path(), 200, 1 << 30));
    let mut positions = Vec::new();
    for i in 0..40 {
        positions.push(wal.append(payload(i)).await.unwrap());
    }
    let first_segment = positions[0].segment;
    let third = positions
        .iter()
        .find(|p| p.segment == first_segment + 2)
        .copied()
        .unwrap();
    let size = |seq| {
        std::fs::metadata(segment_path(dir.path(), seq))
            .unwrap()
            .len()
    };
    let expected = size(first_segment) + size(first_segment + 1);
    let before = wal.disk_bytes();

    assert_eq!(wal.release_before(third).unwrap(), expected);
    assert_eq!(wal.disk_bytes(), before - expected);
    assert!(!segment_path(dir.path(), first_segment).exists());
    assert!(!segment_path(dir.path(), first_segment + 1).exists());
    assert!(segment_path(dir.path(), third.segment).exists());
    assert!(matches!(
        wal.read(positions[0]),
        Err(Error::NotFound { .. })
    ));
    assert_eq!(
        wal.read(third).unwrap(),
        payload(positions.iter().position(|p| *p == third).unwrap())
    );
    assert_eq!(
        wal.release_before(third).unwrap(),
        0,
        "nothing more is covered"
    );

    // A position at the end of a segment covers all of it.
    let third_size = size(third.segment);
    let end_of_third = WalPosition {
        segment: third.segment,
        offset: third_size,
    };
    assert_eq!(wal.release_before(end_of_third).unwrap(), third_size);

    // Everything before the end of time, except the segment being written.
    wal.release_before(WalPosition {
        segment: u64::MAX,
        offset: 0,
    })
    .unwrap();
    let active = wal.active_segment();
    assert_eq!(
        segment_files(dir.path()),
        vec![segment_path(dir.path(), active)]
    );
    assert_eq!(wal.disk_bytes(), size(active));
    let last = *positions.last().unwrap();
    assert_eq!(last.segment, active);
    assert_eq!(wal.read(last).unwrap(), payload(39));
}

#[tokio::test]
async fn read_rejects_positions_that_are_not_records() {
    let dir = tempfile::tempdir().unwrap();
    let (wal, _, _) = open(config(dir.path(), 1 << 20, 1 << 30));
    let pos = wal.append(Bytes::from_static(b"hello")).await.unwrap();
    assert_eq!(wal.read(pos).unwrap(), Bytes::from_static(b"hello"));
    let inside = WalPosition {
        offset: pos.offset + 1,
        ..pos
    };
    assert!(matches!(
        wal.read(inside),
        Err(Error::NotFound { .. } | Error::Corrupt { .. })
    ));
    let past = WalPosition {
        offset: pos.offset + 1000,
        ..pos
    };
    assert!(matches!(wal.read(past), Err(Error::NotFound { .. })));
    let header = WalPosition { offset: 0, ..pos };
    assert!(matches!(wal.read(header), Err(Error::NotFound { .. })));
    let other = WalPosition {
        segment: pos.segment + 7,
        offset: pos.offset,
    };
    assert!(matches!(wal.read(other), Err(Error::NotFound { .. })));
}

#[tokio::test]
async fn close_is_idempotent_and_refuses_later_appends() {
    let dir = tempfile::tempdir().unwrap();
    let (wal, _, _) = open(config(dir.path(), 1 << 20, 1 << 30));
    let pos = wal.append(payload(0)).await.unwrap();
    wal.close().await.unwrap();
    wal.close().await.unwrap();
    let error = wal.append(payload(1)).await.unwrap_err();
    assert!(matches!(error, Error::Closed));
    assert_eq!(error.kind(), ErrorKind::Unavailable);
    assert_eq!(
        wal.read(pos).unwrap(),
        payload(0),
        "reads still work after close"
    );
}

#[tokio::test]
async fn one_writer_per_directory() {
    let dir = tempfile::tempdir().unwrap();
    let (wal, _, _) = open(config(dir.path(), 1 << 20, 1 << 30));
    let second = Wal::open(
        config(dir.path(), 1 << 20, 1 << 30),
        WalMetrics::unregistered(),
        |_, _| {},
    );
    assert!(matches!(second, Err(Error::Locked { .. })));
    drop(wal);
    let (_wal, _, _) = open(config(dir.path(), 1 << 20, 1 << 30));
}

#[tokio::test]
async fn restarts_without_appends_keep_numbering_and_leave_one_segment() {
    let dir = tempfile::tempdir().unwrap();
    let mut seen = Vec::new();
    for _ in 0..3 {
        let (wal, _, _) = open(config(dir.path(), 1 << 20, 1 << 30));
        seen.push(wal.active_segment());
    }
    assert!(seen.windows(2).all(|w| w[0] < w[1]), "{seen:?}");
    assert_eq!(segment_files(dir.path()).len(), 1);
}

#[tokio::test]
async fn unsupported_version_is_refused_and_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let mut header = [0u8; SEGMENT_HEADER_LEN];
    header[..8].copy_from_slice(&SEGMENT_MAGIC);
    header[8..12].copy_from_slice(&(SEGMENT_VERSION + 1).to_le_bytes());
    let crc = crc32c::crc32c(&header[..12]);
    header[12..].copy_from_slice(&crc.to_le_bytes());
    let path = segment_path(dir.path(), 3);
    std::fs::write(&path, header).unwrap();
    let result = Wal::open(
        config(dir.path(), 1 << 20, 1 << 30),
        WalMetrics::unregistered(),
        |_, _| {},
    );
    assert!(matches!(
        result,
        Err(Error::UnsupportedVersion { segment: 3, .. })
    ));
    assert_eq!(std::fs::read(&path).unwrap(), header);
}

/// Required by the issue: truncated at every byte offset of its last record, the WAL opens,
/// keeps every other record, truncates the file, and accepts and later replays new appends.
#[tokio::test]
async fn torn_tail_at_every_offset_of_the_last_record() {
    let n = 5;
    let (bytes, positions) = one_segment(n).await;
    let last = positions[n - 1].offset as usize;
    let expected: Vec<Bytes> = (0..n - 1).map(payload).collect();
    for cut in last + 1..bytes.len() {
        let (dir, wal, stats, records) = open_copy(&bytes[..cut]);
        assert_eq!(payloads(&records), expected, "cut at {cut}");
        assert_eq!(
            stats.torn_tail_bytes_truncated,
            (cut - last) as u64,
            "cut at {cut}"
        );
        assert_eq!(stats.corrupt_bytes_skipped, 0, "cut at {cut}");
        let segment = segment_path(dir.path(), 1);
        assert_eq!(
            std::fs::metadata(&segment).unwrap().len(),
            last as u64,
            "cut at {cut}"
        );

        wal.append(Bytes::from_static(b"after the crash"))
            .await
            .unwrap();
        wal.close().await.unwrap();
        drop(wal);
        let mut config = config(dir.path(), 1 << 20, 1 << 30);
        config.fsync = false;
        let (_wal, stats, records) = open(config);
        let mut again = expected.clone();
        again.push(Bytes::from_static(b"after the crash"));
        assert_eq!(payloads(&records), again, "cut at {cut}");
        assert_eq!(stats.torn_tail_bytes_truncated, 0);
    }
}

/// Required by the issue: a flipped bit in a middle record loses only that record, and the
/// skipped bytes are counted; the file is not truncated.
#[tokio::test]
async fn flipped_bit_in_a_middle_record() {
    let n = 7;
    let (bytes, positions) = one_segment(n).await;
    let middle = 3;
    let start = positions[middle].offset as usize;
    let end = positions[middle + 1].offset as usize;
    let expected: Vec<Bytes> = (0..n).filter(|i| *i != middle).map(payload).collect();
    for at in start..end {
        let mut damaged = bytes.clone();
        damaged[at] ^= 1 << (at % 8);
        let (dir, _wal, stats, records) = open_copy(&damaged);
        assert_eq!(payloads(&records), expected, "flip at {at}");
        assert_eq!(stats.corrupt_regions, 1, "flip at {at}");
        assert_eq!(
            stats.corrupt_bytes_skipped,
            (end - start) as u64,
            "flip at {at}"
        );
        assert_eq!(stats.torn_tail_bytes_truncated, 0, "flip at {at}");
        let len = std::fs::metadata(segment_path(dir.path(), 1))
            .unwrap()
            .len();
        assert_eq!(len, bytes.len() as u64);
    }
}

/// Damage at the end of a segment that is not the last one is corruption, not a torn tail.
#[tokio::test]
async fn damaged_end_of_an_earlier_segment_is_not_truncated() {
    let (bytes, positions) = one_segment(3).await;
    let dir = tempfile::tempdir().unwrap();
    let mut damaged = bytes.clone();
    let last = positions[2].offset as usize;
    damaged[last + FRAME_HEADER_LEN] ^= 0x40;
    std::fs::write(segment_path(dir.path(), 1), &damaged).unwrap();
    std::fs::write(segment_path(dir.path(), 2), &bytes).unwrap();
    let (_wal, stats, records) = open(config(dir.path(), 1 << 20, 1 << 30));
    assert_eq!(records.len(), 5);
    assert_eq!(stats.corrupt_regions, 1);
    assert_eq!(stats.corrupt_bytes_skipped, (bytes.len() - last) as u64);
    assert_eq!(stats.torn_tail_bytes_truncated, 0);
    assert_eq!(std::fs::read(segment_path(dir.path(), 1)).unwrap(), damaged);
}

#[tokio::test]
async fn torn_header_of_the_last_segment_is_removed() {
    let (bytes, _) = one_segment(2).await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(segment_path(dir.path(), 1), &bytes).unwrap();
    std::fs::write(segment_path(dir.path(), 2), &SEGMENT_MAGIC[..5]).unwrap();
    let (wal, stats, records) = open(config(dir.path(), 1 << 20, 1 << 30));
    assert_eq!(records.len(), 2);
    assert_eq!(stats.torn_tail_bytes_truncated, 5);
    assert!(!segment_path(dir.path(), 2).exists());
    assert_eq!(wal.active_segment(), 3);
}

#[tokio::test]
async fn registered_metrics_are_named_as_documented() {
    let dir = tempfile::tempdir().unwrap();
    let mut registry = prometheus_client::registry::Registry::default();
    let metrics = WalMetrics::register(&mut registry);
    let (wal, _) = Wal::open(config(dir.path(), 1 << 20, 1 << 30), metrics, |_, _| {}).unwrap();
    wal.append(payload(0)).await.unwrap();
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
    for name in [
        "sextant_wal_bytes ",
        "sextant_wal_segments 1",
        "sextant_wal_appends_total 1",
        "sextant_wal_appended_bytes_total ",
        "sextant_wal_fsyncs_total ",
        "sextant_wal_fsync_duration_seconds_bucket",
        "sextant_wal_group_commit_records_bucket",
        "sextant_wal_replay_records_total 0",
        "sextant_wal_replay_corrupt_bytes_total 0",
        "sextant_wal_replay_torn_tail_bytes_total 0",
    ] {
        assert!(text.contains(name), "{name} missing from:\n{text}");
    }
    assert!(text.contains(&format!("sextant_wal_bytes {}", wal.disk_bytes())));
}

#[test]
fn wal_is_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Wal>();
}

#[test]
fn settings_that_cannot_work_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let result = Wal::open(
        config(dir.path(), 1000, 1500),
        WalMetrics::unregistered(),
        |_, _| {},
    );
    let Err(error) = result else {
        panic!("a cap below two segments was accepted");
    };
    assert!(matches!(error, Error::Config { .. }), "{error:?}");
}

/// After a failed write or fsync the writer fails every waiter and refuses everything after.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_writer_refuses_queued_and_later_appends() {
    let dir = tempfile::tempdir().unwrap();
    let (wal, _, _) = open(config(dir.path(), 1 << 20, 1 << 30));
    let wal = Arc::new(wal);
    let gate = wal.shared.test_gate.lock();
    let queued = {
        let wal = Arc::clone(&wal);
        tokio::spawn(async move { wal.append(payload(0)).await })
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while wal.shared.test_queued.load(Ordering::SeqCst) < 1 {
        assert!(Instant::now() < deadline, "append was not queued");
        std::thread::yield_now();
    }
    wal.shared
        .failed
        .set("simulated fsync failure".into())
        .unwrap();
    drop(gate);

    let error = queued.await.unwrap().unwrap_err();
    assert!(matches!(error, Error::Failed), "{error:?}");
    assert_eq!(error.kind(), ErrorKind::Unavailable);
    assert!(matches!(wal.append(payload(1)).await, Err(Error::Failed)));
    assert_eq!(wal.failure().as_deref(), Some("simulated fsync failure"));
    assert!(matches!(wal.close().await, Err(Error::Failed)));
}

#[tokio::test]
async fn roll_lets_every_written_record_be_released() {
    let dir = tempfile::tempdir().unwrap();
    let (wal, _, _) = open(config(dir.path(), 1 << 20, 8 << 20));
    let empty = wal.active_segment();
    // Rolling a segment without records keeps it: no empty segments pile up.
    assert_eq!(wal.roll().await.unwrap(), empty);
    for i in 0..3 {
        wal.append(payload(i)).await.unwrap();
    }
    let active = wal.roll().await.unwrap();
    assert_eq!(active, empty + 1);
    assert!(
        wal.release_before(WalPosition {
            segment: active,
            offset: 0
        })
        .unwrap()
            > 0
    );
    wal.close().await.unwrap();
    drop(wal);
    let (_wal, stats, replayed) = open(config(dir.path(), 1 << 20, 8 << 20));
    assert_eq!(stats.records, 0, "released records are not replayed");
    assert!(replayed.is_empty());
}
