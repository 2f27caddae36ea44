//! Remote write over HTTP: one bounded queue and one delivery task per tenant, so a slow or dead
//! target holds up only its own tenant's series. A full queue drops its oldest request (the
//! newest carries the same counters, further on). A failed attempt is retried with exponential
//! backoff when the target may recover (a connection error, a timeout, 429 or a 5xx); any other
//! answer drops the request. Every outcome is counted per tenant.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use parking_lot::Mutex;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use sextant_model::{RemoteWriteTarget, TenantId};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::config::RemoteWriteConfig;
use super::metrics::{GeneratorMetrics, QUEUE_FULL, REJECTED, ReasonLabels};
use crate::metrics::tenant as tenant_label;

/// `Content-Type` of a remote write 1.0 body.
const CONTENT_TYPE: &str = "application/x-protobuf";
/// The protocol version header's value for remote write 1.0.
const PROTOCOL_VERSION: &str = "0.1.0";
/// The header some multi-tenant stores (Mimir, Cortex) read the tenant from.
const ORG_ID_HEADER: &str = "x-scope-orgid";
/// Bytes of an error answer kept for the log.
const ERROR_BODY_BYTES: usize = 256;

/// One write request on its way: the encoded body and where it goes.
#[derive(Debug, Clone)]
pub(crate) struct WriteJob {
    pub(crate) target: Arc<RemoteWriteTarget>,
    /// Snappy-compressed protobuf `WriteRequest`.
    pub(crate) body: Bytes,
    pub(crate) samples: u64,
}

#[derive(Debug, Default)]
struct Queue {
    jobs: Mutex<VecDeque<WriteJob>>,
    ready: Notify,
}

/// Every tenant's queue and delivery task.
#[derive(Debug)]
pub(crate) struct Sender {
    client: reqwest::Client,
    config: RemoteWriteConfig,
    queues: Mutex<HashMap<TenantId, Arc<Queue>>>,
    metrics: GeneratorMetrics,
    runtime: tokio::runtime::Handle,
    shutdown: CancellationToken,
    /// Requests taken from a queue and not yet accepted, rejected or given up.
    in_flight: AtomicUsize,
}

/// What one attempt came to.
enum Attempt {
    Sent,
    /// Worth another try, after at least this long.
    Retry(Option<Duration>),
    Rejected,
}

