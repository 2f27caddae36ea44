//! Property tests of the replay decoder: damage never panics it and never costs records that
//! the damage did not touch.

use proptest::prelude::*;

use super::frame::{encode_frame, segment_header};
use super::{FRAME_HEADER_LEN, ScanResult, scan_segment};

fn build(payloads: &[Vec<u8>]) -> (Vec<u8>, Vec<usize>) {
    let mut bytes = segment_header().to_vec();
    let mut offsets = Vec::new();
    for payload in payloads {
        offsets.push(bytes.len());
        encode_frame(payload, &mut bytes);
    }
    (bytes, offsets)
}

fn decoded<'a>(bytes: &'a [u8], scan: &ScanResult) -> Vec<&'a [u8]> {
    scan.records
        .iter()
        .map(|r| &bytes[r.payload.clone()])
        .collect()
}

/// Invariants that hold for any input (the fuzz target checks the same).
fn check_invariants(bytes: &[u8], scan: &ScanResult) {
    assert_eq!(scan.len, bytes.len());
    assert!(scan.valid_end <= bytes.len());
    let mut regions: Vec<(usize, usize)> = scan
        .records
        .iter()
        .map(|r| {
            assert_eq!(r.payload.start, r.offset + FRAME_HEADER_LEN);
            (r.offset, r.payload.end)
        })
        .chain(scan.corrupt.iter().map(|c| (c.start, c.end)))
        .collect();
    regions.sort_unstable();
    assert!(
        regions.windows(2).all(|w| w[0].1 <= w[1].0),
        "regions overlap"
    );
    assert!(regions.iter().all(|(_, end)| *end <= scan.valid_end));
    let covered: usize = regions.iter().map(|(s, e)| e - s).sum();
    assert!(covered + scan.tail().len() <= bytes.len());
}

fn payloads() -> impl Strategy<Value = Vec<Vec<u8>>> {
    prop::collection::vec(prop::collection::vec(any::<u8>(), 0..80), 1..12)
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(prefix_header in any::<bool>(), junk in prop::collection::vec(any::<u8>(), 0..2048)) {
        let mut bytes = if prefix_header { segment_header().to_vec() } else { Vec::new() };
        bytes.extend_from_slice(&junk);
        let scan = scan_segment(&bytes);
        check_invariants(&bytes, &scan);
    }

    #[test]
    fn junk_inserted_between_records_costs_nothing(
        records in payloads(),
        junk in prop::collection::vec(any::<u8>(), 1..64),
        at in any::<prop::sample::Index>(),
    ) {
        let (mut bytes, mut offsets) = build(&records);
        offsets.push(bytes.len());
        let at = at.index(offsets.len());
        let insert_at = offsets[at];
        bytes.splice(insert_at..insert_at, junk.iter().copied());

        let scan = scan_segment(&bytes);
        check_invariants(&bytes, &scan);
        let expected: Vec<&[u8]> = records.iter().map(Vec::as_slice).collect();
        prop_assert_eq!(decoded(&bytes, &scan), expected);
        if at == records.len() {
            prop_assert!(scan.corrupt.is_empty());
            prop_assert_eq!(scan.tail().len(), junk.len());
        } else {
            prop_assert_eq!(scan.corrupt.clone(), vec![insert_at..insert_at + junk.len()]);
            prop_assert!(scan.tail().is_empty());
        }
    }

    #[test]
    fn overwriting_one_record_costs_only_that_record(
        records in payloads(),
        victim in any::<prop::sample::Index>(),
        damage in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
    ) {
        let (mut bytes, mut offsets) = build(&records);
        offsets.push(bytes.len());
        let victim = victim.index(records.len());
        let (start, end) = (offsets[victim], offsets[victim + 1]);
        for (index, value) in damage {
            bytes[start + index.index(end - start)] = value;
        }

        let scan = scan_segment(&bytes);
        check_invariants(&bytes, &scan);
        let got = decoded(&bytes, &scan);
        let others: Vec<&[u8]> = records
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != victim)
            .map(|(_, r)| r.as_slice())
            .collect();
        let all: Vec<&[u8]> = records.iter().map(Vec::as_slice).collect();
        // Either the damage was a no-op (same bytes written back) or exactly the victim is gone.
        prop_assert!(got == all || got == others, "got {} records of {}", got.len(), records.len());
    }

    #[test]
    fn truncation_anywhere_keeps_every_whole_record(records in payloads(), cut in any::<prop::sample::Index>()) {
        let (bytes, offsets) = build(&records);
        let cut = cut.index(bytes.len() + 1);
        let scan = scan_segment(&bytes[..cut]);
        check_invariants(&bytes[..cut], &scan);
        let whole = offsets
            .iter()
            .zip(&records)
            .filter(|(offset, r)| **offset + FRAME_HEADER_LEN + r.len() <= cut)
            .count();
        prop_assert_eq!(scan.records.len(), whole);
        prop_assert!(scan.corrupt.is_empty());
    }
}
