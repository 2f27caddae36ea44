//! One conformance suite for every object store we open (memory, local disk, S3 via moto),
//! through `open_store` and its decorators, and S3 outage behaviour.

mod support;

use std::path::Path as FsPath;
use std::sync::Arc;
use std::time::Duration;

use futures::TryStreamExt;
use sextant_model::{ErrorKind, TenantId};
use sextant_store::object_store::buffered::BufWriter;
use sextant_store::object_store::path::Path;
use sextant_store::object_store::{ObjectStore, ObjectStoreExt, PutMode, PutPayload};
use sextant_store::{
    BlockFile, BlockId, BlockPath, Error, ObjectStoreMetrics, S3Options, Secret, StorageConfig,
    WalPosition, open_store,
};
use support::moto::Moto;
use tokio::io::AsyncWriteExt;

const MIB: usize = 1024 * 1024;

fn tenant(id: &str) -> TenantId {
    TenantId::new(id).unwrap()
}

fn key(tenant_id: &str, file: BlockFile) -> Path {
    let block = BlockId::derive(
        &tenant(tenant_id),
        WalPosition {
            segment: 1,
            offset: 0,
        },
        0,
    );
    BlockPath::new(tenant(tenant_id), block, file).to_path()
}

fn open(url: &str, s3: S3Options, data_dir: &FsPath) -> (Arc<dyn ObjectStore>, ObjectStoreMetrics) {
    let metrics = ObjectStoreMetrics::unregistered();
    let config = StorageConfig {
        url: url.to_owned(),
        s3,
        request_timeout: Duration::from_secs(10),
        retries: 2,
        retry_backoff: Duration::from_millis(10),
    };
    let store = open_store(&config, data_dir, metrics.clone()).unwrap();
    (store, metrics)
}

/// Every store must behave like this. `sibling` is the same backend under another prefix.
async fn conformance(
    store: Arc<dyn ObjectStore>,
    metrics: &ObjectStoreMetrics,
    sibling: Option<Arc<dyn ObjectStore>>,
) {
    // put, get, head, get_range
    let data = key("acme", BlockFile::Data);
    let meta = key("acme", BlockFile::Meta);
    let bloom = key("acme", BlockFile::Bloom);
    let other = key("acm", BlockFile::Meta);
    for (path, body) in [
        (&data, "parquet bytes"),
        (&meta, "{\"v\":1}"),
        (&bloom, "bloom"),
        (&other, "other tenant"),
    ] {
        store.put(path, PutPayload::from(body)).await.unwrap();
    }
    let got = store.get(&meta).await.unwrap().bytes().await.unwrap();
    assert_eq!(got.as_ref(), b"{\"v\":1}");
    assert_eq!(store.head(&data).await.unwrap().size, 13);
    let range = store.get_range(&data, 2..7).await.unwrap();
    assert_eq!(range.as_ref(), b"rquet");

    // list: by tenant, segment-wise (`acm` is not a prefix of `acme`), every key parses back
    let acme = tenant("acme");
    let mut listed: Vec<_> = store
        .list(Some(&BlockPath::blocks_prefix(&acme)))
        .map_ok(|meta| BlockPath::parse(&meta.location).unwrap())
        .try_collect()
        .await
        .unwrap();
    listed.sort_by_key(|path| path.file().file_name());
    let files: Vec<_> = listed.iter().map(|path| path.file()).collect();
    assert_eq!(files, [BlockFile::Bloom, BlockFile::Data, BlockFile::Meta]);
    assert!(listed.iter().all(|path| path.tenant() == &acme));
    let acm: Vec<_> = store
        .list(Some(&BlockPath::tenant_prefix(&tenant("acm"))))
        .try_collect()
        .await
        .unwrap();
    assert_eq!(acm.len(), 1);
    assert_eq!(acm[0].location, other);
    let blocks = store
        .list_with_delimiter(Some(&BlockPath::blocks_prefix(&acme)))
        .await
        .unwrap();
    let block = BlockPath::parse(&data).unwrap().block();
    assert_eq!(
        blocks.common_prefixes,
        [BlockPath::block_prefix(&acme, block)]
    );

    // conditional put
    let marker = Path::from("acme/blocks/marker");
    let create = PutMode::Create.into();
    store
        .put_opts(&marker, PutPayload::from("first"), create)
        .await
        .unwrap();
    let error = store
        .put_opts(&marker, PutPayload::from("second"), PutMode::Create.into())
        .await
        .unwrap_err();
    assert!(
        matches!(
            error,
            sextant_store::object_store::Error::AlreadyExists { .. }
        ),
        "{error}"
    );
    assert_eq!(Error::from(error).kind(), ErrorKind::Conflict);
    let got = store.get(&marker).await.unwrap().bytes().await.unwrap();
    assert_eq!(got.as_ref(), b"first");

    // multipart through BufWriter: 11 MiB in 5 MiB parts
    let big = key("acme", BlockFile::Data);
    let body: Vec<u8> = (0..11 * MIB).map(|i| (i % 251) as u8).collect();
    let mut writer = BufWriter::with_capacity(store.clone(), big.clone(), 5 * MIB);
    for chunk in body.chunks(MIB + 7) {
        writer.write_all(chunk).await.unwrap();
    }
    writer.shutdown().await.unwrap();
    assert_eq!(metrics.bytes("put_part"), body.len() as u64);
    assert!(metrics.requests("complete_multipart", "ok") >= 1);
    assert_eq!(store.head(&big).await.unwrap().size, body.len() as u64);
    let got = store.get(&big).await.unwrap().bytes().await.unwrap();
    assert!(got.as_ref() == body.as_slice(), "multipart body differs");

    // delete
    store.delete(&bloom).await.unwrap();
    let error = store.get(&bloom).await.unwrap_err();
    assert!(
        matches!(error, sextant_store::object_store::Error::NotFound { .. }),
        "{error}"
    );
    assert_eq!(Error::from(error).kind(), ErrorKind::NotFound);

    // prefix isolation: the same key under another prefix is another object
    if let Some(sibling) = sibling {
        let seen: Vec<_> = sibling.list(None).try_collect().await.unwrap();
        assert!(seen.is_empty(), "sibling prefix sees {seen:?}");
        sibling
            .put(&meta, PutPayload::from("sibling"))
            .await
            .unwrap();
        let got = store.get(&meta).await.unwrap().bytes().await.unwrap();
        assert_eq!(got.as_ref(), b"{\"v\":1}");
        let got = sibling.get(&meta).await.unwrap().bytes().await.unwrap();
        assert_eq!(got.as_ref(), b"sibling");
    }

    // metrics saw it all
    assert!(metrics.requests("put", "ok") >= 5);
    assert_eq!(metrics.requests("put", "conflict"), 1);
    assert!(metrics.requests("get", "not_found") >= 1);
    assert!(metrics.bytes("get") >= body.len() as u64);
    assert_eq!(metrics.requests("put", "error"), 0);
}

