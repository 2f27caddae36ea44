//! Decorator: counts requests, their outcome, duration and bytes moved.

use std::fmt;
use std::future::Future;
use std::ops::Range;
use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;
use bytes::Bytes;
use futures::stream::{BoxStream, StreamExt};
use object_store::path::Path;
use object_store::{
    CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore,
    PutMultipartOptions, PutOptions, PutPayload, PutResult, RenameOptions, Result, UploadPart,
};

use super::metrics::ObjectStoreMetrics;

fn result_label<T>(result: &Result<T>) -> &'static str {
    use object_store::Error as E;
    match result {
        Ok(_) => "ok",
        Err(E::NotFound { .. }) => "not_found",
        Err(E::AlreadyExists { .. } | E::Precondition { .. } | E::NotModified { .. }) => "conflict",
        Err(_) => "error",
    }
}

async fn observed<T>(
    metrics: &ObjectStoreMetrics,
    operation: &'static str,
    request: impl Future<Output = Result<T>>,
) -> Result<T> {
    let start = Instant::now();
    let result = request.await;
    let seconds = start.elapsed().as_secs_f64();
    metrics.observe(operation, result_label(&result), Some(seconds));
    if let Err(error) = &result {
        tracing::debug!(operation, %error, "object store request failed");
    }
    result
}

/// Records a listing once: at its first error, or when the stream is dropped.
struct ListingObserver {
    metrics: ObjectStoreMetrics,
    start: Instant,
    recorded: bool,
}

impl ListingObserver {
    fn record(&mut self, result: &'static str) {
        if !self.recorded {
            self.recorded = true;
            let seconds = self.start.elapsed().as_secs_f64();
            self.metrics.observe("list", result, Some(seconds));
        }
    }
}

impl Drop for ListingObserver {
    fn drop(&mut self) {
        self.record("ok");
    }
}

#[derive(Debug)]
pub(crate) struct MeteredStore {
    inner: Arc<dyn ObjectStore>,
    metrics: ObjectStoreMetrics,
}

impl MeteredStore {
    pub(crate) fn new(inner: Arc<dyn ObjectStore>, metrics: ObjectStoreMetrics) -> Self {
        Self { inner, metrics }
    }

    fn observe_listing(
        &self,
        listing: BoxStream<'static, Result<ObjectMeta>>,
    ) -> BoxStream<'static, Result<ObjectMeta>> {
        let mut observer = ListingObserver {
            metrics: self.metrics.clone(),
            start: Instant::now(),
            recorded: false,
        };
        listing
            .map(move |item| {
                if item.is_err() {
                    observer.record(result_label(&item));
                }
                item
            })
            .boxed()
    }
}

impl fmt::Display for MeteredStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Metered({})", self.inner)
    }
}

#[async_trait]
impl ObjectStore for MeteredStore {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> Result<PutResult> {
        let bytes = payload.content_length() as u64;
        let request = self.inner.put_opts(location, payload, opts);
        let result = observed(&self.metrics, "put", request).await;
        if result.is_ok() {
            self.metrics.add_bytes("put", bytes);
        }
        result
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> Result<Box<dyn MultipartUpload>> {
        let request = self.inner.put_multipart_opts(location, opts);
        let inner = observed(&self.metrics, "put_multipart", request).await?;
        Ok(Box::new(MeteredUpload {
            inner,
            metrics: self.metrics.clone(),
        }))
    }

    async fn get_opts(&self, location: &Path, options: GetOptions) -> Result<GetResult> {
        let operation = if options.head { "head" } else { "get" };
        let request = self.inner.get_opts(location, options);
        let result = observed(&self.metrics, operation, request).await;
        if let Ok(get) = &result
            && operation == "get"
        {
            self.metrics
                .add_bytes("get", get.range.end - get.range.start);
        }
        result
    }

    async fn get_ranges(&self, location: &Path, ranges: &[Range<u64>]) -> Result<Vec<Bytes>> {
        let request = self.inner.get_ranges(location, ranges);
        let result = observed(&self.metrics, "get_ranges", request).await;
        if let Ok(parts) = &result {
            let bytes = parts.iter().map(|part| part.len() as u64).sum();
            self.metrics.add_bytes("get_ranges", bytes);
        }
        result
    }

    /// Counted per path (no duration: paths of one call are deleted together).
    fn delete_stream(
        &self,
        locations: BoxStream<'static, Result<Path>>,
    ) -> BoxStream<'static, Result<Path>> {
        let metrics = self.metrics.clone();
        self.inner
            .delete_stream(locations)
            .map(move |item| {
                metrics.observe("delete", result_label(&item), None);
                item
            })
            .boxed()
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, Result<ObjectMeta>> {
        self.observe_listing(self.inner.list(prefix))
    }

    fn list_with_offset(
        &self,
        prefix: Option<&Path>,
        offset: &Path,
    ) -> BoxStream<'static, Result<ObjectMeta>> {
        self.observe_listing(self.inner.list_with_offset(prefix, offset))
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> Result<ListResult> {
        let request = self.inner.list_with_delimiter(prefix);
        observed(&self.metrics, "list_with_delimiter", request).await
    }

    async fn copy_opts(&self, from: &Path, to: &Path, options: CopyOptions) -> Result<()> {
        let request = self.inner.copy_opts(from, to, options);
        observed(&self.metrics, "copy", request).await
    }

    async fn rename_opts(&self, from: &Path, to: &Path, options: RenameOptions) -> Result<()> {
        let request = self.inner.rename_opts(from, to, options);
        observed(&self.metrics, "rename", request).await
    }
}

#[derive(Debug)]
struct MeteredUpload {
    inner: Box<dyn MultipartUpload>,
    metrics: ObjectStoreMetrics,
}

#[async_trait]
impl MultipartUpload for MeteredUpload {
    fn put_part(&mut self, data: PutPayload) -> UploadPart {
        let bytes = data.content_length() as u64;
        let request = self.inner.put_part(data);
        let metrics = self.metrics.clone();
        Box::pin(async move {
            let result = observed(&metrics, "put_part", request).await;
            if result.is_ok() {
                metrics.add_bytes("put_part", bytes);
            }
            result
        })
    }

    async fn complete(&mut self) -> Result<PutResult> {
        let request = self.inner.complete();
        observed(&self.metrics, "complete_multipart", request).await
    }

    async fn abort(&mut self) -> Result<()> {
        let request = self.inner.abort();
        observed(&self.metrics, "abort_multipart", request).await
    }
}
