//! The generator at work: [`Feed`] takes accepted spans from the ingest path without ever making
//! it wait (beyond `queue_bytes` it sheds and counts), one thread counts them into each tenant's
//! [`Instance`] and, every `collection_interval`, collects every tenant's series into write
//! requests for the [`Sender`].
//!
//! A tenant's instance follows its settings in the tenant snapshot: it starts with the first
//! spans that arrive while a processor is on, is rebuilt (its series start again from zero)
//! when the settings change, and is dropped when every processor is turned off. A tenant's
//! target is its own `remote_write`, else the configured default; with neither, its samples are
//! counted as dropped (`no_target`).

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use prometheus_client::registry::Registry;
use prost::Message;
use sextant_model::{GeneratorSettings, RemoteWriteTarget, TenantDirectory, TenantId};
use tokio_util::sync::CancellationToken;

use super::config::GeneratorConfig;
use super::instance::{Counters, Instance};
use super::metrics::{
    EDGE_STORE_FULL, GeneratorMetrics, MAX_ACTIVE_SERIES, NO_TARGET, OUTSIDE_SLACK, ReasonLabels,
};
use super::remote_write::{encode, write_request};
use super::sender::{Sender, WriteJob};
use crate::metrics::tenant as tenant_label;

/// Accepted spans of one request, as the WAL record holds them (protobuf `TracesData` per trace).
#[derive(Debug)]
struct Batch {
    tenant: TenantId,
    settings: Arc<GeneratorSettings>,
    traces: Vec<Bytes>,
    spans: u64,
    bytes: u64,
}

#[derive(Debug)]
enum Input {
    Spans(Batch),
    Stop,
}

/// The ingest path's handle on the generator; cheap to clone.
#[derive(Clone)]
pub struct Feed {
    tx: mpsc::Sender<Input>,
    queued: Arc<AtomicU64>,
    max_bytes: u64,
    metrics: GeneratorMetrics,
}

impl std::fmt::Debug for Feed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Feed")
            .field("queued", &self.queued)
            .field("max_bytes", &self.max_bytes)
            .finish_non_exhaustive()
    }
}

impl Feed {
    /// Hands one request's accepted spans to the generator, or sheds them (counted) when
    /// `queue_bytes` are already waiting. Never blocks.
    pub(crate) fn offer(
        &self,
        tenant: &TenantId,
        settings: Arc<GeneratorSettings>,
        traces: Vec<Bytes>,
        spans: u64,
    ) {
        let bytes: u64 = traces.iter().map(|t| t.len() as u64).sum();
        let before = self.queued.fetch_add(bytes, Ordering::AcqRel);
        let shed = |queued: &AtomicU64| {
            queued.fetch_sub(bytes, Ordering::AcqRel);
            self.metrics
                .spans_shed
                .get_or_create(&tenant_label(tenant))
                .inc_by(spans);
        };
        if before + bytes > self.max_bytes {
            shed(&self.queued);
            return;
        }
        let batch = Batch {
            tenant: tenant.clone(),
            settings,
            traces,
            spans,
            bytes,
        };
        if self.tx.send(Input::Spans(batch)).is_err() {
            shed(&self.queued);
            return;
        }
        self.metrics
            .queued_bytes
            .set(i64::try_from(before + bytes).unwrap_or(i64::MAX));
    }
}

/// The running generator: its thread and its remote-write tasks.
#[derive(Debug)]
pub struct Generator {
    feed: Feed,
    thread: Option<JoinHandle<()>>,
    sender: Arc<Sender>,
    /// How long `stop` waits for the last requests to be delivered.
    flush_timeout: std::time::Duration,
    shutdown: CancellationToken,
}

