//! The store's one error type.

use std::io;
use std::path::PathBuf;
use std::time::Duration;

use sextant_model::ErrorKind;

/// How long a client is asked to wait before retrying when the WAL cannot take a write.
pub const WAL_RETRY_AFTER: Duration = Duration::from_secs(1);

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file operation failed.
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: io::Error,
    },
    /// The WAL holds `max_bytes` or more on disk; appends are refused until segments are
    /// released.
    #[error("write-ahead log is over its byte cap")]
    OverCap { disk_bytes: u64, max_bytes: u64 },
    /// The WAL was closed; it takes no more appends.
    #[error("write-ahead log is closed")]
    Closed,
    /// A write or fsync failed; the WAL refuses appends rather than pretend they are durable.
    /// A restart replays and repairs it; the cause is logged and kept in `Wal::failure`.
    #[error("write-ahead log failed and refuses appends")]
    Failed,
    /// A record larger than a frame may carry.
    #[error("write-ahead log record of {len} bytes is over the maximum of {max} bytes")]
    RecordTooLarge { len: u64, max: u64 },
    /// A record read back does not validate.
    #[error("corrupt write-ahead log record at segment {segment} offset {offset}: {reason}")]
    Corrupt {
        segment: u64,
        offset: u64,
        reason: &'static str,
    },
    /// No record at that position (its segment was released, or the position is past the end).
    #[error("no write-ahead log record at segment {segment} offset {offset}")]
    NotFound { segment: u64, offset: u64 },
    /// A segment written by a newer format version; left untouched.
    #[error("write-ahead log segment {segment} has unsupported format version {version}")]
    UnsupportedVersion { segment: u64, version: u32 },
    /// Settings that cannot work.
    #[error("invalid write-ahead log settings: {}", problems.join("; "))]
    Config { problems: Vec<String> },
    /// Another process (or another `Wal` in this one) holds the directory.
    #[error("write-ahead log directory {} is in use by another writer", dir.display())]
    Locked { dir: PathBuf },
    /// An object-store request failed, after the configured retries for transient failures.
    #[error("object store request failed: {source}")]
    ObjectStore {
        #[from]
        source: object_store::Error,
    },
    /// An object key outside the layout of typed paths.
    #[error("invalid object key {path:?}: {reason}")]
    ObjectPath { path: String, reason: &'static str },
    /// Storage settings that cannot work (unknown scheme, malformed URL, bad options).
    #[error("invalid storage settings: {}", problems.join("; "))]
    StorageConfig { problems: Vec<String> },
    /// An object-store request of the block reader or writer failed.
    #[error("{context}: {source}")]
    BlockIo {
        context: String,
        #[source]
        source: object_store::Error,
    },
    /// Parquet encoding or decoding failed.
    #[error("{context}: {source}")]
    Parquet {
        context: String,
        #[source]
        source: parquet::errors::ParquetError,
    },
    /// Building or reading Arrow arrays failed.
    #[error("{context}: {source}")]
    Arrow {
        context: String,
        #[source]
        source: arrow_schema::ArrowError,
    },
    /// A block object does not have the layout of its format version.
    #[error("malformed block: {reason}")]
    BlockFormat { reason: String },
    /// A block object written by another (newer) format version; not read.
    #[error("{what} has unsupported block format version {version}")]
    UnsupportedBlockVersion { what: &'static str, version: u32 },
    /// A search request the block reader cannot run (bad regular expression, missing operand).
    #[error("invalid search request: {reason}")]
    InvalidFetch { reason: String },
    /// A blocking task panicked or was cancelled.
    #[error("{context}: task failed")]
    Task { context: &'static str },
    /// A port (block catalog, lease) failed.
    #[error("{context}: {source}")]
    Port {
        context: &'static str,
        source: sextant_model::Error,
    },
    /// The lease a job runs under expired or was taken over: the job stopped before changing
    /// the catalog.
    #[error("lease {lease} was lost")]
    LeaseLost { lease: String },
    /// A failure injected by a test at a named step.
    #[error("fault injected at {step}")]
    Injected { step: &'static str },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub(crate) fn io(context: impl Into<String>, source: io::Error) -> Self {
        Self::Io {
            context: context.into(),
            source,
        }
    }

    pub(crate) fn object_store(context: impl Into<String>, source: object_store::Error) -> Self {
        Self::BlockIo {
            context: context.into(),
            source,
        }
    }

    pub(crate) fn parquet(
        context: impl Into<String>,
        source: parquet::errors::ParquetError,
    ) -> Self {
        Self::Parquet {
            context: context.into(),
            source,
        }
    }

    /// A port's error, with what was being done.
    pub(crate) fn port(context: &'static str) -> impl FnOnce(sextant_model::Error) -> Self {
        move |source| Self::Port { context, source }
    }

    pub(crate) fn arrow(context: impl Into<String>, source: arrow_schema::ArrowError) -> Self {
        Self::Arrow {
            context: context.into(),
            source,
        }
    }

    /// The classification a client sees.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::Io { .. }
            | Self::Corrupt { .. }
            | Self::UnsupportedVersion { .. }
            | Self::Config { .. }
            | Self::Locked { .. }
            | Self::Parquet { .. }
            | Self::Arrow { .. }
            | Self::BlockFormat { .. }
            | Self::UnsupportedBlockVersion { .. }
            | Self::Task { .. } => ErrorKind::Internal,
            Self::OverCap { .. } | Self::Closed | Self::Failed => ErrorKind::Unavailable,
            Self::RecordTooLarge { .. } => ErrorKind::TooLarge,
            Self::NotFound { .. } => ErrorKind::NotFound,
            Self::ObjectStore { source } | Self::BlockIo { source, .. } => {
                object_error_kind(source)
            }
            Self::ObjectPath { .. } => ErrorKind::Internal,
            Self::StorageConfig { .. } | Self::InvalidFetch { .. } => ErrorKind::BadRequest,
            Self::Port { source, .. } => source.kind,
            Self::LeaseLost { .. } => ErrorKind::Conflict,
            Self::Injected { .. } => ErrorKind::Internal,
        }
    }

    /// The retry hint for errors a later retry can get past.
    pub fn retry_after(&self) -> Option<Duration> {
        (self.kind() == ErrorKind::Unavailable).then_some(WAL_RETRY_AFTER)
    }
}

/// Object-store failures by kind: the store being unreachable, slow or failing is
/// `Unavailable` (worth retrying later); our own credentials or paths being wrong is `Internal`.
fn object_error_kind(error: &object_store::Error) -> ErrorKind {
    use object_store::Error as E;
    match error {
        E::NotFound { .. } => ErrorKind::NotFound,
        E::AlreadyExists { .. } => ErrorKind::Conflict,
        E::Precondition { .. } | E::NotModified { .. } => ErrorKind::PreconditionFailed,
        E::Generic { .. } | E::JoinError { .. } => ErrorKind::Unavailable,
        _ => ErrorKind::Internal,
    }
}

impl From<Error> for sextant_model::Error {
    fn from(error: Error) -> Self {
        let out = sextant_model::Error::new(error.kind(), error.to_string());
        match error.retry_after() {
            Some(after) => out.with_retry_after(after),
            None => out,
        }
    }
}