#[tokio::test]
async fn memory_store_conforms() {
    let (store, metrics) = open(
        "memory://",
        S3Options::default(),
        FsPath::new("/nonexistent"),
    );
    conformance(store, &metrics, None).await;
}

#[tokio::test]
async fn local_store_conforms() {
    let dir = tempfile::tempdir().unwrap();
    let url = |name: &str| format!("file://{}/{name}", dir.path().display());
    let (store, metrics) = open(&url("a"), S3Options::default(), dir.path());
    let (sibling, _) = open(&url("b"), S3Options::default(), dir.path());
    conformance(store, &metrics, Some(sibling)).await;
    let on_disk = dir
        .path()
        .join("a")
        .join(key("acme", BlockFile::Meta).as_ref());
    assert!(on_disk.is_file(), "{} missing", on_disk.display());
}

#[tokio::test]
async fn default_location_is_under_the_data_dir() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = open("", S3Options::default(), dir.path());
    let path = key("acme", BlockFile::Meta);
    store.put(&path, PutPayload::from("x")).await.unwrap();
    assert!(dir.path().join("blocks").join(path.as_ref()).is_file());
}

fn moto_options(moto: &Moto) -> S3Options {
    S3Options {
        endpoint: Some(moto.endpoint()),
        region: Some("us-east-1".into()),
        allow_http: true,
        access_key_id: Some("test".into()),
        secret_access_key: Some(Secret::new("test")),
        ..S3Options::default()
    }
}

#[tokio::test]
async fn s3_store_conforms() {
    let moto = Moto::start();
    moto.create_bucket("traces");
    let dir = FsPath::new("/nonexistent");
    let (store, metrics) = open("s3://traces/cluster-a", moto_options(&moto), dir);
    let (sibling, _) = open("s3://traces/cluster-b", moto_options(&moto), dir);
    conformance(store, &metrics, Some(sibling)).await;
}

#[tokio::test]
async fn s3_outage_fails_after_retries_and_recovers() {
    let mut moto = Moto::start();
    moto.create_bucket("traces");
    let (store, metrics) = open(
        "s3://traces",
        moto_options(&moto),
        FsPath::new("/nonexistent"),
    );
    let path = key("acme", BlockFile::Meta);
    store.put(&path, PutPayload::from("before")).await.unwrap();

    moto.stop();
    let error = store
        .put(&path, PutPayload::from("during"))
        .await
        .unwrap_err();
    let error = Error::from(error);
    assert_eq!(error.kind(), ErrorKind::Unavailable, "{error}");
    assert_eq!(metrics.requests("put", "error"), 1);
    assert_eq!(metrics.retries("put"), 2);
    let error = Error::from(store.get(&path).await.unwrap_err());
    assert_eq!(error.kind(), ErrorKind::Unavailable, "{error}");
    assert_eq!(metrics.requests("get", "error"), 1);
    assert_eq!(metrics.retries("get"), 2);
    let listing = store.list(None).try_collect::<Vec<_>>().await;
    assert!(listing.is_err());
    assert_eq!(metrics.requests("list", "error"), 1);

    // Back on the same port (moto keeps state in memory, so the bucket is made again).
    moto.resume();
    moto.create_bucket("traces");
    store.put(&path, PutPayload::from("after")).await.unwrap();
    let got = store.get(&path).await.unwrap().bytes().await.unwrap();
    assert_eq!(got.as_ref(), b"after");
    assert_eq!(metrics.requests("put", "ok"), 2);
}
