//! The WAL replay decoder over arbitrary bytes: never panics, and what it reports adds up.
//! Run with `cargo fuzz run wal_reader` from this folder.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sextant_store::{FRAME_HEADER_LEN, MAX_RECORD_BYTES, scan_segment};

fuzz_target!(|bytes: &[u8]| {
    let scan = scan_segment(bytes);
    assert_eq!(scan.len, bytes.len());
    assert!(scan.valid_end <= bytes.len());

    let mut previous_end = 0;
    let mut record_bytes = 0;
    for record in &scan.records {
        assert!(
            record.offset >= previous_end,
            "records overlap or go backwards"
        );
        assert_eq!(record.payload.start, record.offset + FRAME_HEADER_LEN);
        assert!(record.payload.end <= scan.valid_end);
        assert!(record.payload.len() <= MAX_RECORD_BYTES);
        record_bytes += record.payload.end - record.offset;
        previous_end = record.payload.end;
    }
    let mut previous_end = 0;
    for region in &scan.corrupt {
        assert!(region.start >= previous_end && region.start < region.end);
        assert!(region.end <= scan.valid_end);
        previous_end = region.end;
    }
    assert!(record_bytes + scan.corrupt_bytes() + scan.tail().len() <= bytes.len());
});
