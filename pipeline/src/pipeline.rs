//! [`Pipeline`]: the distributor, the ingester and the querier behind the model's ports.

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use async_trait::async_trait;
use prometheus_client::registry::Registry;
use sextant_model::{
    DiscardReason, IngestSink, Payload, PushOutcome, ReadinessProbe, TenantDirectory, TenantId,
    TimeRange, TraceId, TraceLookup, TraceReader,
};
use sextant_store::{ReplayStats, Wal, WalMetrics, WalPosition};
use tokio_util::sync::CancellationToken;

use crate::config::{BlockConfig, IngesterConfig, PipelineConfig};
use crate::distributor::{self, Admission};
use crate::error::{Error, Result};
use crate::flusher::{BlockBackend, Flusher};
use crate::generator::Feed;
use crate::ingester::{Admitted, Ingester};
use crate::metrics::Metrics;
use crate::querier;

/// The ingest and read path of one process: spans in, durable, readable by id.
pub struct Pipeline {
    config: IngesterConfig,
    pub(crate) tenants: Arc<dyn TenantDirectory>,
    wal: Arc<Wal>,
    replay_stats: ReplayStats,
    pub(crate) ingester: Arc<Ingester>,
    admission: Arc<Admission>,
    metrics: Metrics,
    closed: AtomicBool,
    /// Writes blocks and reads them back; `None` keeps everything in memory and the WAL.
    pub(crate) flusher: Option<Flusher>,
    block_config: BlockConfig,
    /// Held shared by every push from its WAL append until its traces are in memory, and
    /// exclusively while WAL segments are released: a record appended but not yet visible in
    /// memory must never have its segment released.
    append_gate: Arc<tokio::sync::RwLock<()>>,
    /// The metrics generator, fed every acknowledged request (never the WAL replay).
    generator: OnceLock<Feed>,
}

impl fmt::Debug for Pipeline {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pipeline")
            .field("config", &self.config)
            .field("memory_bytes", &self.ingester.memory_bytes())
            .field("closed", &self.closed.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl Pipeline {
    /// Opens the WAL (`config.wal`; the server sets `wal.dir`), replays it into memory and counts
    /// the results in metrics. A record that fails to decode is counted and skipped. With a
    /// block backend, completed traces are flushed to blocks and read back from them.
    pub fn open(
        config: PipelineConfig,
        tenants: Arc<dyn TenantDirectory>,
        backend: Option<BlockBackend>,
        registry: &mut Registry,
    ) -> Result<Arc<Pipeline>> {
        let problems = config.validate();
        if !problems.is_empty() {
            return Err(Error::Config(problems));
        }
        let metrics = Metrics::register(registry);
        let wal_metrics = WalMetrics::register(registry);
        let ingester = Ingester::new(
            config.ingester.max_live_bytes,
            config.ingester.retry_after,
            metrics.clone(),
        );
        let started = Instant::now();
        let (wal, replay_stats) = {
            let ingester = &ingester;
            let metrics = &metrics;
            Wal::open(config.wal, wal_metrics, |position, data| {
                metrics.replay_records.inc();
                match ingester.replay(position, data) {
                    Ok(spans) => {
                        metrics.replay_spans.inc_by(spans);
                    }
                    Err(error) => {
                        metrics.replay_failed_records.inc();
                        tracing::warn!(
                            segment = position.segment,
                            offset = position.offset,
                            %error,
                            "skipping undecodable wal record"
                        );
                    }
                }
            })?
        };
        tracing::info!(
            records = replay_stats.records,
            bytes = replay_stats.bytes,
            corrupt_regions = replay_stats.corrupt_regions,
            memory_bytes = ingester.memory_bytes(),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "wal replayed"
        );
        let admission = Admission::new(
            config.ingester.max_inflight_bytes,
            config.ingester.retry_after,
            metrics.clone(),
        );
        let flusher = backend.map(|b| Flusher::new(b, config.block.clone(), metrics.clone()));
        Ok(Arc::new(Pipeline {
            flusher,
            block_config: config.block,
            append_gate: Arc::new(tokio::sync::RwLock::new(())),
            config: config.ingester,
            tenants,
            wal: Arc::new(wal),
            replay_stats,
            ingester,
            admission,
            metrics,
            closed: AtomicBool::new(false),
            generator: OnceLock::new(),
        }))
    }

    /// From now on, every acknowledged request's spans of a tenant with a generator processor
    /// on are offered to `feed`. The WAL replay that `open` did is not, so no span counts twice.
    /// A second call is ignored.
    pub fn feed_generator(&self, feed: Feed) {
        if self.generator.set(feed).is_err() {
            tracing::warn!("the pipeline already feeds a generator");
        }
    }

    /// What the WAL replay found at open.
    pub fn replay_stats(&self) -> &ReplayStats {
        &self.replay_stats
    }

    /// Background work until `shutdown` is cancelled: completes idle and old traces every
    /// `sweep_interval`.
    pub async fn run(self: Arc<Self>, shutdown: CancellationToken) {
        // A zero interval would make tokio panic; a millisecond is the finest that makes sense.
        let period = self
            .config
            .sweep_interval
            .max(std::time::Duration::from_millis(1));
        let mut tick = tokio::time::interval(period);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = shutdown.cancelled() => break,
                _ = tick.tick() => {
                    let n = self.ingester.sweep(
                        Instant::now(),
                        self.config.trace_idle,
                        self.config.trace_max_live,
                    );
                    if n > 0 {
                        tracing::debug!(traces = n, "completed traces");
                    }
                    if let Some(flusher) = &self.flusher
                        && flusher.may_attempt(Instant::now())
                    {
                        let report = flusher.flush(&self.ingester, self.tenants.as_ref(), false).await;
                        if report.blocks > 0 {
                            self.release_wal().await;
                        }
                    }
                }
            }
        }
    }

