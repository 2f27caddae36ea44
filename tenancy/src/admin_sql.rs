//! The SQL of admin users and tokens, usage and the first-start bootstrap, shared by both
//! engines like [`crate::tenant_sql`]: one implementation expanded per engine by
//! [`admin_store!`].

use std::collections::BTreeMap;

use sextant_model::{PeriodUsage, TenantId};

use crate::error::{Error, Result};
use crate::rows::from_db;
use crate::usage::{UsageRow, UtcDay, parse_reason};

pub(crate) const SELECT_ADMIN_USERS: &str = "SELECT name, created_at, updated_at FROM admin_users";

pub(crate) const INSERT_ADMIN_TOKEN: &str = "INSERT INTO admin_tokens \
    (token_id, name, digest, created_at, expires_at, revoked_at) VALUES (?, ?, ?, ?, ?, NULL)";

pub(crate) const ADD_DAILY: &str = "INSERT INTO usage_daily \
    (tenant, day, accepted_bytes, accepted_spans, queries) VALUES (?, ?, ?, ?, ?) \
    ON CONFLICT (tenant, day) DO UPDATE SET \
    accepted_bytes = usage_daily.accepted_bytes + excluded.accepted_bytes, \
    accepted_spans = usage_daily.accepted_spans + excluded.accepted_spans, \
    queries = usage_daily.queries + excluded.queries";

pub(crate) const SET_STORAGE: &str = "INSERT INTO usage_daily \
    (tenant, day, accepted_bytes, accepted_spans, stored_bytes, stored_blocks) \
    VALUES (?, ?, 0, 0, ?, ?) \
    ON CONFLICT (tenant, day) DO UPDATE SET \
    stored_bytes = excluded.stored_bytes, stored_blocks = excluded.stored_blocks";

pub(crate) const ADD_DISCARD: &str = "INSERT INTO usage_discards \
    (tenant, day, reason, spans, bytes) VALUES (?, ?, ?, ?, ?) \
    ON CONFLICT (tenant, day, reason) DO UPDATE SET \
    spans = usage_discards.spans + excluded.spans, \
    bytes = usage_discards.bytes + excluded.bytes";

pub(crate) const SELECT_DAILY: &str = "SELECT day, accepted_bytes, accepted_spans, queries, \
    stored_bytes, stored_blocks FROM usage_daily WHERE tenant = ? AND day >= ? AND day <= ? ORDER BY day";

pub(crate) const SELECT_DISCARDS: &str = "SELECT day, reason, spans, bytes \
    FROM usage_discards WHERE tenant = ? AND day >= ? AND day <= ?";

pub(crate) const PERIOD_TOTALS: &str = "SELECT \
    CAST(COALESCE(SUM(CASE WHEN day = ? THEN accepted_bytes ELSE 0 END), 0) AS BIGINT), \
    CAST(COALESCE(SUM(accepted_bytes), 0) AS BIGINT) \
    FROM usage_daily WHERE tenant = ? AND day >= ? AND day <= ?";

pub(crate) const ALL_PERIOD_TOTALS: &str = "SELECT tenant, \
    CAST(COALESCE(SUM(CASE WHEN day = ? THEN accepted_bytes ELSE 0 END), 0) AS BIGINT), \
    CAST(COALESCE(SUM(accepted_bytes), 0) AS BIGINT) \
    FROM usage_daily WHERE day >= ? AND day <= ? GROUP BY tenant ORDER BY tenant";

pub(crate) const COUNT_EVERYTHING: &str = "SELECT \
    (SELECT COUNT(*) FROM tenants) + (SELECT COUNT(*) FROM admin_tokens) \
    + (SELECT COUNT(*) FROM admin_users)";

/// The tenant a first start creates.
pub(crate) const SINGLE_TENANT: &str = "single-tenant";

/// A `usage_daily` row in [`SELECT_DAILY`] order.
pub(crate) type DailyTuple = (i32, i64, i64, i64, i64, i64);

