//! The tenant store's SQL, shared by both engines: statements are written with `?`
//! placeholders (Postgres gets them renumbered) and the one implementation is expanded for each
//! engine by [`tenant_store!`], since sqlx's connection types differ.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sextant_model::TenantId;

use crate::admin::AdminToken;
use crate::error::{Error, Result};
use crate::keys::KeyDigest;
use crate::tenant::{ApiKey, KeyRecord, LimitOverrides, Scopes, Tenant, generator_from_json};

/// A `tenants` row in [`SELECT_TENANTS`] order.
pub(crate) type TenantTuple = (String, String, String, String, String, i64, i64, i64);

/// An `api_keys` row in [`KEY_COLUMNS`] order.
pub(crate) type KeyTuple = (
    String,
    String,
    Vec<u8>,
    String,
    String,
    Option<i64>,
    Option<i64>,
    i64,
    Option<i64>,
    String,
);

/// An `admin_tokens` row in [`SELECT_ADMIN_TOKENS`] order.
pub(crate) type AdminTokenTuple = (String, String, Vec<u8>, i64, Option<i64>, Option<i64>);

pub(crate) const SELECT_ADMIN_TOKENS: &str = "SELECT token_id, name, digest, created_at, \
    expires_at, revoked_at FROM admin_tokens";

pub(crate) fn admin_token_from_row(t: AdminTokenTuple) -> Result<(KeyDigest, AdminToken)> {
    let digest = KeyDigest::from_slice(&t.2)?;
    Ok((
        digest,
        AdminToken {
            token_id: t.0,
            name: t.1,
            created_at: from_millis(t.3),
            expires_at: t.4.map(from_millis),
            revoked_at: t.5.map(from_millis),
        },
    ))
}

pub(crate) const SELECT_TENANTS: &str = "SELECT id, display_name, status, limits, generator, \
    version, created_at, updated_at FROM tenants";
pub(crate) const UPDATE_TENANT: &str = "UPDATE tenants SET display_name = ?, status = ?, \
    limits = ?, generator = ?, version = ?, updated_at = ? WHERE id = ?";
pub(crate) const SELECT_KEYS: &str = "SELECT key_id, tenant, digest, scopes, read_tenants, \
    expires_at, revoked_at, created_at, last_used_at, description FROM api_keys";
pub(crate) const BUMP: &str = "UPDATE tenancy_revision SET revision = revision + 1 WHERE id = 1";
pub(crate) const REVISION: &str = "SELECT revision FROM tenancy_revision WHERE id = 1";
pub(crate) const INSERT_TENANT: &str = "INSERT INTO tenants \
    (id, display_name, status, limits, created_at, updated_at) \
    VALUES (?, ?, 'active', '{}', ?, ?) ON CONFLICT (id) DO NOTHING";
pub(crate) const INSERT_KEY: &str = "INSERT INTO api_keys (key_id, tenant, digest, scopes, \
    read_tenants, expires_at, revoked_at, created_at, last_used_at, description) \
    VALUES (?, ?, ?, ?, ?, ?, NULL, ?, NULL, ?)";

/// `sql` with `?` placeholders renumbered `$1`, `$2`, ... for Postgres (the statements here
/// hold no `?` inside literals).
pub(crate) fn numbered(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len() + 8);
    let mut n = 0;
    for c in sql.chars() {
        if c == '?' {
            n += 1;
            out.push('$');
            out.push_str(&n.to_string());
        } else {
            out.push(c);
        }
    }
    out
}

pub(crate) fn from_millis(ms: i64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(u64::try_from(ms).unwrap_or(0))
}

fn tenant_id(field: &str, id: &str) -> Result<TenantId> {
    TenantId::new(id).map_err(|e| Error::Corrupt(format!("{field} {id:?}: {e}")))
}

