//! Decorator: retries with exponential backoff, for transient failures only.
//!
//! Transient: `Error::Generic` (connection refused or reset, 5xx, throttling, our own
//! timeouts) and join errors. Never retried: not found, already exists, precondition, not
//! modified, invalid path, permission and authentication errors, unsupported operations.
//! Not retried either, because a repeat is not safe at this layer: multipart parts and
//! completion (a repeated part registers a second part), items of a body stream, and listings
//! that already yielded an item. The caller (the block flusher) retries those as a whole.

use std::fmt;
use std::future::Future;
use std::ops::Range;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use futures::stream::{self, BoxStream, StreamExt};
use object_store::path::Path;
use object_store::{
    CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore,
    PutMultipartOptions, PutOptions, PutPayload, PutResult, RenameOptions, Result,
};

use super::metrics::ObjectStoreMetrics;

/// Deletes of one `delete_stream` call in flight at once.
const DELETE_CONCURRENCY: usize = 10;

/// Worth another attempt?
pub(crate) fn is_transient(error: &object_store::Error) -> bool {
    matches!(
        error,
        object_store::Error::Generic { .. } | object_store::Error::JoinError { .. }
    )
}

/// How often and how patiently to retry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RetryPolicy {
    /// Attempts after the first.
    pub(crate) retries: u32,
    /// Wait before the first retry; doubled for each further one (up to 64 times), with the
    /// upper half jittered so many writers do not retry in step.
    pub(crate) backoff: Duration,
}

impl RetryPolicy {
    fn delay(&self, retry: u32) -> Duration {
        let full = self.backoff.saturating_mul(1 << retry.min(6));
        full.mul_f64(rand::random_range(0.5..=1.0))
    }
}

#[derive(Debug, Clone)]
pub(crate) struct RetryStore {
    inner: Arc<dyn ObjectStore>,
    policy: RetryPolicy,
    metrics: ObjectStoreMetrics,
}

impl RetryStore {
    pub(crate) fn new(
        inner: Arc<dyn ObjectStore>,
        policy: RetryPolicy,
        metrics: ObjectStoreMetrics,
    ) -> Self {
        Self {
            inner,
            policy,
            metrics,
        }
    }

    async fn run<T, F, Fut>(&self, operation: &'static str, mut attempt: F) -> Result<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        let mut retry = 0;
        loop {
            match attempt().await {
                Err(error) if retry < self.policy.retries && is_transient(&error) => {
                    let delay = self.policy.delay(retry);
                    tracing::debug!(
                        operation,
                        retry = retry + 1,
                        ?delay,
                        %error,
                        "object store request failed, retrying"
                    );
                    self.metrics.add_retry(operation);
                    tokio::time::sleep(delay).await;
                    retry += 1;
                }
                outcome => return outcome,
            }
        }
    }

    /// A listing is retried as a whole until it yields its first item (or ends); after that
    /// an error is passed on, since a restarted listing would repeat items.
    fn retry_listing<F>(&self, list: F) -> BoxStream<'static, Result<ObjectMeta>>
    where
        F: Fn(&dyn ObjectStore) -> BoxStream<'static, Result<ObjectMeta>> + Send + 'static,
    {
        let this = self.clone();
        stream::once(async move {
            let mut retry = 0;
            loop {
                let mut listing = list(this.inner.as_ref());
                match listing.next().await {
                    Some(Err(error)) if retry < this.policy.retries && is_transient(&error) => {
                        let delay = this.policy.delay(retry);
                        tracing::debug!(retry = retry + 1, ?delay, %error, "object store listing failed, retrying");
                        this.metrics.add_retry("list");
                        tokio::time::sleep(delay).await;
                        retry += 1;
                    }
                    Some(first) => return stream::iter([first]).chain(listing).boxed(),
                    None => return stream::empty().boxed(),
                }
            }
        })
        .flatten()
        .boxed()
    }
}

impl fmt::Display for RetryStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Retry({}, {})", self.policy.retries, self.inner)
    }
}

#[async_trait]
impl ObjectStore for RetryStore {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> Result<PutResult> {
        self.run("put", || {
            self.inner.put_opts(location, payload.clone(), opts.clone())
        })
        .await
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> Result<Box<dyn MultipartUpload>> {
        self.run("put_multipart", || {
            self.inner.put_multipart_opts(location, opts.clone())
        })
        .await
    }

    async fn get_opts(&self, location: &Path, options: GetOptions) -> Result<GetResult> {
        let operation = if options.head { "head" } else { "get" };
        self.run(operation, || self.inner.get_opts(location, options.clone()))
            .await
    }

    async fn get_ranges(&self, location: &Path, ranges: &[Range<u64>]) -> Result<Vec<Bytes>> {
        self.run("get_ranges", || self.inner.get_ranges(location, ranges))
            .await
    }

    /// Each path is deleted (and retried) on its own, a few at a time, so a retry never
    /// repeats or loses another path's outcome.
    fn delete_stream(
        &self,
        locations: BoxStream<'static, Result<Path>>,
    ) -> BoxStream<'static, Result<Path>> {
        let this = self.clone();
        locations
            .map(move |location| {
                let this = this.clone();
                async move {
                    let location = location?;
                    this.run("delete", || async {
                        let single = stream::iter([Ok(location.clone())]).boxed();
                        this.inner
                            .delete_stream(single)
                            .next()
                            .await
                            .unwrap_or_else(|| Ok(location.clone()))
                    })
                    .await
                }
            })
            .buffered(DELETE_CONCURRENCY)
            .boxed()
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, Result<ObjectMeta>> {
        let prefix = prefix.cloned();
        self.retry_listing(move |inner| inner.list(prefix.as_ref()))
    }

    fn list_with_offset(
        &self,
        prefix: Option<&Path>,
        offset: &Path,
    ) -> BoxStream<'static, Result<ObjectMeta>> {
        let prefix = prefix.cloned();
        let offset = offset.clone();
        self.retry_listing(move |inner| inner.list_with_offset(prefix.as_ref(), &offset))
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> Result<ListResult> {
        self.run("list_with_delimiter", || {
            self.inner.list_with_delimiter(prefix)
        })
        .await
    }

    async fn copy_opts(&self, from: &Path, to: &Path, options: CopyOptions) -> Result<()> {
        self.run("copy", || self.inner.copy_opts(from, to, options.clone()))
            .await
    }

    async fn rename_opts(&self, from: &Path, to: &Path, options: RenameOptions) -> Result<()> {
        self.run("rename", || {
            self.inner.rename_opts(from, to, options.clone())
        })
        .await
    }
}