    /// Refuses further pushes, flushes what it can to blocks (bounded by
    /// `block.shutdown_flush_timeout`; whatever is left stays in the WAL for the next start),
    /// then fsyncs and closes the WAL.
    pub async fn close(&self) -> Result<()> {
        self.closed.store(true, Ordering::Release);
        if let Some(flusher) = &self.flusher {
            // Wait for pushes already appending, so their traces are in memory.
            drop(self.append_gate.write().await);
            self.ingester.sweep(
                Instant::now(),
                std::time::Duration::ZERO,
                std::time::Duration::ZERO,
            );
            let flush = async {
                let report = flusher
                    .flush(&self.ingester, self.tenants.as_ref(), true)
                    .await;
                self.release_wal().await;
                report
            };
            match tokio::time::timeout(self.block_config.shutdown_flush_timeout, flush).await {
                Ok(report) => tracing::info!(
                    blocks = report.blocks,
                    failures = report.failures,
                    "flushed completed traces at shutdown"
                ),
                Err(_) => tracing::warn!(
                    timeout = ?self.block_config.shutdown_flush_timeout,
                    "shutdown flush timed out; the wal keeps the rest"
                ),
            }
        }
        self.wal.close().await?;
        Ok(())
    }

    /// Deletes WAL segments that only hold data already in registered blocks.
    async fn release_wal(&self) {
        let _exclusive = self.append_gate.write().await;
        let keep_from = match self.ingester.min_position() {
            Some(position) => position,
            // Nothing in memory needs the WAL: start a new segment so the one that was taking
            // appends (whose records are all in blocks) can go too. Otherwise a restart would
            // replay it and flush its traces a second time.
            None => match self.wal.roll().await {
                Ok(active) => WalPosition {
                    segment: active,
                    offset: 0,
                },
                Err(error) => {
                    tracing::warn!(%error, "cannot roll the wal");
                    return;
                }
            },
        };
        match self.wal.release_before(keep_from) {
            Ok(0) => {}
            Ok(bytes) => {
                self.metrics.wal_released_bytes.inc_by(bytes);
                tracing::debug!(bytes, "released wal segments");
                crate::failpoint::hit("flush.after_wal_release");
            }
            Err(error) => tracing::warn!(%error, "cannot release wal segments"),
        }
    }

