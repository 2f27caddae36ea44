//! One error classification for the whole system. Every crate's error says its [`ErrorKind`];
//! only the edge maps kinds to HTTP statuses and gRPC codes.

use std::time::Duration;

/// What kind of failure an error is, independent of transport.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// The request is malformed; retrying it unchanged cannot succeed.
    BadRequest,
    /// No credential, or one that is not valid.
    Unauthenticated,
    /// A valid credential that may not do this.
    Forbidden,
    /// The thing asked for does not exist.
    NotFound,
    /// The request conflicts with the current state.
    Conflict,
    /// A precondition of the request does not hold.
    PreconditionFailed,
    /// The request, or what it asks for, is over a size limit.
    TooLarge,
    /// A query stopped at one of its limits (bytes read, time): retrying it unchanged fails
    /// again; a narrower query can succeed.
    QueryLimit,
    /// A rate limit: a later retry can succeed.
    RateLimited,
    /// A daily or monthly quota is used up until it resets.
    QuotaExceeded,
    /// The service is overloaded or a dependency is down: a later retry can succeed.
    Unavailable,
    /// A bug or an unexpected failure; details go to the log, never to the client.
    Internal,
}

impl ErrorKind {
    /// Whether a client may retry the same request later.
    pub fn is_retryable(self) -> bool {
        matches!(self, Self::RateLimited | Self::Unavailable)
    }
}

/// An error crossing a port: a kind, a message safe to show the client (except for
/// [`ErrorKind::Internal`], whose message is only logged) and an optional retry hint.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct Error {
    pub kind: ErrorKind,
    pub message: String,
    /// How long the client should wait before retrying (`Retry-After`, gRPC `RetryInfo`).
    pub retry_after: Option<Duration>,
}

impl Error {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
            retry_after: None,
        }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::BadRequest, message)
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Internal, message)
    }

    pub fn unavailable(message: impl Into<String>, retry_after: Duration) -> Self {
        Self::new(ErrorKind::Unavailable, message).with_retry_after(retry_after)
    }

    pub fn with_retry_after(mut self, retry_after: Duration) -> Self {
        self.retry_after = Some(retry_after);
        self
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