pub(crate) fn tenant_from_row(t: TenantTuple) -> Result<Tenant> {
    Ok(Tenant {
        id: tenant_id("tenant", &t.0)?,
        display_name: t.1,
        status: crate::tenant::parse_status(&t.2).map_err(|e| Error::Corrupt(e.to_string()))?,
        limits: LimitOverrides::from_json(&t.3)?,
        generator: generator_from_json(&t.4)?,
        version: u64::try_from(t.5)
            .ok()
            .filter(|v| *v >= 1)
            .ok_or_else(|| Error::Corrupt(format!("tenant {} has version {}", t.0, t.5)))?,
        created_at: from_millis(t.6),
        updated_at: from_millis(t.7),
    })
}

pub(crate) fn key_from_row(t: KeyTuple) -> Result<KeyRecord> {
    let read: Vec<String> = serde_json::from_str(&t.4)
        .map_err(|e| Error::Corrupt(format!("read tenants of key {}: {e}", t.0)))?;
    let key = ApiKey {
        tenant: tenant_id("tenant", &t.1)?,
        scopes: Scopes::parse(&t.3).map_err(|e| Error::Corrupt(e.to_string()))?,
        read_tenants: read
            .iter()
            .map(|r| tenant_id("read tenant", r))
            .collect::<Result<_>>()?,
        expires_at: t.5.map(from_millis),
        revoked_at: t.6.map(from_millis),
        created_at: from_millis(t.7),
        last_used_at: t.8.map(from_millis),
        description: t.9,
        key_id: t.0,
    };
    Ok(KeyRecord {
        key,
        digest: KeyDigest::from_slice(&t.2)?,
    })
}

