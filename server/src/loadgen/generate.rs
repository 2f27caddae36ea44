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
pub(crate) fn payload(seed: u64, spans: usize) -> Payload {
    let (request, trace_ids) = sextant_model::synth::request(seed, spans);
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

#[cfg(test)]
mod tests {
    use sextant_model::otlp::{Span, TracesData};

    use super::*;

    #[test]
    fn payloads_have_the_requested_shape() {
        let p = payload(7, 100);
        assert_eq!(p.spans, 100);
        let decoded = TracesData::decode(p.bytes.as_slice()).unwrap();
        let spans: Vec<&Span> = decoded
            .resource_spans
            .iter()
            .flat_map(|r| &r.scope_spans)
            .flat_map(|s| &s.spans)
            .collect();
        assert_eq!(spans.len(), 100);
        let per_span = p.bytes.len() / p.spans;
        assert!((400..=650).contains(&per_span), "{per_span} bytes per span");
        // Every span's trace ID is found at a recorded offset.
        let recorded: usize = p.trace_offsets.iter().map(Vec::len).sum();
        assert_eq!(recorded, 100);
    }

    #[test]
    fn fresh_ids_replace_every_occurrence() {
        let p = payload(1, 50);
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