impl Sender {
    /// A sender whose delivery tasks run on `runtime` until `shutdown`.
    pub(crate) fn new(
        config: RemoteWriteConfig,
        metrics: GeneratorMetrics,
        runtime: tokio::runtime::Handle,
        shutdown: CancellationToken,
    ) -> Result<Arc<Self>, String> {
        let client = reqwest::Client::builder()
            .timeout(config.timeout)
            .user_agent(concat!("sextant/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("remote-write client: {e}"))?;
        Ok(Arc::new(Self {
            client,
            config,
            queues: Mutex::new(HashMap::new()),
            metrics,
            runtime,
            shutdown,
            in_flight: AtomicUsize::new(0),
        }))
    }

    /// Queues `job` for `tenant`, dropping the tenant's oldest request when its queue is full.
    /// Never waits.
    pub(crate) fn enqueue(self: &Arc<Self>, tenant: &TenantId, job: WriteJob) {
        let queue = {
            let mut queues = self.queues.lock();
            match queues.get(tenant) {
                Some(q) => Arc::clone(q),
                None => {
                    let q = Arc::new(Queue::default());
                    queues.insert(tenant.clone(), Arc::clone(&q));
                    let sender = Arc::clone(self);
                    let (tenant, q2) = (tenant.clone(), Arc::clone(&q));
                    self.runtime
                        .spawn(async move { sender.drain(tenant, q2).await });
                    q
                }
            }
        };
        let label = tenant_label(tenant);
        let mut jobs = queue.jobs.lock();
        while jobs.len() >= self.config.queue_requests {
            let Some(oldest) = jobs.pop_front() else {
                break;
            };
            self.dropped(tenant, QUEUE_FULL, oldest.samples);
        }
        jobs.push_back(job);
        self.metrics
            .queue_length
            .get_or_create(&label)
            .set(jobs.len() as i64);
        drop(jobs);
        queue.ready.notify_one();
    }

    /// Waits until every queue is empty and nothing is in flight, up to `deadline`; whether
    /// it got there.
    pub(crate) async fn flush(&self, deadline: Duration) -> bool {
        let until = tokio::time::Instant::now() + deadline;
        loop {
            let empty = self
                .queues
                .lock()
                .values()
                .all(|q| q.jobs.lock().is_empty());
            if empty && self.in_flight.load(Ordering::Acquire) == 0 {
                return true;
            }
            if tokio::time::Instant::now() >= until {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    fn dropped(&self, tenant: &TenantId, reason: &'static str, samples: u64) {
        self.metrics
            .samples_dropped
            .get_or_create(&ReasonLabels {
                tenant: tenant.as_str().to_owned(),
                reason,
            })
            .inc_by(samples);
    }

    /// Delivers the tenant's requests in order, one at a time, until shutdown.
    async fn drain(self: Arc<Self>, tenant: TenantId, queue: Arc<Queue>) {
        let label = tenant_label(&tenant);
        loop {
            let next = {
                let mut jobs = queue.jobs.lock();
                let next = jobs.pop_front();
                if next.is_some() {
                    self.in_flight.fetch_add(1, Ordering::AcqRel);
                }
                self.metrics
                    .queue_length
                    .get_or_create(&label)
                    .set(jobs.len() as i64);
                next
            };
            let Some(job) = next else {
                tokio::select! {
                    () = queue.ready.notified() => continue,
                    () = self.shutdown.cancelled() => return,
                }
            };
            let delivered = self.deliver(&tenant, job).await;
            self.in_flight.fetch_sub(1, Ordering::AcqRel);
            if !delivered {
                return;
            }
        }
    }

    /// Sends one request until it is accepted or rejected; false when shutdown came first.
    async fn deliver(&self, tenant: &TenantId, job: WriteJob) -> bool {
        let label = tenant_label(tenant);
        let mut backoff = self.config.min_backoff;
        let mut failures = 0u32;
        loop {
            match self.attempt(tenant, &job).await {
                Attempt::Sent => {
                    self.metrics
                        .samples_sent
                        .get_or_create(&label)
                        .inc_by(job.samples);
                    self.metrics.requests_sent.get_or_create(&label).inc();
                    if failures > 0 {
                        tracing::info!(tenant = %tenant, failures, "remote write recovered");
                    }
                    return true;
                }
                Attempt::Rejected => {
                    self.dropped(tenant, REJECTED, job.samples);
                    return true;
                }
                Attempt::Retry(hint) => {
                    failures += 1;
                    self.metrics
                        .samples_failed
                        .get_or_create(&label)
                        .inc_by(job.samples);
                    let wait = hint.map_or(backoff, |h| h.clamp(backoff, self.config.max_backoff));
                    tokio::select! {
                        () = tokio::time::sleep(wait) => {}
                        () = self.shutdown.cancelled() => return false,
                    }
                    backoff = (backoff * 2).min(self.config.max_backoff);
                }
            }
        }
    }

    async fn attempt(&self, tenant: &TenantId, job: &WriteJob) -> Attempt {
        let headers = match request_headers(tenant, &job.target) {
            Ok(h) => h,
            Err(error) => {
                tracing::warn!(tenant = %tenant, %error, "remote-write headers refused");
                return Attempt::Rejected;
            }
        };
        let sent = self
            .client
            .post(&job.target.url)
            .headers(headers)
            .body(job.body.clone())
            .send()
            .await;
        let response = match sent {
            Ok(r) => r,
            Err(error) => {
                tracing::warn!(tenant = %tenant, url = %job.target.url, error = %error.without_url(),
                    "remote write failed; retrying");
                return Attempt::Retry(None);
            }
        };
        let status = response.status();
        if status.is_success() {
            return Attempt::Sent;
        }
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let body = response.text().await.unwrap_or_default();
        let body: String = body.chars().take(ERROR_BODY_BYTES).collect();
        if status.as_u16() == 429 || status.is_server_error() {
            tracing::warn!(tenant = %tenant, url = %job.target.url, %status, %body,
                "remote write refused for now; retrying");
            Attempt::Retry(retry_after)
        } else {
            tracing::warn!(tenant = %tenant, url = %job.target.url, %status, %body,
                samples = job.samples, "remote write rejected; dropping the request");
            Attempt::Rejected
        }
    }
}

/// The headers of a write to `target` for `tenant`: the protocol's, the target's own, and
/// `X-Scope-OrgID` when the target asks for it and names no such header itself.
fn request_headers(tenant: &TenantId, target: &RemoteWriteTarget) -> Result<HeaderMap, String> {
    let mut headers = HeaderMap::new();
    headers.insert(
        reqwest::header::CONTENT_TYPE,
        HeaderValue::from_static(CONTENT_TYPE),
    );
    headers.insert(
        reqwest::header::CONTENT_ENCODING,
        HeaderValue::from_static("snappy"),
    );
    headers.insert(
        HeaderName::from_static("x-prometheus-remote-write-version"),
        HeaderValue::from_static(PROTOCOL_VERSION),
    );
    for (name, value) in &target.headers {
        let name = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| format!("{name:?} is not a header name"))?;
        let mut value =
            HeaderValue::from_str(value).map_err(|_| format!("the value of {name} is invalid"))?;
        value.set_sensitive(true);
        headers.insert(name, value);
    }
    if target.add_org_id_header && !headers.contains_key(ORG_ID_HEADER) {
        let value = HeaderValue::from_str(tenant.as_str())
            .map_err(|_| "the tenant ID is not a header value".to_owned())?;
        headers.insert(HeaderName::from_static(ORG_ID_HEADER), value);
    }
    Ok(headers)
}

#[cfg(test)]
#[path = "sender_tests.rs"]
mod tests;
