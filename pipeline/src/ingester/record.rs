//! The pipeline's WAL record: what one push made durable.
//!
//! One record per request (the WAL frames it with length and CRC32C). Integers little-endian:
//!
//! ```text
//! u8        format version, 1
//! u8        tenant id length n (tenant ids are at most 64 bytes), then n bytes of tenant id
//! u32       number of traces
//! per trace:
//!   [u8;16] trace id
//!   u32     span count
//!   u64     smallest span start, unix nanoseconds
//!   u64     largest span end, unix nanoseconds
//!   u32     length m, then m bytes: protobuf `TracesData` with this trace's spans of the request
//! ```
//!
//! The per-trace protobuf is kept in memory as a slice of the record, so the live trace, the WAL
//! and the query path share one copy of the bytes.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use prost::Message;
use sextant_model::{TenantId, TimeRange, TraceId};

use crate::distributor::TraceBatch;

const VERSION: u8 = 1;
const TRACE_HEADER: usize = 16 + 4 + 8 + 8 + 4;

/// One trace's part of a record.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct RecordTrace {
    pub(crate) trace_id: TraceId,
    pub(crate) spans: u32,
    pub(crate) range: TimeRange,
    /// Protobuf `TracesData`.
    pub(crate) data: Bytes,
}

/// Encodes a record; the returned traces' `data` are slices of the record's bytes.
pub(crate) fn encode(tenant: &TenantId, batches: &[TraceBatch]) -> (Bytes, Vec<RecordTrace>) {
    let tenant = tenant.as_str().as_bytes();
    let lens: Vec<usize> = batches.iter().map(|b| b.data.encoded_len()).collect();
    let body: usize = lens.iter().map(|len| TRACE_HEADER + len).sum();
    let mut buf = BytesMut::with_capacity(2 + tenant.len() + 4 + body);
    buf.put_u8(VERSION);
    // Tenant ids are at most 64 bytes (`TenantId` guarantees it).
    buf.put_u8(u8::try_from(tenant.len()).unwrap_or(u8::MAX));
    buf.put_slice(&tenant[..tenant.len().min(usize::from(u8::MAX))]);
    buf.put_u32_le(u32::try_from(batches.len()).unwrap_or(u32::MAX));
    let mut spans = Vec::with_capacity(batches.len());
    for (b, &len) in batches.iter().zip(&lens) {
        buf.put_slice(&b.trace_id.0);
        buf.put_u32_le(b.spans);
        buf.put_u64_le(b.range.start);
        buf.put_u64_le(b.range.end);
        buf.put_u32_le(u32::try_from(len).unwrap_or(u32::MAX));
        let at = buf.len();
        b.data.encode_raw(&mut buf);
        spans.push((at, buf.len()));
    }
    let record = buf.freeze();
    let traces = batches
        .iter()
        .zip(spans)
        .map(|(b, (from, to))| RecordTrace {
            trace_id: b.trace_id,
            spans: b.spans,
            range: b.range,
            data: record.slice(from..to),
        })
        .collect();
    (record, traces)
}

/// Decodes a record without copying trace bytes; never panics on bad input.
pub(crate) fn decode(mut record: Bytes) -> Result<(TenantId, Vec<RecordTrace>), String> {
    let whole = record.clone();
    if record.remaining() < 2 {
        return Err("record too short".into());
    }
    let version = record.get_u8();
    if version != VERSION {
        return Err(format!("unknown record version {version}"));
    }
    let n = usize::from(record.get_u8());
    if record.remaining() < n + 4 {
        return Err("record truncated in header".into());
    }
    let tenant = std::str::from_utf8(&record[..n])
        .ok()
        .and_then(|s| TenantId::new(s).ok())
        .ok_or("record has an invalid tenant id")?;
    record.advance(n);
    let count = record.get_u32_le() as usize;
    // Each trace takes at least its header; refuse counts the record cannot hold.
    if count > record.remaining() / TRACE_HEADER {
        return Err(format!(
            "record claims {count} traces, too many for its size"
        ));
    }
    let mut traces = Vec::with_capacity(count);
    for _ in 0..count {
        if record.remaining() < TRACE_HEADER {
            return Err("record truncated in trace header".into());
        }
        let mut id = [0u8; 16];
        record.copy_to_slice(&mut id);
        let spans = record.get_u32_le();
        let start = record.get_u64_le();
        let end = record.get_u64_le();
        let len = record.get_u32_le() as usize;
        if record.remaining() < len {
            return Err("record truncated in trace data".into());
        }
        let from = whole.len() - record.remaining();
        traces.push(RecordTrace {
            trace_id: TraceId(id),
            spans,
            range: TimeRange::new(start, end),
            data: whole.slice(from..from + len),
        });
        record.advance(len);
    }
    if record.has_remaining() {
        return Err("record has trailing bytes".into());
    }
    Ok((tenant, traces))
}

#[cfg(test)]
mod tests {
    use sextant_model::otlp::{ResourceSpans, ScopeSpans, Span, TracesData};

    use super::*;

    fn batch(id: u8, spans: u32) -> TraceBatch {
        let span = Span {
            trace_id: vec![id; 16],
            span_id: vec![1; 8],
            name: "op".into(),
            start_time_unix_nano: 10,
            end_time_unix_nano: 20,
            ..Default::default()
        };
        TraceBatch {
            trace_id: TraceId([id; 16]),
            spans,
            range: TimeRange::new(10, 20),
            data: TracesData {
                resource_spans: vec![ResourceSpans {
                    scope_spans: vec![ScopeSpans {
                        spans: vec![span],
                        ..Default::default()
                    }],
                    ..Default::default()
                }],
            },
        }
    }

    #[test]
    fn round_trip() {
        let tenant = TenantId::new("tenant-a").unwrap();
        let (record, traces) = encode(&tenant, &[batch(1, 1), batch(2, 1)]);
        let (t, decoded) = decode(record).unwrap();
        assert_eq!(t, tenant);
        assert_eq!(decoded, traces);
        assert_eq!(
            TracesData::decode(decoded[1].data.clone()).unwrap(),
            batch(2, 1).data
        );
    }

    #[test]
    fn every_truncation_is_an_error_not_a_panic() {
        let tenant = TenantId::new("tenant-a").unwrap();
        let (record, _) = encode(&tenant, &[batch(1, 1), batch(2, 1)]);
        for len in 0..record.len() {
            assert!(
                decode(record.slice(..len)).is_err(),
                "prefix of {len} bytes"
            );
        }
        let mut bad = record.to_vec();
        bad[0] = 9;
        assert!(decode(Bytes::from(bad)).is_err());
    }
}
