//! The on-disk format of a WAL segment and the replay decoder.
//!
//! A segment file is a 16-byte header followed by frames, back to back:
//!
//! ```text
//! header: magic "SEXTWAL\n" (8) | format version u32 LE (4) | CRC32C of the previous 12 bytes (4)
//! frame:  magic F0 9E 57 A1 (4) | payload length u32 LE (4) | CRC32C over length + payload (4) | payload
//! ```
//!
//! The frame magic is not valid UTF-8 and marks where a frame may start, so a reader that lost
//! its place (a damaged frame) resynchronises by searching forward for the next offset where a
//! whole frame validates: magic, a length of at most [`MAX_RECORD_BYTES`] that fits in what is
//! left, and a matching CRC. [`scan_segment`] is that decoder, a pure function over the bytes of
//! one segment that never panics; deciding whether a damaged end is a torn tail (last segment) or
//! corruption (any other) is left to the caller.

use std::ops::Range;

/// Segment file magic.
pub const SEGMENT_MAGIC: [u8; 8] = *b"SEXTWAL\n";
/// The segment format version written by this code.
pub const SEGMENT_VERSION: u32 = 1;
/// Bytes of a segment header.
pub const SEGMENT_HEADER_LEN: usize = 16;
/// Frame magic: never valid UTF-8 (a 4-byte lead followed by a non-continuation byte).
pub const FRAME_MAGIC: [u8; 4] = [0xF0, 0x9E, 0x57, 0xA1];
/// Bytes of a frame header (magic, length, CRC).
pub const FRAME_HEADER_LEN: usize = 12;
/// The largest payload a frame may carry; longer lengths are damage.
pub const MAX_RECORD_BYTES: usize = 64 * 1024 * 1024;

/// The segment header for [`SEGMENT_VERSION`].
pub(crate) fn segment_header() -> [u8; SEGMENT_HEADER_LEN] {
    let mut out = [0u8; SEGMENT_HEADER_LEN];
    out[..8].copy_from_slice(&SEGMENT_MAGIC);
    out[8..12].copy_from_slice(&SEGMENT_VERSION.to_le_bytes());
    let crc = crc32c::crc32c(&out[..12]);
    out[12..].copy_from_slice(&crc.to_le_bytes());
    out
}

fn frame_crc(len_bytes: &[u8], payload: &[u8]) -> u32 {
    crc32c::crc32c_append(crc32c::crc32c(len_bytes), payload)
}

/// Appends one frame carrying `payload` to `out`. The caller has checked the length.
pub(crate) fn encode_frame(payload: &[u8], out: &mut Vec<u8>) {
    debug_assert!(payload.len() <= MAX_RECORD_BYTES);
    let len_bytes = u32::try_from(payload.len())
        .unwrap_or(u32::MAX)
        .to_le_bytes();
    out.extend_from_slice(&FRAME_MAGIC);
    out.extend_from_slice(&len_bytes);
    out.extend_from_slice(&frame_crc(&len_bytes, payload).to_le_bytes());
    out.extend_from_slice(payload);
}

/// Why a frame header does not validate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FrameHeaderError {
    BadMagic,
    BadLength,
}

/// Parses a frame header, returning the payload length and the expected CRC.
pub(crate) fn parse_frame_header(
    header: &[u8; FRAME_HEADER_LEN],
) -> Result<(usize, u32), FrameHeaderError> {
    if header[..4] != FRAME_MAGIC {
        return Err(FrameHeaderError::BadMagic);
    }
    let len = u32::from_le_bytes([header[4], header[5], header[6], header[7]]) as usize;
    if len > MAX_RECORD_BYTES {
        return Err(FrameHeaderError::BadLength);
    }
    let crc = u32::from_le_bytes([header[8], header[9], header[10], header[11]]);
    Ok((len, crc))
}

/// Whether `payload` matches the CRC of a frame header with length `len`.
pub(crate) fn payload_matches(header: &[u8; FRAME_HEADER_LEN], payload: &[u8], crc: u32) -> bool {
    frame_crc(&header[4..8], payload) == crc
}

/// Decodes the frame starting at `at`, returning the payload range, or `None` when no whole
/// valid frame starts there.
fn decode_frame_at(bytes: &[u8], at: usize) -> Option<Range<usize>> {
    let header_end = at.checked_add(FRAME_HEADER_LEN)?;
    let header: &[u8; FRAME_HEADER_LEN] = bytes.get(at..header_end)?.try_into().ok()?;
    let (len, crc) = parse_frame_header(header).ok()?;
    let payload = header_end..header_end.checked_add(len)?;
    let body = bytes.get(payload.clone())?;
    payload_matches(header, body, crc).then_some(payload)
}

/// What the first bytes of a segment say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeaderState {
    /// A valid header of [`SEGMENT_VERSION`].
    Valid,
    /// Fewer bytes than a header (a crash while the segment was being created).
    Short,
    /// Damaged header; frames are still searched for from offset 0.
    Corrupt,
    /// A valid header of another format version; the segment was not scanned.
    UnsupportedVersion(u32),
}

/// One intact record found by [`scan_segment`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScannedRecord {
    /// Where the frame starts.
    pub offset: usize,
    /// Where the payload lies in the scanned bytes.
    pub payload: Range<usize>,
}

