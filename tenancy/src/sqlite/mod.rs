//! The embedded SQLite store: one database file in WAL mode with `synchronous=FULL`, so a
//! registration that returned is on disk.

mod admin;
mod audit;
mod catalog;
mod lease;
mod tenants;

use std::path::{Path, PathBuf};
use std::str::FromStr;

use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

use crate::clock::{Clock, system_clock};
use crate::config::SqliteConfig;
use crate::error::{Error, Result};
use crate::migrate::{self, Migration, OnOpen};

/// The control-plane database on SQLite: implements [`sextant_model::BlockCatalog`] and
/// [`sextant_model::Lease`].
#[derive(Clone)]
pub struct SqliteStore {
    pub(crate) pool: SqlitePool,
    clock: Clock,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore")
            .field("connections", &self.pool.size())
            .finish_non_exhaustive()
    }
}

impl SqliteStore {
    /// Opens (creating it if needed) the database file at `path` with default settings and
    /// brings its schema up to date.
    pub async fn open(path: &Path) -> Result<Self> {
        Self::open_with(path, &SqliteConfig::default()).await
    }

    /// Opens the database file at `path` with `config` and brings its schema up to date.
    pub async fn open_with(path: &Path, config: &SqliteConfig) -> Result<Self> {
        Self::open_file(path, config, true).await
    }

    /// Opens the database file at `path`; with `migrate` false, a schema that is not exactly
    /// this binary's is refused instead of migrated.
    pub async fn open_file(path: &Path, config: &SqliteConfig, migrate: bool) -> Result<Self> {
        Self::open_file_with(path, config, OnOpen::from_flag(migrate)).await
    }

    pub(crate) async fn open_file_with(
        path: &Path,
        config: &SqliteConfig,
        on_open: OnOpen,
    ) -> Result<Self> {
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(config.busy_timeout)
            .foreign_keys(true);
        let pool = SqlitePoolOptions::new()
            .max_connections(config.max_connections.max(1))
            .acquire_timeout(config.acquire_timeout)
            .connect_with(options)
            .await
            .map_err(|source| Error::Open {
                path: path.to_owned(),
                source,
            })?;
        Self::start(pool, on_open).await
    }

    /// A private database in memory, gone when the store is dropped; for tests.
    pub async fn open_in_memory() -> Result<Self> {
        let options = SqliteConnectOptions::from_str("sqlite::memory:")
            .map_err(Error::db("parse in-memory url"))?
            .foreign_keys(true);
        // One connection that never closes: the database lives exactly as long as it.
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_with(options)
            .await
            .map_err(|source| Error::Open {
                path: PathBuf::from(":memory:"),
                source,
            })?;
        Self::start(pool, OnOpen::Migrate).await
    }

    async fn start(pool: SqlitePool, on_open: OnOpen) -> Result<Self> {
        let store = Self {
            pool,
            clock: system_clock(),
        };
        match on_open {
            OnOpen::Migrate => {
                store.migrate().await?;
            }
            OnOpen::Check => {
                migrate::check_current(&applied(&store.pool).await?, migrate::SQLITE)?;
            }
            OnOpen::Nothing => {}
        }
        Ok(store)
    }

    /// Applies the migrations this database lacks, in one write transaction; returns their
    /// names (empty when the schema was current).
    pub async fn migrate(&self) -> Result<Vec<String>> {
        apply_migrations(&self.pool, migrate::SQLITE).await
    }

    /// Replaces the clock lease expiry is measured against (tests use a manual clock).
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// Closes every connection; later calls fail as unavailable.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// The recorded migrations (version, checksum); none when the version table is missing.
async fn applied(pool: &SqlitePool) -> Result<Vec<(i64, i64)>> {
    let (tables,): (i64,) = sqlx::query_as(
        "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'sextant_migrations'",
    )
    .fetch_one(pool)
    .await
    .map_err(Error::db("read migrations"))?;
    if tables == 0 {
        return Ok(Vec::new());
    }
    sqlx::query_as("SELECT version, checksum FROM sextant_migrations ORDER BY version")
        .fetch_all(pool)
        .await
        .map_err(Error::db("read migrations"))
}

/// Applies the migrations this database lacks, all in one write transaction, and refuses a
/// database with migrations this binary does not know.
async fn apply_migrations(pool: &SqlitePool, migrations: &[Migration]) -> Result<Vec<String>> {
    let mut tx = pool
        .begin_with("BEGIN IMMEDIATE")
        .await
        .map_err(Error::db("begin migration"))?;
    sqlx::query(migrate::VERSION_TABLE)
        .execute(&mut *tx)
        .await
        .map_err(Error::db("create migration table"))?;
    let applied: Vec<(i64, i64)> =
        sqlx::query_as("SELECT version, checksum FROM sextant_migrations ORDER BY version")
            .fetch_all(&mut *tx)
            .await
            .map_err(Error::db("read migrations"))?;
    let mut names = Vec::new();
    for migration in migrate::pending(&applied, migrations)? {
        sqlx::raw_sql(migration.sql)
            .execute(&mut *tx)
            .await
            .map_err(Error::db("apply migration"))?;
        sqlx::query(
            "INSERT INTO sextant_migrations (version, description, checksum) VALUES (?, ?, ?)",
        )
        .bind(migration.version)
        .bind(migration.description)
        .bind(migration.checksum())
        .execute(&mut *tx)
        .await
        .map_err(Error::db("record migration"))?;
        tracing::info!(
            version = migration.version,
            description = migration.description,
            "applied migration"
        );
        names.push(migration.name());
    }
    tx.commit().await.map_err(Error::db("commit migration"))?;
    Ok(names)
}

#[cfg(test)]
mod tests;
