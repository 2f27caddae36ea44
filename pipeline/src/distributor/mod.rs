//! The distributor: admission by in-flight bytes, decoding, per-span validation, attribute
//! truncation and regrouping by trace. Everything CPU-heavy here runs on a blocking thread.

mod otlp_json;
mod regroup;
mod validate;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use prost::Message;
use sextant_model::otlp::TracesData;
use sextant_model::{Payload, PayloadFormat};

use crate::error::{Error, Result};
use crate::metrics::Metrics;

pub use otlp_json::{MAX_VALUE_DEPTH, decode_otlp_json};
pub(crate) use regroup::{TraceBatch, regroup};
pub(crate) use validate::{Checked, validate_and_truncate};

/// Decodes an OTLP protobuf `ExportTraceServiceRequest` (prost refuses nesting deeper than 100).
pub fn decode_otlp_protobuf(bytes: &[u8]) -> Result<TracesData> {
    TracesData::decode(bytes).map_err(|e| Error::decode("protobuf", e))
}

/// A decoded, validated request split by trace.
#[derive(Debug)]
pub(crate) struct Prepared {
    pub(crate) checked: Checked,
    pub(crate) batches: Vec<TraceBatch>,
}

/// Decode, validate, truncate and regroup one payload. CPU-bound: call off the executor.
pub(crate) fn prepare(payload: &Payload, max_attribute_bytes: u64) -> Result<Prepared> {
    let mut data = match payload.format {
        PayloadFormat::OtlpProtobuf => decode_otlp_protobuf(&payload.body)?,
        PayloadFormat::OtlpJson => decode_otlp_json(&payload.body)?,
    };
    let checked = validate_and_truncate(&mut data, max_attribute_bytes);
    Ok(Prepared {
        checked,
        batches: regroup(data),
    })
}

/// Bounds the payload bytes being decoded and appended at once.
#[derive(Debug)]
pub(crate) struct Admission {
    used: AtomicU64,
    max: u64,
    retry_after: Duration,
    metrics: Metrics,
}

/// Releases its bytes when dropped.
#[derive(Debug)]
pub(crate) struct InflightGuard {
    admission: Arc<Admission>,
    bytes: u64,
}

impl Admission {
    pub(crate) fn new(max: u64, retry_after: Duration, metrics: Metrics) -> Arc<Self> {
        Arc::new(Self {
            used: AtomicU64::new(0),
            max,
            retry_after,
            metrics,
        })
    }

    pub(crate) fn reserve(self: &Arc<Self>, bytes: u64) -> Result<InflightGuard> {
        let before = self.used.fetch_add(bytes, Ordering::AcqRel);
        if before.saturating_add(bytes) > self.max {
            self.used.fetch_sub(bytes, Ordering::AcqRel);
            return Err(Error::Overloaded {
                message: format!(
                    "too many bytes in flight: {before} bytes being ingested, limit {} bytes",
                    self.max
                ),
                retry_after: self.retry_after,
            });
        }
        self.update_gauge();
        Ok(InflightGuard {
            admission: Arc::clone(self),
            bytes,
        })
    }

    fn update_gauge(&self) {
        let used = self.used.load(Ordering::Acquire);
        self.metrics
            .inflight_bytes
            .set(i64::try_from(used).unwrap_or(i64::MAX));
    }
}

impl Drop for InflightGuard {
    fn drop(&mut self) {
        self.admission.used.fetch_sub(self.bytes, Ordering::AcqRel);
        self.admission.update_gauge();
    }
}

#[cfg(test)]
mod tests;