/// The result of decoding one segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScanResult {
    pub header: HeaderState,
    /// Intact records, in file order, not overlapping.
    pub records: Vec<ScannedRecord>,
    /// Damaged regions followed by a valid frame (a damaged header included).
    pub corrupt: Vec<Range<usize>>,
    /// The end of the last valid frame (or of the header). Everything from here to the end of
    /// the input is the tail: neither a record nor counted in `corrupt`.
    pub valid_end: usize,
    /// Length of the scanned input.
    pub len: usize,
}

impl ScanResult {
    /// The damaged end of the segment: a torn tail if this is the last segment.
    pub fn tail(&self) -> Range<usize> {
        self.valid_end..self.len
    }

    /// Bytes in `corrupt` regions.
    pub fn corrupt_bytes(&self) -> usize {
        self.corrupt.iter().map(|r| r.len()).sum()
    }
}

/// Decodes a whole segment: validates the header, then walks the frames; at a frame that does
/// not validate it searches forward byte by byte for the next one that does. Never panics.
pub fn scan_segment(bytes: &[u8]) -> ScanResult {
    let mut out = ScanResult {
        header: HeaderState::Valid,
        records: Vec::new(),
        corrupt: Vec::new(),
        valid_end: 0,
        len: bytes.len(),
    };
    let Some(header) = bytes.get(..SEGMENT_HEADER_LEN) else {
        out.header = HeaderState::Short;
        return out;
    };
    let crc = u32::from_le_bytes([header[12], header[13], header[14], header[15]]);
    let mut pos = if header[..8] == SEGMENT_MAGIC && crc32c::crc32c(&header[..12]) == crc {
        let version = u32::from_le_bytes([header[8], header[9], header[10], header[11]]);
        if version != SEGMENT_VERSION {
            out.header = HeaderState::UnsupportedVersion(version);
            return out;
        }
        SEGMENT_HEADER_LEN
    } else {
        out.header = HeaderState::Corrupt;
        0
    };
    out.valid_end = pos;

    let mut damage_start: Option<usize> = None;
    while pos < bytes.len() {
        if let Some(payload) = decode_frame_at(bytes, pos) {
            if let Some(start) = damage_start.take() {
                out.corrupt.push(start..pos);
            }
            out.records.push(ScannedRecord {
                offset: pos,
                payload: payload.clone(),
            });
            pos = payload.end;
            out.valid_end = pos;
        } else {
            damage_start.get_or_insert(pos);
            // Resynchronise: the next candidate is the next byte equal to the magic's first.
            pos = match bytes[pos + 1..].iter().position(|&b| b == FRAME_MAGIC[0]) {
                Some(skip) => pos + 1 + skip,
                None => bytes.len(),
            };
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn segment(payloads: &[&[u8]]) -> Vec<u8> {
        let mut out = segment_header().to_vec();
        for payload in payloads {
            encode_frame(payload, &mut out);
        }
        out
    }

    #[test]
    fn clean_segment_decodes_every_record() {
        let bytes = segment(&[b"one", b"", b"three"]);
        let scan = scan_segment(&bytes);
        assert_eq!(scan.header, HeaderState::Valid);
        let payloads: Vec<&[u8]> = scan
            .records
            .iter()
            .map(|r| &bytes[r.payload.clone()])
            .collect();
        assert_eq!(payloads, vec![&b"one"[..], b"", b"three"]);
        assert!(scan.corrupt.is_empty());
        assert_eq!(scan.valid_end, bytes.len());
        assert!(scan.tail().is_empty());
    }

    #[test]
    fn short_and_foreign_headers() {
        assert_eq!(scan_segment(b"SEXT").header, HeaderState::Short);
        assert_eq!(scan_segment(b"").header, HeaderState::Short);

        let mut bytes = segment(&[b"x"]);
        bytes[8..12].copy_from_slice(&7u32.to_le_bytes());
        let crc = crc32c::crc32c(&bytes[..12]);
        bytes[12..16].copy_from_slice(&crc.to_le_bytes());
        let scan = scan_segment(&bytes);
        assert_eq!(scan.header, HeaderState::UnsupportedVersion(7));
        assert!(scan.records.is_empty());
    }

    #[test]
    fn damaged_header_still_yields_records() {
        let mut bytes = segment(&[b"alpha", b"beta"]);
        bytes[2] ^= 0x10;
        let scan = scan_segment(&bytes);
        assert_eq!(scan.header, HeaderState::Corrupt);
        assert_eq!(scan.records.len(), 2);
        assert_eq!(scan.corrupt, vec![0..SEGMENT_HEADER_LEN]);
    }

    #[test]
    fn oversized_length_is_damage_not_an_allocation() {
        let mut bytes = segment_header().to_vec();
        bytes.extend_from_slice(&FRAME_MAGIC);
        bytes.extend_from_slice(&u32::MAX.to_le_bytes());
        bytes.extend_from_slice(&[0; 4]);
        let end = bytes.len();
        encode_frame(b"after", &mut bytes);
        let scan = scan_segment(&bytes);
        assert_eq!(scan.records.len(), 1);
        assert_eq!(scan.corrupt, vec![SEGMENT_HEADER_LEN..end]);
    }

    #[test]
    fn garbage_after_the_last_frame_is_the_tail() {
        let mut bytes = segment(&[b"kept"]);
        let end = bytes.len();
        bytes.extend_from_slice(&FRAME_MAGIC);
        bytes.extend_from_slice(&[9, 0, 0]);
        let scan = scan_segment(&bytes);
        assert_eq!(scan.records.len(), 1);
        assert!(scan.corrupt.is_empty());
        assert_eq!(scan.tail(), end..bytes.len());
    }
}
