//! The decorators' logic against a fake store that fails or hangs on demand.

use std::fmt;
use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bytes::Bytes;
use futures::stream::{self, BoxStream, StreamExt, TryStreamExt};
use object_store::memory::InMemory;
use object_store::path::Path;
use object_store::{
    CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore,
    ObjectStoreExt, PutMode, PutMultipartOptions, PutOptions, PutPayload, PutResult, Result,
};

use super::config::StorageConfig;
use super::metrics::ObjectStoreMetrics;
use super::open::decorate;
use crate::error::Error;
use sextant_model::ErrorKind;

#[derive(Debug)]
struct Unreachable;

impl fmt::Display for Unreachable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("connection refused")
    }
}

impl std::error::Error for Unreachable {}

/// An in-memory store that fails the next `failures` requests as unreachable, or never
/// answers while `hang` is set, and counts every request that reaches it.
#[derive(Debug, Default)]
struct Flaky {
    inner: InMemory,
    failures: AtomicU32,
    hang: AtomicBool,
    attempts: AtomicU32,
}

impl fmt::Display for Flaky {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Flaky")
    }
}

impl Flaky {
    async fn gate(&self) -> Result<()> {
        if self.hang.load(Ordering::SeqCst) {
            self.attempts.fetch_add(1, Ordering::SeqCst);
            futures::future::pending::<()>().await;
        }
        self.check()
    }

    /// The gate of the streaming methods (which are not made to hang).
    fn check(&self) -> Result<()> {
        self.attempts.fetch_add(1, Ordering::SeqCst);
        let failing = self
            .failures
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
        if failing {
            return Err(object_store::Error::Generic {
                store: "Flaky",
                source: Box::new(Unreachable),
            });
        }
        Ok(())
    }

    fn attempts(&self) -> u32 {
        self.attempts.swap(0, Ordering::SeqCst)
    }
}

#[async_trait]
impl ObjectStore for Flaky {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> Result<PutResult> {
        self.gate().await?;
        self.inner.put_opts(location, payload, opts).await
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> Result<Box<dyn MultipartUpload>> {
        self.gate().await?;
        self.inner.put_multipart_opts(location, opts).await
    }

    async fn get_opts(&self, location: &Path, options: GetOptions) -> Result<GetResult> {
        self.gate().await?;
        self.inner.get_opts(location, options).await
    }