/// `pattern` for `LIKE … ESCAPE '\'` matching lease names `*/<tenant>` (tenant IDs may hold
/// `_`, a `LIKE` wildcard).
pub(crate) fn tenant_lease_pattern(id: &TenantId) -> String {
    let mut pattern = String::from("%/");
    for c in id.as_str().chars() {
        if matches!(c, '_' | '%' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern
}

pub(crate) fn read_tenants_json(read: &[TenantId]) -> String {
    let ids: Vec<&str> = read.iter().map(TenantId::as_str).collect();
    serde_json::to_string(&ids).expect("strings serialise")
}

/// Implements [`crate::TenantStore`] for a store with `pool` and `clock` fields.
/// `$sql` turns a `?`-placeholder statement into the engine's; `$write` and `$read` begin a
/// write transaction and a consistent read-only one.
macro_rules! tenant_store {
    ($store:ty, $conn:ty, sql = $sql:path, write = $write:expr, read = $read:expr) => {
        use std::time::SystemTime;

        use async_trait::async_trait;
        use sextant_model::TenantId;

        use crate::audit::{AuditHook, Change, NewAuditEntry};
        use crate::audit_sql::{INSERT_AUDIT, bind_audit, check_entry};
        use crate::error::{Error, Result};
        use crate::keys::{self, KeyDigest, Pepper};
        use crate::rows::unix_millis;
        use crate::store::TenantStore;
        use crate::tenant::{
            ApiKey, KeyRecord, LimitOverrides, NewKey, Snapshot, Tenant, TenantPage, TenantQuery,
            TenantStatus, TenantUpdate, generator_to_json,
        };
        use crate::tenant_sql::{
            AdminTokenTuple, BUMP, INSERT_KEY, INSERT_TENANT, KeyTuple, REVISION,
            SELECT_ADMIN_TOKENS, SELECT_KEYS, SELECT_TENANTS, TenantTuple, UPDATE_TENANT,
            admin_token_from_row, key_from_row, read_tenants_json, tenant_from_row,
            tenant_lease_pattern,
        };

        async fn bump(conn: &mut $conn) -> Result<()> {
            sqlx::query($sql(BUMP))
                .execute(&mut *conn)
                .await
                .map_err(Error::db("bump tenancy revision"))?;
            Ok(())
        }

        /// Appends an audit entry inside the caller's transaction.
        async fn append_audit_in(conn: &mut $conn, entry: NewAuditEntry, now: i64) -> Result<()> {
            check_entry(&entry)?;
            let _: (i64,) = bind_audit!(sqlx::query_as($sql(INSERT_AUDIT)), entry, now)
                .fetch_one(&mut *conn)
                .await
                .map_err(Error::db("append audit entry"))?;
            Ok(())
        }

        async fn revision_of(conn: &mut $conn) -> Result<u64> {
            let (revision,): (i64,) = sqlx::query_as($sql(REVISION))
                .fetch_one(&mut *conn)
                .await
                .map_err(Error::db("read tenancy revision"))?;
            u64::try_from(revision)
                .map_err(|_| Error::Corrupt(format!("tenancy revision {revision}")))
        }

        async fn tenant_in(conn: &mut $conn, id: &TenantId) -> Result<Option<Tenant>> {
            let sql = format!("{SELECT_TENANTS} WHERE id = ?");
            let row: Option<TenantTuple> = sqlx::query_as($sql(&sql))
                .bind(id.as_str())
                .fetch_optional(&mut *conn)
                .await
                .map_err(Error::db("read tenant"))?;
            row.map(tenant_from_row).transpose()
        }

        async fn key_in(conn: &mut $conn, key_id: &str) -> Result<Option<KeyRecord>> {
            let sql = format!("{SELECT_KEYS} WHERE key_id = ?");
            let row: Option<KeyTuple> = sqlx::query_as($sql(&sql))
                .bind(key_id)
                .fetch_optional(&mut *conn)
                .await
                .map_err(Error::db("read key"))?;
            row.map(key_from_row).transpose()
        }

        fn not_found(id: &TenantId) -> Error {
            Error::NotFound(format!("tenant {id} does not exist"))
        }

        /// Removes `id` from the read tenants of every key that lists it.
        async fn forget_read_tenant(conn: &mut $conn, id: &TenantId) -> Result<()> {
            // Tenant IDs hold no quote, so this finds exactly the arrays naming `id`.
            let sql = format!("{SELECT_KEYS} WHERE read_tenants LIKE ?");
            let rows: Vec<KeyTuple> = sqlx::query_as($sql(&sql))
                .bind(format!("%\"{id}\"%"))
                .fetch_all(&mut *conn)
                .await
                .map_err(Error::db("read keys reading tenant"))?;
            for row in rows {
                let key = key_from_row(row)?.key;
                let kept: Vec<TenantId> =
                    key.read_tenants.into_iter().filter(|t| t != id).collect();
                sqlx::query($sql("UPDATE api_keys SET read_tenants = ? WHERE key_id = ?"))
                    .bind(read_tenants_json(&kept))
                    .bind(&key.key_id)
                    .execute(&mut *conn)
                    .await
                    .map_err(Error::db("update key read tenants"))?;
            }
            Ok(())
        }


        impl $store {
            async fn create_tenant_tx(
                &self,
                id: &TenantId,
                display_name: &str,
                audit: Option<AuditHook>,
            ) -> Result<Tenant> {
                let now = unix_millis((self.clock)());
                let mut tx = self
                    .pool
                    .begin_with($write)
                    .await
                    .map_err(Error::db("begin create tenant"))?;
                let done = sqlx::query($sql(INSERT_TENANT))
                    .bind(id.as_str())
                    .bind(display_name)
                    .bind(now)
                    .bind(now)
                    .execute(&mut *tx)
                    .await
                    .map_err(Error::db("insert tenant"))?;
                if done.rows_affected() != 1 {
                    return Err(Error::Conflict(format!("tenant {id} already exists")));
                }
                bump(&mut tx).await?;
                let tenant = tenant_in(&mut tx, id).await?.ok_or_else(|| not_found(id))?;
                if let Some(audit) = audit {
                    let entry = audit(Change::Tenant {
                        before: None,
                        after: &tenant,
                    });
                    append_audit_in(&mut tx, entry, now).await?;
                }
                tx.commit().await.map_err(Error::db("commit create tenant"))?;
                tracing::info!(tenant = %id, "tenant created");
                Ok(tenant)
            }

            async fn update_tenant_tx(
                &self,
                id: &TenantId,
                update: TenantUpdate,
                expected_version: Option<u64>,
                audit: Option<AuditHook>,
            ) -> Result<Tenant> {
                update.check()?;
                let now = unix_millis((self.clock)());
                let mut tx = self
                    .pool
                    .begin_with($write)
                    .await
                    .map_err(Error::db("begin tenant update"))?;
                // The revision row first: every tenant mutation takes its lock before the
                // tenant's, so the read below stays true until commit and none deadlock.
                bump(&mut tx).await?;
                let current = tenant_in(&mut tx, id).await?.ok_or_else(|| not_found(id))?;
                if let Some(expected) = expected_version
                    && expected != current.version
                {
                    return Err(Error::Stale {
                        current: current.version,
                    });
                }
                if update.status.is_some() && current.status == TenantStatus::Deleting {
                    return Err(Error::Invalid(format!(
                        "tenant {id} is being deleted; its status cannot change"
                    )));
                }
                if update.is_empty() {
                    // Nothing to change: the bump above is rolled back.
                    return Ok(current);
                }
                let before = current.clone();
                let status_changed = update.status.is_some_and(|s| s != current.status);
                let display_name = update.display_name.unwrap_or(current.display_name);
                let status = update.status.unwrap_or(current.status);
                let limits = update.limits.unwrap_or(current.limits);
                let generator = update.generator.unwrap_or(current.generator);
                let version = crate::rows::to_db("tenant version", current.version + 1)?;
                sqlx::query($sql(UPDATE_TENANT))
                    .bind(&display_name)
                    .bind(status.as_str())
                    .bind(limits.to_json())
                    .bind(generator_to_json(&generator))
                    .bind(version)
                    .bind(now)
                    .bind(id.as_str())
                    .execute(&mut *tx)
                    .await
                    .map_err(Error::db("update tenant"))?;
                let tenant = tenant_in(&mut tx, id).await?.ok_or_else(|| not_found(id))?;
                if let Some(audit) = audit {
                    let entry = audit(Change::Tenant {
                        before: Some(&before),
                        after: &tenant,
                    });
                    append_audit_in(&mut tx, entry, now).await?;
                }
                tx.commit().await.map_err(Error::db("commit tenant update"))?;
                if status_changed {
                    tracing::info!(tenant = %id, status = status.as_str(), "tenant status set");
                }
                tracing::info!(tenant = %id, version = tenant.version, "tenant updated");
                Ok(tenant)
            }

            async fn create_key_tx(
                &self,
                new: NewKey,
                pepper: &Pepper,
                audit: Option<AuditHook>,
            ) -> Result<(ApiKey, String)> {
                if new.scopes.is_empty() {
                    return Err(Error::Invalid("a key needs at least one scope".into()));
                }
                let now = unix_millis((self.clock)());
                let (key_id, full) = keys::generate()?;
                let parsed = keys::parse(&full)?;
                let digest = KeyDigest::compute(pepper, &parsed.secret);
                let mut tx = self
                    .pool
                    .begin_with($write)
                    .await
                    .map_err(Error::db("begin create key"))?;
                for tenant in std::iter::once(&new.tenant).chain(&new.read_tenants) {
                    if tenant_in(&mut tx, tenant).await?.is_none() {
                        return Err(not_found(tenant));
                    }
                }
                sqlx::query($sql(INSERT_KEY))
                    .bind(&key_id)
                    .bind(new.tenant.as_str())
                    .bind(digest.as_bytes())
                    .bind(new.scopes.to_string())
                    .bind(read_tenants_json(&new.read_tenants))
                    .bind(new.expires_at.map(unix_millis))
                    .bind(now)
                    .bind(&new.description)
                    .execute(&mut *tx)
                    .await
                    .map_err(Error::db("insert key"))?;
                bump(&mut tx).await?;
                let record = key_in(&mut tx, &key_id)
                    .await?
                    .ok_or_else(|| Error::Corrupt(format!("key {key_id} vanished")))?;
                if let Some(audit) = audit {
                    let entry = audit(Change::Key {
                        before: None,
                        after: &record.key,
                    });
                    append_audit_in(&mut tx, entry, now).await?;
                }
                tx.commit().await.map_err(Error::db("commit create key"))?;
                tracing::info!(tenant = %new.tenant, key_id, scopes = %new.scopes, "key created");
                Ok((record.key, full))
            }

            async fn revoke_key_tx(&self, key_id: &str, audit: Option<AuditHook>) -> Result<ApiKey> {
                let now = unix_millis((self.clock)());
                let mut tx = self
                    .pool
                    .begin_with($write)
                    .await
                    .map_err(Error::db("begin revoke key"))?;
                let before = key_in(&mut tx, key_id).await?.map(|r| r.key);
                let done = sqlx::query($sql(
                    "UPDATE api_keys SET revoked_at = COALESCE(revoked_at, ?) WHERE key_id = ?",
                ))
                .bind(now)
                .bind(key_id)
                .execute(&mut *tx)
                .await
                .map_err(Error::db("revoke key"))?;
                if done.rows_affected() != 1 {
                    return Err(Error::NotFound(format!("key {key_id} does not exist")));
                }
                bump(&mut tx).await?;
                let record = key_in(&mut tx, key_id)
                    .await?
                    .ok_or_else(|| Error::Corrupt(format!("key {key_id} vanished")))?;
                if let Some(audit) = audit {
                    let entry = audit(Change::Key {
                        before: before.as_ref(),
                        after: &record.key,
                    });
                    append_audit_in(&mut tx, entry, now).await?;
                }
                tx.commit().await.map_err(Error::db("commit revoke key"))?;
                tracing::info!(tenant = %record.key.tenant, key_id, "key revoked");
                Ok(record.key)
            }
        }

        #[async_trait]
        impl TenantStore for $store {
            async fn create_tenant(&self, id: &TenantId, display_name: &str) -> Result<Tenant> {
                self.create_tenant_tx(id, display_name, None).await
            }

            async fn create_tenant_audited(
                &self,
                id: &TenantId,
                display_name: &str,
                audit: AuditHook,
            ) -> Result<Tenant> {
                self.create_tenant_tx(id, display_name, Some(audit)).await
            }

            async fn update_tenant_audited(
                &self,
                id: &TenantId,
                update: TenantUpdate,
                expected_version: Option<u64>,
                audit: AuditHook,
            ) -> Result<Tenant> {
                self.update_tenant_tx(id, update, expected_version, Some(audit)).await
            }

            async fn create_key_audited(
                &self,
                new: NewKey,
                pepper: &Pepper,
                audit: AuditHook,
            ) -> Result<(ApiKey, String)> {
                self.create_key_tx(new, pepper, Some(audit)).await
            }

            async fn revoke_key_audited(&self, key_id: &str, audit: AuditHook) -> Result<ApiKey> {
                self.revoke_key_tx(key_id, Some(audit)).await
            }

            async fn get_tenant(&self, id: &TenantId) -> Result<Option<Tenant>> {
                let mut conn = self
                    .pool
                    .acquire()
                    .await
                    .map_err(Error::db("acquire connection"))?;
                tenant_in(&mut conn, id).await
            }

            async fn list_tenants(&self) -> Result<Vec<Tenant>> {
                let sql = format!("{SELECT_TENANTS} ORDER BY id");
                let rows: Vec<TenantTuple> = sqlx::query_as($sql(&sql))
                    .fetch_all(&self.pool)
                    .await
                    .map_err(Error::db("list tenants"))?;
                rows.into_iter().map(tenant_from_row).collect()
            }

            async fn list_tenants_page(&self, query: &TenantQuery) -> Result<TenantPage> {
                if !(1..=TenantQuery::MAX_LIMIT).contains(&query.limit) {
                    return Err(Error::Invalid(format!(
                        "limit must be 1 to {} (got {})",
                        TenantQuery::MAX_LIMIT,
                        query.limit
                    )));
                }
                let mut sql = format!("{SELECT_TENANTS} WHERE 1 = 1");
                if query.status.is_some() {
                    sql.push_str(" AND status = ?");
                }
                if query.after.is_some() {
                    sql.push_str(" AND id > ?");
                }
                sql.push_str(" ORDER BY id LIMIT ?");
                let sql = $sql(&sql);
                let mut select = sqlx::query_as::<_, TenantTuple>(sql);
                if let Some(status) = query.status {
                    select = select.bind(status.as_str());
                }
                if let Some(after) = &query.after {
                    select = select.bind(after.as_str());
                }
                // One more than asked tells whether another page follows.
                let rows = select
                    .bind(i64::try_from(query.limit + 1).unwrap_or(i64::MAX))
                    .fetch_all(&self.pool)
                    .await
                    .map_err(Error::db("list tenants"))?;
                let more = rows.len() > query.limit;
                let tenants = rows
                    .into_iter()
                    .take(query.limit)
                    .map(tenant_from_row)
                    .collect::<Result<Vec<_>>>()?;
                let next = if more {
                    tenants.last().map(|t| t.id.clone())
                } else {
                    None
                };
                Ok(TenantPage { tenants, next })
            }

            async fn set_status(&self, id: &TenantId, status: TenantStatus) -> Result<Tenant> {
                let update = TenantUpdate {
                    status: Some(status),
                    ..TenantUpdate::default()
                };
                TenantStore::update_tenant(self, id, update, None).await
            }

            async fn set_limits(&self, id: &TenantId, limits: LimitOverrides) -> Result<Tenant> {
                let update = TenantUpdate {
                    limits: Some(limits),
                    ..TenantUpdate::default()
                };
                TenantStore::update_tenant(self, id, update, None).await
            }

            async fn update_tenant(
                &self,
                id: &TenantId,
                update: TenantUpdate,
                expected_version: Option<u64>,
            ) -> Result<Tenant> {
                self.update_tenant_tx(id, update, expected_version, None).await
            }

            async fn purge_tenant(&self, id: &TenantId) -> Result<bool> {
                let mut tx = self
                    .pool
                    .begin_with($write)
                    .await
                    .map_err(Error::db("begin purge tenant"))?;
                bump(&mut tx).await?;
                let Some(current) = tenant_in(&mut tx, id).await? else {
                    return Ok(false);
                };
                if current.status != TenantStatus::Deleting {
                    return Err(Error::Invalid(format!(
                        "tenant {id} is {}: only a deleting tenant can be purged",
                        current.status
                    )));
                }
                let statements = [
                    ("DELETE FROM api_keys WHERE tenant = ?", "purge keys"),
                    ("DELETE FROM blocks WHERE tenant = ?", "purge blocks"),
                    (
                        "DELETE FROM forgotten_blocks WHERE tenant = ?",
                        "purge forgotten blocks",
                    ),
                ];
                for (statement, operation) in statements {
                    sqlx::query($sql(statement))
                        .bind(id.as_str())
                        .execute(&mut *tx)
                        .await
                        .map_err(Error::db(operation))?;
                }
                forget_read_tenant(&mut tx, id).await?;
                sqlx::query($sql("DELETE FROM leases WHERE name LIKE ? ESCAPE '\\'"))
                    .bind(tenant_lease_pattern(id))
                    .execute(&mut *tx)
                    .await
                    .map_err(Error::db("purge leases"))?;
                sqlx::query($sql("DELETE FROM tenants WHERE id = ?"))
                    .bind(id.as_str())
                    .execute(&mut *tx)
                    .await
                    .map_err(Error::db("purge tenant"))?;
                tx.commit().await.map_err(Error::db("commit purge tenant"))?;
                tracing::info!(tenant = %id, "tenant purged");
                Ok(true)
            }

            async fn create_key(&self, new: NewKey, pepper: &Pepper) -> Result<(ApiKey, String)> {
                self.create_key_tx(new, pepper, None).await
            }

            async fn list_keys(&self, tenant: &TenantId) -> Result<Vec<ApiKey>> {
                let sql = format!("{SELECT_KEYS} WHERE tenant = ? ORDER BY created_at, key_id");
                let rows: Vec<KeyTuple> = sqlx::query_as($sql(&sql))
                    .bind(tenant.as_str())
                    .fetch_all(&self.pool)
                    .await
                    .map_err(Error::db("list keys"))?;
                rows.into_iter()
                    .map(|row| Ok(key_from_row(row)?.key))
                    .collect()
            }

            async fn revoke_key(&self, key_id: &str) -> Result<ApiKey> {
                self.revoke_key_tx(key_id, None).await
            }

            async fn find_key(&self, key_id: &str) -> Result<Option<KeyRecord>> {
                let mut conn = self
                    .pool
                    .acquire()
                    .await
                    .map_err(Error::db("acquire connection"))?;
                key_in(&mut conn, key_id).await
            }

            async fn touch_key(&self, key_id: &str, at: SystemTime) -> Result<()> {
                let at = unix_millis(at);
                sqlx::query($sql(
                    "UPDATE api_keys SET last_used_at = ? \
                     WHERE key_id = ? AND (last_used_at IS NULL OR last_used_at < ?)",
                ))
                .bind(at)
                .bind(key_id)
                .bind(at)
                .execute(&self.pool)
                .await
                .map_err(Error::db("touch key"))?;
                Ok(())
            }

            async fn snapshot(&self) -> Result<Snapshot> {
                let mut tx = self
                    .pool
                    .begin_with($read)
                    .await
                    .map_err(Error::db("begin snapshot"))?;
                let revision = revision_of(&mut tx).await?;
                let tenants: Vec<TenantTuple> = sqlx::query_as($sql(SELECT_TENANTS))
                    .fetch_all(&mut *tx)
                    .await
                    .map_err(Error::db("snapshot tenants"))?;
                let keys: Vec<KeyTuple> = sqlx::query_as($sql(SELECT_KEYS))
                    .fetch_all(&mut *tx)
                    .await
                    .map_err(Error::db("snapshot keys"))?;
                let admin_tokens: Vec<AdminTokenTuple> =
                    sqlx::query_as($sql(SELECT_ADMIN_TOKENS))
                        .fetch_all(&mut *tx)
                        .await
                        .map_err(Error::db("snapshot admin tokens"))?;
                tx.commit().await.map_err(Error::db("end snapshot"))?;
                let mut snapshot = Snapshot {
                    revision,
                    ..Snapshot::default()
                };
                for row in tenants {
                    let tenant = tenant_from_row(row)?;
                    snapshot.tenants.insert(tenant.id.clone(), tenant);
                }
                for row in keys {
                    let record = key_from_row(row)?;
                    snapshot.keys.insert(record.key.key_id.clone(), record);
                }
                for row in admin_tokens {
                    let (digest, token) = admin_token_from_row(row)?;
                    snapshot.admin_tokens.insert(digest.0, token);
                }
                Ok(snapshot)
            }

            async fn revision(&self) -> Result<u64> {
                let mut conn = self
                    .pool
                    .acquire()
                    .await
                    .map_err(Error::db("acquire connection"))?;
                revision_of(&mut conn).await
            }
        }
    };
}

pub(crate) use tenant_store;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_numbered() {
        assert_eq!(
            numbered("UPDATE t SET a = ? WHERE b = ? AND c < ?"),
            "UPDATE t SET a = $1 WHERE b = $2 AND c < $3"
        );
    }

    #[test]
    fn lease_patterns_escape_wildcards() {
        let id = TenantId::new("a_b-c").unwrap();
        assert_eq!(tenant_lease_pattern(&id), "%/a\\_b-c");
    }

    #[test]
    fn stored_times_round_trip() {
        let t = from_millis(1_700_000_000_123);
        assert_eq!(crate::rows::unix_millis(t), 1_700_000_000_123);
    }
}