impl Generator {
    /// Starts the generator thread and the remote-write sender (its tasks on the current Tokio
    /// runtime). Fails on invalid settings.
    pub fn start(
        config: GeneratorConfig,
        tenants: Arc<dyn TenantDirectory>,
        registry: &mut Registry,
    ) -> Result<Self, crate::Error> {
        let problems = config.validate();
        if !problems.is_empty() {
            return Err(crate::Error::Config(problems));
        }
        let metrics = GeneratorMetrics::register(registry);
        let shutdown = CancellationToken::new();
        let sender = Sender::new(
            config.remote_write.clone(),
            metrics.clone(),
            tokio::runtime::Handle::current(),
            shutdown.clone(),
        )
        .map_err(|e| crate::Error::Config(vec![e]))?;
        let (tx, rx) = mpsc::channel();
        let queued = Arc::new(AtomicU64::new(0));
        let feed = Feed {
            tx,
            queued: Arc::clone(&queued),
            max_bytes: config.queue_bytes,
            metrics: metrics.clone(),
        };
        let flush_timeout = config.remote_write.timeout;
        let mut external: Vec<(String, String)> = config
            .external_labels
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        external.push(("__metrics_gen_instance".to_owned(), host_name()));
        let mut worker = Worker {
            external,
            sender: Arc::clone(&sender),
            default_target: config.remote_write.default_target().map(Arc::new),
            config,
            tenants,
            instances: HashMap::new(),
            metrics,
            queued,
        };
        let thread = std::thread::Builder::new()
            .name("sextant-generator".to_owned())
            .spawn(move || worker.run(&rx))
            .map_err(|e| crate::Error::Internal(format!("cannot start the generator: {e}")))?;
        Ok(Self {
            feed,
            thread: Some(thread),
            sender,
            flush_timeout,
            shutdown,
        })
    }

    /// The handle the pipeline feeds accepted spans through.
    pub fn feed(&self) -> Feed {
        self.feed.clone()
    }

    /// Stops counting, collects a last time, waits up to `remote_write.timeout` for every
    /// queued request to be delivered, then stops the remote-write tasks (what is left is not
    /// sent).
    pub async fn stop(mut self) {
        let _ = self.feed.tx.send(Input::Stop);
        if let Some(thread) = self.thread.take() {
            let _ = tokio::task::spawn_blocking(move || thread.join()).await;
        }
        if !self.sender.flush(self.flush_timeout).await {
            tracing::warn!("metrics generator stopped with remote writes still queued");
        }
        self.shutdown.cancel();
    }
}

impl Drop for Generator {
    fn drop(&mut self) {
        let _ = self.feed.tx.send(Input::Stop);
        self.shutdown.cancel();
    }
}

struct TenantState {
    settings: Arc<GeneratorSettings>,
    instance: Instance,
    target: Option<Arc<RemoteWriteTarget>>,
}

struct Worker {
    config: GeneratorConfig,
    /// `external_labels` and `__metrics_gen_instance`, added to every series written.
    external: Vec<(String, String)>,
    default_target: Option<Arc<RemoteWriteTarget>>,
    tenants: Arc<dyn TenantDirectory>,
    instances: HashMap<TenantId, TenantState>,
    sender: Arc<Sender>,
    metrics: GeneratorMetrics,
    queued: Arc<AtomicU64>,
}