/// Rows of `usage_daily` and `usage_discards` joined into [`UsageRow`]s, ordered by day.
pub(crate) fn usage_rows(
    tenant: &TenantId,
    daily: Vec<DailyTuple>,
    discards: Vec<(i32, String, i64, i64)>,
) -> Result<Vec<UsageRow>> {
    let mut rows: BTreeMap<i32, UsageRow> = BTreeMap::new();
    for (day, bytes, spans, queries, stored_bytes, stored_blocks) in daily {
        let mut row = UsageRow::empty(tenant.clone(), UtcDay(day));
        row.accepted_bytes = from_db("accepted bytes", bytes)?;
        row.accepted_spans = from_db("accepted spans", spans)?;
        row.queries = from_db("queries", queries)?;
        row.stored_bytes = from_db("stored bytes", stored_bytes)?;
        row.stored_blocks = from_db("stored blocks", stored_blocks)?;
        rows.insert(day, row);
    }
    for (day, reason, spans, bytes) in discards {
        let Some(reason) = parse_reason(&reason) else {
            tracing::warn!(tenant = %tenant, reason, "unknown discard reason in usage");
            continue;
        };
        let row = rows
            .entry(day)
            .or_insert_with(|| UsageRow::empty(tenant.clone(), UtcDay(day)));
        row.discarded.insert(
            reason,
            (
                from_db("discarded spans", spans)?,
                from_db("discarded bytes", bytes)?,
            ),
        );
    }
    Ok(rows.into_values().collect())
}

pub(crate) fn period(day: i64, month: i64) -> Result<PeriodUsage> {
    Ok(PeriodUsage {
        day_bytes: from_db("day bytes", day)?,
        month_bytes: from_db("month bytes", month)?,
    })
}

pub(crate) fn stored_tenant(id: &str) -> Result<TenantId> {
    TenantId::new(id).map_err(|e| Error::Corrupt(format!("usage tenant {id:?}: {e}")))
}

