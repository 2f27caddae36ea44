//! Settings of the embedded SQLite database.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// How the SQLite control-plane database is opened.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct SqliteConfig {
    /// How long a statement waits for another connection's write lock before failing as
    /// unavailable.
    #[serde(with = "humantime_serde")]
    pub busy_timeout: Duration,
    /// Connections in the pool (SQLite serialises writers; readers run in parallel in WAL mode).
    pub max_connections: u32,
    /// How long a caller waits for a free connection.
    #[serde(with = "humantime_serde")]
    pub acquire_timeout: Duration,
}

impl Default for SqliteConfig {
    fn default() -> Self {
        Self {
            busy_timeout: Duration::from_secs(5),
            max_connections: 4,
            acquire_timeout: Duration::from_secs(10),
        }
    }
}
