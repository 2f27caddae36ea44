//! The block catalog on SQLite.

use std::time::SystemTime;

use async_trait::async_trait;
use sextant_model::{BlockCatalog, BlockMeta, BlockState, TenantId, TimeRange};
use sqlx::{AssertSqlSafe, Sqlite, SqliteConnection};

use super::SqliteStore;
use crate::TenantStats;
use crate::error::{Error, Result};
use crate::rows::{BlockRow, BlockTuple, clamp_to_db, unix_millis};

const SELECT_BLOCKS: &str = include_str!("select_blocks.sql");
const RETIRE: &str = "UPDATE blocks SET state = 'retired', retired_at = ? \
     WHERE tenant = ? AND block_id = ? AND state = 'live'";

impl SqliteStore {
    /// Every block, live and retired, of one tenant or of all, ordered by tenant, start, ID.
    pub async fn list_blocks(&self, tenant: Option<&TenantId>) -> Result<Vec<BlockMeta>> {
        let rows: Vec<BlockTuple> = match tenant {
            Some(t) => {
                let sql = format!("{SELECT_BLOCKS} WHERE tenant = ? ORDER BY start_ns, block_id");
                sqlx::query_as(AssertSqlSafe(sql))
                    .bind(t.as_str())
                    .fetch_all(&self.pool)
                    .await
            }
            None => {
                let sql = format!("{SELECT_BLOCKS} ORDER BY tenant, start_ns, block_id");
                sqlx::query_as(AssertSqlSafe(sql))
                    .fetch_all(&self.pool)
                    .await
            }
        }
        .map_err(Error::db("list blocks"))?;
        rows.into_iter()
            .map(|t| BlockRow::from_tuple(t)?.into_meta())
            .collect()
    }

    /// Forgets a block whatever its state (repair of an orphan, deletion after retention).
    /// Returns whether it was there.
    pub async fn remove(&self, tenant: &TenantId, block_id: &str) -> Result<bool> {
        let done = sqlx::query("DELETE FROM blocks WHERE tenant = ? AND block_id = ?")
            .bind(tenant.as_str())
            .bind(block_id)
            .execute(&self.pool)
            .await
            .map_err(Error::db("remove block"))?;
        Ok(done.rows_affected() > 0)
    }

    /// The tenants that have at least one block, in order.
    pub async fn tenants(&self) -> Result<Vec<TenantId>> {
        let rows: Vec<(String,)> =
            sqlx::query_as("SELECT DISTINCT tenant FROM blocks ORDER BY tenant")
                .fetch_all(&self.pool)
                .await
                .map_err(Error::db("list tenants"))?;
        rows.into_iter()
            .map(|(t,)| TenantId::new(&t).map_err(|e| Error::Corrupt(format!("tenant {t:?}: {e}"))))
            .collect()
    }

