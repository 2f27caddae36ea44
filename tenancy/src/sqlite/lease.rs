//! Leases on SQLite: one row per name whose token grows with every acquisition, so a holder
//! that lost its lease can be told apart from the current one (fencing).

use std::time::Duration;

use async_trait::async_trait;
use sextant_model::{Lease, LeaseGuard};

use super::SqliteStore;
use crate::error::{Error, Result};
use crate::rows::{expiry_millis, token_to_db, unix_millis};

impl SqliteStore {
    async fn acquire_lease(
        &self,
        name: &str,
        holder: &str,
        ttl: Duration,
    ) -> Result<Option<LeaseGuard>> {
        let now = (self.clock)();
        let token: Option<(i64,)> = sqlx::query_as(include_str!("acquire_lease.sql"))
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
        tracing::debug!(lease = name, holder, token, "lease acquired");
        Ok(Some(LeaseGuard {
            name: name.to_owned(),
            holder: holder.to_owned(),
            token,
        }))
    }

    async fn renew_lease(&self, guard: &LeaseGuard, ttl: Duration) -> Result<bool> {
        let now = (self.clock)();
        let done = sqlx::query(
            "UPDATE leases SET expires_at = ? \
             WHERE name = ? AND holder = ? AND token = ? AND expires_at > ?",
        )
        .bind(expiry_millis(now, ttl))
        .bind(&guard.name)
        .bind(&guard.holder)
        .bind(token_to_db(guard.token))
        .bind(unix_millis(now))
        .execute(&self.pool)
        .await
        .map_err(Error::db("renew lease"))?;
        Ok(done.rows_affected() == 1)
    }

    async fn release_lease(&self, guard: &LeaseGuard) -> Result<()> {
        // The row stays (expired) so the next token is still larger.
        sqlx::query("UPDATE leases SET expires_at = 0 WHERE name = ? AND holder = ? AND token = ?")
            .bind(&guard.name)
            .bind(&guard.holder)
            .bind(token_to_db(guard.token))
            .execute(&self.pool)
            .await
            .map_err(Error::db("release lease"))?;
        Ok(())
    }
}

#[async_trait]
impl Lease for SqliteStore {
    async fn acquire(
        &self,
        name: &str,
        holder: &str,
        ttl: Duration,
    ) -> sextant_model::Result<Option<LeaseGuard>> {
        Ok(self.acquire_lease(name, holder, ttl).await?)
    }

    async fn renew(&self, guard: &LeaseGuard, ttl: Duration) -> sextant_model::Result<bool> {
        Ok(self.renew_lease(guard, ttl).await?)
    }

    async fn release(&self, guard: &LeaseGuard) -> sextant_model::Result<()> {
        Ok(self.release_lease(guard).await?)
    }
}
