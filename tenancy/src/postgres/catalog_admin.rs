//! Catalog maintenance on Postgres (repair, metrics): the same operations as the SQLite store's.

use sextant_model::{BlockMeta, TenantId};

use super::PostgresStore;
use crate::TenantStats;
use crate::error::{Error, Result};
use crate::rows::{BlockRow, BlockTuple};

const SELECT_BLOCKS: &str = "SELECT tenant, block_id, start_ns, end_ns, size_bytes, span_count, \
     trace_count, compaction_level, format_version, state FROM blocks";

impl PostgresStore {
    /// Every block, live and retired, of one tenant or of all, ordered by tenant, start, ID.
    pub async fn list_blocks(&self, tenant: Option<&TenantId>) -> Result<Vec<BlockMeta>> {
        let rows: Vec<BlockTuple> = match tenant {
            Some(t) => {
                let sql = format!("{SELECT_BLOCKS} WHERE tenant = $1 ORDER BY start_ns, block_id");
                sqlx::query_as(sqlx::AssertSqlSafe(sql))
                    .bind(t.as_str())
                    .fetch_all(&self.pool)
                    .await
            }
            None => {
                let sql = format!("{SELECT_BLOCKS} ORDER BY tenant, start_ns, block_id");
                sqlx::query_as(sqlx::AssertSqlSafe(sql))
                    .fetch_all(&self.pool)
                    .await
            }
        }
        .map_err(Error::db("list blocks"))?;
        rows.into_iter()
            .map(|t| BlockRow::from_tuple(t)?.into_meta())
            .collect()
    }

    /// Forgets a block whatever its state. Returns whether it was there.
    pub async fn remove(&self, tenant: &TenantId, block_id: &str) -> Result<bool> {
        let done = sqlx::query("DELETE FROM blocks WHERE tenant = $1 AND block_id = $2")
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

    /// Blocks and bytes per tenant and state.
    pub async fn stats(&self) -> Result<Vec<TenantStats>> {
        let rows: Vec<(String, String, i64, i64)> = sqlx::query_as(
            "SELECT tenant, state, COUNT(*)::BIGINT, COALESCE(SUM(size_bytes), 0)::BIGINT \
             FROM blocks GROUP BY tenant, state ORDER BY tenant",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(Error::db("block stats"))?;
        crate::rows::fold_stats(rows)
    }
}