/// Implements [`crate::AdminStore`], [`crate::UsageStore`] and the bootstrap transaction for
/// a store with `pool` and `clock` fields; arguments as [`crate::tenant_sql::tenant_store!`].
macro_rules! admin_store {
    ($store:ty, $conn:ty, sql = $sql:path, write = $write:expr) => {
        use std::time::SystemTime;

        use async_trait::async_trait;
        use sextant_model::{PeriodUsage, TenantId};

        use crate::admin::{
            self, AdminStore, AdminToken, AdminUser, Bootstrap, Checked, check_name,
            check_supplied_token,
        };
        use crate::admin_sql::{
            ADD_DAILY, ADD_DISCARD, ALL_PERIOD_TOTALS, COUNT_EVERYTHING, DailyTuple,
            INSERT_ADMIN_TOKEN, PERIOD_TOTALS, SELECT_ADMIN_USERS, SELECT_DAILY, SELECT_DISCARDS,
            SET_STORAGE, SINGLE_TENANT, period, stored_tenant, usage_rows,
        };
        use crate::error::{Error, Result};
        use crate::keys::{self, ADMIN_TOKEN_PREFIX, KeyDigest, Pepper};
        use crate::rows::{to_db, unix_millis};
        use crate::tenant::Scopes;
        use crate::tenant_sql::{
            AdminTokenTuple, BUMP, INSERT_KEY, INSERT_TENANT, SELECT_ADMIN_TOKENS,
            admin_token_from_row, from_millis,
        };
        use crate::usage::{StorageLevel, UsageRow, UsageStore, UtcDay};

        async fn bump(conn: &mut $conn) -> Result<()> {
            sqlx::query($sql(BUMP))
                .execute(&mut *conn)
                .await
                .map_err(Error::db("bump tenancy revision"))?;
            Ok(())
        }

        async fn token_in(conn: &mut $conn, token_id: &str) -> Result<Option<AdminToken>> {
            let sql = format!("{SELECT_ADMIN_TOKENS} WHERE token_id = ?");
            let row: Option<AdminTokenTuple> = sqlx::query_as($sql(&sql))
                .bind(token_id)
                .fetch_optional(&mut *conn)
                .await
                .map_err(Error::db("read admin token"))?;
            Ok(row.map(admin_token_from_row).transpose()?.map(|(_, t)| t))
        }

        async fn token_by_digest(
            conn: &mut $conn,
            digest: &KeyDigest,
        ) -> Result<Option<AdminToken>> {
            let sql = format!("{SELECT_ADMIN_TOKENS} WHERE digest = ?");
            let row: Option<AdminTokenTuple> = sqlx::query_as($sql(&sql))
                .bind(digest.as_bytes())
                .fetch_optional(&mut *conn)
                .await
                .map_err(Error::db("read admin token"))?;
            Ok(row.map(admin_token_from_row).transpose()?.map(|(_, t)| t))
        }

        /// Inserts a token whose whole string is `secret`; `token_id` is its public ID.
        async fn insert_token(
            conn: &mut $conn,
            token_id: &str,
            name: &str,
            secret: &str,
            expires_at: Option<SystemTime>,
            pepper: &Pepper,
            now: i64,
        ) -> Result<()> {
            sqlx::query($sql(INSERT_ADMIN_TOKEN))
                .bind(token_id)
                .bind(name)
                .bind(KeyDigest::compute(pepper, secret).as_bytes())
                .bind(now)
                .bind(expires_at.map(unix_millis))
                .execute(&mut *conn)
                .await
                .map_err(Error::db("insert admin token"))?;
            Ok(())
        }

        async fn count_everything(conn: &mut $conn) -> Result<i64> {
            let (n,): (i64,) = sqlx::query_as($sql(COUNT_EVERYTHING))
                .fetch_one(&mut *conn)
                .await
                .map_err(Error::db("count control-plane rows"))?;
            Ok(n)
        }

        type UserTuple = (String, i64, i64);

        fn user_from_row(t: UserTuple) -> AdminUser {
            AdminUser {
                name: t.0,
                created_at: from_millis(t.1),
                updated_at: from_millis(t.2),
            }
        }

        impl $store {
            /// The first-start bootstrap in one write transaction; `None` when the database
            /// is not empty (another process may have just bootstrapped it).
            pub(crate) async fn bootstrap_tx(
                &self,
                pepper: &Pepper,
                admin_token: Option<&str>,
            ) -> Result<Option<Bootstrap>> {
                if let Some(secret) = admin_token {
                    check_supplied_token(secret)?;
                }
                let now = unix_millis((self.clock)());
                let mut tx = self
                    .pool
                    .begin_with($write)
                    .await
                    .map_err(Error::db("begin bootstrap"))?;
                // Bumping first takes the revision row's lock, so racing bootstraps queue
                // here and the later one sees the earlier one's rows.
                bump(&mut tx).await?;
                if count_everything(&mut tx).await? > 0 {
                    return Ok(None);
                }
                let tenant = TenantId::new(SINGLE_TENANT).expect("a valid tenant id");
                sqlx::query($sql(INSERT_TENANT))
                    .bind(tenant.as_str())
                    .bind("Single tenant")
                    .bind(now)
                    .bind(now)
                    .execute(&mut *tx)
                    .await
                    .map_err(Error::db("insert tenant"))?;
                let (key_id, key) = keys::generate()?;
                let secret = keys::parse(&key)?.secret;
                sqlx::query($sql(INSERT_KEY))
                    .bind(&key_id)
                    .bind(tenant.as_str())
                    .bind(KeyDigest::compute(pepper, &secret).as_bytes())
                    .bind(Scopes::read_write().to_string())
                    .bind("[]")
                    .bind(None::<i64>)
                    .bind(now)
                    .bind("created at first start")
                    .execute(&mut *tx)
                    .await
                    .map_err(Error::db("insert key"))?;
                let generated = match admin_token {
                    Some(secret) => {
                        let token_id = keys::new_id()?;
                        insert_token(&mut tx, &token_id, "bootstrap", secret, None, pepper, now)
                            .await?;
                        None
                    }
                    None => {
                        let (token_id, token) = keys::generate_with(ADMIN_TOKEN_PREFIX)?;
                        insert_token(&mut tx, &token_id, "bootstrap", &token, None, pepper, now)
                            .await?;
                        Some(token)
                    }
                };
                tx.commit().await.map_err(Error::db("commit bootstrap"))?;
                tracing::info!(tenant = %tenant, key_id, "bootstrapped an empty database");
                Ok(Some(Bootstrap {
                    admin_token: generated,
                    tenant,
                    key,
                }))
            }
        }

        #[async_trait]
        impl AdminStore for $store {
            async fn create_admin_user(&self, name: &str, password: &str) -> Result<AdminUser> {
                check_name("admin user", name)?;
                let password = password.to_owned();
                let phc = admin::blocking(move || admin::hash_password(&password)).await?;
                let now = unix_millis((self.clock)());
                let done = sqlx::query($sql(
                    "INSERT INTO admin_users (name, password, created_at, updated_at) \
                     VALUES (?, ?, ?, ?) ON CONFLICT (name) DO NOTHING",
                ))
                .bind(name)
                .bind(&phc)
                .bind(now)
                .bind(now)
                .execute(&self.pool)
                .await
                .map_err(Error::db("insert admin user"))?;
                if done.rows_affected() != 1 {
                    return Err(Error::Conflict(format!("admin user {name} already exists")));
                }
                tracing::info!(user = name, "admin user created");
                Ok(AdminUser {
                    name: name.to_owned(),
                    created_at: from_millis(now),
                    updated_at: from_millis(now),
                })
            }

            async fn list_admin_users(&self) -> Result<Vec<AdminUser>> {
                let sql = format!("{SELECT_ADMIN_USERS} ORDER BY name");
                let rows: Vec<UserTuple> = sqlx::query_as($sql(&sql))
                    .fetch_all(&self.pool)
                    .await
                    .map_err(Error::db("list admin users"))?;
                Ok(rows.into_iter().map(user_from_row).collect())
            }

            async fn verify_admin_password(&self, name: &str, password: &str) -> Result<bool> {
                let stored: Option<(String,)> =
                    sqlx::query_as($sql("SELECT password FROM admin_users WHERE name = ?"))
                        .bind(name)
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(Error::db("read admin user"))?;
                let password = password.to_owned();
                let Some((stored,)) = stored else {
                    admin::blocking(move || {
                        admin::check_dummy(&password);
                        Ok(())
                    })
                    .await?;
                    return Ok(false);
                };
                let old = stored.clone();
                let checked =
                    admin::blocking(move || admin::check_password(&stored, &password)).await?;
                match checked {
                    Checked::Wrong => Ok(false),
                    Checked::Right => Ok(true),
                    Checked::RightRehashed(new) => {
                        // Only if unchanged meanwhile: a password set concurrently wins.
                        sqlx::query($sql(
                            "UPDATE admin_users SET password = ?, updated_at = ? \
                             WHERE name = ? AND password = ?",
                        ))
                        .bind(new)
                        .bind(unix_millis((self.clock)()))
                        .bind(name)
                        .bind(old)
                        .execute(&self.pool)
                        .await
                        .map_err(Error::db("rehash admin password"))?;
                        tracing::info!(user = name, "admin password rehashed");
                        Ok(true)
                    }
                }
            }

            async fn create_admin_token(
                &self,
                name: &str,
                expires_at: Option<SystemTime>,
                pepper: &Pepper,
            ) -> Result<(AdminToken, String)> {
                check_name("admin token", name)?;
                let now = unix_millis((self.clock)());
                let (token_id, token) = keys::generate_with(ADMIN_TOKEN_PREFIX)?;
                let mut tx = self
                    .pool
                    .begin_with($write)
                    .await
                    .map_err(Error::db("begin create admin token"))?;
                insert_token(&mut tx, &token_id, name, &token, expires_at, pepper, now).await?;
                bump(&mut tx).await?;
                let created = token_in(&mut tx, &token_id)
                    .await?
                    .ok_or_else(|| Error::Corrupt(format!("admin token {token_id} vanished")))?;
                tx.commit()
                    .await
                    .map_err(Error::db("commit create admin token"))?;
                tracing::info!(token_id, name, "admin token created");
                Ok((created, token))
            }

            async fn insert_admin_token_secret(
                &self,
                name: &str,
                secret: &str,
                pepper: &Pepper,
            ) -> Result<AdminToken> {
                check_name("admin token", name)?;
                check_supplied_token(secret)?;
                let now = unix_millis((self.clock)());
                let digest = KeyDigest::compute(pepper, secret);
                let mut tx = self
                    .pool
                    .begin_with($write)
                    .await
                    .map_err(Error::db("begin insert admin token"))?;
                // Under the revision lock, so two processes supplying the same token at once
                // record it once.
                bump(&mut tx).await?;
                if let Some(existing) = token_by_digest(&mut tx, &digest).await? {
                    // Nothing changed: roll back the bump.
                    return Ok(existing);
                }
                let token_id = keys::new_id()?;
                insert_token(&mut tx, &token_id, name, secret, None, pepper, now).await?;
                let created = token_in(&mut tx, &token_id)
                    .await?
                    .ok_or_else(|| Error::Corrupt(format!("admin token {token_id} vanished")))?;
                tx.commit()
                    .await
                    .map_err(Error::db("commit insert admin token"))?;
                tracing::info!(token_id, name, "supplied admin token recorded");
                Ok(created)
            }

            async fn list_admin_tokens(&self) -> Result<Vec<AdminToken>> {
                let sql = format!("{SELECT_ADMIN_TOKENS} ORDER BY created_at, token_id");
                let rows: Vec<AdminTokenTuple> = sqlx::query_as($sql(&sql))
                    .fetch_all(&self.pool)
                    .await
                    .map_err(Error::db("list admin tokens"))?;
                rows.into_iter()
                    .map(|row| Ok(admin_token_from_row(row)?.1))
                    .collect()
            }

            async fn revoke_admin_token(&self, token_id: &str) -> Result<AdminToken> {
                let now = unix_millis((self.clock)());
                let mut tx = self
                    .pool
                    .begin_with($write)
                    .await
                    .map_err(Error::db("begin revoke admin token"))?;
                let done = sqlx::query($sql(
                    "UPDATE admin_tokens SET revoked_at = COALESCE(revoked_at, ?) \
                     WHERE token_id = ?",
                ))
                .bind(now)
                .bind(token_id)
                .execute(&mut *tx)
                .await
                .map_err(Error::db("revoke admin token"))?;
                if done.rows_affected() != 1 {
                    return Err(Error::NotFound(format!(
                        "admin token {token_id} does not exist"
                    )));
                }
                bump(&mut tx).await?;
                let token = token_in(&mut tx, token_id)
                    .await?
                    .ok_or_else(|| Error::Corrupt(format!("admin token {token_id} vanished")))?;
                tx.commit()
                    .await
                    .map_err(Error::db("commit revoke admin token"))?;
                tracing::info!(token_id, "admin token revoked");
                Ok(token)
            }

            async fn is_empty(&self) -> Result<bool> {
                let mut conn = self
                    .pool
                    .acquire()
                    .await
                    .map_err(Error::db("acquire connection"))?;
                Ok(count_everything(&mut conn).await? == 0)
            }
        }

        #[async_trait]
        impl UsageStore for $store {
            async fn add_usage(&self, rows: &[UsageRow]) -> Result<()> {
                if rows.is_empty() {
                    return Ok(());
                }
                let mut tx = self
                    .pool
                    .begin_with($write)
                    .await
                    .map_err(Error::db("begin add usage"))?;
                for row in rows {
                    sqlx::query($sql(ADD_DAILY))
                        .bind(row.tenant.as_str())
                        .bind(row.day.0)
                        .bind(to_db("accepted bytes", row.accepted_bytes)?)
                        .bind(to_db("accepted spans", row.accepted_spans)?)
                        .bind(to_db("queries", row.queries)?)
                        .execute(&mut *tx)
                        .await
                        .map_err(Error::db("add usage"))?;
                    for (reason, (spans, bytes)) in &row.discarded {
                        sqlx::query($sql(ADD_DISCARD))
                            .bind(row.tenant.as_str())
                            .bind(row.day.0)
                            .bind(reason.as_str())
                            .bind(to_db("discarded spans", *spans)?)
                            .bind(to_db("discarded bytes", *bytes)?)
                            .execute(&mut *tx)
                            .await
                            .map_err(Error::db("add discards"))?;
                    }
                }
                tx.commit().await.map_err(Error::db("commit add usage"))
            }

            async fn record_storage(&self, rows: &[StorageLevel]) -> Result<()> {
                if rows.is_empty() {
                    return Ok(());
                }
                let mut tx = self
                    .pool
                    .begin_with($write)
                    .await
                    .map_err(Error::db("begin record storage"))?;
                for row in rows {
                    sqlx::query($sql(SET_STORAGE))
                        .bind(row.tenant.as_str())
                        .bind(row.day.0)
                        .bind(to_db("stored bytes", row.bytes)?)
                        .bind(to_db("stored blocks", row.blocks)?)
                        .execute(&mut *tx)
                        .await
                        .map_err(Error::db("record storage"))?;
                }
                tx.commit().await.map_err(Error::db("commit record storage"))
            }

            async fn usage(
                &self,
                tenant: &TenantId,
                from: UtcDay,
                to: UtcDay,
            ) -> Result<Vec<UsageRow>> {
                let mut conn = self
                    .pool
                    .acquire()
                    .await
                    .map_err(Error::db("acquire connection"))?;
                let daily: Vec<DailyTuple> = sqlx::query_as($sql(SELECT_DAILY))
                    .bind(tenant.as_str())
                    .bind(from.0)
                    .bind(to.0)
                    .fetch_all(&mut *conn)
                    .await
                    .map_err(Error::db("read usage"))?;
                let discards: Vec<(i32, String, i64, i64)> =
                    sqlx::query_as($sql(SELECT_DISCARDS))
                        .bind(tenant.as_str())
                        .bind(from.0)
                        .bind(to.0)
                        .fetch_all(&mut *conn)
                        .await
                        .map_err(Error::db("read discards"))?;
                usage_rows(tenant, daily, discards)
            }

            async fn period_totals(&self, tenant: &TenantId, day: UtcDay) -> Result<PeriodUsage> {
                let (d, m): (i64, i64) = sqlx::query_as($sql(PERIOD_TOTALS))
                    .bind(day.0)
                    .bind(tenant.as_str())
                    .bind(day.month_start().0)
                    .bind(day.0)
                    .fetch_one(&self.pool)
                    .await
                    .map_err(Error::db("read usage totals"))?;
                period(d, m)
            }

            async fn all_period_totals(&self, day: UtcDay) -> Result<Vec<(TenantId, PeriodUsage)>> {
                let rows: Vec<(String, i64, i64)> = sqlx::query_as($sql(ALL_PERIOD_TOTALS))
                    .bind(day.0)
                    .bind(day.month_start().0)
                    .bind(day.0)
                    .fetch_all(&self.pool)
                    .await
                    .map_err(Error::db("read usage totals"))?;
                rows.into_iter()
                    .map(|(t, d, m)| Ok((stored_tenant(&t)?, period(d, m)?)))
                    .collect()
            }
        }
    };
}

pub(crate) use admin_store;
