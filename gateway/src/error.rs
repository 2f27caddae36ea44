//! The edge's own failures, each with its [`ErrorKind`].

use sextant_model::{ErrorKind, IdError};

/// What can go wrong at the edge before a request reaches a port.
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    /// `X-Scope-OrgID` is present but not a valid tenant id.
    #[error("invalid X-Scope-OrgID header: {0}")]
    InvalidTenant(#[source] IdError),
    /// No credential, or one that is not valid (401).
    #[error("{0}")]
    Unauthenticated(String),
    /// A valid credential that may not do this (403).
    #[error("{0}")]
    Forbidden(String),
    /// The request body, raw or decompressed, is over `max_request_bytes`.
    #[error("request body exceeds the limit of {limit} bytes")]
    BodyTooLarge { limit: u64 },
    /// `Content-Type` is not one the route accepts (415).
    #[error("unsupported content type {0:?}: expected application/x-protobuf or application/json")]
    UnsupportedContentType(String),
    /// `Content-Encoding` is not gzip, deflate, zstd or identity (415).
    #[error("unsupported content encoding {0:?}: expected gzip, deflate, zstd or identity")]
    UnsupportedContentEncoding(String),
    /// The compressed body is corrupt.
    #[error("cannot decompress the request body: {0}")]
    Decompress(#[source] std::io::Error),
    /// Reading the request body failed.
    #[error("cannot read the request body: {0}")]
    ReadBody(String),
    /// A query parameter or path segment is malformed.
    #[error("{0}")]
    BadParameter(String),
    /// An unexpected failure inside the edge.
    #[error("internal error: {0}")]
    Internal(String),
}

impl GatewayError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::InvalidTenant(_)
            | Self::UnsupportedContentType(_)
            | Self::UnsupportedContentEncoding(_)
            | Self::Decompress(_)
            | Self::ReadBody(_)
            | Self::BadParameter(_) => ErrorKind::BadRequest,
            Self::Unauthenticated(_) => ErrorKind::Unauthenticated,
            Self::Forbidden(_) => ErrorKind::Forbidden,
            Self::BodyTooLarge { .. } => ErrorKind::TooLarge,
            Self::Internal(_) => ErrorKind::Internal,
        }
    }
}

impl From<GatewayError> for sextant_model::Error {
    fn from(err: GatewayError) -> Self {
        sextant_model::Error::new(err.kind(), err.to_string())
    }
}

pub type Result<T, E = GatewayError> = std::result::Result<T, E>;
