//! The pipeline's errors, each with the [`ErrorKind`] the edge maps to a status.

use std::time::Duration;

use sextant_model::ErrorKind;

/// What can go wrong between a payload arriving and a trace being read back.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The payload is not valid OTLP in the format it claims to be.
    #[error("failed to decode OTLP {format}: {message}")]
    Decode {
        format: &'static str,
        message: String,
    },
    /// A queue or memory bound is full; a later retry can succeed.
    #[error("{message}")]
    Overloaded {
        message: String,
        retry_after: Duration,
    },
    /// The pipeline was closed; no more pushes are taken.
    #[error("ingester is shutting down")]
    Closed { retry_after: Duration },
    /// The write-ahead log failed (its own error carries its kind).
    #[error("write-ahead log: {0}")]
    Wal(sextant_model::Error),
    /// Object storage or the block catalog failed (its own error carries its kind).
    #[error("block storage: {0}")]
    Blocks(sextant_model::Error),
    /// The settings cannot work; every problem is listed.
    #[error("invalid pipeline settings: {}", .0.join("; "))]
    Config(Vec<String>),
    /// A bug or unexpected failure, e.g. a task that panicked.
    #[error("internal pipeline error: {0}")]
    Internal(String),
}

impl Error {
    pub(crate) fn decode(format: &'static str, message: impl ToString) -> Self {
        Self::Decode {
            format,
            message: message.to_string(),
        }
    }

    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::Decode { .. } => ErrorKind::BadRequest,
            Self::Overloaded { .. } | Self::Closed { .. } => ErrorKind::Unavailable,
            Self::Wal(e) | Self::Blocks(e) => e.kind,
            Self::Config(_) | Self::Internal(_) => ErrorKind::Internal,
        }
    }
}

impl From<sextant_store::Error> for Error {
    fn from(e: sextant_store::Error) -> Self {
        Self::Wal(e.into())
    }
}

impl From<Error> for sextant_model::Error {
    fn from(e: Error) -> Self {
        let kind = e.kind();
        match e {
            Error::Overloaded { retry_after, .. } | Error::Closed { retry_after } => {
                sextant_model::Error::new(kind, e.to_string()).with_retry_after(retry_after)
            }
            Error::Wal(inner) => sextant_model::Error {
                message: format!("write-ahead log: {}", inner.message),
                ..inner
            },
            Error::Blocks(inner) => sextant_model::Error {
                message: format!("block storage: {}", inner.message),
                ..inner
            },
            _ => sextant_model::Error::new(kind, e.to_string()),
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
