//! Opening the configured object store, wrapped in its decorators.

use std::path::{Path as FsPath, PathBuf};
use std::sync::Arc;

use object_store::aws::AmazonS3Builder;
use object_store::aws::AmazonS3ConfigKey;
use object_store::azure::AzureConfigKey;
use object_store::azure::MicrosoftAzureBuilder;
use object_store::gcp::GoogleCloudStorageBuilder;
use object_store::gcp::GoogleConfigKey;
use object_store::local::LocalFileSystem;
use object_store::memory::InMemory;
use object_store::path::Path;
use object_store::prefix::PrefixStore;
use object_store::{ClientConfigKey, ObjectStore, RetryConfig};
use url::Url;

use super::config::StorageConfig;
use super::metered::MeteredStore;
use super::metrics::ObjectStoreMetrics;
use super::retry::{RetryPolicy, RetryStore};
use super::timeout::TimeoutStore;
use crate::error::{Error, Result};

/// Where `storage.url` points.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Location {
    File(PathBuf),
    S3 { bucket: String, prefix: Path },
    Gcs { bucket: String, prefix: Path },
    Azure { container: String, prefix: Path },
    Memory,
}

impl Location {
    fn parse(url: &str, data_dir: &FsPath) -> Result<Self, String> {
        if url.is_empty() {
            return Ok(Self::File(data_dir.join("blocks")));
        }
        // The URL parser resolves `.` and `..`; a prefix must mean what it says.
        let dot_segment = |segment: &str| {
            let segment = segment.to_ascii_lowercase().replace("%2e", ".");
            segment == "." || segment == ".."
        };
        if url.split('/').any(dot_segment) {
            return Err(format!(
                "storage.url {url:?} has an invalid prefix: `.` and `..` segments are not allowed"
            ));
        }
        let parsed = Url::parse(url).map_err(|error| format!("storage.url {url:?}: {error}"))?;
        if !parsed.username().is_empty() || parsed.password().is_some() {
            return Err(
                "storage.url must not carry credentials; use storage.s3 or the environment"
                    .to_owned(),
            );
        }
        if parsed.query().is_some() || parsed.fragment().is_some() {
            return Err(format!(
                "storage.url {url:?} must not have a query or fragment"
            ));
        }
        let host = parsed.host_str().unwrap_or_default().to_owned();
        let bucket = |kind: &str| {
            if host.is_empty() {
                Err(format!("storage.url {url:?} names no {kind}"))
            } else {
                Ok(host.clone())
            }
        };
        let prefix = || {
            Path::parse(parsed.path())
                .map_err(|error| format!("storage.url {url:?} has an invalid prefix: {error}"))
        };
        match parsed.scheme() {
            "file" => {
                if !(host.is_empty() || host == "localhost") {
                    return Err(format!(
                        "storage.url {url:?}: file URLs take no host (file:///absolute/path)"
                    ));
                }
                let path = parsed
                    .to_file_path()
                    .map_err(|()| format!("storage.url {url:?} is not a local path"))?;
                Ok(Self::File(path))
            }
            "s3" => Ok(Self::S3 {
                bucket: bucket("bucket")?,
                prefix: prefix()?,
            }),
            "gs" => Ok(Self::Gcs {
                bucket: bucket("bucket")?,
                prefix: prefix()?,
            }),
            "az" => Ok(Self::Azure {
                container: bucket("container")?,
                prefix: prefix()?,
            }),
            "memory" => {
                if !host.is_empty() || !matches!(parsed.path(), "" | "/") {
                    return Err(format!("storage.url {url:?}: memory:// takes no path"));
                }
                Ok(Self::Memory)
            }
            other => Err(format!(
                "storage.url scheme {other:?} is not one of file, s3, gs, az, memory"
            )),
        }
    }
}

fn config_error(problem: String) -> Error {
    Error::StorageConfig {
        problems: vec![problem],
    }
}

