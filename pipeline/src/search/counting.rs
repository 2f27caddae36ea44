//! Test decorator: an object store that counts read requests and the bytes they return, per
//! object path, so a test can say exactly which objects a query touched and how much of them.

use std::collections::BTreeMap;
use std::fmt;
use std::ops::Range;
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use futures::stream::BoxStream;
use parking_lot::Mutex;
use sextant_store::object_store::path::Path;
use sextant_store::object_store::{
    CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore,
    PutMultipartOptions, PutOptions, PutPayload, PutResult, RenameOptions, Result,
};

/// Reads of one object.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(super) struct Reads {
    /// `get` of the whole object.
    pub(super) gets: u64,
    /// `get` of one byte range.
    pub(super) get_ranges: u64,
    /// One `get_ranges` call, however many ranges it asks for.
    pub(super) multi_range_gets: u64,
    pub(super) heads: u64,
    /// Bytes returned by all of the above.
    pub(super) bytes: u64,
}

impl Reads {
    pub(super) fn requests(&self) -> u64 {
        self.gets + self.get_ranges + self.multi_range_gets + self.heads
    }

    fn add(&mut self, other: &Reads) {
        self.gets += other.gets;
        self.get_ranges += other.get_ranges;
        self.multi_range_gets += other.multi_range_gets;
        self.heads += other.heads;
        self.bytes += other.bytes;
    }
}

/// Wraps any store; writes, listings and deletes pass through uncounted.
#[derive(Debug, Clone)]
pub(super) struct CountingStore {
    inner: Arc<dyn ObjectStore>,
    reads: Arc<Mutex<BTreeMap<String, Reads>>>,
}

impl CountingStore {
    pub(super) fn new(inner: Arc<dyn ObjectStore>) -> Self {
        Self {
            inner,
            reads: Arc::default(),
        }
    }

    /// Forgets every count so far.
    pub(super) fn reset(&self) {
        self.reads.lock().clear();
    }

    /// The reads of every object whose path starts with `prefix`, summed.
    pub(super) fn under(&self, prefix: &str) -> Reads {
        let mut total = Reads::default();
        for (path, reads) in self.reads.lock().iter() {
            if path.starts_with(prefix) {
                total.add(reads);
            }
        }
        total
    }

    /// The reads of every object, summed.
    pub(super) fn total(&self) -> Reads {
        self.under("")
    }

    fn record(&self, location: &Path, update: impl FnOnce(&mut Reads)) {
        update(self.reads.lock().entry(location.to_string()).or_default());
    }
}

impl fmt::Display for CountingStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Counting({})", self.inner)
    }
}

#[async_trait]
impl ObjectStore for CountingStore {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> Result<PutResult> {
        self.inner.put_opts(location, payload, opts).await
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> Result<Box<dyn MultipartUpload>> {
        self.inner.put_multipart_opts(location, opts).await
    }

    async fn get_opts(&self, location: &Path, options: GetOptions) -> Result<GetResult> {
        let head = options.head;
        let ranged = options.range.is_some();
        let result = self.inner.get_opts(location, options).await;
        // A failed request is still a request.
        let bytes = match &result {
            Ok(get) if !head => get.range.end - get.range.start,
            _ => 0,
        };
        self.record(location, |r| {
            match (head, ranged) {
                (true, _) => r.heads += 1,
                (false, true) => r.get_ranges += 1,
                (false, false) => r.gets += 1,
            }
            r.bytes += bytes;
        });
        result
    }

    async fn get_ranges(&self, location: &Path, ranges: &[Range<u64>]) -> Result<Vec<Bytes>> {
        let result = self.inner.get_ranges(location, ranges).await;
        let bytes = result
            .as_ref()
            .map_or(0, |parts| parts.iter().map(|p| p.len() as u64).sum());
        self.record(location, |r| {
            r.multi_range_gets += 1;
            r.bytes += bytes;
        });
        result
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, Result<Path>>,
    ) -> BoxStream<'static, Result<Path>> {
        self.inner.delete_stream(locations)
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, Result<ObjectMeta>> {
        self.inner.list(prefix)
    }

    fn list_with_offset(
        &self,
        prefix: Option<&Path>,
        offset: &Path,
    ) -> BoxStream<'static, Result<ObjectMeta>> {
        self.inner.list_with_offset(prefix, offset)
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> Result<ListResult> {
        self.inner.list_with_delimiter(prefix).await
    }

    async fn copy_opts(&self, from: &Path, to: &Path, options: CopyOptions) -> Result<()> {
        self.inner.copy_opts(from, to, options).await
    }

    async fn rename_opts(&self, from: &Path, to: &Path, options: RenameOptions) -> Result<()> {
        self.inner.rename_opts(from, to, options).await
    }
}