    /// Flushes every completed trace now (tests and tools; the background loop does this on
    /// its own schedule). Returns the blocks written.
    pub async fn flush_now(&self) -> Result<usize> {
        let Some(flusher) = &self.flusher else {
            return Ok(0);
        };
        let report = flusher
            .flush(&self.ingester, self.tenants.as_ref(), true)
            .await;
        self.release_wal().await;
        if report.failures > 0 {
            return Err(Error::Blocks(sextant_model::Error::unavailable(
                "block flush failed",
                self.block_config.flush_retry_min,
            )));
        }
        Ok(report.blocks)
    }

    async fn push_inner(&self, tenant: &TenantId, payload: Payload) -> Result<PushOutcome> {
        if self.closed.load(Ordering::Acquire) {
            return Err(Error::Closed {
                retry_after: self.config.retry_after,
            });
        }
        if self.wal.is_over_cap() {
            // Refuse before decoding: the append would be refused anyway.
            return Err(Error::Overloaded {
                message: format!(
                    "write-ahead log full: {} bytes on disk, cap {} bytes",
                    self.wal.disk_bytes(),
                    self.wal.max_bytes()
                ),
                retry_after: self.config.retry_after,
            });
        }
        let size = payload.body.len() as u64;
        let _inflight = self.admission.reserve(size)?;
        let limits = self.tenants.limits(tenant);
        let ingester = Arc::clone(&self.ingester);
        let metrics = self.metrics.clone();
        let owner = tenant.clone();
        let (checked, admitted) = tokio::task::spawn_blocking(move || {
            let prepared = distributor::prepare(&payload, limits.max_attribute_bytes)?;
            metrics.received(&owner, prepared.checked.received, size);
            metrics.truncated(&owner, prepared.checked.truncated);
            for (reason, n) in prepared.checked.rejections() {
                metrics.discarded(&owner, reason, n);
            }
            let admitted = ingester.admit(&owner, &limits, prepared.batches);
            Ok::<_, Error>((prepared.checked, admitted))
        })
        .await
        .map_err(|e| Error::Internal(format!("decode task failed: {e}")))??;
        let admitted = match admitted {
            Ok(a) => a,
            Err(e) => {
                let spans = checked.received - checked.invalid_trace_id - checked.invalid_span_id;
                self.metrics
                    .discarded(tenant, DiscardReason::Unavailable, spans);
                return Err(e);
            }
        };
        for (reason, n) in &admitted.rejected {
            self.metrics.discarded(tenant, *reason, *n);
        }
        let mut rejections: Vec<(DiscardReason, u64)> = checked.rejections().to_vec();
        rejections.extend(admitted.rejected.iter().copied());
        let outcome = outcome(admitted.accepted_spans, &rejections);
        if admitted.traces.is_empty() {
            return Ok(outcome);
        }
        // Append and commit in a task of their own: a client that goes away mid-append must not
        // leave a record in the WAL that memory (and so reads) never learn of.
        let wal = Arc::clone(&self.wal);
        let ingester = Arc::clone(&self.ingester);
        let owner = tenant.clone();
        let Admitted {
            record,
            traces,
            accepted_spans,
            reservation,
            ..
        } = admitted;
        // The generator's share: the same bytes as the WAL record's (no copy), handed over
        // only once the request is acknowledged.
        let generator = self.generator.get().and_then(|feed| {
            let settings = self.tenants.generator(tenant)?;
            let data: Vec<bytes::Bytes> = traces.iter().map(|t| t.data.clone()).collect();
            Some((feed, settings, data))
        });
        let gate = Arc::clone(&self.append_gate);
        let appended = tokio::spawn(async move {
            let _shared = gate.read_owned().await;
            let position = wal.append(record).await?;
            ingester.commit(&owner, traces, position, reservation);
            Ok::<_, Error>(())
        })
        .await
        .map_err(|e| Error::Internal(format!("append task failed: {e}")))
        .and_then(|r| r);
        if let Err(e) = appended {
            self.metrics
                .discarded(tenant, DiscardReason::Unavailable, accepted_spans);
            return Err(e);
        }
        if let Some((feed, settings, data)) = generator {
            feed.offer(tenant, settings, data, accepted_spans);
        }
        Ok(outcome)
    }