/// Opens the store `config.url` names (empty: `file://<data_dir>/blocks`, created if
/// missing), below its prefix, with per-request deadlines, retries of transient failures and
/// metrics. Every configuration problem is reported at once; nothing is contacted yet.
pub fn open_store(
    config: &StorageConfig,
    data_dir: &FsPath,
    metrics: ObjectStoreMetrics,
) -> Result<Arc<dyn ObjectStore>> {
    let mut problems = config.validate();
    let location = Location::parse(&config.url, data_dir)
        .map_err(|problem| problems.push(problem))
        .ok();
    let Some(location) = location.filter(|_| problems.is_empty()) else {
        return Err(Error::StorageConfig { problems });
    };
    // Our decorator retries; the clients' own retries would multiply its attempts.
    let retry = RetryConfig {
        max_retries: 0,
        ..RetryConfig::default()
    };
    // Set as a key, not as `ClientOptions`, which would replace what the environment set
    // (`AWS_ALLOW_HTTP`, proxies, ...).
    let timeout = format!("{}ms", config.request_timeout.as_millis().max(1));
    let (store, prefix): (Arc<dyn ObjectStore>, Path) = match location {
        Location::Memory => (Arc::new(InMemory::new()), Path::default()),
        Location::File(dir) => {
            std::fs::create_dir_all(&dir).map_err(|source| {
                Error::io(
                    format!("create storage directory {}", dir.display()),
                    source,
                )
            })?;
            let store = LocalFileSystem::new_with_prefix(&dir).map_err(|error| {
                config_error(format!("storage directory {}: {error}", dir.display()))
            })?;
            (Arc::new(store), Path::default())
        }
        Location::S3 { bucket, prefix } => {
            let s3 = &config.s3;
            let mut builder = AmazonS3Builder::from_env().with_bucket_name(bucket);
            if let Some(endpoint) = &s3.endpoint {
                builder = builder.with_endpoint(endpoint);
            }
            if let Some(region) = &s3.region {
                builder = builder.with_region(region);
            }
            if s3.allow_http {
                builder = builder.with_allow_http(true);
            }
            if s3.virtual_hosted_style {
                builder = builder.with_virtual_hosted_style_request(true);
            }
            if let (Some(id), Some(secret)) = (&s3.access_key_id, &s3.secret_access_key) {
                builder = builder
                    .with_access_key_id(id)
                    .with_secret_access_key(secret.expose());
            }
            if let Some(token) = &s3.session_token {
                builder = builder.with_token(token.expose());
            }
            let store = builder
                .with_retry(retry)
                .with_config(AmazonS3ConfigKey::Client(ClientConfigKey::Timeout), timeout)
                .build()
                .map_err(|error| config_error(format!("s3 storage: {error}")))?;
            (Arc::new(store), prefix)
        }
        Location::Gcs { bucket, prefix } => {
            let store = GoogleCloudStorageBuilder::from_env()
                .with_bucket_name(bucket)
                .with_retry(retry)
                .with_config(GoogleConfigKey::Client(ClientConfigKey::Timeout), timeout)
                .build()
                .map_err(|error| config_error(format!("gcs storage: {error}")))?;
            (Arc::new(store), prefix)
        }
        Location::Azure { container, prefix } => {
            let store = MicrosoftAzureBuilder::from_env()
                .with_container_name(container)
                .with_retry(retry)
                .with_config(AzureConfigKey::Client(ClientConfigKey::Timeout), timeout)
                .build()
                .map_err(|error| config_error(format!("azure storage: {error}")))?;
            (Arc::new(store), prefix)
        }
    };
    let store: Arc<dyn ObjectStore> = if prefix.as_ref().is_empty() {
        store
    } else {
        Arc::new(PrefixStore::new(store, prefix))
    };
    Ok(decorate(store, config, metrics))
}

/// Wraps a store, innermost first, in a deadline per attempt, retries around the attempts,
/// and metrics around it all so they count what the caller saw.
pub(crate) fn decorate(
    store: Arc<dyn ObjectStore>,
    config: &StorageConfig,
    metrics: ObjectStoreMetrics,
) -> Arc<dyn ObjectStore> {
    let store = Arc::new(TimeoutStore::new(store, config.request_timeout));
    let policy = RetryPolicy {
        retries: config.retries,
        backoff: config.retry_backoff,
    };
    let store = Arc::new(RetryStore::new(store, policy, metrics.clone()));
    Arc::new(MeteredStore::new(store, metrics))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn location(url: &str) -> Result<Location, String> {
        Location::parse(url, FsPath::new("/data"))
    }

    #[test]
    fn urls_name_their_location() {
        let path = |p: &str| Path::parse(p).unwrap();
        assert_eq!(location(""), Ok(Location::File("/data/blocks".into())));
        assert_eq!(
            location("file:///srv/blocks"),
            Ok(Location::File("/srv/blocks".into()))
        );
        assert_eq!(
            location("file://localhost/srv"),
            Ok(Location::File("/srv".into()))
        );
        assert_eq!(location("memory://"), Ok(Location::Memory));
        assert_eq!(
            location("s3://traces/prod/eu"),
            Ok(Location::S3 {
                bucket: "traces".into(),
                prefix: path("prod/eu")
            })
        );
        assert_eq!(
            location("s3://traces"),
            Ok(Location::S3 {
                bucket: "traces".into(),
                prefix: Path::default()
            })
        );
        assert_eq!(
            location("gs://bucket/p"),
            Ok(Location::Gcs {
                bucket: "bucket".into(),
                prefix: path("p")
            })
        );
        assert_eq!(
            location("az://container/"),
            Ok(Location::Azure {
                container: "container".into(),
                prefix: Path::default()
            })
        );
    }

    #[test]
    fn bad_urls_say_what_is_wrong() {
        let cases = [
            ("ftp://host/x", "not one of"),
            ("traces", "relative URL"),
            ("s3:///prefix", "names no bucket"),
            ("s3://traces/a//b", "invalid prefix"),
            ("s3://traces/a/../b", "invalid prefix"),
            ("s3://traces/%2E%2e/b", "invalid prefix"),
            ("file:///srv/./b", "invalid prefix"),
            ("s3://key:secret@traces/x", "credentials"),
            ("s3://traces/x?region=eu", "query"),
            ("file://host/srv", "no host"),
            ("memory://x", "takes no path"),
        ];
        for (url, expected) in cases {
            let problem = location(url).unwrap_err();
            assert!(problem.contains(expected), "{url}: {problem}");
        }
    }

    #[test]
    fn open_reports_every_problem_as_bad_request() {
        let config = StorageConfig {
            url: "nope://x".into(),
            retries: 1,
            retry_backoff: std::time::Duration::ZERO,
            ..StorageConfig::default()
        };
        let error = open_store(
            &config,
            FsPath::new("/tmp"),
            ObjectStoreMetrics::unregistered(),
        )
        .unwrap_err();
        assert_eq!(error.kind(), sextant_model::ErrorKind::BadRequest);
        let Error::StorageConfig { problems } = &error else {
            panic!("{error}")
        };
        assert_eq!(problems.len(), 2, "{problems:?}");
    }

    #[test]
    fn cloud_stores_open_without_contacting_anything() {
        let metrics = ObjectStoreMetrics::unregistered;
        let dir = FsPath::new("/tmp");
        for url in ["s3://traces/prefix", "gs://traces/prefix"] {
            let config = StorageConfig {
                url: url.into(),
                ..StorageConfig::default()
            };
            open_store(&config, dir, metrics()).unwrap_or_else(|e| panic!("{url}: {e}"));
        }
    }
}
