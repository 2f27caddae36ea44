//! The block catalog and leases on Postgres: the same behaviour as the SQLite store, checked by
//! the same conformance suite. Swaps rely on row locks: a concurrent swap of the same inputs
//! waits, then finds them retired and fails with a conflict.

mod admin;
mod audit;
mod catalog_admin;
mod tenants;

use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use sextant_model::{BlockCatalog, BlockMeta, BlockState, Lease, LeaseGuard, TenantId, TimeRange};
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPool, PgPoolOptions};

use crate::clock::{Clock, system_clock};
use crate::error::{Error, Result};
use crate::migrate::{self, Migration, OnOpen};
use crate::rows::{BlockRow, BlockTuple, clamp_to_db, expiry_millis, unix_millis};

/// Serialises migrations of one database across processes.
const MIGRATION_LOCK: i64 = 0x5345_5854_414e_5401;

/// The control-plane database on Postgres.
#[derive(Clone)]
pub struct PostgresStore {
    pub(crate) pool: PgPool,
    clock: Clock,
}

impl std::fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresStore")
            .field("connections", &self.pool.size())
            .finish_non_exhaustive()
    }
}

impl PostgresStore {
    /// Connects with `options` and brings the schema up to date.
    pub async fn connect(options: PgConnectOptions, max_connections: u32) -> Result<Self> {
        Self::connect_with(options, max_connections, Duration::from_secs(10), true).await
    }

    /// Connects with `options`, waiting at most `acquire_timeout` for a connection; with
    /// `migrate` false, a schema that is not exactly this
    /// binary's is refused instead of migrated.
    pub async fn connect_with(
        options: PgConnectOptions,
        max_connections: u32,
        acquire_timeout: Duration,
        migrate: bool,
    ) -> Result<Self> {
        Self::connect_mode(
            options,
            max_connections,
            acquire_timeout,
            OnOpen::from_flag(migrate),
        )
        .await
    }

    pub(crate) async fn connect_mode(
        options: PgConnectOptions,
        max_connections: u32,
        acquire_timeout: Duration,
        on_open: OnOpen,
    ) -> Result<Self> {
        let pool = PgPoolOptions::new()
            .max_connections(max_connections.max(1))
            .acquire_timeout(acquire_timeout)
            .connect_with(options)
            .await
            .map_err(|source| Error::Open {
                path: "postgres".into(),
                source,
            })?;
        let store = Self {
            pool,
            clock: system_clock(),
        };
        match on_open {
            OnOpen::Migrate => {
                store.migrate().await?;
            }
            OnOpen::Check => {
                migrate::check_current(&applied(&store.pool).await?, migrate::POSTGRES)?;
            }
            OnOpen::Nothing => {}
        }
        Ok(store)
    }

    /// Applies the migrations this database lacks, in one transaction under a Postgres
    /// advisory lock, so processes starting together apply each migration once; returns the
    /// names of those this call applied.
    pub async fn migrate(&self) -> Result<Vec<String>> {
        apply_migrations(&self.pool, migrate::POSTGRES).await
    }