    #[cfg(test)]
    pub(crate) fn ingester(&self) -> &Ingester {
        &self.ingester
    }
}

/// The answer to a push: accepted count, and why the rest were rejected, e.g.
/// "2 spans rejected: 1 invalid trace id, 1 invalid span id".
fn outcome(accepted: u64, rejections: &[(DiscardReason, u64)]) -> PushOutcome {
    let rejected: u64 = rejections.iter().map(|(_, n)| n).sum();
    let message = if rejected == 0 {
        String::new()
    } else {
        let parts: Vec<String> = rejections
            .iter()
            .filter(|(_, n)| *n > 0)
            .map(|(r, n)| format!("{n} {}", r.as_str().replace('_', " ")))
            .collect();
        let noun = if rejected == 1 { "span" } else { "spans" };
        format!("{rejected} {noun} rejected: {}", parts.join(", "))
    };
    PushOutcome {
        accepted_spans: accepted,
        rejected_spans: rejected,
        message,
        discarded: rejections.iter().copied().filter(|(_, n)| *n > 0).collect(),
    }
}

#[async_trait]
impl IngestSink for Pipeline {
    async fn push(
        &self,
        tenant: &TenantId,
        payload: Payload,
    ) -> sextant_model::Result<PushOutcome> {
        let started = Instant::now();
        let result = self.push_inner(tenant, payload).await;
        self.metrics
            .push_duration
            .observe(started.elapsed().as_secs_f64());
        match &result {
            Err(error) if error.kind() == sextant_model::ErrorKind::Internal => {
                tracing::error!(tenant = %tenant, %error, "push failed");
            }
            Err(error) => tracing::debug!(tenant = %tenant, %error, "push refused"),
            Ok(_) => {}
        }
        Ok(result?)
    }
}

#[async_trait]
impl TraceReader for Pipeline {
    async fn trace_by_id(
        &self,
        tenant: &TenantId,
        id: TraceId,
        range: Option<TimeRange>,
    ) -> sextant_model::Result<Option<TraceLookup>> {
        // Memory first, then blocks: a flush registers its block before it drops the traces
        // from memory, so a trace leaving memory between the two reads is found in its block.
        let mut segments = self.ingester.segments(tenant, &id, range);
        if let Some(flusher) = &self.flusher {
            match flusher.find(tenant, id, range).await {
                Ok(found) => {
                    for (trace, _inspected) in found {
                        segments.push(bytes::Bytes::from(prost::Message::encode_to_vec(&trace)));
                    }
                }
                // What memory holds is still an answer; with nothing there, the client retries.
                Err(error) if !segments.is_empty() => {
                    tracing::warn!(tenant = %tenant, trace = %id, %error,
                        "block lookup failed; answering from memory");
                }
                Err(error) => return Err(error.into()),
            }
        }
        if segments.is_empty() {
            return Ok(None);
        }
        // Small traces merge inline; large ones off the executor.
        let total: usize = segments.iter().map(bytes::Bytes::len).sum();
        if total < 256 * 1024 {
            return Ok(querier::merge(segments));
        }
        tokio::task::spawn_blocking(move || querier::merge(segments))
            .await
            .map_err(|e| Error::Internal(format!("merge task failed: {e}")).into())
    }
}

impl ReadinessProbe for Pipeline {
    fn readiness(&self) -> std::result::Result<(), String> {
        if let Some(failure) = self.wal.failure() {
            return Err(format!("wal failed and refuses appends: {failure}"));
        }
        if self.wal.is_over_cap() {
            return Err(format!(
                "wal is over its byte cap: {} bytes on disk, cap {} bytes",
                self.wal.disk_bytes(),
                self.wal.max_bytes()
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod deletion_tests;
#[cfg(test)]
mod generator_tests;
#[cfg(test)]
mod tests;
