//! Decorator: a deadline on every request, and an idle deadline on every streamed item.

use std::fmt;
use std::future::Future;
use std::ops::Range;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use futures::stream::{BoxStream, StreamExt};
use object_store::path::Path;
use object_store::{
    CopyOptions, GetOptions, GetResult, GetResultPayload, ListResult, MultipartUpload, ObjectMeta,
    ObjectStore, PutMultipartOptions, PutOptions, PutPayload, PutResult, RenameOptions, Result,
    UploadPart,
};

/// The error a request that missed its deadline fails with (inside `Error::Generic`, which
/// the retry decorator treats as transient).
#[derive(Debug, thiserror::Error)]
#[error("{operation} request timed out after {after:?}")]
pub(crate) struct TimedOut {
    operation: &'static str,
    after: Duration,
}

pub(crate) fn timed_out(operation: &'static str, after: Duration) -> object_store::Error {
    object_store::Error::Generic {
        store: "timeout",
        source: Box::new(TimedOut { operation, after }),
    }
}

async fn deadline<T>(
    operation: &'static str,
    after: Duration,
    request: impl Future<Output = Result<T>>,
) -> Result<T> {
    tokio::time::timeout(after, request)
        .await
        .unwrap_or_else(|_| Err(timed_out(operation, after)))
}

/// Each item must arrive within `after` of asking for it; a miss yields one error and ends
/// the stream.
fn idle_deadline<T: Send + 'static>(
    operation: &'static str,
    after: Duration,
    stream: BoxStream<'static, Result<T>>,
) -> BoxStream<'static, Result<T>> {
    futures::stream::unfold(Some(stream), move |state| async move {
        let mut stream = state?;
        match tokio::time::timeout(after, stream.next()).await {
            Ok(Some(item)) => Some((item, Some(stream))),
            Ok(None) => None,
            Err(_) => Some((Err(timed_out(operation, after)), None)),
        }
    })
    .boxed()
}

#[derive(Debug)]
pub(crate) struct TimeoutStore {
    inner: Arc<dyn ObjectStore>,
    after: Duration,
}

impl TimeoutStore {
    pub(crate) fn new(inner: Arc<dyn ObjectStore>, after: Duration) -> Self {
        Self { inner, after }
    }
}

impl fmt::Display for TimeoutStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Timeout({:?}, {})", self.after, self.inner)
    }
}

#[async_trait]
impl ObjectStore for TimeoutStore {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> Result<PutResult> {
        let request = self.inner.put_opts(location, payload, opts);
        deadline("put", self.after, request).await
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> Result<Box<dyn MultipartUpload>> {
        let request = self.inner.put_multipart_opts(location, opts);
        let inner = deadline("put_multipart", self.after, request).await?;
        Ok(Box::new(TimeoutUpload {
            inner,
            after: self.after,
        }))
    }

    async fn get_opts(&self, location: &Path, options: GetOptions) -> Result<GetResult> {
        let request = self.inner.get_opts(location, options);
        let mut result = deadline("get", self.after, request).await?;
        if let GetResultPayload::Stream(stream) = result.payload {
            result.payload = GetResultPayload::Stream(idle_deadline("get", self.after, stream));
        }
        Ok(result)
    }

    async fn get_ranges(&self, location: &Path, ranges: &[Range<u64>]) -> Result<Vec<Bytes>> {
        let request = self.inner.get_ranges(location, ranges);
        deadline("get_ranges", self.after, request).await
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, Result<Path>>,
    ) -> BoxStream<'static, Result<Path>> {
        idle_deadline("delete", self.after, self.inner.delete_stream(locations))
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, Result<ObjectMeta>> {
        idle_deadline("list", self.after, self.inner.list(prefix))
    }

    fn list_with_offset(
        &self,
        prefix: Option<&Path>,
        offset: &Path,
    ) -> BoxStream<'static, Result<ObjectMeta>> {
        idle_deadline(
            "list",
            self.after,
            self.inner.list_with_offset(prefix, offset),
        )
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> Result<ListResult> {
        let request = self.inner.list_with_delimiter(prefix);
        deadline("list_with_delimiter", self.after, request).await
    }

    async fn copy_opts(&self, from: &Path, to: &Path, options: CopyOptions) -> Result<()> {
        let request = self.inner.copy_opts(from, to, options);
        deadline("copy", self.after, request).await
    }

    async fn rename_opts(&self, from: &Path, to: &Path, options: RenameOptions) -> Result<()> {
        let request = self.inner.rename_opts(from, to, options);
        deadline("rename", self.after, request).await
    }
}

#[derive(Debug)]
struct TimeoutUpload {
    inner: Box<dyn MultipartUpload>,
    after: Duration,
}

#[async_trait]
impl MultipartUpload for TimeoutUpload {
    fn put_part(&mut self, data: PutPayload) -> UploadPart {
        let request = self.inner.put_part(data);
        Box::pin(deadline("put_part", self.after, request))
    }

    async fn complete(&mut self) -> Result<PutResult> {
        let request = self.inner.complete();
        deadline("complete_multipart", self.after, request).await
    }

    async fn abort(&mut self) -> Result<()> {
        let request = self.inner.abort();
        deadline("abort_multipart", self.after, request).await
    }
}
