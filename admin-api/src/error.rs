//! The admin API's failures and the one error envelope every one of them is answered with:
//! `{"error":{"code","message","details":[{"field","message"}]}}`.

use axum::Json;
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};
use serde::Serialize;
use sextant_model::ErrorKind;
use utoipa::ToSchema;

/// The `WWW-Authenticate` challenges of a 401: a bearer token (admin token or session) or
/// Basic with an empty username and the admin token as password.
pub(crate) const CHALLENGE: &str = r#"Bearer realm="sextant-admin", Basic realm="sextant-admin""#;

/// One invalid field of a request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct FieldDetail {
    /// The field's name as sent (`remote_write.url`, `scopes[1]`); empty for the whole body.
    pub field: String,
    pub message: String,
}

impl FieldDetail {
    pub(crate) fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// The body of every error answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorObject,
}

/// What went wrong.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorObject {
    /// Stable, machine-readable: `validation_failed`, `bad_request`, `unauthenticated`,
    /// `forbidden`, `not_found`, `conflict`, `precondition_failed`, `precondition_required`,
    /// `unsupported_media_type`, `payload_too_large`, `unavailable`, `internal`.
    pub code: String,
    /// For people; never holds a secret or a database statement.
    pub message: String,
    /// The invalid fields, every one of them (validation failures only).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub details: Vec<FieldDetail>,
}

/// A failure of an admin request.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("{0}")]
    Unauthenticated(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    /// Invalid fields, all of them.
    #[error("the request has {} invalid field(s)", .0.len())]
    Validation(Vec<FieldDetail>),
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("{0}")]
    TooLarge(String),
    /// A conditional request without `If-Match` where one is required (428).
    #[error("this request needs If-Match: \"<version>\" (the ETag of a GET)")]
    PreconditionRequired,
    /// `If-Match` names another version than the current one (412).
    #[error("the resource has changed: its current version is {current}")]
    Stale { current: u64 },
    #[error("{0}")]
    Unavailable(String),
    /// Too many attempts (sign-in): retry after the given seconds (429).
    #[error("{message}")]
    TooManyRequests {
        message: String,
        retry_after_secs: u64,
    },
    /// A bug or an unexpected failure: the detail is logged, never answered.
    #[error("internal error: {0}")]
    Internal(String),
}

impl AdminError {
    pub(crate) fn invalid(field: &str, message: impl Into<String>) -> Self {
        Self::Validation(vec![FieldDetail::new(field, message)])
    }

    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::Unauthenticated(_) => ErrorKind::Unauthenticated,
            Self::Forbidden(_) => ErrorKind::Forbidden,
            Self::NotFound(_) => ErrorKind::NotFound,
            Self::Conflict(_) => ErrorKind::Conflict,
            Self::Validation(_) | Self::BadRequest(_) | Self::UnsupportedMediaType(_) => {
                ErrorKind::BadRequest
            }
            Self::TooLarge(_) => ErrorKind::TooLarge,
            Self::PreconditionRequired | Self::Stale { .. } => ErrorKind::PreconditionFailed,
            Self::Unavailable(_) => ErrorKind::Unavailable,
            Self::TooManyRequests { .. } => ErrorKind::RateLimited,
            Self::Internal(_) => ErrorKind::Internal,
        }
    }

    fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            Self::Unauthenticated(_) => (StatusCode::UNAUTHORIZED, "unauthenticated"),
            Self::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden"),
            Self::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            Self::Conflict(_) => (StatusCode::CONFLICT, "conflict"),
            Self::Validation(_) => (StatusCode::BAD_REQUEST, "validation_failed"),
            Self::BadRequest(_) => (StatusCode::BAD_REQUEST, "bad_request"),
            Self::UnsupportedMediaType(_) => {
                (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type")
            }
            Self::TooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large"),
            Self::PreconditionRequired => {
                (StatusCode::PRECONDITION_REQUIRED, "precondition_required")
            }
            Self::Stale { .. } => (StatusCode::PRECONDITION_FAILED, "precondition_failed"),
            Self::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
            Self::TooManyRequests { .. } => (StatusCode::TOO_MANY_REQUESTS, "too_many_requests"),
            Self::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        }
    }
}

impl From<sextant_tenancy::Error> for AdminError {
    /// The store's own messages for what it says about the request (invalid, not found,
    /// conflict); a generic one for driver failures, whose text may hold SQL.
    fn from(error: sextant_tenancy::Error) -> Self {
        use sextant_tenancy::Error as E;
        match error {
            E::Invalid(m) => Self::BadRequest(m),
            E::NotFound(m) => Self::NotFound(m),
            E::Conflict(m) => Self::Conflict(m),
            E::Unauthenticated => Self::Unauthenticated("invalid credentials".into()),
            other => match other.kind() {
                ErrorKind::Unavailable => {
                    tracing::warn!(error = %other, "control-plane database unavailable");
                    Self::Unavailable("the control-plane database is unavailable".into())
                }
                ErrorKind::Conflict => {
                    tracing::info!(error = %other, "admin request conflicts with the database");
                    Self::Conflict("the request conflicts with the current state".into())
                }
                _ => Self::Internal(other.to_string()),
            },
        }
    }
}

impl IntoResponse for AdminError {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        let message = match &self {
            Self::Internal(detail) => {
                tracing::error!(detail = %detail, "admin request failed");
                "internal error".to_owned()
            }
            other => other.to_string(),
        };
        let details = match self {
            Self::Validation(ref details) => details.clone(),
            _ => Vec::new(),
        };
        let body = ErrorBody {
            error: ErrorObject {
                code: code.to_owned(),
                message,
                details,
            },
        };
        let mut response = (status, Json(body)).into_response();
        let headers = response.headers_mut();
        match self {
            Self::Unauthenticated(_) => {
                headers.insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static(CHALLENGE),
                );
            }
            Self::Unavailable(_) => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            }
            Self::TooManyRequests {
                retry_after_secs, ..
            } => {
                headers.insert(
                    header::RETRY_AFTER,
                    HeaderValue::from(retry_after_secs.max(1)),
                );
            }
            Self::Stale { current } => {
                if let Ok(v) = HeaderValue::from_str(&crate::etag::etag(current)) {
                    headers.insert(header::ETAG, v);
                }
            }
            _ => {}
        }
        response
    }
}

pub type Result<T, E = AdminError> = std::result::Result<T, E>;