    pub(crate) fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Replaces the clock lease expiry is measured against.
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// Closes every connection.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// The recorded migrations (version, checksum); none when the version table is missing.
async fn applied(pool: &PgPool) -> Result<Vec<(i64, i64)>> {
    let (exists,): (bool,) = sqlx::query_as("SELECT to_regclass('sextant_migrations') IS NOT NULL")
        .fetch_one(pool)
        .await
        .map_err(Error::db("read migrations"))?;
    if !exists {
        return Ok(Vec::new());
    }
    sqlx::query_as("SELECT version, checksum FROM sextant_migrations ORDER BY version")
        .fetch_all(pool)
        .await
        .map_err(Error::db("read migrations"))
}

async fn apply_migrations(pool: &PgPool, migrations: &[Migration]) -> Result<Vec<String>> {
    let mut tx = pool.begin().await.map_err(Error::db("begin migration"))?;
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(MIGRATION_LOCK)
        .execute(&mut *tx)
        .await
        .map_err(Error::db("lock migrations"))?;
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
            "INSERT INTO sextant_migrations (version, description, checksum) VALUES ($1, $2, $3)",
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

const SELECT_ONE: &str = "SELECT tenant, block_id, start_ns, end_ns, size_bytes, span_count, \
    trace_count, compaction_level, format_version, state FROM blocks \
    WHERE tenant = $1 AND block_id = $2";

const CANDIDATES: &str = "SELECT tenant, block_id, start_ns, end_ns, size_bytes, span_count, \
    trace_count, compaction_level, format_version, state FROM blocks \
    WHERE tenant = $1 AND state = 'live' AND start_ns <= $2 AND end_ns >= $3 \
    ORDER BY start_ns, block_id";

const LIVE: &str = "SELECT tenant, block_id, start_ns, end_ns, size_bytes, span_count, \
    trace_count, compaction_level, format_version, state FROM blocks \
    WHERE tenant = $1 AND state = 'live' ORDER BY start_ns, block_id";

const RETIRED: &str = "SELECT tenant, block_id, start_ns, end_ns, size_bytes, span_count, \
    trace_count, compaction_level, format_version, state FROM blocks \
    WHERE tenant = $1 AND state = 'retired' AND COALESCE(retired_at, 0) <= $2 \
    ORDER BY COALESCE(retired_at, 0), block_id";

const RETIRE: &str = "UPDATE blocks SET state = 'retired', retired_at = $1 \
    WHERE tenant = $2 AND block_id = $3 AND state = 'live'";

const INSERT: &str = "INSERT INTO blocks (tenant, block_id, start_ns, end_ns, size_bytes, \
    span_count, trace_count, compaction_level, format_version, state) \
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT (tenant, block_id) DO NOTHING";

const ACQUIRE: &str = "INSERT INTO leases (name, holder, token, expires_at) VALUES ($1, $2, 1, $3) \
    ON CONFLICT (name) DO UPDATE \
    SET holder = excluded.holder, token = leases.token + 1, expires_at = excluded.expires_at \
    WHERE leases.expires_at <= $4 RETURNING token";

async fn insert_or_check(conn: &mut PgConnection, row: &BlockRow) -> Result<()> {
    let done = sqlx::query(INSERT)
        .bind(&row.tenant)
        .bind(&row.block_id)
        .bind(row.start_ns)
        .bind(row.end_ns)
        .bind(row.size_bytes)
        .bind(row.span_count)
        .bind(row.trace_count)
        .bind(row.compaction_level)
        .bind(row.format_version)
        .bind(row.state)
        .execute(&mut *conn)
        .await
        .map_err(Error::db("insert block"))?;
    if done.rows_affected() == 1 {
        return Ok(());
    }
    let existing: Option<BlockTuple> = sqlx::query_as(SELECT_ONE)
        .bind(&row.tenant)
        .bind(&row.block_id)
        .fetch_optional(&mut *conn)
        .await
        .map_err(Error::db("read block"))?;
    match existing.map(BlockRow::from_tuple).transpose()? {
        Some(existing) if existing.same_block(row) => Ok(()),
        None => Err(Error::Conflict(format!(
            "block {} of tenant {} changed while being registered",
            row.block_id, row.tenant
        ))),
        Some(_) => Err(Error::Conflict(format!(
            "block {} of tenant {} is already registered with different contents",
            row.block_id, row.tenant
        ))),
    }
}

impl PostgresStore {
    async fn swap_rows(
        &self,
        tenant: &TenantId,
        inputs: &[String],
        outputs: &[BlockRow],
    ) -> Result<()> {
        crate::rows::check_swap(tenant, inputs, outputs)?;
        let mut tx = self.pool.begin().await.map_err(Error::db("begin swap"))?;
        let now = unix_millis((self.clock)());
        for id in inputs {
            let done = sqlx::query(RETIRE)
                .bind(now)
                .bind(tenant.as_str())
                .bind(id)
                .execute(&mut *tx)
                .await
                .map_err(Error::db("retire block"))?;
            if done.rows_affected() != 1 {
                return Err(Error::Conflict(format!(
                    "swap input block {id} of tenant {tenant} is not live"
                )));
            }
        }
        for row in outputs {
            insert_or_check(&mut tx, row).await?;
        }
        tx.commit().await.map_err(Error::db("commit swap"))
    }
}

impl PostgresStore {
    async fn select_blocks(
        &self,
        sql: &'static str,
        tenant: &TenantId,
        before: Option<SystemTime>,
    ) -> Result<Vec<BlockMeta>> {
        let mut query = sqlx::query_as::<_, BlockTuple>(sql).bind(tenant.as_str());
        if let Some(before) = before {
            query = query.bind(unix_millis(before));
        }
        let rows = query
            .fetch_all(&self.pool)
            .await
            .map_err(Error::db("select blocks"))?;
        rows.into_iter()
            .map(|t| BlockRow::from_tuple(t)?.into_meta())
            .collect()
    }

    async fn retire_rows(&self, tenant: &TenantId, ids: &[String]) -> Result<u64> {
        let mut tx = self.pool.begin().await.map_err(Error::db("begin retire"))?;
        let now = unix_millis((self.clock)());
        let mut retired = 0;
        for id in ids {
            let done = sqlx::query(RETIRE)
                .bind(now)
                .bind(tenant.as_str())
                .bind(id)
                .execute(&mut *tx)
                .await
                .map_err(Error::db("retire block"))?;
            retired += done.rows_affected();
        }
        tx.commit().await.map_err(Error::db("commit retire"))?;
        Ok(retired)
    }

    async fn forget_row(&self, tenant: &TenantId, block_id: &str) -> Result<bool> {
        let now = unix_millis((self.clock)());
        let mut tx = self.pool.begin().await.map_err(Error::db("begin forget"))?;
        let done = sqlx::query(
            "DELETE FROM blocks WHERE tenant = $1 AND block_id = $2 AND state = 'retired'",
        )
        .bind(tenant.as_str())
        .bind(block_id)
        .execute(&mut *tx)
        .await
        .map_err(Error::db("forget block"))?;
        if done.rows_affected() == 0 {
            return Ok(false);
        }
        sqlx::query(
            "INSERT INTO forgotten_blocks (tenant, block_id, forgotten_at) VALUES ($1, $2, $3) \
             ON CONFLICT (tenant, block_id) DO UPDATE SET forgotten_at = excluded.forgotten_at",
        )
        .bind(tenant.as_str())
        .bind(block_id)
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(Error::db("remember forgotten block"))?;
        sqlx::query("DELETE FROM forgotten_blocks WHERE forgotten_at < $1")
            .bind(now.saturating_sub(crate::rows::FORGOTTEN_KEEP_MILLIS))
            .execute(&mut *tx)
            .await
            .map_err(Error::db("prune forgotten blocks"))?;
        tx.commit().await.map_err(Error::db("commit forget"))?;
        Ok(true)
    }

    async fn is_forgotten_row(&self, tenant: &TenantId, block_id: &str) -> Result<bool> {
        let found: Option<(i64,)> = sqlx::query_as(
            "SELECT forgotten_at FROM forgotten_blocks WHERE tenant = $1 AND block_id = $2",
        )
        .bind(tenant.as_str())
        .bind(block_id)
        .fetch_optional(&self.pool)
        .await
        .map_err(Error::db("read forgotten block"))?;
        Ok(found.is_some())
    }
}

#[async_trait]
impl BlockCatalog for PostgresStore {
    async fn register(&self, block: BlockMeta) -> sextant_model::Result<()> {
        let row = BlockRow::from_meta(&block)?;
        let mut conn = self
            .pool
            .acquire()
            .await
            .map_err(Error::db("acquire connection"))?;
        Ok(insert_or_check(&mut conn, &row).await?)
    }

    async fn candidates(
        &self,
        tenant: &TenantId,
        range: TimeRange,
    ) -> sextant_model::Result<Vec<BlockMeta>> {
        let rows: Vec<BlockTuple> = sqlx::query_as(CANDIDATES)
            .bind(tenant.as_str())
            .bind(clamp_to_db(range.end))
            .bind(clamp_to_db(range.start))
            .fetch_all(&self.pool)
            .await
            .map_err(Error::db("select candidate blocks"))?;
        Ok(rows
            .into_iter()
            .map(|t| BlockRow::from_tuple(t)?.into_meta())
            .collect::<Result<_>>()?)
    }

    async fn swap(
        &self,
        tenant: &TenantId,
        inputs: &[String],
        outputs: Vec<BlockMeta>,
    ) -> sextant_model::Result<()> {
        let rows = outputs
            .into_iter()
            .map(|mut meta| {
                meta.state = BlockState::Live;
                BlockRow::from_meta(&meta)
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(self.swap_rows(tenant, inputs, &rows).await?)
    }

    async fn live_blocks(&self, tenant: &TenantId) -> sextant_model::Result<Vec<BlockMeta>> {
        Ok(self.select_blocks(LIVE, tenant, None).await?)
    }

    async fn retire(&self, tenant: &TenantId, ids: &[String]) -> sextant_model::Result<u64> {
        Ok(self.retire_rows(tenant, ids).await?)
    }

    async fn retired(
        &self,
        tenant: &TenantId,
        before: SystemTime,
    ) -> sextant_model::Result<Vec<BlockMeta>> {
        Ok(self.select_blocks(RETIRED, tenant, Some(before)).await?)
    }

    async fn forget(&self, tenant: &TenantId, block_id: &str) -> sextant_model::Result<bool> {
        Ok(self.forget_row(tenant, block_id).await?)
    }

    async fn is_forgotten(&self, tenant: &TenantId, block_id: &str) -> sextant_model::Result<bool> {
        Ok(self.is_forgotten_row(tenant, block_id).await?)
    }

    async fn tenants_with_blocks(&self) -> sextant_model::Result<Vec<TenantId>> {
        Ok(self.tenants().await?)
    }
}

#[async_trait]
impl Lease for PostgresStore {
    async fn acquire(
        &self,
        name: &str,
        holder: &str,
        ttl: Duration,
    ) -> sextant_model::Result<Option<LeaseGuard>> {
        let now = (self.clock)();
        let token: Option<(i64,)> = sqlx::query_as(ACQUIRE)
            .bind(name)
            .bind(holder)
            .bind(expiry_millis(now, ttl))
            .bind(unix_millis(now))
            .fetch_optional(&self.pool)
            .await
            .map_err(Error::db("acquire lease"))?;
        let Some((token,)) = token else {
            return Ok(None);
        };
        let token = u64::try_from(token)
            .map_err(|_| Error::Corrupt(format!("lease {name} has token {token}")))?;
        Ok(Some(LeaseGuard {
            name: name.to_owned(),
            holder: holder.to_owned(),
            token,
        }))
    }

    async fn renew(&self, guard: &LeaseGuard, ttl: Duration) -> sextant_model::Result<bool> {
        let now = (self.clock)();
        let done = sqlx::query(
            "UPDATE leases SET expires_at = $1 \
             WHERE name = $2 AND holder = $3 AND token = $4 AND expires_at > $5",
        )
        .bind(expiry_millis(now, ttl))
        .bind(&guard.name)
        .bind(&guard.holder)
        .bind(crate::rows::token_to_db(guard.token))
        .bind(unix_millis(now))
        .execute(&self.pool)
        .await
        .map_err(Error::db("renew lease"))?;
        Ok(done.rows_affected() == 1)
    }

    async fn release(&self, guard: &LeaseGuard) -> sextant_model::Result<()> {
        sqlx::query(
            "UPDATE leases SET expires_at = 0 WHERE name = $1 AND holder = $2 AND token = $3",
        )
        .bind(&guard.name)
        .bind(&guard.holder)
        .bind(crate::rows::token_to_db(guard.token))
        .execute(&self.pool)
        .await
        .map_err(Error::db("release lease"))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests;