impl Worker {
    fn run(&mut self, rx: &mpsc::Receiver<Input>) {
        let interval = self.config.collection_interval;
        let mut next = Instant::now() + interval;
        loop {
            let wait = next.saturating_duration_since(Instant::now());
            match rx.recv_timeout(wait) {
                Ok(Input::Spans(batch)) => self.observe(batch),
                Ok(Input::Stop) | Err(mpsc::RecvTimeoutError::Disconnected) => {
                    self.collect();
                    return;
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {}
            }
            if Instant::now() >= next {
                self.collect();
                // Never a burst of collections to catch up after a slow one.
                next = (next + interval).max(Instant::now());
            }
        }
    }

    /// The tenant's state for `settings`: kept while they are equal (taking the newer `Arc`, so
    /// the next batch of the same snapshot compares pointers only), rebuilt when they differ.
    fn state(&mut self, tenant: &TenantId, settings: Arc<GeneratorSettings>) -> &mut TenantState {
        match self.instances.get_mut(tenant) {
            Some(s) if Arc::ptr_eq(&s.settings, &settings) => {}
            Some(s) if s.settings == settings => s.settings = settings,
            _ => {
                let state = self.new_state(settings);
                self.instances.insert(tenant.clone(), state);
            }
        }
        self.instances.get_mut(tenant).expect("inserted above")
    }

    fn new_state(&self, settings: Arc<GeneratorSettings>) -> TenantState {
        let c = &self.config;
        TenantState {
            instance: Instance::new(&settings, c),
            target: settings
                .remote_write
                .clone()
                .map(Arc::new)
                .or_else(|| self.default_target.clone()),
            settings,
        }
    }

    fn observe(&mut self, batch: Batch) {
        let now = SystemTime::now();
        let Batch {
            tenant,
            settings,
            traces,
            spans,
            bytes,
        } = batch;
        let state = self.state(&tenant, settings);
        for trace in traces {
            match super::view::Request::decode(trace) {
                Ok(data) => state.instance.observe(&data, now),
                // The pipeline encoded these bytes itself; a failure here is a bug, not input.
                Err(error) => tracing::error!(tenant = %tenant, %error,
                    "generator cannot decode accepted spans"),
            }
        }
        self.metrics
            .spans_received
            .get_or_create(&tenant_label(&tenant))
            .inc_by(spans);
        let left = self.queued.fetch_sub(bytes, Ordering::AcqRel) - bytes;
        self.metrics
            .queued_bytes
            .set(i64::try_from(left).unwrap_or(i64::MAX));
    }

    /// Collects every tenant's series and queues them for its target.
    fn collect(&mut self) {
        self.metrics.collections.inc();
        let now = SystemTime::now();
        let timestamp_ms = now
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
        let tenants: Vec<TenantId> = self.instances.keys().cloned().collect();
        for tenant in tenants {
            let label = tenant_label(&tenant);
            let latest = self.tenants.generator(&tenant);
            let state = self.instances.get_mut(&tenant).expect("listed above");
            let samples = state.instance.collect(now, self.config.stale_after);
            let Counters {
                series_limited,
                edge_store_full,
                edges_expired,
                outside_slack,
            } = state.instance.take_counters();
            for (reason, n) in [
                (MAX_ACTIVE_SERIES, series_limited),
                (EDGE_STORE_FULL, edge_store_full),
                (OUTSIDE_SLACK, outside_slack),
            ] {
                if n > 0 {
                    self.metrics
                        .spans_dropped
                        .get_or_create(&ReasonLabels {
                            tenant: tenant.as_str().to_owned(),
                            reason,
                        })
                        .inc_by(n);
                }
            }
            if edges_expired > 0 {
                self.metrics
                    .edges_expired
                    .get_or_create(&label)
                    .inc_by(edges_expired);
            }
            self.metrics
                .active_series
                .get_or_create(&label)
                .set(i64::try_from(state.instance.active_series()).unwrap_or(i64::MAX));
            self.queue(&tenant, &samples, timestamp_ms);
            match latest {
                None => {
                    // Every processor is off: forget the tenant's series.
                    self.instances.remove(&tenant);
                    self.metrics.active_series.remove(&label);
                }
                Some(settings) => {
                    self.state(&tenant, settings);
                }
            }
        }
    }

    fn queue(&self, tenant: &TenantId, samples: &[super::Sample], timestamp_ms: i64) {
        if samples.is_empty() {
            return;
        }
        let Some(target) = self.instances.get(tenant).and_then(|s| s.target.clone()) else {
            self.metrics
                .samples_dropped
                .get_or_create(&ReasonLabels {
                    tenant: tenant.as_str().to_owned(),
                    reason: NO_TARGET,
                })
                .inc_by(samples.len() as u64);
            return;
        };
        for chunk in samples.chunks(self.config.max_series_per_request) {
            let body = encode(&write_request(chunk, timestamp_ms, &self.external));
            self.sender.enqueue(
                tenant,
                WriteJob {
                    target: Arc::clone(&target),
                    body: Bytes::from(body),
                    samples: chunk.len() as u64,
                },
            );
        }
    }
}

/// This host's name (the kernel's, else `$HOSTNAME`, else `sextant`).
fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok().filter(|h| !h.is_empty()))
        .unwrap_or_else(|| "sextant".to_owned())
}
