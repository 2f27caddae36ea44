//! The crate's one error type, each variant saying its [`ErrorKind`].

use std::path::PathBuf;

use sextant_model::ErrorKind;

/// A failure of the control-plane database.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The database could not be opened or reached.
    #[error("cannot open database {path}: {source}")]
    Open {
        path: PathBuf,
        #[source]
        source: sqlx::Error,
    },
    /// A statement failed; [`Error::kind`] classifies the driver's error.
    #[error("database {operation} failed: {source}")]
    Database {
        operation: &'static str,
        #[source]
        source: sqlx::Error,
    },
    /// The request conflicts with what the database holds (a block ID reused with different
    /// contents, a swap input that is no longer live).
    #[error("{0}")]
    Conflict(String),
    /// The request itself is invalid (a value out of range, a malformed swap).
    #[error("{0}")]
    Invalid(String),
    /// A conditional update whose precondition failed: the row is at version `current`.
    #[error("stale version: the tenant is now at version {current}")]
    Stale { current: u64 },
    /// A tenant or key that does not exist.
    #[error("{0}")]
    NotFound(String),
    /// A presented key that is malformed, unknown, wrong, revoked or expired: one message for
    /// all, so nothing leaks.
    #[error("invalid credentials")]
    Unauthenticated,
    /// The database was migrated by a newer binary than this one.
    #[error(
        "database schema version {found} is newer than this binary supports ({supported}); \
         upgrade sextant or point it at another database"
    )]
    SchemaTooNew { found: i64, supported: i64 },
    /// The database lacks migrations this binary needs and was opened without migrating.
    #[error(
        "database schema version {found} is older than this binary's ({expected}); \
         run `sextant migrate` first"
    )]
    SchemaBehind { found: i64, expected: i64 },
    /// A database URL this binary cannot open.
    #[error("{0}")]
    Url(String),
    /// An applied migration's text differs from the one embedded in this binary.
    #[error("migration {version} differs from the one applied to this database")]
    MigrationChanged { version: i64 },
    /// The operating system's random source failed (no key can be made).
    #[error("os random source failed: {0}")]
    Random(String),
    /// A stored value that cannot be what this crate wrote.
    #[error("corrupt catalog row: {0}")]
    Corrupt(String),
}

impl Error {
    pub(crate) fn db(operation: &'static str) -> impl FnOnce(sqlx::Error) -> Error {
        move |source| Error::Database { operation, source }
    }

    /// How the failure is classified across the system.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Open { source, .. } | Error::Database { source, .. } => classify(source),
            Error::Conflict(_) => ErrorKind::Conflict,
            Error::Invalid(_) => ErrorKind::BadRequest,
            Error::NotFound(_) => ErrorKind::NotFound,
            Error::Stale { .. } => ErrorKind::PreconditionFailed,
            Error::Unauthenticated => ErrorKind::Unauthenticated,
            Error::Url(_) => ErrorKind::BadRequest,
            Error::SchemaTooNew { .. }
            | Error::SchemaBehind { .. }
            | Error::MigrationChanged { .. }
            | Error::Corrupt(_)
            | Error::Random(_) => ErrorKind::Internal,
        }
    }
}

/// The kind of a driver error: unreachable, busy or locked → unavailable (retry later),
/// constraint violations → conflict, everything else (corruption, bugs) → internal.
fn classify(error: &sqlx::Error) -> ErrorKind {
    match error {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => ErrorKind::Unavailable,
        sqlx::Error::Database(db) => {
            use sqlx::error::ErrorKind as Db;
            match db.kind() {
                Db::UniqueViolation
                | Db::ForeignKeyViolation
                | Db::NotNullViolation
                | Db::CheckViolation => return ErrorKind::Conflict,
                _ => {}
            }
            let code = db.code().unwrap_or_default();
            let transient = if db.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some() {
                code.parse().is_ok_and(sqlite_transient)
            } else {
                postgres_transient(&code)
            };
            if transient {
                ErrorKind::Unavailable
            } else {
                ErrorKind::Internal
            }
        }
        _ => ErrorKind::Internal,
    }
}

/// SQLite (extended) result codes after which a retry can succeed; the low byte is the
/// primary code: SQLITE_BUSY 5, SQLITE_LOCKED 6, SQLITE_IOERR 10, SQLITE_FULL 13,
/// SQLITE_CANTOPEN 14, SQLITE_PROTOCOL 15.
fn sqlite_transient(code: i64) -> bool {
    matches!(code & 0xff, 5 | 6 | 10 | 13 | 14 | 15)
}

/// Postgres SQLSTATEs after which a retry can succeed: serialization failure, deadlock, lock
/// not available, connection exceptions, insufficient resources, operator intervention.
fn postgres_transient(code: &str) -> bool {
    code == "40001"
        || code == "40P01"
        || code == "55P03"
        || code.starts_with("08")
        || code.starts_with("53")
        || code.starts_with("57P")
}

impl From<Error> for sextant_model::Error {
    fn from(error: Error) -> Self {
        let kind = error.kind();
        let model = sextant_model::Error::new(kind, error.to_string());
        if kind == ErrorKind::Unavailable {
            model.with_retry_after(std::time::Duration::from_secs(1))
        } else {
            model
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transient_codes() {
        assert!(sqlite_transient(5));
        assert!(sqlite_transient(517)); // SQLITE_BUSY_SNAPSHOT
        assert!(sqlite_transient(6));
        assert!(!sqlite_transient(11)); // SQLITE_CORRUPT
        assert!(!sqlite_transient(26)); // SQLITE_NOTADB
        assert!(!sqlite_transient(2067)); // SQLITE_CONSTRAINT_UNIQUE
        assert!(postgres_transient("40001"));
        assert!(postgres_transient("08006"));
        assert!(!postgres_transient("42601"));
    }

    #[test]
    fn kinds() {
        assert_eq!(Error::Conflict("x".into()).kind(), ErrorKind::Conflict);
        assert_eq!(Error::Invalid("x".into()).kind(), ErrorKind::BadRequest);
        assert_eq!(
            Error::Stale { current: 3 }.kind(),
            ErrorKind::PreconditionFailed
        );
        let e = Error::Database {
            operation: "read",
            source: sqlx::Error::PoolTimedOut,
        };
        assert_eq!(e.kind(), ErrorKind::Unavailable);
        let model: sextant_model::Error = e.into();
        assert!(model.retry_after.is_some());
        let too_new = Error::SchemaTooNew {
            found: 3,
            supported: 1,
        };
        assert_eq!(too_new.kind(), ErrorKind::Internal);
    }
}