    async fn get_ranges(&self, location: &Path, ranges: &[Range<u64>]) -> Result<Vec<Bytes>> {
        self.gate().await?;
        self.inner.get_ranges(location, ranges).await
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, Result<Path>>,
    ) -> BoxStream<'static, Result<Path>> {
        match self.check() {
            Ok(()) => self.inner.delete_stream(locations),
            Err(error) => stream::iter([Err(error)]).boxed(),
        }
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, Result<ObjectMeta>> {
        match self.check() {
            Ok(()) => self.inner.list(prefix),
            Err(error) => stream::iter([Err(error)]).boxed(),
        }
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> Result<ListResult> {
        self.gate().await?;
        self.inner.list_with_delimiter(prefix).await
    }

    async fn copy_opts(&self, from: &Path, to: &Path, options: CopyOptions) -> Result<()> {
        self.gate().await?;
        self.inner.copy_opts(from, to, options).await
    }
}

struct Harness {
    fake: Arc<Flaky>,
    store: Arc<dyn ObjectStore>,
    metrics: ObjectStoreMetrics,
}

fn harness(retries: u32, timeout: Duration) -> Harness {
    let fake = Arc::new(Flaky::default());
    let metrics = ObjectStoreMetrics::unregistered();
    let config = StorageConfig {
        retries,
        retry_backoff: Duration::from_millis(1),
        request_timeout: timeout,
        ..StorageConfig::default()
    };
    let store = decorate(fake.clone(), &config, metrics.clone());
    Harness {
        fake,
        store,
        metrics,
    }
}

const PATIENT: Duration = Duration::from_secs(10);

#[tokio::test]
async fn transient_failures_are_retried_until_success() {
    let h = harness(3, PATIENT);
    let key = Path::from("a/b");
    h.fake.failures.store(3, Ordering::SeqCst);
    h.store
        .put(&key, Bytes::from_static(b"hello").into())
        .await
        .unwrap();
    assert_eq!(h.fake.attempts(), 4);
    assert_eq!(h.metrics.retries("put"), 3);
    assert_eq!(h.metrics.requests("put", "ok"), 1);
    assert_eq!(h.metrics.requests("put", "error"), 0);
    assert_eq!(h.metrics.bytes("put"), 5);

    h.fake.failures.store(1, Ordering::SeqCst);
    let body = h.store.get(&key).await.unwrap().bytes().await.unwrap();
    assert_eq!(body.as_ref(), b"hello");
    assert_eq!(h.fake.attempts(), 2);
    assert_eq!(h.metrics.requests("get", "ok"), 1);
    assert_eq!(h.metrics.bytes("get"), 5);
}

#[tokio::test]
async fn retries_give_up_after_the_configured_count() {
    let h = harness(2, PATIENT);
    h.fake.failures.store(100, Ordering::SeqCst);
    let error = h
        .store
        .put(&Path::from("k"), PutPayload::from_static(b"x"))
        .await
        .unwrap_err();
    assert_eq!(h.fake.attempts(), 3);
    assert_eq!(h.metrics.requests("put", "error"), 1);
    assert_eq!(h.metrics.retries("put"), 2);
    assert_eq!(Error::from(error).kind(), ErrorKind::Unavailable);

    let h = harness(0, PATIENT);
    h.fake.failures.store(100, Ordering::SeqCst);
    h.store.head(&Path::from("k")).await.unwrap_err();
    assert_eq!(h.fake.attempts(), 1);
    assert_eq!(h.metrics.requests("head", "error"), 1);
}

#[tokio::test]
async fn definite_answers_are_not_retried() {
    let h = harness(3, PATIENT);
    let key = Path::from("k");
    let error = h.store.get(&key).await.unwrap_err();
    assert!(
        matches!(error, object_store::Error::NotFound { .. }),
        "{error}"
    );
    assert_eq!(h.fake.attempts(), 1);
    assert_eq!(h.metrics.requests("get", "not_found"), 1);
    assert_eq!(Error::from(error).kind(), ErrorKind::NotFound);

    let create = PutOptions::from(PutMode::Create);
    h.store
        .put_opts(&key, PutPayload::from_static(b"1"), create.clone())
        .await
        .unwrap();
    h.fake.attempts();
    let error = h
        .store
        .put_opts(&key, PutPayload::from_static(b"2"), create)
        .await
        .unwrap_err();
    assert!(
        matches!(error, object_store::Error::AlreadyExists { .. }),
        "{error}"
    );
    assert_eq!(h.fake.attempts(), 1);
    assert_eq!(h.metrics.retries("put"), 0);
    assert_eq!(h.metrics.requests("put", "conflict"), 1);
    assert_eq!(Error::from(error).kind(), ErrorKind::Conflict);
}

#[tokio::test]
async fn a_hanging_request_times_out_on_every_attempt() {
    let timeout = Duration::from_millis(30);
    let h = harness(2, timeout);
    h.fake.hang.store(true, Ordering::SeqCst);
    let start = Instant::now();
    let error = h.store.get(&Path::from("k")).await.unwrap_err();
    let took = start.elapsed();
    assert_eq!(h.fake.attempts(), 3);
    assert!(took >= timeout * 3, "gave up after {took:?}");
    assert!(took < PATIENT, "took {took:?}");
    assert!(error.to_string().contains("timed out"), "{error}");
    assert_eq!(Error::from(error).kind(), ErrorKind::Unavailable);
    assert_eq!(h.metrics.requests("get", "error"), 1);

    // Once it answers again, so does the store.
    h.fake.hang.store(false, Ordering::SeqCst);
    h.store
        .put(&Path::from("k"), PutPayload::from_static(b"x"))
        .await
        .unwrap();
}

#[tokio::test]
async fn listings_and_deletes_are_retried() {
    let h = harness(3, PATIENT);
    for key in ["t/1", "t/2", "t/3"] {
        h.store
            .put(&Path::from(key), PutPayload::from_static(b"x"))
            .await
            .unwrap();
    }
    h.fake.attempts();
    h.fake.failures.store(2, Ordering::SeqCst);
    let listed: Vec<_> = h
        .store
        .list(Some(&Path::from("t")))
        .try_collect()
        .await
        .unwrap();
    assert_eq!(listed.len(), 3);
    assert_eq!(h.fake.attempts(), 3);
    assert_eq!(h.metrics.requests("list", "ok"), 1);

    h.fake.failures.store(2, Ordering::SeqCst);
    let paths = stream::iter(["t/1", "t/2"].map(|key| Ok(Path::from(key)))).boxed();
    let deleted: Vec<_> = h.store.delete_stream(paths).try_collect().await.unwrap();
    assert_eq!(deleted.len(), 2);
    assert_eq!(h.metrics.requests("delete", "ok"), 2);
    assert_eq!(h.metrics.retries("delete"), 2);
    let left: Vec<_> = h.store.list(None).try_collect().await.unwrap();
    assert_eq!(left.len(), 1);

    // An empty listing ends cleanly.
    let none: Vec<_> = h
        .store
        .list(Some(&Path::from("none")))
        .try_collect()
        .await
        .unwrap();
    assert!(none.is_empty());

    // More failures than retries: the listing ends with the error, counted once.
    h.fake.failures.store(10, Ordering::SeqCst);
    let error = h
        .store
        .list(None)
        .try_collect::<Vec<_>>()
        .await
        .unwrap_err();
    assert!(error.to_string().contains("connection refused"), "{error}");
    assert_eq!(h.metrics.requests("list", "error"), 1);
}