    /// Blocks and bytes per tenant and state, for metrics and retention.
    pub async fn stats(&self) -> Result<Vec<TenantStats>> {
        let rows: Vec<(String, String, i64, i64)> = sqlx::query_as(
            "SELECT tenant, state, COUNT(*), COALESCE(SUM(size_bytes), 0) FROM blocks \
             GROUP BY tenant, state ORDER BY tenant",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(Error::db("block stats"))?;
        crate::rows::fold_stats(rows)
    }

    async fn register_row(&self, row: &BlockRow) -> Result<()> {
        let mut conn = self
            .pool
            .acquire()
            .await
            .map_err(Error::db("acquire connection"))?;
        insert_or_check(&mut conn, row).await
    }

    async fn swap_rows(
        &self,
        tenant: &TenantId,
        inputs: &[String],
        outputs: &[BlockRow],
    ) -> Result<()> {
        crate::rows::check_swap(tenant, inputs, outputs)?;
        // IMMEDIATE takes the write lock up front, so the check of the inputs and the writes see
        // one state and the busy timeout (not a snapshot error) governs waiting for it.
        let mut tx = self
            .pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(Error::db("begin swap"))?;
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
                // Dropping the transaction rolls it back.
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

    async fn live_rows(&self, tenant: &TenantId) -> Result<Vec<BlockMeta>> {
        let sql = format!(
            "{SELECT_BLOCKS} WHERE tenant = ? AND state = 'live' ORDER BY start_ns, block_id"
        );
        let rows: Vec<BlockTuple> = sqlx::query_as(AssertSqlSafe(sql))
            .bind(tenant.as_str())
            .fetch_all(&self.pool)
            .await
            .map_err(Error::db("select live blocks"))?;
        rows.into_iter()
            .map(|t| BlockRow::from_tuple(t)?.into_meta())
            .collect()
    }

    async fn retire_rows(&self, tenant: &TenantId, ids: &[String]) -> Result<u64> {
        let mut tx = self
            .pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(Error::db("begin retire"))?;
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

    async fn retired_rows(&self, tenant: &TenantId, before: SystemTime) -> Result<Vec<BlockMeta>> {
        let sql = format!(
            "{SELECT_BLOCKS} WHERE tenant = ? AND state = 'retired' \
             AND COALESCE(retired_at, 0) <= ? ORDER BY COALESCE(retired_at, 0), block_id"
        );
        let rows: Vec<BlockTuple> = sqlx::query_as(AssertSqlSafe(sql))
            .bind(tenant.as_str())
            .bind(unix_millis(before))
            .fetch_all(&self.pool)
            .await
            .map_err(Error::db("select retired blocks"))?;
        rows.into_iter()
            .map(|t| BlockRow::from_tuple(t)?.into_meta())
            .collect()
    }

    async fn forget_row(&self, tenant: &TenantId, block_id: &str) -> Result<bool> {
        let now = unix_millis((self.clock)());
        let mut tx = self
            .pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(Error::db("begin forget"))?;
        let done = sqlx::query(
            "DELETE FROM blocks WHERE tenant = ? AND block_id = ? AND state = 'retired'",
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
            "INSERT INTO forgotten_blocks (tenant, block_id, forgotten_at) VALUES (?, ?, ?) \
             ON CONFLICT (tenant, block_id) DO UPDATE SET forgotten_at = excluded.forgotten_at",
        )
        .bind(tenant.as_str())
        .bind(block_id)
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(Error::db("remember forgotten block"))?;
        sqlx::query("DELETE FROM forgotten_blocks WHERE forgotten_at < ?")
            .bind(now.saturating_sub(crate::rows::FORGOTTEN_KEEP_MILLIS))
            .execute(&mut *tx)
            .await
            .map_err(Error::db("prune forgotten blocks"))?;
        tx.commit().await.map_err(Error::db("commit forget"))?;
        Ok(true)
    }

    async fn is_forgotten_row(&self, tenant: &TenantId, block_id: &str) -> Result<bool> {
        let found: Option<(i64,)> = sqlx::query_as(
            "SELECT forgotten_at FROM forgotten_blocks WHERE tenant = ? AND block_id = ?",
        )
        .bind(tenant.as_str())
        .bind(block_id)
        .fetch_optional(&self.pool)
        .await
        .map_err(Error::db("read forgotten block"))?;
        Ok(found.is_some())
    }

    async fn candidate_rows(&self, tenant: &TenantId, range: TimeRange) -> Result<Vec<BlockMeta>> {
        let rows: Vec<BlockTuple> = sqlx::query_as(include_str!("candidates.sql"))
            .bind(tenant.as_str())
            .bind(clamp_to_db(range.end))
            .bind(clamp_to_db(range.start))
            .fetch_all(&self.pool)
            .await
            .map_err(Error::db("select candidate blocks"))?;
        rows.into_iter()
            .map(|t| BlockRow::from_tuple(t)?.into_meta())
            .collect()
    }
}

/// Inserts a block; if one with its ID exists, succeeds when it describes the same block and
/// fails with a conflict otherwise.
async fn insert_or_check(conn: &mut SqliteConnection, row: &BlockRow) -> Result<()> {
    let done = sqlx::query::<Sqlite>(include_str!("insert_block.sql"))
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
    let sql = format!("{SELECT_BLOCKS} WHERE tenant = ? AND block_id = ?");
    let existing: Option<BlockTuple> = sqlx::query_as(AssertSqlSafe(sql))
        .bind(&row.tenant)
        .bind(&row.block_id)
        .fetch_optional(&mut *conn)
        .await
        .map_err(Error::db("read block"))?;
    match existing.map(BlockRow::from_tuple).transpose()? {
        Some(existing) if existing.same_block(row) => Ok(()),
        // Removed between the insert and the read (a concurrent repair): let the caller retry.
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

#[async_trait]
impl BlockCatalog for SqliteStore {
    async fn register(&self, block: BlockMeta) -> sextant_model::Result<()> {
        let row = BlockRow::from_meta(&block)?;
        Ok(self.register_row(&row).await?)
    }

    async fn candidates(
        &self,
        tenant: &TenantId,
        range: TimeRange,
    ) -> sextant_model::Result<Vec<BlockMeta>> {
        Ok(self.candidate_rows(tenant, range).await?)
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
        Ok(self.live_rows(tenant).await?)
    }

    async fn retire(&self, tenant: &TenantId, ids: &[String]) -> sextant_model::Result<u64> {
        Ok(self.retire_rows(tenant, ids).await?)
    }

    async fn retired(
        &self,
        tenant: &TenantId,
        before: SystemTime,
    ) -> sextant_model::Result<Vec<BlockMeta>> {
        Ok(self.retired_rows(tenant, before).await?)
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
