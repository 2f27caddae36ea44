//! Realistic, deterministic trace payloads for the load generator.

use bytes::Bytes;
use prost::Message;

/// One encoded `ExportTraceServiceRequest` and where each of its traces' IDs sits in it.
#[derive(Debug, Clone)]
pub(crate) struct Payload {
    pub(crate) bytes: Vec<u8>,
    pub(crate) spans: usize,
    /// For each trace in the payload, every byte offset where its 16-byte ID was written.
    pub(crate) trace_offsets: Vec<Vec<usize>>,
}

impl Payload {
    /// A copy of the payload whose traces carry new IDs: `prefix` then `seq + k` for trace `k`.
    pub(crate) fn with_fresh_trace_ids(&self, prefix: u64, seq: u64) -> Bytes {
        let mut bytes = self.bytes.clone();
        for (k, offsets) in self.trace_offsets.iter().enumerate() {
            let mut id = [0u8; 16];
            id[..8].copy_from_slice(&prefix.to_be_bytes());
            id[8..].copy_from_slice(&(seq + k as u64).to_be_bytes());
            for &at in offsets {
                bytes[at..at + 16].copy_from_slice(&id);
            }
        }
        Bytes::from(bytes)
    }
}

/// An export request of about `spans` spans from the shared generator
/// ([`sextant_model::synth::request`]), encoded, with the offsets of its trace IDs.
///
/// The generator's times are fixed (deterministic data sets); they are moved so that the
/// payload's earliest span starts at `start_unix_nano` when given, so what the load generator
/// sends is recent, as real traffic is — not years old, which retention would delete at once.
/// Benchmark data sets keep the fixed times (`None`).
pub(crate) fn payload(seed: u64, spans: usize, start_unix_nano: Option<u64>) -> Payload {
    let (mut request, trace_ids) = sextant_model::synth::request(seed, spans);
    if let Some(start) = start_unix_nano {
        shift_times(&mut request, start);
    }
    let spans = request
        .resource_spans
        .iter()
        .flat_map(|r| &r.scope_spans)
        .map(|s| s.spans.len())
        .sum();
    let bytes = request.encode_to_vec();
    let trace_offsets = trace_ids
        .iter()
        .map(|id| {
            bytes
                .windows(16)
                .enumerate()
                .filter(|(_, w)| *w == id.0)
                .map(|(at, _)| at)
                .collect()
        })
        .collect();
    Payload {
        bytes,
        spans,
        trace_offsets,
    }
}

/// Moves every span and event time so the earliest span start becomes `start_unix_nano`.
fn shift_times(request: &mut sextant_model::otlp::TracesData, start_unix_nano: u64) {
    let spans = || {
        request
            .resource_spans
            .iter()
            .flat_map(|r| &r.scope_spans)
            .flat_map(|s| &s.spans)
    };
    let Some(earliest) = spans().map(|s| s.start_time_unix_nano).min() else {
        return;
    };
    let shift = |t: u64| t.wrapping_sub(earliest).wrapping_add(start_unix_nano);
    for span in request
        .resource_spans
        .iter_mut()
        .flat_map(|r| &mut r.scope_spans)
        .flat_map(|s| &mut s.spans)
    {
        span.start_time_unix_nano = shift(span.start_time_unix_nano);
        span.end_time_unix_nano = shift(span.end_time_unix_nano);
        for event in &mut span.events {
            event.time_unix_nano = shift(event.time_unix_nano);
        }
    }
}

#[cfg(test)]
mod tests {
    use sextant_model::otlp::{Span, TracesData};

    use super::*;

    /// Every span of a payload, decoded.
    fn spans(p: &Payload) -> Vec<Span> {
        TracesData::decode(p.bytes.as_slice())
            .unwrap()
            .resource_spans
            .into_iter()
            .flat_map(|r| r.scope_spans)
            .flat_map(|s| s.spans)
            .collect()
    }

    #[test]
    fn payloads_have_the_requested_shape() {
        let p = payload(7, 100, None);
        assert_eq!(p.spans, 100);
        let spans = spans(&p);
        assert_eq!(spans.len(), 100);
        let per_span = p.bytes.len() / p.spans;
        assert!((400..=650).contains(&per_span), "{per_span} bytes per span");
        // Every span's trace ID is found at a recorded offset.
        let recorded: usize = p.trace_offsets.iter().map(Vec::len).sum();
        assert_eq!(recorded, 100);
    }

    #[test]
    fn payloads_can_be_moved_to_now() {
        let start = 1_900_000_000_000_000_000;
        let p = payload(3, 40, Some(start));
        let spans = spans(&p);
        assert_eq!(
            spans.iter().map(|s| s.start_time_unix_nano).min(),
            Some(start)
        );
        for s in &spans {
            assert!(s.end_time_unix_nano >= s.start_time_unix_nano);
            assert!(s.start_time_unix_nano < start + 3_600_000_000_000);
            for e in &s.events {
                assert!(e.time_unix_nano >= start);
            }
        }
    }

    #[test]
    fn fresh_ids_replace_every_occurrence() {
        let p = payload(1, 50, None);
        let body = p.with_fresh_trace_ids(0xAB, 1000);
        let decoded = TracesData::decode(body.as_ref()).unwrap();
        for span in decoded
            .resource_spans
            .iter()
            .flat_map(|r| &r.scope_spans)
            .flat_map(|s| &s.spans)
        {
            assert_eq!(&span.trace_id[..8], &0xABu64.to_be_bytes());
            let seq = u64::from_be_bytes(span.trace_id[8..].try_into().unwrap());
            assert!((1000..1000 + p.trace_offsets.len() as u64).contains(&seq));
        }
    }
}
